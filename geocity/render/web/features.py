"""Shared pieces of the layer modules: input checks, GeoJSON, symbol sizes."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping, Sequence

import folium
import numpy as np
import pandas as pd
import shapely

from ...errors import ValidationError
from .text import text

__all__ = ["COORD_DECIMALS", "MIN_RADIUS_PX", "wgs84", "check_points", "check_shapes", "collection", "geojson",
           "radius", "px", "as_list", "style_of"]

#: Coordinates are rounded to this many decimals (1e-5 degree is about 1 m).
COORD_DECIMALS = 5
#: Smallest circle radius in pixels (anything smaller is hard to click).
MIN_RADIUS_PX = 3.0


def style_of(style: Mapping | None) -> Mapping:
    """``style``, or the base style sheet (:func:`geocity.styles.load_style`)."""
    from ... import styles

    return style if style is not None else styles.load_style()


def wgs84(gdf, what: str):
    """``gdf`` in EPSG:4326 (:func:`geocity.geodesy.to_wgs84`); ``what`` names the layer in error messages."""
    import geopandas as gpd

    from ...geodesy import to_wgs84

    if not isinstance(gdf, gpd.GeoDataFrame):
        raise ValidationError(f"{what} must be a GeoDataFrame, got {type(gdf).__name__}")
    return to_wgs84(gdf, name=what)


def check_points(gdf, what: str):
    """EPSG:4326 points (an empty layer passes), or a ValidationError naming the offending rows."""
    from ... import export

    return export.read_points(wgs84(gdf, what), what=what, allow_empty=True).frame


def check_shapes(gdf, what: str, kinds: tuple[str, ...]):
    """EPSG:4326 shapes of ``kinds`` (rows without a geometry are not drawn)."""
    gdf = wgs84(gdf, what)
    if len(gdf) == 0:
        return gdf
    geom = gdf.geometry
    missing = geom.isna() | geom.is_empty
    wrong = ~missing & ~geom.geom_type.isin(kinds)
    if wrong.any():
        raise ValidationError(
            f"{what} must hold {' or '.join(kinds)} geometries; {int(wrong.sum())} row(s) are "
            f"{', '.join(sorted(set(geom[wrong].geom_type)))}, e.g. {list(gdf.index[wrong][:10])}"
        )
    return gdf[~missing]


def collection(geoms: Sequence, props: Sequence[dict], *, decimals: int = COORD_DECIMALS) -> dict:
    """A FeatureCollection with coordinates rounded to ``decimals``."""
    arr = shapely.transform(np.asarray(list(geoms), dtype=object), lambda c: np.round(c, decimals))
    feats = []
    for i, (g, p) in enumerate(zip(arr, props, strict=True)):
        gi = g.__geo_interface__
        feats.append({"type": "Feature", "id": str(i),
                      "geometry": {"type": gi["type"], "coordinates": gi["coordinates"]}, "properties": p})
    return {"type": "FeatureCollection", "features": feats}


def geojson(data: dict, *, name: str, show: bool = True, marker=None, overlay: bool = True,
            control: bool = True, popup: bool = True, tooltip: bool = True, **kwargs) -> folium.GeoJson:
    """A GeoJson layer whose features carry ``style``, ``tip`` and ``pop``
    properties (style dict, escaped tooltip HTML, escaped popup HTML)."""
    feats = data["features"]
    has_tip = tooltip and bool(feats) and "tip" in feats[0]["properties"]
    has_pop = popup and bool(feats) and "pop" in feats[0]["properties"]
    return folium.GeoJson(
        data, name=name, show=show, overlay=overlay, control=control, marker=marker,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False) if has_tip else None,
        popup=folium.GeoJsonPopup(fields=["pop"], labels=False, max_width=360) if has_pop else None,
        **kwargs,
    )


def radius(area_pt2: float) -> float:
    """Circle radius (px) of a marker of ``area_pt2`` points² in the style sheet."""
    return round(max(MIN_RADIUS_PX, math.sqrt(max(float(area_pt2), 0.0))), 2)


def px(width_pt: float) -> float:
    """Screen width (px) of a line of ``width_pt`` points."""
    return round(max(0.5, float(width_pt) * 96.0 / 72.0), 2)


def as_list(v: Any) -> list[str]:
    """A list cell, a JSON list, or a ``;``/``|``-separated string as a list of strings."""
    if v is None:
        return []
    if isinstance(v, str):
        s = v.strip()
        if s.startswith("["):
            try:
                return [str(x) for x in json.loads(s)]
            except ValueError:
                pass
        return [p.strip() for p in re.split(r"[;|]", s) if p.strip()] if (";" in s or "|" in s) else [s]
    if isinstance(v, (list, tuple, np.ndarray, pd.Series)):
        return [str(x) for x in v]
    return [] if text(v) == "" else [str(v)]
