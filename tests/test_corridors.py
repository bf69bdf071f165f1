"""Tests of geocity.corridors: waypoint table, geodesic lines, buffers and
membership queries, checked against independent computations."""

from __future__ import annotations

import csv
import importlib.util

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geocity import corridors, geodesy
from geocity._data import data_dir
from geocity.errors import NotFoundError, ValidationError

HAVE_CITIES = (data_dir("layers") / "cities.csv").exists() and importlib.util.find_spec("geocity.layers") is not None
needs_cities = pytest.mark.skipif(not HAVE_CITIES, reason="cities layer (geocity.layers) not built yet")


def _pts(lat, lon, **cols):
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(np.atleast_1d(lon), np.atleast_1d(lat)), crs=4326)


def _reference_km(name, lat, lon, step_km=0.2):
    """Independent distance: pyproj Geod to the vertices of a finely
    densified corridor, minimum over vertices (brute force)."""
    w = corridors.waypoints(name)
    verts = []
    for _, g in w.groupby(["branch"], sort=False):
        g = g.sort_values("seq")
        pts = [(g.lon.iloc[0], g.lat.iloc[0])]
        for i in range(len(g) - 1):
            lo1, la1, lo2, la2 = g.lon.iloc[i], g.lat.iloc[i], g.lon.iloc[i + 1], g.lat.iloc[i + 1]
            _, _, d = geodesy.GEOD.inv(lo1, la1, lo2, la2)
            n = int(np.ceil(d / 1000 / step_km)) - 1
            if n > 0:
                pts += geodesy.GEOD.npts(lo1, la1, lo2, la2, n)
            pts.append((lo2, la2))
        verts.append(np.asarray(pts))
    v = np.vstack(verts)
    out = []
    for la, lo in zip(np.atleast_1d(lat), np.atleast_1d(lon), strict=True):
        _, _, d = geodesy.GEOD.inv(np.full(len(v), lo), np.full(len(v), la), v[:, 0], v[:, 1])
        out.append(np.min(d) / 1000.0)
    return np.asarray(out)


def _user_csv(tmp_path, rows, name="user.csv"):
    p = tmp_path / name
    with p.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return p


# --------------------------------------------------------------------------
# the waypoint table
# --------------------------------------------------------------------------
def test_available_lists_the_three_report_corridors():
    assert corridors.available()[:3] == ["CPEC", "CMREC", "CICPEC"]


def test_table_is_complete_and_sourced():
    t = pd.read_csv(data_dir("layers") / "corridors.csv", keep_default_na=False)
    assert list(t.columns) == corridors.COLUMNS
    assert (t["source"].str.len() > 0).all() and (t["branch_source"].str.len() > 0).all()
    for (c, b), g in t.groupby(["corridor", "branch"]):
        assert len(g) >= 2, (c, b)
        assert g["seq"].tolist() == list(range(1, len(g) + 1)), (c, b)
        assert g["branch_source"].nunique() == 1
    geodesy.validate_latlon(t.lat, t.lon, what="corridors.csv")
    assert {"CPEC", "CMREC", "CICPEC"} <= set(t.corridor)
    # the planning documents are named
    src = " ".join(t.branch_source.unique())
    assert "CPEC Long Term Plan" in src and "CMREC Construction Plan Outline" in src
    # every text fits a shapefile (DBF) field: 254 bytes of UTF-8
    for col in ("source", "branch_source", "name", "corridor_name_en", "corridor_name_zh"):
        assert t[col].map(lambda v: len(v.encode("utf-8"))).max() <= 254, col
    # points off the cities layer carry a GeoNames id or an atlas citation
    off = t[t.city_id == ""]
    assert off.source.str.match(r"^(geonames:\d+|atlas: )").all()


@needs_cities
def test_every_city_id_is_in_the_cities_layer():
    from geocity import layers

    cities = layers.load("cities").set_index("city_id")
    t = pd.read_csv(data_dir("layers") / "corridors.csv", keep_default_na=False)
    ids = t.loc[t.city_id != "", ["city_id", "lat", "lon"]]
    assert set(ids.city_id) <= set(cities.index), sorted(set(ids.city_id) - set(cities.index))
    # coordinates copied from the cities layer (a city lies on its corridor)
    c = cities.loc[ids.city_id]
    np.testing.assert_allclose(ids.lat.to_numpy(), c.lat.to_numpy(float), atol=1e-5)
    np.testing.assert_allclose(ids.lon.to_numpy(), c.lon.to_numpy(float), atol=1e-5)
    assert not t.source.str.contains("provisional").any()


