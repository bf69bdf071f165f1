"""City interaction networks: observed edge tables or a gravity model, as great-circle arcs.

Two sources of links:

* **Observed** — a user's edge table (CSV or DataFrame with ``source``,
  ``target`` and optionally ``weight``), whose endpoints are ``city_id`` values
  or city names (English or Chinese) resolved against the cities layer and,
  failing that, through :mod:`geocity.geocode`. Rows that do not resolve are
  reported (an error listing them, or with ``on_unresolved="skip"`` dropped
  *and* recorded in ``links.attrs["unresolved"]``), never dropped silently.
* **Modelled** — a gravity model of spatial interaction, because the report
  does not publish the flows behind its network figures:

  .. math::

      S_{ij} = \\frac{s_i \\, s_j}{\\max(d_{ij}, d_{min})^{\\beta}}

  with ``s`` a city score (a 3I dimension from :func:`geocity.scores.city_scores`
  by default), ``d_ij`` the ellipsoidal geodesic distance in km and
  ``d_min = min_distance_km`` (default 50 km) a floor that keeps neighbouring
  cities of one metropolitan area (Shenzhen–Hong Kong, 25 km) from dominating
  the network through a near-zero denominator. Links kept: the ``top_k``
  strongest links of every city (a link is kept when it is in the top-k of
  either end) and/or links whose strength is at least ``threshold`` times the
  strongest link. Every modelled link carries ``modelled=True`` and the model
  formula in ``model``; figures and exports say so.

Links are ellipsoidal geodesic arcs densified every ``max_segment_km`` and
split at ±180° (:func:`geocity.geodesy.geodesic_line`), so Tokyo–Los Angeles
crosses the Pacific, not Eurasia.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate
from . import provenance as _provenance
from .errors import GeocityError, NotFoundError, ValidationError
from .geodesy import distance_km, geodesic_line, to_wgs84, validate_latlon

log = logging.getLogger(__name__)

__all__ = [
    "LINK_COLUMNS",
    "gravity_links",
    "edge_links",
    "read_edges",
    "write_links",
]

#: Columns of every links GeoDataFrame, in this order (plus ``geometry``).
LINK_COLUMNS = [
    "source_id",
    "target_id",
    "source_name",
    "target_name",
    "weight",
    "strength",
    "distance_km",
    "modelled",
    "model",
    "score_source",
]
#: Default distance floor of the gravity model, km.
MIN_DISTANCE_KM = 50.0
#: Defaults of the report's modelled networks — the one place for them: the
#: link GeoPackages of ``geocity reproduce``, the web map and the network
#: plates all draw the same links. Distance-decay exponent:
REPORT_BETA = 2.0
#: Strongest links kept per city:
REPORT_TOP_K = 5
#: Relative-strength classes of the links (weight = strength / strongest
#: link), strongest first; the plates and the web map draw one symbol each.
STRENGTH_CLASSES: tuple[tuple[float, float], ...] = ((0.25, 1.0), (0.05, 0.25), (0.0, 0.05))
#: Largest number of cities the gravity model takes (full pair matrix).
MAX_GRAVITY_CITIES = 5000


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _default_cities():
    from . import layers

    return layers.load("cities")


def _default_scores():
    from . import scores

    return scores.city_scores()


def _cities(cities):
    if cities is None:
        cities = _default_cities()
    cities = to_wgs84(cities, name="cities")
    missing = [c for c in ("city_id",) if c not in cities.columns]
    if missing:
        raise ValidationError(
            f"cities: missing column(s) {missing}; pass the cities layer or a GeoDataFrame with city_id"
        )
    if cities["city_id"].duplicated().any():
        dup = sorted(cities.loc[cities["city_id"].duplicated(), "city_id"].astype(str).unique())[:10]
        raise ValidationError(f"cities: duplicate city_id values {dup}")
    lat = cities.geometry.y.to_numpy(dtype=float)
    lon = cities.geometry.x.to_numpy(dtype=float)
    validate_latlon(lat, lon, what="cities", labels=cities["city_id"])
    return cities.reset_index(drop=True), lat, lon


def _name_col(cities) -> pd.Series:
    if "name_en" in cities.columns:
        return cities["name_en"].astype(str)
    return cities["city_id"].astype(str)


def _arcs(lat1, lon1, lat2, lon2, max_segment_km: float) -> list:
    return [
        geodesic_line([a, c], [b, d], max_segment_km)
        for a, b, c, d in zip(lat1, lon1, lat2, lon2, strict=True)
    ]


def _frame(rows: dict, lat1, lon1, lat2, lon2, max_segment_km: float):
    import geopandas as gpd

    df = pd.DataFrame(rows, columns=LINK_COLUMNS)
    geom = _arcs(lat1, lon1, lat2, lon2, max_segment_km)
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geom, crs="EPSG:4326"), crs="EPSG:4326")


# --------------------------------------------------------------------------
# gravity model
# --------------------------------------------------------------------------
def gravity_links(
    cities=None,
    *,
    dimension: str = "innovation",
    beta: float = REPORT_BETA,
    top_k: int | None = REPORT_TOP_K,
    threshold: float | None = None,
    min_distance_km: float = MIN_DISTANCE_KM,
    max_segment_km: float = 50.0,
):
    """Modelled links between cities from a gravity model.

    Parameters
    ----------
    cities
        GeoDataFrame of city points with ``city_id`` and a numeric
        ``dimension`` column; ``None``: :func:`geocity.scores.city_scores`.
    dimension
        Score column used as the mass ``s`` (``innovation``, ``industry``,
        ``infrastructure``, ``composite`` or any numeric column).
    beta
        Distance-decay exponent (>= 0).
    top_k
        Keep each city's ``top_k`` strongest links (``None``: no per-city cut).
    threshold
        Keep links at least this fraction (0–1] of the strongest link.
    min_distance_km
        Distance floor ``d_min`` (> 0) of the denominator.
    max_segment_km
        Densification of the arcs.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`LINK_COLUMNS` + geometry, sorted by strength (strongest first);
        ``weight`` is the strength divided by the strongest link's, in (0, 1];
        ``modelled`` is True; ``score_source`` per link is the weaker
        evidence of its two cities' scores (:func:`geocity.provenance.combine`).
    """
    problems: list[str] = []
    beta = _validate.non_negative("beta", beta, problems=problems)
    if top_k is None and threshold is None:
        problems.append("give top_k (links per city) and/or threshold (fraction of the strongest link)")
    if top_k is not None:
        top_k = _validate.whole("top_k", top_k, minimum=1, problems=problems)  # type: ignore[assignment]
    if threshold is not None and not (0 < _validate.positive("threshold", threshold, problems=[]) <= 1):
        problems.append(f"threshold must be in (0, 1] (a fraction of the strongest link), got {threshold!r}")
    min_distance_km = _validate.positive("min_distance_km", min_distance_km, unit="km", problems=problems)
    if problems:
        raise ValidationError("gravity model: " + "; ".join(problems))
    if cities is None:
        cities = _default_scores()
    cities, lat, lon = _cities(cities)
    sources = (cities["score_source"].astype(str).to_numpy() if "score_source" in cities.columns
               else np.full(len(cities), _provenance.USER, dtype=object))
    if dimension not in cities.columns:
        known = [c for c in ("innovation", "industry", "infrastructure", "composite") if c in cities.columns]
        raise NotFoundError(
            f"dimension {dimension!r} is not a column of the cities; choose one of "
            f"{known or sorted(map(str, cities.columns))}"
        )
    s = pd.to_numeric(cities[dimension], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(s) | (s < 0)
    if bad.any():
        ids = cities["city_id"].astype(str).tolist()
        if bad.all():
            fix = (f"no city has a {dimension!r} score (a text column, or a scores table without that column); "
                   "choose a numeric score column: innovation, industry, infrastructure or composite")
        else:
            fix = "give every city a score >= 0"
        raise ValidationError(
            f"gravity model: {int(bad.sum())} missing, non-numeric or negative {dimension!r} score(s): "
            f"{_validate.rows(ids, np.flatnonzero(bad))}; {fix}"
        )
    n = len(cities)
    if n < 2:
        raise ValidationError("gravity model: need at least two cities")
    if n > MAX_GRAVITY_CITIES:
        raise ValidationError(
            f"gravity model: {n} cities is more than {MAX_GRAVITY_CITIES} (the model builds the full pair matrix); "
            "select the cities first"
        )
    if not (s > 0).sum() >= 2:
        raise ValidationError(f"gravity model: fewer than two cities have a positive {dimension!r} score")

    ii, jj = np.triu_indices(n, k=1)
    d = distance_km(lat[ii], lon[ii], lat[jj], lon[jj])
    strength = s[ii] * s[jj] / np.maximum(d, min_distance_km) ** beta
    keep = strength > 0
    if top_k is not None:
        M = np.zeros((n, n))
        M[ii, jj] = strength
        M[jj, ii] = strength
        k = min(int(top_k), n - 1)
        # stable ranking: strength descending, then the other city's index
        order = np.lexsort((np.broadcast_to(np.arange(n), (n, n)), -M), axis=1)[:, :k]
        in_top = np.zeros((n, n), dtype=bool)
        rows = np.repeat(np.arange(n), k)
        in_top[rows, order.ravel()] = True
        keep &= in_top[ii, jj] | in_top[jj, ii]
    smax = float(strength.max())
    if threshold is not None:
        keep &= strength >= threshold * smax
    ii, jj, d, strength = ii[keep], jj[keep], d[keep], strength[keep]
    # the stronger city first
    swap = (s[jj] > s[ii]) | ((s[jj] == s[ii]) & (cities["city_id"].to_numpy()[jj] < cities["city_id"].to_numpy()[ii]))
    a = np.where(swap, jj, ii)
    b = np.where(swap, ii, jj)
    ids = cities["city_id"].astype(str).to_numpy()
    order = np.lexsort((ids[b], ids[a], -strength))
    a, b, d, strength = a[order], b[order], d[order], strength[order]
    names = _name_col(cities).to_numpy()
    # provenance (geocity.provenance): a link rests on the weaker of its two cities' scores
    link_src = np.array(
        [_provenance.combine((sources[i], sources[j])) for i, j in zip(a, b, strict=True)], dtype=object
    )
    proxy = _provenance.describe(sources).proxy
    src = "proxy scores" if proxy else "scores"
    model = (
        f"gravity: s_i*s_j/max(d_ij,{min_distance_km:g} km)^{beta:g}, s = {dimension} ({src})"
        + (f", top {int(top_k)} per city" if top_k is not None else "")
        + (f", >= {threshold:g} x strongest" if threshold is not None else "")
    )
    columns = {
        "source_id": ids[a],
        "target_id": ids[b],
        "source_name": names[a],
        "target_name": names[b],
        "weight": strength / smax,
        "strength": strength,
        "distance_km": d,
        "modelled": np.ones(len(a), dtype=bool),
        "model": [model] * len(a),
        "score_source": link_src,
    }
    out = _frame(columns, lat[a], lon[a], lat[b], lon[b], max_segment_km)
    out.attrs.update(
        {"modelled": True, "dimension": dimension, "beta": float(beta),
         "top_k": top_k, "threshold": threshold, "min_distance_km": float(min_distance_km), "model": model}
    )
    log.info("gravity model on %s: %d links among %d cities", dimension, len(out), n)
    return out


# --------------------------------------------------------------------------
# observed edges
# --------------------------------------------------------------------------
def read_edges(path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read an edge table (CSV) with columns ``source, target[, weight]``.

    Decoded as every user table (:mod:`geocity._text`, through
    :func:`geocity.export._read_csv`): UTF-8 with or without BOM, UTF-16 by
    its mark, or GB18030/GBK detected (``encoding`` forces one); an empty,
    binary or mixed-encoding file, a header naming a column twice, or rows
    longer than the header are a :class:`ValidationError` naming the file.
    """
    from .export import _read_csv

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"edge table {path} does not exist")
    df = _read_csv(path, encoding=encoding, what=f"edge table {path}", dtype={"source": str, "target": str})
    df.attrs["path"] = str(path)
    df.attrs["encoding"] = encoding
    return df


