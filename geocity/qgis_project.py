"""A QGIS project (``.qgs``) that opens an output folder as one map.

:func:`write_project` writes a QGIS 3 project file listing the layers of
the given files, grouped by the folder they are in (clusters, corridors,
network, density, the embedded layers), with paths relative to the project
(``./clusters/clusters.shp``), so the folder can be moved or zipped as a
whole. Each layer carries the default style written with the data: the
same-named ``.qml`` beside a shapefile, GeoTIFF or CSV, or the default
style in a GeoPackage's ``layer_styles`` table (and a same-named ``.qmd``
as its metadata). QGIS applies a layer's default style when the layer is
added by hand, but not when it is read from a project, which keeps the
style it stores — so the project copies that style in, and a staffer sees
the same looks either way. A layer with no default style is left to QGIS.

The file is written as XML by geocity itself, not through PyQGIS: the main
job runs in geocity's own Python, where QGIS's Python bindings are not
importable (they are built for the system Python that QGIS ships with), and
the same files give the same project byte for byte (no save date, no random
layer ids). Every user string (a file or layer name) is escaped by
:mod:`xml.etree.ElementTree`, never formatted into XML text.

Examples
--------
>>> from geocity.qgis_project import project_layers
>>> [(l.group, l.name, l.kind) for l in project_layers("out", ["clusters/clusters.shp"])]  # doctest: +SKIP
[('clusters', 'clusters', 'vector')]
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote

from .errors import ValidationError

__all__ = ["ProjectLayer", "GROUPS", "default_style", "project_layers", "project_xml", "write_project"]

#: Layer-tree groups: the output sub-folder → (English, Chinese) group name, top of the tree first.
GROUPS: dict[str, tuple[str, str]] = {
    "clusters": ("City clusters", "活力城市聚落"),
    "corridors": ("Economic corridors", "经济走廊"),
    "network": ("City networks", "城市网络"),
    "density": ("Density surfaces", "密度表面"),
    "layers": ("Reference layers", "基础图层"),
}
#: Group of files in other folders (or at the top of the output folder).
OTHER_GROUP: tuple[str, str] = ("Other layers", "其他图层")

#: Layers shown when the project opens (the report's map); every other layer is listed but switched off.
VISIBLE: tuple[str, ...] = (
    "layers/basemap", "layers/cities", "clusters/clusters", "corridors/corridor_lines",
    "corridors/corridor_buffers_*", "density/composite_density",
)

_VECTOR_EXTS = (".gpkg", ".shp", ".geojson", ".fgb", ".vrt")
_RASTER_EXTS = (".tif", ".tiff")
#: Internal tables of a GeoPackage that are not layers.
_GPKG_INTERNAL = re.compile(r"^(gpkg_|rtree_|layer_styles$|qgis_projects$|sqlite_)", re.I)
#: Geometry rank within a group: points drawn above lines above polygons above rasters; tables last.
_ORDER = {"point": 0, "line": 1, "polygon": 2, "unknown": 3, "raster": 4, "table": 5}

#: The project's CRS (WGS 84); QGIS reprojects every layer on the fly.
PROJECT_CRS = "EPSG:4326"


@dataclass(frozen=True)
class ProjectLayer:
    """One layer of the project.

    Attributes
    ----------
    rel
        Path of the file relative to the project's folder, with ``/``.
    name
        Layer name shown in QGIS.
    group
        Output sub-folder (a key of :data:`GROUPS`, or ``""``).
    kind
        ``"vector"`` or ``"raster"``.
    provider
        QGIS data provider: ``ogr``, ``gdal`` or ``delimitedtext``.
    source
        The data source as the project stores it (relative).
    geometry
        ``point``, ``line``, ``polygon``, ``raster``, ``table`` or ``unknown``.
    visible
        Switched on when the project opens.
    crs_authid, crs_wkt
        The layer's CRS: its authority code (``EPSG:4326``; empty if it has
        none) and WKT; both empty for a table.
    """

    rel: str
    name: str
    group: str
    kind: str
    provider: str
    source: str
    geometry: str
    visible: bool
    crs_authid: str = ""
    crs_wkt: str = ""

    @property
    def layer_id(self) -> str:
        """A stable layer id from the relative source (QGIS needs unique ids, not random ones)."""
        return "geocity_" + re.sub(r"[^A-Za-z0-9]+", "_", self.source.removeprefix("./")).strip("_")


def _geometry_kind(geometry_type: str | None) -> str:
    g = (geometry_type or "").lower()
    for kind in ("point", "line", "polygon"):
        if kind in g:
            return kind
    return "table" if not g else "unknown"


def _crs_fields(crs) -> tuple[str, str]:
    """``(authid, wkt)`` of a CRS (anything pyproj reads); ``authid`` empty when it has no code.
    QGIS reads a CRS from a project by its WKT."""
    if crs is None or crs == "":
        return "", ""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    auth = c.to_authority(min_confidence=90)
    if auth:
        c = CRS.from_authority(*auth)  # the registry's definition, the same whatever the file wrote
    return (f"{auth[0]}:{auth[1]}" if auth else ""), c.to_wkt()


def _vector_layers(path: Path) -> list[tuple[str | None, str, tuple[str, str]]]:
    """``(layer name or None, geometry kind, (authid, wkt))`` of each layer of a vector file."""
    import pyogrio

    names: list[str | None] = [None]
    if path.suffix.lower() == ".gpkg":
        names = [str(n) for n, _ in pyogrio.list_layers(path) if not _GPKG_INTERNAL.match(str(n))]
    out: list[tuple[str | None, str, tuple[str, str]]] = []
    for name in names:
        info = pyogrio.read_info(path, layer=name)
        kind = _geometry_kind(info.get("geometry_type"))
        out.append((name, kind, _crs_fields(info.get("crs")) if kind != "table" else ("", "")))
    return out


def _raster_crs(path: Path) -> tuple[str, str]:
    import rasterio

    with rasterio.open(path) as src:
        return _crs_fields(src.crs.to_wkt() if src.crs else None)


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def _visible(rel_stem: str) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(rel_stem, pat) for pat in VISIBLE)


def _layer_name(rel: str) -> str:
    """``clusters/clusters_members.csv.vrt`` → ``clusters_members``."""
    name = Path(rel).name
    for suffix in (".vrt", ".csv"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem if Path(name).suffix.lower() in _VECTOR_EXTS + _RASTER_EXTS else name


def _csv_layer(rel: str, path: Path, group: str, stem: str) -> ProjectLayer:
    header = _csv_header(path)
    name = _layer_name(rel)
    if "lat" in header and "lon" in header:
        # points from the coordinates: the delimited-text provider takes a file URL, which QGIS keeps
        # relative to the project
        params = "type=csv&detectTypes=yes&encoding=UTF-8&xField=lon&yField=lat&crs=EPSG:4326&spatialIndex=no"
        source = "file:" + quote(f"./{rel}", safe="/.-_~") + "?" + params
        return ProjectLayer(rel, name, group, "vector", "delimitedtext", source, "point", _visible(stem),
                            *_crs_fields("EPSG:4326"))
    # a table: through GDAL, which reads the column types of a .csvt beside it
    return ProjectLayer(rel, name, group, "vector", "ogr", f"./{rel}", "table", _visible(stem))


def project_layers(root: str | os.PathLike, files: Iterable[str | os.PathLike]) -> list[ProjectLayer]:
    """The layers of ``files`` (paths relative to ``root`` or absolute inside it), in layer-tree order.

    Vector files (GeoPackage — one layer per table, internal tables left out —
    shapefile, GeoJSON, FlatGeobuf, VRT), GeoTIFFs and CSV tables (as points
    when they have ``lat``/``lon`` columns) become layers; sidecars
    (``.meta.json``, ``.qml``, ``.fields.csv``, the parts of a shapefile),
    figures and web pages do not. A CSV with a same-named GeoPackage or VRT
    beside it (``x.gpkg``, ``x.vrt`` or ``x.csv.vrt``) is listed once,
    through that layer; a CSV without coordinates is a table read by GDAL
    (which honours a ``.csvt`` of column types).

    Parameters
    ----------
    root
        The project's folder; every file must be inside it.
    files
        The files the run wrote.

    Returns
    -------
    list of ProjectLayer
        Grouped in the order of :data:`GROUPS`; within a group points, lines,
        polygons, rasters, then tables, each by name.

    Raises
    ------
    ValidationError
        A file outside ``root``.
    """
    root = Path(root)
    rels = []
    for f in files:
        p = Path(f)
        if p.is_absolute():
            try:
                p = p.relative_to(root)
            except ValueError:
                raise ValidationError(f"{f}: a project layer must be inside the project's folder {root}") from None
        if ".." in p.parts:
            raise ValidationError(f"{f}: a project layer must be inside the project's folder {root}")
        rels.append(p.as_posix())
    have = set(rels)
    layers: list[ProjectLayer] = []
    for rel in sorted(have):
        path = root / rel
        suffix = Path(rel).suffix.lower()
        group = rel.split("/", 1)[0] if "/" in rel else ""
        stem = rel[: -len(suffix)] if suffix else rel
        if not path.is_file() or rel.endswith(".fields.csv"):
            continue
        if suffix in _RASTER_EXTS:
            layers.append(ProjectLayer(rel, _layer_name(rel), group, "raster", "gdal", f"./{rel}", "raster",
                                       _visible(stem), *_raster_crs(path)))
        elif suffix in _VECTOR_EXTS:
            found = _vector_layers(path)
            for lname, kind, crs in found:
                source = f"./{rel}" + (f"|layername={lname}" if lname is not None else "")
                name = f"{_layer_name(rel)} — {lname}" if len(found) > 1 else _layer_name(rel)
                layers.append(ProjectLayer(rel, name, group, "vector", "ogr", source, kind, _visible(stem), *crs))
        elif suffix == ".csv" and not ({stem + ".gpkg", stem + ".vrt", rel + ".vrt"} & have):
            layers.append(_csv_layer(rel, path, group, stem))
    groups = list(GROUPS)
    return sorted(layers, key=lambda lyr: (groups.index(lyr.group) if lyr.group in groups else len(groups),
                                           lyr.group, _ORDER[lyr.geometry], lyr.name, lyr.source))


#: Largest style or metadata document copied into the project (bytes).
MAX_STYLE_BYTES = 16 * 2**20


def _parse_style(text: str | bytes | None, where: str) -> ET.Element | None:
    if not text or len(text) > MAX_STYLE_BYTES:
        return None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValidationError(f"{where}: not a QGIS style document ({exc}); rewrite the output") from None
    return root if root.tag == "qgis" else None


def _gpkg_style(path: Path, layer: str) -> ET.Element | None:
    """The default style of ``layer`` in a GeoPackage's ``layer_styles`` table, if any."""
    import sqlite3

    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT styleQML FROM layer_styles WHERE f_table_name = ? ORDER BY useAsDefault DESC, id LIMIT 1",
            (layer,),
        ).fetchone()
    except sqlite3.DatabaseError:  # no layer_styles table
        row = None
    finally:
        con.close()
    return _parse_style(row[0] if row else None, f"{path} (layer_styles of {layer})")


