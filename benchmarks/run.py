#!/usr/bin/env python
"""geocity scale benchmarks against scikit-learn and geopandas (issue 8).

Usage::

    python benchmarks/run.py [--quick] [--tasks dbscan,corridors,density]
                             [--sizes 100000,1000000] [--threads 2]

Prints ONE table: task, n points, geocity time and peak memory, baseline time
and peak memory, ratio, agreement.

How it measures
---------------
* Every measurement (data generation, geocity run, baseline run) is a fresh
  Python subprocess; its peak resident memory is the child's own ``VmHWM``
  (``/proc/self/status``, read by the child as it finishes; for a child that
  is killed, the last value the parent read from ``/proc/<pid>/status``), so
  it includes the interpreter, the imports and the input arrays (about
  150–250 MB, plus 40 bytes per point) — the "peak RSS" columns are
  whole-process figures, not increments. Not ``ru_maxrss`` from ``wait4``:
  Linux carries the parent's high-water mark into a child started by
  ``vfork``/``exec`` (as ``subprocess`` does), so a child of a large parent
  would report the parent's peak.
* Times are wall-clock ``time.perf_counter()`` around the library call only
  (imports and loading the input ``.npy`` files excluded). The geocity DBSCAN
  time includes loading numba's on-disk cached kernels (the cache is warmed
  once before the first measurement, so no JIT compilation is timed).
* Thread count: ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
  ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` are all set to ``--threads``
  (default: ``nproc``) for every child; scikit-learn's DBSCAN gets
  ``n_jobs=--threads``. ``KernelDensity`` and geopandas have no thread option
  (single-threaded).
* Inputs come from :mod:`benchmarks.datasets` (seeded): ``clumped`` layers
  sampled around GeoNames places in proportion to population with ~10 %
  exact duplicates and gamma weights; for DBSCAN also the awkward layers
  ``uniform`` (on the whole sphere), ``antimeridian`` (around ±180° near
  Fiji) and ``polar`` (within a few degrees of the North Pole), at a
  moderate size with their own eps and min_weight (:data:`DBSCAN_LAYERS`).

Baselines and agreement
-----------------------
``dbscan``
    ``sklearn.cluster.DBSCAN(eps=eps_km / EARTH_RADIUS_KM, metric="haversine",
    algorithm="ball_tree", min_samples=min_weight, n_jobs=threads)
    .fit(radians, sample_weight=w)``. Agreement: identical core flags, noise
    flags, partition of the core points, and identical labels overall, and
    the number of point pairs within 1e-9 (relative) of eps that geocity
    reports (``edge_pairs``: decided by the chord test, where scikit-learn's
    haversine rounding may differ; 0 means the comparison is exact).
    Above ``--sklearn-max`` points only geocity runs.
``corridors``
    geopandas: per corridor, points inside a padded lon/lat bounding box are
    reprojected to an azimuthal equidistant CRS centred on the corridor,
    ``sjoin(predicate="dwithin")`` against the reprojected branch lines, then
    ``distance`` and ``line_locate_point`` for the nearest branch. Agreement:
    on a sample of (point, corridor) pairs an exact reference (ellipsoidal
    golden-section search along every waypoint-to-waypoint geodesic) gives the
    largest distance error of geocity and of the baseline; over all points,
    the number of (point, corridor) memberships where the planar baseline
    disagrees with geocity.
``density``
    ``sklearn.neighbors.KernelDensity(kernel="gaussian", metric="haversine",
    bandwidth=bandwidth_km / EARTH_RADIUS_KM)`` evaluated at a uniform random
    sample of the grid's cells; its time is scaled to the whole grid (fit time
    + query time × cells / sampled cells). Error: largest difference between
    geocity's binned surface and the exact kernel sums of scikit-learn, at
    the sampled cells and at the cells of the top of the surface, as a
    fraction of the surface's peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable

# ---------------------------------------------------------------------------
# parameters of the tasks
# ---------------------------------------------------------------------------
DBSCAN_EPS_KM = 10.0
DBSCAN_MIN_WEIGHT = 20
CORRIDOR_WITHIN_KM = 100.0
DENSITY_BANDWIDTH_KM = 100.0
DENSITY_CELL_DEG = 0.1

#: DBSCAN on the awkward layers, in both plans: (n, eps_km, run the baseline, layer, min_weight).
#: eps/min_weight give each layer a mix of cores, borders and noise (core 25-40 %);
#: polar stays at 10^5 because scikit-learn's ball tree is slow near the pole (~20 s).
DBSCAN_LAYERS = [
    (200_000, 100.0, True, "uniform", 15),
    (200_000, 4.0, True, "antimeridian", DBSCAN_MIN_WEIGHT),
    (100_000, 3.0, True, "polar", DBSCAN_MIN_WEIGHT),
]
FULL = {
    # (n, eps_km, run the baseline[, layer, min_weight]) — the baseline only while n <= --sklearn-max
    "dbscan": [(100_000, DBSCAN_EPS_KM, True), (300_000, DBSCAN_EPS_KM, True), (1_000_000, DBSCAN_EPS_KM, True),
               (1_000_000, 1.0, True), (1_000_000, 50.0, False), (10_000_000, DBSCAN_EPS_KM, False),
               *DBSCAN_LAYERS],
    "corridors": [(1_000_000, None), (10_000_000, None)],
    "density": [(1_000_000, None)],
    # unweighted, against the Wang-Gu-Shun `dbscan` package (and scikit-learn while n <= --sklearn-max)
    "wgs": [(1_000_000, 1.0), (1_000_000, DBSCAN_EPS_KM), (10_000_000, 1.0), (10_000_000, DBSCAN_EPS_KM)],
}
QUICK = {
    "dbscan": [(20_000, DBSCAN_EPS_KM, True), (100_000, DBSCAN_EPS_KM, True), *DBSCAN_LAYERS],
    "corridors": [(200_000, None)],
    "density": [(100_000, None)],
    "wgs": [(100_000, DBSCAN_EPS_KM)],
}

#: Calls per process for the rows against the Wang-Gu-Shun package (best of them is reported; 2 above 10^6 points).
WGS_REPEAT = 3


def _env(threads: int) -> dict:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[k] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# ---------------------------------------------------------------------------
# worker side (runs in a fresh subprocess)
# ---------------------------------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _load(workdir: Path, kind: str, n: int):
    import numpy as np

    d = np.load(workdir / f"{kind}_{n}.npz")
    return d["lat"], d["lon"], d["w"]


def _w_gen(args, workdir: Path) -> dict:
    import datasets
    import numpy as np

    lat, lon, w = getattr(datasets, args["kind"])(args["n"])
    np.savez(workdir / f"{args['kind']}_{args['n']}.npz", lat=lat, lon=lon, w=w)
    return {}


def _w_warm(args, workdir: Path) -> dict:
    """Fill numba's on-disk cache so that no measured run pays a full JIT compilation."""
    import datasets

    from geocity.dbscan import geodesic_dbscan

    lat, lon, w = datasets.clumped(60_000)
    geodesic_dbscan(lat, lon, eps_km=10, min_weight=5, weights=w, algorithm="grid")
    return {}


