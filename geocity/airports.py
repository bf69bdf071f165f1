"""Airports of the report's cities, and the top-100 airports of Figures 2-13
and 2-14 (international transit passengers, 2019 Q1, and the hubs whose
transit function held up in 2022 Q1).

Airport locations come from the ``airportsdata`` package (PyPI, MIT licence:
IATA/ICAO codes, names, WGS 84 coordinates; read offline). It has no size or
service-type field, so which airports count is decided here, by a documented
rule; the passenger figures behind the report's plates are not published, so
they come from the user's table (:func:`read_passengers`) or, failing that,
from a labelled rank proxy (:func:`airport_ranking`).

The join (:func:`city_airports`)
--------------------------------
An airport is a candidate for a city when it has an IATA code, its name does
not mark it as military, a heliport, a seaplane base or an airfield
(``EXCLUDED``), and it lies within :data:`AIRPORT_RADIUS_KM` (70 km; Narita is 66 km from Tokyo's point) of
the city's point, measured on the WGS 84 ellipsoid (geodesic, so the
antimeridian is no edge: Suva and Nadi, Fiji, are 130 km apart whichever side
of ±180° one looks from). The **city's airports** are the candidates whose
name says "International" (or "Intl"), those IATA lists under a
multi-airport city code (``airportsdata.load_iata_macs``) and the city's main
airport. The **main airport** is, in order: the city's entry in
:data:`MAIN_AIRPORTS` (a short reviewed table of gateways that the distance
rule would miss, each with its reason), else the nearest candidate in the
city's own country whose name says "International", else the nearest
candidate in the country, else the nearest "International" one, else the
nearest (Bratislava keeps its own airport, not Vienna's 40 km away). In the
proxy ranking an airport serving two cities counts once, for the better
ranked city.

Passenger values
----------------
* **User table** (``Analysis(airport_passengers=...)``): CSV or DataFrame with
  ``iata`` and ``value`` (2019 Q1 international transit passengers; or
  ``value_2019``) and optionally ``value_2022`` (2022 Q1). Every airport of
  the table is ranked; Figure 2-13 shows the top :data:`TOP_N`. An airport
  "held up" (Figure 2-14) when ``value_2022 >= RESILIENT_SHARE * value_2019``
  (:data:`RESILIENT_SHARE` = 0.5: it kept at least half of its 2019 Q1
  transit traffic; geocity's threshold, not the report's). Values are
  ``score_source == "user"``.
* **Proxy** (no table): each report city's main airport gets the rank-size
  proxy ``t(r) = r^-0.5`` (:func:`geocity.scores.rank_score`) of the city's
  best rank among the lists on air connectivity the report publishes: Table
  2-6 (airline transport service), Table 2-8's connectivity column and the
  GDCI; unranked cities the base score. The top :data:`TOP_N` by that value
  (ties: better GDCI rank, then city_id) stand for the 2019 Q1 top 100. An
  airport "held up" in 2022 Q1 when section 2.4's text says so of its
  region: "the international transit hubs in North America show significant
  resilience" (US, CA), or its city is in Table 2-6 (the 2022 airline top 20)
  and not a Chinese city ("the performance of Chinese cities is in clear
  decline": CN, HK, MO, TW as the report names them); Western Europe
  "rebounds slowly", so only its Table 2-6 cities count. These values carry
  ``score_source == "rank-proxy"``, so :mod:`geocity.provenance` labels them
  — the one place that decides the word "proxy".
"""

from __future__ import annotations

import difflib
import functools
import re
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _validate
from .errors import NotFoundError, ValidationError

__all__ = ["AIRPORT_RADIUS_KM", "TOP_N", "RESILIENT_SHARE", "MAIN_AIRPORTS", "load_airports", "city_airports",
           "read_passengers", "airport_ranking", "source_note"]

