"""geocity.render.leaflet and ``geocity webmap``: escaping, determinism,
layers, bad input. The browser side is in tests/test_browser.py."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geocity.cli.main import cli
from geocity.errors import NotFoundError, OutputExistsError, ValidationError
from geocity.render import leaflet

HOSTILE = "<img src=x onerror=alert(1)>"


def _cities(names=("Beijing", "Xi'an", HOSTILE, "N'Djamena", "Nuku'alofa `${x}`")) -> gpd.GeoDataFrame:
    n = len(names)
    lon = np.linspace(-170, 170, n)
    lat = np.linspace(-40, 60, n)
    gdf = gpd.GeoDataFrame(
        {
            "city_id": [f"c{i}" for i in range(n)],
            "name_en": list(names),
            "name_zh": ["北京", "西安", "<b>坏</b>", "恩贾梅纳", "努库阿洛法"][:n],
            "region": ["Asia", "Asia", "Europe", "Africa", "Oceania"][:n],
            "country_name": ["China", "China", "Nowhere", "Chad", "Tonga"][:n],
            "country_iso2": ["CN", "CN", "XX", "TD", "TO"][:n],
            "gdci_rank": [1, np.nan, 50, np.nan, np.nan][:n],
            "gdci_change": ["same", None, "new", None, None][:n],
            "bri_rank": [np.nan, 3, np.nan, 99, np.nan][:n],
            "bri_change": [None, "up", None, "new", None][:n],
            "composite": [1.0, 0.5, 0.3, 0.1, 0.05][:n],
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    for c in ("innovation", "industry", "infrastructure"):
        gdf[c] = gdf["composite"]
    gdf["score_source"] = "rank-proxy"
    gdf.attrs["proxy"] = True
    return gdf


def _clusters():
    clusters = gpd.GeoDataFrame(
        {"cluster_id": [1], "rank": [1], "name": ["Beijing–Xi'an"], "name_zh": ["北京–西安"],
         "typology": ["multi-pole domestic"], "poles": ["c0;c1"], "n_members": [2],
         "total_score": [1.5], "mean_score": [0.75], "proxy": [True]},
        geometry=[shapely.box(100, 30, 120, 42)], crs="EPSG:4326")
    members = pd.DataFrame({"cluster_id": [1, 1], "city_id": ["c0", "c1"], "name_en": ["Beijing", "Xi'an"],
                            "name_zh": ["北京", "西安"]})
    return clusters, members


def _corridors():
    lines = gpd.GeoDataFrame({"corridor": ["CPEC"], "branch": ["main"], "corridor_name_en": ["China–Pakistan EC"],
                              "corridor_name_zh": ["中巴经济走廊"]},
                             geometry=[shapely.LineString([(75.9, 39.5), (67.0, 24.9)])], crs="EPSG:4326")
    buffers = gpd.GeoDataFrame({"corridor": ["CPEC"], "within_km": [100.0]},
                               geometry=[shapely.box(66, 24, 77, 40)], crs="EPSG:4326")
    return lines, buffers


def _map(**kw):
    clusters, members = _clusters()
    lines, buffers = _corridors()
    args = dict(cities=_cities(), clusters=clusters, cluster_members=members, corridor_lines=lines,
                corridor_buffers=buffers)
    args.update(kw)
    return leaflet.webmap(**args)


def _geojson_props(html: str) -> list[dict]:
    """Every feature's properties in the page's embedded GeoJSON."""
    out = []
    for m in re.finditer(r"_add\((\{\"features\".*?\})\);\n", html):
        out.extend(f["properties"] for f in json.loads(m.group(1))["features"])
    return out


# --------------------------------------------------------------------------
# escaping
# --------------------------------------------------------------------------
def test_escape():
    assert leaflet.escape(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;"
    assert leaflet.escape("Xi'an") == "Xi&#x27;an"
    assert leaflet.escape('a"b') == "a&quot;b"
    assert leaflet.escape("`${x}`\\") == "&#96;&#36;&#123;x&#125;&#96;&#92;"
    assert leaflet.escape(None) == "" and leaflet.escape(float("nan")) == "" and leaflet.escape(pd.NA) == ""
    assert leaflet.escape(3) == "3"


def test_hostile_names_never_reach_the_page_raw():
    html = leaflet.to_html(_map(points=gpd.GeoDataFrame(
        {"name": [HOSTILE]}, geometry=gpd.points_from_xy([1.0], [2.0]), crs="EPSG:4326")))
    assert "<img src=x" not in html and "<b>坏" not in html
    props = _geojson_props(html)
    texts = [p[k] for p in props for k in ("tip", "pop", "search") if k in p]
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts)
    for t in texts:
        # what the browser parses as HTML holds no markup from the data
        assert "<img" not in t and "<b>" not in t and "`" not in t, t
    tips = [p["tip"] for p in props if "tip" in p]
    assert all("${" not in t for t in tips)  # tooltips are also inert in JS template literals


def test_popup_content_bilingual_and_proxy():
    html = leaflet.to_html(_map())
    pops = {p.get("city_id"): p["pop"] for p in _geojson_props(html) if p.get("city_id")}
    bj = pops["c0"]
    for s in ("Beijing", "北京", "China (CN)", "Asia", "亚洲", "GDCI 2022 rank", "1 (change / 变化: Unchanged / 不变)",
              "not in the top 100", "proxy", "composite 3I / 3I 综合 1.00"):
        assert s in bj, s
    clusters = [p["pop"] for p in _geojson_props(html) if "City cluster" in p.get("pop", "")]
    assert len(clusters) == 1
    for s in ("Beijing–Xi&#x27;an", "multi-pole domestic", "Beijing 北京, Xi&#x27;an 西安", "proxy", "1.500"):
        assert s in clusters[0], s
    en = leaflet.to_html(_map(lang="en"))
    assert "北京" not in [p["tip"] for p in _geojson_props(en) if p.get("city_id") == "c0"][0]


def test_corridor_distance_and_chainage_in_popup():
    cities = _cities()
    cities["corridors"] = [[{"corridor": "CPEC", "branch": "eastern", "distance_km": 12.3, "chainage_km": 1234.5}],
                           None, None, None, None]
    html = leaflet.to_html(leaflet.webmap(["cities"], cities=cities))
    pop = [p["pop"] for p in _geojson_props(html) if p.get("city_id") == "c0"][0]
    assert "CPEC (eastern)" in pop and "12 km" in pop and "1,234 km" in pop


# --------------------------------------------------------------------------
# structure
# --------------------------------------------------------------------------
def test_layers_controls_and_legend():
    m = _map()
    html = leaflet.to_html(m)
    for name in ("Report cities / 报告城市", "GDCI top 100 / 全球活力城市指数前 100",
                 "BRI potential top 100 / “一带一路”潜力城市前 100", "City clusters / 活力城市聚落",
                 "CPEC corridor", "CPEC within 100 km", "Esri.WorldGrayCanvas", "OpenStreetMap.Mapnik"):
        assert json.dumps(name) in html, name
    for s in ("L.control.layers", "L.Control.Search", "L.control.fullscreen", "L.Control.Measure",
              "L.control.scale()", "geocity-legend", "fitBounds"):
        assert s.lower() in html.lower(), s
    # the search box looks in the cities layer, over English and Chinese names
    props = _geojson_props(html)
    assert {"Beijing 北京 (CN)", "Xi'an 西安 (CN)"} <= {p.get("search") for p in props}
    # colours from the shared style sheet
    from geocity import styles

    assert styles.region_color("Africa") in html
    assert styles.typology_colors()["multi-pole domestic"] in html


def test_sizes_follow_score():
    html = leaflet.to_html(leaflet.webmap(["cities"], cities=_cities()))
    r = {}
    for p in _geojson_props(html):  # the cities layer comes first; top-100 layers repeat ids
        if p.get("city_id"):
            r.setdefault(p["city_id"], p["style"]["radius"])
    assert r["c0"] > r["c1"] > r["c2"] > r["c3"] >= leaflet.MIN_RADIUS_PX


def test_deterministic_bytes(tmp_path):
    a = leaflet.save(_map(), tmp_path / "a.html")
    b = leaflet.save(_map(), tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()
    m = _map()
    assert leaflet.to_html(m) == leaflet.to_html(m)  # rendering twice changes nothing
    assert not re.search(r"_[0-9a-f]{32}(?![0-9a-f])", a.read_text().replace("0" * 24, ""))


def test_save_overwrite_policy(tmp_path):
    out = leaflet.save(_map(), tmp_path / "sub" / "map.html")
    assert out.exists() and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(OutputExistsError, match="overwrite"):
        leaflet.save(_map(), out)
    leaflet.save(_map(), out, overwrite=True)


def test_add_to_existing_map_once():
    m = leaflet.new_map(tiles="OpenStreetMap.Mapnik", alternatives=())
    leaflet.webmap(["cities"], m=m, cities=_cities())
    leaflet.webmap(["clusters"], m=m, clusters=_clusters()[0])
    html = leaflet.to_html(m)
    assert html.count("L.control.layers(") == 1 and html.count("L.control.fullscreen(") == 1
    assert json.dumps("City clusters / 活力城市聚落") in html and json.dumps("Report cities / 报告城市") in html


def test_many_points_use_canvas():
    n = leaflet.MANY_POINTS
    rng = np.random.default_rng(1)
    pts = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n - 1)] + [HOSTILE]},
                           geometry=gpd.points_from_xy(rng.uniform(-10, 10, n), rng.uniform(-10, 10, n)),
                           crs="EPSG:4326")
    html = leaflet.to_html(leaflet.webmap([], points=pts))
    assert "L.canvas(" in html and "preferCanvas\": true" in html.replace(" ", " ")
    assert "<img src=x" not in html and "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in html
    few = leaflet.to_html(leaflet.webmap([], points=pts.iloc[:10]))
    assert "L.canvas(" not in few and "circleMarker" in few.replace("CircleMarker", "circleMarker")
    clustered = leaflet.new_map()
    leaflet.add_points(clustered, pts, cluster=True)
    assert "markerClusterGroup" in leaflet.to_html(clustered)


def test_offline_basemap_only():
    m = leaflet.webmap(["corridors"], tiles=None, corridor_lines=_corridors()[0])
    # the page's own script creates no tile layer (checked on the CDN page: an
    # inline page also holds Leaflet's source, which defines tileLayer)
    assert "tileLayer" not in leaflet.to_html(m, assets="cdn")
    html = leaflet.to_html(m)
    assert '<meta name="geocity-network" content="none" />' in html
    assert json.dumps("Countries (Natural Earth) / 国家（Natural Earth）") in html
    from geocity import styles

    assert styles.load_style()["colors"]["ocean"] in html


def test_webmap_reads_a_points_csv(tmp_path):
    from geocity import export

    p = tmp_path / "pts.csv"
    p.write_text("name,lat,lon\nA,31.5,74.3\nB,24.9,67.0\n", encoding="utf-8")
    html = leaflet.to_html(leaflet.webmap(["corridors"], points=p, tiles=None, corridor_lines=_corridors()[0]))
    assert "74.3" in html and "67.0" in html
    gdf = export.read_points(p).frame
    assert len(gdf) == 2 and gdf.crs.to_epsg() == 4326 and gdf.geometry.x.iloc[0] == pytest.approx(74.3)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,a,b\nA,1,2\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="lat"):
        leaflet.webmap(["corridors"], points=bad, tiles=None, corridor_lines=_corridors()[0])


# --------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------
def test_empty_layers_give_a_note():
    html = leaflet.to_html(leaflet.webmap(["cities", "clusters"], cities=_cities().iloc[:0],
                                          clusters=_clusters()[0].iloc[:0]))
    assert "no cities to show" in html and "no clusters to show" in html and "geocity-note" in html
    html = leaflet.to_html(leaflet.webmap([]))
    assert "No layers chosen" in html


def test_cli_empty_points_file_writes_the_map_with_a_note(tmp_path):
    from click.testing import CliRunner

    from geocity.cli.main import cli

    for name, content in (("empty.csv", "name,lat,lon\n"), ("empty.geojson",
                          '{"type": "FeatureCollection", "features": []}')):
        src = tmp_path / name
        src.write_text(content, encoding="utf-8")
        out = tmp_path / f"{name}.html"
        res = CliRunner().invoke(cli, ["webmap", "-o", str(out), "--layers", "corridors", "--points", str(src),
                                       "--tiles", "none"])
        assert res.exit_code == 0, res.output
        assert "no points to show" in out.read_text(encoding="utf-8")


def test_save_wants_an_html_name(tmp_path):
    m = leaflet.webmap([])
    with pytest.raises(ValidationError, match=r"must end in \.html"):
        leaflet.save(m, tmp_path / "map.txt")
    assert not (tmp_path / "map.txt").exists()
    assert leaflet.save(m, tmp_path / "map.HTML").exists()


def test_no_crs_is_an_error():
    cities = _cities().set_crs(None, allow_override=True)
    with pytest.raises(ValidationError, match="no CRS"):
        leaflet.webmap(["cities"], cities=cities)
    clusters = _clusters()[0].set_crs(None, allow_override=True)
    with pytest.raises(ValidationError, match="clusters has no CRS"):
        leaflet.webmap(["clusters"], clusters=clusters)


def test_reprojects_other_crs():
    cities = _cities().to_crs(3857)
    html = leaflet.to_html(leaflet.webmap(["cities"], cities=cities))
    assert "[-170.0, -40.0]" in html


def test_non_point_cities_are_an_error():
    cities = _cities()
    cities.loc[1, "geometry"] = shapely.box(0, 0, 1, 1)
    # the row is named by its index and city_id (geocity._validate.rows)
    with pytest.raises(ValidationError, match=rf"not points \(Polygon\): index 1 \({cities.loc[1, 'city_id']}\)"):
        leaflet.webmap(["cities"], cities=cities)
    with pytest.raises(ValidationError, match="must hold Polygon or MultiPolygon"):
        leaflet.add_clusters(leaflet.new_map(), _cities())


def test_unknown_layer_lists_valid_ones():
    with pytest.raises(NotFoundError, match="'roads'.*valid: cities, clusters, corridors"):
        leaflet.webmap(["cities", "roads"])
    with pytest.raises(NotFoundError):
        leaflet.webmap("cities,nope")


@pytest.mark.parametrize("tiles, match", [("nonsense", "unknown tile provider"), ("CartoDB positron", "API key")])
def test_bad_tiles(tiles, match):
    with pytest.raises(ValidationError, match=match):
        leaflet.new_map(tiles=tiles)


def test_bad_options():
    with pytest.raises(ValidationError, match="lang"):
        leaflet.webmap(["cities"], cities=_cities(), lang="fr")
    with pytest.raises(ValidationError, match="within_km"):
        leaflet.webmap(["cities"], cities=_cities(), within_km=-5)
    with pytest.raises(ValidationError, match="GeoDataFrame"):
        leaflet.add_cities(leaflet.new_map(), pd.DataFrame({"a": [1]}))


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------
def test_cli_unknown_layer(runner, tmp_path):
    res = runner.invoke(cli, ["webmap", "-o", str(tmp_path / "m.html"), "--layers", "cities,roads"])
    assert res.exit_code == 1
    assert "roads" in res.output and "cities, clusters, corridors" in res.output
    assert not (tmp_path / "m.html").exists()


def test_cli_corridors_offline_with_points(runner, tmp_path):
    pts = tmp_path / "pts.csv"
    pts.write_text("name,lat,lon\nLahore,31.55,74.34\nGwadar,25.13,62.32\n", encoding="utf-8")
    out = tmp_path / "map.html"
    args = ["webmap", "-o", str(out), "--layers", "corridors", "--tiles", "none", "--points", str(pts)]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    for s in ("CPEC corridor", "CMREC corridor", "CPEC within 100 km", "My points / 我的点", "Lahore"):
        assert json.dumps(s) in html or s in html, s
    res = runner.invoke(cli, args)
    assert res.exit_code == 1 and "overwrite" in res.output
    assert runner.invoke(cli, [*args, "--overwrite"]).exit_code == 0


def test_cli_default_map(runner, tmp_path):
    """The README's command: every layer of the embedded data."""
    out = tmp_path / "out" / "map.html"
    res = runner.invoke(cli, ["webmap", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    for s in ("Report cities / 报告城市", "City clusters / 活力城市聚落", "CPEC corridor", "CPEC within 100 km",
              "GDCI top 100 / 全球活力城市指数前 100"):
        assert json.dumps(s) in html, s
    props = _geojson_props(html)
    from geocity import layers

    assert sum(1 for p in props if "city_id" in p and "search" in p) == len(layers.load("cities"))
    assert {p["city_id"] for p in props if "city_id" in p} == set(layers.load("cities")["city_id"])
    beijing = next(p["pop"] for p in props if p.get("city_id") == "beijing-cn")
    assert "北京" in beijing and "GDCI 2022 rank" in beijing and "proxy" in beijing and "CMREC" in beijing
    # issue 7: the composite density overlay (on) and the modelled links (off), page still small
    assert len(_overlays(html)) == 1
    assert json.dumps("Density: composite (modelled, proxy) / 密度：3I 综合（模型，代理值）") in html
    from geocity import network

    assert sum(1 for p in props if "link" in p) == len(network.gravity_links(dimension="composite", top_k=5))
    assert out.stat().st_size < 4_000_000


def test_cli_density_and_network_layers(runner, tmp_path):
    from geocity import density

    tif = density.write_geotiff(_surface(), tmp_path / "innovation.tif")
    out = tmp_path / "dn.html"
    res = runner.invoke(cli, ["webmap", "-o", str(out), "--layers", "density,network", "--tiles", "none",
                              "--density-tif", str(tif), "--network-dimension", "innovation", "--top-k", "2",
                              "--lang", "en"])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert len(_overlays(html)) == 1 and json.dumps("Density: innovation (modelled, proxy)") in html
    assert json.dumps("Links: modelled links (gravity model)") in html and "s = innovation" in html
    assert "Report cities" not in html
    res = runner.invoke(cli, ["webmap", "-o", str(tmp_path / "x.html"), "--layers", "density",
                              "--density-weights", "innovation,wealth"])
    assert res.exit_code == 1 and "wealth" in res.output
    assert "innovation, industry, infrastructure, composite" in res.output


# --------------------------------------------------------------------------
# density overlays and links (issue 7)
# --------------------------------------------------------------------------
def _surface(proxy=True):
    """A small lon/lat surface (a bump at 20° E, 30° N) with proxy weights."""
    from affine import Affine

    from geocity.density import DensitySurface

    y, x = np.mgrid[0:40, 0:40]
    values = np.exp(-((x - 20) ** 2 + (y - 20) ** 2) / 50.0) * 1e-6
    md = {"weight": "innovation", "weights_proxy": proxy, "units": "innovation per km2", "kernel": "gaussian",
          "bandwidth_km": 300.0}
    return DensitySurface(values=values, transform=Affine(1.0, 0.0, 0.0, 0.0, -1.0, 50.0), crs=pyproj_crs(4326),
                          metadata=md)


def pyproj_crs(code):
    from pyproj import CRS

    return CRS.from_epsg(code)


def _overlays(html: str) -> list[tuple[bytes, list]]:
    """(PNG bytes, bounds) of every image overlay in the page."""
    import base64

    out = []
    for m in re.finditer(r'L\.imageOverlay\(\s*"data:image/png;base64,([A-Za-z0-9+/=]+)",\s*(\[\[.*?\]\]),', html):
        out.append((base64.b64decode(m.group(1)), json.loads(m.group(2))))
    return out


def test_density_overlay_embedded_with_bounds_and_legend():
    from geocity import density

    m = leaflet.new_map()
    leaflet.add_density(m, _surface())
    html = leaflet.to_html(leaflet.finish(m))
    (png, bounds), = _overlays(html)
    # the image density_overlay made (already Web Mercator), embedded as is:
    # no second mercator projection by folium
    from geocity import styles
    from geocity.render.web import density as web_density

    want_png, want_bounds, info = density.density_overlay(_surface(), cmap=web_density.cmap(styles.load_style()))
    assert png == want_png and png.startswith(b"\x89PNG")
    assert bounds == want_bounds and np.allclose(bounds, [[10.0, 0.0], [50.0, 40.0]])
    assert "geocityDensity" in html and "https://" not in html.split("L.imageOverlay(")[1][:200]
    name = "Density: innovation (modelled, proxy) / 密度：创新（模型，代理值）"
    assert json.dumps(name) in html  # a toggle in the layer control
    legend = html[html.index('class="geocity-legend"'):]
    legend = legend[:legend.index("</details>")]
    for s in ("linear-gradient", "modelled from rank-derived proxy scores", "由排名推算的代理得分建模",
              "innovation per km²", f"{info['vmax']:.3g}", "bandwidth 300 km"):
        assert s in legend, s
    from geocity import styles

    assert all(c in legend for c in styles.sequential_colors())  # the plates' ramp


def test_density_not_proxy_and_from_geotiff(tmp_path):
    from geocity import density

    path = density.write_geotiff(_surface(proxy=False), tmp_path / "d.tif")
    html = leaflet.to_html(leaflet.webmap(["density"], surfaces=path))
    assert len(_overlays(html)) == 1
    assert "proxy" not in html[html.index('class="geocity-legend"'):] and "modelled" in html
    assert json.dumps("Density: innovation (modelled) / 密度：创新（模型）") in html


def test_density_one_overlay_per_dimension_first_shown():
    html = leaflet.to_html(leaflet.webmap(["density"], cities=_cities(), density_weights="innovation,composite"))
    assert len(_overlays(html)) == 2
    sections = re.findall(r'<div class="geocity-legend-layer" data-geocity-layer="([^"]*)"( style="display:none")?',
                          html)
    assert [(n.split(":")[1].split("(")[0].strip(), bool(h)) for n, h in sections] == [
        ("innovation", False), ("composite", True)]
    assert "overlayadd overlayremove" in html  # legend sections follow the layer toggles
    assert html.count(".addTo(map_") >= 1


def _links():
    from geocity import network

    return network.gravity_links(_cities(), dimension="composite", top_k=2)


def test_links_popups_escaped_modelled_and_scaled():
    links = _links()
    html = leaflet.to_html(leaflet.webmap(["network"], links=links, cities=_cities()))
    props = [p for p in _geojson_props(html) if "link" in p]
    assert len(props) == len(links) > 0
    assert "<img src=x" not in html and "<b>坏" not in html
    hostile = [p for p in props if "onerror" in p["link"]]
    assert hostile and all("&lt;img src=x onerror=alert(1)&gt; &lt;b&gt;坏&lt;/b&gt;" in p["link"] for p in hostile)
    assert any("Nuku&#x27;alofa &#96;&#36;&#123;x&#125;&#96;" in p["link"] for p in props)
    for p in props:
        assert p["source"] == "modelled (gravity model) / 模型结果（引力模型）"
        assert p["distance"].endswith(" km") and re.fullmatch(r"\S+ \(\d\.\d{3}\)", p["strength"])
        assert " — " in p["link"] and "<" not in p["link"] + p["strength"]
    # drawn weakest first, widths grow with the strength
    w = [float(re.search(r"\((.*)\)", p["strength"]).group(1)) for p in props]
    widths = [p["style"]["weight"] for p in props]
    assert w == sorted(w) and widths == sorted(widths) and widths[-1] > widths[0]
    # popup labels written once, escaped; layer name and legend say modelled
    assert json.dumps(["link / 联系", "strength (relative) / 强度（相对值）", "distance / 距离",
                       "source / 来源"]) in html
    assert json.dumps("Links: modelled links (gravity model) / 联系：模型联系（引力模型）") in html
    legend = html[html.index('class="geocity-legend"'):]
    assert "relative strength ≥ 0.25" in legend and "rank-derived proxy scores" in legend and "gravity" in legend


def test_links_observed_and_antimeridian():
    import geopandas as gpd

    from geocity.geodesy import geodesic_line

    links = gpd.GeoDataFrame(
        {"source_id": ["tokyo-jp"], "target_id": ["los-angeles-us"], "source_name": ["Tokyo"],
         "target_name": ["Los Angeles"], "weight": [1.0], "strength": [3.0], "distance_km": [8800.0],
         "modelled": [False]},
        geometry=[geodesic_line([35.7, 34.05], [139.7, -118.24], 200)], crs="EPSG:4326")
    html = leaflet.to_html(leaflet.webmap(["network"], links=links))
    (p,) = [p for p in _geojson_props(html) if "link" in p]
    assert p["source"] == "observed (edge table) / 观测值（联系表）" and p["distance"] == "8,800 km"
    assert json.dumps("Links: links / 联系：联系") in html
    assert '"MultiLineString"' in html  # split at ±180°, drawn across the Pacific


def test_default_map_has_density_and_network_switched_right():
    html = leaflet.to_html(_map())
    assert len(_overlays(html)) == 1
    assert json.dumps("Density: composite (modelled, proxy) / 密度：3I 综合（模型，代理值）") in html
    assert json.dumps("Links: modelled links (gravity model) / 联系：模型联系（引力模型）") in html
    assert re.search(r'data-geocity-layer="Links[^"]*" style="display:none"', html)  # links start off


def test_density_and_links_bad_input(tmp_path):
    with pytest.raises(NotFoundError, match=r"'pressure'.*valid: innovation, industry, infrastructure, composite"):
        leaflet.webmap(["density"], cities=_cities(), density_weights=["pressure"])
    with pytest.raises(NotFoundError, match="network_dimension"):
        leaflet.webmap(["network"], cities=_cities(), network_dimension="nope")
    with pytest.raises(ValidationError, match="does not exist"):
        leaflet.add_density(leaflet.new_map(), tmp_path / "missing.tif")
    with pytest.raises(ValidationError, match="DensitySurface"):
        leaflet.add_density(leaflet.new_map(), [1, 2, 3])
    with pytest.raises(ValidationError, match="opacity"):
        leaflet.add_density(leaflet.new_map(), _surface(), opacity=2)
    with pytest.raises(ValidationError, match="must hold LineString or MultiLineString"):
        leaflet.add_links(leaflet.new_map(), _cities())
    with pytest.raises(ValidationError, match="weight"):
        leaflet.add_links(leaflet.new_map(), _links().drop(columns=["weight"]))
    html = leaflet.to_html(leaflet.webmap(["network"], links=_links().iloc[:0]))
    assert "no links to show" in html


def test_cli_prints_geocity_warnings_plainly(tmp_path):
    """The web map fits the clusters; their advisory note is one plain line, not a Python warning dump."""
    import warnings

    from click.testing import CliRunner

    from geocity.cli.main import cli
    from geocity.cluster import SelfCoreWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", SelfCoreWarning)  # setup.cfg silences it for the suite
        res = CliRunner().invoke(cli, ["webmap", "-o", str(tmp_path / "m.html"), "--layers", "clusters",
                                       "--tiles", "none"])
    assert res.exit_code == 0, res.output
    assert res.output.count("Warning: 9 cities weigh at least min_weight") == 1, res.output
    assert "SelfCoreWarning" not in res.output and ".py:" not in res.output