@pytest.mark.slow
def test_build_reproduces_the_committed_table(tmp_path):
    from geocity._build import corridors as build

    (p,) = build.build(tmp_path)
    assert p.read_bytes() == (data_dir("layers") / "corridors.csv").read_bytes()


def test_waypoints_is_a_point_layer():
    w = corridors.waypoints("cpec")
    assert w.crs.to_epsg() == 4326 and set(w.corridor) == {"CPEC"}
    east = w[w.branch == "eastern"].sort_values("seq")
    assert east.name.tolist()[0] == "Islamabad" and east.name.tolist()[-1] == "Karachi"


# --------------------------------------------------------------------------
# lines
# --------------------------------------------------------------------------
def test_lines_one_row_per_branch_geodesic_and_densified():
    gl = corridors.lines()
    w = corridors.waypoints()
    assert len(gl) == w.groupby(["corridor", "branch"]).ngroups
    assert {"corridor", "branch", "length_km", "geometry"} <= set(gl.columns)
    for r in gl.itertuples():
        g = w[(w.corridor == r.corridor) & (w.branch == r.branch)].sort_values("seq")
        exact = geodesy.distance_km(g.lat.values[:-1], g.lon.values[:-1], g.lat.values[1:], g.lon.values[1:]).sum()
        assert r.length_km == pytest.approx(exact, abs=1e-3)
        c = shapely.get_coordinates(r.geometry)
        steps = geodesy.distance_km(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0])
        assert steps.max() <= 10.0 + 1e-6
        assert r.geometry.is_valid
    assert gl.total_bounds[0] >= -180 and gl.total_bounds[2] <= 180


def test_lines_vertices_lie_on_the_geodesic_not_a_degree_line():
    gl = corridors.lines("CMREC", max_segment_km=5)
    line = gl[gl.branch == "beijing-moscow"].geometry.iloc[0]
    c = shapely.get_coordinates(line)
    # a mid vertex between Novosibirsk and Omsk bulges north of the straight lon/lat line
    m = corridors.members(_pts(c[:, 1], c[:, 0]), corridors="CMREC", within_km=1)
    assert len(m) == len(c) and m.distance_km.max() < 0.001


# --------------------------------------------------------------------------
# membership: distances, chainage, side
# --------------------------------------------------------------------------
def test_distances_agree_with_independent_geod_computation():
    rng = np.random.default_rng(42)
    lat = rng.uniform(23, 40, 70)
    lon = rng.uniform(60, 78, 70)
    m = corridors.members(_pts(lat, lon, i=np.arange(70)), corridors="CPEC", within_km=300)
    assert len(m) > 25
    ref = _reference_km("CPEC", m.geometry.y.values, m.geometry.x.values)
    got = m.distance_km.to_numpy()
    # the reference (min over vertices 0.2 km apart) overestimates by < 3 m
    assert np.all(np.abs(got - ref) <= np.maximum(0.001 * ref, 0.005))
    # and nothing within range was missed
    ref_all = _reference_km("CPEC", lat, lon)
    assert set(np.flatnonzero(ref_all < 299.9)) <= set(m.i)
    assert not set(m.i) - set(np.flatnonzero(ref_all <= 300.1))


def test_point_on_the_line_has_zero_distance():
    w = corridors.waypoints("CICPEC")
    g = w[w.branch == "hanoi-bangkok"].sort_values("seq")
    pts = []
    for i in range(len(g) - 1):
        pts += geodesy.GEOD.npts(g.lon.iloc[i], g.lat.iloc[i], g.lon.iloc[i + 1], g.lat.iloc[i + 1], 5)
    pts = np.asarray(pts)
    m = corridors.members(_pts(pts[:, 1], pts[:, 0]), corridors="CICPEC", within_km=5)
    assert len(m) == len(pts)
    assert m.distance_km.max() < 0.001  # 1 m
    assert set(m.side) == {"on"}


