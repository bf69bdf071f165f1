"""The report's figure recipes (registered into :data:`geocity.figures.RECIPES`
on import): bar charts 2-1 and 3-1, the rank maps (2-2 and the table maps),
the cluster maps (2-3, 2-5, 3-2) and the three corridor plates, with their
shared drawing helpers (marker sizes, legend handles, insets).

A recipe computes nothing: it draws what :class:`~geocity.figures.RecipeContext`
hands it from the run's analysis. Further recipes live in
:mod:`geocity._figures_landscape`.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np

from ._figure_registry import RecipeContext, register
from .analysis import REPORT_CORRIDORS
from .errors import NotFoundError, ValidationError
from .render.static import Plate, bilingual
from .styles import (
    change_symbols,
    corridor_colors,
    region_color,
    region_colors,
    typology_colors,
)

log = logging.getLogger("geocity.figures")

_GBA: dict[str, Any] = dict(title_en="Greater Bay Area", title_zh="粤港澳大湾区", lat=22.75,
                             lon=113.75, half_width_km=95.0)
_SGP: dict[str, Any] = dict(title_en="Singapore", title_zh="新加坡", lat=1.33, lon=103.84, half_width_km=35.0)



# --------------------------------------------------------------------------
# shared drawing helpers
# --------------------------------------------------------------------------
def _rank_area(rank, n_max: int, style: dict) -> np.ndarray:
    """Marker area (points²) for ranks 1…n_max: rank 1 largest."""
    sy = style["symbols"]
    r = np.clip(np.asarray(rank, dtype=float), 1, n_max)
    t = 1.0 - (r - 1.0) / max(n_max - 1.0, 1.0)
    return sy["city_size_min"] + (sy["city_size_max"] - sy["city_size_min"]) * t ** 1.6


def _size_handles(ranks: Sequence[int], n_max: int, style: dict, color: str, marker: str = "o"):
    from matplotlib.lines import Line2D

    areas = _rank_area(ranks, n_max, style)
    return [Line2D([], [], ls="", marker=marker, markersize=math.sqrt(a), markerfacecolor=color,
                   markeredgecolor=style["symbols"]["city_edge_color"], markeredgewidth=0.4) for a in areas]


def _marker_handle(color, marker="o", size=6.0, edge=None, style=None):
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="", marker=marker, markersize=size, markerfacecolor=color,
                  markeredgecolor=edge or "white", markeredgewidth=0.4)


def _patch_handle(face, edge=None, alpha=1.0):
    from matplotlib.patches import Patch

    return Patch(facecolor=face, edgecolor=edge or face, alpha=alpha, linewidth=0.6)


def _line_handle(color, lw=1.5):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, linewidth=lw)


def _region_names(ctx: RecipeContext) -> dict[str, str]:
    from .terms import REGIONS

    return {k: ctx.text(*REGIONS.get(k, (k, k)), sep=" ") for k in region_colors(ctx.style)}


def _add_insets(plate: Plate, ctx: RecipeContext, shown, *, label_col: str = "_label") -> None:
    """Insets for the Greater Bay Area and Singapore when shown cities fall there."""
    from .geodesy import distance_km

    for spec in (_SGP, _GBA):
        d = distance_km(shown["lat"].to_numpy(float), shown["lon"].to_numpy(float), spec["lat"], spec["lon"])
        near = d < spec["half_width_km"] * 1.3
        if spec is _GBA and near.sum() < 2:
            continue
        if spec is _SGP and near.sum() < 1:
            continue
        pts = shown.loc[near]
        plate.add_inset(**spec, basemap=ctx.basemap_gdf(), points=pts, label_col=label_col,
                        point_color=list(pts["_color"]) if "_color" in pts.columns else None,
                        point_marker=list(pts["_marker"]) if "_marker" in pts.columns else None)


def _ranked(ctx: RecipeContext, col: str, n: int):
    cities = ctx.cities()
    r = cities[col].astype(float)
    df = cities.loc[(r <= n).to_numpy()].copy()
    df[col] = df[col].astype(float)
    return df.sort_values([col, "city_id"], kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------
# bar charts (2-1, 3-1)
# --------------------------------------------------------------------------
def _bar_chart(ctx: RecipeContext, rank_col: str, change_col: str, *, user_scores_ok: bool, what_en: str, what_zh: str):
    from .scores import rank_score

    st = ctx.style
    top = _ranked(ctx, rank_col, 20)
    if len(top) == 0:
        raise ValidationError(f"no city has a {rank_col!r}; the ranking layer is empty")
    if user_scores_ok and not ctx.proxy:  # the user's composite; the bars of the index itself are proxies
        sc = ctx.scored().set_index("city_id")["composite"]
        values = top["city_id"].map(sc).to_numpy(float)
        p = ctx.provenance
        xlabel = ctx.text(f"Composite 3I score: {p.label('en')}", f"3I 综合得分：{p.label('zh')}", sep="\n")
        proxy = False
    else:
        values = rank_score(top[rank_col].to_numpy(float))
        xlabel = ctx.text(f"{what_en} score — rank-derived PROXY, not the published index value",
                          f"{what_zh}得分——由排名推算的代理值，非报告公布值", sep="\n")
        proxy = True
    plate = ctx.chart_plate(
        subtitle_en=f"Top 20 of {len(ctx.cities())} cities, coloured by region",
        subtitle_zh=f"{len(ctx.cities())} 个城市中的前 20 位，按区域着色",
        box=(0.25, 0.14, 0.69, 0.71),
    )
    ax = plate.ax
    y = np.arange(len(top))[::-1]
    colors = [region_color(r, st) for r in top["region"]]
    ax.barh(y, values, color=colors, height=0.72, edgecolor="white", linewidth=st["lines"]["bar_edge"], zorder=2,
            gid="bars")
    sep = "  "
    names = ctx.labels(top.assign(name_zh=top.get("name_zh")))
    names = [n.replace("\n", " ") for n in names]
    ax.set_yticks(y)
    ax.set_yticklabels([f"{int(r)}{sep}{n}" for r, n in zip(top[rank_col], names, strict=True)], family=plate.family,
                       fontsize=st["fonts"]["bar_label_size"], color=st["colors"]["text"])
    ax.tick_params(axis="y", length=0, pad=14)
    # change symbols left of the bars
    sym = change_symbols(st)
    for yi, ch in zip(y, top[change_col].fillna(""), strict=True):
        if ch in sym:
            ax.plot([-0.012], [yi], marker=sym[ch]["marker"], color=sym[ch]["color"], ms=4.2, ls="",
                    transform=ax.get_yaxis_transform(), clip_on=False, zorder=3)
    for yi, v in zip(y, values, strict=True):
        if np.isfinite(v):
            ax.text(v + 0.008, yi, f"{v:.2f}", va="center", ha="left", fontsize=st["fonts"]["bar_label_size"] - 1,
                    family=plate.family, color=st["colors"]["muted_text"])
    vmax = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    ax.set_xlim(0, max(1.0, vmax) * 1.08)
    ax.set_ylim(-0.7, len(top) - 0.3)
    ax.set_xlabel(xlabel, family=plate.family, fontsize=st["fonts"]["legend_size"], color=st["colors"]["text"])
    for lab in ax.get_xticklabels():
        lab.set_family(plate.family)
        lab.set_fontsize(st["fonts"]["legend_size"])
    ax.grid(axis="x", color=st["colors"]["graticule"], linewidth=0.4, zorder=0)
    for s in ("top", "right", "left"):
        ax.spines[s].set_visible(False)
    ax.spines["bottom"].set_color(st["colors"]["frame"])
    regions = [r for r in region_colors(st) if r in set(top["region"])]
    rn = _region_names(ctx)
    handles = [_patch_handle(region_color(r, st)) for r in regions]
    labels = [rn[r] for r in regions]
    for ch in ("up", "down", "same", "new"):
        if ch in set(top[change_col]):
            handles.append(_marker_handle(sym[ch]["color"], sym[ch]["marker"], 7 if sym[ch]["marker"] == "*" else 5))
            labels.append(ctx.text(sym[ch]["label_en"], sym[ch]["label_zh"], sep=" "))
    plate.add_legend(handles, labels, title=ctx.text("Region / change in rank", "区域 / 排名变化", sep=" "),
                     loc="lower right", ncols=1)
    plate.add_note(ctx.credits(proxy=proxy, scores=not proxy, coordinates=False, basemap=False))
    return plate


@register("2-1", "Rank and score of Global Dynamic Cities Index (top 20)", "全球活力城市指数排名及得分（前 20 位）")
def _figure_2_1(ctx: RecipeContext):
    return _bar_chart(ctx, "gdci_rank", "gdci_change", user_scores_ok=True,
                      what_en="Global Dynamic Cities Index", what_zh="全球活力城市指数")


@register("3-1", "Rank and score of the Index for Belt and Road Potential Cities (top 20)",
          "“一带一路”潜力城市指数排名及得分（前 20 位）")
def _figure_3_1(ctx: RecipeContext):
    return _bar_chart(ctx, "bri_rank", "bri_change", user_scores_ok=False,
                      what_en="Belt and Road Potential Cities Index", what_zh="“一带一路”潜力城市指数")


# --------------------------------------------------------------------------
# rank maps (2-2, tables 2-1 … 2-7)
# --------------------------------------------------------------------------
@register("2-2", "Change in the rankings of global dynamic cities", "全球活力城市排名变化情况")
def _figure_2_2(ctx: RecipeContext):
    st = ctx.style
    top = _ranked(ctx, "gdci_rank", 100)
    y, p = ctx.analysis.year, ctx.analysis.previous_year
    if p is None:
        sub_en = f"Top 100 of the Global Dynamic Cities Index {y} (this edition gives no change in rank)"
        sub_zh = f"{y} 年全球活力城市指数前 100 位（本版未给出排名变化）"
    else:
        sub_en = f"Top 100 of the Global Dynamic Cities Index {y} and their change in rank since {p}"
        sub_zh = f"{y} 年全球活力城市指数前 100 位及较 {p} 年的排名变化"
    plate = ctx.world_plate(subtitle_en=sub_en, subtitle_zh=sub_zh)
    sym = change_symbols(st)
    area = _rank_area(top["gdci_rank"], 100, st)
    top["_label"] = ctx.labels(top)
    top["_color"] = [sym.get(c, sym["same"])["color"] for c in top["gdci_change"].fillna("same")]
    top["_marker"] = [sym.get(c, sym["same"])["marker"] for c in top["gdci_change"].fillna("same")]
    labelled = (top["gdci_rank"] <= st["labels"]["max_rank"]).to_numpy()
    small = st["symbols"]["change_size"]
    for ch, spec in sym.items():
        m = (top["gdci_change"] == ch).to_numpy()
        for obst in (True, False):  # labels keep off the labelled cities' symbols only
            k = m & (labelled == obst)
            if k.any():
                # big symbols (labelled top ranks) below the small ones; new entries on top and
                # never smaller than change_size, so a rare symbol is not lost under its neighbours
                s_k = np.maximum(area[k] * 1.1, small) if ch == "new" else area[k] * 1.1
                z = 6.4 if ch == "new" else (6.0 if obst else 6.2)
                plate.add_points(top.loc[k, "lon"], top.loc[k, "lat"], s=s_k, c=spec["color"],
                                 marker=spec["marker"], gid=f"cities-{ch}", zorder=z, obstacle=obst or ch == "new")
    _add_insets(plate, ctx, top)
    lab = top.loc[top["gdci_rank"] <= st["labels"]["max_rank"]]
    plate.add_labels(lab["lon"], lab["lat"], list(lab["_label"]))
    handles, labels = [], []
    for spec in sym.values():
        handles.append(_marker_handle(spec["color"], spec["marker"], 8.5 if spec["marker"] == "*" else 6.5))
        labels.append(ctx.text(spec["label_en"], spec["label_zh"], sep=" "))
    for r, h in zip((1, 50, 100), _size_handles([1, 50, 100], 100, st, st["symbols"]["background_city_color"]),
                    strict=True):
        handles.append(h)
        labels.append(ctx.text(f"Rank {r}", f"第 {r} 位", sep=" "))
    span = f"{p}→{y}" if p is not None else f"{y}"
    plate.add_legend(handles, labels, title=ctx.text(f"Change in rank, {span} / symbol size: rank",
                                                     f"排名变化（{span}）/ 符号大小：排名", sep="\n"))
    plate.add_scalebar()
    plate.add_note(ctx.credits(extra=[ctx.text(f"Labels: top {st['labels']['max_rank']} cities",
                                               f"标注：前 {st['labels']['max_rank']} 位城市", sep=" / ")]))
    return plate


_TABLES = {
    "2-1": ("Top 20 cities in scientific innovation frontier", "科学创新前沿 TOP20 城市"),
    "2-2": ("Top 20 cities in technological innovation frontier", "技术创新前沿 TOP20 城市"),
    "2-3": ("Top 20 cities in industrial innovation frontier", "产业创新前沿 TOP20 城市"),
    "2-4": ("Top 20 cities in global production network", "全球生产网络 TOP20 城市"),
    "2-5": ("Top 20 cities in global service network", "全球服务网络 TOP20 城市"),
    "2-6": ("Top 20 cities in airline transport service", "航空服务水平 TOP20 城市"),
    "2-7": ("Top 20 cities in maritime transport service", "海运服务水平 TOP20 城市"),
}


def _table_map(table: str):
    def recipe(ctx: RecipeContext):
        st = ctx.style
        dr = ctx.analysis.ranks("dimension_ranks")
        t = dr.loc[dr["table"].astype(str).str.replace("Table ", "", regex=False) == table]
        if t.empty:
            raise NotFoundError(f"dimension_ranks has no rows for table {table!r}")
        cities = ctx.cities().drop(columns=["rank"], errors="ignore")
        top = t[["rank", "city_id"]].merge(cities, on="city_id", how="inner").sort_values("rank", kind="mergesort")
        top = top.reset_index(drop=True)
        if len(top) < len(t):
            missing = sorted(set(t["city_id"]) - set(top["city_id"]))
            log.warning("table %s: %d ranked cities not in the cities layer: %s", table, len(missing), missing)
        dim = str(t["dimension"].iloc[0]) if "dimension" in t.columns else ""
        n = int(top["rank"].max())
        plate = ctx.world_plate(
            subtitle_en=(f"Dimension: {dim} · " if dim else "") + f"top {n} cities; symbol size: rank, colour: region",
            subtitle_zh=f"前 {n} 位城市；符号大小表示排名，颜色表示区域",
        )
        area = _rank_area(top["rank"], n, st)
        top["_color"] = [region_color(r, st) for r in top["region"]]
        top["_label"] = ctx.labels(top, extra=[f"({int(r)})" for r in top["rank"]])
        plate.add_points(top["lon"], top["lat"], s=area, c=list(top["_color"]), gid="cities", zorder=6)
        _add_insets(plate, ctx, top)
        plate.add_labels(top["lon"], top["lat"], list(top["_label"]))
        rn = _region_names(ctx)
        regions = [r for r in region_colors(st) if r in set(top["region"])]
        handles = [_marker_handle(region_color(r, st), "o", 6.5) for r in regions]
        labels = [rn[r] for r in regions]
        for r, h in zip((1, 10, n), _size_handles([1, 10, n], n, st, st["symbols"]["background_city_color"]),
                    strict=True):
            handles.append(h)
            labels.append(ctx.text(f"Rank {r}", f"第 {r} 位", sep=" "))
        plate.add_legend(handles, labels,
                         title=ctx.text("Region / rank (in brackets)", "区域 / 排名（括号内）", sep="\n"))
        plate.add_scalebar()
        plate.add_note(ctx.credits())
        return plate

    return recipe


for _t, (_en, _zh) in _TABLES.items():
    register(f"table-{_t}", _en, _zh, kind="Table")(_table_map(_t))


# --------------------------------------------------------------------------
# clusters (2-3, 2-5)
# --------------------------------------------------------------------------
_TYPOLOGY_ZH = {"multi-pole": "多极", "single-pole": "单极", "cross-border": "跨境", "domestic": "境内"}


def _typology_label(ctx: RecipeContext, typ: str) -> str:
    zh = "".join(_TYPOLOGY_ZH.get(p, p) for p in typ.split())
    if typ == "other":
        return ctx.text("Other", "其他", sep=" ")
    return ctx.text(typ.replace("-", "\u2011").capitalize(), zh + "型", sep=" ")


def _cluster_plate(ctx: RecipeContext, *, score: str, subtitle_en: str, subtitle_zh: str):
    st = ctx.style
    scored = ctx.scored()
    cc = ctx.clusters(score)  # the analysis' fit: the clusters the exports and the web map hold
    cl = cc.clusters_.copy()
    mem = cc.members_
    plate = ctx.world_plate(subtitle_en=subtitle_en, subtitle_zh=subtitle_zh)
    typ = typology_colors(st)
    other = typ["other"]
    colors = [typ.get(t, other) for t in cl["typology"]]
    # background: every city
    plate.add_points(scored.geometry.x, scored.geometry.y, s=st["symbols"]["background_city_size"],
                     c=st["symbols"]["background_city_color"], linewidth=0, gid="cities", zorder=4, obstacle=False)
    plate.add_polygons(cl.geometry, facecolor=colors, edgecolor=colors, linewidth=st["lines"]["cluster_edge"],
                       alpha=st["opacity"]["cluster_fill"], zorder=5, gid="clusters")
    plate.add_polygons(cl.geometry, facecolor="none", edgecolor=colors, linewidth=st["lines"]["cluster_edge"],
                       zorder=5.5, gid="cluster-edges")
    m = mem.loc[~mem["is_pole"].astype(bool)]
    plate.add_points(m["lon"], m["lat"], s=st["symbols"]["member_size"], c=st["colors"]["text"],
                     linewidth=st["symbols"]["member_edge_width"], gid="members", zorder=6,
                     obstacle=False)
    poles = mem.loc[mem["is_pole"].astype(bool)]
    plate.add_points(poles["lon"], poles["lat"], s=st["symbols"]["pole_size"], c=st["colors"]["bar_highlight"],
                     marker=st["symbols"]["pole_marker"], gid="poles", zorder=7)
    # cluster labels at the strongest pole, best clusters first
    first = poles.sort_values(["cluster_id", "weight"], ascending=[True, False], kind="mergesort")
    first = first.drop_duplicates("cluster_id")
    first = first[["cluster_id", "lon", "lat"]].merge(cl[["cluster_id", "name", "name_zh", "rank"]], on="cluster_id")
    first = first.sort_values("rank", kind="mergesort")
    n_lab = st["labels"]["max_rank"]
    lab = first.head(n_lab)
    sep = st["labels"]["both_separator"]
    texts = [f"{int(r)} " + bilingual(n, z, ctx.lang, sep)
             for r, n, z in zip(lab["rank"], lab["name"], lab["name_zh"].fillna(""), strict=True)]
    plate.add_labels(lab["lon"], lab["lat"], texts)
    # the Greater Bay Area and Singapore are specks at world scale: their members in insets
    shown = mem.copy()
    shown["_label"] = ctx.labels(shown)
    col_of = dict(zip(cl["cluster_id"], colors, strict=True))
    shown["_color"] = [col_of.get(c, other) for c in shown["cluster_id"]]
    shown["_marker"] = [st["symbols"]["pole_marker"] if p else "o" for p in shown["is_pole"].astype(bool)]
    _add_insets(plate, ctx, shown)
    present = [t for t in typ if t in set(cl["typology"])]
    handles = [_patch_handle(typ[t], alpha=st["opacity"]["cluster_fill"]) for t in present]
    labels = [_typology_label(ctx, t) for t in present]
    handles += [_marker_handle(st["colors"]["bar_highlight"], st["symbols"]["pole_marker"], 8),
                _marker_handle(st["colors"]["text"], "o", 3),
                _marker_handle(st["symbols"]["background_city_color"], "o", 2.5)]
    labels += [ctx.text("Pole city", "极点城市", sep=" "), ctx.text("Cluster member", "聚落成员城市", sep=" "),
               ctx.text("Other city in the report", "报告中的其他城市", sep=" ")]
    plate.add_legend(handles, labels,
                     title=ctx.text("Cluster typology (number: cluster rank)", "聚落类型（数字：聚落排名）", sep="\n"))
    plate.add_scalebar()
    plate.add_note(ctx.credits(scores=True, clusters=True, extra=[ctx.text(
        f"{len(cl)} clusters; eps {cc.eps_km:g} km, min weight {cc.min_weight:g}, score '{score}'",
        f"共 {len(cl)} 个聚落；eps {cc.eps_km:g} 公里，最小权重 {cc.min_weight:g}，得分 '{score}'", sep=" / ")]))
    return plate


@register("2-3", "Distribution of global dynamic city clusters", "全球活力城市聚落分布")
def _figure_2_3(ctx: RecipeContext):
    return _cluster_plate(ctx, score="composite",
                          subtitle_en="Clusters of dynamic cities weighted by the 3I composite score",
                          subtitle_zh="按 3I 综合得分加权识别的活力城市聚落")


@register("2-5", "Distribution of global innovation city clusters", "全球创新城市聚落分布")
def _figure_2_5(ctx: RecipeContext):
    return _cluster_plate(ctx, score="innovation",
                          subtitle_en="Clusters of cities weighted by the innovation score",
                          subtitle_zh="按创新得分加权识别的城市聚落")


# --------------------------------------------------------------------------
# Belt and Road (3-2, corridor plates)
# --------------------------------------------------------------------------
@register("3-2", "Landscape of Belt and Road potential cities", "“一带一路”潜力城市格局")
def _figure_3_2(ctx: RecipeContext):
    st = ctx.style
    top = _ranked(ctx, "bri_rank", 100)
    names, lines, buffers = ctx.corridor_layers(REPORT_CORRIDORS)
    w = ctx.within_km
    plate = ctx.world_plate(
        subtitle_en=f"Top 100 Belt and Road potential cities with the CMREC, CICPEC and CPEC corridors "
                    f"({w:g} km buffers)",
        subtitle_zh=f"“一带一路”潜力城市前 100 位及中蒙俄、中国—中南半岛、中巴经济走廊（{w:g} 公里缓冲区）")
    cc = corridor_colors(st)
    bcol = [cc.get(c, cc["other"]) for c in buffers["corridor"]]
    plate.add_polygons(buffers.geometry, facecolor=bcol, edgecolor="none",
                       alpha=st["opacity"]["corridor_buffers_world"], zorder=4, gid="corridor-buffers")
    for c in names:
        sel = lines.loc[lines["corridor"] == c]
        plate.add_lines(sel.geometry, color=cc.get(c, cc["other"]), linewidth=st["lines"]["corridor"], zorder=5,
                        gid="corridors")
    area = _rank_area(top["bri_rank"], 100, st)
    top["_color"] = [region_color(r, st) for r in top["region"]]
    top["_label"] = ctx.labels(top)
    labelled = (top["bri_rank"] <= st["labels"]["max_rank"]).to_numpy()
    for obst in (True, False):
        k = labelled == obst
        plate.add_points(top.loc[k, "lon"], top.loc[k, "lat"], s=area[k], c=list(top.loc[k, "_color"]), gid="cities",
                         zorder=6, obstacle=obst)
    _add_insets(plate, ctx, top)
    lab = top.loc[labelled]
    plate.add_labels(lab["lon"], lab["lat"], list(lab["_label"]))
    rn = _region_names(ctx)
    regions = [r for r in region_colors(st) if r in set(top["region"])]
    handles = [_marker_handle(region_color(r, st), "o", 6.5) for r in regions]
    labels = [rn[r] for r in regions]
    cz = {"CMREC": "中蒙俄经济走廊", "CICPEC": "中国—中南半岛经济走廊", "CPEC": "中巴经济走廊"}
    for c in names:
        handles.append(_line_handle(cc.get(c, cc["other"]), 2))
        labels.append(ctx.text(c, cz.get(c, c), sep=" "))
    handles.append(_patch_handle(cc["other"], alpha=st["opacity"]["corridor_buffers_world"]))
    labels.append(ctx.text(f"{w:g} km buffer (corridor colour)", f"{w:g} 公里缓冲区（走廊颜色）", sep=" "))
    for r, h in zip((1, 50, 100), _size_handles([1, 50, 100], 100, st, st["symbols"]["background_city_color"]),
                    strict=True):
        handles.append(h)
        labels.append(ctx.text(f"Rank {r}", f"第 {r} 位", sep=" "))
    plate.add_legend(handles, labels,
                     title=ctx.text("Region / corridor / BRI rank", "区域 / 经济走廊 / 排名", sep="\n"))
    plate.add_scalebar()
    plate.add_note(ctx.credits(corridors=True))
    return plate


def _corridor_plate(corridor: str):
    def recipe(ctx: RecipeContext):
        from .geodesy import spherical_centroid, to_local

        st = ctx.style
        names, lines, buffers = ctx.corridor_layers([corridor])
        name = names[0]
        w = ctx.within_km
        cities = ctx.cities()
        mem = ctx.analysis.corridor_members(name)
        coords = np.vstack([shapely_coords(g) for g in buffers.geometry])
        clat, clon = spherical_centroid(coords[:, 1], coords[:, 0])
        from shapely.geometry import MultiPoint

        local = to_local(MultiPoint(coords), clat, clon, "laea")
        minx, miny, maxx, maxy = local.bounds
        half_w = max(abs(minx), abs(maxx)) / 1000.0 * 1.12 + 80
        half_h = max(abs(miny), abs(maxy)) / 1000.0 * 1.12 + 80
        row = lines.iloc[0]
        zh = str(row.get("corridor_name_zh", name))
        plate = ctx.regional_plate(
            center_lat=clat, center_lon=clon, half_width_km=half_w, half_height_km=half_h,
            subtitle_en=f"Member cities within {w:g} km of the corridor, labelled with BRI rank and chainage",
            subtitle_zh=f"走廊 {w:g} 公里范围内的成员城市，标注“一带一路”潜力排名及沿线里程",
        )
        cc = corridor_colors(st)
        col = cc.get(name, cc["other"])
        plate.add_polygons(buffers.geometry, facecolor=st["colors"]["buffer_fill"],
                           edgecolor=st["colors"]["buffer_edge"],
                           linewidth=st["lines"]["buffer_edge"], alpha=st["opacity"]["corridor_buffer"], zorder=3,
                           gid="corridor-buffer")
        plate.add_lines(lines.geometry, color=col, linewidth=st["lines"]["corridor"], zorder=4, gid="corridor")
        # other report cities on the plate
        plate.add_points(cities["lon"], cities["lat"], s=st["symbols"]["background_city_size"] * 2,
                         c=st["symbols"]["background_city_color"], linewidth=0, zorder=4.5, gid="cities",
                         obstacle=False)
        mem = mem.copy()
        if "bri_rank" not in mem.columns:
            mem["bri_rank"] = np.nan
        mem["bri_rank"] = mem["bri_rank"].astype(float)
        mem["_order"] = mem["bri_rank"].fillna(1e6)
        mem = mem.sort_values(["_order", "chainage_km"], kind="mergesort")
        ranked = mem["bri_rank"].notna().to_numpy()
        sy = st["symbols"]
        plate.add_points(mem.loc[ranked, "lon"], mem.loc[ranked, "lat"], s=sy["corridor_member_size"], c=col,
                         gid="members-ranked", zorder=6)
        plate.add_points(mem.loc[~ranked, "lon"], mem.loc[~ranked, "lat"], s=sy["corridor_other_size"],
                         c=sy["corridor_other_fill"], edgecolor=col, linewidth=sy["corridor_other_edge_width"],
                         gid="members", zorder=6)
        extra = [f"({'#' + str(int(r)) + ', ' if np.isfinite(r) else ''}{k:,.0f} km)"
                 for r, k in zip(mem["bri_rank"].to_numpy(float), mem["chainage_km"].to_numpy(float), strict=True)]
        plate.add_labels(mem["lon"], mem["lat"], ctx.labels(mem, extra=extra))
        handles = [_line_handle(col, 2), _patch_handle(st["colors"]["buffer_fill"], st["colors"]["buffer_edge"],
                                                       st["opacity"]["corridor_buffer"]),
                   _marker_handle(col, "o", math.sqrt(sy["corridor_member_size"])),
                   _marker_handle(sy["corridor_other_fill"], "o", math.sqrt(sy["corridor_other_size"]), edge=col),
                   _marker_handle(st["symbols"]["background_city_color"], "o", 3)]
        labels = [ctx.text(f"{name} corridor line", f"{zh}走向", sep=" "),
                  ctx.text(f"Within {w:g} km", f"{w:g} 公里缓冲区", sep=" "),
                  ctx.text("Member, BRI top-100 (#rank)", "成员城市（潜力前 100，#排名）", sep=" "),
                  ctx.text("Member, not in BRI top 100", "成员城市（未进入前 100）", sep=" "),
                  ctx.text("Other city in the report", "报告中的其他城市", sep=" ")]
        plate.add_legend(handles, labels, title=ctx.text("Label: name (#BRI rank, chainage from the corridor start)",
                                                         "标注：城市（#排名，距走廊起点里程）", sep="\n"))
        plate.add_scalebar()
        plate.add_note(ctx.credits(corridors=True, extra=[ctx.text(
            f"{len(mem)} member cities of {name}", f"{name} 共 {len(mem)} 个成员城市", sep=" / ")]))
        return plate

    return recipe


def shapely_coords(g) -> np.ndarray:
    import shapely

    return shapely.get_coordinates(g)


_CORRIDOR_TITLES = {
    "CMREC": ("China–Mongolia–Russia Economic Corridor", "中蒙俄经济走廊"),
    "CICPEC": ("China–Indochina Peninsula Economic Corridor", "中国—中南半岛经济走廊"),
    "CPEC": ("China–Pakistan Economic Corridor", "中巴经济走廊"),
}
for _c in REPORT_CORRIDORS:
    register(f"corridor-{_c.lower()}", f"{_CORRIDOR_TITLES[_c][0]} ({_c})", _CORRIDOR_TITLES[_c][1],
             kind="Plate")(_corridor_plate(_c))

