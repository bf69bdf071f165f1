"""numba kernels of the grid engine of :func:`geocity.cluster.geodesic_dbscan`.

They live at module level (not as closures) so that numba's on-disk cache
is reused by every new process; imported only when numba is installed.

The point kernels work on a block ``[a, b)`` of the points (sorted by cell,
so a block is a run of whole or partial cells) and write into arrays the
caller owns: the caller walks the blocks and updates a progress bar between
them. Within ``eps`` means ``d2 <= r2`` with ``r2`` the largest double whose
square root is ``<= r`` (see :func:`geocity.cluster._sq_threshold`), i.e.
exactly the KD-tree and brute-force engines' ``sqrt(d2) <= r``.
"""

from __future__ import annotations

import numba as nb
import numpy as np


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


@nb.njit(cache=True)
def _cell_lookup(ukeys, key):
    i = np.searchsorted(ukeys, key)
    if i < ukeys.size and ukeys[i] == key:
        return i
    return -1


@nb.njit(cache=True)
def _neighbour_cells(ukeys, ucells, ny, nz):
    """For each cell, indices of the (up to 27) existing neighbour cells."""
    m = ukeys.size
    out = np.full((m, 27), -1, dtype=np.int32)
    for c in range(m):
        cx, cy, cz = ucells[c, 0], ucells[c, 1], ucells[c, 2]
        k = 0
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                for dz in range(-1, 2):
                    x, y, z = cx + dx, cy + dy, cz + dz
                    if x < 0 or y < 0 or z < 0 or y >= ny or z >= nz:
                        continue
                    j = _cell_lookup(ukeys, (x * ny + y) * nz + z)
                    if j >= 0:
                        out[c, k] = j
                        k += 1
    return out


@nb.njit(cache=True, parallel=True)
def _weight_sums(P, w, mult, cell_of, start, end, nbr, r2, lo2, hi2, r, tol, a, b, out, edge):
    """Summed weight within eps of points ``a..b-1`` into ``out``; into
    ``edge`` the number of input points (``mult``) at a distance ``d`` with
    ``|d - r| <= tol`` (``lo2``/``hi2``: a slightly wider band of ``d2`` in
    which the square root is taken)."""
    for p in nb.prange(a, b):
        c = cell_of[p]
        s = 0.0
        e = 0
        x, y, z = P[p, 0], P[p, 1], P[p, 2]
        for k in range(27):
            cc = nbr[c, k]
            if cc < 0:
                break
            for q in range(start[cc], end[cc]):
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


@nb.njit(cache=True)
def _union_cores(P, core, cell_of, start, end, nbr, r2, parent, a, b):
    """Join core points ``a..b-1`` with their core neighbours of higher index
    (union-find in ``parent``, in place)."""
    for p in range(a, b):
        if not core[p]:
            continue
        c = cell_of[p]
        x, y, z = P[p, 0], P[p, 1], P[p, 2]
        for k in range(27):
            cc = nbr[c, k]
            if cc < 0:
                break
            for q in range(start[cc], end[cc]):
                if q <= p or not core[q]:
                    continue
                ra = _find(parent, p)
                rb = _find(parent, q)
                if ra == rb:
                    continue
                dx = P[q, 0] - x
                dy = P[q, 1] - y
                dz = P[q, 2] - z
                if dx * dx + dy * dy + dz * dz <= r2:
                    if ra < rb:
                        parent[rb] = ra
                    else:
                        parent[ra] = rb


@nb.njit(cache=True)
def _flatten(parent):
    """Point every element of the union-find straight at its root."""
    for p in range(parent.size):
        parent[p] = _find(parent, p)


@nb.njit(cache=True, parallel=True)
def _border_labels(P, core, lab, cell_of, start, end, nbr, r2, out, a, b):
    """Label of the non-core points ``a..b-1``: the lowest label among their
    core neighbours, -1 without one (written into ``out``)."""
    big = np.iinfo(np.int64).max
    for p in nb.prange(a, b):
        if core[p]:
            continue
        c = cell_of[p]
        best = big
        x, y, z = P[p, 0], P[p, 1], P[p, 2]
        for k in range(27):
            cc = nbr[c, k]
            if cc < 0:
                break
            for q in range(start[cc], end[cc]):
                if not core[q] or lab[q] >= best:
                    continue
                dx = P[q, 0] - x
                dy = P[q, 1] - y
                dz = P[q, 2] - z
                if dx * dx + dy * dy + dz * dz <= r2:
                    best = lab[q]
        out[p] = best if best != big else -1
