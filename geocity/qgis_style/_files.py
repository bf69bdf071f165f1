"""The QGIS sidecars of geocity's outputs (geocity.qgis_style): GeoPackage tables, CSV point VRTs,
``.qml``/``.qmd``/``.sld`` files."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._qml import STYLE_NAME, layer_notes, layer_qmd, raster_qml, vector_qml
from ._sld import qml_to_sld

# --------------------------------------------------------------------------
# GeoPackage: layer_styles and gpkg_metadata
# --------------------------------------------------------------------------
_LAYER_STYLES = (
    "CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), "
    "f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), "
    "styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
    "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)"
)
_METADATA = (
    "CREATE TABLE gpkg_metadata (id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL, "
    "md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL, "
    "mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE gpkg_metadata_reference (reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT, "
    "row_id_value INTEGER, timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), "
    "md_file_id INTEGER NOT NULL, md_parent_id INTEGER, "
    "CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id), "
    "CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))",
)
_QGIS_MD_URI = "http://mrcc.com/qgis.dtd"


def _has_table(con: sqlite3.Connection, name: str) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def add_to_geopackage(path: str | Path, layer: str, *, qml: str, qmd: str | None, timestamp: str,
                      sld: str | None = None) -> None:
    """Store ``qml`` as ``layer``'s default style and ``qmd`` as its metadata in the GeoPackage ``path``.

    ``layer_styles`` (QGIS's schema, ``useAsDefault=1``, registered in
    ``gpkg_contents`` as attributes) gets one row per layer (an older geocity
    row of the layer is replaced); ``gpkg_metadata`` (with the
    ``gpkg_metadata`` extension registered) gets the QMD with QGIS's
    ``md_standard_uri``, referenced from ``layer`` by ``gpkg_metadata_reference``.
    ``timestamp`` (ISO 8601) is written wherever the schema has a time, so the
    same layer gives the same bytes.
    """
    con = sqlite3.connect(str(path))
    try:
        with con:
            row = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?",
                              (layer,)).fetchone()
            geometry_column = row[0] if row else ""  # QGIS matches a style by table and geometry column
            if not _has_table(con, "layer_styles"):
                con.execute(_LAYER_STYLES)
                con.execute(
                    "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                    "VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles (geocity)', ?)",
                    (timestamp,))
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?", (layer, STYLE_NAME))
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, update_time) "
                "VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, 'geocity', '', ?)",
                (layer, geometry_column, STYLE_NAME, qml, sld or "", "geocity default style from styles/*.yaml",
                 timestamp))
            if qmd is None:
                return
            if not _has_table(con, "gpkg_metadata"):
                for ddl in _METADATA:
                    con.execute(ddl)
            if not _has_table(con, "gpkg_extensions"):
                con.execute("CREATE TABLE gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT "
                            "NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
                            "(table_name, column_name, extension_name))")
            for table in ("gpkg_metadata", "gpkg_metadata_reference"):
                con.execute(
                    "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, definition, "
                    "scope) VALUES (?, NULL, 'gpkg_metadata', "
                    "'http://www.geopackage.org/spec120/#extension_metadata', 'read-write')", (table,))
            old = [r[0] for r in con.execute(
                "SELECT r.md_file_id FROM gpkg_metadata_reference r JOIN gpkg_metadata m ON m.id = r.md_file_id "
                "WHERE r.table_name = ? AND m.md_standard_uri = ?", (layer, _QGIS_MD_URI))]
            for md_id in old:
                con.execute("DELETE FROM gpkg_metadata_reference WHERE md_file_id = ?", (md_id,))
                con.execute("DELETE FROM gpkg_metadata WHERE id = ?", (md_id,))
            cur = con.execute("INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
                              "VALUES ('dataset', ?, 'text/xml', ?)", (_QGIS_MD_URI, qmd))
            con.execute("INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
                        "row_id_value, timestamp, md_file_id, md_parent_id) VALUES ('table', ?, NULL, NULL, ?, ?, "
                        "NULL)", (layer, timestamp, cur.lastrowid))
    finally:
        con.close()


# --------------------------------------------------------------------------
# CSV point tables as OGR VRT
# --------------------------------------------------------------------------
def _csvt_type(t: str) -> str:
    if t == "bool":
        return "Integer(Boolean)"
    if t.lower().startswith(("int", "uint")):
        return "Integer64"
    if t.startswith("float"):
        return "Real"
    return "String"


def csvt(columns: Sequence[str], types: Mapping[str, str]) -> str:
    """The ``.csvt`` beside a CSV: GDAL's column types (``String``, ``Integer64``,
    ``Real``, ``Integer(Boolean)``), so GDAL and QGIS read numbers as numbers,
    ``True``/``False`` as booleans and empty cells as NULL."""
    return ",".join('"' + _csvt_type(types.get(c, "str")) + '"' for c in columns) + "\n"


def points_vrt(csv_name: str, layer: str, *, lat: str = "lat", lon: str = "lon") -> str:
    """An OGR VRT that opens the CSV ``csv_name`` (beside it) as a WGS 84 point layer.

    The VRT points at the CSV (one copy of the data; the CSV stays the
    table); the column types come from the CSV's ``.csvt`` (:func:`csvt`),
    the geometry from ``lon``/``lat``.
    """
    root = ET.Element("OGRVRTDataSource")
    lay = ET.SubElement(root, "OGRVRTLayer", {"name": layer})
    ET.SubElement(lay, "SrcDataSource", {"relativeToVRT": "1"}).text = csv_name
    ET.SubElement(lay, "SrcLayer").text = Path(csv_name).stem
    ET.SubElement(lay, "GeometryType").text = "wkbPoint"
    ET.SubElement(lay, "LayerSRS").text = "EPSG:4326"
    ET.SubElement(lay, "GeometryField", {"encoding": "PointFromColumns", "x": lon, "y": lat})
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------
# the sidecars of one output (called by geocity.export while it writes)
# --------------------------------------------------------------------------
#: Suffixes whose outputs get QGIS sidecars (``.qml`` style, ``.qmd`` metadata; ``.vrt``/``.csvt`` for CSVs).
SIDECAR_SUFFIXES = (".shp", ".csv", ".tif", ".tiff")


def sidecar_files(path: Path) -> list[Path]:
    """The QGIS sidecars a write to ``path`` may create.

    A shapefile or GeoTIFF ``x.shp``/``x.tif``: ``x.qml`` and ``x.qmd`` (QGIS
    loads a same-named ``.qml``/``.qmd`` as the layer's default style and
    metadata) and ``x.sld`` (the style in SLD 1.1 for GeoServer, where SLD can
    say it). A CSV ``x.csv``: ``x.csv.qml``, ``x.csv.qmd``, ``x.csv.vrt``
    (the point layer; QGIS takes the style and metadata of ``x.csv.vrt`` from
    ``x.csv.qml``/``x.csv.qmd``, so a CSV's sidecars never meet those of a
    shapefile ``x.shp`` in the same folder) and ``x.csvt`` (column types, the
    name GDAL looks for). Other formats: none (a GeoPackage holds its style
    and metadata inside).
    """
    ext = path.suffix.lower()
    if ext not in SIDECAR_SUFFIXES:
        return []
    if ext == ".csv":
        return [path.with_name(path.name + e) for e in (".qml", ".qmd", ".vrt")] + [path.with_suffix(".csvt")]
    base = path.with_suffix("")
    return [base.with_name(base.name + e) for e in (".qml", ".qmd", ".sld")]


def geometry_family(df, declared: str | None = None) -> str | None:
    """``"point"``, ``"line"``, ``"polygon"`` or ``None`` (no geometry, or mixed families)."""
    import geopandas as gpd

    kinds: set[str] = set()
    if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df:
        g = df.geometry
        kinds = set(g[~(g.isna() | g.is_empty)].geom_type)
    if not kinds and declared:
        kinds = {declared}
    fam = {k.replace("Multi", "").replace("LineString", "Line").lower() for k in kinds}
    return fam.pop() if len(fam) == 1 and fam <= {"point", "line", "polygon"} else None


def _title(name: str, record: Mapping | None) -> str:
    params = (record or {}).get("params") or {}
    what = next((str(params[k]) for k in ("layer", "step") if isinstance(params.get(k), str)), "")
    return f"{Path(name).stem} — geocity {what}".rstrip() if what else f"{Path(name).stem} — geocity"


def write_vector_sidecars(df, types: Mapping[str, str], tmp: Path, *, record_text: str | None,
                          field_names: Mapping[str, str] | None = None, geometry_type: str | None = None,
                          layer: str | None = None, lang: str = "both", style: Mapping | str | None = None,
                          gpkg_timestamp: str | None = None) -> list[Path]:
    """Write the QGIS sidecars of the vector output staged at ``tmp`` (see :func:`sidecar_files`), or
    store style and metadata inside it when it is a GeoPackage. Returns the files written."""
    import geopandas as gpd

    record = json.loads(record_text) if record_text else None
    gcol = df.geometry.name if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df else None
    columns = [c for c in df.columns if c != gcol]
    geom = geometry_family(df, geometry_type)
    values = {"cluster_id": sorted({v for v in df["cluster_id"].tolist() if v == v and v is not None},
                                   key=lambda v: (str(type(v)), v))} if "cluster_id" in columns else {}
    ext = tmp.suffix.lower()
    if ext == ".gpkg":
        qml = vector_qml(columns, geometry=geom, types=types, values=values, lang=lang, style=style)
        qmd = layer_qmd(record, title=_title(tmp.name, record), crs_authid=_authid(df)) if record else None
        add_to_geopackage(tmp, layer or tmp.stem, qml=qml, qmd=qmd, timestamp=gpkg_timestamp or "1970-01-01T00:00:00Z",
                          sld=qml_to_sld(qml, name=layer or tmp.stem, style=style))
        return []
    files = sidecar_files(tmp)
    if not files:
        return []
    written: list[Path] = []
    if ext == ".csv":
        from ..export import _latlon_columns  # the one rule for lat/lon column names

        out_cols = _csv_header(tmp)
        ll = _latlon_columns_of(out_cols, _latlon_columns)
        csvt_types = {**{c: "float64" if c in ("lat", "lon") else "str" for c in out_cols}, **dict(types)}
        files[3].write_text(csvt(out_cols, csvt_types), encoding="utf-8", newline="\n")
        written.append(files[3])
        if ll is None:
            return written
        files[2].write_text(points_vrt(tmp.name, tmp.stem, lat=ll[0], lon=ll[1]), encoding="utf-8", newline="\n")
        written.append(files[2])
        columns, geom = out_cols, "point"
    title = _title(tmp.name, record)
    qml = vector_qml(columns, geometry=geom, field_names=field_names, types=types, values=values, lang=lang,
                     style=style, notes=layer_notes(record, title=title) if record is not None else None)
    files[0].write_text(qml, encoding="utf-8", newline="\n")
    written.append(files[0])
    sld = qml_to_sld(qml, name=tmp.stem, style=style) if ext == ".shp" else None
    if sld is not None:
        files[2].write_text(sld, encoding="utf-8", newline="\n")
        written.append(files[2])
    if record is not None:
        files[1].write_text(layer_qmd(record, title=title, crs_authid=_authid(df) if ext != ".csv" else "EPSG:4326"),
                            encoding="utf-8", newline="\n")
        written.append(files[1])
    return written


def _csv_header(path: Path) -> list[str]:
    import csv as _csv

    with open(path, encoding="utf-8", newline="") as fh:
        return next(_csv.reader(fh), [])


def _latlon_columns_of(columns: Sequence[str], rule) -> tuple[str, str] | None:
    import pandas as pd

    return rule(pd.DataFrame(columns=list(columns)))


def _authid(df) -> str | None:
    crs = getattr(df, "crs", None)
    if crs is None:
        return None
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else None


def write_raster_sidecars(tmp: Path, *, dest: Path | None = None, record: Mapping | None = None,
                          style: Mapping | str | None = None, qml: bool = True) -> list[Path]:
    """The ``.qml`` (density ramp from 0, transparent, to the 99th percentile of the
    positive cells) and ``.qmd`` (from ``record``, else the band's tags) of a
    single-band GeoTIFF ``tmp``, written beside it (or in the folder ``dest``).
    Returns the files written; ``[]`` for a file that is not a one-band raster
    (nothing to style)."""
    import numpy as np
    import rasterio

    files = sidecar_files(Path(dest) / tmp.name if dest is not None else tmp)
    try:
        with rasterio.open(tmp) as src:
            if src.count != 1:
                return []
            band = src.read(1, masked=True)
            tags = src.tags(1)
            desc = src.descriptions[0] or tmp.stem
            authid = src.crs.to_string() if src.crs is not None else None
    except rasterio.errors.RasterioError:
        return []
    written = []
    rec = dict(record) if record is not None else {"output": tmp.name, "params": dict(sorted(tags.items()))}
    title = f"{desc} — geocity"
    if qml:
        vals = np.asarray(band.compressed(), dtype="float64")
        vals = vals[np.isfinite(vals) & (vals > 0)]
        vmax = float(np.percentile(vals, 99)) if vals.size else 1.0
        qml_text = raster_qml(vmax, label="0", style=style, notes=layer_notes(rec, title=title))
        files[0].write_text(qml_text, encoding="utf-8", newline="\n")
        files[2].write_text(qml_to_sld(qml_text, name=tmp.stem, style=style) or "", encoding="utf-8", newline="\n")
        written += [files[0], files[2]]
    files[1].write_text(layer_qmd(rec, title=title, crs_authid=authid, layer_type="dataset"),
                        encoding="utf-8", newline="\n")
    written.append(files[1])
    return written


def style_for_file(path: str | Path, *, layer: str | None = None, lang: str = "both",
                   style: Mapping | str | None = None) -> str | None:
    """The QML default style geocity would give the vector file ``path`` (any
    format GDAL reads; for a GeoJSON or FlatGeobuf, which carry no sidecar, a
    project can embed it). ``None`` for a file without attributes or geometry.

    A shapefile's shortened field names are used as written (its
    ``.fields.csv`` supplies the full names as aliases)."""
    import pyogrio

    from ..export import _SIDECAR, _data_layers

    path = Path(path)
    if layer is None and path.suffix.lower() == ".gpkg":
        layer = _data_layers(path)[0]
    df = pyogrio.read_dataframe(path, layer=layer)
    short: dict[str, str] = {}
    types: dict[str, str] = {}
    side = path.with_name(path.stem + _SIDECAR)
    if path.suffix.lower() == ".shp" and side.is_file():
        import csv as _csv

        with open(side, encoding="utf-8", newline="") as fh:
            for row in _csv.DictReader(fh):
                short[row["full_name"]] = row["short_name"]
                types[row["full_name"]] = row["type"]
        df = df.rename(columns={v: k for k, v in short.items()})
    gcol = df.geometry.name if hasattr(df, "geometry") and df._geometry_column_name in df else None
    columns = [c for c in df.columns if c != gcol]
    if not columns and gcol is None:
        return None
    values = {"cluster_id": sorted({v for v in df["cluster_id"].tolist() if v == v and v is not None},
                                   key=lambda v: (str(type(v)), v))} if "cluster_id" in columns else {}
    return vector_qml(columns, geometry=geometry_family(df), field_names=short or None, types=types,
                      values=values, lang=lang, style=style)