#: Largest distance from a city's point to one of its airports, km (on the ellipsoid).
AIRPORT_RADIUS_KM: float = 70.0
#: Airports per plate (the report's "TOP100").
TOP_N: int = 100
#: Share of its 2019 Q1 value an airport keeps in 2022 Q1 to count as "held up" (user tables).
RESILIENT_SHARE: float = 0.5
#: Names marking an airport that is not a passenger airport.
EXCLUDED = re.compile(r"\b(?:air ?base|afb|heliport|helipad|seaplane|naval|army|air force|military|airfield|"
                      r"air station|airstrip)\b", re.IGNORECASE)
_INTERNATIONAL = re.compile(r"\bint(?:ernationa)?l\b|\bint'l\b", re.IGNORECASE)
#: Regions whose hubs section 2.4 calls resilient, and "Chinese cities" as the report names them.
NORTH_AMERICA = frozenset({"US", "CA"})
CHINA = frozenset({"CN", "HK", "MO", "TW"})

#: city_id -> (IATA, reason): the city's main international gateway where the
#: distance rule above would pick a nearer airport of mostly domestic or
#: general traffic. Facts on 2019 traffic (ACI World, *World Airport Traffic
#: Report 2019*; the airports' own 2019 statistics).
MAIN_AIRPORTS: dict[str, tuple[str, str]] = {
    "tokyo-jp": ("NRT", "Narita carried most of Tokyo's international passengers in 2019; Haneda is nearer"),
    "shanghai-cn": ("PVG", "Pudong is Shanghai's international hub; Hongqiao is nearer, mostly domestic"),
    "london-gb": ("LHR", "Heathrow, London's hub; London City is nearer"),
    "new-york-us": ("JFK", "JFK, New York's main international gateway; LaGuardia and Newark are nearer"),
    "seoul-kr": ("ICN", "Incheon, Seoul's international hub; Gimpo is nearer, mostly domestic"),
    "chicago-us": ("ORD", "O'Hare, Chicago's hub; Midway is nearer"),
    "stockholm-se": ("ARN", "Arlanda, Stockholm's international airport; Bromma is nearer"),
    "seattle-us": ("SEA", "Seattle–Tacoma; Boeing Field (King County International) is nearer"),
    "osaka-jp": ("KIX", "Kansai, Osaka's international airport; Itami is nearer, domestic"),
    "jakarta-id": ("CGK", "Soekarno–Hatta, Jakarta's hub; Halim Perdanakusuma is nearer"),
    "brussels-be": ("BRU", "Brussels Airport (Zaventem); Antwerp is nearer by the rule"),
    "moscow-ru": ("SVO", "Sheremetyevo, Moscow's largest international airport; Ostafyevo is as near"),
    "kuala-lumpur-my": ("KUL", "KLIA, Kuala Lumpur's hub; Subang is nearer"),
    "bangkok-th": ("BKK", "Suvarnabhumi, Bangkok's hub; Don Mueang is nearer, low-cost"),
    "detroit-us": ("DTW", "Detroit Metropolitan Wayne County; Oakland County International is general aviation"),
}


# --------------------------------------------------------------------------
# airport locations
# --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _airports() -> pd.DataFrame:
    try:
        import airportsdata
    except ImportError as exc:  # pragma: no cover - an install dependency
        from .errors import DependencyError

        raise DependencyError("airportsdata is not installed; pip install airportsdata") from exc
    rows = list(airportsdata.load("IATA").values())
    df = pd.DataFrame(rows, columns=["iata", "icao", "name", "city", "country", "lat", "lon"])
    macs = airportsdata.load_iata_macs()
    in_mac = {code: mac for mac, v in macs.items() for code in v["airports"]}
    df["mac"] = df["iata"].map(in_mac).fillna("")
    df["international"] = df["name"].str.contains(_INTERNATIONAL)
    df["excluded"] = df["name"].str.contains(EXCLUDED)
    df["lat"] = df["lat"].astype(float)
    df["lon"] = df["lon"].astype(float)
    return df.sort_values("iata", kind="mergesort").reset_index(drop=True)


