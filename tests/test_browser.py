"""The Leaflet map in a real browser: headless Debian Chromium via Playwright.

No network: every CDN address folium writes into the page is answered from
the npm packages that ``tests/browser_setup.sh`` installs into
``tests/.assets/node_modules`` (see :data:`_PREFIXES`); tile requests are
aborted at once. Without Chromium or the assets the tests are skipped, except
under ``CI=true`` where they fail (CI must install them).

Screenshots land in ``tests/artifacts/`` (git-ignored) or ``$GEOCITY_ARTIFACTS``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geocity.render import leaflet

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("GEOCITY_CHROMIUM", "/usr/bin/chromium"))
ASSETS = Path(os.environ.get("GEOCITY_BROWSER_ASSETS", HERE / ".assets")) / "node_modules"
ARTIFACTS = Path(os.environ.get("GEOCITY_ARTIFACTS", HERE / "artifacts"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<img src=x onerror=alert(1)>"

# CDN prefix -> (npm package folder, {file name in the URL: file name in the package})
_PREFIXES: list[tuple[str, str, dict[str, str]]] = [
    ("https://cdn.jsdelivr.net/npm/leaflet@1.9.3/", "leaflet/", {}),
    ("https://code.jquery.com/jquery-3.7.1.min.js", "jquery/dist/jquery.min.js", {}),
    ("https://cdnjs.cloudflare.com/ajax/libs/jquery/3.7.1/", "jquery/dist/", {}),
    ("https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/", "bootstrap/", {}),
    ("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/", "@fortawesome/fontawesome-free/", {}),
    (
        "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/",
        "drmonty-leaflet-awesome-markers/",
        {"leaflet.awesome-markers.js": "js/leaflet.awesome-markers.js",
         "leaflet.awesome-markers.css": "css/leaflet.awesome-markers.css",
         "images/": "css/images/"},
    ),
    ("https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/", "leaflet.markercluster/dist/", {}),
    ("https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/", "leaflet-search/", {}),
    (
        "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/",
        "leaflet.fullscreen/",
        {"Control.FullScreen.min.js": "Control.FullScreen.js"},
    ),
    (
        "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/",
        "leaflet-measure/",
        {"dist/leaflet-measure.min.css": "dist/leaflet-measure.css"},
    ),
]
# Stylesheets folium always links that no npm package ships at that version
# (folium's own marker-rotation CSS, Bootstrap 3 glyphicons): served empty;
# geocity's maps use neither.
_EMPTY_CSS = (
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css",
)
_TILE_HOSTS = re.compile(r"^https?://([a-z0-9-]+\.)*(openstreetmap\.org|arcgisonline\.com|cartocdn\.com|"
                         r"basemaps\.cartocdn\.com|tile\.[a-z.]+)/")
_KEY_FILES = [
    "leaflet/dist/leaflet.js",
    "jquery/dist/jquery.min.js",
    "bootstrap/dist/js/bootstrap.bundle.min.js",
    "@fortawesome/fontawesome-free/css/all.min.css",
    "drmonty-leaflet-awesome-markers/js/leaflet.awesome-markers.js",
    "leaflet.markercluster/dist/leaflet.markercluster.js",
    "leaflet-search/dist/leaflet-search.min.js",
    "leaflet.fullscreen/Control.FullScreen.js",
    "leaflet-measure/dist/leaflet-measure.min.js",
]
_MIME = {".js": "application/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml",
         ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".gif": "image/gif"}


def local_asset(url: str) -> Path | None:
    """The local file that answers a CDN ``url``, or None."""
    url = url.split("?")[0].split("#")[0]
    for prefix, folder, renames in _PREFIXES:
        if not url.startswith(prefix):
            continue
        rest = url[len(prefix):]
        if not rest:  # an exact-file prefix
            return ASSETS / folder
        for old, new in renames.items():
            if rest == old or (old.endswith("/") and rest.startswith(old)):
                rest = new + rest[len(old):]
                break
        return ASSETS / folder / rest
    return None


def _missing() -> list[str]:
    out = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        out.append(f"Chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        out.append("the playwright Python package")
    absent = [f for f in _KEY_FILES if not (ASSETS / f).is_file()]
    if absent:
        out.append(f"front-end assets in {ASSETS} ({', '.join(absent[:3])}{' ...' if len(absent) > 3 else ''})")
    return out


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        msg = "browser test needs " + "; ".join(missing) + " — run `bash tests/browser_setup.sh`"
        if _in_ci():
            pytest.fail(msg + " (CI=true: the browser test must run in CI)")
        pytest.skip(msg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page with request routing and error/dialog bookkeeping."""

    def __init__(self, browser, html: Path):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.unserved: list[str] = []
        self.tiles = 0
        self.page = browser.new_page(viewport={"width": 1280, "height": 820})
        self.page.set_default_timeout(15_000)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc} {getattr(exc, 'stack', '')}"))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)
        self.page.route("**/*", self._route)
        t0 = time.perf_counter()
        self.page.goto(html.as_uri(), wait_until="load")
        self.page.wait_for_function(
            "() => Object.keys(window).some(k => /^layer_control_.*_layers$/.test(k))"
        )
        self.load_s = time.perf_counter() - t0

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if _TILE_HOSTS.match(url) or "net::ERR_FAILED" in msg.text and self.tiles:
            return  # an aborted tile request
        self.errors.append(f"console: {msg.text} ({url})")

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith("file:") or url.startswith("data:"):
            route.continue_()
            return
        if url in _EMPTY_CSS:
            route.fulfill(status=200, body="", content_type="text/css")
            return
        if _TILE_HOSTS.match(url):
            self.tiles += 1
            route.abort("blockedbyclient")
            return
        path = local_asset(url)
        if path is not None and path.is_file():
            route.fulfill(status=200, path=str(path), content_type=_MIME.get(path.suffix, "application/octet-stream"))
            return
        self.unserved.append(url)
        route.abort("blockedbyclient")

    def layers(self) -> dict:
        """Layer-control name -> {n: leaf layers, on: shown, base: is base layer}."""
        return self.page.evaluate(
            """() => {
            const key = Object.keys(window).find(k => /^layer_control_.*_layers$/.test(k));
            const ctl = window[key];
            const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
            const count = (l) => (typeof l.getLayers === 'function')
                ? l.getLayers().reduce((n, c) => n + count(c), 0) : 1;
            const out = {};
            for (const [name, l] of Object.entries(ctl.overlays))
                out[name] = {n: count(l), on: map.hasLayer(l), base: false};
            for (const [name, l] of Object.entries(ctl.base_layers))
                out[name] = {n: count(l), on: map.hasLayer(l), base: true};
            return out;
            }"""
        )

    def click_city(self, city_id: str) -> str:
        """Click a city's circle in the visible cities layer; return the popup text."""
        xy = self.page.evaluate(
            """(cid) => {
            const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
            map.closePopup();
            let hit = null;
            map.eachLayer(l => {
                if (!hit && l.feature && l.feature.properties.city_id === cid && l.getLatLng) hit = l;
            });
            map.setView(hit.getLatLng(), 5, {animate: false});
            hit.bringToFront();
            const p = map.latLngToContainerPoint(hit.getLatLng());
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
            }""",
            city_id,
        )
        # two clicks on the same pixel within the double-click interval would
        # zoom the map instead of opening a popup: wait that interval out
        self.page.wait_for_timeout(600)
        self.page.mouse.move(xy[0], xy[1])
        self.page.mouse.click(xy[0], xy[1])
        self.page.wait_for_selector(".leaflet-popup-content", state="visible")
        return self.page.inner_text(".leaflet-popup-content")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.wait_for_timeout(400)  # let popups finish fading in
        out = ARTIFACTS / name
        self.page.screenshot(path=str(out))
        return out

    def assert_clean(self, *, dialogs: bool = True, xss: bool = False) -> None:
        """No JavaScript errors, no request left unserved, no dialog opened
        (``dialogs``) and the hostile name's payload never ran (``xss``)."""
        if xss:
            assert self.page.evaluate("() => window.__xss === undefined")
        if dialogs:
            assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        assert self.unserved == [], self.unserved

    def close(self) -> None:
        self.page.close()


