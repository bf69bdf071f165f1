"""Interactive Leaflet maps (folium) of the report's cities, clusters, corridors,
density surfaces and (modelled) city networks: the public interface of the
web-map renderer in :mod:`geocity.render.web`.

:func:`webmap` draws the results of one :class:`geocity.analysis.Analysis`
— the same cities, clusters, corridor buffers, density surfaces, links and
score provenance as the exports and the plates of that analysis; it
computes nothing itself. The ``add_*`` functions add one kind of layer each
(and its legend section) and accept any GeoDataFrame of the right shape;
:func:`save` writes the page through :func:`geocity.export.atomic_path`,
with deterministic element ids, so the same input gives the same bytes.

Safety: every string that reaches a popup, tooltip, legend, search tip or
layer name is HTML-escaped (:func:`escape`), including backticks and ``$``
because folium places some texts inside JavaScript template literals, and
the page is rendered by :mod:`geocity.render.page`, which never compiles
rendered text as a template.

Colours and symbol sizes come from the shared style sheet
(:mod:`geocity.styles`), the same one the static renderer uses. A marker of
area ``A`` points² becomes a circle of radius ``sqrt(A)`` pixels, never less
than ``MIN_RADIUS_PX`` so it stays clickable.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import folium

from .web import LAYERS as LAYER_KINDS
from .web import assemble
from .web import basemap as _basemap
from .web import cities as _cities
from .web import clusters as _clusters
from .web import corridors as _corridors
from .web import density as _density
from .web import links as _links
from .web import points as _points
from .web.base import ALTERNATIVE_TILES, DEFAULT_TILES, WebMap, add_controls, add_note, finish, new_map, save, to_html
from .web.features import COORD_DECIMALS, MIN_RADIUS_PX
from .web.legend import Section
from .web.text import escape

__all__ = [
    "LAYERS", "DEFAULT_LAYERS", "DIMENSIONS", "LAYER_KINDS", "DEFAULT_TILES", "ALTERNATIVE_TILES", "MANY_POINTS",
    "MIN_RADIUS_PX", "COORD_DECIMALS", "LINK_DECIMALS", "LINK_SEGMENT_KM", "BASEMAP_SIMPLIFY_DEG", "escape",
    "webmap", "new_map", "add_cities", "add_top100", "add_clusters", "add_corridors", "add_points", "add_density",
    "add_links", "add_basemap", "add_legend", "add_note", "add_controls", "finish", "to_html", "save", "Section",
]

#: Layer names :func:`webmap` (and ``geocity webmap --layers``) accepts.
LAYERS: tuple[str, ...] = assemble.MAP_LAYERS
DEFAULT_LAYERS: tuple[str, ...] = assemble.DEFAULT_LAYERS
DIMENSIONS: tuple[str, ...] = assemble.DIMENSIONS
MANY_POINTS = _points.MANY_POINTS
LINK_DECIMALS = _links.DECIMALS
LINK_SEGMENT_KM = assemble.LINK_SEGMENT_KM
BASEMAP_SIMPLIFY_DEG = _basemap.SIMPLIFY_DEG
#: Keyword arguments of :func:`webmap` kept for calls written before
#: :class:`~geocity.analysis.Analysis`: parameters of the analysis it builds.
ANALYSIS_ARGUMENTS: tuple[str, ...] = ("within_km", "top_k")


def webmap(analysis=None, layers: Sequence[str] | str | None = None, *, points=None,
           tiles: str | None = DEFAULT_TILES, lang: str = "both", style: Mapping | str | None = None,
           density_weights: Sequence[str] | str = ("composite",), network_dimension: str = "composite",
           m: folium.Map | None = None, **given: Any) -> folium.Map:
    """An interactive map of one analysis: cities, clusters, corridors,
    density surfaces and (modelled) city networks.

    Parameters
    ----------
    analysis
        The :class:`geocity.analysis.Analysis` whose results are shown
        (default: ``Analysis()``, the report's defaults and rank-derived
        proxy scores). For calls written before it, a layer list given in
        its place is taken as ``layers``.
    layers
        Any of :data:`LAYERS` (list or comma-separated string); default all.
        ``"cities"`` gives the report's cities plus the GDCI and BRI top-100
        layers; ``"density"`` one image overlay per ``density_weights``
        score (the first switched on) — the analysis' own surface, the one
        the GeoTIFF export writes; ``"network"`` the analysis' gravity links
        (switched off at first).
    points
        Optional user points: a point GeoDataFrame or a file path.
    tiles
        xyzservices tile provider name, or None (or ``"none"``) for the
        analysis' basemap (the embedded Natural Earth countries) only.
    lang
        ``"en"``, ``"zh"`` or ``"both"``.
    style
        Style name or dict (default ``"base"``).
    density_weights, network_dimension
        Scores (``DIMENSIONS``) of the density overlays and the links.
    m
        A map to add to; a new one when None.
    **given
        Frames to show instead of the analysis' results: ``cities,
        clusters, cluster_members, corridor_lines, corridor_buffers,
        surfaces`` (DensitySurface, GeoTIFF path or ``(values, transform,
        crs)``; a list of such, or a dict of layer name → such) and
        ``links``. Without an ``analysis``, ``within_km`` and ``top_k`` are
        the parameters of the one built (``ANALYSIS_ARGUMENTS``).

    Returns
    -------
    folium.Map
        Save it with :func:`save`.

    Examples
    --------
    >>> from geocity.analysis import Analysis
    >>> m = webmap(Analysis(within_km=50), ["corridors"], tiles=None)  # doctest: +SKIP
    >>> save(m, "out/map.html")  # doctest: +SKIP
    """
    from ..analysis import Analysis
    from ..errors import ValidationError

    if analysis is not None and not isinstance(analysis, Analysis):
        if layers is not None:
            raise ValidationError(f"webmap: the first argument must be an Analysis, got {type(analysis).__name__}; "
                                  "pass the layers as layers=")
        analysis, layers = None, analysis
    params = {k: given.pop(k) for k in ANALYSIS_ARGUMENTS if k in given}
    if params and analysis is not None:
        raise ValidationError(f"webmap: {', '.join(params)} are parameters of the Analysis; "
                              f"build it with them (Analysis({', '.join(f'{k}=...' for k in params)}))")
    frames = assemble.Given.of(given)
    if analysis is None:
        analysis = Analysis(**params)
    return assemble.webmap(analysis, DEFAULT_LAYERS if layers is None else layers, m=m, points=points, tiles=tiles,
                           lang=lang, style=style, density_weights=density_weights,
                           network_dimension=network_dimension, given=frames)


# --------------------------------------------------------------------------
# one layer at a time: each adds its layer and its legend section
# --------------------------------------------------------------------------
def _add(m, add, data, **kw):
    """Run a layer module's ``add`` on ``m``; put its section in the legend;
    return the folium layers it added (one, a list, or None)."""
    wm = WebMap.of(m)
    before = len(wm.added)
    wm.section(add(wm, data, **kw))
    new = wm.added[before:]
    return new


def _one(layers):
    return layers[0] if layers else None


def add_cities(m: folium.Map, gdf, *, name: str | None = None, lang: str = "both", show: bool = True,
               size_by: str | None = None, style: Mapping | None = None, search: bool = True,
               color_by: str = "region", provenance=None) -> folium.GeoJson | None:
    """Add cities (:func:`geocity.render.web.cities.add`); returns the layer or None."""
    return _one(_add(m, _cities.add, gdf, name=name, lang=lang, show=show, size_by=size_by, style=style,
                     search=search, color_by=color_by, provenance=provenance))


def add_top100(m: folium.Map, gdf, which: str = "gdci", *, lang: str = "both", show: bool = False,
               style: Mapping | None = None, provenance=None) -> folium.GeoJson | None:
    """Add the GDCI or BRI top 100 (:func:`geocity.render.web.cities.add_top100`)."""
    return _one(_add(m, _cities.add_top100, gdf, which=which, lang=lang, show=show, style=style,
                     provenance=provenance))


def add_clusters(m: folium.Map, clusters, *, members=None, lang: str = "both", show: bool = True,
                 style: Mapping | None = None, provenance=None) -> folium.GeoJson | None:
    """Add cluster outlines (:func:`geocity.render.web.clusters.add`)."""
    return _one(_add(m, _clusters.add, clusters, members=members, lang=lang, show=show, style=style,
                     provenance=provenance))


def add_corridors(m: folium.Map, lines, buffers=None, *, lang: str = "both", show: bool = True,
                  style: Mapping | None = None) -> list[folium.GeoJson]:
    """Add corridor lines and buffers (:func:`geocity.render.web.corridors.add`); returns the layers."""
    return _add(m, _corridors.add, lines, buffers=buffers, lang=lang, show=show, style=style)


def add_points(m: folium.Map, gdf, *, name: str | None = None, lang: str = "both", show: bool = True,
               style: Mapping | None = None, max_popup_columns: int = 12, cluster: bool = False):
    """Add a user's own points (:func:`geocity.render.web.points.add`)."""
    return _one(_add(m, _points.add, gdf, name=name, lang=lang, show=show, style=style,
                     max_popup_columns=max_popup_columns, cluster=cluster))


