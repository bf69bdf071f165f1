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
    type=click.Choice(["split", "dbscan"]),
    default="split",
    show_default=True,
    help="split: weighted DBSCAN, then over-large regions split into pole catchments; dbscan: plain.",
)
@click.option("--max-span-km", type=float, default=None, help="Largest cluster span with --method split (default 1100).")
@click.option("--hull", type=click.Choice(["convex", "concave"]), default="convex", show_default=True)
@click.option("--buffer-km", type=float, default=None, help="Buffer around the members' hull in km (default 30).")
@click.option(
    "--members",
    "members_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Member table (one row per city and cluster); default <output stem>_members.csv.",
)
@options.output_file
@options.overwrite
@options.quiet
def command(eps_km, min_weight, score, scores_file, method, max_span_km, hull, buffer_km, members_path,
            output, overwrite, quiet):
    """Identify city clusters (weighted geodesic DBSCAN on 3I scores) and write
    their boundaries and member table.

    The format follows the extension (.shp, .gpkg, .geojson, .fgb, .csv). A
    metadata record with the parameters and the score source is written next
    to each output. Without --scores the scores are rank-derived proxies.

    Example: geocity clusters -o out/clusters.shp
    """
    from .. import export, scores
    from ..cluster import DEFAULTS, SHAPEFILE_FIELDS, CityClusters

    out = Path(output)
    members = Path(members_path) if members_path else out.with_name(out.stem + "_members.csv")
    # refuse before computing anything if either output exists
    for path in (out, members):
        also = [p for p in export.output_files(path, metadata=True) if p != path]
        export.check_writable(path, overwrite, also=also)
    cities = scores.city_scores(source=scores_file)
    est = CityClusters(
        eps_km=DEFAULTS["eps_km"] if eps_km is None else eps_km,
        min_weight=DEFAULTS["min_weight"] if min_weight is None else min_weight,
        method=method,
        max_span_km=DEFAULTS["max_span_km"] if max_span_km is None else max_span_km,
        score=score,
        hull=hull,
        buffer_km=DEFAULTS["buffer_km"] if buffer_km is None else buffer_km,
    ).fit(cities)
    inputs = [scores_file] if scores_file else []
    export.write(
        est.clusters_, out, overwrite=overwrite, metadata=est.params_, inputs=inputs, field_names=SHAPEFILE_FIELDS
    )
    export.write(
        est.members_, members, overwrite=overwrite, metadata=est.params_, inputs=inputs, field_names=SHAPEFILE_FIELDS
    )
    if not quiet:
        label = "rank-proxy scores" if est.params_["proxy"] else "user scores"
        click.echo(f"{len(est.clusters_)} clusters ({label}) → {out}; members → {members}")