# --------------------------------------------------------------------------
# synthetic layers (known answers), with hostile and awkward names
# --------------------------------------------------------------------------
def _cities() -> gpd.GeoDataFrame:
    rows = [
        ("beijing-cn", "Beijing", "北京", "Asia", "China", "CN", 116.41, 39.90, 5, "up", 1, "same", 0.95),
        ("xi-an-cn", "Xi'an", "西安", "Asia", "China", "CN", 108.94, 34.34, None, None, 12, "up", 0.40),
        ("ndjamena-td", "N'Djamena", "恩贾梅纳", "Africa", "Chad", "TD", 15.04, 12.11, None, None, 80, "new", 0.12),
        ("nuku-alofa-to", "Nuku'alofa", "努库阿洛法", "Oceania", "Tonga", "TO", -175.20, -21.14,
         None, None, None, None, 0.06),
        ("evil-xx", HOSTILE, "`${alert(2)}`\"'<script>window.__xss=1</script>", "Europe", "Nowhere", "XX",
         2.35, 48.86, 60, "new", None, None, 0.30),
        ("london-gb", "London", "伦敦", "Europe", "United Kingdom", "GB", -0.13, 51.51, 2, "down", None, None, 0.90),
    ]
    df = pd.DataFrame(rows, columns=["city_id", "name_en", "name_zh", "region", "country_name", "country_iso2",
                                     "lon", "lat", "gdci_rank", "gdci_change", "bri_rank", "bri_change", "composite"])
    for c in ("innovation", "industry", "infrastructure"):
        df[c] = df["composite"]
    df["score_source"] = "rank-proxy"
    df.loc[df["city_id"] == "xi-an-cn", ["corridor", "distance_km", "chainage_km"]] = ["CMREC", 42.0, 1234.0]
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    gdf.attrs["proxy"] = True
    return gdf


