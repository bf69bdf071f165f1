"""User data is data: no string from a user's layer is ever evaluated by the
web map's template engine, in any column, through any input format, and the
page needs no network when built self-contained (issue 11, parts 1 and 6).

Two independent layers are tested separately:
* :func:`geocity.render.page.render` compiles no rendered text a second time
  (raw folium elements carrying delimiters come out literally);
* :func:`geocity.render.leaflet.escape` leaves no brace in user strings, so
  even folium's own render (``m.save``, a notebook) evaluates nothing.
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import test_browser
from click.testing import CliRunner

from geocity.cli.main import cli
from geocity.render import leaflet, page

# the module-scoped Chromium fixture of test_browser.py, shared (bound by
# assignment, so pytest finds it here and the tests' parameter is its use)
browser = test_browser.browser

# every Jinja delimiter, an expression that would have a visible result, the
# RCE shape of the report, markup built from chr() and broken syntax
PAYLOADS = [
    "S{{ 7*7 }}X",
    "A{% if true %}EVAL{% endif %}B",
    "Hall {#1} west",
    "{{ cycler.__init__.__globals__.os.mkdir('GEOCITY_PWNED') }}",
    "{{ '%c'|format(60) }}img src=x onerror=window.__xss=1{{ '%c'|format(62) }}",
    "{%- raw %}R{% endraw -%}",
    "}}{{ {% %} {# #}",
    "{{ self.__init__ }}",
]
EVALUATED = ["S49X", "AEVALB", "<img src=x onerror", "GEOCITY_PWNED'", "<function", "<bound method"]


def _texts(html: str) -> str:
    """The page as the browser reads its data: JSON escapes and character
    references decoded (so a literal payload is found as typed)."""
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)
    return _html.unescape(_html.unescape(decoded))


def _assert_inert(html: str, payloads=PAYLOADS, *, where: str = "") -> None:
    assert "S49X" not in html and "AEVALB" not in html, where
    assert "<img src=x" not in html, where
    text = _texts(html)
    for p in payloads:
        assert p in text, f"{where}: {p!r} not shown literally"
    assert "S49X" not in text and "AEVALB" not in text


@pytest.fixture(autouse=True)
def _no_mkdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield
    assert not (tmp_path / "GEOCITY_PWNED").exists(), "a payload ran os.mkdir"


# --------------------------------------------------------------------------
# layer 1: the renderer never compiles rendered text
# --------------------------------------------------------------------------
def test_raw_folium_elements_are_not_compiled_twice():
    """Unescaped strings in plain folium elements (a Python user's own
    additions) come out literally: geocity's render has no second pass."""
    m = leaflet.new_map(tiles=None)
    folium.Marker([10, 10], tooltip="T{{ 7*7 }}T", popup="P{% for i in range(3) %}x{% endfor %}P").add_to(m)
    folium.GeoJson({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
         "properties": {"name": "G{{ 6*7 }}G"}}]}, name="L{{ 5*5 }}L",
        tooltip=folium.GeoJsonTooltip(["name"])).add_to(m)
    folium.LayerControl().add_to(m)
    html = leaflet.to_html(m, assets="cdn")
    for lit in ("T{{ 7*7 }}T", "P{% for i in range(3) %}x{% endfor %}P", "G{{ 6*7 }}G", "L{{ 5*5 }}L"):
        assert lit in html
    assert "T49T" not in html and "PxxxP" not in html and "G42G" not in html and "L25L" not in html


def test_folium_itself_would_evaluate_so_the_guard_is_needed():
    """The upstream behaviour the guard exists for (branca compiles rendered
    text again). If this starts failing, branca fixed it: the guard stays
    harmless, and this test can go."""
    m = folium.Map(tiles=None)
    folium.Marker([10, 10], tooltip="T{{ 7*7 }}T").add_to(m)
    assert "T49T" in m.get_root().render()


def test_render_is_byte_identical_to_brancas_for_plain_data(monkeypatch):
    from contextlib import nullcontext

    m = leaflet.webmap(["corridors"], tiles=None)
    ours = leaflet.to_html(m, assets="cdn")
    monkeypatch.setattr(page, "_no_second_pass", nullcontext)
    assert leaflet.to_html(m, assets="cdn") == ours


def test_guard_is_restored_after_a_failed_render():
    import branca.element as be

    before = be.Template

    class Boom:
        def render(self, **kwargs):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        page.render(Boom())
    assert be.Template is before


