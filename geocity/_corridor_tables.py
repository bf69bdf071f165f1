"""The corridors' waypoint tables: the embedded table and a user's (CSV,
or a line layer turned into waypoints), read, checked with every problem named
by row, and completed. Internal; the public functions are re-exported by
:mod:`geocity.corridors`."""

from __future__ import annotations

import logging
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate, geodesy
from .errors import NotFoundError, ValidationError

log = logging.getLogger("geocity.corridors")


COLUMNS = [
    "corridor",
    "corridor_name_en",
    "corridor_name_zh",
    "branch",
    "seq",
    "city_id",
    "name",
    "lat",
    "lon",
    "source",
    "branch_source",
]


# --------------------------------------------------------------------------
# waypoint tables
# --------------------------------------------------------------------------
def _builtin_path() -> Path:
    from ._data import data_path

    return data_path("layers", "corridors.csv")


@lru_cache(maxsize=8)
def _read_csv_cached(path: str, mtime: float) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"city_id": "string", "name": "string"}, keep_default_na=False, na_values=[""])


def _cities_lookup() -> pd.DataFrame:
    from . import layers

    c = layers.load("cities")
    return pd.DataFrame(c.drop(columns="geometry", errors="ignore")).set_index("city_id")


def _read_user(path: Path) -> pd.DataFrame:
    """A user corridor file as a waypoint table (validated)."""
    if not path.exists():
        raise NotFoundError(f"corridor file {str(path)!r} does not exist")
    ext = path.suffix.lower()
    if ext == ".csv":
        from .export import _csv_labels, _read_csv

        # the geocoder's encoding detection: UTF-8 (with or without BOM) or GB18030/GBK
        df = _read_csv(path, what=f"corridor file {str(path)!r}", dtype={"city_id": "string", "name": "string"},
                       keep_default_na=False, na_values=[""])
        return _normalise_csv(df, str(path), _csv_labels(path, len(df)))
    if ext in (".geojson", ".json", ".gpkg", ".fgb", ".shp"):
        return _lines_to_waypoints(path)
    raise ValidationError(
        f"corridor file {str(path)!r}: unknown format {ext or '(none)'!r}; give a waypoints .csv "
        "(columns corridor, branch, seq, name, lat, lon or city_id) or a line .geojson/.gpkg"
    )


def _fill_from_cities(df, lat, lon, has_city, need, what: str, problems: list) -> None:
    """Waypoints given by ``city_id``: check the ids, fill missing lat/lon/name
    from the cities layer (in place); unknown ids go to ``problems``."""
    try:
        cities = _cities_lookup()
    except Exception as exc:  # pragma: no cover - cities layer missing
        raise ValidationError(f"corridor file {what}: cannot check city_id values ({exc})") from None
    ids = df.loc[has_city, "city_id"].astype(str).str.strip()
    unknown = sorted(set(ids) - set(cities.index))
    if unknown:
        problems.append(
            f"unknown city_id(s) {unknown[:10]}; use ids of the cities layer "
            "(geocity.layers.load('cities').city_id) or give name, lat and lon instead"
        )
    else:
        fill = need[need].index
        cid = df.loc[fill, "city_id"].astype(str).str.strip()
        lat.loc[fill] = lat.loc[fill].fillna(pd.Series(cities.loc[cid, "lat"].to_numpy(float), index=fill))
        lon.loc[fill] = lon.loc[fill].fillna(pd.Series(cities.loc[cid, "lon"].to_numpy(float), index=fill))
        df.loc[fill, "name"] = df.loc[fill, "name"].fillna(
            pd.Series(cities.loc[cid, "name_en"].to_numpy(object), index=fill)
        )


