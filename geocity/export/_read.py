"""Reading outputs and a user's tables and point layers back (geocity.export)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .._validate import RowLabels
from .._validate import rows as rows_of
from ..errors import ValidationError
from ._common import _SIDECAR
from ._files import _suffix

# --------------------------------------------------------------------------
# reading back
# --------------------------------------------------------------------------


#: What :func:`read` and :func:`read_points` accept, for messages.
READ_FORMATS = (
    "a CSV (UTF-8 or GBK/GB18030, with lat/lon columns or a wkt column), a GeoPackage (.gpkg), "
    "GeoJSON (.geojson/.json), shapefile (.shp) or FlatGeobuf (.fgb)"
)

log = logging.getLogger("geocity.export")


def _read_csv(path: Path, *, encoding: str | None = None, what: str | None = None, **kwargs) -> pd.DataFrame:
    """Read a CSV with the geocoder's encoding detection (:func:`geocity.geocode.read_table`).

    UTF-8 (with or without BOM) and GB18030/GBK are recognised; a file that
    reads as both GB18030 and Windows-1252 is refused with a message naming
    the line (pass ``encoding`` then). UTF-8 files go straight to pandas' C
    reader, so a 10^7-row CSV is not held as text. ``kwargs`` go to
    :func:`pandas.read_csv`.

    Raises
    ------
    ValidationError
        An empty, binary or undecodable file, an unparsable CSV, or data rows
        with more cells than the header (pandas would shift the columns).
    """
    from .._text import check_row_lengths, decode

    what = what or repr(str(path))
    if path.is_dir():
        raise ValidationError(f"{what} is a folder; give a file: {READ_FORMATS}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ValidationError(f"cannot read {what}: {exc.strerror or exc}") from None
    if not head.strip():
        raise ValidationError(f"{what} is empty; expected a CSV with a header line")
    kwargs.setdefault("index_col", False)  # never take the first column as the index
    try:
        with warnings.catch_warnings():
            # rows longer than the header: pandas would drop cells (index_col=False) or shift columns
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = _parse_csv(path, head, encoding, kwargs)
        _check_header(df, path, encoding, what)
        return df
    except pd.errors.ParserWarning:
        text, _ = decode(path.read_bytes(), encoding, path)
        check_row_lengths(text, ",", path)  # raises, naming the lines
        raise ValidationError(f"{what}: some rows have more cells than the header; fix the header") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        reason = str(exc).strip()
        try:  # a binary or undecodable file is better named as such than by its first bad row
            text, _ = decode(path.read_bytes(), encoding, path)
        except ValidationError as dec:
            reason = str(dec)
            raise ValidationError(reason if str(path) in reason else f"{what}: {reason}") from None
        if "\x00" in text:
            raise ValidationError(
                f"{what} contains NUL bytes: not a text CSV (a binary file, or wrong encoding?)"
            ) from None
        raise ValidationError(f"cannot parse {what} as CSV: {reason}") from None
    except ValidationError as exc:
        msg = str(exc)
        raise ValidationError(msg if str(path) in msg else f"{what}: {msg}") from None


def _check_header(df: pd.DataFrame, path: Path, encoding: str | None, what: str) -> None:
    """Refuse a CSV whose header names a column twice (pandas renames the second
    ``lat`` to ``lat.1``, and the first would be used silently)."""
    import re

    from .._text import check_unique_header, decode, header_cells

    names = [str(c) for c in df.columns]
    stripped = [n.strip() for n in names]
    mangled = any((m := re.fullmatch(r"(.*)\.(\d+)", n)) and m.group(1) in names for n in names)
    if not mangled and len(set(stripped)) == len(stripped):
        return
    text, _ = decode(path.read_bytes(), encoding, path)
    check_unique_header(header_cells(text), path, what=what)


def _has_nul(path: Path) -> bool:
    """Whether the file holds a NUL byte (a binary file, or text in UTF-16 without its mark)."""
    import mmap

    with open(path, "rb") as fh:
        try:
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return mm.find(b"\x00") >= 0
        except ValueError:  # an empty file cannot be mapped
            return False


def _parse_csv(path: Path, head: bytes, encoding: str | None, kwargs: dict) -> pd.DataFrame:
    """pandas on the file (plain UTF-8) or on the text decoded by :func:`geocity._text.decode`."""
    from .._text import decode

    if encoding is None and not head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        # the C reader would take a NUL byte as text ("Tok\x00yo"): such a file goes the geocoder's
        # way below (decoded first, so a binary file is named as undecodable, then NUL refused)
        if not _has_nul(path):
            try:
                return pd.read_csv(path, encoding="utf-8", **kwargs)
            except UnicodeDecodeError:
                pass
    text, used = decode(path.read_bytes(), encoding, path)
    if "\x00" in text:
        raise ValidationError(f"{path} contains NUL bytes: not a text CSV (a binary file, or wrong encoding?)")
    log.info("read %s as %s", path, used)
    return pd.read_csv(io.StringIO(text), **kwargs)


def _csv_labels(path: Path, n: int, encoding: str | None = None, ids=None) -> RowLabels:
    """``line N`` labels of the ``n`` rows read from the CSV ``path`` (counted when first needed)."""

    def text_of() -> str:
        from .._text import decode

        return decode(path.read_bytes(), encoding, path)[0]

    return RowLabels.csv(n, text_of, ids)


def _from_wkt(values, what: str, labels) -> np.ndarray:
    """Shapely geometries from WKT text (missing/empty cells -> None); invalid
    WKT is a ValidationError naming the rows."""
    import shapely

    wkt = np.array([v if isinstance(v, str) and v.strip() else None for v in values], dtype=object)
    geom = shapely.from_wkt(wkt, on_invalid="ignore")
    given = np.fromiter((v is not None for v in wkt), dtype=bool, count=len(wkt))
    bad = np.flatnonzero(given & shapely.is_missing(geom))
    if bad.size:
        raise ValidationError(
            f"{what}: {bad.size} invalid WKT value(s) in column 'wkt' at {rows_of(labels, bad)}"
            f" (e.g. {wkt[bad[0]]!r}); write points as 'POINT (lon lat)', "
            "leave the cell empty, or give lat/lon columns instead"
        )
    return geom


#: The files of a shapefile set GDAL needs besides the .shp, and what each holds.
_SHP_NEEDS = {".shx": "the index of the shapes", ".dbf": "the attribute table"}


#: GeoPackage tables that hold no data layer: QGIS's styles and projects (GDAL lists them as tables).
_GPKG_NOT_DATA = ("layer_styles", "qgis_projects")


def _data_layers(path: Path) -> list[str]:
    """The data layers of a vector file, without QGIS's ``layer_styles``/``qgis_projects`` tables."""
    import pyogrio

    return [str(n) for n in pyogrio.list_layers(path)[:, 0] if str(n).lower() not in _GPKG_NOT_DATA]


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


