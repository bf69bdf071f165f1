"""Geodesy and CRS handling: the one place where distances, local projections
and antimeridian handling are computed.

Conventions
-----------
* Coordinates are WGS 84 longitude/latitude in degrees (EPSG:4326), arrays in
  the order ``(lat, lon)`` for function arguments, ``(x=lon, y=lat)`` inside
  shapely geometries.
* Distances are in kilometres. ``distance_km`` is ellipsoidal (pyproj
  ``Geod`` on WGS 84, Karney's algorithm); ``haversine_km`` and the unit-vector
  helpers are spherical with the IUGG mean radius and are used where an
  algorithm needs a metric (DBSCAN, neighbour search), exactly as
  scikit-learn's ``metric="haversine"`` does.
* Buffers and hulls are made in a local azimuthal equidistant projection
  centred on the geometry (pieces of long lines each get their own centre), and
  brought back to EPSG:4326 densified, unwrapped around the centre meridian and
  split at ±180° so that nothing becomes a band around the world.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry import LineString, MultiLineString, Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from . import _validate
from .errors import ValidationError

#: WGS 84 ellipsoid, used for every ellipsoidal distance and azimuth.
GEOD = Geod(ellps="WGS84")
#: IUGG mean Earth radius in km, used for every spherical computation.
EARTH_RADIUS_KM = 6371.0088
#: The geographic CRS of every embedded layer and every output in degrees.
WGS84 = CRS.from_epsg(4326)

__all__ = [
    "GEOD",
    "EARTH_RADIUS_KM",
    "WGS84",
    "distance_km",
    "haversine_km",
    "unit_vectors",
    "chord_from_arc_km",
    "arc_from_chord",
    "validate_latlon",
    "to_wgs84",
    "local_crs",
    "spherical_centroid",
    "densify_geodesic",
    "geodesic_line",
    "split_antimeridian",
    "unwrap_lon",
    "to_local",
    "from_local",
    "buffer_km",
]


# --------------------------------------------------------------------------
# distances
# --------------------------------------------------------------------------
def distance_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Ellipsoidal (WGS 84) geodesic distance in km, vectorised.

    Examples
    --------
    >>> round(float(distance_km(51.5074, -0.1278, 48.8566, 2.3522)), 1)
    343.9
    """
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lat1, lon1, lat2, lon2))
    )
    _, _, d = GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return (np.asarray(d) / 1000.0).reshape(lat1.shape)


def haversine_km(lat1, lon1, lat2, lon2, radius_km: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Great-circle distance in km on the sphere of radius ``radius_km``."""
    p1, l1, p2, l2 = (np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * radius_km * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def unit_vectors(lat, lon) -> np.ndarray:
    """Points as 3-D unit vectors, shape ``(n, 3)``.

    Chord length between unit vectors grows monotonically with the arc, so a
    Euclidean neighbour search on them is an exact great-circle search with no
    antimeridian or pole special case.
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    if lat.ndim != 1 or lat.shape != lon.shape or lat.size < UNIT_VECTOR_BLOCK:
        phi, lam = np.radians(lat), np.radians(lon)
        c = np.cos(phi)
        return np.column_stack([c * np.cos(lam), c * np.sin(lam), np.sin(phi)])
    # blocks that stay in cache, on the shared threads (NumPy releases the GIL); each
    # value is computed on its own, so the bytes are those of the whole-array expression
    from ._threads import n_threads, thread_map

    out = np.empty((lat.size, 3))

    def block(a: int) -> None:
        b = min(a + UNIT_VECTOR_BLOCK, lat.size)
        phi, lam = np.radians(lat[a:b]), np.radians(lon[a:b])
        c = np.cos(phi)
        np.multiply(c, np.cos(lam), out=out[a:b, 0])
        np.multiply(c, np.sin(lam), out=out[a:b, 1])
        np.sin(phi, out=out[a:b, 2])

    starts = range(0, lat.size, UNIT_VECTOR_BLOCK)
    for _ in thread_map(block, starts, n_threads() if lat.size >= UNIT_VECTOR_THREAD_MIN else 1):
        pass
    return out


#: Points per block of :func:`unit_vectors` (arrays of at least this many are done in blocks).
UNIT_VECTOR_BLOCK: int = 65_536
#: ... and on several threads from this many points.
UNIT_VECTOR_THREAD_MIN: int = 1_000_000


def chord_from_arc_km(arc_km, radius_km: float = EARTH_RADIUS_KM):
    """Chord length on the unit sphere for a great-circle arc in km."""
    return 2.0 * np.sin(np.minimum(np.asarray(arc_km, dtype=float) / radius_km, math.pi) / 2.0)


def arc_from_chord(chord, radius_km: float = EARTH_RADIUS_KM):
    """Great-circle arc in km for a chord length on the unit sphere."""
    return 2.0 * radius_km * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0))


