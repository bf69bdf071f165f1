"""The whole map: each chosen layer's data taken from an :class:`~geocity.analysis.Analysis`
(or from frames the caller gives), drawn by its layer module, its legend
section added to the map's legend.

Nothing here computes analysis for a map built from an Analysis: cities and
their corridor distances, clusters, corridor lines and buffers, density
surfaces, links and the scores' provenance all come from the analysis'
cached results, so the map, the plates and the exports of one run agree.
Only the backward-compatible call with an explicit ``cities`` frame and no
clusters / surfaces / links derives those layers from the given cities
(:func:`_of_cities`, with the analysis' parameters), as the map always did.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from ... import provenance as _provenance
from ...errors import NotFoundError, ValidationError
from . import base
from .text import check_lang, label

__all__ = ["MAP_LAYERS", "DEFAULT_LAYERS", "DIMENSIONS", "LINK_SEGMENT_KM", "Given", "webmap"]

#: Layer names :func:`webmap` (and ``geocity webmap --layers``) accepts.
MAP_LAYERS: tuple[str, ...] = ("cities", "clusters", "corridors", "density", "network")
#: Layers of :func:`webmap` by default: all of them. The density overlay
#: starts switched on, the modelled links switched off (1 800 lines hide the cities).
DEFAULT_LAYERS: tuple[str, ...] = MAP_LAYERS
#: Score columns the density overlays and the gravity links can use.
DIMENSIONS: tuple[str, ...] = ("innovation", "industry", "infrastructure", "composite")
#: Densification of the web map's gravity links, km: smooth at web-map
#: zooms, a third of the vertices of 50 km.
LINK_SEGMENT_KM = 150.0
#: Order of the legend's sections (by layer kind).
LEGEND_ORDER: tuple[str, ...] = ("cities", "gdci", "bri", "clusters", "corridors", "density", "links", "points",
                                 "basemap")


@dataclass
class Given:
    """Frames a caller gives instead of the analysis' results (each None: the analysis')."""

    cities: Any = None
    clusters: Any = None
    cluster_members: Any = None
    corridor_lines: Any = None
    corridor_buffers: Any = None
    surfaces: Any = None
    links: Any = None

    @classmethod
    def of(cls, given: Mapping[str, Any]) -> "Given":
        """The frames of ``given`` (keyword → frame); an unknown keyword is a ValidationError naming the known ones."""
        known = [f.name for f in fields(cls)]
        bad = sorted(set(given) - set(known))
        if bad:
            raise ValidationError(f"webmap: unknown argument(s) {', '.join(bad)}; the frames a map can be given "
                                  f"are {', '.join(known)} (other settings belong to the Analysis)")
        return cls(**given)


def _check_layers(layers) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = [p.strip() for p in layers.split(",") if p.strip()]
    layers = tuple(layers)
    bad = [x for x in layers if x not in MAP_LAYERS]
    if bad:
        raise NotFoundError(f"unknown layer(s) {', '.join(map(repr, bad))} in `layers`; valid: {', '.join(MAP_LAYERS)}")
    return layers


def _check_dimensions(values, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [p.strip() for p in values.split(",") if p.strip()]
    values = tuple(values)
    bad = [v for v in values if v not in DIMENSIONS]
    if bad or not values:
        raise NotFoundError(f"unknown dimension(s) {', '.join(map(repr, bad)) or '(none given)'} in `{what}`; "
                            f"valid: {', '.join(DIMENSIONS)}")
    return values


def _surfaces(surfaces) -> list[tuple[str | None, Any]]:
    if isinstance(surfaces, Mapping):
        return list(surfaces.items())
    if isinstance(surfaces, list):
        return [(None, s) for s in surfaces]
    return [(None, surfaces)]


def _with_corridors(cities, members):
    """The cities with a ``corridors`` column: per city, the corridors within
    the analysis' distance (corridor, branch, distance_km, chainage_km)."""
    if members is None or len(members) == 0 or "city_id" not in members.columns:
        return cities
    info: dict[str, list[dict]] = {}
    for r in members.sort_values(["city_id", "distance_km"]).to_dict("records"):
        info.setdefault(r["city_id"], []).append(
            {k: r.get(k) for k in ("corridor", "branch", "distance_km", "chainage_km")})
    out = cities.copy()
    out["corridors"] = [info.get(c) for c in out["city_id"]]
    return out


