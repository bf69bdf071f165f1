"""Figure recipes of the report's "landscape" and "network" plates (Figures
2-4, 2-6 … 2-9, 2-11, 2-12): a density surface of city strength, the links
between cities, cities sized by a 3I score and labelled by the dimension's
top-20 table.

The report publishes neither the scores nor the flows behind these figures,
so on the embedded data every plate says what is modelled: the 3I scores are
rank-derived proxies (:mod:`geocity.scores`), the density surface is a kernel
density of those scores (:mod:`geocity.density`) and the links come from a
gravity model (:func:`geocity.network.gravity_links`). Imported lazily by
:mod:`geocity.figures`, into whose catalogue the recipes register.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .figures import (
    RecipeContext,
    _line_handle,
    _marker_handle,
    _patch_handle,
    register,
)
from .network import STRENGTH_CLASSES
from .scores import RANK_EXPONENT
from .terms import TERMS

log = logging.getLogger(__name__)

#: Cell size of the underlay (computed in the plate's own equal-area CRS), km.
#: The bandwidth and the gravity model are the analysis' (``bandwidth_km``,
#: ``beta``, ``top_k`` of :class:`geocity.analysis.Analysis`, the same as the
#: exported GeoTIFFs and link layers), the link classes
#: geocity.network.STRENGTH_CLASSES, so a plate shows what the exports hold.
FIGURE_CELL_KM = 40.0

# figure → (score column, report table, dimension filter for Table 2-8,
#           subtitle en, subtitle zh)
LANDSCAPES = {
    "2-4": ("innovation", "2-8", "innov", "Landscape of global innovation network",
            "全球创新城市网络格局", "Global innovation network", "全球创新网络"),
    "2-6": ("innovation", "2-1", None, "Landscape of global scientific innovation frontier network",
            "全球科学创新前沿网络格局", "Scientific innovation frontier", "科学创新前沿"),
    "2-7": ("innovation", "2-2", None, "Global technological innovation frontier network",
            "全球技术创新前沿城市网络", "Technological innovation frontier", "技术创新前沿"),
    "2-8": ("innovation", "2-3", None, "Landscape of global industrial innovation frontier network",
            "全球产业创新前沿网络格局", "Industrial innovation frontier", "产业创新前沿"),
    "2-9": ("innovation", "2-8", "innov", "Landscape of global semiconductor frontier network",
            "全球半导体领域前沿网络格局", "Semiconductor frontier", "半导体领域前沿"),
    "2-11": ("industry", "2-4", None, "Landscape of global production network",
             "全球生产网络格局", "Global production network", "全球生产网络"),
    "2-12": ("industry", "2-5", None, "Landscape of global service network",
             "全球服务网络格局", "Global service network", "全球服务网络"),
}

_SCORE_ZH = {k: TERMS[k][1] for k in ("innovation", "industry", "infrastructure", "composite")}


# --------------------------------------------------------------------------
# data: the weights are an input column; the analysis computes density and links
# --------------------------------------------------------------------------
def _dimension_table(ctx: RecipeContext, table: str, dim_filter: str | None):
    dr = ctx.analysis.ranks("dimension_ranks")
    t = dr.loc[dr["table"].astype(str).str.replace("Table ", "", regex=False).str.strip() == table]
    if dim_filter is not None and "dimension" in t.columns:
        t = t.loc[t["dimension"].astype(str).str.lower().str.contains(dim_filter)]
    return t.sort_values("rank", kind="mergesort")


#: Frontier and network tables whose own top-20 ranks weight their plate
#: (with the default proxy scores): figure tables 2-1 … 2-5.
TABLE_WEIGHTED = ("2-1", "2-2", "2-3", "2-4", "2-5")


def _weights(ctx: RecipeContext, score: str, table: str):
    """The cities with the plate's weight column, and that column's name.

    With rank-derived proxy scores (``ctx.proxy``), a plate of one of
    :data:`TABLE_WEIGHTED` is weighted by that table's own top-20 ranks
    (``rank_score``; unranked cities get the base score), so the science,
    technology and industry frontier plates (and production and service)
    differ as the report's tables do. With a user's score table the plate
    uses the user's dimension score (the table has no scores of its own).

    The frame is kept by the analysis (:meth:`geocity.analysis.Analysis.weighted`),
    so the density and links computed from it are computed once per run;
    do not modify it.
    """
    if not (ctx.proxy and table in TABLE_WEIGHTED):
        return ctx.analysis.weighted(("landscape", score), ctx.scored), score
    from .scores import rank_score

    col = f"table_{table.replace('-', '_')}"

    def make():
        ranks = _dimension_table(ctx, table, None).groupby("city_id")["rank"].min()
        scored = ctx.scored()
        scored[col] = rank_score(scored["city_id"].map(ranks).to_numpy(float))
        return scored

    return ctx.analysis.weighted(("landscape", col), make), col


def _links(ctx: RecipeContext, score: str, table: str):
    """The analysis' gravity links on the plate's weights (its own links on a
    score, the same as the exported network)."""
    scored, col = _weights(ctx, score, table)
    if col == score:
        return ctx.analysis.links(score)
    return ctx.analysis.links(col, cities=scored, key=("landscape", col))


def _surface(ctx: RecipeContext, plate, score: str, table: str):
    """The analysis' density of the plate's weights on the plate's own grid."""
    x0, x1 = sorted(plate.ax.get_xlim())
    y0, y1 = sorted(plate.ax.get_ylim())
    scored, col = _weights(ctx, score, table)
    return ctx.analysis.density_on(scored, col, crs=plate.crs, grid_bounds=(x0, y0, x1, y1), cell_km=FIGURE_CELL_KM)


