"""QGIS features ↔ (Geo)DataFrames: the only glue between QGIS and geocity.

Points are read in WGS 84 (QGIS transforms them from the layer's CRS), every
attribute is kept under its own name, and nothing is dropped: a feature
without a point is an error naming it. Results are written to QGIS sinks in
WGS 84 with one field per column (booleans as booleans, integers as 64-bit
integers, missing values as NULL).
"""

from __future__ import annotations

import math

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessingException,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

WGS84 = "EPSG:4326"


def _value(v):
    """A QGIS attribute value as a plain Python value (NULL → None)."""
    if v is None or (isinstance(v, QVariant) and v.isNull()):
        return None
    if hasattr(v, "toPyObject"):  # QDate/QDateTime and friends
        v = v.toPyObject()
    if hasattr(v, "toString") and not isinstance(v, str):
        return v.toString()
    return v


def source_frame(source, context, feedback, *, what: str = "INPUT", points: bool = True):
    """A feature source as a GeoDataFrame of WGS 84 points (``points``) or a DataFrame (attributes only).

    Raises
    ------
    QgsProcessingException
        A layer without a CRS, a feature without a point or with several.
    """
    import geopandas as gpd
    import pandas as pd
    import shapely

    if source is None:
        raise QgsProcessingException(f"{what}: the layer could not be read")
    fields = source.fields()
    names = [f.name() for f in fields]
    xform = None
    if points:
        if not source.sourceCrs().isValid():
            raise QgsProcessingException(f"{what}: the layer has no CRS; set it (Layer Properties → Source) "
                                         "and run again")
        xform = QgsCoordinateTransform(source.sourceCrs(), QgsCoordinateReferenceSystem(WGS84),
                                       context.transformContext())
    rows, xs, ys = [], [], []
    for feat in source.getFeatures():
        if feedback is not None and feedback.isCanceled():
            raise QgsProcessingException("canceled")
        if points:
            g = QgsGeometry(feat.geometry())
            if g.isNull() or g.isEmpty():
                raise QgsProcessingException(f"{what}: feature {feat.id()} has no geometry; every point is used, "
                                             "so give it one or filter it out first")
            g.transform(xform)
            pts = g.asMultiPoint() if g.isMultipart() else [g.asPoint()]
            if QgsWkbTypes.geometryType(g.wkbType()) != QgsWkbTypes.PointGeometry or len(pts) != 1:
                raise QgsProcessingException(f"{what}: feature {feat.id()} is not a single point; "
                                             "use a point layer (Multipart to singleparts first)")
            xs.append(pts[0].x())
            ys.append(pts[0].y())
        rows.append([_value(v) for v in feat.attributes()])
    df = pd.DataFrame(rows, columns=names)
    for f in fields:  # a numeric field stays numeric with NULLs as NaN
        if f.isNumeric() and f.type() != QVariant.Bool:
            df[f.name()] = pd.to_numeric(df[f.name()], errors="coerce")
    if not points:
        return df
    return gpd.GeoDataFrame(df, geometry=shapely.points(xs, ys) if rows else [], crs=WGS84)


def _qtype(dtype) -> QVariant.Type:
    kind = getattr(dtype, "kind", "O")
    if kind == "b" or str(dtype) == "boolean":
        return QVariant.Bool
    if kind in "iu":
        return QVariant.LongLong
    if kind == "f":
        return QVariant.Double
    return QVariant.String


def _plain(v, qtype):
    if v is None:
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    if qtype == QVariant.String and not isinstance(v, str):
        return str(v)
    return v


_WKB = {"point": QgsWkbTypes.Point, "line": QgsWkbTypes.MultiLineString, "polygon": QgsWkbTypes.MultiPolygon,
        "none": QgsWkbTypes.NoGeometry}


def write_sink(alg, parameters, name: str, context, frame, geometry: str, feedback=None) -> str:
    """Write a (Geo)DataFrame to the feature sink ``name``; returns its destination id.

    ``geometry`` is ``point``, ``line`` (multi), ``polygon`` (multi) or ``none``.
    Non-geometry columns become fields in column order.
    """
    import shapely

    gcol = getattr(frame, "_geometry_column_name", None) if geometry != "none" else None
    cols = [c for c in frame.columns if c != gcol]
    fields = QgsFields()
    types = []
    for c in cols:
        t = _qtype(frame[c].dtype)
        types.append(t)
        fields.append(QgsField(str(c), t))
    sink, dest = alg.parameterAsSink(parameters, name, context, fields, _WKB[geometry],
                                     QgsCoordinateReferenceSystem(WGS84))
    if sink is None:
        raise QgsProcessingException(alg.invalidSinkError(parameters, name))
    geoms = shapely.to_wkb(frame[gcol].to_numpy()) if gcol else [None] * len(frame)
    values = [frame[c].tolist() for c in cols]
    for i in range(len(frame)):
        feat = QgsFeature(fields)
        feat.setAttributes([_plain(values[j][i], types[j]) for j in range(len(cols))])
        if geoms[i] is not None:
            g = QgsGeometry()
            g.fromWkb(bytes(geoms[i]))
            if geometry != "point":
                g.convertToMultiType()
            feat.setGeometry(g)
        if not sink.addFeature(feat, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"{name}: could not write row {i + 1}: {sink.lastError()}")
    return dest
