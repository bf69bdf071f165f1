"""``geocity clusters``: the report's city clusters as boundaries plus a member table."""

from __future__ import annotations

from pathlib import Path

import click

from . import options


@click.command("clusters")
@click.option("--eps-km", type=float, default=None, help="Neighbourhood radius in km (default 450).")
@click.option("--min-weight", type=float, default=None, help="Summed 3I score that makes a core city (default 0.45).")
@click.option(
    "--score",
    type=click.Choice(["composite", "innovation", "industry", "infrastructure"]),
    default="composite",
    show_default=True,
    help="Score used as weight: composite (Figure 2-3) or innovation (Figure 2-5).",
)
@options.scores_file
@click.option(
    "--method",
    type=click.Choice(["metro", "split", "dbscan"]),
    default="metro",
    show_default=True,
    help="metro: weighted DBSCAN, inconsistent links cut, then pole catchments; split: no link cut; dbscan: plain.",
)
@click.option("--max-span-km", type=float, default=None,
              help="Largest cluster span with --method metro/split (default 700).")
@click.option("--hull", type=click.Choice(["convex", "concave"]), default="convex", show_default=True)
@click.option("--boundary", type=click.Choice(["partition", "hull"]), default="partition", show_default=True,
              help="partition: the boundaries do not overlap (an overlap goes to the cluster with the nearer "
                   "member, on the sphere); hull: each cluster's own buffered hull, which may overlap.")
@click.option("--buffer-km", type=float, default=None,
              help="Buffer around the members' hull in km (default 30; at most 2000).")
@click.option(
    "--members",
    "members_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Member table (one row per city and cluster); default <output stem>_members.csv.",
)
@click.option(
    "--points",
    "points_path",
    type=click.Path(exists=True),
    default=None,
    help="Cluster your own point layer instead: a GeoParquet file or partitioned folder (plain weighted DBSCAN; "
         "needs --eps-km and --min-weight; -o is then a GeoParquet folder of labels).",
)
@click.option("--weight-column", default=None, help="With --points: the column of weights (default 1 per point).")
@click.option("--partitions", type=click.IntRange(min=1), default=None,
              help="With --workers/--scheduler: spatial tasks (default: input partitions, at least 2 per worker).")
