"""Corridor membership and kernel density of :mod:`geocity.distributed` on
partitions: :func:`corridor_members` (``corridors.members`` per input
partition) and :func:`density_surface` (binned density per partition on one
grid, summed on the workers). Re-exported by :mod:`geocity.distributed`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._distributed_blocks import _read_geoparquet
from .errors import ValidationError


# --------------------------------------------------------------------------
# corridor membership on partitions
# --------------------------------------------------------------------------
def _partitions(points, what: str):
    """Delayed GeoDataFrame partitions of a dask_geopandas frame or a GeoParquet path."""
    if isinstance(points, (str, os.PathLike)):
        points = _read_geoparquet(points, what)
    if not (hasattr(points, "to_delayed") and hasattr(points, "npartitions")):
        raise ValidationError(f"{what}: expected a dask_geopandas.GeoDataFrame or a GeoParquet path, not "
                              f"{type(points).__name__}; for a layer in memory use geocity.corridors.members")
    return points.to_delayed()


def _part_len(part, j: int, what: str) -> int:
    import geopandas as gpd

    if not isinstance(part, gpd.GeoDataFrame):
        raise ValidationError(f"{what}, partition {j}: not a GeoDataFrame (no geometry column); the partitions "
                              "need point geometries (GeoParquet written by geopandas or dask-geopandas)")
    return len(part)


def _members_part(part, j: int, corridors, within_km, path, out_file):
    """Memberships of one partition, ``row`` counted from 0 within it (the offset is added by
    :func:`_shift_rows` once every partition's length is known: the input is read once).
    Returns ``(memberships or None, partition length)``; with ``out_file`` the memberships
    are written there instead."""
    from . import corridors as cor

    _part_len(part, j, "corridor points")
    if "row" in part.columns:
        raise ValidationError(f"corridor points, partition {j}: a column is called 'row'; rename it (the output "
                              "names each point's input position 'row')")
    n = len(part)
    part = part.copy()
    part.insert(0, "row", np.arange(n, dtype=np.int64))
    if n == 0:
        m = cor.members(_probe_points(), corridors=corridors, within_km=within_km, path=path, progress=False)
        m = m.iloc[0:0]
    else:
        m = cor.members(part, corridors=corridors, within_km=within_km, path=path, progress=False)
    m.attrs = {}
    m = m.reset_index(drop=True)
    if out_file is None:
        return m, n
    _write_atomic(m, out_file)
    return None, n


def _write_atomic(frame, out_file: str) -> None:
    tmp = out_file + ".part"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, out_file)  # a retried task rewrites its own part, whole


def _shift_rows(m, offset: int, src: str | None = None, out_file: str | None = None):
    """``row`` made the input position (partition offset added); from/to files with ``src``/``out_file``."""
    import geopandas as gpd

    if src is not None:
        if not os.path.exists(src):  # a retried task: already moved into place
            return int(gpd.read_parquet(out_file).shape[0])
        m = gpd.read_parquet(src)
    m = m.copy()
    m["row"] = m["row"].to_numpy(dtype=np.int64) + np.int64(offset)
    if out_file is None:
        return m
    _write_atomic(m, out_file)
    if src is not None:
        os.remove(src)
    return len(m)


def _first(t):
    return t[0]


def _second(t):
    return t[1]


def _offsets(cl, res) -> np.ndarray:
    """Row offsets of the partitions (and the total last) from the tasks' partition lengths."""
    sizes = np.asarray(cl.gather([cl.submit(_second, f, pure=True) for f in res]), dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)])


def _probe_points():
    import geopandas as gpd

    return gpd.GeoDataFrame({"row": [0]}, geometry=gpd.points_from_xy([0.0], [0.0]), crs="EPSG:4326")