def test_chainage_grows_along_the_branch_and_ends_at_its_length():
    w = corridors.waypoints("CMREC")
    g = w[w.branch == "beijing-moscow"].sort_values("seq")
    pts = []
    for i in range(len(g) - 1):
        pts += geodesy.GEOD.npts(g.lon.iloc[i], g.lat.iloc[i], g.lon.iloc[i + 1], g.lat.iloc[i + 1], 3)
    pts.append((g.lon.iloc[-1], g.lat.iloc[-1]))
    pts = np.asarray(pts)
    m = corridors.members(_pts(pts[:, 1], pts[:, 0]), corridors="CMREC", within_km=1)
    m = m[m.branch == "beijing-moscow"]
    assert len(m) >= len(pts) - 6  # a few points near junctions may belong to another branch
    assert np.all(np.diff(m.chainage_km.to_numpy()) > 0)
    length = corridors.lines("CMREC").set_index("branch").loc["beijing-moscow", "length_km"]
    assert m.chainage_km.iloc[-1] == pytest.approx(length, abs=0.002)
    assert m.nearest_waypoint.iloc[-1] == "Moscow"


# coordinates any atlas gives (Wikipedia city coordinates), independent of our tables
FACTS = {
    "Lahore": (31.5497, 74.3436),
    "Multan": (30.1978, 71.4711),
    "Karachi": (24.8600, 67.0100),
    "Kabul": (34.5253, 69.1783),
    "Ulaanbaatar": (47.9200, 106.9170),
    "Irkutsk": (52.2833, 104.2833),
    "Vientiane": (17.9667, 102.6000),
    "Kuala Lumpur": (3.1478, 101.6953),
}


@pytest.mark.parametrize(
    "city,corridor",
    [("Lahore", "CPEC"), ("Multan", "CPEC"), ("Karachi", "CPEC"), ("Ulaanbaatar", "CMREC"),
     ("Irkutsk", "CMREC"), ("Vientiane", "CICPEC"), ("Kuala Lumpur", "CICPEC")],
)
def test_atlas_facts_cities_on_their_corridor(city, corridor):
    lat, lon = FACTS[city]
    m = corridors.members(_pts(lat, lon, name=[city]), corridors=corridor, within_km=50)
    assert len(m) == 1 and m.distance_km.iloc[0] < 5.0


def test_atlas_fact_kabul_is_off_cpec():
    lat, lon = FACTS["Kabul"]
    assert len(corridors.members(_pts(lat, lon), corridors="CPEC", within_km=100)) == 0
    m = corridors.members(_pts(lat, lon), corridors="CPEC", within_km=500)
    assert m.distance_km.iloc[0] > 100


def test_side_left_and_right_of_the_branch_direction(tmp_path):
    p = _user_csv(tmp_path, [
        dict(corridor="EQ", branch="east", seq=1, name="A", lat=0.0, lon=10.0),
        dict(corridor="EQ", branch="east", seq=2, name="B", lat=0.0, lon=20.0),
    ])
    m = corridors.members(_pts([1.0, -1.0, 0.0], [16.0, 16.0, 14.0], tag=["n", "s", "on"]),
                          corridors="EQ", within_km=200, path=p)
    assert dict(zip(m.tag, m.side, strict=True)) == {"n": "left", "s": "right", "on": "on"}
    assert m.tag.tolist() == ["on", "n", "s"]  # by chainage, then input order
    r = m.set_index("tag")
    # north of the equator by 1° of latitude: the ellipsoidal meridian arc, not 111.19 km
    d = float(geodesy.distance_km(0, 16, 1, 16))
    assert r.distance_km["n"] == pytest.approx(d, rel=1e-6)
    assert r.chainage_km["n"] == pytest.approx(float(geodesy.distance_km(0, 10, 0, 16)), rel=1e-6)
    assert r.nearest_waypoint.to_dict() == {"n": "B", "s": "B", "on": "A"}


def test_beyond_the_end_distance_is_to_the_end_point(tmp_path):
    p = _user_csv(tmp_path, [
        dict(corridor="EQ", branch="east", seq=1, name="A", lat=0.0, lon=10.0),
        dict(corridor="EQ", branch="east", seq=2, name="B", lat=0.0, lon=20.0),
    ])
    m = corridors.members(_pts(0.5, 21.0), corridors="EQ", within_km=500, path=p)
    assert m.distance_km.iloc[0] == pytest.approx(float(geodesy.distance_km(0.5, 21.0, 0.0, 20.0)), abs=1e-6)
    assert m.chainage_km.iloc[0] == pytest.approx(float(geodesy.distance_km(0, 10, 0, 20)), abs=1e-6)


