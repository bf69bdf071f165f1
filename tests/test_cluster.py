"""Tests of geocity.dbscan and geocity.cluster: the geodesic DBSCAN engine against scikit-learn,
the city cluster identifier, typology, boundaries and bad input."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _reference import sklearn_dbscan
from hypothesis import given, settings
from hypothesis import strategies as st

from geocity.cluster import CityClusters, ClusterWarning, SelfCoreWarning
from geocity.dbscan import geodesic_dbscan
from geocity.errors import GeocityError, ValidationError
from geocity.geodesy import haversine_km

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _edge_pairs(lat, lon, eps_km, rtol=1e-9):
    """Number of pairs whose distance is within ``rtol`` of eps (ambiguous)."""
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    return int((np.abs(d - eps_km) <= rtol * eps_km).sum())


def _points(kind: str, n: int, rng):
    if kind == "uniform":
        lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        lon = rng.uniform(-180, 180, n)
    elif kind == "clumped":
        k = 6
        c = rng.integers(0, k, n)
        clat, clon = rng.uniform(-60, 60, k), rng.uniform(-180, 180, k)
        lat = np.clip(clat[c] + rng.normal(0, 1.5, n), -90, 90)
        lon = (clon[c] + rng.normal(0, 1.5, n) + 180) % 360 - 180
    elif kind == "duplicates":
        lat = rng.integers(-3, 4, n).astype(float)
        lon = rng.integers(-3, 4, n).astype(float)
    elif kind == "antimeridian":
        lat = rng.uniform(-6, 6, n)
        lon = np.where(rng.random(n) < 0.5, rng.uniform(175, 180, n), rng.uniform(-180, -175, n))
    elif kind == "poles":
        lat = rng.uniform(86, 90, n) * rng.choice([-1, 1], n)
        lon = rng.uniform(-180, 180, n)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return lat, lon


CASES = [(kind, seed) for kind in ("uniform", "clumped", "duplicates", "antimeridian", "poles") for seed in range(8)]


# --------------------------------------------------------------------------
# engine vs scikit-learn
# --------------------------------------------------------------------------
@pytest.mark.parametrize("kind,seed", CASES)
def test_engine_matches_sklearn(kind, seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 250))
    lat, lon = _points(kind, n, rng)
    w = rng.choice([0.0, 0.5, 1.0, 2.0, 3.3], n)  # includes zero weights
    eps_km = float(rng.uniform(15, 700))
    min_samples = int(rng.integers(1, 8))
    if _edge_pairs(lat, lon, eps_km):
        pytest.skip("a pair lies within 1e-9 of eps: comparison ill-posed")
    sk_labels, sk_core = sklearn_dbscan(lat, lon, eps_km, min_samples, w)
    for algorithm in ("kdtree", "brute", "grid"):
        labels, core = geodesic_dbscan(
            lat, lon, eps_km=eps_km, min_weight=min_samples, weights=w, algorithm=algorithm
        )
        np.testing.assert_array_equal(core, sk_core)
        np.testing.assert_array_equal(labels == -1, sk_labels == -1)
        # core partition and (with our documented tie rule) every label identical
        np.testing.assert_array_equal(labels[core], sk_labels[core])
        np.testing.assert_array_equal(labels, sk_labels)


def test_engine_small_chunks_same_result():
    rng = np.random.default_rng(7)
    lat, lon = _points("clumped", 600, rng)
    w = rng.random(600) * 2
    a = geodesic_dbscan(lat, lon, eps_km=150, min_weight=4, weights=w, algorithm="kdtree")
    b = geodesic_dbscan(lat, lon, eps_km=150, min_weight=4, weights=w, algorithm="kdtree", chunk_pairs=37)
    c = geodesic_dbscan(lat, lon, eps_km=150, min_weight=4, weights=w, algorithm="grid")
    for other in (b, c):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1], other[1])


def test_grid_engine_tiny_eps_falls_back_to_kdtree():
    lat, lon = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1e-8, 1.0])
    labels, core, info = geodesic_dbscan(lat, lon, eps_km=1e-4, min_weight=2, algorithm="grid", return_info=True)
    assert info["algorithm"] == "kdtree"
    assert labels.tolist() == [0, 0, -1]


def test_border_points_belong_to_a_cluster_with_a_core_within_eps():
    rng = np.random.default_rng(3)
    lat, lon = _points("clumped", 400, rng)
    eps = 120.0
    labels, core = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=6)
    border = np.flatnonzero((labels >= 0) & ~core)
    assert len(border) > 0
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    for b in border:
        near_cores = np.flatnonzero(core & (d[b] <= eps))
        assert labels[b] in set(labels[near_cores])
        # tie rule: the lowest label among the clusters with a core within eps
        assert labels[b] == labels[near_cores].min()


def test_antimeridian_and_pole_points_cluster_together():
    labels, core = geodesic_dbscan(
        [0.0, 0.0, 0.1, 89.9, 89.9, 40.0], [179.95, -179.95, 180.0, 0.0, 180.0, 0.0], eps_km=30, min_weight=2
    )
    assert labels[0] == labels[1] == labels[2] != -1
    assert labels[3] == labels[4] != -1 and labels[3] != labels[0]
    assert labels[5] == -1 and not core[5]


def test_single_heavy_point_is_core_on_its_own():
    labels, core = geodesic_dbscan([0, 10], [0, 10], eps_km=10, min_weight=1.0, weights=[1.5, 0.2])
    assert core.tolist() == [True, False]
    assert labels.tolist() == [0, -1]


def test_return_info_counts_unique_points():
    lat = np.array([1.0, 1.0, 1.0, 2.0])
    lon = np.array([1.0, 1.0, 1.0, 2.0])
    labels, core, info = geodesic_dbscan(lat, lon, eps_km=1, min_weight=3, return_info=True)
    assert info["n_unique"] == 2 and info["n_points"] == 4
    assert labels.tolist() == [0, 0, 0, -1]


ENGINES = ("grid", "kdtree", "brute")
INFO_KEYS = {"n_points", "n_unique", "algorithm", "edge_pairs", "chunks"}


def _destination(lat, lon, az, d_km):
    """Point at great-circle distance ``d_km`` (mean-radius sphere, the DBSCAN metric)."""
    from geocity.geodesy import EARTH_RADIUS_KM

    la, lo, a = np.radians(lat), np.radians(lon), np.radians(az)
    dl = np.asarray(d_km, dtype=float) / EARTH_RADIUS_KM
    la2 = np.arcsin(np.sin(la) * np.cos(dl) + np.cos(la) * np.sin(dl) * np.cos(a))
    lo2 = lo + np.arctan2(np.sin(a) * np.sin(dl) * np.cos(la), np.cos(dl) - np.sin(la) * np.sin(la2))
    return np.degrees(la2), (np.degrees(lo2) + 180.0) % 360.0 - 180.0


def _edge_layer(eps_km, factors):
    """Pairs of points at ``eps_km * factor``, far apart from each other, in
    awkward places (equator, antimeridian, near the pole, southern mid-latitudes)."""
    starts = [(0.0, 0.0, 90.0), (10.0, 20.0, 0.0), (45.0, 179.9, 90.0), (-30.0, -60.0, 37.0),
              (89.5, 10.0, 200.0), (-20.0, -179.95, 270.0), (60.0, 100.0, 135.0), (5.0, 60.0, 45.0)]
    lat, lon = [], []
    for (la, lo, az), f in zip(starts, factors, strict=True):
        la2, lo2 = _destination(la, lo, az, eps_km * f)
        lat += [la, float(la2)]
        lon += [lo, float(lo2)]
    return np.array(lat), np.array(lon)


def test_engines_return_the_same_info_keys():
    rng = np.random.default_rng(5)
    lat, lon = _points("clumped", 300, rng)
    for algorithm in ENGINES:
        *_, info = geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm=algorithm, return_info=True)
        assert set(info) == INFO_KEYS, algorithm
        assert info["algorithm"] == algorithm and info["n_points"] == 300 and info["chunks"] >= 1


def test_edge_pairs_counted_alike_by_every_engine_and_labels_still_sklearns():
    # pairs at eps (1 ± 1e-10): inside the 1e-9 edge band, so counted, yet far enough
    # from eps (≫ the ~1e-14 rounding of haversine and chord) for both metrics to agree
    eps_km = 50.0
    factors = [1 - 1e-10, 1 + 1e-10] * 4
    lat, lon = _edge_layer(eps_km, factors)
    d = haversine_km(lat[::2], lon[::2], lat[1::2], lon[1::2])
    np.testing.assert_allclose(d / eps_km - 1, np.array(factors) - 1, atol=2e-12)
    # one endpoint three times (exact duplicates: 3 point pairs), zero and fractional weights
    lat, lon = np.append(lat, [lat[0], lat[0]]), np.append(lon, [lon[0], lon[0]])
    w = np.full(len(lat), 2.0)  # a pair inside eps reaches min_weight 3, a lone point does not
    w[[4, 5]] = 0.0
    w[-2:] = 0.5
    expected_pairs = len(factors) + 2
    sk_labels, sk_core = sklearn_dbscan(lat, lon, eps_km, 3, w)
    assert sk_core.any() and (~sk_core).any()
    for algorithm in ENGINES:
        labels, core, info = geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=3, weights=w,
                                             algorithm=algorithm, return_info=True, count_edge_pairs=True)
        assert info["edge_pairs"] == expected_pairs, algorithm
        np.testing.assert_array_equal(core, sk_core, err_msg=algorithm)
        np.testing.assert_array_equal(labels, sk_labels, err_msg=algorithm)


@pytest.mark.parametrize("eps_km", [0.5, 50.0, 700.0])
def test_engines_decide_pairs_at_exactly_eps_identically(eps_km):
    # 1 500 pairs at eps to the last bit, anywhere: scikit-learn's haversine may round
    # either way on them (they are the counted, excluded pairs), but all our engines
    # apply the same test, so they agree with each other on every pair
    rng = np.random.default_rng(int(eps_km * 10))
    m = 1500
    la = np.degrees(np.arcsin(rng.uniform(-1, 1, m)))
    lo = rng.uniform(-180, 180, m)
    la2, lo2 = _destination(la, lo, rng.uniform(0, 360, m), np.full(m, eps_km))
    lat, lon = np.concatenate([la, la2]), np.concatenate([lo, lo2])
    out = {a: geodesic_dbscan(lat, lon, eps_km=eps_km, min_weight=2, algorithm=a, return_info=True,
                              count_edge_pairs=True) for a in ENGINES}
    assert {o[2]["edge_pairs"] for o in out.values()} == {out["brute"][2]["edge_pairs"]}
    assert out["brute"][2]["edge_pairs"] >= m
    for a in ("grid", "kdtree"):
        np.testing.assert_array_equal(out[a][1], out["brute"][1], err_msg=a)
        np.testing.assert_array_equal(out[a][0], out["brute"][0], err_msg=a)


# --------------------------------------------------------------------------
# progress bars
# --------------------------------------------------------------------------
class _FakeTerminal:
    """A stderr that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.text = []

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.fixture
def small_progress_threshold(monkeypatch):
    from geocity import dbscan

    monkeypatch.setattr(dbscan, "PROGRESS_MIN_POINTS", 10)


