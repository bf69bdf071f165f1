"""Options shared by several ``geocity`` commands."""

from __future__ import annotations

import contextlib

import click

output_file = click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file; the format follows the extension.",
)
output_dir = click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder.",
)
overwrite = click.option(
    "--overwrite/--no-overwrite",
    default=False,
    show_default=True,
    help="Replace outputs that already exist (refused otherwise).",
)
quiet = click.option("-q", "--quiet", is_flag=True, default=False, help="No progress bars.")
scores_file = click.option(
    "--scores",
    "scores_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Your own city scores (CSV keyed by city_id or name) instead of the rank-derived proxies.",
)


webmap_assets = click.option(
    "--assets",
    type=click.Choice(["inline", "cdn"]),
    default=None,
    help="Web map scripts and stylesheets: inline (default; inside the HTML, vendored with geocity) "
         "or cdn (links to folium's CDNs; a smaller page that needs the network).",
)
self_contained = click.option(
    "--self-contained",
    is_flag=True,
    default=False,
    help="A web map that needs no network at all: assets inline and the embedded Natural Earth "
         "countries as the base map instead of tiles (same as --assets inline --tiles none).",
)


def resolve_webmap_network(tiles: str | None, assets: str | None, self_contained: bool,
                           default_tiles: str) -> tuple[str | None, str]:
    """The tile provider and asset mode of a web map from ``--tiles``,
    ``--assets`` and ``--self-contained``; contradictions are refused."""
    if self_contained:
        if tiles is not None and tiles.strip().lower() not in ("none", ""):
            raise click.UsageError(
                f"--self-contained needs no network, but --tiles {tiles} loads tiles from the network; "
                "drop --tiles (the embedded countries are the base map) or drop --self-contained")
        if assets == "cdn":
            raise click.UsageError("--self-contained puts every script inside the page; it cannot be combined "
                                   "with --assets cdn")
        return None, "inline"
    return (default_tiles if tiles is None else tiles), (assets or "inline")


# --- --style (issue 17, item 4): figures, plate, webmap, reproduce ------------------------------
style_file = click.option(
    "--style",
    "style",
    default=None,
    metavar="NAME|FILE",
    help="A style sheet layered over geocity's own: an embedded style's name (e.g. pacific, the "
         "Pacific-centred world plates of Chinese world maps) or a .yaml file naming only the keys it "
         "changes (see styles/README.md). Checked before anything is written.",
)


# --------------------------------------------------------------------------
# distributed runs (geocity.distributed, issue 15): a Dask cluster instead of local memory
# --------------------------------------------------------------------------
airport_passengers = click.option(
    "--airport-passengers", "airport_passengers", type=click.Path(exists=True, dir_okay=False), default=None,
    help="CSV of airport passenger figures for Figures 2-13/2-14 (iata, value_2019[, value_2022]); without it "
         "those plates draw the labelled rank proxy (geocity.airports).",
)
processes = click.option(
    "--processes", type=click.IntRange(min=1), default=None,
    help="Render the plates in N worker processes (default: one per CPU, at most 4; 1: in this process). "
         "The files are the same bytes either way.",
)
workers = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Run on a local Dask cluster of N worker processes on this machine (pip install geocity[dask]).",
)
scheduler = click.option(
    "--scheduler",
    "scheduler",
    metavar="ADDR",
    default=None,
    help="Run on the Dask cluster whose scheduler is at ADDR, e.g. tcp://host:8786 (pip install geocity[dask]).",
)


def dask_client(workers: int | None, scheduler: str | None):
    """A ``distributed.Client`` for ``--workers`` / ``--scheduler`` (``None`` when neither is given)."""
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers N (a local cluster) or --scheduler ADDR (a running one), not both")
    if workers is None and scheduler is None:
        return None
    from ..distributed import get_client

    return get_client(scheduler, workers=workers)


@contextlib.contextmanager
def dask_session(workers: int | None, scheduler: str | None, quiet: bool = False):
    """``with dask_session(workers, scheduler) as client``: the client of :func:`dask_client`
    (``None`` when neither option is given), the dashboard link on stderr, and on exit
    the client closed (and the local cluster of ``--workers`` shut down)."""
    if workers is not None and scheduler is None:  # the local cluster's scheduler runs here: chatter off stderr
        import logging

        from ..distributed import _require_dask

        _require_dask()  # its logging set up first, then quietened
        logging.getLogger("distributed").setLevel(logging.ERROR)
    client = dask_client(workers, scheduler)
    if client is None:
        yield None
        return
    try:
        if not quiet and client.dashboard_link:
            click.echo(f"Dask dashboard: {client.dashboard_link}", err=True)
        yield client
    finally:
        cluster = client.cluster if workers is not None else None  # our own local cluster
        client.close()
        if cluster is not None:
            cluster.close()


def dask_refuses(workers, scheduler, options: dict[str, str]) -> None:
    """Refuse the options a Dask run (``--workers`` / ``--scheduler``) does not take when
    they were given on the command line; ``options`` maps each option's name (``"--all"``)
    to its parameter (``"keep_all"``)."""
    from click.core import ParameterSource

    if workers is None and scheduler is None:
        return
    ctx = click.get_current_context()
    given = [flag for flag, name in options.items()
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)]
    if given:
        raise click.UsageError(f"{', '.join(given)} cannot be used with --workers/--scheduler (a Dask run)")
