"""Scale tests (issue 8): the engines on realistic large layers.

What tests/test_cluster.py already covers is not repeated here (scikit-learn
agreement on many small random uniform/clumped/duplicate/antimeridian/polar
cases with zero weights, the core/noise invariants on random points, the
chunked KD-tree at 10^6 points under tracemalloc). This file adds:

* agreement with scikit-learn on the benchmark layers of
  ``benchmarks/datasets.py`` (GeoNames-clumped with log-normal jitter and
  exact duplicates, uniform, antimeridian, polar; gamma weights with zeros)
  at thousands of points, for every engine, and once through
  ``algorithm="auto"`` above the grid threshold;
* hypothesis properties the invariants test does not state: permutation
  invariance, invariance under scaling weights and ``min_weight`` together,
  splitting a point into weighted duplicates, monotonicity in ``min_weight``
  and ``eps_km``, grid engine = KD-tree engine on clustered data;
* corridor distances within 1 m of an exact ellipsoidal reference on all
  corridors, and membership equal to the reference's;
* a 1 000 000-point smoke test of the default engine in a fresh subprocess:
  under 60 s and under 1.5 GB peak resident memory (the child's own ``VmHWM``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _reference import sklearn_dbscan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geocity.dbscan import geodesic_dbscan
from geocity.geodesy import haversine_km

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))  # run.py imports datasets
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCH))
    return mod


@pytest.fixture(scope="module")
def datasets():
    return _module("datasets")


def _same_partition(a, b) -> bool:
    if len(a) == 0:
        return True
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def _edge_pairs_grid(lat, lon, eps_km, rtol=1e-9) -> int:
    """Pairs within ``rtol`` of eps (ambiguous: haversine and chord may round apart)."""
    from scipy.spatial import cKDTree

    from geocity.geodesy import chord_from_arc_km, unit_vectors

    X = unit_vectors(lat, lon)
    r = float(chord_from_arc_km(eps_km))
    pairs = cKDTree(X).query_pairs(r * (1 + 1e-6), output_type="ndarray")
    if len(pairs) == 0:
        return 0
    d = haversine_km(lat[pairs[:, 0]], lon[pairs[:, 0]], lat[pairs[:, 1]], lon[pairs[:, 1]])
    return int((np.abs(d - eps_km) <= rtol * eps_km).sum())


# --------------------------------------------------------------------------
# agreement with scikit-learn on the benchmark layers
# --------------------------------------------------------------------------
LAYERS = [
    ("clumped", 4000, 8.0, 6),
    ("clumped", 6000, 30.0, 15),
    ("uniform", 5000, 400.0, 4),
    ("antimeridian", 3000, 40.0, 8),
    ("polar", 3000, 25.0, 10),
]


@pytest.mark.parametrize("kind,n,eps_km,min_samples", LAYERS)
def test_benchmark_layers_match_sklearn_for_every_engine(datasets, kind, n, eps_km, min_samples):
    lat, lon, w = getattr(datasets, kind)(n)
    w = np.where(np.random.default_rng(n).random(n) < 0.1, 0.0, w)  # 10 % zero weights
    if _edge_pairs_grid(lat, lon, eps_km):
        pytest.skip("a pair lies within 1e-9 of eps: comparison ill-posed")
    sk_labels, sk_core = sklearn_dbscan(lat, lon, eps_km, min_samples, w)
    assert sk_core.any() and (~sk_core).any()  # a meaningful case
    infos = []
    for algorithm in ("grid", "kdtree"):
        labels, core, info = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_samples, weights=w,
                                             algorithm=algorithm, return_info=True, count_edge_pairs=True)
        infos.append(info)
        np.testing.assert_array_equal(core, sk_core)
        np.testing.assert_array_equal(labels == -1, sk_labels == -1)
        assert _same_partition(labels[core], sk_labels[core])
        np.testing.assert_array_equal(labels, sk_labels)  # documented tie rule: identical labels
    # both engines report the same diagnostics (same keys, same edge count: none here)
    assert infos[0].keys() == infos[1].keys()
    assert infos[0]["edge_pairs"] == infos[1]["edge_pairs"] == 0
    assert infos[0]["n_unique"] == infos[1]["n_unique"]


@pytest.mark.slow
def test_auto_engine_above_the_grid_threshold_matches_sklearn(datasets, monkeypatch):
    from geocity import dbscan as cluster

    monkeypatch.setattr(cluster, "_grid_cache_warm", lambda: True)  # else a cold cache waits for 300 000 points
    n = cluster.GRID_MIN_POINTS + 10_000
    lat, lon, w = datasets.clumped(n, seed=5)
    eps_km, min_samples = 3.0, 8
    labels, core, info = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=min_samples, weights=w,
                                         return_info=True)
    if cluster._have_numba():
        assert info["algorithm"] == "grid"
    assert info["n_unique"] < n  # the layer has exact duplicates
    if _edge_pairs_grid(lat, lon, eps_km):
        pytest.skip("a pair lies within 1e-9 of eps")
    sk_labels, sk_core = sklearn_dbscan(lat, lon, eps_km, min_samples, w)
    np.testing.assert_array_equal(core, sk_core)
    np.testing.assert_array_equal(labels, sk_labels)


# --------------------------------------------------------------------------
# hypothesis properties
# --------------------------------------------------------------------------
@st.composite
def clustered_layers(draw):
    """A few clumps (anywhere, including poles and ±180°) of points with
    quarter-integer weights (exact sums: no rounding at the threshold)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(1, 4))
    n = draw(st.integers(2, 120))
    clat = np.array([draw(st.sampled_from([-90.0, -60.0, 0.0, 35.0, 89.9, 90.0])) for _ in range(k)])
    clat = clat + rng.uniform(-1, 1, k)
    clon = np.array([draw(st.sampled_from([-180.0, -179.99, 0.0, 120.0, 179.99, 180.0])) for _ in range(k)])
    spread = draw(st.sampled_from([0.01, 0.1, 0.5]))
    c = rng.integers(0, k, n)
    lat = np.clip(clat[c] + rng.normal(0, spread, n), -90, 90)
    lon = (clon[c] + rng.normal(0, spread, n) + 180.0) % 360.0 - 180.0
    dup = rng.random(n) < 0.2
    src = rng.integers(0, n, n)
    lat[dup], lon[dup] = lat[src[dup]], lon[src[dup]]
    w = rng.integers(0, 9, n) / 4.0  # 0, 0.25, ..., 2
    eps_km = draw(st.sampled_from([1.0, 5.0, 20.0, 80.0]))
    min_weight = draw(st.sampled_from([0.5, 1.0, 2.25, 4.0]))
    return lat, lon, w, eps_km, min_weight


PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(layer=clustered_layers(), seed=st.integers(0, 1000))
def test_permutation_invariance(layer, seed):
    lat, lon, w, eps_km, mw = layer
    perm = np.random.default_rng(seed).permutation(len(lat))
    la, ca = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w)
    lb, cb = geodesic_dbscan(lat[perm], lon[perm], eps_km=eps_km, min_weight=mw, weights=w[perm])
    np.testing.assert_array_equal(cb, ca[perm])
    np.testing.assert_array_equal(lb == -1, la[perm] == -1)
    assert _same_partition(lb[cb], la[perm][cb])


@PROPS
@given(layer=clustered_layers(), power=st.integers(-3, 5))
def test_scaling_weights_and_min_weight_together_changes_nothing(layer, power):
    lat, lon, w, eps_km, mw = layer
    c = 2.0**power  # exact in binary floating point
    a = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w)
    b = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw * c, weights=w * c)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@PROPS
@given(layer=clustered_layers(), which=st.integers(0, 10_000))
def test_splitting_a_point_into_weighted_duplicates_changes_nothing(layer, which):
    lat, lon, w, eps_km, mw = layer
    i = which % len(lat)
    lat2, lon2 = np.append(lat, lat[i]), np.append(lon, lon[i])
    w2 = np.append(w, w[i] / 2.0)
    w2[i] = w[i] / 2.0
    la, ca = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w)
    lb, cb = geodesic_dbscan(lat2, lon2, eps_km=eps_km, min_weight=mw, weights=w2)
    np.testing.assert_array_equal(cb[:-1], ca)
    assert cb[-1] == cb[i] and lb[-1] == lb[i]
    np.testing.assert_array_equal(lb[:-1], la)


@PROPS
@given(layer=clustered_layers())
def test_monotone_in_min_weight_and_eps(layer):
    lat, lon, w, eps_km, mw = layer
    base_l, base_c = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w)
    _, strict_c = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw + 0.5, weights=w)
    assert not (strict_c & ~base_c).any()  # a larger min_weight never adds core points
    wide_l, wide_c = geodesic_dbscan(lat, lon, eps_km=eps_km * 2, min_weight=mw, weights=w)
    assert not (base_c & ~wide_c).any()  # a larger eps never removes core points
    # and every cluster of core points is inside one cluster of the wider run
    m = base_c
    pairs = np.unique(np.column_stack([base_l[m], wide_l[m]]), axis=0)
    assert len(pairs) == len(np.unique(base_l[m]))


