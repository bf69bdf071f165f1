"""The offline geocoder: encodings, bad input, ambiguity; rows are never dropped."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geocity.errors import GeocityError, NotFoundError, ValidationError
from geocity.geocode import geocode, geocode_file, read_table

ROWS = [("北京", "中国"), ("圣地亚哥", "智利"), ("", ""), ("北京", "中国"), ("不存在的城市", ""), ("Santiago", ""),
        ("Lahore", "PK"), ("圣保罗", "巴西")]


def _csv(tmp_path, rows=ROWS, encoding="utf-8", header=("城市", "国家"), name="in.csv"):
    p = tmp_path / name
    text = ",".join(header) + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    p.write_bytes(text.encode(encoding))
    return p


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return geocode_file(_csv(tmp_path_factory.mktemp("g"), encoding="gbk"), name_col="城市", country_col="国家")


def test_gbk_detected(result):
    assert result.attrs["encoding"] == "gb18030"
    assert result["城市"].tolist() == [r[0] for r in ROWS]


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_utf8_detected(tmp_path, encoding, expected):
    df, used = read_table(_csv(tmp_path, encoding=encoding))
    assert used == expected
    assert list(df.columns) == ["城市", "国家"] and df["城市"].iloc[1] == "圣地亚哥"


def test_explicit_encoding(tmp_path):
    p = _csv(tmp_path, encoding="gbk")
    df, used = read_table(p, encoding="gbk")
    assert used == "gbk" and df["城市"].iloc[0] == "北京"
    with pytest.raises(ValidationError, match="not valid utf-8"):
        read_table(p, encoding="utf-8")
    with pytest.raises(ValidationError, match="unknown encoding"):
        read_table(p, encoding="no-such-codec")


def test_rows_kept_in_order(result):
    assert len(result) == len(ROWS)
    assert result.crs.to_epsg() == 4326
    assert result["match"].tolist() == ["exact", "exact", "unmatched", "exact", "unmatched", "ambiguous", "exact",
                                        "exact"]
    assert result["city_id"].tolist()[:2] == ["beijing-cn", "santiago-cl"]
    placed = result["match"].isin(["exact", "alias"])
    assert result.geometry[placed].notna().all() and result.geometry[~placed].isna().all()
    assert result.loc[~placed, "lat"].isna().all()


def test_empty_unknown_duplicate_reported(result):
    rep = "\n".join(result.attrs["report"])
    assert "line 4: empty name" in rep
    assert "line 6: '不存在的城市' not found" in rep
    assert "line 2, line 5: duplicate name '北京'" in rep
    assert "line 7: 'Santiago' is ambiguous" in rep
    assert result.attrs["counts"] == {"exact": 5, "alias": 0, "ambiguous": 1, "unmatched": 2}


def test_ambiguous_candidates(result):
    cands = result.loc[5, "candidates"]
    assert "santiago-cl" in cands and "santiago-cu" in cands
    assert math.isnan(result.loc[5, "lat"])
    out = geocode(pd.DataFrame({"n": ["Santiago", "Santiago", "Hyderabad", "Tripoli", "San Jose"],
                                "c": ["Cuba", "CL", "印度", "Libya", "USA"]}), name_col="n", country_col="c")
    assert out["city_id"].tolist() == ["santiago-cu", "santiago-cl", "hyderabad-in", "tripoli-ly", "san-jose-us"]
    assert (out["match"] != "ambiguous").all()


def test_aliases_and_gazetteer():
    out = geocode(pd.DataFrame({"n": ["Sao Paulo", "Kandygash", "oakland", "Luoyang", "洛阳", "Springfield"]}),
                  name_col="n")
    assert out["match"].tolist() == ["alias", "alias", "exact", "exact", "alias", "ambiguous"]
    assert out["city_id"].tolist()[:3] == ["sao-paulo-br", "kandyagash-kz", "oakland-us"]
    assert out["coord_source"].iloc[3] == out["coord_source"].iloc[4] and out["coord_source"].iloc[3].startswith(
        "geonames:")
    assert abs(out["lat"].iloc[3] - 34.67) < 0.1


def test_gazetteer_alias_finds_report_city():
    out = geocode(pd.DataFrame({"n": ["Bombay", "Peking", "Saigon"]}), name_col="n")
    assert out["city_id"].tolist() == ["mumbai-in", "beijing-cn", "ho-chi-minh-vn"]
    assert out["match"].tolist() == ["alias"] * 3


def test_unknown_country_reported():
    out = geocode(pd.DataFrame({"n": ["Lahore"], "c": ["Atlantis"]}), name_col="n", country_col="c")
    assert out["city_id"].iloc[0] == "lahore-pk"
    assert "unknown country 'Atlantis'" in out.attrs["report"][0]


def test_missing_column(tmp_path):
    with pytest.raises(NotFoundError, match=r"\['city'\] not in the table.*城市"):
        geocode_file(_csv(tmp_path), name_col="city")
    with pytest.raises(NotFoundError, match="nation"):
        geocode(pd.DataFrame({"n": ["x"]}), name_col="n", country_col="nation")


def test_column_clash():
    with pytest.raises(ValidationError, match="lat"):
        geocode(pd.DataFrame({"n": ["Lahore"], "lat": ["1"]}), name_col="n")


def test_unreadable_files(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(ValidationError, match="folder"):
        read_table(tmp_path)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValidationError, match="empty"):
        read_table(empty)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"name\n\xff\xff\xff\xfe\n")
    with pytest.raises(ValidationError, match="neither UTF-8 nor GB18030"):
        read_table(garbage)
    for exc in (NotFoundError, ValidationError):
        assert issubclass(exc, GeocityError)


def test_not_a_dataframe():
    with pytest.raises(ValidationError, match="DataFrame"):
        geocode(["Beijing"], name_col="n")


def test_latin1_not_taken_for_gbk(tmp_path):
    """Windows-1252 bytes also decode as GB18030 ("São" -> "S鉶"): refuse to guess, name the line."""
    p = tmp_path / "latin.csv"
    p.write_bytes("name\nSão Paulo\nZürich\n".encode("cp1252"))
    with pytest.raises(ValidationError, match=r"line 2 reads 'S鉶 Paulo'.*'São Paulo' as Windows-1252.*cp1252"):
        read_table(p)
    df, used = read_table(p, encoding="cp1252")
    assert used == "cp1252" and df["name"].tolist() == ["São Paulo", "Zürich"]
    # real GBK text with Latin letters around it is still detected as GB18030
    g = tmp_path / "gbk.csv"
    g.write_bytes("name,note\n北京,GDP第一\n广州,A股\n".encode("gbk"))
    assert read_table(g)[1] == "gb18030"


def test_semicolon_and_ragged_rows(tmp_path):
    p = tmp_path / "semi.csv"
    p.write_bytes("城市;国家\n北京;中国\n;\nLondon;GB\n".encode("utf-8"))
    out = geocode_file(p, name_col="城市", country_col="国家")
    assert out["city_id"].tolist() == ["beijing-cn", "", "london-gb"]
    ragged = tmp_path / "ragged.csv"
    ragged.write_bytes(b"name,country\nBeijing,CN,extra,cells\nLondon\n")
    with pytest.raises(ValidationError, match=r"more cells than the header's 2.*line 2 \(4 cells\)"):
        read_table(ragged)
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'name,country\n"Washington, D.C.",US\nLondon\n')
    df, _ = read_table(quoted)
    assert df["name"].tolist() == ["Washington, D.C.", "London"] and df["country"].tolist() == ["US", ""]


def test_no_name_column_lists_columns():
    with pytest.raises(ValidationError, match=r"no name column given.*\['city', 'country'\]"):
        geocode(pd.DataFrame({"city": ["Lahore"], "country": ["PK"]}), name_col=None)


@pytest.mark.parametrize("forced, misread", [("gbk", "鍖椾含"), ("gb18030", "鍖椾含"), ("cp1252", "SÃ£o Paulo"),
                                             ("latin-1", "SÃ£o Paulo")])
def test_forced_encoding_on_utf8_file_refused(tmp_path, forced, misread):
    """A UTF-8 file decodes without error as GBK or Latin-1, into mojibake that matches nothing: refuse."""
    p = tmp_path / "u8.csv"
    p.write_bytes("name\nLondon\n北京\nSão Paulo\n".encode("utf-8"))
    with pytest.raises(ValidationError, match=rf"u8.csv is valid UTF-8.*forced encoding '{forced}'.*line 3"
                                              r".*drop --encoding") as exc:
        read_table(p, encoding=forced)
    assert "'北京' in UTF-8" in str(exc.value)
    if forced.startswith("gb"):
        assert misread in str(exc.value)
    # the same bytes with a BOM, and forcing UTF-8 itself, are fine
    assert read_table(p, encoding="utf-8")[0]["name"].tolist() == ["London", "北京", "São Paulo"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    with pytest.raises(ValidationError, match="is valid UTF-8"):
        read_table(bom, encoding=forced)
    assert read_table(bom, encoding="utf-8-sig")[0]["name"].iloc[1] == "北京"
    # pure ASCII reads the same in every one of these codecs: accepted as forced
    ascii_ = tmp_path / "ascii.csv"
    ascii_.write_bytes(b"name\nLondon\nLahore\n")
    df, used = read_table(ascii_, encoding=forced)
    assert used == forced and df["name"].tolist() == ["London", "Lahore"]


def test_forced_gbk_on_utf8_file_cli(runner, tmp_path):
    from geocity.cli.main import cli

    p = tmp_path / "u8.csv"
    p.write_bytes("城市\n北京\n".encode("utf-8"))
    out = tmp_path / "o.gpkg"
    res = runner.invoke(cli, ["geocode", str(p), "--name-col", "城市", "--encoding", "gbk", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "is valid UTF-8" in res.output and "'鍩庡競' in gbk" in res.output and "drop --encoding" in res.output
    assert "Traceback" not in res.output and not out.exists()
    # UTF-8 bytes that are not even valid GBK: the decoding error also says the file is UTF-8
    p.write_bytes("城市,国家\n北京,中国\n".encode("utf-8"))
    res = runner.invoke(cli, ["geocode", str(p), "--name-col", "城市", "--encoding", "gbk", "-o", str(out)])
    assert res.exit_code == 1 and "not valid gbk" in res.output
    assert "the file is valid UTF-8: drop --encoding" in res.output
    res = runner.invoke(cli, ["geocode", str(p), "--name-col", "城市", "-o", str(out)])
    assert res.exit_code == 0 and "as utf-8" in res.output and "1 exact" in res.output


# --------------------------------------------------------------------------- spellings and namesakes


@pytest.mark.parametrize("name, city_id", [
    ("Kyaukphyu", "kyaukpuyu-mm"), ("Kyaukpuyu", "kyaukpuyu-mm"), ("Kyaukpyu", "kyaukpuyu-mm"),
    ("皎漂", "kyaukpuyu-mm"), ("Dukam", "dukem-et"), ("Calcutta", "kolkata-in"), ("Xilin Gol", "xilingol-cn"),
    ("Dongdang", "dong-dang-vn"),
    ("Nay Pyi Daw", "naypyidaw-mm"), ("Djibouti City", "djibouti-dj"),
    ("Ho Chi Minh City", "ho-chi-minh-vn"), ("Saigon", "ho-chi-minh-vn"), ("Xi'an", "xi-an-cn"), ("Xian", "xi-an-cn"),
    ("Ulan Bator", "ulan-bator-mn"), ("Ulaanbaatar", "ulan-bator-mn"), ("Bombay", "mumbai-in"),
    ("Mumbai", "mumbai-in"), ("Almaty", "almaty-kz"), ("Alma-Ata", "almaty-kz"), ("Astana", "astana-kz"),
    ("Nur-Sultan", "astana-kz"), ("Kiev", "kyiv-ua"), ("Kyiv", "kyiv-ua"), ("Hanoi", "hanoi-vn"),
    ("Ha Noi", "hanoi-vn"), ("Rangoon", "yangon-mm"), ("Yangon", "yangon-mm"), ("Peking", "beijing-cn"),
])
def test_alternative_spellings_find_the_report_city(name, city_id):
    out = geocode(pd.DataFrame({"n": [name]}), name_col="n")
    assert out["city_id"].iloc[0] == city_id
    assert out["match"].iloc[0] in ("exact", "alias") and out.geometry.notna().all()


def test_variants_have_sources_and_known_cities():
    from geocity.geocode import _REPORT_VARIANTS, _VARIANTS
    from geocity.layers import load

    ids = set(load("cities")["city_id"])
    assert _REPORT_VARIANTS == {k: v[0] for k, v in _VARIANTS.items()}
    for spelling, (city_id, source) in _VARIANTS.items():
        assert city_id in ids, spelling
        assert len(source) > 30, spelling


def test_exonym_not_taken_for_a_smaller_namesake():
    """"St Petersburg" is GeoNames' primary name of the Florida city and an alternate of the Russian one:
    the report city is placed, the Florida city is its namesake."""
    out = geocode(pd.DataFrame({"n": ["St Petersburg", "St. Petersburg", "Saint Petersburg", "St. Petersburg"],
                                "c": ["", "", "", "US"]}), name_col="n", country_col="c")
    assert out["city_id"].tolist() == ["saint-petersburg-ru"] * 3 + [""]
    assert out["match"].tolist() == ["ambiguous", "ambiguous", "exact", "exact"]
    assert "St. Petersburg, US" in out.loc[0, "candidates"]
    assert out.loc[3, "coord_source"] == "geonames:4171563" and abs(out.loc[3, "lat"] - 27.77) < 0.01


def test_report_city_with_namesakes_is_placed_but_ambiguous():
    names = ["Victoria", "Perth", "Brest", "Victoria", "Perth", "Brest", "Kansas City", "Fuzhou", "维多利亚"]
    countries = ["", "", "", "SC", "Australia", "BY", "", "", ""]
    out = geocode(pd.DataFrame({"n": names, "c": countries}), name_col="n", country_col="c")
    assert out["city_id"].tolist() == ["victoria-sc", "perth-au", "brest-by"] * 2 + [
        "kansas-city-us", "fuzhou-cn", "victoria-sc"]
    assert out["match"].tolist() == ["ambiguous"] * 3 + ["exact"] * 3 + ["exact", "ambiguous", "exact"]
    # placed at the report's city, exactly as with the country given
    assert out.geometry.notna().all()
    np.testing.assert_array_equal(out["lat"].iloc[:3].to_numpy(), out["lat"].iloc[3:6].to_numpy())
    assert (out["coord_source"].iloc[:3].to_numpy() == out["coord_source"].iloc[3:6].to_numpy()).all()
    # the report's city first, then the namesakes, most populous first
    for i, first, namesake in [(0, "victoria-sc: Victoria, SC", "Victoria, CA (48.43590, -123.35155), pop 289625"),
                               (1, "perth-au: Perth, AU", "geonames:2640358: Perth, GB"),
                               (2, "brest-by: Brest, BY", "geonames:3030300: Brest, FR")]:
        parts = out.loc[i, "candidates"].split(" | ")
        assert parts[0].startswith(first) and parts[0].endswith("(placed)")
        assert any(namesake in p for p in parts[1:])
    assert out.loc[0, "candidates"].split(" | ")[1].startswith("geonames:1931681: Victoria, HK")
    assert (out["candidates"].iloc[3:7] == "").all()
    rep = "\n".join(out.attrs["report"])
    assert "index 1: 'Perth' is ambiguous: placed at the report's perth-au" in rep
    assert "(largest: Perth, GB, pop 47350); add a country column to decide" in rep
    assert "index 0: 'Victoria' is ambiguous: placed at the report's victoria-sc" in rep
    # Kansas City, Kansas is 5 km from Kansas City, Missouri: the same place on a map
    assert "Kansas City" not in rep
    # both Fuzhous are in China: a country column would not decide
    assert "index 7: 'Fuzhou' is ambiguous" in rep and "all in the same country, so check the candidates" in rep
    assert out.attrs["counts"] == {"exact": 5, "alias": 0, "ambiguous": 4, "unmatched": 0}


def test_namesake_threshold(monkeypatch):
    """Perth, Scotland has 1/50 of Perth, Western Australia's population: flagged at the factor 100, not at 10."""
    import geocity.geocode as gc

    assert gc.NAMESAKE_RATIO == 100 and gc.NAMESAKE_MIN_KM == 25
    monkeypatch.setattr(gc, "NAMESAKE_RATIO", 10.0)
    out = geocode(pd.DataFrame({"n": ["Perth", "Brest"]}), name_col="n")
    assert out["match"].tolist() == ["exact", "ambiguous"]


