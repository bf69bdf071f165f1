"""The inputs and the blocks of :mod:`geocity.distributed`: pieces of
(lat, lon, weight) read and checked on the workers, the cubic blocks in 3-D
unit-vector space, their Z-order grouping into tasks, and each point's
replication to its owner and halo tasks. Internal; the names are re-exported
by :mod:`geocity.distributed`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ValidationError

#: Absolute margin (unit-vector units) added to the halo reach, far above rounding.
MARGIN: float = 1e-9
#: Default block side (unit-vector units, ~64 km) when 2 eps is smaller (``block_km`` sets it).
MIN_BLOCK: float = 0.01


# --------------------------------------------------------------------------
# inputs: pieces of (lat, lon, weight) on the workers
# --------------------------------------------------------------------------
def _check_piece(lat, lon, w, j: int, what: str):
    """Validated float arrays of one input partition (rows named within it)."""
    from .geodesy import validate_latlon

    try:
        lat = np.asarray(lat, dtype=float).ravel()
        lon = np.asarray(lon, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}, partition {j}: coordinates must be numeric ({exc})") from None
    if lat.size != lon.size:
        raise ValidationError(f"{what}, partition {j}: {lat.size} latitudes for {lon.size} longitudes")
    if lat.size:
        validate_latlon(lat, lon, what=f"{what}, partition {j}")
    if w is None:
        w = np.ones(lat.size)
    else:
        try:
            w = np.asarray(w, dtype=float).ravel()
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{what}, partition {j}: weights must be numeric ({exc})") from None
        if w.size != lat.size:
            raise ValidationError(f"{what}, partition {j}: {w.size} weights for {lat.size} points")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            rows = np.flatnonzero(bad)[:10].tolist()
            raise ValidationError(
                f"{what}, partition {j}: {int(bad.sum())} weight(s) are NaN, infinite or negative, e.g. rows "
                f"{rows} of that partition; weights must be finite and >= 0"
            )
    return np.ascontiguousarray(lat), np.ascontiguousarray(lon), np.ascontiguousarray(w)


def _piece_from_arrays(lat, lon, w, j: int):
    return _check_piece(lat, lon, w, j, "points")


def _piece_from_frame(part, weight_column: str | None, j: int, what: str):
    import geopandas as gpd

    from .geodesy import to_wgs84

    if not isinstance(part, gpd.GeoDataFrame):
        raise ValidationError(f"{what}, partition {j}: not a GeoDataFrame (no geometry column); the partitions "
                              "need point geometries (GeoParquet written by geopandas or dask-geopandas)")
    try:
        geom = part.geometry
    except AttributeError:
        raise ValidationError(f"{what}, partition {j}: no active geometry column; partitions need point "
                              "coordinates") from None
    if len(part) and part.crs is None:
        raise ValidationError(f"{what}, partition {j}: the geometry has no CRS; set one (e.g. EPSG:4326)")
    if len(part):
        geom = to_wgs84(geom, name=f"{what}, partition {j}")
    bad = (geom.isna() | geom.is_empty | (geom.geom_type != "Point")).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:10].tolist()
        raise ValidationError(
            f"{what}, partition {j}: {int(bad.sum())} row(s) have no point coordinates (missing, empty or not a "
            f"Point geometry), e.g. rows {rows} of that partition; give every row a point"
        )
    w = None
    if weight_column is not None:
        if weight_column not in part.columns:
            raise ValidationError(f"{what}, partition {j}: no column {weight_column!r} for the weights; columns are "
                                  f"{[str(c) for c in part.columns][:20]}")
        w = part[weight_column].to_numpy()
    return _check_piece(geom.y.to_numpy(dtype=float), geom.x.to_numpy(dtype=float), w, j, what)


def _natural_key(s: str) -> list:
    """Natural sort key (``part.2`` before ``part.10``): Dask's ``natural_sort_key``, which
    ``dask.dataframe.read_parquet`` applies to a folder's files (and to any list of them)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def parquet_files(points, what: str = "points") -> list[Path]:
    """The files of a GeoParquet file or folder, in the one order every path reads them.

    A folder's ``*.parquet`` files (not in sub-folders; names starting with ``.`` or
    ``_`` are not data) in natural order of their paths, as Dask orders them, so
    that a point's ``row`` (its input position) is the same on one machine and on
    Dask: ``part.2`` comes before ``part.10``.

    Parameters
    ----------
    points
        A GeoParquet file or a folder of them.
    what
        The layer's name in error messages.

    Returns
    -------
    list of pathlib.Path
    """
    path = Path(points)
    if not path.exists():
        raise ValidationError(f"{what}: {str(path)!r} does not exist; give a GeoParquet file or folder")
    if not path.is_dir():
        return [path]
    files = sorted((f for f in path.glob("*.parquet") if f.is_file() and not f.name.startswith((".", "_"))),
                   key=lambda f: _natural_key(str(f)))
    if not files:
        raise ValidationError(f"{what}: {str(path)!r} holds no .parquet files")
    return files


