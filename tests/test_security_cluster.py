"""The cluster splitter never turns a density-connected group into nothing
(issue 11, part 5c).

``method="split"`` divides over-large DBSCAN regions into pole catchments.
It used to drop every catchment smaller than ``min_members`` to noise, so a
region whose catchments were all single cities (``eps_km`` above
``max_span_km / 2``: Suva, Nuku'alofa and Apia with ``eps_km=1000``) gave no
cluster at all, with a warning that the cities had "no other city within
1000 km" although Suva–Nuku'alofa is 746 km. The cause was not the
antimeridian (the distances are great-circle ones on unit vectors, and the
same three cities shifted off the antimeridian failed alike) but the drop;
these tests pin the invariant and the truthful warnings, across ±180° and at
a pole.
"""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geocity.cluster import CityClusters, ClusterWarning
from geocity.geodesy import haversine_km

# the three cities as in the embedded cities layer (lat, lon)
PACIFIC = [
    ("suva-fj", "Suva", "FJ", -18.13683, 178.42531),
    ("nuku-alofa-to", "Nuku'alofa", "TO", -21.13683, -175.20114),
    ("apia-ws", "Apia", "WS", -13.83333, -171.76666),
]


def _layer(rows, scores=None):
    """A scored layer from ``(city_id, name, iso2, lat, lon)`` rows."""
    df = pd.DataFrame(rows, columns=["city_id", "name_en", "country_iso2", "lat", "lon"])
    df["name_zh"] = ""
    sc = np.full(len(df), 0.5) if scores is None else np.asarray(scores, dtype=float)
    for c in ("innovation", "industry", "infrastructure", "composite"):
        df[c] = sc
    df["score_source"] = "user"
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    gdf.attrs = {"proxy": False, "score_source": "user"}
    return gdf


def _shift(rows, dlon):
    return [(a, b, c, lat, (lon + dlon + 180.0) % 360.0 - 180.0) for a, b, c, lat, lon in rows]