class _of_cities:
    """Layers derived from explicitly given cities (the backward-compatible
    call), with the analysis' parameters."""

    @staticmethod
    def points(cities):
        return cities.drop(columns=["corridors"], errors="ignore")

    @classmethod
    def clusters(cls, a, cities):
        from ...cluster import CityClusters

        est = CityClusters(eps_km=a.eps_km, min_weight=a.min_weight, method=a.method, max_span_km=a.max_span_km,
                           score="composite", dimension_weights=tuple(a.dimension_weights)).fit(cls.points(cities))
        return est.clusters_, est.members_

    @classmethod
    def density(cls, a, cities, weight):
        from ... import density
        from ...analysis import DENSITY_GRID

        return density.density(cls.points(cities), weight=weight, bandwidth_km=a.bandwidth_km, cell_km=a.cell_km,
                               extent=DENSITY_GRID)

    @classmethod
    def links(cls, a, cities, dimension):
        from ... import network

        return network.gravity_links(cls.points(cities), dimension=dimension, beta=a.beta, top_k=a.top_k,
                                     max_segment_km=LINK_SEGMENT_KM)


def webmap(analysis=None, layers: Sequence[str] | str = DEFAULT_LAYERS, *, m=None, points=None,
           tiles: str | None = base.DEFAULT_TILES, lang: str = "both", style: Mapping | str | None = None,
           density_weights: Sequence[str] | str = ("composite",), network_dimension: str = "composite",
           given: Given | None = None):
    """Build the map (see :func:`geocity.render.leaflet.webmap`); returns the folium.Map."""
    from ... import styles as _styles
    from ...analysis import Analysis
    from . import MANY_POINTS, add_layer

    # ---- every option checked before anything is drawn
    layers = _check_layers(layers)
    check_lang(lang)
    given = given or Given()
    a = analysis if analysis is not None else Analysis()
    if not isinstance(a, Analysis):
        raise ValidationError(f"`analysis` must be a geocity.analysis.Analysis, got {type(a).__name__}")
    if "density" in layers and given.surfaces is None:
        density_weights = _check_dimensions(density_weights, "density_weights")
    if "network" in layers and given.links is None:
        _check_dimensions([network_dimension], "network_dimension")
    if isinstance(tiles, str) and tiles.strip().lower() in ("none", ""):
        tiles = None
    style = _styles.load_style() if style is None else _styles.load_style(style) if isinstance(style, str) else style
    points = _read_points(points)
    many = points is not None and len(points) >= MANY_POINTS
    m = base.new_map(tiles=tiles, prefer_canvas=many) if m is None else m
    wm = base.WebMap.of(m)
    wm.year = a.year  # the rankings' edition, named in the popups
    sections: dict[str, list] = {}

    def draw(kind: str, data, key: str | None = None, **kw) -> None:
        sec = add_layer(wm, kind, data, lang=lang, style=style, **kw)
        if sec is not None:
            sections.setdefault(key or kind, []).append(sec)

    if tiles is None:
        if not wm.basemap:
            draw("basemap", a.basemap_layer())
        wm.background(style["colors"]["ocean"])

    # ---- where each layer's data and provenance come from: the analysis, or
    # the frames given (their own score_source; else the given cities')
    src = _Sources(a, given, density_weights, network_dimension)
    for kind in ("density", "network", "clusters", "corridors", "cities"):
        if kind in layers:
            for args, kw in getattr(src, kind)():
                draw(*args, **kw)
    if points is not None:
        draw("points", points)
    if not layers and points is None:
        wm.note(f"No layers chosen: pass layers={MAP_LAYERS!r} or --layers")
    for kind in LEGEND_ORDER:
        wm.legend.extend(sections.get(kind, []))
    wm.legend.title = label("legend", lang)
    base.add_controls(m, lang=lang)
    base.finish(m)
    return m


