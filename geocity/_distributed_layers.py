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


def _members_part(part, offset: int, j: int, corridors, within_km, path, out_file):
    from . import corridors as cor

    part = part.copy()
    if "row" in part.columns:
        raise ValidationError(f"corridor points, partition {j}: a column is called 'row'; rename it (the output "
                              "names each point's input position 'row')")
    part.insert(0, "row", np.arange(offset, offset + len(part), dtype=np.int64))
    if len(part) == 0:
        m = cor.members(_probe_points(), corridors=corridors, within_km=within_km, path=path, progress=False)
        m = m.iloc[0:0]
    else:
        m = cor.members(part, corridors=corridors, within_km=within_km, path=path, progress=False)
    m.attrs = {}
    m = m.reset_index(drop=True)
    if out_file is None:
        return m
    tmp = out_file + ".part"
    m.to_parquet(tmp, index=False)
    os.replace(tmp, out_file)
    return len(m)


def _probe_points():
    import geopandas as gpd

    return gpd.GeoDataFrame({"row": [0]}, geometry=gpd.points_from_xy([0.0], [0.0]), crs="EPSG:4326")


def corridor_members(points, *, corridors=("CPEC",), within_km: float = 100, path=None, client=None,
                     output: str | os.PathLike | None = None, overwrite: bool = False, inputs=()):
    """:func:`geocity.corridors.members` of a partitioned point layer on a Dask cluster.

    Each input partition is one task: its points (with ``row``, their input
    position) go through :func:`geocity.corridors.members` with the same
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
    from .distributed import _check_output, _require_dask, _staged_folder, _write_provenance, get_client

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
    sizes = np.asarray(cl.gather(cl.compute([dask.delayed(_part_len, pure=True)(p, j, what)
                                             for j, p in enumerate(parts)])), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    params = {"corridors": corridors, "within_km": float(within_km), "path": path}
    if out is None:
        tasks = [dask.delayed(_members_part, pure=True)(p, int(o), j, corridors, within_km, path, None)
                 for j, (p, o) in enumerate(zip(parts, offsets, strict=True))]
        meta = probe.iloc[0:0].copy()
        meta.attrs = {}
        return cl.persist(dd.from_delayed(cl.compute(tasks), meta=meta, verify_meta=False))
    with _staged_folder(out, overwrite) as tmp:
        tasks = [dask.delayed(_members_part, pure=False)(p, int(o), j, corridors, within_km, path,
                                                         str(tmp / f"part.{j:05d}.parquet"))
                 for j, (p, o) in enumerate(zip(parts, offsets, strict=True))]
        rows = int(sum(cl.gather(cl.compute(tasks))))
        _write_provenance(tmp, params, inputs, {"n_points": int(sizes.sum()), "n_rows": rows},
                          engine="geocity.corridors.members per partition on Dask (geocity.distributed)")
    return out


# --------------------------------------------------------------------------
# density on partitions
# --------------------------------------------------------------------------
def _density_part(part, j: int, weight_column, options: dict, shape):
    from . import density as dens

    _part_len(part, j, "density points")
    if len(part) == 0:
        return np.zeros(shape), 0, 0.0
    if weight_column is not None and weight_column not in part.columns:
        raise ValidationError(f"density points, partition {j}: no weight column {weight_column!r}; columns are "
                              f"{sorted(map(str, part.columns))}")
    w = None if weight_column is None else np.asarray(part[weight_column], dtype=float)
    if w is not None and not (np.isfinite(w) & (w >= 0)).all():
        bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0)))[:10].tolist()
        raise ValidationError(f"density points, partition {j}: {int((~(np.isfinite(w) & (w >= 0))).sum())} "
                              f"missing, non-finite or negative weight(s) in {weight_column!r}, e.g. rows {bad} "
                              "(density weights must be >= 0; fill or drop them)")
    total = float(len(part)) if w is None else float(w.sum())
    if total == 0.0:  # no mass here (the engine refuses an all-zero layer as an underflow)
        return np.zeros(shape), len(part), 0.0
    surf = dens.density(part, weight=weight_column, **options)
    return np.nan_to_num(surf.values, nan=0.0), len(part), total


def _add(a, b):
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


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
    values, n, total = futs[0].result()
    if total <= 0:
        raise ValidationError("density_surface: the weights sum to 0 over every partition; there is no density")
    values = np.where(np.isnan(probe.values), np.nan, values)
    md = dict(probe.metadata)
    md.update({"weight": weight_column or "count", "units": f"{weight_column or 'count'} per km2",
               "n_points": int(n), "total_weight": float(total), "weight_source": "user",
               "engine": "geocity.density.density per partition, summed on Dask (geocity.distributed)"})
    surface = dens.DensitySurface(values=values, transform=probe.transform, crs=probe.crs, metadata=md)
    if output is None:
        return surface
    return dens.write_geotiff(surface, output, overwrite=overwrite)
