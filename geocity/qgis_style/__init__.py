"""QGIS styles and layer metadata for geocity's outputs, generated from ``styles/*.yaml``.

The plates, the web map and QGIS take their looks from the same style sheet
(:func:`geocity.styles.load_style`): this module turns it into

* QML default styles (:func:`vector_qml`, :func:`raster_qml`): categorised
  cluster typology, corridor and region colours, city symbols sized by rank,
  links graduated by weight, labels in the chosen language in the CJK font
  (``fonts.family_zh``, Noto Sans CJK SC), density ramps with zero
  transparent, field aliases with the full names of shortened DBF fields and
  DBF booleans (``T``/``F``) shown as check boxes;
* QGIS layer metadata (QMD, :func:`layer_qmd`) from a provenance record
  (``.meta.json``): title, abstract, source, proxy status and parameters show
  in Layer Properties → Metadata;
* the GeoPackage side (:func:`add_to_geopackage`): the ``layer_styles`` table
  QGIS reads on open (QGIS's schema, registered in ``gpkg_contents``,
  ``useAsDefault=1``) and the QMD in ``gpkg_metadata``;
* an OGR VRT (:func:`points_vrt`) that opens a CSV with ``lat``/``lon`` as a
  point layer (a ``.csv.vrt`` beside it: the CSV stays the one copy of the
  data; :func:`csvt` gives GDAL its column types);
* SLD 1.1 (:func:`qml_to_sld`) where SLD can say the style, for GeoServer;
* :func:`style_for_file`, the style of any vector file (GeoJSON and
  FlatGeobuf carry no sidecar), e.g. for a QGIS project.

Which files: :func:`sidecar_files` (``<stem>.qml``/``.qmd``/``.sld`` beside a
shapefile or GeoTIFF; ``<name>.qml``/``.qmd``/``.vrt`` and ``<stem>.csvt``
beside a CSV). QGIS 3.22 applies a ``.qml`` and a GeoPackage's default style
on open; it reads ``gpkg_metadata`` on open, and a ``.qmd`` as the layer's
default metadata (Layer Properties → Metadata → Load, a project, or
``loadDefaultMetadata()``), so the provenance is also in the ``.qml`` as
layer notes, shown on open.

:mod:`geocity.export` calls these while it writes; nothing here writes a file
by itself except :func:`add_to_geopackage`, which changes the (staged)
GeoPackage it is given.

Every string from data or parameters goes through :mod:`xml.etree.ElementTree`
(attributes and text are escaped) and into QGIS expressions only as quoted
identifiers (``"name"``, ``"`` doubled) or literals (``'text'``, ``'``
doubled); nothing is evaluated. Outputs carry no timestamps and list
everything in a fixed order, so the same layer gives the same bytes.
"""

from __future__ import annotations

from ._files import (  # noqa: F401 - the package is the API
    _LAYER_STYLES,
    _METADATA,
    _QGIS_MD_URI,
    SIDECAR_SUFFIXES,
    _authid,
    _csv_header,
    _csvt_type,
    _has_table,
    _latlon_columns_of,
    _title,
    add_to_geopackage,
    csvt,
    geometry_family,
    points_vrt,
    sidecar_files,
    style_for_file,
    write_raster_sidecars,
    write_vector_sidecars,
)
from ._qml import (  # noqa: F401 - the package is the API
    _DOCTYPE,
    _MM_PER_PT,
    _QGIS_VERSION,
    _RANK_COLUMNS,
    STYLE_NAME,
    _abstract,
    _area_to_mm,
    _custom_properties,
    _dd_properties,
    _fields,
    _fill,
    _flatten,
    _label_expression,
    _labeling,
    _line,
    _marker,
    _num,
    _option_map,
    _palette_for,
    _renderer,
    _rgba,
    _role,
    _size_expression,
    _symbol,
    _symbol_for,
    _tostring,
    _truthy,
    field_ref,
    layer_notes,
    layer_qmd,
    literal,
    proxy_status,
    raster_qml,
    vector_qml,
)
from ._sld import (  # noqa: F401 - the package is the API
    _IDENT,
    _OGC,
    _PX_PER_MM,
    _SE,
    _SLD,
    _fill_el,
    _filter,
    _hex,
    _label_field,
    _se,
    _sld_document,
    _stroke,
    _symbolizer,
    _text_symbolizer,
    qml_to_sld,
)

__all__ = [
    "vector_qml",
    "raster_qml",
    "layer_qmd",
    "add_to_geopackage",
    "points_vrt",
    "csvt",
    "style_for_file",
    "qml_to_sld",
    "sidecar_files",
    "STYLE_NAME",
]

