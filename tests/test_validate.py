"""Bad numbers give one message shape, naming the parameter, from every public entry point."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geocity import _validate
from geocity.errors import ValidationError

BAD = [0, -5, "abc", None, True, math.nan, math.inf, [1.0], np.array([2.0])]


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_positive_refuses(value):
    with pytest.raises(ValidationError, match=r"^eps_km must be a positive number of km, got "):
        _validate.positive("eps_km", value, unit="km")


def test_positive_accepts_numbers_and_numeric_strings():
    assert _validate.positive("x", 3) == 3.0
    assert _validate.positive("x", np.float32(0.5)) == 0.5
    assert _validate.positive("x", " 450 ") == 450.0
    assert _validate.non_negative("beta", 0) == 0.0
    assert _validate.whole("top_k", 3.0) == 3 and isinstance(_validate.whole("top_k", np.int64(3)), int)


def test_problems_are_gathered_instead_of_raised():
    problems: list[str] = []
    assert math.isnan(_validate.positive("a_km", -1, unit="km", problems=problems))
    assert math.isnan(_validate.whole("k", 2.5, problems=problems))
    assert math.isnan(_validate.non_negative("beta", -0.1, problems=problems))
    assert problems == [
        "a_km must be a positive number of km, got -1",
        "k must be a whole number >= 1, got 2.5",
        "beta must be a number >= 0, got -0.1",
    ]


def _calls():
    from shapely.geometry import Point

    from geocity import cluster, corridors, density, geodesy, network
    from geocity.render import leaflet

    return {
        "eps_km": lambda v: cluster.geodesic_dbscan([0.0, 1.0], [0.0, 1.0], eps_km=v, min_weight=1),
        "min_weight": lambda v: cluster.geodesic_dbscan([0.0, 1.0], [0.0, 1.0], eps_km=10, min_weight=v),
        "max_span_km": lambda v: cluster.CityClusters(max_span_km=v).fit(),
        "within_km": lambda v: corridors.members(None, within_km=v),
        "bandwidth_km": lambda v: density.density(None, bandwidth_km=v, cell_deg=1.0),
        "cell_km": lambda v: density.density(None, bandwidth_km=300, cell_km=v),
        "min_distance_km": lambda v: network.gravity_links(min_distance_km=v),
        "top_k": lambda v: network.gravity_links(top_k=v),
        "buffer distance": lambda v: geodesy.buffer_km(Point(0, 0), v),
        "within_km ": lambda v: leaflet.webmap(["cities"], within_km=v),
    }


_NAMES = ["eps_km", "min_weight", "max_span_km", "within_km", "bandwidth_km", "cell_km", "min_distance_km",
          "top_k", "buffer distance", "within_km "]
_CASES = [(n, v) for n in _NAMES for v in (-1, "ten", None)
          if not (v is None and n in ("cell_km", "top_k"))]  # None means "not given" there


@pytest.mark.parametrize("name, value", _CASES, ids=[f"{n.strip()}={v!r}" for n, v in _CASES])
def test_public_entry_points_name_the_bad_parameter(name, value):
    assert set(_NAMES) == set(_calls())
    with pytest.raises(ValidationError, match=rf"{name.strip()} must be a (positive|whole) number"):
        _calls()[name](value)
