"""``geocity webmap``: an interactive Leaflet map (one HTML file) of the
report's cities, clusters, corridors, density surfaces and modelled networks."""

from __future__ import annotations

import click

from .. import network as _network
from . import options


@click.command("webmap")
@click.option(
    "--layers",
    default="cities,clusters,corridors,density,network",
    show_default=True,
    help="Comma-separated layers: cities (with the GDCI and BRI top 100), clusters, corridors, "
         "density (image overlay of a kernel density surface), network (modelled gravity links).",
)
@click.option("--within-km", type=float, default=100.0, show_default=True,
              help="Corridor buffer distance in km (also the range for corridor distances in city popups).")
@click.option("--points", "points", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Your own points: GeoPackage, GeoJSON, shapefile, FlatGeobuf, or CSV with lat/lon or wkt.")
@click.option("--tiles", default=None,
              help="Base map tile provider (xyzservices name, default Esri.WorldGrayCanvas), "
                   "or 'none' for the embedded Natural Earth countries only (no network at all).")
@click.option("--lang", type=click.Choice(["en", "zh", "both"]), default="both", show_default=True,
              help="Language of tooltips, popups and legend.")
@click.option("--density-weights", default="composite", show_default=True,
              help="Comma-separated scores with one density overlay each: innovation, industry, "
                   "infrastructure, composite (the first is switched on).")
@click.option("--density-tif", "density_tifs", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Show this GeoTIFF (from `geocity density`) instead of computing the overlays; repeatable.")
@click.option("--network-dimension", default="composite", show_default=True,
              help="Score of the gravity model of the network layer.")
@click.option("--top-k", type=int, default=_network.REPORT_TOP_K, show_default=True,
              help="Gravity links kept per city.")
@options.scores_file
@options.style_file
@options.webmap_assets
@options.self_contained
@options.output_file
@options.overwrite
def command(layers, within_km, points, tiles, lang, density_weights, density_tifs, network_dimension, top_k,
            scores_file, style, assets, self_contained, output, overwrite):
    """Write an interactive map (Leaflet, one HTML file) with a layer control,
    bilingual tooltips and popups, a legend, search, scale, fullscreen and
    measure tools. Everything shown is the result of one analysis (the
    same buffers, surfaces and links as the exports); density surfaces and
    links are modelled from the scores (rank-derived proxies unless
    --scores) and labelled as such.

    Example: geocity webmap -o out/map.html --layers cities,density,network
    """
    from ..analysis import Analysis
    from ..render import leaflet
    from ..styles import load_style, style_path

    st = None if style is None else load_style(overrides=style_path(style))  # checked before any work
    tiles, assets = options.resolve_webmap_network(tiles, assets, self_contained, leaflet.DEFAULT_TILES)
    analysis = Analysis(scores=scores_file, within_km=within_km, top_k=top_k)
    m = leaflet.webmap(
        analysis,
        layers,
        points=points,
        tiles=tiles,
        lang=lang,
        density_weights=density_weights,
        surfaces=list(density_tifs) or None,
        network_dimension=network_dimension,
        style=st,
    )
    path = leaflet.save(m, output, overwrite=overwrite, assets=assets)
    click.echo(f"wrote {path}")
