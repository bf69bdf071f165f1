"""Geometry preparation for the static plates: lon/lat layers cut at a
world projection's seam (the meridian opposite its central meridian) or
clipped to a regional plate's geodesic disc, before they are projected.

A world plate centred on 150°E (``styles/pacific.yaml``) has its seam at
30°W, so what the layers split at ±180° (clusters and buffers around Fiji,
links across the Pacific, Chukotka) is joined again here
(polygons by the clip to the map window, lines by
:func:`_join_at_antimeridian`): it is drawn whole, while what crosses the
seam is cut there and never smeared across the map.
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import LineString, Point, box

from .. import geodesy

_SEAM_EPS = 1e-7


def _ring_needs_fix(c: np.ndarray) -> bool:
    return c.shape[0] > 1 and bool(np.any(np.abs(np.diff(c[:, 0])) > 180.0))


def _fix_one(g):
    """Unwrap a part whose edges jump across ±180° (unless it encircles a pole)."""
    if g.geom_type == "Polygon":
        ext = np.asarray(g.exterior.coords)
        rings = [ext] + [np.asarray(r.coords) for r in g.interiors]
        if not any(_ring_needs_fix(r) for r in rings):
            return g
        ux = geodesy.unwrap_lon(ext[:, 0])
        if abs(ux[-1] - ux[0]) > 1.0:  # ring winds around a pole: leave it
            return g
        new_ext = np.column_stack([ux, ext[:, 1]])
        holes = []
        for r in rings[1:]:
            hx = geodesy.unwrap_lon(r[:, 0])
            hx = hx + 360.0 * np.round((new_ext[0, 0] - hx[0]) / 360.0)
            holes.append(np.column_stack([hx, r[:, 1]]))
        return shapely.Polygon(new_ext, holes)
    if g.geom_type == "LineString":
        c = np.asarray(g.coords)
        if not _ring_needs_fix(c):
            return g
        return LineString(np.column_stack([geodesy.unwrap_lon(c[:, 0]), c[:, 1]]))
    return g


def fix_wrapping(geom):
    """Return ``geom`` with parts that jump across ±180° unwrapped and split
    at the antimeridian (via :func:`geocity.geodesy.split_antimeridian`).

    A polygon stored with consecutive vertices at 179° and -179° is meant to
    cross the antimeridian, not to span the globe; longitudes in 0…360° are
    folded back to -180…180. Rings that wind around a pole are kept.
    """
    if geom is None or geom.is_empty:
        return geom
    parts = [_fix_one(p) for p in shapely.get_parts(geom)]
    out = []
    for p in parts:
        minx, _, maxx, _ = p.bounds
        if minx < -180.0 or maxx > 180.0:
            p = geodesy.split_antimeridian(p)
        out.extend(shapely.get_parts(p))
    if not out:
        return geom
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        out = [o for o in out if o.geom_type == "Polygon"]
        return out[0] if len(out) == 1 else shapely.MultiPolygon(out)
    if geom.geom_type in ("LineString", "MultiLineString"):
        out = [o for o in out if o.geom_type == "LineString"]
        return out[0] if len(out) == 1 else shapely.MultiLineString(out)
    return shapely.GeometryCollection(out)


def _crs_lon0(crs: CRS) -> float:
    try:
        for p in crs.to_json_dict()["conversion"]["parameters"]:
            n = p["name"].lower()
            if "longitude" in n and ("origin" in n or "central" in n or "centre" in n):
                return float(p["value"])
    except (KeyError, TypeError, ValueError):
        pass
    return 0.0


def _shift(geoms: np.ndarray, dx: float) -> np.ndarray:
    if dx == 0:
        return geoms
    return shapely.transform(geoms, lambda c: c + np.array([dx, 0.0]))


def _fix_all(geoms: np.ndarray) -> np.ndarray:
    """:func:`fix_wrapping` on the geometries that may need it (wider than
    180° of longitude, or beyond ±180°)."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    if geoms.size == 0:
        return out
    valid = np.array([g is not None for g in geoms])
    b = np.full((len(geoms), 4), np.nan)
    if valid.any():
        b[valid] = shapely.bounds(geoms[valid])
    wide = valid & ((b[:, 2] - b[:, 0] > 180.0) | (b[:, 0] < -180.0) | (b[:, 2] > 180.0))
    for i in np.flatnonzero(wide):
        out[i] = fix_wrapping(geoms[i])
    return out


