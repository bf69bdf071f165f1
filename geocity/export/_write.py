"""DBF field names, frame preparation, the format writers and :func:`write` of geocity.export."""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import logging
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from .._validate import RowLabels
from .._validate import rows as rows_of
from ..errors import OutputExistsError, ValidationError
from ._common import _DBF_NAME_BYTES, _DBF_STR_BYTES, _SIDECAR, DEFAULT_FIELD_NAMES, FORMATS, GPKG_VERSION
from ._files import _meta_path, _stem_base, _suffix, atomic_set, check_output, check_writable
from ._meta import _jsonable, _metadata_record
from ._read import _data_layers

log = logging.getLogger("geocity.export")

# --------------------------------------------------------------------------
# field names for DBF
# --------------------------------------------------------------------------


def _nbytes(s: str) -> int:
    return len(s.encode("utf-8"))


def _truncate_bytes(s: str, n: int) -> str:
    while _nbytes(s) > n:
        s = s[:-1]
    return s


def _auto_short(name: str) -> str:
    """Deterministic ≤10-byte DBF name for ``name``.

    Names that fit are kept. Otherwise lower-case vowels (a e i o u) that do
    not start a word (words are separated by ``_``, ``-`` or space) are
    dropped from the right until it fits; if it still does not fit, it is cut
    to 10 bytes (and trailing separators are dropped). ``total_score`` ->
    ``total_scor``; ``dimension_weights`` -> ``dmnsn_wght``.
    """
    if _nbytes(name) <= _DBF_NAME_BYTES:
        return name
    chars = list(name)
    i = len(chars) - 1
    while _nbytes("".join(chars)) > _DBF_NAME_BYTES and i > 0:
        if chars[i] in "aeiou" and chars[i - 1] not in "_- ":
            del chars[i]
        i -= 1
    return _truncate_bytes("".join(chars), _DBF_NAME_BYTES).rstrip("_- ") or name[:1]


