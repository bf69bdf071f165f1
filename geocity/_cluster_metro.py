"""The metropolitan cut of :class:`geocity.cluster.CityClusters` (``method="metro"``).

Zahn's inconsistent-edge rule on one DBSCAN region: its minimum spanning tree
in great-circle km (:func:`_mst_edges`, Prim, deterministic ties), every link
longer than ``min_gap_km`` and than ``ratio`` times the local spacing cut, and
a cut undone where it would leave a ranked city in a piece too small or
without a core city (:func:`_gap_split`). The method and its defaults are
described in :mod:`geocity.cluster` (*The metropolitan cut*); the names are
re-exported there.
"""

from __future__ import annotations

import numpy as np


def _mst_edges(D: np.ndarray) -> list[tuple[int, int, float]]:
    """Edges ``(i, j, km)`` of a minimum spanning tree of the complete graph
    with distances ``D`` (Prim's algorithm; ties go to the lower index, so
    the tree is deterministic; zero distances are edges like any other)."""
    n = len(D)
    if n < 2:
        return []
    in_tree = np.zeros(n, dtype=bool)
    in_tree[0] = True
    best = D[0].astype(float).copy()
    parent = np.zeros(n, dtype=np.int64)
    edges = []
    for _ in range(n - 1):
        cand = np.where(in_tree, np.inf, best)
        j = int(np.argmin(cand))
        edges.append((int(parent[j]), j, float(D[parent[j], j])))
        in_tree[j] = True
        closer = ~in_tree & (D[j] < best)
        best[closer] = D[j][closer]
        parent[closer] = j
    return edges


def _gap_split(
    D: np.ndarray,
    ratio: float,
    depth: int,
    min_gap_km: float,
    min_members: int = 1,
    anchor: np.ndarray | None = None,
    core: np.ndarray | None = None,
) -> np.ndarray:
    """Components of a region after its **inconsistent** spanning-tree links
    are cut (Zahn 1971; module docstring, ``method="metro"``).

    A tree edge longer than ``min_gap_km`` is inconsistent when it exceeds
    ``ratio`` times the mean length of the tree edges within ``depth`` steps
    of either end (not through the edge itself). A side with no other edge (a
    leaf) gives no evidence. A piece with fewer than ``min_members`` members
    or without a ``core`` member that holds an ``anchor`` member (a ranked
    city) gets its shortest cut link back (smallest piece first), so a cut
    never turns a ranked city into noise; other such pieces are left as they
    are (noise later). Returns a label per member (0, 1,
    ...), in the order of each component's first member.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(D)
    edges = _mst_edges(D)
    nbrs: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, (a, b, _d) in enumerate(edges):
        nbrs[a].append((b, k))
        nbrs[b].append((a, k))

    def side(u: int, banned: int) -> list[float]:
        out, frontier, seen = [], [u], {u}
        for _ in range(int(depth)):
            nxt = []
            for x in frontier:
                for y, k in nbrs[x]:
                    if k == banned or y in seen:
                        continue
                    seen.add(y)
                    out.append(edges[k][2])
                    nxt.append(y)
            frontier = nxt
        return out

    kept = np.array(
        [not (d > min_gap_km and any((lengths := side(u, k)) and d > ratio * float(np.mean(lengths))
                                     for u in (a, b)))
         for k, (a, b, d) in enumerate(edges)], dtype=bool)
    ea = np.array([e[0] for e in edges], dtype=np.int64)
    eb = np.array([e[1] for e in edges], dtype=np.int64)
    elen = np.array([e[2] for e in edges], dtype=float)
    g = coo_matrix((np.ones(int(kept.sum())), (ea[kept], eb[kept])), shape=(n, n))
    comp = connected_components(g, directed=False)[1].astype(np.int64)
    # a too small or core-less piece holding a ranked city is no break: restore its shortest cut link
    # (smallest piece first); labels stay those of the first pieces (a merged piece takes the lower one)
    anchor = np.ones(n, dtype=bool) if anchor is None else np.asarray(anchor, dtype=bool)
    core = np.ones(n, dtype=bool) if core is None else np.asarray(core, dtype=bool)
    while True:
        sizes = np.bincount(comp, minlength=n)
        held = np.bincount(comp, weights=anchor.astype(float), minlength=n) > 0
        seeded = np.bincount(comp, weights=core.astype(float), minlength=n) > 0
        labs = np.flatnonzero(sizes)
        small = labs[((sizes[labs] < min_members) | ~seeded[labs]) & held[labs]]
        if len(labs) <= 1 or not len(small):
            break
        s = small[np.lexsort((-small, sizes[small]))[0]]
        cut = np.flatnonzero(~kept & ((comp[ea] == s) != (comp[eb] == s)))
        k = cut[np.lexsort((cut, elen[cut]))[0]]
        kept[k] = True
        lo, hi = sorted((int(comp[ea[k]]), int(comp[eb[k]])))
        comp[comp == hi] = lo
    return np.unique(comp, return_inverse=True)[1].astype(np.int64).reshape(-1)
