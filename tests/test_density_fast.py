"""The density engine's shortcuts: the compiled direct sum equals the NumPy
sum, and the per-grid geometry cache gives the surfaces computed without it."""

from __future__ import annotations

import numpy as np
import pytest

from geocity import _density_grid as G
from geocity import _density_kernel as K
from geocity import density

pytest.importorskip("numba")


def _points(rng, n):
    lat = np.concatenate([rng.uniform(-89.9, 89.9, n - 6), [90.0, -90.0, 0.0, 0.0, 45.0, 45.0]])
    lon = np.concatenate([rng.uniform(-180, 180, n - 6), [0.0, 0.0, 179.999, -179.999, 10.0, 10.0]])  # poles,
    w = rng.gamma(1.0, 1.0, n)                                                    # antimeridian, duplicates
    w[::7] = 0.0
    return lat, lon, w


@pytest.mark.parametrize("kernel", K.KERNELS)
@pytest.mark.parametrize("h", [5.0, 300.0, 3000.0])
def test_compiled_sum_equals_numpy_sum(monkeypatch, kernel, h):
    rng = np.random.default_rng(7)
    lat, lon, w = _points(rng, 400)
    qlat = np.concatenate([rng.uniform(-90, 90, 3000), lat[:50], [90.0, -90.0]])
    qlon = np.concatenate([rng.uniform(-180, 180, 3000), lon[:50] + 1e-7, [123.0, -45.0]])
    monkeypatch.setattr(K, "_NUMBA_SUMS", [None])
    ref = K._exact_at(qlat, qlon, lat, lon, w, kernel, h)
    monkeypatch.setattr(K, "_NUMBA_SUMS", [])
    got = K._exact_at(qlat, qlon, lat, lon, w, kernel, h)
    assert K._NUMBA_SUMS[0] is not None  # the compiled path ran
    scale = max(float(ref.max()), 1e-300)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * scale)
    assert ((ref == 0) == (got == 0)).mean() > 0.999  # zero where the kernel is zero (the support's edge aside)


def test_compiled_sum_thread_count_does_not_change_it():
    import numba

    rng = np.random.default_rng(3)
    lat, lon, w = _points(rng, 300)
    q = rng.uniform(-90, 90, 5000), rng.uniform(-180, 180, 5000)
    before = numba.get_num_threads()
    try:
        outs = []
        for t in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(t)
            outs.append(K._exact_at(q[0], q[1], lat, lon, w, "gaussian", 300.0))
    finally:
        numba.set_num_threads(before)
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


def test_geometry_cache_gives_the_uncached_surface(monkeypatch):
    rng = np.random.default_rng(11)
    lat, lon, w = rng.uniform(-70, 70, 200), rng.uniform(-180, 180, 200), rng.gamma(1.0, 1.0, 200)
    lon[:3] = [179.9, -179.9, 180.0]  # across the antimeridian
    kw = dict(bandwidth_km=300.0, cell_km=100.0, extent=(-180, -90, 180, 90))
    G._GEOMETRY.clear()
    first = density.density(_frame(lat, lon, w), weight="w", **kw)
    assert len(G._GEOMETRY) == 1
    second = density.density(_frame(lat, lon, w * 2.0), weight="w", **kw)  # same grid, other weights: cached
    monkeypatch.setattr(G, "GEOMETRY_CACHE_GRIDS", 0)  # nothing kept: every call computes its geometry
    G._GEOMETRY.clear()
    fresh = density.density(_frame(lat, lon, w * 2.0), weight="w", **kw)
    assert len(G._GEOMETRY) == 0
    assert np.array_equal(second.values, fresh.values, equal_nan=True)
    np.testing.assert_allclose(second.values, 2.0 * first.values, rtol=1e-12, equal_nan=True)


def test_geometry_cache_is_bounded_and_read_only():
    G._GEOMETRY.clear()
    for cell in (300.0, 400.0, 500.0):
        density.density(_frame(np.array([10.0, 20.0]), np.array([0.0, 5.0]), np.array([1.0, 2.0])), weight="w",
                        bandwidth_km=800.0, cell_km=cell, extent=(-180, -90, 180, 90))
    assert len(G._GEOMETRY) == G.GEOMETRY_CACHE_GRIDS
    arrays = [v for c in G._GEOMETRY.values() for v in c.values() if isinstance(v, np.ndarray)]
    assert arrays and all(not a.flags.writeable for a in arrays)


