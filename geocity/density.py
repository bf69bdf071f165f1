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
#: ``method="exact"`` refuses to sum more point × sub-sample kernels than this.
EXACT_MAX_PAIRS = 5e9
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
        if "score_source" in frame.columns:  # one rule for every output: geocity.provenance
            from . import provenance

            prov = provenance.of_frame(frame)
            proxy, source = prov.proxy, prov.source
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
    if not problems:
        with np.errstate(over="ignore"):
            total = float(w.sum())
        if not math.isfinite(total):
            big = np.argsort(-w, kind="stable")[:10]
            problems.append(
                f"the weights in {name!r} sum to more than the largest double ({np.finfo(float).max:.3g}), "
                f"the largest being rows {[labels[i] for i in big]} (rescale them, e.g. divide every weight by "
                f"{10.0 ** (math.floor(math.log10(float(w.max()))) - 6):.0e})"
            )
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


@dataclass
class _Plan:
    s: np.ndarray  # sub-samples per cell side, per output row
    capped: np.ndarray  # rows whose sub-samples stay farther apart than wanted
    lat_range: tuple[float, float]  # geodetic latitudes of the valid sub-samples
    inactive: np.ndarray | None = None  # rows out of every kernel's reach: centres only, no refinement


def _inverse(grid: _Grid, X: np.ndarray, Y: np.ndarray):
    """lon, lat (0 where invalid) and validity of projected coordinates: on
    the globe when the inverse projection round-trips within 1 m."""
    inv, fwd = _transformers(grid.crs)
    shape = X.shape
    with np.errstate(invalid="ignore"):
        lon, lat = inv.transform(X.ravel(), Y.ravel())
        lon, lat = np.asarray(lon), np.asarray(lat)
        bx, by = fwd.transform(lon, lat)
        valid = (np.isfinite(lon) & np.isfinite(lat)
                 & (np.hypot(np.asarray(bx) - X.ravel(), np.asarray(by) - Y.ravel()) < 1.0))
    lon = np.where(valid, lon, 0.0).reshape(shape)
    lat = np.where(valid, lat, 0.0).reshape(shape)
    return lon, lat, valid.reshape(shape)


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
#: Earth's pole lines and curved ±180° meridians) are averaged over
#: ``EDGE_SUBSAMPLES²`` points, so that only their part on the globe counts.
EDGE_SUBSAMPLES = 16


def _edge_samples(grid: _Grid, rows, s: int):
    """Sub-samples of ``rows`` of a projected grid, with the edge of the globe resolved.

    Returns ``lon, lat, valid, weights`` of shape ``(len(rows), s, width *
    s)`` and ``(lon, lat, cell, weight)`` of the extra points: a sub-cell
    whose validity differs from one of its four neighbours (it straddles the
    projection's edge) is replaced by ``EDGE_SUBSAMPLES²`` points of which
    those on the globe count. ``cell`` is the flat index of the cell in the
    block; weights sum to 1 over a cell lying wholly on the globe.
    """
    rows = np.asarray(rows)
    X, Y = _sample_xy(grid, rows, s, pad=1)
    lon, lat, valid = _inverse(grid, X, Y)
    core = (slice(None), slice(1, -1), slice(1, -1))
    vin = valid[core]
    edge = np.zeros(vin.shape, dtype=bool)
    for nb in ((slice(None), slice(1, -1), slice(0, -2)), (slice(None), slice(1, -1), slice(2, None)),
               (slice(None), slice(0, -2), slice(1, -1)), (slice(None), slice(2, None), slice(1, -1))):
        edge |= vin != valid[nb]
    wts = np.where(vin & ~edge, 1.0 / (s * s), 0.0)
    extra = None
    if edge.any():
        m = EDGE_SUBSAMPLES
        d = grid.cell / s
        ii = np.nonzero(edge)
        off = (np.arange(m) + 0.5) / m - 0.5
        ex = X[core][ii][:, None, None] + off[None, None, :] * d
        ey = Y[core][ii][:, None, None] - off[None, :, None] * d
        ex, ey = np.broadcast_to(ex, (len(ii[0]), m, m)), np.broadcast_to(ey, (len(ii[0]), m, m))
        elon, elat, ev = _inverse(grid, np.ascontiguousarray(ex), np.ascontiguousarray(ey))
        cell = ii[0] * grid.width + ii[2] // s
        cell = np.broadcast_to(cell[:, None, None], ev.shape)
        extra = (elon[ev], elat[ev], cell[ev], np.full(int(ev.sum()), 1.0 / (s * s * m * m)))
    return lon[core], lat[core], vin & ~edge, wts, extra, edge


