"""The offline base map: country polygons (the embedded Natural Earth ones by
default) in their own pane under every other layer, for pages without tiles."""

from __future__ import annotations

from typing import Mapping

import shapely

from .base import BASE_PANE, WebMap
from .features import check_shapes, collection, geojson, px, style_of
from .legend import Section
from .text import check_lang, escape, label

__all__ = ["add", "SIMPLIFY_DEG"]

#: Simplification tolerance (degrees) of the countries drawn (display only; about 1 km).
SIMPLIFY_DEG = 0.01


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None, provenance=None) -> Section:
    """Add country polygons as the map's base layer.

    ``data`` is a polygon GeoDataFrame, e.g. ``geocity.layers.load("basemap")``
    or :meth:`geocity.analysis.Analysis.basemap_layer`. ``provenance`` is
    unused. Returns the legend section (land colour); the layer is a base
    layer, so the section is not tied to a toggle.
    """
    check_lang(lang)
    style = style_of(style)
    countries = check_shapes(data, "basemap", ("Polygon", "MultiPolygon"))
    colors = style["colors"]
    s = {"color": colors["land_edge"], "weight": px(style["lines"]["land_edge"]), "fillColor": colors["land"],
         "fillOpacity": 1.0, "interactive": False}
    # display only: simplify to about 1 km and round to about 100 m
    geoms = shapely.simplify(countries.geometry.to_numpy(), SIMPLIFY_DEG, preserve_topology=True)
    fc = collection(geoms, [{"style": s} for _ in range(len(countries))], decimals=3)
    # own pane below the density overlay (and the overlay pane of the vectors)
    wm.pane(BASE_PANE, 250)
    title = label("countries", lang)
    layer = geojson(
        fc, name=escape(title), overlay=False, popup=False, tooltip=False, interactive=False, pane=BASE_PANE
    )
    wm.add(layer)
    wm.basemap = True
    wm.background(colors["ocean"])
    return Section(title, [("box", colors["land"], title)])
