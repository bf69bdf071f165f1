"""Tests of geocity.density: normalisation, agreement with scikit-learn,
round bumps at high latitude, the binned/exact agreement, GeoTIFF, bad input."""

from __future__ import annotations

import hashlib
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geocity import density as D
from geocity.errors import NotFoundError, OutputExistsError, ValidationError
from geocity.geodesy import EARTH_RADIUS_KM, haversine_km


def _pts(lat, lon, w=None, crs="EPSG:4326"):
    w = np.ones(len(lat)) if w is None else np.asarray(w, dtype=float)
    return gpd.GeoDataFrame({"w": w}, geometry=gpd.points_from_xy(lon, lat), crs=crs)


@pytest.fixture(scope="module")
def cloud():
    rng = np.random.default_rng(42)
    n = 200
    lat = np.clip(rng.normal(40, 15, n), -70, 70)
    lon = rng.uniform(-180, 180, n)
    w = rng.uniform(0.0, 1.0, n)
    return _pts(lat, lon, w)


# --------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------
def test_integrates_to_total_weight_on_equal_area_grid(cloud):
    s = D.density(cloud, weight="w", bandwidth_km=300, cell_km=50, extent=(-180, -90, 180, 90))
    assert s.crs.equals(D.EQUAL_EARTH)
    # equal-area: every cell is 50 km x 50 km on the ground
    total = np.nansum(s.values) * 50.0 * 50.0
    assert total == pytest.approx(cloud["w"].sum(), rel=0.01)
    assert s.metadata["units"] == "w per km2"


def test_regional_grid_is_laea_and_integrates():
    p = _pts([48.85, 52.52, 41.9], [2.35, 13.4, 12.5], [1.0, 2.0, 0.5])
    s = D.density(p, weight="w", bandwidth_km=200, cell_km=20)
    assert "Lambert Azimuthal Equal Area" in s.crs.coordinate_operation.method_name
    assert s.total_weight() == pytest.approx(3.5, rel=0.01)


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov", "quartic"])
def test_lonlat_grid_integrates_for_each_kernel(kernel):
    p = _pts([10.0, -35.0, 62.0], [100.0, 150.0, -20.0], [1.0, 3.0, 2.0])
    s = D.density(p, weight="w", bandwidth_km=400, cell_deg=0.5, kernel=kernel, extent=(-180, -90, 180, 90))
    assert s.crs.to_epsg() == 4326
    assert s.total_weight() == pytest.approx(6.0, rel=0.005)


# --------------------------------------------------------------------------
# agreement with scikit-learn and between methods
# --------------------------------------------------------------------------
def test_agrees_with_sklearn_haversine_kde(cloud):
    from sklearn.neighbors import KernelDensity

    bw = 300.0
    s = D.density(cloud, weight="w", bandwidth_km=bw, cell_deg=0.5, extent=(-180, -90, 180, 90), method="binned")
    lat = cloud.geometry.y.to_numpy()
    lon = cloud.geometry.x.to_numpy()
    w = cloud["w"].to_numpy()
    kde = KernelDensity(metric="haversine", kernel="gaussian", bandwidth=bw / EARTH_RADIUS_KM)
    kde.fit(np.radians(np.column_stack([lat, lon])), sample_weight=w)
    # sample the 200 densest cells and 200 random cells with some density
    x, y = s.cell_centres()
    flat = s.values.ravel()
    rng = np.random.default_rng(1)
    dense = np.argsort(flat)[-200:]
    some = rng.choice(np.flatnonzero(flat > 0.05 * flat.max()), 200, replace=False)
    idx = np.concatenate([dense, some])
    q = np.radians(np.column_stack([y.ravel()[idx], x.ravel()[idx]]))
    # sklearn: density per steradian of a probability distribution, planar
    # Gaussian normalisation 1/(2 pi h^2); ours: weight per km2 normalised on the sphere
    sk = np.exp(kde.score_samples(q)) * w.sum() / EARTH_RADIUS_KM**2
    sk *= 2 * math.pi * bw**2 / D.kernel_integral_km2("gaussian", bw)
    np.testing.assert_allclose(flat[idx], sk, rtol=0.01, atol=0.005 * flat.max())


