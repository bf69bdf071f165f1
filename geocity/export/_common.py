"""Constants shared by geocity.export's modules: formats, shapefile set members, DBF limits."""

from __future__ import annotations

#: extension -> GDAL driver (``None`` for CSV, written by pandas).
FORMATS: dict[str, str | None] = {
    ".shp": "ESRI Shapefile",
    ".gpkg": "GPKG",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".fgb": "FlatGeobuf",
    ".csv": None,
}

#: Files that make up a shapefile set (besides the main ``.shp``).
_SHP_EXTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".shp.xml")
_SIDECAR = ".fields.csv"
_META = ".meta.json"

#: Preferred ≤10-character DBF names of the long column names used across
#: geocity. Callers extend or override them with ``field_names=``.
DEFAULT_FIELD_NAMES: dict[str, str] = {
    "country_iso2": "iso2",
    "country_name": "country",
    "coord_source": "coord_src",
    "score_source": "score_src",
    "total_score": "tot_score",
    "mean_score": "mean_score",
    "infrastructure": "infra",
    "gdci_change": "gdci_chg",
    "bri_change": "bri_chg",
    "dimension": "dimension",
    "dimension_weights": "dim_wts",
    "member_ids": "member_ids",
    "member_names": "members",
    "min_weight": "min_weight",
    "within_km": "within_km",
    "corridor_id": "corr_id",
    "distance_km": "dist_km",
    # city clusters (geocity.cluster): the same names whoever writes them
    "territories": "terr_iso2",
    "max_span_km": "maxspan_km",
    "cluster_name": "clust_name",
}

#: GeoPackage version of new files: 1.2 is read fully by GDAL >= 2.2 (QGIS 3.22 / GDAL 3.6 warn that
#: 1.4, the default of newer GDALs, "may only be partially supported"); newer files are read as they are.
GPKG_VERSION = "1.2"

_DBF_NAME_BYTES = 10
_DBF_STR_BYTES = 254

