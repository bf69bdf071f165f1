r"""Exact geodesic weighted DBSCAN on a Dask cluster (``pip install geocity[dask]``).

:func:`dbscan` gives the labels of :func:`geocity.dbscan.geodesic_dbscan`
(the single-machine engine, and so scikit-learn's ``DBSCAN(metric="haversine")``
with ``sample_weight``) for point layers that do not fit one machine: a
``dask.array`` of latitudes/longitudes/weights, a ``dask_geopandas.GeoDataFrame``
or a partitioned GeoParquet folder, on a ``distributed.Client`` (or its address).
The labels are *identical*, cluster numbers included (clusters numbered in the
order of their lowest-row core point, a border point in the lowest-numbered
cluster among its core neighbours, as the engine does).

Design
------
Points are 3-D unit vectors (:func:`geocity.geodesy.unit_vectors`) and ``eps_km``
the chord ``r = 2 sin(eps / 2R)``, exactly as in the engine; "within eps" is the
engine's own floating-point test ``sqrt(dx² + dy² + dz²) <= r``. The
antimeridian and the poles are ordinary places: nothing is cut in degrees.

1. **Blocks.** The cube ``[-1, 1]³`` is cut into cubic blocks of side
   ``L >= 2r + 2m`` (``m = 1e-9``, a margin far above rounding). Each input
   partition reports its points per block (a table of at most a few ten
   thousand rows); the client orders the occupied blocks along a Z-order
   (Morton) curve and cuts that order into ``npartitions`` groups of about
   equal point counts. A group is one task's territory; its points are its
   *owned* points.
2. **Halo.** Each input partition sends every point to its owner group and to
   every other group owning a block that the point's box ``±(2r + 2m)``
   touches (at most 27 blocks, as ``L`` is at least the reach), flagged *inner*
   halo when its box ``±(r + m)`` already touches that group, *outer*
   otherwise. Every neighbour of an owned point is then an inner halo point of
   the task, and every neighbour of an inner halo point is in the task (inner
   or outer). The move is one Dask DataFrame shuffle on the group id.
3. **Per task** (points sorted by input row):
   the single-machine engine (:func:`~geocity.dbscan.geodesic_dbscan`, same
   ``eps_km``/``min_weight``/``algorithm``) on owned + inner + outer points
   gives the core flags, exact for owned and inner points (their whole
   neighbourhood is present; zero weights are ordinary weights). The engine
   again, on those core points alone with weight 1 and ``min_weight`` 1 (each is
   then core on its own), gives the connected components of the core–core
   graph within eps with the engine's distance test: every core–core edge with
   an owned endpoint, plus inner–inner edges, which are true edges too. Owned
   non-core points list the components of their core neighbours (same test,
   done here with a KD-tree and the engine's formula). Each task emits its
   *boundary records* — (row, component) of its inner-halo cores and of its
   owned cores that are inner halo elsewhere — and per component the lowest
   row of an owned core.
4. **Join and union-find.** Each halo record is joined on the row with its
   owner's record, giving the pairs of components that share a core point,
   reduced to the distinct pairs. Up to :data:`CLIENT_JOIN_MAX_RECORDS`
   records in all (the tasks report their counts first) the client gathers
   and joins them; above, the join is a Dask merge on the workers (a p2p hash
   join on the row, each merged partition reduced to its distinct pairs and
   how many records gave each, which must add up to the halo records) and
   the client receives only those pairs. One union-find
   (:func:`scipy.sparse.csgraph.connected_components`) over the pairs, on
   the client, merges the components; a cluster's key is the lowest row of
   its core points, and the sorted keys number the clusters 0, 1, ... as the
   engine does.
5. **Relabel** (per task): owned cores take their cluster's number, border
   points the lowest number among their core neighbours' clusters (never
   merging clusters), the rest −1. The task writes its GeoParquet part.

Nothing gathers points on the client: it holds per-block counts, at most
:data:`CLIENT_JOIN_MAX_RECORDS` boundary records (two integers each; about
0.5 per point with 200 tasks on clumped points, so tens of millions at
10^8 points: joined on the workers), the distinct component pairs, one row per
boundary component and one integer per cluster.

Memory per worker. With ``output=`` (a folder) the run goes **through disk**,
inside the hidden staged folder (``.scratch/``, removed before the folder is
moved into place): the block counts read each input partition and keep
nothing; each input partition is read again and writes its rows (owned and
halo) bucketed by task, one file per task it reaches
(``.scratch/halo/t<task>/p<partition>.parquet``); each clustering task reads
its buckets, writes its owned points' local component ids and its border
candidates (``.scratch/own/``) and returns only its boundary records and
per-component keys; the relabel step maps one task's file at a time. A
worker's peak is then set by the largest task (its owned points plus halo,
and the engine's arrays for them, one task at a time with one thread per
worker) and by the largest input partition, not by ``n``: more
``npartitions`` (tasks) and smaller input partitions lower it. The scratch
needs about 40 bytes per point and halo row on the output's file system,
which every worker must see (shared storage on a multi-node cluster). Without
``output`` (labels returned as a Dask DataFrame, and so for dask arrays and
the estimator) the halo moves by a Dask shuffle and the tasks' owned points
stay in worker memory until the relabel: about 0.6 GB of fixed cost plus
~240 bytes per owned point per worker (``benchmarks/DISTRIBUTED.md``). A
single block is never split, so a block holding more than a worker's memory
is the limit (``block_km`` makes blocks smaller).

The core-flag sums run in the engine over the same neighbourhoods.
``algorithm="auto"`` runs in every task the engine that ``"auto"`` picks for
the whole layer on one machine (the numba grid from 50 000 points), so each
point's neighbour weights are added by the same code. With integer or dyadic
weights (counts, unit weights, zeros) every sum is exact and the labels are
bit for bit the engine's whatever the order of addition; with arbitrary
fractional weights a task may add the same neighbour weights in another
order or grouping than the single-machine run (the grid engine's cell
shortcuts depend on which points of a cell are present), so the engine's own
caveat applies: a point whose summed weight equals ``min_weight`` to the last
bit could be decided the other way (the benchmark's 10^7 points with gamma
weights agree exactly, ``benchmarks/DISTRIBUTED.md``).

:func:`corridor_members` (corridor membership per partition) and
:func:`density_surface` (binned density per partition on one grid, summed)
run the single-machine functions of :mod:`geocity.corridors` and
:mod:`geocity.density` on partitions the same way.

Faults: every step is a Dask task with its lineage, so a lost worker's
results are recomputed by Dask and the answer does not change (the files a
retried task writes are rewritten whole, by rename); the output is
written into a hidden temporary folder next to the destination and moved into
place only when every part and the provenance record are written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# inputs and blocks (checked pieces, unit-vector blocks, Z-order tasks, halo replication)
from ._distributed_blocks import (  # noqa: F401 - re-exported: constants and helpers of the scheme
    MARGIN,
    MIN_BLOCK,
    _block_counts,
    _check_piece,
    _Grid,
    _grid,
    _group_blocks,
    _input_pieces,
    _morton,
    _piece_from_arrays,
    _piece_from_frame,
    _replicate,
    _unit,
    parquet_files,
)
from .errors import DependencyError, GeocityError, OutputExistsError, ValidationError

__all__ = ["dbscan", "dask_dbscan", "dbscan_local", "corridor_members", "density_surface", "get_client",
           "read_labels", "provenance", "parquet_files", "fit_estimator", "DistributedResult", "MARGIN",
           "PROVENANCE_NAME", "CLIENT_JOIN_MAX_RECORDS"]

#: Name of the provenance record inside an output folder (ignored by Parquet readers: leading ``_``).
PROVENANCE_NAME: str = "_geocity.meta.json"
_BIG = np.iinfo(np.int64).max
#: Called as ``hook(phase, client, futures)`` between phases (tests only).
_PHASE_HOOK = None
_SHIFT = np.int64(1) << np.int64(32)  # component node = group * 2**32 + local component
#: Boundary records (halo + owner, all tasks) up to which they are joined on the client; above,
#: the join runs on the workers and the client receives the distinct component pairs only.
CLIENT_JOIN_MAX_RECORDS: int = 1_000_000


# --------------------------------------------------------------------------
# dask and the client
# --------------------------------------------------------------------------
def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
        import distributed
    except ImportError as exc:
        raise DependencyError(
            f"distributed clustering needs Dask ({exc.name or exc} is not installed); "
            "install it with: pip install geocity[dask]"
        ) from None
    return distributed


def get_client(client=None, *, workers: int | None = None, timeout_s: float = 10.0):
    """A ``distributed.Client``: ``client`` itself, a new one connected to the
    scheduler address ``client`` (``"tcp://host:8786"``), a new
    ``LocalCluster`` of ``workers`` processes (one thread each), or the
    current default client.

    Parameters
    ----------
    client
        A ``distributed.Client``, a scheduler address, or ``None``.
    workers
        With ``client=None``: start a local cluster of this many worker processes.
    timeout_s
        Seconds to wait for a scheduler before giving up.

    Returns
    -------
    distributed.Client
    """
    distributed = _require_dask()
    if isinstance(client, distributed.Client):
        return client
    if isinstance(client, str):
        try:
            return distributed.Client(client, timeout=f"{float(timeout_s)}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise GeocityError(
                f"cannot reach the Dask scheduler at {client!r} ({type(exc).__name__}: {exc}); start one with "
                "`dask scheduler` (and workers with `dask worker <address>`), or check the address and the network"
            ) from None
    if client is not None:
        raise ValidationError(f"client must be a distributed.Client or a scheduler address, not {client!r}")
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
            raise ValidationError(f"workers must be a whole number >= 1, not {workers!r}")
        import logging

        cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        return distributed.Client(cluster, set_as_default=False)
    try:
        return distributed.get_client()
    except ValueError:
        raise ValidationError(
            "no Dask client: pass client= (a distributed.Client or a scheduler address such as "
            "'tcp://host:8786') or workers=N for a local cluster"
        ) from None


# --------------------------------------------------------------------------
# per task
# --------------------------------------------------------------------------
def _engine(lat, lon, w, eps_km, min_weight, algorithm):
    from .dbscan import geodesic_dbscan

    return geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=w, algorithm=algorithm,
                           progress=False)


def _border_candidates(Xb: np.ndarray, Xc: np.ndarray, r: float, rows: np.ndarray, comps: np.ndarray,
                       budget: int | None = None) -> pd.DataFrame:
    """Distinct ``(row, comp)``: ``rows[i]`` of a point ``Xb[i]`` and the component ``comps[j]``
    of a core point ``Xc[j]`` within eps, by the engine's test ``sqrt(sum((Xb[i] - Xc[j])²)) <= r``.

    The pair query runs in spatially coherent chunks of about ``budget`` pairs
    (:func:`geocity.dbscan._pair_chunks`, default :data:`geocity.dbscan.CHUNK_PAIRS`),
    each reduced to its distinct (row, component) pairs at once: memory bounded
    by the budget, not by the pair count of the task."""
    from scipy.spatial import cKDTree

    from .dbscan import CHUNK_PAIRS, _pair_chunks

    out = [_frame("row", "comp")]
    if len(Xb) and len(Xc):
        tree = cKDTree(Xc)
        order = np.asarray(cKDTree(Xb).indices, dtype=np.int64)  # leaf order: spatially coherent
        for idx, i, j, _ in _pair_chunks(tree, Xb, order, r, int(budget or CHUNK_PAIRS), True, "borders"):
            i, j = idx[i.astype(np.int64)], j.astype(np.int64)
            keep = np.sqrt(((Xb[i] - Xc[j]) ** 2).sum(axis=1)) <= r
            if keep.any():
                out.append(pd.DataFrame({"row": rows[i[keep]], "comp": comps[j[keep]]}).drop_duplicates())
    return pd.concat(out, ignore_index=True).drop_duplicates(ignore_index=True)


def _cluster_group(df: pd.DataFrame, grp: int, eps_km, min_weight, algorithm, r) -> dict[str, Any]:
    df = df.sort_values(["row", "kind"], kind="stable")
    lat, lon, w = (df[c].to_numpy(dtype=float) for c in ("lat", "lon", "w"))
    kind = df["kind"].to_numpy()
    row = df["row"].to_numpy(dtype=np.int64)
    _, core = _engine(lat, lon, w, eps_km, min_weight, algorithm)
    core = core & (kind <= 1)  # outer halo flags are incomplete
    ci = np.flatnonzero(core)
    comp = np.full(len(df), -1, dtype=np.int64)
    if len(ci):
        comp[ci], _ = _engine(lat[ci], lon[ci], np.ones(len(ci)), eps_km, 1.0, algorithm)
    ncomp = int(comp.max()) + 1 if len(ci) else 0
    owned = kind == 0
    oc = np.flatnonzero(owned & core)
    minrow = np.full(ncomp, _BIG, dtype=np.int64)
    np.minimum.at(minrow, comp[oc], row[oc])
    # border candidates: owned non-core points and their core neighbours' components
    ob = np.flatnonzero(owned & ~core)
    cand = _border_candidates(_unit(lat[ob], lon[ob]), _unit(lat[ci], lon[ci]), r, row[ob], comp[ci])
    # boundary records: inner-halo cores, and owned cores that are inner halo elsewhere
    rep = df["rep"].to_numpy()
    hb = np.flatnonzero(core & (kind == 1))
    ob2 = np.flatnonzero(core & owned & rep)
    node = grp * _SHIFT + comp
    boundary_comp = np.zeros(ncomp, dtype=bool)
    boundary_comp[comp[hb]] = True
    boundary_comp[comp[ob2]] = True
    bc = np.flatnonzero(boundary_comp)
    return {
        "points": pd.DataFrame({"row": row[owned], "lat": lat[owned], "lon": lon[owned], "w": w[owned],
                                "comp": comp[owned], "core": core[owned]}),
        "cand": cand,
        "halo_rec": pd.DataFrame({"row": row[hb], "node": node[hb]}),
        "own_rec": pd.DataFrame({"row": row[ob2], "node": node[ob2]}),
        "bnodes": pd.DataFrame({"node": grp * _SHIFT + bc, "key": minrow[bc]}),
        "keys": minrow[~boundary_comp & (minrow < _BIG)],
        "grp": grp, "minrow": minrow, "boundary": boundary_comp,
    }


def _cluster_part(part: pd.DataFrame, eps_km, min_weight, algorithm, r) -> list[dict[str, Any]]:
    return [_cluster_group(g, int(t), eps_km, min_weight, algorithm, r)
            for t, g in part.groupby("target", sort=True)]


def _frame(*cols: str) -> pd.DataFrame:
    """An empty frame of int64 columns (never float: keys near 2**63 must stay exact)."""
    return pd.DataFrame({c: np.zeros(0, dtype=np.int64) for c in cols})


def _summary(res: list[dict]):
    """What the client needs of one task: boundary records, boundary components, other cluster keys."""
    def cat(which, *cols):
        frames = [d[which] for d in res]
        return pd.concat(frames, ignore_index=True) if frames else _frame(*cols)

    keys = [d["keys"] for d in res]
    return (cat("halo_rec", "row", "node"), cat("own_rec", "row", "node"), cat("bnodes", "node", "key"),
            np.concatenate(keys) if keys else np.zeros(0, np.int64))


def _keys_of(d: dict, comps: np.ndarray, bnode: np.ndarray, bkey: np.ndarray) -> np.ndarray:
    k = d["minrow"][comps].copy()
    b = d["boundary"][comps]
    if b.any():
        nodes = d["grp"] * _SHIFT + comps[b]
        k[b] = bkey[np.searchsorted(bnode, nodes)]
    return k


def _finish_part(res: list[dict], keys_sorted, bnode, bkey, out_file: str | None):
    frames = []
    for d in res:
        pts = d["points"]
        comp = pts["comp"].to_numpy()
        label = np.full(len(pts), -1, dtype=np.int64)
        c = comp >= 0
        if c.any():
            label[c] = np.searchsorted(keys_sorted, _keys_of(d, comp[c], bnode, bkey))
        cand = d["cand"]
        if len(cand):
            k = _keys_of(d, cand["comp"].to_numpy(), bnode, bkey)
            best = pd.Series(k).groupby(cand["row"].to_numpy()).min()
            pos = np.searchsorted(pts["row"].to_numpy(), best.index.to_numpy())
            label[pos] = np.searchsorted(keys_sorted, best.to_numpy())
        frames.append(pd.DataFrame({"row": pts["row"].to_numpy(), "lat": pts["lat"].to_numpy(),
                                    "lon": pts["lon"].to_numpy(), "weight": pts["w"].to_numpy(),
                                    "label": label, "core": pts["core"].to_numpy()}))
    out = (pd.concat(frames, ignore_index=True) if frames else _empty_labels()).sort_values("row", kind="stable")
    out = out.reset_index(drop=True)
    if out_file is not None:
        _write_part(out, out_file)
        return pd.DataFrame({"n": [len(out)]})
    return out


def _empty_labels() -> pd.DataFrame:
    return pd.DataFrame({"row": np.zeros(0, np.int64), "lat": np.zeros(0), "lon": np.zeros(0),
                         "weight": np.zeros(0), "label": np.zeros(0, np.int64), "core": np.zeros(0, bool)})


def _write_part(out: pd.DataFrame, out_file: str) -> None:
    import geopandas as gpd

    g = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(out["lon"], out["lat"]), crs="EPSG:4326")
    tmp = out_file + ".part"
    g.to_parquet(tmp, index=False)
    os.replace(tmp, out_file)  # a retried task rewrites its own part, whole


# --------------------------------------------------------------------------
# through disk (output to a folder): the per-worker peak depends on the task size, not on n
# --------------------------------------------------------------------------
def _write_frame(frame: pd.DataFrame, path: str) -> None:
    tmp = path + ".part"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)  # a retried task rewrites its file, whole


def _replicate_to_disk(piece, offset: int, grid: _Grid, bkeys, bgroup, halo_dir: str, j: int) -> np.ndarray:
    """:func:`_replicate` of one input partition, written bucketed by task: one file per task it
    sends rows to (``<halo_dir>/t<task>/p<partition>.parquet``). Returns those tasks (sorted)."""
    df = _replicate(piece, offset, grid, bkeys, bgroup)
    targets = df["target"].to_numpy()
    o = np.argsort(targets, kind="stable")
    df, targets = df.iloc[o], targets[o]
    uniq, start = np.unique(targets, return_index=True)
    ends = np.append(start[1:], len(targets))
    for t, a, b in zip(uniq, start, ends, strict=True):
        folder = os.path.join(halo_dir, f"t{int(t):05d}")
        os.makedirs(folder, exist_ok=True)
        _write_frame(df.iloc[a:b].drop(columns="target").reset_index(drop=True),
                     os.path.join(folder, f"p{j:05d}.parquet"))
    return uniq.astype(np.int64)


def _cluster_disk(grp: int, files: list[str], eps_km, min_weight, algorithm, r, prefix: str, *deps) -> dict:
    """One task from its bucket files: :func:`_cluster_group`, its owned points and border
    candidates written to ``prefix.points/.cand.parquet``; returns the rest (boundary records,
    per-component keys: no point columns). ``deps``: the writers of the files (lineage only)."""
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    d = _cluster_group(df, grp, eps_km, min_weight, algorithm, r)
    del df
    _write_frame(d.pop("points"), prefix + ".points.parquet")
    _write_frame(d.pop("cand"), prefix + ".cand.parquet")
    d["prefix"] = prefix
    return d


def _summary_one(d: dict):
    return _summary([d])


def _finish_disk(d: dict, keys_sorted, bnode, bkey, out_file: str):
    """:func:`_finish_part` of one task whose points are on disk (:func:`_cluster_disk`)."""
    d = dict(d, points=pd.read_parquet(d["prefix"] + ".points.parquet"),
             cand=pd.read_parquet(d["prefix"] + ".cand.parquet"))
    return _finish_part([d], keys_sorted, bnode, bkey, out_file)


def _clustered_through_disk(cl, pieces, offsets, grid, bkeys, bgroup, ngroups, args, scratch: Path) -> list:
    """Futures of the clustering tasks, the halo shuffle through ``scratch``: each input
    partition (read again) writes its rows bucketed by task; each task reads its buckets."""
    halo, own = scratch / "halo", scratch / "own"
    halo.mkdir(parents=True)
    own.mkdir()
    rep_f = cl.compute([_delayed(_replicate_to_disk)(p, int(o), grid, bkeys, bgroup, str(halo), j)
                        for j, (p, o) in enumerate(zip(pieces, offsets, strict=True))])
    hits = cl.gather(rep_f)
    res_f = []
    for g in range(ngroups):
        js = [j for j, h in enumerate(hits) if len(h) and h[min(np.searchsorted(h, g), len(h) - 1)] == g]
        files = [str(halo / f"t{g:05d}" / f"p{j:05d}.parquet") for j in js]
        res_f.append(cl.submit(_cluster_disk, g, files, *args, str(own / f"t{g:05d}"), *[rep_f[j] for j in js],
                               pure=False))
    return res_f


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
@dataclass
class DistributedResult:
    """What :func:`dbscan` returns.

    Attributes
    ----------
    labels
        A Dask DataFrame (one partition per task) of ``row`` (input position,
        0-based), ``lat``, ``lon`` (degrees), ``weight``, ``label`` (−1 noise)
        and ``core``; ``None`` when written to ``output``.
    output
        The GeoParquet folder written, or ``None``.
    n_points, n_clusters
        Points clustered, clusters found.
    info
        Diagnostics: tasks, groups, input partitions and their sizes, block side, boundary records
        (halo + owner), where they were joined (``records_joined_on``: ``"client"`` or
        ``"workers"``), boundary pairs and components, and ``phase_s`` (wall seconds:
        read_and_count, shuffle_and_cluster, join_and_union_find, relabel_and_write).
    """

    labels: Any
    output: Path | None
    n_points: int
    n_clusters: int
    info: dict


def _check_output(output, overwrite: bool) -> Path | None:
    if output is None:
        return None
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"output {str(out)!r} is a file; the labels are a GeoParquet folder, give a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output exists: {str(out)!r}; use overwrite=True / --overwrite to replace it, "
                                "or choose another folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ValidationError(f"the folder {str(parent)!r} of the output does not exist; create it first")
    return out


def _parameters(eps_km, min_weight, npartitions, algorithm, block_km=None):
    from . import _validate

    problems: list[str] = []
    if block_km is not None:
        _validate.positive("block_km", block_km, unit="km", problems=problems)
    eps_km = _validate.positive("eps_km", eps_km, unit="km", problems=problems)
    min_weight = _validate.positive("min_weight", min_weight, problems=problems)
    if npartitions is not None and (isinstance(npartitions, bool) or not isinstance(npartitions, (int, np.integer))
                                    or npartitions < 1):
        problems.append(f"npartitions must be a whole number >= 1, not {npartitions!r}")
    if algorithm not in ("auto", "grid", "kdtree", "brute"):
        problems.append(f"algorithm must be 'auto', 'grid', 'kdtree' or 'brute', not {algorithm!r}")
    if problems:
        raise ValidationError("geocity.distributed.dbscan: " + "; ".join(problems))
    return eps_km, min_weight


def dbscan(
    points,
    lon=None,
    *,
    eps_km: float,
    min_weight: float,
    weights=None,
    weight_column: str | None = None,
    client=None,
    npartitions: int | None = None,
    algorithm: str = "auto",
    block_km: float | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    inputs=(),
    progress: bool | None = False,
) -> DistributedResult:
    """Exact weighted geodesic DBSCAN on a Dask cluster (see the module docstring).

    Parameters
    ----------
    points
        A ``dask.array`` of latitudes in degrees (then ``lon`` too), a
        ``dask_geopandas.GeoDataFrame`` of points (any CRS), or the path of a
        GeoParquet file or partitioned folder.
    lon
        ``dask.array`` of longitudes in degrees, with latitudes in ``points``.
    eps_km
        Neighbourhood radius, great-circle km on the mean-radius sphere.
    min_weight
        Summed weight that makes a core point (> 0).
    weights
        ``dask.array`` (or array) of non-negative weights, with array input.
    weight_column
        Column of the GeoDataFrame / GeoParquet holding the weights (default: 1 each).
    client
        A ``distributed.Client`` or a scheduler address; default: the current client.
    npartitions
        Spatial tasks (default: the input partitions, at least 2 per worker).
    algorithm
        The single-machine engine run inside each task (``"auto"``, ``"grid"``,
        ``"kdtree"``, ``"brute"``); every one gives the same labels.
    block_km
        Block side in km, never below 2 eps (default ~64 km): smaller blocks
        balance very dense layers better (a block is never split between
        tasks), larger ones mean fewer halo rows.
    output
        A GeoParquet folder to write (one part per task; columns ``row``,
        ``lat``, ``lon``, ``weight``, ``label``, ``core``, geometry) with the
        provenance record :data:`PROVENANCE_NAME`; written all or nothing.
        The run then goes through disk (see the module docstring): the
        memory of a worker is bounded by its task's size, not by ``n``.
    overwrite
        Replace an existing ``output`` folder.
    inputs
        Input files to checksum in the provenance record.
    progress
        Dask's progress bar (``distributed.progress``) of the clustering tasks
        on stdout: ``True``, ``False`` (default) or ``None`` (when stdout is a
        terminal). The dashboard (``client.dashboard_link``) shows every step.

    Returns
    -------
    DistributedResult
    """
    distributed = _require_dask()

    eps_km, min_weight = _parameters(eps_km, min_weight, npartitions, algorithm, block_km)
    out = _check_output(output, overwrite)
    what = "points"
    pieces = _input_pieces(points, lon, weights, weight_column, what)
    cl = get_client(client)
    with contextlib.ExitStack() as stack:
        tmp = None if out is None else stack.enter_context(_staged_folder(out, overwrite))
        return _dbscan_run(cl, distributed, pieces, what, eps_km, min_weight, npartitions, algorithm, block_km,
                           weight_column, inputs, progress, out, tmp)
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns


def _dbscan_run(cl, distributed, pieces, what, eps_km, min_weight, npartitions, algorithm, block_km, weight_column,
                inputs, progress, out, tmp) -> DistributedResult:
    """:func:`dbscan` on a client: in memory (``tmp`` None: a Dask shuffle, results held by the
    workers) or through the staged output folder ``tmp`` (halo buckets and each task's points
    on disk, a worker's peak set by its task's size)."""
    import dask.dataframe as dd

    grid = _grid(eps_km, block_km)
    clock = [time.perf_counter()]
    if tmp is None:
        pieces_f = cl.compute(pieces)
        counts = cl.gather(cl.map(_block_counts, pieces_f, grid=grid, pure=True))
    else:  # nothing held: the pieces are read again by the replication
        counts = cl.gather(cl.compute([_delayed(_block_counts)(p, grid) for p in pieces]))
    sizes = np.array([c[2] for c in counts], dtype=np.int64)
    n = int(sizes.sum())
    if n == 0:
        raise ValidationError(f"{what}: no points (every partition is empty); pass at least one point")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    keys = np.concatenate([c[0] for c in counts])
    cnts = np.concatenate([c[1] for c in counts])
    del counts
    clock.append(time.perf_counter())  # read + block counts
    ukeys, inv = np.unique(keys, return_inverse=True)
    ucounts = np.bincount(inv, weights=cnts).astype(np.int64)
    nworkers = max(1, len(cl.scheduler_info().get("workers", {})))
    ntask = int(npartitions) if npartitions is not None else max(len(pieces), 2 * nworkers)
    bkeys, bgroup = _group_blocks(ukeys, ucounts, grid, ntask)
    task_algorithm = _task_algorithm(algorithm, n, grid.r)
    ngroups = int(bgroup.max()) + 1
    if tmp is None:
        rep_f = [cl.submit(_replicate, p, int(o), grid, bkeys, bgroup, pure=True)
                 for p, o in zip(pieces_f, offsets, strict=True)]
        meta = pd.DataFrame({"target": pd.Series([], dtype=np.int64), "row": pd.Series([], dtype=np.int64),
                             "lat": pd.Series([], dtype=float), "lon": pd.Series([], dtype=float),
                             "w": pd.Series([], dtype=float), "kind": pd.Series([], dtype=np.int8),
                             "rep": pd.Series([], dtype=bool)})
        moved = dd.from_delayed(rep_f, meta=meta, verify_meta=False)
        moved = moved.shuffle(on="target", npartitions=ngroups, shuffle_method="p2p")
        parts = moved.to_delayed()
        res_f = cl.compute([_delayed(_cluster_part)(p, eps_km, min_weight, task_algorithm, grid.r) for p in parts])
        del pieces_f, rep_f  # the scheduler keeps their recipes: a lost result is recomputed from the input
    else:
        res_f = _clustered_through_disk(cl, pieces, offsets, grid, bkeys, bgroup, ngroups,
                                        (eps_km, min_weight, task_algorithm, grid.r), tmp / ".scratch")
    if progress or (progress is None and sys.stdout.isatty()):
        distributed.progress(res_f)
    if _PHASE_HOOK is not None:  # tests: kill a worker here, with every task's result in worker memory
        _PHASE_HOOK("clustered", cl, res_f)
    # boundary records: joined on the client when few, else on the workers (a Dask merge);
    # the client then holds only the component pairs, the boundary components and the cluster keys
    summary = _summary if tmp is None else _summary_one
    rec_f = [cl.submit(summary, f, pure=True) for f in res_f]
    nrec = np.array(cl.gather([cl.submit(_record_counts, f, pure=True) for f in rec_f]), dtype=np.int64)
    nrec = nrec.reshape(-1, 2)
    clock.append(time.perf_counter())  # halo shuffle + per-task clustering
    on_workers = int(nrec.sum()) > CLIENT_JOIN_MAX_RECORDS
    if on_workers:
        pairs = _pairs_on_workers(cl, rec_f, int(nrec[:, 0].sum()))
        rest = cl.gather([cl.submit(_nodes_and_keys, f, pure=True) for f in rec_f])
    else:
        small = cl.gather(rec_f)
        pairs = _pairs(pd.concat([s[0] for s in small], ignore_index=True),
                       pd.concat([s[1] for s in small], ignore_index=True))
        rest = [(s[2], s[3]) for s in small]
        del small
    del rec_f
    bnode, bkey, keys_sorted = _resolve(pairs, pd.concat([r[0] for r in rest], ignore_index=True),
                                        [r[1] for r in rest])
    npairs = len(pairs)
    del rest, pairs
    n_clusters = len(keys_sorted)
    clock.append(time.perf_counter())  # boundary join + union-find
    info = {"tasks": len(res_f), "groups": ngroups, "input_partitions": len(pieces), "block_side": grid.side,
            "input_sizes": sizes.tolist(),
            "boundary_pairs": npairs, "boundary_nodes": len(bnode), "through_disk": tmp is not None,
            "boundary_records": int(nrec.sum()), "records_joined_on": "workers" if on_workers else "client"}
    bnode_f, bkey_f, keys_f = cl.scatter([bnode, bkey, keys_sorted], broadcast=True)
    params = {"eps_km": eps_km, "min_weight": min_weight, "algorithm": algorithm, "task_engine": task_algorithm,
              "npartitions": ntask,
              "weight_column": weight_column, "block_side_chord": grid.side}
    if tmp is None:
        fin = [cl.submit(_finish_part, f, keys_f, bnode_f, bkey_f, None, pure=True) for f in res_f]
        labels = cl.persist(dd.from_delayed(fin, meta=_empty_labels(), verify_meta=False))  # holds its futures
        _settled(labels)
        info["phase_s"] = _phases(clock)
        return DistributedResult(labels=labels, output=None, n_points=n, n_clusters=n_clusters, info=info)
    fin = [cl.submit(_finish_disk, f, keys_f, bnode_f, bkey_f, str(tmp / f"part.{i:05d}.parquet"), pure=False)
           for i, f in enumerate(res_f)]
    written = int(sum(int(x["n"].sum()) for x in cl.gather(fin)))
    if written != n:
        raise GeocityError(f"internal error: {written} labels written for {n} points; nothing was written")
    del fin, res_f
    shutil.rmtree(tmp / ".scratch")
    clock.append(time.perf_counter())  # relabel + write
    info["phase_s"] = _phases(clock)
    _write_provenance(tmp, params, inputs, {"n_points": n, "n_clusters": n_clusters,
                                            **{k: v for k, v in info.items() if k != "phase_s"}})
    return DistributedResult(labels=None, output=out, n_points=n, n_clusters=n_clusters, info=info)


def dask_dbscan(lat, lon, *, eps_km: float, min_weight: float, weights=None, algorithm: str = "auto",
                client=None, npartitions: int | None = None, return_info: bool = False):
    """:func:`geocity.dbscan.geodesic_dbscan` for ``dask.array`` inputs: the same
    ``(labels, core_mask)``, as dask arrays chunked like ``lat``, computed by :func:`dbscan`.

    :func:`geocity.dbscan.geodesic_dbscan` hands dask arrays here (with the
    current default client). The labels are put back in input order by one
    range-partitioned shuffle on the row; nothing is collected on the client
    until you compute the arrays.

    Parameters
    ----------
    lat, lon, weights
        ``dask.array`` of degrees and (optional) non-negative weights.
    eps_km, min_weight, algorithm
        As in :func:`geocity.dbscan.geodesic_dbscan`.
    client, npartitions
        As in :func:`dbscan`.
    return_info
        Also return ``DistributedResult.info``.

    Returns
    -------
    labels, core_mask : dask.array.Array
    """
    _require_dask()
    import dask.array as da

    if not isinstance(lon, da.Array):
        lon = da.from_array(np.asarray(lon, dtype=float), chunks=lat.chunks)
    res = dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=weights, client=client,
                 npartitions=npartitions, algorithm=algorithm)
    chunks = tuple(c for c in lat.ravel().chunks[0])
    labels, core = _in_input_order(res, client, ("label", "core"), chunks)
    if return_info:
        return labels, core, res.info
    return labels, core


def _in_input_order(res: DistributedResult, client, columns, chunks=None) -> list:
    """Columns of ``res.labels`` as dask arrays in input order (one range-partitioned shuffle on
    the row), chunked as ``chunks`` (default: the input partitions), persisted on the workers."""
    sizes = np.asarray(res.info["input_sizes"], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[sizes > 0]
    divisions = tuple(int(x) for x in starts) + (res.n_points - 1,)
    ordered = res.labels.set_index("row", divisions=divisions, sorted=False)  # range shuffle: input order
    lengths = tuple(int(x) for x in sizes[sizes > 0])
    chunks = chunks if chunks is not None else lengths
    arrays = [ordered[c].to_dask_array(lengths=lengths).rechunk((chunks,)) for c in columns]
    arrays = list(get_client(client).persist(arrays))  # on the workers, holding their futures
    _settled(arrays)
    return arrays


def _settled(collections) -> None:
    """Wait until persisted ``collections`` are computed. An in-process scheduler (a
    ``LocalCluster`` of this process) builds their graph in a thread of its own, and Python
    3.11's ``functools.cached_property`` (one lock per property of a class, shared by every
    Dask expression) deadlocks when this thread builds another expression meanwhile."""
    from distributed import futures_of
    from distributed.client import _wait

    fs = futures_of(collections)
    if fs:
        fs[0].client.sync(_wait, fs)  # distributed.wait, on the futures' own client (not the default one)


def fit_estimator(est, X, sample_weight=None):
    """:meth:`geocity.dbscan.GeodesicDBSCAN.fit` for Dask inputs, on the current default client.

    ``X`` is a ``dask_geopandas.GeoDataFrame`` of points (any CRS; ``sample_weight``
    then ``None`` or the name of a weight column) or a ``dask.array`` of shape
    ``(n, 2)``, ``[lat, lon]`` degrees per row (``sample_weight`` then ``None`` or a
    ``dask.array``/array of ``n`` weights). :func:`dbscan` computes the labels;
    the fitted attributes are **dask arrays**, in input order and persisted on the
    workers (nothing is collected on the client; ``.compute()`` gives the numpy
    arrays of a single-machine fit): ``labels_`` (chunked like the input),
    ``core_sample_indices_`` and ``components_`` (``[lat, lon]`` of the core
    points; unknown chunk sizes until computed). ``info_`` is
    ``DistributedResult.info``; ``fit_predict`` returns ``labels_``.
    """
    _require_dask()
    import dask.array as da

    est._validate_params()
    kw = dict(eps_km=float(est.eps_km), min_weight=float(est.min_weight), algorithm=est.algorithm)
    name = type(est).__name__
    if getattr(est, "count_edge_pairs", False):
        raise ValidationError(f"{name}: count_edge_pairs=True is not available on Dask inputs; count the pairs "
                              f"on one machine (numpy or GeoDataFrame input), or leave it False")
    if isinstance(X, da.Array):
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValidationError(f"{name}: a dask array X must have shape (n, 2), [lat, lon] degrees per row, "
                                  f"not {X.shape}")
        if sample_weight is not None and not isinstance(sample_weight, da.Array):
            sample_weight = da.from_array(np.asarray(sample_weight, dtype=float), chunks=(X.chunks[0],))
        res = dbscan(X[:, 0], X[:, 1], weights=sample_weight, **kw)
        chunks = X.chunks[0]
    elif hasattr(X, "to_delayed") and hasattr(X, "npartitions"):
        if sample_weight is not None and not isinstance(sample_weight, str):
            raise ValidationError(f"{name}: with a dask_geopandas.GeoDataFrame give sample_weight as the name of "
                                  f"its weight column, not {type(sample_weight).__name__}")
        res = dbscan(X, weight_column=sample_weight, **kw)
        chunks = None
    else:
        raise ValidationError(f"{name}: expected a dask_geopandas.GeoDataFrame or a dask array of shape (n, 2), "
                              f"not {type(X).__name__}")
    lat, lon, labels, core = _in_input_order(res, None, ("lat", "lon", "label", "core"), chunks)
    est.labels_ = labels
    est.core_sample_indices_ = da.flatnonzero(core)
    est.components_ = da.stack([lat, lon], axis=1)[core]
    est.n_features_in_ = 2
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.info_ = res.info
    return est


def _phases(clock: list[float]) -> dict[str, float]:
    names = ["read_and_count", "shuffle_and_cluster", "join_and_union_find", "relabel_and_write"]
    return {k: round(b - a, 3) for k, a, b in zip(names, clock[:-1], clock[1:], strict=False)}


def _task_algorithm(algorithm: str, n: int, r: float) -> str:
    """The engine each task runs: ``"auto"`` becomes the engine that ``geodesic_dbscan``'s
    ``"auto"`` would pick for all ``n`` points on one machine (grid from
    ``geocity.dbscan._auto_engine``: the same rule, cold cache included), so that the
    neighbourhood sums are added in the same order as in the single-machine run."""
    from .dbscan import _auto_engine

    return algorithm if algorithm != "auto" else _auto_engine(n, r)


def _delayed(fn):
    import dask

    return dask.delayed(fn, pure=True)


def _record_counts(s) -> tuple[int, int]:
    """Halo and owner boundary records of one task's summary."""
    return len(s[0]), len(s[1])