@pytest.mark.parametrize("grid", [dict(cell_deg=0.5), dict(cell_km=50)])
def test_binned_agrees_with_exact(cloud, grid):
    kw = dict(weight="w", bandwidth_km=300, extent=(-180, -90, 180, 90), **grid)
    exact = D.density(cloud, method="exact", **kw)
    fast = D.density(cloud, method="binned", **kw)
    peak = np.nanmax(exact.values)
    assert np.nanmax(np.abs(exact.values - fast.values)) < 0.01 * peak
    assert np.array_equal(np.isnan(exact.values), np.isnan(fast.values))


@pytest.mark.parametrize(
    "extent,cell_deg",
    [((100.0, 0.0, 140.0, 40.0), 0.2), ((-180.0, 50.0, 180.0, 90.0), 0.35), ((170.0, -30.0, 180.0, -5.0), 0.1)],
)
def test_binned_agrees_with_exact_on_regional_and_polar_grids(extent, cell_deg):
    # points inside and outside the extent, one near the pole, some across 180
    p = _pts([30.0, 10.0, 88.5, 75.0, -17.7, -18.0, 45.0], [120.0, 98.0, 40.0, -170.0, 178.4, -179.5, 150.0],
             [1.0, 2.0, 1.5, 1.0, 1.0, 0.5, 1.0])
    kw = dict(weight="w", bandwidth_km=250, cell_deg=cell_deg, extent=extent)
    exact = D.density(p, method="exact", **kw)
    fast = D.density(p, method="binned", **kw)
    assert exact.shape == fast.shape
    peak = np.nanmax(exact.values)
    assert peak > 0
    assert np.nanmax(np.abs(exact.values - fast.values)) < 0.01 * peak


def test_seamless_across_the_antimeridian():
    p = _pts([-17.7, -18.1], [178.4, -179.9], [1.0, 1.0])  # Suva and a point east of 180
    for method in ("exact", "binned"):
        s = D.density(p, weight="w", bandwidth_km=150, cell_deg=0.25, extent=(-180, -40, 180, 0), method=method)
        row = s.values[int((0 - -18.0) / 0.25)]
        # the first and the last column are neighbours on the globe
        assert row[0] == pytest.approx(row[-1], rel=0.1)
        assert row[0] > 0.3 * np.nanmax(s.values)
        assert s.total_weight() == pytest.approx(2.0, rel=0.01)


# --------------------------------------------------------------------------
# round bumps at high latitude
# --------------------------------------------------------------------------
def _half_widths_km(s, lat0, lon0):
    x, y = s.cell_centres()
    v = s.values
    r, c = np.unravel_index(np.nanargmax(v), v.shape)
    half = v[r, c] / 2
    row_hit = np.flatnonzero(v[r] >= half)
    col_hit = np.flatnonzero(v[:, c] >= half)
    if s.is_geographic:
        ew = haversine_km(lat0, lon0, y[r, row_hit], x[r, row_hit]).max()
        ns = haversine_km(lat0, lon0, y[col_hit, c], x[col_hit, c]).max()
        return ew, ns, np.ptp(x[r, row_hit]), np.ptp(y[col_hit, c])
    ew = np.ptp(x[r, row_hit]) / 2000.0
    ns = np.ptp(y[col_hit, c]) / 2000.0
    return ew, ns, None, None


@pytest.mark.parametrize("method", ["exact", "binned"])
def test_bump_at_60N_is_round_in_km_not_in_degrees(method):
    p = _pts([60.0], [10.0])
    s = D.density(p, bandwidth_km=100, cell_deg=0.05, method=method)
    ew, ns, ew_deg, ns_deg = _half_widths_km(s, 60.0, 10.0)
    assert ew == pytest.approx(ns, rel=0.03)
    fwhm = 2 * math.sqrt(2 * math.log(2)) * 100 / 2  # half of the FWHM, km
    assert ns == pytest.approx(fwhm, rel=0.05)
    # in degrees it is twice as wide east-west (1 / cos 60°)
    assert ew_deg / ns_deg == pytest.approx(2.0, rel=0.06)
    s_km = D.density(p, bandwidth_km=100, cell_km=5, method=method)
    ew, ns, *_ = _half_widths_km(s_km, 60.0, 10.0)
    assert ew == pytest.approx(ns, rel=0.03)


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------
def test_accepts_dataframe_other_crs_and_paths(tmp_path):
    df = pd.DataFrame({"lat": [30.0, 31.0], "lon": [120.0, 121.0], "v": [1.0, 1.0]})
    a = D.density(df, weight="v", bandwidth_km=100, cell_km=20)
    g = _pts([30.0, 31.0], [120.0, 121.0]).to_crs(3857)
    b = D.density(g, weight="w", bandwidth_km=100, cell_km=20)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-9, atol=1e-15)
    df.to_csv(tmp_path / "p.csv", index=False)
    c = D.density(tmp_path / "p.csv", weight="v", bandwidth_km=100, cell_km=20)
    np.testing.assert_allclose(a.values, c.values)
    assert a.metadata["n_points"] == 2 and a.metadata["total_weight"] == 2.0


