"""Belt and Road economic corridors: geodesic lines, buffers and membership.

The report places its Belt and Road potential cities along three corridors
(section 3.2): the China–Pakistan Economic Corridor (``CPEC``), the
China–Mongolia–Russia Economic Corridor (``CMREC``) and the China–Indochina
Peninsula Economic Corridor (``CICPEC``). The other three Belt and Road land
corridors are built in as well: the New Eurasian Land Bridge (``NELB``), the
China–Central Asia–West Asia corridor (``CCWAEC``) and the
Bangladesh–China–India–Myanmar corridor (``BCIMEC``). Each corridor is a set of named
*branches*; each branch an ordered list of waypoints joined by ellipsoidal
geodesics (never straight lines in degrees). The waypoints ship as
``layers/corridors.csv`` (see ``layers/README.md`` for sources); a user file
in the same format, or a GeoJSON/GeoPackage of lines, adds or replaces
corridors (``path=``).

Distances
---------
:func:`members` measures the WGS 84 geodesic distance from each point to the
nearest point of the corridor *line* (not to the nearest waypoint):

1. every branch is densified along its geodesics to vertices at most
   ``_QUERY_SEGMENT_KM`` apart, and a KD-tree is built on their 3-D unit
   vectors (chord distance is monotone in arc length, so the search is exact
   on the sphere with no antimeridian or pole special case);
2. the nearest vertex bounds the answer: only vertices within
   ``d_vertex + L/2`` (``L`` the longest sub-segment) can be the ends of the
   nearest segment, so only their adjacent segments are examined;
3. the spherical point-to-arc distance (cross-track, clamped to the arc)
   picks the segment and the foot of the perpendicular;
4. the foot is placed on the ellipsoidal geodesic between the two waypoints
   (``Geod.fwd``), moved by one Newton step along it (the spherical foot can
   be ~0.5 % of the distance off the ellipsoidal one, +1.5 m at 100 km), and
   the distance re-measured with ``Geod.inv``: within 1 mm of an exact
   ellipsoidal minimisation (``tests/test_scale.py``).

Points are processed in chunks, and points of 1° cells out of reach of every
vertex are skipped before any tree query, so memory stays bounded and time
grows with the points near the corridor for 10^6–10^7 points.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from . import _validate, geodesy

# the waypoint tables (reading, checks, completion) live in ._corridor_tables
from ._corridor_tables import (  # noqa: F401 - COLUMNS and the table functions are this module's interface
    COLUMNS,
    _builtin_path,
    _select,
    _table,
    available,
    waypoints,
)
from ._threads import n_threads, thread_map
from .errors import ValidationError

log = logging.getLogger(__name__)

__all__ = ["available", "waypoints", "lines", "buffer", "members", "export", "input_files", "MAX_WITHIN_KM"]

#: Largest buffer/membership distance accepted (km). Beyond this a "corridor"
#: covers half a continent and the question is not meaningful.
MAX_WITHIN_KM = 2000.0
#: Vertex spacing of the densified lines used by :func:`members` (km).
_QUERY_SEGMENT_KM = 5.0
#: Points per chunk in :func:`members`.
_CHUNK = 50_000
#: Neighbours asked from the KD-tree at once before falling back to a ball query.
_K = 16


def _n_workers() -> int:
    """Threads for the chunks of :func:`members` (NumPy, SciPy and PROJ release the
    GIL): :func:`geocity._threads.n_threads`, at most 8."""
    return n_threads(8)

_RESULT_COLUMNS = ["corridor", "branch", "distance_km", "chainage_km", "nearest_waypoint", "side"]


# --------------------------------------------------------------------------
# lines
# --------------------------------------------------------------------------
@dataclass
class _Branch:
    corridor: str
    branch: str
    wp_lat: np.ndarray
    wp_lon: np.ndarray
    wp_name: list
    lat: np.ndarray  # densified vertices
    lon: np.ndarray
    cum_km: np.ndarray  # ellipsoidal chainage of each vertex
    seg_az: np.ndarray  # forward azimuth of each sub-segment (deg)
    wp_chainage: np.ndarray


def _branches(t: pd.DataFrame, max_segment_km: float) -> list[_Branch]:
    out = []
    for (corridor, branch), g in t.groupby(["corridor", "branch"], sort=False):
        g = g.sort_values("seq")
        wlat = g["lat"].to_numpy(float)
        wlon = g["lon"].to_numpy(float)
        lat, lon = geodesy.densify_geodesic(wlat, wlon, max_segment_km)
        az, _, d = geodesy.GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
        d = np.asarray(d, dtype=float) / 1000.0
        cum = np.concatenate([[0.0], np.cumsum(d)])
        # chainage of each waypoint: the densified vertices include them in order
        wch = np.concatenate(
            [[0.0], np.cumsum(geodesy.distance_km(wlat[:-1], wlon[:-1], wlat[1:], wlon[1:]))]
        )
        out.append(
            _Branch(
                str(corridor), str(branch), wlat, wlon, g["name"].astype(str).tolist(),
                lat, lon, cum, np.asarray(az, dtype=float), wch,
            )
        )
    return out


def _check_segment_km(max_segment_km) -> float:
    try:
        v = float(max_segment_km)
    except (TypeError, ValueError):
        raise ValidationError(f"max_segment_km must be a number of km, got {max_segment_km!r}") from None
    if not (np.isfinite(v) and 0.01 <= v <= 1000):
        raise ValidationError(f"max_segment_km must be between 0.01 and 1000 km, got {max_segment_km!r}")
    return v


def lines(names=None, *, max_segment_km: float = 10.0, path=None):
    """Corridor branches as geodesic lines, one row per branch.

    Parameters
    ----------
    names
        Corridor name(s); all if None.
    max_segment_km
        Densification of the drawn geodesics (vertex spacing, km).
    path
        Optional user corridor file (see :func:`waypoints`).

    Returns
    -------
    geopandas.GeoDataFrame
        ``corridor, corridor_name_en, corridor_name_zh, branch, n_waypoints,
        from_name, to_name, length_km, branch_source, geometry`` in EPSG:4326;
        a branch crossing ±180° is a MultiLineString split there.
        ``length_km`` is the WGS 84 geodesic length through the waypoints.

    Examples
    --------
    >>> gdf = lines("CPEC")
    >>> sorted(gdf.branch)[:2]
    ['coastal', 'eastern']
    """
    import geopandas as gpd

    step = _check_segment_km(max_segment_km)
    t, _ = _select(names, path)
    rows = []
    for (corridor, branch), g in t.groupby(["corridor", "branch"], sort=False):
        g = g.sort_values("seq")
        lat = g["lat"].to_numpy(float)
        lon = g["lon"].to_numpy(float)
        length = float(np.sum(geodesy.distance_km(lat[:-1], lon[:-1], lat[1:], lon[1:])))
        rows.append(
            dict(
                corridor=corridor,
                corridor_name_en=g["corridor_name_en"].iloc[0],
                corridor_name_zh=g["corridor_name_zh"].iloc[0],
                branch=branch,
                n_waypoints=len(g),
                from_name=g["name"].iloc[0],
                to_name=g["name"].iloc[-1],
                length_km=round(length, 3),
                branch_source=g["branch_source"].iloc[0],
                geometry=geodesy.geodesic_line(lat, lon, step),
            )
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=geodesy.WGS84)


# --------------------------------------------------------------------------
# buffers
# --------------------------------------------------------------------------
def _check_within(within_km) -> float:
    v = _validate.positive("within_km", within_km, unit="km")
    if v > MAX_WITHIN_KM:
        raise ValidationError(
            f"within_km={within_km!r} is too large: a corridor band wider than {MAX_WITHIN_KM:g} km "
            "covers half a continent; use a smaller distance"
        )
    return v


def buffer(corridor, within_km: float, *, dissolve: bool = True, path=None):
    """Polygons of everything within ``within_km`` of a corridor.

    A point lies inside exactly when its WGS 84 geodesic distance to the
    corridor line is at most ``within_km`` (to within 0.5 % or 1 km; in
    practice about 0.1 %). Built piecewise in local azimuthal equidistant
    projections (:func:`geocity.geodesy.buffer_km`), valid in EPSG:4326 and
    split at ±180°.

    Parameters
    ----------
    corridor
        A corridor name or a list of names.
    within_km
        Buffer distance in km, in (0, 2000].
    dissolve
        One row per corridor (True) or one row per branch (False).
    path
        Optional user corridor file (see :func:`waypoints`).

    Returns
    -------
    geopandas.GeoDataFrame
        ``corridor, corridor_name_en, corridor_name_zh, branch, within_km,
        geometry`` (``branch`` is ``"*"`` when dissolved).
    """
    import geopandas as gpd
    import shapely

    d = _check_within(within_km)
    gl = lines(corridor, path=path, max_segment_km=10.0)
    rows = []
    if dissolve:
        for c, g in gl.groupby("corridor", sort=False):
            geom = shapely.MultiLineString([p for x in g.geometry for p in shapely.get_parts(x)])
            rows.append(
                dict(corridor=c, corridor_name_en=g.corridor_name_en.iloc[0],
                     corridor_name_zh=g.corridor_name_zh.iloc[0],
                     branch="*", within_km=d, geometry=geodesy.buffer_km(geom, d))
            )
    else:
        for r in gl.itertuples(index=False):
            rows.append(
                dict(corridor=r.corridor, corridor_name_en=r.corridor_name_en, corridor_name_zh=r.corridor_name_zh,
                     branch=r.branch, within_km=d, geometry=geodesy.buffer_km(r.geometry, d))
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=geodesy.WGS84)


# --------------------------------------------------------------------------
# membership
# --------------------------------------------------------------------------
class _Index:
    """Densified vertices of one corridor with a KD-tree on unit vectors."""

    def __init__(self, branches: list[_Branch]):
        from scipy.spatial import cKDTree

        self.branches = branches
        self.lat = np.concatenate([b.lat for b in branches])
        self.lon = np.concatenate([b.lon for b in branches])
        self.cum = np.concatenate([b.cum_km for b in branches])
        self.bid = np.concatenate([np.full(len(b.lat), i) for i, b in enumerate(branches)])
        # azimuth of the segment starting at each vertex (NaN at branch ends)
        self.az = np.concatenate([np.append(b.seg_az, np.nan) for b in branches])
        self.xyz = geodesy.unit_vectors(self.lat, self.lon)
        self.tree = cKDTree(self.xyz)
        seg = self.cum[1:] - self.cum[:-1]
        same = self.bid[1:] == self.bid[:-1]
        self.seg_km = np.where(same, seg, 0.0)
        # longest sub-segment, as a spherical arc (slightly above the ellipsoidal length)
        chord = np.linalg.norm(self.xyz[1:] - self.xyz[:-1], axis=1)
        self.max_seg_arc = float(np.max(geodesy.arc_from_chord(chord[same]))) if same.any() else 0.0
        self.n = len(self.lat)
        self._coarse: tuple[float, np.ndarray] | None = None
        # the waypoint-to-waypoint geodesic of each sub-segment: its first and last vertex
        # (densify_geodesic keeps the waypoints as vertices); if a waypoint cannot be matched,
        # every sub-segment is its own group (slower, same result)
        wstart, wend, off = [], [], 0
        for b in branches:
            nv = len(b.lat)
            marks, j = [0], 0
            for la, lo in zip(b.wp_lat[1:], b.wp_lon[1:], strict=True):
                dl = np.abs((b.lon[j + 1 :] - lo + 180.0) % 360.0 - 180.0)
                hit = np.flatnonzero((b.lat[j + 1 :] == la) & (dl < 1e-9))
                if hit.size == 0:
                    marks = list(range(nv))
                    break
                j += 1 + int(hit[0])
                marks.append(j)
            if marks[-1] != nv - 1:
                marks = list(range(nv))
            m = np.asarray(marks)
            grp = np.clip(np.searchsorted(m, np.arange(nv), side="right") - 1, 0, max(len(m) - 2, 0))
            wstart.append(m[grp] + off)
            wend.append(m[np.minimum(grp + 1, len(m) - 1)] + off)
            off += nv
        self.wstart = np.concatenate(wstart)
        self.wend = np.concatenate(wend)
        # chainage made increasing across branches, to find a vertex from (branch, chainage)
        self.gcum = self.cum + self.bid * 1e7

    def coarse_km(self, bound_km: float) -> np.ndarray:
        """Distance (km) from the centre of every 1° lon/lat cell to the nearest
        vertex, ``inf`` beyond ``bound_km`` (cached per bound).

        A point of a cell is at least this minus :data:`_COARSE_HALF_DIAG_KM`
        from every vertex, so whole cells can be skipped without a tree query.
        """
        if self._coarse is None or self._coarse[0] != bound_km:
            clat, clon = np.meshgrid(89.5 - np.arange(180.0), np.arange(360.0) - 179.5, indexing="ij")
            ub = float(geodesy.chord_from_arc_km(min(bound_km, 20000.0))) * (1.0 + 1e-9)
            d, _ = self.tree.query(geodesy.unit_vectors(clat.ravel(), clon.ravel()), distance_upper_bound=ub)
            fin = np.isfinite(d)
            km = np.full(d.shape, np.inf)
            km[fin] = geodesy.arc_from_chord(d[fin])
            self._coarse = (bound_km, km.reshape(180, 360))
        return self._coarse[1]

    def has_next(self, v):
        nxt = np.minimum(v + 1, self.n - 1)
        return (v + 1 < self.n) & (self.bid[nxt] == self.bid[v])


def _point_arc(p, a, b):
    """Spherical distance (rad) from unit vectors ``p`` to arcs ``a→b``,
    the fraction of the arc at the foot, and the signed cross-track sine."""
    n = np.cross(a, b)
    nn = np.linalg.norm(n, axis=-1)
    ok = nn > 1e-15
    n = np.where(ok[..., None], n / np.where(ok, nn, 1.0)[..., None], 0.0)
    s = np.einsum("...i,...i->...", p, n)
    foot = p - s[..., None] * n
    fn = np.linalg.norm(foot, axis=-1)
    foot = foot / np.where(fn > 0, fn, 1.0)[..., None]
    ab = np.arctan2(nn, np.einsum("...i,...i->...", a, b))
    af = np.arctan2(np.einsum("...i,...i->...", np.cross(a, foot), n), np.einsum("...i,...i->...", a, foot))
    inside = ok & (af >= 0) & (af <= ab)
    da = np.arctan2(np.linalg.norm(np.cross(p, a), axis=-1), np.einsum("...i,...i->...", p, a))
    db = np.arctan2(np.linalg.norm(np.cross(p, b), axis=-1), np.einsum("...i,...i->...", p, b))
    dxt = np.abs(np.arcsin(np.clip(s, -1.0, 1.0)))
    dist = np.where(inside, dxt, np.minimum(da, db))
    t = np.where(inside, np.where(ab > 0, af / np.where(ab > 0, ab, 1.0), 0.0), np.where(da <= db, 0.0, 1.0))
    return dist, t, s


#: Largest relative difference between the ellipsoidal and the spherical
#: distance of two directions (the WGS 84 radii of curvature span 6335–6400 km
#: around the mean 6371 km): candidates within this factor are all refined.
_SPHERE_SLACK = 0.012
#: Largest distance from the centre of a 1° cell to a point of the cell, km
#: (the corner of an equatorial cell, 78.6 km on the sphere), with a margin.
_COARSE_HALF_DIAG_KM = 80.0


def _nearest(idx: _Index, lat: np.ndarray, lon: np.ndarray, within_km: float):
    """Nearest point of the corridor for each point within range.

    Points in 1° cells out of reach are skipped (:meth:`_Index.coarse_km`);
    the KD-tree gives the nearest vertex; every segment with an end within
    ``d_vertex + L/2`` (widened by :data:`_SPHERE_SLACK`) is a candidate; the
    spherical point-to-arc distance discards candidates that cannot be the
    ellipsoidal nearest; per waypoint-to-waypoint geodesic the best remaining
    foot is placed on the ellipsoidal geodesic, refined by one Newton step
    along it and measured with ``Geod.inv``; the minimum wins.

    Returns
    -------
    tuple of arrays
        Indices of the points within range, start vertex of their nearest
        sub-segment, fraction along it, distance in km, cross-track sign.
    """
    half = idx.max_seg_arc / 2.0
    slack = 1.0 + 2.0 * _SPHERE_SLACK
    reach = within_km * slack + half + 1.0
    # exact pre-filter: skip the points of 1° cells that are out of reach of every vertex
    row = np.clip(np.floor(90.0 - lat).astype(np.intp), 0, 179)
    col = np.clip(np.floor(lon + 180.0).astype(np.intp), 0, 359)
    bound = reach + _COARSE_HALF_DIAG_KM
    pre = np.flatnonzero(idx.coarse_km(bound).ravel().take(row * 360 + col) <= bound)
    p = geodesy.unit_vectors(lat[pre], lon[pre])
    # one k-nearest query gives both the nearest vertex (the first column) and the
    # candidate vertices: its bound covers every candidate's search radius below
    k = min(_K, idx.n)
    ub = float(geodesy.chord_from_arc_km(reach * slack + half + 1e-3)) * (1.0 + 1e-9)
    dd, nb = idx.tree.query(p, k=k, distance_upper_bound=ub)
    if k == 1:
        dd, nb = dd[:, None], nb[:, None]
    dv_km = np.full(len(pre), np.inf)
    fin = np.isfinite(dd[:, 0])
    dv_km[fin] = geodesy.arc_from_chord(dd[fin, 0])
    cand = dv_km <= reach
    ci = pre[cand]  # indices into lat/lon
    if ci.size == 0:
        return ci, ci, *(np.empty(0),) * 3
    p, dd, nb = p[cand], dd[cand], nb[cand]  # aligned with ci
    r_chord = geodesy.chord_from_arc_km(dv_km[cand] * slack + half + 1e-3)
    valid = (nb < idx.n) & (dd <= r_chord[:, None])
    rows, cols = np.nonzero(valid)
    verts = nb[rows, cols].astype(np.int64)
    full = valid[:, -1] if k < idx.n else np.zeros(len(ci), bool)
    if full.any():  # more than k vertices in the search ball: exact ball query
        fr = np.flatnonzero(full)
        lists = idx.tree.query_ball_point(p[fr], r_chord[fr])
        extra = (np.full(len(lst), r, dtype=rows.dtype) for r, lst in zip(fr, lists, strict=True))
        rows = np.concatenate([rows, *extra])
        verts = np.concatenate([verts, *(np.asarray(lst, dtype=np.int64) for lst in lists)])
    # candidate sub-segments: those starting or ending at a candidate vertex, once each
    starts = np.concatenate([verts, verts - 1])
    rows = np.concatenate([rows, rows]).astype(np.int64)
    ok = (starts >= 0) & idx.has_next(np.maximum(starts, 0))
    key = np.sort(rows[ok] * idx.n + starts[ok])
    key = key[np.r_[True, key[1:] != key[:-1]]]
    rows, st = key // idx.n, key % idx.n
    dist, t, s = _point_arc(p[rows], idx.xyz[st], idx.xyz[st + 1])
    best = np.full(len(ci), np.inf)
    np.minimum.at(best, rows, dist)
    sel = dist <= best[rows] * slack + 1e-7
    rows, st, t, s, dsel = rows[sel], st[sel], t[sel], s[sel], dist[sel]
    # one candidate per point and waypoint-to-waypoint geodesic: its spherically nearest
    # sub-segment (the foot may then move along the whole geodesic)
    g0 = idx.wstart[st]
    o = np.lexsort((dsel, g0, rows))
    o = o[np.r_[True, (rows[o][1:] != rows[o][:-1]) | (g0[o][1:] != g0[o][:-1])]]
    rows, st, t, s, g0 = rows[o], st[o], t[o], s[o], g0[o]
    g1 = idx.wend[st]
    # ellipsoidal refinement: the foot on the geodesic, one Newton step along it (the
    # spherical foot can be ~0.5 % of the distance off the ellipsoidal one: 0.5 km at
    # 100 km, +1.5 m; after the step < 1 mm), then Geod.inv
    plat, plon = lat[ci[rows]], lon[ci[rows]]
    len_m = (idx.cum[g1] - idx.cum[g0]) * 1000.0
    s_m = (idx.cum[st] - idx.cum[g0] + t * idx.seg_km[st]) * 1000.0
    flon, flat, baz = geodesy.GEOD.fwd(idx.lon[g0], idx.lat[g0], idx.az[g0], s_m)
    az_fp, _, d_m = geodesy.GEOD.inv(flon, flat, plon, plat)
    step = np.asarray(d_m) * np.cos(np.radians(np.asarray(az_fp) - np.asarray(baz) - 180.0))
    s_m = np.clip(s_m + step, 0.0, len_m)
    flon, flat, _ = geodesy.GEOD.fwd(idx.lon[g0], idx.lat[g0], idx.az[g0], s_m)
    d_km = geodesy.distance_km(plat, plon, np.asarray(flat), np.asarray(flon))
    # the sub-segment holding the foot, and the fraction along it
    chain = idx.cum[g0] + s_m / 1000.0
    st = np.searchsorted(idx.gcum, idx.bid[g0] * 1e7 + chain, side="right") - 1
    st = np.clip(st, g0, np.maximum(g1 - 1, g0))
    seg = idx.seg_km[st]
    t = np.clip(np.where(seg > 0, (chain - idx.cum[st]) / np.where(seg > 0, seg, 1.0), 0.0), 0.0, 1.0)
    key_sel = rows * idx.n + st
    # ties (a junction waypoint shared by two branches) go to the branch listed first
    order = np.lexsort((key_sel, np.round(d_km, 9), rows))
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    rows, st, t, s, d_km = rows[first], st[first], t[first], s[first], d_km[first]
    keep = d_km <= within_km
    return ci[rows[keep]], st[keep], t[keep], d_km[keep], s[keep]


def _points_frame(points, encoding=None):
    """The points (default: the report's cities) as (table, lat, lon).

    A lat/lon table stays a table: geometry is built for the output rows only
    (see :func:`_rows`), since 10^7 shapely points cost seconds.
    """
    from . import export

    if points is None:
        from . import layers

        points = layers.cities_with_ranks()
    pts = export.read_points(points, geometry=False, encoding=encoding)
    return pts.frame, pts.lat, pts.lon, pts.labels


def _rows(pts, lat, lon, i):
    """Rows ``i`` of the points as a GeoDataFrame (a lat/lon table gets its geometry here)."""
    import geopandas as gpd

    base = pts.iloc[i].reset_index(drop=True)
    if isinstance(pts, gpd.GeoDataFrame):
        return base
    if "geometry" in base.columns:  # a plain table's own "geometry" column gives way to the points
        base = base.drop(columns="geometry")
    return gpd.GeoDataFrame(base, geometry=gpd.points_from_xy(lon[i], lat[i]), crs=geodesy.WGS84)


def members(
    points=None,
    *,
    corridors: Sequence[str] | str = ("CPEC",),
    within_km: float = 100,
    how: str = "inner",
    path=None,
    chunk_size: int = _CHUNK,
    progress: bool | None = None,
    encoding: str | None = None,
):
    """Points within ``within_km`` of each corridor, where along it and on which side.

    Parameters
    ----------
    points
        A point GeoDataFrame in any CRS (reprojected to WGS 84; a layer
        without a CRS is an error), a DataFrame with ``lat``/``lon`` columns
        (WGS 84), or a file path (GPKG, GeoJSON, SHP, FGB, or CSV with
        ``lat``/``lon`` or ``wkt``). Default: the report's cities with their
        ranks, :func:`geocity.layers.cities_with_ranks`.
    corridors
        Corridor name(s) (case-insensitive); ``None`` for all.
    within_km
        Range in km, in (0, 2000].
    how
        ``"inner"``: one row per point and corridor in range. ``"all"``:
        also one row (with null corridor columns) per point outside every
        corridor.
    path
        Optional user corridor file (see :func:`waypoints`).
    chunk_size
        Points processed at once (memory bound).
    progress
        A tqdm progress bar over the chunks (shown only when there is more
        than one): ``None`` (default) shows it at a terminal only, ``True``
        always, ``False`` never (``-q/--quiet`` on the command line).
    encoding
        Of a CSV ``points`` file; default: detected (UTF-8, UTF-8 with BOM
        or GB18030/GBK), see ``geocity.export.read_points``.

    Returns
    -------
    geopandas.GeoDataFrame
        The input columns (geometry in EPSG:4326) plus ``corridor``,
        ``branch`` (the nearest branch), ``distance_km`` (WGS 84 geodesic
        distance to the nearest point of the corridor line), ``chainage_km``
        (along that branch from its first waypoint to the foot),
        ``nearest_waypoint`` (the waypoint of that branch closest to the
        point) and ``side`` (``left``/``right`` of the branch direction,
        ``on`` within 1 m). A point equally near two branches (a junction
        waypoint) is given to the branch listed first in the table.

        Rows are ordered by corridor (in the order asked), then branch (in
        the order of the corridor table, as :func:`lines` lists them), then
        ``chainage_km``, then input order (stable): the rows read along each
        branch from its first waypoint, the same for the same input. With
        ``how="all"`` the points outside every corridor follow, in input
        order. "The BRI top-100 cities within 100 km of CPEC, ordered by
        chainage" is therefore ``members(corridors="CPEC", within_km=100)``
        filtered on ``bri_rank`` (see the example).

        ``attrs["input_rows"]`` names the input row of each output row, in
        output order (a :class:`geocity._validate.RowLabels`: ``line N`` of
        a CSV, ``feature N`` of a vector file), so that a message about an
        output row names the line the user sees (pass it to
        :func:`geocity.export.write` as ``row_labels``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> pts = gpd.GeoDataFrame({"name": ["Lahore"]}, geometry=gpd.points_from_xy([74.35], [31.56]), crs=4326)
    >>> m = members(pts, corridors="CPEC", within_km=50)
    >>> m.loc[0, "branch"] in ("eastern", "lahore-peshawar"), float(m.loc[0, "distance_km"]) < 5
    (True, True)

    The report's BRI top-100 cities within 100 km of CPEC, along each branch:

    >>> m = members(corridors="CPEC", within_km=100)
    >>> m[m.bri_rank.notna()][["name_en", "bri_rank", "branch", "chainage_km"]].values.tolist()
    [['Islamabad', 62, 'karakoram', 769.655275], ['Karachi', 34, 'eastern', 1369.185713]]
    >>> m.loc[m.branch == "eastern", "name_en"].tolist()[:3]
    ['Lahore', 'Faisalabad', 'Multan']
    """
    import geopandas as gpd

    d = _check_within(within_km)
    if how not in ("inner", "all"):
        raise ValidationError(f"how must be 'inner' or 'all', not {how!r}")
    chunk_size = int(_validate.whole("chunk_size", chunk_size, minimum=1))
    t, names = _select(corridors, path)
    pts, lat, lon, labels = _points_frame(points, encoding)
    parts = []
    taken = []  # input positions of the rows of each part
    hit_any = np.zeros(len(pts), dtype=bool)
    starts = range(0, len(pts), chunk_size)
    bar = None
    if len(starts) > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts) * len(names), desc="corridor membership", unit="chunk",
                   disable=None if progress is None else not progress)
    try:
        for name in names:
            branches = _branches(t[t["corridor"] == name], _QUERY_SEGMENT_KM)
            idx = _Index(branches)
            if bar is not None:
                bar.set_postfix_str(name)
            for part, pos in _members_of(name, branches, idx, pts, lat, lon, d, starts, chunk_size, bar, hit_any):
                parts.append(part)
                taken.append(pos)
    finally:
        if bar is not None:
            bar.close()
    if how == "all" and (~hit_any).any():
        taken.append(np.flatnonzero(~hit_any))
        base = _rows(pts, lat, lon, taken[-1])
        empty = pd.DataFrame(
            {
                "corridor": pd.Series([None] * len(base), dtype=object),
                "branch": pd.Series([None] * len(base), dtype=object),
                "distance_km": np.nan,
                "chainage_km": np.nan,
                "nearest_waypoint": pd.Series([None] * len(base), dtype=object),
                "side": pd.Series([None] * len(base), dtype=object),
            }
        )
        parts.append(_join(base, empty))
    if not parts:
        out = _join(_rows(pts, lat, lon, np.arange(0)), pd.DataFrame({c: [] for c in _RESULT_COLUMNS}))
        out["distance_km"] = out["distance_km"].astype(float)
        out["chainage_km"] = out["chainage_km"].astype(float)
        out.attrs["input_rows"] = labels.take([])
        return out
    out = pd.concat(parts, ignore_index=True)
    geom = pts.geometry.name if isinstance(pts, gpd.GeoDataFrame) else "geometry"
    out = gpd.GeoDataFrame(out, geometry=geom, crs=geodesy.WGS84)
    # the input row of each output row (in output order), to name rows as the user's file does
    out.attrs["input_rows"] = labels.take(np.concatenate(taken))
    return out


def _members_of(name, branches, idx, pts, lat, lon, d, starts, chunk_size, bar, hit_any) -> list:
    """Rows of :func:`members` for one corridor, ordered by branch, chainage, input
    order, as ``[(frame, input positions)]``."""

    def one(s0):
        sl = slice(s0, s0 + chunk_size)
        return s0, _nearest(idx, lat[sl], lon[sl], d)

    done = []
    for r in thread_map(one, starts, _n_workers()):  # chunks in threads, results in chunk order (deterministic)
        done.append(r)
        if bar is not None:
            bar.update(1)
    res = [(i + s0, v, tt, dist, side) for s0, (i, v, tt, dist, side) in done if i.size]
    if not res:
        return []
    i, v, tt, dist, side = (np.concatenate(x) for x in zip(*res, strict=True))
    hit_any[i] = True
    b = idx.bid[v]
    # rounded to the millimetre: no 1e-13 noise, same bytes across platforms
    chain = np.round(idx.cum[v] + tt * idx.seg_km[v], 6)
    # along each branch (table order) by chainage; input order breaks ties
    order = np.lexsort((i, chain, b))
    i, v, dist, side, b, chain = i[order], v[order], dist[order], side[order], b[order], chain[order]
    from scipy.spatial import cKDTree

    nearest_wp = np.empty(len(i), dtype=object)
    for bi in np.unique(b):
        m = b == bi
        br = branches[bi]
        # nearest by chord between unit vectors = nearest by great-circle distance
        _, wi = cKDTree(geodesy.unit_vectors(br.wp_lat, br.wp_lon)).query(geodesy.unit_vectors(lat[i[m]], lon[i[m]]))
        nearest_wp[m] = np.asarray(br.wp_name, dtype=object)[wi]
    sides = np.where(dist < 0.001, "on", np.where(side > 0, "left", "right"))
    extra = pd.DataFrame(
        {
            "corridor": name,
            "branch": [branches[x].branch for x in b],
            "distance_km": np.round(dist, 6),
            "chainage_km": chain,
            "nearest_waypoint": nearest_wp,
            "side": sides,
        }
    )
    return [(_join(_rows(pts, lat, lon, i), extra), i)]


def _join(base, extra):
    import geopandas as gpd

    clash = [c for c in _RESULT_COLUMNS if c in base.columns]
    if clash:
        base = base.rename(columns={c: f"{c}_input" for c in clash})
    geom = base.geometry.name
    cols = [c for c in base.columns if c != geom]
    out = pd.concat([base[cols].reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    out[geom] = base.geometry.to_numpy()
    return gpd.GeoDataFrame(out, geometry=geom, crs=geodesy.WGS84)


# --------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------
def export(
    output,
    *,
    within_km: Iterable[float] = (50, 100, 200),
    names=None,
    overwrite: bool = False,
    path=None,
) -> list[Path]:
    """Write corridor lines and dissolved buffers through :mod:`geocity.export`.

    Parameters
    ----------
    output
        ``.gpkg``: one file with layers ``lines`` and ``buffers``. Any other
        format of :func:`geocity.export.write` (``.geojson``, ``.shp``,
        ``.fgb``, ``.csv``): two files ``<stem>_lines<ext>`` and
        ``<stem>_buffers<ext>``.
    within_km
        Buffer distances (km); one buffer row per corridor and distance.
    names
        Corridor name(s); all if None.
    overwrite
        Replace existing outputs (refused otherwise, before anything is
        written). An existing GeoPackage is replaced by a new file with the
        two layers, like any other output.
    path
        Optional user corridor file (see :func:`waypoints`).

    Returns
    -------
    list of pathlib.Path
        The files written, with a ``.meta.json`` record per file (parameters
        and the checksums of :func:`input_files`).

    Notes
    -----
    All or nothing: the lines and the buffers are written into one temporary
    folder next to the output and moved into place together
    (:func:`geocity.export.atomic_set`); if either write fails, no file is
    left behind and an existing output is untouched.
    """
    from . import export as _export

    kms = [within_km] if isinstance(within_km, (int, float)) else list(within_km)
    if not kms:
        raise ValidationError("within_km: give at least one buffer distance in km")
    kms = [_check_within(k) for k in kms]
    output = Path(output)
    gpkg = output.suffix.lower() == ".gpkg"
    if gpkg:
        targets = [output]
    else:
        targets = [output.with_name(f"{output.stem}_lines{output.suffix}"),
                   output.with_name(f"{output.stem}_buffers{output.suffix}")]
    # refuse an existing output, a folder in the way or a bad extension before the work
    _export.check_outputs(targets, overwrite)
    names = available(path=path) if names is None else names
    _, names = _select(names, path)
    meta = {"corridors": names, "within_km": kms, "corridor_file": str(path) if path else None}
    inputs = input_files(path=path)
    gl = lines(names, path=path)
    bufs = pd.concat([buffer(n, k, path=path) for k in kms for n in names], ignore_index=True)
    import geopandas as gpd

    bufs = gpd.GeoDataFrame(bufs, geometry="geometry", crs=geodesy.WGS84)
    # both parts are written into one temporary folder and moved into place together:
    # a failure in the second leaves neither behind (and an overwritten output intact)
    written: list[Path] = []
    with _export.atomic_set(targets, overwrite) as tmp:
        if gpkg:  # a new file (an existing one is replaced whole, not extended) with two layers
            dest = tmp / output.name
            written += _export.write(gl, dest, layer="lines", overwrite=True)
            written += _export.write(bufs, dest, layer="buffers", overwrite=True, metadata=meta, inputs=inputs,
                                     add_layer=True)
        else:
            written += _export.write(gl, tmp / targets[0].name, overwrite=True, metadata=meta, inputs=inputs)
            written += _export.write(bufs, tmp / targets[1].name, overwrite=True, metadata=meta, inputs=inputs)
    return sorted({output.parent / p.name for p in written})


def input_files(*, path=None, points=None, members: bool = False) -> list[Path]:
    """Files that corridor results are computed from, for the checksums of
    provenance records (:func:`geocity.export.write_metadata`).

    Parameters
    ----------
    path
        A user corridor file, if any: listed with the cities layer its
        ``city_id`` values resolve against.
    points, members
        With ``members=True``, the inputs of :func:`members` on ``points``:
        a file path is listed; ``None`` (the report's cities with ranks)
        lists the cities, GDCI and BRI layers; an in-memory table adds
        nothing.

    Returns
    -------
    list of pathlib.Path
        ``layers/corridors.csv`` first, then the others, each once.

    Examples
    --------
    >>> [p.name for p in input_files()]
    ['corridors.csv']
    >>> [p.name for p in input_files(members=True)]
    ['corridors.csv', 'cities.csv', 'gdci_2022.csv', 'bri_2022.csv']
    """
    from . import layers
    from ._data import data_dir

    def layer_file(name):
        for fname in layers.LAYERS[name][0]:
            f = data_dir("layers") / fname
            if f.is_file():
                return f
        return None

    files = [_builtin_path()]
    if path is not None:
        files += [Path(path), layer_file("cities")]
    if members and points is None:
        files += [layer_file("cities"), layer_file("gdci_2022"), layer_file("bri_2022")]
    elif members and isinstance(points, (str, os.PathLike)):
        files.append(Path(points))
    return list(dict.fromkeys(f for f in files if f is not None))
