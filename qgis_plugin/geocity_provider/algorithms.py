"""geocity's algorithms as Processing algorithms: thin wrappers over the
geocity Python API, run in geocity's own Python (``python -m
geocity.qgis_worker``, see :mod:`.install` for why not inside QGIS). No
analysis here: write the layers, run geocity, copy its results back.
Distances are great-circle km whatever the layer's CRS."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

from qgis.core import (
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
)

from .frames import copy_result, write_input, write_lines
from .install import _no_window, install_text, worker_env

GROUP = "geocity"


class _Base(QgsProcessingAlgorithm):
    """Shared plumbing: the geocity worker process, its errors and warnings shown in QGIS."""

    _name = ""
    _display = ""
    _help = ""
    #: (parameter, kind) of the layers written for the worker: kind is "points", "table" or "lines".
    _inputs: tuple = (("INPUT", "points"),)
    #: Vector outputs copied back into QGIS sinks.
    _sinks: tuple = ("OUTPUT",)

    def __init__(self, python: str = "", info: dict | None = None):
        super().__init__()
        self.python = python
        self.info = info or {}

    def name(self):
        return self._name

    def displayName(self):  # noqa: N802 - QGIS API name
        return self._display

    def group(self):
        return GROUP

    def groupId(self):  # noqa: N802 - QGIS API name
        return "geocity"

    def shortHelpString(self):  # noqa: N802 - QGIS API name
        return self._help + f" (geocity {self.info.get('version', '?')}, run with {self.python})"

    def createInstance(self):  # noqa: N802 - QGIS API name
        return type(self)(self.python, self.info)

    def _field(self, parameters, name, context):
        value = self.parameterAsString(parameters, name, context)
        return value or None

    def params(self, parameters, context) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API name
        with tempfile.TemporaryDirectory(prefix="geocity_qgis_") as tmp:
            request = {"algorithm": self._name, "params": self.params(parameters, context), "outputs": {}}
            for pname, kind in self._inputs:
                source = self.parameterAsSource(parameters, pname, context)
                if source is None and kind != "points":
                    continue  # an optional table or line layer not given
                path = os.path.join(tmp, f"{pname.lower()}.gpkg")
                if kind == "lines":
                    request["corridor_file"] = write_lines(source, path, context, feedback, what=pname)
                else:
                    key = "input" if pname == "INPUT" else "edges"
                    request[key] = write_input(source, path, context, feedback, what=pname,
                                               points=kind == "points")
            for sname in self._sinks:
                request["outputs"][sname] = os.path.join(tmp, f"{sname.lower()}_result.gpkg")
            raster = self.raster_output(parameters, context)
            if raster:
                request["outputs"]["OUTPUT"] = raster
            answer = self._run_worker(request, tmp, feedback)
            result = {}
            for sname in self._sinks:
                result[sname] = copy_result(self, parameters, sname, context, answer["outputs"][sname])
            if raster:
                result["OUTPUT"] = answer["outputs"]["OUTPUT"]
        return result

    def raster_output(self, parameters, context):
        return None

    def _run_worker(self, request, tmp, feedback) -> dict:
        req = os.path.join(tmp, "request.json")
        with open(req, "w", encoding="utf-8") as fh:
            json.dump(request, fh, ensure_ascii=False)
        feedback.pushInfo(f"geocity {self.info.get('version', '')}: {self._name} ({self.python})")
        env = worker_env(self.python)
        # output to files, not pipes: a chatty run cannot fill a pipe and stall
        out_path, err_path = os.path.join(tmp, "stdout.txt"), os.path.join(tmp, "stderr.txt")
        with open(out_path, "wb") as out_fh, open(err_path, "wb") as err_fh:
            proc = subprocess.Popen([self.python, "-m", "geocity.qgis_worker", req], stdout=out_fh, stderr=err_fh,
                                    stdin=subprocess.DEVNULL, env=env, **_no_window())
            while proc.poll() is None:
                if feedback.isCanceled():
                    proc.kill()
                    proc.wait()
                    raise QgsProcessingException("canceled")
                time.sleep(0.05)
        with open(out_path, encoding="utf-8", errors="replace") as fh:
            out = fh.read()
        with open(err_path, encoding="utf-8", errors="replace") as fh:
            err = fh.read()
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise QgsProcessingException(
                f"geocity failed ({self.python} -m geocity.qgis_worker, exit {proc.returncode}): "
                + (err.strip()[-3000:] or "no output")) from None
        for w in answer.get("warnings", []):
            feedback.pushWarning(w)
        if not answer.get("ok"):
            raise QgsProcessingException(answer.get("error", "geocity failed"))
        return answer


def _add_number(alg, name, label, default, *, minimum=None, integer=False, optional=False):
    kind = QgsProcessingParameterNumber.Integer if integer else QgsProcessingParameterNumber.Double
    p = QgsProcessingParameterNumber(name, label, kind, default, optional)
    if minimum is not None:
        p.setMinimum(minimum)
    alg.addParameter(p)


class Clusters(_Base):
    """Weighted geodesic DBSCAN clusters of any point layer (geocity.cluster.CityClusters)."""

    _name = "clusters"
    _display = "Weighted geodesic DBSCAN clusters"
    _help = (
        "Clusters of a point layer by weighted DBSCAN on great-circle distances (km on the sphere, any CRS, "
        "across the antimeridian and the poles): a point is a core point when the summed weight of the points "
        "within eps km reaches the minimum weight; geocity's method (default first: its regions cut at their "
        "long links, clusters wider than the maximum span split around their poles; 'dbscan': plain) "
        "gives the clusters. Outputs the cluster boundaries (the members' hull buffered by the boundary "
        "buffer) and every input point with its cluster_id (-1: in no cluster), cluster_name, dbscan_label, "
        "is_core and is_pole. Same result as geocity.cluster.CityClusters (and `geocity clusters` on the "
        "report's cities)."
    )
    _sinks = ("OUTPUT", "MEMBERS")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        d = self.info.get("clusters", {})
        # geocity's own choices, its default first (the plugin follows the installed geocity)
        self.METHODS = list(d.get("methods", ["split", "dbscan"]))
        self.HULLS = list(d.get("hulls", ["convex", "concave"]))
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Weight field (≥ 0)", None, "INPUT",
                                                      QgsProcessingParameterField.Numeric))
        self.addParameter(QgsProcessingParameterField("ID_FIELD", "Unique id field (default: row number)", None,
                                                      "INPUT", QgsProcessingParameterField.Any, optional=True))
        self.addParameter(QgsProcessingParameterField("NAME_FIELD", "Name field (cluster names)", None, "INPUT",
                                                      QgsProcessingParameterField.Any, optional=True))
        self.addParameter(QgsProcessingParameterField("NAME_ZH_FIELD", "Chinese name field", None, "INPUT",
                                                      QgsProcessingParameterField.Any, optional=True))
        _add_number(self, "EPS_KM", "Neighbourhood radius eps (km)", d.get("eps_km", 450.0), minimum=0)
        _add_number(self, "MIN_WEIGHT", "Minimum summed weight of a core point", d.get("min_weight", 0.45),
                    minimum=0)
        self.addParameter(QgsProcessingParameterEnum("METHOD", "Method (geocity's default first)", self.METHODS,
                                                     defaultValue=0))
        _add_number(self, "MAX_SPAN_KM", "Largest cluster span with the split method (km)",
                    d.get("max_span_km", 700.0), minimum=0)
        _add_number(self, "BUFFER_KM", "Boundary buffer around the members (km)", d.get("buffer_km", 30.0),
                    minimum=0)
        self.addParameter(QgsProcessingParameterEnum("HULL", "Boundary hull", self.HULLS, defaultValue=0))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Clusters", QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFeatureSink("MEMBERS", "Points with cluster labels",
                                                            QgsProcessing.TypeVectorPoint))

    def params(self, parameters, context):
        return {
            "weight_field": self._field(parameters, "WEIGHT_FIELD", context),
            "id_field": self._field(parameters, "ID_FIELD", context),
            "name_field": self._field(parameters, "NAME_FIELD", context),
            "name_zh_field": self._field(parameters, "NAME_ZH_FIELD", context),
            "eps_km": self.parameterAsDouble(parameters, "EPS_KM", context),
            "min_weight": self.parameterAsDouble(parameters, "MIN_WEIGHT", context),
            "method": self.METHODS[self.parameterAsEnum(parameters, "METHOD", context)],
            "max_span_km": self.parameterAsDouble(parameters, "MAX_SPAN_KM", context),
            "buffer_km": self.parameterAsDouble(parameters, "BUFFER_KM", context),
            "hull": self.HULLS[self.parameterAsEnum(parameters, "HULL", context)],
        }


class CorridorMembers(_Base):
    """Points within a distance of economic corridors (geocity.corridors.members)."""

    _name = "corridor_members"
    _display = "Corridor membership"
    _help = (
        "Points within a distance (great-circle km) of economic corridors — the embedded Belt and Road corridors "
        "or your own corridor line layer (a 'corridor' field, optional 'branch'), which adds to or replaces "
        "them — with distance_km, chainage_km along the branch, the nearest waypoint and the side of the line. "
        "Same result as geocity.corridors.members."
    )
    _inputs = (("INPUT", "points"), ("CORRIDOR_LAYER", "lines"))

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        names = ", ".join(self.info.get("corridors", []))
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterString(
            "CORRIDORS", f"Corridors, comma-separated (embedded: {names}); empty: all", "CPEC", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            "CORRIDOR_LAYER", "Your corridor lines (optional)", [QgsProcessing.TypeVectorLine], optional=True))
        _add_number(self, "WITHIN_KM", "Within (km)", 100.0, minimum=0)
        self.addParameter(QgsProcessingParameterBoolean("KEEP_ALL", "Also keep points outside every corridor",
                                                        False))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Corridor members",
                                                            QgsProcessing.TypeVectorPoint))

    def params(self, parameters, context):
        return {
            "corridors": self.parameterAsString(parameters, "CORRIDORS", context) or "",
            "within_km": self.parameterAsDouble(parameters, "WITHIN_KM", context),
            "keep_all": self.parameterAsBoolean(parameters, "KEEP_ALL", context),
        }


class Density(_Base):
    """Geodesic kernel density (geocity.density.density) as a GeoTIFF."""

    _name = "density"
    _display = "Geodesic kernel density"
    _help = (
        "Weighted kernel density of a point layer with great-circle distances, on an equal-area grid of the "
        "given cell size (km), in weight per km²; the surface integrates to the total weight. Written as a "
        "GeoTIFF with its provenance (geocity.density.write_geotiff)."
    )
    _sinks = ()

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        self.kernels = list(self.info.get("kernels", ["gaussian"]))
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Weight field (empty: every point counts 1)",
                                                      None, "INPUT", QgsProcessingParameterField.Numeric,
                                                      optional=True))
        _add_number(self, "BANDWIDTH_KM", "Bandwidth (km)", 300.0, minimum=0)
        _add_number(self, "CELL_KM", "Cell size (km)", 25.0, minimum=0)
        self.addParameter(QgsProcessingParameterEnum("KERNEL", "Kernel", self.kernels, defaultValue=0))
        self.addParameter(QgsProcessingParameterRasterDestination("OUTPUT", "Density"))

    def params(self, parameters, context):
        return {
            "weight_field": self._field(parameters, "WEIGHT_FIELD", context),
            "bandwidth_km": self.parameterAsDouble(parameters, "BANDWIDTH_KM", context),
            "cell_km": self.parameterAsDouble(parameters, "CELL_KM", context),
            "kernel": self.kernels[self.parameterAsEnum(parameters, "KERNEL", context)],
        }

    def raster_output(self, parameters, context):
        out = self.parameterAsOutputLayer(parameters, "OUTPUT", context)
        if os.path.splitext(out)[1].lower() not in (".tif", ".tiff"):
            raise QgsProcessingException(f"OUTPUT: a density surface is written as GeoTIFF; use a .tif file, not {out}")
        return out


class Links(_Base):
    """Great-circle links: gravity model or edge table (geocity.network.gravity_links / edge_links)."""

    _name = "links"
    _display = "Great-circle links"
    _help = (
        "Links between points as great-circle arcs (split at the antimeridian), either modelled by a gravity "
        "model — strength s_i*s_j / max(d_ij, minimum distance)^beta of the mass field, each point's top k — "
        "or observed, from an edge table whose source and target fields hold the points' ids (or names). "
        "Same result as geocity.network.gravity_links / edge_links."
    )
    _inputs = (("INPUT", "points"), ("EDGES", "table"))
    MODES = ["gravity", "edges"]

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API name
        d = self.info.get("links", {})
        self.addParameter(QgsProcessingParameterFeatureSource("INPUT", "Points", [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField("ID_FIELD", "Unique id field", None, "INPUT"))
        self.addParameter(QgsProcessingParameterField("NAME_FIELD", "Name field", None, "INPUT", optional=True))
        self.addParameter(QgsProcessingParameterEnum("MODE", "Links from", self.MODES, defaultValue=0))
        self.addParameter(QgsProcessingParameterField("WEIGHT_FIELD", "Mass field (gravity)", None, "INPUT",
                                                      QgsProcessingParameterField.Numeric, optional=True))
        _add_number(self, "BETA", "Distance-decay exponent beta (gravity)", d.get("beta", 2.0), minimum=0)
        _add_number(self, "TOP_K", "Strongest links kept per point (gravity; 0: all)", d.get("top_k", 5),
                    minimum=0, integer=True)
        _add_number(self, "MIN_DISTANCE_KM", "Distance floor (km, gravity)", d.get("min_distance_km", 50.0),
                    minimum=0)
        self.addParameter(QgsProcessingParameterFeatureSource("EDGES", "Edge table (edges)",
                                                              [QgsProcessing.TypeVector], optional=True))
        self.addParameter(QgsProcessingParameterField("SOURCE_FIELD", "Edge source field", "source", "EDGES",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField("TARGET_FIELD", "Edge target field", "target", "EDGES",
                                                      optional=True))
        self.addParameter(QgsProcessingParameterField("EDGE_WEIGHT_FIELD", "Edge weight field (default 1)", None,
                                                      "EDGES", QgsProcessingParameterField.Numeric, optional=True))
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "Links", QgsProcessing.TypeVectorLine))

    def params(self, parameters, context):
        return {
            "id_field": self._field(parameters, "ID_FIELD", context),
            "name_field": self._field(parameters, "NAME_FIELD", context),
            "mode": self.MODES[self.parameterAsEnum(parameters, "MODE", context)],
            "weight_field": self._field(parameters, "WEIGHT_FIELD", context),
            "beta": self.parameterAsDouble(parameters, "BETA", context),
            "top_k": self.parameterAsInt(parameters, "TOP_K", context),
            "min_distance_km": self.parameterAsDouble(parameters, "MIN_DISTANCE_KM", context),
            "source_field": self._field(parameters, "SOURCE_FIELD", context),
            "target_field": self._field(parameters, "TARGET_FIELD", context),
            "edge_weight_field": self._field(parameters, "EDGE_WEIGHT_FIELD", context),
        }


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
