"""numba kernels of the grid engine of :func:`geocity.dbscan.geodesic_dbscan`.

They live at module level (not as closures) so that numba's on-disk cache
is reused by every new process; imported only when numba is installed.

The grid
--------
Unit vectors are binned into cubes ("cells") of side ``s`` slightly below
``r / sqrt(3)`` (``r`` the chord of eps), so that **any two points of one
cell are within eps** of each other (the cell's diagonal is below ``r``).
A neighbour of a point then lies in its cell or in one of the cells at most
two steps away along each axis (a 5 x 5 x 5 block); the cell lists keep
only the cells whose *tight bounding boxes* (of the points actually in
them) come within ``r``.

Every shortcut is decided by a bounding-box test with a safety margin
(relative 1e-12 on squared distances, far above the few-ulp rounding of a
squared distance), so it gives exactly the result of testing every pair
with ``d2 <= r2``, ``r2`` the largest double whose square root is ``<= r``
(see :func:`geocity.dbscan._sq_threshold`) -- the KD-tree and brute-force
engines' ``sqrt(d2) <= r``:

* core test: a neighbour cell whose box lies wholly within ``r`` of a point
  (and clear of the eps edge band) adds its summed weight in one step; a
  cell wholly beyond is skipped; only the rest is tested point by point,
  and a point stops as soon as its sum reaches ``min_weight`` -- unless the
  pairs on the eps edge are to be counted (``count_edge_pairs``), which
  takes the scan of every cell straddling the eps sphere;
* core links: all core points of a cell are joined at once (one
  union-find node per cell); two neighbour cells are joined as soon as one
  core pair within eps is found (or their core boxes lie wholly within
  ``r``), and skipped when their roots already agree. The union runs on
  every thread: each owns a union-find over the cells for its chunks of
  cells (skipping the pairs it has already joined), and the per-thread
  forests are merged at the end (cheap: one pass over the cells per thread);
* borders: a non-core point takes the lowest label among the cells holding
  a core within eps (its own cell's, if it has cores, then only cells with
  a lower label, stopping at the first core within eps).

Work is ordered by cells (points sorted by cell key), so each kernel walks
memory in order; the parallel kernels take cells in dynamically scheduled
chunks so that dense cells do not leave a thread idle.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: Relative safety margin of every bounding-box shortcut (on squared distances).
BOX_MARGIN = 1e-12


@nb.njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@nb.njit(cache=True, parallel=True)
def _cell_boxes(P, start, end, lo, hi):
    """Tight bounding box ``lo``/``hi`` of each cell's points."""
    for c in nb.prange(start.size):
        for d in range(3):
            a = P[start[c], d]
            b = a
            for q in range(start[c] + 1, end[c]):
                v = P[q, d]
                if v < a:
                    a = v
                if v > b:
                    b = v
            lo[c, d] = a
            hi[c, d] = b


@nb.njit(cache=True, inline="always")
def _box_max2(x, y, z, lo, hi, c):
    """Largest squared distance from (x, y, z) to the box of cell ``c``."""
    a = max(abs(x - lo[c, 0]), abs(hi[c, 0] - x))
    b = max(abs(y - lo[c, 1]), abs(hi[c, 1] - y))
    d = max(abs(z - lo[c, 2]), abs(hi[c, 2] - z))
    return a * a + b * b + d * d


@nb.njit(cache=True, inline="always")
def _box_min2(x, y, z, lo, hi, c):
    """Smallest squared distance from (x, y, z) to the box of cell ``c``."""
    a = max(lo[c, 0] - x, 0.0, x - hi[c, 0])
    b = max(lo[c, 1] - y, 0.0, y - hi[c, 1])
    d = max(lo[c, 2] - z, 0.0, z - hi[c, 2])
    return a * a + b * b + d * d


@nb.njit(cache=True, inline="always")
def _boxes_min2(lo, hi, c, lo2, hi2, k):
    """Smallest squared distance between the box of cell ``c`` (lo, hi) and
    that of cell ``k`` (lo2, hi2)."""
    s = 0.0
    for d in range(3):
        g = max(lo2[k, d] - hi[c, d], 0.0, lo[c, d] - hi2[k, d])
        s += g * g
    return s


