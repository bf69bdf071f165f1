"""``geocity plate SPEC.yaml -o plate.pdf``: a map plate of any layer from a
plate file (:mod:`geocity.plate`)."""

from __future__ import annotations

import click

from . import options


@click.command("plate")
@click.argument("spec", type=click.Path(dir_okay=False))
@options.output_file
@click.option("--dpi", type=int, default=None, help="PNG resolution (default from the style: 300).")
@options.style_file
@options.overwrite
def command(spec, output, dpi, style, overwrite):
    """Render the plate described by the plate file SPEC (YAML) to OUTPUT
    (.png, .pdf or .svg). The file gives the page, the extent, the title in
    English and/or Chinese, the layers in drawing order with their style
    rules (single, categorised, graduated) and labels, and the furniture;
    see examples/*.yaml. Every key and every layer is checked first: a
    problem is reported with the file, line and key, and nothing is written.

    Example: geocity plate examples/logistics.yaml -o plate.pdf
    """
    from .. import plate

    path = plate.render_plate(spec, output, overwrite=overwrite, style=style, dpi=dpi)
    click.echo(f"wrote {path}")