@lru_cache(maxsize=8)
def _transformers_cached(wkt: str):
    crs = CRS.from_wkt(wkt)
    return (Transformer.from_crs(crs, WGS84, always_xy=True), Transformer.from_crs(WGS84, crs, always_xy=True))


def _transformers(crs: CRS):
    return _transformers_cached(crs.to_wkt())


def _active(lat_lo, lat_hi, point_lat_sorted, margin_deg: float) -> np.ndarray:
    """Rows whose latitudes ``[lat_lo, lat_hi]`` come within ``margin_deg`` of a point."""
    i = np.searchsorted(point_lat_sorted, np.asarray(lat_lo) - margin_deg, side="left")
    j = np.searchsorted(point_lat_sorted, np.asarray(lat_hi) + margin_deg, side="right")
    return j > i


def _plan(grid: _Grid, target_km: float, polar_target_km: float | None = None, polar_km: float = 0.0,
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

            def gap(sl0, sl1):
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
            for r, sp, wt in zip(rows[~last], spacing[~last], want[~last]):
                nxt = int(min(MAX_SUBSAMPLES, max(2 * level, math.ceil(level * sp / wt))))
                pending[nxt] = np.append(pending.get(nxt, np.zeros(0, dtype=np.int64)), r)
    if not math.isfinite(lo):
        lo, hi = 0.0, 0.0
    return _Plan(s_row, capped, (lo, hi), inactive)


def _evaluate(grid: _Grid, plan: _Plan, f, *, progress: bool = False) -> np.ndarray:
    """Cell averages of the density ``f(lat, lon)`` (geodetic degrees) over
    the sub-samples of ``plan``; NaN where no sub-sample is on the globe."""
    H, W = grid.height, grid.width
    values = np.full((H, W), np.nan)
    t = grid.transform
    blocks = []
    inactive = plan.inactive if plan.inactive is not None else np.zeros(H, dtype=bool)
    for s in sorted(set(int(v) for v in plan.s)):
        rows = np.flatnonzero((plan.s == s) & ~inactive)
        step = max(1, int(2e6 // (W * s * s)))
        blocks += [(s, rows[a : a + step]) for a in range(0, len(rows), step)]
    rows = np.flatnonzero(inactive)
    blocks += [(0, rows[a : a + 20000 // max(W, 1) + 1]) for a in range(0, len(rows), 20000 // max(W, 1) + 1)]
    it = blocks
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(blocks, desc="density", unit="block", disable=None)
    for s, rows in it:
        n = len(rows)
        if s == 0:  # out of reach: the centres, without refinement
            lon, lat, valid = _projected_samples(grid, rows, 1)
            vals = np.zeros(valid.shape)
            if valid.any():
                vals[valid] = f(lat[valid], lon[valid])
            values[rows] = np.where(valid[:, 0, :], vals[:, 0, :], np.nan)
            continue
        if grid.geographic:
            lon = np.broadcast_to(t.c + (np.arange(W * s) + 0.5) * grid.cell / s, (n, s, W * s))
            sub = rows[:, None] * s + np.arange(s)[None, :]  # sub-rows of the lattice of cell / s
            top, bot, mid = _band(t.f, sub, grid.cell / s)
            lat = np.broadcast_to(mid[:, :, None], (n, s, W * s))
            wts = np.sin(np.radians(top)) - np.sin(np.radians(bot))
            wts = wts / wts.sum(axis=1, keepdims=True) / s
            wts = np.broadcast_to(wts[:, :, None], (n, s, W * s))
            valid = np.ones((n, s, W * s), dtype=bool)
            extra, edge = None, np.zeros(valid.shape, dtype=bool)
        else:
            lon, lat, valid, wts, extra, edge = _edge_samples(grid, rows, s)
        vals = np.zeros(valid.shape)
        if valid.any():
            vals[valid] = f(lat[valid], lon[valid])
        cell = (vals * wts).reshape(n, s, W, s).sum(axis=(1, 3))
        anyvalid = valid.reshape(n, s, W, s).any(axis=(1, 3))
        if extra is not None and len(extra[0]):
            elon, elat, ecell, ew = extra
            cell = cell + np.bincount(ecell, weights=f(elat, elon) * ew, minlength=n * W).reshape(n, W)
            anyvalid = anyvalid | (np.bincount(ecell, minlength=n * W).reshape(n, W) > 0)
        values[rows] = np.where(anyvalid, cell, np.nan)
    if not grid.geographic:
        on = _on_globe(grid)
        values = np.where(on, np.nan_to_num(values, nan=0.0), np.nan)
    return values


def _on_globe(grid: _Grid) -> np.ndarray:
    """Cells of a projected grid with some part on the globe (their centre, or
    for cells at the projection's edge one of ``EDGE_SUBSAMPLES²`` points):
    the same mask whatever the method or the sampling."""
    H, W = grid.height, grid.width
    mask = np.zeros((H, W), dtype=bool)
    step = max(1, int(2e5 // max(W, 1)))
    for a in range(0, H, step):
        rows = np.arange(a, min(H, a + step))
        _, _, valid, _, extra, edge = _edge_samples(grid, rows, 1)
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
    B = np.bincount(
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


def _interpolate(sums, north, cell_deg, qlat, qlon) -> np.ndarray:
    """Bilinear interpolation of a working grid (periodic in longitude)."""
    n_rows, n_cols = sums.shape
    west = -180.0
    fr = (north - qlat) / cell_deg - 0.5
    fc = np.mod(qlon - west, 360.0) / cell_deg - 0.5
    south = north - n_rows * cell_deg
    r0 = np.floor(fr).astype(np.int64)
    tr = fr - r0
    c0 = np.floor(fc).astype(np.int64)
    tc = fc - c0
    half = n_cols // 2

    def row(r):
        # across a pole the neighbouring row is the polar row itself, half a turn of longitude away
        flip = ((r < 0) & (north >= 90.0 - 1e-9)) | ((r >= n_rows) & (south <= -90.0 + 1e-9))
        rr = np.where(r < 0, np.where(flip, -1 - r, 0), np.where(r >= n_rows, np.where(flip, 2 * n_rows - 1 - r,
                                                                                   n_rows - 1), r))
        rr = np.clip(rr, 0, n_rows - 1)
        a = np.mod(c0 + np.where(flip, half, 0), n_cols)
        b = np.mod(a + 1, n_cols)
        return sums[rr, a] * (1 - tc) + sums[rr, b] * tc

    return row(r0) * (1 - tr) + row(r0 + 1) * tr


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
    # linear binning spreads a weight over one working cell: the default extent allows for it
    smear_km = float(cell_deg) * _KM_PER_DEG if cell_deg is not None else float(cell_km)
    extent = _check_extent(extent) if extent is not None else _default_extent(lat, lon, reach + 1.5 * smear_km)

    if cell_deg is not None:
        grid = _deg_grid(extent, float(cell_deg))
        cell_for_msg, unit = float(cell_deg), "degrees"
    else:
        grid = _km_grid(extent, float(cell_km), crs, grid_bounds)
        cell_for_msg, unit = float(cell_km), "km"
    n_cells = grid.height * grid.width
    _check_memory(n_cells, 48.0, cell_for_msg, unit, memory_limit_gb)

    if not grid.geographic and bandwidth_km < MIN_BANDWIDTH_CELLS * grid.cell / 1000.0:
        raise ValidationError(
            f"density: bandwidth_km={bandwidth_km:g} is below {MIN_BANDWIDTH_CELLS:g} x cell_km={grid.cell / 1000:g}: "
            "an equal-area grid cannot hold kernels narrower than half its cell without losing or inventing "
            f"weight; use cell_km <= {bandwidth_km / MIN_BANDWIDTH_CELLS:g}, or a lon/lat grid (cell_deg), which "
            "conserves the weight for any bandwidth"
        )
    # the exact method averages each cell over sub-samples; too narrow a kernel is refused up front
    cell_ground_km = grid.cell * _KM_PER_DEG if grid.geographic else grid.cell / 1000.0
    exact_target = bandwidth_km / EXACT_SAMPLES_PER_BANDWIDTH[kernel]
    exact_possible = cell_ground_km / exact_target <= MAX_SUBSAMPLES
    if method == "exact" and not exact_possible:
        raise ValidationError(
            f"density: bandwidth_km={bandwidth_km:g} is too narrow for method='exact' in cells of "
            f"{cell_ground_km:.4g} km: averaging a cell over at most {MAX_SUBSAMPLES}x{MAX_SUBSAMPLES} samples "
            f"would not conserve the weight; use method='binned' (it conserves the weight for any bandwidth), "
            f"or cells of at most {MAX_SUBSAMPLES * exact_target:.3g} km"
        )
    plan = None
    if method == "exact" or (method == "auto" and exact_possible and len(lat) * n_cells <= EXACT_PAIRS_LIMIT):
        plan = _plan(grid, exact_target, bandwidth_km / POLAR_SAMPLES_PER_SCALE, POLAR_ZONE * bandwidth_km,
                     points_lat=lat, margin_km=(40.0 if kernel == "gaussian" else 1.0) * bandwidth_km)
        n_samples = float((plan.s.astype(float) ** 2).sum()) * grid.width
        if method == "auto":
            method = "exact" if len(lat) * n_samples <= EXACT_PAIRS_LIMIT and not plan.capped.any() else "binned"
        elif len(lat) * n_samples > EXACT_MAX_PAIRS:
            raise ValidationError(
                f"density: method='exact' would sum {len(lat) * n_samples:.2g} point-sample kernels (each cell is "
                f"averaged over up to {int(plan.s.max()) ** 2} samples for bandwidth_km={bandwidth_km:g}), over "
                f"the limit of {EXACT_MAX_PAIRS:.0e}; use method='binned', or fewer, larger cells"
            )
    if method == "auto":
        method = "binned"

    # weights scaled to a largest value of 1 (float32 FFTs neither overflow nor underflow)
    scale = float(w.max())
    ws = w / scale
    # kernels on the sphere: geodetic latitudes for lon/lat grids (whose cell areas are spherical),
    # authalic latitudes for equal-area grids (whose cell areas are on the ellipsoid)
    crs_k = None if grid.geographic else grid.crs
    lat_k = _authalic_lat(lat, crs_k)
    if method == "exact":
        norm = kernel_integral_km2(kernel, bandwidth_km)

        def at(qlat, qlon):
            return _exact_at(_authalic_lat(qlat, crs_k), qlon, lat_k, lon, ws, kernel, bandwidth_km) / norm

        values = _evaluate(grid, plan, at, progress=progress)
    elif grid.geographic:
        t = grid.transform
        values = _binned_lonlat(
            lat, lon, ws, west=t.c, north=t.f, cell_deg=grid.cell, out_rows=np.arange(grid.height),
            n_out_cols=grid.width, kernel=kernel, h=bandwidth_km, progress=progress,
            memory_limit_gb=memory_limit_gb,
        )
    else:
        work_deg = 180.0 / max(1, int(round(180.0 / (cell_ground_km / _KM_PER_DEG))))
        scale_km = max(bandwidth_km, work_deg * _KM_PER_DEG)
        plan = _plan(grid, scale_km / BINNED_SAMPLES_PER_SCALE, scale_km / POLAR_SAMPLES_PER_SCALE,
                     POLAR_ZONE * scale_km, points_lat=lat, margin_km=reach + 3.0 * scale_km)
        # the edge sub-cells (at a projection's pole lines) reach beyond the valid sub-samples
        reach_deg = reach / _KM_PER_DEG
        lo, hi = _authalic_lat(np.clip(np.array(plan.lat_range) + [-reach_deg, reach_deg], -90, 90), crs_k)
        sums, north, cdeg = _working_grid(
            lat_k, lon, ws, lat_range=(float(lo), float(hi)), cell_km=cell_ground_km, kernel=kernel,
            h=bandwidth_km, progress=progress, memory_limit_gb=memory_limit_gb,
        )
        # near a pole the bilinear interpolation of the lon/lat working grid is not accurate enough:
        # samples within the polar zone are summed exactly over the points that reach them
        polar_lat = 90.0 - (POLAR_ZONE * scale_km + reach) / _KM_PER_DEG
        near_pole = np.abs(lat_k) >= polar_lat - reach / _KM_PER_DEG
        norm = kernel_integral_km2(kernel, bandwidth_km)

        def at(qlat, qlon):
            qa = _authalic_lat(qlat, crs_k)
            v = _interpolate(sums, north, cdeg, qa, qlon)
            pol = np.abs(qa) >= polar_lat
            if near_pole.any() and pol.any():
                v[pol] = _exact_at(qa[pol], qlon[pol], lat_k[near_pole], lon[near_pole], ws[near_pole], kernel,
                                   bandwidth_km) / norm
            return v

        values = _evaluate(grid, plan, at)
    mass_reach = reach if method == "exact" else reach + 1.5 * smear_km
    _check_mass(values, grid, plan, lat, lon, float(ws.sum()), mass_reach, wname=wname, bandwidth_km=bandwidth_km)
    with np.errstate(over="ignore"):
        values = values * scale
    if np.isinf(values).any() or not (np.nanmax(values) > 0):
        raise ValidationError(
            f"density: the density of {wname!r} {'overflows' if np.isinf(values).any() else 'underflows'} "
            f"double precision (weights up to {scale:.3g}, bandwidth {bandwidth_km:g} km); rescale the weights "
            f"(e.g. divide them by {10.0 ** round(math.log10(scale)):.0e}) and multiply the surface back if needed"
        )

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


def _check_mass(values, grid: _Grid, plan, lat, lon, total: float, reach_km: float, *, wname: str,
                bandwidth_km: float) -> None:
    """Refuse a surface that does not conserve the weight (see :data:`MASS_TOLERANCE`)."""
    if plan is not None and plan.capped.any():
        peak = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        rowmax = np.nanmax(np.where(np.isfinite(values), values, 0.0), axis=1)
        bad = np.flatnonzero(plan.capped & (rowmax > 1e-6 * peak))
        if bad.size:
            xs, ys = _grid_centres(grid)
            inv, _ = _transformers(grid.crs)
            with np.errstate(invalid="ignore"):
                _, blat = inv.transform(xs[bad[0]], ys[bad[0]])
            where = f" (near latitude {np.nanmean(blat):.1f}°)" if np.isfinite(blat).any() else ""
            raise ValidationError(
                f"density: the {grid.crs.name} grid stretches the ground too much in {bad.size} row(s) "
                f"of cells{where} to average them finely enough for bandwidth_km={bandwidth_km:g}, so the "
                "surface would not conserve the weight; use a lon/lat grid (cell_deg), an equal-area crs centred "
                "on the points (e.g. '+proj=laea +lat_0=90' near the North Pole), smaller cells or a larger bandwidth"
            )
    if not _covers(grid, lat, lon, reach_km):
        return  # part of the kernels lies outside the grid: the surface holds less than the total weight
    areas = DensitySurface(values, grid.transform, grid.crs).cell_areas_km2()
    integral = float((np.nan_to_num(values, nan=0.0) * areas).sum())
    rel = integral / total - 1.0
    if not abs(rel) <= MASS_TOLERANCE:
        raise ValidationError(
            f"density: the surface of {wname!r} would integrate to {rel:+.2%} of the total weight on this grid, "
            f"beyond the tolerance of ±{MASS_TOLERANCE:.1%}; use smaller cells, a lon/lat grid (cell_deg) or "
            "method='binned'"
        )


def _grid_centres(grid: _Grid):
    t = grid.transform
    x = t.c + t.a * (np.arange(grid.width) + 0.5)
    y = t.f + t.e * (np.arange(grid.height) + 0.5)
    return np.meshgrid(x, y)


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