def _w_wgs(args, workdir: Path) -> dict:
    """Unweighted DBSCAN, best of ``repeat`` calls in one process: geocity's
    default engine, the Wang-Gu-Shun ``dbscan`` package on unit vectors with
    the chord of eps, or scikit-learn's haversine DBSCAN (one call)."""
    import numpy as np

    from geocity.geodesy import EARTH_RADIUS_KM, chord_from_arc_km, unit_vectors

    lat, lon, _ = _load(workdir, args["kind"], args["n"])
    eps_km, mw, side = args["eps_km"], args["min_weight"], args["side"]
    times, extra = [], {}
    for _ in range(args["repeat"] if side != "sklearn" else 1):
        if side == "geocity":
            from geocity import dbscan as gd

            t0 = time.perf_counter()
            labels, core, info = gd.geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, return_info=True)
            times.append(time.perf_counter() - t0)
            extra = {"engine": info["algorithm"], "phases": dict(gd.GRID_TIMINGS), "n_unique": int(info["n_unique"])}
        elif side == "wgs":
            from dbscan import DBSCAN  # Wang, Gu and Shun (SIGMOD 2020), PyPI "dbscan"

            X = unit_vectors(lat, lon)
            r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
            t0 = time.perf_counter()
            labels, core = DBSCAN(X, eps=r, min_samples=int(mw))
            times.append(time.perf_counter() - t0)
        else:
            from sklearn.cluster import DBSCAN

            X = np.radians(np.column_stack([lat, lon]))
            t0 = time.perf_counter()
            est = DBSCAN(eps=eps_km / EARTH_RADIUS_KM, metric="haversine", algorithm="ball_tree",
                         min_samples=int(mw), n_jobs=args["threads"]).fit(X)
            times.append(time.perf_counter() - t0)
            labels = est.labels_
            core = np.zeros(len(lat), dtype=bool)
            core[est.core_sample_indices_] = True
    np.savez(workdir / f"out_{args['tag']}.npz", labels=np.asarray(labels), core=np.asarray(core, dtype=bool))
    return {"time": min(times), "times": times, "n_clusters": int(np.max(labels)) + 1,
            "core_frac": float(np.mean(core)), **extra}


def _w_edges(args, workdir: Path) -> dict:
    """The eps-edge certificate of a timed geocity run (which, like the
    baselines, does not count the pairs on the edge): the same call in a
    process of its own (so that neither its time nor its memory is in the
    row), with ``count_edge_pairs=True``; its labels and core flags must be
    those the timed run saved (``geo_tag``)."""
    import numpy as np

    from geocity.dbscan import geodesic_dbscan

    lat, lon, w = _load(workdir, args["kind"], args["n"])
    lab, core, info = geodesic_dbscan(lat, lon, eps_km=args["eps_km"], min_weight=args["min_weight"],
                                      weights=w if args.get("weighted", True) else None, return_info=True,
                                      count_edge_pairs=True)
    timed = np.load(workdir / f"out_{args['geo_tag']}.npz")
    if not (np.array_equal(lab, timed["labels"]) and np.array_equal(core, timed["core"])):
        raise AssertionError("geocity: labels or core flags differ with count_edge_pairs=True")
    return {"edge_pairs": int(info["edge_pairs"])}


def _explain_core_diff(workdir: Path, kind: str, n: int, eps_km: float, mw: int, tag_a: str, tag_b: str) -> str:
    """Points whose core flag differs between two outputs, with their
    neighbour counts (chord test on unit vectors, itself included)."""
    import numpy as np
    from scipy.spatial import cKDTree

    from geocity.geodesy import EARTH_RADIUS_KM, chord_from_arc_km, unit_vectors

    a, b = np.load(workdir / f"out_{tag_a}.npz")["core"], np.load(workdir / f"out_{tag_b}.npz")["core"]
    diff = np.flatnonzero(a != b)
    if not len(diff):
        return "core ="
    lat, lon, _ = _load(workdir, kind, n)
    X = unit_vectors(lat, lon)
    r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
    tree = cKDTree(X)
    cnt = np.array([np.sum(np.sqrt(((X[c] - X[i]) ** 2).sum(axis=1)) <= r)
                    for i, c in zip(diff[:2000], tree.query_ball_point(X[diff[:2000]], r * 1.01), strict=True)])
    lo_, hi_ = int(cnt.min()), int(cnt.max())
    first_core = int(a[diff].sum())
    return (f"core ≠ {len(diff)} ({first_core} core only in the first, {len(diff) - first_core} only in the "
            f"second; their neighbour counts {lo_}–{hi_}, min_samples {mw}; {int((cnt == mw).sum())} exactly "
            f"min_samples)")