# --------------------------------------------------------------------------
# validation and CRS
# --------------------------------------------------------------------------
def validate_latlon(lat, lon, *, what: str = "points", labels: Iterable | None = None) -> None:
    """Raise :class:`ValidationError` naming the rows with bad coordinates.

    Checks NaN/inf, latitudes outside [-90, 90], longitudes outside
    [-180, 180], and says when the columns look swapped (latitudes beyond 90
    while every longitude would be a valid latitude). Rows are named by
    ``labels`` (e.g. a :class:`geocity._validate.RowLabels`; default ``row N``
    counted from 1) through :func:`geocity._validate.rows`: ``"line 3, line 7
    and 4 more"``.

    Examples
    --------
    >>> validate_latlon([95.0, 10.0], [20.0, 200.0], what="cities")
    Traceback (most recent call last):
    ...
    geocity.errors.ValidationError: cities: 2 row(s) with latitude outside [-90, 90] or longitude outside
    [-180, 180]: row 1, row 2
    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    if lat.shape != lon.shape:
        raise ValidationError(f"{what}: lat and lon have different lengths ({lat.size} vs {lon.size})")
    from ._validate import RowLabels, rows

    given = labels

    def named(mask) -> str:  # built only when a row is bad: 10^7 good rows cost nothing
        lab: Any
        if given is None:
            lab = RowLabels.positions(lat.size)
        elif isinstance(given, (list, tuple, RowLabels)):
            lab = given
        elif hasattr(given, "iloc"):  # a pandas Series: by position, not by index label
            lab = given.iloc
        else:
            lab = list(given)
        return rows(lab, np.flatnonzero(mask))

    problems = []
    bad_nan = ~(np.isfinite(lat) & np.isfinite(lon))
    if bad_nan.any():
        problems.append(f"{int(bad_nan.sum())} row(s) with missing or non-finite coordinates: "
                        f"{named(bad_nan)}")
    with np.errstate(invalid="ignore"):
        bad_lat = np.isfinite(lat) & (np.abs(lat) > 90)
        bad_lon = np.isfinite(lon) & (np.abs(lon) > 180)
    if bad_lat.any() or bad_lon.any():
        msg = (
            f"{int((bad_lat | bad_lon).sum())} row(s) with latitude outside [-90, 90] or "
            f"longitude outside [-180, 180]: {named(bad_lat | bad_lon)}"
        )
        fin = np.isfinite(lat) & np.isfinite(lon)
        if bad_lat.any() and not bad_lon.any() and np.all(np.abs(lon[fin]) <= 90):
            msg += "; the latitude and longitude columns look swapped (give lon as x, lat as y)"
        problems.append(msg)
    if problems:
        raise ValidationError(f"{what}: " + "; ".join(problems))


def to_wgs84(gdf, *, name: str = "layer"):
    """Return ``gdf`` in EPSG:4326, refusing a layer without a CRS.

    Parameters
    ----------
    gdf
        A GeoDataFrame or GeoSeries.
    name
        How to call the layer in error messages.
    """
    if gdf.crs is None:
        raise ValidationError(
            f"{name} has no CRS; set one first, e.g. gdf.set_crs('EPSG:4326') for lon/lat degrees"
        )
    if CRS.from_user_input(gdf.crs).equals(WGS84, ignore_axis_order=True):
        return gdf
    return gdf.to_crs(WGS84)


@lru_cache(maxsize=4096)
def local_crs(lat0: float, lon0: float, kind: str = "aeqd") -> CRS:
    """A local metric CRS centred on (lat0, lon0).

    ``kind`` is ``"aeqd"`` (azimuthal equidistant: true distances from the
    centre) or ``"laea"`` (Lambert azimuthal equal-area).
    """
    if kind not in ("aeqd", "laea"):
        raise ValidationError(f"kind must be 'aeqd' or 'laea', not {kind!r}")
    return CRS.from_proj4(
        f"+proj={kind} +lat_0={float(lat0):.8f} +lon_0={float(lon0):.8f} +datum=WGS84 +units=m +no_defs"
    )


def _local_pipelines(lat0: float, lon0: float, kind: str) -> tuple[str, str]:
    """The PROJ pipelines (forward, inverse; lon/lat degrees, WGS 84) that
    ``Transformer.from_crs(WGS84, local_crs(lat0, lon0, kind), always_xy=True)``
    and its reverse resolve to, written out: made from the string, a
    transformer needs no lookup in PROJ's database (0.15 ms against ~4 ms,
    most of a cold ``CityClusters`` fit of the report's 56 clusters). The
    tests check them against ``from_crs``'s own definitions."""
    if kind not in ("aeqd", "laea"):
        raise ValidationError(f"kind must be 'aeqd' or 'laea', not {kind!r}")
    p = f"+proj={kind} +lat_0={float(lat0):.8f} +lon_0={float(lon0):.8f} +x_0=0 +y_0=0 +ellps=WGS84"
    return (f"+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step {p}",
            f"+proj=pipeline +step +inv {p} +step +proj=unitconvert +xy_in=rad +xy_out=deg")


