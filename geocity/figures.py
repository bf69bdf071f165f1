"""The report's figure catalogue: each figure is a named, re-runnable recipe
that draws one plate.

Using the catalogue
-------------------
>>> from geocity import figures
>>> "2-3" in figures.list_figures()
True
>>> figures.render("2-2", "out/", lang="both", formats=("png", "pdf"))  # doctest: +SKIP
[PosixPath('out/2-2_both.png'), PosixPath('out/2-2_both.pdf')]

Writing a recipe (API for contributors)
---------------------------------------
A recipe is a function ``recipe(ctx: RecipeContext) -> Plate | Figure``
registered under the report's figure number with :func:`register`::

    from geocity.figures import register

    @register("2-4", "Landscape of global innovation network", "全球创新城市网络格局")
    def _figure_2_4(ctx):
        plate = ctx.world_plate(subtitle_en="Top links", subtitle_zh="主要联系")
        plate.add_lines(lines_gdf.geometry, color="#2e86ab", linewidth=0.5)
        plate.add_points(cities.lon, cities.lat, s=12, c="#c0392b")
        plate.add_labels(top.lon, top.lat, ctx.labels(top))
        plate.add_legend(handles, labels, title=ctx.text("Links", "联系"))
        plate.add_scalebar()
        plate.add_note(ctx.credits(scores=True))
        return plate

* ``ctx.world_plate(...)`` / ``ctx.regional_plate(center_lat=, center_lon=,
  half_width_km=, ...)`` / ``ctx.chart_plate(...)`` make a plate carrying the
  registered title in the requested language, the figure's style and the
  basemap (see :mod:`geocity.render.static`).
* A recipe computes no analysis: every result comes from ``ctx.analysis``,
  the one :class:`geocity.analysis.Analysis` of the render run (shared by all
  plates, the exports and the web map). ``ctx.cities()`` is the cities layer
  with ranks, ``ctx.scored()`` the cities with 3I scores (``score_source``
  per city), ``ctx.provenance`` where those scores come from
  (:class:`geocity.provenance.ScoreProvenance`; ``ctx.proxy`` is its
  ``.proxy``), ``ctx.clusters(score)`` the fitted clusters,
  ``ctx.corridor_layers(names)`` the corridor lines and buffers at
  ``ctx.within_km``; density and links via ``ctx.analysis.density_on`` and
  ``ctx.analysis.links``.
* ``ctx.text(en, zh)`` picks the language, ``ctx.labels(df)`` makes city
  labels, ``ctx.credits(...)`` the source note lines (``scores=True`` on a
  plate that shows the 3I scores: the provenance line, "PROXIES" whenever
  they are proxies).
* Never save inside a recipe: :func:`render` writes every requested format
  through :func:`geocity.render.static.save_figure` (atomic, deterministic).
* Per-figure style overrides live in ``styles/fig-<name>.yaml`` and are
  picked up automatically (``ctx.style``).
* Put recipes in another module (e.g. ``geocity/_figures_landscape.py``);
  it is imported by :func:`_load_extra_recipes` when the catalogue is first
  used, so it registers into the same ``RECIPES``.

Modules
-------
This module checks the options and writes the plates (:func:`build`,
:func:`render`, :func:`render_all`); every name below stays importable
from here:

* :mod:`geocity._figure_registry` -- ``RECIPES``, :func:`register`,
  :func:`list_figures`, :func:`get_recipe` and :class:`RecipeContext`;
* :mod:`geocity._figure_recipes` -- the report's recipes (2-1 … 3-2, the
  table maps, the corridor plates) and their drawing helpers;
* :mod:`geocity._figures_landscape` -- the landscape plates (density, links).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from . import _figure_recipes  # noqa: F401 - registers the report's recipes
from ._figure_recipes import (  # noqa: F401 - re-exported (recipe modules and tests use these names here)
    _CORRIDOR_TITLES,
    _GBA,
    _SGP,
    _TABLES,
    _TYPOLOGY_ZH,
    _add_insets,
    _bar_chart,
    _cluster_plate,
    _corridor_plate,
    _figure_2_1,
    _figure_2_2,
    _figure_2_3,
    _figure_2_5,
    _figure_3_1,
    _figure_3_2,
    _line_handle,
    _marker_handle,
    _patch_handle,
    _rank_area,
    _ranked,
    _region_names,
    _size_handles,
    _table_map,
    _typology_label,
    shapely_coords,
)
from ._figure_registry import (  # noqa: F401 - re-exported
    EXTRA_RECIPE_MODULES,
    RECIPES,
    Recipe,
    RecipeContext,
    _load_extra_recipes,
    _order,
    _proxy_line,
    get_recipe,
    list_figures,
    register,
)
from .analysis import REPORT_CORRIDORS, Analysis  # noqa: F401 - re-exported
from .errors import ValidationError
from .render import static
from .render.static import LANGS, Plate, bilingual, literal_text, save_figure  # noqa: F401 - re-exported
from .styles import load_style

log = logging.getLogger(__name__)

__all__ = [
    "RECIPES",
    "Recipe",
    "RecipeContext",
    "register",
    "list_figures",
    "get_recipe",
    "build",
    "render",
    "render_all",
]


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------
def _check_formats(formats) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = [f for f in formats.split(",") if f.strip()]
    out = []
    for f in formats:
        f = str(f).strip().lower().lstrip(".")
        if f not in static.FORMATS:
            raise ValidationError(f"format {f!r} is not supported; choose from {', '.join(static.FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise ValidationError("no output format given; choose from png, pdf, svg")
    return tuple(out)


def _check_langs(lang) -> tuple[str, ...]:
    langs = [x.strip() for x in lang.split(",")] if isinstance(lang, str) else list(lang)
    for lg in langs:
        if lg not in LANGS:
            raise ValidationError(f"lang must be one of {', '.join(LANGS)} (or a comma list), not {lg!r}")
    return tuple(dict.fromkeys(langs))


def _analysis_for(analysis, scores, basemap) -> Analysis:
    """The analysis a call renders: the caller's, or one built from the
    old ``scores=`` / ``basemap=`` keywords."""
    if analysis is None:
        return Analysis(scores=scores, basemap=basemap)
    if not isinstance(analysis, Analysis):
        raise ValidationError(f"analysis must be a geocity.analysis.Analysis, not {type(analysis).__name__}")
    if scores is not None or basemap is not None:
        raise ValidationError("give either analysis= or scores=/basemap= (an Analysis holds its scores and "
                              "basemap: Analysis(scores=..., basemap=...)), not both")
    return analysis


def _load_inputs(analysis: Analysis) -> None:
    """Read and check the user's basemap and scores table once, through the
    analysis, before any output is written (plates then take them from it)."""
    if analysis.basemap is not None:
        analysis.basemap_layer()
    if analysis.scores is not None:
        analysis.scored()


def _style_for(name: str, style=None) -> dict:
    """A figure's style: the base style, the figure's own ``fig-<name>``
    file, then ``style`` (an embedded style's name such as ``"pacific"`` or a
    YAML file, whose keys override both); a mapping is used as it is."""
    from .styles import available_styles, style_path

    per = f"fig-{name}"
    own = per if per in available_styles() else "base"
    if style is None:
        return load_style(own)
    if isinstance(style, (str, Path)):
        return load_style(own, overrides=style_path(style))
    from collections.abc import Mapping

    if not isinstance(style, Mapping):
        raise ValidationError(f"style must be a style name, a .yaml file or a style mapping, not "
                              f"{type(style).__name__}")
    return dict(style)


def build(name: str, *, analysis: Analysis | None = None, lang: str = "en", style=None, basemap=None,
          scores=None) -> Plate:
    """Build a figure's plate without writing it (for notebooks and tests).

    ``analysis``: the :class:`~geocity.analysis.Analysis` the plate draws
    (``None``: ``Analysis(scores=scores, basemap=basemap)``); ``style``: a
    style name, file or mapping (default ``fig-<name>`` or the report style);
    the other parameters as in :func:`render`.
    """
    recipe = get_recipe(name)
    static.check_lang(lang)
    analysis = _analysis_for(analysis, scores, basemap)
    ctx = RecipeContext(recipe=recipe, lang=lang, style=_style_for(name, style), analysis=analysis)
    with literal_text():  # names and user strings are drawn as written, never as mathtext
        out = recipe.func(ctx)
    if not isinstance(out, Plate):
        from matplotlib.figure import Figure

        if not isinstance(out, Figure):
            raise ValidationError(f"recipe {name!r} returned {type(out).__name__}; a recipe must return a Plate or "
                                  "Figure")
    return out


def _check_out_dir(out_dir) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValidationError(f"output folder {str(out_dir)!r} is a file; give a folder")
    return out_dir


def render(name: str, out_dir: str | Path, *, analysis: Analysis | None = None, lang: str | Sequence[str] = "en",
           formats: Sequence[str] | str = ("png",), basemap=None, scores=None, overwrite: bool = False,
           dpi: int | None = None, style=None) -> list[Path]:
    """Render one figure to ``out_dir/<name>_<lang>.<format>``.

    Parameters
    ----------
    name
        A name from :func:`list_figures`.
    out_dir
        Output folder (created if needed).
    analysis
        The :class:`~geocity.analysis.Analysis` the plate draws (its scores,
        basemap, ``within_km`` …); ``None``: ``Analysis(scores=, basemap=)``.
    lang
        ``"en"``, ``"zh"``, ``"both"`` or several (list or comma string).
    formats
        Any of ``png``, ``pdf``, ``svg``.
    basemap, scores
        Only without ``analysis``: None (embedded Natural Earth) or a polygon
        layer (GeoDataFrame or file, e.g. an approved base map); None (rank
        proxies) or the user's scores table (:func:`geocity.scores.city_scores`).
    overwrite
        Replace existing outputs (otherwise OutputExistsError before any work).
    dpi, style
        PNG resolution (style ``output.dpi``, 300, by default); see :func:`build`.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from .export import check_writable

    get_recipe(name)
    _style_for(name, style)  # a bad style file fails before anything is written
    static.check_dpi(dpi)
    langs = _check_langs(lang)
    fmts = _check_formats(formats)
    out_dir = _check_out_dir(out_dir)
    analysis = _analysis_for(analysis, scores, basemap)
    _load_inputs(analysis)  # a bad basemap or scores file fails before the folder is made
    for lg in langs:
        for f in fmts:
            check_writable(out_dir / f"{name}_{lg}.{f}", overwrite)
    written: list[Path] = []
    for lg in langs:
        plate = build(name, analysis=analysis, lang=lg, style=style)
        st = plate.style if isinstance(plate, Plate) else _style_for(name, style)
        for f in fmts:
            p = out_dir / f"{name}_{lg}.{f}"
            written.append(save_figure(plate, p, dpi=dpi, overwrite=overwrite, style=st))
    return written


