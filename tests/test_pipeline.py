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


def test_overwrite_replaces_only_geocity_files(tmp_path, caplog):
    import json

    out = tmp_path / "out"
    steps = ["layers", "clusters", "corridors"]
    first = pipeline.reproduce(out, steps=steps)
    manifest = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest["steps"]) == set(steps)
    listed = {f for files in manifest["steps"].values() for f in files}
    assert {p.relative_to(out).as_posix() for p in first} <= listed
    # every file of the folder is in the manifest: records and sidecars included
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {pipeline.MANIFEST}
    assert on_disk == listed
    assert "corridors/corridor_buffers_100km.geojson" in manifest["steps"]["corridors"]
    manifest_bytes = (out / pipeline.MANIFEST).read_bytes()

    # the user's own files, in a step folder and at the top
    (out / "clusters" / "my_notes.txt").write_text("mine", encoding="utf-8")
    (out / "corridors" / "sub").mkdir()
    (out / "corridors" / "sub" / "edits.qgz").write_bytes(b"qgis")
    (out / "readme_mine.md").write_text("mine", encoding="utf-8")
    with caplog.at_level("INFO", logger="geocity.pipeline"):
        pipeline.reproduce(out, steps=steps, overwrite=True)
    assert (out / "clusters" / "my_notes.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "corridors" / "sub" / "edits.qgz").read_bytes() == b"qgis"
    assert (out / "readme_mine.md").exists()
    assert "leaving clusters/my_notes.txt alone" in caplog.text
    assert (out / pipeline.MANIFEST).read_bytes() == manifest_bytes  # deterministic
    assert (out / "clusters" / "clusters.shp").exists()

    # a run that no longer writes a file removes it (it is listed as geocity's), and only it
    pipeline.reproduce(out, steps=["corridors"], overwrite=True, within_km=50)
    assert not (out / "corridors" / "corridor_buffers_100km.geojson").exists()
    assert not (out / "corridors" / "corridor_members_100km.csv.meta.json").exists()
    assert (out / "corridors" / "corridor_buffers_50km.geojson").exists()
    assert (out / "corridors" / "sub" / "edits.qgz").exists()
    assert (out / "clusters" / "clusters.shp").exists()  # a step not run keeps its files and entries
    manifest = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))
    assert "clusters/clusters.shp" in manifest["steps"]["clusters"]
    assert "corridors/corridor_buffers_50km.geojson" in manifest["steps"]["corridors"]
    assert "corridors/corridor_buffers_100km.geojson" not in manifest["steps"]["corridors"]


def test_main_job_outputs_carry_records(tmp_path):
    import json

    out = tmp_path / "out"
    pipeline.reproduce(out, steps=["layers", "corridors"])
    for rel in ("layers/cities.gpkg", "layers/corridors.csv", "corridors/corridor_lines.geojson",
                "corridors/corridor_buffers_100km.geojson", "corridors/corridor_members_100km.csv"):
        meta = json.loads((out / (rel + ".meta.json")).read_text(encoding="utf-8"))
        assert meta["inputs"] and all(len(i["sha256"]) == 64 for i in meta["inputs"]), rel
    meta = json.loads((out / "corridors/corridor_members_100km.csv.meta.json").read_text(encoding="utf-8"))
    assert [i["path"].rsplit("/", 1)[-1] for i in meta["inputs"]] == [
        "corridors.csv", "cities.csv", "gdci_2022.csv", "bri_2022.csv"]
    assert meta["params"]["within_km"] == 100.0
    meta = json.loads((out / "layers/cities.gpkg.meta.json").read_text(encoding="utf-8"))
    assert meta["params"]["layer"] == "cities" and meta["inputs"][0]["path"].endswith("cities.csv")


def test_a_broken_manifest_removes_nothing(tmp_path, caplog):
    out = tmp_path / "out"
    pipeline.reproduce(out, steps=["layers"])
    (out / pipeline.MANIFEST).write_text("not json", encoding="utf-8")
    (out / "layers" / "old_output.csv").write_text("x", encoding="utf-8")
    with caplog.at_level("WARNING", logger="geocity.pipeline"), \
            pytest.warns(pipeline.ManifestWarning, match="not a geocity manifest"):
        pipeline.reproduce(out, steps=["layers"], overwrite=True)
    assert "not a geocity manifest" in caplog.text
    assert (out / "layers" / "old_output.csv").exists()


def test_web_map_reuses_the_fitted_clusters(tmp_path, monkeypatch):
    """clusters + webmap fit each score's clusters once: the map shows the exported clusters."""
    from geocity import pipeline
    from geocity.cluster import CityClusters

    calls = []
    fit = CityClusters.fit

    def counting(self, *a, **k):
        calls.append(self.score)
        return fit(self, *a, **k)

    monkeypatch.setattr(CityClusters, "fit", counting)
    pipeline.reproduce(tmp_path, steps=["clusters", "webmap"], overwrite=True)
    assert sorted(calls) == ["composite", "innovation"]
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "Shenzhen" in html and "Copenhagen" in html


