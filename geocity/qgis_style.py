"""QGIS styles and layer metadata for geocity's outputs, generated from ``styles/*.yaml``.

The plates, the web map and QGIS take their looks from the same style sheet
(:func:`geocity.styles.load_style`): this module turns it into

* QML default styles (:func:`vector_qml`, :func:`raster_qml`): categorised
  cluster typology, corridor and region colours, city symbols sized by rank,
  links graduated by weight, labels in the chosen language in the CJK font
  (``fonts.family_zh``, Noto Sans CJK SC), density ramps with zero
  transparent, field aliases with the full names of shortened DBF fields and
  DBF booleans (``T``/``F``) shown as check boxes;
* QGIS layer metadata (QMD, :func:`layer_qmd`) from a provenance record
  (``.meta.json``): title, abstract, source, proxy status and parameters show
  in Layer Properties → Metadata;
* the GeoPackage side (:func:`add_to_geopackage`): the ``layer_styles`` table
  QGIS reads on open (QGIS's schema, registered in ``gpkg_contents``,
  ``useAsDefault=1``) and the QMD in ``gpkg_metadata``;
* an OGR VRT (:func:`points_vrt`) that opens a CSV with ``lat``/``lon`` as a
  point layer (a ``.csv.vrt`` beside it: the CSV stays the one copy of the
  data; :func:`csvt` gives GDAL its column types);
* SLD 1.1 (:func:`qml_to_sld`) where SLD can say the style, for GeoServer;
* :func:`style_for_file`, the style of any vector file (GeoJSON and
  FlatGeobuf carry no sidecar), e.g. for a QGIS project.

Which files: :func:`sidecar_files` (``<stem>.qml``/``.qmd``/``.sld`` beside a
shapefile or GeoTIFF; ``<name>.qml``/``.qmd``/``.vrt`` and ``<stem>.csvt``
beside a CSV). QGIS 3.22 applies a ``.qml`` and a GeoPackage's default style
on open; it reads ``gpkg_metadata`` on open, and a ``.qmd`` as the layer's
default metadata (Layer Properties → Metadata → Load, a project, or
``loadDefaultMetadata()``), so the provenance is also in the ``.qml`` as
layer notes, shown on open.

:mod:`geocity.export` calls these while it writes; nothing here writes a file
by itself except :func:`add_to_geopackage`, which changes the (staged)
GeoPackage it is given.

Every string from data or parameters goes through :mod:`xml.etree.ElementTree`
(attributes and text are escaped) and into QGIS expressions only as quoted
identifiers (``"name"``, ``"`` doubled) or literals (``'text'``, ``'``
doubled); nothing is evaluated. Outputs carry no timestamps and list
everything in a fixed order, so the same layer gives the same bytes.
"""

from __future__ import annotations

import json
import math
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import styles as _styles
from . import terms as _terms

__all__ = [
    "vector_qml",
    "raster_qml",
    "layer_qmd",
    "add_to_geopackage",
    "points_vrt",
    "csvt",
    "style_for_file",
    "qml_to_sld",
    "sidecar_files",
    "STYLE_NAME",
]

#: Name of the default style geocity stores in a GeoPackage's ``layer_styles``.
STYLE_NAME = "geocity"

_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
#: QGIS version the styles are written for (the oldest QGIS tested: Debian bookworm's).
_QGIS_VERSION = "3.22.0"
_MM_PER_PT = 25.4 / 72.0
#: Rank columns that size city symbols, most specific first.
_RANK_COLUMNS = ("bri_rank", "gdci_rank", "rank")


# --------------------------------------------------------------------------
# small XML helpers
# --------------------------------------------------------------------------
def _rgba(color: str, alpha: float = 1.0) -> str:
    c = color.lstrip("#")
    r, g, b = (int(c[i:i + 2], 16) for i in (0, 2, 4))
    a = int(c[6:8], 16) if len(c) == 8 else 255
    return f"{r},{g},{b},{round(a * alpha)}"


def _num(x: float) -> str:
    """A number as QGIS writes it: shortest repr, no exponent for ordinary sizes."""
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _option_map(parent: ET.Element, props: Mapping[str, str], tag: str = "Option") -> ET.Element:
    opt = ET.SubElement(parent, tag, {"type": "Map"})
    for k in sorted(props):
        ET.SubElement(opt, "Option", {"name": k, "type": "QString", "value": str(props[k])})
    return opt


def _dd_properties(parent: ET.Element, props: Mapping[str, str] | None = None, tag: str = "data_defined_properties"):
    """QGIS's data-defined property collection ``{property name: expression}``."""
    dd = ET.SubElement(parent, tag)
    opt = ET.SubElement(dd, "Option", {"type": "Map"})
    ET.SubElement(opt, "Option", {"name": "name", "type": "QString", "value": ""})
    if props:
        pm = ET.SubElement(opt, "Option", {"name": "properties", "type": "Map"})
        for k in sorted(props):
            p = ET.SubElement(pm, "Option", {"name": k, "type": "Map"})
            ET.SubElement(p, "Option", {"name": "active", "type": "bool", "value": "true"})
            ET.SubElement(p, "Option", {"name": "expression", "type": "QString", "value": props[k]})
            ET.SubElement(p, "Option", {"name": "type", "type": "int", "value": "3"})
    else:
        ET.SubElement(opt, "Option", {"name": "properties"})
    ET.SubElement(opt, "Option", {"name": "type", "type": "QString", "value": "collection"})
    return dd


