"""``geocity-exec``: a code block of a guide that the build runs.

Each page has one namespace: its blocks run in order and see what the earlier ones defined. It
starts with ``OUT`` (an empty scratch folder of the page; the current folder while a block runs)
and ``analysis`` (the build's one :class:`geocity.analysis.Analysis`). What a block prints is
shown under it. An exception is a warning naming the page and line with the traceback, so the
documented command (``-W``) fails.

Options: ``:hide-output:`` shows the code only; ``:hide-code:`` runs without showing the code.
"""

from __future__ import annotations

import contextlib
import io
import logging as _logging
import os
import shutil
import traceback

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import shared

logger = logging.getLogger(__name__)
_NAMESPACES: dict[str, dict] = {}


@contextlib.contextmanager
def _captured_logs(buf: io.StringIO):
    """geocity's log records into the block's output; other libraries' (distributed's) below ERROR not shown."""
    handler = _logging.StreamHandler(buf)
    handler.setFormatter(_logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    geo = _logging.getLogger("geocity")
    saved = geo.handlers[:], geo.propagate, geo.level
    geo.handlers, geo.propagate = [handler], False
    geo.setLevel(_logging.WARNING)
    with contextlib.suppress(ImportError):  # distributed configures its loggers when first imported: before ours
        import distributed  # noqa: F401
    quiet = ("distributed", "dask", "tornado", "asyncio")
    names = [n for n in _logging.root.manager.loggerDict if n.split(".")[0] in quiet]
    others = {n: _logging.getLogger(n).level for n in set(names) | set(quiet)}
    for n in others:
        _logging.getLogger(n).setLevel(_logging.ERROR)
    try:
        yield
    finally:
        geo.handlers, geo.propagate = saved[0], saved[1]
        geo.setLevel(saved[2])
        for n, lvl in others.items():
            _logging.getLogger(n).setLevel(lvl)


def _namespace(env, docname: str) -> dict:
    ns = _NAMESPACES.get(docname)
    if ns is None:
        out = shared.work_dir(env) / "exec" / docname.replace("/", "__")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        ns = {"__name__": f"geocity_docs_{docname.replace('/', '_')}", "OUT": out, "analysis": shared.analysis()}
        _NAMESPACES[docname] = ns
    return ns


class ExecDirective(SphinxDirective):
    """Run the block's Python; show the code and what it printed."""

    has_content = True
    option_spec = {"hide-output": directives.flag, "hide-code": directives.flag}

    def run(self) -> list[nodes.Node]:
        import matplotlib

        matplotlib.use("Agg")
        code = "\n".join(self.content)
        ns = _namespace(self.env, self.env.docname)
        buf = io.StringIO()
        cwd = os.getcwd()
        try:
            os.chdir(ns["OUT"])
            with contextlib.redirect_stdout(buf), shared.quiet(), _captured_logs(buf):
                exec(compile(code, f"<{self.env.docname}:{self.lineno}>", "exec"), ns)  # noqa: S102 - our own guides
        except Exception:  # noqa: BLE001 - any failure of an example fails the build
            logger.warning("geocity-exec: the example raised:\n%s", traceback.format_exc(limit=6),
                           location=(self.env.docname, self.lineno), type="geocity", subtype="exec")
        finally:
            os.chdir(cwd)
        out: list[nodes.Node] = []
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code, language="python")
            block["classes"].append("geocity-exec")
            out.append(block)
        printed = buf.getvalue().rstrip()
        if printed and "hide-output" not in self.options:
            res = nodes.literal_block(printed, printed, language="none")
            res["classes"].append("geocity-exec-output")
            out.append(res)
        return out


def _purge(app, env, docname: str) -> None:
    _NAMESPACES.pop(docname, None)


def setup(app) -> None:
    """Register ``geocity-exec``."""
    app.add_directive("geocity-exec", ExecDirective)
    app.connect("env-purge-doc", _purge)
