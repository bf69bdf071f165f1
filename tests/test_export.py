"""Tests for geocity.export: formats, round trips, shapefile rules, atomicity."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import MultiPolygon, Point, box

from geocity import export
from geocity.errors import OutputExistsError, ValidationError

FORMATS = ["shp", "gpkg", "geojson", "fgb", "csv"]


def _points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "city_id": ["guangzhou-cn", "hong-kong-hk", "macao-mo"],
            "name_en": ["Guangzhou", "Hong Kong", "Macao"],
            "name_zh": ["广州", "香港", "澳门"],
            "country_name": ["China", "Hong Kong, China", "Macao, China"],
            "gdci_rank": np.array([10, 5, 60], dtype="int64"),
            "composite": [0.75, 0.8125, 0.1],
            "is_core": [True, False, True],
        },
        geometry=[Point(113.2644, 23.1291), Point(114.1694, 22.3193), Point(113.5439, 22.1987)],
        crs=4326,
    )


def _polygons() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "cluster_id": [1, 2],
            "name": ["深圳–香港–广州", "Dallas–Houston"],
            "total_score": [2.5, 1.25],
            "typology": ["multi-pole, cross-border", "multi-pole, domestic"],
        },
        geometry=[box(113, 22, 114.5, 23.5), MultiPolygon([box(-97, 32, -96, 33), box(-96, 29, -95, 30)])],
        crs=4326,
    )


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("ext", FORMATS)
def test_round_trip_every_attribute(tmp_path, ext):
    gdf = _points()
    out = tmp_path / f"cities.{ext}"
    written = export.write(gdf, out)
    assert out in written and all(p.exists() for p in written)
    back = export.read(out)
    if ext == "csv":  # points become lat/lon columns
        assert list(back["lat"]) == list(gdf.geometry.y)
        assert list(back["lon"]) == list(gdf.geometry.x)
    else:
        raw = pyogrio.read_dataframe(out, layer="cities")  # plain pyogrio sees the Chinese names too
        assert "香港" in set(raw.iloc[:, list(raw.columns).index("name_zh")])
        assert back.crs.to_epsg() == 4326
        assert back.geometry.geom_equals(gdf.geometry).all()
    for col in ["city_id", "name_en", "name_zh", "country_name"]:
        assert list(back[col]) == list(gdf[col]), col
    assert list(back["gdci_rank"]) == [10, 5, 60]
    np.testing.assert_allclose(back["composite"], gdf["composite"], rtol=1e-12)
    assert [bool(v) for v in back["is_core"]] == [True, False, True]


def test_shapefile_set_cpg_prj_and_chinese(tmp_path):
    out = tmp_path / "clusters.shp"
    written = export.write(_polygons(), out)
    assert _files(tmp_path) == sorted(
        ["clusters.shp", "clusters.shx", "clusters.dbf", "clusters.prj", "clusters.cpg", "clusters.fields.csv",
         "clusters.qml", "clusters.sld"]  # the QGIS default style, and as SLD
    )
    assert sorted(p.name for p in written) == _files(tmp_path)
    assert written[0] == out  # main file first
    assert (tmp_path / "clusters.cpg").read_bytes() == b"UTF-8"  # exactly, as QGIS/ArcGIS expect
    assert "WGS" in (tmp_path / "clusters.prj").read_text()
    info = pyogrio.read_info(out)
    assert info["encoding"] == "UTF-8"
    assert info["geometry_type"] in ("Polygon", "MultiPolygon")  # mixed input accepted
    raw = pyogrio.read_dataframe(out)
    assert raw.geometry.geom_equals(_polygons().geometry).all()
    assert raw["name"].tolist() == ["深圳–香港–广州", "Dallas–Houston"]
    assert all(len(c.encode()) <= 10 for c in raw.columns if c != "geometry")


def test_shapefile_short_names_and_sidecar(tmp_path):
    gdf = _points()
    gdf["innovation_rank"] = [1, 2, 3]
    gdf["n_members"] = [1, 1, 1]
    out = tmp_path / "c.shp"
    export.write(gdf, out, field_names={"innovation_rank": "innov_rk"})
    side = pd.read_csv(tmp_path / "c.fields.csv", dtype=str)
    assert list(side.columns) == ["short_name", "full_name", "type"]
    mapping = dict(zip(side["full_name"], side["short_name"], strict=True))
    assert mapping["innovation_rank"] == "innov_rk"  # caller's choice
    assert mapping["country_name"] == "country"  # geocity default abbreviation
    assert mapping["n_members"] == "n_members"  # fits: kept
    assert mapping["city_id"] == "city_id"
    raw_cols = set(pyogrio.read_dataframe(out).columns)
    assert {"innov_rk", "country"} <= raw_cols
    back = export.read(out)
    attrs = [c for c in gdf.columns if c != "geometry"]
    assert [c for c in back.columns if c != "geometry"] == attrs  # full names, same order


def test_field_name_rules():
    m = export.shapefile_field_names(["total_scores", "population", "dimension_weights_x"])
    assert m["population"] == "population"
    assert all(len(v) <= 10 for v in m.values())
    # deterministic
    assert m == export.shapefile_field_names(["total_scores", "population", "dimension_weights_x"])
    # automatic collisions are numbered, case-insensitively
    m = export.shapefile_field_names(["abcdefghijk_one", "abcdefghijk_two", "ABCDEFGHIJ"])
    assert m["ABCDEFGHIJ"] == "ABCDEFGHIJ"
    assert m["abcdefghijk_one"] == "abcdfghjk"  # vowels dropped, cut, no trailing "_"
    assert m["abcdefghijk_two"] == "abcdfghjk1"
    # Chinese column names are limited in bytes (3 per character)
    m = export.shapefile_field_names(["城市名称中文"])
    assert len(m["城市名称中文"].encode()) <= 10


def test_explicit_collision_is_an_error(tmp_path):
    gdf = _points()
    with pytest.raises(ValidationError, match="both map to the shapefile field"):
        export.write(gdf, tmp_path / "x.shp", field_names={"name_en": "name", "name_zh": "NAME"})
    with pytest.raises(ValidationError, match="1-10 bytes"):
        export.write(gdf, tmp_path / "x.shp", field_names={"name_en": "a_much_too_long_name"})
    assert _files(tmp_path) == []


def test_long_chinese_string_refused_nothing_written(tmp_path):
    gdf = _points()
    gdf["members"] = ["广" * 300 if i == 1 else "短" for i in range(3)]  # 900 bytes in UTF-8
    gdf.index = ["a", "b", "c"]
    with pytest.raises(ValidationError) as err:
        export.write(gdf, tmp_path / "new_folder" / "out.shp")
    msg = str(err.value)
    assert "'members'" in msg and "'b'" in msg and "900 bytes" in msg
    assert "GeoPackage" in msg and "member table" in msg
    assert _files(tmp_path) == []
    # 84 Chinese characters = 252 bytes: fine
    gdf["members"] = ["广" * 84] * 3
    export.write(gdf, tmp_path / "out.shp")
    assert export.read(tmp_path / "out.shp")["members"].tolist() == ["广" * 84] * 3
    # the same long value is fine in a GeoPackage
    gdf["members"] = ["广" * 300] * 3
    export.write(gdf, tmp_path / "out.gpkg")
    assert export.read(tmp_path / "out.gpkg")["members"].iloc[0] == "广" * 300


def test_lists_are_json_and_datetimes_restored(tmp_path):
    gdf = _points()
    gdf["member_ids"] = [["guangzhou-cn", "shenzhen-cn"], [], ["macao-mo"]]
    gdf["when"] = pd.to_datetime(["2022-01-02 03:04:05", "2022-06-30", "2023-12-31 23:59:59"], format="ISO8601")
    gdf["n_opt"] = pd.array([1, None, 3], dtype="Int64")
    gdf["centroid"] = gdf.geometry  # a second geometry column
    export.write(gdf, tmp_path / "c.shp")
    back = export.read(tmp_path / "c.shp")
    assert back["centroid"].geom_equals(gdf.geometry).all()
    assert back["member_ids"].tolist() == [["guangzhou-cn", "shenzhen-cn"], [], ["macao-mo"]]
    assert (back["when"] == gdf["when"]).all()
    assert back["n_opt"].tolist()[0] == 1 and pd.isna(back["n_opt"].tolist()[1])
    export.write(gdf, tmp_path / "c.gpkg")
    raw = pyogrio.read_dataframe(tmp_path / "c.gpkg", layer="c")
    assert json.loads(raw["member_ids"].iloc[0]) == ["guangzhou-cn", "shenzhen-cn"]


def test_overwrite_refused_then_allowed(tmp_path):
    out = tmp_path / "c.shp"
    export.write(_points(), out)
    with pytest.raises(OutputExistsError, match="overwrite=True / --overwrite"):
        export.write(_points(), out)
    # any member of the set blocks the write
    for p in tmp_path.iterdir():
        if p.suffix != ".dbf":
            p.unlink()
    with pytest.raises(OutputExistsError, match="c.dbf"):
        export.write(_points(), out)
    (tmp_path / "c.qix").write_bytes(b"stale")
    (tmp_path / "c.shp.meta.json").write_text("{}", encoding="utf-8")
    export.write(_points().iloc[:2], out, overwrite=True)
    assert len(export.read(out)) == 2
    assert not (tmp_path / "c.qix").exists()  # stale member of the old set removed
    assert not (tmp_path / "c.shp.meta.json").exists()  # and the old run's record
    for ext in ["gpkg", "geojson", "fgb", "csv"]:
        p = tmp_path / f"c.{ext}"
        export.write(_points(), p)
        with pytest.raises(OutputExistsError):
            export.write(_points(), p)
        export.write(_points().iloc[:1], p, overwrite=True)
        assert len(export.read(p)) == 1


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    def boom(df, path, **kw):
        # write part of the set, then fail
        path.with_suffix(".shp").write_bytes(b"half")
        path.with_suffix(".dbf").write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    for ext in ["shp", "gpkg", "geojson", "fgb"]:
        with pytest.raises(RuntimeError, match="disk full"):
            export.write(_points(), tmp_path / f"c.{ext}", metadata={"a": 1})
    assert _files(tmp_path) == []  # no set, no temp folder


def test_failure_on_overwrite_keeps_old_output(tmp_path, monkeypatch):
    out = tmp_path / "c.geojson"
    export.write(_points(), out)
    before = out.read_bytes()

    def boom(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(RuntimeError):
        export.write(_points().iloc[:1], out, overwrite=True)
    assert out.read_bytes() == before
    assert _files(tmp_path) == ["c.geojson"]


@pytest.mark.parametrize("ext", ["geojson", "shp", "csv", "fgb", "gpkg"])
def test_deterministic_bytes(tmp_path, ext):
    digests = []
    for k in range(2):
        files = export.write(_polygons(), tmp_path / str(k) / f"c.{ext}", metadata={"eps_km": 500})
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    assert digests[0] == digests[1]


def test_unknown_extension(tmp_path):
    with pytest.raises(ValidationError) as err:
        export.write(_points(), tmp_path / "c.kml")
    for ext in [".shp", ".gpkg", ".geojson", ".fgb", ".csv"]:
        assert ext in str(err.value)
    with pytest.raises(ValidationError, match="extension"):
        export.write(_points(), tmp_path / "noext")


def test_bad_inputs(tmp_path):
    with pytest.raises(ValidationError, match="no CRS"):
        export.write(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)]), tmp_path / "a.shp")
    mixed = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[Point(0, 0), box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(ValidationError, match="one geometry type"):
        export.write(mixed, tmp_path / "a.shp")
    export.write(mixed, tmp_path / "a.gpkg")  # fine there
    with pytest.raises(ValidationError, match="GeoDataFrame or DataFrame"):
        export.write([1, 2], tmp_path / "a.csv")
    with pytest.raises(ValidationError, match="is a folder"):
        export.write(_points(), tmp_path)


def test_parent_created_and_unwritable_folder(tmp_path, monkeypatch):
    out = tmp_path / "new" / "deeper" / "c.geojson"
    export.write(_points(), out)
    assert out.exists()
    monkeypatch.setattr(export.os, "access", lambda *a, **k: False)
    with pytest.raises(ValidationError, match="cannot write to the output folder"):
        export.write(_points(), tmp_path / "other.geojson")


def test_csv_tables(tmp_path):
    df = pd.DataFrame({"rank": [1, 2], "city_id": ["london-gb", "香港-hk"], "change": ["same", "up"]})
    export.write(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == "rank,city_id,change\n1,london-gb,same\n2,香港-hk,up\n"
    back = export.read(tmp_path / "t.csv")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    export.write(_polygons(), tmp_path / "p.csv")
    back = export.read(tmp_path / "p.csv")
    assert back.geometry.geom_equals(_polygons().geometry).all()
    # plain DataFrame as shapefile: a .dbf table
    files = export.write(df, tmp_path / "m.shp")
    assert tmp_path / "m.dbf" in files
    assert export.read(tmp_path / "m.dbf")["city_id"].tolist() == ["london-gb", "香港-hk"]


def test_gpkg_adds_layers(tmp_path):
    out = tmp_path / "all.gpkg"
    export.write(_polygons(), out, layer="clusters")
    # an existing GeoPackage is an existing output unless a layer is added on purpose
    with pytest.raises(OutputExistsError, match=r"output exists: .*all.gpkg.*--overwrite"):
        export.write(_points(), out, layer="members")
    export.write(_points(), out, layer="members", add_layer=True)
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["clusters", "layer_styles", "members"]  # + QGIS's styles
    with pytest.raises(OutputExistsError, match="layer 'members'"):
        export.write(_points(), out, layer="members", add_layer=True)
    export.write(_points().iloc[:1], out, layer="members", overwrite=True, add_layer=True)
    assert len(export.read(out, layer="members")) == 1
    assert len(export.read(out, layer="clusters")) == 2
    # overwrite without add_layer replaces the file: no layer of the old one survives
    export.write(_points(), out, layer="links", overwrite=True)
    assert list(pyogrio.list_layers(out)[:, 0]) == ["links", "layer_styles"]


def test_metadata_record(tmp_path):
    src = tmp_path / "scores.csv"
    src.write_text("city_id,innovation\nlondon-gb,0.9\n", encoding="utf-8")
    out = tmp_path / "plate.png"
    meta = export.write_metadata(out, params={"eps_km": 500.0, "weights": (1, 1, 1)}, inputs=[src])
    assert meta.name == "plate.png.meta.json"
    text = meta.read_text(encoding="utf-8")
    rec = json.loads(text)
    assert rec["params"] == {"eps_km": 500.0, "weights": [1, 1, 1]}
    assert rec["inputs"][0]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    for lib in ["geopandas", "shapely", "pyproj", "pyogrio", "GDAL", "PROJ", "numpy", "pandas", "scipy", "numba"]:
        assert lib in rec["libraries"]
    assert "geocity_version" in rec and "python" in rec
    assert list(rec) == sorted(rec)
    assert "time" not in text.lower() and "date" not in text.lower()
    again = export.write_metadata(out, params={"weights": (1, 1, 1), "eps_km": 500.0}, inputs=[src])
    assert again.read_text(encoding="utf-8") == text  # deterministic, key order irrelevant
    with pytest.raises(ValidationError, match="not found"):
        export.write_metadata(out, params={}, inputs=[tmp_path / "missing.csv"])
    # write(..., metadata=) puts the record in the same atomic set
    files = export.write(_points(), tmp_path / "c.shp", metadata={"eps_km": 500}, inputs=[src])
    rec = json.loads((tmp_path / "c.shp.meta.json").read_text(encoding="utf-8"))
    assert tmp_path / "c.shp.meta.json" in files
    assert rec["output"] == "c.shp" and rec["extra"]["written"]["rows"] == 3
    with pytest.raises(OutputExistsError):
        export.write(_points(), tmp_path / "c.shp", metadata={"eps_km": 500})


def test_atomic_path(tmp_path):
    out = tmp_path / "sub" / "fig.png"
    with export.atomic_path(out) as tmp:
        assert tmp.name == "fig.png" and tmp.parent.parent == out.parent
        tmp.write_bytes(b"png")
    assert out.read_bytes() == b"png"
    with pytest.raises(OutputExistsError, match="overwrite"):
        with export.atomic_path(out) as tmp:
            pass
    with pytest.raises(RuntimeError):
        with export.atomic_path(out, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("renderer crashed")
    assert out.read_bytes() == b"png"
    with export.atomic_path(out, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert _files(out.parent) == ["fig.png"]
    assert export.check_writable(tmp_path / "x" / "y.tif") == tmp_path / "x" / "y.tif"


@pytest.mark.parametrize("ext", ["shp", "gpkg", "fgb", "geojson"])
def test_empty_layer_keeps_declared_geometry_type_and_field_types(tmp_path, ext):
    empty = _polygons().iloc[:0]
    out = tmp_path / f"empty.{ext}"
    export.write(empty, out, geometry_type="MultiPolygon")
    layer = "empty" if ext == "gpkg" else None
    info = pyogrio.read_info(out, layer=layer)
    assert len(pyogrio.read_dataframe(out, layer=layer)) == 0  # (FlatGeobuf without index reports features=-1)
    if ext == "shp":
        assert info["geometry_type"] in ("Polygon", "MultiPolygon")  # a shapefile polygon type
        assert (tmp_path / "empty.cpg").read_bytes() == b"UTF-8"
    elif ext != "geojson":  # GeoJSON declares no layer type
        assert info["geometry_type"] == "MultiPolygon"
    if ext != "geojson":  # an empty GeoJSON FeatureCollection has no field list
        short = {"total_score": "tot_score"} if ext == "shp" else {}
        types = dict(zip(info["fields"], info["dtypes"], strict=True))
        assert types["cluster_id"] == "int64" and types[short.get("total_score", "total_score")] == "float64"
        back = export.read(out)
        assert len(back) == 0
        assert {"cluster_id", "name", "total_score", "typology"} <= set(back.columns)
    # with rows, the hint is ignored and the data decide
    export.write(_polygons(), tmp_path / f"full.{ext}", geometry_type="Point")
    assert "Point" not in pyogrio.read_info(tmp_path / f"full.{ext}", layer=layer and "full")["geometry_type"]


# --------------------------------------------------------------------------
# read_points: the one reader of a user's point layer
# --------------------------------------------------------------------------
def test_read_points_accepts_files_tables_and_layers(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("name,Latitude,Longitude\nKashgar,39.47,75.99\nGwadar,25.13,62.32\n", encoding="utf-8")
    pts = export.read_points(p)
    assert isinstance(pts.frame, gpd.GeoDataFrame) and pts.frame.crs.to_epsg() == 4326
    np.testing.assert_allclose(pts.lat, [39.47, 25.13])
    assert list(pts.labels) == ["line 2", "line 3"] and len(pts) == 2
    # geometry=False leaves a lat/lon table a table (no shapely points for 10^7 rows)
    table = pd.DataFrame({"lat": [1.0, 2.0], "lon": [3.0, 4.0]})
    assert export.read_points(table, geometry=False).frame is table
    # a projected layer is reprojected; a GeoSeries is accepted
    merc = gpd.GeoSeries([Point(0, 0), Point(1_000_000, 0)], crs=3857)
    got = export.read_points(merc)
    np.testing.assert_allclose(got.lon, [0.0, 8.983152841195214], rtol=1e-9)
    # a written layer reads back with features numbered from 1 and the city ids in brackets
    export.write(_points(), tmp_path / "c.gpkg")
    assert list(export.read_points(tmp_path / "c.gpkg").labels) == [
        "feature 1 (guangzhou-cn)", "feature 2 (hong-kong-hk)", "feature 3 (macao-mo)"]


@pytest.mark.parametrize(
    "content, match",
    [
        ("name,lat,lon\n", r"is empty"),
        ("name,a,b\nA,1,2\n", r"no coordinates.*'lat' and 'lon'.*found \['name', 'a', 'b'\]"),
        ("name,lat,lon\nA,31.5,74.3\nB,,67.0\n", r"missing or non-finite coordinates: line 3$"),
        ("name,lat,lon\nA,31.5,74.3\nB,north,67.0\n", r"coordinates: line 3$"),
        ("name,lat,lon\nA,131.5,74.3\nB,24.9,67.0\n", r"latitude outside \[-90, 90\].*180\]: line 2; "),
        ("name,lat,lon\nA,74.3,231.5\n", r"longitude outside \[-180, 180\]: line 2$"),
        ("name,lat,lon\nA,121.5,31.2\n", r"look swapped"),
    ],
)
def test_read_points_names_the_bad_rows_of_a_csv(tmp_path, content, match):
    p = tmp_path / "pts.csv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=match):
        export.read_points(p)


def test_read_points_refuses_what_is_not_a_point_layer(tmp_path):
    with pytest.raises(ValidationError, match=r"does not exist.*CSV"):
        export.read_points(tmp_path / "nope.csv")
    with pytest.raises(ValidationError, match=r"expected a GeoDataFrame.*got list"):
        export.read_points([(1, 2)])
    gdf = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=[Point(1, 1), box(0, 0, 1, 1), None], crs=4326)
    with pytest.raises(ValidationError,
                       match=r"1 row\(s\) without a geometry.*: index 2;.*not points \(Polygon\).*: index 1;"):
        export.read_points(gdf)
    with pytest.raises(ValidationError, match=r"no CRS"):
        export.read_points(gpd.GeoDataFrame(geometry=[Point(1, 1)]))


def test_the_consumers_share_read_points(tmp_path):
    """corridor membership, density and the web map give the same message for the same bad file."""
    from geocity import corridors, density
    from geocity.render import leaflet

    p = tmp_path / "pts.csv"
    p.write_text("name,lat,lon\nA,31.5,74.3\nB,95,67.0\n", encoding="utf-8")
    with pytest.raises(ValidationError) as ref:
        export.read_points(p)
    for call in (
        lambda: corridors.members(p, corridors="CPEC"),
        lambda: density.density(p, bandwidth_km=300, cell_deg=1.0),
        lambda: leaflet.webmap(["corridors"], points=p, tiles=None),
    ):
        with pytest.raises(ValidationError) as got:
            call()
        assert str(got.value) == str(ref.value)


# --------------------------------------------------------------------------
# reading a user's file: encodings, unreadable files, invalid WKT
# --------------------------------------------------------------------------
def test_read_points_detects_gbk_and_utf8_bom(tmp_path):
    text = "name,lat,lon\n拉合尔,31.5497,74.3436\n卡拉奇,24.86,67.01\n"
    for enc in ("gbk", "gb18030", "utf-8-sig", "utf-8"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        pts = export.read_points(p)
        assert pts.frame["name"].tolist() == ["拉合尔", "卡拉奇"], enc
        np.testing.assert_allclose(pts.lat, [31.5497, 24.86])
    # the geocoder's refusal of a file that reads as GB18030 and as Windows-1252
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,lat,lon\nSão Paulo,-23.55,-46.63\n".encode("cp1252"))
    with pytest.raises(ValidationError, match=r"line 2.*Windows-1252"):
        export.read_points(latin)
    assert export.read_points(latin, encoding="cp1252").frame["name"].tolist() == ["São Paulo"]


def test_gbk_points_through_density_and_the_cli(tmp_path, runner):
    from geocity import density
    from geocity.cli.main import cli

    p = tmp_path / "gbk.csv"
    p.write_bytes("name,lat,lon\n拉合尔,31.5497,74.3436\n卡拉奇,24.86,67.01\n".encode("gbk"))
    assert density.density(p, bandwidth_km=300, cell_deg=1.0) is not None
    r = runner.invoke(cli, ["density", "--points", str(p), "--bandwidth-km", "300", "--cell-deg", "1",
                            "-o", str(tmp_path / "d.tif")])
    assert "Traceback" not in r.output and "UnicodeDecodeError" not in repr(r.exception)
    assert r.exit_code == 0, r.output


def test_read_refuses_binary_and_unreadable_files_naming_them(tmp_path):
    rng = np.random.default_rng(0)
    junk = tmp_path / "random.csv"
    junk.write_bytes(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ValidationError, match="random.csv"):
        export.read_points(junk)
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"lat,lon\n1,2\n\x00\x00\xff\xfe")
    with pytest.raises(ValidationError, match="nul.csv"):
        export.read_points(nul)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"blank.csv.*empty"):
        export.read_points(blank)
    gj = tmp_path / "junk.geojson"
    gj.write_text("this is not json {", encoding="utf-8")
    with pytest.raises(ValidationError, match=r"junk.geojson.*vector layer.*GeoPackage.*GeoJSON.*shapefile"):
        export.read_points(gj)
    with pytest.raises(ValidationError, match=r"is a folder"):
        export.read(tmp_path)
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("lat,lon\n1,2,3\n4,5,6\n", encoding="utf-8")  # pandas would shift the columns
    with pytest.raises(ValidationError, match=r"shifted.csv.*line 2"):
        export.read_points(shifted)


def test_invalid_wkt_names_the_lines(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text('name,wkt\na,POINT (1 2)\nb,POINT(bad)\nc,\nd,"LINESTRING (0 0,"\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"w.csv.*2 invalid WKT.* at line 3, line 5 .*POINT\(bad\)"):
        export.read(p)
    p.write_text("name,wkt\na,POINT (1 2)\nc,\n", encoding="utf-8")
    back = export.read(p)
    assert back.geometry.iloc[0] == Point(1, 2) and back.geometry.iloc[1] is None


def test_exists_message_names_each_file_once(tmp_path):
    out = tmp_path / "c.shp"
    export.write(_points(), out, metadata={"a": 1})
    with pytest.raises(OutputExistsError) as err:
        export.write(_points(), out)
    msg = str(err.value)
    assert msg.count(str(out) + ",") + msg.count(str(out) + ";") == 1
    names = msg.split("output exists: ", 1)[1].split(";", 1)[0].split(", ")
    assert len(names) == len(set(names)) and str(out) in names


def test_atomic_set_is_all_or_nothing(tmp_path):
    a, b = tmp_path / "x_lines.geojson", tmp_path / "x_buffers.geojson"
    with pytest.raises(RuntimeError, match="second"):
        with export.atomic_set([a, b]) as tmp:
            export.write(_points(), tmp / a.name, metadata={"k": 1})
            raise RuntimeError("second write failed")
    assert _files(tmp_path) == []
    with export.atomic_set([a, b]) as tmp:
        export.write(_points(), tmp / a.name, metadata={"k": 1})
        export.write(_points(), tmp / b.name)
    assert _files(tmp_path) == sorted([a.name, a.name + ".meta.json", b.name])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(OutputExistsError, match="x_lines.geojson"):
        with export.atomic_set([a, b]):
            pass
    with pytest.raises(RuntimeError):
        with export.atomic_set([a, b], overwrite=True) as tmp:
            export.write(_points().iloc[:1], tmp / a.name)
            raise RuntimeError("boom")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # old outputs untouched
    with export.atomic_set([a, b], overwrite=True) as tmp:
        export.write(_points().iloc[:1], tmp / a.name)
        export.write(_points().iloc[:1], tmp / b.name)
    assert _files(tmp_path) == sorted([a.name, b.name])  # the old run's record of a is gone
    assert len(export.read(a)) == 1


def test_read_points_allow_empty(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("name,lat,lon\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="is empty"):
        export.read_points(p)
    pts = export.read_points(p, allow_empty=True)
    assert len(pts) == 0 and isinstance(pts.frame, gpd.GeoDataFrame) and pts.frame.crs.to_epsg() == 4326
    assert list(pts.frame.columns[:3]) == ["name", "lat", "lon"]
    with pytest.raises(ValidationError, match="no CRS"):
        export.read_points(gpd.GeoDataFrame(geometry=gpd.GeoSeries([])), allow_empty=True)
