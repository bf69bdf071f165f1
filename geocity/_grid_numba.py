"""numba kernels of the grid engine of :func:`geocity.cluster.geodesic_dbscan`.

They live at module level (not as closures) so that numba's on-disk cache
is reused by every new process; imported only when numba is installed.
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
def _weight_sums(P, w, cell_of, start, end, nbr, r2):
    n = P.shape[0]
    out = np.zeros(n)
    for p in nb.prange(n):
        c = cell_of[p]
        s = 0.0
        x, y, z = P[p, 0], P[p, 1], P[p, 2]
        for k in range(27):
            cc = nbr[c, k]
            if cc < 0:
                break
            for q in range(start[cc], end[cc]):
                dx = P[q, 0] - x
                dy = P[q, 1] - y
                dz = P[q, 2] - z
                if dx * dx + dy * dy + dz * dz <= r2:
                    s += w[q]
        out[p] = s
    return out


@nb.njit(cache=True)
def _union_cores(P, core, cell_of, start, end, nbr, r2):
    n = P.shape[0]
    parent = np.arange(n)
    for p in range(n):
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
                a = _find(parent, p)
                b = _find(parent, q)
                if a == b:
                    continue
                dx = P[q, 0] - x
                dy = P[q, 1] - y
                dz = P[q, 2] - z
                if dx * dx + dy * dy + dz * dz <= r2:
                    if a < b:
                        parent[b] = a
                    else:
                        parent[a] = b
    for p in range(n):
        parent[p] = _find(parent, p)
    return parent


@nb.njit(cache=True, parallel=True)
def _border_labels(P, core, lab, cell_of, start, end, nbr, r2):
    n = P.shape[0]
    out = lab.copy()
    big = np.iinfo(np.int64).max
    for p in nb.prange(n):
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
    return out
