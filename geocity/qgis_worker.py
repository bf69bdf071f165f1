"""The geocity side of the QGIS Processing provider: runs one algorithm on
files and answers in JSON.

The QGIS plugin (``qgis_plugin/geocity_provider``, built by ``geocity
qgis-plugin``) does not import geocity into QGIS's own process: on Linux,
QGIS has the system's GEOS, PROJ and GDAL loaded with global symbols, and
the wheels of shapely, pyproj, pyogrio and rasterio bring other versions of
the same libraries, whose symbols then mix (wrong results, crashes).
Instead the plugin writes its input layers to a temporary GeoPackage and
runs ``python -m geocity.qgis_worker REQUEST.json`` with a Python that has
geocity installed; this module calls the Python API — the same functions
as the command line, no analysis of its own — writes the results where the
request says and prints one JSON line::

    {"ok": true, "outputs": {...}, "info": [...], "warnings": [...]}
    {"ok": false, "error": "<geocity's message>"}

``python -m geocity.qgis_worker --describe`` prints the version and the
defaults the plugin shows in its dialogs.

A request is ``{"algorithm": name, "input": path, "params": {...},
"outputs": {...}}`` with ``edges`` (links from an edge table) and
``corridor_file`` (the user's corridor lines) where they apply. Temporary
results are GeoPackage 1.2 (read fully by the GDAL of QGIS 3.22).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

from .errors import GeocityError, ValidationError

__all__ = ["ALGORITHMS", "describe", "run", "main"]

#: GeoPackage version of the temporary results (GDAL 3.6, QGIS 3.22's, warns on 1.4).
GPKG_VERSION = "1.2"


def describe() -> dict[str, Any]:
    """geocity's version and the defaults of the algorithms' parameters."""
    from . import __version__, corridors, network
    from .cluster import CityClusters
    from .density import KERNELS

    est = CityClusters()
    choices = {}
    for k in ("method", "hull"):  # geocity's own choices, its default first
        options = sorted(getattr(CityClusters._parameter_constraints[k][0], "options", ()))
        default = getattr(est, k)
        choices[k] = [default] + [o for o in options if o != default]
    return {
        "version": __version__,
        "clusters": {**{k: getattr(est, k) for k in ("eps_km", "min_weight", "max_span_km", "buffer_km")},
                     "methods": choices["method"], "hulls": choices["hull"]},
        "corridors": corridors.available(),
        "kernels": list(KERNELS),
        "links": {"beta": network.REPORT_BETA, "top_k": network.REPORT_TOP_K,
                  "min_distance_km": network.MIN_DISTANCE_KM},
    }


def _read(path, *, geometry: bool = True):
    import geopandas as gpd
    import pyogrio

    if geometry:
        return gpd.read_file(path, engine="pyogrio")
    return pyogrio.read_dataframe(path, read_geometry=False)


def _write(frame, path, geometry_type: str) -> str:
    """A result as a one-layer GeoPackage 1.2 in WGS 84, rows in order."""
    import pyogrio

    frame = frame.copy()
    frame.attrs.clear()
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    pyogrio.write_dataframe(frame, path, layer="result", driver="GPKG", geometry_type=geometry_type,
                            promote_to_multi=geometry_type.startswith("Multi"),
                            dataset_options={"VERSION": GPKG_VERSION})
    return str(path)


def _column(frame, name: str | None, what: str):
    if name is None:
        return None
    if name not in frame.columns:
        raise ValidationError(f"{what}: no field {name!r} in the input layer; choose one of {list(frame.columns)}")
    return frame[name]


def _clusters(req: dict) -> dict[str, str]:
    import numpy as np

    from .cluster import CityClusters

    p = req["params"]
    pts = _read(req["input"])
    added = ["cluster_id", "cluster_name", "dbscan_label", "is_core", "is_pole"]
    clash = [c for c in added if c in pts.columns]
    if clash:
        raise ValidationError(f"INPUT already has the field(s) {clash} that this algorithm adds; rename them "
                              "first (nothing is overwritten)")
    weight = _column(pts, p["weight_field"], "WEIGHT_FIELD")
    if weight is None:
        raise ValidationError("WEIGHT_FIELD: choose the numeric field that weighs each point")
    data = pts.copy()
    ids = _column(pts, p.get("id_field"), "ID_FIELD")
    data["city_id"] = (ids if ids is not None else pts.index.to_series() + 1).astype(str)
    for key, col in (("name_field", "name_en"), ("name_zh_field", "name_zh")):
        s = _column(pts, p.get(key), key.upper())
        if s is not None:
            data[col] = s.astype(str)
    est = CityClusters(eps_km=p["eps_km"], min_weight=p["min_weight"], method=p["method"],
                       max_span_km=p["max_span_km"], buffer_km=p["buffer_km"], hull=p["hull"])
    est.fit(data, sample_weight=weight.to_numpy(dtype=float))
    clusters = est.clusters_.copy()
    clusters["score"] = p["weight_field"]  # the weight used (CityClusters names the score it stands for)
    names = dict(zip(clusters["cluster_id"].tolist(), clusters["name"].tolist(), strict=True))
    m = est.members_
    poles = set(zip(m.loc[m["is_pole"], "city_id"].astype(str), m.loc[m["is_pole"], "cluster_id"].astype(int),
                    strict=True))
    labelled = pts.copy()
    labelled["cluster_id"] = est.labels_.astype(np.int64)
    labelled["cluster_name"] = [names.get(int(k)) for k in est.labels_]
    labelled["dbscan_label"] = est.dbscan_labels_.astype(np.int64)
    labelled["is_core"] = np.asarray(est.core_sample_mask_, dtype=bool)
    labelled["is_pole"] = [(c, int(k)) in poles for c, k in zip(data["city_id"], est.labels_, strict=True)]
    out = req["outputs"]
    return {"OUTPUT": _write(clusters, out["OUTPUT"], "MultiPolygon"),
            "MEMBERS": _write(labelled, out["MEMBERS"], "Point")}


def _corridor_members(req: dict) -> dict[str, str]:
    from . import corridors

    p = req["params"]
    path = req.get("corridor_file")
    names = [n.strip() for n in (p.get("corridors") or "").split(",") if n.strip()] or corridors.available(path=path)
    m = corridors.members(_read(req["input"]), corridors=names, within_km=p["within_km"],
                          how="all" if p.get("keep_all") else "inner", path=path, progress=False)
    return {"OUTPUT": _write(m, req["outputs"]["OUTPUT"], "Point")}


def _density(req: dict) -> dict[str, str]:
    from . import density

    p = req["params"]
    surface = density.density(_read(req["input"]), weight=p.get("weight_field"), bandwidth_km=p["bandwidth_km"],
                              cell_km=p["cell_km"], kernel=p["kernel"])
    # QGIS asks before it replaces a file the user chose, and its temporary outputs are new files
    return {"OUTPUT": str(density.write_geotiff(surface, req["outputs"]["OUTPUT"], overwrite=True))}


def _links(req: dict) -> dict[str, str]:
    from . import network

    p = req["params"]
    pts = _read(req["input"])
    cities = pts.copy()
    ids = _column(pts, p.get("id_field"), "ID_FIELD")
    if ids is None:
        raise ValidationError("ID_FIELD: choose the field with each point's unique id")
    cities["city_id"] = ids.astype(str)
    name = _column(pts, p.get("name_field"), "NAME_FIELD")
    if name is not None:
        cities["name_en"] = name.astype(str)
    if p["mode"] == "gravity":
        if not p.get("weight_field"):
            raise ValidationError("WEIGHT_FIELD: the gravity model needs a mass field")
        _column(pts, p["weight_field"], "WEIGHT_FIELD")
        links = network.gravity_links(cities, dimension=p["weight_field"], beta=p["beta"],
                                      top_k=p["top_k"] or None, min_distance_km=p["min_distance_km"])
    else:
        if not req.get("edges"):
            raise ValidationError("EDGES: links from an edge table need the EDGES table")
        table = _read(req["edges"], geometry=False)
        cols = {"source": p.get("source_field") or "source", "target": p.get("target_field") or "target"}
        if p.get("edge_weight_field"):
            cols["weight"] = p["edge_weight_field"]
        missing = [f for f in cols.values() if f not in table.columns]
        if missing:
            raise ValidationError(f"EDGES: no field(s) {missing}; choose the source and target fields "
                                  f"among {list(table.columns)}")
        links = network.edge_links(table[list(cols.values())].set_axis(list(cols), axis=1), cities=cities)
    return {"OUTPUT": _write(links, req["outputs"]["OUTPUT"], "MultiLineString")}


#: Algorithm name → function(request) → outputs.
ALGORITHMS: dict[str, Callable[[dict], dict[str, str]]] = {
    "clusters": _clusters,
    "corridor_members": _corridor_members,
    "density": _density,
    "links": _links,
}


def run(request: dict) -> dict[str, Any]:
    """Run one request (see the module docstring); geocity's errors become ``{"ok": false, "error": ...}``."""
    info: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            name = request.get("algorithm") if isinstance(request, dict) else None
            if name not in ALGORITHMS:
                raise ValidationError(f"unknown algorithm {str(name)[:80]!r}; one of {sorted(ALGORITHMS)}")
            outputs = ALGORITHMS[name](request)
        except GeocityError as exc:
            return {"ok": False, "error": str(exc), "warnings": _warnings(caught)}
    return {"ok": True, "outputs": outputs, "info": info, "warnings": _warnings(caught)}


def _warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning,
                                                                          PendingDeprecationWarning))]


def main(argv: list[str] | None = None) -> int:
    """``python -m geocity.qgis_worker REQUEST.json`` or ``--describe``; prints one JSON line."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--describe"]:
        print(json.dumps(describe()))
        return 0
    if len(argv) != 1:
        print("usage: python -m geocity.qgis_worker REQUEST.json | --describe", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    answer = run(request)
    print(json.dumps(answer, ensure_ascii=False))
    return 0 if answer["ok"] else 1


if __name__ == "__main__":  # pragma: no cover - the plugin's entry point
    sys.exit(main())
