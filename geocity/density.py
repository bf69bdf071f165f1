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
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pyproj import CRS, Transformer

from . import _validate

# the kernels, their two sums and the grids live in two internal modules; their
# constants are part of this module's interface
from ._density_grid import (  # noqa: F401 - re-exported constants
    BINNED_SAMPLES_PER_SCALE,
    EXACT_SAMPLES_PER_BANDWIDTH,
    MASS_TOLERANCE,
    MAX_SUBSAMPLES,
    MIN_BANDWIDTH_CELLS,
    POLAR_SAMPLES_PER_SCALE,
    POLAR_ZONE,
    _authalic_lat,
    _check_extent,
    _check_memory,
    _covers,
    _default_extent,
    _deg_grid,
    _evaluate,
    _from_origin,
    _Grid,
    _km_grid,
    _linear_operator,
    _plan,
    _transformers,
)
from ._density_kernel import (  # noqa: F401 - re-exported constants and kernels
    _KM_PER_DEG,
    EQUAL_EARTH,
    EXACT_MAX_PAIRS,
    EXACT_PAIRS_LIMIT,
    GAUSSIAN_REACH,
    KERNELS,
    MEMORY_LIMIT_GB,
    NODATA,
    _bilinear_terms,
    _binned_lonlat,
    _exact_at,
    _working_grid,
    kernel_integral_km2,
    kernel_reach_km,
)
from .errors import NotFoundError, ValidationError
from .geodesy import EARTH_RADIUS_KM, WGS84, to_wgs84

log = logging.getLogger(__name__)

__all__ = [
    "DensitySurface",
    "KERNELS",
    "density",
    "write_geotiff",
    "read_geotiff",
    "density_overlay",
]



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
        """``(rows, columns)`` of the grid."""
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
        """True when the grid's CRS is geographic (cells in degrees of longitude/latitude)."""
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
        west, south, east, north = tr.transform_bounds(*self.bounds, densify_pts=51)
        return (west, south, east, north)