def _tostring(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return _DOCTYPE + ET.tostring(root, encoding="unicode") + "\n"


def field_ref(name: str) -> str:
    """A column as a QGIS expression identifier: ``"name"`` with ``"`` doubled."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: str) -> str:
    """A QGIS expression string literal: ``'text'`` with ``'`` doubled (and ``\\`` escaped)."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "''") + "'"


# --------------------------------------------------------------------------
# symbols
# --------------------------------------------------------------------------
def _symbol(parent: ET.Element, name: str, kind: str, layer_class: str, props: Mapping[str, str],
            dd: Mapping[str, str] | None = None, alpha: float = 1.0) -> ET.Element:
    sym = ET.SubElement(parent, "symbol", {"alpha": _num(alpha), "clip_to_extent": "1", "force_rhr": "0",
                                           "name": name, "type": kind})
    _dd_properties(sym)
    lay = ET.SubElement(sym, "layer", {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"})
    _option_map(lay, props)
    for k in sorted(props):
        ET.SubElement(lay, "prop", {"k": k, "v": str(props[k])})
    _dd_properties(lay, dd)
    return sym


def _marker(color: str, size_mm: float, edge: str, edge_mm: float, alpha: float = 1.0) -> dict[str, str]:
    return {"name": "circle", "color": _rgba(color, alpha), "outline_color": _rgba(edge),
            "outline_width": _num(round(edge_mm, 4)), "outline_width_unit": "MM", "outline_style": "solid",
            "size": _num(round(size_mm, 4)), "size_unit": "MM", "scale_method": "diameter"}


def _fill(color: str, alpha: float, edge: str, edge_mm: float) -> dict[str, str]:
    return {"color": _rgba(color, alpha), "style": "solid", "outline_color": _rgba(edge),
            "outline_style": "solid", "outline_width": _num(round(edge_mm, 4)), "outline_width_unit": "MM",
            "joinstyle": "round"}


def _line(color: str, width_mm: float, alpha: float = 1.0) -> dict[str, str]:
    return {"line_color": _rgba(color, alpha), "line_style": "solid", "line_width": _num(round(width_mm, 4)),
            "line_width_unit": "MM", "capstyle": "round", "joinstyle": "round"}


def _area_to_mm(area_pt2: float) -> float:
    """A matplotlib marker area (points²) as a QGIS diameter (mm)."""
    return 2.0 * math.sqrt(float(area_pt2) / math.pi) * _MM_PER_PT


# --------------------------------------------------------------------------
# what a layer looks like
# --------------------------------------------------------------------------
def _symbol_for(geometry: str, color: str, style: Mapping, *, role: str, size_dd: str | None = None):
    """(symbol type, layer class, props, data-defined, alpha) of one class of ``role``."""
    sym = _styles.symbol_sizes(style)
    lw = _styles.line_widths(style)
    op = style["opacity"]
    if geometry == "point":
        size = _area_to_mm(sym["corridor_member_size"] if role == "corridor" else sym["city_size_min"])
        return ("marker", "SimpleMarker",
                _marker(color, size, sym["city_edge_color"], sym["city_edge_width"] * _MM_PER_PT),
                {"size": size_dd} if size_dd else None, float(sym["alpha"]))
    if geometry == "line":
        width = lw["corridor"] if role == "corridor" else lw["cluster_edge"]
        return "line", "SimpleLine", _line(color, width * _MM_PER_PT), None, 1.0
    alpha = {"typology": op["cluster_fill"], "corridor": op["corridor_buffer"]}.get(role, op["cluster_fill"])
    edge = lw["buffer_edge"] if role == "corridor" else lw["cluster_edge"]
    return "fill", "SimpleFill", _fill(color, float(alpha), color, edge * _MM_PER_PT), None, 1.0


def _palette_for(role: str, style: Mapping, values: Sequence) -> list[tuple[Any, str, str]]:
    """``[(value, colour, label)]`` of a categorised role; ``value=""`` is QGIS's "all other values"."""
    if role == "typology":
        pal = _styles.typology_colors(style)
    elif role == "corridor":
        pal = _styles.corridor_colors(style)
    elif role == "region":
        pal = _styles.region_colors(style)
    else:  # cluster_id: the cluster palette in turn, over the values present
        colors = _styles.cluster_colors(style)
        return [(v, colors[i % len(colors)], str(v)) for i, v in enumerate(values)]
    cats = [(k, c, _terms.region(k, "both") if role == "region" else k) for k, c in pal.items() if k != "other"]
    return cats + [("", pal.get("other", "#7f7f7f"), "other / 其他")]


def _role(columns: Sequence[str], geometry: str) -> str | None:
    cols = set(columns)
    if "typology" in cols and geometry == "polygon":
        return "typology"
    if "corridor" in cols:
        return "corridor"
    if "region" in cols and geometry == "point":
        return "region"
    if "cluster_id" in cols and geometry == "point":
        return "cluster_id"
    return None


def _size_expression(short: Mapping[str, str], columns: Sequence[str], style: Mapping) -> str | None:
    """Data-defined marker size (mm): rank 1 largest, down to the last rank; unranked small."""
    sym = _styles.symbol_sizes(style)
    big, small = _area_to_mm(sym["city_size_max"]), _area_to_mm(sym["city_size_min"])
    bg = _area_to_mm(sym["background_city_size"])
    rank = next((c for c in _RANK_COLUMNS if c in columns), None)
    if rank is not None:
        r = field_ref(short.get(rank, rank))
        return f"coalesce(scale_linear({r}, 1, 100, {big:.4f}, {small:.4f}), {bg:.4f})"
    if "is_pole" in columns:
        pole = field_ref(short.get("is_pole", "is_pole"))
        return f"if({pole} IN (1, 'T', 'true', 'True'), {_area_to_mm(sym['pole_size']):.4f}, " \
               f"{_area_to_mm(sym['member_size']):.4f})"
    return None


def _renderer(root: ET.Element, geometry: str, columns: Sequence[str], short: Mapping[str, str],
              values: Mapping[str, Sequence], style: Mapping) -> None:
    role = _role(columns, geometry)
    size_dd = _size_expression(short, columns, style) if geometry == "point" else None
    common = {"enableorderby": "0", "forceraster": "0", "symbollevels": "0", "referencescale": "-1"}
    if role is not None:
        cats = _palette_for(role, style, values.get(role, ()))
        r = ET.SubElement(root, "renderer-v2", {**common, "type": "categorizedSymbol",
                                                "attr": short.get(role, role)})
        ce = ET.SubElement(r, "categories")
        se = ET.SubElement(r, "symbols")
        for i, (value, color, label) in enumerate(cats):
            ET.SubElement(ce, "category", {"render": "true", "value": str(value), "label": label, "symbol": str(i)})
            kind, cls, props, dd, alpha = _symbol_for(geometry, color, style, role=role, size_dd=size_dd)
            _symbol(se, str(i), kind, cls, props, dd, alpha)
        return
    if geometry == "line" and "weight" in columns:  # links: graduated by weight, the network's strength classes
        from .network import STRENGTH_CLASSES

        lw = _styles.line_widths(style)
        op = style["opacity"]
        seq = _styles.sequential_colors(style)
        r = ET.SubElement(root, "renderer-v2", {**common, "type": "graduatedSymbol",
                                                "graduatedMethod": "GraduatedColor",
                                                "attr": short.get("weight", "weight")})
        ranges = ET.SubElement(r, "ranges")
        se = ET.SubElement(r, "symbols")
        classes = sorted(STRENGTH_CLASSES)  # weak first
        for i, ((lo, hi), key) in enumerate(zip(classes, ("weak", "medium", "strong"), strict=True)):
            ET.SubElement(ranges, "range", {"lower": _num(lo), "upper": _num(hi), "label": f"{key} {lo:g}–{hi:g}",
                                            "symbol": str(i), "render": "true"})
            color = seq[min(len(seq) - 1, 2 * i + 1)]
            _symbol(se, str(i), "line", "SimpleLine", _line(color, lw[f"link_{key}"] * _MM_PER_PT,
                                                              float(op[f"link_{key}"])))
        return
    r = ET.SubElement(root, "renderer-v2", {**common, "type": "singleSymbol"})
    se = ET.SubElement(r, "symbols")
    colors = style["colors"]
    if geometry == "point":
        kind, cls, props, dd, alpha = _symbol_for("point", _styles.sequential_colors(style)[-2], style, role="city",
                                                  size_dd=size_dd)
    elif geometry == "line":
        kind, cls, props, dd, alpha = "line", "SimpleLine", _line(colors["frame"], 0.3), None, 1.0
    else:
        kind, cls, props, dd, alpha = ("fill", "SimpleFill",
                                       _fill(colors["land"], 1.0, colors["land_edge"],
                                             _styles.line_widths(style)["land_edge"] * _MM_PER_PT), None, 1.0)
    _symbol(se, "0", kind, cls, props, dd, alpha)


def _label_expression(columns: Sequence[str], short: Mapping[str, str], lang: str, style: Mapping) -> str | None:
    """The label text in ``lang`` ("en", "zh" or "both"), from the layer's name columns."""
    pairs = (("name_en", "name_zh"), ("name", "name_zh"), ("corridor_name_en", "corridor_name_zh"))
    en = zh = None
    for e, z in sorted(pairs, key=lambda p: not (p[0] in columns and p[1] in columns)):  # complete pairs first
        if e in columns or z in columns:
            en = e if e in columns else None
            zh = z if z in columns else None
            break
    if en is None and zh is None:
        return None
    ref = {k: field_ref(short.get(k, k)) for k in (en, zh) if k}
    if lang == "en" or zh is None:
        text = ref.get(en) or ref[zh]
    elif lang == "zh" or en is None:
        text = f"coalesce({ref[zh]}, {ref[en]})" if en else ref[zh]
    else:
        sep = literal(style["labels"]["both_separator"])
        text = f"concat({ref[zh]}, if({ref[zh]} IS NULL OR {ref[en]} IS NULL, '', {sep}), {ref[en]})"
    rank = next((c for c in _RANK_COLUMNS if c in columns), None)
    if rank is not None and "typology" not in columns:  # cities: label the top of the ranking, as the plates do
        text = f"if({field_ref(short.get(rank, rank))} <= {int(style['labels']['max_rank'])}, {text}, NULL)"
    return text


def _labeling(root: ET.Element, expression: str, style: Mapping, geometry: str) -> None:
    fonts = style["fonts"]
    colors = style["colors"]
    lab = ET.SubElement(root, "labeling", {"type": "simple"})
    s = ET.SubElement(lab, "settings", {"calloutType": "simple"})
    ts = ET.SubElement(s, "text-style", {
        "fieldName": expression, "isExpression": "1", "fontFamily": fonts["family_zh"], "namedStyle": "Regular",
        "fontSize": _num(fonts["label_size"] + 2), "fontSizeUnit": "Point", "textColor": _rgba(colors["text"]),
        "textOpacity": "1", "fontWeight": "50", "fontItalic": "0", "allowHtml": "0", "multilineHeight": "1",
    })
    ET.SubElement(ts, "families")
    ET.SubElement(ts, "text-buffer", {"bufferDraw": "1", "bufferSize": _num(style["labels"]["halo_width"] / 2),
                                      "bufferSizeUnits": "MM", "bufferColor": _rgba(colors["halo"]),
                                      "bufferOpacity": "1", "bufferNoFill": "1", "bufferJoinStyle": "128"})
    placement = {"point": "6", "line": "2", "polygon": "1"}[geometry]  # around point / curved / horizontal
    ET.SubElement(s, "placement", {"placement": placement, "dist": _num(style["labels"]["offset_points"] / 3),
                                   "distUnits": "MM", "placementFlags": "10", "priority": "5"})
    ET.SubElement(s, "rendering", {"drawLabels": "1", "obstacle": "1", "obstacleFactor": "1", "displayAll": "0",
                                   "scaleVisibility": "0", "limitNumLabels": "0", "maxNumLabels": "2000",
                                   "upsidedownLabels": "0", "mergeLines": "0"})
    _dd_properties(s, tag="dd_properties")


def _fields(root: ET.Element, attr: Sequence[tuple[str, str, str]]) -> None:
    """Field configuration and aliases of ``[(written name, full name, type)]``."""
    fc = ET.SubElement(root, "fieldConfiguration")
    for name, _full, kind in attr:
        f = ET.SubElement(fc, "field", {"name": name, "configurationFlags": "None"})
        if kind == "dbf-bool":
            w = ET.SubElement(f, "editWidget", {"type": "CheckBox"})
            cfg = ET.SubElement(w, "config")
            _option_map(cfg, {"CheckedState": "T", "UncheckedState": "F", "TextDisplayMethod": "0"})
        else:
            w = ET.SubElement(f, "editWidget", {"type": ""})
            ET.SubElement(ET.SubElement(w, "config"), "Option")
    al = ET.SubElement(root, "aliases")
    for i, (name, full, _kind) in enumerate(attr):
        ET.SubElement(al, "alias", {"field": name, "index": str(i), "name": full if full != name else ""})


def _custom_properties(root: ET.Element, notes: str | None) -> None:
    cp = ET.SubElement(root, "customproperties")
    if notes:
        _option_map(cp, {"userNotes": notes})
    else:
        ET.SubElement(cp, "Option")


def vector_qml(columns: Sequence[str], *, geometry: str | None, field_names: Mapping[str, str] | None = None,
               types: Mapping[str, str] | None = None, values: Mapping[str, Sequence] | None = None,
               lang: str = "both", style: Mapping | str | None = None, notes: str | None = None) -> str:
    """The QML default style of a vector layer geocity writes.

    Parameters
    ----------
    columns
        The layer's attribute columns (full names, in order; no geometry column).
    geometry
        ``"point"``, ``"line"``, ``"polygon"`` or ``None`` (a table: fields only).
    field_names
        ``{full name: written name}`` when the format shortened them (shapefile
        DBF); the written names are used in the renderer and labels, the full
        names become aliases.
    types
        ``{full name: geocity type}`` (from :mod:`geocity.export`); ``"bool"``
        in a shapefile shows as a check box (DBF logical ``T``/``F``).
    values
        Values of the ``cluster_id`` column, categorised in the cluster palette.
    lang
        Label language: ``"en"``, ``"zh"`` or ``"both"`` (Chinese then English).
    style
        A style sheet (:func:`geocity.styles.load_style`) or its name; default ``base``.
    notes
        Layer notes (HTML, already escaped; :func:`layer_notes`), shown by QGIS in the layer tree.

    Returns
    -------
    str
        The QML document (UTF-8 text), the same for the same arguments.
    """
    _terms.check_lang(lang)
    style = _styles._style(style)
    short = dict(field_names or {})
    types = dict(types or {})
    shp = bool(field_names)
    attr = [(short.get(c, c), c, "dbf-bool" if shp and types.get(c) == "bool" else types.get(c, "")) for c in columns]
    root = ET.Element("qgis", {"version": _QGIS_VERSION, "styleCategories": "AllStyleCategories",
                               "labelsEnabled": "0", "hasScaleBasedVisibilityFlag": "0", "readOnly": "0"})
    if geometry is not None:
        _renderer(root, geometry, list(columns), short, dict(values or {}), style)
        role = _role(list(columns), geometry)
        # labels as on the plates: cities and members, clusters, corridor lines; not countries or buffers
        labelled = geometry == "point" or (geometry == "polygon" and role == "typology") or \
            (geometry == "line" and role == "corridor")
        expr = _label_expression(list(columns), short, lang, style) if labelled else None
        if expr is not None:
            root.set("labelsEnabled", "1")
            _labeling(root, expr, style, geometry)
        ET.SubElement(root, "blendMode").text = "0"
        ET.SubElement(root, "featureBlendMode").text = "0"
        ET.SubElement(root, "layerOpacity").text = "1"
    _custom_properties(root, notes)
    _fields(root, attr)
    if geometry is not None:
        ET.SubElement(root, "layerGeometryType").text = {"point": "0", "line": "1", "polygon": "2"}[geometry]
    return _tostring(root)


def raster_qml(vmax: float, *, vmin: float = 0.0, label: str = "", style: Mapping | str | None = None,
               notes: str | None = None) -> str:
    """The QML default style of a density GeoTIFF: the sequential ramp from
    ``vmin`` (transparent) to ``vmax``; zero and nodata are not drawn.

    Parameters
    ----------
    vmax, vmin
        Data range of the band (``vmax`` e.g. a high percentile of the positive cells).
    label
        Legend title (escaped).
    """
    style = _styles._style(style)
    seq = _styles.sequential_colors(style)
    vmax = float(vmax) if math.isfinite(vmax) and vmax > vmin else vmin + 1.0
    root = ET.Element("qgis", {"version": _QGIS_VERSION, "styleCategories": "AllStyleCategories",
                               "hasScaleBasedVisibilityFlag": "0"})
    pipe = ET.SubElement(root, "pipe")
    r = ET.SubElement(pipe, "rasterrenderer", {"type": "singlebandpseudocolor", "band": "1", "opacity": "1",
                                                "alphaBand": "-1", "classificationMin": _num(vmin),
                                                "classificationMax": _num(vmax), "nodataColor": ""})
    tr = ET.SubElement(r, "rasterTransparency")
    sv = ET.SubElement(tr, "singleValuePixelList")
    ET.SubElement(sv, "pixelListEntry", {"min": _num(vmin), "max": _num(vmin), "percentTransparent": "100"})
    mm = ET.SubElement(r, "minMaxOrigin")
    for tag, text in (("limits", "None"), ("extent", "WholeRaster"), ("statAccuracy", "Estimated"),
                      ("cumulativeCutLower", "0.02"), ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        ET.SubElement(mm, tag).text = text
    sh = ET.SubElement(r, "rastershader")
    crs = ET.SubElement(sh, "colorrampshader", {"colorRampType": "INTERPOLATED", "classificationMode": "1",
                                                  "clip": "0", "minimumValue": _num(vmin),
                                                  "maximumValue": _num(vmax), "labelPrecision": "4"})
    n = len(seq)
    ET.SubElement(crs, "item", {"value": _num(vmin), "color": seq[0], "alpha": "0", "label": label or _num(vmin)})
    for i, c in enumerate(seq):
        v = vmin + (vmax - vmin) * (i + 1) / n
        ET.SubElement(crs, "item", {"value": repr(float(v)), "color": c, "alpha": "255", "label": f"{v:.4g}"})
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(pipe, "huesaturation", {"saturation": "0", "grayscaleMode": "0", "colorizeOn": "0",
                                          "colorizeRed": "255", "colorizeGreen": "128", "colorizeBlue": "128",
                                          "colorizeStrength": "100"})
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(root, "blendMode").text = "0"
    _custom_properties(root, notes)
    return _tostring(root)


# --------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for k in sorted(value, key=str):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                           sort_keys=True)))


def _truthy(v: Any) -> bool:
    return v is True or str(v).strip().lower() in ("true", "1", "yes")


def proxy_status(record: Mapping) -> str | None:
    """What a provenance record says about its scores, in the report's words
    (English / Chinese, by :mod:`geocity.provenance`); ``None`` when the output
    has no scores (a layer of cities, corridor lines)."""
    from . import provenance as _prov

    params = record.get("params") or {}
    if any(k in params for k in ("scores_kind", "n_scores_proxy", "n_scores_user")):
        return _prov.from_record(params).label("both")
    if "weights_proxy" in params:  # a density surface (GeoTIFF tags or its record)
        return _terms.term("prov_proxy" if _truthy(params["weights_proxy"]) else "prov_user", "both")
    if "proxy" in params:
        return _terms.term("prov_proxy" if _truthy(params["proxy"]) else "prov_user", "both")
    return None


def _abstract(record: Mapping) -> list[str]:
    params = record.get("params") or {}
    proxy = proxy_status(record)
    flat: list[tuple[str, str]] = []
    _flatten("", params, flat)
    lines = [f"Written by geocity {record.get('geocity_version', '')} ({record.get('output', '')})."]
    if proxy:
        lines.append(f"Scores: {proxy}.")
    if flat:
        lines.append("Parameters: " + "; ".join(f"{k} = {v}" for k, v in flat) + ".")
    inputs = [Path(str(i.get("path", ""))).name for i in record.get("inputs") or ()]
    if inputs:
        lines.append("Inputs: " + ", ".join(inputs) + " (SHA-256 in the links and in the .meta.json record).")
    return lines


def layer_notes(record: Mapping, *, title: str) -> str:
    """The provenance as QGIS layer notes (HTML; every value escaped)."""
    import html

    body = "".join(f"<p>{html.escape(line)}</p>" for line in _abstract(record))
    return f"<h3>{html.escape(title)}</h3>{body}"


def layer_qmd(record: Mapping, *, title: str, crs_authid: str | None = None, layer_type: str = "dataset") -> str:
    """QGIS layer metadata (QMD) of one output from its provenance record.

    Title (the output and what it is), abstract (what geocity wrote, the
    proxy status of the scores, the parameters), keywords, the input files as
    links with their SHA-256, the geocity and library versions and every
    parameter as an ``<keywords vocabulary="geocity parameter">`` entry, so
    Layer Properties → Metadata shows all of ``.meta.json``.

    Parameters
    ----------
    record
        The provenance record (:func:`geocity.export.write_metadata`'s JSON, as a mapping).
    title
        Layer title.
    crs_authid
        ``EPSG:4326`` etc., when known.
    """
    params = record.get("params") or {}
    proxy = proxy_status(record)
    flat: list[tuple[str, str]] = []
    _flatten("", params, flat)
    lines = _abstract(record)
    root = ET.Element("qgis", {"version": _QGIS_VERSION})
    ET.SubElement(root, "identifier").text = str(record.get("output", title))
    ET.SubElement(root, "parentidentifier").text = "geocity"
    ET.SubElement(root, "language").text = "en, zh"
    ET.SubElement(root, "type").text = layer_type
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "abstract").text = "\n".join(lines)
    kw = ET.SubElement(root, "keywords", {"vocabulary": "geocity"})
    for k in ("geocity", "GDCI", "Belt and Road", _terms.term("gdci", "zh")):
        ET.SubElement(kw, "keyword").text = k
    if proxy:
        pk = ET.SubElement(root, "keywords", {"vocabulary": "score provenance"})
        ET.SubElement(pk, "keyword").text = proxy
    pk = ET.SubElement(root, "keywords", {"vocabulary": "geocity parameter"})
    for k, v in flat:
        ET.SubElement(pk, "keyword").text = f"{k} = {v}"
    extra: list[tuple[str, str]] = []
    _flatten("", {k: v for k, v in record.items() if k not in ("params", "inputs")}, extra)
    ek = ET.SubElement(root, "keywords", {"vocabulary": "geocity record"})
    for k, v in extra:
        ET.SubElement(ek, "keyword").text = f"{k} = {v}"
    links = ET.SubElement(root, "links")
    for inp in record.get("inputs") or ():
        ET.SubElement(links, "link", {"name": Path(str(inp.get("path", ""))).name, "type": "file",
                                      "url": str(inp.get("path", "")), "description": f"sha256 {inp.get('sha256', '')}",
                                      "format": "", "mimeType": "", "size": str(inp.get("bytes", ""))})
    ET.SubElement(root, "fees")
    ET.SubElement(root, "encoding").text = "UTF-8"
    if crs_authid:
        crs = ET.SubElement(root, "crs")
        srs = ET.SubElement(crs, "spatialrefsys")
        ET.SubElement(srs, "authid").text = crs_authid
    hist = ["geocity " + str(record.get("geocity_version", ""))]
    for name, version in sorted((record.get("libraries") or {}).items()):
        hist.append(f"{name} {version}")
    for h in hist:
        ET.SubElement(root, "history").text = h
    return _tostring(root)


# --------------------------------------------------------------------------
# GeoPackage: layer_styles and gpkg_metadata
# --------------------------------------------------------------------------
_LAYER_STYLES = (
    "CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
    "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
    "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
    "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
)
_METADATA = (
    "CREATE TABLE gpkg_metadata (id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, "
    "md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL, "
    "mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE gpkg_metadata_reference (reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, "
    "row_id_value INTEGER, timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
    "md_file_id INTEGER NOT NULL, md_parent_id INTEGER, "
    "CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id), "
    "CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))",
)
_QGIS_MD_URI = "http://mrcc.com/qgis.dtd"


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def add_to_geopackage(path: str | Path, layer: str, *, qml: str, qmd: str | None, timestamp: str,
                      sld: str | None = None) -> None:
    """Store ``qml`` as ``layer``'s default style and ``qmd`` as its metadata in the GeoPackage ``path``.

    ``layer_styles`` (QGIS's schema, ``useAsDefault=1``, registered in
    ``gpkg_contents`` as attributes) gets one row per layer (an older geocity
    row of the layer is replaced); ``gpkg_metadata`` (with the
    ``gpkg_metadata`` extension registered) gets the QMD with QGIS's
    ``md_standard_uri``, referenced from ``layer`` by ``gpkg_metadata_reference``.
    ``timestamp`` (ISO 8601) is written wherever the schema has a time, so the
    same layer gives the same bytes.
    """
    con = sqlite3.connect(str(path))
    try:
        with con:
            row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                              (layer,)).fetchone()
            geometry_column = row[0] if row else ""  # QGIS matches a style by table and geometry column
            if not _has_table(con, "layer_styles"):
                con.execute(_LAYER_STYLES)
                con.execute(
                    "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                    "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles (geocity)', ?)",
                    (timestamp,))
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?", (layer, STYLE_NAME))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, 'geocity', '', ?)",
                (layer, geometry_column, STYLE_NAME, qml, sld or "", "geocity default style from styles/*.yaml",
                 timestamp))
            if qmd is None:
                return
            if not _has_table(con, "gpkg_metadata"):
                for ddl in _METADATA:
                    con.execute(ddl)
            if not _has_table(con, "gpkg_extensions"):
                con.execute("CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT "
                            "NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
                            "(table_name, column_name, extension_name))")
            for table in ("gpkg_metadata", "gpkg_metadata_reference"):
                con.execute(
                    "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, definition, "
                    "scope) VALUES (?, NULL, 'gpkg_metadata', "
                    "'http://www.geopackage.org/spec120/#extension_metadata', 'read-write')", (table,))
            old = [r[0] for r in con.execute(
                "SELECT r.md_file_id FROM gpkg_metadata_reference r JOIN gpkg_metadata m ON m.id = r.md_file_id "
                "WHERE r.table_name = ? AND m.md_standard_uri = ?", (layer, _QGIS_MD_URI))]
            for md_id in old:
                con.execute("DELETE FROM gpkg_metadata_reference WHERE md_file_id = ?", (md_id,))
                con.execute("DELETE FROM gpkg_metadata WHERE id = ?", (md_id,))
            cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
                              "VALUES ('dataset', ?, 'text/xml', ?)", (_QGIS_MD_URI, qmd))
            con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
                        "row_id_value, timestamp, md_file_id, md_parent_id) VALUES ('table', ?, NULL, NULL, ?, ?, "
                        "NULL)", (layer, timestamp, cur.lastrowid))
    finally:
        con.close()