def test_proxy_status_is_recorded():
    p = _pts([30.0, 31.0], [120.0, 121.0])
    p["innovation"] = [0.5, 1.0]
    p["score_source"] = "rank-proxy"
    s = D.density(p, weight="innovation", bandwidth_km=100, cell_km=20)
    assert s.metadata["weights_proxy"] is True
    assert s.metadata["weight_source"] == "rank-proxy"


def test_mask_land_with_polygons():
    p = _pts([0.0], [0.0])
    land = gpd.GeoDataFrame(geometry=[shapely.box(-5, -5, 0, 5)], crs=4326)
    s = D.density(p, bandwidth_km=200, cell_deg=0.25, mask_land=land)
    x, y = s.cell_centres()
    assert np.isnan(s.values[x > 0.5]).all()
    assert np.isfinite(s.values[(x < -0.5) & (x > -4.5) & (np.abs(y) < 4)]).all()
    assert np.isnan(s.values[x < -5.5]).all()
    assert s.metadata["mask_land"] is True


def test_mask_land_with_the_embedded_basemap():
    p = _pts([39.9, 51.5], [116.4, -0.1])
    s = D.density(p, bandwidth_km=300, cell_deg=0.5, extent=(-180, -60, 180, 80), mask_land=True)
    t = s.transform

    def at(lat, lon):
        return s.values[int((t.f - lat) / -t.e), int((lon - t.c) / t.a)]

    assert np.isfinite(at(39.9, 116.4)) and at(39.9, 116.4) > 0  # Beijing, on land
    assert np.isnan(at(0.0, -30.0)) and np.isnan(at(-40.0, -120.0))  # Atlantic, Pacific


BAD = [
    (dict(bandwidth_km=0, cell_km=10), "bandwidth_km must be a positive number of km"),
    (dict(bandwidth_km=-5, cell_km=10), "bandwidth_km must be a positive number of km"),
    (dict(bandwidth_km=100, cell_km=0), "cell_km must be a positive number of km"),
    (dict(bandwidth_km=100, cell_deg=-1), "cell_deg must be a positive number of degrees"),
    (dict(bandwidth_km=100, cell_km=10, cell_deg=0.1), "either cell_km or cell_deg"),
    (dict(bandwidth_km=100, cell_km=10, kernel="box"), "kernel must be one of"),
    (dict(bandwidth_km=100, cell_km=10, method="magic"), "method must be"),
    (dict(bandwidth_km=100, cell_deg=1, extent=(10, 0, 5, 20)), "west < east"),
    (dict(bandwidth_km=100, cell_deg=1, extent=(0, 0, 5)), "extent must be"),
    (dict(bandwidth_km=100, cell_km=10, crs="EPSG:99999999"), "not a CRS pyproj understands"),
    (dict(bandwidth_km=100, cell_km=10, crs="EPSG:4326"), "is geographic"),
    (dict(bandwidth_km=100, cell_km=10, memory_limit_gb=0), "memory_limit_gb must be a positive number of GB"),
]


@pytest.mark.parametrize("kw,msg", BAD)
def test_bad_parameters(kw, msg):
    with pytest.raises(ValidationError, match=msg):
        D.density(_pts([1.0], [1.0]), **kw)


def test_gathers_several_problems():
    with pytest.raises(ValidationError) as e:
        D.density(_pts([1.0], [1.0]), bandwidth_km=0, cell_km=-1)
    assert "bandwidth_km" in str(e.value) and "cell_km" in str(e.value)