def render_all(out_dir: str | Path, *, analysis: Analysis | None = None, names: Sequence[str] | None = None,
               lang: str | Sequence[str] = "en", formats: Sequence[str] | str = ("png",), basemap=None, scores=None,
               overwrite: bool = False, dpi: int | None = None, progress: bool = False, style=None,
               processes: int | None = None) -> list[Path]:
    """Render every figure of the catalogue (or ``names``); same options as
    :func:`render` (``style``: a style name or YAML file layered over each
    figure's own style, e.g. ``"pacific"``). One analysis serves every
    plate: each result (scores, clusters, corridors, density, links, the
    basemap) is computed once.

    ``processes``: render the plates in this many worker processes (``None``:
    one per CPU, at most ``MAX_PROCESSES`` (4), and one for fewer than
    ``PARALLEL_MIN_FIGURES`` (4) figures; 1: in this process). Each worker
    starts fresh (``spawn``), receives a copy of the analysis with the results
    it already holds, then the next figure of the list (in catalogue order)
    whenever it has drawn one — a work queue, as plates differ several-fold in
    cost — so the files are the bytes a single process writes, whichever
    worker draws them. Returns the paths in catalogue order.
    """
    from .export import check_writable

    names = list(names) if names is not None else list_figures()
    for n in names:
        get_recipe(n)
        _style_for(n, style)  # a bad style file fails before anything is written
    static.check_dpi(dpi)
    langs = _check_langs(lang)
    fmts = _check_formats(formats)
    out_dir = _check_out_dir(out_dir)
    analysis = _analysis_for(analysis, scores, basemap)
    _load_inputs(analysis)  # a bad basemap or scores file fails before the folder is made
    for n in names:  # refuse before any work if an output exists or the folder is not writable
        for lg in langs:
            for f in fmts:
                check_writable(out_dir / f"{n}_{lg}.{f}", overwrite)
    n_proc = _processes_for(names, processes)
    opts = {"lang": langs, "formats": fmts, "overwrite": overwrite, "dpi": dpi, "style": style}
    if n_proc > 1:
        return _render_parallel(names, out_dir, analysis, opts, n_proc, progress)
    written: list[Path] = []
    it: Iterable[str] = names
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(names, desc="figures", unit="figure")
    for n in it:
        written.extend(render(n, out_dir, analysis=analysis, **opts))
    return written