@pytest.mark.parametrize("algorithm", ["grid", "kdtree"])
def test_progress_false_and_non_tty_print_nothing(capfd, small_progress_threshold, algorithm):
    rng = np.random.default_rng(2)
    lat, lon = _points("clumped", 500, rng)
    for progress in (False, None):  # None: tqdm's disable=None, and pytest's stderr is not a terminal
        geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm=algorithm, progress=progress)
        out, err = capfd.readouterr()
        assert out == "" and err == "", (progress, err)


@pytest.mark.parametrize("algorithm", ["grid", "kdtree"])
def test_progress_bars_at_a_terminal_and_when_asked(monkeypatch, capsys, small_progress_threshold, algorithm):
    import sys

    rng = np.random.default_rng(2)
    lat, lon = _points("clumped", 500, rng)
    term = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm=algorithm)  # default None, at a "terminal"
    text = "".join(term.text)
    for phase in ("core test", "core links", "borders"):
        assert f"geodesic_dbscan: {phase}" in text, phase
    term.text.clear()
    geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm=algorithm, progress=False)
    assert "".join(term.text) == ""
    monkeypatch.undo()
    geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm=algorithm, progress=True)  # forced, not a tty
    assert "geodesic_dbscan: core test" in capsys.readouterr().err


def test_progress_default_stays_quiet_for_short_runs_at_a_terminal(monkeypatch):
    import sys

    term = _FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    rng = np.random.default_rng(2)
    lat, lon = _points("clumped", 500, rng)
    geodesic_dbscan(lat, lon, eps_km=100, min_weight=3, algorithm="grid")  # 500 < PROGRESS_MIN_POINTS
    assert "".join(term.text) == ""


