"""The basemap of the static plates (:mod:`geocity.render.static`): reading
and checking a polygon layer (embedded Natural Earth or the user's own
approved base map), the cache of projected basemap paths, and turning
projected shapely geometries into matplotlib paths and line segments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import shapely
from matplotlib.path import Path as MplPath

from .. import geodesy
from ..errors import NotFoundError, ValidationError

#: projected basemap paths, keyed by layer identity and plate geometry
_BASEMAP_CACHE: dict[tuple, tuple[Any, MplPath | None]] = {}


def _check_has_geometry(path: Path, name: str) -> None:
    """A plain error for a file that holds a table and no geometry (a CSV of points)."""
    import pyogrio

    try:
        info = pyogrio.read_info(path)
    except Exception:  # noqa: BLE001 -- pyogrio raises several types; reading the file names the problem
        return
    if info.get("geometry_type") is None:
        raise ValidationError(
            f"{name} holds a table without geometry (columns: "
            f"{', '.join(map(str, list(info.get('fields', []))[:10])) or 'none'}); a basemap must be a polygon "
            "layer such as a .gpkg, .shp or .geojson of country outlines"
        )


def load_basemap(basemap=None):
    """The basemap as a GeoDataFrame of polygons in EPSG:4326.

    Parameters
    ----------
    basemap
        ``None`` for the embedded Natural Earth countries
        (``geocity.layers.load("basemap")``), a GeoDataFrame/GeoSeries, or
        the path of any polygon layer GDAL can read (GeoPackage, shapefile,
        GeoJSON ...) — publications in China must use an officially approved
        base map, which the user supplies this way.

    Raises
    ------
    ValidationError
        The layer has no CRS, holds no polygons (or is a table without
        geometry), or cannot be read.
    """
    import geopandas as gpd

    name = "basemap"
    if basemap is None:
        from .. import layers

        gdf = layers.load("basemap")
        name = "embedded basemap"
    elif isinstance(basemap, (str, Path)):
        p = Path(basemap)
        name = f"basemap file {str(p)!r}"
        if not p.exists():
            raise NotFoundError(f"{name} does not exist; give the path of a polygon layer (.gpkg, .shp, .geojson)")
        if p.is_file():
            _check_has_geometry(p, name)
        try:
            gdf = gpd.read_file(p)
        except Exception as exc:  # pyogrio raises several types
            raise ValidationError(f"cannot read {name}: {exc}; give a polygon layer GDAL can read") from None
    elif isinstance(basemap, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=basemap)
    elif isinstance(basemap, gpd.GeoDataFrame):
        gdf = basemap
    else:
        raise ValidationError(
            f"basemap must be None, a GeoDataFrame or the path of a polygon layer, not {type(basemap).__name__}"
        )
    if gdf.crs is None:
        raise ValidationError(
            f"{name} has no CRS; set one (e.g. gdf.set_crs('EPSG:4326'), or add a .prj to the shapefile)"
        )
    poly = gdf.geometry.notna() & gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if not poly.any():
        kinds = sorted(set(gdf.geometry.geom_type.dropna()))
        raise ValidationError(
            f"{name} holds no polygons (geometry types: {kinds or 'none'}); a basemap must be a polygon layer"
        )
    if not poly.all():
        gdf = gdf.loc[poly]
    return geodesy.to_wgs84(gdf, name=name)


# --------------------------------------------------------------------------
# matplotlib helpers
# --------------------------------------------------------------------------
def _polygon_path(geoms: Iterable) -> MplPath | None:
    verts, codes = [], []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        g = shapely.orient_polygons(g) if hasattr(shapely, "orient_polygons") else g
        for poly in shapely.get_parts(g):
            if poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                c = np.asarray(ring.coords)[:, :2]
                if len(c) < 3:
                    continue
                verts.append(c)
                cc = np.full(len(c), MplPath.LINETO, dtype=np.uint8)
                cc[0] = MplPath.MOVETO
                cc[-1] = MplPath.CLOSEPOLY
                codes.append(cc)
    if not verts:
        return None
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _line_segments(geoms: Iterable) -> list[np.ndarray]:
    segs: list[np.ndarray] = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        for part in shapely.get_parts(g):
            if part.geom_type == "LineString":
                segs.append(np.asarray(part.coords)[:, :2])
            elif part.geom_type == "Polygon":
                segs.append(np.asarray(part.exterior.coords)[:, :2])
    return segs

