"""Plates rendered in worker processes (figures.render_all(processes=N),
geocity._figure_worker): the same bytes as one process, errors raised in the
caller, bad counts refused, and what crosses to a worker is picklable."""

from __future__ import annotations

import hashlib
import pickle

import pandas as pd
import pytest

from geocity import _validate, figures
from geocity.analysis import Analysis
from geocity.errors import NotFoundError, ValidationError

NAMES = ["2-1", "table-2-6", "corridor-cpec", "2-6"]


def _digests(paths):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def analysis():
    return Analysis()


@pytest.mark.slow
def test_parallel_files_are_the_bytes_of_one_process(tmp_path, analysis):
    one = figures.render_all(tmp_path / "one", analysis=analysis, names=NAMES, formats=("png", "pdf"), dpi=60,
                             processes=1)
    two = figures.render_all(tmp_path / "two", analysis=analysis, names=NAMES, formats=("png", "pdf"), dpi=60,
                             processes=2)
    assert [p.name for p in one] == [p.name for p in two]  # catalogue order, whichever worker drew them
    assert len(one) == 2 * len(NAMES)
    assert _digests(one) == _digests(two)


def test_a_workers_error_is_raised_in_the_caller(tmp_path, analysis, monkeypatch):
    # a recipe the worker's catalogue does not have: its NotFoundError comes back as itself
    rec = figures.RECIPES["2-1"]
    monkeypatch.setitem(figures.RECIPES, "zz-only-here", figures.Recipe("zz-only-here", "t", "t", rec.func))
    with pytest.raises(NotFoundError, match="zz-only-here"):
        figures.render_all(tmp_path / "x", analysis=analysis, names=["2-1", "zz-only-here"], dpi=40, processes=2)