def test_user_scores_records_name_the_table_and_the_cities_it_left_out(tmp_path):
    """reproduce --scores: the density and network records carry the run's
    provenance per city (not per link row) and name the cities the table
    left out (issue 17, item 1)."""
    import json

    import numpy as np
    import pandas as pd

    from geocity import layers

    ids = layers.load("cities")["city_id"]
    table = tmp_path / "my_scores.csv"
    pd.DataFrame({"city_id": ids.iloc[:-3], "innovation": np.linspace(1, 0.1, len(ids) - 3), "industry": 0.5,
                  "infrastructure": 0.4}).to_csv(table, index=False)
    pipeline.reproduce(tmp_path / "out", steps=["network"], scores=table)
    rec = json.loads((tmp_path / "out" / "network" / "composite_links.gpkg.meta.json").read_text())["params"]
    assert rec["scores_table"] == "my_scores.csv" and rec["scores_partial"] is True
    assert rec["n_scores_user"] + rec["n_scores_missing"] == len(ids)  # cities, not links
    assert rec["scores_missing_cities"] == sorted(ids.iloc[-3:].astype(str))
    assert "3 of" in rec["scores_note"]


def _stub_steps(monkeypatch, log, *, density_fails=False, figures_fails=False, beside=True):
    """Density and figures stubs. With ``beside``, the figures wait (up to 20 s) until the density
    step has been recorded in the manifest, which only happens if the two run at the same time,
    and meanwhile pickle the analysis over and over while the density step fills its cache (as
    the real figures step pickles it for its workers)."""
    import pickle
    import threading
    import time

    recorded = threading.Event()

    def density(out, a, **_):
        log.append(("density", threading.current_thread().name))
        for i in range(2000):  # new results while the figures pickle the analysis
            a._once(("stub", i), lambda i=i: [i] * 50)
        if density_fails:
            raise RuntimeError("density broke")
        p = out / "density" / "d.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("d")
        return [p]

    def figures(out, a, **_):
        log.append(("figures", threading.current_thread().name))
        if beside:
            n = len(a._cache)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not recorded.is_set():
                pickle.dumps(a)
                assert len(a._cache) == n  # the thread works on its own copy
                if (out / pipeline.MANIFEST).exists() and '"density"' in (out / pipeline.MANIFEST).read_text():
                    recorded.set()
                if density_fails and not any(t.name == "geocity-beside-figures" for t in threading.enumerate()):
                    break  # the density step failed: nothing to wait for
            assert recorded.is_set() or density_fails, "the density step was not recorded beside the figures"
        p = out / "figures" / "f.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("f")
        if figures_fails:
            raise RuntimeError("figures broke")
        return [p]

    def webmap(out, a, **_):
        log.append(("webmap", threading.current_thread().name))
        p = out / "map.html"
        p.write_text("w")
        return [p]

    monkeypatch.setitem(pipeline._FUNCS, "density", density)
    monkeypatch.setitem(pipeline._FUNCS, "figures", figures)
    monkeypatch.setitem(pipeline._FUNCS, "webmap", webmap)


def _manifest_steps(out):
    import json

    return json.loads((out / pipeline.MANIFEST).read_text())["steps"]


def test_density_runs_beside_the_figures_and_each_step_keeps_its_own_files(tmp_path, monkeypatch):
    from geocity.analysis import Analysis

    log: list = []
    _stub_steps(monkeypatch, log)
    out = tmp_path / "out"
    a = Analysis()
    written = pipeline.reproduce(out, steps=["density", "network", "figures", "webmap"], analysis=a, processes=2)
    rel = [p.relative_to(out).as_posix() for p in written]
    assert rel.index("density/d.txt") < rel.index("figures/f.txt") < rel.index("map.html")  # files in step order
    assert ("density", "geocity-beside-figures") in log and ("figures", "MainThread") in log
    assert log.index(("density", "geocity-beside-figures")) < log.index(("webmap", "geocity-beside-figures"))
    steps = _manifest_steps(out)
    assert set(steps["density"]) == {"density/d.txt"} and set(steps["figures"]) == {"figures/f.txt"}
    assert set(steps["webmap"]) == {"map.html"}
    assert "network" in steps
    assert ("stub", 1999) in a._cache  # the thread's results are the analysis' afterwards


def test_density_runs_in_order_when_the_plates_are_drawn_in_this_process(tmp_path, monkeypatch):
    """With one process the plates (and their own density surfaces) are drawn in this thread:
    nothing runs beside them."""
    log: list = []
    _stub_steps(monkeypatch, log, beside=False)
    pipeline.reproduce(tmp_path / "out", steps=["density", "figures", "webmap"], processes=1)
    assert log == [("density", "MainThread"), ("figures", "MainThread"), ("webmap", "MainThread")]


@pytest.mark.parametrize("which", ["density", "figures", "both"])
def test_a_failure_beside_the_figures_is_raised_after_both_ended_and_what_finished_is_recorded(
        tmp_path, monkeypatch, caplog, which):
    log: list = []
    _stub_steps(monkeypatch, log, density_fails=which in ("density", "both"),
                figures_fails=which in ("figures", "both"))
    out = tmp_path / "out"
    raised = "figures" if which == "both" else which  # the figures' own error first
    with caplog.at_level("ERROR", logger="geocity.pipeline"), pytest.raises(RuntimeError, match=f"{raised} broke"):
        pipeline.reproduce(out, steps=["density", "figures", "webmap"], processes=2)
    steps = _manifest_steps(out) if (out / pipeline.MANIFEST).exists() else {}
    for step in ("density", "figures"):
        assert (step in steps) == (which not in (step, "both")), step  # finished steps known, failed ones not
    # the web map runs beside the figures after the density: to its end (and recorded) unless the density failed
    assert ("webmap" in steps) == (which == "figures")
    assert (out / "map.html").exists() == (which == "figures")
    if which == "both":
        assert "density step failed too" in caplog.text and "density broke" in caplog.text