# --------------------------------------------------------------------------
# CSV point tables as OGR VRT
# --------------------------------------------------------------------------
def _csvt_type(t: str) -> str:
    if t == "bool":
        return "Integer(Boolean)"
    if t.lower().startswith(("int", "uint")):
        return "Integer64"
    if t.startswith("float"):
        return "Real"
    return "String"


def csvt(columns: Sequence[str], types: Mapping[str, str]) -> str:
    """The ``.csvt`` beside a CSV: GDAL's column types (``String``, ``Integer64``,
    ``Real``, ``Integer(Boolean)``), so GDAL and QGIS read numbers as numbers,
    ``True``/``False`` as booleans and empty cells as NULL."""
    return ",".join('"' + _csvt_type(types.get(c, "str")) + '"' for c in columns) + "\n"


def points_vrt(csv_name: str, layer: str, *, lat: str = "lat", lon: str = "lon") -> str:
    """An OGR VRT that opens the CSV ``csv_name`` (beside it) as a WGS 84 point layer.

    The VRT points at the CSV (one copy of the data; the CSV stays the
    table); the column types come from the CSV's ``.csvt`` (:func:`csvt`),
    the geometry from ``lon``/``lat``.
    """
    root = ET.Element("OGRVRTDataSource")
    lay = ET.SubElement(root, "OGRVRTLayer", {"name": layer})
    ET.SubElement(lay, "SrcDataSource", {"relativeToVRT": "1"}).text = csv_name
    ET.SubElement(lay, "SrcLayer").text = Path(csv_name).stem
    ET.SubElement(lay, "GeometryType").text = "wkbPoint"
    ET.SubElement(lay, "LayerSRS").text = "EPSG:4326"
    ET.SubElement(lay, "GeometryField", {"encoding": "PointFromColumns", "x": lon, "y": lat})
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------
# the sidecars of one output (called by geocity.export while it writes)
# --------------------------------------------------------------------------
#: Suffixes whose outputs get QGIS sidecars (``.qml`` style, ``.qmd`` metadata; ``.vrt``/``.csvt`` for CSVs).
SIDECAR_SUFFIXES = (".shp", ".csv", ".tif", ".tiff")


