"""City-cluster layer: cluster outlines coloured by typology, popups with
poles, members, rank and scores (and where the scores come from)."""

from __future__ import annotations

import re
from typing import Any, Mapping

from ... import provenance as _provenance
from ... import styles as _styles
from ...errors import ValidationError
from .base import WebMap, bounds_of
from .features import as_list, check_shapes, collection, geojson, px, style_of
from .legend import Section
from .text import check_lang, escape, label, rows_html, t, text
from .text import name as row_name

__all__ = ["add", "typology_color"]


def typology_color(typology: Any, palette: Mapping[str, str]) -> str:
    """Colour of a cluster typology such as "multi-pole, cross-border"
    (palette keys like ``"multi-pole cross-border"``; ``"other"`` fallback)."""
    k = " ".join(re.split(r"[\s,;/_]+", text(typology).lower())).strip()
    if k in palette:
        return palette[k]
    pole = "multi-pole" if "multi" in k else "single-pole" if "single" in k else ""
    border = "cross-border" if "cross" in k else "domestic" if "domestic" in k else ""
    for key in (f"{pole} {border}".strip(), pole, border):
        if key and key in palette:
            return palette[key]
    return palette.get("other", "#7f7f7f")


def _members_by_cluster(clusters, members, lang: str) -> tuple[dict, dict]:
    """cluster_id -> member names, and city_id -> display name."""
    names: dict = {}
    out: dict = {}
    if members is not None and len(members) and "cluster_id" in members.columns:
        for r in members.to_dict("records"):
            nm = row_name(r, lang) if "name_en" in r else text(r.get("city_id"))
            if "city_id" in r:
                names[text(r["city_id"])] = nm
            out.setdefault(r["cluster_id"], []).append(nm)
    if "members" in clusters.columns:
        for cid, v in zip(clusters["cluster_id"], clusters["members"], strict=True):
            out[cid] = [names.get(x, x) for x in as_list(v)]
    return out, names


def provenance_of(clusters, members=None) -> _provenance.ScoreProvenance | None:
    """Where the clusters' scores come from, by their members' ``score_source``
    (else the clusters' own column); None when neither says."""
    for frame in (members, clusters):
        if frame is not None and "score_source" in getattr(frame, "columns", ()):
            return _provenance.of_frame(frame)
    return None


def _tagged(key: str, lang: str, tag: str) -> str:
    base = t(key, lang)
    if not tag:
        return base
    return f"{base}{escape(f'（{tag}）' if lang == 'zh' else f' ({tag})')}"


def add(wm: WebMap, data, *, lang: str = "both", style: Mapping | None = None,
        provenance: _provenance.ScoreProvenance | None = None, members=None, show: bool = True) -> Section | None:
    """Add cluster outlines, coloured by typology.

    Parameters
    ----------
    data
        Polygon GeoDataFrame (``CityClusters.clusters_``) with ``cluster_id,
        name`` and optionally ``name_zh, typology, poles, n_members, members,
        total_score, mean_score, rank``.
    members
        Optional member table (``CityClusters.members_``: ``cluster_id``,
        ``city_id``, ``name_en``, ``name_zh``) for the member list and to
        show the poles (city ids) by name.
    provenance
        Where the scores come from; default ``provenance_of`` the members
        or clusters (None: the popups do not say).

    Returns
    -------
    Section or None
        The typology colours, tied to the layer; None (and a note) when empty.
    """
    check_lang(lang)
    style = style_of(style)
    clusters = check_shapes(data, "clusters", ("Polygon", "MultiPolygon"))
    title = label("clusters", lang)
    if len(clusters) == 0:
        wm.note(f"{title}: no clusters to show")
        return None
    for col in ("cluster_id", "name"):
        if col not in clusters.columns:
            raise ValidationError(f"clusters has no {col!r} column; pass CityClusters(...).fit(...).clusters_")
    if provenance is None:
        provenance = provenance_of(clusters, members)
    tag = provenance.tag(lang) if provenance is not None else ""
    note = escape(provenance.label(lang)) if provenance is not None else ""
    pal = _styles.typology_colors(style)
    width = px(_styles.line_widths(style)["cluster_edge"]) + 0.5
    mem, city_names = _members_by_cluster(clusters, members, lang)
    heading = label("cluster", "zh" if lang == "zh" else "en")
    props = []
    for row in clusters.drop(columns=clusters.geometry.name).to_dict("records"):
        color = typology_color(row.get("typology"), pal)
        nm = row_name(row, lang, en_col="name", zh_col="name_zh")
        rows = []
        if text(row.get("typology")):
            rows.append((t("typology", lang), escape(row["typology"])))
        poles = [city_names.get(p, p) for p in as_list(row.get("poles"))]
        if poles:
            rows.append((t("poles", lang), escape(", ".join(poles))))
        names = as_list(mem.get(row["cluster_id"]))
        n = int(row["n_members"]) if text(row.get("n_members")) != "" else len(names)
        if names or n:
            shown = names[:40]
            more = f" … (+{len(names) - len(shown)})" if len(names) > len(shown) else ""
            rows.append((f"{t('members', lang)} ({n})", escape(", ".join(shown) + more)))
        if text(row.get("rank")):
            rows.append((t("cluster_rank", lang), escape(int(row["rank"]))))
        for key, col in (("total", "total_score"), ("mean", "mean_score")):
            if text(row.get(col)):
                rows.append((_tagged(key, lang, tag), escape(f"{float(row[col]):.3f}")))
        props.append({
            "style": {"color": color, "weight": width, "fillColor": color, "fillOpacity": 0.12, "opacity": 0.9},
            "tip": escape(nm),
            "pop": rows_html(escape(f"{heading}: {nm}"), rows, note=note),
        })
    layer = geojson(collection(list(clusters.geometry), props), name=escape(title), show=show)
    wm.add(layer, bounds_of(clusters))
    kinds = sorted({text(k) for k in clusters.get("typology", [])} - {""})
    items = [("box", typology_color(k, pal), k) for k in kinds]
    if provenance is not None:
        items.append(("note", "", provenance.label(lang)))
    return Section(title, items, [(layer.layer_name, show)])