@nb.njit(cache=True, inline="always")
def _boxes_max2(lo, hi, c, lo2, hi2, k):
    """Largest squared distance between the boxes of cells ``c`` and ``k``."""
    s = 0.0
    for d in range(3):
        g = max(abs(hi2[k, d] - lo[c, d]), abs(hi[c, d] - lo2[k, d]))
        s += g * g
    return s


@nb.njit(cache=True, parallel=True)
def _neighbours(ukeys, ucells, n, lo, hi, out2, bounds, counts, ptr, idx, fill):
    """The cells of the 5 x 5 x 5 block around each cell whose box comes
    within ``out2`` (squared) of its box, itself included, in increasing order:
    their number into ``counts`` (``fill`` false), or the cells into
    ``idx[ptr[c]:ptr[c+1]]`` (``fill`` true).

    The 25 rows of 5 cells along z are key ranges; the start of each moves
    forward with the cell (keys are sorted), so each chunk of cells
    (``bounds``) walks 25 cursors along the keys instead of binary searches."""
    m = ukeys.size
    for ch in nb.prange(bounds.size - 1):
        a, b = bounds[ch], bounds[ch + 1]
        cur = np.empty(25, dtype=np.int64)
        j = 0
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                x, y = ucells[a, 0] + dx, ucells[a, 1] + dy
                cur[j] = np.searchsorted(ukeys, (x * n + y) * n + max(ucells[a, 2] - 2, 0))
                j += 1
        for c in range(a, b):
            cx, cy, cz = ucells[c, 0], ucells[c, 1], ucells[c, 2]
            z0 = max(cz - 2, 0)
            z1 = min(cz + 2, n - 1)
            k = 0
            j = 0
            for dx in range(-2, 3):
                for dy in range(-2, 3):
                    x, y = cx + dx, cy + dy
                    base = (x * n + y) * n
                    i = cur[j]
                    while i < m and ukeys[i] < base + z0:
                        i += 1
                    cur[j] = i
                    j += 1
                    if x < 0 or y < 0 or x >= n or y >= n:
                        continue
                    while i < m and ukeys[i] <= base + z1:
                        if _boxes_min2(lo, hi, c, lo, hi, i) <= out2:
                            if fill:
                                idx[ptr[c] + k] = i
                            k += 1
                        i += 1
            if not fill:
                counts[c] = k


@nb.njit(cache=True, parallel=True)
def _weight_sums(P, w, mult, start, end, lo, hi, W, ptr, nbr, r2, lo2, hi2, r, tol, in2, out2,
                 shortcuts, ca, cb, out, edge):
    """Summed weight within eps of the points of cells ``ca..cb-1`` into
    ``out``; into ``edge`` the number of input points (``mult``) at a
    distance ``d`` with ``|d - r| <= tol`` (``lo2``/``hi2``: a slightly wider
    band of ``d2`` in which the square root is taken). ``W``: summed weight
    per cell; ``in2``/``out2``: squared distances below/above which a whole
    cell is inside/outside eps and clear of the edge band."""
    for c in nb.prange(ca, cb):
        # cells wholly inside for every point of c: added once
        base = 0.0
        part = np.empty(ptr[c + 1] - ptr[c], dtype=np.int64)
        m = 0
        for t in range(ptr[c], ptr[c + 1]):
            k = nbr[t]
            if shortcuts and _boxes_max2(lo, hi, c, lo, hi, k) < in2:
                base += W[k]
            else:
                part[m] = k
                m += 1
        for p in range(start[c], end[c]):
            s = base
            e = 0
            x, y, z = P[p, 0], P[p, 1], P[p, 2]
            for j in range(m):
                k = part[j]
                if shortcuts:
                    if _box_max2(x, y, z, lo, hi, k) < in2:
                        s += W[k]
                        continue
                    if _box_min2(x, y, z, lo, hi, k) > out2:
                        continue
                for q in range(start[k], end[k]):
                    dx = P[q, 0] - x
                    dy = P[q, 1] - y
                    dz = P[q, 2] - z
                    d2 = dx * dx + dy * dy + dz * dz
                    if d2 <= r2:
                        s += w[q]
                    if d2 >= lo2 and d2 <= hi2:
                        if abs(np.sqrt(d2) - r) <= tol:
                            e += mult[q]
            out[p] = s
            edge[p] = e