def shapefile_field_names(columns: Iterable[str], field_names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map column names to DBF field names of at most 10 bytes.

    Rule, applied in this order:

    1. a name given in ``field_names`` (the caller's explicit choice), else
       one in ``DEFAULT_FIELD_NAMES``;
    2. a name that already fits in 10 bytes (UTF-8) is kept;
    3. otherwise the automatic shortening of :func:`_auto_short`.

    DBF names are case-insensitive, so collisions are checked ignoring case.
    Two columns given the *same explicit* name is an error. An automatic
    name that collides with a name taken before it (in column order, explicit
    and kept names first) is numbered deterministically: its last characters
    are replaced by ``1``, ``2``, … (``abcdefghijk_one`` -> ``abcdfghjk``,
    then ``abcdefghijk_two`` -> ``abcdfghjk1``).

    Returns
    -------
    dict
        ``{full_name: short_name}`` in column order.

    Raises
    ------
    ValidationError
        If an explicit name is longer than 10 bytes or two columns are
        explicitly given the same name.
    """
    columns = list(columns)
    explicit = dict(DEFAULT_FIELD_NAMES)
    explicit.update(field_names or {})
    problems = []
    fixed: dict[str, str] = {}
    for col in columns:
        if field_names and col in field_names:
            short = field_names[col]
        elif col in DEFAULT_FIELD_NAMES and _nbytes(col) > _DBF_NAME_BYTES:
            short = DEFAULT_FIELD_NAMES[col]
        elif _nbytes(col) <= _DBF_NAME_BYTES:
            short = col
        else:
            continue
        if not short or _nbytes(short) > _DBF_NAME_BYTES:
            problems.append(f"field_names[{col!r}] = {short!r} is not 1-10 bytes long")
        fixed[col] = short
    seen: dict[str, str] = {}
    for col, short in fixed.items():
        key = short.upper()
        if key in seen:
            problems.append(
                f"columns {seen[key]!r} and {col!r} both map to the shapefile field {short!r} "
                "(field names are case-insensitive); pass distinct names with field_names={...}"
            )
        else:
            seen[key] = col
    if problems:
        raise ValidationError("shapefile field names: " + "; ".join(problems))
    out: dict[str, str] = {}
    for col in columns:
        if col in fixed:
            out[col] = fixed[col]
            continue
        short = _auto_short(col)
        k = 0
        cand = short
        while cand.upper() in seen:
            k += 1
            tag = str(k)
            cand = _truncate_bytes(short, _DBF_NAME_BYTES - len(tag)) + tag
        seen[cand.upper()] = col
        out[col] = cand
        if cand != col:
            log.debug("shapefile field %r -> %r", col, cand)
    return out


# --------------------------------------------------------------------------
# preparing the frame
# --------------------------------------------------------------------------


def _is_nested(v: Any) -> bool:
    return isinstance(v, (list, tuple, dict, set, frozenset, np.ndarray))


def _json_cell(v: Any) -> Any:
    if _is_nested(v):
        return json.dumps(_jsonable(v), ensure_ascii=False, sort_keys=True)
    return v


def _prepare(data, path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Copy, validate and normalise the frame; return it and {column: type} notes."""
    import geopandas as gpd
    import shapely

    if not isinstance(data, pd.DataFrame):
        raise ValidationError(
            f"write() needs a GeoDataFrame or DataFrame, got {type(data).__name__}; "
            "convert it with geopandas.GeoDataFrame(...) or pandas.DataFrame(...)"
        )
    df = data.copy()
    if any(n is not None for n in df.index.names):
        df = df.reset_index()
    df.columns = [str(c) for c in df.columns]
    dups = sorted({c for c in df.columns if list(df.columns).count(c) > 1})
    if dups:
        raise ValidationError(f"duplicate column names {dups}; rename them before writing {path.name}")
    geom_col = df.geometry.name if isinstance(df, gpd.GeoDataFrame) and df._geometry_column_name in df else None
    if isinstance(df, gpd.GeoDataFrame) and geom_col is None:
        df = pd.DataFrame(df)
    types: dict[str, str] = {}
    for col in df.columns:
        if col == geom_col:
            continue
        s = df[col]
        if isinstance(s.dtype, gpd.array.GeometryDtype):  # a second geometry column
            df[col] = pd.Series(shapely.to_wkt(s.to_numpy(), rounding_precision=-1), index=df.index, dtype=object)
            types[col] = "wkt"
            log.info("extra geometry column %r written as WKT text", col)
        elif s.dtype == object and s.map(_is_nested).any():
            df[col] = s.map(_json_cell)
            types[col] = "json"
            log.info("column %r holds lists/dicts: written as JSON text", col)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.astype(object).where(s.notna(), None)
            types[col] = "str"
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            types[col] = str(s.dtype)
        elif pd.api.types.is_bool_dtype(s.dtype):
            types[col] = "bool"
        elif pd.api.types.is_integer_dtype(s.dtype):
            types[col] = str(s.dtype)
        elif pd.api.types.is_float_dtype(s.dtype):
            types[col] = str(s.dtype)
        else:
            types[col] = "str"
    return df, types


def _check_dbf_strings(df: pd.DataFrame, types: Mapping[str, str], path: Path, labels) -> None:
    problems = []
    for col, t in types.items():
        if t not in ("str", "json", "wkt"):
            continue
        s = df[col]
        nb = s.map(lambda v: _nbytes(v) if isinstance(v, str) else 0).to_numpy()
        bad = np.flatnonzero(nb > _DBF_STR_BYTES)
        if len(bad):
            rows = ", ".join(f"{labels[i]} ({nb[i]} bytes)" for i in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            problems.append(f"column {col!r}: {rows}{more}")
    if problems:
        raise ValidationError(
            f"cannot write {path.name}: shapefile (DBF) text fields hold at most {_DBF_STR_BYTES} bytes "
            f"of UTF-8 (a Chinese character takes 3) and geocity never truncates; too long: "
            + "; ".join(problems)
            + ". Write a GeoPackage (.gpkg) instead, or move the long values to a separate "
            "member table (one row per item)."
        )


def _shp_geometry(df, path: Path) -> bool:
    """Check a GeoDataFrame's geometry types for a shapefile; return promote_to_multi."""
    import geopandas as gpd

    if not isinstance(df, gpd.GeoDataFrame):
        return False
    g = df.geometry
    kinds = set(g[~(g.isna() | g.is_empty)].geom_type)
    families = {k.replace("Multi", "") for k in kinds}
    if "GeometryCollection" in families or len(families) > 1:
        raise ValidationError(
            f"cannot write {path.name}: a shapefile holds one geometry type but the layer has "
            f"{sorted(kinds)}; write a GeoPackage (.gpkg) or GeoJSON, or split the layer by type"
        )
    return len(kinds) > 1  # e.g. Polygon + MultiPolygon -> MultiPolygon


def _fixed_date() -> _dt.date:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc).date()
        except (ValueError, OverflowError):
            log.warning("ignoring SOURCE_DATE_EPOCH=%r (not an integer)", epoch)
    return _dt.date(1970, 1, 1)


@contextlib.contextmanager
def _gdal_config(**options: str) -> Iterator[None]:
    import pyogrio

    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(old)


def _iso(s: pd.Series) -> pd.Series:
    out = s.map(lambda v: None if pd.isna(v) else pd.Timestamp(v).isoformat())
    return out.astype(object)


# --------------------------------------------------------------------------
# format writers (all write into a temporary folder)
# --------------------------------------------------------------------------


def _empty_geometry_type(df, geometry_type: str | None) -> str | None:
    """``geometry_type`` when the layer has no geometry to infer the type
    from (no rows, or only missing/empty geometries), else ``None``."""
    import geopandas as gpd

    if geometry_type is None or not isinstance(df, gpd.GeoDataFrame):
        return None
    g = df.geometry
    return geometry_type if bool((g.isna() | g.is_empty).all()) else None


def _write_shp(df, types, tmp: Path, field_names, geometry_type: str | None = None, labels=None) -> dict[str, str]:
    import geopandas as gpd
    import pyogrio

    geom_col = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    attr_cols = [c for c in df.columns if c != geom_col]
    names = shapefile_field_names(attr_cols, field_names)
    _check_dbf_strings(df, types, tmp, labels if labels is not None else RowLabels.positions(len(df)))
    promote = _shp_geometry(df, tmp)
    declared = _empty_geometry_type(df, geometry_type)
    for col, t in types.items():
        if t.startswith("datetime64"):
            df[col] = _iso(df[col])
    df = df.rename(columns=names)
    pyogrio.write_dataframe(
        df,
        tmp,
        driver="ESRI Shapefile",
        promote_to_multi=promote or None,
        geometry_type=declared,
        layer_options={"ENCODING": "UTF-8", "DBF_DATE_LAST_UPDATE": _fixed_date().isoformat()},
    )
    side = tmp.with_name(tmp.stem + _SIDECAR)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["short_name", "full_name", "type"])
    for col in attr_cols:
        w.writerow([names[col], col, types[col]])
    side.write_text(buf.getvalue(), encoding="utf-8", newline="\n")
    return names


def _write_csv(df, tmp: Path, labels=None) -> None:
    import geopandas as gpd
    import shapely

    if isinstance(df, gpd.GeoDataFrame):
        gname = df.geometry.name
        g = df.geometry
        if df.crs is not None and not df.crs.equals("EPSG:4326"):
            g = g.to_crs(4326)
        out = pd.DataFrame(df.drop(columns=[gname]))
        valid = ~(g.isna() | g.is_empty)
        kinds = set(g[valid].geom_type)
        if kinds == {"Point"}:
            x = g.x.where(valid)
            y = g.y.where(valid)
            if "lat" in out.columns and "lon" in out.columns:
                lat = pd.to_numeric(out["lat"], errors="coerce")
                lon = pd.to_numeric(out["lon"], errors="coerce")
                off = ~(np.isclose(lat, y, atol=1e-7, equal_nan=True) & np.isclose(lon, x, atol=1e-7, equal_nan=True))
                if off.any():
                    labels = labels if labels is not None else RowLabels.positions(len(out))
                    raise ValidationError(
                        f"cannot write {tmp.name}: columns 'lat'/'lon' disagree with the point geometry "
                        f"in {int(np.sum(off))} row(s): {rows_of(labels, np.flatnonzero(off), limit=5)}; "
                        "drop or fix those columns"
                    )
            else:
                out["lat"] = y.to_numpy()
                out["lon"] = x.to_numpy()
        elif kinds:
            out["wkt"] = shapely.to_wkt(g.to_numpy(), rounding_precision=-1)
            out.loc[~valid.to_numpy(), "wkt"] = None
    else:
        out = pd.DataFrame(df)
    _warn_formula_cells(out, tmp.name, labels)
    out.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")


#: How a cell that a spreadsheet may evaluate starts (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(values) -> np.ndarray:
    """Which of ``values`` are text a spreadsheet may run as a formula: starting
    with one of :data:`_FORMULA_START` and not a plain number ("-5", "+3.2"
    are numbers to a spreadsheet too, and harmless)."""
    s = pd.Series(values, dtype=object)
    is_text = s.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    out = np.zeros(len(s), dtype=bool)
    if not is_text.any():
        return out
    text = s[is_text].astype(str)
    starts = np.array(text.str.startswith(_FORMULA_START), dtype=bool)  # a writable copy
    if starts.any():
        numeric = pd.to_numeric(text[starts], errors="coerce").notna().to_numpy()
        starts[np.flatnonzero(starts)[numeric]] = False
    out[np.flatnonzero(is_text)] = starts
    return out


def _warn_formula_cells(out: pd.DataFrame, name: str, labels=None) -> None:
    """Warn (:class:`~geocity.errors.FormulaCellWarning`) about the text cells
    of a CSV output that a spreadsheet may run as formulas; the values are
    written unchanged (see the *CSV* policy in the module docstring)."""
    from .._validate import quote

    found = []
    header = _formula_like([str(c) for c in out.columns])
    if header.any():
        found.append("header " + ", ".join(quote(str(c), 40) for c in out.columns[header][:3]))
    for col in out.columns:
        if out[col].dtype != object and not pd.api.types.is_string_dtype(out[col].dtype):
            continue
        bad = np.flatnonzero(_formula_like(out[col].to_numpy()))
        if bad.size:
            lab = labels if labels is not None and len(labels) == len(out) else RowLabels.positions(len(out))
            found.append(f"column {quote(str(col), 40)} at {rows_of(lab, bad, limit=3)} "
                         f"(e.g. {quote(out[col].iloc[bad[0]], 40)})")
    if found:
        from ..errors import FormulaCellWarning

        warnings.warn(
            f"{name}: text cells start with =, +, -, @, a tab or a carriage return, which a spreadsheet "
            f"(Excel, LibreOffice) may run as a formula when it opens the CSV: {'; '.join(found[:5])}"
            + (f" and {len(found) - 5} more columns" if len(found) > 5 else "")
            + ". geocity writes cell values unchanged (a CSV is data); import it in a spreadsheet as text "
            "(Data > From Text/CSV) or check those cells before opening the file",
            FormulaCellWarning, stacklevel=4,
        )


def _write_ogr(
    df, tmp: Path, driver: str, layer: str, *, append_to: Path | None, overwrite: bool, geometry_type: str | None = None
) -> None:
    import pyogrio

    opts: dict[str, Any] = {}
    if driver == "FlatGeobuf":
        opts["SPATIAL_INDEX"] = "NO"  # keep row order; deterministic
    if append_to is not None:
        shutil.copy2(append_to, tmp)
        if overwrite:
            opts["OVERWRITE"] = "YES"
    config = {}
    dataset_opts = None
    if driver == "GPKG":
        config["OGR_CURRENT_DATE"] = _fixed_date().isoformat() + "T00:00:00.000Z"
        if append_to is None:
            dataset_opts = {"VERSION": GPKG_VERSION}
    with _gdal_config(**config):
        pyogrio.write_dataframe(
            df, tmp, layer=layer, driver=driver, layer_options=opts or None, dataset_options=dataset_opts,
            geometry_type=_empty_geometry_type(df, geometry_type),
        )


def _gpkg_to_extend(path: Path, driver: str | None, layer: str | None, overwrite: bool) -> Path:
    """Check that ``write(..., add_layer=True)`` can add ``layer`` to the existing ``path``; return it."""
    if driver != "GPKG":
        raise ValidationError(f"add_layer=True adds a layer to a GeoPackage (.gpkg), not to {path.name}")
    if path.is_dir():
        check_writable(path)  # raises the "is a folder" error
    try:
        layers = _data_layers(path)
    except Exception as exc:  # noqa: BLE001 - any GDAL failure: not a GeoPackage we can extend
        raise ValidationError(f"cannot add a layer to {str(path)!r}: not a readable GeoPackage ({exc})") from None
    name = layer or path.stem
    if name in layers and not overwrite:
        raise OutputExistsError(
            f"output exists: layer {name!r} of {path}; use overwrite=True / --overwrite to replace it, "
            "or choose another layer name"
        )
    return path


def write(
    data,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    layer: str | None = None,
    metadata: Mapping | None = None,
    driver: str | None = None,
    field_names: Mapping[str, str] | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    geometry_type: str | None = None,
    add_layer: bool = False,
    row_labels=None,
    lang: str = "both",
) -> list[Path]:
    """Write a GeoDataFrame or DataFrame; the format follows the extension.

    Parameters
    ----------
    data
        A GeoDataFrame (with a CRS) or a plain DataFrame.
    path
        Output file: ``.shp`` (ESRI Shapefile set), ``.gpkg`` (GeoPackage),
        ``.geojson``/``.json`` (GeoJSON), ``.fgb`` (FlatGeobuf) or ``.csv``
        (plain table; points as ``lat``/``lon``, other geometry as ``wkt``).
    overwrite
        Replace an existing output (any file of a shapefile set). Without it,
        :class:`~geocity.errors.OutputExistsError` is raised.
    layer
        GeoPackage layer name (default: the file stem). Ignored by
        single-layer formats, whose layer is named after the file stem.
    add_layer
        Add the layer to an existing GeoPackage instead of treating the file
        as an existing output (the file is copied, extended and moved back
        atomically); an existing layer of that name then needs
        ``overwrite``. Without it an existing ``path`` is refused (or, with
        ``overwrite``, replaced by a new file holding this layer only): no
        writer appends to a user's file unless asked.
    metadata
        Parameters of the run; if given, :func:`write_metadata` writes
        ``<path>.meta.json`` as part of the same atomic set.
    driver
        Force a GDAL driver name (rarely needed; the extension decides).
    field_names
        Preferred ≤10-byte shapefile names, ``{"full_name": "short"}``; see
        :func:`shapefile_field_names`.
    inputs
        Input files checksummed in the metadata record.
    geometry_type
        Geometry type to declare (e.g. ``"MultiPolygon"``) when the layer has
        no geometry to infer it from — an empty result — so that the file
        still has the layer's type and field types; ignored otherwise.
    row_labels
        How messages name the rows of ``data`` (a
        :class:`geocity._validate.RowLabels`, e.g. the input lines the rows
        came from); default ``index L``, the label in ``data.index``.
    lang
        Language of the labels of the QGIS default style: ``"en"``, ``"zh"``
        or ``"both"`` (default; Chinese then English).

    Returns
    -------
    list of pathlib.Path
        Every file written: the main file first (``.shp``, or ``.dbf`` for a
        table without geometry), then the rest of the set (sidecar, record)
        sorted by name.

    Raises
    ------
    ValidationError
        Unknown extension, missing CRS, DBF limits (string > 254 bytes, mixed
        geometry families), unwritable folder.
    OutputExistsError
        The output exists and ``overwrite`` is false.

    Notes
    -----
    QGIS: every output opens styled and self-describing in QGIS (styles from
    ``styles/base.yaml``, :mod:`geocity.qgis_style`): a GeoPackage holds its
    default style in ``layer_styles`` (with its SLD) and, with ``metadata``,
    the record as QGIS metadata in ``gpkg_metadata``; a shapefile gets
    ``<stem>.qml`` and ``<stem>.sld`` (and with ``metadata`` ``<stem>.qmd``);
    a CSV gets a ``<stem>.csvt`` (column types) and, when it has lat/lon
    columns, ``<name>.vrt`` that opens it as a point layer (with
    ``<name>.qml``/``<name>.qmd``). GeoJSON and FlatGeobuf get no sidecar
    (:func:`geocity.qgis_style.style_for_file` gives their style). New
    GeoPackages are written as GeoPackage 1.2, which GDAL 3.6 / QGIS 3.22
    read without a version warning.
    """
    import geopandas as gpd

    path = Path(path)
    ext = _suffix(path)
    if path.is_dir():
        check_writable(path)  # raises the "is a folder" error
    if driver is None:
        if ext not in FORMATS:
            check_output(path, True)  # raises the unknown-extension error
        driver = FORMATS[ext]
    elif driver == "CSV":
        driver = None
    if isinstance(data, gpd.GeoDataFrame) and data._geometry_column_name in data and data.crs is None:
        raise ValidationError(
            f"cannot write {path.name}: the GeoDataFrame has no CRS; set it first, "
            "e.g. gdf.set_crs(4326) for longitude/latitude in degrees"
        )
    from ..terms import check_lang

    check_lang(lang)  # before any work
    df, types = _prepare(data, path)
    labels = row_labels if row_labels is not None and len(row_labels) == len(df) else RowLabels.index(data.index)
    if driver == "ESRI Shapefile":  # validate before touching the file system
        gname = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
        shapefile_field_names([c for c in df.columns if c != gname], field_names)
        _check_dbf_strings(df, types, path, labels)
        _shp_geometry(df, path)

    append_to = _gpkg_to_extend(path, driver, layer, overwrite) if add_layer and path.exists() else None
    # one mechanism for every output: checked up front, staged, moved in all or nothing
    with atomic_set([path], overwrite or append_to is not None, metadata=metadata is not None) as staging:
        tmp = staging.path(path)
        names = None
        if driver is None:
            _write_csv(df, tmp, labels)
        elif driver == "ESRI Shapefile":
            names = _write_shp(df, types, tmp, field_names, geometry_type, labels)
        else:
            _write_ogr(
                df, tmp, driver, layer or path.stem, append_to=append_to, overwrite=overwrite,
                geometry_type=geometry_type,
            )
        text = None
        if metadata is not None:
            extra = {"rows": int(len(df)), "format": driver or "CSV"}
            if names is not None:
                extra["shapefile_fields"] = names
            text = _metadata_record(path.name, metadata, inputs, {"written": extra})
            staging.path(_meta_path(path)).write_text(text, encoding="utf-8", newline="\n")
        from ..qgis_style import write_vector_sidecars

        write_vector_sidecars(df, types, tmp, record_text=text, field_names=names, geometry_type=geometry_type,
                              layer=layer or path.stem, lang=lang, gpkg_timestamp=_fixed_date().isoformat()
                              + "T00:00:00.000Z")
        produced = sorted(path.parent / p.name for p in staging.iterdir())
    written = produced
    log.info("wrote %s (%d rows)", path, len(df))
    main = path if path in written else _stem_base(path).with_suffix(".dbf")  # table-only shapefile
    return sorted(written, key=lambda p: (p != main, p.name))



def write_clusters(clusters, members, path: str | os.PathLike, *, members_path: str | os.PathLike | None = None,
                   metadata: dict | None = None, inputs: Sequence = (), overwrite: bool = False,
                   field_names: dict | None = None) -> list[Path]:
    """Write cluster boundaries and their member table together, all or nothing.

    Parameters
    ----------
    clusters
        Cluster polygons (``CityClusters.clusters_``); format from the
        extension of ``path`` (``.shp``, ``.gpkg``, ``.geojson``, ``.fgb``),
        written as MultiPolygons.
    members
        The member table (``CityClusters.members_``), one row per city and cluster.
    path, members_path
        Outputs; the member table defaults to ``<stem>_members.csv`` beside ``path``.
    metadata, inputs
        The provenance record (e.g. ``CityClusters.params_``) and the files
        whose checksums it lists.
    overwrite
        Replace existing outputs (refused otherwise, before anything is written).
    field_names
        Short DBF names of long columns (default ``DEFAULT_FIELD_NAMES``).

    Returns
    -------
    list of pathlib.Path
        Every file written (both sets and their records).
    """
    path = Path(path)
    mpath = Path(members_path) if members_path else path.with_name(f"{path.stem}_members.csv")
    outputs = {"path": path, "members_path": mpath}
    with atomic_set(outputs, overwrite) as staging:
        staged = write(clusters, staging.path(path), overwrite=True, metadata=metadata, inputs=inputs,
                       field_names=field_names, geometry_type="MultiPolygon")
        staged += write(members, staging.path(mpath), overwrite=True, metadata=metadata, inputs=inputs,
                        field_names=field_names)
        final = {tmp.resolve(): dest for dest, tmp in staging.pairs()}
    return [final.get(Path(f).parent.resolve(), Path(f).parent) / Path(f).name for f in staged]
