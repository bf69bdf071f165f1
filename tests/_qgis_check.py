"""Open geocity outputs in the real QGIS (PyQGIS) and report what QGIS sees, as JSON.

Run by tests/test_qgis_*.py with Debian's ``/usr/bin/python3`` (PyQGIS is built
for it, not for the venv's Python), headless::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/_qgis_check.py specs.json > report.json

``specs.json`` is a list of ``{"path": ..., "layer": ... (GeoPackage layer, optional),
"kind": "vector" | "raster"}``. For each, the report holds what a user would see
in QGIS: validity, CRS, feature count, renderer (type, attribute, classes),
labels (expression, font), field aliases and widgets, field types, a few text
values, layer metadata (title, abstract, keywords) as opened, the layer notes,
the default metadata (``.qmd``) QGIS loads with ``loadDefaultMetadata()``, and
every GDAL warning raised while opening the file (e.g. the GeoPackage version
warning).
"""

from __future__ import annotations

import json
import sys


def _gdal_warnings(path: str) -> list[str]:
    from osgeo import gdal

    caught: list[str] = []

    def handler(level, code, msg):
        if level >= gdal.CE_Warning:
            caught.append(str(msg))

    gdal.PushErrorHandler(handler)
    try:
        ds = gdal.OpenEx(path)
        if ds is not None:
            for i in range(ds.GetLayerCount() if hasattr(ds, "GetLayerCount") else 0):
                ds.GetLayer(i).GetFeatureCount()
        ds = None
    finally:
        gdal.PopErrorHandler()
    return caught


def _metadata(layer) -> dict:
    md = layer.metadata()
    return {"title": md.title(), "abstract": md.abstract(), "identifier": md.identifier(),
            "keywords": {k: list(v) for k, v in md.keywords().items()},
            "links": [lk.name for lk in md.links()], "history": list(md.history())}


def _renderer(r) -> dict:
    out = {"type": r.type()}
    classes = []  # keep the copies alive while their symbols are read (PyQGIS returns copies)
    if r.type() == "categorizedSymbol":
        out["attr"] = r.classAttribute()
        classes = r.categories()
        out["categories"] = [(str(c.value()), c.label(), c.symbol().color().name()) for c in classes]
        sym = classes[0].symbol() if classes else None
    elif r.type() == "graduatedSymbol":
        out["attr"] = r.classAttribute()
        classes = r.ranges()
        out["ranges"] = [(g.lowerValue(), g.upperValue(), g.symbol().color().name()) for g in classes]
        sym = classes[0].symbol() if classes else None
    elif r.type() == "singleSymbol":
        sym = r.symbol()
    else:
        sym = None
    if sym is not None:
        sl = sym.symbolLayer(0)
        prop = sl.dataDefinedProperties().property(sl.PropertySize) if hasattr(sl, "PropertySize") else None
        out["size_expression"] = prop.expressionString() if prop is not None and prop.isActive() else ""
    return out


def _vector(spec: dict) -> dict:
    from qgis.core import QgsVectorLayer

    uri = spec["path"] + (f"|layername={spec['layer']}" if spec.get("layer") else "")
    lyr = QgsVectorLayer(uri, spec.get("layer") or "layer", "ogr")
    out: dict = {"valid": lyr.isValid()}
    if not lyr.isValid():
        return out
    fields = lyr.fields()
    out["crs"] = lyr.crs().authid()
    out["features"] = lyr.featureCount()
    out["geometry"] = int(lyr.geometryType())
    out["renderer"] = _renderer(lyr.renderer()) if lyr.renderer() is not None else None
    out["labels"] = bool(lyr.labelsEnabled())
    if lyr.labelsEnabled() and lyr.labeling() is not None:
        s = lyr.labeling().settings()
        out["label_expression"] = s.fieldName
        out["label_font"] = s.format().font().family()
    out["aliases"] = {f.name(): f.alias() for f in fields if f.alias()}
    out["widgets"] = {f.name(): [f.editorWidgetSetup().type(), dict(f.editorWidgetSetup().config())]
                      for f in fields if f.editorWidgetSetup().type()}
    out["types"] = {f.name(): f.typeName() for f in fields}
    out["variant_types"] = {f.name(): int(f.type()) for f in fields}
    texts: dict[str, list[str]] = {}
    for feat in lyr.getFeatures():
        for f in fields:
            v = feat[f.name()]
            if isinstance(v, str):
                texts.setdefault(f.name(), []).append(v)
    out["text_values"] = texts
    _metadata_of(lyr, out)
    if spec.get("sld"):  # the SLD form of the style, loaded into a second copy of the layer
        other = QgsVectorLayer(uri, "sld", "ogr")
        msg, ok = other.loadSldStyle(spec["sld"])
        out["sld"] = {"ok": bool(ok), "message": msg, "renderer": _renderer(other.renderer()),
                      "labels": bool(other.labelsEnabled())}
    return out


def _metadata_of(lyr, out: dict) -> None:
    """Metadata as opened, the layer notes, then the default metadata (.qmd) QGIS loads on request."""
    out["metadata"] = _metadata(lyr)
    out["notes"] = lyr.customProperty("userNotes") or ""
    out["default_metadata_loaded"] = bool(lyr.loadDefaultMetadata()[1])
    out["default_metadata"] = _metadata(lyr)


def _raster(spec: dict) -> dict:
    from qgis.core import QgsRasterLayer

    lyr = QgsRasterLayer(spec["path"], "raster", "gdal")
    out: dict = {"valid": lyr.isValid()}
    if not lyr.isValid():
        return out
    r = lyr.renderer()
    out["crs"] = lyr.crs().authid() or lyr.crs().toWkt()[:40]
    out["renderer"] = {"type": r.type()}
    if r.type() == "singlebandpseudocolor":
        items = r.shader().rasterShaderFunction().colorRampItemList()
        out["renderer"]["items"] = [(i.value, i.color.name(), i.color.alpha()) for i in items]
    tr = r.rasterTransparency()
    out["transparent_values"] = [(p.min, p.max, p.percentTransparent) for p in tr.transparentSingleValuePixelList()]
    _metadata_of(lyr, out)
    if spec.get("sld"):
        other = QgsRasterLayer(spec["path"], "sld", "gdal")
        msg, ok = other.loadSldStyle(spec["sld"])
        out["sld"] = {"ok": bool(ok), "message": msg, "renderer": {"type": other.renderer().type()}}
    return out


def main() -> None:
    from qgis.core import QgsApplication

    specs = json.load(open(sys.argv[1], encoding="utf-8"))
    app = QgsApplication([], False)
    app.initQgis()
    messages: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda m, tag, level: messages.append(f"{tag}: {m}"))
    report = []
    for spec in specs:
        kind = spec.get("kind", "vector")
        res = _raster(spec) if kind == "raster" else _vector(spec)
        res["gdal_warnings"] = _gdal_warnings(spec["path"])
        res["spec"] = spec
        report.append(res)
    from qgis.core import Qgis

    json.dump({"qgis": Qgis.QGIS_VERSION, "results": report, "messages": messages}, sys.stdout,
              ensure_ascii=False, indent=1)
    app.exitQgis()


if __name__ == "__main__":
    main()
