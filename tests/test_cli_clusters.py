"""Tests of the ``geocity clusters`` command."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from geocity.cli.main import cli

ROWS = [
    ("shenzhen-cn", "Shenzhen", "深圳", "CN", 22.543, 114.058, 0.9),
    ("hong-kong-hk", "Hong Kong", "香港", "HK", 22.278, 114.175, 0.85),
    ("guangzhou-cn", "Guangzhou", "广州", "CN", 23.129, 113.264, 0.8),
    ("macao-mo", "Macao", "澳门", "MO", 22.2, 113.546, 0.3),
    ("dallas-us", "Dallas", "达拉斯", "US", 32.783, -96.807, 0.6),
    ("houston-us", "Houston", "休斯敦", "US", 29.763, -95.363, 0.1),
    ("suva-fj", "Suva", "苏瓦", "FJ", -18.14, 178.44, 0.05),
]


@pytest.fixture
def fake_scores(monkeypatch):
    """Replace the scored cities layer with a small hand-made one."""
    from geocity import scores

    def city_scores(cities=None, *, source=None, weights=(1, 1, 1)):
        df = pd.DataFrame(ROWS, columns=["city_id", "name_en", "name_zh", "country_iso2", "lat", "lon", "composite"])
        for d in ("innovation", "industry", "infrastructure"):
            df[d] = df["composite"]
        df["score_source"] = "rank-proxy" if source is None else "user"
        gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
        gdf.attrs = {"proxy": source is None, "score_source": df["score_source"].iloc[0]}
        return gdf

    monkeypatch.setattr(scores, "city_scores", city_scores)


def test_cli_writes_shapefile_set_and_members(runner, tmp_path, fake_scores):
    out = tmp_path / "out" / "clusters.shp"
    res = runner.invoke(cli, ["clusters", "--eps-km", "400", "--min-weight", "0.5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        assert out.with_suffix(ext).exists(), ext
    assert out.with_suffix(".cpg").read_text().strip().upper().replace("-", "") == "UTF8"
    df = pyogrio.read_dataframe(out)
    assert len(df) == 2
    assert all(len(c) <= 10 for c in df.columns)
    gba = df[df["name"] == "Shenzhen–Hong Kong–Guangzhou"].iloc[0]
    assert gba["name_zh"] == "深圳–香港–广州"
    assert gba["typology"] == "multi-pole cross-border"
    assert gba["n_members"] == 4
    assert df.crs.to_epsg() == 4326
    assert df.geometry.is_valid.all()
    members = tmp_path / "out" / "clusters_members.csv"
    m = pd.read_csv(members, encoding="utf-8")
    assert set(m["name_zh"]) >= {"深圳", "香港", "广州", "澳门", "达拉斯", "休斯敦"}
    assert "苏瓦" not in set(m["name_zh"])
    meta = json.loads((tmp_path / "out" / "clusters.shp.meta.json").read_text(encoding="utf-8"))
    text = json.dumps(meta, ensure_ascii=False)
    assert "rank-proxy" in text and "eps_km" in text
    # the full names come back through geocity.export.read
    from geocity import export

    full = export.read(out)
    assert {"total_score", "territories", "score_source", "proxy"} <= set(full.columns)
    assert full["proxy"].astype(bool).all()


def test_cli_refuses_overwrite_then_overwrites(runner, tmp_path, fake_scores):
    out = tmp_path / "c.gpkg"
    args = ["clusters", "--eps-km", "400", "--min-weight", "0.5", "-o", str(out), "--members", str(tmp_path / "m.csv")]
    assert runner.invoke(cli, args).exit_code == 0
    before = out.read_bytes()
    res = runner.invoke(cli, args)
    assert res.exit_code == 1
    assert "exists" in res.output and "--overwrite" in res.output
    assert "Traceback" not in res.output
    assert out.read_bytes() == before
    res = runner.invoke(cli, args + ["--overwrite"])
    assert res.exit_code == 0, res.output
    assert len(pyogrio.read_dataframe(out)) == 2


def test_cli_innovation_geojson_and_dbscan(runner, tmp_path, fake_scores):
    out = tmp_path / "inn.geojson"
    res = runner.invoke(
        cli, ["clusters", "--score", "innovation", "--method", "dbscan", "--eps-km", "400", "--min-weight", "0.5",
              "-o", str(out), "-q"]
    )
    assert res.exit_code == 0, res.output
    df = pyogrio.read_dataframe(out)
    assert set(df["score"]) == {"innovation"} and set(df["method"]) == {"dbscan"}


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--eps-km", "0"], "eps_km"),
        (["--min-weight", "-1"], "min_weight"),
        (["--buffer-km", "-3"], "buffer_km"),
    ],
)
def test_cli_bad_parameters_are_clean_errors(runner, tmp_path, fake_scores, extra, match):
    res = runner.invoke(cli, ["clusters", *extra, "-o", str(tmp_path / "x.shp")])
    assert res.exit_code == 1
    assert match in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.shp").exists()


def test_cli_bad_extension(runner, tmp_path, fake_scores):
    res = runner.invoke(cli, ["clusters", "--eps-km", "400", "--min-weight", "0.5", "-o", str(tmp_path / "x.xyz")])
    assert res.exit_code == 1 and "extension" in res.output


def test_cli_help_has_example(runner):
    res = runner.invoke(cli, ["clusters", "--help"])
    assert res.exit_code == 0 and "geocity clusters -o" in res.output


def test_cli_default_run_on_embedded_layers(runner, tmp_path):
    pytest.importorskip("geocity.layers")
    out = tmp_path / "clusters.shp"
    res = runner.invoke(cli, ["clusters", "-o", str(out)])
    assert res.exit_code == 0, res.output
    df = pyogrio.read_dataframe(out)
    assert len(df) >= 7
    assert df["name_zh"].str.contains("深圳").any()
    assert set(df["score_src"]) == {"rank-proxy"}
