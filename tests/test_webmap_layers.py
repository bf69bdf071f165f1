"""The web map as a renderer of one Analysis (issue 12, parts 1 and 4):
legends say what is drawn, nothing is computed twice, one provenance text,
state kept off folium.Map, one registry of layer modules."""

from __future__ import annotations

import html as _html
import json
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geocity.analysis import Analysis
from geocity.render import leaflet, web
from geocity.render.web.base import WebMap
from geocity.render.web.legend import Section


def _legend(html: str) -> str:
    box = html[html.index('class="geocity-legend"'):]
    return box[:box.index("</details>")]


def _sections(html: str) -> dict[str, str]:
    """Legend sections by title (the text of each section's block)."""
    out = {}
    for m in re.finditer(r'<div class="geocity-legend-title">(.*?)</div>(.*?)(?=<div class="geocity-legend-title">|'
                         r'<div class="geocity-legend-layer"|$)', _legend(html), re.S):
        out[_html.unescape(m.group(1))] = m.group(2)
    return out


def _props(html: str) -> list[dict]:
    out = []
    for m in re.finditer(r"_add\((\{\"features\".*?\})\);\n", html):
        out.extend(f["properties"] for f in json.loads(m.group(1))["features"])
    return out


def _buffers(km: float):
    from geocity.geodesy import buffer_km

    line = shapely.LineString([(75.9, 39.5), (67.0, 24.9)])
    lines = gpd.GeoDataFrame({"corridor": ["CPEC"]}, geometry=[line], crs="EPSG:4326")
    buffers = gpd.GeoDataFrame({"corridor": ["CPEC"], "within_km": [km]}, geometry=[buffer_km(line, km)],
                               crs="EPSG:4326")
    return lines, buffers


# --------------------------------------------------------------------------
# the corridor legend says the buffers drawn
# --------------------------------------------------------------------------
def test_corridor_legend_says_the_km_of_the_buffers_drawn():
    html = leaflet.to_html(leaflet.webmap(Analysis(within_km=50), ["corridors"], tiles=None), assets="cdn")
    sec = _sections(html)["Corridor / 经济走廊"]
    assert "≤ 50 km" in sec and "100" not in sec
    assert json.dumps("CPEC within 50 km") in html and "within 100 km" not in html
    # buffers given by the caller: their own within_km, whatever the default distance
    lines, buffers = _buffers(50.0)
    html = leaflet.to_html(leaflet.webmap(["corridors"], corridor_lines=lines, corridor_buffers=buffers,
                                          tiles=None), assets="cdn")
    sec = _sections(html)["Corridor / 经济走廊"]
    assert "≤ 50 km" in sec and "100 km" not in _legend(html)
    # the section belongs to the corridor layers: shown while one of them is on
    tied = re.search(r'data-geocity-layers="([^"]*)"', _legend(html)).group(1)
    assert json.loads(_html.unescape(tied)) == ["CPEC within 50 km", "CPEC corridor"]


def test_an_analysis_distance_and_legacy_within_km_are_not_mixed():
    from geocity.errors import ValidationError

    with pytest.raises(ValidationError, match=r"within_km are parameters of the Analysis"):
        leaflet.webmap(Analysis(within_km=50), ["corridors"], within_km=100)
    with pytest.raises(ValidationError, match=r"unknown argument\(s\) buffers"):
        leaflet.webmap(["corridors"], buffers=_buffers(50.0)[1])


# --------------------------------------------------------------------------
# a map of an Analysis computes nothing
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def warm():
    """The default analysis with every result the default map shows computed."""
    a = Analysis()
    a.scored(), a.provenance, a.clusters("composite"), a.corridor_lines(), a.corridor_buffers()
    a.corridor_members(), a.density("composite"), a.links("composite", max_segment_km=150.0)
    a.unplaced_ranked(), a.basemap_layer()
    return a


