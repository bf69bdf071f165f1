"""Reference results shared by the clustering tests (not a test module)."""

from __future__ import annotations

import numpy as np
from sklearn import cluster as sklearn_cluster

from geocity.geodesy import EARTH_RADIUS_KM


def sklearn_dbscan(lat, lon, eps_km, min_samples, w):
    """scikit-learn's weighted haversine DBSCAN: (labels, core mask)."""
    X = np.radians(np.column_stack([lat, lon]))
    est = sklearn_cluster.DBSCAN(
        eps=eps_km / EARTH_RADIUS_KM, metric="haversine", algorithm="ball_tree", min_samples=min_samples
    ).fit(X, sample_weight=w)
    core = np.zeros(len(lat), dtype=bool)
    core[est.core_sample_indices_] = True
    return est.labels_, core
