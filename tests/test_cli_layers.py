"""``geocity layers list|export`` and ``geocity geocode``."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest

from geocity.cli.main import cli


def test_layers_list(runner):
    res = runner.invoke(cli, ["layers", "list"])
    assert res.exit_code == 0, res.output
    lines = dict(line.split("\t", 1) for line in res.output.strip().splitlines())
    assert lines["cities"].startswith("516 rows\tPoint")
    assert lines["gdci_2022"].startswith("100 rows") and lines["dimension_ranks"].startswith("200 rows")


@pytest.mark.parametrize("ext", ["gpkg", "geojson", "csv"])
def test_layers_export_cities(runner, tmp_path, ext):
    out = tmp_path / f"cities.{ext}"
    res = runner.invoke(cli, ["layers", "export", "cities", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "516 rows" in res.output
    back = pd.read_csv(out) if ext == "csv" else gpd.read_file(out)
    assert len(back) == 516 and "beijing-cn" in set(back.city_id)
    if ext != "csv":
        assert back.crs.to_epsg() == 4326
        assert "北京" in set(back.name_zh)


def test_layers_export_overwrite(runner, tmp_path):
    out = tmp_path / "gdci.csv"
    assert runner.invoke(cli, ["layers", "export", "gdci_2022", "-o", str(out)]).exit_code == 0
    res = runner.invoke(cli, ["layers", "export", "gdci_2022", "-o", str(out)])
    assert res.exit_code == 1 and "overwrite" in res.output
    res = runner.invoke(cli, ["layers", "export", "gdci_2022", "-o", str(out), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["rank"].tolist() == list(range(1, 101))


def test_layers_export_unknown(runner, tmp_path):
    res = runner.invoke(cli, ["layers", "export", "nope", "-o", str(tmp_path / "x.csv")])
    assert res.exit_code == 1
    assert "unknown layer 'nope'" in res.output and "cities" in res.output
    assert "Traceback" not in res.output


def _gbk(tmp_path):
    p = tmp_path / "in.csv"
    p.write_bytes("城市,国家\n北京,中国\n圣地亚哥,古巴\n,\n不存在的城市,\n".encode("gbk"))
    return p


def test_geocode_cli(runner, tmp_path):
    out = tmp_path / "out.gpkg"
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "城市", "--country-col", "国家",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "as gb18030" in res.output
    assert "row 3: empty name" in res.output and "not found" in res.output
    assert "2 exact" in res.output and "2 unmatched" in res.output
    back = gpd.read_file(out)
    assert len(back) == 4 and back.geometry.isna().sum() == 2
    assert back["city_id"].iloc[1] == "santiago-cu"
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "城市", "-o", str(out)])
    assert res.exit_code == 1 and "overwrite" in res.output


def test_geocode_cli_bad_input(runner, tmp_path):
    out = str(tmp_path / "o.gpkg")
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "city", "-o", out])
    assert res.exit_code == 1 and "['city'] not in the table" in res.output
    res = runner.invoke(cli, ["geocode", str(tmp_path / "missing.csv"), "--name-col", "city", "-o", out])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "城市", "--encoding", "utf-8", "-o", out])
    assert res.exit_code == 1 and "not valid utf-8" in res.output
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "城市", "--encoding", "gbk", "-o", out])
    assert res.exit_code == 0 and "as gbk" in res.output