def _normalise_csv(df: pd.DataFrame, what: str, labels=None) -> pd.DataFrame:
    """Check and complete a waypoint table; ``labels`` name its rows in messages
    (the file's line numbers, or ``feature N vertex K`` of a line layer)."""
    if labels is None:
        labels = _validate.RowLabels.index(df.index)
    where = _validate.rows
    missing = [c for c in ("corridor", "branch", "seq") if c not in df.columns]
    if "city_id" not in df.columns and not {"lat", "lon"} <= set(df.columns):
        missing.append("lat/lon (or city_id)")
    if missing:
        raise ValidationError(
            f"corridor file {what}: missing column(s) {missing}; expected one row per waypoint with "
            f"columns {COLUMNS} (lat/lon may be empty where city_id is given)"
        )
    df = df.copy()
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = pd.NA
    problems = []
    for c in ("corridor", "branch"):
        bad = df[c].isna() | (df[c].astype("string").str.strip() == "")
        if bad.any():
            problems.append(f"empty {c} in {int(bad.sum())} row(s): {where(labels, np.flatnonzero(bad))}")
    seq = pd.to_numeric(df["seq"], errors="coerce")
    if seq.isna().any():
        problems.append(f"non-numeric seq in {int(seq.isna().sum())} row(s): "
                        f"{where(labels, np.flatnonzero(seq.isna()))}")
    df["seq"] = seq
    df["corridor"] = df["corridor"].astype("string").str.strip()
    df["branch"] = df["branch"].astype("string").str.strip()
    lat = pd.to_numeric(df["lat"], errors="coerce")
    lon = pd.to_numeric(df["lon"], errors="coerce")
    has_city = df["city_id"].notna() & (df["city_id"].astype("string").str.strip() != "")
    need = has_city & (lat.isna() | lon.isna() | df["name"].isna())
    if has_city.any():
        _fill_from_cities(df, lat, lon, has_city, need, what, problems)
    if problems:
        raise ValidationError(f"corridor file {what}: " + "; ".join(problems))
    nocoord = lat.isna() | lon.isna()
    if nocoord.any():
        problems.append(
            f"{int(nocoord.sum())} row(s) have neither lat/lon nor a city_id: {where(labels, np.flatnonzero(nocoord))}"
        )
    else:
        try:
            geodesy.validate_latlon(lat, lon, what=f"corridor file {what}", labels=labels)
        except ValidationError as exc:
            problems.append(str(exc).split(": ", 1)[-1])
    df["lat"], df["lon"] = lat, lon
    if not problems:
        problems += _branch_problems(df, labels)
    if problems:
        raise ValidationError(f"corridor file {what}: " + "; ".join(problems))
    return _drop_repeats(_complete(df, what)[COLUMNS].reset_index(drop=True), what)


def _branch_problems(df: pd.DataFrame, labels) -> list[str]:
    """Branches with fewer than two waypoints, and repeated ``seq`` within a branch."""
    problems = []
    sizes = df.groupby(["corridor", "branch"], sort=False).size()
    short = [f"{c}/{b}" for (c, b), n in sizes.items() if n < 2]
    if short:
        problems.append(f"branch(es) {short} have fewer than two waypoints; a branch needs at least two")
    dup = df.duplicated(["corridor", "branch", "seq"])
    if dup.any():
        problems.append(f"duplicate seq within a branch in {int(dup.sum())} row(s): "
                        f"{_validate.rows(labels, np.flatnonzero(dup))}")
    return problems


