"""geocity.qgis_style without QGIS: QML/QMD/VRT text, escaping, the GeoPackage
tables, sidecars in export's overwrite policy, determinism (issue 13, items 1-3).
The same outputs opened in the real QGIS: tests/test_qgis_outputs.py."""

from __future__ import annotations

import hashlib
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geocity import export, qgis_style
from geocity.errors import OutputExistsError, ValidationError

HOSTILE = 'a<b & c]]> "q" \'s\' {{ x }} 北京 </qgis>'


def _pts(n=3):
    return gpd.GeoDataFrame({
        "name_en": [HOSTILE, "Tokyo", "Suva"][:n], "name_zh": ["北京", "东京", "苏瓦"][:n],
        "region": ["Asia", "Asia", "Oceania"][:n], "gdci_rank": pd.array([1, None, 50], dtype="Int64")[:n],
        "is_core": [True, False, True][:n], HOSTILE: [1.0, 2.0, 3.0][:n],
    }, geometry=[Point(116.4, 39.9), Point(139.7, 35.7), Point(178.4, -18.1)][:n], crs=4326)


def _parse(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE qgis")
    return ET.fromstring(text.split("\n", 1)[1])


def test_vector_qml_escapes_every_user_string():
    cols = ["name_en", "name_zh", "region", "gdci_rank", "is_core", HOSTILE, "cluster_id"]
    qml = qgis_style.vector_qml(cols, geometry="point", values={"cluster_id": [HOSTILE, "2"]},
                                field_names={HOSTILE: "a_b_c"}, types={"is_core": "bool"},
                                notes=qgis_style.layer_notes({"params": {"n": HOSTILE}}, title=HOSTILE))
    root = _parse(qml)  # well-formed XML despite <, &, ]]>, quotes and a closing tag in the strings
    aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
    assert aliases["a_b_c"] == HOSTILE  # the full name, exactly
    notes = root.find("customproperties/Option/Option[@name='userNotes']").get("value")
    assert "<" not in notes.replace("<h3>", "").replace("</h3>", "").replace("<p>", "").replace("</p>", "")
    assert "&lt;b &amp; c]]&gt;" in notes  # HTML-escaped inside the XML-escaped attribute
    assert root.find("renderer-v2").get("attr") == "region"
    assert "{{" not in qml.replace("{{ x }}", "")  # no template was expanded


def test_expression_quoting_is_for_identifiers_and_literals():
    assert qgis_style.field_ref('a"b') == '"a""b"'
    assert qgis_style.literal("it's \\") == "'it''s \\\\'"
    cols = ['na"me', "name_zh"]
    qml = qgis_style.vector_qml(["name_en", "name_zh"], geometry="point", field_names={"name_en": 'n"e'},
                                lang="en")
    assert _parse(qml).find("labeling/settings/text-style").get("fieldName") == '"n""e"'
    assert cols  # the raw names never reach an expression unquoted


@pytest.mark.parametrize("lang, expected", [
    ("en", '"name_en"'), ("zh", 'coalesce("name_zh", "name_en")'),
    ("both", 'concat("name_zh", if("name_zh" IS NULL OR "name_en" IS NULL, \'\', \' \'), "name_en")'),
])
def test_label_language(lang, expected):
    qml = qgis_style.vector_qml(["name_en", "name_zh", "region"], geometry="point", lang=lang)
    ts = _parse(qml).find("labeling/settings/text-style")
    assert ts.get("fieldName") == expected and ts.get("fontFamily") == "Noto Sans CJK SC"


def test_write_refuses_a_bad_lang_before_writing(tmp_path):
    with pytest.raises(ValidationError, match="lang must be one of"):
        export.write(_pts(), tmp_path / "x.gpkg", lang="fr")
    assert list(tmp_path.iterdir()) == []


def test_palettes_come_from_the_style_sheet():
    style = {**__import__("geocity.styles", fromlist=["x"]).load_style()}
    style["palettes"] = {**style["palettes"], "regions": {**style["palettes"]["regions"], "Asia": "#010203"}}
    qml = qgis_style.vector_qml(["region"], geometry="point", style=style)
    root = _parse(qml)
    cats = {c.get("value"): c.get("symbol") for c in root.iter("category")}
    sym = root.find(f"renderer-v2/symbols/symbol[@name='{cats['Asia']}']")
    assert sym.find("layer/prop[@k='color']").get("v") == "1,2,3,255"  # the sheet's colour
    assert sym.get("alpha") == "0.9"  # at the sheet's symbols.alpha
    assert cats[""] is not None  # "all other values" gets the sheet's 'other' colour


def test_geopackage_holds_style_and_metadata_version_1_2(tmp_path):
    out = tmp_path / "c.gpkg"
    export.write(_pts(), out, metadata={"note": HOSTILE}, layer="cities")
    export.write(_pts(1), out, layer="more", add_layer=True)
    con = sqlite3.connect(out)
    try:
        assert con.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47  # 'GPKG'
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2
        rows = con.execute("SELECT f_table_name, styleName, useAsDefault, update_time FROM layer_styles "
                           "ORDER BY f_table_name").fetchall()
        assert [r[:3] for r in rows] == [("cities", "geocity", 1), ("more", "geocity", 1)]
        assert {r[3] for r in rows} == {"1970-01-01T00:00:00.000Z"}  # no wall-clock time
        assert con.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone() == (
            "attributes",)
        md = con.execute("SELECT m.md_standard_uri, m.metadata, r.table_name FROM gpkg_metadata m "
                         "JOIN gpkg_metadata_reference r ON r.md_file_id = m.id").fetchall()
        assert len(md) == 1 and md[0][0] == "http://mrcc.com/qgis.dtd" and md[0][2] == "cities"
        assert HOSTILE in ET.fromstring(md[0][1].split("\n", 1)[1]).find("abstract").text
        ext = con.execute("SELECT table_name FROM gpkg_extensions WHERE extension_name='gpkg_metadata'").fetchall()
        assert sorted(ext) == [("gpkg_metadata",), ("gpkg_metadata_reference",)]
    finally:
        con.close()
    # geocity reads its layers as before: layer_styles is not a data layer
    assert len(export.read(out, layer="cities")) == 3
    with pytest.raises(ValidationError, match="holds 2 layers \\('cities', 'more'\\)"):
        export.read(out)


def test_geopackage_replacing_a_layer_replaces_its_style_row(tmp_path):
    out = tmp_path / "c.gpkg"
    export.write(_pts(), out, layer="a", metadata={"v": 1})
    export.write(_pts(2), out, layer="a", add_layer=True, overwrite=True, metadata={"v": 2})
    con = sqlite3.connect(out)
    try:
        assert con.execute("SELECT COUNT(*) FROM layer_styles WHERE f_table_name='a'").fetchone() == (1,)
        md = con.execute("SELECT metadata FROM gpkg_metadata WHERE md_standard_uri='http://mrcc.com/qgis.dtd'")
        texts = [r[0] for r in md]
        assert len(texts) == 1 and "v = 2" in texts[0]
    finally:
        con.close()


def test_shapefile_and_csv_sidecars_and_vrt(tmp_path):
    written = export.write(_pts(), tmp_path / "p.shp", metadata={"step": "x"})
    names = {p.name for p in written}
    assert {"p.qml", "p.qmd"} <= names
    written = export.write(_pts(), tmp_path / "p.csv", metadata={"step": "x"})
    assert {p.name for p in written} == {"p.csv", "p.csv.meta.json", "p.csv.qml", "p.csv.qmd", "p.csv.vrt",
                                         "p.csvt"}
    vrt = ET.fromstring((tmp_path / "p.csv.vrt").read_text(encoding="utf-8"))
    assert vrt.find("OGRVRTLayer/SrcDataSource").text == "p.csv"
    assert vrt.find("OGRVRTLayer/GeometryField").attrib == {"encoding": "PointFromColumns", "x": "lon", "y": "lat"}
    header = pd.read_csv(tmp_path / "p.csv", nrows=0).columns.tolist()
    types = (tmp_path / "p.csvt").read_text(encoding="utf-8").strip().split(",")
    assert dict(zip(header, types, strict=True)) == {
        "name_en": '"String"', "name_zh": '"String"', "region": '"String"', "gdci_rank": '"Integer64"',
        "is_core": '"Integer(Boolean)"', HOSTILE: '"Real"', "lat": '"Real"', "lon": '"Real"'}
    # a table without coordinates: types only, no point layer
    written = export.write(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert {p.name for p in written} == {"t.csv", "t.csvt"}


def test_sidecars_follow_the_overwrite_policy(tmp_path):
    export.write(_pts(), tmp_path / "p.csv")
    (tmp_path / "q.qml").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="q.qml"):  # a user's file is not silently replaced
        export.write(_pts(), tmp_path / "q.shp")
    assert not (tmp_path / "q.shp").exists()
    # overwriting with a table without coordinates removes the old point layer's sidecars
    export.write(pd.DataFrame({"a": [1]}), tmp_path / "p.csv", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "p.csvt", "q.qml"]


def test_sidecars_are_byte_identical_across_runs(tmp_path):
    digests = []
    for k in range(2):
        files = export.write(_pts(), tmp_path / str(k) / "p.shp", metadata={"note": HOSTILE})
        files += export.write(_pts(), tmp_path / str(k) / "p.csv", metadata={"note": HOSTILE})
        files += export.write(_pts(), tmp_path / str(k) / "p.gpkg", metadata={"note": HOSTILE})
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    assert digests[0] == digests[1]
    assert "p.qml" in digests[0] and "p.csv.vrt" in digests[0]


def test_raster_qml_ramp_and_density_sidecars(tmp_path):
    qml = qgis_style.raster_qml(2.0, label=HOSTILE)
    root = _parse(qml)
    items = root.findall("pipe/rasterrenderer/rastershader/colorrampshader/item")
    assert items[0].get("alpha") == "0" and items[0].get("value") == "0" and items[0].get("label") == HOSTILE
    assert float(items[-1].get("value")) == 2.0
    from geocity import density

    pts = pd.DataFrame({"lat": [10.0, -20.0], "lon": [179.0, -179.0], "w": [1.0, 2.0]})
    surf = density.density(pts, weight="w", bandwidth_km=900, cell_km=500, extent=(-180, -90, 180, 90))
    tif = density.write_geotiff(surf, tmp_path / "d.tif")
    assert (tmp_path / "d.qml").is_file() and (tmp_path / "d.qmd").is_file()
    before = (tmp_path / "d.qmd").read_text(encoding="utf-8")
    export.write_metadata(tif, params=surf.metadata)
    after = (tmp_path / "d.qmd").read_text(encoding="utf-8")
    assert "geocity_version" in after and "geocity_version" not in before  # the full record replaces the tags
    with pytest.raises(OutputExistsError, match="d.tif"):
        density.write_geotiff(surf, tmp_path / "d.tif")


def test_proxy_status_uses_the_provenance_rule():
    assert qgis_style.proxy_status({"params": {"scores_kind": "proxy", "n_scores_proxy": 3}}).startswith(
        "rank-derived proxy scores")
    assert qgis_style.proxy_status({"params": {"weights_proxy": "False"}}).startswith("user-supplied")
    assert qgis_style.proxy_status({"params": {"layer": "cities"}}) is None


def test_geometry_family():
    assert qgis_style.geometry_family(_pts()) == "point"
    assert qgis_style.geometry_family(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=4326)) == "polygon"
    assert qgis_style.geometry_family(_pts().iloc[:0], "MultiPolygon") == "polygon"
    assert qgis_style.geometry_family(pd.DataFrame({"a": [1]})) is None


