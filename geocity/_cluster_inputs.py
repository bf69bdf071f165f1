"""The inputs of :meth:`geocity.cluster.CityClusters.fit`, checked.

:func:`_points` reads the cities' ``city_id`` and positions (point geometry
in any CRS, or ``lat``/``lon`` columns in degrees); :func:`_weights` the
weight per city (``sample_weight``, or the ``score`` column, the composite
recomputed from the three dimensions with ``dimension_weights``). Every
refusal is a :class:`~geocity.errors.ValidationError` naming the column,
the cities and the fix.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from .dbscan import _numeric, _sample_weight
from .errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

    from .cluster import CityClusters

#: The estimator's logger, one name for all its modules.
log = logging.getLogger("geocity.cluster")


def _points(cities: pd.DataFrame | None) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """``city_id`` (str Series), lat and lon (degrees) of ``cities``, or
    a ValidationError saying what is wrong with the layer."""
    import geopandas as gpd
    import pandas as pd

    from .geodesy import to_wgs84

    if cities is None:
        raise ValidationError(
            "CityClusters.fit: no cities given; pass the scored cities, e.g. "
            "fit(geocity.scores.city_scores()) for the report's embedded cities and rank-proxy scores, "
            "or use geocity.cluster.report_clusters()"
        )
    if not isinstance(cities, pd.DataFrame):
        raise ValidationError(f"cities must be a GeoDataFrame, got {type(cities).__name__}")
    if len(cities) == 0:
        raise ValidationError("cities is empty; nothing to cluster")
    if "city_id" not in cities.columns:
        raise ValidationError("cities has no 'city_id' column; use the cities layer or add one")
    ids = cities["city_id"].astype(str)
    if ids.duplicated().any():
        raise ValidationError(
            f"cities: duplicate city_id(s) {sorted(set(ids[ids.duplicated()]))[:10]}; each city once"
        )
    has_geom = isinstance(cities, gpd.GeoDataFrame) and cities._geometry_column_name in cities.columns
    if has_geom and cities.geometry.notna().all():
        g = to_wgs84(cities, name="cities")
        if not (g.geometry.geom_type == "Point").all():
            raise ValidationError("cities must be points (one Point per city)")
        lon = g.geometry.x.to_numpy(dtype=float)
        lat = g.geometry.y.to_numpy(dtype=float)
    elif {"lat", "lon"} <= set(cities.columns):
        problems: list[str] = []
        lab = ids.tolist()
        lat = _numeric("lat", cities["lat"].to_numpy(), "latitudes in degrees", problems, lab)
        lon = _numeric("lon", cities["lon"].to_numpy(), "longitudes in degrees", problems, lab)
        if problems:
            raise ValidationError("cities: " + "; ".join(problems))
    else:
        raise ValidationError("cities needs point geometry (with a CRS) or lat/lon columns")
    return ids, lat, lon


def _weights(est: CityClusters, gdf: pd.DataFrame, sample_weight: ArrayLike | None = None) -> np.ndarray:
    """The weight per city: ``sample_weight`` if given, else the ``score``
    column (composite: recomputed from the three dimensions with
    ``dimension_weights`` when they are all there). The score columns
    present must be numbers ≥ 0 either way (``members_`` copies them)."""
    from .scores import DIMENSIONS, _weights

    w3 = _weights(est.dimension_weights)
    problems: list[str] = []
    for c in (*DIMENSIONS, "composite"):
        if c in gdf.columns:
            _numeric(f"score {c!r}", gdf[c].to_numpy(), "a number per city, ≥ 0", problems,
                     gdf["city_id"].astype(str).tolist())
    if problems:
        raise ValidationError("cities: " + "; ".join(problems))
    for c in (*DIMENSIONS, "composite"):
        if c in gdf.columns:
            v = gdf[c].to_numpy(dtype=float)
            neg = np.isfinite(v) & (v < 0)
            if neg.any():
                raise ValidationError(
                    f"score {c!r} is negative for {gdf['city_id'].to_numpy()[neg][:10].tolist()}; "
                    "scores must be ≥ 0"
                )
    if sample_weight is not None:
        return _sample_weight(est, sample_weight, len(gdf), gdf["city_id"].astype(str).tolist())
    if est.score == "composite":
        dims_ok = all(d in gdf.columns for d in DIMENSIONS) and np.isfinite(
            gdf[list(DIMENSIONS)].to_numpy(dtype=float)
        ).all()
        if dims_ok:
            return gdf[list(DIMENSIONS)].to_numpy(dtype=float) @ w3 / w3.sum()
        if "composite" not in gdf.columns:
            raise ValidationError(
                "cities have no 'composite' score and not all of innovation/industry/infrastructure; "
                "run geocity.scores.city_scores(cities) first"
            )
        if tuple(float(x) for x in w3) != (1.0, 1.0, 1.0):
            log.info("dimension_weights ignored: the scores give a composite but not all three dimensions")
        col = "composite"
    else:
        col = est.score
        if col not in gdf.columns:
            raise ValidationError(
                f"cities have no {col!r} score; run geocity.scores.city_scores(cities) first "
                "or give that column in your scores table"
            )
    w = gdf[col].to_numpy(dtype=float)
    bad = ~np.isfinite(w)
    if bad.any():
        ids = gdf["city_id"].to_numpy()[bad][:10].tolist()
        raise ValidationError(
            f"score {col!r} is missing for {int(bad.sum())} cities, e.g. {ids}; give that column for "
            "every city or choose another score"
        )
    return w

