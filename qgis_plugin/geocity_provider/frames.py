"""QGIS layers ↔ the files geocity's worker reads and writes: the only glue.

Inputs are written to a temporary GeoPackage in WGS 84 (QGIS transforms
them from the layer's CRS), every attribute under its own name (a
GeoPackage's ``fid`` key as ``input_fid``), nothing dropped: a point
layer's feature without a point, or with several, is an error naming it.
Results come back as GeoPackages that are copied, field for field and row
for row, into the algorithm's outputs.
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)

WGS84 = "EPSG:4326"
#: The FID column of the temporary GeoPackages (so a layer's own ``fid`` field stays an attribute).
FID = "geocity_fid"


def write_input(source, path: str, context, feedback, *, what: str = "INPUT", points: bool = True) -> str:
    """Write a feature source to ``path`` (GeoPackage, WGS 84); ``points=False``: attributes only."""
    if source is None:
        raise QgsProcessingException(f"{what}: the layer could not be read")
    crs = QgsCoordinateReferenceSystem(WGS84)
    xform = None
    if points:
        if not source.sourceCrs().isValid():
            raise QgsProcessingException(f"{what}: the layer has no CRS; set it (Layer Properties → Source) "
                                         "and run again")
        xform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    fields = _input_fields(source.fields(), what)
    writer = _temp_writer(path, "input", fields, QgsWkbTypes.Point if points else QgsWkbTypes.NoGeometry, crs,
                          context, what)
    for feat in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            break
        out = QgsFeature(fields)
        out.setAttributes(feat.attributes())
        if points:
            g = QgsGeometry(feat.geometry())
            if g.isNull() or g.isEmpty():
                raise QgsProcessingException(f"{what}: feature {feat.id()} has no geometry; every point is used, "
                                             "so give it one or filter it out first")
            parts = g.asMultiPoint() if g.isMultipart() else [g.asPoint()]
            if QgsWkbTypes.geometryType(g.wkbType()) != QgsWkbTypes.PointGeometry or len(parts) != 1:
                raise QgsProcessingException(f"{what}: feature {feat.id()} is not a single point; "
                                             "use a point layer (Multipart to singleparts first)")
            g = QgsGeometry.fromPointXY(parts[0])
            g.transform(xform)
            out.setGeometry(g)
        _add(writer, out, feat, what)
    del writer  # closes the file
    return path


def _temp_writer(path: str, layer: str, fields, wkb_type, crs, context, what: str):
    """A writer of the temporary GeoPackage geocity reads (UTF-8, its own FID column)."""
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.fileEncoding = "UTF-8"
    opts.layerName = layer
    opts.layerOptions = [f"FID={FID}"]
    writer = QgsVectorFileWriter.create(path, fields, wkb_type, crs, context.transformContext(), opts)
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"{what}: cannot write a temporary copy ({writer.errorMessage()})")
    return writer


def _add(writer, out, feat, what: str) -> None:
    """Copy one feature, or say which one could not be copied (no row is dropped silently)."""
    if not writer.addFeature(out):
        raise QgsProcessingException(f"{what}: cannot copy feature {feat.id()} ({writer.errorMessage()})")


#: A layer's storage key (a GeoPackage's ``fid``) is kept as this attribute: the outputs get their own keys,
#: and an output with one row per point and corridor would repeat it.
INPUT_FID = "input_fid"


def _input_fields(fields, what: str):
    out = QgsFields()
    names = {f.name().lower() for f in fields}
    for f in fields:
        f = QgsField(f)
        if f.name().lower() == "fid":
            if INPUT_FID in names:
                raise QgsProcessingException(f"{what}: has both a 'fid' and an '{INPUT_FID}' field; rename one")
            f.setName(INPUT_FID)
        out.append(f)
    return out


def write_lines(source, path: str, context, feedback, *, what: str) -> str:
    """Write a line layer to ``path`` (GeoPackage, WGS 84) for geocity to read."""
    if not source.sourceCrs().isValid():
        raise QgsProcessingException(f"{what}: the layer has no CRS; set it and run again")
    crs = QgsCoordinateReferenceSystem(WGS84)
    xform = QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext())
    fields = _input_fields(source.fields(), what)
    writer = _temp_writer(path, "corridors", fields, source.wkbType(), crs, context, what)
    for feat in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            break
        out = QgsFeature(fields)
        out.setAttributes(feat.attributes())
        g = QgsGeometry(feat.geometry())
        g.transform(xform)
        out.setGeometry(g)
        _add(writer, out, feat, what)
    del writer
    return path


def copy_result(alg, parameters, name: str, context, path: str) -> str:
    """Copy the worker's result GeoPackage into the feature sink ``name``; returns its destination id."""
    layer = QgsVectorLayer(f"{path}|layername=result", "result", "ogr")
    if not layer.isValid():
        raise QgsProcessingException(f"{name}: geocity's result {path} could not be read")
    keep = [i for i, f in enumerate(layer.fields()) if f.name() != FID]
    fields = QgsFields()
    for i in keep:
        fields.append(layer.fields().at(i))
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, layer.wkbType(), layer.crs())
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, name))
    for n, feat in enumerate(layer.getFeatures(), start=1):
        out = QgsFeature(fields)
        attrs = feat.attributes()
        out.setAttributes([attrs[i] for i in keep])
        out.setGeometry(feat.geometry())
        if not sink.addFeature(out, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"{name}: could not write row {n}: {sink.lastError()}")
    return dest