@settings(max_examples=40, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False), st.floats(0, 3)),
        min_size=1,
        max_size=40,
    ),
    eps=st.floats(1, 3000),
    min_weight=st.floats(0.1, 6),
)
def test_core_noise_invariants(pts, eps, min_weight):
    lat, lon, w = (np.array(c, dtype=float) for c in zip(*pts, strict=True))
    labels, core = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=min_weight, weights=w)
    d = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    inside = d <= eps * (1 - 1e-9)
    outside = d > eps * (1 + 1e-9)
    wsum_lo = inside.astype(float) @ w
    wsum_hi = (~outside).astype(float) @ w
    # a core's certain neighbourhood may miss edge pairs, its possible one may not
    assert np.all(wsum_hi[core] >= min_weight - 1e-9)
    assert np.all(wsum_lo[~core] < min_weight + 1e-9)
    # noise has no core within eps; every labelled point is a core or near one
    assert np.all(core[labels == -1] == False)  # noqa: E712
    for i in np.flatnonzero(labels >= 0):
        assert core[i] or np.any(core & ~outside[i] & (labels == labels[i]))
    # brute force agrees
    lb, cb = geodesic_dbscan(lat, lon, eps_km=eps, min_weight=min_weight, weights=w, algorithm="brute")
    if not _edge_pairs(lat, lon, eps):
        np.testing.assert_array_equal(cb, core)
        np.testing.assert_array_equal(lb, labels)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lat": [0, np.nan], "lon": [0, 1]}, "non-finite"),
        ({"lat": [0, 95], "lon": [0, 1]}, "outside"),
        ({"lat": [120, 130], "lon": [40, 50]}, "swapped"),
        ({"lat": [], "lon": []}, "no points"),
        ({"lat": [0, 1], "lon": [0]}, "lengths"),
        ({"eps_km": 0}, "eps_km"),
        ({"eps_km": -5}, "eps_km"),
        ({"eps_km": float("nan")}, "eps_km"),
        ({"min_weight": 0}, "min_weight"),
        ({"weights": [1, -1]}, "negative"),
        ({"weights": [1, np.nan]}, "NaN"),
        ({"weights": [1, 2, 3]}, "weights has 3"),
        ({"algorithm": "ball"}, "algorithm"),
        ({"lat": ["a", 1], "lon": [0, 1]}, "lat must be numeric .*row 0 is 'a'"),
        ({"lat": [0, 1], "lon": [0, None, "x"]}, "lon must be numeric .*row 2 is 'x'"),
        ({"weights": [1, "heavy"]}, "weights must be numeric .*row 1 is 'heavy'"),
        ({"lat": [[0, 1], [2]], "lon": [0, 1]}, "lat must be numeric"),
        ({"progress": "yes"}, "progress must be None"),
    ],
)
def test_engine_bad_input(kwargs, match):
    args = {"lat": [0.0, 1.0], "lon": [0.0, 1.0], "eps_km": 100, "min_weight": 1}
    args.update(kwargs)
    lat, lon = args.pop("lat"), args.pop("lon")
    with pytest.raises(ValidationError, match=match):
        geodesic_dbscan(lat, lon, **args)


def test_engine_non_numeric_coordinates_are_a_validation_error_naming_the_argument():
    # the case of the bug report: a bare ValueError from numpy before
    with pytest.raises(ValidationError, match="lat must be numeric") as exc:
        geodesic_dbscan(["a"], [0], eps_km=1, min_weight=1)
    assert "lon" not in str(exc.value).replace("longitudes", "")
    with pytest.raises(ValidationError) as exc:
        geodesic_dbscan(["a"], ["b"], eps_km=1, min_weight=1, weights=["c"])
    msg = str(exc.value)
    assert "lat must be numeric" in msg and "lon must be numeric" in msg and "weights must be numeric" in msg
    # numeric strings are numbers (e.g. read from a text file)
    labels, core = geodesic_dbscan(["0", "0.001"], ["0", "0"], eps_km=1, min_weight=2)
    assert labels.tolist() == [0, 0]


def test_engine_gathers_problems_into_one_message():
    with pytest.raises(GeocityError) as exc:
        geodesic_dbscan([0, 1], [0, 1], eps_km=-1, min_weight=0, weights=[-1, 1])
    msg = str(exc.value)
    assert "eps_km" in msg and "min_weight" in msg and "negative" in msg


# --------------------------------------------------------------------------
# CityClusters on hand-made layers
# --------------------------------------------------------------------------
def _layer(rows, attrs=None):
    df = pd.DataFrame(rows, columns=["city_id", "name_en", "name_zh", "country_iso2", "lat", "lon", "composite"])
    for d in ("innovation", "industry", "infrastructure"):
        df[d] = df["composite"]
    df["score_source"] = "user"
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    gdf.attrs = attrs or {"proxy": False, "score_source": "user"}
    return gdf


GBA = [
    ("shenzhen-cn", "Shenzhen", "深圳", "CN", 22.543, 114.058, 0.9),
    ("hong-kong-hk", "Hong Kong", "香港", "HK", 22.278, 114.175, 0.85),
    ("guangzhou-cn", "Guangzhou", "广州", "CN", 23.129, 113.264, 0.8),
    ("dongguan-cn", "Dongguan", "东莞", "CN", 23.018, 113.749, 0.1),
]
TEXAS = [
    ("dallas-us", "Dallas", "达拉斯", "US", 32.783, -96.807, 0.6),
    ("houston-us", "Houston", "休斯敦", "US", 29.763, -95.363, 0.1),
]
LONELY = [("lonely-xx", "Lonely", "", "FR", -40.0, -100.0, 0.05)]


def test_typology_multi_pole_cross_border_and_single_pole_domestic():
    est = CityClusters(eps_km=400, min_weight=0.5).fit(_layer(GBA + TEXAS + LONELY))
    c = est.clusters_.set_index("name")
    assert list(c.index) == ["Shenzhen–Hong Kong–Guangzhou", "Dallas"]
    gba = c.loc["Shenzhen–Hong Kong–Guangzhou"]
    assert gba["typology"] == "multi-pole cross-border"
    assert gba["name_zh"] == "深圳–香港–广州"
    assert gba["n_members"] == 4 and gba["rank"] == 1 and gba["cluster_id"] == 1
    assert gba["poles"] == "shenzhen-cn;hong-kong-hk;guangzhou-cn"
    assert gba["total_score"] == pytest.approx(2.65)
    assert gba["mean_score"] == pytest.approx(2.65 / 4)
    assert c.loc["Dallas", "typology"] == "single-pole domestic"
    assert est.labels_.tolist() == [1, 1, 1, 1, 2, 2, -1]
    m = est.members_
    assert set(m.columns) >= {"cluster_id", "city_id", "name_en", "name_zh", "is_core", "is_pole", "composite"}
    assert not m.loc[m.city_id == "dongguan-cn", "is_pole"].item()
    assert est.params_["eps_km"] == 400 and est.params_["proxy"] is False
    assert est.clusters_.geometry.is_valid.all()
    assert (est.clusters_.geom_type == "Polygon").all()