def _read_points(points):
    """A user's point layer (a GeoDataFrame, a file or a lat/lon table), checked; ``None`` stays ``None``."""
    if points is None:
        return None
    if not hasattr(points, "geometry"):
        from ... import export

        # a file or a lat/lon table; an empty one gives a map with a note
        points = export.read_points(points, allow_empty=True).frame
    from .features import check_points

    return check_points(points, "points")


class _Sources:
    """Where each layer's data and provenance come from: the frames given
    (their own ``score_source``; else the given cities'), or the analysis.
    Each method returns the ``draw`` calls of one layer as (args, kwargs)."""

    def __init__(self, a, given: Given, density_weights, network_dimension: str):
        self.a, self.given = a, given
        self.weights, self.dimension = density_weights, network_dimension
        self.own = given.cities  # the cities given, if any
        self.fallback = _provenance.of_frame(self.own) if self.own is not None else None

    def prov(self):
        return self.fallback if self.own is not None else self.a.provenance

    def density(self):
        a, given, cities = self.a, self.given, self.own
        if given.surfaces is not None:
            items = [(nm, s, None) for nm, s in _surfaces(given.surfaces)]
        elif cities is not None:
            items = [(None, _of_cities.density(a, cities, w), self.fallback) for w in self.weights]
        else:
            items = [(None, a.density(w), a.provenance) for w in self.weights]
        return [(("density", surf), dict(provenance=p, name=nm, show=(i == 0)))
                for i, (nm, surf, p) in enumerate(items)]

    def network(self):
        a, given, cities = self.a, self.given, self.own
        if given.links is not None:
            lookup = cities if cities is not None else a.scored()
            return [(("links", given.links), dict(cities=lookup, show=False))]
        if cities is not None:
            return [(("links", _of_cities.links(a, cities, self.dimension)), dict(cities=cities, show=False))]
        links = a.links(self.dimension, max_segment_km=LINK_SEGMENT_KM)
        return [(("links", links), dict(cities=a.scored(), provenance=a.provenance, show=False))]

    def clusters(self):
        a, given, cities = self.a, self.given, self.own
        if given.clusters is not None:
            from .clusters import provenance_of

            p = provenance_of(given.clusters, given.cluster_members) or self.prov()
            return [(("clusters", given.clusters), dict(members=given.cluster_members, provenance=p))]
        if cities is not None:
            cl, mem = _of_cities.clusters(a, cities)
            return [(("clusters", cl), dict(members=mem, provenance=self.fallback))]
        est = a.clusters("composite")
        return [(("clusters", est.clusters_), dict(members=est.members_, provenance=a.provenance))]

    def corridors(self):
        given = self.given
        if given.corridor_lines is not None or given.corridor_buffers is not None:
            return [(("corridors", given.corridor_lines), dict(buffers=given.corridor_buffers))]
        return [(("corridors", self.a.corridor_lines()), dict(buffers=self.a.corridor_buffers()))]

    def cities(self):
        a, cities = self.a, self.own
        if cities is not None:
            shown, p, unplaced = cities, None, []
        else:
            shown, p, unplaced = _with_corridors(a.scored(), a.corridor_members()), a.provenance, a.unplaced_ranked()
        calls = [(("cities", shown), dict(provenance=p))]
        cols = getattr(shown, "columns", [])
        for which, tag in (("gdci", "GDCI:"), ("bri", "BRI:")):
            if len(shown) and f"{which}_rank" in cols:
                calls.append((("top100", shown), dict(key=which, which=which, provenance=p,
                                                      notes=[n for n in unplaced if n.startswith(tag)])))
        return calls
