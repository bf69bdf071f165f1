"""Exact weighted DBSCAN on great-circle distance, for any number of points.

Two layers:

* :func:`geodesic_dbscan` — the functional engine: weighted DBSCAN on
  great-circle distance (3-D unit vectors with eps as a chord, so the
  antimeridian and the poles are ordinary places; a compiled grid engine, a
  chunked KD-tree engine with bounded memory, or a brute-force reference),
  identical to scikit-learn's ``DBSCAN(metric="haversine")`` with
  ``sample_weight`` (see its docstring for the engines, the pairs on the edge
  of eps and the tie rule).
* :class:`GeodesicDBSCAN` — the same as a scikit-learn estimator for any
  point layer: a GeoDataFrame of points in any CRS, or an ``(n, 2)`` array of
  ``[lat, lon]`` degrees, with ``eps_km`` and ``min_weight`` instead of
  ``eps`` in radians and ``min_samples``.

The report's city clusters (poles, the split of over-large regions, names,
typology, boundaries) are built on this engine in :mod:`geocity.cluster`.
"""

from __future__ import annotations

import logging
import re
from numbers import Real

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions, validate_parameter_constraints

from . import _validate

# the grid engine's driver (phases, blocks, timings) lives in ._dbscan_grid
from ._dbscan_grid import (  # noqa: F401 - re-exported: the engine's constants and the benchmarks' timings
    GRID_BLOCK,
    GRID_TIMINGS,
    LEAF_POINTS,
    _cell_blocks,
    _chunked,
    _dbscan_grid,
    _grid_kernels,
    _grid_labels,
    _groups,
    _leaves,
)
from .errors import ValidationError
from .geodesy import EARTH_RADIUS_KM, chord_from_arc_km, unit_vectors, validate_latlon

log = logging.getLogger(__name__)

__all__ = ["geodesic_dbscan", "GeodesicDBSCAN", "CHUNK_PAIRS", "EDGE_RTOL", "GRID_MIN_POINTS",
           "PROGRESS_MIN_POINTS"]

#: Pairs per chunk in the neighbour passes (about 24 bytes each).
CHUNK_PAIRS: int = 2_000_000
#: Relative tolerance around eps inside which a pair counts as "on the edge".
EDGE_RTOL: float = 1e-9


# --------------------------------------------------------------------------
# functional engine
# --------------------------------------------------------------------------
def _numeric(name: str, values, what: str, problems: list[str], labels=None) -> np.ndarray | None:
    """``values`` as a 1-D float array, or ``None`` with a message in ``problems``
    naming the argument and the first non-numeric value (its row, and its
    label from ``labels`` if given)."""
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        pass
    try:
        flat = np.asarray(values, dtype=object).ravel()
    except (TypeError, ValueError):  # ragged nesting
        flat = np.asarray([values], dtype=object)
    example = ""
    for i, v in enumerate(flat.tolist()):
        if v is None:  # missing: NaN, reported as such later
            continue
        try:
            float(v)
        except (TypeError, ValueError):
            lab = f" ({labels[i]})" if labels is not None and i < len(labels) else ""
            example = f", e.g. row {i}{lab} is {v!r}"
            break
    problems.append(f"{name} must be numeric ({what}){example}")
    return None


def _validate_engine_args(lat, lon, eps_km, min_weight, weights, algorithm, progress=None, count_edge_pairs=False):
    problems: list[str] = []
    lat = _numeric("lat", lat, "latitudes in degrees", problems)
    lon = _numeric("lon", lon, "longitudes in degrees", problems)
    w = None if weights is None else _numeric("weights", weights, "one non-negative weight per point", problems)
    if problems:
        raise ValidationError("geodesic_dbscan: " + "; ".join(problems))
    if lat.size == 0 or lon.size == 0:
        raise ValidationError("geodesic_dbscan: no points given (empty lat/lon); pass at least one point")
    validate_latlon(lat, lon, what="geodesic_dbscan points")
    eps_km = _validate.positive("eps_km", eps_km, unit="km", problems=problems)
    min_weight = _validate.positive("min_weight", min_weight, problems=problems)
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        problems.append(f"progress must be None (bars at a terminal), True or False, not {progress!r}")
    if not isinstance(count_edge_pairs, (bool, np.bool_)):
        problems.append(f"count_edge_pairs must be True or False, not {count_edge_pairs!r}")
    if w is None:
        w = np.ones(lat.size)
    else:
        if w.size != lat.size:
            problems.append(f"weights has {w.size} values for {lat.size} points")
        else:
            bad = ~np.isfinite(w)
            if bad.any():
                rows = np.flatnonzero(bad)[:10].tolist()
                problems.append(f"{int(bad.sum())} weight(s) are NaN or infinite, e.g. rows {rows}")
            neg = np.isfinite(w) & (w < 0)
            if neg.any():
                rows = np.flatnonzero(neg)[:10].tolist()
                problems.append(f"{int(neg.sum())} weight(s) are negative, e.g. rows {rows}; weights must be ≥ 0")
    if algorithm not in ("auto", "grid", "kdtree", "brute"):
        problems.append(f"algorithm must be 'auto', 'grid', 'kdtree' or 'brute', not {algorithm!r}")
    if problems:
        raise ValidationError("geodesic_dbscan: " + "; ".join(problems))
    return lat, lon, eps_km, min_weight, w