def _nodes_and_keys(s):
    """The boundary components and the other cluster keys of one task's summary (no records)."""
    return s[2], s[3]


def _pairs(halo: pd.DataFrame, own: pd.DataFrame) -> np.ndarray:
    """The client join: distinct ``(node_h, node_o)`` component pairs sharing a core point, from
    the halo records joined on the row with their owner's record."""
    return _distinct_pairs(_pair_counts(halo.merge(own, on="row", suffixes=("_h", "_o"))), len(halo))


def _pair_counts(m: pd.DataFrame) -> pd.DataFrame:
    """Joined records reduced to their distinct pairs and how many records gave each."""
    g = m.groupby(["node_h", "node_o"], sort=True).size()
    return pd.DataFrame({"node_h": g.index.get_level_values(0).to_numpy(dtype=np.int64),
                         "node_o": g.index.get_level_values(1).to_numpy(dtype=np.int64),
                         "n": g.to_numpy(dtype=np.int64)})


def _distinct_pairs(counted: pd.DataFrame, nhalo: int) -> np.ndarray:
    """The distinct pairs of :func:`_pair_counts` frames (concatenated), once every one of the
    ``nhalo`` halo records is seen to have found its owner's record."""
    joined = int(counted["n"].sum())
    if joined != nhalo:
        raise GeocityError(f"internal error: {nhalo - joined} halo core point(s) without their owner's record")
    return np.unique(counted[["node_h", "node_o"]].to_numpy(dtype=np.int64).reshape(-1, 2), axis=0)


