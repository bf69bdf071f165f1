"""The grid engine of :func:`geocity.dbscan.geodesic_dbscan`: its driver
(cells of side just below chord(eps)/sqrt(3), the phases and their blocks,
the labels); the numba kernels are in :mod:`geocity._grid_numba`. Internal;
the names are re-exported by :mod:`geocity.dbscan`."""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger("geocity.dbscan")


#: Points per block of the grid engine's phases (progress is updated per block).
GRID_BLOCK: int = 65_536

#: Phase timings (s) of the last grid run in this process (for the benchmarks).
GRID_TIMINGS: dict = {}


def _grid_kernels():
    """The numba kernels of the grid engine (compiled once, cached on disk)."""
    from . import _grid_numba as k

    return k


#: From this many points the grid engine's sort runs on several threads (:func:`_sort_keys`).
SORT_THREAD_MIN: int = 1 << 20


def _sort_keys(k, key: np.ndarray):
    """``(order, key[order])`` for ``order`` an argsort of ``key`` (ties in
    any order). From :data:`SORT_THREAD_MIN` keys: split into one bucket per
    thread by splitters drawn from a sample of the keys (equal keys share a
    bucket), each bucket sorted by NumPy on its own thread (NumPy releases
    the GIL), so the buckets laid end to end are sorted."""
    from ._threads import n_threads, thread_map

    t = n_threads()
    if len(key) < SORT_THREAD_MIN or t < 2:
        order = np.argsort(key)
        return order, key[order]
    sample = np.sort(key[:: max(1, len(key) // (1024 * t))])
    spl = np.unique(sample[(len(sample) * np.arange(1, t)) // t])
    counts = np.zeros((4 * t, len(spl) + 1), dtype=np.int64)
    k._bucket_counts(key, spl, counts)
    size = counts.sum(axis=0)
    edges = np.concatenate([[0], np.cumsum(size)])
    offs = edges[:-1][None, :] + np.cumsum(counts, axis=0) - counts  # chunk ch's start in bucket j
    bidx = np.empty(len(key), dtype=np.int64)
    bkey = np.empty(len(key), dtype=np.int64)
    k._bucket_scatter(key, spl, offs, bidx, bkey)

    def sort_bucket(j: int) -> None:
        a, b = edges[j], edges[j + 1]
        sub = np.argsort(bkey[a:b])
        bidx[a:b] = bidx[a:b][sub]
        bkey[a:b] = bkey[a:b][sub]

    for _ in thread_map(sort_bucket, range(len(size)), t):
        pass
    return bidx, bkey


def _cell_blocks(start: np.ndarray, nu: int) -> np.ndarray:
    """Cell boundaries of blocks of about :data:`GRID_BLOCK` points (at most ~100)."""
    size = max(GRID_BLOCK, -(-nu // 100))
    cuts = np.searchsorted(start, np.arange(size, nu, size))
    return np.unique(np.concatenate([[0], cuts, [len(start)]]))


def _chunked(nb, fn, *args, chunk: int = 8):
    """``fn(*args)`` with numba's dynamic scheduling in chunks of ``chunk``
    iterations (dense cells must not leave a thread idle)."""
    old = nb.get_parallel_chunksize()
    nb.set_parallel_chunksize(chunk)
    try:
        return fn(*args)
    finally:
        nb.set_parallel_chunksize(old)


def _dbscan_grid(X, w, r, min_weight, disable, **options):
    """:func:`_grid_run` with freed memory reused between its phases
    (:func:`geocity._memory.reuse_freed_memory`: 10^7 clumped points, eps 10
    km, 2nd call in a process, 4.4 s against 3.5 s; peak memory unchanged)."""
    from ._memory import reuse_freed_memory

    with reuse_freed_memory():
        return _grid_run(X, w, r, min_weight, disable, **options)


def _grid_run(X, w, r, min_weight, disable, *, count_edge: bool = False, strategy: str = "tree",
              skip: bool = True):
    """Exact weighted DBSCAN of unique unit vectors on a grid of cubes of side
    just below ``r / sqrt(3)`` (``r`` the chord of eps): any two points of a
    cube are within eps, and every neighbour of a point lies in the 5 x 5 x 5
    cubes around it (see :mod:`geocity._grid_numba` for the shortcuts, each
    decided by a bounding-box test with a safety margin, so the result is
    that of testing every pair). Compiled with numba; every phase runs on
    all of numba's threads. Memory: a few arrays of n plus the neighbour
    lists of the non-empty cubes.

    ``strategy``: ``"tree"`` (default; boxes of whole cells, of groups of
    leaves and of leaves of :data:`LEAF_POINTS` points), ``"cells"`` (boxes
    of whole cells only) or ``"pairs"`` (no box shortcut: every candidate
    pair tested); ``skip=False`` tests cell pairs already joined again. All
    give the same result (the slower ones are there for the tests).
    ``count_edge``: also count the pairs on the eps edge; without it the
    ``"tree"`` core test stops at ``min_weight`` (a point already known to
    be core tests no more pairs), which is most of its cost at large eps.

    Returns labels, core flags, the number of unordered pairs of input
    points on the eps edge (``None`` unless ``count_edge``), and the number
    of blocks processed; or ``None``
    if the grid cannot guarantee its invariant (never observed; the caller
    then uses the KD-tree engine)."""
    import time

    import numba as nb

    from .dbscan import EDGE_RTOL, _bar, _sq_threshold  # shared with the other engines

    k = _grid_kernels()
    t = {}
    t0 = time.perf_counter()
    s = r / np.sqrt(3.0) * (1.0 - 1e-6)
    n = int(np.floor(2.0 / s)) + 2
    # Morton bits of the sub-grid inside a cell: as many (up to 5) as int64 keys allow
    bits = int(max(0, min(5, (62 - 3 * np.log2(n)) // 3)))
    key = np.empty(len(X), dtype=np.int64)
    k._keys(X, s, n, bits, key)
    order, ks = _sort_keys(k, key)
    del key
    # chunks of the sorted keys that split no run of equal keys, for the parallel passes
    nthreads = nb.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba's config, set at import
    bounds = k._run_bounds(ks, max(1, min(len(ks) // 16_384, 16 * nthreads)))
    k._stabilise_chunks(ks, order, bounds)  # equal keys in input order: a duplicate's first is its lowest index
    # exact duplicates (equal keys, so in one run) merged, weights summed
    uid = np.empty(len(X), dtype=np.int64)
    rep = np.empty(len(X), dtype=np.int64)
    nloc = np.empty(len(bounds) - 1, dtype=np.int64)
    k._dedupe_chunks(X, ks, order, bounds, uid, rep, nloc)
    off = np.zeros(len(bounds), dtype=np.int64)
    np.cumsum(nloc, out=off[1:])
    nu = int(off[-1])
    inv = np.empty(len(X), dtype=np.int64)
    U = np.empty((nu, 3))
    first = np.empty(nu, dtype=np.int64)
    uks = np.empty(nu, dtype=np.int64)
    wu = np.empty(nu)
    mult = np.empty(nu, dtype=np.int64)
    k._gather_unique(X, np.asarray(w, dtype=np.float64), ks, order, bounds, off, uid, rep, 3 * bits, inv, U, first,
                     uks, wu, mult)
    del uid, rep
    ks = uks
    del order  # the unique points are in cell order already
    P = U
    del U
    w = wu
    m_ = mult
    new = np.ones(nu, dtype=bool)
    new[1:] = ks[1:] != ks[:-1]
    start = np.flatnonzero(new)
    del new
    ukeys = ks[start]
    del ks
    end = np.append(start[1:], nu)
    ucells = np.empty((len(start), 3), dtype=np.int64)
    ucells[:, 2] = ukeys % n
    ucells[:, 1] = (ukeys // n) % n
    ucells[:, 0] = ukeys // (n * n)
    t["sort"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    r2 = _sq_threshold(r)  # d2 <= r2  <=>  sqrt(d2) <= r, as in the other engines
    tol = EDGE_RTOL * r
    lo2, hi2 = (r * (1.0 - 2.0 * EDGE_RTOL)) ** 2, (r * (1.0 + 2.0 * EDGE_RTOL)) ** 2
    mg = k.BOX_MARGIN
    in2, out2 = lo2 * (1.0 - mg), hi2 * (1.0 + mg)
    rin2, rout2 = r2 * (1.0 - mg), r2 * (1.0 + mg)
    mc = len(start)
    lo = np.empty((mc, 3))
    hi = np.empty((mc, 3))
    _chunked(nb, k._cell_boxes, P, start, end, lo, hi, chunk=256)
    if np.any(((hi - lo) ** 2).sum(axis=1) >= in2):  # a cube's points must be within eps of each other
        return None
    counts = np.zeros(mc, dtype=np.int64)
    nbounds = np.unique(np.linspace(0, mc, max(2, min(mc, 64 * nb.config.NUMBA_NUM_THREADS)) + 1).astype(np.int64))  # type: ignore[attr-defined]  # numba sets it
    nbr = np.empty(0, dtype=np.int32)
    _chunked(nb, k._neighbours, ukeys, ucells, n, lo, hi, out2, nbounds, counts, counts, nbr, False, chunk=1)
    ptr = np.zeros(mc + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    del counts
    nbr = np.empty(int(ptr[-1]), dtype=np.int32)
    _chunked(nb, k._neighbours, ukeys, ucells, n, lo, hi, out2, nbounds, ptr, ptr, nbr, True, chunk=1)
    del ukeys, ucells
    W = np.empty(mc)
    k._cell_sums(w, start, end, W)
    tree = strategy == "tree"
    if tree:
        lptr, lbeg, lend, llo, lhi, lw = _leaves(k, P, w, start, end - start, LEAF_POINTS)
        gptr, gbeg, gend, glo, ghi, gw = _groups(k, lptr, llo, lhi, lw, LEAF_POINTS)
        # for the vectorised edge-band scan, only when the edge pairs are counted
        X_, Y_, Z_ = (np.ascontiguousarray(P[:, d]) if count_edge else np.empty(0) for d in range(3))
    t["cells"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    blocks = _cell_blocks(start, nu)
    n_blocks = 0
    wsum = np.zeros(nu)
    edge_n = np.zeros(nu, dtype=np.int64)
    with _bar(nu, "core test", disable) as bar:
        for ca, cb in zip(blocks[:-1], blocks[1:], strict=True):
            if tree:
                _chunked(nb, k._weight_sums_tree, P, X_, Y_, Z_, w, m_, start, end, lo, hi, ptr, nbr, W, gptr, gbeg,
                         gend, glo, ghi, gw, lbeg, lend, llo, lhi, lw, r2, lo2, hi2, r, tol, in2, out2,
                         float(min_weight), ca, cb, wsum, edge_n, count_edge)
            else:
                _chunked(nb, k._weight_sums, P, w, m_, start, end, lo, hi, W, ptr, nbr, r2, lo2, hi2, r, tol,
                         in2, out2, strategy == "cells", ca, cb, wsum, edge_n)
            bar.update(int(end[cb - 1] - start[ca]))
            n_blocks += 1
    # "tree" counts each unordered pair on the edge once, the others twice; only when asked
    edge_pairs = int((edge_n * m_).sum()) // (1 if tree else 2) if count_edge else None
    del edge_n, w, W
    if tree:
        del lptr, lbeg, lend, llo, lhi, lw, gptr, gbeg, gend, glo, ghi, gw, X_, Y_, Z_
    core = wsum >= min_weight
    del wsum
    t["core test"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # each cell's core points first (in their sorted order)
    perm = np.empty(nu, dtype=np.int64)
    ncore = np.empty(mc, dtype=np.int64)
    Q = np.empty(P.shape)
    qfs = np.empty(nu, dtype=np.int64)
    qcore = np.empty(nu, dtype=bool)
    _chunked(nb, k._cores_first, P, first, core, start, end, perm, ncore, Q, qfs, qcore, chunk=256)
    del P, first
    core = qcore
    _chunked(nb, k._core_boxes, Q, start, ncore, lo, hi, chunk=256)  # now boxes of the core points
    if tree:
        clptr, cbeg, cend, clo, chi, _ = _leaves(k, Q, np.empty(0), start, ncore, LEAF_POINTS)
    t["reorder"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # core links: union-find over cells, one forest per thread, then merged
    nthreads = nb.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]  # numba's config, set at import
    parents = np.empty((nthreads, mc), dtype=np.int64)
    parents[:] = np.arange(mc)
    cpts = np.cumsum(ncore)
    n_chunks = max(1, min(mc, 64 * nthreads))
    cuts = np.searchsorted(cpts, np.linspace(0, cpts[-1], n_chunks + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], cuts, [mc]]))
    with _bar(nu, "core links", disable) as bar:
        if tree:
            _chunked(nb, k._union_cells_tree, Q, ncore, lo, hi, ptr, nbr, clptr, cbeg, cend, clo, chi, r2, rin2,
                     rout2, bounds, parents, skip, chunk=1)
        else:
            _chunked(nb, k._union_cells, Q, start, ncore, lo, hi, ptr, nbr, r2, rin2, rout2, strategy == "cells",
                     bounds, parents, skip, chunk=1)
        bar.update(nu)
        n_blocks += 1
    root = np.empty(mc, dtype=np.int64)
    k._merge_forests(parents, ncore, root)
    del parents
    t["core links"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lab = _grid_labels(k, nb, Q, qfs, core, start, end, ncore, root, lo, hi, ptr, nbr, r2, rin2, rout2,
                       blocks, disable, strategy, (clptr, cbeg, cend, clo, chi) if tree else None)
    n_blocks += len(blocks) - 1
    del Q, qfs
    out_lab = np.empty(len(inv), dtype=np.int64)
    out_core = np.empty(len(inv), dtype=bool)
    k._to_input_order(lab, core, perm, inv, np.empty(nu, dtype=np.int64), np.empty(nu, dtype=bool), out_lab, out_core)
    del lab, core, perm, inv
    t["borders"] = time.perf_counter() - t0
    GRID_TIMINGS.clear()
    GRID_TIMINGS.update(t)
    return out_lab, out_core, edge_pairs, n_blocks, nu


def _grid_labels(k, nb, Q, fs, core, start, end, ncore, root, lo, hi, ptr, nbr, r2, rin2, rout2, blocks, disable,
                 strategy, leaves):
    """Cluster labels of the grid engine (points in its cell order): clusters
    numbered by their lowest-index core point (``fs``: lowest input index of
    each unique point), border points by :func:`_grid_numba._border_labels`."""
    nu, mc = len(Q), len(start)
    lab = np.full(nu, -1, dtype=np.int64)
    has = ncore > 0
    if not has.any():
        return lab
    cmin = np.full(mc, np.iinfo(np.int64).max)
    k._cell_first_cores(fs, start, ncore, cmin)  # each cell's core points come first
    hc = np.flatnonzero(has)
    keymin = np.full(mc, np.iinfo(np.int64).max)
    np.minimum.at(keymin, root[hc], cmin[hc])
    ur = np.unique(root[hc])
    rank = np.full(mc, -1, dtype=np.int64)
    rank[ur[np.argsort(keymin[ur], kind="stable")]] = np.arange(len(ur))
    clab = np.where(has, rank[root], -1)
    k._label_cores(start, ncore, clab, lab)
    from .dbscan import _bar

    with _bar(nu, "borders", disable) as bar:
        for ca, cb in zip(blocks[:-1], blocks[1:], strict=True):
            if leaves is not None:
                _chunked(nb, k._border_labels_tree, Q, start, end, ncore, lo, hi, clab, ptr, nbr, *leaves, r2, rin2,
                         rout2, ca, cb, lab)
            else:
                _chunked(nb, k._border_labels, Q, start, end, ncore, lo, hi, clab, ptr, nbr, r2, rin2, rout2,
                         strategy == "cells", ca, cb, lab)
            bar.update(int(end[cb - 1] - start[ca]))
    return lab


#: Points per leaf (and leaves per group) of the grid engine's boxes inside a cell.
LEAF_POINTS: int = 16


def _leaves(k, P, w, start, cnt, size):
    """Leaves of at most ``size`` consecutive points of each cell: ``(lptr,
    beg, end, lo, hi, w)`` (see :func:`_grid_numba._build_leaves`)."""
    nl = -(-cnt // size)
    lptr = np.zeros(len(start) + 1, dtype=np.int64)
    np.cumsum(nl, out=lptr[1:])
    m = int(lptr[-1])
    beg, end = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    lo, hi = np.empty((m, 3)), np.empty((m, 3))
    lw = np.empty(m if w.size else 0)
    k._build_leaves(P, w, start, cnt, size, lptr, beg, end, lo, hi, lw)
    return lptr, beg, end, lo, hi, lw


def _groups(k, lptr, llo, lhi, lw, size):
    """Groups of at most ``size`` consecutive leaves of each cell (see
    :func:`_grid_numba._build_groups`)."""
    ng = -(-np.diff(lptr) // size)
    gptr = np.zeros(len(lptr), dtype=np.int64)
    np.cumsum(ng, out=gptr[1:])
    m = int(gptr[-1])
    beg, end = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    lo, hi = np.empty((m, 3)), np.empty((m, 3))
    gw = np.empty(m)
    k._build_groups(lptr, size, gptr, beg, end, llo, lhi, lw, lo, hi, gw)
    return gptr, beg, end, lo, hi, gw