def sidecar_files(path: Path) -> list[Path]:
    """The QGIS sidecars a write to ``path`` may create.

    A shapefile or GeoTIFF ``x.shp``/``x.tif``: ``x.qml`` and ``x.qmd`` (QGIS
    loads a same-named ``.qml``/``.qmd`` as the layer's default style and
    metadata) and ``x.sld`` (the style in SLD 1.1 for GeoServer, where SLD can
    say it). A CSV ``x.csv``: ``x.csv.qml``, ``x.csv.qmd``, ``x.csv.vrt``
    (the point layer; QGIS takes the style and metadata of ``x.csv.vrt`` from
    ``x.csv.qml``/``x.csv.qmd``, so a CSV's sidecars never meet those of a
    shapefile ``x.shp`` in the same folder) and ``x.csvt`` (column types, the
    name GDAL looks for). Other formats: none (a GeoPackage holds its style
    and metadata inside).
    """
    ext = path.suffix.lower()
    if ext not in SIDECAR_SUFFIXES:
        return []
    if ext == ".csv":
        return [path.with_name(path.name + e) for e in (".qml", ".qmd", ".vrt")] + [path.with_suffix(".csvt")]
    base = path.with_suffix("")
    return [base.with_name(base.name + e) for e in (".qml", ".qmd", ".sld")]