def _w_dbscan(args, workdir: Path) -> dict:
    import numpy as np

    lat, lon, w = _load(workdir, args["kind"], args["n"])
    eps_km, mw = args["eps_km"], args["min_weight"]
    rss0 = _rss_mb()
    if args["side"] == "geocity":
        from geocity.dbscan import GRID_TIMINGS, geodesic_dbscan

        t0 = time.perf_counter()
        labels, core, info = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w, return_info=True)
        dt = time.perf_counter() - t0
        extra = {"engine": info.get("algorithm"), "n_unique": int(info.get("n_unique", -1)),
                 "phases": dict(GRID_TIMINGS)}
        if len(lat) <= 1_000_000:  # a second call in the same process: compiled kernels already loaded
            t0 = time.perf_counter()
            geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w)
            extra["warm_time"] = time.perf_counter() - t0
    else:
        from sklearn.cluster import DBSCAN

        from geocity.geodesy import EARTH_RADIUS_KM

        X = np.radians(np.column_stack([lat, lon]))
        t0 = time.perf_counter()
        est = DBSCAN(eps=eps_km / EARTH_RADIUS_KM, metric="haversine", algorithm="ball_tree", min_samples=mw,
                     n_jobs=args["threads"]).fit(X, sample_weight=w)
        dt = time.perf_counter() - t0
        labels = est.labels_
        core = np.zeros(len(lat), dtype=bool)
        core[est.core_sample_indices_] = True
        extra = {}
    np.savez(workdir / f"out_{args['tag']}.npz", labels=labels, core=core)
    return {"time": dt, "rss_before_mb": rss0, "n_clusters": int(labels.max()) + 1,
            "core_frac": float(core.mean()), **extra}


def _corridor_names():
    from geocity import corridors

    return corridors.available()


def _w_corridors(args, workdir: Path) -> dict:
    import numpy as np
    import pandas as pd

    lat, lon, _ = _load(workdir, args["kind"], args["n"])
    within = args["within_km"]
    names = _corridor_names()
    code = {c: i for i, c in enumerate(names)}
    # imports outside the timed region, for both sides
    import geopandas  # noqa: F401
    import scipy.spatial  # noqa: F401
    import shapely  # noqa: F401

    rss0 = _rss_mb()
    if args["side"] == "geocity":
        from geocity import corridors

        df = pd.DataFrame({"lat": lat, "lon": lon, "_row": np.arange(len(lat))})
        t0 = time.perf_counter()
        m = corridors.members(df, corridors=None, within_km=within)
        dt = time.perf_counter() - t0
        pid = m["_row"].to_numpy()
        cor = m["corridor"].map(code).to_numpy(np.int16)
        dist = m["distance_km"].to_numpy(float)
        chain = m["chainage_km"].to_numpy(float)
    else:
        t0 = time.perf_counter()
        pid, cor, dist, chain = _baseline_corridors(lat, lon, within, names)
        dt = time.perf_counter() - t0
    np.savez(workdir / f"out_{args['tag']}.npz", pid=pid, cor=cor, dist=dist, chain=chain)
    return {"time": dt, "rss_before_mb": rss0, "rows": int(len(pid))}