def geodesic_dbscan(
    lat,
    lon,
    *,
    eps_km: float,
    min_weight: float,
    weights=None,
    algorithm: str = "auto",
    chunk_pairs: int = CHUNK_PAIRS,
    progress: bool | None = None,
    return_info: bool = False,
    count_edge_pairs: bool = False,
):
    r"""Weighted DBSCAN on great-circle distance, for any number of points.

    A point is a **core** point when the summed weight of the points within
    ``eps_km`` of it (itself included) reaches ``min_weight``. Core points
    within ``eps_km`` of each other share a cluster; a non-core point within
    ``eps_km`` of a core point is a **border** point; the rest is noise (−1).
    The result is the one of scikit-learn's
    ``DBSCAN(eps=eps_km / EARTH_RADIUS_KM, metric="haversine",
    min_samples=min_weight).fit(radians, sample_weight=weights)``:
    identical core flags, noise and labels, including the label numbers.

    Parameters
    ----------
    lat, lon
        Coordinates in degrees (WGS 84), 1-D, same length.
    eps_km
        Neighbourhood radius, great-circle km on the mean-radius sphere.
    min_weight
        Summed weight that makes a core point (> 0). With unit weights it is
        DBSCAN's ``min_samples``. A point whose own weight reaches it is a
        core point on its own.
    weights
        Non-negative weight per point (default 1).
    algorithm
        ``"auto"``, ``"grid"`` (numba), ``"kdtree"`` (chunked, any size,
        pure SciPy) or ``"brute"`` (pure NumPy, O(n²) memory, for checking).
    chunk_pairs
        Neighbour pairs handled at once (KD-tree engine); bounds the peak
        memory.
    progress
        tqdm progress bars on stderr, one per phase (core test, core links,
        borders), advanced per chunk (KD-tree) or per block of grid cells
        (grid). ``None`` (default): tqdm's ``disable=None`` — shown when
        stderr is a terminal and quiet otherwise (pipes, logs, CI) — and
        only for runs of :data:`PROGRESS_MIN_POINTS` points or more (smaller
        runs take well under a second). ``True``: always shown; ``False``:
        never.
    return_info
        Also return a dict of diagnostics, with the same keys for every
        engine: ``n_points``, ``n_unique`` (after merging exact
        duplicates), ``algorithm`` (the engine that ran), ``edge_pairs``
        (pairs within a relative :data:`EDGE_RTOL` of eps, see Notes;
        ``None`` unless ``count_edge_pairs``) and ``chunks`` (neighbour-pair
        chunks or cell blocks processed).
    count_edge_pairs
        Count the pairs on the edge of eps (``info["edge_pairs"]``), the
        certificate of an exact comparison with another DBSCAN (see Notes).
        Same labels either way; off by default because it costs time: the
        grid engine's core test otherwise stops at ``min_weight``, and with
        it must scan every cell that straddles the eps sphere (10^6 clumped
        points, eps 10 km: 0.07 s against 0.41 s).

    Returns
    -------
    labels : numpy.ndarray of int
        Cluster label per point, −1 for noise.
    core_mask : numpy.ndarray of bool
        True for core points.

    Notes
    -----
    **Engines.**
    ``algorithm="auto"`` (default) takes the grid engine for 50 000 points or
    more when numba is installed (300 000 while numba's cache is cold), the
    KD-tree engine otherwise; all engines give identical results.

    ``"grid"``: the unit vectors are binned into cubes whose side is just
    below the chord of ``eps_km`` over √3, so that any two points of a cube
    are within eps and every neighbour of a point lies in the 5 × 5 × 5 cubes
    around it; compiled (numba) loops, on all of numba's threads, sum the
    weights (whole cubes, groups and leaves of points at once wherever a
    bounding box lies wholly inside or beyond eps, with a safety margin, so
    the result is that of testing every pair), join core points with a
    union-find over cubes (one forest per thread, merged) and label the
    border points (see :mod:`geocity._grid_numba`). Memory: a few arrays of
    n plus the neighbour lists and boxes of the non-empty cubes (10^7
    clumped points, eps 10 km, weighted: 1.9 GB for the whole process,
    4.5 s on 2 cores; ``benchmarks/README.md``). On a fresh install, while numba's
    on-disk cache of the kernels is still empty, ``"auto"`` takes the grid
    only from ``GRID_COLD_MIN_POINTS`` (300 000) points on (compiling takes
    several seconds).

    ``"kdtree"`` (pure NumPy/SciPy):
    Points become 3-D unit vectors and ``eps_km`` the chord
    :math:`c = 2\sin(\varepsilon / 2R)` on the sphere of radius
    :data:`~geocity.geodesy.EARTH_RADIUS_KM` (chord length grows monotonically
    with arc length, so the neighbour sets are exactly the great-circle ones
    with no antimeridian or pole case). Exact duplicates are merged first
    (summing their weights). A :class:`scipy.spatial.cKDTree` then gives, in
    spatially coherent chunks of about ``chunk_pairs`` neighbour pairs each,

    1. the summed weight around each point → core flags;
    2. the core–core pairs, merged chunk by chunk into components
       (a union-find over component labels with
       :func:`scipy.sparse.csgraph.connected_components`, linear time);
    3. for each non-core point, its core neighbours → border label.

    No pass holds more than one chunk of pairs, so memory stays bounded
    (measured on this project's 2-core machine: 1 000 000 clumped points,
    eps 5 km, 6 s and 210 MB peak traced memory; eps 40 km with about 170
    neighbours per point, 26 s and 550 MB resident). The grid engine: 10^6
    clumped points in 2-8 s for eps 1-50 km, 16x scikit-learn at eps 10 km
    with identical labels (``benchmarks/README.md``).

    **Pairs on the edge of eps.**
    Every engine decides "within eps" by the same floating-point test,
    ``sqrt(dx² + dy² + dz²) <= c`` on the unit vectors (the grid engine
    compares the squared distance with the largest double whose square root
    is ``<= c``, which is the same test), so all engines give identical
    results even for pairs at exactly eps. A pair whose chord lies within a
    relative :data:`EDGE_RTOL` (1e-9) of ``c`` is decided by that test,
    while scikit-learn's haversine rounding may decide it the other way:
    such pairs are *excluded from the agreement claim* and, with
    ``count_edge_pairs=True``, **counted**, by every engine alike, in
    ``info["edge_pairs"]`` (``return_info=True``; unordered pairs of input
    points, exact duplicates counted separately), and logged at DEBUG level. With ``edge_pairs == 0`` the result is
    scikit-learn's. Neighbourhood weights are summed in a different order than
    scikit-learn's ``np.sum``; with non-dyadic weights a point whose summed
    weight equals ``min_weight`` to the last bit could be decided the other
    way (never observed in the comparisons of the test suite and benchmarks).

    **Labels and tie rule.**
    Clusters are numbered in the order of their lowest-index core point and a
    border point within ``eps_km`` of cores of several clusters goes to the
    one with the **lowest label** — exactly what scikit-learn's expansion
    order produces.

    Examples
    --------
    >>> labels, core = geodesic_dbscan([0, 0, 0, 40], [179.9, -179.9, 179.95, 0],
    ...                                eps_km=30, min_weight=2)
    >>> labels.tolist(), core.tolist()
    ([0, 0, 0, -1], [True, True, True, False])
    """
    if type(lat).__module__.partition(".")[0] == "dask":  # dask arrays: on the Dask cluster (geocity.distributed)
        from .distributed import dask_dbscan

        if not isinstance(count_edge_pairs, (bool, np.bool_)):
            raise ValidationError(f"geodesic_dbscan: count_edge_pairs must be True or False, not {count_edge_pairs!r}")
        if count_edge_pairs:
            raise ValidationError("geodesic_dbscan: count_edge_pairs=True is not available for dask arrays "
                                  "(geocity.distributed); count them on one machine, or leave it False")
        return dask_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=weights, algorithm=algorithm,
                           return_info=return_info)
    lat, lon, eps_km, min_weight, w = _validate_engine_args(
        lat, lon, eps_km, min_weight, weights, algorithm, progress, count_edge_pairs
    )
    count = bool(count_edge_pairs)
    X = unit_vectors(lat, lon)
    r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
    disable = _bar_disable(progress, len(X))
    if algorithm == "brute":
        labels, core, info = _dbscan_brute(X, r, w, min_weight, count)
    else:
        use = algorithm
        if use == "auto":
            use = _auto_engine(len(X), r)
        if use == "grid":
            if not _have_numba():
                from .errors import DependencyError

                raise DependencyError(
                    "algorithm='grid' needs numba (pip install numba); or use algorithm='kdtree'"
                )
            if not _grid_ok(r):
                log.info("eps_km=%g is too small for the grid engine; using the KD-tree", eps_km)
                use = "kdtree"
        labels, core, info = _dbscan_kdtree(X, r, w, min_weight, int(chunk_pairs), disable, count,
                                            grid=use == "grid")
    if info["edge_pairs"]:
        log.debug("geodesic_dbscan: %d point pairs lie within %.0e of eps", info["edge_pairs"], EDGE_RTOL)
    if return_info:
        return labels, core, info
    return labels, core