def _sidecar(path: Path, suffix: str) -> ET.Element | None:
    # a CSV's sidecars are x.csv.qml/.qmd (geocity.qgis_style.sidecar_files): x.qml belongs to x.shp
    side = path.with_name(path.name + suffix) if path.suffix.lower() == ".csv" else path.with_suffix(suffix)
    if not side.is_file():
        return None
    return _parse_style(side.read_bytes(), str(side))


def default_style(root: str | os.PathLike, layer: ProjectLayer) -> tuple[ET.Element | None, ET.Element | None]:
    """``(style, metadata)`` QGIS would load by default for ``layer``: the ``<qgis>`` root of its
    ``.qml`` sidecar or GeoPackage default style (for a GeoJSON or FlatGeobuf without a sidecar, the
    style :func:`geocity.qgis_style.style_for_file` gives it), and of its ``.qmd`` sidecar; None where
    there is none."""
    path = Path(root) / layer.rel
    style = None
    if path.suffix.lower() == ".gpkg" and "|layername=" in layer.source:
        style = _gpkg_style(path, layer.source.split("|layername=", 1)[1])
    if style is None:
        style = _sidecar(path, ".qml")
    if style is None and path.suffix.lower() in (".geojson", ".fgb"):
        # GeoJSON and FlatGeobuf carry no sidecar (x.geojson and x.shp would share x.qml):
        # the project carries the style geocity gives the file (corridor lines and buffers)
        from .qgis_style import style_for_file

        style = _parse_style(style_for_file(path), str(path))
    return style, _sidecar(path, ".qmd")