def _complete(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """A checked waypoint table completed: default names and sources, and
    corridors and branches in the order of first appearance, waypoints by seq."""
    df["name"] = df["name"].astype("string")
    unnamed = df["name"].isna() | (df["name"].str.strip() == "")
    if unnamed.any():
        pairs = zip(df.loc[unnamed, "branch"], df.loc[unnamed, "seq"], strict=True)
        df.loc[unnamed, "name"] = [f"{b} #{int(s)}" for b, s in pairs]
    for c in ("corridor_name_en", "corridor_name_zh"):
        df[c] = df[c].astype("string").fillna(df["corridor"])
    df["source"] = df["source"].astype("string").fillna(f"user file {what}")
    df["branch_source"] = df["branch_source"].astype("string").fillna(f"user file {what}")
    df["city_id"] = df["city_id"].astype("string")
    # keep corridors and branches in the order of first appearance, waypoints by seq
    first_c = {c: i for i, c in enumerate(dict.fromkeys(df["corridor"]))}
    first_b = {b: i for i, b in enumerate(dict.fromkeys(zip(df["corridor"], df["branch"], strict=True)))}
    df["_c"] = df["corridor"].map(first_c)
    df["_b"] = [first_b[k] for k in zip(df["corridor"], df["branch"], strict=True)]
    df = df.sort_values(["_c", "_b", "seq"], kind="stable")
    df["seq"] = df["seq"].astype(int)
    return df


def _drop_repeats(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """Drop a waypoint that repeats the point before it in its branch (a
    zero-length segment), logging each at WARNING level; a branch left with
    one point (all its waypoints the same) is a ValidationError."""
    same_branch = df["corridor"].eq(df["corridor"].shift()) & df["branch"].eq(df["branch"].shift())
    dlon = (df["lon"] - df["lon"].shift() + 180.0) % 360.0 - 180.0  # -180 and 180 are the same meridian
    rep = (same_branch & df["lat"].eq(df["lat"].shift()) & (dlon == 0)).to_numpy()
    if not rep.any():
        return df
    sizes = df.groupby(["corridor", "branch"], sort=False).size()
    left = df[~rep].groupby(["corridor", "branch"], sort=False).size()
    flat = [f"{c}/{b}" for (c, b), n in left.items() if n < 2 <= sizes[(c, b)]]
    if flat:
        g = df[df["corridor"].astype(str) + "/" + df["branch"].astype(str) == flat[0]]
        raise ValidationError(
            f"corridor file {what}: branch(es) {flat} have zero length: all their waypoints are the same point "
            f"(e.g. {flat[0]} at lat {g['lat'].iloc[0]:g}, lon {g['lon'].iloc[0]:g}); "
            "give at least two distinct points per branch"
        )
    dropped = [f"{r.corridor}/{r.branch} seq {r.seq} ({r.name})" for r in df[rep].itertuples(index=False)]
    log.warning(
        "corridor file %s: dropped %d waypoint(s) that repeat the point before them (zero-length segments): %s",
        what, len(dropped), ", ".join(dropped[:10]) + (" ..." if len(dropped) > 10 else ""),
    )
    return df[~rep].reset_index(drop=True)


def _lines_to_waypoints(path: Path) -> pd.DataFrame:
    from . import export

    # the shared reader: a broken shapefile set, several layers (a `corridors export` GeoPackage gives
    # its "lines"), an empty GeoPackage or an unreadable file are one plain message
    gdf = export.read_vector(path, what=f"corridor file {str(path)!r}", prefer=("lines",))
    gdf = geodesy.to_wgs84(gdf, name=f"corridor file {str(path)!r}")
    if "corridor" not in gdf.columns:
        raise ValidationError(
            f"corridor file {str(path)!r}: features need a 'corridor' property (and optionally 'branch', "
            "'corridor_name_en', 'corridor_name_zh', 'source')"
        )
    rows = []
    refs = []  # how a message names each vertex: its feature (from 1, file order) and vertex
    problems = []
    for i, f in enumerate(gdf.itertuples(index=False)):
        g = f.geometry
        if g is None or g.is_empty or g.geom_type not in ("LineString", "MultiLineString"):
            kind = "missing" if g is None else "empty" if g.is_empty else g.geom_type
            problems.append(f"feature {i + 1}: geometry must be a LineString, not {kind}")
            continue
        parts = list(g.geoms) if g.geom_type == "MultiLineString" else [g]
        base = getattr(f, "branch", None) if "branch" in gdf.columns else None
        base = str(base) if base is not None and not (isinstance(base, float) and math.isnan(base)) else f"line-{i + 1}"
        for j, part in enumerate(parts):
            branch = base if len(parts) == 1 else f"{base}-{j + 1}"
            for k, (x, y) in enumerate(np.asarray(part.coords)[:, :2], start=1):
                refs.append(f"feature {i + 1} vertex {k}" + (f" of part {j + 1}" if len(parts) > 1 else ""))
                rows.append(
                    dict(
                        corridor=str(f.corridor),
                        corridor_name_en=(
                            getattr(f, "corridor_name_en", None) if "corridor_name_en" in gdf.columns else None
                        ),
                        corridor_name_zh=(
                            getattr(f, "corridor_name_zh", None) if "corridor_name_zh" in gdf.columns else None
                        ),
                        branch=branch,
                        seq=k,
                        city_id=None,
                        name=None,
                        lat=y,
                        lon=x,
                        source=f"vertex of {path.name}",
                        branch_source=(getattr(f, "source", None) if "source" in gdf.columns else None)
                        or f"user file {path.name}",
                    )
                )
    if problems:
        raise ValidationError(f"corridor file {str(path)!r}: " + "; ".join(problems))
    if not rows:
        raise ValidationError(f"corridor file {str(path)!r} holds no line features")
    return _normalise_csv(pd.DataFrame(rows), str(path), _validate.RowLabels(len(refs), refs.__getitem__))


def _table(path=None) -> pd.DataFrame:
    p = _builtin_path()
    base = _read_csv_cached(str(p), p.stat().st_mtime).copy()
    if path is None:
        return base
    user = _read_user(Path(path))
    replaced = sorted(set(user["corridor"]) & set(base["corridor"]))
    if replaced:
        log.info("corridor file %s replaces built-in corridor(s) %s", path, replaced)
    base = base[~base["corridor"].isin(replaced)]
    return pd.concat([base, user], ignore_index=True)


def available(*, path=None) -> list[str]:
    """Names of the corridors, built-in first (plus those of ``path``).

    The first three are the corridors of the report (section 3.2); the
    built-in table also holds the other three Belt and Road land corridors.

    Examples
    --------
    >>> available()
    ['CPEC', 'CMREC', 'CICPEC', 'NELB', 'CCWAEC', 'BCIMEC']
    """
    return list(dict.fromkeys(_table(path)["corridor"]))


def _select(names, path=None) -> tuple[pd.DataFrame, list[str]]:
    t = _table(path)
    have = list(dict.fromkeys(t["corridor"]))
    if names is None:
        names = have
    elif isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValidationError(f"no corridor given; choose from {have}")
    lookup = {h.upper(): h for h in have}
    unknown = [n for n in names if str(n).upper() not in lookup]
    if unknown:
        raise NotFoundError(f"unknown corridor(s) {unknown}; valid names: {have}")
    names = list(dict.fromkeys(lookup[str(n).upper()] for n in names))
    t = t[t["corridor"].isin(names)].copy()
    t["_order"] = t["corridor"].map({n: i for i, n in enumerate(names)})
    t = t.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    return t, names


def waypoints(names=None, *, path=None):
    """The corridor waypoints as a point GeoDataFrame (EPSG:4326).

    Parameters
    ----------
    names
        A corridor name or a list of names (case-insensitive); all if None.
    path
        A user corridor file that adds or replaces corridors: a waypoints CSV
        in the format of ``layers/corridors.csv`` (``lat``/``lon`` may be
        empty where a ``city_id`` of the cities layer is given), or a line
        layer (GeoJSON, GeoPackage, ...) with a ``corridor`` property and an
        optional ``branch`` property; its vertices become the waypoints.
        A CSV may be UTF-8 (with or without BOM) or GB18030/GBK (detected as
        :func:`geocity.geocode.read_table` does). A waypoint that repeats the
        point just before it in its branch (same lat/lon: a zero-length
        segment, common in digitised lines) is dropped — the first of the
        repeats keeps its name — and logged at WARNING level; a branch whose
        waypoints are all the same point is an error.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per waypoint with the columns of ``layers/corridors.csv``.

    Examples
    --------
    >>> w = waypoints("CPEC")
    >>> w.loc[w.branch == "eastern", "name"].tolist()[-1]
    'Karachi'
    """
    import geopandas as gpd

    t, _ = _select(names, path)
    return gpd.GeoDataFrame(t, geometry=gpd.points_from_xy(t["lon"], t["lat"]), crs=geodesy.WGS84)