def test_how_all_keeps_outside_points_and_columns():
    pts = _pts([31.5497, 34.5253], [74.3436, 69.1783], name=["Lahore", "Kabul"], distance_km=[1, 2])
    m = corridors.members(pts, corridors=["CPEC", "CMREC"], within_km=100, how="all")
    assert len(m) == 2
    assert m.loc[m.name == "Lahore", "corridor"].item() == "CPEC"
    assert m.loc[m.name == "Kabul", "corridor"].isna().all()
    assert "distance_km_input" in m.columns  # an input column is never silently overwritten
    inner = corridors.members(pts, corridors=["CPEC", "CMREC"], within_km=100)
    assert inner.name.tolist() == ["Lahore"]
    assert list(inner.columns[:2]) == ["name", "distance_km_input"]


def test_one_row_per_point_and_corridor_in_range():
    # Chengdu and Xi'an are within 2000 km of both corridors; Lahore of neither
    pts = _pts([30.66, 31.55, 34.34], [104.07, 74.34, 108.94], name=["Chengdu", "Lahore", "Xi'an"])
    m = corridors.members(pts, corridors=["CMREC", "CICPEC"], within_km=2000)
    assert m.corridor.tolist() == ["CMREC", "CMREC", "CICPEC", "CICPEC"]
    assert m.name.tolist() == ["Chengdu", "Xi'an", "Chengdu", "Xi'an"]


def test_any_crs_in_gives_the_same_answer():
    pts = _pts([31.0, 27.0], [70.0, 66.0])
    a = corridors.members(pts, corridors="CPEC", within_km=200)
    b = corridors.members(pts.to_crs(3857), corridors="CPEC", within_km=200)
    np.testing.assert_allclose(a.distance_km, b.distance_km, atol=1e-6)
    assert b.crs.to_epsg() == 4326


def test_tables_and_files_as_points(tmp_path):
    df = pd.DataFrame({"name": ["x"], "lat": [31.5497], "lon": [74.3436]})
    assert len(corridors.members(df, within_km=10)) == 1
    p = tmp_path / "p.csv"
    df.to_csv(p, index=False)
    assert len(corridors.members(str(p), within_km=10)) == 1


def test_chunks_and_the_ball_query_fallback_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(7)
    pts = _pts(rng.uniform(20, 45, 400), rng.uniform(55, 85, 400))
    a = corridors.members(pts, corridors="CPEC", within_km=150)
    b = corridors.members(pts, corridors="CPEC", within_km=150, chunk_size=37)
    monkeypatch.setattr(corridors, "_K", 2)
    c = corridors.members(pts, corridors="CPEC", within_km=150)
    for x in (b, c):
        pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                      pd.DataFrame(x.drop(columns="geometry")))


@needs_cities
def test_default_points_are_the_report_cities_with_ranks():
    m = corridors.members(corridors="CPEC", within_km=100)
    assert {"city_id", "bri_rank", "corridor", "chainage_km"} <= set(m.columns)
    assert {"lahore-pk", "karachi-pk", "islamabad-pk"} <= set(m.city_id)
    assert "kabul-af" not in set(m.city_id)


# --------------------------------------------------------------------------
# buffers
# --------------------------------------------------------------------------
@pytest.mark.parametrize("name,km,box", [("CPEC", 100, (22, 40, 58, 80)), ("CICPEC", 200, (-5, 30, 92, 115))])
def test_buffer_contains_exactly_the_points_in_range(name, km, box):
    b = corridors.buffer(name, km)
    assert len(b) == 1 and b.crs.to_epsg() == 4326
    geom = b.geometry.iloc[0]
    assert geom.is_valid and not geom.is_empty
    rng = np.random.default_rng(3)
    lat = rng.uniform(box[0], box[1], 6000)
    lon = rng.uniform(box[2], box[3], 6000)
    m = corridors.members(_pts(lat, lon), corridors=name, within_km=km * 1.3, how="all")
    d = m.distance_km.fillna(np.inf).to_numpy()
    near = np.abs(d - km) < 0.3 * km
    assert near.sum() > 200  # random points near the edge
    inside = shapely.contains_xy(geom, m.geometry.x.to_numpy(), m.geometry.y.to_numpy())
    band = np.abs(d - km) <= min(0.005 * km, 1.0)
    assert not np.any((inside != (d <= km)) & ~band)


