"""``geocity figures``."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry import Point

from geocity.cli.main import cli


def test_list(runner):
    res = runner.invoke(cli, ["figures", "--list"])
    assert res.exit_code == 0, res.output
    assert "2-3" in res.output and "全球活力城市聚落分布" in res.output and "corridor-cpec" in res.output


def test_render_one(runner, tmp_path):
    res = runner.invoke(cli, ["figures", "3-1", "-o", str(tmp_path), "--dpi", "40", "--format", "png,pdf", "-q"])
    assert res.exit_code == 0, res.output
    for lang in ("en", "zh"):  # default: English and Chinese plates
        assert (tmp_path / f"3-1_{lang}.png").exists() and (tmp_path / f"3-1_{lang}.pdf").exists()
    # refuses to overwrite, then replaces with --overwrite
    res = runner.invoke(cli, ["figures", "3-1", "-o", str(tmp_path), "--dpi", "40", "-q"])
    assert res.exit_code == 1 and "--overwrite" in res.output
    res = runner.invoke(cli, ["figures", "3-1", "-o", str(tmp_path), "--dpi", "40", "-q", "--overwrite"])
    assert res.exit_code == 0, res.output


def test_bad_input(runner, tmp_path):
    res = runner.invoke(cli, ["figures", "2-99", "-o", str(tmp_path)])
    assert res.exit_code == 1 and "valid names" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["figures", "-o", str(tmp_path)])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["figures", "2-1"])
    assert res.exit_code == 2 and "--output" in res.output
    res = runner.invoke(cli, ["figures", "2-1", "-o", str(tmp_path), "--lang", "fr"])
    assert res.exit_code == 1 and "lang" in res.output
    pts = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=4326).to_file(pts)
    res = runner.invoke(cli, ["figures", "2-2", "-o", str(tmp_path / "o"), "--basemap", str(pts), "-q"])
    assert res.exit_code == 1 and "no polygons" in res.output
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = runner.invoke(cli, ["figures", "2-1", "-o", str(blocker / "sub"), "-q"])
    # refused with one message naming the blocking file (export.check_writable's wording), nothing written
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert "output folder" in res.output or "is a file, not a folder" in res.output, res.output
    assert str(blocker) in res.output and blocker.read_text() == "x"
