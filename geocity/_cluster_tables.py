"""The output tables of :class:`geocity.cluster.CityClusters`.

:func:`_tables` turns the final label per city into the estimator's outputs:
``clusters_`` (one row per cluster: name, poles, typology, scores, provenance
and the boundary, ranked by total score, ``cluster_id`` = rank), ``members_``
(one row per city and cluster) and ``labels_``. Names, poles and typology come
from :mod:`geocity._cluster_naming`, the polygons from
:mod:`geocity._cluster_boundary`, the score source from the one rule of
:mod:`geocity.provenance`. A run with no cluster gives empty tables with the
same column types (:data:`_EMPTY_DTYPES`).

:data:`SHAPEFILE_FIELDS` is the export policy: the ≤ 10-character DBF names
of the long columns, the same for the command line, the main job and
:meth:`~geocity.cluster.CityClusters.write`. The names are re-exported from
:mod:`geocity.cluster`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from . import provenance as _provenance
from ._cluster_boundary import _centre, _hull, _partition
from ._cluster_naming import _DASH, _label_names, _poles, _poles_by, _ranked, _text, _typology
from .export import DEFAULT_FIELD_NAMES as _SHP_DEFAULTS

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

    from .cluster import CityClusters

#: ≤10-character shapefile field names of the long ``clusters_`` / ``members_``
#: columns: geocity's shared defaults (:data:`geocity.export.DEFAULT_FIELD_NAMES`),
#: so the command line and the main job write the same fields. Pass as
#: ``field_names`` to :func:`geocity.export.write` (the defaults apply anyway).
SHAPEFILE_FIELDS: dict[str, str] = {
    k: v
    for k, v in _SHP_DEFAULTS.items()
    if k in ("territories", "total_score", "mean_score", "score_source", "max_span_km", "cluster_name",
             "country_iso2", "infrastructure")
}

#: Column types of an empty ``clusters_`` / ``members_`` (a run with no cluster).
_EMPTY_DTYPES: dict[str, str] = {
    **dict.fromkeys(("cluster_id", "rank", "n_members", "n_ranked", "n_poles"), "int64"),
    **dict.fromkeys(
        ("total_score", "mean_score", "max_score", "centre_lat", "centre_lon", "lat", "lon", "weight",
         "innovation", "industry", "infrastructure", "composite"),
        "float64",
    ),
    **dict.fromkeys(("is_core", "is_pole", "ranked"), "bool"),
}

#: Columns of ``clusters_`` before the score and parameter columns, in order.
_CLUSTER_COLUMNS: list[str] = [
    "cluster_id", "rank", "name", "name_zh", "n_members", "n_ranked", "n_poles", "poles", "poles_by",
    "typology", "polarity", "scope", "territories", "total_score", "mean_score", "max_score", "centre_lat",
    "centre_lon",
]
#: Columns of ``members_``, in order (the score columns only when the cities have them).
_MEMBER_COLUMNS: list[str] = [
    "cluster_id", "cluster_name", "city_id", "name_en", "name_zh", "country_iso2", "lat", "lon", "is_core",
    "is_pole", "ranked", "weight", "innovation", "industry", "infrastructure", "composite", "score_source",
]
_SCORE_COLUMNS: tuple[str, ...] = ("innovation", "industry", "infrastructure", "composite")


def _tables(
    est: CityClusters,
    cities: pd.DataFrame,
    ids: pd.Series,
    lat: np.ndarray,
    lon: np.ndarray,
    w: np.ndarray,
    core: np.ndarray,
    final: np.ndarray,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, np.ndarray, dict[str, Any]]:
    """``(clusters_, members_, labels_, provenance record)`` of a fit whose
    final label per city (−1: noise, any order of labels) is ``final``.

    ``cities`` and ``ids`` have a 0..n−1 index; ``w`` is the weight per city,
    ``core`` the DBSCAN core flag; ``est`` gives the pole, boundary and
    parameter columns.
    """
    import pandas as pd

    name_en = cities["name_en"].astype(str) if "name_en" in cities.columns else ids
    name_zh = _text(cities["name_zh"]) if "name_zh" in cities.columns else pd.Series([""] * len(ids))
    label_en, label_zh = _label_names(name_en), _label_names(name_zh)
    terr = (
        _text(cities["country_iso2"]).str.upper()
        if "country_iso2" in cities.columns
        else ids.str.rsplit("-", n=1).str[-1].str.upper()
    )
    # provenance: one rule (geocity.provenance), per city, per cluster and for the run
    # (sample_weight: the cities' own score_source still says what their scores are; a layer
    # without one carries the user's own weights)
    if "score_source" in cities.columns:
        src = cities["score_source"].astype(str).reset_index(drop=True)
    else:
        src = pd.Series([_provenance.USER] * len(ids))
    prov = _provenance.describe(src)
    ranked = _ranked(src.to_numpy(), w)
    score_cols = [c for c in _SCORE_COLUMNS if c in cities.columns]
    rows = []
    for lab in np.unique(final[final >= 0]):
        idx = np.flatnonzero(final == lab)
        idx = idx[np.lexsort((ids.to_numpy()[idx], -w[idx]))]
        poles = _poles(idx, w, float(est.pole_share), int(est.max_poles))
        n_ranked = int(ranked[idx].sum())
        polarity, scope = _typology(poles, terr.iloc[idx])
        clat, clon = _centre(lat[idx], lon[idx])
        rows.append(
            {
                "_lab": lab,
                "name": _DASH.join(label_en.iloc[poles]),
                "name_zh": _DASH.join(z for z in label_zh.iloc[poles] if z) or "",
                "n_members": len(idx),
                "poles": ";".join(ids.iloc[poles]),
                "n_poles": len(poles),
                "poles_by": _poles_by(idx, poles, w, n_ranked),
                "n_ranked": n_ranked,
                "typology": f"{polarity} {scope}",
                "polarity": polarity,
                "scope": scope,
                "territories": ";".join(sorted(set(terr.iloc[idx]))),
                "total_score": float(w[idx].sum()),
                "mean_score": float(w[idx].mean()),
                "max_score": float(w[idx[0]]),
                "centre_lat": clat,
                "centre_lon": clon,
                "geometry": _hull(
                    lat[idx], lon[idx], clat, clon, est.hull, float(est.concave_ratio), float(est.buffer_km)
                ),
                "_idx": idx,
                "_poles": set(poles),
                "score_source": _provenance.combine(src.iloc[idx]),
            }
        )
    rows.sort(key=lambda r: (-r["total_score"], r["name"]))
    if est.boundary == "partition":
        parted = _partition([r["geometry"] for r in rows], [(r["centre_lat"], r["centre_lon"]) for r in rows],
                            [(lat[r["_idx"]], lon[r["_idx"]]) for r in rows])
        for r, g in zip(rows, parted, strict=True):
            r["geometry"] = g
    labels = np.full(len(ids), -1, dtype=np.int64)
    members = []
    for k, r in enumerate(rows, start=1):
        r["cluster_id"] = k
        r["rank"] = k
        labels[r["_idx"]] = k
        for i in r["_idx"]:
            members.append(
                {
                    "cluster_id": k,
                    "cluster_name": r["name"],
                    "city_id": ids.iloc[i],
                    "name_en": name_en.iloc[i],
                    "name_zh": name_zh.iloc[i],
                    "country_iso2": terr.iloc[i],
                    "lat": float(lat[i]),
                    "lon": float(lon[i]),
                    "is_core": bool(core[i]),
                    "is_pole": i in r["_poles"],
                    "ranked": bool(ranked[i]),
                    "weight": float(w[i]),
                    **{c: float(cities[c].iloc[i]) for c in score_cols},
                    "score_source": src.iloc[i],
                }
            )
    return _clusters_table(est, rows), _members_table(members, score_cols), labels, prov.record()


def _clusters_table(est: CityClusters, rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """``clusters_`` from the ranked cluster rows, with the score, provenance
    and parameter columns (an empty table with the same types for no row)."""
    import geopandas as gpd
    import pandas as pd

    cols = _CLUSTER_COLUMNS
    if rows:
        df = pd.DataFrame([{c: r[c] for c in cols} for r in rows])
        geoms = [r["geometry"] for r in rows]
    else:  # no cluster: an empty table with the same column types
        df = pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, object)) for c in cols})
        geoms = []
    df["score"] = est.score
    df["score_source"] = pd.Series([r["score_source"] for r in rows], dtype=object)
    df["proxy"] = (df["score_source"] == _provenance.RANK_PROXY).astype(bool)
    df["eps_km"] = float(est.eps_km)
    df["min_weight"] = float(est.min_weight)
    df["method"] = est.method
    df["max_span_km"] = float(est.max_span_km) if est.method != "dbscan" else float("nan")
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


def _members_table(members: list[dict[str, Any]], score_cols: list[str]) -> pd.DataFrame:
    """``members_`` from the member rows (an empty table with the same
    columns and types for no row; score columns only those of the cities)."""
    import pandas as pd

    mcols = _MEMBER_COLUMNS
    if members:
        mem = pd.DataFrame(members)
    else:
        keep = [c for c in mcols if c in score_cols or c not in _SCORE_COLUMNS]
        mem = pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, object)) for c in keep})
    return mem[[c for c in mcols if c in mem.columns]]