def test_buffer_per_branch():
    b = corridors.buffer("CPEC", 50, dissolve=False)
    assert len(b) == len(corridors.lines("CPEC")) and b.is_valid.all()
    assert set(b.within_km) == {50.0}


def test_antimeridian_safe_line_buffer_and_distance(tmp_path):
    # Anadyr (Russia) to Nome (Alaska) across 180°
    p = _user_csv(tmp_path, [
        dict(corridor="BERING", branch="main", seq=1, name="Anadyr", lat=64.7337, lon=177.5089),
        dict(corridor="BERING", branch="main", seq=2, name="Nome", lat=64.5011, lon=-165.4064),
    ])
    gl = corridors.lines("BERING", path=p)
    assert gl.geometry.iloc[0].geom_type == "MultiLineString"
    assert gl.total_bounds[0] >= -180 and gl.total_bounds[2] <= 180
    b = corridors.buffer("BERING", 100, path=p)
    geom = b.geometry.iloc[0]
    assert geom.is_valid and -180 <= geom.bounds[0] and geom.bounds[2] <= 180
    assert geom.bounds[2] - geom.bounds[0] > 300  # two pieces at both edges, not a band around the world
    lat = np.array([65.9, 65.9, 64.0, 66.0, 64.7])
    lon = np.array([179.99, -179.99, 179.95, -175.0, 178.0])
    m = corridors.members(_pts(lat, lon, k=np.arange(5)), corridors="BERING", within_km=1000, path=p, how="all")
    ref = _reference_km_user(p, lat, lon)
    np.testing.assert_allclose(m.sort_values("k").distance_km, ref, rtol=1e-3, atol=0.005)
    inside = shapely.contains_xy(geom, lon, lat)
    assert np.array_equal(inside, ref <= 100)


def _reference_km_user(p, lat, lon):
    t = pd.read_csv(p)
    lo1, la1, lo2, la2 = t.lon[0], t.lat[0], t.lon[1], t.lat[1]
    v = np.asarray([(lo1, la1), *geodesy.GEOD.npts(lo1, la1, lo2, la2, 5000), (lo2, la2)])
    return np.asarray([
        geodesy.GEOD.inv(np.full(len(v), x), np.full(len(v), y), v[:, 0], v[:, 1])[2].min() / 1000
        for y, x in zip(lat, lon, strict=True)
    ])


# --------------------------------------------------------------------------
# user corridor files
# --------------------------------------------------------------------------
def test_user_line_geojson_adds_a_corridor(tmp_path):
    line = shapely.LineString([(10.0, 0.0), (15.0, 0.0), (20.0, 1.0)])
    gdf = gpd.GeoDataFrame({"corridor": ["MINE"], "branch": ["trunk"]}, geometry=[line], crs=4326)
    p = tmp_path / "mine.geojson"
    gdf.to_file(p, driver="GeoJSON")
    assert corridors.available(path=p)[-1] == "MINE"
    w = corridors.waypoints("MINE", path=p)
    assert len(w) == 3 and w.branch.unique().tolist() == ["trunk"]
    m = corridors.members(_pts(0.0, 15.0), corridors="mine", within_km=1, path=p)
    assert m.distance_km.iloc[0] < 0.001 and m.nearest_waypoint.iloc[0] == "trunk #2"


def test_user_csv_replaces_a_builtin_corridor(tmp_path):
    p = _user_csv(tmp_path, [
        dict(corridor="CPEC", branch="short", seq=1, name="Gwadar", lat=25.12, lon=62.33),
        dict(corridor="CPEC", branch="short", seq=2, name="Karachi", lat=24.86, lon=67.01),
    ])
    assert corridors.lines("CPEC", path=p).branch.tolist() == ["short"]
    assert len(corridors.lines("CPEC")) > 1  # the built-in table is untouched


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
def test_unknown_corridor_lists_valid_names():
    with pytest.raises(NotFoundError, match=r"unknown corridor.*NOPE.*CPEC.*CMREC.*CICPEC"):
        corridors.members(_pts(0, 0), corridors="NOPE")
    with pytest.raises(NotFoundError, match="CICPEC"):
        corridors.buffer("BCIM", 10)