def test_typology_domestic_multi_pole():
    rows = [
        ("a-cn", "A", "甲", "CN", 30.0, 120.0, 0.8),
        ("b-cn", "B", "乙", "CN", 30.5, 120.5, 0.7),
    ]
    est = CityClusters(eps_km=200, min_weight=0.5).fit(_layer(rows))
    assert est.clusters_["typology"].tolist() == ["multi-pole domestic"]
    assert est.clusters_["name"].tolist() == ["A–B"]


def test_names_drop_the_report_qualifier_unless_ambiguous():
    rows = [
        # a Californian cluster: "San Diego (USA)" is the only San Diego -> qualifier dropped
        ("los-angeles-us", "Los Angeles", "洛杉矶", "US", 34.052, -118.244, 0.9),
        ("san-diego-us", "San Diego (USA)", "圣迭戈（美国）", "US", 32.716, -117.165, 0.8),
        # San Jose (USA) vs San José (Costa Rica): same bare name ignoring accents -> kept
        ("san-francisco-us", "San Francisco", "旧金山", "US", 37.775, -122.419, 0.9),
        ("san-jose-us", "San Jose (USA)", "圣何塞（美国）", "US", 37.339, -121.895, 0.8),
        ("san-jose-cr", "San José (Costa Rica)", "圣何塞（哥斯达黎加）", "CR", 9.933, -84.083, 0.01),
        # Oakland(USA) vs Auckland (New Zealand): different in English, both 奥克兰 in Chinese
        ("oakland-us", "Oakland(USA)", "奥克兰（美国）", "US", 37.804, -122.271, 0.7),
        ("auckland-nz", "Auckland (New Zealand)", "奥克兰（新西兰）", "NZ", -36.848, 174.763, 0.01),
    ]
    est = CityClusters(eps_km=200, min_weight=0.5, max_poles=3).fit(_layer(rows))
    pairs = zip(est.clusters_["name"], est.clusters_["name_zh"], strict=True)
    names = dict(zip(est.clusters_["poles"], pairs, strict=True))
    assert names["los-angeles-us;san-diego-us"] == ("Los Angeles–San Diego", "洛杉矶–圣迭戈")
    assert names["san-francisco-us;san-jose-us;oakland-us"] == (
        "San Francisco–San Jose (USA)–Oakland",
        "旧金山–圣何塞（美国）–奥克兰（美国）",
    )
    # the member table keeps the names as printed in the report
    m = est.members_.set_index("city_id")
    assert m.loc["san-diego-us", "name_en"] == "San Diego (USA)"


def test_name_lists_the_poles_by_score():
    # Houston is the larger city, but the name follows the 3I score (documented rule)
    rows = TEXAS + [("austin-us", "Austin", "奥斯汀", "US", 30.267, -97.743, 0.3)]
    est = CityClusters(eps_km=400, min_weight=0.5).fit(_layer(rows))
    row = est.clusters_.iloc[0]
    assert row["poles"] == "dallas-us;austin-us"
    assert row["name"] == "Dallas–Austin" and row["name_zh"] == "达拉斯–奥斯汀"
    assert row["n_members"] == 3


def test_buffer_is_in_km_and_contains_members():
    est = CityClusters(eps_km=400, min_weight=0.5, buffer_km=25).fit(_layer(GBA))
    poly = est.clusters_.geometry.iloc[0]
    for _, r in est.members_.iterrows():
        assert poly.contains(shapely.Point(r.lon, r.lat))
    # Dongguan 25 km buffer: a point 20 km east of the easternmost member is inside, 35 km is not
    from geocity.geodesy import GEOD

    east = est.members_.sort_values("lon").iloc[-1]
    lon20, lat20, _ = GEOD.fwd(east.lon, east.lat, 90, 20_000)
    lon35, lat35, _ = GEOD.fwd(east.lon, east.lat, 90, 35_000)
    assert poly.contains(shapely.Point(lon20, lat20))
    assert not poly.contains(shapely.Point(lon35, lat35))


def test_concave_hull_valid():
    rng = np.random.default_rng(0)
    rows = [
        (f"c{i}-cn", f"C{i}", f"城{i}", "CN", 30 + rng.normal(0, 1), 115 + rng.normal(0, 1), 0.3) for i in range(25)
    ]
    est = CityClusters(eps_km=300, min_weight=0.9, hull="concave").fit(_layer(rows))
    assert len(est.clusters_) == 1
    g = est.clusters_.geometry.iloc[0]
    assert g.is_valid and g.geom_type in ("Polygon", "MultiPolygon")
    convex = CityClusters(eps_km=300, min_weight=0.9).fit(_layer(rows)).clusters_.geometry.iloc[0]
    assert g.area <= convex.area + 1e-9


def test_antimeridian_cluster_is_small_multipolygon():
    rows = [
        ("suva-fj", "Suva", "苏瓦", "FJ", -18.1416, 178.4419, 0.3),
        ("nuku-alofa-to", "Nuku'alofa", "努库阿洛法", "TO", -21.1394, -175.2049, 0.3),
        ("apia-ws", "Apia", "阿皮亚", "WS", -13.8333, -171.7667, 0.3),
    ]
    est = CityClusters(eps_km=1200, min_weight=0.6, max_span_km=3000).fit(_layer(rows))
    assert len(est.clusters_) == 1
    g = est.clusters_.geometry.iloc[0]
    assert g.is_valid and g.geom_type == "MultiPolygon"
    parts = list(g.geoms)
    assert len(parts) == 2
    west = [p for p in parts if p.bounds[0] < 0][0]
    east = [p for p in parts if p.bounds[0] > 0][0]
    assert west.bounds[0] == pytest.approx(-180.0) and west.bounds[2] < -170
    assert east.bounds[2] == pytest.approx(180.0) and east.bounds[0] > 175
    assert est.clusters_["typology"].item() == "multi-pole cross-border"


def test_split_separates_chained_regions():
    # a chain of equally spaced cities 300 km apart with eps 350: one DBSCAN region,
    # split into pole catchments whose span stays within max_span_km
    lats = np.zeros(12)
    lons = np.arange(12) * (300 / 111.195)
    scores = np.linspace(0.3, 0.9, 12)
    rows = [(f"p{i}-xx", f"P{i}", "", "XX", lats[i], lons[i], scores[i]) for i in range(12)]
    layer = _layer(rows)
    plain = CityClusters(eps_km=350, min_weight=0.5, method="dbscan").fit(layer)
    assert len(plain.clusters_) == 1
    split = CityClusters(eps_km=350, min_weight=0.5, max_span_km=1000).fit(layer)
    assert len(split.clusters_) > 1
    for cid in split.clusters_.cluster_id:
        m = split.members_[split.members_.cluster_id == cid]
        d = haversine_km(m.lat.to_numpy()[:, None], m.lon.to_numpy()[:, None], m.lat.to_numpy(), m.lon.to_numpy())
        assert d.max() <= 1000
    # the strongest city is the pole of the top cluster
    assert split.clusters_.sort_values("max_score").iloc[-1]["poles"].startswith("p11-xx")
    # every city is still in a cluster
    assert (split.labels_ > 0).all()


