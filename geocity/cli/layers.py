"""``geocity layers``: list the embedded layers and export them to files."""

from __future__ import annotations

import click

from . import options


@click.group("layers")
def command() -> None:
    """The report's embedded layers: cities, rankings, basemap, corridors."""


@command.command("list")
def list_() -> None:
    """List the layers that can be loaded or exported, with their size.

    Example: geocity layers list
    """
    import geopandas as gpd

    from .. import layers

    for name in layers.available():
        data = layers.load(name)
        if isinstance(data, gpd.GeoDataFrame):
            kind = "/".join(sorted(set(data.geom_type.dropna()))) + " (EPSG:4326)"
        else:
            kind = "table"
        click.echo(f"{name}\t{len(data)} rows\t{kind}")


@command.command("export")
@click.argument("name")
@options.output_file
@options.overwrite
def export(name: str, output: str, overwrite: bool) -> None:
    """Export layer NAME to a file; the format follows the extension
    (.gpkg, .geojson, .shp, .fgb, .csv).

    Example: geocity layers export cities -o out/cities.gpkg
    """
    from .. import export as _export
    from .. import layers

    _export.check_outputs({"-o/--output": output}, overwrite)  # refuse a bad or existing output first
    data = layers.load(name)
    paths = _export.write(data, output, overwrite=overwrite, metadata={"layer": name})
    click.echo(f"wrote {len(data)} rows of {name} to {paths[0]}")