@pytest.mark.parametrize("km", [0, -5, float("nan"), float("inf"), 2500, "far"])
def test_bad_within_km(km):
    with pytest.raises(ValidationError, match="within_km"):
        corridors.members(_pts(30, 70), within_km=km)
    with pytest.raises(ValidationError, match="within_km"):
        corridors.buffer("CPEC", km)


def test_bad_points():
    with pytest.raises(ValidationError, match="empty"):
        corridors.members(_pts([], []))
    with pytest.raises(ValidationError, match="latitude"):
        corridors.members(_pts([95.0], [70.0]))
    with pytest.raises(ValidationError, match="no CRS"):
        corridors.members(gpd.GeoDataFrame(geometry=gpd.points_from_xy([70], [30])))
    poly = gpd.GeoDataFrame(geometry=[shapely.box(70, 30, 71, 31)], crs=4326)
    with pytest.raises(ValidationError, match="representative_point"):
        corridors.members(poly)
    with pytest.raises(ValidationError, match="lat"):
        corridors.members(pd.DataFrame({"x": [1]}))
    with pytest.raises(ValidationError, match="how"):
        corridors.members(_pts(30, 70), how="outer")


def test_bad_user_files(tmp_path):
    one = _user_csv(tmp_path, [dict(corridor="X", branch="b", seq=1, name="A", lat=0.0, lon=0.0)], "one.csv")
    with pytest.raises(ValidationError, match="fewer than two waypoints"):
        corridors.lines(path=one)
    bad = _user_csv(tmp_path, [
        dict(corridor="X", branch="b", seq=1, name="A", lat=0.0, lon=0.0),
        dict(corridor="X", branch="b", seq=2, name="B", lat=91.0, lon=0.0),
    ], "bad.csv")
    with pytest.raises(ValidationError, match="latitude"):
        corridors.lines(path=bad)
    nocol = _user_csv(tmp_path, [dict(corridor="X", name="A", lat=0.0, lon=0.0)], "nocol.csv")
    with pytest.raises(ValidationError, match="missing column"):
        corridors.lines(path=nocol)
    with pytest.raises(NotFoundError, match="does not exist"):
        corridors.lines(path=tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="unknown format"):
        corridors.lines(path=_user_csv(tmp_path, [dict(a=1)], "x.txt"))
    pts = gpd.GeoDataFrame({"corridor": ["X"]}, geometry=[shapely.Point(0, 0)], crs=4326)
    pts.to_file(tmp_path / "pt.geojson", driver="GeoJSON")
    with pytest.raises(ValidationError, match="LineString"):
        corridors.lines(path=tmp_path / "pt.geojson")


@needs_cities
def test_user_file_with_unknown_city_id(tmp_path):
    p = _user_csv(tmp_path, [
        dict(corridor="X", branch="b", seq=1, city_id="lahore-pk", name="", lat="", lon=""),
        dict(corridor="X", branch="b", seq=2, city_id="atlantis-xx", name="", lat="", lon=""),
    ])
    with pytest.raises(ValidationError, match="atlantis-xx"):
        corridors.lines(path=p)
    ok = _user_csv(tmp_path, [
        dict(corridor="X", branch="b", seq=1, city_id="lahore-pk", name="", lat="", lon=""),
        dict(corridor="X", branch="b", seq=2, city_id="karachi-pk", name="", lat="", lon=""),
    ], "ok.csv")
    w = corridors.waypoints("X", path=ok)
    assert w.lat.notna().all() and w.name.tolist()[0] == "Lahore"


