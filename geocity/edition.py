"""Editions: one year's rankings of the report, from a folder of tables.

An edition folder holds a descriptor and three tables, with the same
columns as the embedded ``layers/gdci_2022.csv``, ``bri_2022.csv`` and
``dimension_ranks.csv``::

    my_2023/
      edition.yaml          # (or edition.json)
      gdci.csv              # rank, city_id | name [, country] [, change]
      bri.csv               # rank, city_id | name [, country] [, change]
      dimension_ranks.csv   # table, dimension, rank, city_id | name [, country]

``edition.yaml``::

    year: 2023                       # required
    title_en: Global Cities in the Vision of the Belt and Road Initiative 2023
    title_zh: 《"一带一路"倡议下的全球城市》2023 年度报告
    previous: ../my_2022             # optional: an edition folder (the embedded 2022 one: "report-2022")
    gdci: gdci.csv                   # optional file names (these are the defaults)
    bri: bri.csv
    dimension_ranks: dimension_ranks.csv

Rows name their city by ``city_id`` (a report city, see
``geocity layers export cities``) or by ``name`` (and optionally ``country``),
which goes through the geocoder (:func:`geocity.geocode.geocode`): a name of
a report city takes its ``city_id``; a name found only in GeoNames adds a
city, flagged ``edition_new`` (and named in :attr:`Edition.notes`); an
ambiguous or unknown name is an error naming the file, the line and the fix.
The geocoder's decisions are kept in :attr:`Edition.geocoding`.

Rank changes: a ``change`` column (``up``, ``down``, ``same``, ``new``) is the
report's own and is used as printed; without one, the change is computed
from the ``previous`` edition when it is given (``new`` for a city absent
from it), and left empty otherwise.

The embedded 2022 report is itself an edition in this format
(``layers/edition.json``, :func:`report_edition`), the one the main job uses.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import NotFoundError, ValidationError

__all__ = ["Edition", "read_edition", "report_edition", "DESCRIPTORS", "CHANGES", "REPORT_EDITION"]

#: Names of an edition folder's descriptor, in the order they are looked for.
DESCRIPTORS: tuple[str, ...] = ("edition.yaml", "edition.yml", "edition.json")
#: Values of a ``change`` column.
CHANGES: tuple[str, ...] = ("up", "down", "same", "new")
#: The name of the embedded 2022 edition (``previous: report-2022``).
REPORT_EDITION = "report-2022"
_KEYS = ("year", "title_en", "title_zh", "previous", "gdci", "bri", "dimension_ranks", "source")
_TABLES = {"gdci": "gdci.csv", "bri": "bri.csv", "dimension_ranks": "dimension_ranks.csv"}


@dataclass(eq=False)
class Edition:
    """One year's rankings (see the module docstring).

    Attributes
    ----------
    year
        The edition's year.
    folder
        Where it was read from.
    gdci, bri
        ``rank, city_id, change`` (change: up/down/same/new or empty).
    dimension_ranks
        ``table, dimension, rank, city_id``.
    new_cities
        Cities the edition adds to the report's list (geocoded from GeoNames),
        a GeoDataFrame with the ``cities`` columns and ``edition_new=True``.
    geocoding
        The geocoder's rows for the names the tables gave (empty if all rows
        had a ``city_id``).
    change_source
        Per list, ``"report"`` (the table's column), ``"computed from <year>"``
        or ``"none"``.
    """

    year: int
    folder: Path
    gdci: pd.DataFrame
    bri: pd.DataFrame
    dimension_ranks: pd.DataFrame
    title_en: str = ""
    title_zh: str = ""
    new_cities: Any = None
    geocoding: Any = None
    previous_year: int | None = None
    change_source: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    name: str = ""

    @property
    def notes(self) -> list[str]:
        """What a plate or a record says about this edition."""
        out = []
        if self.new_cities is not None and len(self.new_cities):
            ids = ", ".join(self.new_cities["city_id"].astype(str))
            n = len(self.new_cities)
            out.append(f"{self.year} edition: {n} {'city' if n == 1 else 'cities'} new to the report's list, "
                       f"placed by the geocoder (GeoNames): {ids}")
        return out

    def cities(self):
        """The report's cities plus the edition's new ones (flagged in an
        ``edition_new`` column, present when there are any)."""
        import geopandas as gpd

        from . import layers

        base = layers.load("cities").copy()
        if self.new_cities is None or not len(self.new_cities):
            return base  # the report's list as it is (no flag column: the outputs stay the report's)
        base["edition_new"] = False
        new = self.new_cities.reindex(columns=base.columns)
        new["edition_new"] = True
        out = pd.concat([base, new], ignore_index=True)
        return gpd.GeoDataFrame(out, geometry="geometry", crs=base.crs)

    def cities_with_ranks(self):
        """:meth:`cities` with ``gdci_rank, gdci_change, bri_rank, bri_change``
        (as :func:`geocity.layers.cities_with_ranks` for the embedded report)."""
        import geopandas as gpd

        out = self.cities()
        crs = out.crs
        for key in ("gdci", "bri"):
            ranks = getattr(self, key)[["rank", "city_id", "change"]].rename(
                columns={"rank": f"{key}_rank", "change": f"{key}_change"})
            out = out.merge(ranks, on="city_id", how="left", validate="one_to_one")
            out[f"{key}_rank"] = out[f"{key}_rank"].astype("Int64")
        return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)

    def record(self) -> dict[str, Any]:
        """The edition's fields of a provenance record."""
        return {"edition_year": self.year, "edition": self.name or self.folder.name,
                "edition_previous_year": self.previous_year, "edition_change_source": dict(self.change_source),
                "edition_new_cities": [] if self.new_cities is None else list(self.new_cities["city_id"])}


# --------------------------------------------------------------------------
# reading and checking
# --------------------------------------------------------------------------
def _descriptor(folder: Path) -> Path:
    if not folder.is_dir():
        raise NotFoundError(f"edition folder {str(folder)!r} does not exist (or is not a folder); give a folder "
                            f"with {DESCRIPTORS[0]} and the tables {', '.join(_TABLES.values())}")
    for name in DESCRIPTORS:
        if (folder / name).is_file():
            return folder / name
    raise NotFoundError(f"edition folder {str(folder)!r} has no {' / '.join(DESCRIPTORS)}; write one with at "
                        "least 'year: 2023' (see geocity.edition)")


def _slug(text: str) -> str:
    t = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-") or "city"


def _read_table(p, path: Path, key: tuple, required: tuple[str, ...]) -> pd.DataFrame | None:
    from .geocode import read_table

    try:
        df, _enc = read_table(path)
    except (ValidationError, NotFoundError, OSError) as exc:
        p.add(key, str(exc))
        return None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if "city_id" not in df.columns and "name" not in df.columns:
        missing.append("city_id or name")
    if missing:
        p.add(key, f"{path.name}: missing column(s) {', '.join(missing)}; columns: {', '.join(df.columns)} "
                   "(the same as the embedded layers/gdci_2022.csv, bri_2022.csv, dimension_ranks.csv)")
        return None
    if df.empty:
        p.add(key, f"{path.name} has no rows")
        return None
    return df


def _ranks(p, df: pd.DataFrame, path: Path, key: tuple) -> None:
    r = pd.to_numeric(df["rank"], errors="coerce")
    bad = r.isna() | (r < 1) | (r % 1 != 0)
    if bad.any():
        lines = ", ".join(str(i + 2) for i in df.index[bad][:5])
        p.add(key, f"{path.name}, line(s) {lines}: rank must be a whole number ≥ 1 "
                   f"(got {df.loc[bad, 'rank'].iloc[0]!r})")
    else:
        df["rank"] = r.astype(int)


def _resolve(p, df: pd.DataFrame, path: Path, key: tuple, known: set, new: dict, decisions: list) -> None:
    """Give every row a ``city_id``: as given (a report city), or from the
    geocoder; a GeoNames-only place becomes a new city (``new``)."""
    from .geocode import geocode

    if "city_id" not in df.columns:
        df["city_id"] = pd.NA
    ids = df["city_id"].astype("string").str.strip()
    have = ids.notna() & (ids != "")
    unknown = have & ~ids.isin(known | set(new))
    for i in df.index[unknown][:5]:
        hint = difflib.get_close_matches(str(ids[i]), sorted(known), n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else "give a name (and country) column instead, for the geocoder"
        p.add(key, f"{path.name}, line {i + 2}: unknown city_id {ids[i]!r}; {fix}")
    todo = ~have
    if todo.any():
        if "name" not in df.columns:
            p.add(key, f"{path.name}, line(s) {', '.join(str(i + 2) for i in df.index[todo][:5])}: no city_id "
                       "and no name column; give either")
            return
        sub = df.loc[todo].copy()  # the rows keep their labels: a row's line is its label + 2
        got = geocode(sub[["name"] + (["country"] if "country" in sub.columns else [])].astype("string")
                      .fillna(""), name_col="name", country_col="country" if "country" in sub.columns else None)
        got["file"] = path.name
        got["line"] = [i + 2 for i in sub.index]
        decisions.append(got)
        for i, row in zip(sub.index, got.itertuples(), strict=True):
            if isinstance(row.city_id, str) and row.city_id:
                ids[i] = row.city_id
            elif row.match in ("exact", "alias") and pd.notna(row.lat):
                gn = str(row.coord_source).split(":")[-1] if str(row.coord_source).startswith("geonames:") else ""
                cid = f"{_slug(row.name)}-gn{gn}" if gn else f"{_slug(row.name)}-new"  # never a report city's id
                new.setdefault(cid, {"city_id": cid, "name_en": row.name, "lat": float(row.lat),
                                     "lon": float(row.lon), "coord_source": str(row.coord_source),
                                     "region": None})
                ids[i] = cid
            else:
                cand = f"; candidates: {row.candidates}" if isinstance(row.candidates, str) and row.candidates else ""
                p.add(key, f"{path.name}, line {i + 2}: name {str(row.name)!r} is {row.match} for the geocoder"
                           f"{cand}; give its city_id (or a country column)")
    df["city_id"] = ids.astype(object)


def _changes(p, df: pd.DataFrame, path: Path, key: tuple) -> bool:
    """Check a printed ``change`` column; True when the table has one."""
    if "change" not in df.columns or df["change"].isna().all():
        df["change"] = pd.NA
        return False
    ch = df["change"].astype("string").str.strip().str.lower()
    bad = ch.notna() & ~ch.isin(CHANGES)
    if bad.any():
        lines = ", ".join(str(i + 2) for i in df.index[bad][:5])
        p.add(key, f"{path.name}, line(s) {lines}: change must be one of {', '.join(CHANGES)} "
                   f"(got {df.loc[bad, 'change'].iloc[0]!r})")
    df["change"] = ch.astype(object).where(ch.notna(), None)
    return True


def _computed_change(cur: pd.DataFrame, prev: pd.DataFrame) -> list:
    before = prev.groupby("city_id")["rank"].min()
    out = []
    for cid, r in zip(cur["city_id"], cur["rank"], strict=True):
        if cid not in before.index:
            out.append("new")
        else:
            b = int(before[cid])
            out.append("up" if r < b else ("down" if r > b else "same"))
    return out


def _table(p, folder: Path, data: dict, k: str, default: str, known: set, new: dict, decisions: list,
           previous: Edition | None, change_source: dict) -> tuple[pd.DataFrame, Path] | None:
    """Read and check one table of an edition (problems go to ``p``)."""
    name = data.get(k, default)
    key = (k,) if k in data else ()
    if not isinstance(name, str):
        p.add((k,), f"expected a file name, got {name!r}")
        return None
    path = folder / name
    if not path.is_file():
        p.add(key, f"table {name!r} not found in {str(folder)!r}" + ("" if k in data else f" (set '{k}:' to its "
                                                                                         "file name)"))
        return None
    req = ("table", "dimension", "rank") if k == "dimension_ranks" else ("rank",)
    df = _read_table(p, path, key, req)
    if df is None:
        return None
    _ranks(p, df, path, key)
    _resolve(p, df, path, key, known, new, decisions)
    if k == "dimension_ranks":
        df = df[["table", "dimension", "rank", "city_id"]].copy()
        for c in ("table", "dimension", "city_id"):
            df[c] = df[c].astype("str")
        return df.reset_index(drop=True), path
    dup = df["city_id"].duplicated(keep=False) & df["city_id"].notna()
    if dup.any():
        p.add(key, f"{path.name}: city listed twice (lines {', '.join(str(i + 2) for i in df.index[dup][:6])}); "
                   "a ranking lists a city once")
    if _changes(p, df, path, key):
        change_source[k] = "report"
    elif previous is not None and not p.items:
        df["change"] = _computed_change(df, getattr(previous, k))
        change_source[k] = f"computed from {previous.year}"
    else:
        change_source[k] = "none"
    df = df[["rank", "city_id", "change"]].copy()
    for c in ("city_id", "change"):
        df[c] = df[c].astype("str")
    return df.reset_index(drop=True), path


def read_edition(folder: str | Path, *, _with_previous: bool = True) -> Edition:
    """Read and check an edition folder (see the module docstring).

    ``folder`` may also be ``"report-2022"``: the embedded edition.

    Raises
    ------
    NotFoundError
        The folder or its descriptor does not exist.
    ValidationError
        Every problem at once, each naming the file, the line and the key or
        column, and the fix.
    """
    from . import layers
    from .plate import _compose, _Problems

    if str(folder) == REPORT_EDITION:
        return report_edition()
    folder = Path(folder)
    desc = _descriptor(folder)
    data, lines = _compose(desc, what="edition file")
    if not isinstance(data, dict):
        raise ValidationError(f"edition file {str(desc)!r} must hold a mapping (year:, ...), not {type(data).__name__}")
    p = _Problems(desc, lines, what="edition file")
    p.unknown((), data, _KEYS)
    year = data.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 1990 <= year <= 2200:
        p.add(("year",), f"expected the edition's year, a whole number such as 2023, got {year!r}")
        year = 0
    for k in ("title_en", "title_zh", "source"):
        if k in data and not isinstance(data[k], str):
            p.add((k,), f"expected a string, got {data[k]!r}")
    previous = None
    if data.get("previous") is not None and _with_previous:
        v = data["previous"]
        try:
            previous = read_edition(v if str(v) == REPORT_EDITION else (folder / str(v)), _with_previous=False)
        except (ValidationError, NotFoundError) as exc:
            p.add(("previous",), str(exc))
        if previous is not None and year and previous.year >= year:
            p.add(("previous",), f"the previous edition is {previous.year}, not before {year}")
    known = set(layers.load("cities")["city_id"].astype(str))
    new: dict = {}
    decisions: list = []
    tables: dict[str, pd.DataFrame] = {}
    files = [desc]
    change_source: dict[str, str] = {}  # table -> where its change columns come from
    for k, default in _TABLES.items():
        got = _table(p, folder, data, k, default, known, new, decisions, previous, change_source)
        if got is not None:
            tables[k], path = got
            files.append(path)
    p.raise_if_any()
    new_cities = None
    if new:
        import geopandas as gpd

        nc = pd.DataFrame(list(new.values()))
        new_cities = gpd.GeoDataFrame(nc, geometry=gpd.points_from_xy(nc["lon"], nc["lat"]), crs="EPSG:4326")
    return Edition(year=int(year), folder=folder, gdci=tables["gdci"], bri=tables["bri"],
                   dimension_ranks=tables["dimension_ranks"], title_en=str(data.get("title_en", "")),
                   title_zh=str(data.get("title_zh", "")), new_cities=new_cities,
                   geocoding=pd.concat(decisions, ignore_index=True) if decisions else None,
                   previous_year=None if previous is None else previous.year, change_source=change_source,
                   files=files)


def report_edition() -> Edition:
    """The embedded 2022 report as an edition (``layers/edition.json``)."""
    from ._data import data_dir

    global _REPORT
    if _REPORT is None:
        _REPORT = read_edition(data_dir("layers"))
        _REPORT.name = REPORT_EDITION
    return _REPORT


_REPORT: Edition | None = None
