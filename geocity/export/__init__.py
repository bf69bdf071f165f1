"""Write tables and layers to files: the one place for formats, atomic moves,
the overwrite policy and provenance records.

Every geocity module that writes a file goes through this module:

* :func:`write` for vector layers and tables (Shapefile, GeoPackage, GeoJSON,
  FlatGeobuf, CSV), chosen from the file extension;
* :func:`atomic_path` for anything else (PNG, TIFF, HTML, ...): a context
  manager yielding a temporary path that is moved into place on success;
* :func:`atomic_set` for several outputs that must appear together (all or
  nothing), e.g. a corridor export's lines and buffers, or the cluster
  boundaries and their member table (in different folders if need be) --
  :func:`write` and :func:`atomic_path` are built on it, so every output
  goes through this one mechanism;
* :func:`check_outputs` for the up-front check of every output of one
  command (sets, collisions between outputs, folders, existing files);
* :func:`write_metadata` for the ``<output>.meta.json`` provenance record;
* :func:`check_writable` for the shared overwrite/permission checks;
* :func:`read` to read an output back, restoring the full field names (and
  types) of a shapefile from its sidecar;
* ``read_points`` for a user's point layer (file, lat/lon table or
  GeoDataFrame), the one reader behind corridor membership, density and the
  web map's own-points layer.

Policy
------
Atomic writes
    Output is written into a hidden temporary folder *in the destination
    folder* (``.<name>.<random>.tmp/``, same file system), then each file is
    moved into place with :func:`os.replace`. A shapefile is a *set*
    (``.shp .shx .dbf .prj .cpg`` plus the ``.fields.csv`` sidecar and, if
    asked, the ``.meta.json`` record): the whole set is written in the
    temporary folder and moved only once complete. Existing files are moved
    aside first and put back if any move fails. On any failure the
    temporary folder is removed, so no half-written set is left behind and
    no existing file is changed.
Overwriting
    Every file of every output of a command is checked before any work:
    a file that is a folder, a folder that is a file, and two outputs that
    would write the same file (after resolving the paths; a sidecar or
    record of one output counts) are refused with
    :class:`~geocity.errors.ValidationError`, with or without overwrite. An
    existing output (any file of the set) is refused with
    :class:`~geocity.errors.OutputExistsError` ("output exists: <paths>;
    use overwrite=True / --overwrite ...") unless ``overwrite=True``
    (``--overwrite`` on the command line); with it the output is
    *replaced* -- no writer appends to an existing file (a GeoPackage gets
    a layer added only with ``write(..., add_layer=True)``). When
    overwriting, stale files of the old set that the new write did not
    produce (a ``.qix`` index, an old ``.meta.json``) are removed in the
    same all-or-nothing move. A missing output folder is created when the
    output is written, and removed again if the write fails.
Rows in messages
    Rows of a user's input are named by :mod:`geocity._validate`'s one
    rule: ``line N`` of a CSV (its own line numbers, header = line 1),
    ``feature N`` (from 1) of a vector file, ``index L`` of an in-memory
    table; :func:`write` takes ``row_labels`` to name the rows it writes by
    the input rows they came from.
Shapefiles
    Written in UTF-8 with a ``.cpg`` declaring ``UTF-8`` and a ``.prj``, so
    Chinese names read back intact in QGIS, ArcGIS and pyogrio on any OS.
    DBF field names are limited to 10 *bytes*; see :func:`shapefile_field_names`
    for the deterministic shortening rule. The mapping (``short_name``,
    ``full_name``, ``type``) goes to the sidecar ``<stem>.fields.csv``, which
    :func:`read` uses to restore the full names. DBF strings stop at 254
    bytes: a longer value is a :class:`~geocity.errors.ValidationError` naming
    the column and rows, never a silent truncation. Datetimes are written as
    ISO 8601 strings (DBF has no date-time type) and restored by :func:`read`;
    mixed Polygon/MultiPolygon (or line/point) columns are promoted to Multi.
List and dict values, extra geometry columns
    Cells holding lists, tuples, sets or dicts are JSON-encoded (UTF-8,
    sorted keys) in every format; geometry columns other than the active one
    are written as WKT text. The shapefile sidecar records type ``json`` /
    ``wkt`` so :func:`read` decodes them again.
CSV
    A plain UTF-8 table (no BOM, ``\\n`` line ends, written by pandas so floats
    round-trip exactly). Cell values are written *unchanged*, also text that a
    spreadsheet may run as a formula when it opens the file ("CSV injection":
    a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return, e.g. a city name ``=cmd|' /C calc'!A0`` from a user's input):
    a CSV from geocity is data for GIS tools, pandas and :func:`read`, and
    the usual neutralisation (a leading ``'``) would change names and break
    the round trip. Instead every such output gets one
    :class:`~geocity.errors.FormulaCellWarning` (a plain ``Warning:`` line on
    the command line) naming the columns and rows, so the user knows to
    import the file as text in a spreadsheet; plain numbers ("-5") are not
    flagged. GeoPackage, GeoJSON, FlatGeobuf and shapefile outputs are not
    opened by spreadsheets and are not checked. A GeoDataFrame of points is written with ``lat`` and
    ``lon`` columns (WGS 84; existing ``lat``/``lon`` columns are kept if they
    agree with the geometry); any other geometry as a ``wkt`` column.
QGIS
    Every output opens styled and self-describing in QGIS (3.22 and newer),
    with the looks of ``styles/base.yaml`` (:mod:`geocity.qgis_style`): a
    GeoPackage holds its default style in QGIS's ``layer_styles`` table
    (registered in ``gpkg_contents``, ``useAsDefault=1``; geocity's readers
    skip it) and, with a provenance record, the record as QGIS metadata in
    ``gpkg_metadata``; it is written as GeoPackage 1.2 (``GPKG_VERSION``),
    which GDAL 3.6 reads without a version warning. A shapefile or GeoTIFF
    gets ``<stem>.qml`` (style, field aliases with the full names of
    shortened DBF fields, the provenance as layer notes) and ``<stem>.qmd``
    (QGIS metadata, QGIS's default metadata location). A CSV gets
    ``<stem>.csvt`` (GDAL's column types) and, when it has lat/lon columns,
    ``<name>.vrt``, an OGR VRT that opens it as a WGS 84 point layer (one
    copy of the data: the VRT points at the CSV), with ``<name>.qml`` and
    ``<name>.qmd``. GeoJSON and FlatGeobuf get no sidecar (two formats of
    one layer in a folder would claim the same ``<stem>.qml``); a project can
    take their style from :func:`geocity.qgis_style.style_for_file`.
Determinism
    The same input gives the same bytes for GeoJSON, CSV, FlatGeobuf and
    shapefile sets: the DBF "last update" header date is fixed (from
    ``$SOURCE_DATE_EPOCH`` if set, else 1970-01-01), FlatGeobuf is written
    without its spatial index so features keep their order. GeoPackage
    timestamps are pinned the same way through GDAL's ``OGR_CURRENT_DATE``;
    the SQLite container is then byte-identical for the same GDAL/SQLite
    versions, but may differ across library versions (compare its content,
    not its bytes). Metadata records carry no timestamps unless a caller puts
    one in ``extra``.
"""

