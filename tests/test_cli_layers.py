"""``geocity layers list|export`` and ``geocity geocode``."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
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


_EXTS = ["shp", "gpkg", "geojson", "csv", "fgb"]


@pytest.mark.parametrize("ext", _EXTS)
@pytest.mark.parametrize("name", ["cities", "gdci_2022", "bri_2022", "dimension_ranks", "basemap", "corridors"])
def test_layers_export_every_layer_and_format(runner, tmp_path, name, ext):
    from geocity import layers

    data = layers.load(name)
    out = tmp_path / f"{name}.{ext}"
    res = runner.invoke(cli, ["layers", "export", name, "-o", str(out)])
    assert res.exit_code == 0, res.output
    written = res.output.strip().rsplit(" to ", 1)[1]  # a table written as .shp is a lone .dbf
    back = pyogrio.read_dataframe(written, read_geometry=isinstance(data, gpd.GeoDataFrame) and ext != "csv")
    assert len(back) == len(data)
    if isinstance(data, gpd.GeoDataFrame) and ext != "csv":
        assert back.crs.to_epsg() == 4326 and back.geometry.notna().all()
    key = "iso_a2" if name == "basemap" else "city_id"
    def values(col):  # CSV reads a null back as ""
        return {v for v in col if isinstance(v, str) and v}

    assert values(back[key]) == values(data[key])


def test_layers_export_refuses_overwrite_every_format(runner, tmp_path):
    for ext in _EXTS:
        out = tmp_path / f"cities.{ext}"
        assert runner.invoke(cli, ["layers", "export", "cities", "-o", str(out)]).exit_code == 0
        before = out.read_bytes()
        res = runner.invoke(cli, ["layers", "export", "cities", "-o", str(out)])
        assert res.exit_code == 1 and "overwrite" in res.output and "Traceback" not in res.output, (ext, res.output)
        assert out.read_bytes() == before
    res = runner.invoke(cli, ["layers", "export", "cities", "-o", str(tmp_path / "cities.txt")])
    assert res.exit_code == 1 and ".gpkg" in res.output and "Traceback" not in res.output


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
    assert "line 4: empty name" in res.output and "not found" in res.output
    assert "2 exact" in res.output and "2 unmatched" in res.output
    back = gpd.read_file(out)
    assert len(back) == 4 and back.geometry.isna().sum() == 2
    assert back["city_id"].iloc[1] == "santiago-cu"
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "--name-col", "城市", "-o", str(out)])
    assert res.exit_code == 1 and "overwrite" in res.output


def test_geocode_cli_gpkg_keeps_unmatched(runner, tmp_path):
    """BOM + semicolons + duplicates + empty + unknown rows: all in the GPKG, unplaced ones with null geometry."""
    src = tmp_path / "bom.csv"
    src.write_bytes("\ufeffcity;country\nBeijing;CN\n;\nBeijing;CN\nAtlantisville;\nSão Paulo;BR\n".encode("utf-8"))
    out = tmp_path / "out.gpkg"
    res = runner.invoke(cli, ["geocode", str(src), "--name-col", "city", "--country-col", "country", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "as utf-8-sig" in res.output and "duplicate name 'beijing'" in res.output
    back = pyogrio.read_dataframe(out)
    assert back.crs.to_epsg() == 4326
    assert back["city"].tolist() == ["Beijing", "", "Beijing", "Atlantisville", "São Paulo"]
    assert back["match"].tolist() == ["exact", "unmatched", "exact", "unmatched", "exact"]
    assert back.geometry.isna().tolist() == [False, True, False, True, False]
    assert back["city_id"].tolist()[4] == "sao-paulo-br"


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
    res = runner.invoke(cli, ["geocode", str(_gbk(tmp_path)), "-o", str(tmp_path / "n.gpkg")])  # no --name-col
    assert res.exit_code == 1 and "no name column given" in res.output and "['城市', '国家']" in res.output
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"name\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    res = runner.invoke(cli, ["geocode", str(binary), "--name-col", "name", "-o", str(tmp_path / "b.gpkg")])
    assert res.exit_code == 1 and "not a text CSV" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "n.gpkg").exists() and not (tmp_path / "b.gpkg").exists()


def test_geocode_refuses_bad_output_before_geocoding(runner, tmp_path, monkeypatch):
    import geocity.geocode as gc

    def boom(*a, **k):  # the output is checked first: geocoding must not start
        raise AssertionError("geocoding ran before the output was checked")

    monkeypatch.setattr(gc, "geocode_file", boom)
    src = tmp_path / "in.csv"
    src.write_text("name\nBeijing\n", encoding="utf-8")
    existing = tmp_path / "out.gpkg"
    existing.write_bytes(b"x")
    res = runner.invoke(cli, ["geocode", str(src), "--name-col", "name", "-o", str(existing)])
    assert res.exit_code == 1 and "--overwrite" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["geocode", str(src), "--name-col", "name", "-o", str(tmp_path / "out.xyz")])
    assert res.exit_code == 1 and "supported" in res.output
