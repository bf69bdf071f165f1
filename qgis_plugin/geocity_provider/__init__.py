"""geocity Processing provider plugin for QGIS (entry point ``classFactory``)."""


def classFactory(iface):  # noqa: N802 - the name QGIS calls
    """QGIS plugin entry point."""
    from .plugin import GeocityPlugin

    return GeocityPlugin(iface)