@nb.njit(cache=True, parallel=True)
def _cell_sums(w, start, end, W):
    for c in nb.prange(start.size):
        s = 0.0
        for q in range(start[c], end[c]):
            s += w[q]
        W[c] = s


@nb.njit(cache=True, parallel=True)
def _cores_first(P, fs, core, start, end, perm, ncore, Q, qfs, qcore):
    """Permutation putting each cell's core points first (stable), the
    number of core points per cell, and the points (``Q``), their lowest
    input indices (``qfs``, from ``fs``) and core flags in that order."""
    for c in nb.prange(start.size):
        k = start[c]
        for p in range(start[c], end[c]):
            if core[p]:
                perm[k] = p
                k += 1
        ncore[c] = k - start[c]
        for p in range(start[c], end[c]):
            if not core[p]:
                perm[k] = p
                k += 1
        for q in range(start[c], end[c]):
            p = perm[q]
            Q[q, 0] = P[p, 0]
            Q[q, 1] = P[p, 1]
            Q[q, 2] = P[p, 2]
            qfs[q] = fs[p]
            qcore[q] = q < start[c] + ncore[c]


@nb.njit(cache=True, parallel=True)
def _cell_first_cores(qfs, start, ncore, cmin):
    """Lowest input index among each cell's core points (its first ``ncore``
    points); cells without cores untouched."""
    for c in nb.prange(start.size):
        m = cmin[c]
        for q in range(start[c], start[c] + ncore[c]):
            m = min(m, qfs[q])
        cmin[c] = m


@nb.njit(cache=True, parallel=True)
def _label_cores(start, ncore, clab, lab):
    """Each core point (the first ``ncore`` of its cell) takes its cell's label."""
    for c in nb.prange(start.size):
        for q in range(start[c], start[c] + ncore[c]):
            lab[q] = clab[c]


@nb.njit(cache=True, parallel=True)
def _to_input_order(lab, core, perm, inv, ulab, ucore, out_lab, out_core):
    """Labels and core flags from the cell order (position ``q`` holds unique
    point ``perm[q]``) to the input order (input point ``i`` is unique point
    ``inv[i]``), through ``ulab``/``ucore`` (those of each unique point)."""
    for q in nb.prange(lab.size):
        ulab[perm[q]] = lab[q]
        ucore[perm[q]] = core[q]
    for i in nb.prange(inv.size):
        out_lab[i] = ulab[inv[i]]
        out_core[i] = ucore[inv[i]]


@nb.njit(cache=True, parallel=True)
def _core_boxes(Q, start, ncore, lo, hi):
    """Bounding box of each cell's core points (cells without cores: untouched)."""
    for c in nb.prange(start.size):
        if ncore[c] == 0:
            continue
        for d in range(3):
            a = Q[start[c], d]
            b = a
            for q in range(start[c] + 1, start[c] + ncore[c]):
                v = Q[q, d]
                if v < a:
                    a = v
                if v > b:
                    b = v
            lo[c, d] = a
            hi[c, d] = b


@nb.njit(cache=True)
def _cells_touch(Q, start, ncore, lo, hi, c, k, r2, rin2, rout2, shortcuts):
    """Is some core point of cell ``c`` within eps of some core point of ``k``?"""
    if shortcuts and _boxes_max2(lo, hi, c, lo, hi, k) <= rin2:
        return True
    for p in range(start[c], start[c] + ncore[c]):
        x, y, z = Q[p, 0], Q[p, 1], Q[p, 2]
        if shortcuts and _box_min2(x, y, z, lo, hi, k) > rout2:
            continue
        for q in range(start[k], start[k] + ncore[k]):
            dx = Q[q, 0] - x
            dy = Q[q, 1] - y
            dz = Q[q, 2] - z
            if dx * dx + dy * dy + dz * dz <= r2:
                return True
    return False


