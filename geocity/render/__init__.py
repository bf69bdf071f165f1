"""Renderers: :mod:`geocity.render.static` (matplotlib map plates, PNG/PDF/SVG)
and :mod:`geocity.render.leaflet` (interactive HTML maps). Both read their
colours and sizes from :mod:`geocity.styles`."""