def geometry_family(df, declared: str | None = None) -> str | None:
    """``"point"``, ``"line"``, ``"polygon"`` or ``None`` (no geometry, or mixed families)."""
    import geopandas as gpd

    kinds: set[str] = set()
    if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df:
        g = df.geometry
        kinds = set(g[~(g.isna() | g.is_empty)].geom_type)
    if not kinds and declared:
        kinds = {declared}
    fam = {k.replace("Multi", "").replace("LineString", "Line").lower() for k in kinds}
    return fam.pop() if len(fam) == 1 and fam <= {"point", "line", "polygon"} else None


def _title(name: str, record: Mapping | None) -> str:
    params = (record or {}).get("params") or {}
    what = next((str(params[k]) for k in ("layer", "step") if isinstance(params.get(k), str)), "")
    return f"{Path(name).stem} — geocity {what}".rstrip() if what else f"{Path(name).stem} — geocity"


def write_vector_sidecars(df, types: Mapping[str, str], tmp: Path, *, record_text: str | None,
                          field_names: Mapping[str, str] | None = None, geometry_type: str | None = None,
                          layer: str | None = None, lang: str = "both", style: Mapping | str | None = None,
                          gpkg_timestamp: str | None = None) -> list[Path]:
    """Write the QGIS sidecars of the vector output staged at ``tmp`` (see :func:`sidecar_files`), or
    store style and metadata inside it when it is a GeoPackage. Returns the files written."""
    import geopandas as gpd

    record = json.loads(record_text) if record_text else None
    gcol = df.geometry.name if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df else None
    columns = [c for c in df.columns if c != gcol]
    geom = geometry_family(df, geometry_type)
    values = {"cluster_id": sorted({v for v in df["cluster_id"].tolist() if v == v and v is not None},
                                   key=lambda v: (str(type(v)), v))} if "cluster_id" in columns else {}
    ext = tmp.suffix.lower()
    if ext == ".gpkg":
        qml = vector_qml(columns, geometry=geom, types=types, values=values, lang=lang, style=style)
        qmd = layer_qmd(record, title=_title(tmp.name, record), crs_authid=_authid(df)) if record else None
        add_to_geopackage(tmp, layer or tmp.stem, qml=qml, qmd=qmd, timestamp=gpkg_timestamp or "1970-01-01T00:00:00Z",
                          sld=qml_to_sld(qml, name=layer or tmp.stem, style=style))
        return []
    files = sidecar_files(tmp)
    if not files:
        return []
    written: list[Path] = []
    if ext == ".csv":
        from .export import _latlon_columns  # the one rule for lat/lon column names

        out_cols = _csv_header(tmp)
        ll = _latlon_columns_of(out_cols, _latlon_columns)
        csvt_types = {**{c: "float64" if c in ("lat", "lon") else "str" for c in out_cols}, **dict(types)}
        files[3].write_text(csvt(out_cols, csvt_types), encoding="utf-8", newline="\n")
        written.append(files[3])
        if ll is None:
            return written
        files[2].write_text(points_vrt(tmp.name, tmp.stem, lat=ll[0], lon=ll[1]), encoding="utf-8", newline="\n")
        written.append(files[2])
        columns, geom = out_cols, "point"
    title = _title(tmp.name, record)
    qml = vector_qml(columns, geometry=geom, field_names=field_names, types=types, values=values, lang=lang,
                     style=style, notes=layer_notes(record, title=title) if record is not None else None)
    files[0].write_text(qml, encoding="utf-8", newline="\n")
    written.append(files[0])
    sld = qml_to_sld(qml, name=tmp.stem, style=style) if ext == ".shp" else None
    if sld is not None:
        files[2].write_text(sld, encoding="utf-8", newline="\n")
        written.append(files[2])
    if record is not None:
        files[1].write_text(layer_qmd(record, title=title, crs_authid=_authid(df) if ext != ".csv" else "EPSG:4326"),
                            encoding="utf-8", newline="\n")
        written.append(files[1])
    return written


