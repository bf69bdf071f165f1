"""Interactive Leaflet maps (folium) of the report's cities, clusters, corridors,
density surfaces and (modelled) city networks.

:func:`webmap` builds a :class:`folium.Map` from the embedded layers (or adds
them to a map you pass); the ``add_*`` functions add one kind of layer each
and accept any GeoDataFrame of the right shape; :func:`save` writes the page
through :func:`geocity.export.atomic_path`, with deterministic element ids so
that the same input gives the same bytes.

Safety: every string that reaches a popup, tooltip, legend, search tip or
layer name is HTML-escaped here (:func:`escape`), including backticks and
``$`` because folium places some texts inside JavaScript template literals.
folium's ``GeoJsonTooltip``/``GeoJsonPopup`` insert property values as raw
HTML, so the properties we give them are already-escaped HTML fragments.

Density surfaces (:func:`add_density`) are PNG image overlays embedded as
data URIs (the page works offline), in a pane under the vector layers;
links (:func:`add_links`) are GeoJSON lines whose popup labels are written
once. Both say "modelled" (and "proxy" for rank-derived scores) in their
layer names, popups and legend sections; a layer's legend section shows
only while the layer is switched on.

Colours and symbol sizes come from the shared style sheet
(:mod:`geocity.styles`), the same one the static renderer uses. A marker of
area ``A`` points² in the style sheet becomes a circle of radius
``sqrt(A)`` pixels (1.5 times its printed size at 96 dpi: a screen map is
seen from further away than a plate), never less than :data:`MIN_RADIUS_PX`
so it stays clickable.
"""

from __future__ import annotations

import html as _html
import logging
import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import Fullscreen, MarkerCluster, MeasureControl, Search
from folium.template import Template

from ..density import REPORT_BANDWIDTH_KM
from ..network import REPORT_TOP_K, STRENGTH_CLASSES
from .. import terms as _terms
from .. import _validate
from .. import styles as _styles
from ..errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

__all__ = [
    "LAYERS",
    "DEFAULT_TILES",
    "ALTERNATIVE_TILES",
    "MANY_POINTS",
    "escape",
    "webmap",
    "new_map",
    "add_cities",
    "add_top100",
    "add_clusters",
    "add_corridors",
    "add_points",
    "add_density",
    "add_links",
    "add_basemap",
    "add_legend",
    "add_note",
    "add_controls",
    "finish",
    "to_html",
    "save",
]

#: Layer names :func:`webmap` (and ``geocity webmap --layers``) accepts.
LAYERS: tuple[str, ...] = ("cities", "clusters", "corridors", "density", "network")
#: Layers of :func:`webmap` by default (and of ``geocity reproduce``'s
#: ``out/map.html``): all of them. The density overlay starts switched on,
#: the modelled links start switched off (1 800 lines hide the cities).
DEFAULT_LAYERS: tuple[str, ...] = LAYERS
#: Score columns the density overlays and the gravity links can use.
DIMENSIONS: tuple[str, ...] = ("innovation", "industry", "infrastructure", "composite")
#: Cell size of the web map's density overlays, km: coarser than the
#: GeoTIFFs (25 km) to keep the page small; the image is smoothed anyway.
DENSITY_CELL_KM = 50.0
#: Links' coordinates are rounded to this many decimals (about 100 m).
LINK_DECIMALS = 3
#: Densification of the web map's gravity links, km.
LINK_SEGMENT_KM = 150.0
_DENSITY_PANE = "geocityDensity"
_BASE_PANE = "geocityBase"
#: Default tile layer. Tile providers that need an API key (CartoDB since
#: 2026, Stadia, MapTiler, ...) are refused: a shared page cannot carry a key.
DEFAULT_TILES = "Esri.WorldGrayCanvas"
#: Extra base maps offered in the layer control next to the default.
ALTERNATIVE_TILES: tuple[str, ...] = ("OpenStreetMap.Mapnik", "Esri.WorldImagery")
#: From this many user points on, points are drawn clustered on a canvas.
MANY_POINTS = 10_000
#: Smallest circle radius in pixels (anything smaller is hard to click).
MIN_RADIUS_PX = 3.0
#: Coordinates are rounded to this many decimals (1e-5 degree is about 1 m).
COORD_DECIMALS = 5
#: Simplification tolerance (degrees) of the embedded countries used as an
#: offline base map (display only; about 1 km).
BASEMAP_SIMPLIFY_DEG = 0.01

_LANGS = ("en", "zh", "both")
_T = _terms.TERMS
_LABELS = {
    "country": ("Country", "国家"),
    "region": ("Region", "区域"),
    "gdci": (f"{_T['gdci_short'][0]} 2022 rank", f"{_T['gdci_short'][1]} 2022 排名"),
    "bri": (f"{_T['bri_short'][0]} 2022 rank", f"{_T['bri_short'][1]} 2022 排名"),
    "change": ("change", "变化"),
    "not_ranked": ("not in the top 100", "未进入前100"),
    "scores": ("3I scores", "3I得分"),
    "scores_proxy": ("3I scores (rank-derived proxy, not the report's)", "3I得分（由排名推算的代理值，非报告数值）"),
    "innovation": _T["innovation"],
    "industry": _T["industry"],
    "infrastructure": _T["infrastructure"],
    "composite": _T["composite"],
    "corridor": ("Corridor", "经济走廊"),
    "distance": ("distance to corridor", "距走廊"),
    "chainage": ("chainage", "里程"),
    "cluster": ("City cluster", _T["cluster"][1]),
    "typology": ("typology", "类型"),
    "poles": ("poles", "核心城市"),
    "members": ("members", "成员城市"),
    "cluster_rank": ("rank among clusters", "城市群排名"),
    "total": ("total score", "总得分"),
    "mean": ("mean score", "平均得分"),
    "total_proxy": ("total score (proxy)", "总得分（代理值）"),
    "mean_proxy": ("mean score (proxy)", "平均得分（代理值）"),
    "cities": ("Report cities", "报告城市"),
    "gdci_top": (f"{_T['gdci_short'][0]} top 100", f"{_T['gdci_short'][1]}前 100"),
    "bri_top": (f"{_T['bri_short'][0]} top 100", f"{_T['bri_short'][1]}前 100"),
    "clusters": _T["clusters"],
    "corridor_line": ("corridor", "走廊"),
    "buffer": ("within", "范围"),
    "points": ("My points", "我的点"),
    "countries": ("Countries (Natural Earth)", "国家（Natural Earth）"),
    "legend": ("Legend", "图例"),
    "size_score": ("size: composite 3I score", "大小：3I综合得分"),
    "size_rank": ("size: rank", "大小：排名"),
    "proxy": ("(proxy)", "（代理值）"),
    "search": ("Search city", "搜索城市"),
    "empty": ("Nothing to show", "无数据"),
    "density_proxy_note": ("modelled from rank-derived proxy scores, not data published by the report",
                           "由排名推算的代理得分建模，非报告发布的数据"),
    "density_note": ("modelled (kernel density of the weights)", "模型结果（权重的核密度）"),
    "links": ("Links", "联系"),
    "links_modelled": ("modelled links (gravity model)", "模型联系（引力模型）"),
    "links_observed": ("links", "联系"),
    "strength": ("strength", "强度"),
    "link_distance": ("distance", "距离"),
    "link_source": ("source", "来源"),
    "modelled_gravity": ("modelled (gravity model)", "模型结果（引力模型）"),
    "observed": ("observed (edge table)", "观测值（联系表）"),
    "links_proxy_note": ("modelled from rank-derived proxy scores; the report publishes no flows",
                         "由排名推算的代理得分建模；报告未公布流量数据"),
    "links_note": ("modelled; the report publishes no flows", "模型结果；报告未公布流量数据"),
}
_DIM_ZH = {k: _T[k][1] for k in ("innovation", "industry", "infrastructure", "composite")}


# --------------------------------------------------------------------------
# escaping and text
# --------------------------------------------------------------------------
def escape(value: Any) -> str:
    """HTML-escape ``value`` for popups, tooltips, legends and layer names.

    Beyond :func:`html.escape` (``& < > " '``) it escapes the backtick and
    ``$`` and the backslash, so that the text is also inert inside a
    JavaScript template literal (where folium places tooltip texts), and
    ``{`` and ``}``, so that no Jinja delimiter (``{{``, ``{%``, ``{#``)
    survives even where a page is rendered by folium itself (``m.save``,
    a notebook); :func:`to_html` never compiles rendered text anyway
    (:mod:`geocity.render.page`). The browser shows every character as
    typed. Missing values (None, NaN) become an empty string.

    Examples
    --------
    >>> escape("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape("Xi'an `${x}`")
    'Xi&#x27;an &#96;&#36;&#123;x&#125;&#96;'
    >>> escape("S{{ 7*7 }}X")
    'S&#123;&#123; 7*7 &#125;&#125;X'
    """
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        if pd.isna(value) is True:
            return ""
    except (TypeError, ValueError):
        pass
    s = _html.escape(str(value), quote=True)
    return s.translate(_EXTRA_ESCAPES)


