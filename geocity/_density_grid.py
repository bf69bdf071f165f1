"""Grids of :mod:`geocity.density`: their definition (lon/lat or equal-area),
memory checks, and the sub-sampling plan that makes every cell's value its
average over the cell (so the surface conserves the weight). Internal."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from pyproj import CRS, Transformer

from ._density_kernel import _KM_PER_DEG, EQUAL_EARTH, _band
from ._threads import n_threads, thread_map
from .errors import ValidationError
from .geodesy import EARTH_RADIUS_KM, WGS84, local_crs

log = logging.getLogger("geocity.density")


# --------------------------------------------------------------------------
# grid definition
# --------------------------------------------------------------------------
def _default_extent(lat, lon, reach_km) -> tuple[float, float, float, float]:
    """The points' bounding box padded by the kernel's reach; world-wide in
    longitude when the padded window would cross ±180° or span half the globe."""
    pad_lat = reach_km / _KM_PER_DEG
    south = max(-90.0, float(lat.min()) - pad_lat)
    north = min(90.0, float(lat.max()) + pad_lat)
    maxabs = max(abs(south), abs(north))
    if maxabs > 80.0:
        return (-180.0, south, 180.0, north)
    pad_lon = reach_km / (_KM_PER_DEG * math.cos(math.radians(maxabs)))
    west = float(lon.min()) - pad_lon
    east = float(lon.max()) + pad_lon
    if east - west >= 180.0 or west < -180.0 or east > 180.0:
        return (-180.0, south, 180.0, north)
    return (west, south, east, north)


def _from_origin(west: float, north: float, xsize: float, ysize: float):
    # rasterio.transform.from_origin multiplies Affines with ``*``, which the
    # installed affine deprecates (a warning); build the matrix directly
    from affine import Affine

    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _check_extent(extent) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in extent)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"extent must be (west, south, east, north) in degrees, got {extent!r}"
        ) from exc
    problems = []
    if not (-180 <= west < east <= 180):
        problems.append(
            f"need -180 <= west < east <= 180 (got west={west}, east={east}); "
            "an extent across ±180 is not supported, use (-180, south, 180, north)"
        )
    if not (-90 <= south < north <= 90):
        problems.append(f"need -90 <= south < north <= 90 (got south={south}, north={north})")
    if problems:
        raise ValidationError("extent: " + "; ".join(problems))
    return west, south, east, north


@dataclass
class _Grid:
    transform: Any
    crs: CRS
    height: int
    width: int
    cell: float  # in degrees or metres
    geographic: bool


def _deg_grid(extent, cell_deg) -> _Grid:
    west, south, east, north = extent
    # snap outwards to multiples of the cell so grids of one cell size align
    w = math.floor(round(west / cell_deg, 9)) * cell_deg
    s = math.floor(round(south / cell_deg, 9)) * cell_deg
    e = math.ceil(round(east / cell_deg, 9)) * cell_deg
    n = math.ceil(round(north / cell_deg, 9)) * cell_deg
    w, s = max(w, -180.0), max(s, -90.0)
    n = min(n, 90.0)
    width = max(1, int(math.ceil(round((min(e, 180.0) - w) / cell_deg, 9))))
    height = max(1, int(math.ceil(round((n - s) / cell_deg, 9))))
    return _Grid(_from_origin(w, n, cell_deg, cell_deg), WGS84, height, width, cell_deg, True)


def _km_grid(extent, cell_km, crs, grid_bounds=None) -> _Grid:
    west, south, east, north = extent
    if crs is None:
        if north >= 90.0 and south >= 0.0 or south <= -90.0 and north <= 0.0:
            # a polar cap: Lambert azimuthal equal-area on the pole (Equal Earth squeezes the pole into a line)
            crs = local_crs(90.0 if north >= 90.0 else -90.0, 0.0, "laea")
        elif east - west > 180.0:
            crs = EQUAL_EARTH
        else:
            lat0 = round((south + north) / 2.0, 4)
            lon0 = round((west + east) / 2.0, 4)
            crs = local_crs(lat0, lon0, "laea")
    else:
        crs = CRS.from_user_input(crs)
        if crs.is_geographic:
            raise ValidationError(
                f"crs {crs.to_string()} is geographic; a cell_km grid needs a projected equal-area CRS "
                "(e.g. EPSG:8857), or give cell_deg for a lon/lat grid"
            )
    if grid_bounds is not None:
        x0, y0, x1, y1 = (float(v) for v in grid_bounds)
        if not (x0 < x1 and y0 < y1):
            raise ValidationError(f"grid_bounds must be (xmin, ymin, xmax, ymax) with min < max, got {grid_bounds}")
    else:
        tr = Transformer.from_crs(WGS84, crs, always_xy=True)
        x0, y0, x1, y1 = tr.transform_bounds(west, south, east, north, densify_pts=101)
    if not all(map(math.isfinite, (x0, y0, x1, y1))):
        raise ValidationError(
            f"extent {extent} cannot be projected to {crs.name}; choose a smaller extent or another crs"
        )
    c = cell_km * 1000.0
    x0 = math.floor(x0 / c) * c
    y0 = math.floor(y0 / c) * c
    x1 = math.ceil(x1 / c) * c
    y1 = math.ceil(y1 / c) * c
    width = max(1, int(round((x1 - x0) / c)))
    height = max(1, int(round((y1 - y0) / c)))
    return _Grid(_from_origin(x0, y1, c, c), crs, height, width, c, False)


def _check_memory(n_cells: int, bytes_per_cell: float, cell: float, unit: str, limit_gb: float) -> None:
    need = n_cells * bytes_per_cell
    if need > limit_gb * 1e9:
        factor = math.sqrt(need / (limit_gb * 1e9))
        suggest = cell * factor * 1.05
        raise ValidationError(
            f"the density grid would have {n_cells:,} cells and need about {need / 1e9:.1f} GB, over the "
            f"memory budget of {limit_gb:g} GB; use a coarser cell, e.g. {suggest:.3g} {unit} or more, "
            "a smaller extent, or raise memory_limit_gb"
        )


# --------------------------------------------------------------------------
# mass conservation: sampling the cells
# --------------------------------------------------------------------------
#: The exact method averages each cell over sub-samples at most
#: ``bandwidth_km / EXACT_SAMPLES_PER_BANDWIDTH[kernel]`` apart on the ground
#: (midpoint-rule error of the kernel's integral: 1e-14 Gaussian, 0.16 %
#: quartic, 0.12 % Epanechnikov, whose kink at ``d = h`` is the hardest).
EXACT_SAMPLES_PER_BANDWIDTH = {"gaussian": 2.0, "quartic": 4.0, "epanechnikov": 8.0}
#: The binned method resamples its lon/lat working grid onto equal-area
#: cells with sub-samples at most ``max(bandwidth_km, working cell) / 3`` apart.
BINNED_SAMPLES_PER_SCALE = 3.0
#: Within ``POLAR_ZONE`` bandwidths of a pole the midpoint rule is only of second
#: order (a polar cap; the square-root stretch at Equal Earth's pole lines):
#: sub-samples there are at most ``bandwidth_km / POLAR_SAMPLES_PER_SCALE``
#: apart (error about ``1 / (24 * 5**2)`` = 0.17 %).
POLAR_SAMPLES_PER_SCALE = 5.0
POLAR_ZONE = 3.0
#: Equal-area (``cell_km``) grids refuse a bandwidth below this many cells.
MIN_BANDWIDTH_CELLS = 0.5
#: Most sub-samples per cell side (a cell is averaged over at most 32 x 32).
MAX_SUBSAMPLES = 32
#: Documented tolerance: when the grid holds every kernel whole, the surface
#: integrates to the total weight within this relative error, else it is refused.
MASS_TOLERANCE = 0.005


def _authalic_lat(lat_deg, crs: CRS | None) -> np.ndarray:
    """Authalic latitude (degrees) on the ellipsoid of ``crs``: the latitude
    on a sphere of equal area, so that kernels on that sphere put the right
    mass into the cells of an equal-area grid on the ellipsoid (the geodetic
    latitude would be off by up to +0.9 % of area at the poles)."""
    lat_deg = np.asarray(lat_deg, dtype=float)
    ell = None if crs is None else crs.ellipsoid
    inv_f = getattr(ell, "inverse_flattening", 0.0) or 0.0
    if not math.isfinite(inv_f) or inv_f <= 0:
        return lat_deg
    f = 1.0 / inv_f
    e2 = f * (2.0 - f)
    e = math.sqrt(e2)

    def q(sp):
        return (1.0 - e2) * (sp / (1.0 - e2 * sp * sp) - np.log((1.0 - e * sp) / (1.0 + e * sp)) / (2.0 * e))

    sp = np.sin(np.radians(lat_deg))
    return np.degrees(np.arcsin(np.clip(q(sp) / q(1.0), -1.0, 1.0)))


@dataclass
class _Plan:
    s: np.ndarray  # sub-samples per cell side, per output row
    capped: np.ndarray  # rows whose sub-samples stay farther apart than wanted
    lat_range: tuple[float, float]  # geodetic latitudes of the valid sub-samples
    inactive: np.ndarray | None = None  # rows out of every kernel's reach: centres only, no refinement


#: Points from which :func:`_inverse` splits its transforms over threads (PROJ releases the GIL).
THREAD_MIN_POINTS = 200_000
#: At most this many threads for the transforms of a projected grid (:mod:`geocity._threads`).
MAX_THREADS = 4
_local = threading.local()


def _after_fork() -> None:
    """A forked child has none of the parent's threads: it makes its own transformers."""
    _local.__dict__.clear()


