"""The geocoder is never silently wrong (issue 11, part 5b).

Two defects, each pinned here through the Python API and the CLI:

* ``Springfield`` with country ``US`` was placed ``exact`` at Springfield,
  Missouri (170,188 people), although Springfield, Massachusetts (154,341) is
  nearly as large. A GeoNames name that stays ambiguous *with* its country is
  now ``ambiguous``, unplaced, with its candidates -- the rule used without a
  country, within the country, where records less than 25 km apart are one
  place. The report's own cities given with their country stay as they were.
* A file mixing UTF-8 and GBK lines was read as GB18030 and turned the UTF-8
  line "北京" into "鍖椾含". :mod:`geocity._text` (used by the geocoder and by
  :func:`geocity.export.read`) now refuses such a file, naming the first line
  of each encoding and the fix. Pure GBK files (also those with lines that are
  valid UTF-8 by accident) and pure UTF-8 files, with or without BOM, read as
  before.
"""

from __future__ import annotations

import math

import pandas as pd
import pyogrio
import pytest

from geocity.errors import ValidationError
from geocity.geocode import geocode, geocode_file, read_table

SPRINGFIELD_MO, SPRINGFIELD_MA = "geonames:4409896", "geonames:4951788"


def _one(name: str, country: str):
    return geocode(pd.DataFrame({"n": [name], "c": [country]}), name_col="n", country_col="c")


# --------------------------------------------------------------------------- ambiguity within a country


@pytest.mark.parametrize("country", ["US", "USA", "United States", "美国"])
def test_name_ambiguous_within_its_country_is_not_placed(country):
    """Before: ``exact`` at Springfield, Missouri, with no candidates and no report line."""
    out = _one("Springfield", country)
    row = out.iloc[0]
    assert row["match"] == "ambiguous"
    assert math.isnan(row["lat"]) and math.isnan(row["lon"]) and out.geometry.isna().all()
    assert row["city_id"] == "" and row["coord_source"] == ""
    parts = row["candidates"].split(" | ")
    assert parts[0].startswith(f"{SPRINGFIELD_MO}: Springfield, US (37.21533, -93.29824), pop 170188")
    assert parts[1].startswith(f"{SPRINGFIELD_MA}: Springfield, US (42.10148, -72.58981), pop 154341")
    assert len(parts) == 8 and all(", US (" in p for p in parts)
    (line,) = out.attrs["report"]
    assert line.startswith("index 0: 'Springfield' is ambiguous: 8 places of that name in US")
    assert "pop 170188" in line and "pop 154341" in line and "pick one of the candidates" in line
    assert "add a country column" not in line  # the row has one
    assert out.attrs["counts"] == {"exact": 0, "alias": 0, "ambiguous": 1, "unmatched": 0}


def test_ambiguous_within_country_like_without_country():
    """The same candidates format and the same unplaced row as the no-country rule."""
    out = geocode(pd.DataFrame({"n": ["Springfield", "Springfield", "Columbus", "Dublin"],
                                "c": ["", "US", "US", "US"]}), name_col="n", country_col="c")
    assert out["match"].tolist() == ["ambiguous"] * 4
    assert out.geometry.isna().all()
    assert SPRINGFIELD_MO in out.loc[0, "candidates"] and SPRINGFIELD_MO in out.loc[1, "candidates"]


@pytest.mark.parametrize("name, country, source", [
    ("Luoyang", "CN", "geonames:1801792"),  # 1,390,581 people against 123,144: dominates
    ("London", "CA", "geonames:6058560"),  # the only London in Canada
    ("Springfield", "GB", "geonames:2637194"),
    # Texarkana TX/AR and La Ceiba are two records 2-6 km apart: one place, not a rival
    ("Texarkana", "US", None),
    ("La Ceiba", "HN", None),
])
def test_dominant_or_single_place_in_country_stays_exact(name, country, source):
    out = _one(name, country)
    assert out["match"].iloc[0] == "exact", out.attrs["report"]
    assert out.geometry.notna().all() and out["candidates"].iloc[0] == "" and out.attrs["report"] == []
    if source:
        assert out["coord_source"].iloc[0] == source


@pytest.mark.parametrize("col", ["name_en", "name_zh"])
@pytest.mark.parametrize("country", ["country_iso2", "country_name"])
def test_report_cities_with_their_country_unchanged(col, country):
    """All 516 report cities, given by name and their own country, stay ``exact`` at the layer's point
    (including Portland, Washington, Kingston and the other reviewed overrides, and Suzhou/Fuzhou,
    which have large namesakes in China)."""
    from geocity.layers import load, strip_qualifier

    cities = load("cities")
    out = geocode(pd.DataFrame({"n": [strip_qualifier(x) for x in cities[col]], "c": cities[country]}),
                  name_col="n", country_col="c")
    assert out.attrs["counts"] == {"exact": 516, "alias": 0, "ambiguous": 0, "unmatched": 0}
    assert out["city_id"].tolist() == cities["city_id"].tolist()
    assert out["coord_source"].tolist() == cities["coord_source"].tolist()
    assert (out["lat"].to_numpy() == cities["lat"].to_numpy()).all()


