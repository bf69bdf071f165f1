"""The grid engine's code paths (issue 14), each exact.

The grid engine of :func:`geocity.dbscan.geodesic_dbscan` decides most
pairs by bounding boxes (whole cells, groups of leaves, leaves), joins whole
cells in its union-find (one forest per thread, merged), skips cell pairs
already joined and merges exact duplicates while sorting. Each strategy
(``"tree"``, ``"cells"``, ``"pairs"``: no box shortcut at all), with and
without the skipping, on one and on two numba threads, must give the
KD-tree engine's and scikit-learn's core flags, labels and eps-edge count on
layers with duplicates, the antimeridian, the poles, zero weights, dense
cells (more than a group of leaves each) and pairs at exactly eps.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _reference import sklearn_dbscan

from geocity import dbscan as D
from geocity.dbscan import geodesic_dbscan

numba = pytest.importorskip("numba")

STRATEGIES = [("tree", True), ("tree", False), ("cells", True), ("cells", False), ("pairs", True)]


def _destination(lat, lon, az_deg, dist_km):
    """Point at ``dist_km`` along azimuth ``az_deg`` on the DBSCAN sphere."""
    from geocity.geodesy import EARTH_RADIUS_KM

    p1, l1, az = np.radians(lat), np.radians(lon), np.radians(az_deg)
    d = dist_km / EARTH_RADIUS_KM
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(az))
    l2 = l1 + np.arctan2(np.sin(az) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return np.degrees(p2), (np.degrees(l2) + 180.0) % 360.0 - 180.0


def _around(rng, lat0, lon0, n, spread_km):
    az = rng.uniform(0, 360, n)
    dist = np.abs(rng.normal(0, spread_km, n))
    return _destination(lat0, lon0, az, dist)


def _layer(kind: str, seed: int = 0):
    """``(lat, lon, w, eps_km, min_weight)`` of a small awkward layer."""
    rng = np.random.default_rng(seed)
    if kind == "clumps+duplicates":
        parts = [_around(rng, la, lo, m, s) for la, lo, m, s in
                 [(31.2, 121.5, 900, 6.0), (48.9, 2.35, 500, 3.0), (-33.9, 151.2, 300, 10.0), (0.0, 0.0, 200, 40.0)]]
        lat = np.concatenate([p[0] for p in parts])
        lon = np.concatenate([p[1] for p in parts])
        dup = rng.integers(0, lat.size, 300)
        lat = np.concatenate([lat, lat[dup]])
        lon = np.concatenate([lon, lon[dup]])
        eps, mw = 2.0, 6
    elif kind == "antimeridian":
        lat, lon = _around(rng, -17.0, 179.99, 1500, 8.0)
        eps, mw = 1.5, 5
    elif kind == "poles":
        a = _around(rng, 89.99, 0.0, 900, 6.0)
        b = _around(rng, -89.995, 45.0, 600, 4.0)
        lat, lon = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
        lat = np.concatenate([lat, [90.0, 90.0, -90.0]])
        lon = np.concatenate([lon, [0.0, 123.0, -180.0]])
        eps, mw = 1.5, 5
    elif kind == "dense":  # cells of hundreds of points (groups of leaves) next to sparse ones
        a = _around(rng, 35.7, 139.7, 2500, 0.4)
        b = _around(rng, 35.7, 139.7, 700, 6.0)
        lat, lon = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
        eps, mw = 0.8, 40
    else:
        raise AssertionError(kind)
    w = rng.gamma(2.0, 0.5, lat.size)
    w[rng.random(lat.size) < 0.15] = 0.0  # zero weights
    return np.asarray(lat, float), np.asarray(lon, float), w, eps, mw


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    old = numba.get_num_threads()
    n = min(request.param, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    yield n
    numba.set_num_threads(old)


@pytest.fixture
def grid_options(monkeypatch):
    def set_(strategy, skip):
        monkeypatch.setattr(D, "_GRID_OPTIONS", {"strategy": strategy, "skip": skip})
    return set_


@pytest.mark.parametrize("kind", ["clumps+duplicates", "antimeridian", "poles", "dense"])
def test_every_grid_strategy_equals_sklearn_and_the_kdtree_engine(kind, threads, grid_options):
    lat, lon, w, eps, mw = _layer(kind)
    ref_lab, ref_core, ref_info = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=mw, weights=w,
                                                  algorithm="kdtree", return_info=True, count_edge_pairs=True)
    assert ref_info["edge_pairs"] == 0
    sk_lab, sk_core = sklearn_dbscan(lat, lon, eps, mw, w)
    np.testing.assert_array_equal(ref_core, sk_core)
    np.testing.assert_array_equal(ref_lab, sk_lab)
    assert 0 < ref_core.sum() < len(lat) and (ref_lab == -1).any()  # cores, borders and noise all present
    for (strategy, skip), count in itertools.product(STRATEGIES, [True, False]):
        grid_options(strategy, skip)
        lab, core, info = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=mw, weights=w, algorithm="grid",
                                          return_info=True, count_edge_pairs=count)
        assert info["algorithm"] == "grid"
        assert info["n_unique"] == ref_info["n_unique"]
        assert info["edge_pairs"] == (0 if count else None)
        np.testing.assert_array_equal(core, ref_core, err_msg=f"{strategy} skip={skip} count={count}")
        np.testing.assert_array_equal(lab, ref_lab, err_msg=f"{strategy} skip={skip} count={count}")


def test_dense_layer_really_has_cells_of_several_groups():
    """The 'dense' layer exercises the group level of the boxes."""
    lat, lon, w, eps, mw = _layer("dense")
    from geocity.geodesy import EARTH_RADIUS_KM, chord_from_arc_km, unit_vectors

    r = float(chord_from_arc_km(eps, EARTH_RADIUS_KM))
    s = r / np.sqrt(3.0) * (1.0 - 1e-6)
    cells = np.floor((unit_vectors(lat, lon) + 1.0) / s).astype(np.int64)
    _, counts = np.unique(cells, axis=0, return_counts=True)
    assert counts.max() > D.LEAF_POINTS**2


def _edge_layer(eps_km):
    """Pairs at exactly eps (as decided by the chord test) across the map."""
    rng = np.random.default_rng(7)
    lat, lon = [], []
    for la, lo in [(0.0, 0.0), (45.0, 179.999), (89.9, 10.0), (-20.0, -179.995), (60.0, 100.0)]:
        for az in rng.uniform(0, 360, 40):
            la2, lo2 = _destination(la, lo, az, eps_km)
            lat += [la, float(la2)]
            lon += [lo, float(lo2)]
    return np.array(lat), np.array(lon)


def test_grid_strategies_count_the_same_pairs_on_the_eps_edge(threads, grid_options):
    eps = 5.0
    lat, lon = _edge_layer(eps)
    ref_lab, ref_core, ref = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=3, algorithm="kdtree",
                                             return_info=True, count_edge_pairs=True)
    assert ref["edge_pairs"] > 0
    for (strategy, skip), count in itertools.product(STRATEGIES, [True, False]):
        grid_options(strategy, skip)
        lab, core, info = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=3, algorithm="grid", return_info=True,
                                          count_edge_pairs=count)
        assert info["edge_pairs"] == (ref["edge_pairs"] if count else None), strategy
        np.testing.assert_array_equal(core, ref_core)
        np.testing.assert_array_equal(lab, ref_lab)


def test_duplicates_merged_by_the_grid_sort_keep_the_lowest_index_and_sum_weights():
    # the same place many times, in scrambled order, plus -0.0 / 0.0 twins
    lat = np.array([10.0, 0.0, 10.0, -0.0, 10.0, 0.0, 10.001, 10.0])
    lon = np.array([20.0, 0.0, 20.0, 0.0, 20.0, -0.0, 20.0, 20.0])
    w = np.array([0.5, 1.0, 0.0, 1.0, 0.5, 0.0, 0.2, 0.9])
    for mw in (1.0, 1.9, 2.0, 2.1, 2.5):
        ref = geodesic_dbscan(lat, lon, eps_km=0.5, min_weight=mw, weights=w, algorithm="brute", return_info=True)
        got = geodesic_dbscan(lat, lon, eps_km=0.5, min_weight=mw, weights=w, algorithm="grid", return_info=True)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        assert got[2]["n_unique"] == ref[2]["n_unique"] == 3


def test_auto_waits_for_a_warm_numba_cache_below_the_cold_threshold(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # an empty cache: a fresh install
    assert not D._grid_cache_warm()
    assert D._grid_min_points() == max(D.GRID_MIN_POINTS, D.GRID_COLD_MIN_POINTS)
    monkeypatch.setattr(D, "_grid_cache_warm", lambda: True)
    assert D._grid_min_points() == D.GRID_MIN_POINTS


@pytest.mark.parametrize("strategy,skip", list(itertools.product(["tree", "pairs"], [True])))
def test_grid_on_the_benchmark_clumps_equals_kdtree(strategy, skip, grid_options):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "datasets.py"
    spec = importlib.util.spec_from_file_location("_bench_datasets", path)
    ds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ds)
    lat, lon, w = ds.clumped(30_000, seed=11)
    grid_options(strategy, skip)
    for eps, count in itertools.product((1.0, 10.0), (True, False)):
        ref = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=20, weights=w, algorithm="kdtree", return_info=True,
                              count_edge_pairs=True)
        got = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=20, weights=w, algorithm="grid", return_info=True,
                              count_edge_pairs=count)
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_array_equal(got[0], ref[0])
        assert got[2]["edge_pairs"] == (ref[2]["edge_pairs"] if count else None)
        assert got[2]["n_unique"] == ref[2]["n_unique"]


def test_edge_pairs_are_counted_only_when_asked_and_the_option_is_checked():
    """``info["edge_pairs"]`` is None (not counted) unless ``count_edge_pairs=True``, for every
    engine, with the same labels; a non-boolean value is a clear error."""
    from geocity.errors import ValidationError

    lat, lon = _edge_layer(5.0)
    ref = geodesic_dbscan(lat, lon, eps_km=5.0, min_weight=3, algorithm="brute", return_info=True,
                          count_edge_pairs=True)
    assert ref[2]["edge_pairs"] > 0
    for algorithm in ("brute", "kdtree", "grid"):
        lab, core, info = geodesic_dbscan(lat, lon, eps_km=5.0, min_weight=3, algorithm=algorithm, return_info=True)
        assert info["edge_pairs"] is None, algorithm
        np.testing.assert_array_equal(lab, ref[0])
        np.testing.assert_array_equal(core, ref[1])
    for bad in ("yes", 1, None):
        with pytest.raises(ValidationError, match="count_edge_pairs must be True or False"):
            geodesic_dbscan(lat, lon, eps_km=5.0, min_weight=3, count_edge_pairs=bad)


def test_bucketed_sort_gives_the_argsort_and_the_same_clusters(monkeypatch):
    """The grid's sort split into buckets on threads (forced on a small layer, 3 threads):
    keys in order, every index once, and the labels of the one-thread sort."""
    from geocity import _dbscan_grid as DG
    from geocity import _grid_numba as K
    from geocity import _threads

    rng = np.random.default_rng(4)
    key = np.concatenate([rng.integers(0, 50, 3000), rng.integers(0, 2**40, 3000), np.full(500, 7)])
    rng.shuffle(key)
    monkeypatch.setattr(DG, "SORT_THREAD_MIN", 1)
    for t in (2, 3, 5):
        monkeypatch.setattr(_threads, "n_threads", lambda limit=8, t=t: t)
        order, ks = DG._sort_keys(K, key)
        assert np.array_equal(np.sort(order), np.arange(len(key)))
        assert np.array_equal(ks, key[order]) and np.all(np.diff(ks) >= 0)
    lat, lon, w, eps, mw = _layer("clumps+duplicates")
    ref = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=mw, weights=w, algorithm="kdtree")
    got = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=mw, weights=w, algorithm="grid")
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("distinct", [1, 2, 3, 40, 300])
def test_sort_kernels_on_many_chunks_equal_a_stable_argsort_and_bincount(distinct):
    """The grid's parallel duplicate merge on chunks of the sorted keys (the fast suite's layers fit
    in one chunk): runs of equal keys longer than a chunk, empty chunks, up to one chunk per
    point — the same unique points, weights, counts and inverse as a stable argsort + bincount."""
    from geocity import _grid_numba as K

    rng = np.random.default_rng(distinct)
    base = rng.normal(size=(300, 3))
    ids = rng.integers(0, 300, 3000)
    X, w = base[ids], rng.random(3000) * 0.3
    key = (ids % distinct).astype(np.int64) << 6  # equal points have equal keys
    shift = 6
    o = np.argsort(key, kind="stable")
    ks = key[o]
    uid, rep, nu = np.empty(len(X), np.int64), [], 0
    a = 0
    while a < len(X):  # reference: unique points in sorted order, numbered by first occurrence per run
        b, seen = a, {}
        while b < len(X) and ks[b] == ks[a]:
            b += 1
        for i in range(a, b):
            t = tuple(X[o[i]])
            if t not in seen:
                seen[t], nu = nu, nu + 1
                rep.append(i)
            uid[i] = seen[t]
        a = b
    rep = np.array(rep)
    inv = np.empty(len(X), np.int64)
    inv[o] = uid
    ref = (inv, X[o[rep]], o[rep], ks[rep] >> shift, np.bincount(uid, weights=w[o], minlength=nu),
           np.bincount(uid, minlength=nu))
    order = np.argsort(key)  # unstable: the kernels make it stable
    for nch in (1, 2, 3, 5, 17, 64, 3000):
        oo = order.copy()
        bounds = K._run_bounds(ks, nch)
        assert np.all(np.diff(bounds) >= 0) and bounds[0] == 0 and bounds[-1] == len(ks)
        K._stabilise_chunks(ks, oo, bounds)
        u, r, nloc = np.empty(len(X), np.int64), np.empty(len(X), np.int64), np.empty(len(bounds) - 1, np.int64)
        K._dedupe_chunks(X, ks, oo, bounds, u, r, nloc)
        off = np.zeros(len(bounds), np.int64)
        np.cumsum(nloc, out=off[1:])
        m = int(off[-1])
        got = (np.empty(len(X), np.int64), np.empty((m, 3)), np.empty(m, np.int64), np.empty(m, np.int64),
               np.empty(m), np.empty(m, np.int64))
        K._gather_unique(X, w, ks, oo, bounds, off, u, r, shift, *got)
        for name, g, want in zip("inv U first uks wu mult".split(), got, ref, strict=True):
            assert g.tobytes() == want.tobytes(), (nch, name)
