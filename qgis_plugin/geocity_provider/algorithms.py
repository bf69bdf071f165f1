"""geocity's algorithms as Processing algorithms: thin wrappers over the
geocity Python API (no analysis here: read the layer, call geocity, write
its result). Distances are great-circle km whatever the layer's CRS."""

from __future__ import annotations

import os
import tempfile
import warnings

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
    QgsVectorFileWriter,
)

from .frames import source_frame, write_sink
from .install import install_text

GROUP = "geocity"


class _Base(QgsProcessingAlgorithm):
    """Shared plumbing: names, geocity errors and warnings shown in QGIS."""

    _name = ""
    _display = ""
    _help = ""

    def name(self):
        return self._name

    def displayName(self):  # noqa: N802 - QGIS API name
        return self._display

    def group(self):
        return GROUP

    def groupId(self):  # noqa: N802 - QGIS API name
        return "geocity"

    def shortHelpString(self):  # noqa: N802 - QGIS API name
        return self._help

    def createInstance(self):  # noqa: N802 - QGIS API name
        return type(self)()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        from geocity.errors import GeocityError

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = self.run(parameters, context, feedback)
            except GeocityError as exc:  # a user error: geocity's message, no traceback
                raise QgsProcessingException(str(exc)) from exc
            finally:
                for w in caught:
                    if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
                        feedback.pushWarning(str(w.message))
        return result

    def run(self, parameters, context, feedback):  # pragma: no cover - overridden
        raise NotImplementedError

    def _points(self, parameters, context, feedback, name="INPUT"):
        return source_frame(self.parameterAsSource(parameters, name, context), context, feedback, what=name)

    def _field(self, parameters, name, context):
        value = self.parameterAsString(parameters, name, context)
        return value or None


def _add_number(alg, name, label, default, *, minimum=None, integer=False, optional=False):
    kind = QgsProcessingParameterNumber.Integer if integer else QgsProcessingParameterNumber.Double
    p = QgsProcessingParameterNumber(name, label, kind, default, optional)
    if minimum is not None:
        p.setMinimum(minimum)
    alg.addParameter(p)