@nb.njit(cache=True, parallel=True)
def _union_cells(Q, start, ncore, lo, hi, ptr, nbr, r2, rin2, rout2, shortcuts, bounds, parents, skip):
    """Join neighbouring cells holding core points within eps of each other.

    ``bounds``: chunks of cells (chunk ``i`` is cells ``bounds[i]..bounds[i+1]-1``);
    ``parents[t]``: the union-find over cells of thread ``t`` (updated in
    place). With ``skip`` false every candidate pair of cells is tested
    (no skipping of cells already joined; for the tests)."""
    for i in nb.prange(bounds.size - 1):
        par = parents[nb.get_thread_id()]
        for c in range(bounds[i], bounds[i + 1]):
            if ncore[c] == 0:
                continue
            for t in range(ptr[c], ptr[c + 1]):
                k = nbr[t]
                if k <= c or ncore[k] == 0:
                    continue
                ra = _find(par, c)
                rb = _find(par, k)
                if skip and ra == rb:
                    continue
                if _cells_touch(Q, start, ncore, lo, hi, c, k, r2, rin2, rout2, shortcuts):
                    if ra < rb:
                        par[rb] = ra
                    elif rb < ra:
                        par[ra] = rb


@nb.njit(cache=True)
def _merge_forests(parents, ncore, out):
    """One union-find ``out`` (flattened: every cell points at its root) from
    the per-thread forests ``parents``."""
    m = out.size
    for c in range(m):
        out[c] = c
    for t in range(parents.shape[0]):
        par = parents[t]
        for c in range(m):
            if par[c] == c:
                continue
            ra = _find(out, c)
            rb = _find(out, _find(par, c))
            if ra < rb:
                out[rb] = ra
            elif rb < ra:
                out[ra] = rb
    for c in range(m):
        out[c] = _find(out, c)


@nb.njit(cache=True, parallel=True)
def _border_labels(Q, start, end, ncore, lo, hi, clab, ptr, nbr, r2, rin2, rout2, shortcuts, ca, cb, out):
    """Label of the non-core points of cells ``ca..cb-1`` (after their cell's
    core points in ``Q``): the lowest cell label ``clab`` among the cells
    holding a core point within eps, -1 without one (into ``out``)."""
    big = np.iinfo(np.int64).max
    for c in nb.prange(ca, cb):
        own = clab[c] if ncore[c] > 0 else big
        for p in range(start[c] + ncore[c], end[c]):
            best = own  # every point of a cell is within eps of its cell's cores
            x, y, z = Q[p, 0], Q[p, 1], Q[p, 2]
            for t in range(ptr[c], ptr[c + 1]):
                k = nbr[t]
                if ncore[k] == 0 or clab[k] >= best:
                    continue
                if shortcuts:
                    if _box_max2(x, y, z, lo, hi, k) <= rin2:
                        best = clab[k]
                        continue
                    if _box_min2(x, y, z, lo, hi, k) > rout2:
                        continue
                for q in range(start[k], start[k] + ncore[k]):
                    dx = Q[q, 0] - x
                    dy = Q[q, 1] - y
                    dz = Q[q, 2] - z
                    if dx * dx + dy * dy + dz * dz <= r2:
                        best = clab[k]
                        break
            out[p] = best if best != big else -1


@nb.njit(cache=True, parallel=True)
def _keys(U, s, n, bits, key):
    """Sort key of each point: its cell ``(x * n + y) * n + z`` (cells of side
    ``s`` on [-1, 1]^3), then the Morton code of its position on a
    ``2**bits`` sub-grid of the cell (so that runs of consecutive points of
    a cell are compact)."""
    f = float(1 << bits)
    top = (1 << bits) - 1
    for i in nb.prange(U.shape[0]):
        k = 0
        code = 0
        for d in range(3):
            v = (U[i, d] + 1.0) / s
            c = np.floor(v)
            k = k * n + np.int64(c)
            sub = np.int64(np.floor((v - c) * f))
            sub = min(max(sub, 0), top)
            for b in range(bits):
                code |= ((sub >> b) & 1) << (3 * b + d)
        key[i] = (k << (3 * bits)) | code