def _clusters():
    clusters = gpd.GeoDataFrame(
        {"cluster_id": [1, 2], "name": ["Beijing–Xi'an", HOSTILE],
         "typology": ["multi-pole, domestic", "single-pole, cross-border"],
         "poles": [["Beijing", "Xi'an"], [HOSTILE]], "n_members": [2, 1], "total_score": [1.35, 0.3],
         "mean_score": [0.675, 0.3], "rank": [1, 2]},
        geometry=[shapely.box(105, 32, 119, 42), shapely.box(0, 46, 5, 51)], crs="EPSG:4326")
    members = pd.DataFrame({"cluster_id": [1, 1, 2], "name_en": ["Beijing", "Xi'an", HOSTILE]})
    return clusters, members


def _corridors():
    lines = gpd.GeoDataFrame(
        {"corridor": ["CPEC", "CMREC", "CMREC"], "branch": ["main", "east", "west"]},
        geometry=[shapely.LineString([(75.9, 39.5), (73.0, 33.7), (67.0, 24.9)]),
                  shapely.LineString([(116.4, 39.9), (106.9, 47.9), (104.3, 52.3)]),
                  shapely.LineString([(111.6, 40.8), (106.9, 47.9), (37.6, 55.8)])],
        crs="EPSG:4326")
    from geocity.geodesy import buffer_km

    buffers = gpd.GeoDataFrame(
        {"corridor": ["CPEC", "CPEC"], "within_km": [50.0, 100.0]},
        geometry=[buffer_km(lines.geometry.iloc[0], 50), buffer_km(lines.geometry.iloc[0], 100)], crs="EPSG:4326")
    return lines, buffers


@pytest.fixture(scope="module")
def synthetic_map(tmp_path_factory) -> Path:
    cities = _cities()
    clusters, members = _clusters()
    lines, buffers = _corridors()
    pts = gpd.GeoDataFrame({"name": ["Depot `1`", "Port & <b>2</b>"], "value": [1, 2]},
                           geometry=gpd.points_from_xy([60.0, 67.0], [30.0, 25.0]), crs="EPSG:4326")
    m = leaflet.webmap(cities=cities, clusters=clusters, cluster_members=members, corridor_lines=lines,
                       corridor_buffers=buffers, points=pts)
    out = tmp_path_factory.mktemp("webmap") / "map.html"
    leaflet.save(m, out)
    return out


