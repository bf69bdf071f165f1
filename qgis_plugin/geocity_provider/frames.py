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
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.fileEncoding = "UTF-8"
    opts.layerName = "input"
    opts.layerOptions = [f"FID={FID}"]
    writer = QgsVectorFileWriter.create(path, fields, QgsWkbTypes.Point if points else QgsWkbTypes.NoGeometry,
                                        crs, context.transformContext(), opts)
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"{what}: cannot write a temporary copy ({writer.errorMessage()})")
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
        if not writer.addFeature(out):
            raise QgsProcessingException(f"{what}: cannot copy feature {feat.id()} ({writer.errorMessage()})")
    del writer  # closes the file
    return path


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
    opts = QgsVectorFileWriter.SaveVectorOptions()
    opts.driverName = "GPKG"
    opts.fileEncoding = "UTF-8"
    opts.layerName = "corridors"
    opts.layerOptions = [f"FID={FID}"]
    fields = _input_fields(source.fields(), what)
    writer = QgsVectorFileWriter.create(path, fields, source.wkbType(), crs, context.transformContext(), opts)
    if writer.hasError() != QgsVectorFileWriter.NoError:
        raise QgsProcessingException(f"{what}: cannot write a temporary copy ({writer.errorMessage()})")
    for feat in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            break
        out = QgsFeature(fields)
        out.setAttributes(feat.attributes())
        g = QgsGeometry(feat.geometry())
        g.transform(xform)
        out.setGeometry(g)
        writer.addFeature(out)
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