@nb.njit(cache=True, parallel=True)
def _build_leaves(P, w, start, cnt, size, lptr, lbeg, lend, llo, lhi, lw):
    """Leaves: runs of at most ``size`` consecutive points of each cell
    (points ``start[c] .. start[c] + cnt[c] - 1``), cell ``c`` owning leaves
    ``lptr[c] .. lptr[c+1]-1``; their point ranges, tight boxes and summed
    weights (``w`` may be empty: no weights)."""
    for c in nb.prange(start.size):
        a = start[c]
        e = start[c] + cnt[c]
        for j in range(lptr[c], lptr[c + 1]):
            b = min(a + size, e)
            lbeg[j] = a
            lend[j] = b
            sw = 0.0
            for d in range(3):
                lo = P[a, d]
                hi = lo
                for q in range(a + 1, b):
                    v = P[q, d]
                    if v < lo:
                        lo = v
                    if v > hi:
                        hi = v
                llo[j, d] = lo
                lhi[j, d] = hi
            if w.size:
                for q in range(a, b):
                    sw += w[q]
                lw[j] = sw
            a = b


@nb.njit(cache=True, parallel=True)
def _build_groups(lptr, size, gptr, gbeg, gend, llo, lhi, lw, glo, ghi, gw):
    """Groups: runs of at most ``size`` consecutive leaves of each cell (cell
    ``c`` owning groups ``gptr[c] .. gptr[c+1]-1``); their leaf ranges, boxes
    and summed weights."""
    for c in nb.prange(lptr.size - 1):
        a = lptr[c]
        e = lptr[c + 1]
        for g in range(gptr[c], gptr[c + 1]):
            b = min(a + size, e)
            gbeg[g] = a
            gend[g] = b
            sw = 0.0
            for d in range(3):
                lo = llo[a, d]
                hi = lhi[a, d]
                for j in range(a + 1, b):
                    if llo[j, d] < lo:
                        lo = llo[j, d]
                    if lhi[j, d] > hi:
                        hi = lhi[j, d]
                glo[g, d] = lo
                ghi[g, d] = hi
            if lw.size:
                for j in range(a, b):
                    sw += lw[j]
                gw[g] = sw
            a = b


@nb.njit(cache=True)
def _band_candidates(X, Y, Z, a, b, x, y, z, lo2, hi2):
    """Number of points ``a..b-1`` (coordinates ``X``, ``Y``, ``Z``) whose
    squared distance to (x, y, z) lies in ``[lo2, hi2]``; branch-free so that
    the compiler vectorises it (no floating-point reduction)."""
    cnt = 0
    for q in range(a, b):
        dx = X[q] - x
        dy = Y[q] - y
        dz = Z[q] - z
        d2 = dx * dx + dy * dy + dz * dz
        cnt += (d2 >= lo2) & (d2 <= hi2)
    return cnt


@nb.njit(cache=True)
def _scan_leaf(P, w, mult, X, Y, Z, a, b, x, y, z, r2, lo2, hi2, r, tol, weigh, band):
    """Weight within eps (if ``weigh``) and input points on the eps edge (if
    ``band``) among the points ``a..b-1``."""
    s = 0.0
    e = 0
    if weigh:
        for q in range(a, b):
            dx = P[q, 0] - x
            dy = P[q, 1] - y
            dz = P[q, 2] - z
            if dx * dx + dy * dy + dz * dz <= r2:
                s += w[q]
    if band and _band_candidates(X, Y, Z, a, b, x, y, z, lo2, hi2):
        for q in range(a, b):
            dx = P[q, 0] - x
            dy = P[q, 1] - y
            dz = P[q, 2] - z
            d2 = dx * dx + dy * dy + dz * dz
            if d2 >= lo2 and d2 <= hi2 and abs(np.sqrt(d2) - r) <= tol:
                e += mult[q]
    return s, e