# --------------------------------------------------------------------------
# order, progress, user-file encodings and degenerate branches, export
# --------------------------------------------------------------------------
def test_rows_ordered_by_corridor_branch_and_chainage(tmp_path):
    p = _user_csv(tmp_path, [
        dict(corridor="EQ", branch="east", seq=1, name="A", lat=0.0, lon=10.0),
        dict(corridor="EQ", branch="east", seq=2, name="B", lat=0.0, lon=20.0),
        dict(corridor="EQ", branch="north", seq=1, name="A", lat=0.0, lon=10.0),
        dict(corridor="EQ", branch="north", seq=2, name="C", lat=10.0, lon=10.0),
        dict(corridor="NS", branch="only", seq=1, name="S", lat=-5.0, lon=30.0),
        dict(corridor="NS", branch="only", seq=2, name="N", lat=5.0, lon=30.0),
    ])
    # input order deliberately scrambled; two points at the same chainage keep input order
    lat = [0.5, 8.0, 0.2, 3.0, -0.2, 50.0, 4.0, -3.0]
    lon = [18.0, 10.3, 12.0, 10.2, 12.0, 50.0, 29.5, 30.4]
    pts = _pts(lat, lon, k=list("abcdefgh"))
    m = corridors.members(pts, corridors=["NS", "EQ"], within_km=200, path=p, how="all")
    assert m.corridor.tolist()[:2] == ["NS", "NS"] and m.k.tolist()[:2] == ["h", "g"]
    eq = m[m.corridor == "EQ"]
    assert eq.branch.tolist() == ["east"] * 3 + ["north"] * 2  # table order, not alphabetical
    assert eq.k.tolist() == ["c", "e", "a", "d", "b"]
    assert (np.diff(eq[eq.branch == "east"].chainage_km) >= 0).all()
    assert m.corridor.isna().tolist()[-1] and m.k.tolist()[-1] == "f"  # outside: last, input order
    # deterministic: the same rows whatever the chunking
    b = corridors.members(pts, corridors=["NS", "EQ"], within_km=200, path=p, how="all", chunk_size=3)
    pd.testing.assert_frame_equal(pd.DataFrame(m.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))


def test_progress_bar_over_chunks(capsys):
    pts = _pts(np.linspace(25, 35, 30), np.linspace(65, 75, 30))
    corridors.members(pts, corridors="CPEC", within_km=100, chunk_size=10, progress=True)
    assert "corridor membership" in capsys.readouterr().err
    corridors.members(pts, corridors="CPEC", within_km=100, chunk_size=10)  # not a terminal: no bar
    corridors.members(pts, corridors="CPEC", within_km=100, chunk_size=10, progress=False)
    assert "corridor membership" not in capsys.readouterr().err


def test_user_csv_in_gbk_is_detected(tmp_path):
    text = ("corridor,branch,seq,name,lat,lon\n"
            "我的走廊,甲线,1,拉合尔,31.5497,74.3436\n我的走廊,甲线,2,喀布尔,34.5253,69.1783\n")
    for enc in ("gbk", "utf-8-sig"):
        p = tmp_path / f"c_{enc}.csv"
        p.write_bytes(text.encode(enc))
        assert corridors.available(path=p)[-1] == "我的走廊"
        assert corridors.lines("我的走廊", path=p).branch.tolist() == ["甲线"]
    junk = tmp_path / "junk.csv"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(ValidationError, match="junk.csv"):
        corridors.lines(path=junk)


def test_zero_length_branch_is_an_error_and_repeats_are_dropped(tmp_path, caplog):
    flat = _user_csv(tmp_path, [
        dict(corridor="Z", branch="ok", seq=1, name="A", lat=30.0, lon=70.0),
        dict(corridor="Z", branch="ok", seq=2, name="B", lat=31.0, lon=71.0),
        dict(corridor="Z", branch="dot", seq=1, name="A", lat=31.5, lon=74.3),
        dict(corridor="Z", branch="dot", seq=2, name="A again", lat=31.5, lon=74.3),
        dict(corridor="Z", branch="dot", seq=3, name="A again", lat=31.5, lon=74.3),
    ], "flat.csv")
    with pytest.raises(ValidationError, match=r"\['Z/dot'\] have zero length.*same point"):
        corridors.members(_pts(31.5, 74.3), corridors="Z", path=flat)
    # across the antimeridian, 180 and -180 are the same point
    seam = _user_csv(tmp_path, [
        dict(corridor="Z", branch="seam", seq=1, name="E", lat=60.0, lon=180.0),
        dict(corridor="Z", branch="seam", seq=2, name="W", lat=60.0, lon=-180.0),
    ], "seam.csv")
    with pytest.raises(ValidationError, match="zero length"):
        corridors.lines(path=seam)
    rep = _user_csv(tmp_path, [
        dict(corridor="Z", branch="b", seq=1, name="A", lat=0.0, lon=10.0),
        dict(corridor="Z", branch="b", seq=2, name="A2", lat=0.0, lon=10.0),
        dict(corridor="Z", branch="b", seq=3, name="B", lat=0.0, lon=20.0),
        dict(corridor="Z", branch="b", seq=4, name="B2", lat=0.0, lon=20.0),
    ], "rep.csv")
    with caplog.at_level("WARNING", logger="geocity.corridors"):
        w = corridors.waypoints("Z", path=rep)
    assert w.name.tolist() == ["A", "B"]  # the first of the repeats keeps its name
    assert "Z/b seq 2 (A2)" in caplog.text and "Z/b seq 4 (B2)" in caplog.text
    m = corridors.members(_pts(0.5, 15.0), corridors="Z", within_km=100, path=rep)
    assert m.distance_km.iloc[0] == pytest.approx(float(geodesy.distance_km(0.5, 15.0, 0.0, 15.0)), rel=1e-3)


