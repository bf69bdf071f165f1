"""``geocity-style-schema``: the style-sheet reference, generated from :data:`geocity.styles.SCHEMA`.

One table per section: every key, what the validator accepts (its ``expected`` text), the value of
``styles/base.yaml`` and the comment that file writes beside or above the key. A key of the schema
that ``base.yaml`` does not set, or a section without a key, is a warning (the build fails).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.util import logging

from .gallery import REPO, _Generated

logger = logging.getLogger(__name__)


def _comments(path) -> tuple[dict[tuple, str], dict[tuple, Any]]:
    """``{key path: comment}`` of a YAML file (inline comment, else the comment lines above) and its values."""
    import yaml

    from geocity._validate import yaml_key_lines

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    key_lines, _dups = yaml_key_lines(yaml.compose(text))
    out: dict[tuple, str] = {}
    for key, ln in key_lines.items():
        if not key:
            continue
        line = lines[ln - 1]
        note = ""
        if "#" in line and not line.lstrip().startswith("#"):
            note = line.split("#", 1)[1].strip()
        else:
            above = []
            i = ln - 2
            while i >= 0 and lines[i].lstrip().startswith("#"):
                above.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            note = " ".join(above)
        out[key] = note
    return out, yaml.safe_load(text)


def _expected(v) -> str:
    from geocity import styles

    if isinstance(v, styles._Map):
        req = f"; must keep {', '.join(repr(r) for r in v.required)}" if v.required else ""
        return f"an open mapping (any key) of {v.value.expected}{req}"
    return getattr(v, "expected", "a value")


def _value(base: dict, key: tuple):
    cur: Any = base
    for k in key:
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 70 else text[:67] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or " "


def _rows(schema: dict, prefix: tuple = ()):
    from geocity import styles

    for k, v in schema.items():
        key = prefix + (k,)
        if isinstance(v, dict):
            yield from _rows(v, key)
        else:
            yield key, v, isinstance(v, styles._Map)


class StyleSchemaDirective(_Generated):
    """Tables of every key of :data:`geocity.styles.SCHEMA`."""

    def run(self) -> list[nodes.Node]:
        from geocity import styles

        base_path = REPO / "styles" / "base.yaml"
        comments, base = _comments(base_path)
        lines: list[str] = []
        for section, sub in styles.SCHEMA.items():
            rows = list(_rows(sub, (section,))) if isinstance(sub, dict) else [((section,), sub, False)]
            if not rows:
                self.fail(f"geocity-style-schema: section {section!r} has no key")
            lines += [f".. _style-{section}:", "", f"``{section}``", "-" * (len(section) + 4), ""]
            if comments.get((section,)):
                lines += [comments[(section,)], ""]
            lines += [".. list-table::", "   :header-rows: 1", "   :widths: 25 30 20 25", "",
                      "   * - key", "     - accepts", "     - ``base.yaml``", "     - note"]
            for key, v, _open in rows:
                val = _value(base, key)
                if val is None and key not in comments:
                    self.fail(f"geocity-style-schema: {'.'.join(key)} is in SCHEMA but not set in styles/base.yaml")
                lines += [f"   * - ``{'.'.join(key)}``", f"     - {_cell(_expected(v))}",
                          f"     - ``{_cell(_short(val))}``" if val is not None else "     - (unset)",
                          f"     - {_cell(comments.get(key, ''))}"]
            lines.append("")
        return self.emit(lines)


class TermsDirective(_Generated):
    """The report's bilingual terms (:mod:`geocity.terms`) and regions as a table."""

    def run(self) -> list[nodes.Node]:
        from geocity import terms

        lines = [".. list-table::", "   :header-rows: 1", "", "   * - key", "     - English", "     - 中文"]
        for key, (en, zh) in list(terms.TERMS.items()) + [(f"region: {k}", v) for k, v in terms.REGIONS.items()]:
            lines += [f"   * - ``{key}``", f"     - {_cell(en)}", f"     - {_cell(zh)}"]
        return self.emit(lines + [""])


def setup(app) -> None:
    """Register ``geocity-style-schema``."""
    app.add_directive("geocity-style-schema", StyleSchemaDirective)
    app.add_directive("geocity-terms", TermsDirective)
