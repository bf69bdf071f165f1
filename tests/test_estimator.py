"""geocity's clusterers are scikit-learn estimators: GeodesicDBSCAN (any point
layer) and CityClusters (the report's city clusters) — clone, get/set_params,
repr, pipelines, scikit-learn's estimator checks, sample_weight, and
GeodesicDBSCAN against scikit-learn's haversine DBSCAN."""

from __future__ import annotations

import pickle
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import DBSCAN
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as ec
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from geocity.cluster import CityClusters, SelfCoreWarning, report_clusters
from geocity.dbscan import GeodesicDBSCAN
from geocity.errors import ValidationError
from geocity.geodesy import EARTH_RADIUS_KM

# --------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------
# GeodesicDBSCAN takes exactly two columns, [lat, lon] in degrees, and refuses
# coordinates off the globe. scikit-learn's checks feed random data of 3-30
# columns, or 2 columns around 100 (latitudes beyond 90°): those checks cannot
# apply and are expected to fail (strictly: one that starts passing fails the
# test). What they check is tested below on valid [lat, lon] data instead
# (pickle, idempotent fit, dtypes and lists, NaN/inf, sample_weight, n_features_in_).
_COLUMNS = "feeds X with 3 or more columns; GeodesicDBSCAN takes exactly two, [lat, lon] in degrees"
_RANGE = "feeds rng.normal(loc=100, size=(n, 2)): latitudes near 100°, outside [-90, 90]"
GEODESIC_DBSCAN_XFAIL = {
    **dict.fromkeys(
        [
            "check_fit_score_takes_y", "check_dont_overwrite_parameters", "check_n_features_in_after_fitting",
            "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_sample_weights_list",
            "check_all_zero_sample_weights_error", "check_sample_weight_equivalence_on_dense_data",
            "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf",
            "check_estimators_pickle", "check_f_contiguous_array_estimator",
            "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1sample",
            "check_dict_unchanged", "check_fit2d_predict1d",
        ],
        _COLUMNS,
    ),
    **dict.fromkeys(["check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in"], _RANGE),
}


@parametrize_with_checks(
    [GeodesicDBSCAN()], expected_failed_checks=lambda est: GEODESIC_DBSCAN_XFAIL, xfail_strict=True
)
def test_geodesic_dbscan_passes_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ec.SkipTestWarning)
        check(estimator)


# CityClusters fits a table of cities (city_id, point geometry or lat/lon, scores), not
# a numeric array, so only the checks that do not fit random arrays can run.
# check_dont_overwrite_parameters fits random arrays: its rule is tested by hand below.
@pytest.mark.parametrize(
    "check",
    [
        ec.check_get_params_invariance, ec.check_set_params, ec.check_no_attributes_set_in_init,
        ec.check_parameters_default_constructible, ec.check_estimator_repr, ec.check_estimator_cloneable,
        ec.check_do_not_raise_errors_in_init_or_set_params, ec.check_mixin_order, ec.check_valid_tag_types,
    ],
    ids=lambda c: c.__name__,
)
def test_city_clusters_passes_sklearn_api_checks(check):
    check("CityClusters", CityClusters())


# --------------------------------------------------------------------------
# the estimator API of CityClusters
# --------------------------------------------------------------------------
def _layer():
    """Six cities: a cluster of four around Shenzhen, two lone cities."""
    rows = [
        ("shenzhen-cn", 22.54, 114.06, 0.6), ("hong-kong-hk", 22.32, 114.17, 0.5),
        ("guangzhou-cn", 23.13, 113.26, 0.4), ("dongguan-cn", 23.02, 113.75, 0.1),
        ("lima-pe", -12.05, -77.04, 0.1), ("oslo-no", 59.91, 10.75, 0.1),
    ]
    df = pd.DataFrame(rows, columns=["city_id", "lat", "lon", "composite"])
    df["name_en"] = df["city_id"].str.split("-").str[0].str.title()
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")


