"""Kernels of :mod:`geocity.density` on the sphere and its two ways of summing
them: the exact sum at sample points and the binned (FFT) sum on a lon/lat
working grid. Internal; the public names are re-exported by :mod:`geocity.density`."""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
from pyproj import CRS

from .errors import ValidationError
from .geodesy import EARTH_RADIUS_KM, unit_vectors

log = logging.getLogger("geocity.density")

#: Kernels accepted by :func:`density`.
KERNELS = ("gaussian", "epanechnikov", "quartic")
#: Equal Earth, the default equal-area CRS of world grids in km.
EQUAL_EARTH = CRS.from_epsg(8857)
#: Default memory budget of one surface computation, in GB.
MEMORY_LIMIT_GB = 2.0
#: ``method="auto"`` uses the exact sum up to this many point × cell pairs.
EXACT_PAIRS_LIMIT = 5e7
#: ``method="exact"`` refuses to sum more point × sub-sample kernels than this.
EXACT_MAX_PAIRS = 5e9
#: The Gaussian kernel is treated as zero beyond this many bandwidths
#: (relative value exp(-18) = 1.5e-8) when choosing which rows interact.
GAUSSIAN_REACH = 6.0
#: Value written for cells without data (outside the projection or masked).
NODATA = -9999.0
_KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0


def _band(north: float, rows, cell_deg: float):
    """Top, bottom (clipped to ±90) and middle latitude of lattice rows."""
    rows = np.asarray(rows, dtype=float)
    top_raw = north - rows * cell_deg
    top = np.clip(top_raw, -90.0, 90.0)
    bot = np.clip(top_raw - cell_deg, -90.0, 90.0)
    return top, bot, (top + bot) / 2.0


def _globe_rows(north: float, cell_deg: float):
    """Rows (indices, middle latitudes, cell areas in km²) of the lon/lat
    lattice through ``north`` that lie on the globe."""
    r_min = -int(math.ceil(round((90.0 - north) / cell_deg, 9)))
    r_max = int(math.ceil(round((north + 90.0) / cell_deg, 9))) - 1
    r = np.arange(r_min, r_max + 1)
    top, bot, mid = _band(north, r, cell_deg)
    area = EARTH_RADIUS_KM**2 * math.radians(cell_deg) * (np.sin(np.radians(top)) - np.sin(np.radians(bot)))
    return r, mid, area


# --------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------
def _kernel_values(d_km: np.ndarray, kernel: str, h: float) -> np.ndarray:
    u2 = (d_km / h) ** 2
    if kernel == "gaussian":
        return np.exp(-0.5 * u2)
    if kernel == "epanechnikov":
        return np.where(u2 < 1.0, 1.0 - u2, 0.0)
    return np.where(u2 < 1.0, (1.0 - u2) ** 2, 0.0)


def kernel_reach_km(kernel: str, bandwidth_km: float) -> float:
    """Distance beyond which the kernel is (treated as) zero, in km."""
    reach = GAUSSIAN_REACH * bandwidth_km if kernel == "gaussian" else bandwidth_km
    return min(reach, math.pi * EARTH_RADIUS_KM)


@lru_cache(maxsize=64)
def kernel_integral_km2(kernel: str, bandwidth_km: float) -> float:
    """Integral of the un-normalised kernel over the sphere, in km².

    ``2 pi R² ∫ K(R θ) sin θ dθ`` — for a small bandwidth this tends to the
    planar ``2 pi h²`` (Gaussian), ``pi h²/2`` (Epanechnikov), ``pi h²/3``
    (quartic).
    """
    from scipy.integrate import quad

    R = EARTH_RADIUS_KM
    top = kernel_reach_km(kernel, bandwidth_km) / R
    if kernel == "gaussian":
        top = min(math.pi, 40.0 * bandwidth_km / R)

    def f(theta):
        return float(_kernel_values(np.asarray(R * theta), kernel, bandwidth_km)) * math.sin(theta)

    pts = [min(top, k * bandwidth_km / R) for k in (1, 2, 4)]
    val, _ = quad(f, 0.0, top, points=sorted(set(p for p in pts if 0 < p < top)) or None, limit=200)
    return 2.0 * math.pi * R * R * val


