"""The city cluster identifier: the report's city clusters on geodesic DBSCAN.

:class:`CityClusters` gives the report's "global dynamic city clusters"
(section 2.1, Figure 2-3) and innovation clusters (Figure 2-5): weighted
DBSCAN on the cities' 3I scores (the exact geodesic engine of
:mod:`geocity.dbscan`, :func:`~geocity.dbscan.geodesic_dbscan`), each region
cut at its inconsistent links down to the metropolitan scale
(``method="metro"``, the default), then a split of over-large pieces into
pole catchments, with names, poles, typology, scores and boundaries that
partition. ``docs/clusters.md`` compares the result with the official
planning regions. It is a scikit-learn estimator (``get_params``,
``set_params``, :func:`sklearn.base.clone`); :func:`report_clusters` fits it
on the embedded scored cities, the report's run.

Weights and core points
-----------------------
A city is a **core** city when the summed 3I score of the cities within
``eps_km`` (itself included) reaches ``min_weight``. Because a score is at
most 1, a city whose own score reaches ``min_weight`` is a core city **on its
own**: with the defaults (``min_weight`` = 0.45 on rank-size proxies) that is
the case for the top few cities of the index (Tokyo, Shanghai, Beijing,
Singapore ...). Such a city is a core city **whatever its neighbours**: it
starts a cluster by itself and every city within ``eps_km`` joins it, so
``min_weight`` no longer asks it for a dense neighbourhood. With the defaults
that is intended — the report's clusters grow around such poles — but it
changes what a cluster means, so :meth:`CityClusters.fit` says so with one
:class:`SelfCoreWarning` (a :class:`ClusterWarning`) per fit, listing those
cities with their scores (the first 10 and how many more); raise
``min_weight`` above the largest score to make every core city depend on
its neighbours. When such a city has no other city within ``eps_km`` (the
engine's own neighbour test) it would be a cluster of one: a separate
:class:`ClusterWarning` says so and the city is left out (``min_members`` =
2); those cities are not repeated in the :class:`SelfCoreWarning`. Any other
DBSCAN cluster smaller than ``min_members`` (its cities do have neighbours,
e.g. border cities taken by another cluster) is left out with its own
:class:`ClusterWarning` naming the cities.

Why plain DBSCAN is not enough, and the split
---------------------------------------------
Weighted DBSCAN joins core cities within ``eps_km`` transitively, so at the
scale of the report's clusters (several hundred km) it chains whole
continents: London, Paris, the Rhine, Hamburg, Copenhagen and Stockholm fall
into one cluster, and so do the Chinese coastal cities. Shrinking ``eps_km``
inside such a region (recursive splitting with a tighter eps, or any
single-linkage hierarchy such as HDBSCAN's) cannot give the report's
**Northern European** cluster: Stockholm's nearest neighbours are about
380–420 km away, while the chain Copenhagen–Hamburg (≈ 290 km)–Rhine
(≈ 340 km)–Amsterdam–London (≈ 360 km) only uses shorter links; every
distance threshold that keeps Stockholm with Copenhagen also keeps London.

``method="split"`` therefore splits a DBSCAN region whose geodesic
span (largest member-to-member distance) exceeds ``max_span_km`` into **pole
catchments**, following the report's own reading that "one or several core
cities are driving the growth of the entire region":

1. take the region's core cities in decreasing score (ties by ``city_id``);
2. the strongest city not yet assigned is a pole; its cluster is every
   unassigned city that is density-reachable from it (through unassigned
   core cities, links ≤ ``eps_km``) **without leaving the circle of radius**
   ``max_span_km / 2`` around the pole, plus the non-core cities within
   ``eps_km`` of those cores and inside the circle;
3. repeat until every core city is assigned; non-core cities still left join
   the cluster of their nearest core city;
4. a catchment with fewer than ``min_members`` cities joins the catchment it
   is linked to (a pair within ``eps_km``, one of them a core city) by the
   shortest link, smallest catchment first, until every catchment has
   ``min_members`` cities (or the region is one cluster again).

Every resulting cluster is connected by DBSCAN links; its cities claimed in
step 2 lie within ``max_span_km / 2`` of the pole, so their span is at most
``max_span_km`` (triangle inequality); a non-core city re-attached in step 3
lies within ``eps_km`` of a member core. Step 4 is what keeps the split from
losing cities: a split may divide a DBSCAN cluster but never turns its cities
into noise, so every city of a DBSCAN cluster of at least ``min_members``
cities ends up in exactly one split cluster (and a density-connected group
never yields zero clusters). A catchment joined in step 4 may take its
cluster beyond ``max_span_km``: that happens when ``eps_km`` exceeds
``max_span_km / 2`` (a pole's own neighbours then lie outside its circle) or
when a core city's neighbours were all claimed by stronger poles; the fit
logs each such merge at INFO level. "Within ``eps_km``" is decided by the
very test :func:`~geocity.dbscan.geodesic_dbscan` uses (chord on unit vectors, no
antimeridian or pole case). Regions within the span limit are kept exactly
as DBSCAN found them, and ``method="dbscan"`` keeps plain weighted DBSCAN for
everything.

The metropolitan cut (``method="metro"``, default)
--------------------------------------------------
A region of 450 km links still joins, at one scale, cities a planner keeps
apart: Shantou is 233 km from Huizhou, Houston 236 km from Austin, yet the
Greater Bay Area stops at Huizhou and Dallas–Houston is one cluster. The
difference is **relative**: the Pearl River Delta's cities are 20–60 km
apart, so a 233 km gap is a break there, while the Texan cities are
120–300 km apart, so 236 km is an ordinary link. ``method="metro"`` applies
the classical inconsistent-edge rule of minimum-spanning-tree clustering
(C. T. Zahn, *Graph-theoretical methods for detecting and describing gestalt
clusters*, IEEE Trans. Computers C-20, 1971) to each DBSCAN region, in
great-circle km:

1. build the region's minimum spanning tree (Prim, ties by index);
2. cut every tree link longer than ``min_gap_km`` (120 km, the commuting
   reach of a metropolis: shorter links are never cut) that is longer than
   ``gap_ratio`` (2.5) times the mean length of the tree links within
   ``gap_depth`` (2) steps of either of its ends (a leaf end gives no
   evidence);
3. a piece with fewer than ``min_members`` cities or without a core city
   that holds a **ranked** city (published evidence, see ``ranked``) gets
   its shortest cut link back (smallest piece first): Paris and Los Angeles
   are not noise because their nearest neighbours are far; other such
   pieces (unranked cities only) become noise (logged at INFO level);
4. a piece wider than ``max_span_km`` (700 km) is split into pole catchments
   as ``method="split"`` does (below).

Weights act through the DBSCAN core test (which cities can form a region at
all), the ranked rule of step 3, the poles of step 4 and the names. Every
metro cluster lies within one DBSCAN cluster, holds a core city and at least
``min_members`` cities. ``method="split"`` with ``max_span_km=1100`` is the
previous default (province-scale groups, e.g. the Greater Bay Area with
Xiamen, Shantou and Haikou).

Default parameters and why
--------------------------
``eps_km = 450``
    The scale of a city cluster: linked cities are a few hours apart by road
    or rail, one short flight at most. It must exceed the links the report's
    clusters need: Dallas–Houston ≈ 360 km, Stockholm to its Nordic
    neighbours ≈ 380–420 km.
``min_weight = 0.45``
    About the weight of a top-10 city (rank-size proxy of rank 5 = 0.45), or
    Dallas with its Texan neighbours (Dallas 0.25 + Austin + Houston + San
    Antonio), or eight unranked cities: a cluster needs a strong pole or a
    dense group.
``max_span_km = 700``
    Twice the 350 km radius of a pole's catchment: the planning regions the
    report names are at most about 700 km across among its listed cities
    (Boston–Washington ≈ 630 km, the Yangtze River Delta's 27 cities
    ≈ 500 km, Beijing–Tianjin–Hebei ≈ 450 km). (``method="split"`` used
    1100 km: whole megaregions.)
``gap_ratio = 2.5``, ``gap_depth = 2``, ``min_gap_km = 120``
    Zahn's rule with his usual depth; a link is a break when it is 2.5 times
    the local spacing, and links within a metropolitan commuting reach
    (120 km) are never breaks.

Poles, names and typology
-------------------------
The **poles** of a cluster are its members whose score is at least
``pole_share`` (one third) of the top member's, at most ``max_poles`` (3), in
decreasing score; the ``name`` joins their English names with "–" (e.g.
"Shenzhen–Hong Kong–Guangzhou"), ``name_zh`` their Chinese names. The
report's "(Country)" qualifier is left out of these names unless another city
of the layer has the same bare name (ignoring case and accents; English and
Chinese judged separately): "Los Angeles–San Diego–Phoenix", but "San
Francisco–San Jose (USA)" because of San José (Costa Rica), and 奥克兰（美国）
because 奥克兰 is also Auckland. ``poles`` keeps the unambiguous ``city_id``.

**Ties and unranked clusters.** With the default rank proxies every city
outside the report's lists carries the same base score
(:data:`geocity.scores.BASE_SCORE`), so some clusters (e.g. around
Birobidzhan, Blagoveshchensk and Changchun) have no ranked member at all:
their poles, and so their names, are only the tie rule (``city_id`` order).
``n_ranked`` counts the members whose score rests on published evidence (a
rank-proxy score above the base, or a value from the user's own table) and
``poles_by`` says how the poles were chosen: ``"score"``; ``"score (ties by
city_id)"`` when members with equal scores straddle the pole cut or share
the name's order; ``"tie-break (all members unranked)"`` when
``n_ranked`` is 0 — the name then only places the cluster, it does not say
which cities lead it. The member table's ``ranked`` column gives the flag
per city.

A name lists the poles, i.e. the members by **3I score**, not the cities a
reader knows best: the report's "Dallas–Houston" cluster is our
"Dallas–Austin" (same members: Dallas, Austin, Houston, San Antonio), because
Austin appears in the report's published rankings (innovation) and Houston in
none (it carries the base proxy score), and the report publishes no
population or score that would put Houston ahead. Naming by population would need data the report does
not give and a second ranking rule; we keep one rule (score) for poles and
names, and name-by-pole is what the report's own "one or several core cities
are driving the growth of the entire region" describes. The
``typology`` is "single-pole" or "multi-pole" (≥ 2 poles) and "domestic" or
"cross-border" (members in ≥ 2 ISO 3166 territories, so Hong Kong or Macao
with mainland cities is cross-border, as the report treats the Greater Bay
Area). Clusters are ranked by total score (``rank`` 1 = largest); the
``cluster_id`` equals the rank.

What the defaults reproduce, and where they differ
--------------------------------------------------
On the embedded layers (516 cities, rank-proxy scores) the default run gives
the Greater Bay Area as its nine listed cities (Shenzhen–Hong Kong–
Guangzhou, multi-pole cross-border), Beijing with Tianjin, Shijiazhuang,
Tangshan and Qinhuangdao (and Datong and Ulanqab), the Yangtze River Delta
around Shanghai, Tokyo Bay (Tokyo, Yokohama, Chiba, Tsukuba), the UK apart
from the continent, Dallas with Houston (multi-pole), Vancouver with Seattle
(cross-border); the Nordic cities form cross-border multi-pole clusters
(Hamburg–Copenhagen–Berlin, Stockholm–Riga–Vilnius) and the north-western
cluster around Amsterdam is cross-border multi-pole too (with Paris, joined
by the ranked-city rule). The global top five holds three China/Japan
clusters, as the report says: the default ranks *three* (Shanghai, the
Greater Bay Area, Tokyo; Beijing is seventh), with Paris–Amsterdam and
London; ``method="split"`` ranked four. Cluster totals are sums of rank
proxies, so the order among clusters with close totals is within the
proxies' uncertainty. The innovation run (``score="innovation"``) has the
report's seven innovation clusters (Tokyo Bay, the San Francisco Bay Area,
north-eastern United States, the Greater Bay Area, Beijing–Tianjin–Hebei,
Northern Europe read as the Amsterdam cluster, and the UK) as seven distinct
clusters of its top ten. ``docs/clusters.md`` gives the members against the
official regions, with precision and recall.

Boundaries
----------
One polygon per cluster: the convex (or concave, ``hull="concave"``) hull of
the members, buffered by ``buffer_km`` in an azimuthal equidistant projection
centred on the cluster's spherical centroid (never in degrees), brought back
to EPSG:4326 densified and split at ±180° (a cluster across the antimeridian
becomes a small MultiPolygon, not a band around the world).

With ``boundary="partition"`` (default) the polygons **partition**: where
the buffered hulls of two clusters overlap, each point of the overlap goes
to the cluster whose nearest member is nearer on the sphere — the spherical
Voronoi split between the two member sets, computed exactly as half-planes
in the gnomonic plane of the cluster (where great circles are straight
lines) and brought back through the same antimeridian- and pole-safe path.
So polygons of distinct clusters never overlap, every member lies in its own
cluster's polygon and in no other (it is at distance 0 from its own
cluster), and a point-in-polygon join gives each city at most one cluster.
Rounding slivers left between two polygons go to the higher-ranked cluster.
``boundary="hull"`` keeps the plain buffered hulls, which may overlap.

Scores are rank-derived **proxies** unless the user gives real scores
(:mod:`geocity.scores`); ``clusters_``, ``members_`` and ``params_`` carry
``score_source`` and ``proxy`` so every output can say so.

Where the code lives
--------------------
This module holds the estimator (parameters, their checks, :meth:`CityClusters.fit`
driving the steps, its warnings) and :func:`report_clusters`; each step is a small
private module, its names re-exported here:

- :mod:`geocity.dbscan`: the weighted geodesic DBSCAN engine;
- :mod:`geocity._cluster_inputs`: the cities and their weights, checked;
- :mod:`geocity._cluster_metro`: the metropolitan cut (spanning tree, Zahn's rule);
- :mod:`geocity._cluster_split`: the pole-catchment split and its merge of small catchments;
- :mod:`geocity._cluster_naming`: poles, names, typology, the ``ranked`` flag;
- :mod:`geocity._cluster_boundary`: buffered hulls and the partition of their overlaps;
- :mod:`geocity._cluster_tables`: the ``clusters_`` / ``members_`` tables and the
  shapefile field names (``SHAPEFILE_FIELDS``); writing goes through
  :func:`geocity.export.write_clusters`.
"""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils._param_validation import Interval