def airportsdata_version() -> str:
    """The installed ``airportsdata`` release (its date, YYYYMMDD)."""
    import airportsdata

    return str(airportsdata.__version__)


def source_note(lang: str = "en") -> str:
    """Where the airport locations come from, for provenance records and plates (``"en"`` or ``"zh"``)."""
    if lang == "zh":
        return f"airportsdata {airportsdata_version()}（MIT 许可；IATA/ICAO 代码与坐标）"
    return f"airportsdata {airportsdata_version()} (MIT; IATA/ICAO codes and coordinates)"


def load_airports():
    """Every airport of ``airportsdata`` with an IATA code: ``iata, icao,
    name, city, country, lat, lon, mac`` (IATA multi-airport city code or
    ''), ``international`` (name says so), ``excluded`` (military, heliport
    …) and point geometry (EPSG:4326). A fresh copy."""
    import geopandas as gpd

    df = _airports().copy()
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"], crs=4326), crs=4326)


# --------------------------------------------------------------------------
# the join
# --------------------------------------------------------------------------
def _candidates(cities: pd.DataFrame, radius_km: float) -> pd.DataFrame:
    """(city position, airport position, distance_km) of every non-excluded
    IATA airport within ``radius_km`` of a city, on the ellipsoid."""
    from .geodesy import distance_km, haversine_km

    ap = _airports()
    keep = np.flatnonzero(~ap["excluded"].to_numpy())
    alat, alon = ap["lat"].to_numpy()[keep], ap["lon"].to_numpy()[keep]
    clat, clon = cities["lat"].to_numpy(float), cities["lon"].to_numpy(float)
    # sphere first (cheap, vectorised; differs from the ellipsoid by < 0.6 %), then the ellipsoid
    ci, aj = np.nonzero(haversine_km(clat[:, None], clon[:, None], alat[None, :], alon[None, :])
                        <= radius_km * 1.01 + 1.0)
    d = distance_km(clat[ci], clon[ci], alat[aj], alon[aj])
    ok = d <= radius_km
    return pd.DataFrame({"ci": ci[ok], "ai": keep[aj[ok]], "distance_km": d[ok]})


def city_airports(cities, *, radius_km: float = AIRPORT_RADIUS_KM, main_airports=None) -> pd.DataFrame:
    """The airports of each city by the module's rule.

    Parameters
    ----------
    cities
        A frame with ``city_id``, ``lat``, ``lon`` (WGS 84 degrees).
    radius_km
        Largest city–airport distance, km.
    main_airports
        ``{city_id: (iata, reason)}``; default :data:`MAIN_AIRPORTS`.

    Returns
    -------
    pandas.DataFrame
        One row per (city, airport): ``city_id, iata, distance_km, main``
        (the city's main airport), ``rule`` (why it is the main one: "override:
        …", "nearest international", "nearest"), sorted by city then
        distance. Cities with no airport have no row.
    """
    radius_km = _validate.positive("radius_km", radius_km, unit="km")
    main_airports = MAIN_AIRPORTS if main_airports is None else main_airports
    cities = pd.DataFrame(cities)
    ap = _airports()
    cand = _candidates(cities, radius_km)
    cand["city_id"] = cities["city_id"].astype(str).to_numpy()[cand["ci"].to_numpy()]
    cand["iata"] = ap["iata"].to_numpy()[cand["ai"].to_numpy()]
    cand["international"] = ap["international"].to_numpy()[cand["ai"].to_numpy()]
    cand["in_mac"] = ap["mac"].to_numpy()[cand["ai"].to_numpy()] != ""
    if "country_iso2" in cities.columns:
        home = cities["country_iso2"].astype(str).str.upper().to_numpy()[cand["ci"].to_numpy()]
        cand["same_country"] = home == ap["country"].to_numpy()[cand["ai"].to_numpy()]
    else:
        cand["same_country"] = True
    cand = cand.sort_values(["ci", "distance_km", "iata"], kind="mergesort")
    out = []
    for cid, g in cand.groupby("city_id", sort=False):
        main, rule = None, ""
        if cid in main_airports:
            code, why = main_airports[cid]
            if code not in set(g["iata"]):
                raise ValidationError(f"main airport {code!r} of {cid!r} is not an airport within {radius_km:g} km "
                                      "of the city; fix geocity.airports.MAIN_AIRPORTS")
            main, rule = code, f"override: {why}"
        else:
            home = g["same_country"].to_numpy()
            for sel_, why in ((home & g["international"].to_numpy(), "nearest international in the country"),
                              (home, "nearest in the country"),
                              (g["international"].to_numpy(), "nearest international"),
                              (np.ones(len(g), bool), "nearest")):
                if sel_.any():
                    main, rule = g["iata"].to_numpy()[sel_][0], why
                    break
        sel = g.loc[g["international"] | g["in_mac"] | (g["iata"] == main)]
        for r in sel.itertuples():
            out.append({"city_id": cid, "iata": r.iata, "distance_km": float(r.distance_km),
                        "main": r.iata == main, "rule": rule if r.iata == main else ""})
    return pd.DataFrame(out, columns=["city_id", "iata", "distance_km", "main", "rule"])


