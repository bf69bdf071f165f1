"""Corridor layers: one toggle per corridor line, one per corridor and buffer
distance. The legend says the distances of the buffers actually drawn
(their ``within_km`` column), never a parameter they may not match."""

from __future__ import annotations

from typing import Mapping

from ... import styles as _styles
from ...errors import ValidationError
from .base import WebMap, bounds_of
from .features import check_shapes, collection, geojson, px, style_of
from .legend import Section
from .text import check_lang, escape, label, text
from .text import name as row_name

__all__ = ["add", "buffer_label"]


def buffer_label(km_values) -> str:
    """The legend text of buffers of these distances: ``"≤ 50 km"``, ``"≤ 50 / 100 km"``."""
    kms = sorted({float(k) for k in km_values})
    return "≤ " + " / ".join(f"{k:g}" for k in kms) + " km"


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None, provenance=None, buffers=None,
        show: bool = True) -> Section | None:
    """Add corridor lines and buffers.

    Parameters
    ----------
    data
        Line GeoDataFrame with ``corridor`` (and optionally ``branch``,
        ``corridor_name_en``, ``corridor_name_zh``), e.g.
        :meth:`geocity.analysis.Analysis.corridor_lines`; or None.
    buffers
        Optional polygon GeoDataFrame with ``corridor`` and ``within_km``
        (:meth:`geocity.analysis.Analysis.corridor_buffers`).
    provenance
        Unused (corridors are geometry, not scores); accepted like every layer's.

    Returns
    -------
    Section or None
        Line colours and the buffer distances drawn, tied to every corridor
        layer; None when nothing was drawn.
    """
    check_lang(lang)
    style = style_of(style)
    pal = _styles.corridor_colors(style)
    lw = _styles.line_widths(style)
    colors = style["colors"]
    section = Section(label("corridor", lang))
    kms: list[float] = []
    if buffers is not None:
        buffers = check_shapes(buffers, "corridor buffers", ("Polygon", "MultiPolygon"))
        for col in ("corridor", "within_km"):
            if len(buffers) and col not in buffers.columns:
                raise ValidationError(f"corridor buffers have no {col!r} column; pass geocity.corridors.buffer(...)")
        if len(buffers):
            keys = buffers[["corridor", "within_km"]].drop_duplicates().sort_values(["corridor", "within_km"])
            s = {"color": colors["buffer_edge"], "weight": px(lw["buffer_edge"]),
                 "fillColor": colors["buffer_fill"], "fillOpacity": 0.3, "opacity": 0.8}
            for corridor, km in keys.itertuples(index=False):
                part = buffers[(buffers["corridor"] == corridor) & (buffers["within_km"] == km)]
                tip = escape(f"{corridor} ≤ {float(km):g} km")
                data_ = collection(list(part.geometry), [{"style": s, "tip": tip} for _ in range(len(part))])
                layer = geojson(data_, name=escape(f"{corridor} {label('buffer', 'en')} {float(km):g} km"),
                                show=show, popup=False)
                wm.add(layer, bounds_of(part))
                section.tie(layer.layer_name, show)
                kms.append(float(km))
    if data is not None:
        lines = check_shapes(data, "corridor lines", ("LineString", "MultiLineString"))
        if len(lines) and "corridor" not in lines.columns:
            raise ValidationError("corridor lines have no 'corridor' column; pass geocity.corridors.lines()")
        if len(lines) == 0:
            wm.note("Corridors: no corridor lines to show")
        names = sorted(set(lines["corridor"])) if len(lines) else []
        for corridor in names:
            part = lines[lines["corridor"] == corridor]
            color = pal.get(corridor, pal.get("other", "#555555"))
            props = []
            for row in part.drop(columns=part.geometry.name).to_dict("records"):
                branch = text(row.get("branch"))
                full = row_name(row, lang, en_col="corridor_name_en", zh_col="corridor_name_zh")
                nm = f"{corridor}: {full}" if full and full != corridor else corridor
                nm = f"{nm} — {branch}" if branch and branch != corridor else nm
                props.append({"style": {"color": color, "weight": px(lw["corridor"]) + 1.0, "opacity": 0.95},
                              "tip": escape(nm)})
            layer = geojson(collection(list(part.geometry), props),
                            name=escape(f"{corridor} {label('corridor_line', 'en')}"), show=show, popup=False)
            wm.add(layer, bounds_of(part))
            section.tie(layer.layer_name, show)
            section.items.append(("line", color, str(corridor)))
    if kms:
        section.items.append(("box", colors["buffer_fill"], buffer_label(kms)))
    if not section.layers:
        return None
    return Section(section.title, section.items, section.layers)  # items re-checked (colours)