def test_map_loads_counts_toggles_popups(browser, synthetic_map):
    page = Page(browser, synthetic_map)
    try:
        layers = page.layers()
        counts = {k: v["n"] for k, v in layers.items()}
        assert counts["Report cities / 报告城市"] == 6
        assert counts["GDCI top 100 / 全球活力城市指数前 100"] == 3
        assert counts["BRI potential top 100 / “一带一路”潜力城市前 100"] == 3
        assert counts["City clusters / 活力城市聚落"] == 2
        assert counts["CPEC corridor"] == 1 and counts["CMREC corridor"] == 2
        assert counts["CPEC within 50 km"] == 1 and counts["CPEC within 100 km"] == 1
        assert counts["My points / 我的点"] == 2
        base = [k for k, v in layers.items() if v["base"]]
        assert len(base) == 3 and sum(layers[k]["on"] for k in base) == 1
        assert layers["Report cities / 报告城市"]["on"] and not layers["GDCI top 100 / 全球活力城市指数前 100"]["on"]
        # rendered SVG shapes: 6 cities + 2 clusters + 3 lines + 2 buffers + 2 points
        n_paths = page.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()
        assert n_paths == 15
        # controls: layer control, search, fullscreen, measure, scale, legend
        for sel in (".leaflet-control-layers", ".leaflet-control-search", ".leaflet-control-zoom-fullscreen",
                    ".leaflet-control-measure", ".leaflet-control-scale", ".geocity-legend"):
            assert page.page.locator(sel).count() >= 1, sel
        assert "Asia" in page.page.inner_text(".geocity-legend")

        # toggle the cities layer off in the layer control, then on again
        page.page.hover(".leaflet-control-layers")  # the control opens on hover
        label = page.page.locator(".leaflet-control-layers-overlays label", has_text="Report cities")
        label.locator("input").click()
        assert not page.layers()["Report cities / 报告城市"]["on"]
        assert page.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == n_paths - 6
        label.locator("input").click()
        assert page.layers()["Report cities / 报告城市"]["on"]
        page.page.mouse.move(5, 400)  # close the control again

        # popups: both languages, ranks, proxy label, corridor distance and chainage
        text = page.click_city("xi-an-cn")
        for s in ("Xi'an", "西安", "China", "BRI potential 2022 rank", "12", "proxy", "CMREC", "42 km", "1,234 km"):
            assert s in text, (s, text)
        text = page.click_city("ndjamena-td")
        assert "N'Djamena" in text and "恩贾梅纳" in text and "Chad" in text

        # the hostile name is shown as text and runs nothing
        text = page.click_city("evil-xx")
        assert HOSTILE in text
        assert "<script>window.__xss=1</script>" in text and "${alert(2)}" in text
        assert page.page.locator(".leaflet-popup-content img").count() == 0
        page.page.wait_for_selector(".leaflet-tooltip")
        assert HOSTILE in page.page.inner_text(".leaflet-tooltip")

        # search in Chinese and English; the tip list shows the hostile name as text
        box = page.page.locator(".leaflet-control-search input")
        box.fill("西安")
        box.dispatch_event("keyup")  # leaflet-search filters on keyup; fill() types no keys
        page.page.wait_for_selector(".search-tooltip .search-tip")
        assert "Xi'an 西安" in page.page.inner_text(".search-tooltip")
        box.fill("img src")
        box.dispatch_event("keyup")
        page.page.wait_for_function("() => document.querySelector('.search-tooltip').innerText.includes('img src')")
        assert HOSTILE in page.page.inner_text(".search-tooltip")
        assert page.page.locator(".search-tooltip img").count() == 0

        shot = page.screenshot("webmap-synthetic.png")
        assert shot.stat().st_size > 10_000
        page.assert_clean(xss=True)
    finally:
        page.close()


DENSITY = "Density: composite (modelled, proxy) / 密度：3I 综合（模型，代理值）"
LINKS = "Links: modelled links (gravity model) / 联系：模型联系（引力模型）"


def _overlay_loaded(page: Page) -> dict:
    """Wait for the density image overlay and report its element's state."""
    page.page.wait_for_function(
        """() => { const im = document.querySelector('.leaflet-geocityDensity-pane img.leaflet-image-layer');
                   return im && im.complete && im.naturalWidth > 0; }""")
    return page.page.evaluate(
        """() => { const im = document.querySelector('.leaflet-geocityDensity-pane img.leaflet-image-layer');
                   const r = im.getBoundingClientRect();
                   return {n: document.querySelectorAll('img.leaflet-image-layer').length, w: im.naturalWidth,
                           h: im.naturalHeight, shownW: r.width, data: im.src.startsWith('data:image/png;base64,'),
                           z: getComputedStyle(im.parentElement).zIndex}; }""")