def _edge_lines(edges: pd.DataFrame) -> list[int]:
    """Line number of each row of an edge table read by :func:`read_edges`
    (blank lines and line breaks in quoted cells counted); a table built in
    memory gets ``index position + 2``, the line it would have as a CSV."""
    from ._text import decode

    path = edges.attrs.get("path")
    if path:
        try:
            text = decode(Path(path).read_bytes(), edges.attrs.get("encoding"), Path(path))[0]
            lines = _validate.csv_record_lines(text)
        except (OSError, ValidationError):  # pragma: no cover - read_edges read it just before
            lines = []
        if len(lines) == len(edges):
            return lines
    return [i + 2 for i in range(len(edges))]


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode() or str(text)
    return " ".join(t.lower().replace("-", " ").replace(".", " ").split())


def _resolver(cities):
    by_id = {cid: i for i, cid in enumerate(cities["city_id"].astype(str))}
    by_name: dict[str, list[int]] = {}
    for col in ("name_en", "name_zh"):
        if col in cities.columns:
            for i, v in enumerate(cities[col]):
                if isinstance(v, str) and v.strip():
                    for key in {v.strip(), _norm(v)}:
                        lst = by_name.setdefault(key, [])
                        if i not in lst:
                            lst.append(i)

    def resolve(value) -> tuple[int | None, str]:
        if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
            return None, "empty"
        v = str(value).strip()
        if v in by_id:
            return by_id[v], "city_id"
        if v.lower() in by_id:
            return by_id[v.lower()], "city_id"
        hits = by_name.get(v) or by_name.get(_norm(v)) or []
        if len(hits) == 1:
            return hits[0], "name"
        if len(hits) > 1:
            ids = [cities["city_id"].iloc[h] for h in hits]
            return None, f"ambiguous ({', '.join(map(str, ids))}); use the city_id"
        return None, "no city of that name or id"

    return resolve


