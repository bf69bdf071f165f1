"""The QGIS project of an output folder (geocity.qgis_project, the pipeline's qgis step),
opened in the real QGIS (headless) where it is installed."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import _qgis
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from geocity import qgis_project
from geocity.errors import OutputExistsError, ValidationError

STYLE_QML = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="AllStyleCategories" labelsEnabled="0">
  <renderer-v2 type="categorizedSymbol" attr="kind" symbollevels="0" forceraster="0" enableorderby="0">
    <categories><category value="a" label="A &amp; B" symbol="0" render="true"/></categories>
    <symbols>
      <symbol type="{kind}" name="0" alpha="1" clip_to_extent="1" force_rhr="0">
        <layer class="{layer}" enabled="1" pass="0" locked="0">
          <Option type="Map"><Option name="color" value="255,0,0,255" type="QString"/></Option>
        </layer>
      </symbol>
    </symbols>
  </renderer-v2>
  <aliases><alias field="name_zh" index="1" name="中文名"/></aliases>
</qgis>
"""
RASTER_QML = """<qgis version="3.22.16" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="0"
                    classificationMax="1">
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0">
          <item alpha="0" value="0" label="0" color="#000000"/>
          <item alpha="255" value="1" label="1" color="#ff0000"/>
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
  </pipe>
</qgis>
"""
QMD = """<qgis version="3.22.16"><identifier>c</identifier><title>Clusters 活力城市聚落</title>
<abstract>test &lt;abstract&gt;</abstract></qgis>"""
ODD = 'a&b <c> "q"'


def _layer_styles(path: Path, layer: str, qml: str) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT, "
                "f_table_schema TEXT, f_table_name TEXT, f_geometry_column TEXT, styleName TEXT, styleQML TEXT, "
                "styleSLD TEXT, useAsDefault BOOLEAN, description TEXT, owner TEXT, ui TEXT, update_time DATETIME)")
    con.execute("INSERT INTO layer_styles (f_table_name, f_geometry_column, styleName, styleQML, useAsDefault) "
                "VALUES (?, 'geom', ?, ?, 1)", (layer, layer, qml))
    con.commit()
    con.close()


def _folder(root: Path) -> list[str]:
    """A small output folder: vectors, a two-layer GeoPackage with a default style, a GeoTIFF with a
    .qml, CSVs with and without coordinates, sidecars and non-layers; returns the files 'written'."""
    import rasterio
    from rasterio.transform import Affine

    for d in ("clusters", "layers", "density", "corridors", "figures"):
        (root / d).mkdir(parents=True)
    polys = gpd.GeoDataFrame({"kind": ["a", "b"], "name_zh": ["上海–宁波", "东京"]},
                             geometry=[box(120, 29, 122, 32), box(139, 35, 140, 36)], crs=4326)
    polys.to_file(root / "clusters" / "c.geojson")
    (root / "clusters" / "c.qml").write_text(STYLE_QML.format(kind="fill", layer="SimpleFill"), encoding="utf-8")
    (root / "clusters" / "c.qmd").write_text(QMD, encoding="utf-8")
    polys.to_file(root / "clusters" / f"{ODD}.geojson")
    pts = gpd.GeoDataFrame({"kind": ["a", "a", "b"], "name_zh": ["北京", "上海", "东京"]},
                           geometry=[Point(116.4, 39.9), Point(121.5, 31.2), Point(179.9, -16)], crs=4326)
    gpkg = root / "layers" / "pts.gpkg"
    pts.to_file(gpkg, layer="a")
    pts.iloc[:1].to_file(gpkg, layer="b")
    _layer_styles(gpkg, "a", STYLE_QML.format(kind="marker", layer="SimpleMarker"))
    with rasterio.open(root / "density" / "d.tif", "w", driver="GTiff", width=4, height=3, count=1,
                       dtype="float32", crs="EPSG:8857", transform=Affine(1e5, 0, 0, 0, -1e5, 3e5)) as dst:
        dst.write(np.arange(12, dtype="float32").reshape(1, 3, 4))
    (root / "density" / "d.qml").write_text(RASTER_QML, encoding="utf-8")
    (root / "corridors" / "m.csv").write_text("city,lat,lon\n北京,39.9,116.4\nSuva,-18.1,178.4\n", encoding="utf-8")
    (root / "layers" / "t.csv").write_text("rank,city\n1,东京\n2,北京\n", encoding="utf-8")
    (root / "clusters" / "c.fields.csv").write_text("short,full\nkind,kind\n", encoding="utf-8")
    (root / "clusters" / "c.geojson.meta.json").write_text("{}", encoding="utf-8")
    (root / "figures" / "f.png").write_bytes(b"\x89PNG")
    (root / "map.html").write_text("<html></html>", encoding="utf-8")
    return ["clusters/c.geojson", "clusters/c.qml", "clusters/c.qmd", f"clusters/{ODD}.geojson", "layers/pts.gpkg",
            "density/d.tif", "density/d.qml", "corridors/m.csv", "layers/t.csv", "clusters/c.fields.csv",
            "clusters/c.geojson.meta.json", "figures/f.png", "map.html"]


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "out"
    return root, _folder(root)