def test_style_for_file_of_formats_without_sidecars(tmp_path):
    export.write(_pts(), tmp_path / "p.geojson")
    assert not (tmp_path / "p.qml").exists()  # GeoJSON: no sidecar (x.geojson and x.shp would share x.qml)
    root = _parse(qgis_style.style_for_file(tmp_path / "p.geojson"))
    assert root.find("renderer-v2").get("attr") == "region"
    export.write(_pts(), tmp_path / "s.shp")
    root = _parse(qgis_style.style_for_file(tmp_path / "s.shp"))  # the same as the sidecar
    assert ET.tostring(root) == ET.tostring(_parse((tmp_path / "s.qml").read_text(encoding="utf-8")))


def test_geopackage_style_rows_name_the_geometry_column(tmp_path):
    out = tmp_path / "t.gpkg"
    export.write(pd.DataFrame({"rank": [1], "city_id": ["x"]}), out, layer="table")
    export.write(_pts(), out, layer="pts", add_layer=True)
    con = sqlite3.connect(out)
    try:
        rows = dict(con.execute("SELECT f_table_name, f_geometry_column FROM layer_styles").fetchall())
    finally:
        con.close()
    assert rows == {"table": "", "pts": "geom"}  # QGIS looks a style up by table and geometry column


def test_sld_of_categories_ranges_labels_and_raster():
    ns = {"se": "http://www.opengis.net/se", "ogc": "http://www.opengis.net/ogc"}
    qml = qgis_style.vector_qml(["name_en", "name_zh", "typology"], geometry="polygon")
    sld = ET.fromstring(qgis_style.qml_to_sld(qml, name=HOSTILE).split("\n", 1)[1])
    rules = sld.findall(".//se:Rule", ns)
    values = [r.findtext("ogc:Filter/ogc:PropertyIsEqualTo/ogc:Literal", namespaces=ns) for r in rules]
    assert values[:4] == ["multi-pole cross-border", "multi-pole domestic", "single-pole cross-border",
                          "single-pole domestic"]
    assert rules[4].find("se:ElseFilter", ns) is not None  # QGIS's "all other values"
    assert rules[0].findtext(".//se:SvgParameter[@name='fill']", namespaces=ns) == "#8e3b8f"
    assert rules[-1].findtext(".//se:Label/ogc:PropertyName", namespaces=ns) == "name_zh"
    assert sld.findtext(".//se:Name", namespaces=ns) == HOSTILE
    qml = qgis_style.vector_qml(["name_en", "name_zh", "gdci_rank", "region"], geometry="point", lang="en")
    sld = ET.fromstring(qgis_style.qml_to_sld(qml, name="c").split("\n", 1)[1])
    gate = sld.findall(".//se:Rule", ns)[-1].find("ogc:Filter/ogc:PropertyIsLessThanOrEqualTo", ns)
    assert gate.findtext("ogc:PropertyName", namespaces=ns) == "gdci_rank" and gate.findtext(
        "ogc:Literal", namespaces=ns) == "20"  # labels up to labels.max_rank, as the plates
    from geocity.network import STRENGTH_CLASSES

    qml = qgis_style.vector_qml(["weight"], geometry="line")
    sld = ET.fromstring(qgis_style.qml_to_sld(qml, name="l").split("\n", 1)[1])
    lows = [float(r.findtext("ogc:Filter/ogc:And/ogc:PropertyIsGreaterThanOrEqualTo/ogc:Literal", namespaces=ns))
            for r in sld.findall(".//se:Rule", ns)]
    assert lows == sorted(lo for lo, _ in STRENGTH_CLASSES)
    sld = ET.fromstring(qgis_style.qml_to_sld(qgis_style.raster_qml(4.0), name="d").split("\n", 1)[1])
    pts = sld.findall(".//se:InterpolationPoint", ns)
    assert pts[0].findtext("se:Data", namespaces=ns) == "0" and pts[0].findtext("se:Value", namespaces=ns)[-2:] == "00"
    assert float(pts[-1].findtext("se:Data", namespaces=ns)) == 4.0
    assert qgis_style.qml_to_sld(qgis_style.vector_qml(["a"], geometry=None), name="t") is None


def test_labels_as_on_the_plates():
    def labelled(columns, geometry):
        return _parse(qgis_style.vector_qml(columns, geometry=geometry)).get("labelsEnabled") == "1"

    assert labelled(["name_en", "name_zh", "region"], "point")
    assert labelled(["name", "name_zh", "typology"], "polygon")  # clusters
    assert labelled(["corridor", "corridor_name_en", "corridor_name_zh"], "line")
    assert not labelled(["name_en", "name_zh", "continent"], "polygon")  # the basemap's countries
    assert not labelled(["corridor", "corridor_name_en", "corridor_name_zh", "within_km"], "polygon")  # buffers