# --------------------------------------------------------------------------
# layer 2: escaped strings carry no delimiter, even through folium's render
# --------------------------------------------------------------------------
def _hostile_layers(p: str):
    cities = gpd.GeoDataFrame(
        {"city_id": ["a-xx", "b-xx"], "name_en": [p, "Plain"], "name_zh": [p, "平"],
         "region": ["Asia", "Asia"], "country_name": [p, "X"], "country_iso2": ["XX", "XX"],
         "gdci_rank": [1, 2], "gdci_change": [p, "up"], "composite": [0.5, 0.4],
         "innovation": [0.5, 0.4], "industry": [0.5, 0.4], "infrastructure": [0.5, 0.4],
         "score_source": ["user", "user"], "corridor": [p, None], "branch": [p, None],
         "distance_km": [12.0, None], "chainage_km": [34.0, None]},
        geometry=gpd.points_from_xy([100.0, 101.0], [10.0, 11.0]), crs="EPSG:4326")
    clusters = gpd.GeoDataFrame(
        {"cluster_id": [1], "name": [p], "name_zh": [p], "typology": [p], "poles": [[p]],
         "members": [[p, "Plain"]], "n_members": [2], "total_score": [0.9], "mean_score": [0.45], "rank": [1]},
        geometry=[shapely.box(99, 9, 102, 12)], crs="EPSG:4326")
    members = pd.DataFrame({"cluster_id": [1, 1], "city_id": ["a-xx", "b-xx"], "name_en": [p, "Plain"]})
    lines = gpd.GeoDataFrame({"corridor": [p], "branch": [p], "corridor_name_en": [p], "corridor_name_zh": [p]},
                             geometry=[shapely.LineString([(95, 5), (105, 15)])], crs="EPSG:4326")
    buffers = gpd.GeoDataFrame({"corridor": [p], "within_km": [50.0]},
                               geometry=[shapely.box(94, 4, 106, 16)], crs="EPSG:4326")
    links = gpd.GeoDataFrame({"source_id": ["a-xx"], "target_id": ["b-xx"], "source_name": [p],
                              "target_name": [p], "weight": [0.7], "strength": [3.0], "distance_km": [150.0],
                              "modelled": [True], "model": [p]},
                             geometry=[shapely.LineString([(100, 10), (101, 11)])], crs="EPSG:4326")
    pts = gpd.GeoDataFrame({"name": [p], p[:20]: [p]}, geometry=gpd.points_from_xy([103.0], [13.0]),
                           crs="EPSG:4326")
    return cities, clusters, members, lines, buffers, links, pts


@pytest.mark.parametrize("p", PAYLOADS)
@pytest.mark.parametrize("lang", ["en", "zh", "both"])
def test_every_column_the_map_shows(p, lang):
    cities, clusters, members, lines, buffers, links, pts = _hostile_layers(p)
    m = leaflet.webmap(["cities", "clusters", "corridors", "network"], tiles=None, lang=lang, cities=cities,
                       clusters=clusters, cluster_members=members, corridor_lines=lines,
                       corridor_buffers=buffers, links=links, points=pts)
    leaflet.add_note(m, p)
    leaflet.add_legend(m, [(p, [("dot", "#123456", p), ("note", "", p)])], title=p)
    html = leaflet.to_html(m, assets="cdn")
    _assert_inert(html, [p], where=f"geocity render, {lang}")
    # folium's own render path (m.save / a notebook's _repr_html_)
    raw = m.get_root().render()
    assert "S49X" not in raw and "AEVALB" not in raw and "<img src=x" not in raw


def test_many_points_canvas_layer(tmp_path):
    n = leaflet.MANY_POINTS
    names = [PAYLOADS[i % len(PAYLOADS)] for i in range(n)]
    pts = gpd.GeoDataFrame({"name": names}, geometry=gpd.points_from_xy(np.linspace(-170, 170, n),
                                                                        np.linspace(-60, 60, n)), crs="EPSG:4326")
    html = leaflet.to_html(leaflet.webmap([], points=pts, tiles=None), assets="cdn")
    _assert_inert(html, where="canvas layer")


