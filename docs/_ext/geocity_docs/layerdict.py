"""``geocity-layer-dictionary``: every column of every embedded layer, with its source.

The columns are read from the files themselves (:func:`geocity.layers.load`); their meanings are
taken from the ``| column | meaning |`` tables of ``layers/README.md`` (the one written
description), and, for the three tables that README describes in prose, from :data:`PROSE` below
(the same sentences, split by column). A column with no description is a warning (the build fails),
so a new column needs a line in ``layers/README.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

from .gallery import REPO, _Generated

#: Columns that layers/README.md describes in running text (sections gdci_2022/bri_2022, dimension_ranks).
PROSE: dict[str, dict[str, str]] = {
    "gdci_2022": {
        "rank": "rank in Appendix 1, *2022 Ranking of Global Dynamic Cities Index* (1–100)",
        "city_id": "the ranked city (``cities.city_id``), joined by English name within the printed country and "
                   "checked against the Chinese name",
        "change": "printed change since the previous edition: ``up`` ↑, ``down`` ↓, ``same`` —, ``new`` * (new "
                  "to the list in 2022)",
    },
    "bri_2022": {
        "rank": "rank in Appendix 2, *2022 Ranking of Index for Belt and Road Potential Cities* (1–100)",
        "city_id": "the ranked city (``cities.city_id``), joined as for ``gdci_2022``",
        "change": "printed change: ``up`` ↑, ``down`` ↓, ``same`` —, ``new`` *",
    },
    "dimension_ranks": {
        "table": "the report's table, ``2-1`` … ``2-8``",
        "dimension": "the table's dimension: ``science frontier``, ``technology frontier``, ``industry frontier``, "
                     "``production``, ``service``, ``airline``, ``maritime`` (Tables 2-1 … 2-7); ``innovation``, "
                     "``production-and-service``, ``connectivity`` (Table 2-8)",
        "rank": "rank within the table and dimension (1–20)",
        "city_id": "the ranked city (``cities.city_id``); same-name cities resolved by reviewed rules in "
                   "``geocity/_build/report.py``",
    },
}
_GEOMETRY = "the feature's geometry (WGS 84, EPSG:4326), made from the file by :func:`geocity.layers.load`"


def readme_tables(text: str) -> tuple[dict[str, dict[str, str]], dict[str, tuple[str, str]]]:
    """``{section: {column: meaning}}`` of layers/README.md's column tables, and its file table
    ``{layer: (file, built by)}``."""
    cols: dict[str, dict[str, str]] = {}
    files: dict[str, tuple[str, str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not section and len(cells) == 3:  # | file | layer / role | built by |
            m = re.match(r"`([a-z_0-9]+)`", cells[1])
            if m:
                files[m.group(1)] = (cells[0].strip("`"), cells[2])
            continue
        if len(cells) >= 2 and cells[0] not in ("column",):
            for name in re.findall(r"`([a-z_0-9]+)`", cells[0]):
                cols.setdefault(section, {})[name] = cells[1]
    return cols, files


def _md_inline(text: str) -> str:
    """layers/README.md's inline Markdown as reST (code spans and bold)."""
    text = text.replace("\\|", "|")
    text = re.sub(r"`([^`]+)`", r"``\1``", text)
    return text.replace("|", "\\|")


class LayerDictionaryDirective(_Generated):
    """One table per embedded layer: column, type, meaning; the file, its source and how it is built."""

    def run(self) -> list[nodes.Node]:
        from geocity import layers

        readme = (REPO / "layers" / "README.md").read_text(encoding="utf-8")
        cols, files = readme_tables(readme)
        lines: list[str] = []
        for name in layers.available():
            frame = layers.load(name)
            described = next((v for k, v in cols.items() if name in [s.strip() for s in k.split(",")]), {})
            described = {**described, **{k: v for k, v in PROSE.get(name, {}).items()}}
            fname, built = files.get(name, (Path(layers.LAYERS[name][0][0]).name, ""))
            section = next((k for k in cols if name in k), name)
            lines += [f".. _layer-{name}:", "", f"``{name}``", "-" * (len(name) + 4), "",
                      f"File ``layers/{fname}``, {len(frame)} rows; built by {_md_inline(built) or 'hand review'}; "
                      f"sources, licence and processing: ``layers/README.md``, section *{section}* "
                      f"(:doc:`/background/layers`). Load it with ``geocity.layers.load({name!r})``.", "",
                      ".. list-table::", "   :header-rows: 1", "   :widths: 18 10 72", "",
                      "   * - column", "     - type", "     - meaning and source"]
            for col in frame.columns:
                meaning = _GEOMETRY if col == "geometry" else described.get(col)
                if meaning is None:
                    self.fail(f"geocity-layer-dictionary: {name}.{col} has no description in layers/README.md")
                    meaning = "(undocumented)"
                lines += [f"   * - ``{col}``", f"     - {frame[col].dtype}", f"     - {_md_inline(meaning)}"]
            lines.append("")
        return self.emit(lines)


def setup(app) -> None:
    """Register ``geocity-layer-dictionary``."""
    app.add_directive("geocity-layer-dictionary", LayerDictionaryDirective)