#: ``progress=None`` shows bars (at a terminal) from this many points on.
PROGRESS_MIN_POINTS: int = 200_000


def _bar_disable(progress, n: int) -> bool | None:
    """tqdm's ``disable`` for ``progress`` (None: at a terminal, long runs only)."""
    if progress is None:
        return None if n >= PROGRESS_MIN_POINTS else True
    return not bool(progress)


def _bar(total: int, desc: str, disable: bool | None):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"geodesic_dbscan: {desc}", unit="pt", leave=False, disable=disable)


def _sq_threshold(r: float) -> float:
    """The largest double ``t`` with ``sqrt(t) <= r``: ``d2 <= t`` is then
    exactly ``sqrt(d2) <= r`` (sqrt is correctly rounded and monotone)."""
    t = r * r
    while np.sqrt(t) > r:
        t = np.nextafter(t, 0.0)
    while np.sqrt(np.nextafter(t, np.inf)) <= r:
        t = np.nextafter(t, np.inf)
    return float(t)


def _dbscan_brute(X: np.ndarray, r: float, w: np.ndarray, min_weight: float, count_edge: bool):
    """Reference implementation: full adjacency, scikit-learn's expansion."""
    d = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    adj = d <= r
    n_unique = len(np.unique(X, axis=0))
    edge = int(np.triu(np.abs(d - r) <= EDGE_RTOL * r, k=1).sum()) if count_edge else None
    info = {"n_points": len(X), "n_unique": n_unique, "algorithm": "brute", "edge_pairs": edge, "chunks": 1}
    core = adj.astype(float) @ w >= min_weight
    n = len(X)
    labels = np.full(n, -1, dtype=np.int64)
    label = 0
    for i in range(n):
        if labels[i] != -1 or not core[i]:
            continue
        stack = [i]
        while stack:
            j = stack.pop()
            if labels[j] != -1:
                continue
            labels[j] = label
            if core[j]:
                nb = np.flatnonzero(adj[j] & (labels == -1))
                stack.extend(nb.tolist())
        label += 1
    return labels, core, info