def test_layers_grouped_and_non_layers_left_out(folder):
    root, files = folder
    layers = qgis_project.project_layers(root, files)
    got = [(lyr.group, lyr.name, lyr.geometry, lyr.provider) for lyr in layers]
    assert got == [
        ("clusters", ODD, "polygon", "ogr"),
        ("clusters", "c", "polygon", "ogr"),
        ("corridors", "m", "point", "delimitedtext"),
        ("density", "d", "raster", "gdal"),
        ("layers", "pts — a", "point", "ogr"),
        ("layers", "pts — b", "point", "ogr"),
        ("layers", "t", "table", "ogr"),
    ]
    crs = {lyr.name: (lyr.crs_authid, lyr.crs_wkt[:6]) for lyr in layers}
    assert crs["d"] == ("EPSG:8857", "PROJCR") and crs["m"] == ("EPSG:4326", "GEOGCR") and crs["t"] == ("", "")
    assert all(lyr.source.startswith(("./", "file:./")) for lyr in layers)


def test_csv_with_a_vrt_is_listed_once(tmp_path):
    (tmp_path / "m.csv").write_text("city,lat,lon\nA,1,2\n", encoding="utf-8")
    (tmp_path / "m.csv.vrt").write_text(
        '<OGRVRTDataSource><OGRVRTLayer name="m"><SrcDataSource relativeToVRT="1">m.csv</SrcDataSource>'
        '<GeometryType>wkbPoint</GeometryType><LayerSRS>EPSG:4326</LayerSRS>'
        '<GeometryField encoding="PointFromColumns" x="lon" y="lat"/></OGRVRTLayer></OGRVRTDataSource>',
        encoding="utf-8")
    layers = qgis_project.project_layers(tmp_path, ["m.csv", "m.csv.vrt"])
    assert [(lyr.name, lyr.source, lyr.geometry) for lyr in layers] == [("m", "./m.csv.vrt", "point")]


