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
