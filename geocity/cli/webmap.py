"""``geocity webmap``: an interactive Leaflet map (one HTML file) of the
report's cities, clusters and corridors."""

from __future__ import annotations

import click

from . import options


@click.command("webmap")
@click.option(
    "--layers",
    default="cities,clusters,corridors",
    show_default=True,
    help="Comma-separated layers: cities (with the GDCI and BRI top 100), clusters, corridors.",
)
@click.option("--within-km", type=float, default=100.0, show_default=True,
              help="Corridor buffer distance in km (also the range for corridor distances in city popups).")
@click.option("--points", "points", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Your own points: GeoPackage, GeoJSON, shapefile, FlatGeobuf, or CSV with lat/lon or wkt.")
@click.option("--tiles", default=None,
              help="Base map tile provider (xyzservices name, default Esri.WorldGrayCanvas), "
                   "or 'none' for the embedded Natural Earth countries only (works offline).")
@click.option("--lang", type=click.Choice(["en", "zh", "both"]), default="both", show_default=True,
              help="Language of tooltips, popups and legend.")
@options.output_file
@options.overwrite
def command(layers, within_km, points, tiles, lang, output, overwrite):
    """Write an interactive map (Leaflet, one HTML file) with a layer control,
    bilingual tooltips and popups, a legend, search, scale, fullscreen and
    measure tools.

    Example: geocity webmap -o out/map.html
    """
    from ..render import leaflet

    m = leaflet.webmap(
        layers,
        within_km=within_km,
        points=points,
        tiles=leaflet.DEFAULT_TILES if tiles is None else tiles,
        lang=lang,
    )
    path = leaflet.save(m, output, overwrite=overwrite)
    click.echo(f"wrote {path}")