def corridor_members(points, *, corridors=("CPEC",), within_km: float = 100, path=None, client=None,
                     output: str | os.PathLike | None = None, overwrite: bool = False, inputs=()):
    """:func:`geocity.corridors.members` of a partitioned point layer on a Dask cluster.

    Each input partition is read once, by one task: its points (with ``row``,
    their input position: the partition's offset is added to its memberships
    once every partition's length is known) go through :func:`geocity.corridors.members` with the same
    corridors and range, so every membership row (``corridor``, ``branch``,
    ``distance_km``, ``chainage_km``, ``nearest_waypoint``, ``side``) is the
    single-machine one (a point's membership depends on the point and the
    corridor alone). The corridor table is read once per worker process
    (:mod:`geocity.corridors` caches it); a user ``path`` must be readable by
    every worker (shared storage).

    Parameters
    ----------
    points
        A ``dask_geopandas.GeoDataFrame`` of points (any CRS) or a GeoParquet
        file or folder.
    corridors, within_km, path
        As in :func:`geocity.corridors.members` (checked on the client before any task runs).
    client
        A ``distributed.Client`` or a scheduler address; default: the current client.
    output
        A GeoParquet folder (one part per input partition, each ordered as
        :func:`~geocity.corridors.members` orders its rows) with the
        provenance record :data:`PROVENANCE_NAME`; written all or nothing.
        ``None``: return a Dask GeoDataFrame instead. Sorting the rows by
        corridor, branch, ``chainage_km`` and ``row`` gives the single-machine
        table's order.
    overwrite
        Replace an existing ``output`` folder.
    inputs
        Input files to checksum in the provenance record.

    Returns
    -------
    dask_geopandas.GeoDataFrame or pathlib.Path
        The memberships, or the folder written.
    """
    # the scheme's shared helpers (imported here: geocity.distributed re-exports this module)
    from .distributed import _check_output, _require_dask, _settled, _staged_folder, _write_provenance, get_client

    _require_dask()
    import dask
    import dask.dataframe as dd

    from . import corridors as cor

    what = "corridor points"
    # every option checked here first, on one probe point (names, range, corridor file)
    probe = cor.members(_probe_points(), corridors=corridors, within_km=within_km, path=path, progress=False)
    out = _check_output(output, overwrite)
    parts = _partitions(points, what)
    cl = get_client(client)
    params = {"corridors": corridors, "within_km": float(within_km), "path": path}
    if out is None:
        res = cl.compute([dask.delayed(_members_part, pure=True)(p, j, corridors, within_km, path, None)
                          for j, p in enumerate(parts)])
        offsets = _offsets(cl, res)
        meta = probe.iloc[0:0].copy()
        meta.attrs = {}
        shifted = [cl.submit(_shift_rows, cl.submit(_first, f, pure=True), int(o), pure=True)
                   for f, o in zip(res, offsets[:-1], strict=True)]
        members = cl.persist(dd.from_delayed(shifted, meta=meta, verify_meta=False))
        _settled(members)  # an in-process scheduler done with its graph before the caller builds more
        return members
    with _staged_folder(out, overwrite) as tmp:
        local = [str(tmp / f".local.{j:05d}.parquet") for j in range(len(parts))]
        res = cl.compute([dask.delayed(_members_part, pure=False)(p, j, corridors, within_km, path, local[j])
                          for j, p in enumerate(parts)])
        offsets = _offsets(cl, res)
        n_points = int(offsets[-1]) if len(offsets) else 0
        moved = [cl.submit(_shift_rows, None, int(o), local[j], str(tmp / f"part.{j:05d}.parquet"), pure=False)
                 for j, o in enumerate(offsets[:-1])]
        rows = int(sum(cl.gather(moved)))
        _write_provenance(tmp, params, inputs, {"n_points": n_points, "n_rows": rows},
                          engine="geocity.corridors.members per partition on Dask (geocity.distributed)")
    return out


# --------------------------------------------------------------------------
# density on partitions
# --------------------------------------------------------------------------
def _density_part(part, j: int, weight_column, options: dict, shape):
    from . import density as dens

    _part_len(part, j, "density points")
    if len(part) == 0:
        return np.zeros(shape), 0, 0.0, np.zeros(4, np.int64)
    if weight_column is not None and weight_column not in part.columns:
        raise ValidationError(f"density points, partition {j}: no weight column {weight_column!r}; columns are "
                              f"{sorted(map(str, part.columns))}")
    w = None if weight_column is None else np.asarray(part[weight_column], dtype=float)
    if w is not None and not (np.isfinite(w) & (w >= 0)).all():
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[:10].tolist()
        raise ValidationError(f"density points, partition {j}: {int((~(np.isfinite(w) & (w >= 0))).sum())} "
                              f"missing, non-finite or negative weight(s) in {weight_column!r}, e.g. rows {bad} "
                              "(density weights must be >= 0; fill or drop them)")
    prov = _score_counts(part, weight_column)
    total = float(len(part)) if w is None else float(w.sum())
    if total == 0.0:  # no mass here (the engine refuses an all-zero layer as an underflow)
        return np.zeros(shape), len(part), 0.0, prov
    surf = dens.density(part, weight=weight_column, **options)
    return np.nan_to_num(surf.values, nan=0.0), len(part), total, prov


def _score_counts(part, weight_column) -> np.ndarray:
    """(rank-proxy, user, user-missing rows, 1 if the partition has a ``score_source`` column) of a
    weighted partition, by :func:`geocity.provenance.of_frame` (the rule ``density`` applies)."""
    from . import provenance

    if weight_column is None or "score_source" not in part.columns:
        return np.zeros(4, np.int64)
    p = provenance.of_frame(part)
    return np.array([p.n_proxy, p.n_user, p.n_missing, 1], dtype=np.int64)


def _add(a, b):
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]


