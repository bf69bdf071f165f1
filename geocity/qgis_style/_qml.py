"""QML default styles and QMD layer metadata from styles/*.yaml (geocity.qgis_style)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import styles as _styles
from .. import terms as _terms

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
        from ..network import STRENGTH_CLASSES

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
    if zh is None or (lang == "en" and en is not None):
        text = ref[en] if en is not None else ref[zh]  # type: ignore[index]  # one of them is set
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
        Layer notes (HTML, already escaped; ``geocity.qgis_style._qml.layer_notes``), shown by QGIS in the layer tree.

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
    from .. import provenance as _prov

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