def _baseline_corridors(lat, lon, within_km, names):
    """The geopandas user's way: local metric CRS + sjoin(dwithin) + line_locate_point."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from geocity import corridors, geodesy

    out = []
    within_m = within_km * 1000.0
    for ci, name in enumerate(names):
        ln = corridors.lines(name)
        coords = shapely.get_coordinates(ln.geometry.to_numpy())
        lat0, lon0 = geodesy.spherical_centroid(coords[:, 1], coords[:, 0])
        crs = geodesy.local_crs(lat0, lon0, "aeqd")
        # cheap pre-filter: a padded lon/lat box around the corridor
        pad_lat = within_km / 110.0 + 0.5
        top = min(89.0, np.abs(coords[:, 1]).max() + pad_lat)
        pad_lon = within_km / (111.0 * np.cos(np.radians(top))) + 0.5
        sel = np.flatnonzero(
            (lat >= coords[:, 1].min() - pad_lat) & (lat <= coords[:, 1].max() + pad_lat)
            & (lon >= coords[:, 0].min() - pad_lon) & (lon <= coords[:, 0].max() + pad_lon)
        )
        if sel.size == 0:
            continue
        pts = gpd.GeoDataFrame({"pid": sel}, geometry=gpd.points_from_xy(lon[sel], lat[sel]), crs=4326).to_crs(crs)
        lines_l = ln[["branch", "geometry"]].to_crs(crs)
        j = gpd.sjoin(pts, lines_l, predicate="dwithin", distance=within_m, how="inner")
        if len(j) == 0:
            continue
        pg = j.geometry.to_numpy()
        lg = lines_l.geometry.to_numpy()[j["index_right"].to_numpy()]
        d = shapely.distance(pg, lg)
        pid = j["pid"].to_numpy()
        order = np.lexsort((d, pid))
        first = order[np.r_[True, pid[order][1:] != pid[order][:-1]]]
        ch = shapely.line_locate_point(lg[first], pg[first])
        out.append((pid[first], np.full(len(first), ci, np.int16), d[first] / 1000.0, ch / 1000.0))
    if not out:
        e = np.empty(0)
        return e.astype(np.int64), e.astype(np.int16), e, e
    return tuple(np.concatenate(x) for x in zip(*out, strict=True))


def _w_density(args, workdir: Path) -> dict:
    import numpy as np

    lat, lon, w = _load(workdir, args["kind"], args["n"])
    h, cell = args["bandwidth_km"], args["cell_deg"]
    rss0 = _rss_mb()
    if args["side"] == "geocity":
        import pandas as pd

        from geocity.density import density, kernel_integral_km2

        df = pd.DataFrame({"lat": lat, "lon": lon})
        t0 = time.perf_counter()
        s = density(df, weight=w, bandwidth_km=h, cell_deg=cell, extent=(-180, -90, 180, 90), method="binned")
        dt = time.perf_counter() - t0
        sums = s.values * kernel_integral_km2("gaussian", h)  # un-normalised kernel sums
        np.save(workdir / f"out_{args['tag']}.npy", sums.astype(np.float64))
        return {"time": dt, "rss_before_mb": rss0, "shape": list(s.values.shape)}
    from sklearn.neighbors import KernelDensity

    from geocity.geodesy import EARTH_RADIUS_KM

    g = np.load(workdir / f"out_{args['geo_tag']}.npy")
    nrow, ncol = g.shape
    rng = np.random.default_rng(0)
    n_rand = args["sample_cells"]
    rand = rng.choice(nrow * ncol, size=n_rand, replace=False)
    top = np.argsort(g.ravel())[-args["top_cells"]:]
    r, c = np.divmod(np.concatenate([rand, top]), ncol)
    qlat = 90.0 - (r + 0.5) * cell
    qlon = -180.0 + (c + 0.5) * cell
    bw = h / EARTH_RADIUS_KM
    t0 = time.perf_counter()
    kde = KernelDensity(kernel="gaussian", metric="haversine", algorithm="ball_tree", bandwidth=bw)
    kde.fit(np.radians(np.column_stack([lat, lon])), sample_weight=w)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    ls_rand = kde.score_samples(np.radians(np.column_stack([qlat[:n_rand], qlon[:n_rand]])))
    t_rand = time.perf_counter() - t0
    ls_top = kde.score_samples(np.radians(np.column_stack([qlat[n_rand:], qlon[n_rand:]])))
    # scikit-learn: log( sum w K / (sum w * 2 pi bw^2) ) for a 2-D gaussian kernel
    norm = w.sum() * 2.0 * np.pi * bw * bw
    sk = np.exp(np.concatenate([ls_rand, ls_top])) * norm
    gv = g[r, c]
    peak = float(g.max())
    err = np.abs(gv - sk)
    full = t_fit + t_rand * (nrow * ncol) / n_rand
    return {"time": full, "rss_before_mb": rss0, "t_fit": t_fit, "t_sample": t_rand, "sample_cells": n_rand,
            "cells": nrow * ncol, "max_err_frac": float(err.max() / peak),
            "max_err_frac_random": float(err[:n_rand].max() / peak),
            "max_err_frac_top": float(err[n_rand:].max() / peak), "peak_sk_top": float(sk.max() / peak)}


def _worker(spec: str) -> None:
    args = json.loads(spec)
    workdir = Path(args["workdir"])
    workers = {"gen": _w_gen, "warm": _w_warm, "dbscan": _w_dbscan, "wgs": _w_wgs, "edges": _w_edges,
               "corridors": _w_corridors,
               "density": _w_density}
    fn = workers[args["task"]]
    res = fn(args, workdir)
    res["vm_hwm_mb"] = vm_hwm_mb()
    (workdir / f"res_{args['tag']}.json").write_text(json.dumps(res))


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident set (``VmHWM``) of process ``pid`` since its ``exec``, in MB.

    ``None`` when the process is gone or the system has no ``/proc``. Used
    instead of ``wait4``'s ``ru_maxrss``, which on Linux also holds the
    parent's peak for a child started with ``vfork``/``exec``.
    """
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------
def _run(spec: dict, threads: int, timeout: float | None = None) -> dict:
    """Run one measurement in a fresh subprocess; return its result + peak RSS."""
    workdir = Path(spec["workdir"])
    res_file = workdir / f"res_{spec['tag']}.json"
    res_file.unlink(missing_ok=True)
    log = open(workdir / f"log_{spec['tag']}.txt", "w")
    t0 = time.perf_counter()
    p = subprocess.Popen([PY, str(Path(__file__).resolve()), "--_worker", json.dumps(spec)],
                         env=_env(threads), stdout=log, stderr=subprocess.STDOUT)
    status = None
    polled = 0.0  # the child's VmHWM as last read from /proc (a lower bound)
    while True:
        pid, st = os.waitpid(p.pid, os.WNOHANG)
        if pid:
            status = st
            break
        polled = max(polled, vm_hwm_mb(p.pid) or 0.0)
        if timeout is not None and time.perf_counter() - t0 > timeout:
            p.kill()
            os.waitpid(p.pid, 0)
            p.returncode = -9
            log.close()
            return {"ok": False, "why": f"timeout after {timeout:.0f} s", "peak_mb": polled}
        time.sleep(0.2)
    p.returncode = os.waitstatus_to_exitcode(status)
    log.close()
    peak = polled
    if p.returncode != 0 or not res_file.exists():
        tail = (workdir / f"log_{spec['tag']}.txt").read_text()[-600:]
        return {"ok": False, "why": f"exit {p.returncode}: {tail.strip().splitlines()[-1] if tail.strip() else ''}",
                "peak_mb": peak}
    out = json.loads(res_file.read_text())
    out.update(ok=True, peak_mb=max(peak, out.pop("vm_hwm_mb", None) or 0.0))
    return out