def _pair_chunks(
    tree_all: cKDTree, pts: np.ndarray, order: np.ndarray, r: float, budget: int, disable, desc: str
):
    """Yield ``(idx, i, j, d)``: the pairs within chord ``r`` between the points
    ``pts[idx]`` and ``tree_all``, for consecutive runs ``idx`` of ``order``.

    Run lengths adapt so that each run holds about ``budget`` pairs: the first
    is sized from the mean neighbour count of a small sample, later ones from
    the density of the previous run (``order`` is spatially coherent, so
    density changes slowly). The pairs reach a little beyond ``r`` (to
    ``r * (1 + 2 EDGE_RTOL)``) so that every pair on the edge of eps is seen.
    """
    n = len(order)
    if n == 0:
        return
    rng = np.random.default_rng(0)
    sample = order[rng.choice(n, size=min(n, 512), replace=False)]
    mean_nb = float(np.mean(tree_all.query_ball_point(pts[sample], r, return_length=True))) or 1.0
    size = int(max(1, min(n, budget / mean_nb)))
    bar = _bar(n, desc, disable)
    start = 0
    try:
        while start < n:
            idx = order[start : start + size]
            sub = cKDTree(pts[idx])
            m = sub.sparse_distance_matrix(tree_all, r * (1.0 + 2.0 * EDGE_RTOL), output_type="ndarray")
            yield idx, m["i"], m["j"], m["v"]
            start += len(idx)
            bar.update(len(idx))
            per = max(len(m) / len(idx), 1.0)
            size = int(max(1, min(4 * size, budget / per)))
    finally:
        bar.close()


#: Below this many points ``algorithm="auto"`` uses the KD-tree (no compile time).
GRID_MIN_POINTS: int = 50_000
#: ... and below this many while numba's on-disk cache of the grid kernels is
#: not there yet (a fresh install: compiling them takes several seconds, more
#: than the KD-tree engine needs for these sizes).
GRID_COLD_MIN_POINTS: int = 300_000


