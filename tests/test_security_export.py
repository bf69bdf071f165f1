"""Issue 11 (3b-3d, 5d): every command's outputs are all-or-nothing, an existing
output is refused the same way everywhere, and bad rows are named by the
input's own line numbers.

Each case runs the real command line (``geocity.cli.main:cli`` through
click's CliRunner) and checks: a non-zero exit, no traceback, a message naming
the path or row, and the folder exactly as before (nothing new, not even a
hidden temporary folder; existing files byte-identical).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from geocity.cli.main import cli

GEOCODE_CSV = "name\nBeijing\nShanghai\n"


@pytest.fixture()
def runner():
    return CliRunner()


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and folder under ``root`` (hidden ones too): path -> bytes, or '<dir>'."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "<dir>"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = Path(p).read_bytes()
    return out


def _refused(res, *needles: str) -> None:
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    for n in needles:
        assert n in res.output, (n, res.output)


def _ok(res) -> None:
    assert res.exit_code == 0, res.output + repr(res.exception)


# --------------------------------------------------------------------------
# the commands, each with one output (or set) written to folder d
# --------------------------------------------------------------------------
def _inputs(d: Path) -> Path:
    src = d.parent / "inputs"
    src.mkdir(exist_ok=True)
    (src / "names.csv").write_text(GEOCODE_CSV, encoding="utf-8")
    return src


COMMANDS = {
    # name: (argv builder, the files of the set the command writes, one of which we turn into a folder)
    "clusters": (lambda d, src: ["clusters", "-q", "-o", str(d / "cl.shp")],
                 ["cl.shp", "cl.dbf", "cl.shp.meta.json", "cl_members.csv", "cl_members.csv.meta.json"]),
    "corridors members": (lambda d, src: ["corridors", "members", "-q", "-o", str(d / "m.csv")],
                          ["m.csv", "m.csv.meta.json"]),
    "corridors export": (lambda d, src: ["corridors", "export", "--corridor", "CPEC", "--within-km", "50",
                                         "-o", str(d / "c.geojson")],
                         ["c_lines.geojson", "c_buffers.geojson", "c_buffers.geojson.meta.json"]),
    "density": (lambda d, src: ["density", "-q", "--bandwidth-km", "300", "--cell-deg", "3", "-o", str(d / "k.tif")],
                ["k.tif"]),
    "network": (lambda d, src: ["network", "--gravity", "-o", str(d / "n.gpkg")], ["n.gpkg", "n.gpkg.meta.json"]),
    "layers export": (lambda d, src: ["layers", "export", "cities", "-o", str(d / "c.gpkg")],
                      ["c.gpkg", "c.gpkg.meta.json"]),
    "geocode": (lambda d, src: ["geocode", str(src / "names.csv"), "--name-col", "name", "-o", str(d / "g.gpkg")],
                ["g.gpkg", "g.gpkg.meta.json"]),
}


def _alternative(argv: list[str]) -> list[str]:
    """The same command with other parameters where it has any (so a rerun would write other bytes)."""
    swap = {"50": "75", "300": "250", "cities": "gdci_2022"}
    out = [swap.get(a, a) for a in argv]
    if argv[0] == "clusters":
        out += ["--eps-km", "300"]
    elif argv[:2] == ["corridors", "members"]:
        out += ["--within-km", "60"]
    elif argv[0] == "network":
        out += ["--top-k", "2"]
    return out


# --------------------------------------------------------------------------
# 3c: an existing output is refused the same way by every command
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(COMMANDS))
def test_existing_output_is_refused_the_same_way(runner, tmp_path, name):
    build, files = COMMANDS[name]
    d = tmp_path / "out"
    d.mkdir()
    src = _inputs(d)
    argv = build(d, src)
    _ok(runner.invoke(cli, argv))
    before = _snapshot(d)
    assert set(files) <= set(before)
    res = runner.invoke(cli, _alternative(argv))
    _refused(res, "output exists: ", str(d / files[0]), "--overwrite")
    assert _snapshot(d) == before


def test_network_refuses_to_add_a_layer_to_an_existing_gpkg_and_overwrite_replaces_it(runner, tmp_path):
    import pyogrio

    own = tmp_path / "mine.gpkg"
    _ok(runner.invoke(cli, ["layers", "export", "cities", "-o", str(own)]))
    before = _snapshot(tmp_path)
    res = runner.invoke(cli, ["network", "--gravity", "-o", str(own)])
    _refused(res, "output exists: ", str(own), "--overwrite")
    assert _snapshot(tmp_path) == before
    assert list(pyogrio.list_layers(own)[:, 0]) == ["mine", "layer_styles"]  # + QGIS's default styles
    _ok(runner.invoke(cli, ["network", "--gravity", "-o", str(own), "--overwrite"]))
    assert list(pyogrio.list_layers(own)[:, 0]) == ["links", "layer_styles"]  # replaced, not extended


# --------------------------------------------------------------------------
# 3b: a folder where a file of the set goes, with --overwrite: nothing changes
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(COMMANDS))
@pytest.mark.parametrize("which", ["first", "last"])
def test_a_folder_in_the_set_with_overwrite_changes_nothing(runner, tmp_path, name, which):
    build, files = COMMANDS[name]
    d = tmp_path / "out"
    d.mkdir()
    src = _inputs(d)
    argv = build(d, src)
    _ok(runner.invoke(cli, argv))
    target = d / (files[0] if which == "first" else files[-1])
    if target.exists():
        target.unlink()
    target.mkdir()
    (target / "keep.txt").write_text("user's file", encoding="utf-8")
    before = _snapshot(d)
    res = runner.invoke(cli, _alternative(argv) + ["--overwrite"])
    _refused(res, str(target))
    assert "is a folder" in res.output or "is a directory" in res.output  # ours, or click's for -o itself
    assert _snapshot(d) == before


# --------------------------------------------------------------------------
# 3a: two outputs of one command naming the same file
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "output, members",
    [
        ("a.csv", "a.csv"),
        ("a.csv", "sub/../a.csv"),  # the same file after resolving the path
        ("x.shp", "x.fields.csv"),  # the shapefile's sidecar
        ("a.csv", "a.csv.meta.json"),  # the boundaries' provenance record
        ("x.geojson", "x.geojson.meta.json"),
    ],
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_clusters_outputs_naming_the_same_file_are_refused_up_front(runner, tmp_path, output, members, overwrite):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    before = _snapshot(tmp_path)
    res = runner.invoke(cli, ["clusters", "-q", "-o", str(d / output), "--members", str(d / members)]
                        + (["--overwrite"] if overwrite else []))
    _refused(res, "two outputs would write the same file", "-o/--output", "--members")
    assert _snapshot(tmp_path) == before


def test_clusters_outputs_through_a_link_are_the_same_file(runner, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (tmp_path / "alias").symlink_to(d, target_is_directory=True)
    before = _snapshot(tmp_path)
    res = runner.invoke(cli, ["clusters", "-q", "-o", str(d / "a.csv"), "--members", str(tmp_path / "alias" / "a.csv")])
    _refused(res, "two outputs would write the same file")
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------
# 3b: a failure while moving the set into place leaves the old set intact
# --------------------------------------------------------------------------
@pytest.mark.parametrize("overwrite", [False, True])
def test_clusters_failure_during_the_move_rolls_back(runner, tmp_path, monkeypatch, overwrite):
    import geocity.export as export

    d = tmp_path / "out"
    d.mkdir()
    argv = ["clusters", "-q", "-o", str(d / "cl.shp")]
    if overwrite:
        _ok(runner.invoke(cli, argv))
    before = _snapshot(tmp_path)
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        # let the staging inside export.write work; fail the 4th move into the destination folder
        if Path(dst).parent == d:
            calls["n"] += 1
            if calls["n"] == 4:
                raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", flaky)
    res = runner.invoke(cli, argv + ["--eps-km", "300"] + (["--overwrite"] if overwrite else []))
    _refused(res, "nothing was changed")
    assert calls["n"] >= 4
    assert _snapshot(tmp_path) == before


def test_a_missing_output_folder_is_not_left_behind_after_a_failure(runner, tmp_path, monkeypatch):
    import geocity.export as export

    real = os.replace
    target = tmp_path / "new" / "deeper"

    def failing(src, dst):
        if Path(dst).parent == target:
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(export.os, "replace", failing)
    res = runner.invoke(cli, ["clusters", "-q", "-o", str(target / "cl.shp"), "--members",
                              str(tmp_path / "new" / "m.csv")])
    _refused(res)
    assert _snapshot(tmp_path) == {}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_file_where_the_output_folder_should_be(runner, tmp_path, name):
    build, _ = COMMANDS[name]
    src = _inputs(tmp_path / "x")
    d = tmp_path / "afile"
    d.write_text("not a folder", encoding="utf-8")
    before = _snapshot(tmp_path)
    res = runner.invoke(cli, build(d / "sub", src))
    _refused(res, "is a file, not a folder", str(d))
    assert _snapshot(tmp_path) == before


# --------------------------------------------------------------------------
# 5d: rows named by the input's own line numbers (CSV) or feature numbers
# --------------------------------------------------------------------------
def _check_row_message(runner, tmp_path, argv, *needles, absent=()):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    before = _snapshot(tmp_path)
    res = runner.invoke(cli, argv)
    _refused(res, *needles)
    for a in absent:
        assert a not in res.output, (a, res.output)
    assert _snapshot(tmp_path) == before
    return res.output


BAD_POINTS = "name,lat,lon\nLahore,31.55,74.34\n\nGwadar,95,62.3\n"  # the bad row is on line 4


@pytest.mark.parametrize("cmd", [
    ["density", "-q", "--bandwidth-km", "300", "--cell-deg", "2"],
    ["corridors", "members", "-q"],
])
def test_a_bad_point_is_named_by_its_csv_line(runner, tmp_path, cmd):
    p = tmp_path / "pts.csv"
    p.write_text(BAD_POINTS, encoding="utf-8")
    _check_row_message(runner, tmp_path, cmd + ["--points", str(p), "-o", str(tmp_path / "out" / "x.tif"
                                                                        if cmd[0] == "density" else
                                                                        tmp_path / "out" / "m.csv")],
                       "line 4", absent=("line 3", "index"))


@pytest.mark.parametrize("cmd", [
    ["density", "-q", "--bandwidth-km", "300", "--cell-deg", "2"],
    ["corridors", "members", "-q"],
])
def test_a_bad_feature_is_named_from_1(runner, tmp_path, cmd):
    import geopandas as gpd
    from shapely.geometry import Point, box

    p = tmp_path / "pts.gpkg"
    gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=[Point(74, 31), Point(62, 25), box(60, 20, 61, 21)],
                     crs=4326).to_file(p)
    out = tmp_path / "out" / ("x.tif" if cmd[0] == "density" else "m.csv")
    _check_row_message(runner, tmp_path, cmd + ["--points", str(p), "-o", str(out)], "feature 3",
                       absent=("[2]", "index"))


def test_a_long_name_after_sorting_is_named_by_its_input_line(runner, tmp_path):
    # members are sorted along the corridor: Kashgar (line 3) comes before Karachi (line 2)
    p = tmp_path / "pts.csv"
    p.write_text("name,lat,lon\nKarachi,24.86,67.01\n" + "K" * 300 + ",39.47,75.99\n", encoding="utf-8")
    _check_row_message(runner, tmp_path, ["corridors", "members", "-q", "--points", str(p), "-o",
                                          str(tmp_path / "out" / "m.shp")],
                       "line 3 (300 bytes)", absent=("row 0", "line 2 (", "index"))


def test_corridor_file_rows_are_its_lines(runner, tmp_path):
    p = tmp_path / "corr.csv"
    p.write_text("corridor,branch,seq,name,lat,lon\nX,a,1,A,30,70\n\nX,a,two,B,31,71\nX,a,3,C,32,72\n",
                 encoding="utf-8")
    _check_row_message(runner, tmp_path, ["corridors", "members", "-q", "--corridor", "X", "--corridor-file",
                                          str(p), "-o", str(tmp_path / "out" / "m.csv")],
                       "non-numeric seq", "line 4", absent=("line 3",))


def test_corridor_line_file_features_count_from_1(runner, tmp_path):
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    p = tmp_path / "corr.geojson"
    gpd.GeoDataFrame({"corridor": ["X", "X"]}, geometry=[LineString([(70, 30), (71, 31)]), Point(72, 32)],
                     crs=4326).to_file(p)
    _check_row_message(runner, tmp_path, ["corridors", "export", "--corridor-file", str(p), "--corridor", "X",
                                          "-o", str(tmp_path / "out" / "c.gpkg")],
                       "feature 2: geometry must be a LineString", absent=("feature 1",))


def test_edge_table_rows_are_its_lines(runner, tmp_path):
    p = tmp_path / "edges.csv"
    p.write_text("source,target,weight\nbeijing-cn,shanghai-cn,1\n\nbeijing-cn,tokyo-jp,heavy\n", encoding="utf-8")
    _check_row_message(runner, tmp_path, ["network", "--edges", str(p), "-o", str(tmp_path / "out" / "l.gpkg")],
                       "line 4", absent=("line 3",))


def test_scores_table_rows_are_its_lines(runner, tmp_path):
    p = tmp_path / "scores.csv"
    p.write_text('city_id,composite\nshanghai-cn,0.5\n\nbeijing-cn,-0.2\n', encoding="utf-8")
    for argv in (["clusters", "-q", "-o", str(tmp_path / "out" / "c.gpkg")],
                 ["network", "--gravity", "-o", str(tmp_path / "out" / "l.gpkg")],
                 ["density", "-q", "--bandwidth-km", "300", "--cell-deg", "2", "-o", str(tmp_path / "out" / "d.tif")]):
        _check_row_message(runner, tmp_path, argv + ["--scores", str(p)], "line 4 (beijing-cn)",
                           absent=("row 2", "row 3"))


def test_estimator_write_is_all_or_nothing(tmp_path):
    """CityClusters.write goes through export.write_clusters: two names for one
    file are refused before anything is written, and a folder in the member
    table's set leaves the boundaries unwritten too."""
    import warnings

    from geocity.cluster import report_clusters
    from geocity.errors import ValidationError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = report_clusters()
    with pytest.raises(ValidationError):
        est.write(tmp_path / "a.csv", members_path=tmp_path / "a.csv")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "m.csv.meta.json").mkdir()
    with pytest.raises(ValidationError):
        est.write(tmp_path / "c.gpkg", members_path=tmp_path / "m.csv", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv.meta.json"]
    written = est.write(tmp_path / "ok.gpkg")
    assert all(p.exists() and p.parent == tmp_path for p in written)