def _partition_equal(a, b) -> bool:
    import numpy as np

    if len(a) == 0:
        return True
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _agree_dbscan(workdir: Path, tg: str, tb: str) -> str:
    import numpy as np

    g, b = np.load(workdir / f"out_{tg}.npz"), np.load(workdir / f"out_{tb}.npz")
    gl, gc, bl, bc = g["labels"], g["core"], b["labels"], b["core"]
    core_ok = bool(np.array_equal(gc, bc))
    noise_ok = bool(np.array_equal(gl == -1, bl == -1))
    part_ok = core_ok and _partition_equal(gl[gc], bl[bc])
    same = int((gl == bl).sum())
    parts = [f"core {'=' if core_ok else f'≠({int((gc != bc).sum())})'}",
             f"noise {'=' if noise_ok else f'≠({int(((gl == -1) != (bl == -1)).sum())})'}",
             f"core partition {'=' if part_ok else '≠'}",
             "labels =" if same == len(gl) else f"labels ≠ {len(gl) - same}"]
    return ", ".join(parts)


def _exact_corridor_distance(plat, plon, names):
    """Reference: exact WGS 84 distance (km) from each point to each corridor.

    Golden-section search of the ellipsoidal geodesic distance along every
    waypoint-to-waypoint geodesic of the corridor near the point (candidates
    from a 2 km sampling of the geodesics); independent of geocity's method.
    Returns an array (n_points, n_corridors).
    """
    import numpy as np

    from geocity import corridors, geodesy

    G = geodesy.GEOD
    wp = corridors.waypoints(names)
    out = np.full((len(plat), len(names)), np.inf)
    step = 2.0
    gr = (np.sqrt(5.0) - 1.0) / 2.0
    for ci, name in enumerate(names):
        segs = []  # (lat_a, lon_a, az, length_km)
        for _, g in wp[wp["corridor"] == name].groupby("branch", sort=False):
            g = g.sort_values("seq")
            la, lo = g["lat"].to_numpy(float), g["lon"].to_numpy(float)
            az, _, dm = G.inv(lo[:-1], la[:-1], lo[1:], la[1:])
            for k in range(len(la) - 1):
                if dm[k] > 0:
                    segs.append((la[k], lo[k], float(np.atleast_1d(az)[k]), float(np.atleast_1d(dm)[k]) / 1000.0))
        # sample every segment every `step` km
        s_lat, s_lon, s_seg, s_pos = [], [], [], []
        for si, (la, lo, az, L) in enumerate(segs):
            pos = np.linspace(0.0, L, max(2, int(np.ceil(L / step)) + 1))
            x, y, _ = G.fwd(np.full(len(pos), lo), np.full(len(pos), la), np.full(len(pos), az), pos * 1000.0)
            s_lon.append(np.asarray(x)), s_lat.append(np.asarray(y))
            s_seg.append(np.full(len(pos), si)), s_pos.append(pos)
        s_lat, s_lon = np.concatenate(s_lat), np.concatenate(s_lon)
        s_seg, s_pos = np.concatenate(s_seg), np.concatenate(s_pos)
        seg_arr = np.array(segs)
        for a in range(0, len(plat), 200):
            pl, po = plat[a:a + 200], plon[a:a + 200]
            d = geodesy.haversine_km(pl[:, None], po[:, None], s_lat[None, :], s_lon[None, :])
            dmin = d.min(axis=1)
            # every sample within dmin + 2 % + step of the best is a candidate bracket centre
            rows, cols = np.nonzero(d <= (dmin * 1.02 + 2 * step)[:, None])
            # one bracket per (point, segment): around that segment's closest sample
            key = rows * len(segs) + s_seg[cols]
            o = np.lexsort((d[rows, cols], key))
            first = o[np.r_[True, key[o][1:] != key[o][:-1]]]
            rows, cols = rows[first], cols[first]
            si = s_seg[cols]
            L = seg_arr[si, 3]
            lo_b = np.maximum(s_pos[cols] - step, 0.0)
            hi_b = np.minimum(s_pos[cols] + step, L)
            la0, lo0, az0 = seg_arr[si, 0], seg_arr[si, 1], seg_arr[si, 2]
            qlat, qlon = pl[rows], po[rows]

            def f(s, lo0=lo0, la0=la0, az0=az0, qlat=qlat, qlon=qlon):
                x, y, _ = G.fwd(lo0, la0, az0, s * 1000.0)
                return geodesy.distance_km(qlat, qlon, np.asarray(y), np.asarray(x))

            x1 = hi_b - gr * (hi_b - lo_b)
            x2 = lo_b + gr * (hi_b - lo_b)
            f1, f2 = f(x1), f(x2)
            for _ in range(45):
                left = f1 < f2
                hi_b = np.where(left, x2, hi_b)
                lo_b = np.where(left, lo_b, x1)
                x2n = np.where(left, x1, lo_b + gr * (hi_b - lo_b))
                x1n = np.where(left, hi_b - gr * (hi_b - lo_b), x2)
                f2 = np.where(left, f1, np.nan)
                f1 = np.where(left, np.nan, f2)
                x1, x2 = x1n, x2n
                nf1, nf2 = np.isnan(f1), np.isnan(f2)
                if nf1.any():
                    f1 = np.where(nf1, f(x1), f1)
                if nf2.any():
                    f2 = np.where(nf2, f(x2), f2)
            ends = np.minimum(f(np.zeros_like(L)), f(L))
            best = np.minimum(np.minimum(f1, f2), ends)
            res = np.full(len(pl), np.inf)
            np.minimum.at(res, rows, best)
            out[a:a + 200, ci] = res
    return out


