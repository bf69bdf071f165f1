"""API-reference helpers: what autodoc documents, how short references resolve, and the
documented temporary exceptions of ``docs/conf.py``.

* :func:`skip_foreign`: a module page documents geocity's objects only — a class or function that a
  module imports from another library (a shapely ``Point``, matplotlib's canvas, scikit-learn's
  generated ``set_*_request`` methods) is not part of geocity's reference.
* :func:`resolve_short`: a reference written with a short name (``:class:`ValidationError```,
  ``:data:`RECIPES```) resolves to the one documented geocity object of that name (the object in
  the same module first); a name that matches none, or several, stays a broken reference.
* :func:`fix_underlines`: for the modules listed in ``geocity_docs_temporary_underlines`` only,
  a reST heading underline shorter than its title is lengthened before docutils sees it (a
  docstring mistake in a file that was being edited by others when the site was built; to be fixed
  in the source, then the list emptied).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.addnodes import pending_xref

_UNDERLINE = re.compile(r"^([-=~^\"'`#*+])\1+$")


def skip_foreign(app, what, name, obj, skip, options):
    """Skip members that are not geocity's own (their ``__module__`` is another library's)."""
    mod = getattr(obj, "__module__", None)
    if isinstance(mod, str) and (callable(obj) or isinstance(obj, type)) and not mod.startswith("geocity"):
        return True
    return None


def resolve_short(app, env, node: pending_xref, contnode):
    """Resolve a short ``py`` reference to the unique documented geocity object of that name."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    if not target or target.startswith("_"):
        return None
    domain = env.get_domain("py")
    here = node.get("py:module") or ""
    hits = [full for full in domain.objects if full.startswith("geocity") and
            (full == target or full.endswith("." + target))]
    if len(hits) > 1 and here:
        local = [h for h in hits if h.startswith(here + ".")]
        hits = local if len(local) == 1 else hits
    if len(hits) > 1:  # one object re-exported: the same canonical entry under several names
        canon = {domain.objects[h].docname + "#" + domain.objects[h].node_id for h in hits}
        hits = hits[:1] if len(canon) == 1 else hits
    if len(hits) != 1:
        return None
    entry = domain.objects[hits[0]]
    from sphinx.util.nodes import make_refnode

    text = contnode.astext()
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                        nodes.literal(text, text, classes=["xref", "py"]), hits[0])


def fix_underlines(app, what, name, obj, options, lines: list[str]) -> None:
    """Lengthen short heading underlines in the docstrings of the temporarily listed modules."""
    listed = app.config.geocity_docs_temporary_underlines
    if not any(name == m or name.startswith(m + ".") for m in listed):
        return
    for i in range(1, len(lines)):
        title = lines[i - 1].rstrip()
        if title and not _UNDERLINE.match(title) and _UNDERLINE.match(lines[i].strip()) and \
                len(lines[i].strip()) < len(title):
            lines[i] = lines[i].strip()[0] * len(title)


_LONE_STAR = re.compile(r"(?<![*\\])\*(?![*\s])|(?<=\S)\*(?!\*)")


def escape_click(app, ctx, lines: list[str]) -> None:
    """Click help is plain text: a lone ``*`` (``s_i*s_j``) is a literal asterisk, not reST emphasis."""
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("* ", "- ")):
            continue
        lines[i] = _LONE_STAR.sub(r"\*", line)


def setup(app) -> None:
    """Connect the handlers."""
    app.add_config_value("geocity_docs_temporary_underlines", [], "env")
    app.connect("autodoc-skip-member", skip_foreign)
    app.connect("autodoc-process-docstring", fix_underlines, priority=400)
    app.connect("missing-reference", resolve_short)
    for what in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{what}", escape_click)