# --------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------
def _ramp(ctx: RecipeContext):
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("geocity-density", list(ctx.style["palettes"]["sequential"]))


def add_density_underlay(plate, surface, *, cmap, zorder: float = 1.5, max_alpha: float = 0.8) -> float:
    """Draw a :class:`~geocity.density.DensitySurface` computed in the
    plate's CRS as a translucent image above the land; returns the value
    shown at full colour (99.5th percentile of the positive cells)."""
    v = np.asarray(surface.values, dtype=float)
    pos = v[np.isfinite(v) & (v > 0)]
    vmax = float(np.percentile(pos, 99.5)) if pos.size else 1.0
    norm = np.clip(np.nan_to_num(v, nan=0.0) / vmax, 0.0, 1.0)
    rgba = cmap(norm)
    rgba[..., 3] = max_alpha * np.sqrt(norm)
    left, bottom, right, top = surface.bounds
    ax = plate.ax
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    im = ax.imshow(rgba, extent=(left, right, bottom, top), origin="upper", interpolation="bilinear",
                   zorder=zorder, aspect=ax.get_aspect())
    im.set_gid("density")
    sphere = getattr(plate, "_sphere_patch", None)
    if sphere is not None:
        im.set_clip_path(sphere)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    return vmax


def _score_area(score, style) -> np.ndarray:
    sy = style["symbols"]
    s = np.clip(np.nan_to_num(np.asarray(score, dtype=float)), 0.0, 1.0)
    return sy["background_city_size"] + (sy["city_size_max"] * 0.7 - sy["background_city_size"]) * s**2