def _agree_corridors(workdir: Path, tg: str, tb: str, kind: str, n: int, within: float) -> tuple[str, dict]:
    import numpy as np

    g, b = np.load(workdir / f"out_{tg}.npz"), np.load(workdir / f"out_{tb}.npz")
    names = _corridor_names()
    nc = len(names)
    gk = g["pid"].astype(np.int64) * nc + g["cor"]
    bk = b["pid"].astype(np.int64) * nc + b["cor"]
    # memberships: ignore pairs within 1 m of the threshold (ambiguous at the reference's accuracy)
    g_near_edge = np.abs(g["dist"] - within) <= 1e-3
    only_b = np.setdiff1d(bk, gk)
    only_g = np.setdiff1d(gk[~g_near_edge], bk)
    # exact reference on a sample
    d = np.load(workdir / f"{kind}_{n}.npz")
    lat, lon = d["lat"], d["lon"]
    rng = np.random.default_rng(0)
    samp_g = rng.choice(len(gk), size=min(1500, len(gk)), replace=False)
    keys = [gk[samp_g]]
    if len(only_b):
        keys.append(rng.choice(only_b, size=min(300, len(only_b)), replace=False))
    if len(only_g):
        keys.append(rng.choice(only_g, size=min(300, len(only_g)), replace=False))
    rand_pts = rng.choice(n, size=min(1000, n), replace=False)
    pts = np.unique(np.concatenate([np.concatenate(keys) // nc, rand_pts]))
    ref = _exact_corridor_distance(lat[pts], lon[pts], names)  # (len(pts), nc)
    pos = {p: i for i, p in enumerate(pts.tolist())}
    ref_in = ref <= within
    # geocity on the sample
    g_of = np.full(ref.shape, np.inf)
    b_of = np.full(ref.shape, np.inf)
    sel = np.isin(g["pid"], pts)
    for p, c, dd in zip(g["pid"][sel], g["cor"][sel], g["dist"][sel], strict=True):
        g_of[pos[int(p)], c] = dd
    sel = np.isin(b["pid"], pts)
    for p, c, dd in zip(b["pid"][sel], b["cor"][sel], b["dist"][sel], strict=True):
        b_of[pos[int(p)], c] = dd
    both_g = np.isfinite(g_of) & ref_in
    err_g = float(np.abs(g_of - ref)[both_g].max() * 1000.0) if both_g.any() else float("nan")
    both_b = np.isfinite(b_of) & ref_in
    err_b = np.abs(b_of - ref)[both_b] * 1000.0
    not_edge = np.abs(ref - within) > 1e-3
    g_wrong = int(((np.isfinite(g_of) != ref_in) & not_edge).sum())
    b_wrong_s = int(((np.isfinite(b_of) != ref_in) & not_edge).sum())
    stats = {"pairs_geocity": int(len(gk)), "pairs_baseline": int(len(bk)), "baseline_only": int(len(only_b)),
             "geocity_only": int(len(only_g)), "sample_points": int(len(pts)), "sample_pairs_in": int(ref_in.sum()),
             "geocity_max_err_m": err_g, "geocity_wrong_in_sample": g_wrong,
             "baseline_max_err_m": float(err_b.max()) if err_b.size else float("nan"),
             "baseline_median_err_m": float(np.median(err_b)) if err_b.size else float("nan"),
             "baseline_wrong_in_sample": b_wrong_s}
    txt = (f"geocity max err {err_g * 1000:.2f} mm, {g_wrong} wrong (sample of {len(pts)} pts vs exact); "
           f"planar baseline max err {stats['baseline_max_err_m'] / 1000:.1f} km, misclassifies "
           f"{len(only_b) + len(only_g):,} memberships ({len(only_b):,} false in, {len(only_g):,} missed)")
    return txt, stats


def _machine() -> str:
    """nproc, CPU model, RAM and library versions, as comment lines."""
    import importlib.metadata as md

    model, mem = platform.machine(), "?"
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), model)
        with open("/proc/meminfo") as fh:
            kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("MemTotal"))
        mem = f"{kb / 2**20:.1f} GiB"
    except OSError:  # pragma: no cover - not Linux
        pass
    libs = []
    for name in ("numpy", "scipy", "scikit-learn", "numba", "geopandas", "shapely", "pyproj", "pandas"):
        try:
            libs.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            libs.append(f"{name} -")
    return (f"# machine: nproc {os.cpu_count()}, {model}, RAM {mem}, Python {platform.python_version()}\n"
            f"# {', '.join(libs)}")