def _grid_cache_warm() -> bool:
    """Are the grid kernels in numba's on-disk cache (first use without
    compiling)? Looked up without importing numba: its index files (named
    after the module, the function and its line) newer than the source, in
    ``NUMBA_CACHE_DIR`` when set, else next to the source or in the user's
    cache directory. A wrong guess only changes the engine's speed."""
    import os
    import sys
    from pathlib import Path

    src = Path(__file__).with_name("_grid_numba.py")
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    rel = Path(*src.parent.parts[1:])
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        dirs = [Path(env) / rel]
    else:
        dirs = [src.parent / "__pycache__", Path.home() / ".cache" / "numba" / rel]
    try:
        mtime = src.stat().st_mtime
        for d in dirs:
            for f in d.glob(f"_grid_numba._weight_sums_tree-*.{tag}.nbi"):
                if f.stat().st_mtime >= mtime:
                    return True
    except OSError:
        pass
    return False


def _grid_min_points() -> int:
    """Smallest input for which ``algorithm="auto"`` takes the grid engine."""
    return GRID_MIN_POINTS if _grid_cache_warm() else max(GRID_MIN_POINTS, GRID_COLD_MIN_POINTS)


def _have_numba() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _auto_engine(n: int, r: float) -> str:
    """The engine ``algorithm="auto"`` runs for ``n`` points and chord eps ``r``:
    the grid from :func:`_grid_min_points` points, with numba, when eps allows;
    else the KD-tree (also the choice of :mod:`geocity.distributed`'s tasks)."""
    return "grid" if (n >= _grid_min_points() and _grid_ok(r) and _have_numba()) else "kdtree"


def _grid_ok(r: float) -> bool:
    """Cell keys of side ``r / sqrt(3)`` on [-1, 1]^3 must fit in int64."""
    return (2.0 * np.sqrt(3.0) / r + 2) < 2.0e6


#: Keyword options of :func:`_dbscan_grid` for every grid run (the tests turn shortcuts off).
_GRID_OPTIONS: dict = {}

def _dbscan_kdtree(X, r, w, min_weight, chunk_pairs, disable, count_edge, *, grid: bool = False):
    n = len(X)
    if grid:
        res = _dbscan_grid(X, w, r, min_weight, disable, count_edge=count_edge, **_GRID_OPTIONS)
        if res is not None:
            labels, core, edge, blocks, nu = res
            info = {"n_points": n, "n_unique": nu, "algorithm": "grid", "edge_pairs": edge, "chunks": blocks}
            return labels, core, info
        log.info("geodesic_dbscan: grid cells too coarse for eps (rounding); using the KD-tree")
    # merge exact duplicates (same neighbours, same core flag, same cluster)
    o = np.lexsort((X[:, 2], X[:, 1], X[:, 0]))  # stable: first of a run = lowest index
    Xs = X[o]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(Xs[1:] != Xs[:-1], axis=1)
    inv = np.empty(n, dtype=np.int64)
    inv[o] = np.cumsum(new) - 1
    U = Xs[new]
    first = o[new]
    wu = np.bincount(inv, weights=w, minlength=len(U))
    mult = np.bincount(inv, minlength=len(U))  # input points per unique point
    nu = len(U)
    tree = cKDTree(U)
    order = np.asarray(tree.indices, dtype=np.int64)  # leaf order: spatially coherent
    budget = max(int(chunk_pairs), 1)
    info = {"n_points": n, "n_unique": nu, "algorithm": "kdtree", "edge_pairs": 0, "chunks": 0}
    # pass 1: summed weight around each unique point
    wsum = np.zeros(nu)
    edge_ordered = 0  # ordered pairs of input points: each unordered pair twice
    for idx, i, j, d in _pair_chunks(tree, U, order, r, budget, disable, "core test"):
        info["chunks"] += 1
        if count_edge:
            edge = np.abs(d - r) <= EDGE_RTOL * r
            if edge.any():
                edge_ordered += int((mult[idx[i[edge]]] * mult[j[edge]]).sum())
        keep = d <= r
        wsum[idx] += np.bincount(i[keep], weights=wu[j[keep]], minlength=len(idx))
    info["edge_pairs"] = edge_ordered // 2 if count_edge else None
    core_u = wsum >= min_weight
    # pass 2: union-find over core-core pairs
    cidx = np.flatnonzero(core_u)
    root = np.arange(len(cidx))
    if len(cidx):
        ctree = cKDTree(U[cidx])
        corder = np.asarray(ctree.indices, dtype=np.int64)
        Uc = U[cidx]
        for idx, i, j, d in _pair_chunks(ctree, Uc, corder, r, budget, disable, "core links"):
            info["chunks"] += 1
            keep = d <= r
            a = root[idx[i[keep]]]
            b = root[j[keep]]
            m = a != b
            if not m.any():
                continue
            a, b = a[m], b[m]
            # components over the current root labels: O(n_core + pairs), no sorting
            nc = len(cidx)
            g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(nc, nc))
            _, comp = connected_components(g, directed=False)
            root = comp[root]
    # cluster numbering: order of the lowest original index of a core point
    labels_u = np.full(nu, -1, dtype=np.int64)
    if len(cidx):
        keymin = np.full(len(cidx), np.iinfo(np.int64).max)
        np.minimum.at(keymin, root, first[cidx])
        roots = np.unique(root)
        rank = np.empty(len(cidx), dtype=np.int64)
        rank[roots[np.argsort(keymin[roots], kind="stable")]] = np.arange(len(roots))
        labels_u[cidx] = rank[root]
        # pass 3: border points take the lowest label among their core neighbours
        bidx = np.flatnonzero(~core_u)
        if len(bidx):
            clab = labels_u[cidx]
            pos = np.empty(nu, dtype=np.int64)
            pos[order] = np.arange(nu)
            border_order = bidx[np.argsort(pos[bidx], kind="stable")]
            for idx, i, j, d in _pair_chunks(ctree, U, border_order, r, budget, disable, "borders"):
                info["chunks"] += 1
                keep = d <= r
                if not keep.any():
                    continue
                best = np.full(len(idx), np.iinfo(np.int64).max)
                np.minimum.at(best, i[keep], clab[j[keep]])
                hit = best != np.iinfo(np.int64).max
                labels_u[idx[hit]] = best[hit]
    return labels_u[inv], core_u[inv], info