def test_density_tags_from_a_geotiff(tmp_path):
    """A GeoTIFF's tags are user data too (its weight name reaches the layer name and legend)."""
    from geocity import density

    pts = gpd.GeoDataFrame({"w": [1.0, 2.0]}, geometry=gpd.points_from_xy([10.0, 11.0], [10.0, 11.0]),
                           crs="EPSG:4326")
    surf = density.density(pts, weight="w", bandwidth_km=200, cell_km=50, extent=(0, 0, 20, 20))
    tif = tmp_path / "d.tif"
    density.write_geotiff(surf, tif)
    import rasterio

    with rasterio.open(tif, "r+") as ds:
        tags = ds.tags(1)
        key = next(k for k in tags if k.lower() == "weight" and tags[k] == "w")
        ds.update_tags(1, **{key: PAYLOADS[0]})
    m = leaflet.webmap(["density"], tiles=None, surfaces=tif)
    _assert_inert(leaflet.to_html(m, assets="cdn"), [PAYLOADS[0]], where="density")


# --------------------------------------------------------------------------
# every input format, through the command line
# --------------------------------------------------------------------------
def _write(fmt: str, folder: Path) -> Path:
    n = len(PAYLOADS)
    gdf = gpd.GeoDataFrame({"name": PAYLOADS, "note": PAYLOADS[::-1], "url": PAYLOADS},
                           geometry=gpd.points_from_xy(np.linspace(10, 80, n), np.linspace(5, 45, n)),
                           crs="EPSG:4326")
    if fmt == "csv":
        path = folder / "pts.csv"
        df = pd.DataFrame({"name": PAYLOADS, "note": PAYLOADS[::-1], "url": PAYLOADS,
                           "lat": gdf.geometry.y, "lon": gdf.geometry.x})
        df.to_csv(path, index=False)
        return path
    path = folder / f"pts.{fmt}"
    gdf.to_file(path, engine="pyogrio")
    return path


@pytest.mark.parametrize("fmt", ["csv", "geojson", "gpkg", "shp", "fgb"])
def test_cli_points_in_every_format(tmp_path, fmt):
    src = _write(fmt, tmp_path)
    out = tmp_path / "m.html"
    res = CliRunner().invoke(cli, ["webmap", "--points", str(src), "--layers", "corridors", "--tiles", "none",
                                   "-o", str(out)])
    assert res.exit_code == 0, res.output
    _assert_inert(out.read_text(encoding="utf-8"), where=fmt)


def test_cli_report_issue_reproduction(tmp_path):
    """The issue's own case: the page used to contain "S49X"."""
    (tmp_path / "s.csv").write_text("name,lat,lon\nS{{ 7*7 }}X,10,10\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["webmap", "--points", str(tmp_path / "s.csv"), "--layers", "cities",
                                   "--tiles", "none", "-o", str(tmp_path / "m.html")])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "S49X" not in html and "S{{ 7*7 }}X" in _texts(html)


# --------------------------------------------------------------------------
# self-contained pages
# --------------------------------------------------------------------------
def test_inline_page_links_nothing_and_says_so():
    m = leaflet.webmap(["corridors"], tiles=None)
    m.add_child(folium.plugins.MarkerCluster())
    html = leaflet.to_html(m)
    assert not re.search(r'<script[^>]+src=', html)
    assert not re.search(r'<link[^>]+rel="stylesheet"', html)
    assert not re.search(r'url\((?![\'"]?data:|[\'"]?#)', html.split("<body>")[0].replace("url(#default#VML)", ""))
    assert '<meta name="geocity-network" content="none" />' in html
    assert "network: none" in html.split("\n")[1]
    cat = page.asset_catalogue()
    for pkg in ("leaflet", "leaflet.fullscreen", "leaflet-measure", "leaflet.markercluster"):
        assert f"/* {pkg} {cat[pkg]['version']}" in html, pkg


def test_cdn_and_tiles_are_stated():
    m = leaflet.webmap(["corridors"])
    cdn = leaflet.to_html(m, assets="cdn")
    need = re.search(r'<meta name="geocity-network" content="([^"]*)"', cdn).group(1)
    assert "cdn.jsdelivr.net" in need and "server.arcgisonline.com" in need
    inline = leaflet.to_html(m)
    need = re.search(r'<meta name="geocity-network" content="([^"]*)"', inline).group(1)
    assert "cdn.jsdelivr.net" not in need and "server.arcgisonline.com" in need