os.register_at_fork(after_in_child=_after_fork)


def _transformer_pair(wkt: str):
    crs = CRS.from_wkt(wkt)
    return (Transformer.from_crs(crs, WGS84, always_xy=True), Transformer.from_crs(WGS84, crs, always_xy=True))


def _thread_transformers(wkt: str):
    """This thread's own (inverse, forward) transformers for ``wkt``, the last 8 CRSs kept per thread
    (a pyproj Transformer is not shared between threads)."""
    cached = getattr(_local, "pairs", None)
    if cached is None:
        cached = _local.pairs = lru_cache(maxsize=8)(_transformer_pair)
    return cached(wkt)


def _transformers(crs: CRS):
    """(inverse, forward) transformers of ``crs`` for the calling thread."""
    return _thread_transformers(crs.to_wkt())


def _round_trip_into(wkt: str, x: np.ndarray, y: np.ndarray, out, a: int, b: int, valid=None) -> None:
    """Inverse projection of ``x[a:b], y[a:b]`` into ``out[0][a:b], out[1][a:b]``
    (lon, lat) and the forward projection of the result into ``out[2], out[3]``,
    in place (this thread's transformers). With ``valid``: also its slice
    (on the globe: finite and round-tripping within 1 m), and lon, lat set
    to 0 where not."""
    inv, fwd = _thread_transformers(wkt)
    lon, lat, bx, by = (o[a:b] for o in out)
    lon[:] = x[a:b]
    lat[:] = y[a:b]
    with np.errstate(invalid="ignore"):
        inv.transform(lon, lat, inplace=True)
        bx[:] = lon
        by[:] = lat
        fwd.transform(bx, by, inplace=True)
        if valid is not None:
            v = np.isfinite(lon) & np.isfinite(lat) & (np.hypot(bx - x[a:b], by - y[a:b]) < 1.0)
            valid[a:b] = v
            np.copyto(lon, 0.0, where=~v)
            np.copyto(lat, 0.0, where=~v)