# --------------------------------------------------------------------------
# the engine's "within eps" test on small sets (the city-cluster split)
# --------------------------------------------------------------------------
def _pairwise(lat: np.ndarray, lon: np.ndarray, eps_km: float) -> tuple[np.ndarray, np.ndarray]:
    """All-pairs great-circle distances in km (mean-radius sphere, the DBSCAN
    metric) and the "within ``eps_km``" relation decided by the same
    floating-point test as :func:`geodesic_dbscan` (chord between unit
    vectors ``<=`` the chord of eps: no antimeridian or pole case)."""
    from .geodesy import arc_from_chord

    X = unit_vectors(lat, lon)
    chord = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
    return arc_from_chord(chord, EARTH_RADIUS_KM), chord <= r


def _has_neighbour(lat: np.ndarray, lon: np.ndarray, idx: np.ndarray, eps_km: float) -> np.ndarray:
    """For the points ``idx``: is another point (any index but its own) within
    ``eps_km``, by the test of :func:`geodesic_dbscan`?"""
    X = unit_vectors(lat, lon)
    r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
    tree = cKDTree(X)
    out = np.zeros(len(idx), dtype=bool)
    for k, (i, cand) in enumerate(zip(idx, tree.query_ball_point(X[idx], r * (1.0 + 2.0 * EDGE_RTOL)), strict=True)):
        cand = np.asarray(cand, dtype=np.int64)
        cand = cand[cand != i]
        if len(cand):
            out[k] = bool((np.sqrt(((X[cand] - X[i]) ** 2).sum(axis=1)) <= r).any())
    return out


# --------------------------------------------------------------------------
# scikit-learn estimator
# --------------------------------------------------------------------------
class _InvalidParameter(ValidationError, InvalidParameterError):
    """A bad estimator parameter: a geocity :class:`~geocity.errors.ValidationError`
    (the command line prints it as one plain line) that is also scikit-learn's
    ``InvalidParameterError`` (so code written for scikit-learn estimators
    catches it too)."""


class _Choices(StrOptions):
    """:class:`~sklearn.utils._param_validation.StrOptions` that lists its
    options in sorted order in messages (a set's order varies between runs)."""

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(o) for o in sorted(self.options)) + "}"


def _check_parameters(est, problems: list[str] | None = None) -> None:
    """Check every parameter of ``est`` against its ``_parameter_constraints``
    with scikit-learn's own validator, one parameter at a time, and raise one
    :class:`_InvalidParameter` naming every bad one.

    ``problems`` holds geocity's messages for parameters already checked
    (``"eps_km must be a positive number of km, got -5"``); a parameter named
    there is not reported twice.
    """
    problems = list(problems or [])
    name = type(est).__name__
    said = {p.split(" ", 1)[0] for p in problems}
    params = est.get_params(deep=False)
    for key, constraints in est._parameter_constraints.items():
        if key in said:
            continue
        try:
            validate_parameter_constraints({key: constraints}, {key: params[key]}, caller_name=name)
        except InvalidParameterError as exc:  # in geocity's shape: "<name> must be <what>, got <value>"
            m = re.fullmatch(r"The '\w+' parameter of \w+ must be (.*)\. Got (.*) instead\.?", str(exc), re.S)
            problems.append(f"{key} must be {m[1]}, got {m[2]}" if m else str(exc).rstrip("."))
    if problems:
        raise _InvalidParameter(f"{name}: " + "; ".join(problems))


try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _sk_validate_data(est, X, *, ensure_all_finite=True, **kw):
        return est._validate_data(X, force_all_finite=ensure_all_finite, **kw)