def test_project_is_deterministic_relative_escaped_and_styled(folder):
    root, files = folder
    path = qgis_project.write_project(root / "geocity.qgs", files)
    first = path.read_bytes()
    qgis_project.write_project(root / "geocity.qgs", list(reversed(files)), overwrite=True)
    assert path.read_bytes() == first
    text = first.decode("utf-8")
    assert str(root) not in text and "Absolute" in text
    tree = ET.fromstring(text.split("\n", 1)[1])
    names = [e.get("name") for e in tree.iter("layer-tree-layer")]
    assert ODD in names  # user text escaped by the XML writer, read back intact
    groups = [e.get("name") for e in tree.iter("layer-tree-group") if e.get("name")]
    assert groups == ["City clusters / 活力城市聚落", "Economic corridors / 经济走廊", "Density surfaces / 密度表面",
                      "Reference layers / 基础图层"]
    by_id = {e.findtext("layername"): e for e in tree.iter("maplayer")}
    assert by_id["c"].find("renderer-v2").get("type") == "categorizedSymbol"
    assert by_id["c"].find("resourceMetadata/title").text == "Clusters 活力城市聚落"
    assert by_id["pts — a"].find("renderer-v2") is not None and by_id["pts — b"].find("renderer-v2") is None
    assert by_id["d"].find("pipe/rasterrenderer").get("type") == "singlebandpseudocolor"
    # a GeoJSON without a sidecar: the style geocity gives the file, carried by the project
    from geocity.qgis_style import style_for_file

    want = ET.fromstring(style_for_file(root / "clusters" / f"{ODD}.geojson")).find("renderer-v2")
    assert by_id[ODD].find("renderer-v2").get("type") == want.get("type")