def test_clone_round_trips_parameters_and_is_unfitted():
    est = CityClusters(eps_km=400, min_weight=0.5, method="dbscan", dimension_weights=(1, 0, 0), max_poles=2)
    est.fit(_layer())
    c = clone(est)
    assert c.get_params() == est.get_params()
    assert c.get_params()["dimension_weights"] == (1, 0, 0)
    assert not hasattr(c, "labels_") and not hasattr(c, "clusters_")
    with pytest.raises(NotFittedError):
        check_is_fitted(c)
    check_is_fitted(est)


def test_get_params_set_params_and_repr():
    est = CityClusters()
    names = ["boundary", "buffer_km", "concave_ratio", "dimension_weights", "eps_km", "gap_depth", "gap_ratio", "hull",
             "max_poles", "max_span_km", "method", "min_gap_km", "min_members", "min_weight", "pole_share", "score"]
    assert sorted(est.get_params(deep=True)) == names
    assert est.get_params(deep=True) == est.get_params(deep=False)
    assert est.get_params()["dimension_weights"] == (1, 1, 1)  # a tuple default, stored as given
    assert est.set_params(eps_km=300, method="dbscan") is est
    assert (est.eps_km, est.method) == (300, "dbscan")
    assert repr(est) == "CityClusters(eps_km=300, method='dbscan')"
    assert repr(CityClusters()) == "CityClusters()"
    with pytest.raises(ValueError, match="Invalid parameter 'eps'"):
        est.set_params(eps=3)
    # the constructor stores, fit validates: a bad value is kept until fit refuses it
    bad = CityClusters(eps_km=-5, max_poles=2.5)
    assert bad.eps_km == -5
    msg = r"eps_km must be a positive number of km, got -5; max_poles must be an int"
    with pytest.raises(ValidationError, match=msg):
        bad.fit(_layer())


@pytest.mark.parametrize(
    "params, match",
    [
        ({"concave_ratio": "abc"}, r"concave_ratio must be a float in the range \[0.0, 1.0\], got 'abc'"),
        ({"max_poles": 2.5}, r"max_poles must be an int in the range \[1, inf\), got 2.5"),
        ({"pole_share": 0}, "pole_share must be a float in the range"),
        ({"min_members": 0}, "min_members must be an int"),
        ({"method": "hdbscan"}, r"method must be a str among \{'dbscan', 'metro', 'split'\}, got 'hdbscan'"),
        ({"dimension_weights": ("a", 1, 1)}, "dimension_weights must be three non-negative numbers"),
        ({"eps_km": "450"}, "eps_km must be a float in the range"),
    ],
)
def test_bad_parameters_are_one_validation_error_before_any_work(params, match):
    # before: concave_ratio="abc" and dimension_weights=("a", 1, 1) were bare ValueErrors from float()
    with pytest.raises(ValidationError, match=match) as exc:
        CityClusters(**params).fit(None)  # the parameters are checked first, before the (missing) cities
    assert isinstance(exc.value, InvalidParameterError)  # scikit-learn code catches it too
    assert str(exc.value).startswith("CityClusters: ")


def test_fit_without_cities_raises_and_says_what_to_pass():
    # before: fit() silently clustered the embedded cities with rank-proxy scores
    for call in (lambda: CityClusters().fit(), lambda: CityClusters().fit(None), lambda: CityClusters().fit_predict()):
        with pytest.raises(ValidationError, match=r"no cities given.*city_scores\(\).*report_clusters\(\)"):
            call()


def test_fit_does_not_change_parameters():
    # what check_dont_overwrite_parameters asks, on a table of cities
    est = CityClusters(eps_km=400, min_weight=0.5, dimension_weights=[1, 1, 1])
    before = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in est.get_params().items()}
    dw = est.dimension_weights
    est.fit(_layer())
    assert est.dimension_weights is dw
    assert {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in est.get_params().items()} == before
    public = {k for k in vars(est) if not k.startswith("_") and not k.endswith("_")}
    assert public == set(est.get_params())