def test_within_country_counts_in_docstring():
    """The module docstring's numbers: the namesake rule within the country would flag 27 report
    cities (so it is not applied to them); 771 of GeoNames' 869 repeated (name, country) pairs are
    ambiguous with the country given."""
    import geocity.geocode as gc
    from geocity import _gazetteer as gz
    from geocity.layers import load, strip_qualifier

    doc = " ".join(gc.__doc__.split())
    assert "would flag 27 of the 516 report cities" in doc
    assert "Of the 869 primary names that GeoNames' cities15000 has more than once in one country, 771" in doc
    cities = load("cities")
    flagged = [c.city_id for c in cities.itertuples()
               if any(r["countrycode"] == c.country_iso2 for r, _ in gc._namesakes(strip_qualifier(c.name_en), c))]
    assert len(flagged) == 27 and {"suzhou-cn", "fuzhou-cn", "portland-us"} <= set(flagged)
    groups: dict = {}
    for r in gz._dataset(15000)[0].values():
        groups.setdefault((gz.norm(r["name"]), r["countrycode"]), []).append(r)
    pairs = [(max(rs, key=lambda r: (r["population"], -int(r["geonameid"])))["name"], iso)
             for (_, iso), rs in groups.items() if len(rs) > 1]
    assert len(pairs) == 869
    out = geocode(pd.DataFrame(pairs, columns=["n", "c"]), name_col="n", country_col="c")
    assert out.attrs["counts"]["ambiguous"] == 771


