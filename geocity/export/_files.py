"""Paths, the overwrite policy and atomic moves of geocity.export (see the package docstring)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Iterable

from ..errors import GeocityError, OutputExistsError, ValidationError
from ._common import _META, _SHP_EXTS, _SIDECAR, FORMATS

log = logging.getLogger("geocity.export")

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
    from ..qgis_style import sidecar_files

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
            from ..qgis_style import write_raster_sidecars

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