def _same_fit(a, b, *, params_diff=()):
    np.testing.assert_array_equal(a.labels_, b.labels_)
    pd.testing.assert_frame_equal(a.members_, b.members_, check_exact=True)
    pd.testing.assert_frame_equal(a.clusters_.to_wkb(), b.clusters_.to_wkb(), check_exact=True)
    pa = {k: v for k, v in a.params_.items() if k not in params_diff}
    pb = {k: v for k, v in b.params_.items() if k not in params_diff}
    assert pa == pb


def test_sample_weight_equals_using_the_score_column():
    from geocity.scores import city_scores

    cities = city_scores()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelfCoreWarning)
        by_column = CityClusters(score="innovation").fit(cities)
        by_weight = CityClusters(score="innovation").fit(cities, sample_weight=cities["innovation"].to_numpy())
        _same_fit(by_column, by_weight, params_diff=("sample_weight",))
        assert by_weight.params_["sample_weight"] is True and "sample_weight" not in by_column.params_
        # the composite as the estimator computes it: mean of the three dimensions
        dims = cities[["innovation", "industry", "infrastructure"]].to_numpy(dtype=float)
        w = dims @ np.ones(3) / 3.0
        _same_fit(CityClusters().fit(cities), CityClusters().fit(cities, sample_weight=list(w)),
                  params_diff=("sample_weight",))


def test_sample_weight_clusters_a_layer_without_scores():
    layer = _layer().drop(columns=["composite"])
    with pytest.raises(ValidationError, match="no 'composite' score"):
        CityClusters(eps_km=200, min_weight=0.5).fit(layer)
    est = CityClusters(eps_km=200, min_weight=0.5, score="industry").fit(
        layer, sample_weight=[0.6, 0.5, 0.4, 0.1, 0.1, 0.1]
    )
    assert est.labels_.tolist() == [1, 1, 1, 1, -1, -1]
    assert est.clusters_["score"].tolist() == ["industry"]  # score only names the weight
    assert est.members_["weight"].tolist() == [0.6, 0.5, 0.4, 0.1]
    for bad, match in (([1, 2], "sample_weight has 2 values for 6 points"),
                       ([0.6, -1, 0.4, 0.1, 0.1, 0.1], r"row 1 \(hong-kong-hk\) is -1.0"),
                       ([0.6, np.nan, 0.4, 0.1, 0.1, 0.1], "must be finite"),
                       (["a"] * 6, "sample_weight must be numeric")):
        with pytest.raises(ValidationError, match=match):
            CityClusters(eps_km=200, min_weight=0.5).fit(layer, sample_weight=bad)


def test_report_clusters_is_the_report_run_and_a_pipeline_gives_the_same_labels():
    from geocity import layers
    from geocity.scores import city_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SelfCoreWarning)
        direct = CityClusters().fit(city_scores())
        helper = report_clusters()
        _same_fit(direct, helper)
        assert "Shenzhen–Hong Kong–Guangzhou" in set(helper.clusters_["name"])
        pipe = Pipeline([("scores", FunctionTransformer(city_scores)), ("clusters", CityClusters())])
        labels = pipe.fit_predict(layers.load("cities"))
    np.testing.assert_array_equal(labels, direct.labels_)
    with pytest.raises(ValidationError, match="eps_km must be a positive number"):
        report_clusters(eps_km=0)