def _weights_record(counts: np.ndarray, n: int) -> dict:
    """The surface's weight provenance: what :func:`geocity.density.density` records for the whole
    layer (``weight_source``, ``weights_proxy`` and :meth:`ScoreProvenance.record`'s fields), from the
    partitions' summed counts; no ``score_source`` column anywhere: the user's own weights."""
    from . import provenance

    if not counts[3]:
        return {"weight_source": "user", "weights_proxy": False}
    # partitions without the column hold user values, as provenance.of_frame counts them
    n_user = int(counts[1]) + (n - int(counts[0] + counts[1] + counts[2]))
    prov = provenance.ScoreProvenance(n_proxy=int(counts[0]), n_user=n_user, n_missing=int(counts[2]))
    return {"weight_source": prov.source, "weights_proxy": prov.proxy, **prov.record()}


def density_surface(points, *, bandwidth_km: float, extent, weight_column: str | None = None,
                    cell_km: float | None = None, cell_deg: float | None = None, crs=None,
                    kernel: str = "gaussian", client=None, output: str | os.PathLike | None = None,
                    overwrite: bool = False):
    """:func:`geocity.density.density` of a partitioned point layer on a Dask cluster.

    The binned method is linear in the weights on a fixed grid, so the
    surface of the whole layer is the sum of the partitions' surfaces on the
    same grid: each input partition is one task running
    :func:`geocity.density.density` (``method="binned"``, the same ``extent``,
    cells, CRS and kernel), the grids are added pairwise on the workers, and
    only the summed grid reaches the client. It equals the single-machine
    ``density(..., method="binned")`` to rounding (each partition's surface
    is computed and scaled on its own: measured within 1e-7 of the peak
    value), and conserves the mass as that does.

    Parameters
    ----------
    points
        A ``dask_geopandas.GeoDataFrame`` of points or a GeoParquet file or folder.
    bandwidth_km, cell_km, cell_deg, crs, kernel
        As in :func:`geocity.density.density`.
    extent
        ``(west, south, east, north)`` degrees, required: the one grid every
        partition is binned on (the single-machine default is derived from
        all points, which no task sees).
    weight_column
        Column of non-negative weights (default: count points).
    client
        A ``distributed.Client`` or a scheduler address; default: the current client.
    output
        A GeoTIFF to write with :func:`geocity.density.write_geotiff` (its
        provenance tags included); ``None``: return the surface.
    overwrite
        Replace an existing ``output``.

    Returns
    -------
    geocity.density.DensitySurface or pathlib.Path
    """
    from .distributed import _require_dask, get_client

    _require_dask()
    import dask
    import geopandas as gpd

    from . import density as dens

    if extent is None:
        raise ValidationError("density_surface: give extent=(west, south, east, north) in degrees; every partition "
                              "is binned on that one grid")
    options = dict(bandwidth_km=bandwidth_km, cell_km=cell_km, cell_deg=cell_deg, extent=extent, crs=crs,
                   kernel=kernel, method="binned", progress=False)
    # every option checked here first, on one probe point at the extent's centre
    w0, s0, e0, n0 = (float(v) for v in extent)
    probe_pts = gpd.GeoDataFrame({"w": [1.0]}, geometry=gpd.points_from_xy([(w0 + e0) / 2], [(s0 + n0) / 2]),
                                 crs="EPSG:4326")
    probe = dens.density(probe_pts, weight="w", **options)
    if output is not None:
        from .export import check_writable

        if Path(output).suffix.lower() not in (".tif", ".tiff"):
            raise ValidationError(f"density_surface: output {str(output)!r} must be a GeoTIFF (.tif or .tiff)")
        check_writable(output, overwrite)
    parts = _partitions(points, "density points")
    cl = get_client(client)
    futs = cl.compute([dask.delayed(_density_part, pure=True)(p, j, weight_column, options, probe.values.shape)
                       for j, p in enumerate(parts)])
    while len(futs) > 1:  # pairwise sums on the workers
        nxt = [cl.submit(_add, futs[i], futs[i + 1], pure=True) for i in range(0, len(futs) - 1, 2)]
        futs = nxt + ([futs[-1]] if len(futs) % 2 else [])
    values, n, total, counts = futs[0].result()
    if total <= 0:
        raise ValidationError("density_surface: the weights sum to 0 over every partition; there is no density")
    values = np.where(np.isnan(probe.values), np.nan, values)
    md = dict(probe.metadata)
    md.update({"weight": weight_column or "count", "units": f"{weight_column or 'count'} per km2",
               "n_points": int(n), "total_weight": float(total), **_weights_record(counts, int(n)),
               "engine": "geocity.density.density per partition, summed on Dask (geocity.distributed)"})
    surface = dens.DensitySurface(values=values, transform=probe.transform, crs=probe.crs, metadata=md)
    if output is None:
        return surface
    return dens.write_geotiff(surface, output, overwrite=overwrite)