def _csv_header(path: Path) -> list[str]:
    import csv as _csv

    with open(path, encoding="utf-8", newline="") as fh:
        return next(_csv.reader(fh), [])


def _latlon_columns_of(columns: Sequence[str], rule) -> tuple[str, str] | None:
    import pandas as pd

    return rule(pd.DataFrame(columns=list(columns)))


def _authid(df) -> str | None:
    crs = getattr(df, "crs", None)
    if crs is None:
        return None
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else None


def write_raster_sidecars(tmp: Path, *, dest: Path | None = None, record: Mapping | None = None,
                          style: Mapping | str | None = None, qml: bool = True) -> list[Path]:
    """The ``.qml`` (density ramp from 0, transparent, to the 99th percentile of the
    positive cells) and ``.qmd`` (from ``record``, else the band's tags) of a
    single-band GeoTIFF ``tmp``, written beside it (or in the folder ``dest``).
    Returns the files written; ``[]`` for a file that is not a one-band raster
    (nothing to style)."""
    import numpy as np
    import rasterio

    files = sidecar_files(Path(dest) / tmp.name if dest is not None else tmp)
    try:
        with rasterio.open(tmp) as src:
            if src.count != 1:
                return []
            band = src.read(1, masked=True)
            tags = src.tags(1)
            desc = src.descriptions[0] or tmp.stem
            authid = src.crs.to_string() if src.crs is not None else None
    except rasterio.errors.RasterioError:
        return []
    written = []
    rec = dict(record) if record is not None else {"output": tmp.name, "params": dict(sorted(tags.items()))}
    title = f"{desc} — geocity"
    if qml:
        vals = np.asarray(band.compressed(), dtype="float64")
        vals = vals[np.isfinite(vals) & (vals > 0)]
        vmax = float(np.percentile(vals, 99)) if vals.size else 1.0
        qml_text = raster_qml(vmax, label="0", style=style, notes=layer_notes(rec, title=title))
        files[0].write_text(qml_text, encoding="utf-8", newline="\n")
        files[2].write_text(qml_to_sld(qml_text, name=tmp.stem, style=style), encoding="utf-8", newline="\n")
        written += [files[0], files[2]]
    files[1].write_text(layer_qmd(rec, title=title, crs_authid=authid, layer_type="dataset"),
                        encoding="utf-8", newline="\n")
    written.append(files[1])
    return written


