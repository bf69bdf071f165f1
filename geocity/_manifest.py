"""The record of a main-job run (``out/.geocity-manifest.json``) and the
checks of its output folder: what :func:`geocity.pipeline.reproduce` may
replace, and what it must never touch.

A run records every file it wrote, per step, with its sha256 (relative
paths, sorted; no timestamps, so the same run gives the same bytes). With
``overwrite``, a step replaces its own files in place and then removes the
files that the *previous* run's manifest lists for that step but this run
did not write (outputs that no longer exist, e.g. after a change of
``within_km``).

The manifest is input like any other, and may have been edited: a listed
file is removed only if it lies inside the output folder (no ``..``, no
absolute path, no symbolic link on the way) and its content still has the
recorded sha256. Anything else it lists is kept, with a
:class:`ManifestWarning`; a manifest that is not one (not JSON, wrong types,
over :data:`MAX_MANIFEST_BYTES`) is ignored with a warning. Any other file in
the output folder — a user's notes next to the clusters, a QGIS project — is
never touched (it is logged at INFO level).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import warnings
from pathlib import Path, PurePosixPath
from typing import Any, Mapping, Sequence

from .errors import GeocityWarning, OutputExistsError, ValidationError
from .export import _sha256  # the one file checksum (also in every .meta.json)

log = logging.getLogger("geocity.pipeline")

#: The record of the files each step of the last run wrote, in the output folder.
MANIFEST = ".geocity-manifest.json"

#: A manifest larger than this is not read (it is input: a doctored one may be huge).
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
#: Version of the manifest's layout (2: ``{step: {path: sha256}}``).
MANIFEST_FORMAT = 2
#: How many paths one warning names before it says "and N more".
_SHOW = 10
#: Attribute set on log records that are also issued as a :class:`ManifestWarning`
#: (the command line shows the warning's plain line and drops the log record).
SHOWN_AS_WARNING = "geocity_shown_as_warning"


class ManifestWarning(GeocityWarning):
    """The manifest of an earlier run could not be used as it stands: it is
    not a geocity manifest, or it lists files geocity will not remove (outside
    the output folder, behind a symbolic link, changed since geocity wrote
    them). Such files are kept."""


def _warn(message: str) -> None:
    """A logging warning and a :class:`ManifestWarning` (the command line shows it as one plain line)."""
    log.warning("%s", message, extra={SHOWN_AS_WARNING: True})
    warnings.warn(message, ManifestWarning, stacklevel=3)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (as a file, folder or link)."""
    p = path
    while not os.path.lexists(p):
        if p.parent == p:
            break
        p = p.parent
    return p


def _no_access(path: Path) -> bool:
    return not os.access(path, os.W_OK | os.X_OK)


def check_out(out_dir, *, overwrite: bool, paths: Mapping[str, str]) -> Path:
    """The output folder, checked: nothing is created here. ``paths`` maps
    each step that will run to where it writes (a folder, or ``map.html``)."""
    if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
        raise ValidationError(f"out_dir must be the path of the output folder, not {out_dir!r}")
    out = Path(out_dir)
    fix = "choose an output folder you can write to (-o)"
    if not os.path.lexists(out):
        _check_creatable(out, fix)
        return out
    if not out.is_dir():
        what = "a broken symbolic link" if out.is_symlink() and not out.exists() else "a file"
        raise ValidationError(f"output folder {str(out)!r} is {what}, not a folder; {fix}")
    try:
        non_empty = any(out.iterdir())
    except OSError as exc:
        raise ValidationError(f"cannot read the output folder {str(out)!r} ({exc.strerror or exc}); {fix}") from None
    if non_empty and not overwrite:
        raise OutputExistsError(
            f"output folder {out} exists and is not empty; use --overwrite to replace geocity's own outputs "
            "in it (other files are kept)"
        )
    if _no_access(out):
        raise ValidationError(f"cannot write to the output folder {str(out)!r} (permission denied); {fix}")
    _check_targets(out, paths, fix)
    if os.path.isdir(out / MANIFEST):
        raise ValidationError(
            f"{str(out / MANIFEST)!r} is a folder, but geocity records its outputs in that file; "
            "move it away or choose another output folder"
        )
    return out