def _wgs_row(a, workdir: Path, n: int, eps: float) -> dict:
    """One unweighted row: geocity against the Wang-Gu-Shun ``dbscan`` package
    (best of :data:`WGS_REPEAT` calls each, same run), and both against
    scikit-learn while ``n <= --sklearn-max``."""
    mw = DBSCAN_MIN_WEIGHT
    tag = f"wgs_clumped_{n}_{eps}"
    base = {"workdir": str(workdir), "kind": "clumped", "n": n, "task": "wgs", "threads": a.threads,
            "eps_km": eps, "min_weight": mw, "repeat": WGS_REPEAT if n <= 1_000_000 else 2}
    label = f"dbscan **unweighted** eps {eps:g} km, min_samples {mw} vs Wang–Gu–Shun `dbscan`"
    res = {}
    for side in ("geocity", "wgs", "sklearn"):
        if side == "sklearn" and n > a.sklearn_max:
            continue
        print(f"... {label}, n={n:,}: {side}", flush=True)
        res[side] = _run({**base, "side": side, "tag": f"{tag}_{side}"}, a.threads,
                         timeout=None if side == "geocity" else a.baseline_timeout)
    rg, rw, rs = res["geocity"], res["wgs"], res.get("sklearn")
    if rg["ok"]:
        rg["edge_pairs"] = _edge_count(a, {**base, "weighted": False}, f"{tag}_geocity")
    parts = []
    if rg["ok"] and rw["ok"]:
        parts.append("geocity vs theirs: " + _agree_dbscan(workdir, f"{tag}_geocity", f"{tag}_wgs").replace(
            "labels", "all labels"))
        diff = _explain_core_diff(workdir, "clumped", n, eps, mw, f"{tag}_geocity", f"{tag}_wgs")
        if diff != "core =":
            parts.append("geocity vs theirs " + diff)
    if rs is not None and rs["ok"]:
        for side in ("geocity", "wgs"):
            if res[side]["ok"]:
                who = "geocity" if side == "geocity" else "theirs"
                parts.append(f"scikit-learn vs {who}: " + _agree_dbscan(workdir, f"{tag}_sklearn", f"{tag}_{side}"))
        parts.append(f"scikit-learn {_fmt_t(rs['time'])}")
    elif rs is not None:
        parts.append(f"scikit-learn failed: {rs['why']}")
    else:
        parts.append(f"scikit-learn not run (n > {a.sklearn_max:,})")
    if rg["ok"]:
        parts.append(f"edge pairs {_fmt_n(rg['edge_pairs'])} [{rg['engine']}, {rg['n_clusters']:,} clusters, core "
                     f"{100 * rg['core_frac']:.0f} %]")
        ph = rg.get("phases") or {}
        if ph:
            parts.append("geocity phases (last call): " + ", ".join(f"{k} {v:.2f} s" for k, v in ph.items()))
        parts.append("times (s): geocity " + " / ".join(f"{t:.2f}" for t in rg["times"]) +
                     (", theirs " + " / ".join(f"{t:.2f}" for t in rw["times"]) if rw["ok"] else ""))
    if not rg["ok"]:
        parts.append(f"geocity failed: {rg['why']}")
    if not rw["ok"]:
        parts.append(f"theirs failed: {rw['why']}")
    ratio = rw["time"] / rg["time"] if rg["ok"] and rw["ok"] else None
    row = {"task": label, "n": n, "geocity_s": rg.get("time"), "geocity_peak_mb": rg.get("peak_mb"),
           "baseline_s": rw.get("time") if rw["ok"] else None, "baseline_peak_mb": rw.get("peak_mb"),
           "ratio": ratio, "agreement": "; ".join(parts), "geocity": rg, "baseline": rw, "stats": {"sklearn": rs}}
    print(f"    geocity {_fmt_t(row['geocity_s'])} {row['geocity_peak_mb'] or 0:.0f} MB | theirs "
          f"{_fmt_t(row['baseline_s'])} | {row['agreement']}", flush=True)
    return row


def _edge_count(a, base: dict, geo_tag: str):
    """The eps-edge count of the timed geocity run ``geo_tag`` (:func:`_w_edges`), or
    the reason it failed."""
    print("    ... eps-edge count (untimed)", flush=True)
    r = _run({**base, "task": "edges", "tag": geo_tag + "_edges", "geo_tag": geo_tag}, a.threads)
    return r["edge_pairs"] if r["ok"] else f"not counted ({r['why']})"


def _fmt_n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _fmt_t(t):
    if t is None:
        return "—"
    return f"{t:.2f} s" if t < 100 else f"{t:.0f} s"


