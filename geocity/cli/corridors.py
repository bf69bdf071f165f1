"""``geocity corridors``: list the economic corridors, find the points near
them, export their lines and buffers."""

from __future__ import annotations

from pathlib import Path

import click

from . import options

_corridor_file = click.option(
    "--corridor-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Your own corridors (waypoints CSV like layers/corridors.csv, or a line GeoJSON/GPKG); "
    "they add to or replace the built-in ones.",
)


def _km_list(value: str) -> list[float]:
    try:
        out = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers of km, got {value!r}", param_hint="--within-km"
        ) from None
    if not out:
        raise click.BadParameter("give at least one distance", param_hint="--within-km")
    return out


@click.group("corridors")
def command() -> None:
    """Belt and Road economic corridors (CPEC, CMREC, CICPEC): lines, buffers, membership."""


@command.command("list")
@_corridor_file
def list_(corridor_file):
    """List the corridors and their branches with lengths.

    Example: geocity corridors list
    """
    from .. import corridors
    from .._validate import printable as p  # names from a --corridor-file: no raw control characters

    gl = corridors.lines(path=corridor_file)
    for name in corridors.available(path=corridor_file):
        g = gl[gl.corridor == name]
        click.echo(f"{p(name)}\t{p(g.corridor_name_en.iloc[0])}\t{p(g.corridor_name_zh.iloc[0])}\t"
                   f"{len(g)} branches\t{g.length_km.sum():.0f} km")
        for r in g.itertuples(index=False):
            click.echo(f"  {p(r.branch)}\t{p(r.from_name)} – {p(r.to_name)}\t{r.n_waypoints} waypoints\t"
                       f"{r.length_km:.0f} km")


@command.command("members")
@click.option("--corridor", "corridor", multiple=True, default=("CPEC",), show_default=True,
              help="Corridor name (repeatable, or comma-separated).")
@click.option("--within-km", type=float, default=100.0, show_default=True, help="Range in km.")
@click.option("--points", type=click.Path(exists=True), default=None,
              help="Point layer (GPKG/GeoJSON/SHP/FGB, or CSV with lat/lon). Default: the report's cities with ranks. "
                   "With --workers/--scheduler: a GeoParquet file or partitioned folder.")
@click.option("--encoding", default=None,
              help="Encoding of a --points CSV (default: detected: UTF-8, UTF-8 with BOM or GB18030/GBK).")
@click.option("--all", "keep_all", is_flag=True, default=False, help="Also keep points outside every corridor.")
@_corridor_file
@options.workers
@options.scheduler
@click.option("-o", "--output", "output", required=True, type=click.Path(),
              help="Output file; the format follows the extension. With --workers/--scheduler: a GeoParquet folder.")
@options.overwrite
@options.quiet
def members(corridor, within_km, points, encoding, keep_all, corridor_file, workers, scheduler, output, overwrite,
            quiet):
    """Points within --within-km of a corridor: distance, chainage, side.

    Rows are ordered by corridor (as given), branch, then chainage along the
    branch. The output gets a .meta.json record (parameters, input checksums).

    With --workers N (a local Dask cluster) or --scheduler ADDR (a running
    one), --points is a GeoParquet file or partitioned folder, read partition
    by partition on Dask, and -o a GeoParquet folder (one part per input
    partition; row = input position) with its _geocity.meta.json record.

    Example: geocity corridors members --corridor CPEC --within-km 100 -o cpec_cities.csv

    Example: geocity corridors members --points pts/ --corridor CPEC --workers 2 -o cpec_members/
    """
    from .. import corridors, export

    names = [n.strip() for c in corridor for n in c.split(",") if n.strip()]
    if workers is not None or scheduler is not None:
        _members_dask(names, within_km, points, keep_all, encoding, corridor_file, workers, scheduler, output,
                      overwrite, quiet)
        return
    if points is not None and Path(points).is_dir():
        raise click.UsageError("--points is a folder: a partitioned GeoParquet layer needs --workers N or "
                               "--scheduler ADDR (or give one file)")
    export.check_outputs({"-o/--output": output}, overwrite)  # refuse a bad or existing output before the work
    how = "all" if keep_all else "inner"
    m = corridors.members(points, corridors=names, within_km=within_km, how=how, path=corridor_file,
                          encoding=encoding, progress=False if quiet else None)
    labels = m.attrs.pop("input_rows", None)  # a bad row is named by its line in --points
    params = {"corridors": names, "within_km": within_km, "how": how, "points": points,
              "encoding": encoding, "corridor_file": corridor_file}
    written = export.write(m, output, overwrite=overwrite, metadata=params,
                           inputs=corridors.input_files(path=corridor_file, points=points, members=True),
                           row_labels=labels)
    click.echo(f"{len(m)} rows -> {', '.join(str(p) for p in written)}")


def _members_dask(names, within_km, points, keep_all, encoding, corridor_file, workers, scheduler, output,
                  overwrite, quiet) -> None:
    """``corridors members --workers/--scheduler``: :func:`geocity.distributed.corridor_members`."""
    options.dask_refuses(workers, scheduler, {"--all": "keep_all", "--encoding": "encoding"})
    if points is None:
        raise click.UsageError("--workers/--scheduler need --points (a GeoParquet file or folder)")
    from .. import corridors, distributed

    distributed._check_output(output, overwrite)  # before a cluster is started
    inputs = corridors.input_files(path=corridor_file) + distributed.parquet_files(points, "--points")
    with options.dask_session(workers, scheduler, quiet) as client:
        out = distributed.corridor_members(points, corridors=names, within_km=within_km, path=corridor_file,
                                           client=client, output=output, overwrite=overwrite, inputs=inputs)
    rec = distributed.provenance(out)["extra"]
    click.echo(f"{rec['n_rows']} rows ({rec['n_points']} points, on Dask) -> {out}")


@command.command("export")
@click.option("--corridor", "corridor", multiple=True, default=(), help="Corridor name (repeatable); default all.")
@click.option("--within-km", default="50,100,200", show_default=True, help="Buffer distances, comma-separated km.")
@_corridor_file
@options.output_file
@options.overwrite
def export_(corridor, within_km, corridor_file, output, overwrite):
    """Write the corridor lines and buffers.

    A GeoPackage gets two layers, ``lines`` and ``buffers``; other formats
    get two files, ``<name>_lines.<ext>`` and ``<name>_buffers.<ext>``.

    Example: geocity corridors export --within-km 50,100,200 -o corridors.gpkg
    """
    from .. import corridors

    names = [n.strip() for c in corridor for n in c.split(",") if n.strip()] or None
    written = corridors.export(output, within_km=_km_list(within_km), names=names, overwrite=overwrite,
                               path=corridor_file)
    click.echo(f"wrote {', '.join(str(p) for p in written)}")