def test_refusals(folder, tmp_path):
    root, files = folder
    with pytest.raises(ValidationError, match=r"\.qgs"):
        qgis_project.write_project(root / "geocity.qgz", files)
    with pytest.raises(ValidationError, match="inside the project's folder"):
        qgis_project.write_project(root / "geocity.qgs", [tmp_path / "elsewhere.geojson"])
    with pytest.raises(ValidationError, match="inside the project's folder"):
        qgis_project.write_project(root / "geocity.qgs", ["../x.geojson"])
    with pytest.raises(ValidationError, match="none of the files"):
        qgis_project.write_project(root / "geocity.qgs", ["figures/f.png", "map.html"])
    assert not (root / "geocity.qgs").exists()
    qgis_project.write_project(root / "geocity.qgs", files)
    with pytest.raises(OutputExistsError):
        qgis_project.write_project(root / "geocity.qgs", files)
    (root / "clusters" / "c.qml").write_text("<qgis><renderer-v2", encoding="utf-8")
    with pytest.raises(ValidationError, match="c.qml: not a QGIS style"):
        qgis_project.write_project(root / "geocity.qgs", files, overwrite=True)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The main job's clusters and the project step (plus a stray file of the user's)."""
    import warnings

    from geocity import pipeline

    out = tmp_path_factory.mktemp("run") / "out"
    (out / "clusters").mkdir(parents=True)
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4326).to_file(out / "clusters" / "mine.geojson")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = pipeline.reproduce(out, steps=["clusters", "qgis"], overwrite=True)
    return out, written


def test_pipeline_writes_the_project_of_its_own_files(run_dir):
    from geocity import pipeline

    out, written = run_dir
    assert written[-1] == out / "geocity.qgs" and pipeline.STEPS[-1] == "qgis"
    manifest = json.loads((out / pipeline.MANIFEST).read_text(encoding="utf-8"))["steps"]
    assert list(manifest["qgis"]) == ["geocity.qgs"]
    tree = ET.fromstring((out / "geocity.qgs").read_text(encoding="utf-8").split("\n", 1)[1])
    sources = [e.findtext("datasource") for e in tree.iter("maplayer")]
    assert "./clusters/clusters.shp" in sources and "./clusters/innovation_clusters.shp" in sources
    assert not any("mine" in s for s in sources)  # the user's file is not geocity's
    rels = {s.split("?")[0].removeprefix("file:").removeprefix("./").split("|")[0] for s in sources}
    assert rels <= set(manifest["clusters"])


def test_qgis_step_without_layers_writes_nothing(tmp_path):
    from geocity import pipeline

    assert pipeline._step_qgis(tmp_path, None) == []
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- the real QGIS
@pytest.fixture(scope="module")
def pyqgis():
    _qgis.require("PyQGIS (/usr/bin/python3 with python3-qgis)", _qgis.have_pyqgis())


def test_qgis_opens_the_project(pyqgis, folder, tmp_path):
    root, files = folder
    got = _qgis.load_project(qgis_project.write_project(root / "geocity.qgs", files), tmp_path)
    assert got["ok"], got["error"]
    assert got["crs"] == "EPSG:4326" and got["absolute"] is False
    layers = {lyr["name"]: lyr for lyr in got["layers"]}
    assert set(layers) == {"c", ODD, "m", "d", "pts — a", "pts — b", "t"}
    assert all(lyr["valid"] for lyr in layers.values()), [n for n, lyr in layers.items() if not lyr["valid"]]
    assert layers["c"]["renderer"] == "categorizedSymbol"  # the .qml sidecar
    assert layers["c"]["aliases"] == {"name_zh": "中文名"}
    assert layers["c"]["metadata_title"] == "Clusters 活力城市聚落"  # the .qmd sidecar
    assert layers["pts — a"]["renderer"] == "categorizedSymbol"  # the GeoPackage's layer_styles
    assert layers["pts — b"]["renderer"] == "singleSymbol"
    assert layers["d"]["renderer"] == "singlebandpseudocolor" and layers["d"]["crs"] == "EPSG:8857"
    assert layers["m"]["count"] == 2 and layers["m"]["crs"] == "EPSG:4326" and "北京" in layers["m"]["first"]
    assert layers["t"]["count"] == 2 and "东京" in layers["t"]["first"]
    assert "上海–宁波" in layers["c"]["first"] and layers["pts — a"]["count"] == 3
    assert layers["c"]["group"] == "City clusters / 活力城市聚落"


def test_qgis_opens_the_main_job_project_with_default_styles(pyqgis, run_dir, tmp_path):
    out, _ = run_dir
    got = _qgis.load_project(out / "geocity.qgs", tmp_path)
    assert got["ok"], got["error"]
    assert got["layers"] and all(lyr["valid"] and lyr["crs"] == "EPSG:4326" for lyr in got["layers"])
    by_name = {lyr["name"]: lyr for lyr in got["layers"]}
    assert by_name["clusters"]["checked"] and by_name["clusters"]["count"] > 10
    for lyr in qgis_project.project_layers(out, [p.relative_to(out) for p in out.rglob("*") if p.is_file()]):
        style, _meta = qgis_project.default_style(out, lyr)
        if style is not None and style.find("renderer-v2") is not None and lyr.name in by_name:
            # a layer with a default style (the .qml geocity.export writes) opens with it
            assert by_name[lyr.name]["renderer"] == style.find("renderer-v2").get("type"), lyr.name


def test_corridor_geojson_layers_of_the_main_job_are_styled_in_the_project(tmp_path):
    """The main job writes corridor lines and buffers as GeoJSON (no sidecar):
    the project carries their categorised corridor colours."""
    from geocity import corridors, export

    root = tmp_path / "out"
    (root / "corridors").mkdir(parents=True)
    export.write(corridors.lines(), root / "corridors" / "corridor_lines.geojson")
    path = qgis_project.write_project(root / "geocity.qgs", ["corridors/corridor_lines.geojson"])
    tree = ET.fromstring(path.read_text(encoding="utf-8").split("\n", 1)[1])
    (ml,) = list(tree.iter("maplayer"))
    renderer = ml.find("renderer-v2")
    assert renderer is not None and renderer.get("type") == "categorizedSymbol"
    assert renderer.get("attr") == "corridor"


def test_a_csv_table_does_not_take_the_style_of_a_shapefile_beside_it(folder):
    """``t.qml`` is the default style of ``t.shp``; a table ``t.csv`` in the
    same folder has its own sidecars (``t.csv.qml``), so it gets no style."""
    root, files = folder
    (root / "layers" / "t.qml").write_text(STYLE_QML.format(kind="marker", layer="SimpleMarker"), encoding="utf-8")
    path = qgis_project.write_project(root / "geocity.qgs", files)
    tree = ET.fromstring(path.read_text(encoding="utf-8").split("\n", 1)[1])
    by_id = {e.findtext("layername"): e for e in tree.iter("maplayer")}
    assert by_id["t"].find("renderer-v2") is None