def main(argv=None) -> int:  # noqa: C901 - options, then one loop over the plan's rows
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a few minutes in all")
    ap.add_argument("--tasks", default="dbscan,wgs,corridors,density",
                    help="dbscan (weighted, vs scikit-learn), wgs (unweighted, vs the Wang-Gu-Shun `dbscan` "
                         "package: pip install dbscan), corridors, density")
    ap.add_argument("--sizes", default=None, help="comma-separated point counts (override the defaults)")
    ap.add_argument("--eps", default=None, help="comma-separated eps_km values for dbscan with --sizes")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--sklearn-max", type=int, default=1_000_000, help="largest n for the scikit-learn DBSCAN")
    ap.add_argument("--baseline-timeout", type=float, default=900.0)
    ap.add_argument("--workdir", default=None, help="keep inputs/outputs here (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._worker:
        _worker(a._worker)
        return 0
    tasks = [t.strip() for t in a.tasks.split(",") if t.strip()]
    plan = QUICK if a.quick else FULL
    tmp = None
    if a.workdir:
        workdir = Path(a.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="geocity-bench-")
        workdir = Path(tmp.name)
    print(f"# threads: OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS={a.threads}, sklearn n_jobs={a.threads}; "
          f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}", flush=True)
    print(_machine(), flush=True)
    rows = []
    generated = set()
    if "dbscan" in tasks or "wgs" in tasks:
        r = _run({"task": "warm", "tag": "warm", "workdir": str(workdir)}, a.threads)
        if not r["ok"]:
            raise SystemExit(f"numba warm-up failed: {r['why']}")

    def gen(kind, n):
        if (kind, n) in generated or (workdir / f"{kind}_{n}.npz").exists():
            generated.add((kind, n))
            return
        r = _run({"task": "gen", "tag": f"gen_{kind}_{n}", "workdir": str(workdir), "kind": kind, "n": n},
                 a.threads)
        if not r["ok"]:
            raise SystemExit(f"data generation failed: {r['why']}")
        generated.add((kind, n))

    for task in tasks:
        items = plan[task]
        if task == "wgs":
            if a.sizes:
                eps_list = [float(e) for e in a.eps.split(",")] if a.eps else [DBSCAN_EPS_KM]
                items = [(int(float(n)), e) for n in a.sizes.split(",") for e in eps_list]
            for n, eps in items:
                gen("clumped", n)
                rows.append(_wgs_row(a, workdir, n, eps))
            continue
        if a.sizes:
            sizes = [int(float(s)) for s in a.sizes.split(",")]
            eps_list = [float(e) for e in a.eps.split(",")] if a.eps else [DBSCAN_EPS_KM]
            items = [(s, e, True) for s in sizes for e in eps_list] if task == "dbscan" else [(s, None) for s in sizes]
        for item in items:
            n, eps = item[0], item[1]
            wanted = item[2] if len(item) > 2 else True
            kind = item[3] if len(item) > 3 else "clumped"
            min_w = item[4] if len(item) > 4 else DBSCAN_MIN_WEIGHT
            gen(kind, n)
            tag = f"{task}_{kind}_{n}_{eps}"
            base = {"workdir": str(workdir), "kind": kind, "n": n, "task": task, "threads": a.threads}
            if task == "dbscan":
                base.update(eps_km=eps, min_weight=min_w)
                layer = "" if kind == "clumped" else f"{kind} "
                label = f"dbscan {layer}eps {eps:g} km, min_w {min_w:g}"
            elif task == "corridors":
                base.update(within_km=CORRIDOR_WITHIN_KM)
                label = f"corridors all 6, within {CORRIDOR_WITHIN_KM:g} km"
            else:
                base.update(bandwidth_km=DENSITY_BANDWIDTH_KM, cell_deg=DENSITY_CELL_DEG,
                            sample_cells=400 if a.quick else 300, top_cells=200)
                label = f"density h {DENSITY_BANDWIDTH_KM:g} km, {DENSITY_CELL_DEG:g}° world grid"
            print(f"... {label}, n={n:,}: geocity", flush=True)
            rg = _run({**base, "side": "geocity", "tag": tag + "_g"}, a.threads)
            if task == "dbscan" and rg["ok"]:
                rg["edge_pairs"] = _edge_count(a, base, tag + "_g")
            rb = None
            run_base = wanted and not (task == "dbscan" and n > a.sklearn_max)
            if run_base and rg["ok"]:
                print(f"... {label}, n={n:,}: baseline", flush=True)
                rb = _run({**base, "side": "baseline", "tag": tag + "_b", "geo_tag": tag + "_g"}, a.threads,
                          timeout=a.baseline_timeout)
            agree, stats = "", {}
            if rg["ok"] and rb and rb["ok"]:
                if task == "dbscan":
                    agree = _agree_dbscan(workdir, tag + "_g", tag + "_b")
                elif task == "corridors":
                    agree, stats = _agree_corridors(workdir, tag + "_g", tag + "_b", kind, n, CORRIDOR_WITHIN_KM)
                else:
                    agree = (f"max err {100 * rb['max_err_frac']:.3f} % of peak "
                             f"({rb['sample_cells']} random + 200 top cells); baseline time = fit + "
                             f"{rb['t_sample']:.1f} s × {rb['cells']:,}/{rb['sample_cells']} cells")
            elif not rg["ok"]:
                agree = f"geocity failed: {rg['why']}"
            elif rb is None:
                agree = (f"baseline not run (n > {a.sklearn_max:,})" if wanted else
                         "baseline not run (scikit-learn's neighbourhoods would not fit in memory)")
            else:
                agree = f"baseline failed: {rb['why']}"
            if rg.get("ok") and task == "dbscan":
                agree += f"; edge pairs {_fmt_n(rg['edge_pairs'])}"
                agree += f" [{rg.get('engine')}, {rg['n_clusters']:,} clusters, core {100 * rg['core_frac']:.0f} %]"
                if "warm_time" in rg:
                    agree += f"; geocity 2nd call in the same process {_fmt_t(rg['warm_time'])}"
                    if rb and rb.get("ok"):
                        agree += f" ({rb['time'] / rg['warm_time']:.1f}×)"
            ratio = (rb["time"] / rg["time"]) if (rb and rb.get("ok") and rg.get("ok")) else None
            row = {"task": label, "n": n, "geocity_s": rg.get("time"), "geocity_peak_mb": rg.get("peak_mb"),
                   "baseline_s": rb.get("time") if rb and rb.get("ok") else None,
                   "baseline_peak_mb": rb.get("peak_mb") if rb else None, "ratio": ratio, "agreement": agree,
                   "geocity": rg, "baseline": rb, "stats": stats}
            rows.append(row)
            print(f"    geocity {_fmt_t(row['geocity_s'])} {row['geocity_peak_mb'] or 0:.0f} MB | baseline "
                  f"{_fmt_t(row['baseline_s'])} | {agree}", flush=True)
    print()
    head = ("| task | n points | geocity time | geocity peak RSS | baseline time | baseline peak RSS | ratio "
            "| agreement |")
    print(head)
    print("|" + "---|" * 8)
    for r in rows:
        bpk = f"{r['baseline_peak_mb']:,.0f} MB" if r["baseline_peak_mb"] else "—"
        gpk = f"{r['geocity_peak_mb']:,.0f} MB" if r["geocity_peak_mb"] else "—"
        ratio = f"{r['ratio']:.1f}×" if r["ratio"] else "—"
        print(f"| {r['task']} | {r['n']:,} | {_fmt_t(r['geocity_s'])} | {gpk} | {_fmt_t(r['baseline_s'])} | {bpk} | "
              f"{ratio} | {r['agreement']} |")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1, default=str))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
