"""The boundaries of :class:`geocity.cluster.CityClusters`: hulls and partitions.

One polygon per cluster, never computed in degrees (*Boundaries* in
:mod:`geocity.cluster`):

- :func:`_hull`: the members' convex or concave hull buffered by
  ``buffer_km`` in an azimuthal equidistant projection centred on the
  cluster's spherical centroid (:func:`_centre`), back in EPSG:4326,
  densified and split at ±180° (:func:`geocity.geodesy.from_local`);
- :func:`_partition` (``boundary="partition"``): overlaps of two buffered
  hulls shared out by nearest member on the sphere, exactly, as half-planes
  (:func:`_half_plane`) in the gnomonic plane of the cluster
  (:func:`_basis`, :func:`_to_gnomonic`, :func:`_from_gnomonic`), where great
  circles are straight lines; :func:`_polygonal` keeps only polygons.

The names are re-exported from :mod:`geocity.cluster`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

#: Centre and east/north unit vectors of a gnomonic plane (:func:`_basis`).
Basis = tuple[np.ndarray, np.ndarray, np.ndarray]


def _centre(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    from .geodesy import spherical_centroid

    return spherical_centroid(lat, lon)


def _hull(lat: np.ndarray, lon: np.ndarray, clat: float, clon: float, kind: str, ratio: float,
          buffer_km: float) -> BaseGeometry:
    """Members' hull buffered by ``buffer_km`` in an equidistant projection
    centred on the cluster, back in EPSG:4326 (split at ±180° if needed)."""
    import shapely
    from shapely.geometry import MultiPoint

    from .geodesy import from_local, to_local

    pts = to_local(MultiPoint(np.column_stack([lon, lat])), clat, clon)
    if kind == "concave" and len(lat) >= 3:
        h = shapely.concave_hull(pts, ratio=ratio)
    else:
        h = pts.convex_hull
    poly = shapely.buffer(h, buffer_km * 1000.0, quad_segs=16)
    out = from_local(poly, clat, clon, densify_km=max(min(buffer_km / 2, 10.0), 1.0))
    return shapely.make_valid(out) if not out.is_valid else out


# --------------------------------------------------------------------------
# boundaries that partition
# --------------------------------------------------------------------------
def _basis(clat: float, clon: float) -> Basis:
    """Centre and east/north unit vectors of the gnomonic plane at (clat, clon)."""
    from .geodesy import unit_vectors

    c = unit_vectors([clat], [clon])[0]
    e = np.cross([0.0, 0.0, 1.0], c)
    if np.linalg.norm(e) < 1e-12:  # centre at a pole
        e = np.array([0.0, 1.0, 0.0])
    e = e / np.linalg.norm(e)
    return c, e, np.cross(c, e)


def _to_gnomonic(geom: BaseGeometry, basis: Basis) -> BaseGeometry:
    """lon/lat geometry → gnomonic plane of ``basis`` (great circles are
    straight lines there); the geometry must lie within 90° of the centre."""
    import shapely

    from .geodesy import unit_vectors

    c, e, f = basis

    def t(xy: np.ndarray) -> np.ndarray:
        v = unit_vectors(xy[:, 1], xy[:, 0])
        d = np.maximum(v @ c, 1e-9)
        return np.column_stack([v @ e / d, v @ f / d])

    return _polygonal(shapely.make_valid(shapely.transform(geom, t)))


def _from_gnomonic(geom: BaseGeometry, basis: Basis, clat: float, clon: float) -> BaseGeometry:
    """Gnomonic plane → lon/lat (densified, antimeridian- and pole-safe via
    :func:`geocity.geodesy.from_local`)."""
    import shapely

    from .geodesy import _transformers, from_local

    c, e, f = basis
    fwd, _ = _transformers(round(clat, 8), round(clon, 8), "aeqd")
    geom = shapely.segmentize(geom, 2.0 / 6371.0)  # ≈ 2 km: the edges are great-circle arcs

    def t(uv: np.ndarray) -> np.ndarray:
        v = c[None, :] + uv[:, :1] * e[None, :] + uv[:, 1:2] * f[None, :]
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        lat = np.degrees(np.arcsin(np.clip(v[:, 2], -1, 1)))
        lon = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
        return np.column_stack(fwd.transform(lon, lat))

    local = _polygonal(shapely.make_valid(shapely.transform(geom, t)))
    return _polygonal(from_local(local, clat, clon, densify_km=2.0))


def _half_plane(n: np.ndarray, basis: Basis, around: BaseGeometry) -> BaseGeometry:
    """The part of the gnomonic plane nearer (on the sphere) to ``a`` than to
    ``b`` for ``n = a − b`` (the hemisphere x·n > 0, a half-plane in the
    gnomonic plane), as a polygon covering the geometry ``around``."""
    from shapely.geometry import Polygon, box

    c, e, f = basis
    a0, a1, a2 = float(n @ c), float(n @ e), float(n @ f)
    minx, miny, maxx, maxy = around.bounds
    big = box(minx - 1, miny - 1, maxx + 1, maxy + 1)
    g = math.hypot(a1, a2)
    if g < 1e-15:
        return big if a0 > 0 else Polygon()
    nh = np.array([a1, a2]) / g
    d = np.array([-nh[1], nh[0]])
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    p0 = np.array([cx, cy]) - ((a0 + a1 * cx + a2 * cy) / g) * nh  # foot of the centre on the line
    r = 4.0 * (math.hypot(maxx - minx, maxy - miny) + abs((a0 + a1 * cx + a2 * cy) / g) + 1.0)
    quad = [p0 - r * d, p0 + r * d, p0 + r * d + 2 * r * nh, p0 - r * d + 2 * r * nh]
    return Polygon(quad).intersection(big)


def _partition(
    geoms: list[BaseGeometry], centres: list[tuple[float, float]], members: list[tuple[np.ndarray, np.ndarray]]
) -> list[BaseGeometry]:
    """Boundaries that partition: where the buffered hulls of two clusters
    overlap, each point of the overlap goes to the cluster whose nearest
    member is nearer on the sphere (a spherical Voronoi split between the two
    member sets, exact: its edges are great-circle arcs, straight in the
    gnomonic plane of the cluster). A member is at distance 0 from its own
    cluster, so it stays in its polygon and leaves every other. Polygons
    with no overlap are unchanged; slivers of rounding left between two
    results are removed from the later one in lon/lat."""
    import shapely

    from .geodesy import unit_vectors

    out = list(geoms)
    vec = [unit_vectors(la, lo) for la, lo in members]
    tree = shapely.STRtree(geoms)
    for k, g in enumerate(geoms):
        others = [int(j) for j in tree.query(g, predicate="intersects") if int(j) != k]
        others = [j for j in others if shapely.intersection(g, geoms[j]).area > 0]
        if not others:
            continue
        basis = _basis(*centres[k])
        gk = _to_gnomonic(g, basis)
        lost: list[BaseGeometry] = []
        for j in others:
            ov = gk.intersection(_to_gnomonic(geoms[j], basis))
            if ov.is_empty or ov.area == 0:
                continue
            c, e, f = basis
            x0, y0, x1, y1 = ov.bounds
            corners = c[None, :] + np.array([[x0, y0], [x0, y1], [x1, y0], [x1, y1]]) @ np.stack([e, f])
            for a in vec[j]:  # the overlap nearer to member a of j than to every member of k
                side = corners @ (a[None, :] - vec[k]).T  # (4, n_k): > 0 where nearer to a than to b
                if (side <= 0).all(axis=0).any():  # some b of k nearer over the whole box: empty cell
                    continue
                cell = ov
                for bi in np.flatnonzero(~(side > 0).all(axis=0)):  # half-planes that cut the box
                    cell = cell.intersection(_half_plane(a - vec[k][bi], basis, ov))
                    if cell.is_empty:
                        break
                if not cell.is_empty:
                    lost.append(cell)
        if lost:
            out[k] = _from_gnomonic(gk.difference(shapely.union_all(lost)), basis, *centres[k])
    for k in range(1, len(out)):  # rounding slivers: earlier (higher-ranked) clusters keep them
        prev = [out[j] for j in range(k) if out[j].intersects(out[k])]
        if prev:
            rest = shapely.union_all(prev)
            if out[k].intersection(rest).area > 0:
                out[k] = _polygonal(shapely.make_valid(out[k].difference(rest)))
    return out


def _polygonal(g: BaseGeometry) -> BaseGeometry:
    """Only the polygons of ``g`` (a MultiPolygon if several)."""
    import shapely
    from shapely.geometry import MultiPolygon

    parts: list[BaseGeometry] = []
    for p in shapely.get_parts(g):
        if p.geom_type == "MultiPolygon" or p.geom_type == "GeometryCollection":
            parts.extend(q for q in shapely.get_parts(p) if q.geom_type == "Polygon" and q.area > 0)
        elif p.geom_type == "Polygon" and p.area > 0:
            parts.append(p)
    if len(parts) == 1:
        return parts[0]
    return MultiPolygon(parts)