def _as_points(est, X) -> tuple[np.ndarray, np.ndarray, list | None]:
    """``(lat, lon, labels)`` in degrees from a GeoDataFrame / GeoSeries of
    points (any CRS; ``labels``: its index) or an ``(n, 2)`` array-like of
    ``[lat, lon]`` (``labels``: ``None``, rows named by position); sets
    ``n_features_in_`` (2). Every refusal is a :class:`ValidationError`."""
    import geopandas as gpd

    from .geodesy import to_wgs84

    name = type(est).__name__
    if isinstance(X, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if len(X) == 0:
            raise ValidationError(f"{name}: X has no points; pass at least one")
        g = to_wgs84(X, name="X")
        geom = g.geometry if isinstance(g, gpd.GeoDataFrame) else g
        labels = X.index.tolist()
        bad = (geom.isna() | geom.is_empty | (geom.geom_type != "Point")).to_numpy()
        if bad.any():
            rows = ", ".join(f"row {i} ({labels[i]})" for i in np.flatnonzero(bad)[:10])
            raise ValidationError(
                f"{name}: X must be one Point per row; {int(bad.sum())} row(s) are missing, empty or not a "
                f"point, e.g. {rows}"
            )
        lat, lon = geom.y.to_numpy(dtype=float), geom.x.to_numpy(dtype=float)
        if hasattr(est, "feature_names_in_"):  # a refit on a layer must not keep an earlier array's names
            del est.feature_names_in_
        est.n_features_in_ = 2
    else:
        try:
            A = _sk_validate_data(est, X, dtype=np.float64, ensure_all_finite=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{name}: {exc}") from exc
        if A.shape[1] != 2:
            raise ValidationError(
                f"{name}: X has {A.shape[1]} feature(s) (columns); it needs 2, latitude and longitude in "
                "degrees (or pass a GeoDataFrame of points)"
            )
        lat, lon = A[:, 0], A[:, 1]
        labels = None
    validate_latlon(lat, lon, what=f"{name}: X ([lat, lon] degrees)", labels=labels)
    return lat, lon, labels


def _sample_weight(est, sample_weight, n: int, labels: list | None) -> np.ndarray:
    """``sample_weight`` as ``n`` finite non-negative floats, or one
    :class:`ValidationError` naming the first bad rows."""
    name = type(est).__name__
    problems: list[str] = []
    w = _numeric("sample_weight", sample_weight, "one non-negative weight per point", problems, labels)
    if problems or w is None:  # _numeric returns None only with a problem recorded
        raise ValidationError(f"{name}: " + "; ".join(problems))
    if w.size != n:
        raise ValidationError(f"{name}: sample_weight has {w.size} values for {n} points; give one per point")
    bad = ~np.isfinite(w) | (np.isfinite(w) & (w < 0))
    if bad.any():
        idx = np.flatnonzero(bad)[:10]
        rows = ", ".join(f"row {i}" + ("" if labels is None else f" ({labels[i]})") + f" is {float(w[i])!r}"
                         for i in idx)
        raise ValidationError(
            f"{name}: sample_weight must be finite and >= 0; {int(bad.sum())} value(s) are not, e.g. {rows}"
        )
    return w


class GeodesicDBSCAN(ClusterMixin, BaseEstimator):
    """Weighted DBSCAN on great-circle distance, as a scikit-learn estimator.

    :func:`geodesic_dbscan` for any point layer: a point is a **core** point
    when the summed ``sample_weight`` of the points within ``eps_km`` of it
    (itself included) reaches ``min_weight``; core points within ``eps_km``
    share a cluster, a non-core point within ``eps_km`` of a core point joins
    the lowest-labelled such cluster, the rest is noise (−1). Labels equal
    scikit-learn's ``DBSCAN(eps=eps_km / EARTH_RADIUS_KM,
    metric="haversine", min_samples=min_weight)`` fitted on the radians with
    the same ``sample_weight`` (pairs on the edge of eps aside, see
    :func:`geodesic_dbscan`), in memory bounded for millions of points.

    Parameters
    ----------
    eps_km
        Neighbourhood radius, great-circle km on the mean-radius sphere.
    min_weight
        Summed weight that makes a core point (> 0). With unit weights it is
        DBSCAN's ``min_samples``; a point whose own weight reaches it is a
        core point on its own.
    algorithm
        Engine: ``"auto"``, ``"grid"`` (numba), ``"kdtree"`` or ``"brute"``
        (see :func:`geodesic_dbscan`); all give identical labels.
    progress
        Progress bars on stderr: ``None`` (at a terminal, long runs only),
        ``True`` or ``False``.
    count_edge_pairs
        Count the pairs on the edge of eps into ``info_["edge_pairs"]``
        (see :func:`geodesic_dbscan`; same labels, slower on large layers).
        Not available on Dask inputs.

    Attributes
    ----------
    labels_ : numpy.ndarray of int
        Cluster label per point (0, 1, ...), −1 for noise, in input order.
    core_sample_indices_ : numpy.ndarray of int
        Indices of the core points.
    components_ : numpy.ndarray of shape (n_core, 2)
        ``[lat, lon]`` degrees (WGS 84) of the core points.
    n_features_in_ : int
        2 (latitude and longitude).
    feature_names_in_ : numpy.ndarray of str
        Column names, when X is a DataFrame (not a GeoDataFrame) with string
        column names.
    info_ : dict
        The engine's diagnostics (``return_info`` of :func:`geodesic_dbscan`:
        engine used, unique points, pairs on the edge of eps when counted,
        chunks).

    Notes
    -----
    Unlike scikit-learn's DBSCAN, negative weights are refused (a weight is a
    score or a count here) and the coordinates are checked: latitudes in
    [−90, 90], longitudes in [−180, 180], finite. The antimeridian and the
    poles are ordinary places (distances are chords between unit vectors).

    Examples
    --------
    >>> import numpy as np
    >>> from geocity.dbscan import GeodesicDBSCAN
    >>> X = np.array([[0, 179.9], [0, -179.9], [0, 179.95], [40, 0]])  # [lat, lon]
    >>> est = GeodesicDBSCAN(eps_km=30, min_weight=2).fit(X)
    >>> est.labels_.tolist(), est.core_sample_indices_.tolist()
    ([0, 0, 0, -1], [0, 1, 2])
    >>> GeodesicDBSCAN(eps_km=30, min_weight=2).fit_predict(X, sample_weight=[1, 1, 0.5, 2]).tolist()
    [0, 0, 0, 1]
    """

    _parameter_constraints: dict = {
        "eps_km": [Interval(Real, 0.0, None, closed="neither")],
        "min_weight": [Interval(Real, 0.0, None, closed="neither")],
        "algorithm": [_Choices({"auto", "grid", "kdtree", "brute"})],
        "progress": ["boolean", None],
        "count_edge_pairs": ["boolean"],
    }

    def __init__(
        self, eps_km: float = 50.0, min_weight: float = 5.0, *, algorithm: str = "auto", progress: bool | None = None,
        count_edge_pairs: bool = False,
    ) -> None:
        self.eps_km = eps_km
        self.min_weight = min_weight
        self.algorithm = algorithm
        self.progress = progress
        self.count_edge_pairs = count_edge_pairs

    def _validate_params(self) -> None:
        """Every parameter checked (geocity's message for the numbers, then
        ``_parameter_constraints``); one :class:`~geocity.errors.ValidationError`
        naming each bad one."""
        problems: list[str] = []
        _validate.positive("eps_km", self.eps_km, unit="km", problems=problems)
        _validate.positive("min_weight", self.min_weight, problems=problems)
        _check_parameters(self, problems)

    def fit(self, X, y=None, sample_weight=None) -> "GeodesicDBSCAN":
        """Cluster the points ``X``.

        Parameters
        ----------
        X
            A GeoDataFrame (or GeoSeries) of points in any CRS (brought to
            WGS 84), or an array-like of shape ``(n, 2)``: ``[lat, lon]`` in
            degrees per row. A ``dask_geopandas.GeoDataFrame`` or a
            ``dask.array`` runs on the current Dask client
            (:func:`geocity.distributed.fit_estimator`: the fitted arrays are
            then dask arrays, same labels).
        y
            Ignored (scikit-learn convention).
        sample_weight
            Non-negative weight per point (default 1).

        Returns
        -------
        GeodesicDBSCAN
            The fitted estimator.
        """
        if type(X).__module__.partition(".")[0] in ("dask", "dask_geopandas", "dask_expr"):  # on Dask
            from .distributed import fit_estimator

            return fit_estimator(self, X, sample_weight)
        self._validate_params()
        lat, lon, labels = _as_points(self, X)
        w = None if sample_weight is None else _sample_weight(self, sample_weight, lat.size, labels)
        lab, core, info = geodesic_dbscan(
            lat, lon, eps_km=float(self.eps_km), min_weight=float(self.min_weight), weights=w,
            algorithm=self.algorithm, progress=self.progress, return_info=True,
            count_edge_pairs=bool(self.count_edge_pairs),
        )
        self.labels_ = lab
        self.core_sample_indices_ = np.flatnonzero(core)
        self.components_ = np.column_stack([lat, lon])[self.core_sample_indices_].copy()
        self.info_ = info
        return self

    def fit_predict(self, X, y=None, sample_weight=None) -> np.ndarray:
        """Fit and return ``labels_`` (see :meth:`fit`)."""
        return self.fit(X, sample_weight=sample_weight).labels_
