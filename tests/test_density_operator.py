"""The binned method's cell averages on equal-area grids as one sparse matrix
(`_density_grid._linear_operator`): the same surface as averaging the
interpolated working grid sample by sample, with the polar samples summed
exactly; and the bilinear interpolation terms across the poles and the
antimeridian."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geocity import _density_grid as G
from geocity import _density_kernel as K
from geocity import density


class _PerSample:
    """The surface sample by sample (what the matrix replaces): each sub-sample's
    value interpolated (or summed exactly), then averaged per cell by ``_evaluate``."""

    def __init__(self, grid, plan, terms):
        self.grid, self.plan, self.terms = grid, plan, terms

    def apply(self, sums, f_exact=None):
        def at(lat, lon):
            nodes, weights, exact = self.terms(lat, lon)
            v = np.empty(lat.shape)
            v[~exact] = (sums.ravel()[nodes] * weights).sum(axis=1)
            if exact.any():
                v[exact] = f_exact(lat[exact], lon[exact])
            return v

        return G._evaluate(self.grid, self.plan, at)


def _frame(lat, lon, w):
    return pd.DataFrame({"lat": lat, "lon": lon, "w": w})


@pytest.mark.parametrize("case", ["world-with-arctic", "world-no-arctic", "regional-laea", "pacific-laea"])
def test_matrix_gives_the_per_sample_surface(monkeypatch, case):
    rng = np.random.default_rng(5)
    n = 300
    lat, lon = rng.uniform(-60, 60, n), rng.uniform(-180, 180, n)
    w = rng.gamma(1.0, 1.0, n)
    w[::9] = 0.0  # zero weights
    lon[:4] = [179.95, -179.95, 180.0, -180.0]  # the antimeridian
    kw: dict = dict(bandwidth_km=400.0, cell_km=150.0)
    if case == "world-with-arctic":
        lat[4:10], lon[4:10] = [90.0, 89.5, 85.0, 80.0, -90.0, -88.0], [0.0, 120.0, -60.0, 10.0, 0.0, 45.0]
        kw["extent"] = (-180, -90, 180, 90)
    elif case == "world-no-arctic":
        kw["extent"] = (-180, -90, 180, 90)
    elif case == "regional-laea":
        lat, lon = rng.uniform(20, 50, n), rng.uniform(60, 120, n)
        kw.update(cell_km=50.0)
    else:  # an extent across the antimeridian
        lat, lon = rng.uniform(-30, 30, n), (rng.uniform(150, 210, n) + 180) % 360 - 180
        kw.update(cell_km=60.0)
    frame = _frame(lat, lon, w)
    G._GEOMETRY.clear()
    by_matrix = density.density(frame, weight="w", method="binned", **kw)
    G._GEOMETRY.clear()
    monkeypatch.setattr(density, "_linear_operator", lambda grid, plan, terms, n_nodes, key: _PerSample(
        grid, plan, terms))
    per_sample = density.density(frame, weight="w", method="binned", **kw)
    a, b = by_matrix.values, per_sample.values
    assert np.array_equal(np.isnan(a), np.isnan(b))
    peak = float(np.nanmax(b))
    assert peak > 0
    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * peak, equal_nan=True)
    if case == "world-with-arctic":  # the polar samples were summed exactly, not interpolated
        (op,) = [v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "operator"] or [None]
        assert op is None  # the stand-in ran, so nothing was cached as a matrix
        G._GEOMETRY.clear()
        monkeypatch.undo()
        density.density(frame, weight="w", method="binned", **kw)
        (op,) = [v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "operator"]
        assert len(op.exact[0]) > 0


def test_one_matrix_serves_every_weight_of_the_points():
    rng = np.random.default_rng(8)
    lat, lon = rng.uniform(-70, 70, 200), rng.uniform(-180, 180, 200)
    kw = dict(bandwidth_km=400.0, cell_km=120.0, extent=(-180, -90, 180, 90), method="binned")
    G._GEOMETRY.clear()
    s1 = density.density(_frame(lat, lon, rng.gamma(1.0, 1.0, 200)), weight="w", **kw)
    s2 = density.density(_frame(lat, lon, rng.gamma(2.0, 1.0, 200)), weight="w", **kw)
    ops = [v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "operator"]
    assert len(ops) == 1  # the second surface reused the first one's matrix
    assert not np.array_equal(s1.values, s2.values, equal_nan=True)
    # points elsewhere with the same sampling plan and working grid: the same matrix
    density.density(_frame(lat + 1.0, lon, np.ones(200)), weight="w", **kw)
    assert len([v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "operator"]) == 1
    # a city near the pole: its polar samples are summed exactly, so another matrix
    arctic = density.density(_frame(np.append(lat, 84.0), np.append(lon, 0.0), np.ones(201)), weight="w",
                             **{**kw, "bandwidth_km": 800.0})
    assert np.nanmax(arctic.values) > 0
    ops = [v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "operator"]
    assert len(ops) == 2 and len(ops[1].exact[0]) > 0


@pytest.mark.parametrize("north,n_rows", [(90.0, 1800), (60.0, 500), (10.0, 1000)])
def test_bilinear_terms(north, n_rows):
    """Weights ≥ 0 summing to 1, nodes on the grid; a linear function of the
    nodes is reproduced inside the grid; beyond a pole the neighbouring row is
    the polar row half a turn away; across ±180° the last and first columns."""
    cell, n_cols = 0.1, 3600
    rng = np.random.default_rng(n_rows)
    south = north - n_rows * cell
    qlat = np.clip(rng.uniform(south - 0.2, north + 0.2, 50_000), -90, 90)
    qlon = rng.uniform(-180, 180, 50_000)
    nodes, w = K._bilinear_terms((n_rows, n_cols), north, cell, qlat, qlon)
    assert nodes.min() >= 0 and nodes.max() < n_rows * n_cols
    assert (w >= -1e-15).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-14)
    # inside (not within half a cell of an edge row or of ±180°): exact for a function linear in row, column
    r_c = (north - qlat) / cell - 0.5
    c_c = (qlon + 180.0) / cell - 0.5
    inside = (r_c > 0) & (r_c < n_rows - 1) & (c_c > 0) & (c_c < n_cols - 1)
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    f = 3.0 * rows + 0.5 * cols
    got = (f[nodes] * w).sum(axis=1)
    np.testing.assert_allclose(got[inside], (3.0 * r_c + 0.5 * c_c)[inside], rtol=1e-12, atol=1e-9)
    # across the antimeridian: a query at 179.99° blends the last column and the first
    n2, w2 = K._bilinear_terms((n_rows, n_cols), north, cell, np.array([north - 1.3 * cell]), np.array([179.99]))
    assert set(n2[0] % n_cols) == {n_cols - 1, 0}
    if north >= 90.0:  # above the first row's centre, near the pole: row 0 here and half a turn away
        n3, w3 = K._bilinear_terms((n_rows, n_cols), north, cell, np.array([89.99]), np.array([10.0]))
        assert set(n3[0] // n_cols) == {0}
        cols3 = n3[0] % n_cols
        assert {int(c) for c in cols3[:2]} == {int(c + n_cols // 2) % n_cols for c in cols3[2:]}
    else:  # beyond the northern edge: the edge row, weight 1 in all
        n4, _ = K._bilinear_terms((n_rows, n_cols), north, cell, np.array([north + 0.05]), np.array([10.0]))
        assert set(n4[0] // n_cols) == {0}


def test_world_surface_with_a_pole_city_conserves_the_weight_at_the_pole_line():
    """Equal Earth's pole line (a row sampled 24 x 24, each of its edge
    sub-cells over 4 x 16 points): cities at and near both poles, the whole
    weight on the grid, within the documented tolerance (else refused)."""
    lat = np.array([90.0, 89.9, 88.0, -90.0, -89.0, 0.0])
    lon = np.array([0.0, 100.0, -170.0, 0.0, 60.0, 0.0])
    w = np.array([1.0, 2.0, 1.0, 1.5, 0.5, 1.0])
    G._GEOMETRY.clear()
    s = density.density(_frame(lat, lon, w), weight="w", bandwidth_km=300.0, cell_km=25.0,
                        extent=(-180, -90, 180, 90))
    plan = [v for c in G._GEOMETRY.values() for k, v in c.items() if k[0] == "plan"][0]
    assert plan.s.max() > 8  # the pole-line rows are sampled finely
    areas = s.cell_areas_km2()
    total = float((np.nan_to_num(s.values) * areas).sum())
    assert abs(total / w.sum() - 1.0) <= G.MASS_TOLERANCE


def test_edge_cells_over_fewer_points_along_the_edge_give_the_full_surface(monkeypatch):
    """Edge sub-cells over EDGE_SUBSAMPLES points across the edge by EDGE_ALONG along it, against
    EDGE_SUBSAMPLES² points each: the same cells on the globe, the same weight, the edge cells
    within a small part of the peak (the full version's own error against 64 x 64 points is
    0.84 % of the peak on such a grid)."""
    rng = np.random.default_rng(1)
    n = 300
    lat = np.concatenate([rng.uniform(40, 66, n // 2), rng.uniform(-60, 60, n // 2), [90.0, 89.5]])
    lon = np.concatenate([rng.uniform(160, 200, n // 2), rng.uniform(-180, 180, n // 2), [0.0, 40.0]])
    frame = _frame(lat, (lon + 180) % 360 - 180, rng.gamma(1.0, 1.0, n + 2))
    kw = dict(weight="w", bandwidth_km=300.0, cell_km=50.0, extent=(-180, -90, 180, 90), method="binned")
    G._GEOMETRY.clear()
    few = density.density(frame, **kw)
    counts = [len(v[4][0]) for c in G._GEOMETRY.values() for k, v in c.items()
              if k[0] == "edge" and not k[3] and v[4] is not None]
    orig = G._edge_samples_uncached
    monkeypatch.setattr(G, "_edge_samples_uncached", lambda grid, rows, s, full=False: orig(grid, rows, s, True))
    G._GEOMETRY.clear()
    full = density.density(frame, **kw)
    counts_full = [len(v[4][0]) for c in G._GEOMETRY.values() for k, v in c.items()
                   if k[0] == "edge" and not k[3] and v[4] is not None]
    assert sum(counts) < 0.4 * sum(counts_full)  # far fewer points
    assert np.array_equal(np.isnan(few.values), np.isnan(full.values))
    peak = float(np.nanmax(full.values))
    assert float(np.nanmax(np.abs(few.values - full.values))) < 5e-3 * peak
    areas = full.cell_areas_km2()
    mass = [float((np.nan_to_num(v) * areas).sum()) for v in (few.values, full.values)]
    assert abs(mass[0] / mass[1] - 1.0) < 1e-4