def test_method_dbscan_matches_engine_partition():
    rng = np.random.default_rng(5)
    n = 120
    lat, lon = _points("clumped", n, rng)
    sc = rng.random(n)
    rows = [(f"x{i}-xx", f"X{i}", "", "XX", lat[i], lon[i], sc[i]) for i in range(n)]
    est = CityClusters(eps_km=200, min_weight=2.0, method="dbscan", min_members=1).fit(_layer(rows))
    labels, core = geodesic_dbscan(lat, lon, eps_km=200, min_weight=2.0, weights=sc)
    a, b = est.labels_, labels
    assert np.array_equal(a == -1, b == -1)
    # same partition up to renumbering
    pairs = set(zip(a[a > 0].tolist(), b[b >= 0].tolist(), strict=True))
    assert len(pairs) == len(set(a[a > 0])) == len(set(b[b >= 0]))
    assert np.array_equal(est.core_sample_mask_, core)


def test_one_city_core_warns_and_is_dropped():
    rows = [("big-xx", "Big", "", "XX", 0.0, 0.0, 0.9), ("far-xx", "Far", "", "XX", 0.0, 50.0, 0.1)]
    with pytest.warns(ClusterWarning, match="core point on its own"):
        est = CityClusters(eps_km=100, min_weight=0.5).fit(_layer(rows + GBA))
    assert len(est.clusters_) == 1
    assert est.labels_[0] == -1 and est.labels_[1] == -1


