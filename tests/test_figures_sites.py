"""Figures 2-10, 2-13 and 2-14: the carmakers' sites layer, the airport join,
the user's passenger table, the proxy label and the plates in en/zh/both."""

from __future__ import annotations

import pandas as pd
import pytest

from geocity import airports, figures, provenance, terms
from geocity.analysis import Analysis
from geocity.errors import NotFoundError, ValidationError
from geocity.geodesy import distance_km

SITE_COLUMNS = ["company", "function", "site_name", "city", "country", "lat", "lon", "coord_method", "source",
                "source_date", "note"]


@pytest.fixture(scope="module")
def analysis():
    return Analysis()


@pytest.fixture(scope="module")
def sites(analysis):
    return analysis.vehicle_sites()


def _notes(plate) -> str:
    return " ".join(t.get_text() for t in plate.fig.texts if t.get_gid() == "note")


def _all_text(plate) -> str:
    return " ".join(t.get_text() for t in plate.fig.findobj(lambda a: hasattr(a, "get_text")))


# --------------------------------------------------------------------------
# the sites layer
# --------------------------------------------------------------------------
def test_vehicle_sites_schema_and_provenance(sites):
    assert list(sites.columns[:len(SITE_COLUMNS)]) == SITE_COLUMNS
    assert set(sites["company"]) == {"Mercedes-Benz", "Ford", "Honda", "Tesla", "BYD"}
    assert set(sites["function"]) == {"factory", "rnd"}
    for co, g in sites.groupby("company"):  # every company has both functions
        assert set(g["function"]) == {"factory", "rnd"}, co
    for col in ("site_name", "city", "country", "coord_method", "source", "source_date"):
        assert sites[col].notna().all() and (sites[col].astype(str).str.strip() != "").all(), col
    assert sites["source"].str.contains("https://").all()
    assert sites["source_date"].str.fullmatch(r"20\d\d-\d\d").all()
    assert sites["coord_method"].str.contains("geocity.geocode|GeoNames place geonames:\\d+", regex=True).all()
    assert sites["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert sites["lat"].between(-90, 90).all() and sites["lon"].between(-180, 180).all()


def test_vehicle_sites_no_duplicates(sites):
    assert not sites.duplicated(["company", "site_name"]).any()
    assert not sites.duplicated(["company", "function", "site_name", "city"]).any()


def test_vehicle_sites_lie_at_their_city_per_the_geocoder(tmp_path):
    """Each site within 50 km of what geocity's geocoder (or, for a small town
    it leaves ambiguous, the GeoNames record in the row's state) gives for its
    city; and the build reproduces the committed file byte for byte."""
    from geocity._build import vehicle_sites as build
    from geocity._data import data_path

    (out,) = build.build(tmp_path)
    assert out.read_bytes() == data_path("layers", "vehicle_sites.csv").read_bytes()
    rows = pd.read_csv(out, keep_default_na=False).to_dict("records")
    for s, r in zip(build.SITES, rows, strict=True):
        ref = build._geonames(s.city, s.country, s.admin1) if s.admin1 else None
        if ref is None:
            from geocity.geocode import geocode

            g = geocode(pd.DataFrame({"n": [s.query or s.city], "c": [s.country]}), name_col="n", country_col="c")
            lat, lon = float(g["lat"].iloc[0]), float(g["lon"].iloc[0])
        else:
            lat, lon = float(ref["latitude"]), float(ref["longitude"])
        assert float(distance_km(lat, lon, float(r["lat"]), float(r["lon"]))) < 50.0, s.site_name


def test_vehicle_sites_build_refuses_a_repeated_site():
    from geocity._build import vehicle_sites as build

    with pytest.raises(ValidationError, match="duplicate site"):
        build.check((build.SITES[0], build.SITES[0]))


# --------------------------------------------------------------------------
# the airport join
# --------------------------------------------------------------------------
def test_join_distances_are_geodesic_km_and_antimeridian_safe():
    # a point just west of 180° and Taveuni (TVU, Fiji) just east of it: ~10 km, not 360 degrees
    tvu = airports.load_airports().set_index("iata").loc["TVU"]
    assert tvu["lon"] < -179.5
    cities = pd.DataFrame({"city_id": ["x-fj"], "lat": [tvu["lat"]], "lon": [179.95], "country_iso2": ["FJ"]})
    got = airports.city_airports(cities, radius_km=40)
    assert "TVU" in set(got["iata"])
    d = float(got.set_index("iata").loc["TVU", "distance_km"])
    assert d == pytest.approx(float(distance_km(tvu["lat"], 179.95, tvu["lat"], tvu["lon"])), rel=1e-9)
    assert 10 < d < 25
    # Suva and Nadi: NAN is ~130 km from Suva, outside 70 km, inside 150 km
    suva = pd.DataFrame({"city_id": ["suva-fj"], "lat": [-18.14161], "lon": [178.44149], "country_iso2": ["FJ"]})
    assert "NAN" not in set(airports.city_airports(suva)["iata"])
    assert "NAN" in set(airports.city_airports(suva, radius_km=150)["iata"])
    with pytest.raises(ValidationError, match="radius_km"):
        airports.city_airports(suva, radius_km=-1)


def test_join_rule_main_airports(analysis):
    j = analysis.city_airports()
    main = j.loc[j["main"]].set_index("city_id")
    assert j.groupby("city_id")["main"].sum().eq(1).all()  # one main airport per city with airports
    assert (j["distance_km"] <= airports.AIRPORT_RADIUS_KM).all()
    assert main.loc["tokyo-jp", "iata"] == "NRT" and main.loc["tokyo-jp", "rule"].startswith("override")
    assert main.loc["bratislava-sk", "iata"] == "BTS"  # its own country's airport, not Vienna's
    assert main.loc["frankfurt-de", "iata"] == "FRA"
    assert {"LHR", "LGW", "STN"} <= set(j.loc[j["city_id"] == "london-gb", "iata"])  # IATA's multi-airport city
    for cid, (code, _why) in airports.MAIN_AIRPORTS.items():
        assert main.loc[cid, "iata"] == code
    assert "mecca-sa" not in set(j["city_id"])  # Jeddah is farther than 70 km


def test_proxy_ranking(analysis):
    ap = analysis.airports()
    assert len(ap) == airports.TOP_N and ap["iata"].is_unique
    assert list(ap["rank_2019"]) == list(range(1, 101))
    assert (ap["score_source"] == provenance.RANK_PROXY).all()
    assert {"ORD", "ATL", "NRT", "DFW", "DEL"} <= set(ap["iata"].head(12))  # Table 2-6's top cities
    us = ap["country"].isin(["US", "CA"])
    cn = ap["country"].isin(["CN", "HK", "MO", "TW"])
    assert ap.loc[us, "held_up"].all() and not ap.loc[cn, "held_up"].any()
    assert ap.loc[ap["iata"] == "LHR", "held_up"].item()  # London is in Table 2-6
    assert not ap.loc[ap["iata"] == "ZRH", "held_up"].item()
    assert ap.crs.to_epsg() == 4326


# --------------------------------------------------------------------------
# the user's passenger table
# --------------------------------------------------------------------------
def _write(tmp_path, text, name="passengers.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_passenger_table_missing_column(tmp_path):
    with pytest.raises(ValidationError, match="no 'iata' column"):
        airports.read_passengers(_write(tmp_path, "code,value\nLHR,10\n"))
    with pytest.raises(ValidationError, match="no 'value'"):
        airports.read_passengers(_write(tmp_path, "iata,passengers\nLHR,10\n"))
    with pytest.raises(NotFoundError, match="does not exist"):
        airports.read_passengers(tmp_path / "nope.csv")


def test_passenger_table_bad_values_name_the_row(tmp_path):
    p = _write(tmp_path, "iata,value,value_2022\nLHR,100,40\nCDG,lots,20\nFRA,50,-1\n")
    with pytest.raises(ValidationError) as e:
        airports.read_passengers(p)
    msg = str(e.value)
    assert "column 'value'" in msg and "line 3 (CDG)" in msg
    assert "negative" in msg and "line 4 (FRA)" in msg


def test_passenger_table_unknown_and_repeated_iata(tmp_path):
    p = _write(tmp_path, "iata,value\nLHR,100\nLHX,20\nlhr,5\n")
    with pytest.raises(ValidationError) as e:
        airports.read_passengers(p)
    msg = str(e.value)
    assert "unknown IATA" in msg and "line 3 (LHX)" in msg
    assert "repeated IATA" in msg and "line 2 (LHR)" in msg and "line 4 (LHR)" in msg
    df = pd.DataFrame({"iata": ["ORD", "ZZZZ"], "value": [1, 2]})
    with pytest.raises(ValidationError, match=r"index 1 \(ZZZZ\)"):
        airports.read_passengers(df)


def test_passenger_table_is_checked_when_the_analysis_is_made(tmp_path):
    with pytest.raises(ValidationError, match="line 2 \\(QQQ\\)"):
        Analysis(airport_passengers=_write(tmp_path, "iata,value\nQQQ,1\n"))
    with pytest.raises(ValidationError, match="airport_passengers must be"):
        Analysis(airport_passengers=42)


USER = "iata,value,value_2022\nLHR,100,30\nORD,90,80\nPVG,80,10\nDXB,70,60\nSIN,60,20\n"


def test_user_table_ranks_and_held_up_rule(tmp_path):
    a = Analysis(airport_passengers=_write(tmp_path, USER))
    ap = a.airports()
    assert list(ap["iata"]) == ["LHR", "ORD", "PVG", "DXB", "SIN"]
    assert dict(zip(ap["iata"], ap["held_up"], strict=True)) == {
        "LHR": False, "ORD": True, "PVG": False, "DXB": True, "SIN": False}  # value_2022 >= 0.5 x value_2019
    assert (ap["score_source"] == "user").all() and (ap["held_up_source"] == "user").all()
    assert ap.set_index("iata").loc["LHR", "city_id"] == "london-gb"
    assert a.params()["airport_passengers"] == "passengers.csv"


# --------------------------------------------------------------------------
# the proxy label and the plates
# --------------------------------------------------------------------------
def test_proxy_label_present_without_a_table(analysis):
    for name in ("2-13", "2-14"):
        plate = figures.build(name, analysis=analysis)
        assert terms.term("prov_proxy", "en") in _notes(plate), name
        assert f"({terms.term('proxy', 'en')})" in _all_text(plate), name


def test_proxy_label_absent_with_a_table(tmp_path):
    a = Analysis(airport_passengers=_write(tmp_path, USER))
    for name in ("2-13", "2-14"):
        plate = figures.build(name, analysis=a)
        notes = _notes(plate)
        assert "user-supplied" in notes and "passengers.csv" in notes, name
        assert "proxy" not in _all_text(plate).lower(), name
    # a table without 2022 values: 2-14's held-up test is the proxy rule, and the plate says so
    b = Analysis(airport_passengers=_write(tmp_path, "iata,value\nLHR,100\nORD,90\n", "only2019.csv"))
    assert "proxy" not in _all_text(figures.build("2-13", analysis=b)).lower()
    assert terms.term("prov_proxy", "en") in _notes(figures.build("2-14", analysis=b))


def test_catalogue_has_all_sixteen_report_figures():
    names = figures.list_figures()
    report = [f"2-{i}" for i in range(1, 15)] + ["3-1", "3-2"]
    assert all(n in names for n in report)
    assert figures.get_recipe("2-10").title_zh == "全球传统汽车及新能源汽车制造代表性企业布局"
    assert figures.get_recipe("2-13").label_zh == "图 2-13"


@pytest.mark.parametrize("lang", ["en", "zh", "both"])
@pytest.mark.parametrize("name", ["2-10", "2-13", "2-14"])
def test_plates_render(tmp_path, analysis, name, lang):
    from matplotlib_scalebar.scalebar import ScaleBar

    plate = figures.build(name, analysis=analysis, lang=lang)
    p = figures.save_figure(plate, tmp_path / f"{name}_{lang}.png", dpi=30)
    assert p.stat().st_size > 1000
    assert any(lg.get_gid() == "legend" for lg in plate.fig.legends)
    assert any(isinstance(a, ScaleBar) for a in plate.ax.artists)
    assert len([t for t in plate.ax.texts if t.get_gid() == "label"]) >= 5
    text = _all_text(plate)
    has_zh = any("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert has_zh  # the title pair carries both languages on every plate
    if lang == "zh":
        assert ("比亚迪" if name == "2-10" else "机场") in text
    if name == "2-10":
        leg = " ".join(t.get_text() for lg in plate.fig.legends for t in lg.get_texts())
        assert ("Tesla" in leg or "特斯拉" in leg) and "layers/vehicle_sites.csv" in _notes(plate)
