"""Density overlays: a surface (e.g. :meth:`geocity.analysis.Analysis.density`,
the same surface the GeoTIFF export writes) as a PNG image overlay, embedded
as a data URI (the page works offline), in a pane under the vector layers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Mapping

import folium

from ... import provenance as _provenance
from ... import styles as _styles
from ...errors import ValidationError
from .base import DENSITY_PANE, WebMap
from .features import style_of
from .legend import Section
from .text import check_lang, escape, label, pick, text

__all__ = ["add", "cmap", "provenance_of"]


def cmap(style: Mapping):
    """The density ramp of the printed plates: the style's sequential palette."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("geocity-density", list(_styles.sequential_colors(style)))


def provenance_of(metadata: Mapping) -> _provenance.ScoreProvenance | None:
    """Where a surface's weights come from, by its metadata (GeoTIFF tags):
    the provenance record fields when present, else its ``weights_proxy``
    flag; None when it says nothing."""
    if any(k in metadata for k in ("n_scores_proxy", "n_scores_user", "n_scores_missing")):
        return _provenance.from_record(metadata)
    if metadata.get("weights_proxy") in (True, "true"):
        return _provenance.ScoreProvenance(n_proxy=1)
    return None


def _zh_weight(weight: str) -> str:
    from ... import terms

    return terms.TERMS[weight][1] if weight in ("innovation", "industry", "infrastructure", "composite") else weight


def _name(weight: str, provenance, lang: str) -> str:
    def tags(lang: str) -> list:
        extra = provenance.tag(lang) if provenance is not None else None
        return [label("modelled", lang)] + ([extra] if extra else [])

    tags_en, tags_zh = tags("en"), tags("zh")
    return pick(f"{label('density', 'en')}: {weight} ({', '.join(tags_en)})",
                f"{label('density', 'zh')}：{_zh_weight(weight)}（{'，'.join(tags_zh)}）", lang)


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None,
        provenance: _provenance.ScoreProvenance | None = None, name: str | None = None, show: bool = True,
        opacity: float = 0.75, vmax: float | None = None, legend: bool = True) -> Section | None:
    """Add a density surface as an image overlay.

    The image (:func:`geocity.density.density_overlay`, already in Web
    Mercator) is embedded as a PNG data URI; it lies in a pane under the
    vector layers and ignores the mouse. Its colour ramp is the style's
    sequential palette (as on the printed plates); low density fades to
    transparent.

    Parameters
    ----------
    data
        A :class:`geocity.density.DensitySurface`, the path of a GeoTIFF
        written by :func:`geocity.density.write_geotiff`, or a ``(values,
        transform, crs)`` tuple.
    provenance
        Where the weights come from; default ``provenance_of`` the
        surface's metadata.
    name
        Layer name (plain text); default from the weight column, saying
        "modelled" (and "proxy" / "partial scores" as the provenance says).
    opacity, vmax
        Alpha of the densest cells and the value shown at full colour
        (default: the 99.5th percentile of the positive cells).
    legend
        Return the legend section (colour ramp, units, caption, provenance),
        tied to the overlay; False: None.
    """
    from ... import density as _density

    check_lang(lang)
    style = style_of(style)
    if not (isinstance(opacity, (int, float)) and 0 < float(opacity) <= 1):
        raise ValidationError(f"`opacity` must be a number in (0, 1], got {opacity!r}")
    if isinstance(data, (str, Path)) and not Path(data).is_file():
        raise ValidationError(f"density surface file {str(data)!r} does not exist; give a GeoTIFF written by "
                              "geocity density (or a DensitySurface)")
    if not isinstance(data, (str, Path, tuple, _density.DensitySurface)):
        raise ValidationError(f"`surface` must be a DensitySurface, a GeoTIFF path or a (values, transform, crs) "
                              f"tuple, got {type(data).__name__}")
    if isinstance(data, (str, Path)):
        data = _density.read_geotiff(data)
    png, bounds, info = _density.density_overlay(data, cmap=cmap(style), vmax=vmax, opacity=float(opacity))
    md = getattr(data, "metadata", None) or {}
    if provenance is None:
        provenance = provenance_of(md)
    weight = text(md.get("weight")) or "weight"
    if name is None:
        name = _name(weight, provenance, lang)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    layer = folium.raster_layers.ImageOverlay(
        image=uri, bounds=[[round(float(v), 6) for v in c] for c in bounds], mercator_project=False,
        pixelated=False, name=escape(name), show=show, overlay=True, control=True,
        pane=wm.pane(DENSITY_PANE, 350), interactive=False, className="geocity-density")
    wm.add(layer)
    if not legend:
        return None
    units = text(info.get("units")).replace("km2", "km²")
    proxy = provenance is not None and provenance.proxy
    items = [("ramp", ",".join(_styles.sequential_colors(style)), f"0 – {float(info['vmax']):.3g} {units}"),
             ("note", "", label("density_proxy_note" if proxy else "density_note", lang)),
             ("note", "", text(info.get("caption")).replace("km2", "km²"))]
    if provenance is not None:
        items.append(("note", "", provenance.label(lang)))
    return Section(name, items, [(layer.layer_name, show)])