@nb.njit(cache=True)
def _scan_cell(P, w, mult, X, Y, Z, x, y, z, k, gptr, gbeg, gend, glo, ghi, gw, lbeg, lend, llo, lhi, lw,
               r2, lo2, hi2, r, tol, in2, out2, weigh, band):
    """Summed weight (if ``weigh``) of the points of cell ``k`` within eps of
    (x, y, z), and (if ``band``) the number of input points of ``k`` on the
    eps edge, through the cell's groups of leaves and leaves: a box wholly
    inside (and clear of the edge band) adds its weight, a box wholly beyond
    is skipped, only the leaves straddling the eps sphere are tested point
    by point. Returns ``(weight, edge count)``."""
    s = 0.0
    e = 0
    single = gptr[k + 1] - gptr[k] == 1
    for g in range(gptr[k], gptr[k + 1]):
        if not single:
            if _box_max2(x, y, z, glo, ghi, g) < in2:
                s += gw[g]
                continue
            if _box_min2(x, y, z, glo, ghi, g) > out2:
                continue
        for f in range(gbeg[g], gend[g]):
            if _box_max2(x, y, z, llo, lhi, f) < in2:
                s += lw[f]
                continue
            if _box_min2(x, y, z, llo, lhi, f) > out2:
                continue
            ds, de = _scan_leaf(P, w, mult, X, Y, Z, lbeg[f], lend[f], x, y, z, r2, lo2, hi2, r, tol, weigh, band)
            s += ds
            e += de
    return s, e


@nb.njit(cache=True, parallel=True)
def _weight_sums_tree(P, X, Y, Z, w, mult, start, end, lo, hi, ptr, nbr, W, gptr, gbeg, gend, glo, ghi, gw,
                      lbeg, lend, llo, lhi, lw, r2, lo2, hi2, r, tol, in2, out2, min_weight, ca, cb, out, edge,
                      count_edge):
    """:func:`_weight_sums` with two levels of boxes inside each neighbour
    cell (see :func:`_scan_cell`), and these savings: a point whose cell's
    wholly-inside neighbour cells already reach ``min_weight`` is a core
    point (``out`` gets that partial sum); it then tests no pair at all,
    or, if ``count_edge``, only looks for pairs on the eps edge. Without
    ``count_edge`` any point stops at the first neighbour cell that brings
    its sum to ``min_weight`` (weights are non-negative, so a partial sum
    that reaches it is a core point, and one that never does is the full
    sum, added in the same order as with ``count_edge``). With it, each
    unordered pair on the edge is counted once, by the point of the lower
    cell (``edge[p]``: input points of higher cells on the edge; no edge
    pair lies within one cell)."""
    for c in nb.prange(ca, cb):
        base = 0.0
        part = np.empty(ptr[c + 1] - ptr[c], dtype=np.int64)
        m = 0
        for t in range(ptr[c], ptr[c + 1]):
            k = nbr[t]
            if _boxes_max2(lo, hi, c, lo, hi, k) < in2:
                base += W[k]
            else:
                part[m] = k
                m += 1
        decided = base >= min_weight
        for p in range(start[c], end[c]):
            s = base
            e = 0
            if decided and not count_edge:
                out[p] = s
                edge[p] = 0
                continue
            x, y, z = P[p, 0], P[p, 1], P[p, 2]
            for j in range(m):
                k = part[j]
                if decided and k < c:
                    continue
                if not count_edge and s >= min_weight:
                    break
                if _box_max2(x, y, z, lo, hi, k) < in2:
                    s += W[k]
                    continue
                if _box_min2(x, y, z, lo, hi, k) > out2:
                    continue
                ds, de = _scan_cell(P, w, mult, X, Y, Z, x, y, z, k, gptr, gbeg, gend, glo, ghi, gw, lbeg, lend,
                                    llo, lhi, lw, r2, lo2, hi2, r, tol, in2, out2, not decided, count_edge and k > c)
                s += ds
                e += de
            out[p] = s
            edge[p] = e


@nb.njit(cache=True)
def _leaf_hit(Q, x, y, z, clptr, cbeg, cend, clo, chi, k, r2, rin2, rout2):
    """Is some core point of cell ``k`` (its core leaves) within eps of (x, y, z)?"""
    for f in range(clptr[k], clptr[k + 1]):
        if _box_max2(x, y, z, clo, chi, f) <= rin2:
            return True
        if _box_min2(x, y, z, clo, chi, f) > rout2:
            continue
        for q in range(cbeg[f], cend[f]):
            dx = Q[q, 0] - x
            dy = Q[q, 1] - y
            dz = Q[q, 2] - z
            if dx * dx + dy * dy + dz * dz <= r2:
                return True
    return False