@pytest.mark.parametrize(
    "w,msg",
    [
        ([0.0, 0.0], "all weights in 'w' are zero"),
        ([1.0, -1.0], "negative weight"),
        ([1.0, np.nan], "non-finite weight"),
    ],
)
def test_bad_weights(w, msg):
    with pytest.raises(ValidationError, match=msg):
        D.density(_pts([1.0, 2.0], [1.0, 2.0], w), weight="w", bandwidth_km=100, cell_km=10)


def test_bad_points():
    with pytest.raises(NotFoundError, match="weight column 'nope'"):
        D.density(_pts([1.0], [1.0]), weight="nope", bandwidth_km=100, cell_km=10)
    with pytest.raises(ValidationError, match="has no CRS"):
        D.density(_pts([1.0], [1.0], crs=None), bandwidth_km=100, cell_km=10)
    with pytest.raises(ValidationError, match="empty"):
        D.density(_pts([], []), bandwidth_km=100, cell_km=10)
    poly = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(ValidationError, match="not points"):
        D.density(poly, bandwidth_km=100, cell_km=10)
    df = pd.DataFrame({"lat": [95.0], "lon": [10.0]})
    with pytest.raises(ValidationError, match="latitude outside"):
        D.density(df, bandwidth_km=100, cell_km=10)
    with pytest.raises(ValidationError, match="'lat' and 'lon'"):
        D.density(pd.DataFrame({"x": [1]}), bandwidth_km=100, cell_km=10)


def test_memory_budget_says_how_large_and_suggests_a_cell():
    with pytest.raises(ValidationError) as e:
        D.density(_pts([1.0], [1.0]), bandwidth_km=100, cell_deg=0.001, extent=(-180, -90, 180, 90))
    msg = str(e.value)
    assert "64,800,000,000 cells" in msg and "GB" in msg and "degrees or more" in msg
    m = __import__("re").search(r"e\.g\. ([0-9.e+-]+) degrees", msg)
    # the suggestion fits the budget
    cell = float(m.group(1))
    D._check_memory(int((360 / cell) * (180 / cell)), 48.0, cell, "degrees", D.MEMORY_LIMIT_GB)


# --------------------------------------------------------------------------
# GeoTIFF
# --------------------------------------------------------------------------
@pytest.mark.parametrize("grid", [dict(cell_deg=0.5), dict(cell_km=40)])
def test_geotiff_round_trip(tmp_path, grid):
    import rasterio

    p = _pts([30.0, 51.5, -33.9], [120.0, -0.1, 151.2], [1.0, 2.0, 3.0])
    p["score_source"] = "rank-proxy"
    s = D.density(p, weight="w", bandwidth_km=400, extent=(-180, -90, 180, 90), **grid)
    path = D.write_geotiff(s, tmp_path / "d.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == (4326 if "cell_deg" in grid else 8857)
        assert src.transform.almost_equals(s.transform)
        assert src.nodata == D.NODATA
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.profile["blockxsize"] == 256
        assert src.overviews(1) == [2, 4] if "cell_deg" in grid else src.overviews(1)
        tags = src.tags(1)
        assert tags["weight"] == "w" and tags["kernel"] == "gaussian"
        assert float(tags["bandwidth_km"]) == 400.0 and tags["weights_proxy"] == "true"
        # the one provenance label (geocity.terms), as in every other output
        from geocity import terms

        assert terms.term("prov_proxy", "en") in src.descriptions[0]
        assert src.units[0] == "w per km2"
    back = D.read_geotiff(path)
    np.testing.assert_allclose(back.values, s.values.astype("float32"), rtol=1e-6, equal_nan=True)
    assert back.crs.equals(s.crs)
    assert back.metadata["weights_proxy"] is True
    # deterministic bytes, overwrite policy
    again = D.write_geotiff(s, tmp_path / "e.tif")
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again.read_bytes()).digest()
    with pytest.raises(OutputExistsError):
        D.write_geotiff(s, path)
    D.write_geotiff(s, path, overwrite=True)
    with pytest.raises(ValidationError, match=".tif"):
        D.write_geotiff(s, tmp_path / "d.png")