@options.workers
@options.scheduler
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(),
    help="Output file; the format follows the extension. With --points: an output folder (GeoParquet).",
)
@options.overwrite
@options.quiet
def command(eps_km, min_weight, score, scores_file, method, max_span_km, hull, boundary, buffer_km, members_path,
            points_path, weight_column, partitions, workers, scheduler, output, overwrite, quiet):
    """Identify city clusters (weighted geodesic DBSCAN on 3I scores) and write
    their boundaries and member table.

    The format follows the extension (.shp, .gpkg, .geojson, .fgb, .csv). A
    metadata record with the parameters and the score source is written next
    to each output. Without --scores the scores are rank-derived proxies.

    A run that finds no cluster (e.g. a tiny --eps-km) prints a warning and
    writes empty but valid outputs (no rows, same fields).

    Cities whose own score reaches --min-weight are core cities by
    themselves; the command lists them in one warning on stderr (with the
    defaults: the top few cities of the index, as intended). -q/--quiet
    hides that note and the summary line; warnings about a problem (no
    cluster, one-city cores dropped) are always printed.

    With --points, any point layer (GeoParquet file or folder) is clustered
    instead, by plain weighted geodesic DBSCAN, on this machine or — with
    --workers N (a local Dask cluster) or --scheduler ADDR (a running one) —
    on Dask, with the same labels (pip install geocity[dask]).

    Example: geocity clusters -o out/clusters.shp

    Example: geocity clusters --points pts/ --eps-km 10 --min-weight 5 --workers 2 -o labels/
    """
    import warnings

    if points_path is not None:
        _points(points_path, eps_km, min_weight, weight_column, partitions, workers, scheduler, output, overwrite,
                quiet)
        return
    for name, value in (("--weight-column", weight_column), ("--partitions", partitions), ("--workers", workers),
                        ("--scheduler", scheduler)):
        if value is not None:
            raise click.UsageError(f"{name} needs --points (the report's cities are clustered on this machine)")

    from .. import export, scores
    from ..cluster import DEFAULTS, SHAPEFILE_FIELDS, CityClusters, ClusterWarning, SelfCoreWarning

    out = Path(output)
    members = Path(members_path) if members_path else out.with_name(out.stem + "_members.csv")
    est = CityClusters(
        eps_km=DEFAULTS["eps_km"] if eps_km is None else eps_km,
        min_weight=DEFAULTS["min_weight"] if min_weight is None else min_weight,
        method=method,
        max_span_km=DEFAULTS["max_span_km"] if max_span_km is None else max_span_km,
        score=score,
        hull=hull,
        boundary=boundary,
        buffer_km=DEFAULTS["buffer_km"] if buffer_km is None else buffer_km,
    )
    # user mistakes first (parameters, scores table), then the output policy, so that
    # a bad run leaves nothing behind (not even a new output folder)
    est._check_params()
    cities = scores.city_scores(source=scores_file)
    # both outputs with their sets, checked together: the same file named twice, a folder in
    # the way or an existing file (without --overwrite) is refused before clustering
    outputs = {"-o/--output": out, "--members": members}
    export.check_outputs(outputs, overwrite)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClusterWarning)
        est.fit(cities)
    for w in caught:  # once each, as plain lines (no Python file:line prefix)
        if issubclass(w.category, SelfCoreWarning):
            if not quiet:
                click.echo(f"Warning: {w.message}", err=True)
        elif issubclass(w.category, ClusterWarning):
            click.echo(f"Warning: {w.message}", err=True)
        else:  # pragma: no cover - pass anything else on unchanged
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    inputs = scores.input_files(scores_file)
    # the boundaries, the member table and their records appear together or not at all
    export.write_clusters(est.clusters_, est.members_, out, members_path=members, metadata=est.params_,
                          inputs=inputs, overwrite=overwrite, field_names=SHAPEFILE_FIELDS)
    if not quiet:
        label = "rank-proxy scores" if est.params_["proxy"] else "user scores"
        click.echo(f"{len(est.clusters_)} clusters ({label}) → {out}; members → {members}")


def _points(points_path, eps_km, min_weight, weight_column, partitions, workers, scheduler, output, overwrite,
            quiet) -> None:
    """``--points``: weighted geodesic DBSCAN of a GeoParquet layer, here or on Dask."""
    ctx = click.get_current_context()
    from click.core import ParameterSource

    city_only = ("score", "scores_file", "method", "max_span_km", "hull", "buffer_km", "members_path")
    given = [f"--{n.replace('_path', '').replace('_file', '').replace('_', '-')}" for n in city_only
             if ctx.get_parameter_source(n) not in (ParameterSource.DEFAULT, None)]
    if given:
        raise click.UsageError(f"{', '.join(given)} apply to the report's cities, not to --points")
    if eps_km is None or min_weight is None:
        raise click.UsageError("--points needs --eps-km and --min-weight (there are no defaults for your layer)")
    if partitions is not None and workers is None and scheduler is None:
        raise click.UsageError("--partitions needs --workers or --scheduler")
    from .. import distributed

    inputs = distributed.parquet_files(points_path, "--points")  # the one reader order
    common = dict(eps_km=eps_km, min_weight=min_weight, weight_column=weight_column, output=output,
                  overwrite=overwrite, inputs=inputs)
    # parameters and the output policy first, before a cluster is started
    distributed._parameters(eps_km, min_weight, partitions, "auto")
    distributed._check_output(output, overwrite)
    with options.dask_session(workers, scheduler, quiet) as client:
        if client is None:
            res = distributed.dbscan_local(points_path, **common)
        else:
            res = distributed.dbscan(points_path, client=client, npartitions=partitions,
                                     progress=None if not quiet else False, **common)
    if not quiet:
        where = "on one machine" if client is None else f"on Dask ({res.info['tasks']} tasks)"
        click.echo(f"{res.n_clusters} clusters among {res.n_points} points {where} → {res.output}")