def test_namesake_counts_in_docstring():
    """The module docstring's numbers: report cities flagged when given by bare name, without a country."""
    import geocity.geocode as gc
    from geocity.layers import load, strip_qualifier

    assert "84 of the 516 report" in gc.__doc__ and "the Chinese names flag 37" in gc.__doc__
    cities = load("cities")
    for col, n in (("name_en", 84), ("name_zh", 37)):
        out = geocode(pd.DataFrame({"n": [strip_qualifier(x) for x in cities[col]]}), name_col="n")
        placed_ambiguous = (out["match"] == "ambiguous") & (out["city_id"] != "")
        assert int(placed_ambiguous.sum()) == n, col
        # never another city: flagged rows keep the report's city
        assert (out.loc[placed_ambiguous, "city_id"] == cities.loc[placed_ambiguous, "city_id"]).all()


def test_namesakes_cli(runner, tmp_path):
    from geocity.cli.main import cli

    src = tmp_path / "in.csv"
    src.write_bytes(b"city,country\nPerth,\nPerth,AU\n")
    out = tmp_path / "out.gpkg"
    res = runner.invoke(cli, ["geocode", str(src), "--name-col", "city", "--country-col", "country", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: line 2: 'Perth' is ambiguous: placed at the report's perth-au" in res.output
    assert "1 exact, 0 alias, 1 ambiguous, 0 unmatched" in res.output
    import pyogrio

    back = pyogrio.read_dataframe(out)
    assert back["match"].tolist() == ["ambiguous", "exact"] and back.geometry.notna().all()
    assert back["city_id"].tolist() == ["perth-au", "perth-au"] and "Perth, GB" in back["candidates"].iloc[0]