#: Characters :func:`escape` writes as character references beyond html.escape.
_EXTRA_ESCAPES = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def _search_text(value: str) -> str:
    """Text for leaflet-search, which shows its keys as HTML: escape the
    markup characters (and the Jinja delimiters' braces) only, so that
    "Xi'an" stays searchable as typed."""
    return _html.escape(value, quote=False).translate(
        str.maketrans({"`": "&#96;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}))


def _t(key: str, lang: str) -> str:
    """A label in the requested language(s), already escaped."""
    en, zh = _LABELS[key]
    if lang == "en":
        return escape(en)
    if lang == "zh":
        return escape(zh)
    return f"{escape(en)} / {escape(zh)}"


def _text(value: Any) -> str:
    """A cell as plain text ('' when missing)."""
    if value is None:
        return ""
    try:
        if pd.isna(value) is True:
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _name(row: Mapping, lang: str, en_col: str = "name_en", zh_col: str = "name_zh") -> str:
    """The plain-text name of a row in ``lang`` (falls back to the other language)."""
    en = _text(row.get(en_col))
    zh = _text(row.get(zh_col))
    if lang == "en":
        return en or zh
    if lang == "zh":
        return zh or en
    return f"{en} {zh}".strip() if en != zh else en


def _country_tag(row: Mapping) -> str:
    iso = _text(row.get("country_iso2"))
    return f"({iso})" if iso else ""


def _rows_html(title: str, rows: Iterable[tuple[str, str]], note: str = "") -> str:
    """A popup: an escaped title (given escaped) and (label, value) rows whose
    parts are already escaped."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows if v != "")
    out = f'<div class="geocity-popup"><div class="geocity-title">{title}</div><table>{body}</table>'
    if note:
        out += f'<div class="geocity-popup-note">{note}</div>'
    return out + "</div>"


# --------------------------------------------------------------------------
# styles
# --------------------------------------------------------------------------
def _radius(area_pt2: float) -> float:
    return round(max(MIN_RADIUS_PX, math.sqrt(max(float(area_pt2), 0.0))), 2)


def _px(width_pt: float) -> float:
    return round(max(0.5, float(width_pt) * 96.0 / 72.0), 2)


def _typology_color(typology: Any, palette: Mapping[str, str]) -> str:
    """Colour of a cluster typology such as "multi-pole, cross-border"
    (palette keys like ``"multi-pole cross-border"``; ``"other"`` fallback)."""
    t = " ".join(re.split(r"[\s,;/_]+", _text(typology).lower())).strip()
    if t in palette:
        return palette[t]
    pole = "multi-pole" if "multi" in t else "single-pole" if "single" in t else ""
    border = "cross-border" if "cross" in t else "domestic" if "domestic" in t else ""
    for key in (f"{pole} {border}".strip(), pole, border):
        if key and key in palette:
            return palette[key]
    return palette.get("other", "#7f7f7f")


# --------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------
def _wgs84(gdf, what: str):
    import geopandas as gpd

    from ..geodesy import to_wgs84

    if not isinstance(gdf, gpd.GeoDataFrame):
        raise ValidationError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    return to_wgs84(gdf, name=what)


def _check_points(gdf, what: str):
    """EPSG:4326 points (an empty layer passes), or a ValidationError naming the offending rows."""
    from .. import export

    return export.read_points(_wgs84(gdf, what), what=what, allow_empty=True).frame


def _check_shapes(gdf, what: str, kinds: tuple[str, ...]):
    gdf = _wgs84(gdf, what)
    if len(gdf) == 0:
        return gdf
    geom = gdf.geometry
    missing = geom.isna() | geom.is_empty
    wrong = ~missing & ~geom.geom_type.isin(kinds)
    if wrong.any():
        raise ValidationError(
            f"{what} must hold {' or '.join(kinds)} geometries; {int(wrong.sum())} row(s) are "
            f"{', '.join(sorted(set(geom[wrong].geom_type)))}, e.g. {list(gdf.index[wrong][:10])}"
        )
    return gdf[~missing]


# --------------------------------------------------------------------------
# GeoJSON
# --------------------------------------------------------------------------
def _collection(geoms: Sequence, props: Sequence[dict], *, decimals: int = COORD_DECIMALS) -> dict:
    """A FeatureCollection with coordinates rounded to ``decimals``."""
    arr = shapely.transform(np.asarray(list(geoms), dtype=object), lambda c: np.round(c, decimals))
    feats = []
    for i, (g, p) in enumerate(zip(arr, props)):
        gi = g.__geo_interface__
        feats.append({"type": "Feature", "id": str(i),
                      "geometry": {"type": gi["type"], "coordinates": gi["coordinates"]}, "properties": p})
    return {"type": "FeatureCollection", "features": feats}


def _bounds(gdf) -> list[list[float]] | None:
    if gdf is None or len(gdf) == 0:
        return None
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    return [[y0, x0], [y1, x1]]


def _register_bounds(m: folium.Map, b: list[list[float]] | None) -> None:
    if b is None:
        return
    cur = getattr(m, "_geocity_bounds", None)
    if cur is None:
        m._geocity_bounds = [list(b[0]), list(b[1])]
    else:
        cur[0] = [min(cur[0][0], b[0][0]), min(cur[0][1], b[0][1])]
        cur[1] = [max(cur[1][0], b[1][0]), max(cur[1][1], b[1][1])]


def _geojson(data: dict, *, name: str, show: bool = True, marker=None, overlay: bool = True,
             control: bool = True, popup: bool = True, tooltip: bool = True, **kwargs) -> folium.GeoJson:
    """A GeoJson layer whose features carry ``style``, ``tip`` and ``pop``
    properties (style dict, escaped tooltip HTML, escaped popup HTML)."""
    has_tip = tooltip and bool(data["features"]) and "tip" in data["features"][0]["properties"]
    has_pop = popup and bool(data["features"]) and "pop" in data["features"][0]["properties"]
    return folium.GeoJson(
        data,
        name=name,
        show=show,
        overlay=overlay,
        control=control,
        marker=marker,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False) if has_tip else None,
        popup=folium.GeoJsonPopup(fields=["pop"], labels=False, max_width=360) if has_pop else None,
        **kwargs,
    )


# --------------------------------------------------------------------------
# map furniture
# --------------------------------------------------------------------------
class _HtmlBox(MacroElement):
    """A fixed box of (already escaped) HTML on the map, plus page CSS."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        {% if this.content %}<div class="{{ this.css_class }}" id="{{ this.get_name() }}">{{ this.content }}</div>{% endif %}
        {% endmacro %}
        """
    )

    def __init__(self, content: str, *, css_class: str, css: str = "", kind: str = "box"):
        super().__init__()
        self._name = f"geocity_{kind}"
        self.content = content
        self.css_class = css_class
        self.css = css


_PAGE_CSS = """
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
"""


def add_note(m: folium.Map, text: str) -> folium.Map:
    """Show a visible note (e.g. "no cities to show") on top of the map.

    ``text`` is plain text; it is escaped here.
    """
    notes = getattr(m, "_geocity_notes", None)
    if notes is None:
        notes = m._geocity_notes = []
    notes.append(text)
    box = getattr(m, "_geocity_note_box", None)
    content = "<br>".join(escape(n) for n in notes)
    if box is None:
        box = _HtmlBox(content, css_class="geocity-note", kind="note")
        m._geocity_note_box = box
        m.add_child(box)
    else:
        box.content = content
    return m


def add_legend(m: folium.Map, sections: Sequence[tuple[str, Sequence[tuple[str, str, str]]]], *,
               title: str = "Legend") -> folium.Map:
    """Add (or replace) the HTML legend.

    Parameters
    ----------
    m
        The map.
    sections
        ``[(section title, [(kind, colour, label), ...]), ...]`` with ``kind``
        one of ``"dot"``, ``"box"``, ``"line"``, ``"ramp"`` (colour: comma-
        separated ``#rrggbb`` stops, low to high) or ``"note"`` (text only,
        colour ignored); titles and labels are plain text (escaped here);
        colours must be ``#rrggbb``. The sections that :func:`add_density`
        and :func:`add_links` register follow these, each shown only while
        its layer is switched on.
    title
        Legend title (plain text).
    """
    m._geocity_legend_base = (list(sections), title)
    _render_legend(m, force=True)
    return m


def _legend_items(items: Sequence[tuple[str, str, str]]) -> list[str]:
    parts = []
    for kind, color, label in items:
        if kind == "note":
            parts.append(f'<div class="geocity-legend-note">{escape(label)}</div>')
            continue
        stops = str(color).split(",") if kind == "ramp" else [str(color)]
        for c in stops:
            if not re.fullmatch(r"#[0-9a-fA-F]{3,8}", c):
                raise ValidationError(f"legend colour {c!r} for {label!r} is not a #rrggbb colour")
        if kind == "ramp":
            parts.append(f'<div><i class="ramp" style="background:linear-gradient(to right,{",".join(stops)})">'
                         f'</i><br>{escape(label)}</div>')
            continue
        cls = kind if kind in ("dot", "line") else "box"
        parts.append(f'<div><i class="{cls}" style="background:{color}"></i>{escape(label)}</div>')
    return parts


def _render_legend(m: folium.Map, *, force: bool = False) -> None:
    sections, title = getattr(m, "_geocity_legend_base", ([], "Legend"))
    layered = getattr(m, "_geocity_layer_legends", [])
    if not force and not layered and getattr(m, "_geocity_legend", None) is None:
        return
    parts = [f"<details open><summary>{escape(title)}</summary>"]
    for sec_title, items in sections:
        if not items:
            continue
        parts.append(f'<div class="geocity-legend-title">{escape(sec_title)}</div>')
        parts.extend(_legend_items(items))
    for layer_name, shown, sec_title, items in layered:
        # layer_name is the (escaped) name the layer control shows; escaped
        # again here, the attribute reads back as that name in the browser
        hidden = "" if shown else ' style="display:none"'
        parts.append(f'<div class="geocity-legend-layer" data-geocity-layer="{escape(layer_name)}"{hidden}>'
                     f'<div class="geocity-legend-title">{escape(sec_title)}</div>'
                     + "".join(_legend_items(items)) + "</div>")
    content = "".join(parts) + "</details>"
    old = getattr(m, "_geocity_legend", None)
    if old is not None:
        old.content = content
        return
    box = _HtmlBox(content, css_class="geocity-legend", kind="legend")
    m._geocity_legend = box
    m.add_child(box)


class _LegendToggle(MacroElement):
    """Show a layer's legend section only while the layer is on."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.on("overlayadd overlayremove", function (e) {
            document.querySelectorAll(".geocity-legend-layer").forEach(function (el) {
                if (el.getAttribute("data-geocity-layer") === e.name) {
                    el.style.display = e.type === "overlayadd" ? "" : "none";
                }
            });
        });
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "geocity_legend_toggle"


def _add_layer_legend(m: folium.Map, layer_name: str, shown: bool, title: str,
                      items: Sequence[tuple[str, str, str]]) -> None:
    if not hasattr(m, "_geocity_layer_legends"):
        m._geocity_layer_legends = []
        m.add_child(_LegendToggle())
    m._geocity_layer_legends.append((layer_name, shown, title, list(items)))
    _render_legend(m)


def add_controls(m: folium.Map, *, search_layer: folium.GeoJson | None = None, lang: str = "both") -> folium.Map:
    """Add fullscreen, measure and search (over ``search_layer``'s
    ``search`` property), each only once per map. The layer control is added
    (last) by :func:`finish`."""
    kinds = {type(c) for c in m._children.values()}
    if Fullscreen not in kinds:
        m.add_child(Fullscreen(position="topleft"))
    if MeasureControl not in kinds:
        m.add_child(MeasureControl(position="topleft", primary_length_unit="kilometers",
                                   secondary_length_unit="miles", primary_area_unit="sqkilometers"))
    if search_layer is not None and Search not in kinds and search_layer.data["features"]:
        m.add_child(Search(layer=search_layer, search_label="search", geom_type="Point",
                           placeholder=_LABELS["search"][0] + " / " + _LABELS["search"][1]
                           if lang == "both" else _LABELS["search"][0 if lang == "en" else 1],
                           collapsed=False, position="topleft"))
    return m


def _style_element(m: folium.Map, ocean: str | None) -> None:
    rule = f"\n#{m.get_name()}{{background:{ocean}}}" if ocean else ""
    old = getattr(m, "_geocity_css", None)
    if old is not None:
        if rule and rule not in old.css:
            old.css += rule
        return
    css = _PAGE_CSS + rule
    box = _HtmlBox("", css_class="geocity-css", css=css, kind="css")
    m._geocity_css = box
    m.add_child(box)


# --------------------------------------------------------------------------
# maps and layers
# --------------------------------------------------------------------------
def _tile_layer(name: str, *, show: bool) -> folium.TileLayer:
    import xyzservices.providers as xyz

    try:
        provider = xyz.query_name(name)
    except ValueError:
        raise ValidationError(
            f"unknown tile provider {name!r} for `tiles`; use a name from xyzservices such as "
            f"{', '.join((DEFAULT_TILES,) + ALTERNATIVE_TILES)}, or None / 'none' for the embedded "
            "Natural Earth countries only"
        ) from None
    if provider.requires_token():
        raise ValidationError(
            f"tile provider {provider.name!r} (`tiles`) needs an API key, which a shared page cannot carry; "
            f"use a provider without a key such as {', '.join((DEFAULT_TILES,) + ALTERNATIVE_TILES)}"
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
        embedded countries with :func:`add_basemap`).
    prefer_canvas
        Draw vectors on a canvas (faster with many features).
    alternatives
        Further tile providers offered as base maps in the layer control
        (ignored when ``tiles`` is None).
    """
    m = folium.Map(location=[25.0, 60.0], zoom_start=2, tiles=None, control_scale=True,
                   prefer_canvas=prefer_canvas, world_copy_jump=False)
    # geocity's layers need Leaflet only (no jQuery, Bootstrap, Font Awesome
    # or awesome-markers): the page loads, and a self-contained one inlines,
    # just what it uses. Plugins (search, fullscreen, measure, markercluster)
    # bring their own links.
    m.default_js = [(k, v) for k, v in folium.Map.default_js if k == "leaflet"]
    m.default_css = [(k, v) for k, v in folium.Map.default_css if k == "leaflet_css"]
    if tiles is not None:
        seen = set()
        for i, name in enumerate([tiles, *alternatives]):
            layer = _tile_layer(name, show=(i == 0))
            if layer.layer_name in seen:
                continue
            seen.add(layer.layer_name)
            m.add_child(layer)
    m._geocity_tiles = tiles
    return m


def _pane(m: folium.Map, name: str, z_index: int) -> None:
    """Create a map pane (once per map) that ignores the mouse."""
    panes = m.__dict__.setdefault("_geocity_panes", set())
    if name not in panes:
        m.add_child(folium.map.CustomPane(name, z_index=z_index, pointer_events=False))
        panes.add(name)


def add_basemap(m: folium.Map, countries, *, style: Mapping | None = None, lang: str = "both") -> folium.GeoJson:
    """Add country polygons as the map's base layer (for pages without tiles).

    ``countries`` is a polygon GeoDataFrame with ``name_en`` (and optionally
    ``name_zh``), e.g. ``geocity.layers.load("basemap")``.
    """
    style = style or _styles.load_style()
    countries = _check_shapes(countries, "basemap", ("Polygon", "MultiPolygon"))
    colors = style["colors"]
    s = {"color": colors["land_edge"], "weight": _px(style["lines"]["land_edge"]), "fillColor": colors["land"],
         "fillOpacity": 1.0, "interactive": False}
    # display only: simplify to about 1 km and round to about 100 m
    geoms = shapely.simplify(countries.geometry.to_numpy(), BASEMAP_SIMPLIFY_DEG, preserve_topology=True)
    data = _collection(geoms, [{"style": s} for _ in range(len(countries))], decimals=3)
    # own pane below the density overlay (and the overlay pane of the vectors)
    _pane(m, _BASE_PANE, 250)
    layer = _geojson(data, name=_t("countries", lang), overlay=False, popup=False, tooltip=False,
                     interactive=False, pane=_BASE_PANE)
    m.add_child(layer)
    m._geocity_basemap = True
    _style_element(m, colors["ocean"])
    return layer


def _city_popup(row: Mapping, lang: str, proxy: bool, change_labels: Mapping | None = None) -> str:
    title = escape(_name(row, "both" if lang == "both" else lang))
    rows: list[tuple[str, str]] = []
    country = _text(row.get("country_name"))
    iso = _text(row.get("country_iso2"))
    if country or iso:
        rows.append((_t("country", lang), escape(f"{country} ({iso})" if country and iso else country or iso)))
    region = _text(row.get("region"))
    if region:
        rows.append((_t("region", lang), escape(_terms.region(region, lang))))
    for key in ("gdci", "bri"):
        if f"{key}_rank" not in row:
            continue
        rank = row.get(f"{key}_rank")
        if _text(rank) == "":
            rows.append((_t(key, lang), _t("not_ranked", lang)))
        else:
            change = _text(row.get(f"{key}_change"))
            val = escape(int(rank))
            if change:
                lab = (change_labels or {}).get(change)
                word = (lab["label_en"] if lang == "en" else lab["label_zh"] if lang == "zh"
                        else f"{lab['label_en']} / {lab['label_zh']}") if lab else change
                val += f" ({_t('change', lang)}: {escape(word)})"
            rows.append((_t(key, lang), val))
    if "composite" in row and _text(row.get("composite")) != "":
        parts = []
        for dim in ("innovation", "industry", "infrastructure", "composite"):
            v = row.get(dim)
            if _text(v) != "":
                parts.append(f"{_t(dim, lang)} {float(v):.2f}")
        rows.append((_t("scores_proxy" if proxy else "scores", lang), "<br>".join(parts)))
    entries = row.get("corridors")
    if not isinstance(entries, (list, tuple)):
        entries = [row] if _text(row.get("corridor")) else []
    for e in entries:
        corridor = _text(e.get("corridor"))
        branch = _text(e.get("branch"))
        rows.append((_t("corridor", lang), escape(f"{corridor} ({branch})" if branch else corridor)))
        dist = e.get("distance_km")
        if _text(dist) != "":
            rows.append((_t("distance", lang), escape(f"{float(dist):,.0f} km")))
        ch = e.get("chainage_km")
        if _text(ch) != "":
            rows.append((_t("chainage", lang), escape(f"{float(ch):,.0f} km")))
    return _rows_html(title, rows)


def _is_proxy(gdf) -> bool:
    if getattr(gdf, "attrs", {}).get("proxy"):
        return True
    if "score_source" in gdf.columns:
        return bool((gdf["score_source"].astype(str) != "user").any())
    return False


def _city_sizes(gdf, sym: Mapping, size_by: str | None) -> np.ndarray:
    lo, hi = float(sym["city_size_min"]), float(sym["city_size_max"])
    n = len(gdf)
    if size_by is None:
        size_by = "composite" if "composite" in gdf.columns else ("gdci_rank" if "gdci_rank" in gdf.columns else "")
    if size_by and size_by in gdf.columns and size_by.endswith("rank"):
        r = pd.to_numeric(gdf[size_by], errors="coerce").to_numpy(dtype=float)
        worst = np.nanmax(r) if np.isfinite(r).any() else 1.0
        frac = 1.0 - (r - 1.0) / max(worst - 1.0, 1.0)
        return np.where(np.isfinite(r), lo + (hi - lo) * frac, float(sym["background_city_size"]))
    if size_by and size_by in gdf.columns:
        v = pd.to_numeric(gdf[size_by], errors="coerce").to_numpy(dtype=float)
        v = np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0)
        return lo + (hi - lo) * v
    return np.full(n, float(sym["background_city_size"]))


def add_cities(m: folium.Map, gdf, *, name: str | None = None, lang: str = "both", show: bool = True,
               size_by: str | None = None, style: Mapping | None = None, search: bool = True,
               color_by: str = "region") -> folium.GeoJson | None:
    """Add cities as circle markers sized by score or rank, coloured by region.

    Parameters
    ----------
    m
        The map.
    gdf
        Point GeoDataFrame with a CRS and ``name_en`` (optionally ``name_zh,
        region, country_name, country_iso2, gdci_rank, gdci_change, bri_rank,
        bri_change, innovation, industry, infrastructure, composite``, and
        corridor information as either ``corridor, branch, distance_km,
        chainage_km`` columns or a ``corridors`` column holding a list of
        such dicts per city, as :func:`webmap` builds from
        :func:`geocity.corridors.members`).
    name
        Layer name in the layer control (plain text).
    lang
        ``"en"``, ``"zh"`` or ``"both"`` for tooltips and popups.
    show
        Whether the layer starts switched on.
    size_by
        Column that sizes the circles: a score in [0, 1] or a ``*_rank``
        column (rank 1 largest). Default: ``composite``, else ``gdci_rank``.
    style
        A style from :func:`geocity.styles.load_style` (default: base).
    search
        Make this layer the one the search box looks in.
    color_by
        ``"region"`` (region palette) or ``"gdci_change"``/``"bri_change"``
        (ranking-change palette).

    Returns
    -------
    folium.GeoJson or None
        The layer, or None (and a note on the map) when ``gdf`` is empty.
    """
    _check_lang(lang)
    style = style or _styles.load_style()
    gdf = _check_points(gdf, "cities")
    label = name if name is not None else _LABELS["cities"][0] + " / " + _LABELS["cities"][1]
    if len(gdf) == 0:
        add_note(m, f"{label}: no cities to show")
        return None
    if "name_en" not in gdf.columns:
        raise ValidationError("cities has no 'name_en' column; add the English names (and 'name_zh') to label the cities")
    _style_element(m, None)
    sym = _styles.symbol_sizes(style)
    sizes = _city_sizes(gdf, sym, size_by)
    if color_by == "region":
        colors = [_styles.region_color(_text(r) or None, style) for r in
                  (gdf["region"] if "region" in gdf.columns else [None] * len(gdf))]
    else:
        change = _styles.change_symbols(style)
        colors = [change.get(_text(c), {}).get("color", sym["background_city_color"]) for c in gdf[color_by]]
    proxy = _is_proxy(gdf)
    order = np.argsort(-sizes, kind="stable")  # big circles first, small ones on top
    props = []
    geoms = []
    records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    rank_col = size_by if size_by and size_by.endswith("rank") else None
    for i in order:
        row = records[i]
        nm = _name(row, lang)
        tip = escape(nm)
        if rank_col and _text(row.get(rank_col)):
            tip = f"#{int(row[rank_col])} {tip}"
        props.append({
            "style": {"radius": _radius(sizes[i]), "color": sym["city_edge_color"],
                      "weight": _px(sym["city_edge_width"]) + 0.5, "fillColor": colors[i],
                      "fill": True, "fillOpacity": float(sym["alpha"]), "opacity": 1.0},
            # country code keeps same-named cities apart (Santiago CL / CU):
            # leaflet-search keys its records by this text
            "search": _search_text(" ".join(x for x in (_name(row, "both"), _country_tag(row)) if x)),
            "tip": tip,
            "pop": _city_popup(row, lang, proxy, _styles.change_symbols(style)),
            "city_id": _text(row.get("city_id")),
        })
        if not search:
            del props[-1]["search"]
        geoms.append(gdf.geometry.iloc[i])
    data = _collection(geoms, props)
    layer = _geojson(data, name=escape(label), show=show, marker=folium.CircleMarker(radius=4))
    m.add_child(layer)
    _register_bounds(m, _bounds(gdf))
    if search and not hasattr(m, "_geocity_search_layer"):
        m._geocity_search_layer = layer
    return layer


def add_top100(m: folium.Map, gdf, which: str = "gdci", *, lang: str = "both", show: bool = False,
               style: Mapping | None = None) -> folium.GeoJson | None:
    """Add the GDCI (``which="gdci"``) or BRI (``"bri"``) top 100: circles
    sized by rank and coloured by the change since the last edition."""
    if which not in ("gdci", "bri"):
        raise NotFoundError(f"unknown ranking {which!r} for `which`; valid: 'gdci', 'bri'")
    col = f"{which}_rank"
    gdf = _check_points(gdf, f"{which} top 100")
    if col not in gdf.columns:
        raise ValidationError(f"{which} top 100: no {col!r} column; pass geocity.layers.cities_with_ranks()")
    ranked = gdf[pd.to_numeric(gdf[col], errors="coerce") <= 100]
    key = "gdci_top" if which == "gdci" else "bri_top"
    return add_cities(m, ranked, name=_LABELS[key][0] + " / " + _LABELS[key][1], lang=lang, show=show,
                      size_by=col, style=style, search=False,
                      color_by=f"{which}_change" if f"{which}_change" in gdf.columns else "region")


def _members_by_cluster(clusters, members, lang: str) -> tuple[dict, dict]:
    """cluster_id -> member names, and city_id -> display name."""
    names: dict = {}
    out: dict = {}
    if members is not None and len(members) and "cluster_id" in members.columns:
        recs = members.to_dict("records")
        for r in recs:
            nm = _name(r, lang) if "name_en" in r else _text(r.get("city_id"))
            if "city_id" in r:
                names[_text(r["city_id"])] = nm
            out.setdefault(r["cluster_id"], []).append(nm)
    if "members" in clusters.columns:
        for cid, v in zip(clusters["cluster_id"], clusters["members"]):
            out[cid] = [names.get(x, x) for x in _as_list(v)]
    return out, names


def _as_list(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            import json

            try:
                return [str(x) for x in json.loads(s)]
            except ValueError:
                pass
        return [p.strip() for p in re.split(r"[;|]", s) if p.strip()] if (";" in s or "|" in s) else [s]
    if isinstance(v, (list, tuple, np.ndarray, pd.Series)):
        return [str(x) for x in v]
    return [] if _text(v) == "" else [str(v)]


def add_clusters(m: folium.Map, clusters, *, members=None, lang: str = "both", show: bool = True,
                 style: Mapping | None = None, proxy: bool | None = None) -> folium.GeoJson | None:
    """Add cluster boundaries, coloured by typology.

    Parameters
    ----------
    clusters
        Polygon GeoDataFrame (``CityClusters.clusters_``) with ``cluster_id,
        name`` and optionally ``name_zh, typology, poles, n_members, members,
        total_score, mean_score, rank``.
    members
        Optional member table (``CityClusters.members_``: ``cluster_id``,
        ``city_id``, ``name_en``, ``name_zh``) for the member list and to
        show the poles (city ids) by name.
    proxy
        Whether the scores are rank-derived proxies (labelled as such);
        default: the ``proxy`` column or ``attrs["proxy"]``, else True.
    """
    _check_lang(lang)
    style = style or _styles.load_style()
    clusters = _check_shapes(clusters, "clusters", ("Polygon", "MultiPolygon"))
    label = _LABELS["clusters"][0] + " / " + _LABELS["clusters"][1]
    if len(clusters) == 0:
        add_note(m, f"{label}: no clusters to show")
        return None
    for col in ("cluster_id", "name"):
        if col not in clusters.columns:
            raise ValidationError(f"clusters has no {col!r} column; pass CityClusters(...).fit(...).clusters_")
    _style_element(m, None)
    pal = _styles.typology_colors(style)
    width = _px(_styles.line_widths(style)["cluster_edge"]) + 0.5
    mem, city_names = _members_by_cluster(clusters, members, lang)
    if proxy is None:
        proxy = bool(clusters.attrs.get("proxy", True)) if "proxy" not in clusters.columns else bool(clusters["proxy"].any())
    props = []
    recs = clusters.drop(columns=clusters.geometry.name).to_dict("records")
    for row in recs:
        color = _typology_color(row.get("typology"), pal)
        nm = _name(row, lang, en_col="name", zh_col="name_zh")
        title = escape(f"{_LABELS['cluster'][0] if lang != 'zh' else _LABELS['cluster'][1]}: {nm}")
        rows = []
        if _text(row.get("typology")):
            rows.append((_t("typology", lang), escape(row["typology"])))
        poles = [city_names.get(p, p) for p in _as_list(row.get("poles"))]
        if poles:
            rows.append((_t("poles", lang), escape(", ".join(poles))))
        names = _as_list(mem.get(row["cluster_id"]))
        n = row.get("n_members")
        n = int(n) if _text(n) != "" else len(names)
        if names or n:
            shown = names[:40]
            more = f" … (+{len(names) - len(shown)})" if len(names) > len(shown) else ""
            rows.append((f"{_t('members', lang)} ({n})", escape(", ".join(shown) + more)))
        if _text(row.get("rank")):
            rows.append((_t("cluster_rank", lang), escape(int(row["rank"]))))
        for key, col in (("total", "total_score"), ("mean", "mean_score")):
            if _text(row.get(col)):
                rows.append((_t(f"{key}_proxy" if proxy else key, lang), escape(f"{float(row[col]):.3f}")))
        note = _t("scores_proxy", lang) if proxy else ""
        props.append({
            "style": {"color": color, "weight": width, "fillColor": color, "fillOpacity": 0.12, "opacity": 0.9},
            "tip": escape(nm),
            "pop": _rows_html(title, rows, note=note),
        })
    data = _collection(list(clusters.geometry), props)
    layer = _geojson(data, name=escape(label), show=show)
    m.add_child(layer)
    _register_bounds(m, _bounds(clusters))
    return layer


def add_corridors(m: folium.Map, lines, buffers=None, *, lang: str = "both", show: bool = True,
                  style: Mapping | None = None) -> list[folium.GeoJson]:
    """Add corridor lines (one toggle per corridor) and buffers (one toggle
    per corridor and distance).

    Parameters
    ----------
    lines
        Line GeoDataFrame with ``corridor`` (and optionally ``branch``,
        ``name_zh``), e.g. ``geocity.corridors.lines()``.
    buffers
        Optional polygon GeoDataFrame with ``corridor`` and ``within_km``
        (e.g. ``geocity.corridors.buffer(name, within_km)`` concatenated).
    """
    _check_lang(lang)
    style = style or _styles.load_style()
    out: list[folium.GeoJson] = []
    pal = _styles.corridor_colors(style)
    lw = _styles.line_widths(style)
    colors = style["colors"]
    if buffers is not None:
        buffers = _check_shapes(buffers, "corridor buffers", ("Polygon", "MultiPolygon"))
        for col in ("corridor", "within_km"):
            if len(buffers) and col not in buffers.columns:
                raise ValidationError(f"corridor buffers have no {col!r} column; pass geocity.corridors.buffer(...)")
        if len(buffers):
            keys = buffers[["corridor", "within_km"]].drop_duplicates().sort_values(["corridor", "within_km"])
            for corridor, km in keys.itertuples(index=False):
                part = buffers[(buffers["corridor"] == corridor) & (buffers["within_km"] == km)]
                tip = escape(f"{corridor} ≤ {float(km):g} km")
                s = {"color": colors["buffer_edge"], "weight": _px(lw["buffer_edge"]),
                     "fillColor": colors["buffer_fill"], "fillOpacity": 0.3, "opacity": 0.8}
                data = _collection(list(part.geometry), [{"style": s, "tip": tip} for _ in range(len(part))])
                layer = _geojson(data, name=escape(f"{corridor} {_LABELS['buffer'][0]} {float(km):g} km"),
                                 show=show, popup=False)
                m.add_child(layer)
                out.append(layer)
                _register_bounds(m, _bounds(part))
    if lines is not None:
        lines = _check_shapes(lines, "corridor lines", ("LineString", "MultiLineString"))
        if len(lines) and "corridor" not in lines.columns:
            raise ValidationError("corridor lines have no 'corridor' column; pass geocity.corridors.lines()")
        if len(lines) == 0:
            add_note(m, "Corridors: no corridor lines to show")
        for corridor in sorted(set(lines["corridor"])) if len(lines) else []:
            part = lines[lines["corridor"] == corridor]
            color = pal.get(corridor, pal.get("other", "#555555"))
            props = []
            for row in part.drop(columns=part.geometry.name).to_dict("records"):
                branch = _text(row.get("branch"))
                full = _name(row, lang, en_col="corridor_name_en", zh_col="corridor_name_zh")
                nm = f"{corridor}: {full}" if full and full != corridor else corridor
                nm = f"{nm} — {branch}" if branch and branch != corridor else nm
                props.append({"style": {"color": color, "weight": _px(lw["corridor"]) + 1.0, "opacity": 0.95},
                              "tip": escape(nm)})
            data = _collection(list(part.geometry), props)
            layer = _geojson(data, name=escape(f"{corridor} {_LABELS['corridor_line'][0]}"), show=show, popup=False)
            m.add_child(layer)
            out.append(layer)
            _register_bounds(m, _bounds(part))
    return out


_CLUSTER_JS = tuple(MarkerCluster.default_js)
_CLUSTER_CSS = tuple(MarkerCluster.default_css)


class _PointCloud(JSCSSMixin, folium.map.Layer):
    """Many points as canvas circle markers, optionally clustered.

    The data is a compact ``[[lat, lon, tooltip_html], ...]`` array; markers
    are built in one loop and added in bulk (``addLayers``), which is what
    keeps 100 000 points loading in seconds (folium's FastMarkerCluster adds
    them one by one).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var data = {{ this.data|tojson }};
            var renderer = L.canvas({padding: 0.5});
            var style = {{ this.marker_style|tojson }};
            style.renderer = renderer;
            var markers = new Array(data.length);
            for (var i = 0; i < data.length; i++) {
                var row = data[i];
                var mk = L.circleMarker([row[0], row[1]], style);
                mk._geocityTip = row[2];
                markers[i] = mk;
            }
            {%- if this.cluster %}
            var group = L.markerClusterGroup({{ this.cluster_options|tojson }});
            {%- else %}
            var group = L.featureGroup();
            {%- endif %}
            group.addLayers ? group.addLayers(markers) : markers.forEach(function (m) { group.addLayer(m); });
            // tooltips are bound on first hover: binding 100 000 up front costs seconds
            group.on("mouseover", function (e) {
                var mk = e.layer || e.propagatedFrom;
                if (mk && mk._geocityTip && !mk.getTooltip()) { mk.bindTooltip(mk._geocityTip).openTooltip(); }
            });
            return group;
        })();
        {%- if this.visible %}
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {%- endif %}
        {% endmacro %}
        """
    )

    def __init__(self, data, *, name: str, show: bool, marker_style: dict, cluster: bool):
        super().__init__(name=name, overlay=True, control=True, show=False)
        self._name = "PointCloud"
        self.data = data
        self.marker_style = marker_style
        self.cluster = cluster
        self.visible = show
        self.cluster_options = {"chunkedLoading": False, "removeOutsideVisibleBounds": True}
        if cluster:
            self.default_js = list(_CLUSTER_JS)
            self.default_css = list(_CLUSTER_CSS)


def _label_column(gdf) -> str | None:
    for c in ("name", "name_en", "label", "title", "id", "city_id"):
        if c in gdf.columns:
            return c
    return None


def add_points(m: folium.Map, gdf, *, name: str | None = None, lang: str = "both", show: bool = True,
               style: Mapping | None = None, max_popup_columns: int = 12, cluster: bool = False):
    """Add a user's own points.

    With fewer than :data:`MANY_POINTS` points each gets a circle marker with
    a tooltip (its ``name``/``label`` column) and a popup of its attributes.
    With more, the points are drawn on a canvas with tooltips only (bound on
    first hover) from a compact array: 100 000 points make a 3.8 MB page that
    headless Chromium shows in about 2 s on a 2-core machine.
    ``cluster=True`` groups them with Leaflet.markercluster instead, which
    reads better at world scale but loads far slower with folium's
    markercluster 1.1.0 (about 13 s for 100 000 points, 3 s for 10 000).
    """
    _check_lang(lang)
    style = style or _styles.load_style()
    gdf = _check_points(gdf, "points")
    label = name if name is not None else _LABELS["points"][0] + " / " + _LABELS["points"][1]
    if len(gdf) == 0:
        add_note(m, f"{label}: no points to show")
        return None
    _style_element(m, None)
    color = _styles.sequential_colors(style)[-1]
    lab = _label_column(gdf)
    xs = np.round(gdf.geometry.x.to_numpy(), COORD_DECIMALS)
    ys = np.round(gdf.geometry.y.to_numpy(), COORD_DECIMALS)
    labels = [escape(v) for v in gdf[lab]] if lab else [""] * len(gdf)
    if len(gdf) >= MANY_POINTS:
        data = [[float(y), float(x), t] for y, x, t in zip(ys, xs, labels)]
        layer = _PointCloud(data, name=escape(label), show=show, cluster=cluster,
                            marker_style={"radius": 3, "color": "#ffffff", "weight": 0.5, "fillColor": color,
                                          "fill": True, "fillOpacity": 0.85})
    else:
        cols = [c for c in gdf.columns if c != gdf.geometry.name][:max_popup_columns]
        recs = gdf[cols].to_dict("records")
        props = []
        for rec, t in zip(recs, labels):
            rows = [(escape(c), escape(rec[c])) for c in cols]
            props.append({"style": {"radius": _radius(30.0), "color": "#ffffff", "weight": 1.0, "fillColor": color,
                                    "fill": True, "fillOpacity": 0.85}, "tip": t or escape(label),
                          "pop": _rows_html(t or escape(label), rows)})
        data = _collection(list(gdf.geometry), props)
        layer = _geojson(data, name=escape(label), show=show, marker=folium.CircleMarker(radius=4))
    m.add_child(layer)
    _register_bounds(m, _bounds(gdf))
    return layer


# --------------------------------------------------------------------------
# density overlays and links (issue 7)
# --------------------------------------------------------------------------
def _density_cmap(style: Mapping):
    """The density ramp of the printed plates: the style's sequential palette."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("geocity-density", list(_styles.sequential_colors(style)))


