"""The ``geocity`` Processing provider."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider

from .install import find_geocity


class GeocityProvider(QgsProcessingProvider):
    """geocity's algorithms (or, without geocity, one algorithm saying how to install it)."""

    def id(self):
        return "geocity"

    def name(self):
        return "geocity"

    def longName(self):  # noqa: N802 - QGIS API name
        return "geocity — geodesic city clusters, corridors, density and links"

    def icon(self):
        return QgsProcessingProvider.icon(self)

    def svgIconPath(self):  # noqa: N802 - QGIS API name
        return os.path.join(os.path.dirname(__file__), "icon.svg")

    def loadAlgorithms(self):  # noqa: N802 - QGIS API name
        from . import algorithms

        python, info = find_geocity()
        if python is None:
            self.addAlgorithm(algorithms.InstallGeocity())
            return
        for cls in algorithms.ALGORITHMS:
            self.addAlgorithm(cls(python, info))
