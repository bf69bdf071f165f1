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
* :func:`read_points` for a user's point layer (file, lat/lon table or
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
    ``gpkg_metadata``; it is written as GeoPackage 1.2 (:data:`GPKG_VERSION`),
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

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import platform
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata as _im
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ._validate import RowLabels
from ._validate import rows as rows_of
from .errors import GeocityError, OutputExistsError, ValidationError

log = logging.getLogger(__name__)

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

#: extension -> GDAL driver (``None`` for CSV, written by pandas).
FORMATS: dict[str, str | None] = {
    ".shp": "ESRI Shapefile",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".csv": None,
}

#: Files that make up a shapefile set (besides the main ``.shp``).
_SHP_EXTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
_SIDECAR = ".fields.csv"
_META = ".meta.json"

#: Preferred ≤10-character DBF names of the long column names used across
#: geocity. Callers extend or override them with ``field_names=``.
DEFAULT_FIELD_NAMES: dict[str, str] = {
    "country_iso2": "iso2",
    "country_name": "country",
    "coord_source": "coord_src",
    "score_source": "score_src",
    "total_score": "tot_score",
    "mean_score": "mean_score",
    "infrastructure": "infra",
    "gdci_change": "gdci_chg",
    "bri_change": "bri_chg",
    "dimension": "dimension",
    "dimension_weights": "dim_wts",
    "member_ids": "member_ids",
    "member_names": "members",
    "min_weight": "min_weight",
    "within_km": "within_km",
    "corridor_id": "corr_id",
    "distance_km": "dist_km",
    # city clusters (geocity.cluster): the same names whoever writes them
    "territories": "terr_iso2",
    "max_span_km": "maxspan_km",
    "cluster_name": "clust_name",
}

#: GeoPackage version of new files: 1.2 is read fully by GDAL >= 2.2 (QGIS 3.22 / GDAL 3.6 warn that
#: 1.4, the default of newer GDALs, "may only be partially supported"); newer files are read as they are.
GPKG_VERSION = "1.2"

_DBF_NAME_BYTES = 10
_DBF_STR_BYTES = 254


# --------------------------------------------------------------------------
# paths, overwrite policy, atomic moves
# --------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _stem_base(path: Path) -> Path:
    """``folder/stem`` of a path (``clusters.shp`` -> ``folder/clusters``)."""
    return path.with_suffix("")


def output_files(path: str | os.PathLike, *, metadata: bool = False) -> list[Path]:
    """Every file that a write to ``path`` may create or replace.

    For a shapefile that is the whole set plus its ``.fields.csv`` sidecar;
    shapefiles and GeoTIFFs add their QGIS sidecars (``<stem>.qml`` default
    style, ``<stem>.qmd`` metadata), CSVs ``<name>.qml``, ``<name>.qmd``,
    ``<name>.vrt`` and ``<stem>.csvt`` (see
    :func:`geocity.qgis_style.sidecar_files`); with ``metadata=True`` also the
    ``<name>.meta.json`` record.
    """
    from .qgis_style import sidecar_files

    path = Path(path)
    if _suffix(path) == ".shp":
        base = _stem_base(path)
        files = [base.with_name(base.name + ext) for ext in _SHP_EXTS]
        files.append(base.with_name(base.name + _SIDECAR))
    else:
        files = [path]
    files += sidecar_files(path)
    if metadata:
        files.append(_meta_path(path))
    return files


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + _META)


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _same_file_key(path: Path) -> str:
    """A key equal for two paths that name the same file (links, ``..``, case on Windows)."""
    return os.path.normcase(os.path.realpath(os.path.abspath(path)))


def _exists_message(existing: Iterable[Path]) -> str:
    names = ", ".join(str(p) for p in dict.fromkeys(existing))
    return (f"output exists: {names}; use overwrite=True / --overwrite to replace it, "
            "or choose another output path")


