"""The plugin object: registers the ``geocity`` Processing provider and, in the
QGIS window, says in the message bar how to install geocity when it is missing."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication

from .install import geocity_missing, install_text
from .provider import GeocityProvider


class GeocityPlugin:
    """Registers the provider (also in ``qgis_process``, through ``initProcessing``)."""

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 - QGIS API name
        if self.provider is None:
            self.provider = GeocityProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 - QGIS API name
        self.initProcessing()
        if self.iface is not None and geocity_missing() is not None:
            self.iface.messageBar().pushMessage("geocity", install_text(short=True), level=Qgis.Warning, duration=0)

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