def _add_style(ml: ET.Element, style: ET.Element | None, metadata: ET.Element | None) -> None:
    """Copy a style document's settings (root attributes such as ``labelsEnabled`` and every
    element) into a ``<maplayer>``, as QGIS itself stores a layer's style in a project."""
    if style is not None:
        for k, v in style.attrib.items():
            if k != "version":
                ml.set(k, v)
        ml.extend(list(style))
    if metadata is not None:
        res = ET.SubElement(ml, "resourceMetadata")
        res.extend(list(metadata))


def _group_name(group: str) -> str:
    en, zh = GROUPS.get(group, OTHER_GROUP)
    return f"{en} / {zh}"


def _crs(parent: ET.Element, tag: str, authid: str, wkt: str = "") -> None:
    srs = ET.SubElement(ET.SubElement(parent, tag), "spatialrefsys")
    ET.SubElement(srs, "wkt").text = wkt or _crs_fields(authid)[1]
    if authid:
        ET.SubElement(srs, "authid").text = authid


def project_xml(layers: Sequence[ProjectLayer], *, title: str = "geocity",
                root: str | os.PathLike | None = None) -> bytes:
    """The ``.qgs`` XML of a project with ``layers`` (see :func:`project_layers`), as UTF-8 bytes.

    The project holds the layer tree (one group per output folder, each
    layer switched on or off), the layer sources (relative), their CRS, the
    project CRS (WGS 84), a world extent and, when ``root`` (the project's
    folder) is given, each layer's default style and metadata
    (:func:`default_style`). Deterministic: the same files give the same bytes.
    """
    from . import __version__

    qgis = ET.Element("qgis", {"projectname": title, "version": "3.22.0-Białowieża"})
    ET.SubElement(qgis, "title").text = title
    _crs(qgis, "projectCrs", PROJECT_CRS)
    tree = ET.SubElement(qgis, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    by_group: dict[str, ET.Element] = {}
    for lyr in layers:
        g = by_group.get(lyr.group)
        if g is None:
            g = ET.SubElement(tree, "layer-tree-group", {"name": _group_name(lyr.group), "checked": "Qt::Checked",
                                                         "expanded": "1"})
            ET.SubElement(g, "customproperties")
            by_group[lyr.group] = g
        ET.SubElement(g, "layer-tree-layer", {
            "id": lyr.layer_id, "name": lyr.name, "source": lyr.source, "providerKey": lyr.provider,
            "checked": "Qt::Checked" if lyr.visible else "Qt::Unchecked", "expanded": "0",
        })
    canvas = ET.SubElement(qgis, "mapcanvas", {"name": "theMapCanvas"})
    ET.SubElement(canvas, "units").text = "degrees"
    extent = ET.SubElement(canvas, "extent")
    for k, v in (("xmin", "-180"), ("ymin", "-70"), ("xmax", "180"), ("ymax", "80")):
        ET.SubElement(extent, k).text = v
    _crs(canvas, "destinationsrs", PROJECT_CRS)
    maplayers = ET.SubElement(qgis, "projectlayers")
    for lyr in layers:
        attrs = {"type": lyr.kind}
        if lyr.kind == "vector":
            attrs["geometry"] = {"point": "Point", "line": "Line", "polygon": "Polygon",
                                 "table": "No geometry"}.get(lyr.geometry, "Unknown geometry")
        ml = ET.SubElement(maplayers, "maplayer", attrs)
        ET.SubElement(ml, "id").text = lyr.layer_id
        ET.SubElement(ml, "datasource").text = lyr.source
        ET.SubElement(ml, "layername").text = lyr.name
        if lyr.crs_authid or lyr.crs_wkt:
            _crs(ml, "srs", lyr.crs_authid, lyr.crs_wkt)
        prov = ET.SubElement(ml, "provider", {"encoding": "UTF-8"} if lyr.kind == "vector" else {})
        prov.text = lyr.provider
        if root is not None:
            _add_style(ml, *default_style(root, lyr))
    props = ET.SubElement(qgis, "properties")
    srs_props = ET.SubElement(props, "SpatialRefSys")
    ET.SubElement(srs_props, "ProjectionsEnabled", {"type": "int"}).text = "1"
    paths = ET.SubElement(props, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"
    meta = ET.SubElement(qgis, "projectMetadata")
    ET.SubElement(meta, "title").text = title
    ET.SubElement(meta, "abstract").text = (
        f"The outputs of a geocity {__version__} run; every layer opens with the default style written "
        "with it, and each data file has a .meta.json provenance record beside it."
    )
    ET.indent(qgis, space="  ")
    body = ET.tostring(qgis, encoding="unicode")
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + body + "\n").encode("utf-8")


def write_project(
    path: str | os.PathLike,
    files: Iterable[str | os.PathLike],
    *,
    overwrite: bool = False,
    title: str = "geocity",
) -> Path:
    """Write a QGIS project referencing ``files``, relative to the project's folder.

    Parameters
    ----------
    path
        The project file (``.qgs``); its folder is the root of every layer path.
    files
        Files the run wrote (relative to the project's folder, or absolute inside it).
    overwrite
        Replace an existing project (refused otherwise).
    title
        Project title.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValidationError
        Not a ``.qgs`` path, no layer among ``files``, or a file outside the folder.
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    from .export import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".qgs":
        raise ValidationError(f"{path}: a QGIS project is written as .qgs; use a .qgs extension")
    layers = project_layers(path.parent, files)
    if not layers:
        raise ValidationError(f"{path}: none of the files given is a layer (vector, GeoTIFF or CSV table)")
    data = project_xml(layers, title=title, root=path.parent)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return path