def _lang_text(en: str, zh: str, lang: str) -> str:
    return en if lang == "en" else zh if lang == "zh" else f"{en} / {zh}"


def add_density(m: folium.Map, surface, *, name: str | None = None, show: bool = True, lang: str = "both",
                style: Mapping | None = None, opacity: float = 0.75, vmax: float | None = None,
                legend: bool = True) -> folium.raster_layers.ImageOverlay:
    """Add a density surface as an image overlay, with its legend.

    The image (from :func:`geocity.density.density_overlay`, already in Web
    Mercator) is embedded in the page as a PNG data URI, so the map works
    offline; it lies in a pane under the vector layers and ignores the
    mouse. Its colour ramp is the style's sequential palette (as on the
    printed plates); low density fades to transparent.

    Parameters
    ----------
    m
        The map.
    surface
        A :class:`geocity.density.DensitySurface`, the path of a GeoTIFF
        written by :func:`geocity.density.write_geotiff`, or a ``(values,
        transform, crs)`` tuple.
    name
        Layer name in the layer control (plain text); default from the
        surface's weight column, saying "modelled" (and "proxy" when the
        weights are rank-derived proxies).
    show
        Whether the overlay starts switched on.
    lang
        ``"en"``, ``"zh"`` or ``"both"`` for the layer name and legend.
    opacity, vmax
        Alpha of the densest cells and the value shown at full colour
        (default: the 99.5th percentile of the positive cells).
    legend
        Add a legend section (colour ramp, units, caption), shown while the
        overlay is on.

    Returns
    -------
    folium.raster_layers.ImageOverlay
    """
    import base64

    from .. import density as _density

    _check_lang(lang)
    style = style or _styles.load_style()
    if not (isinstance(opacity, (int, float)) and 0 < float(opacity) <= 1):
        raise ValidationError(f"`opacity` must be a number in (0, 1], got {opacity!r}")
    if isinstance(surface, (str, Path)) and not Path(surface).is_file():
        raise ValidationError(f"density surface file {str(surface)!r} does not exist; give a GeoTIFF written by "
                              "geocity density (or a DensitySurface)")
    if not isinstance(surface, (str, Path, tuple, _density.DensitySurface)):
        raise ValidationError(f"`surface` must be a DensitySurface, a GeoTIFF path or a (values, transform, crs) "
                              f"tuple, got {type(surface).__name__}")
    cmap = _density_cmap(style)
    png, bounds, info = _density.density_overlay(surface, cmap=cmap, vmax=vmax, opacity=float(opacity))
    md = getattr(surface, "metadata", None) or {}
    if isinstance(surface, (str, Path)):
        md = _density.read_geotiff(surface).metadata
    weight = _text(md.get("weight")) or "weight"
    proxy = bool(md.get("weights_proxy"))
    if name is None:
        tag_en = "modelled, proxy" if proxy else "modelled"
        tag_zh = "模型，代理值" if proxy else "模型"
        name = _lang_text(f"Density: {weight} ({tag_en})",
                          f"密度：{_DIM_ZH.get(weight, weight)}（{tag_zh}）", lang)
    _style_element(m, None)
    _pane(m, _DENSITY_PANE, 350)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    layer = folium.raster_layers.ImageOverlay(
        image=uri, bounds=[[round(float(v), 6) for v in c] for c in bounds], mercator_project=False,
        pixelated=False, name=escape(name), show=show, overlay=True, control=True, pane=_DENSITY_PANE,
        interactive=False, className="geocity-density")
    m.add_child(layer)
    if legend:
        stops = list(_styles.sequential_colors(style))
        units = _text(info.get("units")).replace("km2", "km²")
        items = [("ramp", ",".join(stops), f"0 – {float(info['vmax']):.3g} {units}"),
                 ("note", "", _lang_text(*_LABELS["density_proxy_note" if proxy else "density_note"], lang)),
                 ("note", "", _text(info.get("caption")).replace("km2", "km²"))]
        _add_layer_legend(m, escape(name), show, name, items)
    return layer