def test_recipes_from_main_render_in_this_process(tmp_path, analysis, monkeypatch):
    def recipe(ctx):
        return figures.RECIPES["2-1"].func(ctx)

    recipe.__module__ = "__main__"
    monkeypatch.setitem(figures.RECIPES, "zz-main", figures.Recipe("zz-main", "Mine", "我的", recipe))
    assert not figures._importable_recipes(["2-1", "zz-main"])
    assert figures._importable_recipes(["2-1", "table-2-6"])
    out = figures.render_all(tmp_path / "m", analysis=analysis, names=["zz-main", "2-1", "2-6", "table-2-6"],
                             dpi=40, processes=2)
    assert [p.name for p in out] == ["zz-main_en.png", "2-1_en.png", "2-6_en.png", "table-2-6_en.png"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_process_counts_are_refused(tmp_path, analysis, bad):
    with pytest.raises(ValidationError, match="processes"):
        figures.render_all(tmp_path / "b", analysis=analysis, names=NAMES, processes=bad)
    assert not (tmp_path / "b").exists()


def test_default_counts():
    assert figures._check_processes(None, 1) == 1
    assert figures._check_processes(None, figures.PARALLEL_MIN_FIGURES - 1) == 1
    assert 1 <= figures._check_processes(None, 50) <= figures.MAX_PROCESSES
    assert figures._check_processes(8, 3) == 3  # never more workers than figures


def test_pipeline_refuses_a_bad_count_before_writing(tmp_path):
    from geocity import pipeline

    with pytest.raises(ValidationError, match="processes"):
        pipeline.reproduce(tmp_path / "out", steps=["figures"], processes=0)
    assert not (tmp_path / "out").exists()


def test_analysis_with_results_pickles(analysis):
    analysis.scored()
    analysis.clusters("composite")
    b = pickle.loads(pickle.dumps(analysis))
    pd.testing.assert_frame_equal(b.scored().drop(columns="geometry"), analysis.scored().drop(columns="geometry"))


def test_row_labels_pickle_with_their_text(tmp_path):
    text = "a,b\n1,2\n\"x\ny\",3\n4,5\n"
    labels = [
        _validate.RowLabels.csv(3, lambda: text),
        _validate.RowLabels.index(pd.Index(["p", "q"])),
        _validate.RowLabels.features(2),
        _validate.RowLabels.positions(2, "row"),
        _validate.RowLabels(2, _validate.CsvLines([7, 9])),
    ]
    for lab in labels:
        back = pickle.loads(pickle.dumps(lab))
        assert [str(x) for x in back] == [str(x) for x in lab]
    assert [str(x) for x in labels[0]] == ["line 2", "line 3", "line 5"]


def test_cli_airport_passengers_reach_the_plates(tmp_path):
    from click.testing import CliRunner

    from geocity.cli.main import cli

    table = tmp_path / "passengers.csv"
    table.write_text("iata,value_2019,value_2022\nORD,100,90\nNRT,90,20\nLHR,80,70\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["figures", "2-13", "-o", str(tmp_path / "f"), "--lang", "en", "--dpi", "40",
                                 "--airport-passengers", str(table), "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "f" / "2-13_en.png").is_file()
    bad = tmp_path / "bad.csv"
    bad.write_text("iata,value_2019\nORD,lots\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["reproduce", "-o", str(tmp_path / "out"), "--steps", "figures",
                                 "--airport-passengers", str(bad)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "line 2" in r.output or "ORD" in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_a_worker_that_dies_is_named_with_its_figure(tmp_path, analysis, monkeypatch):
    """A worker process that ends without an answer (killed, out of memory) is a clear error naming the
    figure it was drawing; the other workers are stopped and no file is half-written."""
    import sys

    from geocity.errors import GeocityError

    mod = tmp_path / "zz_crash_recipes.py"
    mod.write_text("import os\nfrom geocity.figures import register\n\n"
                   "@register('zz-crash', 'Crash', '崩溃')\n"
                   "def crash(ctx):\n    os._exit(3)\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    import zz_crash_recipes  # noqa: F401 - registers zz-crash here too

    try:
        with pytest.raises(GeocityError, match=r"ended without an answer \(exit code 3.*while drawing zz-crash"):
            figures.render_all(tmp_path / "c", analysis=analysis, names=["table-2-6", "zz-crash", "2-1", "2-6"],
                               dpi=40, processes=2)
        assert not list(tmp_path.glob("c/zz-crash*"))
    finally:
        figures.RECIPES.pop("zz-crash", None)
        sys.modules.pop("zz_crash_recipes", None)


def test_workers_import_the_callers_geocity_not_one_in_the_working_directory(tmp_path, analysis, monkeypatch):
    """A `geocity` folder in the working directory (another checkout, a user's file) is not
    what the workers run: they import the package the caller imported."""
    decoy = tmp_path / "cwd" / "geocity"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy geocity in the working directory')\n")
    monkeypatch.chdir(tmp_path / "cwd")
    out = figures.render_all(tmp_path / "out", analysis=analysis, names=["2-1", "table-2-6", "2-6", "2-2"], dpi=30,
                             processes=2)
    assert [p.name for p in out] == ["2-1_en.png", "table-2-6_en.png", "2-6_en.png", "2-2_en.png"]


def test_workers_started_ahead_are_the_ones_that_draw(tmp_path, analysis, monkeypatch):
    spawned: list = []
    real = figures._spawn_workers

    def spawn(n):
        spawned.append(n)
        return real(n)

    monkeypatch.setattr(figures, "_spawn_workers", spawn)
    figures.start_workers(2)
    ahead = list(figures._STARTED)
    assert spawned == [2] and len(ahead) == 2
    one = figures.render_all(tmp_path / "one", analysis=analysis, names=NAMES, dpi=30, processes=1)
    two = figures.render_all(tmp_path / "two", analysis=analysis, names=NAMES, dpi=30, processes=2)
    assert spawned == [2]  # no new process: the two started ahead drew the plates
    assert figures._STARTED == [] and all(p.poll() is not None for p in ahead)  # and ended after
    assert _digests(one) == _digests(two)
    # a different count: those started ahead are stopped and fresh ones drawn with
    figures.start_workers(3)
    ahead = list(figures._STARTED)
    figures.render_all(tmp_path / "three", analysis=analysis, names=NAMES, dpi=30, processes=2)
    assert spawned == [2, 3, 2] and all(p.poll() is not None for p in ahead)


def test_workers_started_ahead_and_not_used_are_stopped():
    figures.start_workers(2)
    ahead = list(figures._STARTED)
    figures.stop_started_workers()
    assert figures._STARTED == [] and all(p.poll() is not None for p in ahead)
    figures.start_workers(1)  # one process: nothing to start
    assert figures._STARTED == []
    # a worker whose parent goes away before sending a job (its input ends) exits cleanly
    (p,) = figures._spawn_workers(1)
    p.stdin.close()
    assert p.wait(timeout=60) == 0
    p.stdout.close()


def test_a_failed_step_before_the_figures_stops_the_workers_started_ahead(tmp_path, monkeypatch):
    from geocity import pipeline

    seen: list = []

    def clusters(out, a, **_):
        seen.extend(figures._STARTED)
        raise RuntimeError("clusters broke")

    monkeypatch.setitem(pipeline._FUNCS, "clusters", clusters)
    with pytest.raises(RuntimeError, match="clusters broke"):
        pipeline.reproduce(tmp_path / "out", steps=["clusters", "figures"], processes=2)
    assert len(seen) == 2  # started before the first step
    assert figures._STARTED == [] and all(p.poll() is not None for p in seen)
