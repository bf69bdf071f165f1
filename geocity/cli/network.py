"""``geocity network``: city links from an edge table or a gravity model."""

from __future__ import annotations

import click

from .. import network as _network
from . import options


@click.command("network")
@click.option(
    "--edges",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Observed links: CSV with source, target[, weight] (city_id or city names).",
)
@click.option("--gravity", is_flag=True, default=False, help="Modelled links from a gravity model of the 3I scores.")
@click.option("--dimension", default="innovation", show_default=True, help="Score used as the gravity mass.")
@click.option("--beta", type=float, default=_network.REPORT_BETA, show_default=True, help="Distance-decay exponent.")
@click.option(
    "--top-k", type=int, default=_network.REPORT_TOP_K, show_default=True,
    help="Strongest links kept per city (0: no cut).",
)
@click.option("--threshold", type=float, default=None, help="Keep links >= this fraction of the strongest one.")
@click.option(
    "--min-distance-km", type=float, default=_network.MIN_DISTANCE_KM, show_default=True,
    help="Distance floor of the gravity model.",
)
@options.scores_file
@click.option(
    "--skip-unresolved", is_flag=True, default=False,
    help="Drop (and list) edge rows whose cities do not resolve.",
)
@options.output_file
@options.overwrite
def command(edges, gravity, dimension, beta, top_k, threshold, min_distance_km, scores_file, skip_unresolved,
            output, overwrite):
    """Links between cities as great-circle arcs (GPKG, GeoJSON, SHP, FGB, CSV).

    Either observed links from --edges, or --gravity: strength
    s_i*s_j / max(d_ij, min_distance_km)^beta on a 3I score, flagged as modelled.

    Example: geocity network --gravity --dimension innovation --beta 2 --top-k 5 -o links.gpkg
    """
    from .. import export

    if (edges is None) == (not gravity):
        raise click.UsageError("give either --edges FILE (observed links) or --gravity (modelled links)")
    export.check_outputs({"-o/--output": output}, overwrite)  # refuse a bad or existing output before the work
    if edges is not None:
        links = _network.edge_links(edges, on_unresolved="skip" if skip_unresolved else "raise")
        unres = links.attrs.get("unresolved")
        if unres is not None and len(unres):
            for r in unres.itertuples():
                click.echo(f"unresolved: line {r.line} {r.end} {r.value!r}: {r.reason}", err=True)
    else:
        cities = None
        if scores_file is not None:
            from .. import scores

            cities = scores.city_scores(source=scores_file)
        links = _network.gravity_links(
            cities, dimension=dimension, beta=beta, top_k=top_k or None, threshold=threshold,
            min_distance_km=min_distance_km,
        )
    written = _network.write_links(links, output, overwrite=overwrite)
    kind = "modelled (gravity)" if links.attrs.get("modelled") else "observed"
    from .. import provenance

    if "score_source" in links.columns and provenance.of_frame(links).proxy:
        kind += ", on rank-derived proxy scores"
    click.echo(f"wrote {len(links)} {kind} links to {written[0]}")