# --------------------------------------------------------------------------
# the two methods
# --------------------------------------------------------------------------
def _exact_at(qlat, qlon, lat, lon, w, kernel, h, *, progress=False, reach_km: float = math.inf) -> np.ndarray:
    """Direct sum of kernels at query points; returns un-normalised sums.

    ``reach_km``: leave out the terms of points farther than this (the
    binned method's kernel, truncated at :func:`kernel_reach_km`); default:
    every term.
    """
    q = unit_vectors(qlat, qlon)
    p = unit_vectors(lat, lon)
    fast = _numba_sums()
    if fast is not None and len(q) and len(p):
        return _exact_at_numba(fast, q, p, w, kernel, h, reach_km)
    out = np.zeros(len(q))
    chunk = max(1, int(4e6 // max(len(p), 1)))
    starts = range(0, len(q), chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="density (exact)", unit="chunk", disable=None)
    for a in starts:
        dot = q[a : a + chunk] @ p.T
        chord = np.sqrt(np.clip(2.0 - 2.0 * dot, 0.0, 4.0))
        d = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(chord / 2.0, 1.0))
        k = _kernel_values(d, kernel, h)
        if math.isfinite(reach_km):
            k = np.where(d <= reach_km, k, 0.0)
        out[a : a + chunk] = k @ w
    return out


_NUMBA_SUMS: list = []


def _numba_sums():
    """The compiled direct sum (:func:`geocity._density_numba.exact_sums`), or None without numba."""
    if not _NUMBA_SUMS:
        try:
            from ._density_numba import exact_sums
        except ImportError:  # numba is optional at run time: the NumPy sum below
            exact_sums = None
        _NUMBA_SUMS.append(exact_sums)
    return _NUMBA_SUMS[0]


def _exact_at_numba(fast, q, p, w, kernel: str, h: float, d_max_km: float = math.inf) -> np.ndarray:
    """:func:`_exact_at` by the compiled loop: every pair whose term is not exactly zero (within ``d_max_km``)."""
    from ._density_numba import GAUSSIAN_UNDERFLOW

    reach_km = math.sqrt(2.0 * GAUSSIAN_UNDERFLOW) * h if kernel == "gaussian" else h
    reach_km = min(reach_km, d_max_km)
    half_angle = reach_km / (2.0 * EARTH_RADIUS_KM)
    # squared chord of the reach, with a margin: the loop's own test on u² decides at the edge
    chord2_max = 4.0 * math.sin(half_angle) ** 2 * (1.0 + 1e-9) if half_angle < math.pi / 2 else 5.0
    kind = KERNELS.index(kernel)
    return fast(np.ascontiguousarray(q, dtype=np.float64), np.ascontiguousarray(p, dtype=np.float64),
                np.ascontiguousarray(w, dtype=np.float64), kind, float(h), float(chord2_max),
                float(EARTH_RADIUS_KM), float(d_max_km))


def _kernel_rows(a, b, hav_lags, kernel, h, hav_reach, dtype=np.float64):
    """Kernel between rows at haversine terms ``a`` (latitude) and ``b``
    (cos·cos) for the longitude lags of ``hav_lags``; only the lags any row
    reaches are evaluated. Returns ``(K, cols)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(b > 1e-15, (hav_reach - a) / b, np.where(a <= hav_reach, 1.0, 0.0))
    qmax = float(np.clip(q.max(), 0.0, 1.0)) if q.size else 0.0
    cols = np.flatnonzero(hav_lags <= qmax)
    hv = a[:, None] + b[:, None] * hav_lags[cols][None, :]
    d = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(hv, 0.0, 1.0)))
    return np.where(hv <= hav_reach, _kernel_values(d, kernel, h), 0.0).astype(dtype), cols


def _binned_lonlat(lat, lon, w, *, west, north, cell_deg, out_rows, n_out_cols, kernel, h, progress=False,
                   memory_limit_gb: float = MEMORY_LIMIT_GB):
    """Row-wise FFT convolution on a lon/lat grid; see the module docstring.

    ``out_rows`` are row indices (row 0 from ``north`` to ``north - cell``)
    of the wanted output rows, ``n_out_cols`` columns starting at ``west``.
    Returns the density (weight per km²) of shape ``(len(out_rows),
    n_out_cols)``: every binned weight is divided by the sum of its kernel
    over the cells of the whole globe (times their areas), so the weight is
    conserved exactly on the lattice whatever the bandwidth/cell ratio.
    """
    from scipy.fft import irfft, next_fast_len, rfft

    out_rows = np.asarray(out_rows)
    out = np.zeros((len(out_rows), n_out_cols))
    n_full = int(math.ceil(round(360.0 / cell_deg, 9)))
    periodic = abs(n_full * cell_deg - 360.0) < 1e-9 and n_out_cols == n_full
    reach_deg = kernel_reach_km(kernel, h) / _KM_PER_DEG + cell_deg
    hav_reach = math.sin(min(kernel_reach_km(kernel, h) / EARTH_RADIUS_KM, math.pi) / 2.0) ** 2
    g_rows, g_lat, g_area = _globe_rows(north, cell_deg)
    r_min, r_max = int(g_rows[0]), int(g_rows[-1])
    # only points within reach (in latitude) of an output row matter
    lat_out = _band(north, out_rows, cell_deg)[2]
    keep = (lat >= lat_out.min() - reach_deg) & (lat <= lat_out.max() + reach_deg) & (w > 0)
    if not keep.any():
        return out
    lat, lon, w = lat[keep], lon[keep], w[keep]
    if periodic:
        L = n_full
        dj = np.arange(L)
    else:
        L = next_fast_len(n_full + n_out_cols - 1, real=True)
        dj = np.arange(L)
        dj = np.where(dj < n_out_cols, dj, dj - L)  # negative lags wrap to the end
    # linear binning (each weight shared bilinearly between the four nearest
    # cell centres): columns around the whole globe from ``west``; rows of the
    # globe only (a share beyond a pole goes to the polar row); only occupied rows stored
    fr = (north - lat) / cell_deg - 0.5
    fc = np.mod(lon - west, 360.0) / cell_deg - 0.5
    r_lo = np.floor(fr).astype(np.int64)
    c_lo = np.floor(fc).astype(np.int64)
    tr = fr - r_lo
    tc = fc - c_lo
    rows_all = np.clip(np.concatenate([r_lo, r_lo + 1]), r_min, r_max)
    occupied, inv = np.unique(rows_all, return_inverse=True)
    inv_lo, inv_hi = inv[: len(r_lo)], inv[len(r_lo):]
    n_rows_near = int(min(len(occupied), 2 * reach_deg / cell_deg + 2))
    need = len(occupied) * n_full * 8.0 + len(occupied) * (L // 2 + 1) * 8.0 + n_rows_near * L * 24.0
    if need > memory_limit_gb * 1e9:
        raise ValidationError(
            f"the binned density needs about {need / 1e9:.1f} GB for its working grid of {len(occupied):,} rows x "
            f"{n_full:,} columns (a whole circle of longitude at {cell_deg:.4g} degrees), over the budget of "
            f"{memory_limit_gb:g} GB; use a coarser cell, method='exact' for a small regional grid, or raise "
            "memory_limit_gb"
        )
    idx = []
    wts = []
    for rows_i, wr in ((inv_lo, 1.0 - tr), (inv_hi, tr)):
        for dc, wc in ((0, 1.0 - tc), (1, tc)):
            idx.append(rows_i * n_full + np.mod(c_lo + dc, n_full))
            wts.append(w * wr * wc)
    B: np.ndarray = np.bincount(
        np.concatenate(idx), weights=np.concatenate(wts), minlength=len(occupied) * n_full
    ).reshape(len(occupied), n_full)
    in_lat = g_lat[occupied - r_min]
    phi_in = np.radians(in_lat)
    cos_in = np.cos(phi_in)
    # the kernel of each occupied row summed over the globe's cells: the discrete normalisation
    if periodic:
        lags = np.arange(n_full)
    else:
        k = int(math.floor(180.0 / cell_deg + 1e-9))
        lags = np.arange(-k, k + 1)
    hav_lags = np.sin(np.radians(lags * cell_deg) / 2.0) ** 2
    g_phi = np.radians(g_lat)
    norm = np.empty(len(occupied))
    for i in range(len(occupied)):
        near = np.flatnonzero(np.abs(g_lat - in_lat[i]) <= reach_deg)
        a = np.sin((g_phi[near] - phi_in[i]) / 2.0) ** 2
        b = np.cos(g_phi[near]) * cos_in[i]
        K, _ = _kernel_rows(a, b, hav_lags, kernel, h, hav_reach)
        norm[i] = float(K.sum(axis=1) @ g_area[near])
    B /= norm[:, None]  # norm > 0: a row's own cell is within reach of it
    hav_dlam = np.sin(np.radians(dj * cell_deg) / 2.0) ** 2
    # single precision in the FFT stage: twice as fast, errors ~1e-7 of the row's peak
    F = rfft(B.astype(np.float32), n=L, axis=1)
    del B
    it = range(len(out_rows))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="density (binned)", unit="row", disable=None)
    for k in it:
        lat_o = float(lat_out[k])
        near = np.flatnonzero(np.abs(in_lat - lat_o) <= reach_deg)
        if near.size == 0:
            continue
        lo, hi = int(near[0]), int(near[-1]) + 1  # input rows are sorted by latitude: a slice
        phi_o = math.radians(lat_o)
        a = np.sin((phi_in[lo:hi] - phi_o) / 2.0) ** 2
        b = cos_in[lo:hi] * math.cos(phi_o)
        Kc, cols = _kernel_rows(a, b, hav_dlam, kernel, h, hav_reach, dtype=np.float32)
        K = np.zeros((hi - lo, L), dtype=np.float32)
        K[:, cols] = Kc
        # out[j] = sum_m B[m] K[j - m]  (linear or circular convolution along the row)
        acc = (F[lo:hi] * rfft(K, axis=1)).sum(axis=0)
        out[k] = irfft(acc, n=L)[:n_out_cols]
    return np.maximum(out, 0.0)


def _working_grid(lat, lon, w, *, lat_range, cell_km, kernel, h, progress=False,
                  memory_limit_gb: float = MEMORY_LIMIT_GB):
    """The binned density on a global lon/lat working grid of about
    ``cell_km`` spacing, over the rows around ``lat_range``; returns
    ``(values, north, cell_deg)``."""
    cell_deg = 180.0 / max(1, int(round(180.0 / (cell_km / _KM_PER_DEG))))
    north = min(90.0, (math.floor(float(lat_range[1]) / cell_deg) + 2) * cell_deg)
    south = max(-90.0, (math.floor(float(lat_range[0]) / cell_deg) - 1) * cell_deg)
    n_rows = max(1, int(round((north - south) / cell_deg)))
    n_cols = int(round(360.0 / cell_deg))
    sums = _binned_lonlat(
        lat, lon, w, west=-180.0, north=north, cell_deg=cell_deg, out_rows=np.arange(n_rows),
        n_out_cols=n_cols, kernel=kernel, h=h, progress=progress, memory_limit_gb=memory_limit_gb,
    )
    return sums, north, cell_deg


def _bilinear_terms(shape: tuple[int, int], north: float, cell_deg: float, qlat, qlon):
    """The bilinear interpolation of a working grid of ``shape`` (rows from
    ``north`` down, columns from -180°, periodic in longitude) at ``qlat,
    qlon`` (degrees, flat) as ``(nodes, weights)``: for each query the flat
    indices of its four grid cells (rows ``r0``, ``r0 + 1`` x columns ``c0``,
    ``c0 + 1``) and their weights, which sum to 1. Across a pole the
    neighbouring row is the polar row itself, half a turn of longitude away;
    beyond the grid's other edges the edge row."""
    n_rows, n_cols = shape
    qlat, qlon = np.asarray(qlat, dtype=float), np.asarray(qlon, dtype=float)
    fr = (north - qlat) / cell_deg - 0.5
    fc = np.mod(qlon + 180.0, 360.0) / cell_deg - 0.5
    south = north - n_rows * cell_deg
    r0 = np.floor(fr).astype(np.int64)
    tr = fr - r0
    c0 = np.floor(fc).astype(np.int64)
    tc = fc - c0
    half = n_cols // 2
    nodes = np.empty((qlat.size, 4), dtype=np.int64)
    weights = np.empty((qlat.size, 4))
    for k, (r, wr) in enumerate(((r0, 1.0 - tr), (r0 + 1, tr))):
        flip = ((r < 0) & (north >= 90.0 - 1e-9)) | ((r >= n_rows) & (south <= -90.0 + 1e-9))
        rr = np.where(r < 0, np.where(flip, -1 - r, 0), np.where(r >= n_rows, np.where(flip, 2 * n_rows - 1 - r,
                                                                                   n_rows - 1), r))
        rr = np.clip(rr, 0, n_rows - 1)
        a = np.mod(c0 + np.where(flip, half, 0), n_cols)
        b = np.mod(a + 1, n_cols)
        nodes[:, 2 * k], nodes[:, 2 * k + 1] = rr * n_cols + a, rr * n_cols + b
        weights[:, 2 * k], weights[:, 2 * k + 1] = wr * (1.0 - tc), wr * tc
    return nodes, weights