def test_a_map_of_an_analysis_calls_no_analysis_function(warm, monkeypatch):
    from geocity import corridors, density, network
    from geocity.cluster import CityClusters

    def boom(*args, **kwargs):
        raise AssertionError("the web map computed analysis itself")

    for mod, fn in ((corridors, "members"), (corridors, "buffer"), (corridors, "lines"), (density, "density"),
                    (network, "gravity_links")):
        monkeypatch.setattr(mod, fn, boom)
    monkeypatch.setattr(CityClusters, "fit", boom)
    m = leaflet.webmap(warm, tiles=None)
    html = leaflet.to_html(m, assets="cdn")
    # the overlay is the analysis' own surface (the one the GeoTIFF export writes)
    png, _bounds, _info = density.density_overlay(warm.density("composite"),
                                                  cmap=web.density.cmap(leaflet_style()))
    import base64

    assert "data:image/png;base64," + base64.b64encode(png).decode("ascii") in html
    props = _props(html)
    assert sum(1 for p in props if "link" in p) == len(warm.links("composite", max_segment_km=150.0))
    assert sum(1 for p in props if "city_id" in p and "search" in p) == len(warm.scored())
    # popups' corridor distances are the analysis' members
    mem = warm.corridor_members()
    row = mem.sort_values("distance_km").iloc[0]
    pop = next(p["pop"] for p in props if p.get("city_id") == row["city_id"] and "search" in p)
    assert f"{float(row['distance_km']):,.0f} km" in pop and row["corridor"] in pop


def leaflet_style():
    from geocity import styles

    return styles.load_style()


# --------------------------------------------------------------------------
# one provenance text
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    from geocity import layers

    ids = sorted(layers.load("cities")["city_id"])[::25][:20]
    path = tmp_path_factory.mktemp("scores") / "my_scores.csv"
    pd.DataFrame({"city_id": ids, "innovation": np.linspace(0.2, 1.0, len(ids)),
                  "industry": np.linspace(1.0, 0.2, len(ids)), "infrastructure": 0.5}).to_csv(path, index=False)
    a = Analysis(scores=path)
    assert a.provenance.kind == "user-partial" and a.provenance.n_user == len(ids)
    import warnings

    from geocity.cluster import ClusterWarning

    with warnings.catch_warnings():  # advisory notes on these few scored cities, issued on the first fit
        warnings.simplefilter("ignore", ClusterWarning)
        a.clusters("composite")
    return a


@pytest.mark.parametrize("lang", ["en", "zh", "both"])
def test_partial_user_scores_one_provenance_text(partial, lang):
    m = leaflet.webmap(partial, ["cities", "clusters", "density", "network"], tiles=None, lang=lang)
    html = leaflet.to_html(m, assets="cdn")
    want = leaflet.escape(partial.provenance.label(lang))
    assert "my_scores.csv" in partial.provenance.label(lang)
    legend = _legend(html)
    notes = re.findall(r'<div class="geocity-legend-note">(.*?)</div>', legend)
    # cities, clusters, density and links each say it, in the analysis' own words
    assert notes.count(want) == 4, notes
    assert partial.provenance.label(lang) not in ("", None)
    assert leaflet.escape(partial.provenance.label("en" if lang == "zh" else "zh")) not in legend or lang == "both"
    props = _props(html)
    cities = [p["pop"] for p in props if "search" in p]
    assert cities and all(f'<div class="geocity-popup-note">{want}</div>' in p for p in cities)
    clusters = [p["pop"] for p in props if "pop" in p and "search" not in p and "city_id" not in p]
    assert clusters and all(want in p for p in clusters)
    # no "proxy" anywhere: these are the user's scores
    for text in (legend, *cities, *clusters):
        assert "proxy" not in text and "代理" not in text
    missing = partial.scored().query("score_source == 'user-missing'")["city_id"].iloc[0]
    pop = next(p["pop"] for p in props if p.get("city_id") == missing and "search" in p)
    assert leaflet.escape(web.text.label("missing_score", lang)) in pop


def test_explicit_frames_provenance_from_their_score_source_not_attrs():
    cities = gpd.GeoDataFrame({"city_id": ["a", "b"], "name_en": ["A", "B"], "composite": [0.5, 0.2],
                               "score_source": ["user", "user"]},
                              geometry=gpd.points_from_xy([10.0, 11.0], [10.0, 11.0]), crs="EPSG:4326")
    cities.attrs["proxy"] = True  # experimental pandas metadata: never consulted
    html = leaflet.to_html(leaflet.webmap(["cities"], cities=cities, tiles=None), assets="cdn")
    assert "proxy" not in html.replace("geocity-legend-layer", "")
    assert "user-supplied scores / 用户提供的得分" in _legend(html)


