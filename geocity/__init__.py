"""geocity: geospatial clustering, corridors and map-making for the global
cities of the *Global Cities in the Vision of the Belt and Road Initiative*
report."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["__version__"]