from . import _cluster_inputs, _validate
from . import provenance as _provenance  # noqa: F401 - re-exported (it was imported here)
from ._cluster_boundary import (  # noqa: F401 - re-exported
    _basis,
    _centre,
    _from_gnomonic,
    _half_plane,
    _hull,
    _partition,
    _polygonal,
    _to_gnomonic,
)
from ._cluster_metro import _gap_split, _mst_edges  # noqa: F401 - re-exported
from ._cluster_naming import _DASH, _label_names, _ranked, _text  # noqa: F401 - re-exported
from ._cluster_split import _merge_small, _split_region  # noqa: F401 - re-exported
from ._cluster_tables import _EMPTY_DTYPES, SHAPEFILE_FIELDS, _tables  # noqa: F401 - re-exported
from .dbscan import (  # noqa: F401  (the engine's public names, re-exported)
    CHUNK_PAIRS,
    EDGE_RTOL,
    GRID_MIN_POINTS,
    PROGRESS_MIN_POINTS,
    GeodesicDBSCAN,
    _check_parameters,
    _Choices,
    _has_neighbour,
    _numeric,
    _pairwise,
    _sample_weight,
    geodesic_dbscan,
)
from .errors import GeocityWarning, ValidationError
from .export import DEFAULT_FIELD_NAMES as _SHP_DEFAULTS  # noqa: F401 - re-exported
from .geodesy import validate_latlon

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike


log = logging.getLogger(__name__)


class ClusterWarning(GeocityWarning):
    """Something about a clustering result the user should look at."""


class SelfCoreWarning(ClusterWarning):
    """Cities whose own score reaches ``min_weight``: core cities on their own.

    Issued once per :meth:`CityClusters.fit`, listing those cities (name,
    ``city_id`` and score). Expected with the defaults (the report's clusters
    grow around such poles); filter it with
    ``warnings.filterwarnings("ignore", category=SelfCoreWarning)`` when that
    is understood.
    """


# --------------------------------------------------------------------------
# the city cluster identifier
# --------------------------------------------------------------------------
#: Default parameters of :class:`CityClusters` (see the module docstring).
DEFAULTS: dict = {
    "eps_km": 450.0,
    "min_weight": 0.45,
    "max_span_km": 700.0,
    "gap_ratio": 2.5,
    "gap_depth": 2,
    "min_gap_km": 120.0,
    "pole_share": 1 / 3,
    "max_poles": 3,
    "min_members": 2,
    "buffer_km": 30.0,
}
#: The clustering methods of :class:`CityClusters` (module docstring).
METHODS: tuple[str, ...] = ("metro", "split", "dbscan")
#: Largest DBSCAN region that method="split" handles (it needs all pairwise distances).
MAX_SPLIT_MEMBERS: int = 20_000
#: Largest ``buffer_km`` (as :data:`geocity.corridors.MAX_WITHIN_KM`): a wider boundary buffer covers
#: half a continent, and its hulls exhaust the memory of the geometry engine.
MAX_BUFFER_KM: float = 2000.0


