"""Tests of the ``geocity clusters`` command."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
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
        (["--eps-km", "nan"], "eps_km"),
        (["--max-span-km", "0"], "max_span_km"),
        (["--min-weight", "0"], "min_weight"),
    ],
)
def test_cli_bad_parameters_are_clean_errors(runner, tmp_path, fake_scores, extra, match):
    res = runner.invoke(cli, ["clusters", *extra, "-o", str(tmp_path / "x.shp")])
    assert res.exit_code == 1
    assert match in res.output and "Traceback" not in res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1  # one line
    assert list(tmp_path.iterdir()) == []


GBK_TABLE = "name_zh,composite\n北京,0.9\n上海,0.8\n深圳,0.7\n"


@pytest.mark.parametrize(
    "content,match",
    [
        (b"city_id,composite\nbeijing-cn,0.9\nnowhere-xx,0.5\n", "unknown city_id(s): 'nowhere-xx'"),
        (
            b"city_id,composite\nbeijing-cn,nan\nshanghai-cn,0.5\n",
            "missing or non-numeric value(s): line 2 (beijing-cn);",
        ),
        # the file's own line numbers: a blank line before the row counts
        (b"city_id,composite\n\nbeijing-cn,-0.2\nshanghai-cn,0.5\n", "negative value(s): line 3 (beijing-cn);"),
        (b"city_id,gdp\nbeijing-cn,0.2\n", "none of the score columns"),
        (b"place,composite\nx,0.2\n", "no city_id or name column"),
        (b"city_id,composite\nbeijing-cn,0.9\nbeijing-cn,0.5\n", "duplicate city_id(s): ['beijing-cn']"),
        # the shared reader's message (geocity._text via export._read_csv), as for every other table
        (b"", "is empty; expected a CSV with a header line"),
        ("name_zh,composite\n".encode() + "北京,0.9\n".encode() + "上海,0.8\n".encode("gbk"),
         "mixes text encodings: line 2 is UTF-8"),
    ],
    ids=["unknown-id", "nan", "negative", "no-score-column", "no-key-column", "duplicate-id", "empty", "mixed"],
)
def test_cli_bad_scores_files_are_one_line_errors(runner, tmp_path, content, match):
    pytest.importorskip("geocity.layers")
    scores_csv = tmp_path / "scores.csv"
    scores_csv.write_bytes(content)
    out = tmp_path / "out" / "c.shp"
    res = runner.invoke(cli, ["clusters", "--scores", str(scores_csv), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert match in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_cli_gbk_table_saved_as_utf8_works(runner, tmp_path, encoding):
    """A GBK scores table is read like every other user table (it used to be refused as "not UTF-8")."""
    pytest.importorskip("geocity.layers")
    scores_csv = tmp_path / "scores.csv"
    scores_csv.write_bytes(GBK_TABLE.encode(encoding))
    out = tmp_path / "c.gpkg"
    res = runner.invoke(cli, ["clusters", "--scores", str(scores_csv), "--min-weight", "0.5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "user scores" in res.output
    m = pd.read_csv(tmp_path / "c_members.csv", encoding="utf-8")
    assert {"北京", "上海", "深圳"} <= set(m["name_zh"])


def test_cli_missing_scores_file_is_usage_error(runner, tmp_path):
    res = runner.invoke(cli, ["clusters", "--scores", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "c.shp")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output


def test_cli_no_cluster_warns_and_writes_empty_valid_outputs(runner, tmp_path, fake_scores):
    out = tmp_path / "none.shp"
    res = runner.invoke(cli, ["clusters", "--eps-km", "1", "--min-weight", "0.5", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "ClusterWarning" not in res.output
    assert "Warning: no cluster found with eps_km=1" in res.output
    assert "Warning: 4 cities are each a core point on its own weight" in res.output
    assert "0 clusters" in res.output
    info = pyogrio.read_info(out)
    assert info["features"] == 0 and info["geometry_type"] in ("Polygon", "MultiPolygon")
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["cluster_id"] == "int64" and types["tot_score"] == "float64"
    assert out.with_suffix(".cpg").read_bytes() == b"UTF-8"
    from geocity import export

    assert len(export.read(out)) == 0
    m = pd.read_csv(tmp_path / "none_members.csv")
    assert len(m) == 0 and {"cluster_id", "city_id", "name_zh"} <= set(m.columns)
    meta = json.loads((tmp_path / "none.shp.meta.json").read_text(encoding="utf-8"))
    assert meta["extra"]["written"]["rows"] == 0 and meta["params"]["n_clusters"] == 0


def _default_estimator():
    from geocity.cluster import CityClusters
    from geocity.scores import city_scores

    return CityClusters().fit(city_scores())


@pytest.fixture(scope="module")
def default_estimator():
    pytest.importorskip("geocity.layers")
    return _default_estimator()


@pytest.mark.parametrize("ext", ["shp", "gpkg", "fgb", "geojson"])
def test_cli_default_run_every_attribute_round_trips(runner, tmp_path, default_estimator, ext):
    from geocity import export
    from geocity.cluster import SHAPEFILE_FIELDS

    est = default_estimator
    out = tmp_path / f"clusters.{ext}"
    res = runner.invoke(cli, ["clusters", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert res.output == ""
    want = pd.DataFrame(est.clusters_.drop(columns="geometry"))
    back = export.read(out)  # full names restored (from the sidecar for a shapefile)
    assert [c for c in back.columns if c != "geometry"] == list(want.columns)
    assert len(back) == len(want) >= 20
    for col in want.columns:
        a, b = want[col].tolist(), back[col].tolist()
        if want[col].dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(b, dtype=float), np.asarray(a, dtype=float), rtol=1e-12,
                                       equal_nan=True, err_msg=col)
        elif want[col].dtype.kind == "b":
            assert [bool(v) for v in b] == a, col
        else:
            assert b == a, col
    assert back.crs.to_epsg() == 4326 and back.geometry.is_valid.all()
    assert (back.geometry.normalize().geom_equals_exact(est.clusters_.geometry.normalize(), 1e-9)).all()
    # plain pyogrio (what QGIS sees): the same values under the ≤10-character names
    raw = pyogrio.read_dataframe(out)
    names = SHAPEFILE_FIELDS if ext == "shp" else {}
    for col in ("name", "name_zh", "typology", "poles", "territories", "score_source"):
        assert raw[names.get(col, col)].tolist() == want[col].tolist(), col
    assert "深圳–香港–广州" in set(raw["name_zh"])  # CJK and en dashes through the DBF
    assert "深圳–香港–广州" in set(raw["name_zh"])
    if ext == "shp":
        assert all(len(c.encode()) <= 10 for c in raw.columns)
        side = pd.read_csv(tmp_path / "clusters.fields.csv", dtype=str, encoding="utf-8")
        assert dict(zip(side["full_name"], side["short_name"], strict=True))["total_score"] == "tot_score"
        # the main job writes without field_names=: the same DBF fields as the command
        export.write(est.clusters_, tmp_path / "job.shp")
        assert list(pyogrio.read_info(tmp_path / "job.shp")["fields"]) == list(raw.columns[:-1])
        assert (tmp_path / "clusters.cpg").read_bytes() == b"UTF-8"
    # the member table: one row per city and cluster, Chinese names intact
    m = pd.read_csv(tmp_path / "clusters_members.csv", encoding="utf-8", keep_default_na=False)
    assert len(m) == len(est.members_) == int(est.clusters_["n_members"].sum())
    assert m["city_id"].tolist() == est.members_["city_id"].tolist()
    assert m["name_zh"].tolist() == est.members_["name_zh"].tolist()
    np.testing.assert_allclose(m["weight"], est.members_["weight"], rtol=1e-12)


def test_cli_metadata_record_has_parameters_sources_checksums_versions(runner, tmp_path):
    pytest.importorskip("geocity.layers")
    import hashlib

    from geocity import scores

    out = tmp_path / "c.shp"
    assert runner.invoke(cli, ["clusters", "--eps-km", "420", "-o", str(out)]).exit_code == 0
    for rec_path in (tmp_path / "c.shp.meta.json", tmp_path / "c_members.csv.meta.json"):
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
        assert rec["params"]["eps_km"] == 420.0 and rec["params"]["min_weight"] == 0.45
        # the default method (issue 16): the metropolitan cut, pieces split above 700 km
        assert rec["params"]["method"] == "metro" and rec["params"]["max_span_km"] == 700.0
        assert rec["params"]["score_source"] == "rank-proxy" and rec["params"]["proxy"] is True
        assert rec["params"]["dimension_weights"] == [1.0, 1.0, 1.0]
        ins = {Path(i["path"]).name: i["sha256"] for i in rec["inputs"]}
        assert set(ins) == {"cities.csv", "gdci_2022.csv", "dimension_ranks.csv"}
        for f in scores.input_files():
            assert ins[f.name] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert rec["geocity_version"] and {"geopandas", "pyogrio", "GDAL", "scipy"} <= set(rec["libraries"])
    # with a user table: its checksum; a table of 3 cities leaves the others at the stand-in 0, which
    # the record says (geocity.provenance: the weakest evidence, "user-missing", kind "user-partial")
    user = tmp_path / "mine.csv"
    user.write_text("city_id,composite\nbeijing-cn,0.9\ntianjin-cn,0.4\nshanghai-cn,0.8\n", encoding="utf-8")
    out2 = tmp_path / "u.geojson"
    res = runner.invoke(cli, ["clusters", "--scores", str(user), "--min-weight", "0.5", "-o", str(out2)])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "u.geojson.meta.json").read_text(encoding="utf-8"))
    assert rec["params"]["score_source"] == "user-missing" and rec["params"]["proxy"] is False
    assert rec["params"]["scores_kind"] == "user-partial" and rec["params"]["scores_partial"] is True
    assert rec["params"]["n_scores_user"] == 3 and "513 of 516 cities not in the table" in rec["params"]["scores_note"]
    ins = {Path(i["path"]).name: i["sha256"] for i in rec["inputs"]}
    assert ins == {"cities.csv": ins["cities.csv"], "mine.csv": hashlib.sha256(user.read_bytes()).hexdigest()}


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


def test_cli_boundary_option_reaches_the_estimator(runner, tmp_path):
    # the report's cities with the report's defaults: partition boundaries never overlap, hulls may
    import shapely

    got = {}
    for boundary in ("partition", "hull"):
        out = tmp_path / boundary / "clusters.gpkg"
        res = runner.invoke(cli, ["clusters", "--boundary", boundary, "-o", str(out), "-q"])
        assert res.exit_code == 0, res.output
        got[boundary] = pyogrio.read_dataframe(out)
        meta = json.loads(out.with_name(out.name + ".meta.json").read_text(encoding="utf-8"))
        assert boundary in json.dumps(meta)
    part = got["partition"].geometry.to_numpy()
    overlaps = [(i, j) for i in range(len(part)) for j in range(i + 1, len(part))
                if shapely.area(shapely.intersection(part[i], part[j])) > 1e-9]
    assert overlaps == []
    assert len(got["hull"]) == len(got["partition"])
    res = runner.invoke(cli, ["clusters", "--boundary", "voronoi", "-o", str(tmp_path / "x.gpkg")])
    assert res.exit_code != 0 and "partition" in res.output and not (tmp_path / "x.gpkg").exists()
