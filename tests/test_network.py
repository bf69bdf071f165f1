"""Tests of geocity.network: antimeridian arcs, the gravity model, edge
tables and their resolution, export."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geocity import network as N
from geocity.errors import NotFoundError, ValidationError
from geocity.geodesy import distance_km


@pytest.fixture
def cities():
    return gpd.GeoDataFrame(
        {
            "city_id": ["tokyo-jp", "los-angeles-us", "sydney-au", "santiago-cl", "santiago-cu", "beijing-cn",
                        "london-gb", "shenzhen-cn", "hong-kong-hk"],
            "name_en": ["Tokyo", "Los Angeles", "Sydney", "Santiago", "Santiago", "Beijing", "London",
                        "Shenzhen", "Hong Kong"],
            "name_zh": ["东京", "洛杉矶", "悉尼", "圣地亚哥", "圣地亚哥", "北京", "伦敦", "深圳", "香港"],
            "innovation": [1.0, 0.8, 0.5, 0.3, 0.1, 0.9, 0.95, 0.7, 0.6],
        },
        geometry=gpd.points_from_xy(
            [139.69, -118.24, 151.21, -70.65, -75.82, 116.40, -0.13, 114.06, 114.17],
            [35.69, 34.05, -33.87, -33.45, 20.02, 39.90, 51.51, 22.54, 22.32],
        ),
        crs="EPSG:4326",
    )


def _lons(geom):
    return shapely.get_coordinates(geom)[:, 0]


# --------------------------------------------------------------------------
# arcs across the antimeridian
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "a,b,west_lon,east_lon",
    [("tokyo-jp", "los-angeles-us", 139.69, -118.24), ("sydney-au", "santiago-cl", 151.21, -70.65)],
)
def test_transpacific_arcs_are_split_and_go_the_short_way(cities, a, b, west_lon, east_lon):
    links = N.edge_links(pd.DataFrame({"source": [a], "target": [b]}), cities=cities)
    g = links.geometry.iloc[0]
    assert g.geom_type == "MultiLineString" and len(g.geoms) == 2
    lon = _lons(g)
    assert lon.min() >= -180 and lon.max() <= 180
    # the short way: every vertex is east of the western city or west of the eastern one
    assert np.all((lon >= west_lon - 1e-9) | (lon <= east_lon + 1e-9))
    assert np.isclose(lon, 180).any() and np.isclose(lon, -180).any()
    # the parts meet at the same latitude on both sides of the seam
    ends = [c for part in g.geoms for c in (part.coords[0], part.coords[-1]) if abs(abs(c[0]) - 180) < 1e-9]
    assert len(ends) == 2 and ends[0][1] == pytest.approx(ends[1][1], abs=1e-6)
    assert links["distance_km"].iloc[0] == pytest.approx(
        float(distance_km(*cities.set_index("city_id").loc[a, "geometry"].coords[0][::-1],
                          *cities.set_index("city_id").loc[b, "geometry"].coords[0][::-1])), rel=1e-9
    )
    assert links["distance_km"].iloc[0] < 12000


def test_arcs_are_densified_geodesics(cities):
    links = N.edge_links(pd.DataFrame({"source": ["London"], "target": ["Beijing"]}), cities=cities,
                         max_segment_km=100)
    g = links.geometry.iloc[0]
    assert g.geom_type == "LineString" and len(g.coords) >= 80
    # a great circle London-Beijing passes far north of both ends
    assert shapely.get_coordinates(g)[:, 1].max() > 60


# --------------------------------------------------------------------------
# gravity model
# --------------------------------------------------------------------------
def test_gravity_strength_formula(cities):
    g = N.gravity_links(cities, dimension="innovation", beta=2, top_k=None, threshold=1e-9)
    assert len(g) == 9 * 8 // 2
    assert g["modelled"].all() and g.attrs["modelled"] is True
    ix = cities.set_index("city_id")
    row = g[(g.source_id == "tokyo-jp") & (g.target_id == "beijing-cn")].iloc[0]
    d = float(distance_km(35.69, 139.69, 39.90, 116.40))
    assert row.distance_km == pytest.approx(d)
    assert row.strength == pytest.approx(ix.loc["tokyo-jp", "innovation"] * ix.loc["beijing-cn", "innovation"] / d**2)
    assert g["weight"].max() == pytest.approx(1.0) and (g["weight"] > 0).all()
    assert g["strength"].is_monotonic_decreasing
    assert "gravity" in row.model and "innovation" in row.model


def test_distance_floor(cities):
    # Shenzhen-Hong Kong are ~25 km apart: with the 50 km floor their strength uses 50 km
    g = N.gravity_links(cities, top_k=None, threshold=1e-9, min_distance_km=50)
    row = g[(g.source_id == "shenzhen-cn") & (g.target_id == "hong-kong-hk")].iloc[0]
    assert row.distance_km < 50
    assert row.strength == pytest.approx(0.7 * 0.6 / 50**2)
    g2 = N.gravity_links(cities, top_k=None, threshold=1e-9, min_distance_km=1)
    row2 = g2[(g2.source_id == "shenzhen-cn") & (g2.target_id == "hong-kong-hk")].iloc[0]
    assert row2.strength == pytest.approx(0.7 * 0.6 / row2.distance_km**2)


def test_top_k_and_threshold(cities):
    full = N.gravity_links(cities, top_k=None, threshold=1e-12)
    g = N.gravity_links(cities, top_k=1)
    # every city keeps at least its strongest link, and only kept links appear
    for cid in cities.city_id:
        mine = full[(full.source_id == cid) | (full.target_id == cid)]
        best = mine.iloc[0]
        assert ((g.source_id == best.source_id) & (g.target_id == best.target_id)).any()
    assert len(g) <= len(cities)
    t = N.gravity_links(cities, top_k=None, threshold=0.1)
    assert (t["weight"] >= 0.1).all()
    assert len(t) == int((full["strength"] >= 0.1 * full["strength"].max()).sum())
    both = N.gravity_links(cities, top_k=2, threshold=0.1)
    assert set(zip(both.source_id, both.target_id, strict=True)) <= set(zip(t.source_id, t.target_id, strict=True))


def test_gravity_proxy_flag_and_determinism(cities):
    c = cities.copy()
    c["score_source"] = "rank-proxy"
    a = N.gravity_links(c, top_k=3)
    b = N.gravity_links(c.iloc[::-1], top_k=3)
    from geocity import provenance

    assert provenance.of_frame(a).proxy is True and "proxy" in a["model"].iloc[0]
    assert (a["score_source"] == "rank-proxy").all() and "proxy" not in a.attrs
    pd.testing.assert_frame_equal(a.drop(columns="geometry").reset_index(drop=True),
                                  b.drop(columns="geometry").reset_index(drop=True))


@pytest.mark.parametrize(
    "kw,msg",
    [
        (dict(beta=-1), "beta must be"),
        (dict(top_k=0), "top_k must be"),
        (dict(top_k=None, threshold=None), "give top_k"),
        (dict(threshold=1.5), "threshold must be in"),
        (dict(min_distance_km=0), "min_distance_km must be a positive number of km"),
    ],
)
def test_gravity_bad_parameters(cities, kw, msg):
    with pytest.raises(ValidationError, match=msg):
        N.gravity_links(cities, **kw)


def test_gravity_bad_scores(cities):
    with pytest.raises(NotFoundError, match="dimension 'industry'"):
        N.gravity_links(cities, dimension="industry")
    c = cities.copy()
    c.loc[2, "innovation"] = -1
    with pytest.raises(ValidationError, match="sydney-au"):
        N.gravity_links(c)
    c["innovation"] = 0.0
    with pytest.raises(ValidationError, match="positive"):
        N.gravity_links(c)


# --------------------------------------------------------------------------
# edge tables
# --------------------------------------------------------------------------
def test_edges_resolve_ids_english_and_chinese_names(cities, tmp_path):
    p = tmp_path / "edges.csv"
    p.write_text("source,target,weight\nTokyo,洛杉矶,3\nsantiago-cl,sydney-au,1.5\nhong kong,LONDON,2\n",
                 encoding="utf-8")
    links = N.edge_links(p, cities=cities)
    assert list(links.source_id) == ["tokyo-jp", "santiago-cl", "hong-kong-hk"]
    assert list(links.target_id) == ["los-angeles-us", "sydney-au", "london-gb"]
    assert list(links.weight) == [3.0, 1.5, 2.0]
    assert not links["modelled"].any()
    assert list(links.columns) == N.LINK_COLUMNS + ["geometry"]


def test_unresolved_rows_are_reported(cities):
    edges = pd.DataFrame({"source": ["Tokyo", "Santiago", "Atlantis"], "target": ["London", "Beijing", "Tokyo"]})
    with pytest.raises(ValidationError) as e:
        N.edge_links(edges, cities=cities)
    msg = str(e.value)
    assert "line 3 source 'Santiago': ambiguous (santiago-cl, santiago-cu)" in msg
    assert "line 4 source 'Atlantis'" in msg and "--skip-unresolved" in msg
    links = N.edge_links(edges, cities=cities, on_unresolved="skip")
    assert len(links) == 1
    unres = links.attrs["unresolved"]
    assert list(unres["line"]) == [3, 4] and list(unres["value"]) == ["Santiago", "Atlantis"]


@pytest.mark.parametrize(
    "edges,msg",
    [
        (pd.DataFrame({"from": ["a"], "to": ["b"]}), "missing column"),
        (pd.DataFrame({"source": [], "target": []}), "no rows"),
        (pd.DataFrame({"source": ["Tokyo"], "target": ["London"], "weight": [-1]}), "negative weight"),
        (pd.DataFrame({"source": ["Tokyo"], "target": ["London"], "weight": ["x"]}), "non-numeric"),
        (pd.DataFrame({"source": ["Tokyo"], "target": ["tokyo-jp"]}), "to itself"),
    ],
)
def test_bad_edge_tables(cities, edges, msg):
    with pytest.raises(ValidationError, match=msg):
        N.edge_links(edges, cities=cities)


def test_missing_edge_file():
    with pytest.raises(NotFoundError, match="does not exist"):
        N.edge_links("/nonexistent/edges.csv")


# --------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["gpkg", "geojson", "shp"])
def test_write_links_round_trip(cities, tmp_path, ext):
    from geocity import export

    g = N.gravity_links(cities, top_k=2)
    written = N.write_links(g, tmp_path / f"links.{ext}")
    back = export.read(written[0] if ext != "shp" else tmp_path / "links.shp")
    assert len(back) == len(g)
    assert list(back["source_id"]) == list(g["source_id"])
    # DBF numbers keep about 8 significant digits
    np.testing.assert_allclose(back["strength"], g["strength"], rtol=1e-9 if ext != "shp" else 1e-6)
    assert back["modelled"].astype(bool).all()
    assert set(back.geometry.geom_type) <= {"LineString", "MultiLineString"}
    assert any(p.name.endswith(".meta.json") for p in written)


# --------------------------------------------------------------------------
# landscape figures (recipes in geocity._figures_landscape)
# --------------------------------------------------------------------------
def test_landscape_figure_draws_density_links_cities_and_says_modelled(cities, monkeypatch):
    from geocity import _data, figures, layers
    from geocity.analysis import Analysis
    from geocity.render import static

    assert {"2-4", "2-6", "2-7", "2-8", "2-9", "2-11", "2-12"} <= set(figures.list_figures())
    c = cities.copy()
    c["industry"] = c["innovation"][::-1].to_numpy()
    c["score_source"] = "rank-proxy"
    c["lat"] = c.geometry.y
    c["lon"] = c.geometry.x
    c["region"] = "Asia"
    c.attrs["proxy"] = True
    ranks = pd.DataFrame({"table": ["2-1"] * 3, "dimension": ["science frontier"] * 3, "rank": [1, 2, 3],
                          "city_id": ["beijing-cn", "london-gb", "tokyo-jp"]})
    basemap = static.load_basemap(_data.data_path("layers", "basemap.geojson"))
    load = layers.load
    monkeypatch.setattr(layers, "load", lambda name: ranks.copy() if name == "dimension_ranks" else load(name))
    analysis = Analysis()
    analysis._cache.update({"cities": c, "scored": c, "basemap": basemap})  # a synthetic analysis
    ctx = figures.RecipeContext(recipe=figures.get_recipe("2-6"), lang="en", analysis=analysis)
    plate = figures.get_recipe("2-6").func(ctx)
    gids = {a.get_gid() for a in plate.ax.get_children()}
    assert {"density", "cities", "top20"} <= gids
    assert any(g and g.startswith("links-") for g in gids)
    text = " ".join(t.get_text() for t in plate.fig.texts)
    assert "MODELLED" in text and "PROXIES" in text
    # the underlay is the density of the score in the plate's own CRS
    surf = [v for k, v in analysis._cache.items() if isinstance(k, tuple) and k[0] == "density_on"][0]
    assert surf.crs.equals(plate.crs) and surf.metadata["weights_proxy"] is True


def test_frontier_plates_are_weighted_by_their_own_table():
    """2-6, 2-7 and 2-8 (and 2-11/2-12) draw different underlays: each table's own top-20 ranks."""
    from geocity import _figures_landscape as L
    from geocity import figures
    from geocity.analysis import Analysis
    from geocity.scores import BASE_SCORE, rank_score

    analysis = Analysis()
    got = {}
    for name in ("2-6", "2-7", "2-8", "2-11", "2-12", "2-4"):
        score, table = L.LANDSCAPES[name][:2]
        ctx = figures.RecipeContext(recipe=figures.get_recipe(name), lang="en", analysis=analysis)
        scored, col = L._weights(ctx, score, table)
        got[name] = scored.set_index("city_id")[col]
        ranks = L._dimension_table(ctx, table, None).groupby("city_id")["rank"].min()
        if table in L.TABLE_WEIGHTED:
            assert col == f"table_{table.replace('-', '_')}"
            w = got[name]
            np.testing.assert_allclose(w.loc[ranks.index], rank_score(ranks.to_numpy(float)))
            assert (w.drop(ranks.index) == BASE_SCORE).all()
        else:
            assert col == score  # 2-4: the innovation score itself
    for a, b in (("2-6", "2-7"), ("2-7", "2-8"), ("2-6", "2-8"), ("2-11", "2-12")):
        assert not np.allclose(got[a].to_numpy(), got[b].to_numpy()), (a, b)


def test_user_scores_keep_the_dimension_weights(tmp_path):
    """With a user's score table there are no table scores: the plate uses the user's dimension score."""
    from geocity import _figures_landscape as L
    from geocity import figures, layers

    ids = layers.load("cities")["city_id"]
    p = tmp_path / "scores.csv"
    pd.DataFrame({"city_id": ids, "innovation": np.linspace(0, 1, len(ids)), "industry": 0.5,
                  "infrastructure": 0.5}).to_csv(p, index=False)
    from geocity.analysis import Analysis

    ctx = figures.RecipeContext(recipe=figures.get_recipe("2-6"), lang="en", analysis=Analysis(scores=str(p)))
    scored, col = L._weights(ctx, "innovation", "2-1")
    assert col == "innovation" and not ctx.proxy
