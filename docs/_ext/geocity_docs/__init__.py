"""Sphinx extension of geocity's documentation build (docs/conf.py loads it).

Everything the site shows is made by the build from the code and the embedded data:

* ``geocity-exec`` (:mod:`.execblock`): a guide's code block, run during the build in the page's
  namespace; an exception fails the build (a warning under ``-W``).
* ``geocity-gallery`` / ``geocity-plate-files`` / ``geocity-screenshots`` (:mod:`.gallery`): every
  figure of the catalogue and every example plate file rendered at low resolution, with the
  command and the Python that made it; the web map shot by headless Chromium, the QGIS project
  drawn by PyQGIS.
* ``geocity-style-schema`` (:mod:`.schema`): the style-sheet reference from ``geocity.styles.SCHEMA``.
* ``geocity-layer-dictionary`` (:mod:`.layerdict`): every column of every embedded layer.

Generated files go to ``<outdir>/../_geocity`` (``docs/_build/_geocity`` for the documented
command); nothing is written into the repository.
"""

from __future__ import annotations

from sphinx.application import Sphinx

from . import apiref, execblock, gallery, layerdict, schema


def setup(app: Sphinx) -> dict:
    """Register the directives and configuration values."""
    app.add_config_value("geocity_gallery_dpi", 45, "env")
    app.add_config_value("geocity_gallery_zh", [], "env")
    app.add_config_value("geocity_thumbnails", [], "env")
    apiref.setup(app)
    execblock.setup(app)
    gallery.setup(app)
    schema.setup(app)
    layerdict.setup(app)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