from __future__ import annotations

import os  # noqa: F401 - tests patch export.os

from ._common import (  # noqa: F401 - the package is the API: every name stays importable
    _DBF_NAME_BYTES,
    _DBF_STR_BYTES,
    _META,
    _SHP_EXTS,
    _SIDECAR,
    DEFAULT_FIELD_NAMES,
    FORMATS,
    GPKG_VERSION,
)
from ._files import (  # noqa: F401 - the package is the API: every name stays importable
    Staging,
    _check_folder,
    _check_targets,
    _commit_staged,
    _exists_message,
    _folder,
    _make_folders,
    _meta_path,
    _remove_folders,
    _same_file_key,
    _staged,
    _stem_base,
    _suffix,
    atomic_path,
    atomic_set,
    check_output,
    check_outputs,
    check_writable,
    log,  # noqa: F401,E402
    output_files,
)
from ._meta import (  # noqa: F401 - the package is the API: every name stays importable
    _jsonable,
    _metadata_record,
    _sha256,
    _versions,
    write_metadata,
)
from ._read import (  # noqa: F401 - the package is the API: every name stays importable
    _GPKG_NOT_DATA,
    _SHP_NEEDS,
    LATLON_COLUMNS,
    READ_FORMATS,
    Points,
    _check_header,
    _check_latlon,
    _csv_labels,
    _data_layers,
    _from_wkt,
    _has_nul,
    _latlon_columns,
    _parse_csv,
    _read_csv,
    _sibling,
    _starts_with,
    read,
    read_points,
    read_vector,
)
from ._write import (  # noqa: F401 - the package is the API: every name stays importable
    _FORMULA_START,
    _auto_short,
    _check_dbf_strings,
    _empty_geometry_type,
    _fixed_date,
    _formula_like,
    _gdal_config,
    _gpkg_to_extend,
    _is_nested,
    _iso,
    _json_cell,
    _nbytes,
    _prepare,
    _shp_geometry,
    _truncate_bytes,
    _warn_formula_cells,
    _write_csv,
    _write_ogr,
    _write_shp,
    shapefile_field_names,
    write,
    write_clusters,
)

__all__ = [
    "FORMATS",
    "DEFAULT_FIELD_NAMES",
    "write",
    "read",
    "write_metadata",
    "atomic_path",
    "atomic_set",
    "check_writable",
    "check_outputs",
    "shapefile_field_names",
    "output_files",
    "write_clusters",
]