#: Within this many degrees of a pole the local transformers come from ``from_crs``
#: (PROJ moves a centre a hair off the pole onto it; the written-out pipeline would not).
_POLE_MARGIN_DEG = 1e-3


@lru_cache(maxsize=4096)
def _transformers(lat0: float, lon0: float, kind: str):
    if abs(float(lat0)) > 90.0 - _POLE_MARGIN_DEG:
        crs = local_crs(lat0, lon0, kind)
        return (Transformer.from_crs(WGS84, crs, always_xy=True), Transformer.from_crs(crs, WGS84, always_xy=True))
    fwd, inv = _local_pipelines(lat0, lon0, kind)
    return Transformer.from_pipeline(fwd), Transformer.from_pipeline(inv)


def spherical_centroid(lat, lon, weights=None) -> tuple[float, float]:
    """Mean of unit vectors, as (lat, lon) in degrees; safe across ±180°."""
    v = unit_vectors(lat, lon)
    w = np.ones(len(v)) if weights is None else np.asarray(weights, dtype=float)
    m = (v * w[:, None]).sum(axis=0)
    n = float(np.linalg.norm(m))
    if n < 1e-12:  # antipodal spread: any point will do
        m = v[0]
        n = 1.0
    x, y, z = m / n
    return float(np.degrees(np.arcsin(np.clip(z, -1, 1)))), float(np.degrees(np.arctan2(y, x)))


