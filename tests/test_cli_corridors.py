"""Tests of ``geocity corridors`` (list, members, export)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pyogrio
import pytest

from geocity.cli.main import cli


@pytest.fixture
def points_csv(tmp_path):
    p = tmp_path / "pts.csv"
    pd.DataFrame(
        {"name": ["Lahore", "Kabul", "Karachi"], "lat": [31.5497, 34.5253, 24.86], "lon": [74.3436, 69.1783, 67.01]}
    ).to_csv(p, index=False)
    return p


def test_list(runner):
    r = runner.invoke(cli, ["corridors", "list"])
    assert r.exit_code == 0, r.output
    for name in ("CPEC", "CMREC", "CICPEC", "中巴经济走廊", "eastern", "Islamabad – Karachi"):
        assert name in r.output


def test_members_to_csv_and_overwrite_policy(runner, tmp_path, points_csv):
    out = tmp_path / "m.csv"
    args = ["corridors", "members", "--corridor", "CPEC", "--within-km", "100", "--points", str(points_csv),
            "-o", str(out)]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out)
    assert m.name.tolist() == ["Lahore", "Karachi"]
    assert {"corridor", "branch", "distance_km", "chainage_km", "nearest_waypoint", "side"} <= set(m.columns)
    assert (m.distance_km < 5).all()
    r = runner.invoke(cli, args)
    assert r.exit_code == 1 and "exists" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, args + ["--overwrite", "--all"])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out).name.tolist() == ["Lahore", "Karachi", "Kabul"]


def test_members_bad_input_is_a_clean_error(runner, tmp_path, points_csv):
    out = str(tmp_path / "m.csv")
    r = runner.invoke(cli, ["corridors", "members", "--corridor", "BCIM", "--points", str(points_csv), "-o", out])
    assert r.exit_code == 1 and "CPEC" in r.output and "CICPEC" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["corridors", "members", "--within-km", "-3", "--points", str(points_csv), "-o", out])
    assert r.exit_code == 1 and "within_km" in r.output
    r = runner.invoke(cli, ["corridors", "members", "--within-km", "5000", "--points", str(points_csv), "-o", out])
    assert r.exit_code == 1 and "too large" in r.output


def test_members_with_a_corridor_file(runner, tmp_path, points_csv):
    f = tmp_path / "mine.csv"
    f.write_text("corridor,branch,seq,name,lat,lon\nMINE,a,1,Lahore,31.5497,74.3436\nMINE,a,2,Kabul,34.5253,69.1783\n",
                 encoding="utf-8")
    out = tmp_path / "m.csv"
    r = runner.invoke(cli, ["corridors", "members", "--corridor", "mine", "--within-km", "10", "--points",
                            str(points_csv), "--corridor-file", str(f), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out).name.tolist() == ["Lahore", "Kabul"]


def test_export_gpkg_layers(runner, tmp_path):
    out = tmp_path / "c.gpkg"
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "--within-km", "50,100", "-o", str(out)])
    assert r.exit_code == 0, r.output
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == {"lines", "buffers", "layer_styles"}  # + QGIS's default styles
    b = pyogrio.read_dataframe(out, layer="buffers")
    assert sorted(b.within_km) == [50.0, 100.0] and b.is_valid.all()
    assert len(pyogrio.read_dataframe(out, layer="lines")) == 6
    meta = json.loads((tmp_path / "c.gpkg.meta.json").read_text(encoding="utf-8"))
    assert "within_km" in json.dumps(meta)
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "-o", str(out)])
    assert r.exit_code == 1 and "exists" in r.output
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "--within-km", "75", "-o", str(out),
                            "--overwrite"])
    assert r.exit_code == 0, r.output
    assert pyogrio.read_dataframe(out, layer="buffers").within_km.tolist() == [75.0]


def test_export_other_formats_write_two_files(runner, tmp_path):
    out = tmp_path / "c.geojson"
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CICPEC", "--within-km", "100", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "c_lines.geojson").exists() and (tmp_path / "c_buffers.geojson").exists()
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CICPEC", "--within-km", "100", "-o",
                            str(tmp_path / "s.shp")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "s_buffers.shp").exists() and (tmp_path / "s_lines.cpg").exists()


def test_export_bad_distances(runner, tmp_path):
    r = runner.invoke(cli, ["corridors", "export", "--within-km", "a,b", "-o", str(tmp_path / "c.gpkg")])
    assert r.exit_code == 2 and "--within-km" in r.output
    r = runner.invoke(cli, ["corridors", "export", "--within-km", "0", "-o", str(tmp_path / "c.gpkg")])
    assert r.exit_code == 1 and "within_km" in r.output
    assert not (tmp_path / "c.gpkg").exists()


def test_members_writes_a_record_with_input_checksums(runner, tmp_path, points_csv):
    out = tmp_path / "m.csv"
    r = runner.invoke(cli, ["corridors", "members", "--points", str(points_csv), "-q", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "m.csv.meta.json" in r.output
    meta = json.loads((tmp_path / "m.csv.meta.json").read_text(encoding="utf-8"))
    assert meta["params"]["corridors"] == ["CPEC"] and meta["params"]["within_km"] == 100.0
    assert [i["path"].rsplit("/", 1)[-1] for i in meta["inputs"]] == ["corridors.csv", "pts.csv"]
    # default points: the cities and rank layers are the inputs
    r = runner.invoke(cli, ["corridors", "members", "-o", str(tmp_path / "d.csv")])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "d.csv.meta.json").read_text(encoding="utf-8"))
    assert [i["path"].rsplit("/", 1)[-1] for i in meta["inputs"]] == [
        "corridors.csv", "cities.csv", "gdci_2022.csv", "bri_2022.csv"]
    # a leftover record blocks a new run without --overwrite, before any work
    (tmp_path / "d.csv").unlink()
    r = runner.invoke(cli, ["corridors", "members", "-o", str(tmp_path / "d.csv")])
    assert r.exit_code == 1 and "d.csv.meta.json" in r.output


def test_members_rows_follow_the_corridor(runner, tmp_path):
    out = tmp_path / "m.csv"
    r = runner.invoke(cli, ["corridors", "members", "--corridor", "CPEC", "-o", str(out)])
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out)
    from geocity import corridors

    order = {b: i for i, b in enumerate(corridors.lines("CPEC").branch)}  # the table's branch order
    key = list(zip(m.branch.map(order), m.chainage_km, strict=True))
    assert key == sorted(key)
    assert m.loc[m.branch == "eastern", "name_en"].tolist()[:2] == ["Lahore", "Faisalabad"]


def test_bad_point_files_are_clean_errors(runner, tmp_path):
    out = str(tmp_path / "m.csv")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("name,lat,lon\n拉合尔,31.5497,74.3436\n喀布尔,34.5253,69.1783\n".encode("gbk"))
    r = runner.invoke(cli, ["corridors", "members", "--points", str(gbk), "-o", out])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out).name.tolist() == ["拉合尔"]
    cases = {
        "junk.geojson": (b"this is not json {", r"junk.geojson.*vector layer.*GeoPackage"),
        "random.csv": (bytes(range(256)) * 8, r"random.csv.*neither UTF-8 nor GB18030"),
        "wkt.csv": (b"name,wkt\na,POINT (74.3 31.5)\nb,POINT(bad)\n", r"wkt.csv.*invalid WKT.*line 3"),
    }
    for name, (content, match) in cases.items():
        f = tmp_path / name
        f.write_bytes(content)
        r = runner.invoke(cli, ["corridors", "members", "--points", str(f), "-o", out, "--overwrite"])
        assert r.exit_code == 1, (name, r.output)
        assert "Traceback" not in r.output and re.search(match, r.output, re.S), (name, r.output)
        assert isinstance(r.exception, SystemExit)  # click's clean exit, not an escaped exception


def test_bad_corridor_files_are_clean_errors(runner, tmp_path, points_csv):
    out = str(tmp_path / "m.csv")
    gbk = tmp_path / "mine.csv"
    gbk.write_bytes(("corridor,branch,seq,name,lat,lon\n"
                     "我的,甲,1,拉合尔,31.5497,74.3436\n我的,甲,2,喀布尔,34.5253,69.1783\n").encode("gbk"))
    r = runner.invoke(cli, ["corridors", "members", "--corridor", "我的", "--within-km", "10", "--points",
                            str(points_csv), "--corridor-file", str(gbk), "-o", out])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out).nearest_waypoint.tolist() == ["拉合尔", "喀布尔"]
    flat = tmp_path / "flat.csv"
    flat.write_text("corridor,branch,seq,name,lat,lon\nZ,a,1,x,31.5,74.3\nZ,a,2,y,31.5,74.3\n", encoding="utf-8")
    r = runner.invoke(cli, ["corridors", "members", "--corridor", "Z", "--corridor-file", str(flat), "-o", out,
                            "--overwrite"])
    assert r.exit_code == 1 and "Z/a" in r.output and "zero length" in r.output and "Traceback" not in r.output


def test_export_refuses_each_existing_file_once(runner, tmp_path):
    out = tmp_path / "c.shp"
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "--within-km", "50", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["corridors", "export", "--corridor", "CPEC", "--within-km", "50", "-o", str(out)])
    assert r.exit_code == 1 and "exists" in r.output
    listed = r.output.split("output exists: ", 1)[1].split(";", 1)[0].replace("\n", "").split(", ")
    assert len(listed) == len(set(listed)) and any(x.endswith("c_lines.shp") for x in listed)
