"""The main job: the report's layers, clusters, corridors, density surfaces,
networks, figures and web map, from one :class:`~geocity.analysis.Analysis`,
into one output folder.

``geocity reproduce -o out`` is a thin shell over :func:`reproduce`, and
:func:`reproduce` a thin loop: it builds one Analysis from its parameters
(every result computed once, so the files, the plates and the map of a run
agree), checks every option and the output folder before anything is
written, and runs each step, which only *writes* results of that Analysis
through :mod:`geocity.export`, :mod:`geocity.figures` and
:mod:`geocity.render.leaflet`. What a run may replace or remove is decided
by its manifest (:mod:`geocity._manifest`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from . import _manifest
from ._manifest import MANIFEST, MAX_MANIFEST_BYTES, SHOWN_AS_WARNING, ManifestWarning  # noqa: F401 (public)
from .analysis import SCORES, Analysis
from .errors import ValidationError

log = logging.getLogger(__name__)

__all__ = ["STEPS", "BESIDE_FIGURES", "MANIFEST", "ManifestWarning", "reproduce", "km_tag"]

#: Steps of the main job, in order; each writes into its own sub-folder.
STEPS: tuple[str, ...] = ("layers", "clusters", "corridors", "density", "network", "figures", "webmap", "qgis")
#: Where each step writes, relative to the output folder (checked before the run).
_STEP_PATHS: dict[str, str] = {
    "layers": "layers", "clusters": "clusters", "corridors": "corridors", "density": "density",
    "network": "network", "figures": "figures", "webmap": "map.html", "qgis": "geocity.qgs",
}


def km_tag(km: float) -> str:
    """A distance for a file name: ``100`` → ``"100km"``, ``0.5`` → ``"0.5km"``
    (never rounded, so two distances never share a file)."""
    return f"{float(km):g}km"


def _record(a: Analysis, step: str, **extra: Any) -> dict[str, Any]:
    """A step's provenance record: its parameters and the scores' provenance
    (the analysis' one answer, per city), naming the cities a user's table
    left out (scored 0) or left on the rank proxies."""
    rec = {"step": step, **extra, **a.provenance.record()}
    if a.edition is not None:
        rec.update(a.edition.record())
    if a.scores is not None:
        src = a.scored()[["city_id", "score_source"]]
        for value, key in (("user-missing", "scores_missing_cities"), ("rank-proxy", "scores_proxy_cities")):
            ids = sorted(src.loc[src["score_source"] == value, "city_id"].astype(str))
            if ids:
                rec[key] = ids
    return rec


# --------------------------------------------------------------------------
# steps: each writes results of the analysis, computes nothing
# --------------------------------------------------------------------------
def _step_layers(out: Path, a: Analysis, **_) -> list[Path]:
    from . import export, layers
    from ._data import data_dir

    written: list[Path] = []
    for name in layers.available():
        data = layers.load(name)
        ext = ".gpkg" if hasattr(data, "geometry") and "geometry" in getattr(data, "columns", []) else ".csv"
        src = next((data_dir("layers") / f for f in layers.LAYERS[name][0] if (data_dir("layers") / f).is_file()),
                   None)
        written += export.write(
            data, out / "layers" / f"{name}{ext}", overwrite=True,
            metadata={"step": "layers", "layer": name}, inputs=[src] if src is not None else [],
        )
    ed = a.edition
    if ed is not None and ed.name != "report-2022":  # a user's edition: its tables as read and resolved
        folder = out / "layers" / f"edition_{ed.year}"
        meta = {"step": "layers", **ed.record()}
        for key in ("gdci", "bri", "dimension_ranks"):
            written += export.write(a.ranks(key), folder / f"{key}.csv", overwrite=True, metadata=meta,
                                    inputs=list(ed.files))
        if ed.geocoding is not None:
            import pandas as pd

            report = pd.DataFrame(ed.geocoding.drop(columns="geometry", errors="ignore"))
            written += export.write(report, folder / "geocoding.csv", overwrite=True, metadata=meta,
                                    inputs=list(ed.files))
    return written


def _step_clusters(out: Path, a: Analysis, **_) -> list[Path]:
    written: list[Path] = []
    for score, stem in (("composite", "clusters"), ("innovation", "innovation_clusters")):
        written += a.clusters(score).write(out / "clusters" / f"{stem}.shp", overwrite=True,
                                           inputs=a.input_files())
    return written


def _step_corridors(out: Path, a: Analysis, **_) -> list[Path]:
    from . import corridors, export

    names = list(a.corridor_names)
    base = {"step": "corridors", "corridors": names}
    tag = km_tag(a.within_km)
    written = export.write(
        a.corridor_lines(), out / "corridors" / "corridor_lines.geojson", overwrite=True,
        metadata={**base, "max_segment_km": 10.0}, inputs=corridors.input_files(),
    )
    written += export.write(
        a.corridor_buffers(), out / "corridors" / f"corridor_buffers_{tag}.geojson", overwrite=True,
        metadata={**base, "within_km": a.within_km}, inputs=corridors.input_files(),
    )
    written += export.write(
        a.corridor_members(), out / "corridors" / f"corridor_members_{tag}.csv", overwrite=True,
        metadata={**base, "within_km": a.within_km, "how": "inner", "points": "the report's cities with ranks"},
        inputs=corridors.input_files(members=True),
    )
    return written


def _step_density(out: Path, a: Analysis, **_) -> list[Path]:
    from . import density, export

    written: list[Path] = []
    for weight in SCORES:
        surf = a.density(weight)
        path = density.write_geotiff(surf, out / "density" / f"{weight}_density.tif", overwrite=True)
        params = {**surf.metadata, **_record(a, "density")}
        written += [path, export.write_metadata(path, params=params, inputs=a.input_files())]
    return written


def _step_network(out: Path, a: Analysis, **_) -> list[Path]:
    from . import network

    written: list[Path] = []
    for dim in SCORES:
        # the record counts cities (the analysis' provenance), not the links' rows
        written += network.write_links(a.links(dim), out / "network" / f"{dim}_links.gpkg", overwrite=True,
                                       metadata=_record(a, "network"))
    return written


def _step_figures(out: Path, a: Analysis, *, lang: Sequence[str], formats: Sequence[str], style=None,
                  processes: int | None = None, **_) -> list[Path]:
    from . import figures

    return figures.render_all(out / "figures", analysis=a, lang=list(lang), formats=tuple(formats), overwrite=True,
                              style=style, processes=processes)


def _step_webmap(out: Path, a: Analysis, *, self_contained: bool = False, style=None, **_) -> list[Path]:
    from .render import leaflet
    from .styles import load_style, style_path

    m = leaflet.webmap(analysis=a, tiles=None if self_contained else leaflet.DEFAULT_TILES,
                       style=None if style is None else load_style(overrides=style_path(style)))
    return [leaflet.save(m, out / "map.html", overwrite=True, assets="inline")]


def _step_qgis(out: Path, a: Analysis, **_) -> list[Path]:
    """A QGIS project of the layers in the manifest (the files geocity wrote there), styled, relative paths."""
    from . import qgis_project

    files = [rel for step, got in _manifest.read(out, STEPS).items() if step != "qgis" for rel in got]
    if not qgis_project.project_layers(out, files):  # e.g. only figures: no map to make
        log.info("step qgis: no layer written, no project")
        return []
    return [qgis_project.write_project(out / "geocity.qgs", files, overwrite=True)]


_FUNCS: dict[str, Callable[..., list[Path]]] = {
    "layers": _step_layers,
    "clusters": _step_clusters,
    "corridors": _step_corridors,
    "density": _step_density,
    "network": _step_network,
    "figures": _step_figures,
    "webmap": _step_webmap,
    "qgis": _step_qgis,
}


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


def reproduce(
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    steps: Sequence[str] | str | None = None,
    lang: str | Sequence[str] = "en,zh",
    formats: Sequence[str] | str = ("png", "pdf"),
    within_km: float = 100.0,
    scores=None,
    self_contained: bool = False,
    analysis: Analysis | None = None,
    style: str | Path | None = None,
    edition=None,
    processes: int | None = None,
    airport_passengers=None,
) -> list[Path]:
    """Run the main job into ``out_dir``.

    Every option is checked, and the output folder with it, before the
    folder is created or any file written: a bad option fails the run at
    once, with nothing on disk.

    The steps run in :data:`STEPS` order, except that those of
    :data:`BESIDE_FIGURES` (the density surfaces and the web map, which no
    plate draws) run in a thread, one after the other, while the figures
    step's worker processes draw the plates (started before the first step,
    so that they import what they need meanwhile); the files are the same
    bytes either way, and each step's files are recorded under that step.
    If a step beside fails, the next ones beside do not run; if the figures
    fail, those beside still run to their end (and are recorded).

    Parameters
    ----------
    out_dir
        Output folder. An existing, non-empty folder is refused unless
        ``overwrite`` is true, in which case geocity's own outputs in it are
        replaced and the outputs of the previous run that this run no longer
        writes (as listed in ``MANIFEST``) are removed — only those
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
        :data:`geocity.corridors.MAX_WITHIN_KM`), in every output.
    scores
        None (rank-derived proxies) or the user's scores table.
    self_contained
        The web map needs no network at all (embedded countries instead of tiles).
    analysis
        An :class:`~geocity.analysis.Analysis` to render instead of one built
        from ``within_km`` and ``scores`` (give one or the other).
    edition
        An edition folder (:mod:`geocity.edition`) whose rankings the run
        builds every product from; default: the embedded 2022 edition
        (``layers/edition.json``).
    style
        None, an embedded style's name (``"pacific"``) or a YAML file whose
        keys override geocity's styles on every plate and on the web map.
    processes
        Plate-rendering processes of the figures step
        (:func:`geocity.figures.render_all`; ``None``: one per CPU, at most 4).
    airport_passengers
        A table of airport passenger figures for Figures 2-13/2-14
        (:func:`geocity.airports.read_passengers`; ``Analysis(airport_passengers=)``);
        None: the labelled rank proxy.

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
    from . import figures

    steps = _check_steps(steps)
    if analysis is None:
        from .edition import report_edition

        # checks every parameter, and reads and checks the edition's tables
        analysis = Analysis(within_km=within_km, scores=scores, airport_passengers=airport_passengers,
                            edition=report_edition() if edition is None else edition)
    elif not isinstance(analysis, Analysis):
        raise ValidationError(f"analysis must be a geocity.analysis.Analysis, not {type(analysis).__name__}")
    elif edition is not None or airport_passengers is not None:
        raise ValidationError("give either analysis= or edition=/airport_passengers= (an Analysis holds them: "
                              "Analysis(edition=..., airport_passengers=...)), not both")
    langs = figures._check_langs(lang)
    fmts = figures._check_formats(formats)
    figures._check_processes(processes, len(figures.list_figures()))  # a bad count fails before the folder is made
    if style is not None:
        from .styles import load_style, style_path

        load_style(overrides=style_path(style))  # a bad style fails before the folder is made
    if scores is not None or analysis.scores is not None:
        analysis.scored()  # read and check the user's table before the folder is made
    out = _manifest.check_out(out_dir, overwrite=bool(overwrite), paths={s: _STEP_PATHS[s] for s in steps})
    previous = _manifest.read(out, STEPS) if out.is_dir() else {}
    _manifest.make_out(out)
    manifest = dict(previous)
    by_step: dict[str, list[Path]] = {}
    kw = dict(lang=langs, formats=fmts, self_contained=bool(self_contained), style=style, processes=processes)
    lock = threading.Lock()  # the manifest is recorded by the thread beside the figures too (BESIDE_FIGURES)

    def record(step: str, got: list[Path], before: dict, after: dict) -> None:
        with lock:
            own = _manifest.own_files(out, got, _under(before, step), _under(after, step))
            _manifest.remove_stale(out, step, previous.get(step, {}), list(own))
            manifest[step] = dict(own)  # {path: sha256} as the manifest's {path: sha256 or None}
            _manifest.log_unknown(out, step, own, after, manifest)
            _manifest.write(out, manifest)  # after each step: an interrupted run still knows its files
            by_step[step] = list(got)

    beside: list[str] = []
    n_proc = figures._processes_for(figures.list_figures(), processes) if "figures" in steps else 1
    if n_proc > 1:
        beside = [s for s in steps if s in BESIDE_FIGURES]  # plates in worker processes: this one only waits
        figures.start_workers(n_proc)  # they import matplotlib and the recipes while the first steps run
    try:
        for step in [s for s in steps if s not in beside]:
            log.info("step %s", step)
            before = _manifest.snapshot(out)
            if step == "figures" and beside:
                _beside_figures(out, analysis, beside, kw, record, before)  # records the figures and those beside
                continue
            got = _FUNCS[step](out, analysis, **kw)
            record(step, got, before, _manifest.snapshot(out))
    finally:
        figures.stop_started_workers()  # those a failed step before the figures left unused
    return [p for step in STEPS for p in by_step.get(step, [])]


