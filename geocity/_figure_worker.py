"""A plate-rendering worker of :func:`geocity.figures.render_all`
(``processes`` > 1): ``python -m geocity._figure_worker``.

It reads one pickled job from stdin — ``(names, out_dir, analysis, opts)``,
the analysis with the results its parent already holds — renders those
figures in order with :func:`geocity.figures.render`, and writes one pickled
answer to stdout: ``("ok", [paths per figure])`` or ``("error", exception,
traceback text)``. A fresh interpreter (not a fork, not multiprocessing's
re-import of the caller's ``__main__``), so it works the same from the CLI,
a script or a notebook, on every platform. Internal.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import Any


def main() -> int:
    answer_to = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a plate prints goes to stderr, never into the answer
    job = pickle.load(sys.stdin.buffer)
    answer: tuple[Any, ...]
    try:
        import importlib

        from geocity import figures

        names, out_dir, analysis, opts, modules = job
        for mod in modules:  # the modules that register these recipes (the catalogue's own, or a user's package)
            importlib.import_module(mod)
        answer = ("ok", [figures.render(n, out_dir, analysis=analysis, **opts) for n in names])
    except Exception as exc:  # handed to the parent, which raises it
        tb = traceback.format_exc()
        try:
            pickle.dumps(exc)
            answer = ("error", exc, tb)
        except Exception:
            answer = ("error", None, tb)
    pickle.dump(answer, answer_to, protocol=pickle.HIGHEST_PROTOCOL)
    answer_to.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
