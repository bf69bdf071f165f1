"""Options shared by several ``geocity`` commands."""

from __future__ import annotations

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