def test_springfield_cli(runner, tmp_path):
    """The CLI keeps the row, unplaced, and says why on stderr."""
    from geocity.cli.main import cli

    src = tmp_path / "in.csv"
    src.write_bytes(b"city,country\nSpringfield,US\nLuoyang,CN\n")
    out = tmp_path / "out.gpkg"
    res = runner.invoke(cli, ["geocode", str(src), "--name-col", "city", "--country-col", "country",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "warning: line 2: 'Springfield' is ambiguous: 8 places of that name in US" in res.output
    assert "1 exact, 0 alias, 1 ambiguous, 0 unmatched" in res.output
    back = pyogrio.read_dataframe(out)
    assert back["match"].tolist() == ["ambiguous", "exact"]
    assert back.geometry.isna().tolist() == [True, False]
    assert SPRINGFIELD_MA in back["candidates"].iloc[0]


# --------------------------------------------------------------------------- mixed encodings


def _mixed(tmp_path, parts, name="mixed.csv", eol="\n"):
    """A file of (text, encoding) lines."""
    p = tmp_path / name
    p.write_bytes(b"".join((t + eol).encode(enc) for t, enc in parts))
    return p


def test_mixed_utf8_line_in_gbk_file_refused(tmp_path):
    """Before: read as GB18030, line 3 came back as '鍖椾含'."""
    p = _mixed(tmp_path, [("城市,国家", "gbk"), ("上海,中国", "gbk"), ("北京,中国", "utf-8"), ("广州,中国", "gbk")])
    with pytest.raises(ValidationError) as exc:
        read_table(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p} mixes text encodings: line 3 is UTF-8 ('北京,中国'")
    assert "but line 1 is not UTF-8 (as GB18030/GBK it reads '城市,国家')" in msg
    assert "鍖椾含" in msg and "re-save the file as UTF-8" in msg
    assert "\n" not in msg
    with pytest.raises(ValidationError, match="mixes text encodings"):
        geocode_file(p, name_col="城市", country_col="国家")


def test_mixed_gbk_line_in_utf8_file_refused(tmp_path):
    """GBK lines appended to a UTF-8 file, CRLF line ends: 1-based line numbers as an editor shows them."""
    rows = [("city", "utf-8")] + [("Lahore", "utf-8")] * 30 + [("São Paulo", "utf-8"), ("Zürich", "utf-8")]
    rows += [("London", "utf-8")] * 5 + [("北京", "gbk"), ("上海", "gbk")]
    p = _mixed(tmp_path, rows, eol="\r\n")
    with pytest.raises(ValidationError, match=r"line 32 is UTF-8 \('São Paulo'.*but line 39 is not UTF-8 "
                                              r"\(as GB18030/GBK it reads '北京'\)"):
        read_table(p)


def test_bom_file_with_gbk_lines_refused(tmp_path):
    """Before: a raw UnicodeDecodeError (a traceback in the CLI)."""
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbf" + "城市\n北京\n".encode("utf-8") + "上海\n".encode("gbk"))
    with pytest.raises(ValidationError, match=r"mixes text encodings: "
                                              r"line 1 is UTF-8 \('城市'.*but line 3 is not UTF-8.*'上海'"):
        read_table(p)
    p.write_bytes(b"\xef\xbb\xbf" + "name\n".encode("utf-8") + "上海\n".encode("gbk"))
    with pytest.raises(ValidationError, match=r"starts with a UTF-8 byte-order mark, but line 2 is not UTF-8"):
        read_table(p)


def test_bad_utf16_refused(tmp_path):
    """Before: a raw UnicodeDecodeError."""
    p = tmp_path / "u16.csv"
    p.write_bytes(b"\xff\xfe" + "name\n".encode("utf-16-le") + b"\x00\xd8\n\x00")  # a lone surrogate
    with pytest.raises(ValidationError, match="UTF-16 byte-order mark but is not valid UTF-16"):
        read_table(p)


def test_mixed_refused_by_export_read(tmp_path):
    """Every reader of users' tables shares the check (geocity._text)."""
    from geocity import export

    p = _mixed(tmp_path, [("name,lat,lon", "utf-8"), ("北京,39.9,116.4", "utf-8"), ("上海,31.2,121.5", "gbk")])
    with pytest.raises(ValidationError, match=r"line 2 is UTF-8 \('北京,39.9,116.4'.*line 3 is not UTF-8"):
        export.read(p)


def test_mixed_cli(runner, tmp_path):
    from geocity.cli.main import cli

    p = _mixed(tmp_path, [("城市", "gbk"), ("北京", "utf-8")])
    out = tmp_path / "o.gpkg"
    res = runner.invoke(cli, ["geocode", str(p), "--name-col", "城市", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "mixes text encodings" in lines[0]
    assert "line 2 is UTF-8 ('北京'" in lines[0] and "line 1 is not UTF-8" in lines[0]
    assert "re-save the file as UTF-8" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == [p]


def test_forced_encoding_is_the_way_out(tmp_path):
    """A forced encoding is taken as given (no mixed check): the user decides."""
    p = _mixed(tmp_path, [("城市", "gbk"), ("北京", "utf-8")])
    df, used = read_table(p, encoding="gb18030")
    assert used == "gb18030" and df["城市"].tolist() == ["鍖椾含"]


# --------------------------------------------------------------------------- counter-cases


def test_pure_gbk_report_names_still_read(tmp_path):
    """All 516 Chinese report names in one GBK file: 4 of them (纽约, 千叶, 太原, 芽庄) are valid UTF-8
    by accident ('ŦԼ', ...), which must not make the file 'mixed'."""
    from geocity.layers import load

    names = load("cities")["name_zh"].tolist()
    accidental = [n for n in names if _valid_utf8(n.encode("gbk"))]
    assert {"纽约", "千叶", "太原", "芽庄"} <= set(accidental)
    p = tmp_path / "gbk.csv"
    p.write_bytes(("城市\n" + "\n".join(names) + "\n").encode("gbk"))
    df, used = read_table(p)
    assert used == "gb18030" and df["城市"].tolist() == names
    # an accidental line first, before any line that is not UTF-8
    p.write_bytes(("纽约\n" + "\n".join(names) + "\n").encode("gbk"))
    assert read_table(p)[1] == "gb18030"


def _valid_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not b.isascii()


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("gbk", "gb18030"), ("gb18030", "gb18030")])
def test_pure_files_still_read(tmp_path, encoding, expected):
    names = ["北京", "Lahore", "纽约", "太原"] + (["São Paulo", "Zürich"] if encoding != "gbk" else [])
    p = tmp_path / "pure.csv"
    p.write_bytes(("城市,国家\n" + "".join(f"{n},x\n" for n in names)).encode(encoding))
    df, used = read_table(p)
    assert used == expected
    assert df["城市"].tolist() == names


def test_reads_as_text():
    from geocity._text import _reads_as_text

    for real in ("北京", "São Paulo", "Zürich", "Đà Nẵng", "Москва", "Ji’an", "H̱olon", "東京都"):
        assert _reads_as_text(real), real
    for name in ("纽约", "千叶", "太原", "芽庄", "沙漠山", "茅台"):
        b = name.encode("gbk")
        if _valid_utf8(b):
            assert not _reads_as_text(b.decode("utf-8")), name