def _pairs_on_workers(cl, rec_f: list, nhalo: int) -> np.ndarray:
    """:func:`_pairs` as a Dask merge on the workers (a p2p hash join on the row): the records
    stay on the workers, the client receives each merged partition's distinct pairs only."""
    import operator

    import dask.dataframe as dd

    halo, own = (dd.from_delayed([cl.submit(operator.getitem, f, which, pure=True) for f in rec_f],
                                 meta=_frame("row", "node"), verify_meta=False) for which in (0, 1))
    m = halo.merge(own, on="row", how="inner", suffixes=("_h", "_o"), npartitions=max(1, len(rec_f)),
                   shuffle_method="p2p")
    counted = m.map_partitions(_pair_counts, meta=_frame("node_h", "node_o", "n"))
    return _distinct_pairs(cl.compute(counted).result(), nhalo)


def _resolve(pairs: np.ndarray, bn: pd.DataFrame, keys: list):
    """One union-find over the component pairs: node -> cluster key (sorted nodes); all keys sorted."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    bnode = bn["node"].to_numpy(dtype=np.int64)
    bkey = bn["key"].to_numpy(dtype=np.int64)
    o = np.argsort(bnode, kind="stable")
    bnode, bkey = bnode[o], bkey[o]
    if len(bnode):
        a = np.searchsorted(bnode, pairs[:, 0])
        b = np.searchsorted(bnode, pairs[:, 1])
        g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(bnode), len(bnode)))
        _, comp = connected_components(g, directed=False)
        ck = np.full(comp.max() + 1, _BIG, dtype=np.int64)
        np.minimum.at(ck, comp, bkey)
        bkey = ck[comp]
    allkeys = np.concatenate(keys + [bkey[bkey < _BIG]])
    return bnode, bkey, np.unique(allkeys)


@contextlib.contextmanager
def _staged_folder(out: Path, overwrite: bool):
    """A hidden temporary folder next to ``out``; moved into place on success, removed on failure."""
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # a normal folder once in place (mkdtemp makes it private)
    try:
        yield tmp
        if out.exists():
            if not overwrite and any(out.iterdir()):
                raise OutputExistsError(f"output exists: {str(out)!r} (it appeared during the run); nothing was "
                                        "replaced")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / out.name)
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old / out.name, out)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


_ENGINE = "geocity.distributed.dbscan on Dask (labels identical to geocity.dbscan.geodesic_dbscan)"


def _write_provenance(folder: Path, params: dict, inputs, extra: dict, engine: str = _ENGINE) -> None:
    from .export import write_metadata

    write_metadata(folder / PROVENANCE_NAME.removesuffix(".meta.json"), params=params, inputs=list(inputs or ()),
                   extra={"engine": engine,
                          "columns": {"row": "input position, 0-based", "label": "cluster, -1 noise",
                                      "core": "core point"}, **extra})


def dbscan_local(points, *, eps_km: float, min_weight: float, weight_column: str | None = None,
                 algorithm: str = "auto", output: str | os.PathLike, overwrite: bool = False,
                 inputs=()) -> DistributedResult:
    """The single-machine run of :func:`dbscan` on a GeoParquet file or folder:
    the whole layer in memory, :func:`geocity.dbscan.geodesic_dbscan`, and the
    same output folder (one part, same columns and record). For layers that fit
    one machine, and to check a distributed run against. A folder's files are
    read in the order of :func:`parquet_files` (natural order, as Dask reads
    them), so ``row`` is the same input position as in :func:`dbscan`."""
    import geopandas as gpd

    from .dbscan import geodesic_dbscan

    eps_km, min_weight = _parameters(eps_km, min_weight, None, algorithm)
    out = _check_output(output, overwrite)
    if out is None:
        raise ValidationError("dbscan_local: give output= (a folder for the labels)")
    files = parquet_files(points, "points")  # the order of every path: rows are input positions
    pieces = []
    for j, f in enumerate(files):
        try:
            part = gpd.read_parquet(f)
        except Exception as exc:  # pyarrow/geopandas raise many kinds
            raise ValidationError(f"points, partition {j}: cannot read {str(f)!r} as GeoParquet "
                                  f"({type(exc).__name__}: {exc}); the partitions need point geometries") from None
        pieces.append(_piece_from_frame(part, weight_column, j, "points"))
    lat, lon, w = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    if lat.size == 0:
        raise ValidationError("points: no points (every partition is empty); pass at least one point")
    labels, core = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=w, algorithm=algorithm)
    frame = pd.DataFrame({"row": np.arange(lat.size, dtype=np.int64), "lat": lat, "lon": lon, "weight": w,
                          "label": labels, "core": core})
    n_clusters = int(labels.max()) + 1
    params = {"eps_km": eps_km, "min_weight": min_weight, "algorithm": algorithm, "weight_column": weight_column}
    with _staged_folder(out, overwrite) as tmp:
        _write_part(frame, str(tmp / "part.00000.parquet"))
        _write_provenance(tmp, params, inputs, {"n_points": int(lat.size), "n_clusters": n_clusters},
                          engine="geocity.dbscan.geodesic_dbscan on one machine")
    return DistributedResult(labels=None, output=out, n_points=int(lat.size), n_clusters=n_clusters,
                             info={"tasks": 1})


def read_labels(path: str | os.PathLike) -> pd.DataFrame:
    """The labels of an output folder of :func:`dbscan`, in input order (for
    checks and small layers: this reads the whole folder into memory)."""
    import pyarrow.parquet as pq

    path = Path(path)
    files = sorted(path.glob("part.*.parquet"))
    if not files:
        raise ValidationError(f"{str(path)!r} holds no label parts (part.*.parquet)")
    t = pd.concat([pq.read_table(f, columns=["row", "label", "core"]).to_pandas() for f in files],
                  ignore_index=True)
    return t.sort_values("row", kind="stable").reset_index(drop=True)


def provenance(path: str | os.PathLike) -> dict:
    """The provenance record of an output folder of :func:`dbscan`."""
    return json.loads((Path(path) / PROVENANCE_NAME).read_text(encoding="utf-8"))


# corridor membership and density on partitions (they use the helpers above)
from ._distributed_layers import corridor_members, density_surface  # noqa: E402, F401 - re-exported