def _prepare_world(geoms: np.ndarray, lon0: float, lat_min: float, lat_max: float) -> np.ndarray:
    """Cut lon/lat geometries at the seam opposite ``lon0`` and crop latitudes."""
    fixed = _fix_all(geoms)
    rel = _shift(fixed, -lon0)
    if lon0 != 0:
        rel = _join_at_antimeridian(_fix_all(rel), fixed, lon0)
    window = box(-180.0 + _SEAM_EPS, lat_min, 180.0 - _SEAM_EPS, lat_max)
    clipped = shapely.intersection(rel, window)
    return _shift(clipped, lon0)


def _join_at_antimeridian(rel: np.ndarray, fixed: np.ndarray, lon0: float) -> np.ndarray:
    """Merge again the parts of each line that meet at ±180° (in ``fixed``,
    lon/lat) once shifted by ``-lon0`` (``rel``), where ±180° is no longer
    the map's seam: a link across the Pacific is one line on a Pacific plate.
    (Polygons need nothing: the clip to the map window dissolves parts that
    meet there.)"""
    if (lon0 + 180.0) % 360.0 == 0.0:
        return rel
    out = rel.copy()
    at = ((180.0 - lon0) + 180.0) % 360.0 - 180.0  # where ±180° lies in the shifted frame
    for i, (g, orig) in enumerate(zip(rel, fixed, strict=True)):
        if g is None or orig is None or g.geom_type != "MultiLineString":
            continue
        minx, _, maxx, _ = orig.bounds
        if minx > -180.0 + 1e-9 and maxx < 180.0 - 1e-9:
            continue  # touches neither side of the antimeridian
        parts = [np.array(p.coords) for p in shapely.get_parts(g)]
        for a in parts:  # endpoints a hair off the meridian after the shift: put them on it
            for j in (0, -1):
                if abs(a[j, 0] - at) < 1e-6:
                    a[j, 0] = at
        out[i] = shapely.line_merge(shapely.MultiLineString([LineString(a) for a in parts]))
    return out


def _disc(lat0: float, lon0: float, radius_km: float):
    """Geodesic disc (EPSG:4326, split at ±180°) of ``radius_km`` around a point."""
    if radius_km <= 4999.0:
        return geodesy.buffer_km(Point(lon0, lat0), radius_km)
    # beyond buffer_km's range: a circle in the azimuthal equidistant
    # projection is the geodesic circle; from_local closes it over a pole
    circle = Point(0.0, 0.0).buffer(min(radius_km, 9000.0) * 1000.0, quad_segs=64)
    return geodesy.from_local(circle, lat0, lon0, "aeqd", densify_km=50.0)


def _prepare_regional(geoms: np.ndarray, lat0: float, lon0: float, radius_km: float) -> np.ndarray:
    disc = _disc(lat0, lon0, radius_km)
    geoms = np.asarray(geoms, dtype=object)
    valid = np.array([g is not None for g in geoms])
    near = np.zeros(len(geoms), dtype=bool)
    if valid.any():
        near[valid] = shapely.intersects(geoms[valid], box(*disc.bounds))
    out = np.full(len(geoms), None, dtype=object)
    if near.any():
        out[near] = shapely.intersection(_fix_all(geoms[near]), disc)
    # geometries whose bbox misses the disc may still cross ±180 towards it
    far = valid & ~near
    if far.any():
        fixed = _fix_all(geoms[far])
        changed = np.array([a is not b for a, b in zip(fixed, geoms[far], strict=True)])
        if changed.any():
            idx = np.flatnonzero(far)[changed]
            out[idx] = shapely.intersection(fixed[changed], disc)
    return out


def _keep_kind(geoms: np.ndarray, kinds: tuple[str, ...]) -> list:
    out: list = []
    for g in geoms:
        if g is None or g.is_empty:
            out.append(None)
            continue
        parts = [p for p in shapely.get_parts(g) if p.geom_type in kinds and not p.is_empty]
        if not parts:
            out.append(None)
        elif kinds[0] == "Polygon":
            out.append(parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
        else:
            out.append(parts[0] if len(parts) == 1 else shapely.MultiLineString(parts))
    return out