def _geocode_fallback(values: list[str], cities) -> dict[str, tuple[int | None, str]]:
    """Try :mod:`geocity.geocode` on names the cities layer did not resolve;
    a geocoded place counts only when it is one of the cities (same city_id)."""
    out: dict[str, tuple[int | None, str]] = {}
    if not values:
        return out
    try:
        from . import geocode as _gc
    except ImportError:
        return out
    try:
        res = _gc.geocode(pd.DataFrame({"name": values}), name_col="name")
    except GeocityError as exc:  # the geocoder's own validation: report, do not crash
        log.info("geocoder fallback failed: %s", exc)
        return out
    if "city_id" not in getattr(res, "columns", []):
        return out
    by_id = {cid: i for i, cid in enumerate(cities["city_id"].astype(str))}
    for v, cid, match in zip(values, res["city_id"], res.get("match", pd.Series(["?"] * len(res))), strict=True):
        if isinstance(cid, str) and cid in by_id and str(match) in ("exact", "alias"):
            out[v] = (by_id[cid], f"geocoder ({match})")
        elif str(match) == "ambiguous":
            out[v] = (None, "ambiguous in the geocoder; use the city_id")
        elif str(match) in ("exact", "alias"):
            out[v] = (None, "the geocoder knows this place, but it is not one of the cities")
    return out


