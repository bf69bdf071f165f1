"""The pole-catchment split of :class:`geocity.cluster.CityClusters`.

A DBSCAN region (or a metro piece) wider than ``max_span_km`` is split into
catchments around its strongest core cities (:func:`_split_region`, steps 1–3
of *Why plain DBSCAN is not enough, and the split* in :mod:`geocity.cluster`),
and catchments smaller than ``min_members`` join the one they are linked to
by the shortest DBSCAN link (:func:`_merge_small`, step 4), so a split never
turns a city into noise. Used by ``method="split"`` and by the last step of
``method="metro"``; the names are re-exported from :mod:`geocity.cluster`.
"""

from __future__ import annotations

import logging

import numpy as np

#: The estimator's logger (INFO records of merged catchments), one name for all its modules.
log = logging.getLogger("geocity.cluster")


def _split_region(
    D: np.ndarray,
    adj: np.ndarray,
    core: np.ndarray,
    score: np.ndarray,
    order_key: np.ndarray,
    radius_km: float,
    min_members: int = 1,
) -> np.ndarray:
    """Partition one DBSCAN cluster into pole catchments (see module docstring).

    ``D`` pairwise km among the members, ``adj`` the within-eps relation
    (:func:`_pairwise`), ``core`` their core flags. Catchments with fewer
    than ``min_members`` members are merged into a linked one (step 4), so no
    member is lost. Returns a sub-label per member (0, 1, ...) in the order
    the poles were taken.
    """
    n = len(D)
    sub = np.full(n, -1, dtype=np.int64)
    link = adj & core[None, :]  # i -> core j within eps
    # poles in decreasing score, ties by the stable order key (city_id)
    cand = np.lexsort((order_key, -score))
    k = 0
    for p in cand:
        if sub[p] != -1 or not core[p]:
            continue
        inside = D[p] <= radius_km
        sub[p] = k
        stack = [p]
        while stack:
            q = stack.pop()
            nb = np.flatnonzero(link[q] & inside & (sub == -1))
            sub[nb] = k
            stack.extend(nb.tolist())
        # border members (non-core) within eps of a claimed core and inside the radius
        claimed_core = (sub == k) & core
        near = adj[:, claimed_core].any(axis=1) & inside & (sub == -1) & ~core
        sub[near] = k
        k += 1
    # non-core members left out: join the catchment of their nearest core
    left = np.flatnonzero(sub == -1)
    if len(left):
        cores = np.flatnonzero(core)
        nearest = cores[np.argmin(D[np.ix_(left, cores)], axis=1)]
        sub[left] = sub[nearest]
    if int(min_members) > 1:
        sub = _merge_small(sub, D, adj, core, int(min_members), order_key)
    return sub


def _merge_small(
    sub: np.ndarray, D: np.ndarray, adj: np.ndarray, core: np.ndarray, min_members: int,
    names: np.ndarray | None = None,
) -> np.ndarray:
    """Step 4 of the split: while a catchment has fewer than ``min_members``
    members (and there are two or more), the smallest (ties: the one taken
    last) joins the catchment holding its shortest DBSCAN link (a pair within
    eps with a core at one end; ties: the lower label). A density-connected
    region always has such a link between any catchment and the rest, so
    members only move, never drop out. Labels are renumbered 0, 1, ... in
    the order of the poles."""
    sub = sub.copy()
    while True:
        labs, sizes = np.unique(sub, return_counts=True)
        small = sizes < min_members
        if len(labs) <= 1 or not small.any():
            break
        cl, cs = labs[small], sizes[small]
        s = cl[np.lexsort((-cl, cs))[0]]
        inn = np.flatnonzero(sub == s)
        out = np.flatnonzero(sub != s)
        linked = adj[np.ix_(inn, out)] & (core[inn][:, None] | core[out][None, :])
        d = D[np.ix_(inn, out)]
        if linked.any():  # always, for a DBSCAN cluster; the fallback only guards the loop
            d = np.where(linked, d, np.inf)
        best = d.min(axis=0)
        target = sub[out][best == best.min()].min()
        if names is not None:
            log.info(
                "split: catchment %s (%d of min_members=%d cities) joins catchment %s, shortest link %.0f km; "
                "the cluster may span more than max_span_km", list(np.asarray(names)[inn][:3]), len(inn),
                min_members, list(np.asarray(names)[sub == target][:3]), float(best.min()),
            )
        sub[inn] = target
    return np.unique(sub, return_inverse=True)[1].astype(np.int64).reshape(-1)