def _check_creatable(out: Path, fix: str) -> None:
    """``out`` does not exist: can it be made?"""
    base = _nearest_existing(out.absolute())
    if os.path.lexists(base) and not base.is_dir():
        raise ValidationError(
            f"cannot create the output folder {str(out)!r}: {str(base)!r} is a file, not a folder; {fix}"
        )
    if os.path.lexists(base) and _no_access(base):
        raise ValidationError(
            f"cannot create the output folder {str(out)!r}: {str(base)!r} is not writable "
            f"(permission denied); {fix}"
        )


def _check_targets(out: Path, paths: Mapping[str, str], fix: str) -> None:
    """Each step's target inside ``out``: no link out, a folder where a folder is written, writable."""
    root = out.resolve()
    for step, rel in paths.items():
        p = out / rel
        if not os.path.lexists(p):
            continue
        if p.is_symlink():
            try:
                p.resolve().relative_to(root)
            except (ValueError, OSError, RuntimeError):
                raise ValidationError(
                    f"{str(p)!r} is a symbolic link out of the output folder; geocity writes only inside "
                    f"{str(out)!r}: remove the link or choose another output folder"
                ) from None
        want_dir = "." not in rel
        if want_dir and not p.is_dir():
            raise ValidationError(
                f"{str(p)!r} is a file, but step {step!r} writes a folder there; move it away or choose another "
                "output folder"
            )
        if not want_dir and p.is_dir():
            raise ValidationError(
                f"{str(p)!r} is a folder, but step {step!r} writes a file there; move it away or choose another "
                "output folder"
            )
        if want_dir and _no_access(p):
            raise ValidationError(f"cannot write to {str(p)!r} (permission denied); {fix}")


def make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"cannot create the output folder {str(out)!r} ({exc.strerror or exc}); "
            "choose an output folder you can write to (-o)"
        ) from None