def _link_style(weight: float, ramp: Sequence[str]) -> dict:
    """Colour and opacity by strength class (as on the plates), width scaled
    continuously by the relative strength."""
    w = min(max(float(weight), 0.0), 1.0) if math.isfinite(float(weight)) else 0.0
    colors = (ramp[-1], ramp[-3], ramp[-4])
    alphas = (0.9, 0.75, 0.55)
    k = next(i for i, (lo, _hi) in enumerate(STRENGTH_CLASSES) if w >= lo)
    return {"color": colors[k], "weight": round(0.6 + 4.4 * math.sqrt(w), 1), "opacity": alphas[k]}


def add_links(m: folium.Map, links, *, cities=None, name: str | None = None, show: bool = True,
              lang: str = "both", style: Mapping | None = None, legend: bool = True) -> folium.GeoJson | None:
    """Add links between cities (e.g. :func:`geocity.network.gravity_links`).

    Lines are drawn weakest first with widths scaled by the relative
    strength (``weight``) and colours by the strength classes of the
    printed network plates. Tooltips name both cities; popups give both
    names, the strength, the distance and whether the link is modelled
    (gravity model) or observed.

    Parameters
    ----------
    m
        The map.
    links
        Line GeoDataFrame with ``source_name, target_name`` (or
        ``source_id, target_id``), ``weight`` in [0, 1] and optionally
        ``strength, distance_km, modelled``, as made by
        :mod:`geocity.network` (geodesic arcs, split at ±180°).
    cities
        Optional cities (``city_id, name_zh``) to show the Chinese names.
    name
        Layer name (plain text); default says "modelled" for modelled links.
    show
        Whether the layer starts switched on.
    legend
        Add a legend section, shown while the layer is on.

    Returns
    -------
    folium.GeoJson or None
        The layer, or None (and a note on the map) when ``links`` is empty.
    """
    _check_lang(lang)
    style = style or _styles.load_style()
    links = _check_shapes(links, "links", ("LineString", "MultiLineString"))
    modelled = bool(len(links)) and "modelled" in links.columns and bool(links["modelled"].fillna(False).astype(bool).any())
    if name is None:
        key = "links_modelled" if modelled or links.attrs.get("modelled") else "links_observed"
        name = _lang_text(_LABELS["links"][0] + ": " + _LABELS[key][0], _LABELS["links"][1] + "：" + _LABELS[key][1],
                          lang)
    if len(links) == 0:
        add_note(m, f"{name}: no links to show")
        return None
    cols = set(links.columns)
    if not ({"source_name", "target_name"} <= cols or {"source_id", "target_id"} <= cols):
        raise ValidationError("links need 'source_name' and 'target_name' (or 'source_id' and 'target_id') columns; "
                              "pass geocity.network.gravity_links(...) or edge_links(...)")
    if "weight" not in cols:
        raise ValidationError("links have no 'weight' column (relative strength in [0, 1]); pass geocity.network links")
    _style_element(m, None)
    zh = {}
    if cities is not None and "city_id" in getattr(cities, "columns", []) and "name_zh" in cities.columns:
        zh = {str(k): _text(v) for k, v in zip(cities["city_id"], cities["name_zh"])}
    proxy = bool(links.attrs.get("proxy"))
    ramp = _styles.sequential_colors(style)
    recs = links.drop(columns=links.geometry.name).to_dict("records")
    order = np.argsort(pd.to_numeric(links["weight"], errors="coerce").fillna(0.0).to_numpy(), kind="stable")
    # 1 800 links: the popup's labels are written once (folium's
    # GeoJsonPopup aliases), each feature carries only its escaped values
    fields = [("link", _lang_text("link", "联系", lang)),
              ("strength", _lang_text(f"{_LABELS['strength'][0]} (relative)", f"{_LABELS['strength'][1]}（相对值）", lang)),
              ("distance", _lang_text(*_LABELS["link_distance"], lang)),
              ("source", _lang_text(*_LABELS["link_source"], lang))]
    props, geoms = [], []
    for i in order:
        r = recs[i]
        ends = []
        for end in ("source", "target"):
            en = _text(r.get(f"{end}_name")) or _text(r.get(f"{end}_id"))
            z = zh.get(_text(r.get(f"{end}_id")), "")
            ends.append(_name({"en": en, "zh": z}, lang, en_col="en", zh_col="zh"))
        w = pd.to_numeric(r.get("weight"), errors="coerce")
        w = float(w) if pd.notna(w) else float("nan")
        st = pd.to_numeric(r.get("strength"), errors="coerce")
        strength = (f"{float(st):.3g} " if pd.notna(st) else "") + (f"({w:.3f})" if math.isfinite(w) else "")
        d = pd.to_numeric(r.get("distance_km"), errors="coerce")
        is_model = bool(r.get("modelled")) if _text(r.get("modelled")) != "" else modelled
        props.append({"style": _link_style(w if math.isfinite(w) else 0.0, ramp),
                      "link": escape(f"{ends[0]} — {ends[1]}"),
                      "strength": escape(strength.strip()),
                      "distance": escape(f"{float(d):,.0f} km") if pd.notna(d) else "",
                      "source": _t("modelled_gravity" if is_model else "observed", lang)})
        geoms.append(links.geometry.iloc[i])
    data = _collection(geoms, props, decimals=LINK_DECIMALS)
    layer = folium.GeoJson(
        data, name=escape(name), show=show, overlay=True, control=True,
        tooltip=folium.GeoJsonTooltip(fields=["link"], labels=False),
        popup=folium.GeoJsonPopup(fields=[f for f, _ in fields], aliases=[escape(a) for _, a in fields],
                                  labels=True, max_width=360, class_name="geocity-popup geocity-link-popup"),
    )
    m.add_child(layer)
    _register_bounds(m, _bounds(links))
    if legend:
        items = []
        for (lo, hi) in STRENGTH_CLASSES:
            rng = f"≥ {lo:g}" if hi >= 1.0 else f"{lo:g}–{hi:g}"
            items.append(("line", _link_style(max(lo, 1e-9) if lo else 0.0, ramp)["color"],
                          _lang_text(f"relative strength {rng}", f"相对强度 {rng}", lang)))
        if modelled:
            items.append(("note", "", _lang_text(*_LABELS["links_proxy_note" if proxy else "links_note"], lang)))
            model = _text(links.attrs.get("model")) or _text(recs[0].get("model"))
            if model:
                items.append(("note", "", model))
        _add_layer_legend(m, escape(name), show, name, items)
    return layer