# --------------------------------------------------------------------------
# GeodesicDBSCAN
# --------------------------------------------------------------------------
def _random_layer(seed: int):
    """Clumps across the antimeridian and around the North Pole (the pole itself
    included), a clump on the equator, scattered points; weights 0.2-2."""
    rng = np.random.default_rng(seed)
    am_lat = rng.normal(0, 1.0, 60)
    am_lon = (180 + rng.normal(0, 1.0, 60) + 180) % 360 - 180
    po_lat = np.clip(90 - np.abs(rng.normal(0, 1.0, 60)), -90, 90)
    po_lon = rng.uniform(-180, 180, 60)
    eq_lat, eq_lon = rng.normal(10, 0.8, 40), rng.normal(20, 0.8, 40)
    sc_lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 40)))
    sc_lon = rng.uniform(-180, 180, 40)
    lat = np.concatenate([am_lat, po_lat, [90.0, -90.0], eq_lat, sc_lat])
    lon = np.concatenate([am_lon, po_lon, [0.0, 0.0], eq_lon, sc_lon])
    order = rng.permutation(len(lat))
    w = rng.uniform(0.2, 2.0, len(lat))
    return np.column_stack([lat[order], lon[order]]), w


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("algorithm", ["kdtree", "brute", "grid"])
def test_geodesic_dbscan_equals_sklearn_haversine_dbscan_with_sample_weight(seed, algorithm):
    X, w = _random_layer(seed)
    eps_km, min_weight = 80.0, 3
    est = GeodesicDBSCAN(eps_km=eps_km, min_weight=min_weight, algorithm=algorithm,
                         count_edge_pairs=True).fit(X, sample_weight=w)
    assert est.info_["edge_pairs"] == 0  # no pair within 1e-9 of eps: the claim is exact agreement
    sk = DBSCAN(eps=eps_km / EARTH_RADIUS_KM, min_samples=min_weight, metric="haversine",
                algorithm="ball_tree").fit(np.radians(X), sample_weight=w)
    np.testing.assert_array_equal(est.labels_, sk.labels_)
    np.testing.assert_array_equal(est.core_sample_indices_, sk.core_sample_indices_)
    np.testing.assert_array_equal(est.components_, X[sk.core_sample_indices_])
    assert est.n_features_in_ == 2
    # a cluster spans the antimeridian and one holds the pole
    am = (np.abs(X[:, 0]) < 3) & (np.abs(X[:, 1]) > 177)
    labs = est.labels_[am & (est.labels_ >= 0)]
    assert (X[est.labels_ == np.bincount(labs).argmax(), 1] > 0).any()
    assert (X[est.labels_ == np.bincount(labs).argmax(), 1] < 0).any()
    assert est.labels_[np.flatnonzero(X[:, 0] == 90.0)[0]] >= 0


def test_geodesic_dbscan_takes_a_geodataframe_in_any_crs():
    X, w = _random_layer(7)
    ref = GeodesicDBSCAN(eps_km=80, min_weight=3).fit(X, sample_weight=w)
    g = gpd.GeoDataFrame(geometry=gpd.points_from_xy(X[:, 1], X[:, 0]), crs="EPSG:4326")
    np.testing.assert_array_equal(GeodesicDBSCAN(eps_km=80, min_weight=3).fit_predict(g, sample_weight=w),
                                  ref.labels_)
    far = g[np.abs(g.geometry.y) < 80]  # a projected CRS (equal-area Mollweide): reprojected to WGS 84
    keep = np.abs(X[:, 0]) < 80
    est = GeodesicDBSCAN(eps_km=80, min_weight=3).fit(far.to_crs("ESRI:54009"), sample_weight=w[keep])
    sub = GeodesicDBSCAN(eps_km=80, min_weight=3).fit(X[keep], sample_weight=w[keep])
    np.testing.assert_array_equal(est.labels_, sub.labels_)
    assert est.n_features_in_ == 2 and not hasattr(est, "feature_names_in_")
    with pytest.raises(ValidationError, match="no CRS"):
        GeodesicDBSCAN().fit(g.set_crs(None, allow_override=True))
    bad = g.copy()
    bad.loc[3, "geometry"] = None
    with pytest.raises(ValidationError, match=r"one Point per row.*row 3 \(3\)"):
        GeodesicDBSCAN().fit(bad)


