"""Distributed geodesic DBSCAN (geocity.distributed) against the single-machine engine.

Writes ``n`` clumped points (``datasets.clumped``: around GeoNames places, 10 %
exact duplicates, gamma weights) as a partitioned GeoParquet folder, then

* ``single``: one process reads the whole folder (geopandas) and runs
  ``geocity.dbscan.geodesic_dbscan`` — time and peak resident memory (VmHWM);
* ``dask``: a ``distributed.LocalCluster`` of ``--workers`` processes (one
  thread each) runs ``geocity.distributed.dbscan`` from the folder to a
  GeoParquet folder of labels — wall time and the peak resident memory of
  each worker process (sampled every 0.2 s);

and checks that the labels and core flags are identical. Results go to
``<workdir>/distributed_<n>.json`` and one Markdown row per run on stdout
(recorded in ``benchmarks/DISTRIBUTED.md``).

    python benchmarks/distributed.py --n 10000000 --workers 2 --workdir /tmp/geocity-dist
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# this file is called distributed.py: keep its folder off the path so that `import distributed` is Dask's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def _vm_hwm_mb(pid="self"):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _rss_mb():
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def generate(n: int, parts: int, folder: Path) -> None:
    """``n`` clumped points as ``parts`` GeoParquet files (geometry + weight)."""
    import importlib.util

    import geopandas as gpd

    spec = importlib.util.spec_from_file_location("geocity_bench_datasets", HERE / "datasets.py")
    datasets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(datasets)

    folder.mkdir(parents=True)
    step = -(-n // parts)
    for i in range(parts):  # each part its own seed: generation in bounded memory
        m = min(step, n - i * step)
        lat, lon, w = datasets.clumped(m, seed=1000 + i)
        g = gpd.GeoDataFrame({"weight": w}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        g.to_parquet(folder / f"part.{i:05d}.parquet")


def single(folder: Path, eps_km: float, min_weight: float, out: Path) -> dict:
    """The single-machine run (in its own process, for a clean memory peak)."""
    import geopandas as gpd

    from geocity.dbscan import geodesic_dbscan

    t0 = time.perf_counter()
    from geocity.distributed import parquet_files

    files = parquet_files(folder)  # the order every geocity path reads a folder in (natural, as Dask)
    lat, lon, w = [], [], []
    for f in files:
        g = gpd.read_parquet(f)
        lat.append(g.geometry.y.to_numpy())
        lon.append(g.geometry.x.to_numpy())
        w.append(g["weight"].to_numpy())
        del g
    lat, lon, w = np.concatenate(lat), np.concatenate(lon), np.concatenate(w)
    t1 = time.perf_counter()
    labels, core = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_weight, weights=w)
    t2 = time.perf_counter()
    np.save(out / "single_labels.npy", labels)
    np.save(out / "single_core.npy", core)
    return {"read_s": t1 - t0, "cluster_s": t2 - t1, "total_s": t2 - t0, "peak_mb": _vm_hwm_mb(),
            "clusters": int(labels.max()) + 1, "core_frac": float(core.mean())}


def dask_run(folder: Path, eps_km: float, min_weight: float, workers: int, out: Path,
             memory_limit: str | None, tasks: int | None = None, client_join_max: int | None = None) -> dict:
    import distributed

    from geocity import distributed as gd

    if client_join_max is not None:  # where the boundary records are joined (client below, workers above)
        gd.CLIENT_JOIN_MAX_RECORDS = client_join_max

    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", memory_limit=memory_limit or "auto")
    client = distributed.Client(cluster)
    peaks: dict[str, float] = {}
    loads: list[float] = []  # 1-minute load average, every ~10 s (the machine is shared)
    stop = threading.Event()

    def sample():
        k = 0
        while not stop.is_set():
            try:
                for addr, mb in client.run(_rss_mb).items():
                    peaks[addr] = max(peaks.get(addr, 0.0), mb)
            except Exception:  # a worker restarting
                pass
            if k % 50 == 0:
                with open("/proc/loadavg") as fh:
                    loads.append(float(fh.read().split()[0]))
                try:  # what was measured so far, should the run be stopped before it ends
                    snap = {"elapsed_s": time.perf_counter() - t0, "peak_worker_mb_sampled": peaks,
                            "peak_worker_mb_vmhwm": client.run(_vm_hwm_mb), "client_peak_mb": _vm_hwm_mb(),
                            "loadavg_1min": loads}
                    (out / "progress.json").write_text(json.dumps(snap, indent=1))
                except Exception:  # a worker restarting
                    pass
            k += 1
            stop.wait(0.2)

    t0 = time.perf_counter()
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    labels_dir = out / "dask_labels"
    res = gd.dbscan(folder, eps_km=eps_km, min_weight=min_weight, weight_column="weight", client=client,
                    output=labels_dir, overwrite=True, npartitions=tasks)
    t1 = time.perf_counter()
    stop.set()
    th.join()
    hwm = client.run(_vm_hwm_mb)  # kernel peak of each live worker process
    client.close()
    cluster.close()
    return {"total_s": t1 - t0, "workers": workers, "peak_worker_mb_sampled": peaks,
            "peak_worker_mb_vmhwm": hwm, "client_peak_mb": _vm_hwm_mb(), "clusters": res.n_clusters,
            "info": res.info, "memory_limit": memory_limit or "auto",
            "loadavg_1min_during": {"min": min(loads, default=None), "max": max(loads, default=None),
                                    "mean": sum(loads) / len(loads) if loads else None, "samples": len(loads)}}


def compare(out: Path) -> dict:
    from geocity.distributed import read_labels

    a = read_labels(out / "dask_labels")
    lab = np.load(out / "single_labels.npy")
    core = np.load(out / "single_core.npy")
    return {"labels_identical": bool(np.array_equal(a["label"].to_numpy(), lab)),
            "core_identical": bool(np.array_equal(a["core"].to_numpy(), core)),
            "rows": bool(np.array_equal(a["row"].to_numpy(), np.arange(len(lab))))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--parts", type=int, default=None, help="GeoParquet files (default n / 500 000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eps-km", type=float, default=10.0)
    ap.add_argument("--min-weight", type=float, default=20.0)
    ap.add_argument("--tasks", type=int, default=None, help="clustering tasks (npartitions; default: dask's)")
    ap.add_argument("--client-join-max", type=int, default=None,
                    help="boundary records joined on the client up to this (default CLIENT_JOIN_MAX_RECORDS)")
    ap.add_argument("--generate-only", action="store_true", help="write the points folder and stop")
    ap.add_argument("--memory-limit", default=None, help="per worker, e.g. 6GB (default: dask's auto)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/geocity-dist"))
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--_single", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = args.workdir / f"n{args.n}"
    folder = out / "points"
    if args._single:
        print(json.dumps(single(folder, args.eps_km, args.min_weight, out)))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    if not folder.exists():
        t = time.perf_counter()
        generate(args.n, args.parts or max(1, args.n // 500_000), folder)
        print(f"generated {args.n} points in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    if args.generate_only:
        return 0
    result = {"n": args.n, "eps_km": args.eps_km, "min_weight": args.min_weight,
              "parquet_mb": sum(f.stat().st_size for f in folder.glob("*.parquet")) / 2**20,
              "parts": len(list(folder.glob("*.parquet"))), "cpus": os.cpu_count()}
    with open("/proc/loadavg") as fh:
        result["loadavg_before"] = fh.read().split()[:3]
    result["dask"] = dask_run(folder, args.eps_km, args.min_weight, args.workers, out, args.memory_limit,
                              args.tasks, args.client_join_max)
    print(json.dumps(result["dask"]), file=sys.stderr)
    if not args.skip_single:
        cmd = [sys.executable, __file__, "--_single", "--n", str(args.n), "--eps-km", str(args.eps_km),
               "--min-weight", str(args.min_weight), "--workdir", str(args.workdir)]
        result["single"] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        result["agreement"] = compare(out)
    with open("/proc/loadavg") as fh:
        result["loadavg_after"] = fh.read().split()[:3]
    tag = "".join(f"_{k}{v}" for k, v in (("t", args.tasks), ("j", args.client_join_max)) if v is not None)
    (args.workdir / f"distributed_{args.n}{tag}.json").write_text(json.dumps(result, indent=2))
    d = result["dask"]
    peak = max(d["peak_worker_mb_sampled"].values()) if d["peak_worker_mb_sampled"] else float("nan")
    s = result.get("single", {})
    print(f"| {args.n:,} | eps {args.eps_km:g} km, min_weight {args.min_weight:g} | {args.workers} workers: "
          f"{d['total_s']:.0f} s, peak/worker {peak:.0f} MB | single: {s.get('total_s', float('nan')):.0f} s, "
          f"{s.get('peak_mb') or float('nan'):.0f} MB | {result.get('agreement')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
