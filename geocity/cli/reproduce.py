"""``geocity reproduce``: the main job (layers, clusters, corridors, density,
networks, figures and web map of the report) into one folder."""

from __future__ import annotations

import click

from .. import pipeline
from . import options


@click.command("reproduce")
@options.output_dir
@options.overwrite
@click.option("--steps", default=",".join(pipeline.STEPS), show_default=True, help="Comma-separated steps to run.")
@click.option("--lang", default="en,zh", show_default=True,
              help="Figure languages: en, zh, both (bilingual plates), or a comma list.")
@click.option("--format", "formats", default="png,pdf", show_default=True, help="Figure formats, comma-separated.")
@click.option("--within-km", type=float, default=100.0, show_default=True,
              help="Corridor buffer distance (km; > 0, at most 2000), in every output.")
@options.scores_file
@options.style_file
@click.option("--edition", "edition", type=click.Path(file_okay=False), default=None,
              help="An edition folder (edition.yaml + gdci.csv, bri.csv, dimension_ranks.csv; see "
                   "geocity.edition): build that year's products from its rankings. Default: the embedded 2022 "
                   "edition.")
@options.self_contained
@options.airport_passengers
@options.processes
def command(output, overwrite, steps, lang, formats, within_km, scores_file, style, edition, self_contained,
            airport_passengers, processes):
    """Rebuild the report's figures and exports from the embedded data.

    The files each step writes are listed, with their sha256, in
    OUTPUT/.geocity-manifest.json. With --overwrite, only geocity's own files
    are replaced, and those the previous run wrote but this one does not are
    removed if they are still unchanged; your other files in OUTPUT, and
    anything outside it, are left alone. Every option is checked before
    anything is written.

    Every output of a run comes from one analysis, so the files, the plates
    and the web map agree (the same clusters, the same --within-km, the same
    score provenance). With --scores every product is built from your table.

    With --style (e.g. pacific) every plate and the web map take their looks
    from that style sheet layered over geocity's own.

    With --edition DIR the rankings (GDCI, BRI, dimension tables) are that
    edition's: Figures 2-1, 2-2, 3-1, 3-2, the table maps and every product
    built from the scores follow them.

    Example: geocity reproduce -o out --overwrite
    """
    written = pipeline.reproduce(
        output,
        overwrite=overwrite,
        steps=[s.strip() for s in steps.split(",") if s.strip()],
        lang=lang,
        formats=[f.strip() for f in formats.split(",") if f.strip()],
        within_km=within_km,
        scores=scores_file,
        self_contained=self_contained,
        style=style,
        edition=edition,
        processes=processes,
        airport_passengers=airport_passengers,
    )
    click.echo(f"wrote {len(written)} files into {output}")