# --------------------------------------------------------------------------
# the manifest
# --------------------------------------------------------------------------
def _is_sha(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _clean_rel(rel) -> str | None:
    """``rel`` if it is a plain relative path below the output folder (no ``..``,
    not absolute, not the manifest), else None."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        return None
    pure = PurePosixPath(rel)
    if pure.is_absolute() or any(part in ("..", ".") for part in rel.split("/")) or pure.as_posix() != rel:
        return None
    if rel == MANIFEST:
        return None
    return rel


def snapshot(out: Path) -> dict[str, tuple[int, int, int]]:
    """Relative path -> (inode, mtime_ns, size) of every regular file under
    ``out`` (the manifest excluded; links are not followed)."""
    snap = {}
    for root, dirs, files in os.walk(out):
        dirs.sort()
        for f in files:
            p = Path(root) / f
            rel = p.relative_to(out).as_posix()
            if rel == MANIFEST:
                continue
            try:
                st = p.lstat()
            except OSError:  # pragma: no cover - vanished meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                snap[rel] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return snap


def read(out: Path, steps: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """The previous run's record, ``{step: {relative path: sha256 or None}}``.

    The manifest is input like any other: anything that is not a well-formed
    record of this output folder is ignored with a :class:`ManifestWarning`
    (and nothing it lists is ever removed).
    """
    path = out / MANIFEST
    if not os.path.lexists(path):
        return {}
    ignored = "no earlier output will be removed"
    if path.is_symlink() or not path.is_file():
        _warn(f"{path} is not a geocity manifest (not a regular file); {ignored}")
        return {}
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        _warn(f"cannot read {path} ({exc.strerror or exc}); {ignored}")
        return {}
    if len(raw) > MAX_MANIFEST_BYTES:
        _warn(f"{path} is not a geocity manifest (larger than {MAX_MANIFEST_BYTES // 2**20} MiB); {ignored}")
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        _warn(f"{path} is not a geocity manifest (not JSON); {ignored}")
        return {}
    recorded: Any = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(recorded, dict):
        _warn(f"{path} is not a geocity manifest (no 'steps' record); {ignored}")
        return {}
    out_steps: dict[str, dict[str, str | None]] = {}
    bad: list[str] = []
    for step, files in recorded.items():
        if step not in steps:  # only the steps geocity knows
            bad.append(f"step {str(step)[:80]!r}")
            continue
        if isinstance(files, dict):  # format 2: path -> sha256
            items = list(files.items())
        elif isinstance(files, list):  # format 1 (no checksums): such files are never removed
            items = [(f, None) for f in files]
        else:
            bad.append(f"the record of step {step!r}")
            continue
        clean: dict[str, str | None] = {}
        for rel, sha in items:
            ok = _clean_rel(rel)
            if ok is None:
                bad.append(repr(rel)[:200])
                continue
            clean[ok] = sha if _is_sha(sha) else None
        out_steps[step] = clean
    if bad:
        _warn(f"{path} lists entries that are not files of this output folder; ignored, nothing outside "
              f"{out} is touched: {_listing(bad)}")
    return out_steps


def write(out: Path, steps: dict[str, dict[str, str | None]]) -> None:
    from . import __version__, export

    record = {
        "about": "files written by `geocity reproduce`, per step, with their sha256; --overwrite replaces and "
                 "removes only these, and only while their content is unchanged",
        "format": MANIFEST_FORMAT,
        "geocity_version": __version__,
        "steps": {k: {f: steps[k][f] for f in sorted(steps[k])} for k in sorted(steps)},
    }
    with export.atomic_path(out / MANIFEST, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def own_files(out: Path, written: Sequence[Path], before: dict, after: dict) -> dict[str, str]:
    """What a step wrote, with each file's sha256: the files it reports, plus
    any file it created or replaced (a record or sidecar a step does not list)."""
    own = set()
    root = out.resolve()
    for p in written:
        try:
            own.add(Path(p).resolve().relative_to(root).as_posix())
        except ValueError:  # pragma: no cover - a step writing outside the folder
            log.warning("step wrote %s outside %s", p, out)
    own |= {k for k, v in after.items() if before.get(k) != v}
    own.discard(MANIFEST)
    hashed = {}
    for rel in sorted(own):
        p = out / rel
        if _clean_rel(rel) is not None and not _via_link(out, rel) and p.is_file():
            hashed[rel] = _sha256(p)
    return hashed


def _via_link(out: Path, rel: str) -> bool:
    """True if ``out/rel`` or one of its folders below ``out`` is a symbolic link."""
    p = out
    for part in rel.split("/"):
        p = p / part
        if p.is_symlink():
            return True
    return False


def _why_kept(out: Path, rel: str, sha: str | None) -> str | None:
    """None if ``out/rel`` may be removed (a regular file inside ``out``, reached
    without a link, whose content still has the recorded sha256); else why not."""
    p = out / rel
    if _via_link(out, rel):
        return "reached through a symbolic link"
    try:
        p.resolve().relative_to(out.resolve())
    except (ValueError, OSError, RuntimeError):  # pragma: no cover - excluded above
        return "outside the output folder"
    try:
        st = p.lstat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if sha is None:
        return "no checksum recorded"
    try:
        if _sha256(p) != sha:
            return "changed since geocity wrote it"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def remove_stale(out: Path, step: str, previous: dict[str, str | None], now: Sequence[str]) -> list[str]:
    """Remove files the previous run's ``step`` wrote and this run did not,
    if they are still exactly what geocity wrote; keep (and warn about) the rest."""
    removed, kept = [], []
    for rel in sorted(set(previous) - set(now)):
        if not os.path.lexists(out / rel):
            continue  # already gone
        why = _why_kept(out, rel, previous[rel])
        if why is not None:
            kept.append(f"{rel} ({why})")
            continue
        log.info("%s: removing %s, written by the previous run and not by this one", step, rel)
        try:
            (out / rel).unlink()
        except OSError as exc:
            kept.append(f"{rel} (cannot be removed: {exc.strerror or exc})")
            continue
        removed.append(rel)
    if kept:
        _warn(f"{step}: kept {len(kept)} file(s) that the previous run's manifest lists but this run did not "
              f"write, as geocity cannot tell they are its own output: {_listing(kept)}; "
              "delete them yourself if you do not need them")
    return removed


def log_unknown(out: Path, step: str, own, after: dict, manifest: dict) -> None:
    folders = {rel.split("/", 1)[0] for rel in own if "/" in rel}
    known = {f for files in manifest.values() for f in files} | set(own)
    for rel in sorted(after):
        if "/" in rel and rel.split("/", 1)[0] in folders and rel not in known:
            log.info("%s: leaving %s alone (not written by geocity)", step, rel)
