"""``geocity geocode``: geocode a CSV of city names offline."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from . import options


@click.command("geocode")
@click.argument("input_csv", type=click.Path(dir_okay=False))
@click.option("--name-col", default=None,
              help="Column with the city names (English or Chinese). Required; without it the error lists the "
                   "file's columns.")
@click.option("--country-col", default=None, help="Optional column with the country (ISO code, English or Chinese).")
@click.option("--encoding", default=None,
              help="Encoding of the CSV (e.g. utf-8, gbk, gb18030). Default: detect UTF-8 / UTF-8-BOM / GB18030; "
                   "a file that reads as Windows-1252 just as well is refused with a hint, and so are a file that "
                   "mixes UTF-8 and GBK lines (the error names one line of each) and a forced non-UTF-8 encoding "
                   "on a file that is valid UTF-8 and would turn into mojibake. A forced encoding skips the "
                   "mixed-lines check.")
@options.output_file
@options.overwrite
def command(input_csv: str, name_col: str | None, country_col: str | None, encoding: str | None, output: str,
            overwrite: bool) -> None:
    """Geocode the names in INPUT_CSV with the report's cities and the offline
    GeoNames gazetteer; write every row, placed or not, to OUTPUT.

    Rows that cannot be placed (empty, unknown or ambiguous names) are kept with
    an empty geometry and listed on stderr.

    Example: geocity geocode my_cities.csv --name-col 城市 --country-col country -o placed.gpkg
    """
    from .. import export as _export
    from ..geocode import geocode_file

    _export.check_outputs({"-o/--output": output}, overwrite)  # refuse a bad or existing output before geocoding
    # the problems are echoed below one per line; the library's summary warning
    # (which points API users at gdf.attrs) would only repeat them
    log = logging.getLogger("geocity.geocode")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        gdf = geocode_file(input_csv, name_col=name_col, country_col=country_col,  # type: ignore[arg-type]
                           encoding=encoding)  # None is refused by geocode() with the columns listed
    finally:
        log.setLevel(level)
    click.echo(f"read {input_csv} as {gdf.attrs['encoding']}", err=True)
    for line in gdf.attrs["report"]:
        click.echo(f"warning: {line}", err=True)
    paths = _export.write(gdf, output, overwrite=overwrite,
                          metadata={"input": str(input_csv), "name_col": name_col, "country_col": country_col,
                                    "encoding": gdf.attrs["encoding"]},
                          inputs=[input_csv],
                          # a bad row (e.g. a name too long for a shapefile) is named by its line in INPUT_CSV
                          row_labels=_export._csv_labels(Path(input_csv), len(gdf), gdf.attrs.get("encoding")))
    counts = ", ".join(f"{v} {k}" for k, v in gdf.attrs["counts"].items())
    click.echo(f"wrote {len(gdf)} rows to {paths[0]} ({counts})")