class Clusters(_Base):
    """Weighted geodesic DBSCAN clusters of any point layer (:class:`geocity.cluster.CityClusters`)."""

    _name = "clusters"
    _display = "Weighted geodesic DBSCAN clusters"
    _help = (
        "Clusters of a point layer by weighted DBSCAN on great-circle distances (km on the sphere, any CRS, "
        "across the antimeridian and the poles): a point is a core point when the summed weight of the points "
        "within eps km reaches the minimum weight. With the split method, clusters wider than the maximum span "
        "are split into catchments around their poles. Outputs the cluster boundaries (the members' hull "
        "buffered by the boundary buffer) and every input point with its cluster_id (-1: in no cluster), "
        "cluster_name, dbscan_label, is_core and is_pole. Same result as geocity.cluster.CityClusters "
        "(and `geocity clusters` on the report's cities)."
    )
    METHODS = ["split", "dbscan"]
    HULLS = ["convex", "concave"]

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        from geocity.cluster import DEFAULTS

        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Weight field (≥ 0)", None, "INPUT",
                                                      QgsProcessingParameterField.Numeric))
        self.addParameter(QgsProcessingParameterField("ID_FIELD", "Unique id field (default: feature id)", None,
                                                      "INPUT", QgsProcessingParameterField.Any, optional=True))
        self.addParameter(QgsProcessingParameterField("NAME_FIELD", "Name field (cluster names)", None, "INPUT",
                                                      QgsProcessingParameterField.Any, optional=True))
        self.addParameter(QgsProcessingParameterField("NAME_ZH_FIELD", "Chinese name field", None, "INPUT",
                                                      QgsProcessingParameterField.Any, optional=True))
        _add_number(self, "EPS_KM", "Neighbourhood radius eps (km)", DEFAULTS["eps_km"], minimum=0)
        _add_number(self, "MIN_WEIGHT", "Minimum summed weight of a core point", DEFAULTS["min_weight"], minimum=0)
        self.addParameter(QgsProcessingParameterEnum("METHOD", "Method", self.METHODS, defaultValue=0))
        _add_number(self, "MAX_SPAN_KM", "Largest cluster span with the split method (km)", DEFAULTS["max_span_km"],
                    minimum=0)
        _add_number(self, "BUFFER_KM", "Boundary buffer around the members (km)", DEFAULTS["buffer_km"], minimum=0)
        self.addParameter(QgsProcessingParameterEnum("HULL", "Boundary hull", self.HULLS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Clusters", QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFeatureSink("MEMBERS", "Points with cluster labels",
                                                            QgsProcessing.TypeVectorPoint))

    def run(self, parameters, context, feedback):
        import numpy as np

        from geocity.cluster import CityClusters

        pts = self._points(parameters, context, feedback)
        weight = self._field(parameters, "WEIGHT_FIELD", context)
        idf = self._field(parameters, "ID_FIELD", context)
        added = ["cluster_id", "cluster_name", "dbscan_label", "is_core", "is_pole"]
        clash = [c for c in added if c in pts.columns]
        if clash:
            raise QgsProcessingException(f"INPUT already has the field(s) {clash} that this algorithm adds; "
                                         "rename them first (nothing is overwritten)")
        data = pts.copy()
        data["city_id"] = (pts[idf] if idf else pts.index.to_series() + 1).astype(str)
        for param, col in (("NAME_FIELD", "name_en"), ("NAME_ZH_FIELD", "name_zh")):
            f = self._field(parameters, param, context)
            if f:
                data[col] = pts[f].astype(str)
        est = CityClusters(
            eps_km=self.parameterAsDouble(parameters, "EPS_KM", context),
            min_weight=self.parameterAsDouble(parameters, "MIN_WEIGHT", context),
            method=self.METHODS[self.parameterAsEnum(parameters, "METHOD", context)],
            max_span_km=self.parameterAsDouble(parameters, "MAX_SPAN_KM", context),
            buffer_km=self.parameterAsDouble(parameters, "BUFFER_KM", context),
            hull=self.HULLS[self.parameterAsEnum(parameters, "HULL", context)],
        )
        feedback.pushInfo(f"{len(data)} points, weight {weight!r}")
        est.fit(data, sample_weight=pts[weight].to_numpy(dtype=float))
        clusters = est.clusters_.copy()
        clusters["score"] = weight  # the weight used (CityClusters names the score it stands for)
        names = dict(zip(clusters["cluster_id"].tolist(), clusters["name"].tolist(), strict=True))
        poles = set(zip(est.members_.loc[est.members_["is_pole"], "city_id"].astype(str),
                        est.members_.loc[est.members_["is_pole"], "cluster_id"].astype(int), strict=True))
        labelled = pts.copy()
        labelled["cluster_id"] = est.labels_.astype(np.int64)
        labelled["cluster_name"] = [names.get(int(k)) for k in est.labels_]
        labelled["dbscan_label"] = est.dbscan_labels_.astype(np.int64)
        labelled["is_core"] = est.core_sample_mask_.astype(bool)
        labelled["is_pole"] = [(cid, int(k)) in poles for cid, k in zip(data["city_id"], est.labels_, strict=True)]
        out = write_sink(self, parameters, "OUTPUT", context, clusters, "polygon")
        members = write_sink(self, parameters, "MEMBERS", context, labelled, "point")
        feedback.pushInfo(f"{len(clusters)} clusters")
        return {"OUTPUT": out, "MEMBERS": members}