def style_for_file(path: str | Path, *, layer: str | None = None, lang: str = "both",
                   style: Mapping | str | None = None) -> str | None:
    """The QML default style geocity would give the vector file ``path`` (any
    format GDAL reads; for a GeoJSON or FlatGeobuf, which carry no sidecar, a
    project can embed it). ``None`` for a file without attributes or geometry.

    A shapefile's shortened field names are used as written (its
    ``.fields.csv`` supplies the full names as aliases)."""
    import pyogrio

    from .export import _SIDECAR, _data_layers

    path = Path(path)
    if layer is None and path.suffix.lower() == ".gpkg":
        layer = _data_layers(path)[0]
    df = pyogrio.read_dataframe(path, layer=layer)
    short: dict[str, str] = {}
    types: dict[str, str] = {}
    side = path.with_name(path.stem + _SIDECAR)
    if path.suffix.lower() == ".shp" and side.is_file():
        import csv as _csv

        with open(side, encoding="utf-8", newline="") as fh:
            for row in _csv.DictReader(fh):
                short[row["full_name"]] = row["short_name"]
                types[row["full_name"]] = row["type"]
        df = df.rename(columns={v: k for k, v in short.items()})
    gcol = df.geometry.name if hasattr(df, "geometry") and df._geometry_column_name in df else None
    columns = [c for c in df.columns if c != gcol]
    if not columns and gcol is None:
        return None
    values = {"cluster_id": sorted({v for v in df["cluster_id"].tolist() if v == v and v is not None},
                                   key=lambda v: (str(type(v)), v))} if "cluster_id" in columns else {}
    return vector_qml(columns, geometry=geometry_family(df), field_names=short or None, types=types,
                      values=values, lang=lang, style=style)


# --------------------------------------------------------------------------
# SLD (OGC Symbology Encoding 1.1), for GeoServer and other SLD readers
# --------------------------------------------------------------------------
_SLD = "http://www.opengis.net/sld"
_SE = "http://www.opengis.net/se"
_OGC = "http://www.opengis.net/ogc"
_PX_PER_MM = 96.0 / 25.4


def _hex(rgba: str) -> tuple[str, float]:
    """``"r,g,b,a"`` (QGIS) → ``("#rrggbb", opacity)``."""
    r, g, b, a = (int(v) for v in rgba.split(",")[:4])
    return f"#{r:02x}{g:02x}{b:02x}", round(a / 255.0, 3)


