"""State shared by the directives of one build: the scratch folder and the one Analysis."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

_STATE: dict[str, Any] = {}


def work_dir(env) -> Path:
    """``<outdir>/../_geocity`` of the running build."""
    d = Path(env.app.outdir).resolve().parent / "_geocity"
    d.mkdir(parents=True, exist_ok=True)
    return d


def analysis():
    """The one :class:`geocity.analysis.Analysis` of the build (results computed once for every page)."""
    if "analysis" not in _STATE:
        from geocity.analysis import Analysis

        _STATE["analysis"] = Analysis()
    return _STATE["analysis"]


def quiet():
    """A context that hides geocity's expected notes (e.g. the self-core warning of a default fit)."""
    cm = warnings.catch_warnings()

    class _Quiet:
        def __enter__(self):
            cm.__enter__()
            warnings.simplefilter("ignore")
            return self

        def __exit__(self, *exc):
            return cm.__exit__(*exc)

    return _Quiet()