def _landscape(name: str):
    score, table, dim_filter, _t_en, _t_zh, what_en, what_zh = LANDSCAPES[name]

    def recipe(ctx: RecipeContext):
        st = ctx.style
        a, prov = ctx.analysis, ctx.provenance
        scored, wcol = _weights(ctx, score, table)
        by_table = wcol != score
        src_en = "rank-derived proxy" if prov.proxy else "user-supplied"
        src_zh = "排名代理值" if prov.proxy else "用户提供"
        if not prov.proxy and prov.partial:
            src_en, src_zh = f"{src_en}, {prov.tag('en')}", f"{src_zh}，{prov.tag('zh')}"
        if by_table:
            w_en, w_zh = f"Table {table}'s ranks", f"表 {table} 排名"
        else:
            w_en, w_zh = f"the {score} score", f"{_SCORE_ZH.get(score, score)}得分"
        plate = ctx.world_plate(
            subtitle_en=f"{what_en}: density and links MODELLED from {w_en} ({src_en})",
            subtitle_zh=f"{what_zh}：密度与联系由{w_zh}（{src_zh}）建模",
        )
        # 1. density underlay
        surf = _surface(ctx, plate, score, table)
        cmap = _ramp(ctx)
        add_density_underlay(plate, surf, cmap=cmap)
        # 2. links by strength class, weakest first
        links = _links(ctx, score, table)
        ramp = list(st["palettes"]["sequential"])
        styles = [(ramp[-1], st["lines"]["link_strong"], st["opacity"]["link_strong"]),
                  (ramp[-3], st["lines"]["link_medium"], st["opacity"]["link_medium"]),
                  (ramp[-4], st["lines"]["link_weak"], st["opacity"]["link_weak"])]
        for (lo, hi), (color, lw, alpha), z in zip(STRENGTH_CLASSES, styles, (4.6, 4.4, 4.2), strict=True):
            sel = links.loc[(links["weight"] >= lo) & ((links["weight"] < hi) | (hi >= 1.0))]
            if len(sel):
                plate.add_lines(sel.geometry, color=color, linewidth=lw, alpha=alpha, zorder=z,
                                gid=f"links-{lo:g}")
        # 3. cities sized by the score
        order = np.argsort(-scored[wcol].to_numpy(float), kind="mergesort")[::-1]
        sc = scored.iloc[order]
        plate.add_points(sc.geometry.x, sc.geometry.y, s=_score_area(sc[wcol], st), c=st["colors"]["text"],
                         gid="cities", zorder=6, alpha=st["symbols"]["score_city_alpha"],
                         obstacle=False)  # labels keep off the top 20 only
        # 4. labels: the dimension's top-20 table
        t = _dimension_table(ctx, table, dim_filter)
        top = scored.drop(columns=["rank"], errors="ignore").merge(t[["rank", "city_id"]], on="city_id", how="inner")
        top = top.sort_values("rank", kind="mergesort").head(20)
        if len(top):
            labels = ctx.labels(top, extra=[f"({int(r)})" for r in top["rank"]])
            plate.add_points(top.geometry.x, top.geometry.y, s=_score_area(top[wcol], st),
                             c=st["colors"]["bar_highlight"], gid="top20", zorder=7)
            plate.add_labels(top.geometry.x, top.geometry.y, labels)
        # legend
        handles = [_patch_handle(cmap(0.25), alpha=0.5), _patch_handle(cmap(1.0), alpha=0.8)]
        labels_ = [ctx.text("Low density (modelled)", "低密度（模型）", sep=" "),
                   ctx.text("High density (modelled)", "高密度（模型）", sep=" ")]
        for (lo, hi), (color, lw, _a) in zip(STRENGTH_CLASSES, styles, strict=True):
            handles.append(_line_handle(color, lw * 1.5))
            rng = f"≥ {lo:g}" if hi >= 1.0 else f"{lo:g}–{hi:g}"
            labels_.append(ctx.text(f"Modelled link, strength {rng}", f"模型联系，强度 {rng}", sep=" "))
        for v in (1.0, 0.5):
            handles.append(_marker_handle(st["colors"]["text"], "o", math.sqrt(float(_score_area([v], st)[0]))))
            if by_table:
                labels_.append(ctx.text(f"Table {table} weight {v:g} ({src_en})",
                                        f"表 {table} 权重 {v:g}（{src_zh}）", sep=" "))
            else:
                labels_.append(ctx.text(f"{score.capitalize()} score {v:g} ({src_en})",
                                        f"{_SCORE_ZH.get(score, score)}得分 {v:g}（{src_zh}）", sep=" "))
        tab_en = f"Table {table}" + (" (innovation)" if dim_filter else "")
        handles.append(_marker_handle(st["colors"]["bar_highlight"], "o", 6))
        labels_.append(ctx.text(f"Top 20, {tab_en} (rank)", f"前 20 位，表 {table}（排名）", sep=" "))
        plate.add_legend(handles, labels_, title=ctx.text("Density / links / cities", "密度 / 联系 / 城市", sep=" "))
        plate.add_scalebar()
        extra = [
            ctx.text(
                f"Density: Gaussian kernel of {w_en}, bandwidth {a.bandwidth_km:g} km, great-circle "
                f"distances (geocity.density). Links: gravity model s_i·s_j/d^{a.beta:g}, "
                f"top {a.top_k} per city — MODELLED, the report publishes no flows",
                f"密度：{w_zh}的高斯核密度，带宽 {a.bandwidth_km:g} 公里，大圆距离。"
                f"联系：引力模型 s_i·s_j/d^{a.beta:g}，每城市前 {a.top_k} 条——均为模型结果，报告未公布流量数据",
                sep=" / "),
        ]
        if by_table:
            extra.append(ctx.text(
                f"Weights: rank-size proxy r^-{RANK_EXPONENT:g} of Table {table}'s top 20; "
                "every other city the base weight",
                f"权重：表 {table} 前 20 位排名的位序—规模代理值 r^-{RANK_EXPONENT:g}，其他城市取基础权重", sep=" / "))
        if name == "2-9":
            extra.append(ctx.text(
                "The report publishes no semiconductor ranking: labels show Table 2-8's innovation top 20, "
                "so this plate's data equal Figure 2-4's",
                "报告未公布半导体领域排名：标注为表 2-8 创新网络前 20 位，本图数据与图 2-4 相同", sep=" / "))
        plate.add_note(ctx.credits(scores=True, extra=extra))
        return plate

    recipe.__name__ = f"_figure_{name.replace('-', '_')}"
    return recipe


for _name, _spec in LANDSCAPES.items():
    register(_name, _spec[3], _spec[4])(_landscape(_name))