def _se(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    e = ET.SubElement(parent, f"{{{_SE}}}{tag}", attrs)
    if text is not None:
        e.text = text
    return e


def _stroke(parent: ET.Element, color: str, width_mm: float, alpha: float) -> None:
    s = _se(parent, "Stroke")
    hx, op = _hex(color)
    _se(s, "SvgParameter", hx, name="stroke")
    _se(s, "SvgParameter", _num(round(op * alpha, 3)), name="stroke-opacity")
    _se(s, "SvgParameter", _num(round(width_mm * _PX_PER_MM, 2)), name="stroke-width")


def _fill_el(parent: ET.Element, color: str, alpha: float) -> None:
    f = _se(parent, "Fill")
    hx, op = _hex(color)
    _se(f, "SvgParameter", hx, name="fill")
    _se(f, "SvgParameter", _num(round(op * alpha, 3)), name="fill-opacity")


def _symbolizer(rule: ET.Element, symbol: ET.Element) -> None:
    layer = symbol.find("layer")
    props = {p.get("k"): p.get("v") for p in layer.findall("prop")}
    alpha = float(symbol.get("alpha", "1"))
    cls = layer.get("class")
    if cls == "SimpleMarker":
        ps = _se(rule, "PointSymbolizer")
        mark = _se(_se(ps, "Graphic"), "Mark")
        _se(mark, "WellKnownName", "circle")
        _fill_el(mark, props["color"], alpha)
        _stroke(mark, props["outline_color"], float(props["outline_width"]), alpha)
        _se(ps.find(f"{{{_SE}}}Graphic"), "Size", _num(round(float(props["size"]) * _PX_PER_MM, 2)))
    elif cls == "SimpleLine":
        _stroke(_se(rule, "LineSymbolizer"), props["line_color"], float(props["line_width"]), alpha)
    else:
        ps = _se(rule, "PolygonSymbolizer")
        _fill_el(ps, props["color"], alpha)
        _stroke(ps, props["outline_color"], float(props["outline_width"]), alpha)


def _filter(rule: ET.Element, op: str, attr: str, *values: str) -> None:
    f = ET.SubElement(rule, f"{{{_OGC}}}Filter")
    if op == "between":
        parent = ET.SubElement(f, f"{{{_OGC}}}And")
        for tag, v in (("PropertyIsGreaterThanOrEqualTo", values[0]), (values[2], values[1])):
            c = ET.SubElement(parent, f"{{{_OGC}}}{tag}")
            ET.SubElement(c, f"{{{_OGC}}}PropertyName").text = attr
            ET.SubElement(c, f"{{{_OGC}}}Literal").text = v
        return
    c = ET.SubElement(f, f"{{{_OGC}}}PropertyIsEqualTo")
    ET.SubElement(c, f"{{{_OGC}}}PropertyName").text = attr
    ET.SubElement(c, f"{{{_OGC}}}Literal").text = values[0]


_IDENT = r'"((?:[^"]|"")*)"'


def _label_field(root: ET.Element) -> tuple[str, tuple[str, int] | None] | None:
    """``(field, (rank field, max rank) or None)`` of a label that SLD can say (one
    field, shown up to a rank); ``None`` otherwise (SLD has no QGIS expressions)."""
    import re

    ts = root.find("labeling/settings/text-style")
    if ts is None:
        return None
    expr = ts.get("fieldName", "")
    gate = None
    m = re.fullmatch(r"if\(" + _IDENT + r" <= (\d+), (.*), NULL\)", expr)
    if m:
        gate = (m.group(1).replace('""', '"'), int(m.group(2)))
        expr = m.group(3)
    m = re.fullmatch(_IDENT, expr) or re.match(r"(?:coalesce|concat)\(" + _IDENT, expr)
    return (m.group(1).replace('""', '"'), gate) if m else None


def _text_symbolizer(rule: ET.Element, root: ET.Element, field: str, style: Mapping) -> None:
    ts = _se(rule, "TextSymbolizer")
    lab = _se(ts, "Label")
    ET.SubElement(lab, f"{{{_OGC}}}PropertyName").text = field
    font = _se(ts, "Font")
    _se(font, "SvgParameter", style["fonts"]["family_zh"], name="font-family")
    _se(font, "SvgParameter", _num(style["fonts"]["label_size"] + 2), name="font-size")
    halo = _se(ts, "Halo")
    _se(halo, "Radius", _num(style["labels"]["halo_width"]))
    _fill_el(halo, _rgba(style["colors"]["halo"]), 1.0)
    _fill_el(ts, _rgba(style["colors"]["text"]), 1.0)


def _sld_document(name: str, title: str) -> tuple[ET.Element, ET.Element]:
    ET.register_namespace("", _SLD)
    ET.register_namespace("se", _SE)
    ET.register_namespace("ogc", _OGC)
    root = ET.Element(f"{{{_SLD}}}StyledLayerDescriptor", {"version": "1.1.0"})
    nl = ET.SubElement(root, f"{{{_SLD}}}NamedLayer")
    _se(nl, "Name", name)
    us = ET.SubElement(nl, f"{{{_SLD}}}UserStyle")
    _se(us, "Name", STYLE_NAME)
    _se(_se(us, "Description"), "Title", title)
    return root, _se(us, "FeatureTypeStyle")


def qml_to_sld(qml: str, *, name: str, style: Mapping | str | None = None) -> str | None:
    """The SLD 1.1 (Symbology Encoding) form of a geocity QML style, where SLD can say it:
    categories as equality rules (the "other values" class as an ``ElseFilter``), graduated
    classes as ranges, fixed symbol sizes (a size by rank, a QGIS expression, is left at the
    class size), a label of one field (the Chinese name when the QML shows both), a raster's
    colour map with its transparent zero. ``None`` for a table without geometry."""
    style = _styles._style(style)
    root = ET.fromstring(qml.split("\n", 1)[1] if qml.startswith("<!DOCTYPE") else qml)
    doc, fts = _sld_document(name, f"{name} — geocity")
    rr = root.find("pipe/rasterrenderer")
    if rr is not None:
        rule = _se(fts, "Rule")
        rs = _se(rule, "RasterSymbolizer")
        cm = _se(rs, "ColorMap")
        ramp = _se(cm, "Interpolate", fallbackValue="#00000000")
        _se(ramp, "LookupValue", "Rasterdata")
        for item in rr.findall("rastershader/colorrampshader/item"):
            ip = _se(ramp, "InterpolationPoint")
            _se(ip, "Data", item.get("value"))
            _se(ip, "Value", item.get("color") + ("00" if item.get("alpha") == "0" else ""))
        ET.indent(doc, space="  ")
        return ET.tostring(doc, encoding="unicode", xml_declaration=True) + "\n"
    ren = root.find("renderer-v2")
    if ren is None:
        return None
    symbols = {s.get("name"): s for s in ren.findall("symbols/symbol")}
    attr = ren.get("attr", "")
    label = _label_field(root) if root.get("labelsEnabled") == "1" else None
    if ren.get("type") == "categorizedSymbol":
        for cat in ren.findall("categories/category"):
            rule = _se(fts, "Rule")
            _se(rule, "Name", cat.get("label") or cat.get("value"))
            if cat.get("value") == "":
                _se(rule, "ElseFilter")
            else:
                _filter(rule, "eq", attr, cat.get("value"))
            _symbolizer(rule, symbols[cat.get("symbol")])
    elif ren.get("type") == "graduatedSymbol":
        ranges = ren.findall("ranges/range")
        for i, rg in enumerate(ranges):
            rule = _se(fts, "Rule")
            _se(rule, "Name", rg.get("label"))
            upper_op = "PropertyIsLessThanOrEqualTo" if i == len(ranges) - 1 else "PropertyIsLessThan"
            _filter(rule, "between", attr, rg.get("lower"), rg.get("upper"), upper_op)
            _symbolizer(rule, symbols[rg.get("symbol")])
    else:
        rule = _se(fts, "Rule")
        _symbolizer(rule, next(iter(symbols.values())))
    if label:
        rule = _se(fts, "Rule")
        field, gate = label
        if gate is not None:
            f = ET.SubElement(rule, f"{{{_OGC}}}Filter")
            c = ET.SubElement(f, f"{{{_OGC}}}PropertyIsLessThanOrEqualTo")
            ET.SubElement(c, f"{{{_OGC}}}PropertyName").text = gate[0]
            ET.SubElement(c, f"{{{_OGC}}}Literal").text = str(gate[1])
        _text_symbolizer(rule, root, field, style)
    ET.indent(doc, space="  ")
    return ET.tostring(doc, encoding="unicode", xml_declaration=True) + "\n"
