"""The map itself: tiles, panes, page CSS, notes, controls, bounds, output.

A web map's own state — the extent of its layers, its legend, its notes,
its panes, the layer the search box looks in, whether it has the offline
base map — lives in ONE object, :class:`WebMap`, an element among the
folium map's children (so it goes wherever the map goes, and nothing is
bolted onto ``folium.Map`` itself). :meth:`WebMap.of` finds it, or adds it
to a map made elsewhere (a plain ``folium.Map`` works too).

Pages are written by :func:`to_html`: always through
:func:`geocity.render.page.render` and :func:`geocity.render.page.finish`
(no rendered text is ever compiled again; vendored assets inline), with
folium's random element ids replaced by sequential ones, so the same map
gives the same bytes.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Sequence

import folium
from branca.element import MacroElement
from folium.plugins import Fullscreen, MeasureControl, Search
from folium.template import Template

from ...errors import ValidationError
from .legend import Legend, Section
from .text import escape, label

log = logging.getLogger(__name__)

__all__ = ["WebMap", "new_map", "add_note", "add_controls", "finish", "to_html", "save", "DEFAULT_TILES",
           "ALTERNATIVE_TILES", "DENSITY_PANE", "BASE_PANE"]

#: Default tile layer. Tile providers that need an API key (CartoDB since
#: 2026, Stadia, MapTiler, ...) are refused: a shared page cannot carry a key.
DEFAULT_TILES = "Esri.WorldGrayCanvas"
#: Extra base maps offered in the layer control next to the default.
ALTERNATIVE_TILES: tuple[str, ...] = ("OpenStreetMap.Mapnik", "Esri.WorldImagery")
DENSITY_PANE = "geocityDensity"
BASE_PANE = "geocityBase"

PAGE_CSS = """
.geocity-popup{font:12px/1.35 "Helvetica Neue",Arial,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:340px}
.geocity-popup .geocity-title{font-weight:bold;font-size:13px;margin-bottom:3px}
.geocity-popup table{border-collapse:collapse}
.geocity-popup th{text-align:left;font-weight:normal;color:#5b6470;padding:1px 6px 1px 0;vertical-align:top}
.geocity-popup td{padding:1px 0;vertical-align:top}
.geocity-popup-note{color:#5b6470;font-size:11px;margin-top:3px}
.geocity-legend{position:absolute;z-index:1000;bottom:48px;left:10px;background:rgba(255,255,255,.92);
 padding:6px 9px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:11px/1.35 Arial,"Noto Sans CJK SC",sans-serif;
 max-height:calc(100% - 320px);min-height:1.6em;overflow:auto}
.geocity-legend summary{font-weight:bold;cursor:pointer}
.geocity-legend .geocity-legend-title{font-weight:bold;margin:2px 0}
.geocity-legend i{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;border:1px solid #fff}
.geocity-legend i.line{height:3px;vertical-align:3px;border:0}
.geocity-legend i.dot{border-radius:50%}
.geocity-link-popup th{white-space:nowrap}
.geocity-legend i.ramp{width:110px;height:9px;vertical-align:-1px;border:1px solid #ccc}
.geocity-legend .geocity-legend-note{color:#5b6470;font-size:11px;max-width:260px}
.geocity-note{position:absolute;z-index:1000;top:10px;left:50%;transform:translateX(-50%);background:#fff8e1;
 border:1px solid #d08a2e;padding:6px 10px;border-radius:4px;font:13px Arial,"Noto Sans CJK SC",sans-serif}
"""  # noqa: E501 - CSS rules kept one per line, as written into every page


class _Page(MacroElement):
    """The page's CSS and the note box (notes are plain text, escaped here)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {% if this.notes %}<div class="geocity-note" id="{{ this.get_name() }}">{{ this.note_html }}</div>{% endif %}
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "geocity_page"
        self.css = PAGE_CSS
        self.notes: list[str] = []

    @property
    def note_html(self) -> str:
        return "<br>".join(escape(n) for n in self.notes)


class WebMap(MacroElement):
    """geocity's state of one folium map (found with :meth:`of`).

    Attributes
    ----------
    map : folium.Map
        The map (this element's parent).
    bounds : list or None
        ``[[south, west], [north, east]]`` of the layers added so far.
    legend : Legend
        The legend (its sections are added by the layers).
    page
        The page CSS and notes element.
    panes : set of str
        Map panes created so far.
    search_layer : folium.GeoJson or None
        The layer the search box looks in (the first cities layer).
    basemap : bool
        Whether the embedded countries were added as the base map.
    added : list
        Every folium layer geocity added, in order.
    year : int
        The year of the rankings the popups name (the analysis' edition; 2022: the report).
    """

    _template = Template("")

    def __init__(self, m: folium.Map) -> None:
        super().__init__()
        self._name = "geocity_state"
        self.bounds: list[list[float]] | None = None
        self.panes: set[str] = set()
        self.search_layer: folium.GeoJson | None = None
        self.basemap = False
        self.added: list = []
        self.year = 2022
        m.add_child(self)
        self.page = _Page()
        m.add_child(self.page)
        self.legend = Legend(label("legend", "both"))
        m.add_child(self.legend)

    @property
    def map(self) -> folium.Map:
        """The folium map this state belongs to."""
        return self._parent  # type: ignore[return-value]  # branca types it Element; always the map

    @classmethod
    def of(cls, m: "folium.Map | WebMap") -> "WebMap":
        """The state of map ``m`` (added on first use)."""
        if isinstance(m, WebMap):
            return m
        if not isinstance(m, folium.Map):
            raise ValidationError(
                f"expected a folium.Map (from geocity.render.leaflet.new_map), got {type(m).__name__}"
            )
        for child in m._children.values():
            if isinstance(child, WebMap):
                return child
        return cls(m)

    # -------------------------------------------------------------- building
    def add(self, layer, bounds: list[list[float]] | None = None):
        """Add a folium layer (and extend the view to ``bounds``); returns it."""
        self.map.add_child(layer)
        self.added.append(layer)
        self.extend(bounds)
        return layer

    def extend(self, b: list[list[float]] | None) -> None:
        """Grow the initial view to hold ``b`` (``[[south, west], [north, east]]``, degrees; None: no change)."""
        if b is None:
            return
        if self.bounds is None:
            self.bounds = [list(b[0]), list(b[1])]
        else:
            cur = self.bounds
            cur[0] = [min(cur[0][0], b[0][0]), min(cur[0][1], b[0][1])]
            cur[1] = [max(cur[1][0], b[1][0]), max(cur[1][1], b[1][1])]

    def pane(self, name: str, z_index: int) -> str:
        """Create a map pane (once per map) that ignores the mouse; returns its name."""
        if name not in self.panes:
            self.map.add_child(folium.map.CustomPane(name, z_index=z_index, pointer_events=False))
            self.panes.add(name)
        return name

    def background(self, colour: str) -> None:
        """The map's background (the ocean under the offline base map)."""
        rule = f"\n#{self.map.get_name()}{{background:{colour}}}"
        if rule not in self.page.css:
            self.page.css += rule

    def note(self, text: str) -> None:
        """A visible note on top of the map (plain text)."""
        self.page.notes.append(str(text))

    def section(self, section: Section | None) -> Section | None:
        """Add a legend section; returns it."""
        return self.legend.add(section)


def bounds_of(gdf) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` of a WGS 84 frame, or None."""
    if gdf is None or len(gdf) == 0:
        return None
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    return [[y0, x0], [y1, x1]]


def _tile_layer(name: str, *, show: bool) -> folium.TileLayer:
    import xyzservices.providers as xyz

    examples = ", ".join((DEFAULT_TILES,) + ALTERNATIVE_TILES)
    try:
        provider = xyz.query_name(name)
    except ValueError:
        raise ValidationError(
            f"unknown tile provider {name!r} for `tiles`; use a name from xyzservices such as {examples}, "
            "or None / 'none' for the embedded Natural Earth countries only"
        ) from None
    if provider.requires_token():
        raise ValidationError(
            f"tile provider {provider.name!r} (`tiles`) needs an API key, which a shared page cannot carry; "
            f"use a provider without a key such as {examples}"
        )
    return folium.TileLayer(provider, name=escape(provider.name), show=show, overlay=False, control=True)


def new_map(*, tiles: str | None = DEFAULT_TILES, prefer_canvas: bool = False,
            alternatives: Sequence[str] = ALTERNATIVE_TILES) -> folium.Map:
    """An empty world map with a scale control and the chosen base maps.

    Parameters
    ----------
    tiles
        Name of an xyzservices tile provider (``"Esri.WorldGrayCanvas"``,
        ``"OpenStreetMap.Mapnik"``, ...), or ``None`` for no tiles (add the
        embedded countries with :func:`geocity.render.leaflet.add_basemap`).
    prefer_canvas
        Draw vectors on a canvas (faster with many features).
    alternatives
        Further tile providers offered as base maps in the layer control
        (ignored when ``tiles`` is None).
    """
    layers = []
    if tiles is not None:
        seen = set()
        for i, name in enumerate([tiles, *alternatives]):
            layer = _tile_layer(name, show=(i == 0))  # every name checked before the map is made
            if layer.layer_name not in seen:
                seen.add(layer.layer_name)
                layers.append(layer)
    m = folium.Map(location=[25.0, 60.0], zoom_start=2, tiles=None, control_scale=True,
                   prefer_canvas=prefer_canvas, world_copy_jump=False)
    # geocity's layers need Leaflet only (no jQuery, Bootstrap, Font Awesome
    # or awesome-markers): the page loads, and a self-contained one inlines,
    # just what it uses. Plugins (search, fullscreen, measure, markercluster)
    # bring their own links.
    m.default_js = [(k, v) for k, v in folium.Map.default_js if k == "leaflet"]
    m.default_css = [(k, v) for k, v in folium.Map.default_css if k == "leaflet_css"]
    for layer in layers:
        m.add_child(layer)
    WebMap.of(m)
    return m


def add_note(m, text: str):
    """Show a visible note (e.g. "no cities to show") on top of the map;
    ``text`` is plain text (escaped here). Returns ``m``."""
    WebMap.of(m).note(text)
    return m


def add_controls(m, *, search_layer: folium.GeoJson | None = None, lang: str = "both"):
    """Add fullscreen, measure and search (over ``search_layer``'s
    ``search`` property, default: the map's first cities layer), each only
    once per map. The layer control is added (last) by :func:`finish`."""
    wm = WebMap.of(m)
    search_layer = search_layer if search_layer is not None else wm.search_layer
    kinds = {type(c) for c in wm.map._children.values()}
    if Fullscreen not in kinds:
        wm.map.add_child(Fullscreen(position="topleft"))
    if MeasureControl not in kinds:
        wm.map.add_child(MeasureControl(position="topleft", primary_length_unit="kilometers",
                                        secondary_length_unit="miles", primary_area_unit="sqkilometers"))
    if search_layer is not None and Search not in kinds and search_layer.data["features"]:
        wm.map.add_child(Search(layer=search_layer, search_label="search", geom_type="Point",
                                placeholder=label("search", lang), collapsed=False, position="topleft"))
    return m


def finish(m):
    """Fit the view to the layers added so far and put the layer control
    last (so it lists every layer). Called by ``webmap``; call it after
    adding layers with the ``add_*`` functions yourself. Returns the map."""
    wm = WebMap.of(m)
    m = wm.map
    for k in [k for k, c in m._children.items() if isinstance(c, folium.map.FitBounds)]:
        del m._children[k]
    if wm.bounds is not None:
        fit = folium.map.FitBounds(wm.bounds, padding=(10, 10), max_zoom=10)
        fit.options["animate"] = False  # the page opens on the layers, no zoom animation
        m.add_child(fit)
    lc = next((c for c in m._children.values() if isinstance(c, folium.LayerControl)), None)
    if lc is None:
        # collapsed (opens on hover): expanded, its 20 lines hide East Asia
        lc = folium.LayerControl(collapsed=True, position="topright")
    else:
        del m._children[lc.get_name()]
    m.add_child(lc)
    return m


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------
_ID_RE = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def _all_ids(root) -> list[str]:
    seen: list[str] = []
    stack = [root]
    visited = set()
    while stack:
        el = stack.pop()
        if id(el) in visited:
            continue
        visited.add(id(el))
        i = getattr(el, "_id", None)
        if isinstance(i, str):
            seen.append(i)
        stack.extend(getattr(el, "_children", {}).values())
        for attr in ("layer", "_parent"):
            other = getattr(el, attr, None)
            if other is not None and hasattr(other, "_id"):
                stack.append(other)
    return seen


def _tile_urls(m: folium.Map) -> list[str]:
    return sorted({str(c.tiles) for c in m._children.values() if isinstance(c, folium.TileLayer)})


def to_html(m: folium.Map, *, assets: str = "inline") -> str:
    """The map as a complete HTML page, with folium's random element ids
    replaced by sequential ones (same map → same text).

    Rendered by :func:`geocity.render.page.render`: no text of the map is
    ever compiled as a template, and with ``assets="inline"`` (default)
    every script and stylesheet is inside the page, so it needs the network
    for its tile layers only (none with ``tiles=None``); ``"cdn"`` links
    folium's CDNs instead. The page states its network needs in a
    ``<meta name="geocity-network">`` tag.
    """
    from .. import page

    page._check_mode(assets)
    if isinstance(m, WebMap):
        m = m.map
    root = m.get_root()
    # folium adds elements to the page's header/html/script while rendering
    # (e.g. one "addTo" statement per visible layer, under a fresh random
    # name each time); restore the page afterwards so a second render is the
    # same as the first.
    parts = [p for p in (getattr(root, k, None) for k in ("header", "html", "script")) if p is not None]
    saved = [p._children.copy() for p in parts]
    try:
        html = page.render(root)
        known = set(_all_ids(root))
    finally:
        for p, kids in zip(parts, saved, strict=True):
            p._children = kids
    mapping: dict[str, str] = {}

    def repl(match: re.Match) -> str:
        key = match.group(0)
        if key not in known:
            return key
        if key not in mapping:
            mapping[key] = f"{len(mapping) + 1:032x}"
        return mapping[key]

    html = _ID_RE.sub(repl, html)
    return page.finish(html, assets=assets, tile_urls=_tile_urls(m))


def save(m: folium.Map, path: str | Path, *, overwrite: bool = False, assets: str = "inline") -> Path:
    """Write the map to ``path`` (HTML, UTF-8) atomically; refuses to replace
    an existing file unless ``overwrite``. ``assets`` as in :func:`to_html`.
    Returns the path."""
    from ...export import atomic_path
    from .. import page

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValidationError(f"web map output {str(path)!r} must end in .html (or .htm): the map is one HTML page")
    page._check_mode(assets)
    text = to_html(m, assets=assets)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    log.info("wrote %s (%d bytes)", path, len(text.encode("utf-8")))
    return path