def test_one_city_cores_are_one_warning():
    rows = [(f"big{i}-xx", f"Big{i}", "", "XX", 0.0, 20.0 * i, 0.9) for i in range(5)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = CityClusters(eps_km=100, min_weight=0.5).fit(_layer(rows))
    msgs = [str(w.message) for w in caught if issubclass(w.category, ClusterWarning)]
    assert len(msgs) == 2  # one for the five one-city cores, one for "no cluster"
    assert "5 cities" in msgs[0] and "big0-xx" in msgs[0] and "big4-xx" in msgs[0]
    assert "no cluster" in msgs[1]
    assert len(est.clusters_) == 0


def test_self_core_cities_are_one_warning_with_names_and_scores():
    # twelve strong cities in one region (all core on their own), plus a weak neighbour
    rows = [(f"c{i:02d}-xx", f"City {i}", "", "XX", 10.0 + 0.5 * i, 20.0, 0.5 + 0.04 * i) for i in range(12)]
    rows.append(("weak-xx", "Weak", "", "XX", 10.2, 20.2, 0.1))
    with pytest.warns(SelfCoreWarning) as rec:
        CityClusters(eps_km=300, min_weight=0.5).fit(_layer(rows))
    msgs = [str(w.message) for w in rec if issubclass(w.category, ClusterWarning)]
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert msg.startswith("12 cities weigh at least min_weight=0.5 on their own composite score")
    # strongest first, the first 10 by name with city_id and score, then a count
    assert "City 11 (c11-xx) 0.94, City 10 (c10-xx) 0.9," in msg
    assert "City 2 (c02-xx) 0.58 and 2 more" in msg
    assert "City 1 (" not in msg and "Weak" not in msg
    assert issubclass(SelfCoreWarning, ClusterWarning)
    # one such city: singular wording; a run where no city reaches min_weight on its own: no warning
    with pytest.warns(SelfCoreWarning, match=r"^1 city weighs at least min_weight=0.5 on its own composite score"):
        CityClusters(eps_km=300, min_weight=0.5).fit(_layer(rows[:1] + rows[-1:]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CityClusters(eps_km=300, min_weight=1.0).fit(_layer(rows))


def test_one_city_cores_are_not_repeated_in_the_self_core_warning():
    rows = [("big-xx", "Big", "", "XX", 0.0, 0.0, 0.9)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CityClusters(eps_km=100, min_weight=0.5).fit(_layer(rows + GBA))
    self_core = [str(w.message) for w in caught if w.category is SelfCoreWarning]
    alone = [str(w.message) for w in caught if w.category is ClusterWarning]
    assert len(self_core) == 1 and len(alone) == 1
    assert "Shenzhen (shenzhen-cn) 0.9" in self_core[0] and "big-xx" not in self_core[0]
    assert "big-xx" in alone[0]


def test_cli_prints_the_self_core_warning_once_and_plainly(runner, tmp_path):
    pytest.importorskip("geocity.layers")
    from geocity.cli.main import cli

    res = runner.invoke(cli, ["clusters", "-o", str(tmp_path / "c.gpkg")])
    assert res.exit_code == 0, res.output
    assert res.output.count("Warning: 9 cities weigh at least min_weight=0.45") == 1
    assert res.output.count("weigh at least") == 1
    assert "Tokyo (tokyo-jp) 1" in res.output
    assert "SelfCoreWarning" not in res.output and "warnings.warn" not in res.output and ".py:" not in res.output
    # -q: the advisory note goes too (a problem such as "no cluster" would still be printed)
    res = runner.invoke(cli, ["clusters", "-q", "--overwrite", "-o", str(tmp_path / "c.gpkg")])
    assert res.exit_code == 0 and res.output == ""


def test_no_cluster_warns():
    rows = [("a-xx", "A", "", "XX", 0.0, 0.0, 0.1), ("b-xx", "B", "", "XX", 0.0, 50.0, 0.1)]
    with pytest.warns(ClusterWarning, match="no cluster"):
        est = CityClusters(eps_km=100, min_weight=0.5).fit(_layer(rows))
    assert len(est.clusters_) == 0
    assert len(est.members_) == 0
    assert est.clusters_.crs is not None
    # empty, but with the column types of a non-empty result (so exports keep their field types)
    full = CityClusters(eps_km=400, min_weight=0.5).fit(_layer(GBA))
    assert list(est.clusters_.columns) == list(full.clusters_.columns)
    for col in ("cluster_id", "rank", "n_members", "total_score", "centre_lat"):
        assert est.clusters_[col].dtype == full.clusters_[col].dtype, col
    assert list(est.members_.columns) == list(full.members_.columns)
    for col in ("cluster_id", "lat", "is_core", "weight"):
        assert est.members_[col].dtype == full.members_[col].dtype, col


@pytest.mark.parametrize(
    "params,match",
    [
        ({"eps_km": 0}, "eps_km"),
        ({"min_weight": -1}, "min_weight"),
        ({"method": "hdbscan"}, "method"),
        ({"score": "gdp"}, "score"),
        ({"hull": "alpha"}, "hull"),
        ({"buffer_km": 0}, "buffer_km"),
        ({"dimension_weights": (1, -1, 1)}, "weights"),
    ],
)
def test_city_clusters_bad_params(params, match):
    with pytest.raises(ValidationError, match=match):
        CityClusters(**params).fit(_layer(GBA))


def test_city_clusters_bad_layers():
    layer = _layer(GBA)
    with pytest.raises(ValidationError, match="duplicate"):
        CityClusters().fit(pd.concat([layer, layer.iloc[:1]]))
    with pytest.raises(ValidationError, match="empty"):
        CityClusters().fit(layer.iloc[:0])
    bad = layer.copy()
    bad["composite"] = [0.5, np.nan, 0.5, 0.5]
    bad = bad.drop(columns=["innovation"])
    with pytest.raises(ValidationError, match="hong-kong-hk"):
        CityClusters().fit(bad)
    neg = layer.copy()
    neg["innovation"] = [-0.5, 0.1, 0.1, 0.1]
    with pytest.raises(ValidationError, match="negative"):
        CityClusters().fit(neg)
    swapped = pd.DataFrame(layer.drop(columns="geometry"))
    swapped["lat"], swapped["lon"] = layer["lon"], layer["lat"]
    with pytest.raises(ValidationError, match="swapped"):
        CityClusters().fit(swapped)
    nocrs = layer.set_crs(None, allow_override=True)
    with pytest.raises(ValidationError, match="CRS"):
        CityClusters().fit(nocrs)
    with pytest.raises(ValidationError, match="innovation"):
        CityClusters(score="innovation").fit(layer.drop(columns="innovation"))


def test_city_clusters_non_numeric_columns_are_validation_errors():
    table = pd.DataFrame(_layer(GBA).drop(columns="geometry"))
    bad = table.astype({"lat": object})
    bad.loc[1, "lat"] = "north"
    with pytest.raises(ValidationError, match=r"lat must be numeric .*row 1 \(hong-kong-hk\) is 'north'"):
        CityClusters().fit(bad)
    bad = table.astype({"composite": object})
    bad.loc[2, "composite"] = "high"
    with pytest.raises(ValidationError, match=r"score 'composite' must be numeric .*guangzhou-cn"):
        CityClusters().fit(bad.drop(columns=["innovation", "industry", "infrastructure"]))


def _proxy_layer(rows):
    """A layer with rank-proxy scores: ``None`` as score means unranked (the base score)."""
    from geocity.scores import BASE_SCORE

    rows = [(*r[:6], BASE_SCORE if r[6] is None else r[6]) for r in rows]
    g = _layer(rows, attrs={"proxy": True, "score_source": "rank-proxy"})
    g["score_source"] = "rank-proxy"
    return g


def test_unranked_clusters_are_marked_and_counted():
    ranked_pole = [("big-xx", "Big", "", "XX", 0.0, 0.0, 0.6), ("mid-xx", "Mid", "", "XX", 0.0, 1.0, 0.3),
                   ("u1-xx", "U1", "", "XX", 0.0, 2.0, None)]
    # a weak ranked pole (0.15) with seven unranked neighbours above the pole cut (0.15 / 3)
    tie = [("t1-xx", "T1", "", "XX", 20.0, 0.0, 0.15)] + [
        (f"t{k}-xx", f"T{k}", "", "XX", 20.0, 0.2 * i, None) for i, k in enumerate([5, 3, 8, 2, 7, 4, 6], start=1)
    ]
    unranked = [(f"z{i}-yy", f"Z{i}", "", "YY", -20.0, 0.5 * i, None) for i in range(12)]
    layer = _proxy_layer(ranked_pole + tie + unranked)
    est = CityClusters(eps_km=250, min_weight=0.5).fit(layer)
    c = est.clusters_.set_index("name")
    assert c.loc["Big–Mid", ["n_ranked", "poles_by"]].tolist() == [2, "score"]
    # T1 ranked; T2, T3, T4 tie at the base score: the third pole is a city_id tie-break
    assert c.loc["T1–T2–T3", ["n_ranked", "poles_by"]].tolist() == [1, "score (ties by city_id)"]
    # no member ranked: the geographic name stays, marked as a tie-break
    row = c.loc["Z0–Z1–Z10"]
    assert row["n_ranked"] == 0 and row["poles_by"] == "tie-break (all members unranked)"
    assert row["n_members"] == 12
    m = est.members_.set_index("city_id")
    assert m.loc[["big-xx", "mid-xx", "t1-xx"], "ranked"].all() and not m.loc["u1-xx", "ranked"]
    assert not m.loc[[f"z{i}-yy" for i in range(12)], "ranked"].any()
    # user scores are given values: every member counts, a missing one does not
    user = _layer([(*r[:6], 0.0 if r[0] == "t4-xx" else 0.1) for r in tie])
    user.loc[user["city_id"] == "t4-xx", "score_source"] = "user-missing"  # absent from the user's table
    est = CityClusters(eps_km=250, min_weight=0.5).fit(user)
    assert est.clusters_["n_ranked"].tolist() == [7]
    assert est.clusters_["poles_by"].tolist() == ["score (ties by city_id)"]


def test_report_unranked_clusters_marked(report_clusters, tmp_path):
    from geocity import export

    c = report_clusters.clusters_.set_index("name")
    for name in ("Birobidzhan–Jiamusi–Jixi", "Baise–Chongzuo–Dong Dang"):
        assert c.loc[name, "n_ranked"] == 0 and c.loc[name, "poles_by"] == "tie-break (all members unranked)"
    gba = c.loc["Shenzhen–Hong Kong–Guangzhou"]
    assert gba["poles_by"] == "score" and gba["n_ranked"] >= 3
    assert (c["n_ranked"] <= c["n_members"]).all()
    members = report_clusters.members_
    per = members.groupby("cluster_name")["ranked"].sum()
    assert (per.reindex(c.index).to_numpy() == c["n_ranked"].to_numpy()).all()
    # the shapefile keeps both under their own (≤ 10 character) names
    import pyogrio

    out = tmp_path / "c.shp"
    export.write(report_clusters.clusters_, out)
    fields = list(pyogrio.read_info(out)["fields"])
    assert {"n_ranked", "poles_by"} <= set(fields) and all(len(f.encode()) <= 10 for f in fields)
    back = export.read(out).set_index("name")
    assert back.loc["Baise–Chongzuo–Dong Dang", "poles_by"] == "tie-break (all members unranked)"
    assert int(back.loc["Baise–Chongzuo–Dong Dang", "n_ranked"]) == 0


def test_dimension_weights_change_the_weights():
    layer = _layer(GBA)
    layer["innovation"] = [1.0, 0.0, 0.0, 0.0]
    est = CityClusters(eps_km=400, min_weight=0.5, dimension_weights=(1, 0, 0)).fit(layer)
    assert est.members_.set_index("city_id").loc["shenzhen-cn", "weight"] == pytest.approx(1.0)
    assert est.members_.set_index("city_id").loc["hong-kong-hk", "weight"] == pytest.approx(0.0)
    assert est.clusters_["name"].item() == "Shenzhen"


# --------------------------------------------------------------------------
# the report's clusters on the embedded layers (default parameters)
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report_clusters():
    pytest.importorskip("geocity.layers")
    from geocity.scores import city_scores

    cities = city_scores()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = CityClusters().fit(cities)
    # the default run warns once, and only about the cities that are core points on their own
    assert [w.category for w in caught] == [SelfCoreWarning], [str(w.message) for w in caught]
    est.test_warning_ = str(caught[0].message)
    return est


def test_report_default_run_names_its_self_core_cities_once(report_clusters):
    msg = report_clusters.test_warning_
    members = report_clusters.members_.set_index("city_id")
    assert msg.startswith("9 cities weigh at least min_weight=0.45 on their own composite score")
    # name, city_id and score, strongest first
    assert "Tokyo (tokyo-jp) 1, Beijing (beijing-cn) 0.859, Shanghai (shanghai-cn) 0.805" in msg
    assert f"Seoul (seoul-kr) {members.loc['seoul-kr', 'weight']:.3g}" in msg
    assert "more" not in msg and "raise min_weight above 1" in msg


def _cluster_of(est, city_id):
    m = est.members_
    row = m[m.city_id == city_id]
    assert len(row) == 1, f"{city_id} is in no cluster"
    return int(row.cluster_id.iloc[0])


def test_report_greater_bay_area(report_clusters):
    est = report_clusters
    c = _cluster_of(est, "shenzhen-cn")
    for cid in ("hong-kong-hk", "guangzhou-cn", "macao-mo", "dongguan-cn", "foshan-cn", "zhuhai-cn"):
        assert _cluster_of(est, cid) == c, cid
    row = est.clusters_.set_index("cluster_id").loc[c]
    assert row["typology"] == "multi-pole cross-border"
    assert set(row["poles"].split(";")) >= {"shenzhen-cn", "hong-kong-hk"}


def test_report_northern_europe(report_clusters):
    # metropolitan scale: the Nordic cities form cross-border clusters of their own (Copenhagen with
    # Hamburg and Berlin, Stockholm with the Baltic capitals), never with London; the north-western
    # cluster (Amsterdam) is cross-border too (docs/clusters.md, "Northern Europe")
    est = report_clusters
    m = est.members_
    rows = est.clusters_.set_index("cluster_id")
    for anchor in ("copenhagen-dk", "stockholm-se", "amsterdam-nl"):
        c = _cluster_of(est, anchor)
        assert not ((m.cluster_id == c) & m.city_id.isin(["london-gb", "cambridge-gb"])).any(), anchor
        assert rows.loc[c, "typology"] == "multi-pole cross-border", anchor
    assert _cluster_of(est, "london-gb") != _cluster_of(est, "amsterdam-nl")


def test_report_dallas_houston_and_vancouver_seattle(report_clusters):
    est = report_clusters
    assert _cluster_of(est, "dallas-us") == _cluster_of(est, "houston-us")
    c = _cluster_of(est, "vancouver-ca")
    assert _cluster_of(est, "seattle-us") == c
    assert est.clusters_.set_index("cluster_id").loc[c, "typology"].endswith("cross-border")


def test_report_top_five_china_japan_clusters(report_clusters):
    # The report: three China/Japan clusters in the global top five; so does the default (metro) run
    # (Shanghai, the Greater Bay Area, Tokyo), while method="split" ranked four (module docstring).
    import geocity.cluster as mod

    top5 = report_clusters.clusters_.sort_values("rank").head(5)
    cn_jp = top5["territories"].map(lambda t: bool(set(t.split(";")) & {"CN", "JP"}))
    assert cn_jp.sum() == 3
    assert "ranks *three*" in mod.__doc__
    poles = ";".join(top5["poles"])
    for city in ("tokyo-jp", "shanghai-cn", "shenzhen-cn", "london-gb"):
        assert city in poles


def test_report_names_read_cleanly(report_clusters):
    from geocity import layers
    from geocity.scores import _norm_name

    c = report_clusters.clusters_
    names = set(c["name"])
    assert "Los Angeles–San Diego" in names
    assert "Shenzhen–Hong Kong–Guangzhou" in names and "Hamburg–Copenhagen–Berlin" in names
    assert "洛杉矶–圣迭戈" in set(c["name_zh"])
    # a "(Country)" qualifier survives only where the bare name is shared by another city
    cities = layers.load("cities")
    bare = cities["name_en"].map(layers.strip_qualifier).map(_norm_name)
    ambiguous = set(bare[bare.duplicated(keep=False)])
    for name in names:
        for part in name.split("–"):
            if "(" in part:
                assert _norm_name(layers.strip_qualifier(part)) in ambiguous, part
    # every name is the poles' names, in pole order
    by_id = cities.set_index("city_id")["name_en"].map(layers.strip_qualifier)
    for _, row in c.iterrows():
        assert [layers.strip_qualifier(p) for p in row["name"].split("–")] == [
            by_id[i] for i in row["poles"].split(";")
        ]
    # the report's Dallas-Houston cluster: named after its poles by score (documented)
    dallas = c[c["poles"].str.startswith("dallas-us")].iloc[0]
    assert dallas["name"] == "Dallas–Austin"
    assert "Dallas–Houston" in __import__("geocity.cluster", fromlist=["x"]).__doc__


def test_report_antimeridian_cluster_from_embedded_cities():
    pytest.importorskip("geocity.layers")
    from geocity.geodesy import GEOD
    from geocity.scores import city_scores

    cities = city_scores()
    pacific = cities[cities["city_id"].isin(["suva-fj", "nuku-alofa-to", "apia-ws"])]
    assert len(pacific) == 3
    est = CityClusters(eps_km=1200, min_weight=0.1, max_span_km=3000).fit(pacific)
    assert len(est.clusters_) == 1 and est.clusters_["n_members"].item() == 3
    g = est.clusters_.geometry.iloc[0]
    assert g.is_valid and g.geom_type == "MultiPolygon" and len(g.geoms) == 2
    xmin, _, xmax, _ = g.bounds
    assert xmin == pytest.approx(-180) and xmax == pytest.approx(180)
    # small: the geodesic area is the members' triangle plus a 30 km buffer
    # (area + perimeter × 30 km + π 30²), not a band around the world (tens of millions of km²)
    m = est.members_
    tri, perim = GEOD.polygon_area_perimeter(np.unwrap(m["lon"].to_numpy(), period=360), m["lat"].to_numpy())
    expected = abs(tri) / 1e6 + perim / 1e3 * 30 + np.pi * 30**2
    area_km2 = abs(GEOD.geometry_area_perimeter(g)[0]) / 1e6
    assert area_km2 == pytest.approx(expected, rel=0.02)
    west = max(p.bounds[2] for p in g.geoms if p.bounds[0] < 0)
    east = min(p.bounds[0] for p in g.geoms if p.bounds[0] > 0)
    assert west < -170 and east > 177
    for _, r in est.members_.iterrows():
        assert g.covers(shapely.Point(r.lon, r.lat)), r.city_id


def test_report_outputs_say_proxy(report_clusters):
    est = report_clusters
    assert est.params_["proxy"] is True
    assert (est.clusters_["score_source"] == "rank-proxy").all()
    assert est.clusters_["proxy"].all()
    assert est.clusters_.geometry.is_valid.all()
    assert (est.clusters_["rank"].to_numpy() == np.arange(1, len(est.clusters_) + 1)).all()


def test_report_split_loses_no_city_of_a_dbscan_cluster():
    # method="split" (the previous default, max_span_km=1100) divides DBSCAN regions but never drops
    # their cities to noise: before the fix the run silently lost Toronto, Glasgow and Lyon
    # (one-city catchments)
    pytest.importorskip("geocity.layers")
    from geocity.scores import city_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelfCoreWarning)
        est = CityClusters(method="split", max_span_km=1100).fit(city_scores())
    db = est.dbscan_labels_
    sizes = np.bincount(db[db >= 0])
    in_group = (db >= 0) & (sizes[np.maximum(db, 0)] >= 2)
    assert (est.labels_[in_group] > 0).all()
    assert np.array_equal(est.labels_ > 0, in_group)
    by_id = est.members_.set_index("city_id")
    assert by_id.loc["toronto-ca", "cluster_name"] == by_id.loc["chicago-us", "cluster_name"]
    assert {"glasgow-gb", "lyon-fr"} <= set(by_id.index)


def test_report_metro_loses_no_ranked_city_of_a_dbscan_cluster(report_clusters):
    # method="metro" cuts inconsistent links, but a ranked city (published evidence) cut off on its
    # own re-joins across its shortest cut link: Paris and Los Angeles stay in clusters
    from geocity.scores import city_scores

    est = report_clusters
    cities = city_scores()
    ranked = cities["composite"].to_numpy() > cities["composite"].min() * (1 + 1e-9)
    db = est.dbscan_labels_
    sizes = np.bincount(db[db >= 0])
    in_group = (db >= 0) & (sizes[np.maximum(db, 0)] >= 2)
    assert (est.labels_[in_group & ranked] > 0).all()
    assert (est.labels_[db == -1] == -1).all()
    assert {"paris-fr", "los-angeles-us"} <= set(est.members_["city_id"])


def test_report_innovation_clusters():
    pytest.importorskip("geocity.layers")
    from geocity.scores import city_scores

    est = CityClusters(score="innovation").fit(city_scores())
    assert est.params_["score"] == "innovation"
    top = est.clusters_.sort_values("rank").head(8)
    poles = ";".join(top["poles"])
    for city in ("tokyo-jp", "beijing-cn", "london-gb"):
        assert city in poles


@pytest.mark.slow
def test_engine_one_million_points_memory_bounded():
    import time
    import tracemalloc

    n = 1_000_000
    rng = np.random.default_rng(1)
    k = 5000
    c = rng.integers(0, k, n)
    clat = np.degrees(np.arcsin(rng.uniform(-0.95, 0.95, k)))
    clon = rng.uniform(-180, 180, k)
    lat = np.clip(clat[c] + rng.normal(0, 0.3, n), -90, 90)
    lon = (clon[c] + rng.normal(0, 0.3, n) + 180) % 360 - 180
    lat[:1000] = lat[1000:2000]  # exact duplicates
    lon[:1000] = lon[1000:2000]
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        labels, core = geodesic_dbscan(lat, lon, eps_km=5, min_weight=10, algorithm="kdtree", chunk_pairs=1_000_000)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert labels.shape == (n,) and core.shape == (n,)
    assert core.any() and (labels >= 0).any()
    assert np.array_equal(labels[:1000], labels[1000:2000])
    assert peak < 1.5e9, f"peak traced memory {peak / 1e6:.0f} MB"
    # the compiled grid engine gives the same answer
    lg, cg = geodesic_dbscan(lat, lon, eps_km=5, min_weight=10, algorithm="grid")
    np.testing.assert_array_equal(lg, labels)
    np.testing.assert_array_equal(cg, core)
    assert elapsed < 120, f"{elapsed:.0f} s"


def test_write_exports_polygons_and_members_and_refuses_overwrite(report_clusters, tmp_path):
    import pyogrio

    from geocity.errors import OutputExistsError
    from geocity.export import read

    out = tmp_path / "c.shp"
    written = report_clusters.write(out)
    names = {p.name for p in written}
    assert {"c.shp", "c.cpg", "c.fields.csv", "c_members.csv"} <= names
    back = read(out)
    assert len(back) == len(report_clusters.clusters_)
    assert set(back["name_zh"]) == set(report_clusters.clusters_["name_zh"])
    assert pyogrio.read_info(out)["geometry_type"] in ("Polygon", "MultiPolygon")  # shapefiles do not tell them apart
    with pytest.raises(OutputExistsError):
        report_clusters.write(tmp_path / "other.shp", members_path=tmp_path / "c_members.csv")
    assert not (tmp_path / "other.shp").exists()  # refused before anything was written


def test_names_of_the_split_modules_are_still_importable_from_geocity_cluster():
    # geocity.cluster was split by task (issue 12); tests, figures, the web map, notebooks
    # and the QGIS worker import these names from it
    from geocity import (
        _cluster_boundary,
        _cluster_metro,
        _cluster_naming,
        _cluster_split,
        _cluster_tables,
        cluster,
    )

    moved = {
        _cluster_metro: ("_mst_edges", "_gap_split"),
        _cluster_split: ("_split_region", "_merge_small"),
        _cluster_naming: ("_DASH", "_ranked", "_label_names", "_text"),
        _cluster_boundary: ("_centre", "_hull", "_basis", "_to_gnomonic", "_from_gnomonic", "_half_plane",
                            "_partition", "_polygonal"),
        _cluster_tables: ("SHAPEFILE_FIELDS", "_EMPTY_DTYPES"),
    }
    for mod, names in moved.items():
        for name in names:
            assert getattr(cluster, name) is getattr(mod, name), name
    for name in ("CityClusters", "ClusterWarning", "SelfCoreWarning", "report_clusters", "DEFAULTS", "METHODS",
                 "MAX_SPLIT_MEMBERS", "MAX_BUFFER_KM"):
        assert hasattr(cluster, name), name
    # the split's log records keep the estimator's logger name
    assert _cluster_split.log.name == "geocity.cluster" == cluster.log.name
