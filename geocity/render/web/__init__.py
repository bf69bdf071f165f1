"""The web map renderer, one small module per concern.

* :mod:`.base` — the map, tiles, panes, page CSS, notes, controls, bounds,
  the page's HTML (:class:`~.base.WebMap` holds a map's state);
* :mod:`.legend` — the legend element and its :class:`~.legend.Section`;
* :mod:`.text` — escaping and the labels (from :mod:`geocity.terms`);
* one module per layer kind — :mod:`.cities` (and the top-100 layers),
  :mod:`.clusters`, :mod:`.corridors`, :mod:`.points`, :mod:`.density`,
  :mod:`.links`, :mod:`.basemap` — each with
  ``add(wm, data, *, lang, style, provenance=None, ...) -> Section | None``
  that adds its folium layer(s) and returns its own legend section;
* :mod:`.assemble` — the whole map from a :class:`geocity.analysis.Analysis`.

Adding a kind of layer is one module and one line in :data:`LAYERS`.
The public interface is :mod:`geocity.render.leaflet`.
"""

from __future__ import annotations

from typing import Callable

from . import basemap, cities, clusters, corridors, density, links, points
from .legend import Section
from .points import MANY_POINTS

__all__ = ["LAYERS", "add_layer", "Section", "MANY_POINTS"]

#: Layer kind → its ``add(wm, data, *, lang, style, provenance=None, **options) -> Section | None``.
LAYERS: dict[str, Callable] = {
    "basemap": basemap.add,
    "cities": cities.add,
    "top100": cities.add_top100,
    "clusters": clusters.add,
    "corridors": corridors.add,
    "density": density.add,
    "links": links.add,
    "points": points.add,
}


def add_layer(wm, kind: str, data, **options) -> Section | None:
    """Draw ``data`` as a layer of ``kind`` (:data:`LAYERS`) on ``wm``; returns its legend section."""
    from ...errors import NotFoundError

    try:
        add = LAYERS[kind]
    except KeyError:
        raise NotFoundError(f"unknown web-map layer kind {kind!r}; known: {', '.join(LAYERS)}") from None
    return add(wm, data, **options)