def _read_geoparquet(points, what: str):
    """A GeoParquet file or folder as a dask_geopandas frame (the files of
    :func:`parquet_files`, in its order), or one clear error."""
    files = parquet_files(points, what)
    import dask_geopandas

    try:
        return dask_geopandas.read_parquet([str(f) for f in files])
    except Exception as exc:  # pyarrow/geopandas raise many kinds
        raise ValidationError(f"{what}: cannot read {str(points)!r} as GeoParquet ({type(exc).__name__}: "
                              f"{exc}); write it with geopandas/dask-geopandas to_parquet") from None


def _input_pieces(points, lon, weights, weight_column, what):
    """Delayed loaders, one per input partition, of validated (lat, lon, w)."""
    import dask
    import dask.array as da

    if isinstance(points, (str, os.PathLike)):
        points = _read_geoparquet(points, what)
    if isinstance(points, da.Array):
        if lon is None or not isinstance(lon, da.Array):
            raise ValidationError(f"{what}: with a dask array of latitudes pass lon= as a dask array too")
        lat = points.ravel()
        lonv = lon.ravel().rechunk(lat.chunks)
        if lonv.shape != lat.shape:
            raise ValidationError(f"{what}: {lat.shape[0]} latitudes for {lonv.shape[0]} longitudes")
        w = None
        if weights is not None:
            w = (weights if isinstance(weights, da.Array) else da.from_array(np.asarray(weights, dtype=float)))
            w = w.ravel()
            if w.shape != lat.shape:
                raise ValidationError(f"{what}: {w.shape[0]} weights for {lat.shape[0]} points")
            w = w.rechunk(lat.chunks).to_delayed().ravel()
        la, lo = lat.to_delayed().ravel(), lonv.to_delayed().ravel()
        return [dask.delayed(_piece_from_arrays, pure=True)(la[j], lo[j], None if w is None else w[j], j)
                for j in range(len(la))]
    if hasattr(points, "to_delayed") and hasattr(points, "npartitions"):
        if weights is not None:
            raise ValidationError(f"{what}: with a GeoDataFrame give weight_column= (a column name), not weights=")
        parts = points.to_delayed()
        return [dask.delayed(_piece_from_frame, pure=True)(p, weight_column, j, what) for j, p in enumerate(parts)]
    raise ValidationError(
        f"{what}: expected a dask array of latitudes (with lon=), a dask_geopandas.GeoDataFrame or a GeoParquet "
        f"path, not {type(points).__name__}; for data in memory use geocity.dbscan.geodesic_dbscan"
    )


# --------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Grid:
    r: float  # chord of eps
    side: float  # block side
    nb: int  # blocks per axis

    @property
    def inner(self) -> float:
        return self.r + MARGIN

    @property
    def outer(self) -> float:
        return 2.0 * self.r + 2.0 * MARGIN

    def index(self, v: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((v + 1.0) / self.side).astype(np.int64), 0, self.nb - 1)

    def key(self, bx, by, bz) -> np.ndarray:
        return (bx * self.nb + by) * self.nb + bz


def _grid(eps_km: float, block_km: float | None) -> _Grid:
    from .geodesy import EARTH_RADIUS_KM, chord_from_arc_km

    r = float(chord_from_arc_km(eps_km, EARTH_RADIUS_KM))
    wanted = MIN_BLOCK if block_km is None else float(chord_from_arc_km(block_km, EARTH_RADIUS_KM))
    side = max(2.0 * r + 2.0 * MARGIN, wanted)  # never below the halo reach
    side = min(side, 2.0 + 1e-6)  # one block holds everything
    return _Grid(r=r, side=side, nb=int(np.floor(2.0 / side)) + 2)


def _unit(lat, lon):
    from .geodesy import unit_vectors

    return unit_vectors(lat, lon)


