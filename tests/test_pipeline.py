"""The main job (``geocity reproduce``)."""

from __future__ import annotations

import pyogrio
import pytest

from geocity import pipeline
from geocity.cli.main import cli
from geocity.errors import NotFoundError, OutputExistsError


def test_reproduce_steps_write_outputs(tmp_path):
    out = tmp_path / "out"
    written = pipeline.reproduce(out, steps=["layers", "clusters", "corridors"])
    names = {p.relative_to(out).as_posix() for p in written}
    for expected in (
        "layers/cities.gpkg",
        "clusters/clusters.shp",
        "clusters/clusters.cpg",
        "clusters/clusters_members.csv",
        "corridors/corridor_members_100km.csv",
    ):
        assert expected in names, expected
    assert all(p.exists() for p in written)
    info = pyogrio.read_info(out / "clusters" / "clusters.shp")
    assert info["features"] > 5 and info["encoding"] == "UTF-8"
    # a second run is refused without overwrite and replaces with it
    with pytest.raises(OutputExistsError, match="--overwrite"):
        pipeline.reproduce(out, steps=["layers"])
    again = pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert {p.name for p in again} >= {"cities.gpkg"}


def test_unknown_step(tmp_path):
    with pytest.raises(NotFoundError, match="valid steps"):
        pipeline.reproduce(tmp_path / "x", steps=["layers", "nope"])
    assert not (tmp_path / "x").exists()


def test_cli_reproduce_refuses_existing_folder(runner, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = runner.invoke(cli, ["reproduce", "-o", str(out), "--steps", "layers"])
    assert res.exit_code == 1
    assert "--overwrite" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["reproduce", "-o", str(out), "--steps", "layers", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert (out / "keep.txt").read_text() == "mine"  # not ours: left alone
    assert (out / "layers" / "cities.gpkg").exists()
