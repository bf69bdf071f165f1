"""geocity's outputs opened in the real QGIS (issue 13, items 1-3).

Every output kind geocity writes (shapefile, GeoPackage, CSV point table via
its ``.csv.vrt``, density GeoTIFF) is opened by PyQGIS in ONE subprocess
(``tests/_qgis_check.py`` under Debian's ``/usr/bin/python3``, headless, with a
temporary HOME and QGIS profile) and checked as a user sees it: valid, CRS,
feature counts, Chinese text intact, the default style applied (categorised /
graduated, not QGIS's single random symbol), labels in the CJK font, aliases
for shortened DBF fields, booleans, metadata, and no GeoPackage version warning.

QGIS comes from ``bash tests/qgis_setup.sh``; without it these tests skip
locally and FAIL under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, box

from geocity import export

HERE = Path(__file__).resolve().parent
CHECK = HERE / "_qgis_check.py"
QGIS_PYTHON = os.environ.get("GEOCITY_QGIS_PYTHON", "/usr/bin/python3")
HOSTILE = 'a<b & c]]> "q" \'s\' {{ x }} 北京'


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@lru_cache(maxsize=1)
def _qgis_missing() -> str | None:
    if not Path(QGIS_PYTHON).is_file():
        return f"{QGIS_PYTHON} not found"
    try:
        res = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {QGIS_PYTHON}: {exc}"
    return None if res.returncode == 0 else f"PyQGIS not importable by {QGIS_PYTHON}: {res.stderr.strip()[-300:]}"


def need_qgis() -> None:
    missing = _qgis_missing()
    if missing:
        msg = f"QGIS tests need Debian's QGIS ({missing}) — run `bash tests/qgis_setup.sh`"
        if _in_ci():
            pytest.fail(msg + " (CI=true: the QGIS tests must run in CI)")
        pytest.skip(msg)


def run_qgis(specs: list[dict], tmp: Path) -> dict:
    """Open ``specs`` in PyQGIS (one subprocess) and return its report."""
    need_qgis()
    home = tmp / "qgis-home"
    home.mkdir(exist_ok=True)
    spec_file = tmp / "specs.json"
    spec_file.write_text(json.dumps(specs), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
           "QGIS_CUSTOM_CONFIG_PATH": str(home / "profile"), "PYTHONPATH": "", "PYTHONHOME": ""}
    env.pop("PYTHONHOME")
    env.pop("PYTHONPATH")
    res = subprocess.run([QGIS_PYTHON, str(CHECK), str(spec_file)], capture_output=True, text=True, env=env,
                         timeout=300, cwd=tmp)
    assert res.returncode == 0, f"PyQGIS check failed ({res.returncode}): {res.stderr[-2000:]}"
    return json.loads(res.stdout)


# --------------------------------------------------------------------------
# one set of outputs, written once, opened once
# --------------------------------------------------------------------------
def _clusters() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "cluster_id": [1, 2, 3],
        "rank": [1, 2, 3],
        "name": ["Shenzhen–Hong Kong", HOSTILE, "Fiji"],
        "name_zh": ["深圳–香港", "北京–天津", "斐济"],
        "typology": ["multi-pole cross-border", "multi-pole domestic", "single-pole domestic"],
        "territories": ["CN;HK", "CN", "FJ"],
        "total_score": [2.5, 1.25, 0.5],
        "score_source": ["rank-proxy"] * 3,
        "proxy": [True, True, False],
        "max_span_km": [700.0, 700.0, 700.0],
    }, geometry=[box(113, 22, 114.5, 23.5), MultiPolygon([box(116, 39, 117.5, 40.5)]),
                 MultiPolygon([box(179, -18, 180, -16), box(-180, -18, -179, -16)])], crs=4326)


def _members() -> pd.DataFrame:
    return pd.DataFrame({
        "cluster_id": [1, 1, 2, 3],
        "cluster_name": ["Shenzhen–Hong Kong", "Shenzhen–Hong Kong", HOSTILE, "Fiji"],
        "city_id": ["shenzhen-cn", "hong-kong-hk", "beijing-cn", "suva-fj"],
        "name_en": ["Shenzhen", "Hong Kong", "Beijing", "Suva"],
        "name_zh": ["深圳", "香港", "北京", "苏瓦"],
        "lat": [22.54, 22.32, 39.9, -18.14],
        "lon": [114.06, 114.17, 116.4, 178.44],
        "is_core": [True, False, True, False],
        "is_pole": [True, False, True, False],
        "weight": [0.9, 0.5, 1.0, np.nan],
    })


def _corridor_members() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "city_id": ["kashgar-cn", "islamabad-pk", "x"],
        "name_en": ["Kashgar", "Islamabad", HOSTILE],
        "name_zh": ["喀什", "伊斯兰堡", "乌鲁木齐"],
        "region": ["Asia", "Asia", "Asia"],
        "bri_rank": pd.array([None, 12, 3], dtype="Int64"),
        "in_appendix3": [True, True, False],
        "corridor": ["CPEC", "CPEC", "MINE"],
        "distance_km": [0.0, 5.2, 80.0],
    }, geometry=[Point(75.99, 39.47), Point(73.05, 33.68), Point(87.6, 43.8)], crs=4326)


def _links() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "source_name": ["Tokyo", "北京"], "target_name": ["Yokohama", "上海"],
        "weight": [0.9, 0.02], "modelled": [True, False], "score_source": ["rank-proxy", "user"],
    }, geometry=[LineString([(139.69, 35.69), (139.65, 35.43)]), LineString([(116.4, 39.9), (121.47, 31.23)])],
        crs=4326)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Write every output kind once; return (folder, {name: spec})."""
    need_qgis()
    from geocity import density

    out = tmp_path_factory.mktemp("qgis")
    md = {"step": "test", "note": HOSTILE, "proxy": True, "score_source": "rank-proxy", "scores_kind": "proxy",
          "n_scores_proxy": 3, "n_scores_user": 0, "n_scores_missing": 0}
    export.write_clusters(_clusters(), _members(), out / "clusters.shp", metadata=md)
    export.write(_clusters(), out / "clusters.gpkg", metadata=md, layer="clusters", lang="zh")
    export.write(_corridor_members(), out / "corridor_members.csv", metadata={"step": "corridors", "within_km": 100})
    export.write(_links(), out / "links.gpkg", layer="links", metadata={"step": "network"})
    export.write(_links(), out / "links.gpkg", layer="links2", add_layer=True, metadata={"step": "network 2"})
    export.write(_corridor_members(), out / "cities.gpkg", metadata={"layer": "cities"}, lang="en")
    pts = _members().dropna(subset=["weight"])
    surf = density.density(pts, weight="weight", bandwidth_km=800, cell_km=400, extent=(-180, -90, 180, 90))
    tif = density.write_geotiff(surf, out / "weight_density.tif")
    export.write_metadata(tif, params=surf.metadata)
    specs = {
        "clusters_shp": {"path": str(out / "clusters.shp"), "sld": str(out / "clusters.sld")},
        "members_vrt": {"path": str(out / "clusters_members.csv.vrt")},
        "clusters_gpkg": {"path": str(out / "clusters.gpkg"), "layer": "clusters"},
        "corridor_vrt": {"path": str(out / "corridor_members.csv.vrt")},
        "corridor_csv": {"path": str(out / "corridor_members.csv")},
        "links_gpkg": {"path": str(out / "links.gpkg"), "layer": "links"},
        "links2_gpkg": {"path": str(out / "links.gpkg"), "layer": "links2"},
        "cities_gpkg": {"path": str(out / "cities.gpkg"), "layer": "cities"},
        "density_tif": {"path": str(tif), "kind": "raster"},
    }
    return out, specs