# --------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------
def _points_and_weights(points, weight, *, what: str = "points"):
    """Return lat, lon, weights, weight name and the weights' provenance
    (:class:`geocity.provenance.ScoreProvenance`, or ``None`` for a user's
    column or array that says nothing about its source)."""

    from . import export

    prov = None
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
    return lat, lon, w, name, prov


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
    provenance=None,
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
    provenance
        Where the weights come from (a :class:`geocity.provenance.ScoreProvenance`),
        when the caller knows more than the points' ``score_source`` column
        says (e.g. the scores table's path); default: that column's answer.
        Its record fields go into the surface's metadata and GeoTIFF tags.

    Returns
    -------
    DensitySurface
    """
    bandwidth_km, method, crs = _check_options(bandwidth_km, cell_km, cell_deg, kernel, method, crs,
                                               memory_limit_gb, grid_bounds)
    if cell_km is None and cell_deg is None:
        cell_km = bandwidth_km / 5.0
        log.info("no cell size given; using cell_km = bandwidth_km / 5 = %g", cell_km)

    cell_size = float(cell_deg if cell_deg is not None else cell_km)  # type: ignore[arg-type]  # one is set
    lat, lon, w, wname, prov = _points_and_weights(points, weight)
    if provenance is not None:
        prov = provenance
    reach = kernel_reach_km(kernel, bandwidth_km)
    # linear binning spreads a weight over one working cell: the default extent allows for it
    smear_km = cell_size * _KM_PER_DEG if cell_deg is not None else cell_size
    extent = _check_extent(extent) if extent is not None else _default_extent(lat, lon, reach + 1.5 * smear_km)

    if cell_deg is not None:
        grid = _deg_grid(extent, cell_size)
        cell_for_msg, unit = cell_size, "degrees"
    else:
        grid = _km_grid(extent, cell_size, crs, grid_bounds)
        cell_for_msg, unit = cell_size, "km"
    n_cells = grid.height * grid.width
    _check_memory(n_cells, 48.0, cell_for_msg, unit, memory_limit_gb)

    if not grid.geographic and bandwidth_km < MIN_BANDWIDTH_CELLS * grid.cell / 1000.0:
        raise ValidationError(
            f"density: bandwidth_km={bandwidth_km:g} is below {MIN_BANDWIDTH_CELLS:g} x cell_km={grid.cell / 1000:g}: "
            "an equal-area grid cannot hold kernels narrower than half its cell without losing or inventing "
            f"weight; use cell_km <= {bandwidth_km / MIN_BANDWIDTH_CELLS:g}, or a lon/lat grid (cell_deg), which "
            "conserves the weight for any bandwidth"
        )
    method, plan, cell_ground_km = _choose_method(grid, lat, kernel, bandwidth_km, method)

    # weights scaled to a largest value of 1 (float32 FFTs neither overflow nor underflow)
    scale = float(w.max())
    ws = w / scale
    values, plan = _sum(grid, plan, method, lat, lon, ws, kernel, bandwidth_km, cell_ground_km, reach,
                        progress=progress, memory_limit_gb=memory_limit_gb)
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
        "weight_source": prov.source if prov is not None else "user",
        "weights_proxy": bool(prov is not None and prov.proxy),
        "bandwidth_km": bandwidth_km,
        "kernel": kernel,
        "cell_km": None if grid.geographic else cell_size,
        "cell_deg": cell_size if grid.geographic else None,
        "crs": grid.crs.name,
        "units": f"{wname} per km2",
        "method": method,
        "n_points": int(len(lat)),
        "total_weight": float(w.sum()),
        "distance": "great-circle, sphere R=%.4f km" % EARTH_RADIUS_KM,
        "normalisation": "kernel integral over the sphere; surface integrates to total_weight",
        "mask_land": mask_land is not False and mask_land is not None,
        "extent_deg": [float(v) for v in extent],
        # the one answer of geocity.provenance (score_source, scores_kind, counts, note)
        **(prov.record() if prov is not None else {}),
    }
    log.info(
        "density of %d points (%s): %dx%d cells, method %s", len(lat), wname, grid.height, grid.width, method
    )
    return DensitySurface(values=values, transform=grid.transform, crs=grid.crs, metadata=metadata)


def _check_options(bandwidth_km, cell_km, cell_deg, kernel, method, crs, memory_limit_gb, grid_bounds):
    """Every option of :func:`density` checked at once -> (bandwidth_km, method, crs)."""
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
    return bandwidth_km, method, crs


def _choose_method(grid: _Grid, lat, kernel: str, bandwidth_km: float, method: str):
    """``"exact"`` or ``"binned"`` for this grid and these points -> (method,
    the exact method's sampling plan or None, ground size of a cell in km)."""
    n_cells = grid.height * grid.width
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

    return method, plan, cell_ground_km


def _sum(grid: _Grid, plan, method: str, lat, lon, ws, kernel: str, bandwidth_km: float, cell_ground_km: float,
         reach: float, *, progress: bool, memory_limit_gb: float):
    """The surface of weights ``ws`` by ``method`` -> (values, the sampling plan used)."""
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
        exact_polar = bool(near_pole.any())
        norm = kernel_integral_km2(kernel, bandwidth_km)

        def terms(qlat, qlon):
            qa = _authalic_lat(qlat, crs_k)
            exact = (np.abs(qa) >= polar_lat) if exact_polar else np.zeros(qa.shape, dtype=bool)
            nodes, weights = _bilinear_terms(sums.shape, north, cdeg, qa[~exact], qlon[~exact])
            return nodes, weights, exact

        def at_pole(qlat, qlon):  # the kernel of the working grid (truncated at the reach), summed exactly
            return _exact_at(_authalic_lat(qlat, crs_k), qlon, lat_k[near_pole], lon[near_pole], ws[near_pole],
                             kernel, bandwidth_km, reach_km=reach) / norm

        # the cell averages are linear in the working grid: one sparse matrix per grid, plan and working
        # grid, shared by the surfaces of every weight of these points on this grid
        op = _linear_operator(grid, plan, terms, sums.size,
                              key=("bilinear", sums.shape, float(north), float(cdeg),
                                   float(polar_lat) if exact_polar else None))
        values = op.apply(sums, at_pole)
    return values, plan


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
    if md.get("weights_proxy") or md.get("scores_partial"):
        from . import provenance as _provenance

        # the one label of geocity.provenance (a surface made without a record: rank-derived proxies)
        prov = _provenance.from_record(md) if md.get("scores_note") else _provenance.ScoreProvenance(n_proxy=1)
        desc += f", weights: {prov.label('en')}"
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

#: Defaults of the report's density surfaces (:class:`geocity.analysis.Analysis`).
REPORT_BANDWIDTH_KM = 300.0
REPORT_CELL_KM = 25.0
REPORT_WEIGHTS = ("innovation", "industry", "infrastructure", "composite")


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
    imsave(buf, img, format="png", metadata={"Software": None})  # type: ignore[dict-item]  # None: no tag
    return buf.getvalue(), bounds, legend