@nb.njit(cache=True)
def _cells_touch_tree(Q, lo, hi, clptr, cbeg, cend, clo, chi, c, k, r2, rin2, rout2):
    """Is some core point of cell ``c`` within eps of some core point of ``k``?
    (Core leaves of ``c`` against the core box of ``k``, then point by point
    against the core leaves of ``k``.)"""
    if _boxes_max2(lo, hi, c, lo, hi, k) <= rin2:
        return True
    for f in range(clptr[c], clptr[c + 1]):
        if _boxes_min2(clo, chi, f, lo, hi, k) > rout2:
            continue
        for p in range(cbeg[f], cend[f]):
            x, y, z = Q[p, 0], Q[p, 1], Q[p, 2]
            if _box_min2(x, y, z, lo, hi, k) > rout2:
                continue
            if _leaf_hit(Q, x, y, z, clptr, cbeg, cend, clo, chi, k, r2, rin2, rout2):
                return True
    return False


@nb.njit(cache=True, parallel=True)
def _union_cells_tree(Q, ncore, lo, hi, ptr, nbr, clptr, cbeg, cend, clo, chi, r2, rin2, rout2, bounds,
                      parents, skip):
    """:func:`_union_cells` with the core points of each cell in leaves."""
    for i in nb.prange(bounds.size - 1):
        par = parents[nb.get_thread_id()]
        for c in range(bounds[i], bounds[i + 1]):
            if ncore[c] == 0:
                continue
            for t in range(ptr[c], ptr[c + 1]):
                k = nbr[t]
                if k <= c or ncore[k] == 0:
                    continue
                ra = _find(par, c)
                rb = _find(par, k)
                if skip and ra == rb:
                    continue
                if _cells_touch_tree(Q, lo, hi, clptr, cbeg, cend, clo, chi, c, k, r2, rin2, rout2):
                    if ra < rb:
                        par[rb] = ra
                    elif rb < ra:
                        par[ra] = rb


@nb.njit(cache=True, parallel=True)
def _border_labels_tree(Q, start, end, ncore, lo, hi, clab, ptr, nbr, clptr, cbeg, cend, clo, chi, r2, rin2,
                        rout2, ca, cb, out):
    """:func:`_border_labels` with the core points of each cell in leaves."""
    big = np.iinfo(np.int64).max
    for c in nb.prange(ca, cb):
        own = clab[c] if ncore[c] > 0 else big
        for p in range(start[c] + ncore[c], end[c]):
            best = own
            x, y, z = Q[p, 0], Q[p, 1], Q[p, 2]
            for t in range(ptr[c], ptr[c + 1]):
                k = nbr[t]
                if ncore[k] == 0 or clab[k] >= best:
                    continue
                if _box_max2(x, y, z, lo, hi, k) <= rin2:
                    best = clab[k]
                    continue
                if _box_min2(x, y, z, lo, hi, k) > rout2:
                    continue
                if _leaf_hit(Q, x, y, z, clptr, cbeg, cend, clo, chi, k, r2, rin2, rout2):
                    best = clab[k]
            out[p] = best if best != big else -1


