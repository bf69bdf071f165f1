"""``geocity figures``: render the report's figures as map plates."""

from __future__ import annotations

import click

from . import options


@click.command("figures")
@click.argument("names", nargs=-1)
@click.option("--list", "list_", is_flag=True, default=False, help="List the figures of the catalogue and exit.")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False), default=None,
              help="Output folder (required unless --list).")
@click.option("--lang", default="en,zh", show_default=True,
              help="Label language: en, zh or both (bilingual plates); several as a comma list.")
@click.option("--format", "formats", default="png", show_default=True,
              help="Output formats, comma-separated: png, pdf, svg.")
@click.option("--dpi", type=int, default=None, help="PNG resolution (default from the style: 300).")
@click.option("--basemap", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Polygon layer to use as the base map (e.g. an officially approved map) instead of Natural Earth.")
@options.scores_file
@options.style_file
@options.overwrite
@options.quiet
@options.airport_passengers
@options.processes
def command(names, list_, output, lang, formats, dpi, basemap, scores_file, style, overwrite, quiet,
            airport_passengers, processes):
    """Render figures of the report by name (or ``all``) to PNG/PDF/SVG plates.

    Files are named <figure>_<lang>.<format>, e.g. 2-3_en.png.

    Examples: geocity figures --list;
    geocity figures 2-3 -o out/;
    geocity figures all -o out/ --lang both --format png,pdf;
    geocity figures 2-3 -o out/ --style pacific (Pacific-centred world plates)
    """
    from .. import figures

    if list_:
        for name in figures.list_figures():
            r = figures.get_recipe(name)
            click.echo(f"{name:<18} {r.title_en} / {r.title_zh}")
        return
    if not names:
        raise click.UsageError("give figure names (see --list) or 'all'")
    if output is None:
        raise click.UsageError("missing option '-o' / '--output' (the output folder)")
    wanted = figures.list_figures() if "all" in names else list(dict.fromkeys(names))
    for n in wanted:
        figures.get_recipe(n)  # unknown name → clear error listing the valid ones
    from ..analysis import Analysis

    analysis = Analysis(scores=scores_file, basemap=basemap, airport_passengers=airport_passengers)
    written = figures.render_all(output, names=wanted, lang=lang, formats=formats, analysis=analysis,
                                 overwrite=overwrite, dpi=dpi, progress=not quiet, style=style, processes=processes)
    for p in written:
        click.echo(str(p))
