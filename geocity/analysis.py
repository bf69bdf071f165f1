"""One analysis, many views: every result of a run computed once, here.

An :class:`Analysis` is built from one set of parameters — scores source,
clustering, corridor distance, density bandwidth and cell, gravity model —
and computes each result the first time it is asked for, then hands the
same object to every consumer: the exports and the main job
(:mod:`geocity.pipeline`), the plates (:mod:`geocity.figures`) and the web
map (:mod:`geocity.render.leaflet`). No renderer computes analysis, so the
outputs of one run cannot disagree: ``Analysis(within_km=50)`` gives 50 km
buffers in the files, on the plates and on the map, and one
:class:`~geocity.provenance.ScoreProvenance` labels them all.

Data flows one way::

    layers ──▶ scores (+ provenance) ──▶ Analysis ──▶ export / plates / web map

Examples
--------
>>> from geocity.analysis import Analysis
>>> a = Analysis(within_km=50)
>>> a.provenance.kind
'proxy'
>>> sorted(a.corridor_buffers()["within_km"].unique().tolist())
[50.0]
>>> a.clusters() is a.clusters()   # computed once
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence, cast

from . import _validate
from . import provenance as _provenance
from .errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

__all__ = ["Analysis", "REPORT_CORRIDORS", "SCORES", "DENSITY_GRID"]

#: The corridors the report studies (plates 3-2 and the corridor plates).
REPORT_CORRIDORS: tuple[str, ...] = ("CMREC", "CICPEC", "CPEC")
#: Score columns a density surface or a gravity network can use.
SCORES: tuple[str, ...] = ("innovation", "industry", "infrastructure", "composite")
#: Extent of the world density grid, degrees (west, south, east, north).
DENSITY_GRID: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)


def _defaults() -> dict[str, Any]:
    from .cluster import DEFAULTS as C
    from .density import REPORT_BANDWIDTH_KM, REPORT_CELL_KM
    from .network import REPORT_BETA, REPORT_TOP_K

    return {"eps_km": C["eps_km"], "min_weight": C["min_weight"], "max_span_km": C["max_span_km"],
            "bandwidth_km": REPORT_BANDWIDTH_KM, "cell_km": REPORT_CELL_KM, "beta": REPORT_BETA,
            "top_k": REPORT_TOP_K}


@dataclass(eq=False)
class Analysis:
    """The results of one run, each computed once on first use.

    Parameters
    ----------
    scores
        ``None`` for the rank-derived proxies, or the user's scores table
        (CSV path or DataFrame, see :func:`geocity.scores.city_scores`).
    dimension_weights
        Weights of innovation, industry and infrastructure in the composite.
    eps_km, min_weight, method, max_span_km
        Clustering (:class:`geocity.cluster.CityClusters`); ``None``: the
        report defaults.
    within_km
        Corridor buffer and membership distance, km.
    corridors
        Corridor names (default: every corridor of the embedded table).
    bandwidth_km, cell_km
        Density kernel bandwidth and world grid cell, km.
    beta, top_k
        Gravity model of the networks.
    basemap
        None (embedded Natural Earth), a GeoDataFrame or a polygon file.
    edition
        None (the embedded 2022 rankings, read through :mod:`geocity.layers`),
        an :class:`~geocity.edition.Edition`, an edition folder or
        ``"report-2022"``: the rankings (and cities new to them) every result
        and label of the run comes from.
    airport_passengers
        None (Figures 2-13/2-14 draw the labelled rank proxy of
        :mod:`geocity.airports`) or the user's table of airport passengers
        (CSV path or DataFrame: ``iata``, ``value`` [, ``value_2019``,
        ``value_2022``]; :func:`geocity.airports.read_passengers`), read and
        checked when the object is made.

    Notes
    -----
    Results are cached on the object; build a new :class:`Analysis` (or
    :meth:`replace`) to change a parameter. Every parameter is checked when
    the object is made (:meth:`validate`), before anything is computed or
    written.
    """

    scores: Any = None
    dimension_weights: Sequence[float] = (1, 1, 1)
    eps_km: float | None = None
    min_weight: float | None = None
    method: str = "metro"
    max_span_km: float | None = None
    within_km: float = 100.0
    corridors: Sequence[str] | None = None
    bandwidth_km: float | None = None
    cell_km: float | None = None
    beta: float | None = None
    top_k: int | None = None
    basemap: Any = None
    edition: Any = None
    airport_passengers: Any = None
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    # bandwidth_km, cell_km, beta, top_k, ...: None (the report's value) is
    # replaced in __post_init__, so methods read them as numbers (cast below)
    def __post_init__(self) -> None:
        d = _defaults()
        for k, v in d.items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every parameter; one ValidationError lists every problem."""
        from .corridors import _check_within
        from .density import MAX_BANDWIDTH_KM

        problems: list[str] = []
        try:  # the corridors' own check (positive, at most MAX_WITHIN_KM)
            self.within_km = _check_within(self.within_km)
        except ValidationError as exc:
            problems.append(str(exc))
        for name in ("eps_km", "min_weight", "max_span_km", "bandwidth_km", "cell_km"):
            setattr(self, name, _validate.positive(name, getattr(self, name),
                                                   unit="km" if name.endswith("_km") else None, problems=problems))
        if isinstance(self.bandwidth_km, float) and self.bandwidth_km > MAX_BANDWIDTH_KM:
            problems.append(f"bandwidth_km must be at most {MAX_BANDWIDTH_KM:g} km, got {self.bandwidth_km:g}")
        self.beta = _validate.non_negative("beta", self.beta, problems=problems)
        # an int once valid (a problem is raised below, before top_k is used)
        self.top_k = cast(int, _validate.whole("top_k", self.top_k, minimum=1, problems=problems))
        if self.method not in ("metro", "split", "dbscan"):
            problems.append(f"method must be 'metro', 'split' or 'dbscan', not {self.method!r}")
        try:
            w = [float(x) for x in self.dimension_weights]
            if len(w) != 3 or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
                raise ValueError
            self.dimension_weights = tuple(w)
        except (TypeError, ValueError):
            problems.append("dimension_weights must be three finite numbers ≥ 0 (innovation, industry, "
                            f"infrastructure) that do not all vanish, got {self.dimension_weights!r}")
        if problems:
            raise ValidationError("analysis parameters: " + "; ".join(problems))
        if self.edition is not None:
            from .edition import Edition, read_edition

            if isinstance(self.edition, (str, Path)):
                self.edition = read_edition(self.edition)  # checked now, before anything is computed or written
            elif not isinstance(self.edition, Edition):
                raise ValidationError(f"edition must be an edition folder or a geocity.edition.Edition, not "
                                      f"{type(self.edition).__name__}")
        if self.corridors is not None:
            self.corridors = tuple(self._corridor_names(self.corridors))
        if self.airport_passengers is not None:  # read and checked now, before anything is computed or written
            from .airports import read_passengers

            self._cache["airport_passengers"] = read_passengers(self.airport_passengers)

    def replace(self, **changes: Any) -> "Analysis":
        """A new analysis with some parameters changed (nothing cached)."""
        params = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        params.update(changes)
        return Analysis(**params)

    def params(self) -> dict[str, Any]:
        """The parameters, for provenance records (the scores table by name)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        out["scores"] = self.scores_table
        out["basemap"] = None if self.basemap is None else (
            Path(self.basemap).name if isinstance(self.basemap, (str, Path)) else "user layer")
        out["corridors"] = list(self.corridor_names)
        out["dimension_weights"] = list(self.dimension_weights)
        out["edition"] = None if self.edition is None else (self.edition.name or self.edition.folder.name)
        from .airports import table_name

        out["airport_passengers"] = table_name(self.airport_passengers)
        return out

    def _once(self, key: Any, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _for_thread(self) -> "Analysis":
        """A copy for work in another thread: the same parameters and the
        results computed so far, in a cache of its own (so that neither
        thread changes the other's while it is read or pickled)."""
        import copy

        other = copy.copy(self)
        other._cache = dict(self._cache)
        return other

    def _take_results(self, other: "Analysis") -> None:
        """Keep the results ``other`` (from :meth:`_for_thread`) computed that this one lacks."""
        for key, value in other._cache.items():
            self._cache.setdefault(key, value)

    # ------------------------------------------------------------------ layers and scores
    @property
    def scores_table(self) -> str | None:
        """Name of the user's scores table (file name), or None for the proxies."""
        if self.scores is None:
            return None
        if isinstance(self.scores, (str, Path)):
            return Path(self.scores).name
        return "user table"

    @property
    def year(self) -> int:
        """The year of the rankings (2022: the embedded report)."""
        return 2022 if self.edition is None else int(self.edition.year)

    @property
    def previous_year(self) -> int | None:
        """The year the GDCI rank changes compare with (2021 for the report):
        the previous edition's, or the year before for a printed change
        column; None when the edition has no changes."""
        if self.edition is None:
            return 2021
        ed = self.edition
        how = ed.change_source.get("gdci", "none")
        if how == "none":
            return None
        return ed.previous_year if ed.previous_year is not None else ed.year - 1

    def cities(self):
        """The cities with their GDCI and BRI ranks (a copy): the report's,
        or the edition's (plus the cities it adds, ``edition_new``)."""
        from . import layers

        make = layers.cities_with_ranks if self.edition is None else self.edition.cities_with_ranks
        return self._once("cities", make).copy()

    def ranks(self, key: str):
        """An edition's table (``gdci``, ``bri`` or ``dimension_ranks``; a copy)."""
        from . import layers

        if key not in ("gdci", "bri", "dimension_ranks"):
            raise NotFoundError(f"unknown ranking {key!r}; valid: gdci, bri, dimension_ranks")
        if self.edition is not None:
            return getattr(self.edition, key).copy()
        return layers.load(key if key == "dimension_ranks" else f"{key}_2022")

    def scored(self):
        """The cities with ranks and 3I scores (``score_source`` per city; a copy)."""
        from .scores import SCORE_COLUMNS, city_scores, rank_proxy_scores

        def make():
            cities = self.cities()
            if self.scores is not None or self.edition is None:
                return city_scores(cities, source=self.scores, weights=self.dimension_weights)
            # the edition's rank proxies: the same rule on that year's lists
            sc = rank_proxy_scores(cities["city_id"].astype(str), gdci=self.ranks("gdci"),
                                   dimension_ranks=self.ranks("dimension_ranks"), weights=self.dimension_weights)
            out = cities.copy()
            for c in (*SCORE_COLUMNS, "score_source"):
                out[c] = sc[c].to_numpy()
            return out

        return self._once("scored", make).copy()

    @property
    def provenance(self) -> _provenance.ScoreProvenance:
        """Where the scores come from (:mod:`geocity.provenance`), one answer for every output."""
        return self._once("provenance", lambda: _provenance.of_frame(self.scored(), table=self.scores_table))

    def input_files(self) -> list[Path]:
        """Files the scores are built from, for the checksums of provenance records."""
        from . import scores

        files = scores.input_files(self.scores if isinstance(self.scores, (str, Path)) else None)
        if self.edition is not None:
            files += [f for f in self.edition.files if f not in files]
        return files

    def basemap_layer(self):
        """The basemap polygons (embedded Natural Earth or the user's), read and checked once."""
        from .render import static

        return self._once("basemap", lambda: static.load_basemap(self.basemap))

    # ------------------------------------------------------------------ clusters
    def clusters(self, score: str = "composite"):
        """The fitted :class:`~geocity.cluster.CityClusters` on ``score``
        (``clusters_``, ``members_``, ``params_``). Its advisory
        :class:`~geocity.cluster.ClusterWarning` are issued once, on the first call."""
        from .cluster import CityClusters

        if score not in SCORES:
            raise NotFoundError(f"unknown score {score!r} for clusters; valid: {', '.join(SCORES)}")

        def fit():
            est = CityClusters(eps_km=self.eps_km, min_weight=self.min_weight, method=self.method,
                               max_span_km=self.max_span_km, score=score,
                               dimension_weights=tuple(self.dimension_weights))
            return est.fit(self.scored())

        return self._once(("clusters", score), fit)

    # ------------------------------------------------------------------ corridors
    def _corridor_names(self, names) -> list[str]:
        from . import corridors as cor

        have = {c.upper(): c for c in cor.available()}
        names = [names] if isinstance(names, str) else list(names)
        missing = [c for c in names if str(c).upper() not in have]
        if missing:
            raise NotFoundError(f"corridor(s) {missing} not in the corridor table; available: {sorted(have.values())}")
        return [have[str(c).upper()] for c in names]

    @property
    def corridor_names(self) -> tuple[str, ...]:
        """The corridors of this analysis."""
        from . import corridors as cor

        return tuple(self.corridors) if self.corridors is not None else tuple(cor.available())

    def _pick(self, frame, names):
        if names is None:
            return frame.copy()
        names = self._corridor_names(names)
        return frame.loc[frame["corridor"].isin(names)].reset_index(drop=True)

    def corridor_lines(self, names: Sequence[str] | str | None = None):
        """Corridor lines (geodesic, split at ±180°) of ``names`` (default: all of the analysis)."""
        from . import corridors as cor

        return self._pick(self._once("corridor_lines", lambda: cor.lines(list(self.corridor_names))), names)

    def corridor_buffers(self, names: Sequence[str] | str | None = None):
        """``within_km`` geodesic buffers of the corridors (one row per corridor)."""
        import pandas as pd

        from . import corridors as cor

        def make():
            return pd.concat([cor.buffer(n, self.within_km) for n in self.corridor_names], ignore_index=True)

        return self._pick(self._once("corridor_buffers", make), names)

    def corridor_members(self, names: Sequence[str] | str | None = None):
        """The report's cities (with ranks) within ``within_km`` of each
        corridor: distance, chainage, side (:func:`geocity.corridors.members`)."""
        from . import corridors as cor

        def make():
            return cor.members(self.cities(), corridors=tuple(self.corridor_names), within_km=self.within_km)

        return self._pick(self._once("corridor_members", make), names)

    # ------------------------------------------------------------------ density and networks
    def density(self, weight: str = "composite"):
        """The kernel density of the cities weighted by ``weight`` on the
        world Equal Earth grid (``bandwidth_km``, ``cell_km``)."""
        from . import density as _density

        if weight not in SCORES:
            raise NotFoundError(f"unknown density weight {weight!r}; valid: {', '.join(SCORES)}")
        return self._once(("density", weight), lambda: _density.density(
            self.scored(), weight=weight, bandwidth_km=cast(float, self.bandwidth_km), cell_km=self.cell_km,
            extent=DENSITY_GRID, provenance=self.provenance))

    def density_on(self, points, weight: str, *, crs, grid_bounds, cell_km: float):
        """A density surface on a given grid (a plate's CRS and bounds), with
        this analysis' bandwidth; ``points`` is a key of :meth:`weighted`
        results or a frame the caller got from this object."""
        from . import density as _density

        key = ("density_on", weight, id(points), crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs),
               tuple(round(float(v)) for v in grid_bounds), float(cell_km))
        return self._once(key, lambda: _density.density(points, weight=weight,
                                                         bandwidth_km=cast(float, self.bandwidth_km),
                                                         cell_km=cell_km, crs=crs, grid_bounds=grid_bounds))

    def links(self, dimension: str = "composite", *, max_segment_km: float = 50.0, cities=None, key=None):
        """Gravity-modelled links between the cities on ``dimension``
        (``beta``, ``top_k``), geodesic arcs densified to ``max_segment_km``.
        ``cities``/``key``: another weighting of the same cities (a plate's
        table weights), cached under ``key``."""
        from . import network

        pts = self.scored() if cities is None else cities
        return self._once(("links", dimension, float(max_segment_km), key), lambda: network.gravity_links(
            pts, dimension=dimension, beta=cast(float, self.beta), top_k=self.top_k, max_segment_km=max_segment_km))

    def unplaced_ranked(self) -> list[str]:
        """Notes on ranked cities the cities layer has no coordinates for
        (so the top-100 layers say why they show fewer than 100)."""
        def make():
            notes = []
            have = set(self.cities()["city_id"])
            for key, label in (("gdci", "GDCI"), ("bri", "BRI")):
                ranks = self.ranks(key)
                missing = ranks[~ranks["city_id"].isin(have) & (ranks["rank"] <= 100)]
                if len(missing):
                    ids = ", ".join(f"{r.city_id} (#{int(r.rank)})" for r in missing.itertuples())
                    n = len(missing)
                    notes.append(f"{label}: {n} ranked {'city' if n == 1 else 'cities'} not in the report's "
                                 f"city list (no coordinates), not shown: {ids}")
            return notes

        return list(self._once("unplaced", make))

    def weighted(self, key: Any, make):
        """A weighting of the cities a view derives from this analysis (a
        plate's table weights: an input column, not a result), made by
        ``make()`` once and kept, so the :meth:`density_on` and :meth:`links`
        results keyed on it are computed once. Do not modify it."""
        return self._once(("weighted", key), make)

    # ------------------------------------------------------------------ sites and airports (Figures 2-10, 2-13, 2-14)
    def vehicle_sites(self):
        """The carmakers' factories and R&D sites of Figure 2-10
        (``layers/vehicle_sites.csv``, points EPSG:4326; a copy)."""
        from . import layers

        def make():
            return layers.load("vehicle_sites")

        return self._once("vehicle_sites", make).copy()

    def city_airports(self):
        """Each city's airports by the rule of :func:`geocity.airports.city_airports` (a copy)."""
        from . import airports

        return self._once("city_airports", lambda: airports.city_airports(self.cities())).copy()

    def airports(self):
        """The top-100 airports of Figures 2-13/2-14 with ``value_2019``,
        ``held_up`` and their ``score_source`` / ``held_up_source``: the
        user's ``airport_passengers`` or the labelled proxy
        (:func:`geocity.airports.airport_ranking`; a copy)."""
        from . import airports

        return self._once("airports", lambda: airports.airport_ranking(
            self.cities(), gdci=self.ranks("gdci"), dimension_ranks=self.ranks("dimension_ranks"),
            passengers=self._cache.get("airport_passengers"))).copy()