#: At most this many plate-rendering processes by default (each holds a copy of the analysis, ~0.5-1 GB).
MAX_PROCESSES = 4
#: Fewer figures than this are rendered in the calling process by default (a worker costs ~2 s to start).
PARALLEL_MIN_FIGURES = 4


def _check_processes(processes, n_figures: int) -> int:
    """The number of rendering processes for ``n_figures`` figures."""
    import os

    if processes is None:
        if n_figures < PARALLEL_MIN_FIGURES:
            return 1
        return max(1, min(os.cpu_count() or 1, MAX_PROCESSES, n_figures))
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValidationError(f"processes must be a whole number >= 1 (1: render in this process), not {processes!r}")
    return min(processes, max(1, n_figures))


def _processes_for(names: Sequence[str], processes: int | None) -> int:
    """The processes :func:`render_all` draws ``names`` in: :func:`_check_processes`,
    or 1 when a recipe cannot be imported by a worker (defined in ``__main__`` or a notebook)."""
    n_proc = _check_processes(processes, len(names))
    if n_proc > 1 and not _importable_recipes(names):
        log.info("figures: a recipe is defined in __main__ or a notebook, so it cannot be drawn in a worker "
                 "process; rendering in this process")
        n_proc = 1
    return n_proc


def _recipe_modules(names: Sequence[str]) -> list[str]:
    """The modules that register the recipes of ``names`` (imported by each worker)."""
    return sorted({RECIPES[n].func.__module__ for n in names})


