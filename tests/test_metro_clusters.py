"""The report's clusters at the metropolitan scale (issue 16, part 1) and cluster
boundaries that partition (issue 13, item 4): the default run (method="metro")
against section 2.1 / 2.2 and the official planning regions, and the partition of
the boundaries (no overlap, each member in its own polygon only, valid,
antimeridian and pole)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shapely

from geocity.cluster import CityClusters, _gap_split, report_clusters
from geocity.geodesy import GEOD, haversine_km

#: Official planning regions: their cities among the report's list (docs/clusters.md).
GBA = {"guangzhou-cn", "shenzhen-cn", "zhuhai-cn", "foshan-cn", "huizhou-cn", "dongguan-cn", "jiangmen-cn",
       "hong-kong-hk", "macao-mo"}
JJJ = {"beijing-cn", "tianjin-cn", "shijiazhuang-cn", "tangshan-cn", "qinhuangdao-cn"}
YRD = {"shanghai-cn", "nanjing-cn", "wuxi-cn", "suzhou-cn", "nantong-cn", "yangzhou-cn", "hangzhou-cn", "ningbo-cn",
       "wenzhou-cn", "jinhua-cn", "hefei-cn"}
TOKYO = {"tokyo-jp", "yokohama-jp", "chiba-jp"}


@pytest.fixture(scope="module")
def runs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {s: report_clusters(s) for s in ("composite", "innovation")}


def _cluster_of(est, city_id):
    m = est.members_
    cid = m.loc[m.city_id == city_id, "cluster_id"]
    assert len(cid) == 1, f"{city_id} is in no cluster"
    row = est.clusters_.set_index("cluster_id").loc[int(cid.iloc[0])]
    return row, set(m.loc[m.cluster_id == int(cid.iloc[0]), "city_id"])


def test_region_ids_exist():
    from geocity.scores import city_scores

    known = set(city_scores().city_id)
    for region in (GBA, JJJ, YRD, TOKYO):
        assert region <= known


def test_default_is_metro():
    est = CityClusters()
    assert est.method == "metro" and est.boundary == "partition"
    assert est.get_params()["gap_ratio"] == 2.5


@pytest.mark.parametrize("region,anchor,min_precision,min_recall", [
    (GBA, "shenzhen-cn", 1.0, 1.0),
    (JJJ, "beijing-cn", 0.7, 1.0),
    (YRD, "shanghai-cn", 1.0, 0.9),
    (TOKYO, "tokyo-jp", 0.75, 1.0),
])
def test_planning_regions(runs, region, anchor, min_precision, min_recall):
    _, members = _cluster_of(runs["composite"], anchor)
    tp = len(members & region)
    assert tp / len(members) >= min_precision, sorted(members - region)
    assert tp / len(region) >= min_recall, sorted(region - members)


def test_gba_is_not_a_thousand_km_province(runs):
    _, members = _cluster_of(runs["composite"], "shenzhen-cn")
    assert not members & {"xiamen-cn", "shantou-cn", "haikou-cn", "zhanjiang-cn", "liuzhou-cn", "quanzhou-cn"}


def test_section_2_1_typology(runs):
    est = runs["composite"]
    gba, _ = _cluster_of(est, "shenzhen-cn")
    assert gba["typology"] == "multi-pole cross-border"
    dallas, members = _cluster_of(est, "dallas-us")
    assert "houston-us" in members and dallas["polarity"] == "multi-pole"
    van, members = _cluster_of(est, "vancouver-ca")
    assert "seattle-us" in members and van["typology"] == "multi-pole cross-border"
    # Northern Europe: the north-western cluster (Amsterdam) and the Nordic one (Copenhagen) alike
    for anchor in ("amsterdam-nl", "copenhagen-dk"):
        row, _ = _cluster_of(est, anchor)
        assert row["typology"] == "multi-pole cross-border", anchor


def test_three_china_japan_clusters_in_top_five(runs):
    c = runs["composite"].clusters_.sort_values("rank").head(5)
    cjk = c["territories"].str.split(";").map(lambda t: bool(set(t) & {"CN", "JP", "HK", "MO"}))
    assert int(cjk.sum()) == 3, c[["name", "territories"]]


def test_section_2_2_innovation_list(runs):
    est = runs["innovation"]
    anchors = {"Tokyo Bay": "tokyo-jp", "SF Bay Area": "san-francisco-us", "NE United States": "new-york-us",
               "GBA": "shenzhen-cn", "Beijing-Tianjin-Hebei": "beijing-cn", "Northern Europe": "amsterdam-nl",
               "UK": "london-gb"}
    rows = {k: _cluster_of(est, v)[0] for k, v in anchors.items()}
    ranks = {k: int(r["rank"]) for k, r in rows.items()}
    assert len(set(ranks.values())) == len(ranks), ranks  # seven distinct clusters: the UK on its own
    assert max(ranks.values()) <= 10, ranks
    _, uk = _cluster_of(est, "london-gb")
    assert {c for c in uk if not c.endswith(("-gb", "-je", "-im"))} == set(), uk


def test_docs_table_is_the_default_run(runs):
    # docs/clusters.md's comparison table lists the default run's members of each planning region
    from pathlib import Path

    from geocity.scores import city_scores

    text = (Path(__file__).resolve().parents[1] / "docs" / "clusters.md").read_text(encoding="utf-8")
    names = city_scores().set_index("city_id")["name_en"]
    est = runs["composite"]
    for label, anchor in [("Greater Bay Area (", "shenzhen-cn"), ("Beijing–Tianjin–Hebei (", "beijing-cn"),
                          ("Yangtze River Delta (", "shanghai-cn"), ("Tokyo metropolitan area (", "tokyo-jp")]:
        row, members = _cluster_of(est, anchor)
        line = next(x for x in text.splitlines() if x.startswith(f"| {label}"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[1] == f"{row['name']} (#{row.name})", cells
        assert set(cells[2].split(", ")) == {names[c] for c in members}, cells


def test_old_methods_kept():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = report_clusters(method="split", max_span_km=1100)
    names = set(old.clusters_["name"])
    assert "Shenzhen–Hong Kong–Guangzhou" in names and old.params_["method"] == "split"
    _, members = _cluster_of(old, "shenzhen-cn")
    assert "xiamen-cn" in members  # the old, province-scale grouping


# --------------------------------------------------------------------------
# the link cut
# --------------------------------------------------------------------------
def test_gap_split_is_relative_to_local_spacing():
    # a tight group (20 km spacing) and a loose one (200 km spacing), 230 km apart
    tight = [(0.0, 0.18 * i) for i in range(5)]
    loose = [(0.0, 0.72 + 2.07 + 1.8 * i) for i in range(4)]
    lat, lon = np.array([p[0] for p in tight + loose]), np.array([p[1] for p in tight + loose])
    D = haversine_km(lat[:, None], lon[:, None], lat[None], lon[None])
    parts = _gap_split(D, 2.5, 2, 120.0)
    assert len(set(parts[:5])) == 1 and len(set(parts[5:])) == 1 and parts[0] != parts[5]
    # the loose group's own 200 km links are consistent with its spacing: not cut
    assert len(np.unique(parts)) == 2
    # links below min_gap_km are never cut
    assert len(np.unique(_gap_split(D, 2.5, 2, 1000.0))) == 1


def test_small_piece_with_anchor_rejoins():
    lat = np.zeros(4)
    lon = np.array([0.0, 0.2, 0.4, 4.0])  # a ranked city 420 km beyond a 22 km-spaced trio
    D = haversine_km(lat[:, None], lon[:, None], lat[None], lon[None])
    assert len(np.unique(_gap_split(D, 2.5, 2, 120.0, 2, np.array([0, 0, 0, 0], bool)))) == 2
    assert len(np.unique(_gap_split(D, 2.5, 2, 120.0, 2, np.array([0, 0, 0, 1], bool)))) == 1


# --------------------------------------------------------------------------
# boundaries that partition
# --------------------------------------------------------------------------
def _check_partition(est, tol=1e-9):
    c, m = est.clusters_, est.members_
    g = list(c.geometry)
    for i, a in enumerate(g):
        assert a.is_valid and not a.is_empty and a.geom_type in ("Polygon", "MultiPolygon")
        assert a.bounds[0] >= -180 and a.bounds[2] <= 180
        for j in range(i + 1, len(g)):
            assert a.intersection(g[j]).area <= tol, (c["name"].iloc[i], c["name"].iloc[j])
    for cid, x, y in zip(m.cluster_id, m.lon, m.lat, strict=True):
        p = shapely.Point(x, y)
        inside = c.loc[[gg.covers(p) for gg in g], "cluster_id"].tolist()
        assert inside == [cid], (cid, x, y, inside)


@pytest.mark.parametrize("score", ["composite", "innovation"])
def test_report_boundaries_partition(score):
    # the old province-scale clusters with a wide buffer overlap a lot: the hard case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hull = report_clusters(score, method="split", max_span_km=1100, buffer_km=60, boundary="hull")
        part = report_clusters(score, method="split", max_span_km=1100, buffer_km=60)
    g = list(hull.clusters_.geometry)
    assert sum(g[i].intersection(g[j]).area > 1e-9 for i in range(len(g)) for j in range(i + 1, len(g))) >= 3
    _check_partition(part)
    np.testing.assert_array_equal(hull.labels_, part.labels_)


def test_default_boundaries_partition(runs):
    for est in runs.values():
        _check_partition(est)


def _two_groups(lat0, lon0, dlon, dlat=0.0):
    rows = []
    for k, (la, lo) in enumerate([(lat0, lon0), (lat0 + dlat, lon0 + dlon)]):
        for i in range(4):
            lon = (lo + 0.3 * i + 180) % 360 - 180
            rows.append({"city_id": f"g{k}-{i}", "lat": la + 0.2 * (i % 2), "lon": lon})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("lat0,lon0,dlon,dlat", [
    (-17.0, 178.6, 1.9, 0.0),   # across the antimeridian
    (10.0, 20.0, 1.9, 0.0),     # ordinary
    (89.0, 0.0, 180.0, 0.0),    # across the north pole
])
def test_synthetic_overlaps_partition(lat0, lon0, dlon, dlat):
    df = _two_groups(lat0, lon0, dlon, dlat)
    w = np.ones(len(df))
    kw = dict(eps_km=60.0, min_weight=1.0, method="dbscan", buffer_km=120.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hull = CityClusters(boundary="hull", **kw).fit(df, sample_weight=w)
        part = CityClusters(**kw).fit(df, sample_weight=w)
    assert len(part.clusters_) == 2
    a, b = hull.clusters_.geometry
    assert a.intersection(b).area > 0  # the hulls do overlap
    _check_partition(part)
    # nothing outside the hulls was added, and the overlap was shared out, not dropped
    union_h = shapely.union_all(list(hull.clusters_.geometry))
    union_p = shapely.union_all(list(part.clusters_.geometry))

    def km2(g):  # geodesic area: lon/lat degrees mean nothing near the pole
        return abs(GEOD.geometry_area_perimeter(g)[0]) / 1e6 if not g.is_empty else 0.0

    assert km2(union_p.difference(union_h)) <= 1e-3 * km2(union_h)
    assert km2(union_h.difference(union_p)) <= 1e-2 * km2(union_h)