def _sibling(path: Path, ext: str) -> Path | None:
    """The file of ``path``'s set with extension ``ext`` (any case: .SHX), or None."""
    for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if cand.is_file():
            return cand
    return None


def read_vector(path: str | os.PathLike, *, layer: str | None = None, what: str | None = None,
                prefer: Iterable[str] = ()):
    """One layer of a vector file (GeoPackage, GeoJSON, shapefile, FlatGeobuf, ...) via pyogrio.

    The one place where geocity opens a user's vector file, so every command
    gives the same plain message for the same broken file:

    * a shapefile without its ``.shx`` or ``.dbf`` (GDAL would rebuild the
      index only if told, and read a shapefile without ``.dbf`` as geometry
      only, silently dropping every attribute) is refused, naming the file;
    * a file with several layers and no ``layer`` is refused, naming them
      (reading the first silently may read the wrong one) -- unless one of
      ``prefer`` is among them (``lines`` of a ``corridors export``);
    * a GeoPackage without a vector layer, a file GDAL cannot open, and text
      not in its declared encoding are :class:`ValidationError`\\s; GDAL's
      own warnings are not passed on (the message says it all).

    Parameters
    ----------
    path
        The file.
    layer
        The layer to read (default: the only one).
    what
        How to name the file in messages (default: its path, quoted).
    prefer
        Layer names to take, in this order, when the file has several.
    """
    import pyogrio
    import pyogrio.errors

    path = Path(path)
    what = what or repr(str(path))
    ext = _suffix(path)
    if path.is_dir() and ext not in (".gdb",):
        raise ValidationError(f"{what} is a folder; give a file: {READ_FORMATS}")
    if ext == ".shp":
        missing = [f"{e} ({why})" for e, why in _SHP_NEEDS.items() if _sibling(path, e) is None]
        if missing:
            raise ValidationError(
                f"{what} is a shapefile without its {' and '.join(missing)}: a shapefile is a set of files "
                f"with the same name ({path.stem}.shp, .shx, .dbf, .prj, .cpg); copy every file of the set "
                "next to it, or send the layer as one GeoPackage (.gpkg) or GeoJSON file"
            )
    errors = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
              pyogrio.errors.GeometryError, pyogrio.errors.FeatureError, pyogrio.errors.CRSError)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes ("unrecognized user_version")
        try:
            if layer is None:
                names = _data_layers(path)
                if len(names) > 1:
                    layer = next((p for p in prefer if p in names), None)
                    if layer is None:
                        shown = ", ".join(repr(n) for n in names[:10]) + (" ..." if len(names) > 10 else "")
                        raise ValidationError(
                            f"{what} holds {len(names)} layers ({shown}) and geocity reads one; save the layer "
                            f"you mean as its own file (e.g. ogr2ogr -f GPKG one.gpkg {path.name} {names[0]}), "
                            "or pass layer= in Python"
                        )
                elif not names:
                    raise ValidationError(f"{what} holds no vector layer; give a file with one layer of features")
                else:
                    layer = names[0]
            return pyogrio.read_dataframe(path, layer=layer)
        except errors as exc:
            reason = str(exc).split(";", 1)[0].strip().rstrip(".").replace(f"'{path}' ", "").replace(f"{path} ", "")
            if ext == ".gpkg" and _starts_with(path, b"SQLite format 3\x00"):
                raise ValidationError(
                    f"{what} is a GeoPackage (SQLite) without a vector layer GDAL can read ({reason}): an empty "
                    "GeoPackage, or one holding only rasters or plain tables; save the features into it as a layer"
                ) from None
            raise ValidationError(f"cannot read {what} as a vector layer ({reason}); give {READ_FORMATS}") from None
        except UnicodeDecodeError:
            raise ValidationError(
                f"cannot read {what}: its text is not in the encoding it declares; save it as UTF-8"
            ) from None


def read(path: str | os.PathLike, *, layer: str | None = None, encoding: str | None = None):
    """Read an output of :func:`write` back (or a user's layer in one of its formats).

    Shapefiles get their full column names and types (datetime, nullable
    integers, JSON lists/dicts) back from the ``.fields.csv`` sidecar. A CSV
    with a ``wkt`` column becomes a GeoDataFrame in EPSG:4326; other CSVs a
    DataFrame. Other formats are read with pyogrio.

    Parameters
    ----------
    path
        The file.
    layer
        Layer of a GeoPackage (default: the first).
    encoding
        Of a CSV. Default: detected as the geocoder does
        (:func:`geocity.geocode.read_table`): UTF-8, UTF-8 with BOM or
        GB18030/GBK, refusing a file that could also be Windows-1252.

    Raises
    ------
    ValidationError
        A missing, empty, binary or undecodable file; a CSV that does not
        parse or holds invalid WKT (naming the lines); a file GDAL cannot open
        as a vector layer (naming the formats accepted).
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise ValidationError(f"cannot read {str(path)!r}: no such file")
    ext = _suffix(path)
    if ext == ".csv":
        df = _read_csv(path, encoding=encoding)
        if "wkt" in df.columns:
            geom = _from_wkt(df.pop("wkt"), f"{str(path)!r}", _csv_labels(path, len(df), encoding))
            return gpd.GeoDataFrame(df, geometry=geom, crs=4326)
        return df
    df = read_vector(path, layer=layer)
    if ext != ".shp":
        return df
    side = path.with_name(path.stem + _SIDECAR)
    if not side.exists():
        log.info("no %s next to %s: field names left as stored", side.name, path.name)
        return df
    with open(side, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mapping = {r["short_name"]: r["full_name"] for r in rows}
    for r in rows:
        col, t = r["short_name"], r["type"]
        if col not in df.columns:
            continue
        if t == "json":
            df[col] = df[col].map(lambda v: json.loads(v) if isinstance(v, str) else v).astype(object)
        elif t == "wkt":
            geom = _from_wkt(df[col], f"{str(path)!r} (column {r['full_name']!r})", RowLabels.features(len(df)))
            df[col] = gpd.GeoSeries(geom, index=df.index, crs=df.crs)
        elif t.startswith("datetime64"):
            df[col] = pd.to_datetime(df[col], format="ISO8601").astype(t)
        elif t == "Int64" or (t.startswith("int") and df[col].isna().any()):
            df[col] = df[col].astype("Int64")
    return df.rename(columns=mapping)


# --------------------------------------------------------------------------
# a user's point layer
# --------------------------------------------------------------------------
#: Coordinate column pairs recognised in a table without geometry (lower case).
LATLON_COLUMNS = (("lat", "lon"), ("latitude", "longitude"), ("lat", "lng"), ("y", "x"))


@dataclass(frozen=True)
class Points:
    """A validated point layer: the table and its WGS 84 coordinates.

    Attributes
    ----------
    frame
        The rows, in input order: a GeoDataFrame in EPSG:4326, or the plain
        table when :func:`read_points` was called with ``geometry=False`` and
        the input had no geometry.
    lat, lon
        Degrees (WGS 84), one per row, all finite and in range.
    labels
        How to name each row in a message (:class:`geocity._validate.RowLabels`):
        ``line N`` for the rows of a CSV file (its own line numbers, header =
        line 1), ``feature N`` (from 1) for a vector file, ``index L`` for an
        in-memory table; with the ``city_id`` in brackets when the layer has
        one.
    what
        How to name the layer in a message.
    """

    frame: pd.DataFrame
    lat: np.ndarray
    lon: np.ndarray
    labels: RowLabels
    what: str

    def __len__(self) -> int:
        return len(self.lat)


def _check_latlon(lat, lon, what: str, labels) -> None:
    """:func:`geocity.geodesy.validate_latlon`, naming rows only when one is bad
    (so that the labels of 10^7 good rows are never built)."""
    from .. import geodesy

    try:
        geodesy.validate_latlon(lat, lon, what=what)
    except ValidationError:
        lat = np.asarray(lat, dtype=float)
        lon = np.asarray(lon, dtype=float)
        shown: list = [None] * len(lat)  # only the rows a message names get a label
        fin = np.isfinite(lat) & np.isfinite(lon)
        with np.errstate(invalid="ignore"):
            out = fin & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
        for mask in (~fin, out):
            for i in np.flatnonzero(mask)[:10]:
                shown[i] = labels[i]
        geodesy.validate_latlon(lat, lon, what=what, labels=shown)


def _latlon_columns(df: pd.DataFrame) -> tuple[str, str] | None:
    cols = {str(c).lower(): c for c in df.columns}
    for la, lo in LATLON_COLUMNS:
        if la in cols and lo in cols:
            return cols[la], cols[lo]
    return None


def read_points(points, *, what: str = "points", geometry: bool = True, encoding: str | None = None,  # noqa: C901
                allow_empty: bool = False) -> Points:
    """Read and check a point layer given as a file, a table or a GeoDataFrame.

    Parameters
    ----------
    points
        A path to any vector file pyogrio reads or to a CSV (with
        ``lat``/``lon``, ``latitude``/``longitude``, ``lat``/``lng`` or
        ``y``/``x`` columns in WGS 84 degrees, or a ``wkt`` column); a
        DataFrame with such columns; or a GeoDataFrame/GeoSeries of points in
        any CRS (reprojected to EPSG:4326).
    what
        How to name the layer in error messages.
    geometry
        ``False`` keeps a table without geometry as it is (no shapely points
        are built, which matters for 10^7 rows); callers then use
        :attr:`Points.lat`/:attr:`Points.lon`.
    encoding
        Of a CSV file; default: detected (UTF-8, UTF-8 with BOM or
        GB18030/GBK), as :func:`read` does.
    allow_empty
        Return an empty layer (EPSG:4326) instead of refusing one, for
        callers that show "nothing to show" (the web map).

    Returns
    -------
    Points

    Raises
    ------
    ValidationError
        A missing, unreadable or undecodable file (naming the formats and
        encodings accepted), invalid WKT, an empty layer, no coordinate
        columns, a row without
        a point geometry (area, line, empty or missing), or coordinates that
        are missing, non-numeric or out of range — naming the rows.
    """
    import geopandas as gpd

    from .. import geodesy

    from_csv = from_file = False
    if isinstance(points, (str, os.PathLike)):
        path = Path(points)
        what = f"points file {str(path)!r}"
        if not path.exists():
            raise ValidationError(
                f"{what} does not exist; give the path of a CSV (lat/lon columns), GeoJSON, GeoPackage or shapefile"
            )
        from_csv = _suffix(path) == ".csv"
        from_file = True
        points = read(path, encoding=encoding)
    if isinstance(points, gpd.GeoSeries):
        points = gpd.GeoDataFrame(geometry=points)
    if not isinstance(points, pd.DataFrame):
        raise ValidationError(
            f"{what}: expected a GeoDataFrame of points, a DataFrame with 'lat'/'lon' columns or a file path, "
            f"got {type(points).__name__}; e.g. geopandas.GeoDataFrame(df, "
            "geometry=geopandas.points_from_xy(df.lon, df.lat), crs=4326)"
        )
    if len(points) == 0:
        if not allow_empty:
            raise ValidationError(f"{what} is empty; give at least one point")
        if isinstance(points, gpd.GeoDataFrame):
            frame = geodesy.to_wgs84(points, name=what)
        elif geometry:
            frame = gpd.GeoDataFrame(points, geometry=gpd.GeoSeries([], crs=geodesy.WGS84))
        else:
            frame = points
        return Points(frame, np.empty(0), np.empty(0), RowLabels.positions(0), what)

    def labels_of(frame) -> RowLabels:
        ids = frame["city_id"] if "city_id" in frame.columns else None
        if from_csv:
            return _csv_labels(path, len(frame), encoding, ids)  # the file's own line numbers
        if from_file:
            return RowLabels.features(len(frame), ids)
        return RowLabels.index(frame.index, ids)

    if not isinstance(points, gpd.GeoDataFrame):
        pair = _latlon_columns(points)
        if pair is None:
            raise ValidationError(
                f"{what} has no coordinates: a table without geometry needs 'lat' and 'lon' columns "
                f"(or 'latitude'/'longitude', 'lat'/'lng', 'y'/'x'; WGS 84 degrees) or a 'wkt' column; "
                f"found {[str(c) for c in points.columns]}"
            )
        lat = pd.to_numeric(points[pair[0]], errors="coerce").to_numpy(float)
        lon = pd.to_numeric(points[pair[1]], errors="coerce").to_numpy(float)
        labels = labels_of(points)
        _check_latlon(lat, lon, what, labels)
        frame = points
        if geometry:
            frame = gpd.GeoDataFrame(points, geometry=gpd.points_from_xy(lon, lat), crs=geodesy.WGS84)
        return Points(frame, lat, lon, labels, what)

    frame = geodesy.to_wgs84(points, name=what)
    labels = labels_of(frame)
    geom = frame.geometry
    missing = (geom.isna() | geom.is_empty).to_numpy()
    wrong = ~missing & (geom.geom_type != "Point").to_numpy()
    if missing.any() or wrong.any():
        problems = []
        if missing.any():
            problems.append(f"{int(missing.sum())} row(s) without a geometry (missing or empty): "
                            f"{rows_of(labels, np.flatnonzero(missing))}")
        if wrong.any():
            kinds = sorted(set(geom[wrong].geom_type))
            problems.append(f"{int(wrong.sum())} row(s) that are not points ({', '.join(kinds)}): "
                            f"{rows_of(labels, np.flatnonzero(wrong))}")
        raise ValidationError(
            f"{what} must hold one point per row: " + "; ".join(problems)
            + "; drop those rows, or use .representative_point() for areas"
        )
    lon = geom.x.to_numpy(float)
    lat = geom.y.to_numpy(float)
    _check_latlon(lat, lon, what, labels)
    return Points(frame, lat, lon, labels, what)