def _transform_round_trip(crs: CRS, x: np.ndarray, y: np.ndarray, valid=None):
    """``(lon, lat, x', y')``: the inverse projection of the flat arrays ``x, y``
    and the forward projection of the result, in up to :data:`MAX_THREADS`
    threads for large ones, each writing its slice of the outputs (and of
    ``valid``, see :func:`_round_trip_into`): each point is transformed on its
    own, so the result is the same bytes in any split."""
    wkt = crs.to_wkt()
    out = tuple(np.empty(len(x)) for _ in range(4))
    k = max(1, int(min(n_threads(MAX_THREADS), len(x) // THREAD_MIN_POINTS)))
    cuts = np.linspace(0, len(x), k + 1).astype(np.int64)
    for _ in thread_map(lambda i: _round_trip_into(wkt, x, y, out, cuts[i], cuts[i + 1], valid), range(k), k):
        pass
    return out


def _inverse(grid: _Grid, X: np.ndarray, Y: np.ndarray):
    """lon, lat (0 where invalid) and validity of projected coordinates: on
    the globe when the inverse projection round-trips within 1 m."""
    shape = X.shape
    valid = np.empty(X.size, dtype=bool)
    lon, lat, _, _ = _transform_round_trip(grid.crs, np.ascontiguousarray(X.ravel()), np.ascontiguousarray(Y.ravel()),
                                           valid)
    return lon.reshape(shape), lat.reshape(shape), valid.reshape(shape)


def _sample_xy(grid: _Grid, rows, s: int, pad: int = 0):
    """Projected sub-sample coordinates of ``rows``, shape ``(len(rows), s +
    2 pad, width s + 2 pad)`` (``pad`` extra sub-samples on every side)."""
    t = grid.transform
    rows = np.asarray(rows)
    c = grid.cell
    x = t.c + (np.arange(-pad, grid.width * s + pad) + 0.5) * c / s
    y = t.f - rows[:, None] * c - (np.arange(-pad, s + pad)[None, :] + 0.5) * c / s
    X = np.broadcast_to(x[None, None, :], (len(rows), s + 2 * pad, len(x)))
    Y = np.broadcast_to(y[:, :, None], (len(rows), s + 2 * pad, len(x)))
    return np.ascontiguousarray(X), np.ascontiguousarray(Y)


def _projected_samples(grid: _Grid, rows, s: int, extra: bool = False):
    """lon, lat, valid of sub-samples of ``rows`` of a projected grid, shape
    ``(len(rows), s, width * s)`` (with ``extra``: one more level and column,
    the next row's first sub-row and the next cell's first sub-column)."""
    X, Y = _sample_xy(grid, rows, s, pad=1)
    if extra:
        X, Y = X[:, 1:, 1:], Y[:, 1:, 1:]
    else:
        X, Y = X[:, 1:-1, 1:-1], Y[:, 1:-1, 1:-1]
    return _inverse(grid, X, Y)


#: Sub-cells that straddle the edge of the globe in a projection (Equal
#: Earth's pole lines and curved ±180° meridians) are averaged over points
#: of which only those on the globe count: ``EDGE_SUBSAMPLES`` across the
#: edge by ``EDGE_ALONG`` along it (:func:`_edge_samples_uncached`). Across
#: the edge is where the part on the globe changes: 16 x 4 points give the
#: surface of 16 x 16 at a quarter of the points (against 64 x 64 points per
#: sub-cell on a world Equal Earth grid of 50 km cells with cities at the
#: ±180° edge, the cells at the edge are off by at most 0.84 % of the peak
#: either way; at the pole lines 16 x 4 and 16 x 16 integrate to the same
#: weight within 1e-5).
EDGE_SUBSAMPLES = 16
EDGE_ALONG = 4
#: The on-globe mask (:func:`_on_globe_uncached`) tests ``EDGE_MASK_SUBSAMPLES²`` points of each edge cell.
EDGE_MASK_SUBSAMPLES = 16


def _edge_samples_uncached(grid: _Grid, rows, s: int, full: bool = False):
    """Sub-samples of ``rows`` of a projected grid, with the edge of the globe resolved.

    Returns ``lon, lat, valid, weights`` of shape ``(len(rows), s, width *
    s)`` and ``(lon, lat, cell, weight)`` of the extra points: a sub-cell
    whose validity differs from one of its four neighbours (it straddles the
    projection's edge) is replaced by points of which those on the globe
    count: where only its left or right neighbour differs (an edge that runs
    up the map, the curved ±180° meridians) ``EDGE_SUBSAMPLES`` across by
    ``EDGE_ALONG`` up; where only the one above or below differs (an edge
    across the map, Equal Earth's pole lines) the other way round; where
    both do (a corner, a slanting edge) ``EDGE_SUBSAMPLES²``. The part on
    the globe is resolved finely across the edge, where it changes, and
    along it only as finely as the part's shape needs (at the pole line of a
    row sampled 24 x 24: 1.5 million points where 16 x 16 took 6 million).
    With ``full``: ``EDGE_MASK_SUBSAMPLES²`` points in every case (the
    on-globe mask). ``cell`` is the flat index of the cell in the block;
    weights sum to 1 over a cell lying wholly on the globe.
    """
    rows = np.asarray(rows)
    X, Y = _sample_xy(grid, rows, s, pad=1)
    lon, lat, valid = _inverse(grid, X, Y)
    core = (slice(None), slice(1, -1), slice(1, -1))
    vin = valid[core]
    across_x = (vin != valid[:, 1:-1, 0:-2]) | (vin != valid[:, 1:-1, 2:])  # left or right neighbour differs
    across_y = (vin != valid[:, 0:-2, 1:-1]) | (vin != valid[:, 2:, 1:-1])  # the one above or below differs
    edge = across_x | across_y
    wts = np.where(vin & ~edge, 1.0 / (s * s), 0.0)
    extra = None
    if edge.any():
        m, a = EDGE_SUBSAMPLES, EDGE_ALONG
        d = grid.cell / s
        kinds = [(edge, EDGE_MASK_SUBSAMPLES, EDGE_MASK_SUBSAMPLES)] if full else [
            (across_x & across_y, m, m), (across_x & ~across_y, m, a), (across_y & ~across_x, a, m)]
        parts = []
        for which, mx, my in kinds:  # (sub-cells, points across x, points across y)
            ii = np.nonzero(which)
            if not len(ii[0]):
                continue
            ox = (np.arange(mx) + 0.5) / mx - 0.5
            oy = (np.arange(my) + 0.5) / my - 0.5
            shape = (len(ii[0]), len(oy), len(ox))
            ex = np.broadcast_to(X[core][ii][:, None, None] + ox[None, None, :] * d, shape)
            ey = np.broadcast_to(Y[core][ii][:, None, None] - oy[None, :, None] * d, shape)
            elon, elat, ev = _inverse(grid, np.ascontiguousarray(ex), np.ascontiguousarray(ey))
            cell = np.broadcast_to((ii[0] * grid.width + ii[2] // s)[:, None, None], ev.shape)
            parts.append((elon[ev], elat[ev], cell[ev], np.full(int(ev.sum()), 1.0 / (s * s * mx * my))))
        extra = tuple(np.concatenate(v) for v in zip(*parts, strict=True)) if parts else None
    return lon[core], lat[core], vin & ~edge, wts, extra


def _active(lat_lo, lat_hi, point_lat_sorted, margin_deg: float) -> np.ndarray:
    """Rows whose latitudes ``[lat_lo, lat_hi]`` come within ``margin_deg`` of a point."""
    i = np.searchsorted(point_lat_sorted, np.asarray(lat_lo) - margin_deg, side="left")
    j = np.searchsorted(point_lat_sorted, np.asarray(lat_hi) + margin_deg, side="right")
    return j > i


def _plan_uncached(grid: _Grid, target_km: float, polar_target_km: float | None = None, polar_km: float = 0.0,
                   points_lat=None, margin_km: float = math.inf) -> _Plan:
    """How finely to sample every output row so that neighbouring sub-samples
    are at most ``target_km`` apart on the ground — ``polar_target_km`` in
    rows within ``polar_km`` of a pole, where the midpoint rule is only of
    second order (a polar cap; the square-root stretch at Equal Earth's pole
    lines). Measured, so that a projection's shape distortion is seen."""
    H, W = grid.height, grid.width
    polar_target_km = target_km if polar_target_km is None else min(target_km, polar_target_km)
    polar_lat = 90.0 - polar_km / _KM_PER_DEG
    if grid.geographic:
        t = grid.transform
        top, bot, _ = _band(t.f, np.arange(H), grid.cell)
        polar = np.maximum(np.abs(top), np.abs(bot)) >= polar_lat
        need = np.where(polar, grid.cell * _KM_PER_DEG / polar_target_km, grid.cell * _KM_PER_DEG / target_km)
        need = np.maximum(1, np.ceil(need - 1e-9)).astype(np.int64)
        if points_lat is not None and math.isfinite(margin_km):
            need = np.where(_active(bot, top, np.sort(points_lat), margin_km / _KM_PER_DEG), need, 1)
        return _Plan(np.minimum(need, MAX_SUBSAMPLES), need > MAX_SUBSAMPLES, (float(bot[-1]), float(top[0])))
    pts_sorted = None if points_lat is None or not math.isfinite(margin_km) else np.sort(points_lat)
    inactive = np.zeros(H, dtype=bool)
    s_row = np.ones(H, dtype=np.int64)
    capped = np.zeros(H, dtype=bool)
    lo, hi = math.inf, -math.inf
    pending = {1: np.arange(H)}
    while pending:
        level = min(pending)
        todo = np.asarray(pending.pop(level), dtype=np.int64)
        per_row = (level + 2) * (W * level + 2)
        step = max(1, int(2e6 // per_row))
        for a in range(0, len(todo), step):
            rows = todo[a : a + step]
            X, Y = _sample_xy(grid, rows, level, pad=1)  # with the neighbouring sub-samples on every side
            lon, lat, valid = _inverse(grid, X, Y)
            phi, lam = np.radians(lat), np.radians(lon)

            def gap(sl0, sl1, valid=valid, phi=phi, lam=lam, rows=rows):  # this block's samples
                ok = valid[sl0] & valid[sl1]
                hv = (np.sin((phi[sl1] - phi[sl0]) / 2) ** 2
                      + np.cos(phi[sl0]) * np.cos(phi[sl1]) * np.sin((lam[sl1] - lam[sl0]) / 2) ** 2)
                d = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(hv, 0, 1)))
                return np.where(ok, d, 0.0).reshape(len(rows), -1).max(axis=1, initial=0.0)

            spacing = np.maximum(
                gap((slice(None), slice(None), slice(0, -1)), (slice(None), slice(None), slice(1, None))),
                gap((slice(None), slice(0, -1), slice(None)), (slice(None), slice(1, None), slice(None))),
            )
            vlat = np.where(valid, np.abs(lat), -1.0).reshape(len(rows), -1).max(axis=1)
            want = np.where(vlat >= polar_lat, polar_target_km, target_km)
            ok = spacing <= want
            if level == 1 and pts_sorted is not None:
                flat_v = valid.reshape(len(rows), -1)
                flat_l = lat.reshape(len(rows), -1)
                rlo = np.where(flat_v, flat_l, np.inf).min(axis=1)
                rhi = np.where(flat_v, flat_l, -np.inf).max(axis=1)
                span = np.where(np.isfinite(rhi - rlo), rhi - rlo, 180.0)  # an edge reaches about as far again
                act = flat_v.any(axis=1) & _active(rlo - span, rhi + span, pts_sorted, margin_km / _KM_PER_DEG)
                inactive[rows[~act]] = True
                ok = ok | ~act
            last = ok | (level >= MAX_SUBSAMPLES)
            s_row[rows[last]] = level
            capped[rows[~ok & last]] = True
            inner = valid[:, 1:-1, 1:-1]
            ilat = np.where(inner, lat[:, 1:-1, 1:-1], np.nan)[last]
            if np.isfinite(ilat).any():
                lo, hi = min(lo, float(np.nanmin(ilat))), max(hi, float(np.nanmax(ilat)))
            for r, sp, wt in zip(rows[~last], spacing[~last], want[~last], strict=True):
                nxt = int(min(MAX_SUBSAMPLES, max(2 * level, math.ceil(level * sp / wt))))
                pending[nxt] = np.append(pending.get(nxt, np.zeros(0, dtype=np.int64)), r)
    if not math.isfinite(lo):
        lo, hi = 0.0, 0.0
    return _Plan(s_row, capped, (lo, hi), inactive)


def _blocks(grid: _Grid, plan: _Plan) -> list[tuple[int, np.ndarray]]:
    """``(s, rows)`` blocks of output rows sampled ``s x s`` per cell, of at
    most ~2·10^6 sub-samples each; ``s = 0``: rows out of every kernel's
    reach (their centres only)."""
    H, W = grid.height, grid.width
    blocks = []
    inactive = plan.inactive if plan.inactive is not None else np.zeros(H, dtype=bool)
    for s in sorted(set(int(v) for v in plan.s)):
        rows = np.flatnonzero((plan.s == s) & ~inactive)
        step = max(1, int(2e6 // (W * s * s)))
        blocks += [(s, rows[a : a + step]) for a in range(0, len(rows), step)]
    rows = np.flatnonzero(inactive)
    blocks += [(0, rows[a : a + 20000 // max(W, 1) + 1]) for a in range(0, len(rows), 20000 // max(W, 1) + 1)]
    return blocks


def _block_geometry(grid: _Grid, rows, s: int):
    """The sub-samples of a block of :func:`_blocks`: ``lon, lat, valid, wts``
    of shape ``(len(rows), s, width * s)`` (``s = 0``: ``(len(rows), 1,
    width)``, the centres, weight 1) and the extra points of the cells at a
    projection's edge (:func:`_edge_samples_uncached`) or None. A cell's
    value is the sum of ``f * wts`` over its valid sub-samples and extra points."""
    n, W = len(rows), grid.width
    if s == 0:  # out of reach: the centres, without refinement
        lon, lat, valid = _projected_samples(grid, rows, 1)
        return lon, lat, valid, valid.astype(float), None
    if grid.geographic:
        t = grid.transform
        lon = np.broadcast_to(t.c + (np.arange(W * s) + 0.5) * grid.cell / s, (n, s, W * s))
        sub = rows[:, None] * s + np.arange(s)[None, :]  # sub-rows of the lattice of cell / s
        top, bot, mid = _band(t.f, sub, grid.cell / s)
        lat = np.broadcast_to(mid[:, :, None], (n, s, W * s))
        wts = np.sin(np.radians(top)) - np.sin(np.radians(bot))
        wts = wts / wts.sum(axis=1, keepdims=True) / s
        wts = np.broadcast_to(wts[:, :, None], (n, s, W * s))
        return lon, lat, np.ones((n, s, W * s), dtype=bool), wts, None
    return _edge_samples(grid, rows, s)


def _evaluate(grid: _Grid, plan: _Plan, f, *, progress: bool = False) -> np.ndarray:
    """Cell averages of the density ``f(lat, lon)`` (geodetic degrees) over
    the sub-samples of ``plan``; NaN where no sub-sample is on the globe."""
    H, W = grid.height, grid.width
    values = np.full((H, W), np.nan)
    it: Any = _blocks(grid, plan)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="density", unit="block", disable=None)
    for s, rows in it:
        n, k = len(rows), max(s, 1)
        lon, lat, valid, wts, extra = _block_geometry(grid, rows, s)
        vals = np.zeros(valid.shape)
        if valid.any():
            vals[valid] = f(lat[valid], lon[valid])
        cell = (vals * wts).reshape(n, k, W, k).sum(axis=(1, 3))
        anyvalid = valid.reshape(n, k, W, k).any(axis=(1, 3))
        if extra is not None and len(extra[0]):
            elon, elat, ecell, ew = extra
            cell = cell + np.bincount(ecell, weights=f(elat, elon) * ew, minlength=n * W).reshape(n, W)
            anyvalid = anyvalid | (np.bincount(ecell, minlength=n * W).reshape(n, W) > 0)
        values[rows] = np.where(anyvalid, cell, np.nan)
    if not grid.geographic:
        on = _on_globe(grid)
        values = np.where(on, np.nan_to_num(values, nan=0.0), np.nan)
    return values


@dataclass
class _LinearOperator:
    """The cell averages of :func:`_evaluate` for a density that is linear in
    a working grid's values, ``f = terms · sums``, as one sparse matrix: the
    same sub-samples, their weights folded into the interpolation weights and
    summed per (cell, working-grid node). Sub-samples flagged by ``exact``
    are kept aside (cell, latitude, longitude, weight) for a density summed
    there directly."""

    matrix: Any  # scipy.sparse CSR, (cells, working-grid nodes)
    anyvalid: np.ndarray  # (H, W): cells with a sub-sample on the globe
    exact: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # cell, lat, lon, weight
    on_globe: np.ndarray | None  # projected grids: _on_globe

    def apply(self, sums: np.ndarray, f_exact=None) -> np.ndarray:
        """Cell values of the working grid ``sums`` (and of ``f_exact(lat, lon)`` at the samples kept aside)."""
        values = self.matrix @ np.ascontiguousarray(sums, dtype=np.float64).ravel()
        cell, lat, lon, w = self.exact
        if len(cell):
            values = values + np.bincount(cell, weights=f_exact(lat, lon) * w, minlength=values.size)
        values = np.where(self.anyvalid, values.reshape(self.anyvalid.shape), np.nan)
        if self.on_globe is not None:
            values = np.where(self.on_globe, np.nan_to_num(values, nan=0.0), np.nan)
        return values


def _linear_operator_uncached(grid: _Grid, plan: _Plan, terms, n_nodes: int) -> _LinearOperator:
    """Build :class:`_LinearOperator`: ``terms(lat, lon) -> (nodes, weights,
    exact)``, for flat geodetic sub-sample coordinates: ``exact``, the
    samples whose value is summed directly instead (a boolean mask), and for
    the others the working-grid nodes (m x k flat indices) and weights (m x
    k) of each sample's value."""
    import scipy.sparse as sp

    H, W = grid.height, grid.width
    anyvalid = np.zeros((H, W), dtype=bool)
    parts_r, parts_c, parts_v = [], [], []
    ex: list[list[np.ndarray]] = [[], [], [], []]
    for s, rows in _blocks(grid, plan):
        n, k = len(rows), max(s, 1)
        lon, lat, valid, wts, extra = _block_geometry(grid, rows, s)
        # flat index within the block of each sub-sample's cell
        cell = np.broadcast_to((np.arange(n)[:, None, None] * W + np.arange(W * k)[None, None, :] // k), valid.shape)
        c_s, lat_s, lon_s, w_s = cell[valid], lat[valid], lon[valid], wts[valid]
        if extra is not None and len(extra[0]):
            elon, elat, ecell, ew = extra
            c_s, lat_s = np.concatenate([c_s, ecell]), np.concatenate([lat_s, elat])
            lon_s, w_s = np.concatenate([lon_s, elon]), np.concatenate([w_s, ew])
        hit = np.zeros(n * W, dtype=bool)
        hit[c_s] = True
        anyvalid[rows] = hit.reshape(n, W)
        nodes, nw, exact = terms(lat_s, lon_s)
        glob = rows[c_s // W] * W + c_s % W  # the cells' flat indices in the grid
        if exact.any():
            for lst, v in zip(ex, (glob[exact], lat_s[exact], lon_s[exact], w_s[exact]), strict=True):
                lst.append(v)
            glob, w_s = glob[~exact], w_s[~exact]
        # summed per (cell, node) within the block (a block's cells are its own), so the parts do not overlap
        block = sp.coo_matrix(((nw * w_s[:, None]).ravel(), (np.repeat(glob, nodes.shape[1]), nodes.ravel())),
                              shape=(H * W, n_nodes)).tocsr().tocoo()
        parts_r.append(block.row)
        parts_c.append(block.col)
        parts_v.append(block.data)
    matrix = sp.csr_matrix((np.concatenate(parts_v), (np.concatenate(parts_r), np.concatenate(parts_c))),
                           shape=(H * W, n_nodes))
    exact_parts = tuple(np.concatenate(v) if v else np.zeros(0, dtype=t)
                        for v, t in zip(ex, (np.int64, float, float, float), strict=True))
    return _LinearOperator(matrix, anyvalid, exact_parts,  # type: ignore[arg-type]
                           None if grid.geographic else _on_globe(grid))


def _on_globe_uncached(grid: _Grid) -> np.ndarray:
    """Cells of a projected grid with some part on the globe (their centre, or
    for cells at the projection's edge one of ``EDGE_MASK_SUBSAMPLES²``
    points, ``full`` in :func:`_edge_samples_uncached`): the same mask
    whatever the method or the sampling."""
    H, W = grid.height, grid.width
    mask = np.zeros((H, W), dtype=bool)
    step = max(1, int(2e5 // max(W, 1)))
    for a in range(0, H, step):
        rows = np.arange(a, min(H, a + step))
        _, _, valid, _, extra = _edge_samples(grid, rows, 1, full=True)
        m = valid[:, 0, :]
        if extra is not None and len(extra[2]):
            m = m | (np.bincount(extra[2], minlength=len(rows) * W).reshape(len(rows), W) > 0)
        mask[rows] = m
    return mask


def _covers(grid: _Grid, lat, lon, reach_km: float) -> bool:
    """Does the grid hold the whole kernel (its reach) of every point?"""
    rho = min(reach_km / EARTH_RADIUS_KM, math.pi)
    t = grid.transform
    if grid.geographic:
        west, south, east, north = t.c, t.f + t.e * grid.height, t.c + t.a * grid.width, t.f
        phi = np.radians(lat)
        lat_ok = ((np.degrees(phi - rho) >= south - 1e-9) | (south <= -90.0)) & (
            (np.degrees(phi + rho) <= north + 1e-9) | (north >= 90.0))
        if not lat_ok.all():
            return False
        if east - west >= 360.0 - 1e-9:
            return True
        with np.errstate(invalid="ignore", divide="ignore"):
            sin_dl = math.sin(rho) / np.cos(phi)
        if (~(sin_dl < 1.0)).any():  # a cap over a pole on a grid that is not world-wide
            return False
        dl = np.degrees(np.arcsin(sin_dl))
        return bool(((lon - dl >= west - 1e-9) & (lon + dl <= east + 1e-9)).all())
    # projected: the reach circle of each point (of those nearest the grid's edges) must map inside
    inv, fwd = _transformers(grid.crs)
    x0, x1 = t.c, t.c + t.a * grid.width
    y1, y0 = t.f, t.f + t.e * grid.height
    if len(lat) > 20000:
        with np.errstate(invalid="ignore"):
            px, py = fwd.transform(lon, lat)
        edge = np.minimum.reduce([np.asarray(px) - x0, x1 - np.asarray(px), np.asarray(py) - y0, y1 - np.asarray(py)])
        pick = np.argsort(np.nan_to_num(edge, nan=-np.inf), kind="stable")[:20000]
        lat, lon = lat[pick], lon[pick]
    az = np.radians(np.arange(0.0, 360.0, 10.0))
    phi1, lam1 = np.radians(lat)[:, None], np.radians(lon)[:, None]
    phi2 = np.arcsin(np.sin(phi1) * math.cos(rho) + np.cos(phi1) * math.sin(rho) * np.cos(az))
    lam2 = lam1 + np.arctan2(np.sin(az) * math.sin(rho) * np.cos(phi1), math.cos(rho) - np.sin(phi1) * np.sin(phi2))
    qlon = (np.degrees(lam2) + 180.0) % 360.0 - 180.0
    with np.errstate(invalid="ignore"):
        qx, qy = fwd.transform(qlon.ravel(), np.degrees(phi2).ravel())
    qx, qy = np.asarray(qx), np.asarray(qy)
    return bool((np.isfinite(qx) & np.isfinite(qy) & (qx >= x0) & (qx <= x1) & (qy >= y0) & (qy <= y1)).all())


# --------------------------------------------------------------------------
# the grid's geometry, computed once per grid
# --------------------------------------------------------------------------
#: Grids whose geometry (sampling plans, inverse-projected sub-samples, the
#: on-globe mask) is kept for the next surface on the same grid: the four 3I
#: surfaces of a run, or a plate's surfaces of several weights, share one
#: grid, and its geometry is most of a small layer's cost. A few tens of MB
#: per world grid of the report's cells.
GEOMETRY_CACHE_GRIDS = 2
_GEOMETRY: "OrderedDict[tuple, dict]" = OrderedDict()


def _grid_key(grid: _Grid) -> tuple:
    return (grid.crs.to_wkt(), tuple(float(v) for v in tuple(grid.transform)[:6]), grid.height, grid.width,
            float(grid.cell), grid.geographic)


def _geometry(grid: _Grid) -> dict:
    """This grid's geometry cache (a dict), most recently used last."""
    if GEOMETRY_CACHE_GRIDS <= 0:
        return {}  # caching off: a dict forgotten after the call
    key = _grid_key(grid)
    if key in _GEOMETRY:
        _GEOMETRY.move_to_end(key)
    else:
        _GEOMETRY[key] = {}
        while len(_GEOMETRY) > GEOMETRY_CACHE_GRIDS:
            _GEOMETRY.popitem(last=False)
    return _GEOMETRY[key]


def _frozen(value):
    """Arrays (also inside tuples) made read-only, so a cached value cannot be changed by a caller."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for v in value:
            _frozen(v)
    return value


def _edge_samples(grid: _Grid, rows, s: int, full: bool = False):
    """:func:`_edge_samples_uncached`, once per grid, rows, ``s`` and ``full``."""
    rows = np.asarray(rows, dtype=np.int64)
    cache = _geometry(grid)
    key = ("edge", rows.tobytes(), int(s), bool(full))
    if key not in cache:
        cache[key] = _frozen(_edge_samples_uncached(grid, rows, s, full))
    return cache[key]


def _on_globe(grid: _Grid) -> np.ndarray:
    """:func:`_on_globe_uncached`, once per grid."""
    cache = _geometry(grid)
    if "on_globe" not in cache:
        cache["on_globe"] = _frozen(_on_globe_uncached(grid))
    return cache["on_globe"]


def _plan(grid: _Grid, target_km: float, polar_target_km: float | None = None, polar_km: float = 0.0,
          points_lat=None, margin_km: float = math.inf) -> _Plan:
    """:func:`_plan_uncached`, once per grid, targets and point latitudes."""
    import hashlib

    lat_key = None if points_lat is None else hashlib.sha256(
        np.sort(np.asarray(points_lat, dtype=np.float64)).tobytes()).hexdigest()
    key = ("plan", float(target_km), None if polar_target_km is None else float(polar_target_km), float(polar_km),
           lat_key, float(margin_km))
    cache = _geometry(grid)
    if key not in cache:
        plan = _plan_uncached(grid, target_km, polar_target_km, polar_km, points_lat, margin_km)
        for arr in (plan.s, plan.capped, plan.inactive):
            _frozen(arr)
        cache[key] = plan
    return cache[key]


def _linear_operator(grid: _Grid, plan: _Plan, terms, n_nodes: int, key: tuple) -> _LinearOperator:
    """:func:`_linear_operator_uncached`, once per grid, plan and ``key`` (which must name
    everything ``terms`` depends on: the working grid and the samples summed exactly)."""
    import hashlib

    plan_key = hashlib.sha256(plan.s.tobytes() + (b"" if plan.inactive is None else plan.inactive.tobytes()))
    cache_key = ("operator", plan_key.hexdigest(), int(n_nodes), key)
    cache = _geometry(grid)
    if cache_key not in cache:
        op = _linear_operator_uncached(grid, plan, terms, n_nodes)
        _frozen((op.anyvalid, *op.exact))
        cache[cache_key] = op
    return cache[cache_key]