class CorridorMembers(_Base):
    """Points within a distance of the Belt and Road corridors (:func:`geocity.corridors.members`)."""

    _name = "corridor_members"
    _display = "Corridor membership"
    _help = (
        "Points within a distance (great-circle km) of economic corridors — the embedded Belt and Road corridors "
        "(CPEC, CMREC, CICPEC, NELB, CCWAEC, BCIMEC) or your own corridor line layer (a 'corridor' field, "
        "optional 'branch') — with distance_km, chainage_km along the branch, the nearest waypoint and the side "
        "(left/right of the direction of travel). Same result as geocity.corridors.members."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterString(
            "CORRIDORS", "Corridors (comma-separated names; empty: all)", "CPEC", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "CORRIDOR_LAYER", "Your corridor lines (optional; add to or replace the embedded ones)",
            [QgsProcessing.TypeVectorLine], optional=True))
        _add_number(self, "WITHIN_KM", "Within (km)", 100.0, minimum=0)
        self.addParameter(QgsProcessingParameterBoolean("KEEP_ALL", "Also keep points outside every corridor",
                                                        False))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Corridor members",
                                                            QgsProcessing.TypeVectorPoint))

    def run(self, parameters, context, feedback):
        from geocity import corridors

        pts = self._points(parameters, context, feedback)
        names = [n.strip() for n in (self.parameterAsString(parameters, "CORRIDORS", context) or "").split(",")
                 if n.strip()] or None
        within = self.parameterAsDouble(parameters, "WITHIN_KM", context)
        how = "all" if self.parameterAsBoolean(parameters, "KEEP_ALL", context) else "inner"
        with tempfile.TemporaryDirectory(prefix="geocity_corridors_") as tmp:
            path = self._corridor_file(parameters, context, feedback, tmp)
            m = corridors.members(pts, corridors=names, within_km=within, how=how, path=path, progress=False)
        m.attrs.clear()
        dest = write_sink(self, parameters, "OUTPUT", context, m, "point")
        feedback.pushInfo(f"{len(m)} rows")
        return {"OUTPUT": dest}

    def _corridor_file(self, parameters, context, feedback, tmp):
        source = self.parameterAsSource(parameters, "CORRIDOR_LAYER", context)
        if source is None:
            return None
        layer = source.materialize(_request(), feedback) if hasattr(source, "materialize") else None
        if layer is None:
            raise QgsProcessingException("CORRIDOR_LAYER: the layer could not be read")
        path = os.path.join(tmp, "corridors.geojson")
        opts = QgsVectorFileWriter.SaveVectorOptions()
        opts.driverName = "GeoJSON"
        opts.fileEncoding = "UTF-8"
        opts.ct = _to_wgs84(layer.crs(), context)
        err = QgsVectorFileWriter.writeAsVectorFormatV3(layer, path, context.transformContext(), opts)
        if err[0] != QgsVectorFileWriter.NoError:
            raise QgsProcessingException(f"CORRIDOR_LAYER: could not be read for geocity ({err[1]})")
        return path


def _request():
    from qgis.core import QgsFeatureRequest

    return QgsFeatureRequest()


def _to_wgs84(crs, context):
    from qgis.core import QgsCoordinateTransform

    if not crs.isValid():
        raise QgsProcessingException("CORRIDOR_LAYER: the layer has no CRS; set it and run again")
    return QgsCoordinateTransform(crs, QgsCoordinateReferenceSystem("EPSG:4326"), context.transformContext())


class Density(_Base):
    """Geodesic kernel density (:func:`geocity.density.density`) as a GeoTIFF."""

    _name = "density"
    _display = "Geodesic kernel density"
    _help = (
        "Weighted kernel density of a point layer with great-circle distances, on an equal-area grid of the "
        "given cell size (km), in weight per km²; the surface integrates to the total weight. Written as a "
        "GeoTIFF with its provenance (geocity.density.write_geotiff)."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        from geocity.density import KERNELS

        self.kernels = list(KERNELS)
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Weight field (empty: every point counts 1)",
                                                      None, "INPUT", QgsProcessingParameterField.Numeric,
                                                      optional=True))
        _add_number(self, "BANDWIDTH_KM", "Bandwidth (km)", 300.0, minimum=0)
        _add_number(self, "CELL_KM", "Cell size (km)", 25.0, minimum=0)
        self.addParameter(QgsProcessingParameterEnum("KERNEL", "Kernel", self.kernels, defaultValue=0))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Density"))

    def run(self, parameters, context, feedback):
        from geocity import density

        pts = self._points(parameters, context, feedback)
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        if os.path.splitext(out)[1].lower() not in (".tif", ".tiff"):
            raise QgsProcessingException(f"OUTPUT: a density surface is written as GeoTIFF; use a .tif file, not {out}")
        surface = density.density(
            pts, weight=self._field(parameters, "WEIGHT_FIELD", context),
            bandwidth_km=self.parameterAsDouble(parameters, "BANDWIDTH_KM", context),
            cell_km=self.parameterAsDouble(parameters, "CELL_KM", context),
            kernel=self.kernels[self.parameterAsEnum(parameters, "KERNEL", context)],
        )
        density.write_geotiff(surface, out, overwrite=True)  # QGIS has asked about replacing the file
        return {"OUTPUT": out}


