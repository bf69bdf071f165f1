"""A plate-rendering worker of :func:`geocity.figures.render_all`
(``processes`` > 1), started by :func:`geocity.figures._spawn_workers`.

It imports what every plate needs, then reads from stdin one pickled job
header — ``(out_dir, analysis, opts, modules)``, the analysis with the
results its parent already holds — then pickled figure names one at a time, ``None`` to stop. For each name it
renders the figure with :func:`geocity.figures.render` and writes one
pickled answer to stdout at once: ``("ok", name, paths)``, or ``("error",
exception, traceback text)`` after which it stops. The parent hands the next
name to whichever worker answers first (a work queue: the plates differ
several-fold in cost), so the files are the bytes a single process writes
whoever draws them. A fresh interpreter (not a fork, not multiprocessing's
re-import of the caller's ``__main__``), so it works the same from the CLI,
a script or a notebook, on every platform. Internal.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import Any


def _error(exc: Exception) -> tuple[Any, ...]:
    tb = traceback.format_exc()
    try:
        pickle.dumps(exc)
        return ("error", exc, tb)
    except Exception:
        return ("error", None, tb)


def _warm_up() -> None:
    """What every plate needs, imported before the job arrives (a worker started
    ahead of its job by :func:`geocity.figures.start_workers` does this while
    its parent computes): the catalogue, its recipe modules, matplotlib's
    PNG and PDF backends. A failure here is left to the job to meet and report."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.backends.backend_pdf  # noqa: F401

        from geocity import _figure_registry, figures  # noqa: F401

        _figure_registry._load_extra_recipes()
    except Exception:  # noqa: BLE001 - reported by the job's own imports
        pass


def main() -> int:
    answer_to = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a plate prints goes to stderr, never into the answers
    jobs = sys.stdin.buffer
    _warm_up()
    try:
        header = pickle.load(jobs)
    except EOFError:  # started ahead (figures.start_workers) and not used: stopped
        return 0

    def send(answer: tuple[Any, ...]) -> None:
        pickle.dump(answer, answer_to, protocol=pickle.HIGHEST_PROTOCOL)
        answer_to.flush()

    try:
        import importlib

        from geocity import figures

        out_dir, analysis, opts, modules = header
        for mod in modules:  # the modules that register these recipes (the catalogue's own, or a user's package)
            importlib.import_module(mod)
    except Exception as exc:  # handed to the parent, which raises it
        send(_error(exc))
        return 0
    while (name := pickle.load(jobs)) is not None:
        try:
            paths = figures.render(name, out_dir, analysis=analysis, **opts)
        except Exception as exc:
            send(_error(exc))
            return 0
        send(("ok", name, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
