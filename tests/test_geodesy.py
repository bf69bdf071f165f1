"""Tests of geocity.geodesy: distances, validation, lines and buffers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point

from geocity import geodesy as g
from geocity.errors import ValidationError


def test_distance_known_values():
    # London–Paris on WGS 84 (Karney): 343.92 km; spherical differs < 0.5 %
    d = g.distance_km(51.5074, -0.1278, 48.8566, 2.3522)
    assert d == pytest.approx(343.92, abs=0.05)
    h = g.haversine_km(51.5074, -0.1278, 48.8566, 2.3522)
    assert abs(h - d) / d < 0.005


def test_distance_vectorised_and_antimeridian():
    lat1 = np.array([-17.7, 0.0])
    lon1 = np.array([179.9, 0.0])
    lat2 = np.array([-17.7, 0.0])
    lon2 = np.array([-179.9, 1.0])
    d = g.distance_km(lat1, lon1, lat2, lon2)
    assert d.shape == (2,)
    assert d[0] == pytest.approx(21.2, abs=0.2)  # across ±180, not 39 900 km
    assert d[1] == pytest.approx(111.32, abs=0.01)


def test_chord_arc_roundtrip_and_monotonic():
    arcs = np.linspace(0, 20000, 201)
    chords = g.chord_from_arc_km(arcs)
    assert np.all(np.diff(chords) > 0)
    np.testing.assert_allclose(g.arc_from_chord(chords), arcs, atol=1e-6)
    v = g.unit_vectors([10.0, 10.0], [20.0, 25.0])
    arc = g.haversine_km(10, 20, 10, 25)
    assert np.linalg.norm(v[0] - v[1]) == pytest.approx(float(g.chord_from_arc_km(arc)), rel=1e-12)


def test_validate_latlon_names_rows_and_swap():
    # rows named through geocity._validate.rows ("line 3, line 7"), never a raw list ("e.g. ['b']")
    with pytest.raises(ValidationError, match=r"non-finite coordinates: b$"):
        g.validate_latlon([1.0, np.nan], [2.0, 3.0], labels=["a", "b"])
    with pytest.raises(ValidationError, match=r"\[-180, 180\]: row 1$"):
        g.validate_latlon([10.0], [200.0])
    many = np.full(25, 95.0)
    with pytest.raises(ValidationError, match=r"row 1, row 2, .*, row 10 and 15 more"):
        g.validate_latlon(many, np.zeros(25))
    with pytest.raises(ValidationError, match="swapped"):
        g.validate_latlon([116.4, 121.5], [39.9, 31.2], what="cities")
    with pytest.raises(ValidationError, match="outside"):
        g.validate_latlon([10.0], [200.0])
    g.validate_latlon([90.0, -90.0], [180.0, -180.0])  # limits are fine


def test_to_wgs84():
    gdf = gpd.GeoDataFrame(geometry=[Point(0, 0)])
    with pytest.raises(ValidationError, match="no CRS"):
        g.to_wgs84(gdf, name="points")
    merc = gpd.GeoDataFrame(geometry=[Point(111319.49, 0)], crs=3857)
    out = g.to_wgs84(merc)
    assert out.crs.to_epsg() == 4326
    assert out.geometry.x[0] == pytest.approx(1.0, abs=1e-6)


def test_geodesic_line_splits_at_antimeridian():
    # Tokyo – Los Angeles goes the short way, across the Pacific
    line = g.geodesic_line([35.68, 34.05], [139.69, -118.24], max_segment_km=10)
    assert isinstance(line, MultiLineString)
    for part in line.geoms:
        minx, _, maxx, _ = part.bounds
        assert -180 <= minx and maxx <= 180
        assert maxx - minx < 180
    c = shapely.get_coordinates(line)
    seg = g.distance_km(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0])
    # every vertex step (except the jump between parts) is at most 10 km
    assert np.sort(seg)[-2] <= 10.0 + 1e-6
    total = g.distance_km(35.68, 139.69, 34.05, -118.24)
    assert seg[seg < 100].sum() == pytest.approx(float(total), rel=1e-4)


def _max_abs_err(poly, dist_fn, radius_km):
    pts = shapely.get_coordinates(poly.boundary)
    # drop vertices on ±180 or the poles: they are cut lines, not buffer edges
    keep = (np.abs(pts[:, 0]) < 179.999) & (np.abs(pts[:, 1]) < 89.999)
    d = dist_fn(pts[keep])
    return np.max(np.abs(d - radius_km))


def test_buffer_point_is_geodesic_circle():
    b = g.buffer_km(Point(10.0, 60.0), 250)
    assert b.is_valid
    err = _max_abs_err(b, lambda p: g.distance_km(p[:, 1], p[:, 0], 60.0, 10.0), 250)
    assert err < 0.5  # km; the polygon edges are 10 km chords at most


def test_buffer_line_accuracy():
    line = LineString([(74.0, 39.5), (73.0, 33.7), (67.0, 24.9)])
    b = g.buffer_km(line, 100)
    c = np.asarray(line.coords)
    la, lo = g.densify_geodesic(c[:, 1], c[:, 0], 0.2)

    def dist(p):
        return np.array([g.distance_km(y, x, la, lo).min() for x, y in p[::3]])

    assert _max_abs_err(b, dist, 100) < 0.5  # 0.5 % of 100 km


def test_buffer_across_antimeridian_is_small_multipolygon():
    b = g.buffer_km(Point(179.9, -17.7), 100)
    assert b.geom_type == "MultiPolygon" and b.is_valid
    widths = [p.bounds[2] - p.bounds[0] for p in b.geoms]
    assert max(widths) < 5
    assert b.contains(Point(-179.5, -17.7)) and b.contains(Point(179.5, -17.7))
    assert not b.contains(Point(0, -17.7))


def test_buffer_around_pole():
    b = g.buffer_km(Point(0.0, 89.5), 200)
    assert b.is_valid
    assert b.contains(Point(120.0, 89.9)) and b.contains(Point(-120.0, 89.9))
    assert not b.contains(Point(0.0, 87.0))


@pytest.mark.parametrize("bad", [0, -5, np.nan])
def test_buffer_rejects_bad_distance(bad):
    with pytest.raises(ValidationError, match="positive"):
        g.buffer_km(Point(0, 0), bad)


def test_from_local_hull_across_antimeridian():
    lat = np.array([-18.14, -21.14, -13.83])  # Suva, Nuku'alofa, Apia
    lon = np.array([178.44, -175.2, -171.77])
    clat, clon = g.spherical_centroid(lat, lon)
    pts = shapely.multipoints(np.column_stack([lon, lat]))
    hull = shapely.convex_hull(g.to_local(pts, clat, clon)).buffer(50_000)
    poly = g.from_local(hull, clat, clon)
    assert poly.geom_type == "MultiPolygon" and poly.is_valid
    assert sum(p.bounds[2] - p.bounds[0] for p in poly.geoms) < 20
    for x, y in zip(lon, lat, strict=True):
        assert poly.contains(Point(x, y))


def test_unit_vectors_in_blocks_and_threads_are_the_bytes_of_the_whole_array(monkeypatch):
    """Large inputs are converted in cache-sized blocks on the shared threads: each value on
    its own, so the same bytes as the one-expression conversion, whatever the block size
    or thread count (poles, antimeridian and -0.0 included)."""
    from geocity import _threads, geodesy

    rng = np.random.default_rng(3)
    n = 20_011
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    lat[:4], lon[:4] = [90.0, -90.0, -0.0, 0.0], [180.0, -180.0, -0.0, 179.999999]
    phi, lam = np.radians(lat), np.radians(lon)
    ref = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    for block, thread_min in [(1, 10**9), (7, 1), (4096, 1), (65_536, 10**9)]:
        monkeypatch.setattr(geodesy, "UNIT_VECTOR_BLOCK", block)
        monkeypatch.setattr(geodesy, "UNIT_VECTOR_THREAD_MIN", thread_min)
        monkeypatch.setattr(_threads, "n_threads", lambda limit=8: 3)
        got = geodesy.unit_vectors(lat, lon)
        assert got.shape == (n, 3) and got.tobytes() == ref.tobytes(), block
    assert geodesy.unit_vectors(10.0, 20.0).shape == (1, 3)  # scalars as before


@pytest.mark.parametrize("kind", ["aeqd", "laea"])
@pytest.mark.parametrize("lat0,lon0", [(31.2304, 121.4737), (0.0, 0.0), (90.0, 0.0), (-90.0, 45.0),
                                        (89.99999999, 10.0), (-89.99999999, 10.0), (89.9999999, 0.0),
                                        (-89.9985, 170.0), (89.99, -60.0),
                                        (-17.5, 180.0), (64.1, -179.99999999), (12.34567891, -0.5)])
def test_local_transformers_are_the_operations_from_crs_resolves_to(kind, lat0, lon0):
    """The local CRSs' transformers are built from written-out pipelines (no PROJ database lookup):
    they must be the very operations Transformer.from_crs picks, with the same results."""
    from pyproj import Transformer

    lat0, lon0 = round(lat0, 8), round(lon0, 8)
    crs = g.local_crs(lat0, lon0, kind)
    ref_fwd = Transformer.from_crs(g.WGS84, crs, always_xy=True)
    ref_inv = Transformer.from_crs(crs, g.WGS84, always_xy=True)
    fwd, inv = g._transformers(lat0, lon0, kind)

    def steps(definition):  # the pipeline's tokens, numbers as numbers ("31.2304" == "31.23040000")
        out = []
        for tok in definition.split():
            key, _, value = tok.partition("=")
            try:
                out.append((key, float(value)))
            except ValueError:
                out.append((key, value))
        return out

    assert steps(fwd.definition) == steps(ref_fwd.definition)
    assert steps(inv.definition) == steps(ref_inv.definition)
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(-180, 180, 5000), rng.uniform(-90, 90, 5000)
    for a, b in zip(fwd.transform(lon, lat), ref_fwd.transform(lon, lat), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    x, y = rng.uniform(-6e6, 6e6, 5000), rng.uniform(-6e6, 6e6, 5000)
    for a, b in zip(inv.transform(x, y), ref_inv.transform(x, y), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
