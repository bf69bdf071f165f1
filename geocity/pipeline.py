"""The main job: rebuild the report's layers, clusters, corridors, density
surfaces, networks, figures and web map from the embedded data into one
output folder.

``geocity reproduce -o out`` is a thin shell over :func:`reproduce`.

Overwriting
-----------
A run records every file it wrote, per step, with its sha256, in
``out/.geocity-manifest.json`` (relative paths, sorted; no timestamps, so the
same run gives the same bytes). With ``overwrite``, a step replaces its own
files in place and then removes the files that the *previous* run's manifest
lists for that step but this run did not write (outputs that no longer exist,
e.g. after a change of ``within_km``).

The manifest is input like any other, and may have been edited: a listed
file is removed only if it lies inside the output folder (no ``..``, no
absolute path, no symbolic link on the way) and its content still has the
recorded sha256. Anything else it lists is kept, with a
:class:`ManifestWarning`; a manifest that is not one (not JSON, wrong types,
over :data:`MAX_MANIFEST_BYTES`) is ignored with a warning. Any other file in
the output folder — a user's notes next to the clusters, a QGIS project — is
never touched (it is logged at INFO level).

Every option, and the output folder, is checked before the folder is created
or the first file written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import warnings
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from .errors import GeocityWarning, OutputExistsError, ValidationError

log = logging.getLogger(__name__)

#: Steps of the main job, in order; each writes into its own sub-folder.
STEPS: tuple[str, ...] = ("layers", "clusters", "corridors", "density", "network", "figures", "webmap")

#: The record of the files each step of the last run wrote, in the output folder.
MANIFEST = ".geocity-manifest.json"


def _layer_file(name: str) -> Path | None:
    from . import layers
    from ._data import data_dir

    for fname in layers.LAYERS[name][0]:
        p = data_dir("layers") / fname
        if p.is_file():
            return p
    return None


def _step_layers(out: Path, **_) -> list[Path]:
    from . import export, layers

    written: list[Path] = []
    for name in layers.available():
        data = layers.load(name)
        ext = ".gpkg" if hasattr(data, "geometry") and "geometry" in getattr(data, "columns", []) else ".csv"
        src = _layer_file(name)
        written += export.write(
            data, out / "layers" / f"{name}{ext}", overwrite=True,
            metadata={"step": "layers", "layer": name}, inputs=[src] if src is not None else [],
        )
    return written


def _step_clusters(out: Path, *, shared: dict | None = None, **_) -> list[Path]:
    from . import scores
    from .cluster import CityClusters

    written: list[Path] = []
    cities = scores.city_scores()
    for score, stem in (("composite", "clusters"), ("innovation", "innovation_clusters")):
        est = CityClusters(score=score).fit(cities)
        written += est.write(out / "clusters" / f"{stem}.shp", overwrite=True, inputs=scores.input_files())
        if shared is not None:
            shared[("clusters", score)] = est  # the web map shows the same clusters (fitted once)
    return written


def _step_corridors(out: Path, *, within_km: float = 100.0, **_) -> list[Path]:
    from . import corridors, export

    import pandas as pd

    written: list[Path] = []
    names = corridors.available()
    base = {"step": "corridors", "corridors": names}
    written += export.write(
        corridors.lines(names), out / "corridors" / "corridor_lines.geojson", overwrite=True,
        metadata={**base, "max_segment_km": 10.0}, inputs=corridors.input_files(),
    )
    buf = pd.concat([corridors.buffer(n, within_km) for n in names], ignore_index=True)
    written += export.write(
        buf, out / "corridors" / f"corridor_buffers_{int(within_km)}km.geojson", overwrite=True,
        metadata={**base, "within_km": within_km}, inputs=corridors.input_files(),
    )
    mem = corridors.members(corridors=tuple(names), within_km=within_km)
    written += export.write(
        mem, out / "corridors" / f"corridor_members_{int(within_km)}km.csv", overwrite=True,
        metadata={**base, "within_km": within_km, "how": "inner", "points": "the report's cities with ranks"},
        inputs=corridors.input_files(members=True),
    )
    return written


def _step_density(out: Path, **_) -> list[Path]:
    from . import density

    return density.reproduce(out / "density")


def _step_network(out: Path, **_) -> list[Path]:
    from . import network

    return network.reproduce(out / "network")


def _step_figures(out: Path, *, lang: Sequence[str] = ("en", "zh"), formats: Sequence[str] = ("png", "pdf"),
                  **_) -> list[Path]:
    from . import figures

    return figures.render_all(out / "figures", lang=list(lang), formats=tuple(formats), overwrite=True)


def _step_webmap(out: Path, *, shared: dict | None = None, **_) -> list[Path]:
    from .render import leaflet

    # show the density GeoTIFF this run wrote, so the map and the raster agree
    tif = out / "density" / "composite_density.tif"
    est = (shared or {}).get(("clusters", "composite"))
    m = leaflet.webmap(surfaces=tif if tif.exists() else None,
                       clusters=None if est is None else est.clusters_,
                       cluster_members=None if est is None else est.members_)
    return [leaflet.save(m, out / "map.html", overwrite=True)]


_FUNCS: dict[str, Callable[..., list[Path]]] = {
    "layers": _step_layers,
    "clusters": _step_clusters,
    "corridors": _step_corridors,
    "density": _step_density,
    "network": _step_network,
    "figures": _step_figures,
    "webmap": _step_webmap,
}


#: Where each step writes, relative to the output folder (checked before the run).
_STEP_PATHS: dict[str, str] = {
    "layers": "layers", "clusters": "clusters", "corridors": "corridors", "density": "density",
    "network": "network", "figures": "figures", "webmap": "map.html",
}
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


# --------------------------------------------------------------------------
# options, checked before anything is written
# --------------------------------------------------------------------------
def _check_steps(steps) -> list[str]:
    from .errors import NotFoundError

    if steps is None:
        return list(STEPS)
    if isinstance(steps, str):
        steps = steps.split(",")
    try:
        names = [s.strip() if isinstance(s, str) else s for s in steps]
    except TypeError:
        raise ValidationError(
            f"steps must be a list of step names (or a comma string) from {list(STEPS)}, not {type(steps).__name__}"
        ) from None
    names = [s for s in names if s != ""]
    if not names:
        raise ValidationError(f"steps: give at least one step; valid steps: {list(STEPS)}")
    unknown = [s for s in names if not isinstance(s, str) or s not in _FUNCS]
    if unknown:
        raise NotFoundError(f"unknown step(s) {unknown}; valid steps: {list(STEPS)}")
    return list(dict.fromkeys(names))


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


def _check_out(out_dir, *, overwrite: bool, steps: Sequence[str]) -> Path:
    """The output folder, checked: nothing is created here."""
    if not isinstance(out_dir, (str, os.PathLike)) or str(out_dir) == "":
        raise ValidationError(f"out_dir must be the path of the output folder, not {out_dir!r}")
    out = Path(out_dir)
    fix = "choose an output folder you can write to (-o)"
    if not os.path.lexists(out):
        base = _nearest_existing(out.absolute())
        if os.path.lexists(base) and not base.is_dir():
            raise ValidationError(
                f"cannot create the output folder {str(out)!r}: {str(base)!r} is a file, not a folder; {fix}"
            )
        if os.path.lexists(base) and _no_access(base):
            raise ValidationError(
                f"cannot create the output folder {str(out)!r}: {str(base)!r} is not writable (permission denied); {fix}"
            )
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
    root = out.resolve()
    for step in steps:
        p = out / _STEP_PATHS[step]
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
        want_dir = step != "webmap"
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
    if os.path.isdir(out / MANIFEST):
        raise ValidationError(
            f"{str(out / MANIFEST)!r} is a folder, but geocity records its outputs in that file; "
            "move it away or choose another output folder"
        )
    return out


def _make_out(out: Path) -> None:
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
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def _snapshot(out: Path) -> dict[str, tuple[int, int, int]]:
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


def _read_manifest(out: Path) -> dict[str, dict[str, str | None]]:
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
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, dict):
        _warn(f"{path} is not a geocity manifest (no 'steps' record); {ignored}")
        return {}
    out_steps: dict[str, dict[str, str | None]] = {}
    bad: list[str] = []
    for step, files in steps.items():
        if step not in _FUNCS:
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


def _write_manifest(out: Path, steps: dict[str, dict[str, str | None]]) -> None:
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


def _own_files(out: Path, written: Sequence[Path], before: dict, after: dict) -> dict[str, str]:
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


def _remove_stale(out: Path, step: str, previous: dict[str, str | None], now: Sequence[str]) -> list[str]:
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


def _log_unknown(out: Path, step: str, own, after: dict, manifest: dict) -> None:
    folders = {rel.split("/", 1)[0] for rel in own if "/" in rel}
    known = {f for files in manifest.values() for f in files} | set(own)
    for rel in sorted(after):
        if "/" in rel and rel.split("/", 1)[0] in folders and rel not in known:
            log.info("%s: leaving %s alone (not written by geocity)", step, rel)


def reproduce(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    steps: Sequence[str] | str | None = None,
    lang: str | Sequence[str] = "en,zh",
    formats: Sequence[str] | str = ("png", "pdf"),
    within_km: float = 100.0,
) -> list[Path]:
    """Run the main job into ``out_dir``.

    Every option is checked, and the output folder with it, before the
    folder is created or any file written: a bad option fails the run at
    once, with nothing on disk.

    Parameters
    ----------
    out_dir
        Output folder. An existing, non-empty folder is refused unless
        ``overwrite`` is true, in which case geocity's own outputs in it are
        replaced and the outputs of the previous run that this run no longer
        writes (as listed in :data:`MANIFEST`) are removed — only those
        inside ``out_dir``, not reached through a symbolic link and still
        byte-identical to what geocity wrote (sha256); every other file is
        left alone, with a :class:`ManifestWarning` for listed ones.
    overwrite
        Replace existing outputs.
    steps
        Subset of :data:`STEPS` to run (default: all), a list or a comma string.
    lang, formats
        Passed to the figure catalogue: ``"en,zh"`` (default) renders an
        English and a Chinese version of every plate, ``"both"`` bilingual
        plates; formats among ``png``, ``pdf``, ``svg``.
    within_km
        Corridor buffer and membership distance (km; > 0 and at most
        :data:`geocity.corridors.MAX_WITHIN_KM`).

    Returns
    -------
    list of pathlib.Path
        Every file written.

    Raises
    ------
    ValidationError
        A bad option, or an output folder that cannot be created or written.
    NotFoundError
        An unknown step.
    OutputExistsError
        ``out_dir`` is not empty and ``overwrite`` is false.
    """
    from . import corridors, figures

    steps = _check_steps(steps)
    within = corridors._check_within(within_km)
    langs = figures._check_langs(lang)
    fmts = figures._check_formats(formats)
    out = _check_out(out_dir, overwrite=bool(overwrite), steps=steps)
    previous = _read_manifest(out) if out.is_dir() else {}
    _make_out(out)
    manifest = dict(previous)
    written: list[Path] = []
    shared: dict = {}  # results one step hands to a later one (the fitted clusters)
    for step in steps:
        log.info("step %s", step)
        before = _snapshot(out)
        got = _FUNCS[step](out, lang=langs, formats=fmts, within_km=within, shared=shared)
        after = _snapshot(out)
        own = _own_files(out, got, before, after)
        _remove_stale(out, step, previous.get(step, {}), list(own))
        manifest[step] = own
        _log_unknown(out, step, own, after, manifest)
        _write_manifest(out, manifest)  # after each step: an interrupted run still knows its files
        written += got
    return written
