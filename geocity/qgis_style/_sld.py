"""SLD 1.1 (Symbology Encoding) from geocity's QML styles (geocity.qgis_style)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from .. import styles as _styles
from ._qml import STYLE_NAME, _num, _rgba

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


def _get(el: ET.Element, key: str) -> str:
    """An attribute of one of geocity's own QML elements ('' when absent)."""
    v = el.get(key)
    return "" if v is None else v


def _symbolizer(rule: ET.Element, symbol: ET.Element) -> None:
    layer = symbol.find("layer")
    if layer is None:  # pragma: no cover - every symbol geocity writes has one layer
        return
    props = {_get(p, "k"): _get(p, "v") for p in layer.findall("prop")}
    alpha = float(symbol.get("alpha", "1"))
    cls = layer.get("class")
    if cls == "SimpleMarker":
        ps = _se(rule, "PointSymbolizer")
        graphic = _se(ps, "Graphic")
        mark = _se(graphic, "Mark")
        _se(mark, "WellKnownName", "circle")
        _fill_el(mark, props["color"], alpha)
        _stroke(mark, props["outline_color"], float(props["outline_width"]), alpha)
        _se(graphic, "Size", _num(round(float(props["size"]) * _PX_PER_MM, 2)))
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
            _se(ip, "Data", _get(item, "value"))
            _se(ip, "Value", _get(item, "color") + ("00" if item.get("alpha") == "0" else ""))
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
                _filter(rule, "eq", attr, _get(cat, "value"))
            _symbolizer(rule, symbols[cat.get("symbol")])
    elif ren.get("type") == "graduatedSymbol":
        ranges = ren.findall("ranges/range")
        for i, rg in enumerate(ranges):
            rule = _se(fts, "Rule")
            _se(rule, "Name", rg.get("label"))
            upper_op = "PropertyIsLessThanOrEqualTo" if i == len(ranges) - 1 else "PropertyIsLessThan"
            _filter(rule, "between", attr, _get(rg, "lower"), _get(rg, "upper"), upper_op)
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
