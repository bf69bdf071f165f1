"""Links between cities (gravity-modelled or observed): lines drawn weakest
first, width by relative strength, colour by the plates' strength classes."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import folium
import numpy as np
import pandas as pd

from ... import provenance as _provenance
from ... import styles as _styles
from ...errors import ValidationError
from ...network import STRENGTH_CLASSES
from .base import WebMap, bounds_of
from .features import check_shapes, collection, style_of
from .legend import Section
from .text import check_lang, escape, label, pick, t, text
from .text import name as row_name

__all__ = ["add", "provenance_of", "DECIMALS"]

#: Links' coordinates are rounded to this many decimals (about 100 m).
DECIMALS = 3


def line_style(weight: float, ramp: Sequence[str]) -> dict:
    """Colour and opacity by strength class (as on the plates), width scaled
    continuously by the relative strength."""
    w = min(max(float(weight), 0.0), 1.0) if math.isfinite(float(weight)) else 0.0
    colors = (ramp[-1], ramp[-3], ramp[-4])
    alphas = (0.9, 0.75, 0.55)
    k = next(i for i, (lo, _hi) in enumerate(STRENGTH_CLASSES) if w >= lo)
    return {"color": colors[k], "weight": round(0.6 + 4.4 * math.sqrt(w), 1), "opacity": alphas[k]}


def provenance_of(links, cities=None) -> _provenance.ScoreProvenance | None:
    """Where the links' strengths come from: their ``score_source`` column,
    else the weaker ``score_source`` of their two cities (looked up in
    ``cities``); None when neither says."""
    if "score_source" in links.columns:
        return _provenance.of_frame(links)
    if cities is None or "score_source" not in getattr(cities, "columns", ()) or "city_id" not in cities.columns:
        return None
    src = dict(zip(cities["city_id"].astype(str), cities["score_source"], strict=True))
    pairs = zip(links.get("source_id", []), links.get("target_id", []), strict=True)
    ends = [(src.get(text(a)), src.get(text(b))) for a, b in pairs]
    if not ends or all(a is None and b is None for a, b in ends):
        return None
    return _provenance.describe(_provenance.combine(e) for e in ends)


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None,
        provenance: _provenance.ScoreProvenance | None = None, cities=None, name: str | None = None,
        show: bool = True, legend: bool = True) -> Section | None:
    """Add links between cities (e.g. :meth:`geocity.analysis.Analysis.links`).

    Tooltips name both cities; popups give both names, the strength, the
    distance and whether the link is modelled (gravity model) or observed.
    The popup's labels are written once (folium's ``GeoJsonPopup``
    aliases); each of the ~1 800 features carries only its escaped values.

    Parameters
    ----------
    data
        Line GeoDataFrame with ``source_name, target_name`` (or ``source_id,
        target_id``), ``weight`` in [0, 1] and optionally ``strength,
        distance_km, modelled, model`` (:mod:`geocity.network`; geodesic
        arcs split at ±180°).
    cities
        Optional cities (``city_id, name_zh, score_source``) for the Chinese
        names and, without ``provenance``, where the scores come from.
    name
        Layer name (plain text); default says "modelled" for modelled links.
    legend
        Return the legend section (strength classes, notes), tied to the layer.
    """
    check_lang(lang)
    style = style_of(style)
    links = check_shapes(data, "links", ("LineString", "MultiLineString"))
    modelled = bool(len(links)) and "modelled" in links.columns and bool(
        links["modelled"].fillna(False).astype(bool).any())
    if name is None:
        key = "links_modelled" if modelled else "links_observed"
        name = pick(f"{label('links', 'en')}: {label(key, 'en')}", f"{label('links', 'zh')}：{label(key, 'zh')}", lang)
    if len(links) == 0:
        wm.note(f"{name}: no links to show")
        return None
    cols = set(links.columns)
    if not ({"source_name", "target_name"} <= cols or {"source_id", "target_id"} <= cols):
        raise ValidationError("links need 'source_name' and 'target_name' (or 'source_id' and 'target_id') columns; "
                              "pass geocity.network.gravity_links(...) or edge_links(...)")
    if "weight" not in cols:
        raise ValidationError("links have no 'weight' column (relative strength in [0, 1]); pass geocity.network links")
    zh = {}
    if cities is not None and "city_id" in getattr(cities, "columns", []) and "name_zh" in cities.columns:
        zh = {str(k): text(v) for k, v in zip(cities["city_id"], cities["name_zh"], strict=True)}
    if provenance is None and modelled:
        provenance = provenance_of(links, cities)
    ramp = _styles.sequential_colors(style)
    recs = links.drop(columns=links.geometry.name).to_dict("records")
    order = np.argsort(pd.to_numeric(links["weight"], errors="coerce").fillna(0.0).to_numpy(), kind="stable")
    fields = [("link", label("link", lang)), ("strength", label("strength", lang)),
              ("distance", label("link_distance", lang)), ("source", label("link_source", lang))]
    props, geoms = [], []
    for i in order:
        r = recs[i]
        ends = []
        for end in ("source", "target"):
            en = text(r.get(f"{end}_name")) or text(r.get(f"{end}_id"))
            ends.append(row_name({"en": en, "zh": zh.get(text(r.get(f"{end}_id")), "")}, lang, en_col="en",
                                 zh_col="zh"))
        w = pd.to_numeric(r.get("weight"), errors="coerce")
        w = float(w) if pd.notna(w) else float("nan")
        st = pd.to_numeric(r.get("strength"), errors="coerce")
        strength = (f"{float(st):.3g} " if pd.notna(st) else "") + (f"({w:.3f})" if math.isfinite(w) else "")
        d = pd.to_numeric(r.get("distance_km"), errors="coerce")
        is_model = bool(r.get("modelled")) if text(r.get("modelled")) != "" else modelled
        props.append({"style": line_style(w if math.isfinite(w) else 0.0, ramp),
                      "link": escape(f"{ends[0]} — {ends[1]}"),
                      "strength": escape(strength.strip()),
                      "distance": escape(f"{float(d):,.0f} km") if pd.notna(d) else "",
                      "source": t("modelled_gravity" if is_model else "observed", lang)})
        geoms.append(links.geometry.iloc[i])
    layer = folium.GeoJson(
        collection(geoms, props, decimals=DECIMALS), name=escape(name), show=show, overlay=True, control=True,
        tooltip=folium.GeoJsonTooltip(fields=["link"], labels=False),
        popup=folium.GeoJsonPopup(fields=[f for f, _ in fields], aliases=[escape(a) for _, a in fields],
                                  labels=True, max_width=360, class_name="geocity-popup geocity-link-popup"),
    )
    wm.add(layer, bounds_of(links))
    if not legend:
        return None
    items = []
    for lo, hi in STRENGTH_CLASSES:
        rng = f"≥ {lo:g}" if hi >= 1.0 else f"{lo:g}–{hi:g}"
        items.append(("line", line_style(max(lo, 1e-9) if lo else 0.0, ramp)["color"],
                      pick(f"{label('relative_strength', 'en')} {rng}", f"{label('relative_strength', 'zh')} {rng}",
                           lang)))
    if modelled:
        proxy = provenance is not None and provenance.proxy
        items.append(("note", "", label("links_proxy_note" if proxy else "links_note", lang)))
        model = text(recs[0].get("model"))
        if model:
            items.append(("note", "", model))
        if provenance is not None:
            items.append(("note", "", provenance.label(lang)))
    return Section(name, items, [(layer.layer_name, show)])
