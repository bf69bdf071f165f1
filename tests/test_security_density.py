"""Density surfaces are never silently wrong (issue 11, part 5a): every surface
integrates to the total weight, whatever the bandwidth/cell ratio, at the
poles and across the antimeridian, or the parameters are refused; overflowing
weights are an error, not an all-inf GeoTIFF."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner

from geocity import density
from geocity.cli.main import cli
from geocity.errors import GeocityError


def _pts(lon, lat, w):
    return gpd.GeoDataFrame({"w": np.asarray(w, float)}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _mass_ok(pts, **kw):
    try:
        surf = density.density(pts, weight="w", **kw)
    except GeocityError as exc:  # refused with a reason: allowed
        assert str(exc)
        return None
    total = float(pts["w"].sum())
    assert surf.total_weight() == pytest.approx(total, rel=0.01), kw
    return surf


@pytest.mark.parametrize("bw, cell", [(5, 50), (25, 50), (300, 50), (0.0001, 50)])
def test_bandwidth_below_the_cell_conserves_mass(bw, cell):
    pts = _pts([10, 12, 15], [45, 46, 44], [10.0, 20.0, 17.8])
    _mass_ok(pts, bandwidth_km=bw, cell_km=cell)


@pytest.mark.parametrize("lat", [90.0, -90.0])
def test_a_point_at_the_pole(lat):
    _mass_ok(_pts([0.0], [lat], [1.0]), bandwidth_km=300, cell_km=50)


def test_antimeridian():
    _mass_ok(_pts([179.9, -179.9, 180.0], [-17.0, -17.5, -18.0], [1.0, 2.0, 3.0]), bandwidth_km=200, cell_km=25)


def test_overflowing_weights_are_refused(tmp_path):
    src = tmp_path / "w.csv"
    src.write_text("name,lat,lon,w\na,10,10,1e308\nb,11,11,1e308\n", encoding="utf-8")
    out = tmp_path / "d.tif"
    res = CliRunner().invoke(cli, ["density", "--points", str(src), "--weight", "w", "--bandwidth-km", "100",
                                   "--cell-km", "50", "-o", str(out)])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert not out.exists()