def _fit(layer, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = CityClusters(**kw).fit(layer)
    msgs = [str(w.message) for w in caught if issubclass(w.category, ClusterWarning)]
    return est, msgs


def _groups(est):
    """The clusters as sets of city_id (order-free)."""
    m = est.members_
    return sorted(sorted(g) for g in m.groupby("cluster_id")["city_id"].apply(list))


# --------------------------------------------------------------------------
# the reported case
# --------------------------------------------------------------------------
def test_pacific_cities_across_the_antimeridian_form_one_cluster():
    d = haversine_km(-18.13683, 178.42531, -21.13683, -175.20114)
    assert 740 < float(d) < 750  # Suva–Nuku'alofa: well within eps_km=1000
    est, msgs = _fit(_layer(PACIFIC), eps_km=1000)
    plain, _ = _fit(_layer(PACIFIC), eps_km=1000, method="dbscan")
    # before the fix: 0 clusters, labels [-1, -1, -1], "no other city within 1000 km"
    assert len(est.clusters_) == 1
    assert _groups(est) == _groups(plain) == [["apia-ws", "nuku-alofa-to", "suva-fj"]]
    assert (est.labels_ == 1).all()
    assert not any("no other city" in m for m in msgs), msgs
    assert not any("no cluster found" in m for m in msgs), msgs
    # the boundary of a cluster across ±180° stays a small (Multi)Polygon
    minx, _, maxx, _ = est.clusters_.geometry.iloc[0].bounds
    assert est.clusters_.geometry.iloc[0].is_valid and minx >= -180 and maxx <= 180


@pytest.mark.parametrize("dlon", [-20.0, 180.0, 10.0 - 178.42531])
def test_same_cities_off_the_antimeridian_give_the_same_result(dlon):
    ref, ref_msgs = _fit(_layer(PACIFIC), eps_km=1000)
    rows = _shift(PACIFIC, dlon)
    lons = [r[4] for r in rows]
    assert max(lons) - min(lons) < 20  # no longer straddling ±180°
    est, msgs = _fit(_layer(rows), eps_km=1000)
    assert _groups(est) == _groups(ref)
    assert np.array_equal(est.labels_, ref.labels_)
    a, b = est.clusters_.iloc[0], ref.clusters_.iloc[0]
    assert (a["name"], a["n_members"], a["poles"]) == (b["name"], b["n_members"], b["poles"])
    assert a["total_score"] == pytest.approx(b["total_score"])
    assert msgs == ref_msgs


def test_pacific_cities_from_a_user_scores_table(tmp_path):
    pytest.importorskip("geocity.layers")
    from geocity.scores import city_scores

    p = tmp_path / "S.csv"
    p.write_text("name,composite\nSuva,0.5\nNuku'alofa,0.5\nApia,0.5\n", encoding="utf-8")
    cities = city_scores(source=p)
    est, msgs = _fit(cities, eps_km=1000)
    plain, _ = _fit(cities, eps_km=1000, method="dbscan")
    assert len(est.clusters_) >= 1
    assert _groups(est) == _groups(plain)
    ids = set(est.members_["city_id"])
    assert {"suva-fj", "nuku-alofa-to", "apia-ws"} <= ids
    assert not any("no other city" in m for m in msgs), msgs


def test_cli_pacific_cities_write_the_cluster(runner, tmp_path):
    pytest.importorskip("geocity.layers")
    from geocity.cli.main import cli

    s = tmp_path / "S.csv"
    s.write_text("name,composite\nSuva,0.5\nNuku'alofa,0.5\nApia,0.5\n", encoding="utf-8")
    out = tmp_path / "x.shp"
    res = runner.invoke(cli, ["clusters", "--scores", str(s), "--eps-km", "1000", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    assert "no other city within" not in res.output
    assert "no cluster found" not in res.output
    assert re.search(r"^1 clusters \(user scores\)", res.output, re.M), res.output
    m = pd.read_csv(tmp_path / "x_members.csv", encoding="utf-8")
    pac = m[m.city_id.isin(["suva-fj", "nuku-alofa-to", "apia-ws"])]
    assert len(pac) == 3 and pac.cluster_id.nunique() == 1
    assert len(gpd.read_file(out)) == 1


# --------------------------------------------------------------------------
# a pole
# --------------------------------------------------------------------------
POLAR = [
    ("a-xx", "A", "XX", 85.0, 0.0),
    ("pole-xx", "Pole", "XX", 90.0, 0.0),
    ("c-xx", "C", "XX", 85.0, 180.0),
]


@pytest.mark.parametrize("dlon", [0.0, 37.0, -90.0, 179.5])
def test_polar_chain_is_one_cluster_whatever_the_longitudes(dlon):
    rows = _shift(POLAR, dlon)
    # A–pole–C: 2 links of ~556 km (> max_span_km / 2) and a span of ~1112 km (> max_span_km)
    est, msgs = _fit(_layer(rows), eps_km=600)
    # before the fix: three one-city catchments, all dropped, 0 clusters
    assert _groups(est) == [["a-xx", "c-xx", "pole-xx"]]
    assert not any("no other city" in m or "no cluster" in m for m in msgs), msgs
    g = est.clusters_.geometry.iloc[0]
    assert g.is_valid and not g.is_empty


def test_split_still_divides_a_long_chain_without_losing_anyone():
    # a 12-city chain, 300 km apart along the equator across ±180°: split into
    # catchments, every city kept, every cluster at least min_members cities
    lons = 175.0 + 2.7 * np.arange(12)
    rows = [(f"c{i:02d}-xx", f"C{i}", "XX", 0.0, (lon + 180) % 360 - 180) for i, lon in enumerate(lons)]
    scores = np.linspace(0.9, 0.2, 12)
    est, _ = _fit(_layer(rows, scores), eps_km=350, min_weight=0.5, max_span_km=1000)
    assert len(est.clusters_) > 1
    assert (est.labels_ > 0).all()
    assert (est.clusters_["n_members"] >= 2).all()


# --------------------------------------------------------------------------
# truthful warnings
# --------------------------------------------------------------------------
def test_alone_warning_names_only_cities_without_a_neighbour():
    rows = [("big-xx", "Big", "XX", -17.0, 179.9), ("far-xx", "Far", "XX", 0.0, 150.0)] + _shift(PACIFIC, 0.0)
    est, msgs = _fit(_layer(rows, [0.9, 0.9, 0.5, 0.5, 0.5]), eps_km=1000)
    alone = [m for m in msgs if "no other city" in m]
    assert len(alone) == 1 and "far-xx" in alone[0]
    for cid in ("big-xx", "suva-fj", "nuku-alofa-to", "apia-ws"):
        assert cid not in alone[0]
    assert est.labels_[1] == -1 and (np.delete(est.labels_, 1) > 0).all()


def test_small_dbscan_cluster_dropped_by_min_members_is_named():
    # a pair 100 km apart is a DBSCAN cluster of 2 cities: with min_members=3 it is
    # left out, with a warning naming it (not "no other city within eps")
    rows = [("p-xx", "P", "XX", 10.0, 20.0), ("q-xx", "Q", "XX", 10.0, 20.9)]
    est, msgs = _fit(_layer(rows, [0.9, 0.1]), eps_km=200, min_members=3)
    assert len(est.clusters_) == 0
    assert not any("no other city" in m for m in msgs), msgs
    small = [m for m in msgs if "fewer than min_members=3" in m]
    assert len(small) == 1 and "p-xx;q-xx" in small[0] and "lower min_members" in small[0]


# --------------------------------------------------------------------------
# the invariant, on random small layers
# --------------------------------------------------------------------------
@st.composite
def _layers(draw):
    n = draw(st.integers(2, 12))
    centre = draw(st.sampled_from(["antimeridian", "pole", "anywhere"]))
    if centre == "antimeridian":
        clat, clon = draw(st.floats(-60, 60)), 180.0
    elif centre == "pole":
        clat, clon = draw(st.sampled_from([88.0, -88.0])), draw(st.floats(-180, 180))
    else:
        clat, clon = draw(st.floats(-70, 70)), draw(st.floats(-180, 180))
    spread = draw(st.floats(1.0, 12.0))
    dlat = draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n))
    dlon = draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n))
    lat = np.clip(clat + spread * np.asarray(dlat), -90, 90)
    lon = (clon + spread * np.asarray(dlon) / max(np.cos(np.radians(clat)), 0.2) + 180.0) % 360.0 - 180.0
    w = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    rows = [(f"c{i:02d}-xx", f"C{i}", "XX", float(lat[i]), float(lon[i])) for i in range(n)]
    params = {
        "eps_km": draw(st.floats(100.0, 1500.0)),
        "min_weight": draw(st.floats(0.2, 1.5)),
        "max_span_km": draw(st.floats(200.0, 2500.0)),
        "min_members": draw(st.integers(1, 4)),
    }
    return _layer(rows, w), params


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_layers())
def test_split_never_drops_a_dbscan_cluster(case):
    layer, params = case
    est, msgs = _fit(layer, method="split", **params)
    plain, _ = _fit(layer, method="dbscan", **params)
    db = est.dbscan_labels_
    lab = est.labels_
    k = params["min_members"]
    for c in np.unique(db[db >= 0]):
        m = db == c
        if m.sum() >= k:
            # every member of a DBSCAN cluster ends up in a split cluster ...
            assert (lab[m] > 0).all(), (c, lab[m])
        else:  # ... unless the DBSCAN cluster itself is below min_members (either method)
            assert (lab[m] == -1).all() and (plain.labels_[m] == -1).all()
    assert (lab[db == -1] == -1).all()  # noise stays noise
    assert np.array_equal(lab == -1, plain.labels_ == -1)  # split never drops more than plain DBSCAN
    for s in np.unique(lab[lab > 0]):
        m = lab == s
        assert len(np.unique(db[m])) == 1  # a split cluster lies within one DBSCAN cluster
        assert m.sum() >= k
    # the "no other city within eps_km" warning is true
    ids = layer["city_id"].to_numpy()
    lat, lon = layer["lat"].to_numpy(), layer["lon"].to_numpy()
    for msg in msgs:
        if "no other city" not in msg:
            continue
        for i in np.flatnonzero([f"{cid} (" in msg for cid in ids]):
            d = haversine_km(lat[i], lon[i], np.delete(lat, i), np.delete(lon, i))
            assert (d > params["eps_km"] * (1 - 1e-6)).all(), (ids[i], d.min())
            assert lab[i] == -1


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_layers())
def test_metro_clusters_are_pieces_of_dbscan_clusters(case):
    # method="metro": every cluster lies within one DBSCAN cluster, holds a core city and at least
    # min_members cities; noise stays noise; with every city ranked (a user table) a cut only drops
    # pieces without a core city
    layer, params = case
    est, _ = _fit(layer, **params)
    assert est.method == "metro"
    db, lab, core = est.dbscan_labels_, est.labels_, est.core_sample_mask_
    assert (lab[db == -1] == -1).all()
    for s in np.unique(lab[lab > 0]):
        m = lab == s
        assert len(np.unique(db[m])) == 1 and m.sum() >= params["min_members"] and core[m].any()
    split, _ = _fit(layer, method="split", **params)
    assert ((lab > 0) <= (split.labels_ > 0)).all()  # metro never keeps a city that split drops