def test_overlay_for_web_maps(tmp_path):
    p = _pts([60.0, 30.0], [10.0, 120.0])
    s = D.density(p, bandwidth_km=300, cell_km=50, extent=(-180, -90, 180, 90))
    png, bounds, legend = D.density_overlay(s)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (south, west), (north, east) = bounds
    assert -85.06 <= south < north <= 85.06 and west == pytest.approx(-180) and east == pytest.approx(180)
    img, _, _ = D.density_overlay(D.write_geotiff(s, tmp_path / "s.tif"), as_png=False)
    assert img.dtype == np.uint8 and img.shape[2] == 4 and img[..., 3].max() > 0
    assert "count per km2" in legend["caption"]


def test_binned_working_grid_memory_budget():
    p = _pts([10.0, 50.0], [10.0, 12.0])
    with pytest.raises(ValidationError, match="working grid") as e:
        D.density(p, bandwidth_km=20, cell_km=1, extent=(9.5, 9.5, 10.5, 10.5), method="binned",
                  memory_limit_gb=0.001)
    assert "method='exact'" in str(e.value)
    # the exact method has no working grid and handles the small regional grid
    s = D.density(p, bandwidth_km=20, cell_km=1, extent=(9.5, 9.5, 10.5, 10.5), method="exact",
                  memory_limit_gb=0.001)
    assert np.nanmax(s.values) > 0


def test_too_wide_a_bandwidth_is_refused():
    with pytest.raises(ValidationError, match=r"bandwidth_km=1e\+09 is too large.*300 km"):
        D.density(_pts([1.0], [1.0]), bandwidth_km=1e9, cell_deg=1.0)


def test_reading_a_surface_that_is_not_one(tmp_path):
    import rasterio
    from affine import Affine

    junk = tmp_path / "hostile.tif"
    junk.write_text("name,lat,lon\n<script>,1,2\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"hostile\.tif.*not a raster GDAL can read"):
        D.read_geotiff(junk)
    nocrs = tmp_path / "nocrs.tif"
    with rasterio.open(nocrs, "w", driver="GTiff", width=4, height=3, count=1, dtype="float32",
                       transform=Affine(1, 0, 0, 0, -1, 3)) as dst:
        dst.write(np.ones((1, 3, 4), dtype="float32"))
    with pytest.raises(ValidationError, match=r"nocrs\.tif.*has no CRS"):
        D.read_geotiff(nocrs)
    with pytest.raises(ValidationError, match="does not exist"):
        D.read_geotiff(tmp_path / "missing.tif")
    # the web map and its CLI give the same message, not a rasterio traceback
    from click.testing import CliRunner

    from geocity.cli.main import cli

    for bad, msg in ((junk, "not a raster"), (nocrs, "has no CRS")):
        res = CliRunner().invoke(cli, ["webmap", "-o", str(tmp_path / "m.html"), "--layers", "density",
                                       "--density-tif", str(bad), "--tiles", "none"])
        assert res.exit_code != 0 and msg in res.output and "Traceback" not in res.output, res.output
        assert not (tmp_path / "m.html").exists()


def test_geotiff_tags_carry_the_one_provenance_record_of_a_partial_table(tmp_path):
    """A user's scores table covering 20 cities: the surface's GeoTIFF tags say
    what geocity.provenance says (kind, counts, table, label), as the
    ``.meta.json``, the plates and the web map do."""
    import pandas as pd
    import rasterio

    from geocity import layers
    from geocity.analysis import Analysis

    ids = layers.load("cities")["city_id"].iloc[:20]
    table = tmp_path / "my_scores.csv"
    pd.DataFrame({"city_id": ids, "innovation": np.linspace(1, 0.2, len(ids)), "industry": 0.5,
                  "infrastructure": np.linspace(0.1, 0.9, len(ids))}).to_csv(table, index=False)
    a = Analysis(scores=table, cell_km=200.0)
    prov = a.provenance
    assert prov.kind == "user-partial" and not prov.proxy
    path = D.write_geotiff(a.density("innovation"), tmp_path / "innovation.tif")
    with rasterio.open(path) as src:
        tags = src.tags(1)
        desc = src.descriptions[0]
    for key, value in prov.record().items():
        assert tags[key] == D._tag(value), key
    assert tags["weights_proxy"] == "false" and "my_scores.csv" in tags["scores_table"]
    assert prov.label("en") in desc
    from geocity.render.web.density import provenance_of

    assert provenance_of(tags).label("en") == prov.label("en")