def _wrap(lon):
    return (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0


# --------------------------------------------------------------------------
# lines
# --------------------------------------------------------------------------
def densify_geodesic(lats, lons, max_segment_km: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the geodesic polyline through the given points.

    Each segment is replaced by points along the ellipsoidal geodesic no
    more than ``max_segment_km`` apart. Returned longitudes are *unwrapped*
    (continuous, possibly beyond ±180) so that the line can be split cleanly
    by :func:`split_antimeridian`.
    """
    max_segment_km = _validate.positive("max_segment_km", max_segment_km, unit="km")
    lats = np.asarray(lats, dtype=float)
    lons = np.asarray(lons, dtype=float)
    out_lat = [lats[:1]]
    out_lon = [lons[:1]]
    for i in range(len(lats) - 1):
        d = float(distance_km(lats[i], lons[i], lats[i + 1], lons[i + 1]))
        n = int(math.ceil(d / max_segment_km)) - 1
        if n > 0:
            pts = np.asarray(GEOD.npts(lons[i], lats[i], lons[i + 1], lats[i + 1], n))
            out_lon.append(pts[:, 0])
            out_lat.append(pts[:, 1])
        out_lon.append(lons[i + 1 : i + 2])
        out_lat.append(lats[i + 1 : i + 2])
    lat = np.concatenate(out_lat)
    lon = np.concatenate(out_lon)
    return lat, _unwrap_deg(lon)


def unwrap_lon(lon) -> np.ndarray:
    """Longitudes (degrees) along a path made continuous: a step of more
    than 180° is read as crossing the antimeridian, so 179, -179 becomes
    179, 181. The one unwrapping of geocity (lines, buffers, plates);
    :func:`split_antimeridian` cuts the result back into [-180, 180]."""
    lon = np.asarray(lon, dtype=float)
    if lon.size == 0:
        return lon
    return np.degrees(np.unwrap(np.radians(lon)))


_unwrap_deg = unwrap_lon


def geodesic_line(lats, lons, max_segment_km: float = 10.0) -> BaseGeometry:
    """A LineString along geodesics, split at ±180° into a MultiLineString
    when it crosses the antimeridian."""
    lat, lon = densify_geodesic(lats, lons, max_segment_km)
    return split_antimeridian(LineString(np.column_stack([lon, lat])))


def split_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Split a geometry whose longitudes are continuous (possibly beyond
    ±180°) into parts that lie within [-180, 180], shifted back by 360°.

    Polygons come back as (Multi)Polygon, lines as (Multi)LineString.
    """
    if geom.is_empty:
        return geom
    minx, _, maxx, _ = geom.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geom
    parts = []
    for k in range(int(math.floor((minx + 180) / 360)), int(math.floor((maxx + 180) / 360)) + 1):
        window = box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
        piece = shapely.intersection(geom, window)
        if piece.is_empty:
            continue
        piece = shapely.transform(piece, lambda c, k=k: c - np.array([360.0 * k, 0.0]))
        parts.append(piece)
    return _collect(parts, polygonal=geom.geom_type in ("Polygon", "MultiPolygon"))


def _collect(parts, *, polygonal: bool) -> BaseGeometry:
    flat = []
    for p in parts:
        for g in shapely.get_parts(p):
            if polygonal and g.geom_type == "Polygon" and g.area > 0:
                flat.append(g)
            elif not polygonal and g.geom_type == "LineString" and g.length > 0:
                flat.append(g)
    if polygonal:
        if len(flat) == 1:
            return flat[0]
        return shapely.MultiPolygon(flat)
    if len(flat) == 1:
        return flat[0]
    return MultiLineString(flat)


# --------------------------------------------------------------------------
# local projections, buffers
# --------------------------------------------------------------------------
def to_local(geom: BaseGeometry, lat0: float, lon0: float, kind: str = "aeqd") -> BaseGeometry:
    """Project a lon/lat geometry into the local CRS centred on (lat0, lon0)."""
    fwd, _ = _transformers(round(lat0, 8), round(lon0, 8), kind)
    return shapely.transform(geom, lambda c: np.column_stack(fwd.transform(c[:, 0], c[:, 1])))


def from_local(
    geom: BaseGeometry, lat0: float, lon0: float, kind: str = "aeqd", *, densify_km: float = 10.0
) -> BaseGeometry:
    """Bring a geometry from the local CRS back to EPSG:4326.

    The geometry is densified to ``densify_km`` first (so that straight
    projected edges stay true on the globe), longitudes are unwrapped around
    ``lon0``, a polygon that encloses a pole is closed through it, and the
    result is split at ±180°. The result is valid.
    """
    _, inv = _transformers(round(lat0, 8), round(lon0, 8), kind)
    fwd, _ = _transformers(round(lat0, 8), round(lon0, 8), kind)
    geom = shapely.segmentize(geom, densify_km * 1000.0)

    def back(c):
        lon, lat = inv.transform(c[:, 0], c[:, 1])
        lon = np.asarray(lon, dtype=float)
        lon = lon0 + _wrap(lon - lon0)
        return np.column_stack([lon, np.asarray(lat, dtype=float)])

    polys = [g for g in shapely.get_parts(geom)]
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        out = []
        for poly in polys:
            poles = []
            for plat in (90.0, -90.0):
                px, py = fwd.transform(lon0, plat)
                if np.isfinite(px) and poly.contains(Point(px, py)):
                    poles.append(plat)
            if poles:
                out.append(_polar_polygon(poly, back, poles[0]))
            else:
                ext = _unwrap_ring(back(np.asarray(poly.exterior.coords)))
                holes = [_unwrap_ring(back(np.asarray(r.coords))) for r in poly.interiors]
                out.append(Polygon(ext, holes))
        result = shapely.make_valid(shapely.union_all(out)) if len(out) > 1 else shapely.make_valid(out[0])
        result = _only_polygons(result)
        return _only_polygons(shapely.make_valid(split_antimeridian(result)))
    lines = []
    for g in polys:
        c = back(np.asarray(g.coords))
        c[:, 0] = _unwrap_deg(c[:, 0])
        lines.append(LineString(c) if len(c) > 1 else Point(c[0]))
    if all(isinstance(x, LineString) for x in lines):
        merged = lines[0] if len(lines) == 1 else MultiLineString(lines)
        return split_antimeridian(merged)
    return shapely.GeometryCollection(lines)


def _unwrap_ring(c: np.ndarray) -> np.ndarray:
    c = c.copy()
    c[:, 0] = _unwrap_deg(c[:, 0])
    return c


def _polar_polygon(poly: Polygon, back, pole_lat: float) -> Polygon:
    """A projected polygon containing a pole, as a lon/lat polygon closed
    along the pole (latitude ±90) and spanning 360° of longitude."""
    ring = back(np.asarray(poly.exterior.coords))[:-1]
    ring[:, 0] = _unwrap_deg(ring[:, 0])
    start, end = ring[0], ring[-1]
    # close the gap between last and first vertex going the unwrapped way
    end_lon = end[0] + _wrap(start[0] - end[0])
    # the ring wraps once around the pole: its unwrapped span is ±360
    span = end_lon - start[0]
    if abs(abs(span) - 360.0) > 1.0:
        span = 360.0 * np.sign(span or 1.0)
    closing_lon = start[0] + span
    coords = np.vstack(
        [ring, [closing_lon, start[1]], [closing_lon, pole_lat], [start[0], pole_lat], ring[:1]]
    )
    p = Polygon(coords)
    return _only_polygons(shapely.make_valid(p))


def _only_polygons(g: BaseGeometry) -> BaseGeometry:
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    flat = []
    for p in parts:
        flat.extend(shapely.get_parts(p))
    if not flat:
        return Polygon()
    return flat[0] if len(flat) == 1 else shapely.MultiPolygon(flat)


def buffer_km(
    geom: BaseGeometry,
    distance_km_: float,
    *,
    piece_km: float = 300.0,
    quad_segs: int = 32,
    densify_km: float = 10.0,
) -> BaseGeometry:
    """Geodesic buffer of a lon/lat geometry, returned valid in EPSG:4326.

    Points and polygons are buffered in an azimuthal equidistant projection
    centred on them. Lines are first densified along geodesics and cut into
    pieces of at most ``piece_km``; each piece is buffered in its own local
    projection (so the distortion stays below about 0.1 %), the pieces are
    merged on a common unwrapped longitude and the result is split at ±180°.

    Parameters
    ----------
    geom
        Geometry in EPSG:4326 (a line may already be split at ±180°).
    distance_km_
        Buffer distance in km (> 0).
    piece_km
        Length of the line pieces buffered in one local projection.
    """
    distance_km_ = _validate.positive("buffer distance", distance_km_, unit="km")
    if distance_km_ > 5000:
        raise ValidationError(
            f"buffer distance {distance_km_} km is beyond what a local projection can buffer "
            "faithfully (max 5000 km)"
        )
    pieces: list[tuple[BaseGeometry, float, float]] = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Point":
            pieces.append((part, part.y, part.x))
        elif part.geom_type == "LineString":
            c = np.asarray(part.coords)
            lat, lon = densify_geodesic(c[:, 1], c[:, 0], densify_km)
            seg = np.concatenate([[0.0], np.cumsum(distance_km(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
            n_pieces = max(1, int(math.ceil(seg[-1] / piece_km)))
            edges = np.linspace(0, seg[-1], n_pieces + 1)
            for a, b in zip(edges[:-1], edges[1:], strict=True):
                idx = np.flatnonzero((seg >= a) & (seg <= b))
                lo = max(idx.min() - 1, 0) if idx.size else 0
                hi = min(idx.max() + 1, len(seg) - 1) if idx.size else len(seg) - 1
                sub_lat, sub_lon = lat[lo : hi + 1], lon[lo : hi + 1]
                clat, clon = spherical_centroid(sub_lat, sub_lon)
                pieces.append((LineString(np.column_stack([sub_lon, sub_lat])), clat, clon))
        else:
            c = shapely.get_coordinates(part)
            clat, clon = spherical_centroid(c[:, 1], c[:, 0])
            pieces.append((part, clat, clon))
    if not pieces:
        raise ValidationError("cannot buffer an empty geometry")
    # reference meridian for merging pieces in unwrapped longitude
    ref_lat, ref_lon = spherical_centroid([p[1] for p in pieces], [p[2] for p in pieces])
    polys = []
    for g, clat, clon in pieces:
        local = to_local(g, clat, clon)
        buf = shapely.buffer(local, distance_km_ * 1000.0, quad_segs=quad_segs)
        _, inv = _transformers(round(clat, 8), round(clon, 8), "aeqd")
        fwd, _ = _transformers(round(clat, 8), round(clon, 8), "aeqd")
        has_pole = any(
            buf.contains(Point(*fwd.transform(clon, plat))) for plat in (90.0, -90.0)
        )
        if has_pole:
            polys.append(("pole", from_local(buf, clat, clon, densify_km=densify_km)))
            continue
        buf = shapely.segmentize(buf, densify_km * 1000.0)

        def back(c, clon=clon, inv=inv):
            lon, lat = inv.transform(c[:, 0], c[:, 1])
            lon = np.asarray(lon, dtype=float)
            # unwrap around the piece centre, then move next to the reference
            lon = clon + _wrap(lon - clon)
            lon = lon + 360.0 * np.round((ref_lon + _wrap(clon - ref_lon) - clon) / 360.0)
            return np.column_stack([lon, np.asarray(lat, dtype=float)])

        polys.append(("plain", shapely.make_valid(shapely.transform(buf, back))))
    plain = [p for kind, p in polys if kind == "plain"]
    polar = [p for kind, p in polys if kind == "pole"]
    result = split_antimeridian(_only_polygons(shapely.union_all(plain))) if plain else Polygon()
    # pieces placed beyond ±540 are impossible here; fold any remainder
    if polar:
        result = shapely.union_all([result, *polar])
    return _only_polygons(shapely.make_valid(result))