@PROPS
@given(layer=clustered_layers())
def test_grid_engine_equals_kdtree_engine_and_invariants_hold(layer):
    lat, lon, w, eps_km, mw = layer
    lg, cg = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w, algorithm="grid")
    lk, ck = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=mw, weights=w, algorithm="kdtree")
    np.testing.assert_array_equal(cg, ck)
    np.testing.assert_array_equal(lg, lk)
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    near = d <= eps_km * (1 + 1e-9)
    surely = d <= eps_km * (1 - 1e-9)
    # each core point's weighted neighbourhood reaches min_weight; a non-core one's does not
    assert np.all(near[cg].astype(float) @ w >= mw - 1e-12)
    assert np.all(surely[~cg].astype(float) @ w < mw + 1e-12)
    # noise has no core point within eps; a border point has one of its own cluster
    noise = lg == -1
    assert not (surely[noise][:, cg]).any()
    for b in np.flatnonzero(~cg & ~noise):
        assert (near[b] & cg & (lg == lg[b])).any()


# --------------------------------------------------------------------------
# corridors: exact to 1 m on all corridors
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_corridor_distances_within_1_m_of_the_exact_reference(datasets):
    import pandas as pd

    from geocity import corridors

    run = _module("run")
    lat, lon, _ = datasets.clumped(60_000, seed=11)
    within = 100.0
    m = corridors.members(pd.DataFrame({"lat": lat, "lon": lon, "row": np.arange(len(lat))}),
                          corridors=None, within_km=within)
    names = corridors.available()
    rng = np.random.default_rng(0)
    rows = np.unique(np.concatenate([rng.choice(m["row"].to_numpy(), 250, replace=False),
                                     rng.choice(len(lat), 250, replace=False)]))
    ref = run._exact_corridor_distance(lat[rows], lon[rows], names)  # (points, corridors) km
    got = np.full(ref.shape, np.inf)
    pos = {r: i for i, r in enumerate(rows.tolist())}
    sub = m[m["row"].isin(rows)]
    for r, c, d in zip(sub["row"], sub["corridor"], sub["distance_km"], strict=True):
        got[pos[int(r)], names.index(c)] = d
    inside = ref <= within
    assert inside.sum() > 200
    err_m = np.abs(got[inside] - ref[inside]) * 1000.0
    assert err_m.max() <= 1.0, f"largest error {err_m.max():.3f} m"
    clear = np.abs(ref - within) > 1e-3
    np.testing.assert_array_equal(np.isfinite(got)[clear], inside[clear])


# --------------------------------------------------------------------------
# 10^6 points, default engine, fresh process: time and resident memory bounded
# --------------------------------------------------------------------------
_SMOKE = r"""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import datasets
from geocity.dbscan import geodesic_dbscan
lat, lon, w = datasets.clumped(1_000_000, seed=7)
t0 = time.perf_counter()
labels, core = geodesic_dbscan(lat, lon, eps_km=10.0, min_weight=20, weights=w)
dt = time.perf_counter() - t0
assert labels.shape == (1_000_000,) and core.shape == (1_000_000,)
assert core.any() and (labels >= 0).any() and (labels == -1).any()
assert not (labels[core] == -1).any()
# exact duplicates share everything
key = lat * 1000.0 + lon
o = np.argsort(key, kind="stable")
same = (lat[o][1:] == lat[o][:-1]) & (lon[o][1:] == lon[o][:-1])
assert same.sum() > 50_000
assert np.array_equal(labels[o][1:][same], labels[o][:-1][same])
print(f"dbscan {dt:.2f} s")
# this process's own peak resident set since exec (kB); wait4's ru_maxrss would
# also hold the pytest parent's peak, which Linux carries over vfork + exec
with open("/proc/self/status") as fh:
    hwm = [ln for ln in fh if ln.startswith("VmHWM:")][0].split()[1]
print(f"VmHWM_kB {hwm}")
"""


@pytest.mark.slow
def test_one_million_points_in_a_fresh_process_under_60_s_and_1_5_gb(tmp_path):
    import threading

    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env.setdefault(k, str(os.cpu_count() or 1))
    log = tmp_path / "smoke.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        p = subprocess.Popen([sys.executable, "-c", _SMOKE, str(BENCH)], env=env, stdout=fh, stderr=subprocess.STDOUT)
        killer = threading.Timer(300, p.kill)
        killer.start()
        try:
            p.wait()
        finally:
            killer.cancel()
    elapsed = time.perf_counter() - t0
    out = log.read_text()
    assert p.returncode == 0, out[-2000:]
    assert elapsed < 60, f"{elapsed:.1f} s in all ({out.strip()})"
    peak_mb = int(re.search(r"^VmHWM_kB (\d+)$", out, re.M).group(1)) / 1024.0
    assert peak_mb < 1500, f"peak resident memory {peak_mb:.0f} MB"