# --------------------------------------------------------------------------
# the boundary buffer is bounded, checked before any work
# --------------------------------------------------------------------------
@pytest.mark.parametrize("buffer_km", [1e9, 2000.001, float("inf")])
def test_huge_buffer_is_a_clear_error_before_any_work(buffer_km, monkeypatch):
    # --buffer-km 1e9 used to run 48 s and die in GEOS with std::bad_alloc
    from geocity import cluster
    from geocity.errors import ValidationError

    def boom(*a, **k):
        raise AssertionError("clustered before the parameters were checked")

    monkeypatch.setattr(cluster, "geodesic_dbscan", boom)
    with pytest.raises(ValidationError, match="buffer_km must be") as exc:
        CityClusters(buffer_km=buffer_km).fit(_layer(PACIFIC))
    assert "buffer_km" in str(exc.value) and ("2000" in str(exc.value) or "positive" in str(exc.value))
    assert str(exc.value).count("buffer_km must") == 1  # one message, not geocity's and scikit-learn's


def test_buffer_at_the_bound_is_accepted():
    from geocity.cluster import MAX_BUFFER_KM

    assert MAX_BUFFER_KM == 2000.0
    CityClusters(buffer_km=MAX_BUFFER_KM)._check_params()  # no error
    est = CityClusters(buffer_km=500.0, eps_km=1000).fit(_layer(PACIFIC))
    assert len(est.clusters_) == 1


def test_cli_huge_buffer_is_a_one_line_error_and_writes_nothing(runner, tmp_path, monkeypatch):
    from geocity import scores
    from geocity.cli.main import cli

    def no_scores(*a, **k):
        raise AssertionError("scores read before the parameters were checked")

    monkeypatch.setattr(scores, "city_scores", no_scores)
    res = runner.invoke(cli, ["clusters", "--buffer-km", "1e9", "-o", str(tmp_path / "out" / "x.shp")])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert "buffer_km must be at most 2000 km" in res.output and "--buffer-km" in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []
