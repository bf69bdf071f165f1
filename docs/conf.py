"""Sphinx configuration of geocity's documentation site.

Build (from the repository root; offline, about two minutes on the 2-core machine)::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Warnings are errors (``-W``): a broken cross-reference (``nitpicky``), a public name without a
docstring or with an invalid one (numpydoc validation), a guide example that raises
(``geocity-exec``), a figure that fails to render (``geocity-gallery``) all fail the build.
The build helpers live in ``docs/_ext`` (geocity itself carries no documentation code).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import geocity  # noqa: E402

project = "geocity"
author = "geocity contributors"
copyright = "geocity contributors; report facts © CAUPD 2022 (cited); GeoNames CC BY 4.0; Natural Earth (public domain)"
release = version = geocity.__version__
language = "en"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_click",
    "myst_parser",
    "geocity_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# --- Markdown (the READMEs are reused as they are, never copied) ---------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
# the included README sections start at their own heading level (### under a page's #)
suppress_warnings = ["myst.header"]

# --- API reference ------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc "Parameters" section says the types (and units)
autosummary_generate = False
add_module_names = False
default_role = None  # `x` is emphasis (click help texts use it); references are explicit roles

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# numpydoc validation, warnings are errors: every public name of every documented module has a
# docstring (GL08), and a docstring's sections are numpydoc sections (GL06, GL07: unknown or
# misordered headings), its parameters exist (PR02: documented but not in the signature) and a
# "Parameters" section names every parameter when it has one (PR01 is reported by docs/_ext for
# such docstrings only; see geocity_docs.check_parameters).
numpydoc_validation_checks = {"GL08", "GL06", "GL07", "PR02"}
# No exclusions: a public name missing a docstring anywhere fails the build.
numpydoc_validation_exclude: set[str] = set()
numpydoc_validation_overrides: dict[str, list[str]] = {}

# --- cross-references ---------------------------------------------------------------------------
nitpicky = True
# Offline build: no intersphinx inventories, so references to other libraries' objects (pandas,
# geopandas, numpy, shapely, matplotlib, click, dask, folium, Python's own) cannot resolve and are
# not checked. References to geocity's own objects are; a private name (a leading underscore) is
# not part of the reference and is not checked either.
nitpick_ignore_regex = [
    (r"py:.*", r"(geo)?pandas(\..*)?|gpd(\..*)?|pd(\..*)?|np(\..*)?|numpy(\..*)?|shapely(\..*)?|pyproj(\..*)?"),
    (r"py:.*", r"matplotlib(\..*)?|mpl(\..*)?|click(\..*)?|dask(\..*)?|distributed(\..*)?|dask_geopandas(\..*)?"),
    (r"py:.*", r"folium(\..*)?|branca(\..*)?|rasterio(\..*)?|sklearn(\..*)?|scipy(\..*)?|numba(\..*)?|yaml(\..*)?"),
    (r"py:.*", r"pathlib(\..*)?|os(\..*)?|typing(\..*)?|collections(\..*)?|xml(\..*)?|dataclasses(\..*)?"),
    (r"py:.*", r"(.*\.)?_[A-Za-z0-9_]*(\..*)?"),
]

# The standard library has no inventory offline.
nitpick_ignore = [
    ("py:func", "html.escape"),  # the standard library (no intersphinx offline)
]
# Modules whose docstring headings may be fixed up by the build (none: every underline is right).
geocity_docs_temporary_underlines: list[str] = []

# --- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"geocity {release}"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": True}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# --- geocity_docs (docs/_ext/geocity_docs) --------------------------------------------------------
# Gallery images: PNG at this resolution, rendered by the build itself (never committed).
geocity_gallery_dpi = int(os.environ.get("GEOCITY_DOCS_DPI", "45"))
# figures that get a Chinese version in the gallery too
geocity_gallery_zh = ["2-3", "2-5", "corridor-cpec"]
# the plates shown on the home page (and proposed as README thumbnails), linking into the gallery
geocity_thumbnails = ["2-3", "2-5", "corridor-cpec"]