# --------------------------------------------------------------------------
# the user's passenger table
# --------------------------------------------------------------------------
def table_name(source) -> str | None:
    """The passenger table's name for notes (a file name), or None."""
    if source is None:
        return None
    return Path(source).name if isinstance(source, (str, PathLike)) else "user table"


def _read_table(source) -> tuple[pd.DataFrame, str]:
    """The table as given (a DataFrame copy) or read as every geocity reader reads a user's CSV, and its name."""
    if isinstance(source, pd.DataFrame):
        return source.copy(), "airport passengers table"
    if isinstance(source, (str, PathLike)):
        from .export import _read_csv

        p = Path(source)
        if not p.exists():
            raise NotFoundError(f"airport passengers file {str(p)!r} does not exist")
        where = f"airport passengers file {str(p)!r}"
        return _read_csv(p, what=where), where
    raise ValidationError(f"airport_passengers must be a CSV path or a pandas DataFrame, not {type(source).__name__}")


def read_passengers(source) -> pd.DataFrame:
    """Read and check a user's passenger table.

    Parameters
    ----------
    source
        CSV path or DataFrame with ``iata`` and ``value`` (or ``value_2019``, which wins when both are given),
        optional ``value_2022``; column names are matched ignoring case.

    Returns
    -------
    pandas.DataFrame
        ``iata, value_2019, value_2022`` (NaN when the table has no 2022
        column, or one left empty), one row per airport, in the table's
        order; reading it again gives it back unchanged.

    Raises
    ------
    ValidationError
        A missing column; a missing, non-numeric or negative value; an IATA
        code that ``airportsdata`` does not know; a repeated code — each
        naming the rows (``line N (code)`` of a CSV, ``index L (code)`` of a
        DataFrame).
    NotFoundError
        The file does not exist.
    """
    from .scores import _columns

    tab, where = _read_table(source)
    tab.columns = [str(c).strip() for c in tab.columns]
    lower = {c.lower(): c for c in tab.columns}
    if "iata" not in lower:
        raise ValidationError(f"{where} has no 'iata' column (columns: {_columns(tab)}); add one with the "
                              "airports' three-letter IATA codes")
    v19 = lower.get("value_2019", lower.get("value"))
    if v19 is None:
        raise ValidationError(f"{where} has no 'value' (or 'value_2019') column (columns: {_columns(tab)}); add the "
                              "2019 Q1 international transit passengers")
    if len(tab) == 0:
        raise ValidationError(f"{where} is empty (a header but no rows); add one row per airport")
    codes = tab[lower["iata"]].astype(str).str.strip().str.upper()
    codes = codes.where(tab[lower["iata"]].notna(), "")
    if isinstance(source, (str, PathLike)):
        from .export import _csv_labels

        labels = _csv_labels(Path(source), len(tab), None, ids=codes)
    else:
        labels = _validate.RowLabels.index(tab.index, ids=codes)
    problems: list[str] = []
    known = set(_airports()["iata"])
    bad = np.flatnonzero(~codes.isin(known).to_numpy())
    if bad.size:
        hints = []
        for i in bad[:5]:
            m = difflib.get_close_matches(codes.iloc[i], sorted(known), n=1)
            hints.append(str(labels[i]) + (f" (did you mean {m[0]!r}?)" if m else ""))
        problems.append(f"{bad.size} unknown IATA code(s) (not in airportsdata): {', '.join(hints)}"
                        + (" …" if bad.size > 5 else ""))
    dup = np.flatnonzero(codes.duplicated(keep=False).to_numpy() & codes.ne("").to_numpy())
    if dup.size:
        problems.append(f"repeated IATA code(s): {_validate.rows(labels, dup, limit=6)}")
    vals = {}
    for key, col in (("value_2019", v19), ("value_2022", lower.get("value_2022"))):
        if col is None or (key == "value_2022" and tab[col].isna().all()):  # no (or an empty) 2022 column
            vals[key] = np.full(len(tab), np.nan)
            continue
        v = pd.to_numeric(tab[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            problems.append(f"column {col!r} has {bad.size} missing or non-numeric value(s): "
                            f"{_validate.rows(labels, bad, limit=5)}")
        neg = np.flatnonzero(v < 0)
        if neg.size:
            problems.append(f"column {col!r} has {neg.size} negative value(s): {_validate.rows(labels, neg, limit=5)}")
        vals[key] = v
    if problems:
        raise ValidationError(f"{where}: " + "; ".join(problems) + "; fix the table and retry")
    return pd.DataFrame({"iata": codes.to_numpy(), **vals}).reset_index(drop=True)


# --------------------------------------------------------------------------
# the ranking
# --------------------------------------------------------------------------
def _proxy_values(cities: pd.DataFrame, gdci: pd.DataFrame, dimension_ranks: pd.DataFrame) -> pd.DataFrame:
    from .scores import rank_score

    dr = dimension_ranks.copy()
    tab = dr["table"].astype(str).str.replace("Table ", "", regex=False).str.strip()
    t26 = dr.loc[tab == "2-6"].groupby("city_id")["rank"].min()
    conn = dr.loc[(tab == "2-8") & dr["dimension"].astype(str).str.lower().str.contains("connect")]
    conn = conn.groupby("city_id")["rank"].min()
    g = gdci.groupby("city_id")["rank"].min()
    ids = cities["city_id"].astype(str)
    best = np.fmin(np.fmin(ids.map(t26).to_numpy(float), ids.map(conn).to_numpy(float)), ids.map(g).to_numpy(float))
    return pd.DataFrame({"city_id": ids.to_numpy(), "value_2019": rank_score(best),
                         "gdci_rank": ids.map(g).to_numpy(float), "in_table_2_6": ids.isin(t26.index).to_numpy()})


def airport_ranking(cities, *, gdci: pd.DataFrame, dimension_ranks: pd.DataFrame, passengers=None,
                    top_n: int = TOP_N, radius_km: float = AIRPORT_RADIUS_KM) -> Any:
    """The top ``top_n`` airports by 2019 Q1 international transit passengers
    (the user's ``passengers`` table, or the proxy), with the 2022 test.

    Returns
    -------
    geopandas.GeoDataFrame
        ``rank_2019, iata, icao, airport_name, airport_city, country,
        city_id, name_en, name_zh`` (the report city it serves, '' if none),
        ``distance_km``, ``value_2019``, ``value_2022``, ``held_up`` (bool),
        ``held_up_rule``, ``score_source`` (of the 2019 values) and
        ``held_up_source`` (``"user"`` / ``"rank-proxy"``), EPSG:4326 points.
    """
    import geopandas as gpd

    from . import provenance as prov

    top_n = int(_validate.whole("top_n", top_n, minimum=1))
    cities = pd.DataFrame(cities).reset_index(drop=True)
    ap = _airports().set_index("iata")
    joined = city_airports(cities, radius_km=radius_km)
    pv = _proxy_values(cities, gdci, dimension_ranks).set_index("city_id")
    if passengers is None:
        main = joined.loc[joined["main"]].drop_duplicates("city_id")  # one airport per city
        t = main.join(pv, on="city_id")
        t = t.assign(_g=t["gdci_rank"].fillna(np.inf)).sort_values(["value_2019", "_g", "city_id"],
                                                                     ascending=[False, True, True], kind="mergesort")
        t = t.drop_duplicates("iata").head(top_n).reset_index(drop=True)  # an airport once, for its better city
        iso = t["city_id"].map(cities.set_index("city_id")["country_iso2"]).astype(str)
        na, t26 = iso.isin(NORTH_AMERICA), t["in_table_2_6"].astype(bool) & ~iso.isin(CHINA)
        t["held_up"] = na | t26
        t["held_up_rule"] = np.where(na, "proxy: North American hub (section 2.4)",
                                     np.where(t26, "proxy: in Table 2-6, not a Chinese city (section 2.4)",
                                              "proxy: not North American, not in Table 2-6 or a Chinese city"))
        t["value_2022"] = np.nan
        t["score_source"] = prov.RANK_PROXY
        t["held_up_source"] = prov.RANK_PROXY
    else:
        tab = read_passengers(passengers)  # a table it returned reads back unchanged
        t = tab.sort_values(["value_2019", "iata"], ascending=[False, True], kind="mergesort").head(top_n)
        t = t.reset_index(drop=True)
        near = joined.sort_values(["iata", "main", "distance_km"], ascending=[True, False, True], kind="mergesort")
        near = near.drop_duplicates("iata").set_index("iata")
        t["city_id"] = t["iata"].map(near["city_id"]).fillna("")
        t["distance_km"] = t["iata"].map(near["distance_km"])
        has22 = t["value_2022"].notna().all()
        if has22:
            t["held_up"] = t["value_2022"].to_numpy() >= RESILIENT_SHARE * t["value_2019"].to_numpy()
            t["held_up_rule"] = f"user: value_2022 >= {RESILIENT_SHARE:g} x value_2019"
            t["held_up_source"] = prov.USER
        else:  # no 2022 column: the proxy rule decides, and says so
            iso = t["iata"].map(ap["country"]).astype(str)
            in26 = t["city_id"].map(pv["in_table_2_6"]).fillna(False).astype(bool)
            t["held_up"] = iso.isin(NORTH_AMERICA) | (in26 & ~iso.isin(CHINA))
            t["held_up_rule"] = "proxy: the table has no value_2022; section 2.4 rule"
            t["held_up_source"] = prov.RANK_PROXY
        t["score_source"] = prov.USER
    names = cities.set_index("city_id")
    t["rank_2019"] = np.arange(1, len(t) + 1)
    t["icao"] = t["iata"].map(ap["icao"])
    t["airport_name"] = t["iata"].map(ap["name"])
    t["airport_city"] = t["iata"].map(ap["city"])
    t["country"] = t["iata"].map(ap["country"])
    t["name_en"] = t["city_id"].map(names["name_en"]).fillna("") if "name_en" in names else ""
    t["name_zh"] = t["city_id"].map(names["name_zh"]).fillna("") if "name_zh" in names else ""
    t["held_up"] = t["held_up"].astype(bool)
    cols = ["rank_2019", "iata", "icao", "airport_name", "airport_city", "country", "city_id", "name_en", "name_zh",
            "distance_km", "value_2019", "value_2022", "held_up", "held_up_rule", "score_source", "held_up_source"]
    lat, lon = t["iata"].map(ap["lat"]).to_numpy(float), t["iata"].map(ap["lon"]).to_numpy(float)
    return gpd.GeoDataFrame(t[cols].reset_index(drop=True), geometry=gpd.points_from_xy(lon, lat, crs=4326),
                            crs=4326)