# --------------------------------------------------------------------------
# the whole map
# --------------------------------------------------------------------------
def _check_lang(lang: str) -> None:
    if lang not in _LANGS:
        raise ValidationError(f"`lang` must be one of {list(_LANGS)}, got {lang!r}")


def _check_layers(layers) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = [p.strip() for p in layers.split(",") if p.strip()]
    layers = tuple(layers)
    bad = [x for x in layers if x not in LAYERS]
    if bad:
        raise NotFoundError(f"unknown layer(s) {', '.join(map(repr, bad))} in `layers`; valid: {', '.join(LAYERS)}")
    return layers


def _load_cities(within_km: float):
    """Report cities with ranks, 3I scores and (if available) corridor
    distance/chainage."""
    from .. import corridors as _corr
    from .. import layers as _layers
    from .. import scores as _scores

    cities = _scores.city_scores(_layers.cities_with_ranks())
    mem = _corr.members(cities, corridors=None, within_km=within_km, how="inner")
    if len(mem) == 0 or "city_id" not in mem.columns:
        return cities
    info: dict[str, list[dict]] = {}
    for r in mem.sort_values(["city_id", "distance_km"]).to_dict("records"):
        info.setdefault(r["city_id"], []).append(
            {k: r.get(k) for k in ("corridor", "branch", "distance_km", "chainage_km")})
    attrs = dict(cities.attrs)
    cities = cities.copy()
    cities["corridors"] = [info.get(c) for c in cities["city_id"]]
    cities.attrs = attrs
    return cities


