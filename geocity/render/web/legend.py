"""The web map's legend: one element that owns its sections.

:class:`Legend` is a branca ``MacroElement`` in the style of folium's
plugins: it holds a list of :class:`Section` and writes them (escaped) when
the page is rendered, so a section added late still appears, in order.
A section may be tied to layers (by the names the layer control shows):
it is shown only while one of them is switched on, by a small script on
the map's ``overlayadd``/``overlayremove`` events.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Sequence

from branca.element import MacroElement
from folium.template import Template

from ...errors import ValidationError
from .text import escape

__all__ = ["Section", "Legend", "ITEM_KINDS"]

#: Kinds of legend items: a dot, a box, a line, a colour ramp (comma-separated
#: stops, low to high) or a note (text only).
ITEM_KINDS: tuple[str, ...] = ("dot", "box", "line", "ramp", "note")
_COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}")


@dataclass
class Section:
    """One legend section.

    Attributes
    ----------
    title
        Plain text (escaped when written).
    items
        ``[(kind, colour, label), ...]``, ``kind`` one of :data:`ITEM_KINDS`;
        colours ``#rrggbb`` (a ramp: comma-separated stops); labels plain text.
    layers
        ``[(layer-control name, initially on), ...]`` of the layers the
        section belongs to (the names exactly as given to folium, i.e.
        already escaped); empty: always shown.
    """

    title: str
    items: list = field(default_factory=list)
    layers: list = field(default_factory=list)

    def __post_init__(self) -> None:
        items = []
        for item in self.items:
            kind, colour, lab = item
            if kind not in ITEM_KINDS:
                raise ValidationError(f"legend item kind {kind!r} for {lab!r} is not one of {list(ITEM_KINDS)}")
            if kind != "note":
                for c in str(colour).split(",") if kind == "ramp" else [str(colour)]:
                    if not _COLOUR.fullmatch(c):
                        raise ValidationError(f"legend colour {c!r} for {lab!r} is not a #rrggbb colour")
            items.append((kind, str(colour), str(lab)))
        self.items = items
        self.layers = [(str(n), bool(on)) for n, on in self.layers]

    @property
    def shown(self) -> bool:
        """Whether the section shows when the page opens."""
        return not self.layers or any(on for _n, on in self.layers)

    def tie(self, layer_name: str, shown: bool) -> "Section":
        """Tie the section to one more layer (its control name, escaped); returns the section."""
        self.layers.append((str(layer_name), bool(shown)))
        return self

    def html(self) -> str:
        """The section as HTML, every title and label escaped."""
        parts = [f'<div class="geocity-legend-title">{escape(self.title)}</div>']
        for kind, colour, lab in self.items:
            if kind == "note":
                parts.append(f'<div class="geocity-legend-note">{escape(lab)}</div>')
            elif kind == "ramp":
                parts.append(f'<div><i class="ramp" style="background:linear-gradient(to right,{colour})">'
                             f'</i><br>{escape(lab)}</div>')
            else:
                cls = kind if kind in ("dot", "line") else "box"
                parts.append(f'<div><i class="{cls}" style="background:{colour}"></i>{escape(lab)}</div>')
        body = "".join(parts)
        if not self.layers:
            return body
        # the names are the (escaped) control names; escaped again here, the
        # attribute reads back as that name in the browser
        names = [n for n, _on in self.layers]
        attr = (f' data-geocity-layer="{escape(names[0])}"' if len(names) == 1
                else f' data-geocity-layers="{escape(json.dumps(names))}"')
        hidden = "" if self.shown else ' style="display:none"'
        return f'<div class="geocity-legend-layer"{attr}{hidden}>{body}</div>'


class Legend(MacroElement):
    """The legend box, owning its sections (added with :meth:`add`)."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        {% if this.sections %}<div class="geocity-legend" id="{{ this.get_name() }}">{{ this.content }}</div>{% endif %}
        {% endmacro %}
        {% macro script(this, kwargs) %}
        {%- if this.toggles %}
        (function () {
            var on = {{ this.initial|tojson }};
            var box = document.getElementById({{ this.get_name()|tojson }});
            {{ this._parent.get_name() }}.on("overlayadd overlayremove", function (e) {
                on[e.name] = e.type === "overlayadd";
                if (!box) { return; }
                box.querySelectorAll(".geocity-legend-layer").forEach(function (el) {
                    var names = el.hasAttribute("data-geocity-layers")
                        ? JSON.parse(el.getAttribute("data-geocity-layers"))
                        : [el.getAttribute("data-geocity-layer")];
                    el.style.display = names.some(function (n) { return on[n]; }) ? "" : "none";
                });
            });
        })();
        {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, title: str = "Legend") -> None:
        super().__init__()
        self._name = "geocity_legend"
        self.title = str(title)
        self.sections: list[Section] = []

    def add(self, section: Section | None) -> Section | None:
        """Add a section (None is ignored); returns it."""
        if section is not None:
            if not isinstance(section, Section):
                raise ValidationError(f"a legend section must be a Section, got {type(section).__name__}")
            self.sections.append(section)
        return section

    def extend(self, sections: Sequence[Section | None]) -> None:
        """Add each of ``sections`` (None entries are skipped by :meth:`add`)."""
        for s in sections:
            self.add(s)

    @property
    def toggles(self) -> bool:
        """Does any section switch map layers on and off?"""
        return any(s.layers for s in self.sections)

    @property
    def initial(self) -> dict[str, bool]:
        """Control name → initially on, over every tied section."""
        out: dict[str, bool] = {}
        for s in self.sections:
            for n, shown in s.layers:
                out[n] = out.get(n, False) or shown
        return out

    @property
    def content(self) -> str:
        """The legend as HTML: a collapsible box of the sections that have items."""
        body = "".join(s.html() for s in self.sections if s.items)
        return f"<details open><summary>{escape(self.title)}</summary>{body}</details>"