def test_density_overlay_and_links(browser, synthetic_map):
    """Issue 7 on the web map: the density image overlay loads (offline, a
    data URI) under the vectors with its legend; the modelled links toggle,
    their popups show both names as text and say "modelled"."""
    page = Page(browser, synthetic_map)
    try:
        im = _overlay_loaded(page)
        assert im["n"] == 1 and im["w"] > 0 and im["h"] > 0 and im["shownW"] > 100 and im["data"], im
        assert im["z"] == "350"  # under the overlay pane (400) of cities, clusters and links
        layers = page.layers()
        assert layers[DENSITY]["on"] and not layers[LINKS]["on"]
        n_links = layers[LINKS]["n"]
        assert n_links == 15  # 6 cities, top 5 per city: every pair
        legend = page.page.locator(".geocity-legend")
        assert "modelled from rank-derived proxy scores" in legend.inner_text()
        links_legend = page.page.locator(".geocity-legend-layer", has_text="relative strength")
        assert links_legend.count() == 1 and not links_legend.is_visible()
        n_paths = page.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count()

        # switch the links on in the layer control: their lines and legend appear
        page.page.hover(".leaflet-control-layers")
        label = page.page.locator(".leaflet-control-layers-overlays label", has_text="Links:")
        label.locator("input").click()
        assert page.layers()[LINKS]["on"]
        assert page.page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() == n_paths + n_links
        assert links_legend.is_visible()
        page.page.mouse.move(5, 400)

        # the popup of the link to the hostile name: text, not markup
        text = page.page.evaluate(
            """() => {
            const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
            map.closePopup();
            let hit = null;
            map.eachLayer(l => { if (!hit && l.feature && (l.feature.properties.link || '').includes('onerror')
                                      && l.feature.properties.link.includes('London')) hit = l; });
            const c = hit.getBounds().getCenter();
            map.setView(c, 4, {animate: false});
            hit.fire('click', {latlng: c}, true);  // propagates to the GeoJSON layer's popup
            return document.querySelector('.leaflet-popup-content').innerText;
            }""")
        for s in (HOSTILE, "London", "modelled (gravity model)", "strength", " km"):
            assert s in text, (s, text)
        assert page.page.locator(".leaflet-popup-content img").count() == 0
        page.screenshot("webmap-density-links.png")

        # and off again; the density overlay toggles too
        page.page.hover(".leaflet-control-layers")
        label.locator("input").click()
        assert not page.layers()[LINKS]["on"] and not links_legend.is_visible()
        page.page.locator(".leaflet-control-layers-overlays label", has_text="Density:").locator("input").click()
        assert not page.layers()[DENSITY]["on"]
        assert page.page.locator("img.leaflet-image-layer").count() == 0
        page.assert_clean(xss=True)
    finally:
        page.close()


def test_cluster_popup_and_offline_basemap(browser, tmp_path):
    clusters, members = _clusters()
    countries = gpd.GeoDataFrame({"iso_a2": ["AA", "BB"], "name_en": ["Aland", "Be<b>land"]},
                                 geometry=[shapely.box(90, 20, 125, 50), shapely.box(-10, 40, 20, 60)], crs="EPSG:4326")
    m = leaflet.new_map(tiles=None)
    leaflet.add_basemap(m, countries)
    m = leaflet.webmap(["clusters"], m=m, tiles=None, clusters=clusters, cluster_members=members)
    out = leaflet.save(m, tmp_path / "offline.html")
    page = Page(browser, out)
    try:
        layers = page.layers()
        base = {k: v for k, v in layers.items() if v["base"]}
        assert list(base) == ["Countries (Natural Earth) / 国家（Natural Earth）"] and base[next(iter(base))]["on"]
        assert page.tiles == 0
        # open the first cluster's popup by clicking inside its polygon
        xy = page.page.evaluate(
            """() => {
            const map = window[Object.keys(window).find(k => /^map_[0-9a-f]+$/.test(k))];
            let hit = null;
            map.eachLayer(l => {
                if (!hit && l.feature && l.getBounds && (l.feature.properties.tip || '').startsWith('Beijing')) hit = l;
            });
            map.setView(hit.getBounds().getCenter(), 4, {animate: false});
            const p = map.latLngToContainerPoint(hit.getBounds().getCenter());
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
            }"""
        )
        page.page.mouse.click(xy[0], xy[1])
        page.page.wait_for_selector(".leaflet-popup-content", state="visible")
        text = page.page.inner_text(".leaflet-popup-content")
        assert "Beijing–Xi'an" in text and "multi-pole" in text and "proxy" in text and "Xi'an" in text
        page.screenshot("webmap-offline.png")
        page.assert_clean()
    finally:
        page.close()