class CityClusters(ClusterMixin, BaseEstimator):
    """Identify city clusters: weighted geodesic DBSCAN plus pole-catchment split.

    See the module docstring for the method and the defaults. A
    scikit-learn estimator: the constructor only stores the parameters
    (checked by :meth:`fit`), so ``get_params``, ``set_params``,
    :func:`sklearn.base.clone` and the repr work as for any estimator.

    Parameters
    ----------
    eps_km
        Neighbourhood radius in great-circle km.
    min_weight
        Summed score within ``eps_km`` that makes a core city.
    dimension_weights
        Weights of innovation, industry and infrastructure when the composite
        is recomputed from the three dimensions.
    method
        ``"metro"`` (default: DBSCAN, each region cut at its inconsistent
        spanning-tree links, then over-wide pieces split into pole
        catchments), ``"split"`` (DBSCAN, then over-wide regions split into
        pole catchments; the previous default with ``max_span_km=1100``) or
        ``"dbscan"`` (plain weighted DBSCAN).
    max_span_km
        Largest span of a cluster under ``method="metro"`` / ``"split"``.
    gap_ratio, gap_depth, min_gap_km
        The link cut of ``method="metro"``: a spanning-tree link longer than
        ``min_gap_km`` and than ``gap_ratio`` × the mean of the links within
        ``gap_depth`` steps of either end is cut.
    score
        Score used as weight: ``"composite"`` (Figure 2-3) or
        ``"innovation"`` (Figure 2-5), or another dimension. When
        :meth:`fit` is given ``sample_weight``, that is the weight and
        ``score`` only names it in the outputs.
    hull, concave_ratio
        ``"convex"`` or ``"concave"`` (:func:`shapely.concave_hull` with
        ``ratio=concave_ratio``) boundary.
    boundary
        ``"partition"`` (default: overlaps of the buffered hulls shared out
        by nearest member on the sphere, so polygons never overlap) or
        ``"hull"`` (the plain buffered hulls).
    buffer_km
        Buffer around the hull, km (at most :data:`MAX_BUFFER_KM`, 2000 km).
    pole_share, max_poles
        Rule for the poles (members with score ≥ ``pole_share`` × the top
        member's, at most ``max_poles``).
    min_members
        Smallest cluster kept; smaller groups become noise.

    Attributes
    ----------
    labels_ : numpy.ndarray
        ``cluster_id`` per input city (−1: in no cluster), in input order.
    clusters_ : geopandas.GeoDataFrame
        One row per cluster: ``cluster_id, rank, name, name_zh, n_members,
        n_ranked, n_poles, poles, poles_by, typology, polarity, scope,
        territories, total_score, mean_score, max_score, centre_lat,
        centre_lon, score, score_source, proxy, eps_km, min_weight, method,
        max_span_km`` and the boundary. ``n_ranked``: members with published
        evidence (see ``ranked``); ``poles_by``: ``"score"``, ``"score (ties
        by city_id)"`` or ``"tie-break (all members unranked)"`` (module
        docstring, *Ties and unranked clusters*).
    members_ : pandas.DataFrame
        One row per city and cluster: ``cluster_id, cluster_name, city_id,
        name_en, name_zh, country_iso2, lat, lon, is_core, is_pole, ranked,
        weight``, the score columns and ``score_source``. ``ranked``: the
        city's score rests on published evidence (rank proxies: above the
        base score, i.e. ranked in one of the report's lists; user scores:
        given in the user's table).
    params_ : dict
        Parameters, score source, proxy flag and number of clusters (for
        provenance records).
    dbscan_labels_, core_sample_mask_ : numpy.ndarray
        The plain weighted DBSCAN labels and core flags before the split.

    Examples
    --------
    >>> from geocity.cluster import CityClusters
    >>> from geocity.scores import city_scores
    >>> CityClusters(eps_km=400, min_weight=0.5, method="dbscan")
    CityClusters(eps_km=400, method='dbscan', min_weight=0.5)
    >>> est = CityClusters().fit(city_scores())  # the report's run, as report_clusters()
    >>> gba = est.clusters_.set_index("name").loc["Shenzhen–Hong Kong–Guangzhou"]
    >>> gba["typology"], gba["name_zh"]
    ('multi-pole cross-border', '深圳–香港–广州')
    >>> est.params_["proxy"]
    True
    """

    _parameter_constraints: dict = {
        "eps_km": [Interval(Real, 0.0, None, closed="neither")],
        "min_weight": [Interval(Real, 0.0, None, closed="neither")],
        "dimension_weights": ["array-like"],
        "method": [_Choices(set(METHODS))],
        "max_span_km": [Interval(Real, 0.0, None, closed="neither")],
        "gap_ratio": [Interval(Real, 1.0, None, closed="left")],
        "gap_depth": [Interval(Integral, 1, None, closed="left")],
        "min_gap_km": [Interval(Real, 0.0, None, closed="left")],
        "score": [_Choices({"composite", "innovation", "industry", "infrastructure"})],
        "hull": [_Choices({"convex", "concave"})],
        "boundary": [_Choices({"partition", "hull"})],
        "concave_ratio": [Interval(Real, 0.0, 1.0, closed="both")],
        "buffer_km": [Interval(Real, 0.0, MAX_BUFFER_KM, closed="right")],
        "pole_share": [Interval(Real, 0.0, 1.0, closed="right")],
        "max_poles": [Interval(Integral, 1, None, closed="left")],
        "min_members": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        eps_km: float = DEFAULTS["eps_km"],
        min_weight: float = DEFAULTS["min_weight"],
        *,
        dimension_weights: Sequence[float] = (1, 1, 1),
        method: str = "metro",
        max_span_km: float = DEFAULTS["max_span_km"],
        gap_ratio: float = DEFAULTS["gap_ratio"],
        gap_depth: int = DEFAULTS["gap_depth"],
        min_gap_km: float = DEFAULTS["min_gap_km"],
        score: str = "composite",
        hull: str = "convex",
        boundary: str = "partition",
        concave_ratio: float = 0.3,
        buffer_km: float = DEFAULTS["buffer_km"],
        pole_share: float = DEFAULTS["pole_share"],
        max_poles: int = DEFAULTS["max_poles"],
        min_members: int = DEFAULTS["min_members"],
    ) -> None:
        self.eps_km = eps_km
        self.min_weight = min_weight
        self.dimension_weights = dimension_weights
        self.method = method
        self.max_span_km = max_span_km
        self.gap_ratio = gap_ratio
        self.gap_depth = gap_depth
        self.min_gap_km = min_gap_km
        self.score = score
        self.hull = hull
        self.boundary = boundary
        self.concave_ratio = concave_ratio
        self.buffer_km = buffer_km
        self.pole_share = pole_share
        self.max_poles = max_poles
        self.min_members = min_members

    # ------------------------------------------------------------------
    def _validate_params(self) -> None:
        """Check every parameter (geocity's messages for the numbers and
        ``dimension_weights``, then ``_parameter_constraints``): one
        :class:`~geocity.errors.ValidationError` naming each bad one."""
        from .scores import _weights

        problems: list[str] = []
        for name in ("eps_km", "min_weight", "max_span_km", "buffer_km"):
            v = _validate.positive(name, getattr(self, name), unit="km" if name.endswith("_km") else None,
                                   problems=problems)
            if name == "buffer_km" and v > MAX_BUFFER_KM:  # checked before any work (NaN: said above)
                problems.append(
                    f"buffer_km must be at most {MAX_BUFFER_KM:g} km, got {self.buffer_km!r}: a wider boundary "
                    "buffer covers half a continent; use a smaller buffer_km (--buffer-km on the command line)"
                )
        try:
            _weights(self.dimension_weights)
        except (TypeError, ValueError):
            problems.append(
                "dimension_weights must be three non-negative numbers (innovation, industry, infrastructure) "
                f"with a positive sum, got {self.dimension_weights!r}"
            )
        _check_parameters(self, problems)

    def _check_params(self) -> None:
        """Validate the parameters (the command line calls this before it
        reads or writes anything)."""
        self._validate_params()
        if self.method != "dbscan" and float(self.max_span_km) < 2 * float(self.eps_km):
            log.info("max_span_km %.0f < 2 × eps_km: most clusters will be split", float(self.max_span_km))

    def _weights(self, gdf: pd.DataFrame, sample_weight: ArrayLike | None = None) -> np.ndarray:
        """The weight per city (:func:`geocity._cluster_inputs._weights`)."""
        return _cluster_inputs._weights(self, gdf, sample_weight)

    # ------------------------------------------------------------------
    def fit(self, cities: pd.DataFrame | None = None, y: object = None,
            sample_weight: ArrayLike | None = None) -> CityClusters:
        """Identify the clusters of ``cities``.

        Parameters
        ----------
        cities
            Required. A GeoDataFrame of points (any CRS) or a DataFrame with
            ``lat``/``lon`` columns in degrees, with a unique ``city_id`` and
            the score columns of :func:`geocity.scores.city_scores` (the
            report's run: ``fit(geocity.scores.city_scores())``, or
            :func:`report_clusters`).
        y
            Ignored (scikit-learn convention).
        sample_weight
            One non-negative weight per city, in row order, used instead of
            the ``score`` column (which is then optional: any point layer with
            a ``city_id`` can be clustered). ``score`` then only names the
            weight in the outputs; ``params_`` records ``sample_weight=True``.

        Returns
        -------
        CityClusters
            The fitted estimator.
        """
        self._check_params()
        ids, lat, lon = self._points(cities)
        assert cities is not None  # refused by _points
        validate_latlon(lat, lon, what="cities", labels=ids.tolist())
        w = self._weights(cities, sample_weight)
        if (w < 0).any():
            bad = ids[w < 0].tolist()[:10]
            raise ValidationError(f"negative scores for {bad}; scores must be ≥ 0")
        eps_km, min_weight = float(self.eps_km), float(self.min_weight)
        labels, core = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=w)
        self.dbscan_labels_ = labels.copy()
        self.core_sample_mask_ = core
        self_core = w >= min_weight
        final = labels.copy()
        if self.method in ("split", "metro") and labels.max() >= 0:
            src = cities["score_source"].astype(str).to_numpy() if "score_source" in cities.columns else None
            ranked = _ranked(src, w) if src is not None else np.ones(len(w), dtype=bool)
            final = self._refine(labels, lat, lon, w, core, ids.to_numpy(), ranked)
        # drop clusters below min_members: whole DBSCAN clusters only (the split merges small catchments)
        dropped = []
        for lab in np.unique(final[final >= 0]):
            m = final == lab
            if m.sum() < int(self.min_members):
                dropped.append(np.flatnonzero(m))
                final[m] = -1
        alone = []
        alone_mask = np.zeros(len(ids), dtype=bool)
        small_groups = []
        if dropped:
            flat = np.concatenate(dropped)
            has_nb = dict(zip(flat.tolist(), _has_neighbour(lat, lon, flat, eps_km).tolist(), strict=True))
            for grp in dropped:
                if len(grp) == 1 and not has_nb[int(grp[0])]:  # a core with no other city within eps
                    alone.append(f"{ids.iloc[grp[0]]} ({w[grp[0]]:.3g})")
                    alone_mask[grp] = True
                else:
                    small_groups.append(grp)
        if small_groups:
            n_small = sum(len(g) for g in small_groups)
            shown = [";".join(ids.iloc[g].tolist()) for g in small_groups[:10]]
            one = len(small_groups) == 1
            warnings.warn(
                f"{len(small_groups)} DBSCAN {'cluster has' if one else 'clusters have'} fewer than "
                f"min_members={int(self.min_members)} cities and {'is' if one else 'are'} left out "
                f"({n_small} {'city' if n_small == 1 else 'cities'}): {', '.join(shown)}"
                f"{' ...' if len(small_groups) > 10 else ''}; lower min_members or raise eps_km to keep "
                f"{'it' if one else 'them'}",
                ClusterWarning,
                stacklevel=2,
            )
        if alone:  # one warning for all of them
            warnings.warn(
                f"{len(alone)} {'city is' if len(alone) == 1 else 'cities are each'} a core point on its own "
                f"weight (≥ min_weight {min_weight:.3g}) with no other city within {eps_km:g} km and not a "
                f"cluster (min_members={int(self.min_members)}): "
                f"{', '.join(alone[:10])}{' ...' if len(alone) > 10 else ''}; raise min_weight to avoid "
                "one-city cores",
                ClusterWarning,
                stacklevel=2,
            )
        self._warn_self_core(cities, ids, w, self_core & ~alone_mask, min_weight)
        self._build_outputs(cities.reset_index(drop=True), ids.reset_index(drop=True), lat, lon, w, core, final)
        if sample_weight is not None:
            self.params_["sample_weight"] = True
        if len(self.clusters_) == 0:
            warnings.warn(
                f"no cluster found with eps_km={eps_km:g}, min_weight={min_weight:g}; lower min_weight "
                "or raise eps_km",
                ClusterWarning,
                stacklevel=2,
            )
        return self

    #: ``city_id`` (str Series), lat and lon (degrees) of the cities, checked
    #: (:func:`geocity._cluster_inputs._points`).
    _points = staticmethod(_cluster_inputs._points)

    def _refine(self, labels: np.ndarray, lat: np.ndarray, lon: np.ndarray, w: np.ndarray, core: np.ndarray,
                ids: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """``method="split"`` / ``"metro"``: each DBSCAN region cut at its
        inconsistent links (metro only), then every piece wider than
        ``max_span_km`` split into pole catchments. Pieces with no core city
        become noise (a cluster needs a core, as in DBSCAN)."""
        final = np.full(len(labels), -1, dtype=np.int64)
        nxt = 0
        span = float(self.max_span_km)
        eps_km = float(self.eps_km)
        for lab in range(labels.max() + 1):
            idx = np.flatnonzero(labels == lab)
            if len(idx) > MAX_SPLIT_MEMBERS:
                raise ValidationError(
                    f"a DBSCAN region of {len(idx)} points is too large for method={self.method!r} (all-pairs "
                    f"distances, limit {MAX_SPLIT_MEMBERS}); use method='dbscan' or geocity.dbscan.GeodesicDBSCAN "
                    "for large point layers, or lower eps_km"
                )
            D, adj = _pairwise(lat[idx], lon[idx], eps_km)
            if self.method == "metro":
                parts = _gap_split(D, float(self.gap_ratio), int(self.gap_depth), float(self.min_gap_km),
                                   int(self.min_members), ranked[idx], core[idx])
            else:
                parts = np.zeros(len(idx), dtype=np.int64)
            for part in range(parts.max() + 1):
                m = parts == part
                sub_idx = idx[m]
                if parts.max() > 0 and (not core[sub_idx].any() or len(sub_idx) < int(self.min_members)):
                    log.info("metro: %d unranked or core-less cities cut off by an inconsistent link are noise: %s",
                             len(sub_idx), ", ".join(ids[sub_idx][:5]))
                    continue
                Ds = D[np.ix_(m, m)]
                if Ds.max() <= span:
                    final[sub_idx] = nxt
                    nxt += 1
                    continue
                sub = _split_region(Ds, adj[np.ix_(m, m)], core[sub_idx], w[sub_idx], ids[sub_idx], span / 2,
                                    int(self.min_members))
                final[sub_idx] = sub + nxt
                nxt += int(sub.max()) + 1
        return final

    def _warn_self_core(self, cities: pd.DataFrame, ids: pd.Series, w: np.ndarray, mask: np.ndarray,
                        min_weight: float) -> None:
        """One :class:`SelfCoreWarning` listing the cities of ``mask`` (their own
        score reaches ``min_weight``), strongest first, at most 10 by name."""
        k = int(mask.sum())
        if not k:
            return
        idx = np.flatnonzero(mask)
        idx = idx[np.lexsort((ids.to_numpy()[idx], -w[idx]))]
        names = cities["name_en"].astype(str).to_numpy() if "name_en" in cities.columns else ids.to_numpy()
        shown = ", ".join(
            f"{names[i]} ({ids.iloc[i]}) {w[i]:.3g}" if names[i] != ids.iloc[i] else f"{ids.iloc[i]} {w[i]:.3g}"
            for i in idx[:10]
        )
        more = f" and {k - 10} more" if k > 10 else ""
        one = k == 1
        warnings.warn(
            f"{k} {'city weighs' if one else 'cities weigh'} at least min_weight={min_weight:g} on "
            f"{'its' if one else 'their'} own {self.score} score, so {'it' if one else 'each'} is a core city whatever "
            f"its neighbours and starts a cluster by itself: {shown}{more}. "
            f"Intended with the defaults (the report's clusters grow around such poles); raise min_weight above "
            f"{float(w.max()):.3g} if every core city should need neighbours",
            SelfCoreWarning,
            stacklevel=3,
        )

    def write(
        self,
        path: str | Path,
        *,
        members_path: str | Path | None = None,
        overwrite: bool = False,
        inputs: Sequence[str | os.PathLike[str]] = (),
    ) -> list[Path]:
        """Export the fitted clusters and their member table, all or nothing
        (:func:`geocity.export.write_clusters`).

        Parameters
        ----------
        path
            Cluster polygons; format from the extension (``.shp``, ``.gpkg``,
            ``.geojson``, ``.fgb``), written with the fixed short DBF field
            names of ``SHAPEFILE_FIELDS`` and a provenance record.
        members_path
            Member table (one row per city and cluster; ``.csv`` or any
            vector format). Default: ``<stem>_members.csv`` beside ``path``.
        overwrite
            Replace existing outputs (refused otherwise).
        inputs
            Files whose checksums go into the provenance record, e.g.
            :func:`geocity.scores.input_files`.

        Returns
        -------
        list of pathlib.Path
            Every file written.
        """
        from . import export

        if not hasattr(self, "clusters_"):
            raise ValidationError("CityClusters.write: call fit() first")
        return export.write_clusters(self.clusters_, self.members_, path, members_path=members_path,
                                     metadata=self.params_, inputs=inputs, overwrite=overwrite,
                                     field_names=SHAPEFILE_FIELDS)

    def fit_predict(self, cities: pd.DataFrame | None = None, y: object = None,
                    sample_weight: ArrayLike | None = None) -> np.ndarray:
        """Fit (see :meth:`fit`) and return ``labels_``."""
        return self.fit(cities, sample_weight=sample_weight).labels_

    # ------------------------------------------------------------------
    def _build_outputs(self, cities: pd.DataFrame, ids: pd.Series, lat: np.ndarray, lon: np.ndarray,
                       w: np.ndarray, core: np.ndarray, final: np.ndarray) -> None:
        """Set ``clusters_``, ``members_``, ``labels_`` and ``params_`` from the
        final label per city (:func:`geocity._cluster_tables._tables`)."""
        clusters, members, labels, record = _tables(self, cities, ids, lat, lon, w, core, final)
        # constructor order (get_params sorts the names), as the provenance records always had it
        names = [k for k in inspect.signature(CityClusters.__init__).parameters if k != "self"]
        params: dict[str, Any] = {
            **{k: (list(v) if isinstance(v, tuple) else v) for k, v in ((k, getattr(self, k)) for k in names)},
            **record,
        }
        params["dimension_weights"] = [float(x) for x in self.dimension_weights]
        self.clusters_ = clusters
        self.members_ = members
        self.labels_ = labels
        self.params_ = {**params, "n_clusters": len(clusters)}



def report_clusters(score: str = "composite", **params: Any) -> CityClusters:
    """The report's run: ``CityClusters(score=score, **params)`` fitted on
    :func:`geocity.scores.city_scores` (the embedded cities, rank-proxy
    scores), parameters checked before the cities are loaded.

    ``score="composite"`` is Figure 2-3, ``"innovation"`` Figure 2-5;
    ``params`` are any other :class:`CityClusters` parameters.

    Examples
    --------
    >>> from geocity.cluster import report_clusters
    >>> est = report_clusters("innovation")
    >>> {"tokyo-jp", "beijing-cn", "london-gb"} <= set(";".join(est.clusters_["poles"].head(8)).split(";"))
    True
    """
    from .scores import city_scores

    est = CityClusters(score=score, **params)
    est._check_params()
    return est.fit(city_scores())