@nb.njit(cache=True, parallel=True)
def _run_bounds(ks, nch):
    """``nch + 1`` boundaries cutting the sorted keys ``ks`` into chunks of
    about equal length, each cut moved forward to the start of a run of
    equal keys (so that no run, and no set of duplicates, spans two chunks)."""
    n = ks.size
    b = np.empty(nch + 1, dtype=np.int64)
    for c in nb.prange(nch + 1):
        i = min(n, (n * c) // nch)
        while 0 < i < n and ks[i] == ks[i - 1]:
            i += 1
        b[c] = i
    return b


@nb.njit(cache=True, parallel=True)
def _stabilise_chunks(ks, order, bounds):
    """Within each run of equal sorted keys, the input indices in increasing
    order (an unstable sort made stable), on the chunks of
    :func:`_run_bounds` in parallel."""
    for ch in nb.prange(bounds.size - 1):
        a = bounds[ch]
        end = bounds[ch + 1]
        while a < end:
            b = a + 1
            while b < end and ks[b] == ks[a]:
                b += 1
            if b - a > 1:
                order[a:b] = np.sort(order[a:b])
            a = b


@nb.njit(cache=True, parallel=True)
def _dedupe_chunks(X, ks, order, bounds, uid, rep, nloc):
    """Exact duplicates among points sorted by key (``ks``: the sorted keys,
    ``order``: the sort; equal points have equal keys, so they sit in one run
    of equal keys, in one chunk of :func:`_run_bounds`), chunk by chunk in
    parallel, with unique points numbered in sorted order and locally to
    their chunk: ``uid[i]`` the local number of the unique
    point of sorted position ``i``, ``rep[a + u]`` (``a`` the chunk's start)
    the sorted position of the first point of local unique point ``u``,
    ``nloc[ch]`` the chunk's number of unique points."""
    for ch in nb.prange(bounds.size - 1):
        a0 = bounds[ch]
        end = bounds[ch + 1]
        nu = 0
        a = a0
        while a < end:
            b = a + 1
            while b < end and ks[b] == ks[a]:
                b += 1
            u0 = nu
            for i in range(a, b):
                p = order[i]
                found = -1
                for u in range(u0, nu):
                    q = order[rep[a0 + u]]
                    if X[p, 0] == X[q, 0] and X[p, 1] == X[q, 1] and X[p, 2] == X[q, 2]:
                        found = u
                        break
                if found < 0:
                    rep[a0 + nu] = i
                    found = nu
                    nu += 1
                uid[i] = found
            a = b
        nloc[ch] = nu


@nb.njit(cache=True, parallel=True)
def _gather_unique(X, w, ks, order, bounds, off, uid, rep, shift, inv, U, first, uks, wu, mult):
    """The unique points in sorted order, from :func:`_dedupe_chunks` and the
    chunks' offsets ``off`` (exclusive prefix sums of their unique counts):
    ``U``/``first``/``uks``: coordinates, lowest input index and cell key
    (``ks >> shift``) of each; ``wu``/``mult``: summed weight and number of
    input points of each, added in sorted order (as ``np.bincount`` would);
    ``inv``: the unique point of each input point."""
    for ch in nb.prange(bounds.size - 1):
        a = bounds[ch]
        o = off[ch]
        for u in range(off[ch + 1] - o):
            i = rep[a + u]
            f = order[i]
            first[o + u] = f
            U[o + u, 0] = X[f, 0]
            U[o + u, 1] = X[f, 1]
            U[o + u, 2] = X[f, 2]
            uks[o + u] = ks[i] >> shift
            wu[o + u] = 0.0
            mult[o + u] = 0
        for i in range(a, bounds[ch + 1]):
            g = uid[i] + o
            p = order[i]
            inv[p] = g
            wu[g] += w[p]
            mult[g] += 1


@nb.njit(cache=True, inline="always")
def _bucket_of(v, spl):
    """Number of splitters ``<= v`` (``spl`` sorted, a handful)."""
    j = 0
    while j < spl.size and spl[j] <= v:
        j += 1
    return j


@nb.njit(cache=True, parallel=True)
def _bucket_counts(key, spl, counts):
    """``counts[ch, j]``: keys of chunk ``ch`` (of ``counts.shape[0]`` equal
    chunks) in bucket ``j`` (between splitters ``j - 1`` and ``j``)."""
    n = key.size
    nch = counts.shape[0]
    for ch in nb.prange(nch):
        for i in range(n * ch // nch, n * (ch + 1) // nch):
            counts[ch, _bucket_of(key[i], spl)] += 1


@nb.njit(cache=True, parallel=True)
def _bucket_scatter(key, spl, offs, bidx, bkey):
    """Indices and keys grouped by bucket (chunk ``ch``'s keys of bucket
    ``j`` from ``offs[ch, j]``), in input order within each bucket."""
    n = key.size
    nch = offs.shape[0]
    for ch in nb.prange(nch):
        pos = offs[ch].copy()
        for i in range(n * ch // nch, n * (ch + 1) // nch):
            j = _bucket_of(key[i], spl)
            bidx[pos[j]] = i
            bkey[pos[j]] = key[i]
            pos[j] += 1