def add_density(m: folium.Map, surface, *, name: str | None = None, show: bool = True, lang: str = "both",
                style: Mapping | None = None, opacity: float = 0.75, vmax: float | None = None,
                legend: bool = True, provenance=None) -> folium.raster_layers.ImageOverlay:
    """Add a density surface as an image overlay (:func:`geocity.render.web.density.add`)."""
    return _one(_add(m, _density.add, surface, name=name, show=show, lang=lang, style=style, opacity=opacity,
                     vmax=vmax, legend=legend, provenance=provenance))


def add_links(m: folium.Map, links, *, cities=None, name: str | None = None, show: bool = True,
              lang: str = "both", style: Mapping | None = None, legend: bool = True,
              provenance=None) -> folium.GeoJson | None:
    """Add links between cities (:func:`geocity.render.web.links.add`)."""
    return _one(_add(m, _links.add, links, cities=cities, name=name, show=show, lang=lang, style=style,
                     legend=legend, provenance=provenance))


def add_basemap(m: folium.Map, countries, *, style: Mapping | None = None, lang: str = "both") -> folium.GeoJson:
    """Add country polygons as the base layer (:func:`geocity.render.web.basemap.add`)."""
    return _one(_add(m, _basemap.add, countries, style=style, lang=lang))


def add_legend(m: folium.Map, sections: Sequence[tuple[str, Sequence[tuple[str, str, str]]]], *,
               title: str = "Legend") -> folium.Map:
    """Add sections to the map's legend and set its title.

    ``sections`` are ``[(title, [(kind, colour, label), ...]), ...]`` (see
    :class:`geocity.render.web.legend.Section`; plain text, escaped when
    written) or :class:`Section` objects; they follow the layers' sections.
    """
    wm = WebMap.of(m)
    for s in sections:
        wm.section(s if isinstance(s, Section) else Section(s[0], list(s[1])))
    wm.legend.title = str(title)
    return m
