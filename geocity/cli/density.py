"""``geocity density``: a weighted kernel density surface written as GeoTIFF."""

from __future__ import annotations

from pathlib import Path

import click

from .. import density as _density
from . import options


@click.command("density")
@click.option(
    "--points",
    type=click.Path(exists=True),
    default=None,
    help="Point layer (GPKG/GeoJSON/SHP/FGB, or CSV with lat/lon). Default: the report's cities with their 3I scores. "
    "With --workers/--scheduler: a GeoParquet file or partitioned folder.",
)
@options.scores_file
@click.option(
    "--weight",
    default=None,
    help="Weight column: innovation, industry, infrastructure, composite (cities; default composite) "
    "or any numeric column of --points (default: every point counts 1).",
)
@click.option("--bandwidth-km", type=float, required=True, help="Kernel bandwidth in km (Gaussian sigma).")
@click.option("--cell-km", type=float, default=None, help="Cell size in km on an equal-area grid.")
@click.option("--cell-deg", type=float, default=None, help="Cell size in degrees on a lon/lat grid.")
@click.option(
    "--extent",
    nargs=4,
    type=float,
    default=None,
    metavar="WEST SOUTH EAST NORTH",
    help="Grid extent in degrees (default: the points plus the kernel's reach).",
)
@click.option("--crs", default=None, help="Equal-area CRS of a --cell-km grid (default: Equal Earth or local LAEA).")
@click.option("--kernel", type=click.Choice(_density.KERNELS), default="gaussian", show_default=True)
@click.option(
    "--method", type=click.Choice(["auto", "exact", "binned"]), default="auto", show_default=True,
    help="exact: direct sum; binned: bin + FFT convolution along rows (fast).",
)
@click.option("--mask-land", is_flag=True, default=False, help="Blank cells outside the basemap's land polygons.")
@click.option("--memory-limit-gb", type=float, default=_density.MEMORY_LIMIT_GB, show_default=True)
@options.workers
@options.scheduler
@options.output_file
@options.overwrite
@options.quiet
def command(points, scores_file, weight, bandwidth_km, cell_km, cell_deg, extent, crs, kernel, method,
            mask_land, memory_limit_gb, workers, scheduler, output, overwrite, quiet):
    """Kernel density of city scores (or any point layer) as a GeoTIFF.

    Distances are great-circle km, the surface is in weight per km² and
    integrates to the total weight.

    With --workers N (a local Dask cluster) or --scheduler ADDR (a running
    one), --points is a GeoParquet file or partitioned folder: each partition
    is binned on the one grid of --extent (required) and the grids summed on
    Dask (the binned method); -o is one GeoTIFF.

    Example: geocity density --weight innovation --bandwidth-km 300 --cell-km 25 -o innovation.tif

    Example: geocity density --points pts/ --bandwidth-km 50 --cell-km 10 --extent 60 0 140 60 --workers 2 -o d.tif
    """
    from .. import export

    # a bad or existing output is refused before the (possibly long) computation
    export.check_outputs({"-o/--output": output}, overwrite, metadata=False, formats=(".tif", ".tiff"))
    if workers is not None or scheduler is not None:
        options.dask_refuses(workers, scheduler, {"--scores": "scores_file", "--mask-land": "mask_land",
                                                  "--memory-limit-gb": "memory_limit_gb"})
        if points is None or method == "exact" or extent is None:
            raise click.UsageError("--workers/--scheduler need --points (a GeoParquet file or folder) and --extent "
                                   "(the one grid of every partition), with --method auto or binned")
        from .. import distributed

        with options.dask_session(workers, scheduler, quiet) as client:
            surface = distributed.density_surface(points, weight_column=weight, bandwidth_km=bandwidth_km,
                                                  cell_km=cell_km, cell_deg=cell_deg, extent=extent, crs=crs,
                                                  kernel=kernel, client=client)
    elif points is not None and Path(points).is_dir():
        raise click.UsageError("--points is a folder: a partitioned GeoParquet layer needs --workers N or "
                               "--scheduler ADDR (or give one file)")
    else:
        surface = _local(points, scores_file, weight, bandwidth_km, cell_km, cell_deg, extent, crs, kernel,
                         method, mask_land, memory_limit_gb, quiet)
    path = _density.write_geotiff(surface, output, overwrite=overwrite)
    md = surface.metadata
    note = f" ({md['scores_note']})" if md.get("scores_note") and md.get("weights_proxy") else ""
    h, w = surface.shape
    click.echo(
        f"wrote {path}: {h}x{w} cells, {md['weight']} per km², bandwidth {md['bandwidth_km']:g} km, "
        f"{md['kernel']} kernel, method {md['method']}{note}"
    )


def _local(points, scores_file, weight, bandwidth_km, cell_km, cell_deg, extent, crs, kernel, method, mask_land,
           memory_limit_gb, quiet):
    """The surface on this machine (the command as it was before Dask runs)."""
    if scores_file is not None:
        if points is not None:
            raise click.UsageError("--scores applies to the report's cities; do not combine it with --points")
        from .. import scores

        points = scores.city_scores(source=scores_file)
    return _density.density(
        points,
        weight=weight,
        bandwidth_km=bandwidth_km,
        cell_km=cell_km,
        cell_deg=cell_deg,
        extent=extent,
        crs=crs,
        kernel=kernel,
        mask_land=mask_land,
        method=method,
        memory_limit_gb=memory_limit_gb,
        progress=not quiet,
    )