def edge_links(  # noqa: C901 - every check of the table collected into one message before any link is built
    edges,
    *,
    cities=None,
    on_unresolved: str = "raise",
    max_segment_km: float = 50.0,
):
    """Observed links from an edge table.

    Parameters
    ----------
    edges
        Path of a CSV or a DataFrame with columns ``source``, ``target`` and
        optionally ``weight`` (default 1). Endpoints are ``city_id`` values or
        names (English or Chinese) of the cities.
    cities
        The city points to resolve against (default: the cities layer).
    on_unresolved
        ``"raise"`` (default): a :class:`ValidationError` listing every row
        whose source or target does not resolve; ``"skip"``: drop those rows,
        log them and keep them in ``links.attrs["unresolved"]``.
    max_segment_km
        Densification of the arcs.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`LINK_COLUMNS` + geometry in the order of the table;
        ``modelled`` is False, ``strength`` equals ``weight``.
    """
    if on_unresolved not in ("raise", "skip"):
        raise ValidationError(f"on_unresolved must be 'raise' or 'skip', not {on_unresolved!r}")
    where = "edge table"
    if isinstance(edges, (str, Path)):
        where = f"edge table {edges}"
        edges = read_edges(edges)
    if not isinstance(edges, pd.DataFrame):
        raise ValidationError(f"edges must be a CSV path or a DataFrame, got {type(edges).__name__}")
    cols = {str(c).strip().lower(): c for c in edges.columns}
    missing = [c for c in ("source", "target") if c not in cols]
    if missing:
        raise ValidationError(
            f"{where}: missing column(s) {missing}; expected source, target and optionally weight "
            f"(found {list(map(str, edges.columns))})"
        )
    if len(edges) == 0:
        raise ValidationError(f"{where}: no rows")
    src = edges[cols["source"]].tolist()
    dst = edges[cols["target"]].tolist()
    line = _edge_lines(edges)  # the CSV's own line numbers (header is line 1)
    labels = _validate.RowLabels(len(line), _validate.CsvLines(line))
    if "weight" in cols:
        w = pd.to_numeric(edges[cols["weight"]], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.ones(len(edges))
    problems = []
    badw = ~np.isfinite(w) | (w < 0)
    if badw.any():
        problems.append(
            f"{int(badw.sum())} row(s) with a missing, non-numeric or negative weight: "
            f"{_validate.rows(labels, np.flatnonzero(badw))}"
        )
    cities, lat, lon = _cities(cities)
    resolve = _resolver(cities)
    res_s = [resolve(v) for v in src]
    res_t = [resolve(v) for v in dst]
    both = zip(src + dst, res_s + res_t, strict=True)
    todo = sorted({str(v).strip() for v, r in both if r[0] is None and r[1] != "empty"
                   and not r[1].startswith("ambiguous")})
    fb = _geocode_fallback(todo, cities)
    res_s = [fb.get(str(v).strip(), r) if r[0] is None else r for v, r in zip(src, res_s, strict=True)]
    res_t = [fb.get(str(v).strip(), r) if r[0] is None else r for v, r in zip(dst, res_t, strict=True)]
    unresolved = []
    for k in range(len(edges)):
        for end, v, r in (("source", src[k], res_s[k]), ("target", dst[k], res_t[k])):
            if r[0] is None:
                unresolved.append({"line": line[k], "end": end, "value": v, "reason": r[1]})
    loops = [k for k in range(len(edges)) if res_s[k][0] is not None and res_s[k][0] == res_t[k][0]]
    if loops:
        problems.append(f"{len(loops)} row(s) link a city to itself: {_validate.rows(labels, loops)}")
    unres = pd.DataFrame(unresolved, columns=["line", "end", "value", "reason"])
    if len(unres) and on_unresolved == "raise":
        shown = "; ".join(f"line {r.line} {r.end} {r.value!r}: {r.reason}" for r in unres.head(15).itertuples())
        more = f" (and {len(unres) - 15} more)" if len(unres) > 15 else ""
        problems.append(
            f"{unres['line'].nunique()} row(s) whose source or target is not a known city: {shown}{more}. "
            "Use city_id values (e.g. santiago-cl) or names as in the cities layer, or skip them "
            "(on_unresolved='skip', CLI --skip-unresolved)"
        )
    if problems:
        raise ValidationError(f"{where}: " + "; ".join(problems))
    ok = [k for k in range(len(edges)) if res_s[k][0] is not None and res_t[k][0] is not None]
    if len(unres):
        log.warning("%s: skipped %d row(s) that did not resolve: %s", where, unres["line"].nunique(),
                    ", ".join(f"line {r.line} {r.value!r}" for r in unres.head(10).itertuples()))
    if not ok:
        raise ValidationError(f"{where}: no row resolved to two cities")
    a = np.array([res_s[k][0] for k in ok], dtype=int)
    b = np.array([res_t[k][0] for k in ok], dtype=int)
    ww = w[ok]
    ids = cities["city_id"].astype(str).to_numpy()
    names = _name_col(cities).to_numpy()
    d = distance_km(lat[a], lon[a], lat[b], lon[b])
    rows = {
        "source_id": ids[a],
        "target_id": ids[b],
        "source_name": names[a],
        "target_name": names[b],
        "weight": ww,
        "strength": ww,
        "distance_km": np.asarray(d, dtype=float),
        "modelled": np.zeros(len(a), dtype=bool),
        "model": ["observed"] * len(a),
        "score_source": [_provenance.USER] * len(a),  # the user's own observed flows
    }
    out = _frame(rows, lat[a], lon[a], lat[b], lon[b], max_segment_km)
    out.attrs.update({"modelled": False, "unresolved": unres, "model": "observed"})
    return out


# --------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------
def write_links(links, path, *, overwrite: bool = False, metadata: dict | None = None) -> list[Path]:
    """Write links through :func:`geocity.export.write` (format from the
    extension), with the model parameters in the metadata record."""
    from . import export

    md = {k: v for k, v in links.attrs.items() if k != "unresolved"}
    if "score_source" in links.columns:  # where the masses come from (geocity.provenance)
        md.update(_provenance.of_frame(links).record())
    if metadata:
        md.update(metadata)
    return export.write(links, path, overwrite=overwrite, layer="links", metadata=md)