def test_export_records_inputs(tmp_path):
    import json

    files = corridors.export(tmp_path / "c.geojson", within_km=50, names="CPEC")
    assert [p.name for p in files] == ["c_buffers.geojson", "c_buffers.geojson.meta.json",
                                       "c_lines.geojson", "c_lines.geojson.meta.json"]
    meta = json.loads((tmp_path / "c_lines.geojson.meta.json").read_text(encoding="utf-8"))
    assert [i["path"].rsplit("/", 1)[-1] for i in meta["inputs"]] == ["corridors.csv"]
    assert all(len(i["sha256"]) == 64 for i in meta["inputs"])
    user = _user_csv(tmp_path, [
        dict(corridor="MINE", branch="a", seq=1, name="A", lat=30.0, lon=70.0),
        dict(corridor="MINE", branch="a", seq=2, name="B", lat=31.0, lon=71.0),
    ])
    corridors.export(tmp_path / "u.gpkg", within_km=50, names="MINE", path=user)
    meta = json.loads((tmp_path / "u.gpkg.meta.json").read_text(encoding="utf-8"))
    assert [i["path"].rsplit("/", 1)[-1] for i in meta["inputs"]] == ["corridors.csv", "user.csv", "cities.csv"]


@pytest.mark.parametrize("ext", ["gpkg", "geojson"])
def test_export_is_all_or_nothing(tmp_path, monkeypatch, ext):
    from geocity import export as gexport

    real = gexport.write
    calls = []

    def second_fails(data, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(data, path, **kw)

    monkeypatch.setattr(gexport, "write", second_fails)
    with pytest.raises(OSError, match="disk full"):
        corridors.export(tmp_path / f"c.{ext}", within_km=50, names="CPEC")
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left, no temp folder
    # an existing export is left intact when the overwrite fails half-way
    monkeypatch.setattr(gexport, "write", real)
    corridors.export(tmp_path / f"c.{ext}", within_km=50, names="CPEC")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls.clear()
    monkeypatch.setattr(gexport, "write", second_fails)
    with pytest.raises(OSError, match="disk full"):
        corridors.export(tmp_path / f"c.{ext}", within_km=75, names="CPEC", overwrite=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_export_overwrite_replaces_the_gpkg(tmp_path):
    """--overwrite replaces an existing GeoPackage like any other output (issue 11: no
    writer extends a user's file); without it the file is refused."""
    import pyogrio

    from geocity.errors import OutputExistsError

    out = tmp_path / "project.gpkg"
    corridors.export(out, within_km=50, names="CPEC")
    mine = gpd.GeoDataFrame({"note": ["mine"]}, geometry=[shapely.Point(70, 30)], crs=4326)
    pyogrio.write_dataframe(mine, out, layer="my_sites", append=True)
    with pytest.raises(OutputExistsError, match="project.gpkg.*--overwrite"):
        corridors.export(out, within_km=75, names="CPEC")
    corridors.export(out, within_km=75, names="CPEC", overwrite=True)
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["buffers", "layer_styles", "lines"]  # + QGIS's styles
    assert pyogrio.read_dataframe(out, layer="buffers").within_km.tolist() == [75.0]