def _check_folder(folder: Path) -> None:
    """``folder`` exists and is writable, or can be created (nothing is created here)."""
    probe = folder
    while not probe.exists() and not probe.is_symlink():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ValidationError(
            f"cannot create the output folder {str(folder)!r}: {str(probe)!r} is a file, not a folder; "
            "choose an output path in a folder you can write to"
        )
    if not probe.exists():  # a dangling link, or a root that does not exist
        raise ValidationError(
            f"cannot create the output folder {str(folder)!r}; choose an output path in a folder you can write to"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "write to the output folder" if probe == folder else "create the output folder"
        raise ValidationError(
            f"cannot {what} {str(folder)!r} (permission denied); "
            "choose an output path in a folder you can write to"
        )


def _check_targets(files: Iterable[Path], overwrite: bool) -> None:
    """Shared checks of every file an output set may create: none is a folder,
    every folder is usable, none exists unless ``overwrite``."""
    files = list(dict.fromkeys(Path(f) for f in files))
    for f in files:
        if f.is_dir():
            raise ValidationError(
                f"output {str(f)!r} is a folder; move it away or choose another output path"
                + (f" (e.g. {str(f / 'out.gpkg')!r})" if not f.suffix else "")
            )
    for folder in dict.fromkeys(_folder(f) for f in files):
        _check_folder(folder)
    if not overwrite:
        existing = [f for f in files if f.exists() or f.is_symlink()]
        if existing:
            raise OutputExistsError(_exists_message(existing))


def check_writable(
    path: str | os.PathLike, overwrite: bool = False, *, also: Iterable[str | os.PathLike] = ()
) -> Path:
    """Apply geocity's output policy to ``path`` before writing it.

    Nothing is created: a missing output folder is only checked to be
    creatable (it is made when the output is written, and removed again if
    the write fails).

    Parameters
    ----------
    path
        The output file.
    overwrite
        Allow replacing an existing output.
    also
        Further files that belong to the same output (a shapefile's set, a
        metadata record); none of them may exist unless ``overwrite``, and
        none may be a folder.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputExistsError
        If the output (or one of ``also``) exists and ``overwrite`` is false.
    ValidationError
        If ``path`` or one of ``also`` is a folder, or its folder cannot be
        created or written.
    """
    path = Path(path)
    _check_targets([path, *map(Path, also)], overwrite)
    return path


def check_outputs(
    outputs,
    overwrite: bool = False,
    *,
    metadata: bool = True,
    formats: Iterable[str] | None = tuple(FORMATS),
) -> list[Path]:
    """The up-front check of *every* output of one command, before any work.

    Each output is taken with its whole set (shapefile parts, ``.fields.csv``
    sidecar, ``.meta.json`` record). Refused, in this order:

    * an unsupported extension (when ``formats`` is given);
    * two outputs that would write the same file, after resolving the paths
      (``-o a.csv --members ./a.csv``, or ``x.shp`` and ``x.fields.csv``, or
      ``a.csv`` and ``a.csv.meta.json``): a :class:`ValidationError` naming
      both options;
    * a file of a set that is a folder, a folder that is a file or cannot be
      created or written: :class:`ValidationError`;
    * any existing file of any set, unless ``overwrite``: one
      :class:`OutputExistsError` naming them all.

    Parameters
    ----------
    outputs
        The outputs: paths, or ``{option: path}`` (e.g. ``{"-o/--output":
        ..., "--members": ...}``) so that messages name the options.
    overwrite
        Allow replacing existing outputs.
    metadata
        The outputs get a ``.meta.json`` record.
    formats
        Accepted extensions (lower case, with the dot); ``None``: any.

    Returns
    -------
    list of pathlib.Path
        The outputs, in the order given.
    """
    items = list(outputs.items()) if isinstance(outputs, Mapping) else [(str(p), p) for p in outputs]
    items = [(str(k), Path(p)) for k, p in items]
    if not items:
        raise ValidationError("give at least one output path")
    for _, p in items:
        if p.is_dir():
            _check_targets([p], True)  # raises the "is a folder" error
        if formats is not None:
            ok = [f.lower() for f in formats]
            ext = _suffix(p)
            if ext not in ok:
                what = (" (Shapefile, GeoPackage, GeoJSON, FlatGeobuf, CSV)"
                        if set(ok) <= set(FORMATS) and ".csv" in ok else "")
                raise ValidationError(
                    f"cannot tell the format of {str(p)!r} from its extension {ext or '(none)'!r}; "
                    f"supported: {', '.join(ok)}{what}"
                )
    seen: dict[str, tuple[str, Path, Path]] = {}
    for label, p in items:
        for f in output_files(p, metadata=metadata):
            key = _same_file_key(f)
            if key in seen and seen[key][0] != label:
                other, op, of = seen[key]
                same = f"{str(f)!r}" if str(f) == str(of) else f"{str(of)!r} and {str(f)!r}"
                raise ValidationError(
                    f"two outputs would write the same file {same}: {other} {str(op)!r} and {label} {str(p)!r}; "
                    "give them different names"
                )
            seen.setdefault(key, (label, p, f))
    _check_targets([f for _, p in items for f in output_files(p, metadata=metadata)], overwrite)
    return [p for _, p in items]


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check, before any work, that :func:`write` will accept ``path``: a
    supported extension, and no file of its set (shapefile parts, sidecar,
    metadata record) in the way unless ``overwrite``. One output of
    :func:`check_outputs`."""
    return check_outputs([path], overwrite)[0]


class Staging:
    """Where the outputs of an :func:`atomic_set` are written before they are moved in.

    One hidden temporary folder per destination folder. ``staging.path(final)``
    is the temporary path of an output; ``staging / name`` works when all the
    outputs share one folder.
    """

    def __init__(self, dirs: dict[str, tuple[Path, Path]]):
        self._dirs = dirs  # folder key -> (destination folder, temporary folder)

    def path(self, final: str | os.PathLike) -> Path:
        """The temporary path to write the output ``final`` to."""
        final = Path(final)
        key = _same_file_key(_folder(final))
        if key not in self._dirs:
            raise ValidationError(f"{str(final)!r} is not one of the outputs of this atomic_set")
        return self._dirs[key][1] / final.name

    @property
    def dir(self) -> Path:
        if len(self._dirs) != 1:
            raise ValidationError("the outputs are in several folders; use staging.path(output)")
        return next(iter(self._dirs.values()))[1]

    def __truediv__(self, name) -> Path:
        return self.dir / name

    def __fspath__(self) -> str:
        return os.fspath(self.dir)

    def iterdir(self):
        return self.dir.iterdir()

    def pairs(self) -> list[tuple[Path, Path]]:
        return list(self._dirs.values())


def _make_folders(folders: Iterable[Path]) -> list[Path]:
    """Create missing folders; return those created (outermost first) for a rollback."""
    created: list[Path] = []
    for folder in folders:
        missing = []
        probe = folder
        while not probe.exists():
            missing.append(probe)
            if probe.parent == probe:
                break
            probe = probe.parent
        for m in reversed(missing):
            try:
                m.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                _remove_folders(created)
                raise ValidationError(
                    f"cannot create the output folder {str(folder)!r} ({exc.strerror or exc}); "
                    "choose an output path in a folder you can write to"
                ) from None
            created.append(m)
    return created


def _remove_folders(created: list[Path]) -> None:
    for m in reversed(created):
        with contextlib.suppress(OSError):
            m.rmdir()  # only if still empty


def _commit_staged(staging: Staging, replaces: list[Path], overwrite: bool) -> list[Path]:
    """Move every staged file into place, all or nothing.

    Existing targets (and, when overwriting, the stale files of the old sets
    that this write did not produce) are first moved aside into the
    temporary folder; if any move fails, the new files are removed and the old
    ones put back.
    """
    plan: list[tuple[Path, Path, Path]] = []  # (staged file, destination, temporary folder)
    for dest_dir, tmpdir in staging.pairs():
        for src in sorted(tmpdir.iterdir()):
            if src.name == ".old":
                continue
            plan.append((src, dest_dir / src.name, tmpdir))
    if not plan:
        return []
    dests = [d for _, d, _ in plan]
    _check_targets(dests, overwrite)  # re-check: something may have appeared meanwhile
    keep = {_same_file_key(d) for d in dests}
    stale = []
    if overwrite:
        stale = [p for p in dict.fromkeys(replaces)
                 if _same_file_key(p) not in keep and p.is_file()]
    aside: list[tuple[Path, Path]] = []  # (original, where it was moved)
    moved: list[Path] = []
    try:
        tmp_of = {_same_file_key(dd): t for dd, t in staging.pairs()}
        for old in [d for d in dests if d.exists() or d.is_symlink()] + stale:
            backup = tmp_of[_same_file_key(_folder(old))] / ".old"
            backup.mkdir(exist_ok=True)
            os.replace(old, backup / old.name)
            aside.append((old, backup / old.name))
        for src, dst, _ in plan:
            os.replace(src, dst)
            moved.append(dst)
    except BaseException as exc:
        for dst in moved:  # do not leave a half set behind
            with contextlib.suppress(OSError):
                dst.unlink()
        for old, backup in reversed(aside):  # and put the old files back
            with contextlib.suppress(OSError):
                os.replace(backup, old)
        if isinstance(exc, OSError):
            raise ValidationError(
                f"cannot move the new output into place ({exc.strerror or exc}: "
                f"{getattr(exc, 'filename', None) or ''}); nothing was changed"
            ) from None
        raise
    for old in stale:
        log.info("removed stale %s of the replaced output", old)
    return dests


@contextlib.contextmanager
def _staged(folders: Iterable[Path], replaces: Iterable[Path], overwrite: bool, first_name: str,
            result: list) -> Iterator[Staging]:
    folders = list(dict.fromkeys(folders))
    created = _make_folders(folders)
    dirs: dict[str, tuple[Path, Path]] = {}
    ok = False
    try:
        for folder in folders:
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".{first_name}.", suffix=".tmp", dir=folder))
            except OSError as exc:
                raise ValidationError(
                    f"cannot write to the output folder {str(folder)!r} ({exc.strerror or exc}); "
                    "choose an output path in a folder you can write to"
                ) from None
            dirs[_same_file_key(folder)] = (folder, tmp)
        staging = Staging(dirs)
        yield staging
        result.extend(_commit_staged(staging, list(replaces), overwrite))
        ok = True
    finally:
        for _, tmp in dirs.values():
            shutil.rmtree(tmp, ignore_errors=True)
        if not ok:
            _remove_folders(created)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` to; move it into place on success.

    The temporary file has the same name as ``path`` (so writers that pick
    the format from the extension work) inside a hidden temporary folder in
    the destination folder. If the block raises, or writes nothing, the
    temporary file is deleted, ``path`` is left untouched and a missing
    output folder that was created for it is removed again. A one-file
    :func:`atomic_set`.

    Parameters
    ----------
    path
        The final output file.
    overwrite
        Allow replacing an existing ``path``; otherwise
        :class:`~geocity.errors.OutputExistsError` is raised *before* the block
        runs. A ``path`` that is a folder is always refused.

    Examples
    --------
    >>> with atomic_path("out/plate.png", overwrite=True) as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    """
    path = Path(path)
    with atomic_set([path], overwrite, metadata=False) as staging:
        tmp = staging.path(path)
        yield tmp
        if not tmp.exists():
            raise GeocityError(f"nothing was written to the temporary file for {str(path)!r}")
        if _suffix(path) in (".tif", ".tiff"):
            from .qgis_style import write_raster_sidecars

            write_raster_sidecars(tmp)  # QGIS default style (.qml) and metadata (.qmd) from the band's tags


@contextlib.contextmanager
def atomic_set(paths, overwrite: bool = False, *, metadata: bool = True,
               formats: Iterable[str] | None = None) -> Iterator[Staging]:
    """Write several outputs all or nothing: the one mechanism behind every output.

    Every output is checked first with :func:`check_outputs` (folders,
    collisions between the outputs, existing files). The block then writes
    each output into a hidden temporary folder in its destination folder,
    under its final name (``staging.path(output)``, or ``staging / name``
    when the outputs share one folder), with :func:`write`
    (``overwrite=True`` is fine there) or any other writer. When the block
    ends, every staged file is moved into place together; existing files are
    moved aside first and put back if a move fails. If the block raises,
    nothing is moved, the temporary folders (and output folders created for
    them) are removed and existing outputs are untouched.

    Parameters
    ----------
    paths
        The final outputs, as paths or ``{option: path}`` (for messages).
        Their whole sets (shapefile parts, sidecars, ``.meta.json`` records)
        are checked against the overwrite policy *before* the block runs;
        when overwriting, files of the old sets that the new write did not
        produce are removed (as part of the same all-or-nothing move).
    overwrite
        Allow replacing existing outputs.
    metadata
        The outputs get ``.meta.json`` records (checked with them).
    formats
        Accepted extensions; ``None`` (default): any.

    Examples
    --------
    >>> with atomic_set(["out/a_lines.geojson", "out/a_buffers.geojson"]) as tmp:  # doctest: +SKIP
    ...     write(lines, tmp / "a_lines.geojson", metadata=params)
    ...     write(buffers, tmp / "a_buffers.geojson", metadata=params)
    """
    outs = check_outputs(paths, overwrite, metadata=metadata, formats=formats)
    replaces = [f for p in outs for f in output_files(p, metadata=True)]
    result: list[Path] = []
    with _staged([_folder(p) for p in outs], replaces, overwrite, outs[0].name, result) as staging:
        yield staging
        if not any(any(tmp.iterdir()) for _, tmp in staging.pairs()):
            raise GeocityError(f"nothing was written for {', '.join(map(str, outs))}")



# --------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in ("geopandas", "shapely", "pyproj", "pyogrio", "numpy", "pandas", "scipy", "numba"):
        try:
            out[dist] = _im.version(dist)
        except _im.PackageNotFoundError:  # pragma: no cover - numba is optional, the rest are dependencies
            out[dist] = "not installed"
    try:
        import pyogrio

        out["GDAL"] = pyogrio.__gdal_version_string__
    except Exception:  # pragma: no cover
        out["GDAL"] = "unknown"
    try:
        import pyproj

        out["PROJ"] = pyproj.proj_version_str
    except Exception:  # pragma: no cover
        out["PROJ"] = "unknown"
    return out


def _jsonable(obj: Any) -> Any:
    """Convert parameters to plain JSON values, deterministically."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_jsonable(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            return str(obj)
        return obj
    if isinstance(obj, (_dt.date, _dt.datetime, pd.Timestamp)):
        return obj.isoformat()
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _metadata_record(output_name: str, params: Mapping | None, inputs: Iterable, extra: Mapping | None) -> str:
    import geocity

    in_list = []
    missing = []
    for p in inputs or ():
        q = Path(p)
        if not q.is_file():
            missing.append(str(p))
            continue
        in_list.append({"path": os.fspath(p), "sha256": _sha256(q), "bytes": q.stat().st_size})
    if missing:
        raise ValidationError(
            f"metadata inputs not found: {', '.join(missing)}; pass existing files in inputs="
        )
    record: dict[str, Any] = {
        "output": output_name,
        "geocity_version": geocity.__version__,
        "python": platform.python_version(),
        "libraries": _versions(),
        "params": _jsonable(dict(params or {})),
        "inputs": in_list,
    }
    if extra:
        record["extra"] = _jsonable(dict(extra))
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_metadata(
    path: str | os.PathLike,
    *,
    params: Mapping,
    inputs: Iterable[str | os.PathLike] = (),
    extra: Mapping | None = None,
) -> Path:
    """Write the provenance record ``<path>.meta.json`` next to an output.

    The record holds the output's file name, the geocity, Python and library
    versions (geopandas, shapely, pyproj, pyogrio, numpy, pandas, GDAL, PROJ),
    the parameters, and the SHA-256 and size of each input file. Keys are
    sorted and indented by 2; there is no timestamp unless one is passed in
    ``extra``, so the same run gives the same bytes.

    The record follows its output: it is (atomically) replaced whenever it is
    written — the overwrite policy is applied to the output itself.

    Parameters
    ----------
    path
        The output the record describes (need not exist yet).
    params
        Parameters of the run (JSON-able values; paths, numpy scalars,
        tuples and sets are converted).
    inputs
        Input files to checksum. They must exist.
    extra
        Anything else to record (e.g. ``{"score_source": "rank-proxy"}``).

    Returns
    -------
    pathlib.Path
        The record's path.
    """
    path = Path(path)
    text = _metadata_record(path.name, params, inputs, extra)
    meta = _meta_path(path)
    with atomic_path(meta, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    if _suffix(path) in (".tif", ".tiff") and path.is_file():  # the full record as QGIS metadata too
        from .qgis_style import sidecar_files, write_raster_sidecars

        qmd = sidecar_files(path)[1]
        with atomic_set([qmd], overwrite=True, metadata=False) as staging:
            write_raster_sidecars(path, dest=staging.path(qmd).parent, record=json.loads(text), qml=False)
    return meta


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
       one in :data:`DEFAULT_FIELD_NAMES`;
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
    from ._validate import quote

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
        from .errors import FormulaCellWarning

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

    QGIS: every output opens styled and self-describing in QGIS (styles from
    ``styles/base.yaml``, :mod:`geocity.qgis_style`): a GeoPackage holds its
    default style in ``layer_styles`` and, with ``metadata``, the record as
    QGIS metadata in ``gpkg_metadata``; a shapefile, GeoJSON (``.geojson``)
    or FlatGeobuf gets ``<stem>.qml`` (and with ``metadata`` ``<stem>.qmd``);
    a CSV gets a ``<stem>.csvt`` (column types) and, when it has lat/lon
    columns, a ``<stem>.vrt`` that opens it as a point layer (with its
    ``.qml``/``.qmd``). New GeoPackages are written as GeoPackage 1.2, which
    GDAL 3.6 / QGIS 3.22 read without a version warning.

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
    from .terms import check_lang

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
        from .qgis_style import write_vector_sidecars

        write_vector_sidecars(df, types, tmp, record_text=text, field_names=names, geometry_type=geometry_type,
                              layer=layer or path.stem, lang=lang, gpkg_timestamp=_fixed_date().isoformat()
                              + "T00:00:00.000Z")
        produced = sorted(path.parent / p.name for p in staging.iterdir())
    written = produced
    log.info("wrote %s (%d rows)", path, len(df))
    main = path if path in written else _stem_base(path).with_suffix(".dbf")  # table-only shapefile
    return sorted(written, key=lambda p: (p != main, p.name))


# --------------------------------------------------------------------------
# reading back
# --------------------------------------------------------------------------


#: What :func:`read` and :func:`read_points` accept, for messages.
READ_FORMATS = (
    "a CSV (UTF-8 or GBK/GB18030, with lat/lon columns or a wkt column), a GeoPackage (.gpkg), "
    "GeoJSON (.geojson/.json), shapefile (.shp) or FlatGeobuf (.fgb)"
)


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
    from ._text import check_row_lengths, decode

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

    from ._text import check_unique_header, decode, header_cells

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
    from ._text import decode

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
        from ._text import decode

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
    labels: list
    what: str

    def __len__(self) -> int:
        return len(self.lat)


def _check_latlon(lat, lon, what: str, labels) -> None:
    """:func:`geocity.geodesy.validate_latlon`, naming rows only when one is bad
    (so that the labels of 10^7 good rows are never built)."""
    from . import geodesy

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


def read_points(points, *, what: str = "points", geometry: bool = True, encoding: str | None = None,
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

    from . import geodesy

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
        return Points(frame, np.empty(0), np.empty(0), [], what)

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
        Short DBF names of long columns (default :data:`DEFAULT_FIELD_NAMES`).

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
