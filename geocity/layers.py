"""The report's embedded layers: cities, rankings, basemap, corridors.

Every layer is a file in geocity's ``layers/`` folder (see ``layers/README.md``
for source, licence and processing of each). :func:`load` reads one by name;
:func:`available` lists the names; :func:`cities_with_ranks` joins the two
report rankings onto the cities.

Examples
--------
>>> from geocity import layers
>>> cities = layers.load("cities")
>>> len(cities)
516
>>> int(cities.in_appendix3.sum())
515
>>> cities.crs.to_epsg()
4326
>>> layers.slug("Santiago (Chile)", "CL")
'santiago-cl'
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._data import data_dir
from .errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

__all__ = ["slug", "strip_qualifier", "available", "load", "cities_with_ranks", "LAYERS"]

#: layer name -> (file name candidates in order of preference, kind)
LAYERS: dict[str, tuple[tuple[str, ...], str]] = {
    "cities": (("cities.csv",), "points"),
    "gdci_2022": (("gdci_2022.csv",), "table"),
    "bri_2022": (("bri_2022.csv",), "table"),
    "dimension_ranks": (("dimension_ranks.csv",), "table"),
    "basemap": (("basemap.gpkg", "basemap.geojson"), "vector"),
    "corridors": (("corridors.csv",), "table"),
    # Figure 2-10: the carmakers' factories and R&D sites (geocity._build.vehicle_sites)
    "vehicle_sites": (("vehicle_sites.csv",), "points"),
}

_QUALIFIER = re.compile(r"\s*[(（][^()（）]*[)）]\s*$")

# column dtypes of the CSV layers, so that loading never guesses
_DTYPES = {
    "cities": {"city_id": str, "name_en": str, "name_zh": str, "region": str, "country_iso2": str,
               "country_name": str, "lat": float, "lon": float, "coord_source": str,
               "in_appendix3": bool},
    "gdci_2022": {"rank": int, "city_id": str, "change": str},
    "bri_2022": {"rank": int, "city_id": str, "change": str},
    "dimension_ranks": {"table": str, "dimension": str, "rank": int, "city_id": str},
    "vehicle_sites": {"company": str, "function": str, "site_name": str, "city": str, "country": str, "lat": float,
                      "lon": float, "coord_method": str, "source": str, "source_date": str, "note": str},
}


def strip_qualifier(name: str) -> str:
    """Drop a trailing "(Country)" qualifier, ASCII or full-width.

    >>> strip_qualifier("Oakland(USA)"), strip_qualifier("奥克兰（美国）")
    ('Oakland', '奥克兰')
    """
    return _QUALIFIER.sub("", str(name)).strip()


def slug(name_en: str, iso2: str) -> str:
    """Stable ASCII ``city_id``: slug of the English name + ``-`` + ISO code.

    Accents are stripped (NFKD), the text lower-cased, every run of
    non-alphanumerics becomes one ``-``; a trailing "(Country)" qualifier is
    dropped first.

    Parameters
    ----------
    name_en
        English name as printed in the report, e.g. ``"San José (Costa Rica)"``.
    iso2
        ISO 3166-1 alpha-2 code of the country, e.g. ``"CR"``.

    Returns
    -------
    str
        e.g. ``"san-jose-cr"``.

    Examples
    --------
    >>> slug("Xi'an", "CN"), slug("Ho Chi Minh", "VN"), slug("São Paulo", "BR")
    ('xi-an-cn', 'ho-chi-minh-vn', 'sao-paulo-br')
    """
    if not isinstance(iso2, str) or not re.fullmatch(r"[A-Za-z]{2}", iso2):
        raise ValidationError(f"slug: iso2 must be a two-letter ISO 3166-1 code, got {iso2!r}")
    text = unicodedata.normalize("NFKD", strip_qualifier(name_en))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    if not text:
        raise ValidationError(f"slug: name {name_en!r} has no ASCII letters or digits to make an id from")
    return f"{text}-{iso2.lower()}"


def _find(name: str) -> Path | None:
    folder = data_dir("layers")
    for fname in LAYERS[name][0]:
        p = folder / fname
        if p.exists():
            return p
    return None


def available() -> list[str]:
    """Names of the layers whose files are present, in a fixed order.

    >>> "cities" in available()
    True
    """
    return [name for name in LAYERS if _find(name) is not None]


def load(name: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """Load one embedded layer.

    Parameters
    ----------
    name
        One of :func:`available`: ``cities`` (GeoDataFrame of 516 points -- the
        515 names of Appendix 3 plus Qingdao, ranked but unlisted --
        EPSG:4326), ``gdci_2022``, ``bri_2022`` (``rank, city_id, change``),
        ``dimension_ranks`` (``table, dimension, rank, city_id``), ``basemap``
        (country polygons, EPSG:4326), ``corridors`` (waypoint table).

    Returns
    -------
    geopandas.GeoDataFrame or pandas.DataFrame
        A fresh copy; changing it does not change later loads.

    Raises
    ------
    NotFoundError
        Unknown name, or a known layer whose file is not built yet; the
        message lists the layers that are available.
    """
    if name not in LAYERS:
        raise NotFoundError(f"unknown layer {name!r}; available layers: {available()}")
    path = _find(name)
    if path is None:
        raise NotFoundError(
            f"layer {name!r} is not built yet (expected one of {list(LAYERS[name][0])} in "
            f"{data_dir('layers')}); available layers: {available()}. "
            "Rebuild with `python -m geocity._build`."
        )
    kind = LAYERS[name][1]
    if kind == "vector":
        gdf = gpd.read_file(path)
        if gdf.crs is None:
            gdf = gdf.set_crs(4326)
        return gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf
    df = pd.read_csv(path, dtype=_DTYPES.get(name), keep_default_na=False, na_values=[""], encoding="utf-8")
    if kind == "points":
        geom = gpd.points_from_xy(df["lon"], df["lat"], crs=4326)
        return gpd.GeoDataFrame(df, geometry=geom, crs=4326)
    return df


def cities_with_ranks() -> gpd.GeoDataFrame:
    """The cities with their GDCI and BRI 2022 ranks joined on.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cities`` plus ``gdci_rank, gdci_change, bri_rank, bri_change``
        (nullable ``Int64`` ranks; missing where a city is outside a top 100).
        Every ranked city has a ``cities`` row (Qingdao, ranked but not
        listed in Appendix 3, is the 516th; see ``layers/README.md``); a
        ranked id without one would be logged at WARNING level.

    Examples
    --------
    >>> c = cities_with_ranks()
    >>> c.loc[c.city_id == "tokyo-jp", ["gdci_rank", "bri_rank"]].iloc[0].tolist()
    [1, 19]
    """
    cities = load("cities")
    out = cities
    for key in ("gdci", "bri"):
        ranks = load(f"{key}_2022").rename(columns={"rank": f"{key}_rank", "change": f"{key}_change"})
        unlisted = sorted(set(ranks.city_id) - set(cities.city_id))
        if unlisted:
            log.warning("%s_2022: ranked cities without a cities row: %s", key, unlisted)
        out = out.merge(ranks, on="city_id", how="left", validate="one_to_one")
        out[f"{key}_rank"] = out[f"{key}_rank"].astype("Int64")
    return gpd.GeoDataFrame(out, geometry="geometry", crs=cities.crs)