@pytest.fixture(scope="module")
def report(outputs, tmp_path_factory):
    out, specs = outputs
    names = list(specs)
    rep = run_qgis([specs[n] for n in names], tmp_path_factory.mktemp("qgis-run"))
    assert rep["qgis"].startswith("3."), rep["qgis"]
    return dict(zip(names, rep["results"], strict=True))


def test_every_output_opens_valid_with_crs_and_counts(report):
    expect = {"clusters_shp": 3, "members_vrt": 4, "clusters_gpkg": 3, "corridor_vrt": 3, "corridor_csv": 3,
              "links_gpkg": 2, "links2_gpkg": 2, "cities_gpkg": 3}
    for name, n in expect.items():
        r = report[name]
        assert r["valid"], name
        assert r["features"] == n, name
        if name != "corridor_csv":  # a CSV opened directly is a table; its .csv.vrt is the point layer
            assert r["crs"] == "EPSG:4326", name
    assert report["members_vrt"]["geometry"] == 0 and report["corridor_vrt"]["geometry"] == 0  # points
    d = report["density_tif"]
    assert d["valid"] and d["crs"] in ("EPSG:8857",) or "Equal Earth" in d["crs"]


def test_no_gdal_warning_on_open(report):
    """GeoPackage 1.2: QGIS 3.22 / GDAL 3.6 open it without 'may only be partially supported'."""
    for name, r in report.items():
        assert r["gdal_warnings"] == [], (name, r["gdal_warnings"])


def test_chinese_and_hostile_text_intact(report):
    for name in ("clusters_shp", "clusters_gpkg"):
        tv = report[name]["text_values"]
        assert tv["name_zh"] == ["深圳–香港", "北京–天津", "斐济"], name
        assert HOSTILE in tv["name"], name
    assert report["members_vrt"]["text_values"]["name_zh"] == ["深圳", "香港", "北京", "苏瓦"]
    assert HOSTILE in report["corridor_vrt"]["text_values"]["name_en"]
    assert "上海" in report["links_gpkg"]["text_values"]["target_name"]