def _unplaced_ranked(cities) -> list[str]:
    """Notes on ranked cities that have no row (no coordinates) in the
    cities layer, so the top-100 layers say why they show fewer than 100."""
    from .. import layers as _layers

    notes = []
    have = set(cities["city_id"])
    for key, label in (("gdci_2022", "GDCI"), ("bri_2022", "BRI")):
        ranks = _layers.load(key)
        missing = ranks[~ranks["city_id"].isin(have) & (ranks["rank"] <= 100)]
        if len(missing):
            ids = ", ".join(f"{r.city_id} (#{int(r.rank)})" for r in missing.itertuples())
            n = len(missing)
            notes.append(f"{label}: {n} ranked {'city' if n == 1 else 'cities'} not in the report's city list "
                         f"(no coordinates), not shown: {ids}")
    return notes


def _load_clusters(cities):
    from .. import cluster as _cluster

    est = _cluster.CityClusters().fit(cities.drop(columns=["corridors"], errors="ignore"))
    return est.clusters_, est.members_


def _load_corridors(within_km: float):
    from .. import corridors as _corr

    names = list(_corr.available())
    return _corr.lines(names), _corr.buffer(names, within_km)


def _check_dimensions(values, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [p.strip() for p in values.split(",") if p.strip()]
    values = tuple(values)
    bad = [v for v in values if v not in DIMENSIONS]
    if bad or not values:
        raise NotFoundError(f"unknown dimension(s) {', '.join(map(repr, bad)) or '(none given)'} in `{what}`; "
                            f"valid: {', '.join(DIMENSIONS)}")
    return values


def _load_density(cities, weights: Sequence[str]) -> list:
    """Density surfaces of the report's cities (world Equal Earth grid)."""
    from .. import density as _density

    pts = cities.drop(columns=["corridors"], errors="ignore")
    return [_density.density(pts, weight=w, bandwidth_km=REPORT_BANDWIDTH_KM, cell_km=DENSITY_CELL_KM,
                             extent=(-180, -90, 180, 90)) for w in weights]


def _load_links(cities, dimension: str, top_k: int):
    from .. import network as _network

    pts = cities.drop(columns=["corridors"], errors="ignore")
    # 150 km segments: smooth at web-map zooms, a third of the vertices of 50 km
    return _network.gravity_links(pts, dimension=dimension, top_k=top_k, max_segment_km=LINK_SEGMENT_KM)


def webmap(layers: Sequence[str] | str = DEFAULT_LAYERS, *, m: folium.Map | None = None, within_km: float = 100,
           points=None, tiles: str | None = DEFAULT_TILES, lang: str = "both", cities=None,
           clusters=None, cluster_members=None, corridor_lines=None, corridor_buffers=None,
           density_weights: Sequence[str] | str = ("composite",), surfaces=None,
           network_dimension: str = "composite", top_k: int = REPORT_TOP_K, links=None,
           style: Mapping | str | None = None) -> folium.Map:
    """An interactive map of the report's cities, clusters, corridors,
    density surfaces and (modelled) city networks.

    Parameters
    ----------
    layers
        Any of :data:`LAYERS` (list or comma-separated string); default
        :data:`DEFAULT_LAYERS`. ``"cities"`` gives the report's cities plus
        the GDCI and BRI top-100 layers; ``"density"`` one image overlay
        per ``density_weights`` dimension (the first switched on) with its
        legend; ``"network"`` the gravity-model links (switched off at
        first).
    m
        A map to add to; a new one when None.
    within_km
        Corridor buffer distance (and the distance for corridor membership
        shown in the city popups).
    points
        Optional user points: a point GeoDataFrame or a file path.
    tiles
        xyzservices tile provider name, or None (or ``"none"``) for the
        embedded Natural Earth countries as the only base map.
    lang
        ``"en"``, ``"zh"`` or ``"both"``.
    cities, clusters, cluster_members, corridor_lines, corridor_buffers
        Layers to show instead of the embedded/computed ones.
    density_weights
        Score columns (:data:`DIMENSIONS`) whose kernel density
        (bandwidth :data:`REPORT_BANDWIDTH_KM`, cells of
        :data:`DENSITY_CELL_KM`, great-circle distances) is overlaid.
    surfaces
        Density surfaces to show instead of computing them: a
        ``DensitySurface``, GeoTIFF path or ``(values, transform, crs)``
        tuple, a list of such, or a dict of layer name → such.
    network_dimension, top_k
        Score column and links per city of the gravity model
        (:func:`geocity.network.gravity_links`).
    links
        Links to show instead of the gravity model (e.g.
        :func:`geocity.network.edge_links`).
    style
        Style name or dict (default ``"base"``).

    Returns
    -------
    folium.Map
        Save it with :func:`save`.

    Examples
    --------
    >>> m = webmap()  # doctest: +SKIP
    >>> save(m, "out/map.html")  # doctest: +SKIP
    >>> offline = webmap(["corridors"], tiles=None, within_km=150)  # doctest: +SKIP
    """
    layers = _check_layers(layers)
    _check_lang(lang)
    if "density" in layers and surfaces is None:
        density_weights = _check_dimensions(density_weights, "density_weights")
    if "network" in layers and links is None:
        _check_dimensions([network_dimension], "network_dimension")
    within_km = _validate.positive("within_km", within_km, unit="km")
    if isinstance(tiles, str) and tiles.strip().lower() in ("none", ""):
        tiles = None
    if style is None:
        style = _styles.load_style()
    elif isinstance(style, (str, Path)):
        style = _styles.load_style(style)
    if points is not None and not hasattr(points, "geometry"):
        from .. import export

        # a file or a lat/lon table; an empty one gives a map with a note (add_points)
        points = export.read_points(points, allow_empty=True).frame
    if points is not None:
        points = _check_points(points, "points")
    many = points is not None and len(points) >= MANY_POINTS
    if m is None:
        m = new_map(tiles=tiles, prefer_canvas=many)
        if tiles is None:
            from .. import layers as _layers

            add_basemap(m, _layers.load("basemap"), style=style, lang=lang)
    elif tiles is None and not getattr(m, "_geocity_basemap", False):
        from .. import layers as _layers

        add_basemap(m, _layers.load("basemap"), style=style, lang=lang)
    _style_element(m, style["colors"]["ocean"] if tiles is None else None)

    legend: list[tuple[str, list[tuple[str, str, str]]]] = []
    search_layer = None
    unplaced = None
    need_cities = ("cities" in layers or ("clusters" in layers and clusters is None)
                   or ("density" in layers and surfaces is None) or ("network" in layers and links is None))
    if cities is None and need_cities:
        cities = _load_cities(within_km)
        unplaced = _unplaced_ranked(cities)
    if "density" in layers:
        if surfaces is None:
            surfaces = _load_density(cities, density_weights)
        items = (list(surfaces.items()) if isinstance(surfaces, Mapping)
                 else [(None, x) for x in surfaces] if isinstance(surfaces, list) else [(None, surfaces)])
        for i, (nm, surf) in enumerate(items):
            add_density(m, surf, name=nm, show=(i == 0), lang=lang, style=style)
    if "network" in layers:
        if links is None:
            links = _load_links(cities, network_dimension, top_k)
        add_links(m, links, cities=cities, show=False, lang=lang, style=style)
    if "clusters" in layers:
        if clusters is None:
            clusters, cluster_members = _load_clusters(cities)
        add_clusters(m, clusters, members=cluster_members, lang=lang, style=style)
        if len(clusters):
            pal = _styles.typology_colors(style)
            kinds = sorted({_text(t) for t in clusters.get("typology", pd.Series(dtype=str))} - {""})
            legend.append((_LABELS["clusters"][0] if lang == "en" else _LABELS["clusters"][1] if lang == "zh"
                           else " / ".join(_LABELS["clusters"]),
                           [("box", _typology_color(k, pal), k) for k in kinds]))
    if "corridors" in layers:
        if corridor_lines is None and corridor_buffers is None:
            corridor_lines, corridor_buffers = _load_corridors(within_km)
        add_corridors(m, corridor_lines, corridor_buffers, lang=lang, style=style)
        pal = _styles.corridor_colors(style)
        names = sorted(set(corridor_lines["corridor"])) if corridor_lines is not None and len(corridor_lines) else []
        items = [("line", pal.get(n, pal.get("other", "#555555")), n) for n in names]
        if corridor_buffers is not None and len(corridor_buffers):
            items.append(("box", style["colors"]["buffer_fill"], f"≤ {float(within_km):g} km"))
        legend.append((" / ".join(_LABELS["corridor"]) if lang == "both" else _LABELS["corridor"][0 if lang == "en" else 1], items))
    if "cities" in layers:
        search_layer = add_cities(m, cities, lang=lang, style=style)
        if "gdci_rank" in getattr(cities, "columns", []):
            add_top100(m, cities, "gdci", lang=lang, style=style)
        if "bri_rank" in getattr(cities, "columns", []):
            add_top100(m, cities, "bri", lang=lang, style=style)
        if len(cities):
            regions = [r for r in _styles.region_colors(style) if r != "other"]
            present = set(cities["region"].astype(str)) if "region" in cities.columns else set()
            items = [("dot", _styles.region_color(r, style),
                      _terms.region(r, lang))
                     for r in regions if r in present]
            size_key = "size_score" if "composite" in cities.columns else "size_rank"
            items.append(("dot", style["symbols"]["background_city_color"],
                          " / ".join(_LABELS[size_key]) if lang == "both" else _LABELS[size_key][0 if lang == "en" else 1]))
            if "composite" in cities.columns and _is_proxy(cities):
                items[-1] = (items[-1][0], items[-1][1], items[-1][2] + " " + (_LABELS["proxy"][1] if lang == "zh" else _LABELS["proxy"][0]))
            legend.append((" / ".join(_LABELS["cities"]) if lang == "both" else _LABELS["cities"][0 if lang == "en" else 1], items))
            change = _styles.change_symbols(style)
            items = [("dot", v["color"], v["label_en"] if lang == "en" else v["label_zh"] if lang == "zh"
                      else f"{v['label_en']} {v['label_zh']}") for v in change.values()]
            items += [("note", "", t) for t in (unplaced or [])]
            legend.append(("GDCI / BRI top 100: " + ("change" if lang == "en" else "变化" if lang == "zh" else "change / 变化"),
                           items))
    if points is not None:
        add_points(m, points, lang=lang, style=style)
    if not layers and points is None:
        add_note(m, f"No layers chosen: pass layers={LAYERS!r} or --layers")
    if legend or getattr(m, "_geocity_layer_legends", None):
        add_legend(m, legend, title=" / ".join(_LABELS["legend"]) if lang == "both" else _LABELS["legend"][0 if lang == "en" else 1])
    add_controls(m, search_layer=search_layer or getattr(m, "_geocity_search_layer", None), lang=lang)
    finish(m)
    return m


def finish(m: folium.Map) -> folium.Map:
    """Fit the view to the layers added so far and put the layer control
    last (so it lists every layer). Called by :func:`webmap`; call it after
    adding layers with the ``add_*`` functions yourself."""
    b = getattr(m, "_geocity_bounds", None)
    fits = [k for k, c in m._children.items() if isinstance(c, folium.map.FitBounds)]
    for k in fits:
        del m._children[k]
    if b is not None:
        fit = folium.map.FitBounds(b, padding=(10, 10), max_zoom=10)
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
    from . import page

    page._check_mode(assets)
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
        for p, kids in zip(parts, saved):
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
    from ..export import atomic_path
    from . import page

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValidationError(f"web map output {str(path)!r} must end in .html (or .htm): the map is one HTML page")
    page._check_mode(assets)
    text = to_html(m, assets=assets)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    log.info("wrote %s (%d bytes)", path, len(text.encode("utf-8")))
    return path