def test_poles_are_the_plates_pole_cities(warm):
    html = leaflet.to_html(leaflet.webmap(warm, ["clusters"], tiles=None, lang="zh"), assets="cdn")
    pops = [p["pop"] for p in _props(html) if "pop" in p]
    assert any("极点城市" in p for p in pops) and not any("核心城市" in p for p in pops)


# --------------------------------------------------------------------------
# state of our own, a registry of layer modules
# --------------------------------------------------------------------------
def test_folium_map_carries_no_geocity_attribute(warm):
    m = leaflet.webmap(warm, ["cities", "corridors"], tiles=None)
    leaflet.add_note(m, "a note")
    leaflet.add_legend(m, [("extra", [("dot", "#123456", "x")])])
    own = folium.Map(tiles=None)
    leaflet.webmap(warm, ["corridors"], m=own, tiles=None)
    for mp in (m, own):
        assert [k for k in vars(mp) if "geocity" in k] == []
        states = [c for c in mp._children.values() if isinstance(c, WebMap)]
        assert len(states) == 1 and states[0].map is mp and WebMap.of(mp) is states[0]
    assert WebMap.of(m).bounds is not None and WebMap.of(m).basemap
    html = leaflet.to_html(m, assets="cdn")
    assert "a note" in html and "extra" in _sections(html)


def _sample(kind: str):
    pts = gpd.GeoDataFrame({"city_id": ["a-xx", "b-xx", "c-xx"], "name_en": ["A", "B", "C"],
                            "name_zh": ["甲", "乙", "丙"], "region": ["Asia", "Europe", "Africa"],
                            "gdci_rank": [1, 2, np.nan], "gdci_change": ["up", "new", None],
                            "composite": [0.9, 0.5, 0.2], "score_source": "rank-proxy"},
                           geometry=gpd.points_from_xy([100.0, 10.0, 20.0], [30.0, 50.0, 0.0]), crs="EPSG:4326")
    for c in ("innovation", "industry", "infrastructure"):
        pts[c] = pts["composite"]
    if kind in ("cities", "top100", "points"):
        return pts, {}
    if kind == "clusters":
        return gpd.GeoDataFrame({"cluster_id": [1], "name": ["A–B"], "typology": ["multi-pole cross-border"],
                                 "poles": ["a-xx;b-xx"]}, geometry=[shapely.box(0, 20, 110, 55)],
                                crs="EPSG:4326"), {}
    if kind == "corridors":
        lines, buffers = _buffers(25.0)
        return lines, {"buffers": buffers}
    if kind == "basemap":
        return gpd.GeoDataFrame({"name_en": ["Land"]}, geometry=[shapely.box(-20, -20, 20, 20)], crs="EPSG:4326"), {}
    if kind == "links":
        from geocity import network

        return network.gravity_links(pts, dimension="composite", top_k=1), {"cities": pts}
    raise AssertionError(kind)


def _density_surface():
    from affine import Affine
    from pyproj import CRS

    from geocity.density import DensitySurface

    y, x = np.mgrid[0:20, 0:20]
    values = np.exp(-((x - 10) ** 2 + (y - 10) ** 2) / 20.0)
    return DensitySurface(values=values, transform=Affine(1.0, 0.0, 0.0, 0.0, -1.0, 20.0), crs=CRS.from_epsg(4326),
                          metadata={"weight": "composite", "units": "composite per km2", "weights_proxy": True})


@pytest.mark.parametrize("kind", sorted(web.LAYERS))
def test_every_registered_layer_returns_its_legend_section(kind):
    wm = WebMap.of(leaflet.new_map(tiles=None))
    if kind == "density":
        data, kw = _density_surface(), {}
    else:
        data, kw = _sample(kind)
    before = len(wm.added)
    sec = web.add_layer(wm, kind, data, lang="both", style=None, **kw)
    assert isinstance(sec, Section) and sec.title and sec.items, kind
    assert len(wm.added) > before  # it drew something
    if kind != "basemap":  # a base layer has no toggle; every overlay's section follows its layer
        names = {n for n, _on in sec.layers}
        assert names and names <= {layer.layer_name for layer in wm.added}, kind
    wm.section(sec)
    html = leaflet.to_html(leaflet.finish(wm.map), assets="cdn")
    assert leaflet.escape(sec.title) in _legend(html)
