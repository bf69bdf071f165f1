"""Weighted kernel density surfaces of point layers on the sphere, written as GeoTIFF.

The surface at a place ``x`` is

.. math::

    f(x) = \\frac{1}{N_K} \\sum_i w_i \\, K\\bigl(d(x, p_i)\\bigr)

where ``d`` is the great-circle distance in km (sphere of radius
:data:`geocity.geodesy.EARTH_RADIUS_KM`), ``K`` the kernel with bandwidth
``bandwidth_km`` and ``N_K`` its integral *over the sphere* (computed by
quadrature, not the planar ``2 pi h^2``), so that the surface is in weight per
km² and integrates to the total weight. Because distances are great-circle
distances the bump around a city is round on the ground — not stretched
east–west towards the poles as a kernel in degrees would be.

Kernels (``h`` = ``bandwidth_km``; the conventions of scikit-learn's
``KernelDensity``): ``"gaussian"`` ``exp(-d²/2h²)``; ``"epanechnikov"``
``1 - d²/h²`` for ``d < h``; ``"quartic"`` (biweight) ``(1 - d²/h²)²`` for
``d < h``.

Grids
-----
``cell_deg``
    A longitude/latitude grid (EPSG:4326) of square cells in degrees.
``cell_km``
    An equal-area grid in km: Equal Earth (EPSG:8857) when the extent spans
    more than 180° of longitude, otherwise a Lambert azimuthal equal-area
    projection centred on the extent (or ``crs=`` of your choice, which should
    be equal-area). Every cell has the same ground area, so
    ``values.sum() * cell_km**2`` is the total weight — to within about
    ±0.6 %: kernel distances are measured on the sphere while the grid's
    cells have equal area on the WGS 84 ellipsoid (the ratio of the local
    radius of curvature to the mean radius, squared; +0.56 % at 60° N,
    −0.45 % at the equator). On ``cell_deg`` grids
    :meth:`DensitySurface.total_weight` integrates with the spherical cell
    areas and is exact up to the grid's resolution.

Methods
-------
``"exact"``
    Direct sum of the great-circle kernels of every point at every cell
    centre, chunked (unit-vector dot products). Cost ``n_points × n_cells``;
    use it to check the fast path.
``"binned"`` (alias ``"fft"``)
    The weighted points are binned onto a longitude/latitude working grid in
    one pass (``np.bincount``). On such a grid the great-circle distance
    between two cells depends only on the two latitudes and on the *difference*
    of longitudes, so for every pair of rows the kernel is a 1-D convolution
    along the row: each output row is ``irfft(sum_i rfft(B_i) * rfft(K_oi))``
    over the input rows ``i`` within the kernel's reach. This is exact on the
    sphere up to the binning (linear binning: each weight is shared between
    the four nearest cell centres, so the error is of order
    ``(cell/bandwidth)²``, about 0.3 % of the peak at cell = bandwidth/10) —
    there is no
    projection distortion, no stretching at high latitudes and no seam at ±180°.
    For ``cell_km`` grids the working grid has the same north–south spacing and
    the surface is interpolated bilinearly at the equal-area cell centres.
``"auto"``
    ``"exact"`` when ``n_points × n_cells`` is at most ``5e7``, else
    ``"binned"``.

Examples
--------
>>> import geopandas as gpd
>>> pts = gpd.GeoDataFrame({"w": [1.0, 2.0]},
...     geometry=gpd.points_from_xy([116.4, 121.5], [39.9, 31.2]), crs="EPSG:4326")
>>> s = density(pts, weight="w", bandwidth_km=300, cell_km=25)
>>> round(s.total_weight(), 2)
3.0
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pyproj import CRS, Transformer

from . import _validate
from .errors import NotFoundError, ValidationError
from .geodesy import EARTH_RADIUS_KM, WGS84, local_crs, to_wgs84, unit_vectors

log = logging.getLogger(__name__)

__all__ = [
    "DensitySurface",
    "KERNELS",
    "density",
    "write_geotiff",
    "read_geotiff",
    "density_overlay",
    "reproduce",
]

#: Kernels accepted by :func:`density`.
KERNELS = ("gaussian", "epanechnikov", "quartic")
#: Equal Earth, the default equal-area CRS of world grids in km.
EQUAL_EARTH = CRS.from_epsg(8857)
#: Default memory budget of one surface computation, in GB.
MEMORY_LIMIT_GB = 2.0
#: ``method="auto"`` uses the exact sum up to this many point × cell pairs.
EXACT_PAIRS_LIMIT = 5e7
#: The Gaussian kernel is treated as zero beyond this many bandwidths
#: (relative value exp(-18) = 1.5e-8) when choosing which rows interact.
GAUSSIAN_REACH = 6.0
#: Value written for cells without data (outside the projection or masked).
NODATA = -9999.0
_KM_PER_DEG = math.pi * EARTH_RADIUS_KM / 180.0


# --------------------------------------------------------------------------
# the surface
# --------------------------------------------------------------------------
@dataclass
class DensitySurface:
    """A density grid with its georeferencing.

    Attributes
    ----------
    values
        2-D float array, row 0 at the north; ``NaN`` where there is no data
        (outside the projection's domain, or masked to land).
    transform
        Affine geotransform (rasterio convention) of the grid in ``crs``.
    crs
        The grid's CRS: EPSG:4326 for ``cell_deg`` grids, an equal-area
        projection in metres for ``cell_km`` grids.
    metadata
        What was computed: weight column, bandwidth, kernel, cell size, units,
        proxy status of the weights, method, number of points, total weight.
    """

    values: np.ndarray
    transform: Any
    crs: CRS
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in the grid's CRS."""
        h, w = self.values.shape
        t = self.transform
        xs = (t.c, t.c + t.a * w)
        ys = (t.f, t.f + t.e * h)
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def is_geographic(self) -> bool:
        return bool(self.crs.is_geographic)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates ``(x, y)`` in the grid's CRS, each 2-D."""
        h, w = self.values.shape
        t = self.transform
        cols = np.arange(w) + 0.5
        rows = np.arange(h) + 0.5
        x = t.c + t.a * cols
        y = t.f + t.e * rows
        return np.meshgrid(x, y)

    def cell_areas_km2(self) -> np.ndarray:
        """Ground area of every cell in km² (sphere of the kernel radius)."""
        h, w = self.values.shape
        t = self.transform
        if self.is_geographic:
            top = t.f + t.e * np.arange(h)
            bottom = top + t.e
            lat_hi = np.radians(np.clip(np.maximum(top, bottom), -90, 90))
            lat_lo = np.radians(np.clip(np.minimum(top, bottom), -90, 90))
            area = EARTH_RADIUS_KM**2 * math.radians(abs(t.a)) * (np.sin(lat_hi) - np.sin(lat_lo))
            return np.repeat(area[:, None], w, axis=1)
        return np.full((h, w), abs(t.a * t.e) / 1e6)

    def total_weight(self) -> float:
        """The surface integrated over its cells (NaN cells count as zero)."""
        v = np.nan_to_num(self.values, nan=0.0)
        return float((v * self.cell_areas_km2()).sum())

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` in degrees of the grid's footprint."""
        if self.is_geographic:
            return self.bounds
        tr = Transformer.from_crs(self.crs, WGS84, always_xy=True)
        return tuple(tr.transform_bounds(*self.bounds, densify_pts=51))


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
# input handling
# --------------------------------------------------------------------------
def _points_and_weights(points, weight, *, what: str = "points"):
    """Return lat, lon, weights, weight name, proxy flag, weight source."""

    from . import export

    proxy = False
    source = "user"
    if points is None:
        from . import scores

        points = scores.city_scores()
        if weight is None:
            weight = "composite"
        what = "cities"
    pts = export.read_points(points, what=what, geometry=False)
    lat, lon, frame, labels, what = pts.lat, pts.lon, pts.frame, pts.labels, pts.what

    if weight is None:
        w = np.ones(len(lat))
        name = "count"
    elif isinstance(weight, str):
        if weight not in frame.columns:
            raise NotFoundError(
                f"weight column {weight!r} not in {what}; columns are {sorted(map(str, frame.columns))}"
            )
        name = weight
        try:
            w = frame[weight].to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"weight column {weight!r} is not numeric") from exc
        attrs = getattr(frame, "attrs", {}) or {}
        if attrs.get("proxy"):
            proxy = True
        if "score_source" in frame.columns:
            srcs = sorted(set(map(str, frame["score_source"].dropna())))
            if srcs:
                source = ",".join(srcs)
            if any("proxy" in s for s in srcs):
                proxy = True
    else:
        w = np.asarray(weight, dtype=float).ravel()
        name = "weight"
        if w.size != len(lat):
            raise ValidationError(f"weight has {w.size} values for {len(lat)} {what}")
    problems = []
    nan = ~np.isfinite(w)
    if nan.any():
        problems.append(
            f"{int(nan.sum())} missing or non-finite weight(s) in {name!r}, e.g. rows "
            f"{[labels[i] for i in np.flatnonzero(nan)[:10]]} (fill them, e.g. with 0, or drop the rows)"
        )
    neg = np.isfinite(w) & (w < 0)
    if neg.any():
        problems.append(
            f"{int(neg.sum())} negative weight(s) in {name!r}, e.g. rows "
            f"{[labels[i] for i in np.flatnonzero(neg)[:10]]} (density weights must be >= 0)"
        )
    if not problems and not (w > 0).any():
        problems.append(f"all weights in {name!r} are zero: there is nothing to spread")
    if problems:
        raise ValidationError(f"{what}: " + "; ".join(problems))
    return lat, lon, w, name, proxy, source


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
        if east - west > 180.0:
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
# the two methods
# --------------------------------------------------------------------------
def _exact_at(qlat, qlon, lat, lon, w, kernel, h, *, progress=False) -> np.ndarray:
    """Direct sum of kernels at query points; returns un-normalised sums."""
    q = unit_vectors(qlat, qlon)
    p = unit_vectors(lat, lon)
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
        out[a : a + chunk] = _kernel_values(d, kernel, h) @ w
    return out


def _binned_lonlat(lat, lon, w, *, west, north, cell_deg, out_rows, n_out_cols, kernel, h, progress=False,
                   memory_limit_gb: float = MEMORY_LIMIT_GB):
    """Row-wise FFT convolution on a lon/lat grid; see the module docstring.

    ``out_rows`` are row indices (row 0 centred at ``north - cell/2``) of the
    wanted output rows, ``n_out_cols`` columns starting at ``west``. Returns
    un-normalised kernel sums of shape ``(len(out_rows), n_out_cols)``.
    """
    from scipy.fft import irfft, next_fast_len, rfft

    out_rows = np.asarray(out_rows)
    out = np.zeros((len(out_rows), n_out_cols))
    n_full = int(math.ceil(round(360.0 / cell_deg, 9)))
    periodic = abs(n_full * cell_deg - 360.0) < 1e-9 and n_out_cols == n_full
    reach_deg = kernel_reach_km(kernel, h) / _KM_PER_DEG + cell_deg
    hav_reach = math.sin(min(kernel_reach_km(kernel, h) / EARTH_RADIUS_KM, math.pi) / 2.0) ** 2
    # only points within reach (in latitude) of an output row matter
    lat_out = north - (out_rows + 0.5) * cell_deg
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
    # cell centres; error O((cell/bandwidth)^2)): virtual rows anywhere on the
    # globe, columns around the whole globe from ``west``; only occupied rows stored
    fr = (north - lat) / cell_deg - 0.5
    fc = np.mod(lon - west, 360.0) / cell_deg - 0.5
    r_lo = np.floor(fr).astype(np.int64)
    c_lo = np.floor(fc).astype(np.int64)
    tr = fr - r_lo
    tc = fc - c_lo
    rows_all = np.concatenate([r_lo, r_lo + 1])
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
    B = np.bincount(
        np.concatenate(idx), weights=np.concatenate(wts), minlength=len(occupied) * n_full
    ).reshape(len(occupied), n_full)
    in_lat = np.clip(north - (occupied + 0.5) * cell_deg, -90.0, 90.0)
    hav_dlam = np.sin(np.radians(dj * cell_deg) / 2.0) ** 2
    # single precision in the FFT stage: twice as fast, errors ~1e-7 of the row's peak
    F = rfft(B.astype(np.float32), n=L, axis=1)
    del B
    it = enumerate(out_rows)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(out_rows), desc="density (binned)", unit="row", disable=None)
    phi_in = np.radians(in_lat)
    cos_in = np.cos(phi_in)
    for k, r in it:
        lat_o = north - (r + 0.5) * cell_deg
        near = np.flatnonzero(np.abs(in_lat - lat_o) <= reach_deg)
        if near.size == 0:
            continue
        lo, hi = int(near[0]), int(near[-1]) + 1  # input rows are sorted by latitude: a slice
        phi_o = math.radians(lat_o)
        a = np.sin((phi_in[lo:hi] - phi_o) / 2.0) ** 2
        b = cos_in[lo:hi] * math.cos(phi_o)
        # widest longitude lag any of these rows reaches: only those columns get kernel values
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(b > 1e-15, (hav_reach - a) / b, np.where(a <= hav_reach, 1.0, 0.0))
        qmax = float(np.clip(q.max(), 0.0, 1.0))
        K = np.zeros((hi - lo, L), dtype=np.float32)
        cols = np.flatnonzero(hav_dlam <= qmax)  # lags where any row's kernel can be non-zero
        hd = hav_dlam[cols]
        hv = a[:, None] + b[:, None] * hd[None, :]
        d = 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(hv, 0.0, 1.0)))
        K[:, cols] = np.where(hv <= hav_reach, _kernel_values(d, kernel, h), 0.0)
        # out[j] = sum_m B[m] K[j - m]  (linear or circular convolution along the row)
        acc = (F[lo:hi] * rfft(K, axis=1)).sum(axis=0)
        out[k] = irfft(acc, n=L)[:n_out_cols]
    return np.maximum(out, 0.0)


# --------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------
def density(
    points=None,
    *,
    weight=None,
    bandwidth_km: float,
    cell_km: float | None = None,
    cell_deg: float | None = None,
    extent: Sequence[float] | None = None,
    crs=None,
    grid_bounds: Sequence[float] | None = None,
    kernel: str = "gaussian",
    mask_land=False,
    method: str = "auto",
    memory_limit_gb: float = MEMORY_LIMIT_GB,
    progress: bool = False,
) -> DensitySurface:
    """Weighted kernel density of a point layer, in weight per km².

    Parameters
    ----------
    points
        GeoDataFrame of points (any CRS; reprojected to EPSG:4326), a
        DataFrame with ``lat``/``lon`` columns, or the path of a vector file
        or such a CSV (read with :func:`geocity.export.read`). ``None``: the report's cities
        with their 3I scores from :func:`geocity.scores.city_scores`
        (``weight`` then defaults to ``"composite"``).
    weight
        Column name or array of non-negative weights; ``None`` counts points.
    bandwidth_km
        Kernel bandwidth in km (Gaussian sigma; support radius of the
        Epanechnikov and quartic kernels).
    cell_km, cell_deg
        Cell size: km on an equal-area grid, or degrees on a lon/lat grid.
        Give one; with neither, ``cell_km = bandwidth_km / 5``.
    extent
        ``(west, south, east, north)`` in degrees; default: the points padded
        by the kernel's reach (world-wide in longitude for spread-out layers).
    crs
        Equal-area CRS of a ``cell_km`` grid (default: Equal Earth for
        world-wide extents, else a Lambert azimuthal equal-area projection
        centred on the extent).
    grid_bounds
        ``(xmin, ymin, xmax, ymax)`` of a ``cell_km`` grid in ``crs`` units,
        instead of the bounds of ``extent`` (e.g. a map's axes limits; cells
        outside the projection's domain are NaN).
    kernel
        ``"gaussian"``, ``"epanechnikov"`` or ``"quartic"``.
    mask_land
        ``True``: set cells outside the land polygons of the basemap layer
        to NaN (a cell touched by land is kept); or a GeoDataFrame of
        polygons to mask to. The masked surface no longer integrates to the
        total weight.
    method
        ``"auto"``, ``"exact"`` or ``"binned"`` (``"fft"``); see the module
        docstring.
    memory_limit_gb
        Refuse grids that would need more memory than this.
    progress
        Show a progress bar.

    Returns
    -------
    DensitySurface
    """
    problems = []
    bandwidth_km = _validate.positive("bandwidth_km", bandwidth_km, unit="km", problems=problems)
    if bandwidth_km > MAX_BANDWIDTH_KM:
        problems.append(f"bandwidth_km={bandwidth_km:g} is too large: a kernel wider than {MAX_BANDWIDTH_KM:g} km "
                        "spreads each city over a continent; use a smaller bandwidth (the report's: "
                        f"{REPORT_BANDWIDTH_KM:g} km)")
    if cell_km is not None and cell_deg is not None:
        problems.append("give either cell_km or cell_deg, not both")
    for name, val in (("cell_km", cell_km), ("cell_deg", cell_deg)):
        if val is not None:
            _validate.positive(name, val, unit="km" if name == "cell_km" else "degrees", problems=problems)
    if kernel not in KERNELS:
        problems.append(f"kernel must be one of {list(KERNELS)}, not {kernel!r}")
    method = "binned" if method == "fft" else method
    if method not in ("auto", "exact", "binned"):
        problems.append(f"method must be 'auto', 'exact' or 'binned' ('fft'), not {method!r}")
    if crs is not None:
        try:
            crs = CRS.from_user_input(crs)
        except Exception as exc:  # pyproj.exceptions.CRSError
            problems.append(f"crs {crs!r} is not a CRS pyproj understands ({exc}); e.g. 'EPSG:8857'")
            crs = None
        else:
            if cell_deg is not None and not crs.is_geographic:
                problems.append("crs applies to cell_km grids; a cell_deg grid is always EPSG:4326")
    _validate.positive("memory_limit_gb", memory_limit_gb, unit="GB", problems=problems)
    if grid_bounds is not None and (cell_deg is not None or crs is None):
        problems.append("grid_bounds needs a cell_km grid and its crs")
    if problems:
        raise ValidationError("density: " + "; ".join(problems))
    if cell_km is None and cell_deg is None:
        cell_km = bandwidth_km / 5.0
        log.info("no cell size given; using cell_km = bandwidth_km / 5 = %g", cell_km)

    lat, lon, w, wname, proxy, wsource = _points_and_weights(points, weight)
    reach = kernel_reach_km(kernel, bandwidth_km)
    extent = _check_extent(extent) if extent is not None else _default_extent(lat, lon, reach)

    if cell_deg is not None:
        grid = _deg_grid(extent, float(cell_deg))
        cell_for_msg, unit = float(cell_deg), "degrees"
    else:
        grid = _km_grid(extent, float(cell_km), crs, grid_bounds)
        cell_for_msg, unit = float(cell_km), "km"
    n_cells = grid.height * grid.width
    _check_memory(n_cells, 48.0, cell_for_msg, unit, memory_limit_gb)

    if method == "auto":
        method = "exact" if len(lat) * n_cells <= EXACT_PAIRS_LIMIT else "binned"

    # cell centres in lon/lat, and which are inside the projection's domain
    xs, ys = _grid_centres(grid)
    if grid.geographic:
        qlon, qlat = xs, np.clip(ys, -90.0, 90.0)
        valid = np.ones(xs.shape, dtype=bool)
    else:
        inv = Transformer.from_crs(grid.crs, WGS84, always_xy=True)
        fwd = Transformer.from_crs(WGS84, grid.crs, always_xy=True)
        qlon, qlat = inv.transform(xs, ys)
        qlon, qlat = np.asarray(qlon), np.asarray(qlat)
        with np.errstate(invalid="ignore"):
            bx, by = fwd.transform(qlon, qlat)
            valid = (
                np.isfinite(qlon)
                & np.isfinite(qlat)
                & (np.hypot(np.asarray(bx) - xs, np.asarray(by) - ys) < 1.0)
            )
        qlon = np.where(valid, qlon, 0.0)
        qlat = np.where(valid, qlat, 0.0)

    norm = kernel_integral_km2(kernel, bandwidth_km)
    values = np.full(xs.shape, np.nan)
    if method == "exact":
        sums = _exact_at(qlat[valid], qlon[valid], lat, lon, w, kernel, bandwidth_km, progress=progress)
        values[valid] = sums / norm
    elif grid.geographic:
        t = grid.transform
        sums = _binned_lonlat(
            lat, lon, w, west=t.c, north=t.f, cell_deg=grid.cell, out_rows=np.arange(grid.height),
            n_out_cols=grid.width, kernel=kernel, h=bandwidth_km, progress=progress,
            memory_limit_gb=memory_limit_gb,
        )
        values = sums / norm
    else:
        values[valid] = _binned_at(
            qlat[valid], qlon[valid], lat, lon, w, cell_km=float(cell_km), kernel=kernel,
            h=bandwidth_km, progress=progress, memory_limit_gb=memory_limit_gb,
        ) / norm

    if mask_land is not False and mask_land is not None:
        values = _mask_to_land(values, grid, None if mask_land is True else mask_land)

    metadata = {
        "weight": wname,
        "weight_source": wsource,
        "weights_proxy": bool(proxy),
        "bandwidth_km": bandwidth_km,
        "kernel": kernel,
        "cell_km": None if cell_km is None or grid.geographic else float(cell_km),
        "cell_deg": None if not grid.geographic else float(cell_deg),
        "crs": grid.crs.name,
        "units": f"{wname} per km2",
        "method": method,
        "n_points": int(len(lat)),
        "total_weight": float(w.sum()),
        "distance": "great-circle, sphere R=%.4f km" % EARTH_RADIUS_KM,
        "normalisation": "kernel integral over the sphere; surface integrates to total_weight",
        "mask_land": mask_land is not False and mask_land is not None,
        "extent_deg": [float(v) for v in extent],
    }
    log.info(
        "density of %d points (%s): %dx%d cells, method %s", len(lat), wname, grid.height, grid.width, method
    )
    return DensitySurface(values=values, transform=grid.transform, crs=grid.crs, metadata=metadata)


def _grid_centres(grid: _Grid):
    t = grid.transform
    x = t.c + t.a * (np.arange(grid.width) + 0.5)
    y = t.f + t.e * (np.arange(grid.height) + 0.5)
    return np.meshgrid(x, y)


def _binned_at(qlat, qlon, lat, lon, w, *, cell_km, kernel, h, progress=False,
               memory_limit_gb: float = MEMORY_LIMIT_GB) -> np.ndarray:
    """Binned surface evaluated at arbitrary points through a lon/lat working
    grid of ``cell_km`` north–south spacing, interpolated bilinearly."""
    if qlat.size == 0:
        return np.zeros(0)
    cell_deg = 180.0 / max(1, int(round(180.0 / (cell_km / _KM_PER_DEG))))
    north = min(90.0, (math.floor(float(qlat.max()) / cell_deg) + 2) * cell_deg)
    south = max(-90.0, (math.floor(float(qlat.min()) / cell_deg) - 1) * cell_deg)
    n_rows = int(round((north - south) / cell_deg))
    n_cols = int(round(360.0 / cell_deg))
    west = -180.0
    sums = _binned_lonlat(
        lat, lon, w, west=west, north=north, cell_deg=cell_deg, out_rows=np.arange(n_rows),
        n_out_cols=n_cols, kernel=kernel, h=h, progress=progress, memory_limit_gb=memory_limit_gb,
    )
    # bilinear interpolation, periodic in longitude
    fr = (north - qlat) / cell_deg - 0.5
    fc = np.mod(qlon - west, 360.0) / cell_deg - 0.5
    r0 = np.clip(np.floor(fr).astype(np.int64), 0, n_rows - 1)
    r1 = np.clip(r0 + 1, 0, n_rows - 1)
    tr = np.clip(fr - r0, 0.0, 1.0)
    c0 = np.floor(fc).astype(np.int64)
    tc = fc - c0
    c0 = np.mod(c0, n_cols)
    c1 = np.mod(c0 + 1, n_cols)
    top = sums[r0, c0] * (1 - tc) + sums[r0, c1] * tc
    bot = sums[r1, c0] * (1 - tc) + sums[r1, c1] * tc
    return top * (1 - tr) + bot * tr


def _mask_to_land(values: np.ndarray, grid: _Grid, land=None) -> np.ndarray:
    from rasterio.features import geometry_mask

    if land is None:
        from . import layers

        land = layers.load("basemap")
    basemap = to_wgs84(land, name="land polygons")
    if not grid.geographic:
        basemap = basemap.to_crs(grid.crs)
    geoms = [g for g in basemap.geometry if g is not None and not g.is_empty]
    outside = geometry_mask(geoms, out_shape=values.shape, transform=grid.transform, all_touched=True)
    out = values.copy()
    out[outside] = np.nan
    return out


# --------------------------------------------------------------------------
# GeoTIFF
# --------------------------------------------------------------------------
def write_geotiff(surface: DensitySurface, path, *, overwrite: bool = False) -> Path:
    """Write a surface as a tiled, DEFLATE-compressed GeoTIFF with overviews.

    Float32, nodata ``-9999`` (where ``values`` is NaN), 256×256 tiles,
    average overviews down to about 256 pixels, the band description and tags
    recording weight column, bandwidth, kernel, units and the proxy status of
    the weights. Written atomically through :func:`geocity.export.atomic_path`;
    an existing ``path`` is refused unless ``overwrite=True``. The same
    surface gives the same bytes.
    """
    import rasterio
    from rasterio.enums import Resampling

    from .export import atomic_path

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ValidationError(f"{path}: a density surface is written as GeoTIFF; use a .tif extension")
    h, w = surface.values.shape
    data = np.where(np.isfinite(surface.values), surface.values, NODATA).astype("float32")
    md = surface.metadata
    tags = {k: _tag(v) for k, v in sorted(md.items())}
    tags["nodata_meaning"] = "outside the projection's domain or masked"
    desc = f"density of {md.get('weight', 'weight')} ({md.get('units', 'per km2')})"
    if md.get("weights_proxy"):
        desc += ", weights are rank-derived proxies"
    profile = dict(
        driver="GTiff",
        width=w,
        height=h,
        count=1,
        dtype="float32",
        crs=surface.crs.to_wkt(),
        transform=surface.transform,
        nodata=NODATA,
        compress="deflate",
        predictor=3,
        tiled=True,
        blockxsize=256,
        blockysize=256,
        interleave="band",
    )
    factors = []
    f = 2
    while max(h, w) / f >= 128:
        factors.append(f)
        f *= 2
    with atomic_path(path, overwrite=overwrite) as tmp:
        with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
            with rasterio.open(tmp, "w", **profile) as dst:
                dst.write(data, 1)
                dst.set_band_description(1, desc)
                dst.update_tags(**{"AREA_OR_POINT": "Area", "generator": "geocity"})
                dst.update_tags(1, **tags)
                dst.set_band_unit(1, md.get("units", "per km2"))
                if factors:
                    dst.build_overviews(factors, Resampling.average)
                    dst.update_tags(ns="rio_overview", resampling="average")
    log.info("wrote %s (%dx%d)", path, h, w)
    return path


#: Largest kernel bandwidth accepted, km (a quarter of a great circle).
MAX_BANDWIDTH_KM = 10_000.0

#: Defaults of the report's density surfaces (:func:`reproduce`).
REPORT_BANDWIDTH_KM = 300.0
REPORT_CELL_KM = 25.0
REPORT_WEIGHTS = ("innovation", "industry", "infrastructure", "composite")


def reproduce(
    out_dir,
    *,
    weights: Sequence[str] = REPORT_WEIGHTS,
    bandwidth_km: float = REPORT_BANDWIDTH_KM,
    cell_km: float = REPORT_CELL_KM,
    overwrite: bool = True,
) -> list[Path]:
    """Write the density GeoTIFFs of the report's cities, one per 3I score.

    ``<out_dir>/<weight>_density.tif`` on a world Equal Earth grid, with a
    provenance record (``.meta.json``) beside each. The weights are the
    scores of :func:`geocity.scores.city_scores` (rank-derived proxies by
    default, which the band metadata says).
    """
    from . import export, scores

    out = Path(out_dir)
    cities = scores.city_scores()
    written: list[Path] = []
    for wname in weights:
        surf = density(
            cities, weight=wname, bandwidth_km=bandwidth_km, cell_km=cell_km, extent=(-180, -90, 180, 90)
        )
        path = write_geotiff(surf, out / f"{wname}_density.tif", overwrite=overwrite)
        written.append(path)
        written.append(export.write_metadata(path, params=surf.metadata))
    return written


def _tag(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return ",".join(_tag(x) for x in v)
    return "" if v is None else str(v)


def read_geotiff(path) -> DensitySurface:
    """Read a GeoTIFF written by :func:`write_geotiff` back into a surface.

    Raises
    ------
    ValidationError
        The file is missing, is not a raster GDAL reads, or has no CRS.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    what = f"density surface file {str(path)!r}"
    if not Path(path).is_file():
        raise ValidationError(f"{what} does not exist; give a GeoTIFF written by geocity density")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise ValidationError(f"{what} is not a raster GDAL can read ({exc}); give a GeoTIFF written by "
                              "geocity density") from None
    with src:
        if src.crs is None:
            raise ValidationError(f"{what} has no CRS, so it cannot be placed on a map; write it with "
                                  "geocity density, or assign its CRS (e.g. gdal_edit.py -a_srs EPSG:8857)")
        arr = src.read(1).astype(float)
        if src.nodata is not None:
            arr[arr == src.nodata] = np.nan
        tags = src.tags(1)
        md: dict = dict(tags)
        for k in ("bandwidth_km", "total_weight", "cell_km", "cell_deg"):
            if md.get(k):
                md[k] = float(md[k])
        if "weights_proxy" in md:
            md["weights_proxy"] = md["weights_proxy"] == "true"
        return DensitySurface(values=arr, transform=src.transform, crs=CRS.from_user_input(src.crs.to_wkt()),
                              metadata=md)


# --------------------------------------------------------------------------
# web-map overlay
# --------------------------------------------------------------------------
def density_overlay(
    surface,
    *,
    cmap: str = "magma_r",
    vmax: float | None = None,
    opacity: float = 0.75,
    as_png: bool = True,
    max_size: int = 2048,
):
    """An image of a surface for a Leaflet ``ImageOverlay``, in Web Mercator.

    Parameters
    ----------
    surface
        A :class:`DensitySurface`, a GeoTIFF path or a ``(values, transform,
        crs)`` tuple.
    cmap, vmax, opacity
        Colour ramp (a matplotlib colormap or its name), the value shown at full colour (default: the 99.5th
        percentile of positive cells) and the alpha of the densest cells;
        zero/low density fades to transparent.
    as_png
        Return PNG bytes (else an RGBA ``uint8`` array).

    Returns
    -------
    (image, bounds, legend)
        ``image`` PNG bytes or RGBA array already resampled to EPSG:3857 rows
        (use it *without* folium's ``mercator_project``); ``bounds`` =
        ``[[south, west], [north, east]]`` in degrees, latitudes clipped to
        ±85.0511; ``legend`` = dict ``vmin, vmax, cmap, units, caption``.
    """
    import matplotlib
    from rasterio.warp import Resampling, reproject

    if isinstance(surface, (str, Path)):
        surface = read_geotiff(surface)
    elif isinstance(surface, tuple):
        surface = DensitySurface(np.asarray(surface[0], dtype=float), surface[1], CRS.from_user_input(surface[2]))
    src = np.asarray(surface.values, dtype="float64")
    merc = CRS.from_epsg(3857)
    west, south, east, north = surface.lonlat_bounds()
    south, north = max(south, -85.0511), min(north, 85.0511)
    h, w = src.shape
    fwd = Transformer.from_crs(WGS84, merc, always_xy=True)
    x0, y0 = fwd.transform(west, south)
    x1, y1 = fwd.transform(east, north)
    res = max((x1 - x0) / min(w * 1.5, max_size), (y1 - y0) / min(h * 1.5, max_size))
    dw = max(1, int(math.ceil((x1 - x0) / res)))
    dh = max(1, int(math.ceil((y1 - y0) / res)))
    dst_t = _from_origin(x0, y1, (x1 - x0) / dw, (y1 - y0) / dh)
    dst = np.full((dh, dw), np.nan)
    reproject(
        src, dst, src_transform=surface.transform, src_crs=surface.crs, dst_transform=dst_t,
        dst_crs=merc, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan,
    )
    pos = dst[np.isfinite(dst) & (dst > 0)]
    if vmax is None:
        vmax = float(np.percentile(pos, 99.5)) if pos.size else 1.0
    norm = np.clip(np.nan_to_num(dst, nan=0.0) / (vmax or 1.0), 0.0, 1.0)
    rgba = (matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap)(norm)  # a name or a Colormap
    rgba[..., 3] = opacity * np.sqrt(norm)
    img = (rgba * 255).round().astype(np.uint8)
    md = surface.metadata or {}
    units = md.get("units", "per km2")
    caption = f"Density of {md.get('weight', 'weight')} ({units}), {md.get('kernel', 'gaussian')} kernel"
    if md.get("bandwidth_km"):
        caption += f", bandwidth {float(md['bandwidth_km']):g} km"
    if md.get("weights_proxy"):
        caption += " — weights are rank-derived proxies"
    legend = {"vmin": 0.0, "vmax": vmax, "cmap": cmap if isinstance(cmap, str) else getattr(cmap, "name", str(cmap)),
              "units": units, "caption": caption}
    bounds = [[south, west], [north, east]]
    if not as_png:
        return img, bounds, legend
    import io

    from matplotlib.image import imsave

    buf = io.BytesIO()
    imsave(buf, img, format="png", metadata={"Software": None})
    return buf.getvalue(), bounds, legend
