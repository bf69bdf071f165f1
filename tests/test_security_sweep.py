"""Hostile inputs across the commands (issue 11, parts 4 and 5): one class per test.

Each bad input must end in ONE plain message naming the file, row or option
and the fix, a non-zero exit, no traceback and no output left behind -- or a
correct result. Every test here failed before the sweep's fixes; the
docstrings say how.
"""

from __future__ import annotations

import sqlite3
import warnings

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point

from geocity import export, scores
from geocity.cli.main import cli
from geocity.errors import FormulaCellWarning, ValidationError


@pytest.fixture
def runner():
    return CliRunner()


def _fails_cleanly(res, out_dir, *needles):
    """One ``Error:`` line with every needle, exit 1, no traceback, nothing written."""
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert "Traceback" not in res.output and "Warning" not in res.output
    for n in needles:
        assert n in res.output, (n, res.output)
    assert not any(out_dir.iterdir()), list(out_dir.iterdir())


def _out(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


POINTS_HEADER = "name,lat,lon\n"
CPEC = ["corridors", "members", "--corridor", "CPEC", "--within-km", "100"]


# --------------------------------------------------------------------------- text tables


def test_scores_csv_in_gbk_is_read_like_every_other_table(runner, tmp_path):
    """Before: ``--scores`` with a GBK file was refused ("not UTF-8"), while the geocoder,
    export.read and --points read the same file."""
    f = tmp_path / "scores.csv"
    f.write_bytes("name_zh,composite\n北京,0.9\n上海,0.8\n".encode("gbk"))
    out = _out(tmp_path)
    res = runner.invoke(cli, ["network", "--gravity", "--dimension", "composite", "--top-k", "1", "--scores",
                              str(f), "-o", str(out / "links.csv")])
    assert res.exit_code == 0, res.output
    got = scores.city_scores(source=f).set_index("city_id")
    assert got.loc["beijing-cn", "composite"] == pytest.approx(0.9)


def test_edge_table_empty_or_gbk(runner, tmp_path):
    """Before: an empty --edges file was a pandas traceback (EmptyDataError) and a GBK one
    "cannot read it as UTF-8 CSV"."""
    out = _out(tmp_path)
    empty = tmp_path / "edges.csv"
    empty.write_bytes(b"")
    res = runner.invoke(cli, ["network", "--edges", str(empty), "-o", str(out / "l.csv")])
    _fails_cleanly(res, out, "edges.csv", "is empty")
    gbk = tmp_path / "edges_gbk.csv"
    gbk.write_bytes("source,target,weight\n北京,上海,1\n北京,东京,abc\n".encode("gbk"))
    res = runner.invoke(cli, ["network", "--edges", str(gbk), "-o", str(out / "l.csv")])
    _fails_cleanly(res, out, "edges_gbk.csv", "non-numeric or negative weight: line 3")


def test_nul_byte_in_a_utf8_csv_is_refused_by_every_reader(runner, tmp_path):
    """Before: the geocoder refused a NUL byte, but --points and --scores (pandas' C reader)
    took "Tok\\x00yo" as text and went on."""
    f = tmp_path / "pts.csv"
    f.write_bytes(POINTS_HEADER.encode() + b"Lah\x00ore,31.5,74.3\n")
    out = _out(tmp_path)
    res = runner.invoke(cli, [*CPEC, "--points", str(f), "-o", str(out / "m.csv")])
    _fails_cleanly(res, out, "pts.csv", "NUL bytes")
    s = tmp_path / "scores.csv"
    s.write_bytes(b"city_id,composite\nbeijing-cn,0.9\x00\n")
    with pytest.raises(ValidationError, match="NUL bytes"):
        scores.city_scores(source=s)


@pytest.mark.parametrize("reader", ["points", "scores", "edges", "geocode"])
def test_a_header_naming_a_column_twice_is_refused(runner, tmp_path, reader):
    """Before: pandas renamed the second column to ``lat.1`` / ``composite.1`` and every reader
    silently used the first one."""
    out = _out(tmp_path)
    f = tmp_path / "in.csv"
    if reader == "points":
        f.write_text("name,lat,lon,lat\nLahore,31.5,74.3,0\n", encoding="utf-8")
        args = [*CPEC, "--points", str(f), "-o", str(out / "m.csv")]
        needle = "'lat' (columns 2 and 4)"
    elif reader == "scores":
        f.write_text("city_id,composite,composite\nbeijing-cn,0.9,0.1\n", encoding="utf-8")
        args = ["network", "--gravity", "--dimension", "composite", "--scores", str(f), "-o", str(out / "l.csv")]
        needle = "'composite' (columns 2 and 3)"
    elif reader == "edges":
        f.write_text("source,target,target\nbeijing-cn,tokyo-jp,london-gb\n", encoding="utf-8")
        args = ["network", "--edges", str(f), "-o", str(out / "l.csv")]
        needle = "'target' (columns 2 and 3)"
    else:
        f.write_text("city,city\nBeijing,Tokyo\n", encoding="utf-8")
        args = ["geocode", str(f), "--name-col", "city", "-o", str(out / "g.csv")]
        needle = "'city' (columns 1 and 2)"
    res = runner.invoke(cli, args)
    _fails_cleanly(res, out, "in.csv", "the header (line 1) names 1 column twice", needle, "rename or drop")


def test_a_one_megabyte_cell_is_a_cell(runner, tmp_path):
    """Before: the geocoder (csv module, 128 KiB limit) refused the file: "field larger than
    field limit (131072)", although pandas reads it; line numbers after it were lost too."""
    f = tmp_path / "in.csv"
    f.write_text("city,note\nBeijing," + "x" * 1_000_000 + "\n,\n", encoding="utf-8")
    out = _out(tmp_path)
    res = runner.invoke(cli, ["geocode", str(f), "--name-col", "city", "-o", str(out / "g.gpkg")])
    assert res.exit_code == 0, res.output
    assert "warning: line 3: empty name" in res.output


# --------------------------------------------------------------------------- row references


def test_geocoder_names_rows_by_their_line_in_the_file(runner, tmp_path):
    """Before: "row 3: empty name", "rows 1, 4: duplicate name" -- data rows counted from 1,
    not the file's own lines (header = line 1) that every other message uses."""
    f = tmp_path / "in.csv"
    # a blank line and a line of spaces (both skipped by pandas) count as lines of the file
    f.write_text("city\nBeijing\n\nLahore\n \n\"\"\nBeijing\n", encoding="utf-8")
    out = _out(tmp_path)
    res = runner.invoke(cli, ["geocode", str(f), "--name-col", "city", "-o", str(out / "g.gpkg")])
    assert res.exit_code == 0, res.output
    assert "warning: line 6: empty name in column 'city'; left unmatched" in res.output
    assert "warning: line 2, line 7: duplicate name 'beijing'; all kept" in res.output
    from geocity.geocode import geocode

    rep = geocode(pd.DataFrame({"n": ["", "Beijing"]}, index=[10, 11]), name_col="n").attrs["report"]
    assert rep == ["index 10: empty name in column 'n'; left unmatched"]


def test_bad_coordinates_are_named_without_a_raw_list(runner, tmp_path):
    """Before: "1 row(s) with latitude outside [-90, 90] ..., e.g. [line 2]"."""
    f = tmp_path / "pts.csv"
    f.write_text(POINTS_HEADER + "A,95,74.3\nB,31.5,74.3\n", encoding="utf-8")
    out = _out(tmp_path)
    res = runner.invoke(cli, [*CPEC, "--points", str(f), "-o", str(out / "m.csv")])
    _fails_cleanly(res, out, "pts.csv", "longitude outside [-180, 180]: line 2")
    assert "[line" not in res.output and "e.g. [" not in res.output


# --------------------------------------------------------------------------- vector files


def _pts(tmp_path, name="pts.shp", **kw):
    g = gpd.GeoDataFrame({"name": ["Lahore"]}, geometry=[Point(74.3, 31.5)], crs=4326)
    p = tmp_path / name
    g.to_file(p, **kw)
    return p


@pytest.mark.parametrize("gone, needle", [(".dbf", ".dbf (the attribute table)"),
                                          (".shx", ".shx (the index of the shapes)")])
def test_shapefile_without_its_dbf_or_shx(runner, tmp_path, gone, needle):
    """Before: without .dbf GDAL read geometry only (every attribute silently dropped, exit 0);
    without .shx the message told a CLI user to "Set SHAPE_RESTORE_SHX config option"."""
    p = _pts(tmp_path)
    p.with_suffix(gone).unlink()
    out = _out(tmp_path)
    res = runner.invoke(cli, [*CPEC, "--points", str(p), "-o", str(out / "m.csv")])
    _fails_cleanly(res, out, "pts.shp", needle, "copy every file of the set")
    assert "SHAPE_RESTORE_SHX" not in res.output


def test_geopackage_with_two_layers(runner, tmp_path):
    """Before: the first layer was read silently, with pyogrio's UserWarning on stderr."""
    p = _pts(tmp_path, "two.gpkg", layer="a")
    _pts(tmp_path, "two.gpkg", layer="b", mode="a")
    out = _out(tmp_path)
    res = runner.invoke(cli, [*CPEC, "--points", str(p), "-o", str(out / "m.csv")])
    _fails_cleanly(res, out, "two.gpkg", "holds 2 layers ('a', 'b')", "save the layer you mean")
    # a `corridors export` GeoPackage (layers lines and buffers) is a corridor file: its lines are read
    exp = tmp_path / "cor.gpkg"
    assert runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "-o", str(exp)]).exit_code == 0
    res = runner.invoke(cli, ["corridors", "list", "--corridor-file", str(exp)])
    assert res.exit_code == 0 and "CPEC" in res.output, res.output