def _frame(lat, lon, w):
    import pandas as pd

    return pd.DataFrame({"lat": lat, "lon": lon, "w": w})


@pytest.mark.parametrize("kernel", K.KERNELS)
def test_truncated_sum_compiled_equals_numpy(monkeypatch, kernel):
    # the binned method's polar patch: the kernel of the working grid, truncated at its reach
    rng = np.random.default_rng(5)
    lat, lon, w = _points(rng, 300)
    qlat, qlon = rng.uniform(60, 90, 4000), rng.uniform(-180, 180, 4000)
    reach = K.kernel_reach_km(kernel, 300.0)
    monkeypatch.setattr(K, "_NUMBA_SUMS", [None])
    ref = K._exact_at(qlat, qlon, lat, lon, w, kernel, 300.0, reach_km=reach)
    full = K._exact_at(qlat, qlon, lat, lon, w, kernel, 300.0)
    monkeypatch.setattr(K, "_NUMBA_SUMS", [])
    got = K._exact_at(qlat, qlon, lat, lon, w, kernel, 300.0, reach_km=reach)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * float(ref.max()))
    # truncating at 6 bandwidths leaves out at most the Gaussian's tail beyond it
    assert np.all(full - ref >= -1e-12 * float(ref.max()))
    assert float(np.max(full - ref)) <= 1e-7 * float(w.sum())


def _threaded_case():
    rng = np.random.default_rng(5)
    lat, lon, w = rng.uniform(-80, 80, 300), rng.uniform(-180, 180, 300), rng.gamma(1.0, 1.0, 300)
    lon[:3] = [179.9, -179.9, 180.0]
    return _frame(lat, lon, w), dict(bandwidth_km=300.0, cell_km=40.0, extent=(-180, -90, 180, 90))


def test_projected_grid_transforms_in_threads_give_the_same_bytes(monkeypatch):
    """The Equal Earth grid's inverse/forward transforms split over threads (PROJ releases the GIL):
    each point on its own, so the surface is the same bytes as in one thread."""
    from geocity import _threads, geodesy

    frame, kw = _threaded_case()
    pools: dict = {}
    monkeypatch.setattr(_threads, "_pools", pools)  # this test's own pools (an earlier call may have started some)
    monkeypatch.setattr(geodesy, "UNIT_VECTOR_THREAD_MIN", 10**12)  # only the transforms may use threads here
    monkeypatch.setattr(G, "THREAD_MIN_POINTS", 10**12)  # one thread
    G._GEOMETRY.clear()
    one = density.density(frame, weight="w", **kw)
    assert pools == {}  # no thread was started
    monkeypatch.setattr(G, "THREAD_MIN_POINTS", 1000)
    monkeypatch.setattr(G, "MAX_THREADS", 3)
    monkeypatch.setattr(G, "n_threads", lambda limit: min(3, limit))
    G._GEOMETRY.clear()
    threaded = density.density(frame, weight="w", **kw)
    # the transforms ran in a pool of 3 threads (of 2 for those of 2000 to 3000 points: THREAD_MIN_POINTS each)
    assert 3 in pools and set(pools) <= {2, 3}
    assert one.values.tobytes() == threaded.values.tobytes()
    x, y = np.linspace(-1.7e7, 1.7e7, 7001), np.linspace(-8.7e6, 8.7e6, 7001)  # some off the globe
    split = G._transform_round_trip(G.EQUAL_EARTH, x, y)
    for p in pools.values():
        p.shutdown()
    monkeypatch.setattr(G, "THREAD_MIN_POINTS", 10**12)
    whole = G._transform_round_trip(G.EQUAL_EARTH, x, y)
    off = ~(np.hypot(whole[2] - x, whole[3] - y) < 1.0)  # off the globe: no round trip
    assert off.any() and (~off).any()
    for a, b in zip(split, whole, strict=True):
        assert a.tobytes() == b.tobytes()