def test_default_styles_applied(report):
    shp = report["clusters_shp"]["renderer"]
    assert shp["type"] == "categorizedSymbol" and shp["attr"] == "typology"
    colors = {v: c for v, _label, c in shp["categories"]}
    assert colors["multi-pole cross-border"] == "#8e3b8f" and colors["single-pole domestic"] == "#2e6da4"
    assert report["clusters_gpkg"]["renderer"]["type"] == "categorizedSymbol"
    mem = report["members_vrt"]["renderer"]
    assert mem["type"] == "categorizedSymbol" and mem["attr"] == "cluster_id"
    assert [v for v, _, _ in mem["categories"]] == ["1", "2", "3"]
    assert "is_pole" in mem["size_expression"]
    cor = report["corridor_vrt"]["renderer"]
    assert cor["type"] == "categorizedSymbol" and cor["attr"] == "corridor"
    assert dict((v, c) for v, _, c in cor["categories"])["CPEC"] == "#7d3c98"
    assert "bri_rank" in cor["size_expression"]  # graduated by rank
    links = report["links_gpkg"]["renderer"]
    assert links["type"] == "graduatedSymbol" and links["attr"] == "weight" and len(links["ranges"]) == 3
    assert report["links2_gpkg"]["renderer"]["type"] == "graduatedSymbol"  # a second layer keeps its own style
    assert report["cities_gpkg"]["renderer"]["attr"] == "corridor"


def test_labels_in_the_chosen_language_with_the_cjk_font(report):
    for name in ("clusters_shp", "clusters_gpkg", "members_vrt", "cities_gpkg"):
        r = report[name]
        assert r["labels"] and r["label_font"] == "Noto Sans CJK SC", name
    assert report["clusters_gpkg"]["label_expression"] == 'coalesce("name_zh", "name")'  # lang="zh"
    assert report["cities_gpkg"]["label_expression"].endswith('"name_en", NULL)')  # lang="en", top ranks
    assert "concat(" in report["clusters_shp"]["label_expression"]  # default: both


def test_aliases_and_booleans(report):
    shp = report["clusters_shp"]
    assert shp["aliases"] == {"terr_iso2": "territories", "tot_score": "total_score", "score_src": "score_source",
                              "maxspan_km": "max_span_km"}
    assert shp["widgets"]["proxy"][0] == "CheckBox"
    assert shp["widgets"]["proxy"][1]["CheckedState"] == "T"
    assert report["clusters_gpkg"]["types"]["proxy"] == "Boolean"
    assert report["members_vrt"]["types"]["is_core"] == "Boolean"
    assert report["corridor_vrt"]["types"]["bri_rank"] == "Integer64"
    assert report["corridor_csv"]["types"]["in_appendix3"] == "Boolean"  # the .csvt


def test_metadata_in_geopackages(report):
    md = report["clusters_gpkg"]["metadata"]
    assert md["title"] == "clusters — geocity test"
    assert "rank-derived proxy scores" in md["abstract"] and HOSTILE in md["abstract"]
    assert any("note = " + HOSTILE == k for k in md["keywords"]["geocity parameter"])
    assert report["links2_gpkg"]["metadata"]["title"] == "links — geocity network 2"


def test_density_raster_ramp_zero_transparent(report):
    d = report["density_tif"]
    assert d["renderer"]["type"] == "singlebandpseudocolor"
    items = d["renderer"]["items"]
    assert items[0][0] == 0 and items[0][2] == 0  # zero: transparent
    assert all(a == 255 for _, _, a in items[1:]) and items[-1][1] == "#8c1d18"
    assert d["transparent_values"] == [[0.0, 0.0, 100.0]]


def test_sidecar_metadata_is_qgis_default_metadata_and_notes(report):
    """Shapefile, CSV point layer and GeoTIFF: the .qmd sits where QGIS looks for a
    layer's default metadata (loadDefaultMetadata, a project, Layer Properties →
    Metadata → Load), and the provenance shows on open as the layer's notes."""
    for name, title in (("clusters_shp", "clusters — geocity test"),
                        ("members_vrt", "clusters_members — geocity test")):
        r = report[name]
        assert r["default_metadata_loaded"], name
        assert r["default_metadata"]["title"] == title, name
        assert "rank-derived proxy" in r["default_metadata"]["abstract"], name
        assert HOSTILE in r["notes"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")\
            .replace("&quot;", '"').replace("&#x27;", "'"), name
    tif = report["density_tif"]
    assert tif["default_metadata_loaded"] and "density of weight" in tif["default_metadata"]["title"]
    assert "user-supplied scores" in tif["default_metadata"]["abstract"]  # weights_proxy false
    assert tif["notes"].startswith("<h3>density of weight")
    assert report["corridor_vrt"]["default_metadata"]["title"] == "corridor_members — geocity corridors"


def test_sld_loads_in_qgis(report):
    """The SLD beside a shapefile (for GeoServer) is read back by QGIS as rules with labels
    (QGIS 3.22 reads no raster SLD; the GeoTIFF's is checked in test_qgis_style.py)."""
    shp = report["clusters_shp"]["sld"]
    assert shp["ok"], shp["message"]
    assert shp["renderer"]["type"] == "RuleRenderer" and shp["labels"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