def test_geopackage_without_layers(runner, tmp_path):
    """Before: "not recognized as being in a supported file format", after a Python
    RuntimeWarning line from pyogrio."""
    p = _pts(tmp_path, "empty.gpkg", layer="x", SPATIAL_INDEX="NO")
    con = sqlite3.connect(p)
    con.execute("DROP TABLE x")
    con.execute("DELETE FROM gpkg_contents")
    con.execute("DELETE FROM gpkg_geometry_columns")
    con.commit()
    con.close()
    out = _out(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = runner.invoke(cli, [*CPEC, "--points", str(p), "-o", str(out / "m.csv")])
    _fails_cleanly(res, out, "empty.gpkg", "GeoPackage (SQLite) without a vector layer")


# --------------------------------------------------------------------------- user strings


def test_formula_cells_in_csv_outputs_are_kept_and_warned_about(runner, tmp_path):
    """Policy (geocity.export, *CSV*): values unchanged, one plain warning naming column and
    rows. Before: written silently."""
    f = tmp_path / "pts.csv"
    f.write_text(POINTS_HEADER + "=cmd|' /C calc'!A0,31.5,74.3\n-5,30.2,71.5\n@SUM(1),33.7,73.1\n",
                 encoding="utf-8")
    out = _out(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("always", FormulaCellWarning)  # shown by the CLI, as outside pytest
        res = runner.invoke(cli, [*CPEC, "--points", str(f), "-o", str(out / "m.csv")])
    assert res.exit_code == 0, res.output
    assert res.output.count("Warning: m.csv: text cells start with =, +, -, @") == 1
    # rows named by their --points line (the output is in chainage order); "-5" is a number, not flagged
    assert "column 'name' at line 4, line 2 (e.g. '@SUM(1)')" in res.output
    back = export.read(out / "m.csv")
    assert sorted(back["name"].astype(str)) == sorted(["=cmd|' /C calc'!A0", "-5", "@SUM(1)"])
    # formats a spreadsheet does not open, and geocity's own layers, are not flagged
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormulaCellWarning)
        res = runner.invoke(cli, [*CPEC, "--points", str(f), "-o", str(out / "m.gpkg")])
        assert res.exit_code == 0 and "Warning" not in res.output, res.output
        res = runner.invoke(cli, ["layers", "export", "cities", "-o", str(out / "cities.csv")])
        assert res.exit_code == 0 and "Warning" not in res.output, res.output


def test_control_characters_and_huge_names_in_terminal_output(runner, tmp_path):
    """Before: `corridors list` printed a corridor file's ESC sequences raw (recolouring the
    terminal), and messages printed a 10,000-character name in full."""
    src = tmp_path / "cor.csv"
    head = "corridor,corridor_name_en,corridor_name_zh,branch,seq,city_id,name,lat,lon,source,branch_source\n"
    src.write_text(head + "X,\x1b[31mRed\u202e,测试,a,1,,A,30,70,s,b\nX,\x1b[31mRed\u202e,测试,a,2,,B,35,75,s,b\n",
                   encoding="utf-8")
    res = runner.invoke(cli, ["corridors", "list", "--corridor-file", str(src)])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.output and "\u202e" not in res.output
    assert "\\x1b[31mRed\\u202e" in res.output
    s = tmp_path / "scores.csv"
    s.write_text("city_id,composite\n" + "n" * 10_000 + ",1\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        scores.city_scores(source=s)
    assert len(str(err.value)) < 400 and "(10000 characters)" in str(err.value)


def test_gravity_on_a_column_that_is_not_a_score(runner, tmp_path):
    """Before: "516 missing or negative 'name_en' score(s), e.g. ['edmonton-ca', ...]", no fix."""
    out = _out(tmp_path)
    res = runner.invoke(cli, ["network", "--gravity", "--dimension", "name_en", "-o", str(out / "l.csv")])
    _fails_cleanly(res, out, "no city has a 'name_en' score",
                   "choose a numeric score column: innovation, industry, infrastructure or composite")