def test_unknown_asset_is_refused_not_linked():
    m = leaflet.new_map(tiles=None)
    m.get_root().header.add_child(folium.JavascriptLink("https://example.invalid/x.js"))
    with pytest.raises(Exception, match="example.invalid/x.js.*assets='cdn'"):
        leaflet.to_html(m)
    assert "example.invalid" in leaflet.to_html(m, assets="cdn")


def test_vendored_assets_match_their_checksums_and_licences():
    import hashlib

    root = Path(page.__file__).parent / "assets"
    for folder, pkg in page.asset_catalogue().items():
        assert (root / folder / pkg["license_file"]).is_file()
        assert pkg["version"] and pkg["license"]
        on_disk = {p.relative_to(root / folder).as_posix() for p in (root / folder).rglob("*") if p.is_file()}
        assert on_disk == set(pkg["files"]), folder
        for name, entry in pkg["files"].items():
            assert hashlib.sha256((root / folder / name).read_bytes()).hexdigest() == entry["sha256"], name


def test_bad_assets_mode(tmp_path):
    from geocity.errors import ValidationError

    m = leaflet.new_map(tiles=None)
    with pytest.raises(ValidationError, match="assets"):
        leaflet.save(m, tmp_path / "m.html", assets="offline")
    assert not (tmp_path / "m.html").exists()


def test_cli_self_contained_flags(tmp_path):
    r = CliRunner()
    res = r.invoke(cli, ["webmap", "--layers", "corridors", "--self-contained", "-o", str(tmp_path / "a.html")])
    assert res.exit_code == 0, res.output
    assert '<meta name="geocity-network" content="none" />' in (tmp_path / "a.html").read_text(encoding="utf-8")
    for bad in (["--tiles", "OpenStreetMap.Mapnik"], ["--assets", "cdn"]):
        res = r.invoke(cli, ["webmap", "--layers", "corridors", "--self-contained", *bad,
                             "-o", str(tmp_path / "b.html")])
        assert res.exit_code != 0 and "Traceback" not in res.output and "--self-contained" in res.output
        assert not (tmp_path / "b.html").exists()


# --------------------------------------------------------------------------
# in a real browser
# --------------------------------------------------------------------------
def test_browser_hostile_names_and_offline_page(browser, tmp_path):
    """Title unchanged, no injected element, the text shown literally, and a
    self-contained page that makes no request at all."""
    from test_browser import Page

    cities, clusters, members, lines, buffers, links, pts = _hostile_layers(PAYLOADS[4])
    names = PAYLOADS
    cities = gpd.GeoDataFrame(
        {"city_id": [f"c{i}" for i in range(len(names))], "name_en": names, "name_zh": names,
         "region": "Asia", "country_iso2": "XX", "composite": 0.5},
        geometry=gpd.points_from_xy(np.linspace(90, 120, len(names)), np.full(len(names), 20.0)), crs="EPSG:4326")
    m = leaflet.webmap(["cities", "clusters", "corridors"], tiles=None, cities=cities, clusters=clusters,
                       cluster_members=members, corridor_lines=lines, corridor_buffers=buffers)
    out = tmp_path / "hostile.html"
    leaflet.save(m, out)
    pg = Page(browser, out)
    requests: list[str] = []
    try:
        pg.page.on("request", lambda r: requests.append(r.url))
        pg.page.reload(wait_until="load")
        pg.page.wait_for_function("() => Object.keys(window).some(k => /^layer_control_.*_layers$/.test(k))")
        assert pg.page.title() == ""  # folium pages have no title; nothing set one
        assert pg.page.evaluate("() => document.querySelectorAll('img[onerror], script:not([src])').length") == \
            len(pg.page.query_selector_all("script:not([src])"))
        assert pg.page.evaluate("() => document.querySelectorAll('img[onerror]').length") == 0
        assert pg.page.evaluate("() => window.__xss === undefined")
        texts = pg.page.evaluate(
            """() => { const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
            const out = []; map.eachLayer(l => { if (l.feature && l.getLatLng && l.feature.properties.tip) {
              const d = document.createElement('div'); d.innerHTML = l.feature.properties.tip;
              out.push(d.textContent); } });
            return out; }""")
        for p in names:
            assert p in texts, p
        tip = pg.click_city("c0")
        assert "S{{ 7*7 }}X" in tip and "S49X" not in tip
        assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        pg.assert_clean()
        pg.screenshot("hostile-offline.png")
    finally:
        pg.close()