@pytest.mark.slow
def test_many_points_canvas(browser, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 20_000
    pts = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(n)]},
                           geometry=gpd.points_from_xy(rng.uniform(-170, 170, n), rng.uniform(-60, 70, n)),
                           crs="EPSG:4326")
    m = leaflet.webmap([], points=pts)
    out = leaflet.save(m, tmp_path / "many.html")
    t0 = time.perf_counter()
    page = Page(browser, out)
    try:
        # chunked loading: the cluster layer fills up after the page's load event
        page.page.wait_for_function(
            """(n) => {
            const key = Object.keys(window).find(k => /^layer_control_.*_layers$/.test(k));
            return window[key].overlays["My points / 我的点"].getLayers().length === n;
            }""", arg=n, timeout=30_000)
        seconds = time.perf_counter() - t0
        assert page.page.locator(".leaflet-overlay-pane canvas").count() == 1
        assert page.page.locator(".leaflet-overlay-pane path").count() == 0
        assert seconds < 20, seconds
        page.assert_clean(dialogs=False)
    finally:
        page.close()


def test_report_map(browser, tmp_path):
    """The default map of the embedded layers (skipped until they exist)."""
    from geocity.errors import NotFoundError

    try:
        from geocity import layers as gl

        gl.load("cities")
    except (ImportError, NotFoundError) as exc:
        if _in_ci():
            raise
        pytest.skip(f"embedded cities layer not available yet: {exc}")
    have = [name for name, mod in (("clusters", "geocity.cluster"), ("corridors", "geocity.corridors"),
                                   ("density", "geocity.density"), ("network", "geocity.network"))
            if _importable(mod)]
    m = leaflet.webmap(("cities", *have))  # the default map of `geocity reproduce` (out/map.html)
    out = leaflet.save(m, tmp_path / "map.html")
    page = Page(browser, out)
    try:
        counts = {k: v["n"] for k, v in page.layers().items()}
        assert counts["Report cities / 报告城市"] == len(gl.load("cities"))
        ranked = gl.cities_with_ranks()
        assert counts["GDCI top 100 / 全球活力城市指数前 100"] == int((ranked["gdci_rank"] <= 100).sum()) >= 99
        bri_top = "BRI potential top 100 / “一带一路”潜力城市前 100"
        assert counts[bri_top] == int((ranked["bri_rank"] <= 100).sum()) >= 99
        if "density" in have:
            im = _overlay_loaded(page)
            assert im["n"] == 1 and im["w"] > 0, im
        if "network" in have:
            from geocity import network

            assert counts[LINKS] == len(network.gravity_links(dimension="composite", top_k=5))
        text = page.click_city("beijing-cn")
        assert "Beijing" in text and "北京" in text and "GDCI" in text
        page.screenshot("webmap-report.png")
        page.assert_clean()
    finally:
        page.close()


def test_embedded_corridors_offline(browser, tmp_path):
    """The embedded corridors over the embedded Natural Earth countries, no tiles."""
    from geocity import corridors, layers

    m = leaflet.webmap(["corridors"], tiles=None, within_km=150)
    out = leaflet.save(m, tmp_path / "corridors.html")
    page = Page(browser, out)
    try:
        layers_ = page.layers()
        lines = corridors.lines()
        for name in corridors.available():
            assert layers_[f"{name} corridor"]["n"] == int((lines["corridor"] == name).sum())
            assert layers_[f"{name} within 150 km"]["n"] == 1
        base = {k: v for k, v in layers_.items() if v["base"]}
        assert list(base) == ["Countries (Natural Earth) / 国家（Natural Earth）"]
        assert base[next(iter(base))]["n"] == len(layers.load("basemap"))
        assert page.tiles == 0
        page.screenshot("webmap-corridors-offline.png")
        page.assert_clean()
    finally:
        page.close()


def _importable(mod: str) -> bool:
    import importlib

    try:
        importlib.import_module(mod)
    except ImportError:
        return False
    return True
