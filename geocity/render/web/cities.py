"""Cities layer (circles sized by score or rank, coloured by region) and the
GDCI / BRI top-100 layers (sized by rank, coloured by the change since the
last edition)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import folium
import numpy as np
import pandas as pd

from ... import provenance as _provenance
from ... import styles as _styles
from ... import terms as _terms
from ...errors import NotFoundError, ValidationError
from .base import WebMap, bounds_of
from .features import check_points, collection, geojson, px, radius, style_of
from .legend import Section
from .text import check_lang, country_tag, escape, label, pick, rank_label, rows_html, search_text, t, text
from .text import name as row_name

__all__ = ["add", "add_top100", "popup"]

_DIMS = ("innovation", "industry", "infrastructure", "composite")


def _change_word(change: str, lang: str, labels: Mapping | None) -> str:
    lab = (labels or {}).get(change)
    return pick(lab["label_en"], lab["label_zh"], lang) if lab else change


def popup(row: Mapping, lang: str, provenance: _provenance.ScoreProvenance | None = None,
          change_labels: Mapping | None = None, year: int = 2022) -> str:
    """A city's popup (escaped HTML): names, country, region, ranks of
    ``year``'s edition and their change, 3I scores with where they come from,
    corridor distances."""
    title = escape(row_name(row, lang))
    rows: list[tuple[str, str]] = []
    country = text(row.get("country_name"))
    iso = text(row.get("country_iso2"))
    if country or iso:
        rows.append((t("country", lang), escape(f"{country} ({iso})" if country and iso else country or iso)))
    region = text(row.get("region"))
    if region:
        rows.append((t("region", lang), escape(_terms.region(region, lang))))
    for key in ("gdci", "bri"):
        if f"{key}_rank" not in row:
            continue
        rank = row.get(f"{key}_rank")
        if text(rank) == "":
            rows.append((rank_label(key, year, lang), t("not_ranked", lang)))
            continue
        val = escape(int(rank))  # type: ignore[arg-type]  # not empty: checked just above
        change = text(row.get(f"{key}_change"))
        if change:
            val += f" ({t('change', lang)}: {escape(_change_word(change, lang, change_labels))})"
        rows.append((rank_label(key, year, lang), val))
    note = ""
    if "composite" in row and text(row.get("composite")) != "":
        parts = [f"{t(d, lang)} {float(row[d]):.2f}" for d in _DIMS if text(row.get(d)) != ""]
        if text(row.get("score_source")) == _provenance.USER_MISSING:
            parts.append(t("missing_score", lang))
        rows.append((t("scores", lang), "<br>".join(parts)))
        if provenance is not None:
            note = escape(provenance.label(lang))
    entries = row.get("corridors")
    if not isinstance(entries, (list, tuple)):
        entries = [row] if text(row.get("corridor")) else []
    for e in entries:
        corridor, branch = text(e.get("corridor")), text(e.get("branch"))
        rows.append((t("corridor", lang), escape(f"{corridor} ({branch})" if branch else corridor)))
        for key, col in (("distance", "distance_km"), ("chainage", "chainage_km")):
            if text(e.get(col)) != "":
                rows.append((t(key, lang), escape(f"{float(e.get(col)):,.0f} km")))
    return rows_html(title, rows, note=note)


def _sizes(gdf, sym: Mapping, size_by: str | None) -> np.ndarray:
    lo, hi = float(sym["city_size_min"]), float(sym["city_size_max"])
    if size_by is None:
        size_by = "composite" if "composite" in gdf.columns else ("gdci_rank" if "gdci_rank" in gdf.columns else "")
    if size_by and size_by in gdf.columns and size_by.endswith("rank"):
        r = pd.to_numeric(gdf[size_by], errors="coerce").to_numpy(dtype=float)
        worst = np.nanmax(r) if np.isfinite(r).any() else 1.0
        frac = 1.0 - (r - 1.0) / max(worst - 1.0, 1.0)
        return np.where(np.isfinite(r), lo + (hi - lo) * frac, float(sym["background_city_size"]))
    if size_by and size_by in gdf.columns:
        v = pd.to_numeric(gdf[size_by], errors="coerce").to_numpy(dtype=float)
        return lo + (hi - lo) * np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0)
    return np.full(len(gdf), float(sym["background_city_size"]))


def _provenance_of(gdf, provenance):
    if provenance is not None or "composite" not in gdf.columns:
        return provenance
    return _provenance.of_frame(gdf)


def _draw(wm: WebMap, gdf, *, layer_name: str, lang: str, style: Mapping, provenance, show: bool,
          size_by: str | None, search: bool, color_by: str):
    """The circles of ``gdf`` (checked WGS 84 points) as one GeoJson layer."""
    if "name_en" not in gdf.columns:
        raise ValidationError(
            "cities has no 'name_en' column; add the English names (and 'name_zh') to label the cities"
        )
    sym = _styles.symbol_sizes(style)
    sizes = _sizes(gdf, sym, size_by)
    if color_by == "region":
        regions = gdf["region"] if "region" in gdf.columns else [None] * len(gdf)
        colors = [_styles.region_color(text(r) or None, style) for r in regions]
    else:
        change = _styles.change_symbols(style)
        colors = [change.get(text(c), {}).get("color", sym["background_city_color"]) for c in gdf[color_by]]
    change_labels = _styles.change_symbols(style)
    order = np.argsort(-sizes, kind="stable")  # big circles first, small ones on top
    records = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    rank_col = size_by if size_by and size_by.endswith("rank") else None
    props, geoms = [], []
    for i in order:
        row = records[i]
        tip = escape(row_name(row, lang))
        if rank_col and text(row.get(rank_col)):
            tip = f"#{int(row[rank_col])} {tip}"
        p: dict[str, Any] = {"style": {"radius": radius(sizes[i]), "color": sym["city_edge_color"],
                       "weight": px(sym["city_edge_width"]) + 0.5, "fillColor": colors[i],
                       "fill": True, "fillOpacity": float(sym["alpha"]), "opacity": 1.0}}
        if search:
            # country code keeps same-named cities apart (Santiago CL / CU):
            # leaflet-search keys its records by this text
            p["search"] = search_text(" ".join(x for x in (row_name(row, "both"), country_tag(row)) if x))
        p.update({"tip": tip, "pop": popup(row, lang, provenance, change_labels, wm.year),
                  "city_id": text(row.get("city_id"))})
        props.append(p)
        geoms.append(gdf.geometry.iloc[i])
    layer = geojson(collection(geoms, props), name=layer_name, show=show, marker=folium.CircleMarker(radius=4))
    wm.add(layer, bounds_of(gdf))
    if search and wm.search_layer is None:
        wm.search_layer = layer
    return layer


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None,
        provenance: _provenance.ScoreProvenance | None = None, name: str | None = None, show: bool = True,
        size_by: str | None = None, search: bool = True, color_by: str = "region") -> Section | None:
    """Add cities as circle markers sized by score or rank, coloured by region.

    Parameters
    ----------
    wm
        The map's :class:`~geocity.render.web.base.WebMap`.
    data
        Point GeoDataFrame with a CRS and ``name_en`` (optionally ``name_zh,
        region, country_name, country_iso2, gdci_rank, gdci_change, bri_rank,
        bri_change, innovation, industry, infrastructure, composite,
        score_source``, and corridor information as either ``corridor,
        branch, distance_km, chainage_km`` columns or a ``corridors`` column
        holding a list of such dicts per city).
    lang, style
        ``"en"``, ``"zh"`` or ``"both"``; a style sheet (default: base).
    provenance
        Where the scores come from (popups and legend say it); default
        :func:`geocity.provenance.of_frame` of ``data``.
    name, show
        Layer name (plain text) and whether it starts switched on.
    size_by
        Column that sizes the circles: a score in [0, 1] or a ``*_rank``
        column (rank 1 largest). Default: ``composite``, else ``gdci_rank``.
    search
        Make this layer the one the search box looks in.
    color_by
        ``"region"`` or ``"gdci_change"``/``"bri_change"``.

    Returns
    -------
    Section or None
        The legend section (regions, size, provenance), tied to the layer;
        None (and a note on the map) when ``data`` is empty.
    """
    check_lang(lang)
    style = style_of(style)
    gdf = check_points(data, "cities")
    title = name if name is not None else label("cities", lang)
    if len(gdf) == 0:
        wm.note(f"{title}: no cities to show")
        return None
    provenance = _provenance_of(gdf, provenance)
    layer = _draw(wm, gdf, layer_name=escape(title), lang=lang, style=style, provenance=provenance, show=show,
                  size_by=size_by, search=search, color_by=color_by)
    present = set(gdf["region"].astype(str)) if "region" in gdf.columns else set()
    items = [("dot", _styles.region_color(r, style), _terms.region(r, lang))
             for r in _styles.region_colors(style) if r != "other" and r in present]
    size = label("size_score" if "composite" in gdf.columns else "size_rank", lang)
    if "composite" in gdf.columns and provenance is not None and provenance.tag(lang):
        size += f" ({provenance.tag(lang)})" if lang != "zh" else f"（{provenance.tag(lang)}）"
    items.append(("dot", style["symbols"]["background_city_color"], size))
    if "composite" in gdf.columns and provenance is not None:
        items.append(("note", "", provenance.label(lang)))
    return Section(title, items, [(layer.layer_name, show)])


def add_top100(wm: WebMap, data, *, which: str = "gdci", lang: str = "both", style: Mapping | None = None,
               provenance: _provenance.ScoreProvenance | None = None, show: bool = False,
               notes: Iterable[str] = ()) -> Section | None:
    """Add the GDCI (``which="gdci"``) or BRI (``"bri"``) top 100: circles
    sized by rank and coloured by the change since the last edition.

    ``notes``: plain-text lines for the legend section (e.g. ranked cities
    without coordinates, :meth:`geocity.analysis.Analysis.unplaced_ranked`).
    Returns the legend section of the change colours, tied to the layer.
    """
    if which not in ("gdci", "bri"):
        raise NotFoundError(f"unknown ranking {which!r} for `which`; valid: 'gdci', 'bri'")
    check_lang(lang)
    style = style_of(style)
    col = f"{which}_rank"
    gdf = check_points(data, f"{which} top 100")
    if col not in gdf.columns:
        raise ValidationError(f"{which} top 100: no {col!r} column; pass geocity.layers.cities_with_ranks()")
    ranked = gdf[pd.to_numeric(gdf[col], errors="coerce") <= 100]
    title = label(f"{which}_top", lang)
    if len(ranked) == 0:
        wm.note(f"{title}: no cities to show")
        return None
    color_by = f"{which}_change" if f"{which}_change" in gdf.columns else "region"
    layer = _draw(wm, ranked, layer_name=escape(title), lang=lang, style=style,
                  provenance=_provenance_of(ranked, provenance), show=show, size_by=col, search=False,
                  color_by=color_by)
    items = [("dot", v["color"], pick(v["label_en"], v["label_zh"], lang, sep=" "))
             for v in _styles.change_symbols(style).values()]
    items += [("note", "", n) for n in notes]
    return Section(f"{title}: {label('top_change', lang)}", items, [(layer.layer_name, show)])