class Links(_Base):
    """Great-circle links: gravity model (:func:`geocity.network.gravity_links`) or an edge table
    (:func:`geocity.network.edge_links`)."""

    _name = "links"
    _display = "Great-circle links"
    _help = (
        "Links between points as great-circle arcs (split at the antimeridian), either modelled by a gravity "
        "model — strength s_i*s_j / max(d_ij, minimum distance)^beta of the weight field, each point's top k — "
        "or observed, from an edge table whose source and target fields hold the points' ids (or names). "
        "Same result as geocity.network.gravity_links / edge_links."
    )
    MODES = ["gravity", "edges"]

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        from geocity import network

        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("ID_FIELD", "Unique id field", None, "INPUT"))
        self.addParameter(QgsProcessingParameterField("NAME_FIELD", "Name field", None, "INPUT", optional=True))
        self.addParameter(QgsProcessingParameterEnum("MODE", "Links from", self.MODES, defaultValue=0))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Mass field (gravity)", None, "INPUT",
                                                      QgsProcessingParameterField.Numeric, optional=True))
        _add_number(self, "BETA", "Distance-decay exponent beta (gravity)", network.REPORT_BETA, minimum=0)
        _add_number(self, "TOP_K", "Strongest links kept per point (gravity; 0: all)", network.REPORT_TOP_K,
                    minimum=0, integer=True)
        _add_number(self, "MIN_DISTANCE_KM", "Distance floor (km, gravity)", network.MIN_DISTANCE_KM, minimum=0)
        self.addParameter(QgsProcessingParameterFeatureSource("EDGES", "Edge table (edges)",
                                                              [QgsProcessing.TypeVector], optional=True))
        self.addParameter(QgsProcessingParameterField("SOURCE_FIELD", "Edge source field", "source", "EDGES",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField("TARGET_FIELD", "Edge target field", "target", "EDGES",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField("EDGE_WEIGHT_FIELD", "Edge weight field (default 1)", None,
                                                      "EDGES", QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Links", QgsProcessing.TypeVectorLine))

    def run(self, parameters, context, feedback):
        from geocity import network

        pts = self._points(parameters, context, feedback)
        cities = pts.copy()
        cities["city_id"] = pts[self._field(parameters, "ID_FIELD", context)].astype(str)
        name = self._field(parameters, "NAME_FIELD", context)
        if name:
            cities["name_en"] = pts[name].astype(str)
        if self.MODES[self.parameterAsEnum(parameters, "MODE", context)] == "gravity":
            weight = self._field(parameters, "WEIGHT_FIELD", context)
            if not weight:
                raise QgsProcessingException("WEIGHT_FIELD: the gravity model needs a mass field")
            top_k = self.parameterAsInt(parameters, "TOP_K", context)
            links = network.gravity_links(
                cities, dimension=weight, beta=self.parameterAsDouble(parameters, "BETA", context),
                top_k=top_k or None, min_distance_km=self.parameterAsDouble(parameters, "MIN_DISTANCE_KM", context))
        else:
            edges = self._edges(parameters, context, feedback)
            links = network.edge_links(edges, cities=cities)
        links.attrs.clear()
        dest = write_sink(self, parameters, "OUTPUT", context, links, "line")
        feedback.pushInfo(f"{len(links)} links")
        return {"OUTPUT": dest}

    def _edges(self, parameters, context, feedback):
        src = self.parameterAsSource(parameters, "EDGES", context)
        if src is None:
            raise QgsProcessingException("EDGES: links from an edge table need the EDGES table")
        table = source_frame(src, context, feedback, what="EDGES", points=False)
        cols = {"source": self._field(parameters, "SOURCE_FIELD", context) or "source",
                "target": self._field(parameters, "TARGET_FIELD", context) or "target"}
        w = self._field(parameters, "EDGE_WEIGHT_FIELD", context)
        if w:
            cols["weight"] = w
        missing = [f for f in cols.values() if f not in table.columns]
        if missing:
            raise QgsProcessingException(f"EDGES: no field(s) {missing}; choose the source/target fields")
        return table[list(cols.values())].set_axis(list(cols), axis=1)


class InstallGeocity(QgsProcessingAlgorithm):
    """Shown instead of the algorithms when the geocity package is missing: says how to install it."""

    def name(self):
        return "install_geocity"

    def displayName(self):  # noqa: N802 - QGIS API name
        return "Install geocity (the geocity Python package is missing)"

    def group(self):
        return GROUP

    def groupId(self):  # noqa: N802 - QGIS API name
        return "geocity"

    def shortHelpString(self):  # noqa: N802 - QGIS API name
        return install_text()

    def createInstance(self):  # noqa: N802 - QGIS API name
        return InstallGeocity()

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        pass

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        raise QgsProcessingException(install_text())


ALGORITHMS = (Clusters, CorridorMembers, Density, Links)