#: Steps whose results no plate draws, so that they run in a thread while the
#: figures step's worker processes draw the plates (the main process only waits
#: on them then): the density surfaces (~8 s of CPU in the main job) and the
#: web map (~1 s), one after the other. Only when the plates are drawn in
#: worker processes (``processes`` > 1).
BESIDE_FIGURES: tuple[str, ...] = ("density", "webmap")


def _under(snap: dict, step: str) -> dict:
    """The part of a folder snapshot inside ``step``'s own path (its sub-folder or file)."""
    own = _STEP_PATHS[step]
    return {k: v for k, v in snap.items() if k == own or k.startswith(own + "/")}


def _beside_figures(out: Path, a: Analysis, beside: Sequence[str], kw: dict, record, before: dict) -> None:
    """The figures step, with the steps ``beside`` run one after the other in
    a thread meanwhile, on a copy of the analysis with a cache of its own
    (the figures step pickles the analysis for its workers while the thread
    adds results); each step is recorded (``record``) as soon as it is done,
    and the thread's results are added to ``a`` at the end. The thread is
    always waited for, so nothing is written after this returns; an error of
    the figures is raised (the thread's, if any, logged), else the thread's,
    once the figures are recorded."""
    import threading

    other = a._for_thread()
    failed: list[tuple[str, BaseException]] = []

    def run() -> None:
        step = beside[0]
        try:
            from ._memory import reuse_freed_memory

            with reuse_freed_memory():  # the surfaces' large arrays reuse each other's memory (geocity._memory)
                for step in beside:
                    log.info("step %s (beside the figures)", step)
                    got = _FUNCS[step](out, other, **kw)
                    record(step, got, before, _manifest.snapshot(out))
        except BaseException as exc:  # raised in the caller's thread below
            failed.append((step, exc))

    t = threading.Thread(target=run, name="geocity-beside-figures")
    t.start()
    try:
        got = _FUNCS["figures"](out, a, **kw)
    except BaseException:
        _join(t, beside)
        if failed:
            log.error("meanwhile the %s step failed too: %r", failed[0][0], failed[0][1])
        raise
    _join(t, beside)
    record("figures", got, before, _manifest.snapshot(out))
    if failed:
        raise failed[0][1]
    a._take_results(other)


def _join(t, beside: Sequence[str]) -> None:
    """Wait for the thread of :func:`_beside_figures`, saying so if it is still at work."""
    if t.is_alive():
        log.info("waiting for the %s step to finish", "/".join(beside))
    t.join()
