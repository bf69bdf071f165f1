"""The main job: rebuild the report's layers, clusters, corridors, density
surfaces, networks, figures and web map from the embedded data into one
output folder.

``geocity reproduce -o out`` is a thin shell over :func:`reproduce`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable, Sequence

from .errors import OutputExistsError

log = logging.getLogger(__name__)

#: Steps of the main job, in order; each writes into its own sub-folder.
STEPS: tuple[str, ...] = ("layers", "clusters", "corridors", "density", "network", "figures", "webmap")


def _step_layers(out: Path, **_) -> list[Path]:
    from . import export, layers

    written: list[Path] = []
    for name in layers.available():
        data = layers.load(name)
        ext = ".gpkg" if hasattr(data, "geometry") and "geometry" in getattr(data, "columns", []) else ".csv"
        written += export.write(data, out / "layers" / f"{name}{ext}", overwrite=True)
    return written


def _step_clusters(out: Path, **_) -> list[Path]:
    from . import scores
    from .cluster import CityClusters

    written: list[Path] = []
    cities = scores.city_scores()
    for score, stem in (("composite", "clusters"), ("innovation", "innovation_clusters")):
        est = CityClusters(score=score).fit(cities)
        written += est.write(out / "clusters" / f"{stem}.shp", overwrite=True, inputs=scores.input_files())
    return written


def _step_corridors(out: Path, *, within_km: float = 100.0, **_) -> list[Path]:
    from . import corridors, export

    written: list[Path] = []
    names = corridors.available()
    written += export.write(corridors.lines(names), out / "corridors" / "corridor_lines.geojson", overwrite=True)
    buffers = [corridors.buffer(n, within_km) for n in names]
    import pandas as pd

    buf = pd.concat(buffers, ignore_index=True)
    written += export.write(
        buf, out / "corridors" / f"corridor_buffers_{int(within_km)}km.geojson", overwrite=True
    )
    mem = corridors.members(corridors=tuple(names), within_km=within_km)
    written += export.write(mem, out / "corridors" / f"corridor_members_{int(within_km)}km.csv", overwrite=True)
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


def _step_webmap(out: Path, **_) -> list[Path]:
    from .render import leaflet

    # show the density GeoTIFF this run wrote, so the map and the raster agree
    tif = out / "density" / "composite_density.tif"
    m = leaflet.webmap(surfaces=tif if tif.exists() else None)
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
        replaced (other files are left alone).
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
        raise OutputExistsError(f"output folder {out} exists and is not empty; use --overwrite to replace its contents")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for step in steps:
        log.info("step %s", step)
        if overwrite:
            target = out / step
            if target.is_dir():
                shutil.rmtree(target)
        written += _FUNCS[step](out, lang=lang, formats=formats, within_km=within_km)
    return written
