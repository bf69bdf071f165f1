"""The main job: rebuild the report's layers, clusters, corridors, density
surfaces, networks, figures and web map from the embedded data into one
output folder.

``geocity reproduce -o out`` is a thin shell over :func:`reproduce`.

Overwriting
-----------
A run records every file it wrote, per step, in ``out/.geocity-manifest.json``
(relative paths, sorted; no timestamps, so the same run gives the same
bytes). With ``overwrite``, a step replaces its own files in place and then
removes the files that the *previous* run's manifest lists for that step but
this run did not write (outputs that no longer exist, e.g. after a change of
``within_km``). Any other file in the output folder — a user's notes next to
the clusters, a QGIS project — is never touched (it is logged at INFO level).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

from .errors import OutputExistsError

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


def _step_figures(out: Path, *, lang: str = "en,zh", formats: Sequence[str] = ("png", "pdf"), **_) -> list[Path]:
    from . import figures

    return figures.render_all(out / "figures", lang=lang.split(","), formats=tuple(formats), overwrite=True)


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


def _snapshot(out: Path) -> dict[str, tuple[int, int, int]]:
    """Relative path -> (inode, mtime_ns, size) of every file under ``out`` (the manifest excluded)."""
    snap = {}
    for root, dirs, files in os.walk(out):
        dirs.sort()
        for f in files:
            p = Path(root) / f
            rel = p.relative_to(out).as_posix()
            if rel == MANIFEST:
                continue
            try:
                st = p.stat()
            except OSError:  # pragma: no cover - vanished meanwhile
                continue
            snap[rel] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return snap


def _read_manifest(out: Path) -> dict[str, list[str]]:
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        steps = data["steps"]
        return {str(k): [str(f) for f in v] for k, v in steps.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("%s is not a geocity manifest; no earlier output will be removed", path)
        return {}


def _write_manifest(out: Path, steps: dict[str, list[str]]) -> None:
    from . import __version__, export

    record = {
        "about": "files written by `geocity reproduce`, per step; --overwrite replaces and removes only these",
        "geocity_version": __version__,
        "steps": {k: sorted(v) for k, v in sorted(steps.items())},
    }
    with export.atomic_path(out / MANIFEST, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _own_files(out: Path, written: Sequence[Path], before: dict, after: dict) -> set[str]:
    """What a step wrote: the files it reports, plus any file it created or
    replaced (a record or sidecar a step does not list)."""
    own = set()
    root = out.resolve()
    for p in written:
        try:
            own.add(Path(p).resolve().relative_to(root).as_posix())
        except ValueError:  # pragma: no cover - a step writing outside the folder
            log.warning("step wrote %s outside %s", p, out)
    own |= {k for k, v in after.items() if before.get(k) != v}
    own.discard(MANIFEST)
    return own


def _remove_stale(out: Path, step: str, previous: Sequence[str], now: set[str]) -> list[str]:
    """Remove files the previous run's ``step`` wrote and this run did not."""
    removed = []
    for rel in sorted(set(previous) - now):
        p = out / rel
        if p.is_file() and not p.is_symlink():
            log.info("%s: removing %s, written by the previous run and not by this one", step, rel)
            p.unlink()
            removed.append(rel)
    return removed


def _log_unknown(out: Path, step: str, own: set[str], after: dict, manifest: dict[str, list[str]]) -> None:
    folders = {rel.split("/", 1)[0] for rel in own if "/" in rel}
    known = {f for files in manifest.values() for f in files} | own
    for rel in sorted(after):
        if "/" in rel and rel.split("/", 1)[0] in folders and rel not in known:
            log.info("%s: leaving %s alone (not written by geocity)", step, rel)


def reproduce(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    steps: Sequence[str] | None = None,
    lang: str = "en,zh",
    formats: Sequence[str] = ("png", "pdf"),
    within_km: float = 100.0,
) -> list[Path]:
    """Run the main job into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder. An existing, non-empty folder is refused unless
        ``overwrite`` is true, in which case geocity's own outputs in it are
        replaced and the outputs of the previous run that this run no longer
        writes (as listed in :data:`MANIFEST`) are removed; every other file
        is left alone.
    overwrite
        Replace existing outputs.
    steps
        Subset of :data:`STEPS` to run (default: all).
    lang, formats
        Passed to the figure catalogue: ``"en,zh"`` (default) renders an
        English and a Chinese version of every plate, ``"both"`` bilingual
        plates.
    within_km
        Corridor buffer and membership distance.

    Returns
    -------
    list of pathlib.Path
        Every file written.
    """
    from .errors import NotFoundError

    out = Path(out_dir)
    steps = list(STEPS if steps is None else steps)
    unknown = [s for s in steps if s not in _FUNCS]
    if unknown:
        raise NotFoundError(f"unknown step(s) {unknown}; valid steps: {list(STEPS)}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"output folder {out} exists and is not empty; use --overwrite to replace geocity's own outputs "
            "in it (other files are kept)"
        )
    out.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out)
    manifest = dict(previous)
    written: list[Path] = []
    shared: dict = {}  # results one step hands to a later one (the fitted clusters)
    for step in steps:
        log.info("step %s", step)
        before = _snapshot(out)
        got = _FUNCS[step](out, lang=lang, formats=formats, within_km=within_km, shared=shared)
        after = _snapshot(out)
        own = _own_files(out, got, before, after)
        _remove_stale(out, step, previous.get(step, []), own)
        manifest[step] = sorted(own)
        _log_unknown(out, step, own, after, manifest)
        _write_manifest(out, manifest)  # after each step: an interrupted run still knows its files
        written += got
    return written