def _importable_recipes(names: Sequence[str]) -> bool:
    """Can a fresh process import every module that registers these recipes?"""
    import importlib.util
    import sys

    for mod in _recipe_modules(names):
        m = sys.modules.get(mod)
        if mod == "__main__" or m is None or getattr(m, "__spec__", None) is None:
            return False
        try:
            if importlib.util.find_spec(mod) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def _send(proc, data: bytes, *, close: bool = False) -> None:
    """Write pickled ``data`` to a worker's stdin (a worker already gone is reported when its answer is missing)."""
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
        if close:
            proc.stdin.close()
    except OSError:  # BrokenPipeError
        pass


def _stop_workers(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pipe in (p.stdin, p.stdout):
            if pipe is not None and not pipe.closed:
                with contextlib.suppress(OSError):
                    pipe.close()


def _spawn_workers(n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` fresh plate-rendering processes (:mod:`geocity._figure_worker`), waiting for their job."""
    import os
    import sys

    env = dict(os.environ)
    here = str(Path(__file__).resolve().parent.parent)  # the geocity the caller imported, also from a source tree
    env["PYTHONPATH"] = os.pathsep.join([here] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    # `python -m` would put the working directory first on the worker's path, so that a `geocity` folder
    # there would be imported instead of the caller's: the caller's goes first
    return [subprocess.Popen([sys.executable, "-c", _WORKER_MAIN, here], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, env=env) for _ in range(n)]


_STARTED: list[subprocess.Popen[bytes]] = []


def start_workers(n: int) -> None:
    """Start ``n`` plate-rendering processes now, for the next :func:`render_all`
    in ``n`` processes to use: they import matplotlib and the recipes while the
    caller computes (``geocity reproduce`` starts them before its first step).
    Any not used by then are stopped at exit or by :func:`stop_started_workers`."""
    stop_started_workers()
    if n > 1:
        _STARTED.extend(_spawn_workers(n))


def stop_started_workers() -> None:
    """Stop the processes of :func:`start_workers` that no :func:`render_all` took."""
    procs = list(_STARTED)
    _STARTED.clear()
    _stop_workers(procs)


def _take_started(n: int) -> list[subprocess.Popen[bytes]]:
    """The processes of :func:`start_workers` if there are ``n`` of them still running, else ``n`` new ones."""
    procs = list(_STARTED)
    _STARTED.clear()
    if len(procs) == n and all(p.poll() is None for p in procs):
        return procs
    _stop_workers(procs)
    return _spawn_workers(n)


atexit.register(stop_started_workers)  # any started ahead and never used

#: A worker's command (``python -c``): the caller's geocity (its argument) first on the path, then the worker.
_WORKER_MAIN = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
                "runpy.run_module('geocity._figure_worker', run_name='__main__', alter_sys=True)")


def _render_parallel(names: Sequence[str], out_dir: Path, analysis: Analysis, opts: dict, n_proc: int,
                     progress: bool) -> list[Path]:
    """:func:`render_all` in ``n_proc`` worker processes (:mod:`geocity._figure_worker`; fresh, or those
    of :func:`start_workers`): each receives the analysis once, then the next figure of ``names`` (in
    order) whenever it has drawn one."""
    import pickle
    import selectors

    from .errors import GeocityError

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(names), desc="figures", unit="figure")
    procs = _take_started(n_proc)
    by_name: dict[str, list[Path]] = {}
    drawing: dict[int, str | None] = {}  # worker -> the figure it draws (None: told to stop)
    queue = list(names)
    failure = None

    def hand_next(k: int) -> None:
        drawing[k] = queue.pop(0) if queue and failure is None else None
        _send(procs[k], pickle.dumps(drawing[k], protocol=pickle.HIGHEST_PROTOCOL), close=drawing[k] is None)

    # the analysis is pickled once, the same bytes for every worker
    header = pickle.dumps((out_dir, analysis, opts, _recipe_modules(names)), protocol=pickle.HIGHEST_PROTOCOL)
    sel = selectors.DefaultSelector()
    try:
        for k, p in enumerate(procs):
            _send(p, header)
            hand_next(k)
            sel.register(p.stdout, selectors.EVENT_READ, k)  # type: ignore[arg-type]
        while sel.get_map():
            for key, _ in sel.select():
                k = key.data
                if drawing[k] is not None:
                    try:
                        answer = pickle.load(key.fileobj)  # type: ignore[arg-type]
                    except Exception as exc:
                        procs[k].wait()
                        raise GeocityError(
                            f"figures: a plate-rendering process ended without an answer (exit code "
                            f"{procs[k].returncode}; out of memory?) while drawing {drawing[k]}; the files "
                            "already written are complete plates. Run again with processes=1 (CLI: --processes 1) "
                            "to see the error, or with fewer processes") from exc
                    if answer[0] == "ok":
                        by_name[answer[1]] = answer[2]
                        if bar is not None:
                            bar.update(1)
                        hand_next(k)
                        continue
                    failure = failure or answer  # the worker stops after an error
                sel.unregister(key.fileobj)  # told to stop, or failed: the worker ends
                procs[k].wait()
    finally:
        sel.close()
        _stop_workers(procs)
        if bar is not None:
            bar.close()
    if failure is not None:
        if failure[1] is not None:
            raise failure[1]
        raise GeocityError(f"figures: a plate-rendering process failed:\n{failure[2]}")
    return [p for n in names for p in by_name[n]]