def test_geodesic_dbscan_what_the_skipped_sklearn_checks_ask_on_lat_lon_data():
    X, w = _random_layer(3)
    est = GeodesicDBSCAN(eps_km=80, min_weight=3)
    labels = est.fit(X, sample_weight=w).labels_.copy()
    # idempotent, pickle, lists / float32 / int input, read-only input
    np.testing.assert_array_equal(est.fit(X, sample_weight=w).labels_, labels)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.labels_, labels)
    assert again.get_params() == est.get_params()
    np.testing.assert_array_equal(clone(est).fit_predict(X.tolist(), sample_weight=list(w)), labels)
    Xi = np.round(X).astype(int)
    np.testing.assert_array_equal(clone(est).fit_predict(Xi), clone(est).fit_predict(Xi.astype(np.float32)))
    ro = X.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(clone(est).fit_predict(ro, sample_weight=w), labels)
    # a weight of 2 is the point given twice; all-zero weights: no core point, all noise
    est2 = clone(est).fit(np.vstack([X, X[:5]]), sample_weight=np.concatenate([w[:5], w[5:], w[:5]]) * 1.0)
    w2 = w.copy()
    w2[:5] *= 2
    np.testing.assert_array_equal(est2.labels_[: len(X)], clone(est).fit_predict(X, sample_weight=w2))
    assert (clone(est).fit_predict(X, sample_weight=np.zeros(len(X))) == -1).all()
    # a DataFrame keeps its column names, a later array drops them
    df = pd.DataFrame(X, columns=["lat", "lon"])
    assert est.fit(df).feature_names_in_.tolist() == ["lat", "lon"]
    assert not hasattr(est.fit(X), "feature_names_in_")


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        ([[np.nan, 0.0], [1.0, 1.0]], {}, r"missing or non-finite coordinates: row 1$"),
        ([[0.0, np.inf], [1.0, 1.0]], {}, "non-finite"),
        ([[95.0, 0.0], [1.0, 1.0]], {}, r"latitude outside \[-90, 90\].*: row 1\b"),
        ([[0.0, 1.0, 2.0]], {}, r"X has 3 feature\(s\) \(columns\); it needs 2"),
        ([0.0, 1.0], {}, "2D array"),
        (np.zeros((0, 2)), {}, "0 sample"),
        ([["a", "b"]], {}, "could not convert"),
        ([[0.0, 0.0], [1.0, 1.0]], {"sample_weight": [1.0]}, "sample_weight has 1 values for 2 points"),
        ([[0.0, 0.0], [1.0, 1.0]], {"sample_weight": [1.0, -2.0]}, "row 1 is -2.0"),
    ],
)
def test_geodesic_dbscan_bad_input_is_one_validation_error(X, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        GeodesicDBSCAN().fit(X, **kwargs)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"eps_km": -5}, r"^GeodesicDBSCAN: eps_km must be a positive number of km, got -5$"),
        ({"min_weight": 0}, "min_weight must be a positive number"),
        ({"algorithm": "ball"}, r"algorithm must be a str among \{'auto', 'brute', 'grid', 'kdtree'\}, got 'ball'"),
        ({"progress": "yes"}, "progress must be an instance of 'bool'"),
        ({"eps_km": "x", "algorithm": "ball"}, r"eps_km must be a positive number of km, got 'x'; algorithm must be"),
    ],
)
def test_geodesic_dbscan_bad_parameters(params, match):
    with pytest.raises(ValidationError, match=match) as exc:
        GeodesicDBSCAN(**params).fit([[0.0, 0.0]])
    assert isinstance(exc.value, InvalidParameterError)


def test_engine_names_are_still_importable_from_geocity_cluster():
    from geocity import cluster, dbscan

    for name in ("geodesic_dbscan", "GeodesicDBSCAN", "CHUNK_PAIRS", "EDGE_RTOL", "GRID_MIN_POINTS",
                 "PROGRESS_MIN_POINTS"):
        assert getattr(cluster, name) is getattr(dbscan, name)