def _block_counts(piece, grid: _Grid):
    lat, lon, _ = piece
    if lat.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    b = grid.index(_unit(lat, lon))
    keys, counts = np.unique(grid.key(b[:, 0], b[:, 1], b[:, 2]), return_counts=True)
    return keys, counts.astype(np.int64), int(lat.size)


def _morton(b: np.ndarray) -> np.ndarray:
    """Z-order code of block indices (n, 3)."""
    code = np.zeros(len(b), dtype=np.int64)
    for bit in range(21):
        for ax in range(3):
            code |= ((b[:, ax] >> bit) & 1) << (3 * bit + ax)
    return code


def _group_blocks(keys: np.ndarray, counts: np.ndarray, grid: _Grid, npartitions: int):
    """Occupied blocks (sorted keys) and their group 0..G-1: Z-order, equal counts."""
    bx, rest = np.divmod(keys, grid.nb * grid.nb)
    by, bz = np.divmod(rest, grid.nb)
    z = _morton(np.column_stack([bx, by, bz]))
    order = np.argsort(z, kind="stable")
    before = np.concatenate([[0], np.cumsum(counts[order])[:-1]])
    total = int(counts.sum())
    g = np.minimum((before * npartitions) // max(total, 1), npartitions - 1)
    _, g = np.unique(g, return_inverse=True)  # no empty group numbers
    group = np.empty(len(keys), dtype=np.int64)
    group[order] = g
    return keys, group


def _replicate(piece, offset: int, grid: _Grid, bkeys: np.ndarray, bgroup: np.ndarray) -> pd.DataFrame:
    """Rows for the owner group and the halo groups of each point of one input partition.

    ``kind`` 0 owned, 1 inner halo, 2 outer halo; ``rep`` (owned rows): inner halo elsewhere."""
    lat, lon, w = piece
    n = lat.size
    U = _unit(lat, lon)
    own = grid.index(U)

    def lookup(bx, by, bz):
        k = grid.key(bx, by, bz)
        i = np.clip(np.searchsorted(bkeys, k), 0, len(bkeys) - 1)
        return np.where(bkeys[i] == k, bgroup[i], -1)

    g_own = lookup(own[:, 0], own[:, 1], own[:, 2])
    lo2, hi2 = grid.index(U - grid.outer), grid.index(U + grid.outer)
    lo1, hi1 = grid.index(U - grid.inner), grid.index(U + grid.inner)
    tg, ti, tp = [], [], []
    for dx in range(3):  # the box is 2 reach <= 2 sides wide: at most 3 blocks per axis
        for dy in range(3):
            for dz in range(3):
                bx, by, bz = lo2[:, 0] + dx, lo2[:, 1] + dy, lo2[:, 2] + dz
                ok = (bx <= hi2[:, 0]) & (by <= hi2[:, 1]) & (bz <= hi2[:, 2])
                if not ok.any():
                    continue
                p = np.flatnonzero(ok)
                g = lookup(bx[p], by[p], bz[p])
                inner = ((bx[p] >= lo1[p, 0]) & (bx[p] <= hi1[p, 0]) & (by[p] >= lo1[p, 1]) & (by[p] <= hi1[p, 1])
                         & (bz[p] >= lo1[p, 2]) & (bz[p] <= hi1[p, 2]))
                keep = (g >= 0) & (g != g_own[p])
                tp.append(p[keep])
                tg.append(g[keep])
                ti.append(inner[keep])
    p = np.concatenate(tp) if tp else np.zeros(0, dtype=np.int64)
    g = np.concatenate(tg) if tg else np.zeros(0, dtype=np.int64)
    inner = np.concatenate(ti) if ti else np.zeros(0, dtype=bool)
    # one halo row per (point, group): inner if any of its blocks there is
    o = np.lexsort((~inner, g, p))
    p, g, inner = p[o], g[o], inner[o]
    first = np.ones(len(p), dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (g[1:] != g[:-1])
    p, g, inner = p[first], g[first], inner[first]
    rep = np.zeros(n, dtype=bool)
    rep[p[inner]] = True
    idx = np.concatenate([np.arange(n), p])
    return pd.DataFrame({
        "target": np.concatenate([g_own, g]).astype(np.int64),
        "row": (idx + offset).astype(np.int64),
        "lat": lat[idx], "lon": lon[idx], "w": w[idx],
        "kind": np.concatenate([np.zeros(n, np.int8), np.where(inner, 1, 2).astype(np.int8)]),
        "rep": np.concatenate([rep, np.zeros(len(p), dtype=bool)]),
    })
