"""Figure recipes of the report's site and airport plates: Figure 2-10
(factories and R&D sites of the five carmakers of footnote 4), Figure 2-13
(top 100 airports by international transit passengers, 2019 Q1) and Figure
2-14 (those of them whose transit hub function held up, 2022 Q1).

The data come from the analysis: :meth:`geocity.analysis.Analysis.vehicle_sites`
(``layers/vehicle_sites.csv``) and :meth:`~geocity.analysis.Analysis.airports`
(airport locations from ``airportsdata``, passenger values from the user's
table or the rank proxy of :mod:`geocity.airports`). Whether the airport
values are a proxy, and the words for it, is decided by
:mod:`geocity.provenance` from their ``score_source`` column. Imported lazily
by :mod:`geocity.figures`, into whose catalogue the recipes register.
"""

from __future__ import annotations

import math

import numpy as np

from . import airports as _airports
from . import provenance as _provenance
from .figures import RecipeContext, _marker_handle, register

#: Company → Chinese name as footnote 4 of the report writes it.
COMPANIES_ZH = {"Mercedes-Benz": "梅赛德斯奔驰", "Ford": "福特", "Honda": "本田", "Tesla": "特斯拉", "BYD": "比亚迪"}
#: Function → (marker, English, Chinese).
FUNCTIONS = {"factory": ("o", "Factory", "工厂"), "rnd": ("^", "R&D", "研发")}


def _city_names(ctx: RecipeContext, df):
    """English and Chinese names of the sites' cities: the report city's names
    where the geocoder placed the site at a report city's point, else the
    layer's English name (no Chinese name)."""
    cities = ctx.cities()
    key = {(round(float(a), 4), round(float(b), 4)): (e, z) for a, b, e, z in
           zip(cities["lat"], cities["lon"], cities["name_en"], cities["name_zh"].fillna(""), strict=True)}
    en, zh = [], []
    for lat, lon, city in zip(df["lat"], df["lon"], df["city"], strict=True):
        e, z = key.get((round(float(lat), 4), round(float(lon), 4)), (city, ""))
        en.append(str(e))
        zh.append(str(z))  # empty: the label falls back to the English name
    return en, zh


@register("2-10", "Distribution of representative conventional and new energy vehicle manufacturers",
          "全球传统汽车及新能源汽车制造代表性企业布局")
def _figure_2_10(ctx: RecipeContext):
    st = ctx.style
    sites = ctx.analysis.vehicle_sites()
    companies = list(COMPANIES_ZH)
    colors = dict(zip(companies, st["palettes"]["clusters"], strict=False))
    plate = ctx.world_plate(subtitle_en="Factories and R&D sites of Mercedes-Benz, Ford, Honda, Tesla and BYD (2022)",
                            subtitle_zh="梅赛德斯奔驰、福特、本田、特斯拉、比亚迪的工厂与研发职能所在地（2022 年）")
    size = st["symbols"]["city_size_max"] * 0.35
    for fn, (marker, _en, _zh) in FUNCTIONS.items():
        for k, co in enumerate(companies):
            sel = sites.loc[(sites["company"] == co) & (sites["function"] == fn)]
            if len(sel):
                # R&D above factories; companies slightly offset in z so none hides another's colour entirely
                plate.add_points(sel["lon"], sel["lat"], s=size * (1.3 if fn == "rnd" else 1.0), c=colors[co],
                                 marker=marker, zorder=6 + (0.5 if fn == "rnd" else 0) + k * 0.01,
                                 gid=f"sites-{fn}-{co}", edgecolor=st["colors"]["halo"], linewidth=0.4)
    # labels: the cities with the most sites first
    en, zh = _city_names(ctx, sites)
    sites = sites.assign(_en=en, _zh=zh)
    counts = sites.groupby(["_en", "_zh"], sort=False).agg(n=("site_name", "size"), lat=("lat", "first"),
                                                         lon=("lon", "first")).reset_index()
    counts = counts.sort_values(["n", "_en"], ascending=[False, True], kind="mergesort").head(25)
    labels = ctx.labels(counts.rename(columns={"_en": "name_en", "_zh": "name_zh"}))
    plate.add_labels(counts["lon"].to_numpy(float), counts["lat"].to_numpy(float), labels)
    handles, texts = [], []
    for co in companies:
        n = int((sites["company"] == co).sum())
        handles.append(_marker_handle(colors[co], "s", 7))
        texts.append(ctx.text(f"{co} ({n})", f"{COMPANIES_ZH[co]}（{n}）", sep=" "))
    for fn, (marker, f_en, f_zh) in FUNCTIONS.items():
        n = int((sites["function"] == fn).sum())
        handles.append(_marker_handle(st["colors"]["muted_text"], marker, 7))
        texts.append(ctx.text(f"{f_en} ({n})", f"{f_zh}（{n}）", sep=" "))
    plate.add_legend(handles, texts, title=ctx.text("Company / function", "企业 / 职能", sep=" "))
    plate.add_scalebar()
    dates = sorted(set(sites["source_date"].astype(str)))
    plate.add_note(ctx.credits(extra=[
        ctx.text(f"Sites: layers/vehicle_sites.csv ({len(sites)} sites), from the companies' filings and site lists "
                 f"({dates[0]} – {dates[-1]}); operating at the end of 2022; placed at the city centre by "
                 "geocity.geocode (GeoNames), not at the plant gate",
                 f"企业布局：layers/vehicle_sites.csv（{len(sites)} 处），来自企业年报与官网名录"
                 f"（{dates[0]} – {dates[-1]}），为 2022 年末在运营的工厂与研发机构；坐标为所在城市中心"
                 "（geocity.geocode，GeoNames），非厂址", sep=" / ")]))
    return plate


# --------------------------------------------------------------------------
# airports
# --------------------------------------------------------------------------
def _airport_provenance(ctx: RecipeContext, frame, *, held_up: bool):
    """The plate's :class:`~geocity.provenance.ScoreProvenance`: of the 2019
    values, and for 2-14 of each row's weaker evidence of value and test."""
    table = _airports.table_name(ctx.analysis.airport_passengers)
    if not held_up:
        return _provenance.of_frame(frame, table=table)
    both = [_provenance.combine(p) for p in zip(frame["score_source"], frame["held_up_source"], strict=True)]
    return _provenance.describe(both, table=table)


def _rank_sizes(ranks, style) -> np.ndarray:
    sy = style["symbols"]
    r = np.asarray(ranks, dtype=float)
    return sy["background_city_size"] + (sy["city_size_max"] * 0.8 - sy["background_city_size"]) * r ** -0.5


def _airport_plate(ctx: RecipeContext, *, resilient: bool):
    st = ctx.style
    ap = ctx.analysis.airports()
    prov = _airport_provenance(ctx, ap, held_up=resilient)
    tag_en, tag_zh = prov.tag("en"), prov.tag("zh")
    sfx_en, sfx_zh = (f" ({tag_en})", f"（{tag_zh}）") if tag_en else ("", "")
    n, n_up = len(ap), int(ap["held_up"].sum())
    if resilient:
        plate = ctx.world_plate(
            subtitle_en=(f"{n_up} of the top {n} airports (2019 Q1) whose transit hub function held up "
                         f"in 2022 Q1{sfx_en}"),
            subtitle_zh=f"2019Q1 前 {n} 位机场中 {n_up} 个枢纽职能韧性较强（2022Q1）{sfx_zh}")
    else:
        plate = ctx.world_plate(subtitle_en=f"Top {n} airports by international transit passengers{sfx_en}",
                                subtitle_zh=f"国际中转客流前 {n} 位机场{sfx_zh}")
    hi, mute = st["colors"]["bar_highlight"], st["colors"]["muted_text"]
    sizes = _rank_sizes(ap["rank_2019"], st)
    order = np.argsort(-ap["rank_2019"].to_numpy())  # the largest drawn last
    shown = ap.iloc[order]
    s = sizes[order]
    up = shown["held_up"].to_numpy(bool)
    if resilient:
        plate.add_points(shown.geometry.x[~up], shown.geometry.y[~up], s=s[~up], c="none", edgecolor=mute,
                         linewidth=0.6, zorder=5, gid="airports-other", alpha=0.8)
        plate.add_points(shown.geometry.x[up], shown.geometry.y[up], s=s[up], c=hi, zorder=6,
                         gid="airports-held-up", edgecolor=st["colors"]["halo"], linewidth=0.4)
        lab = ap.loc[ap["held_up"]].head(25)
    else:
        plate.add_points(shown.geometry.x, shown.geometry.y, s=s, c=st["colors"]["bar"], zorder=6, gid="airports",
                         edgecolor=st["colors"]["halo"], linewidth=0.4, alpha=0.9)
        lab = ap.head(25)
    names = lab.assign(name_en=[f"{c} {e}".strip() for c, e in zip(lab["iata"], lab["name_en"], strict=True)],
                       name_zh=[f"{c} {z}".strip() for c, z in zip(lab["iata"], lab["name_zh"], strict=True)])
    plate.add_labels(lab.geometry.x, lab.geometry.y, ctx.labels(names))
    handles, texts = [], []
    for r, (en, zh) in ((1, ("Rank 1", "第 1 位")), (10, ("Rank 10", "第 10 位")), (100, ("Rank 100", "第 100 位"))):
        handles.append(_marker_handle(hi if resilient else st["colors"]["bar"], "o",
                                      math.sqrt(float(_rank_sizes([r], st)[0]))))
        texts.append(ctx.text(f"{en}, 2019 Q1{sfx_en}", f"{zh}（2019Q1）{sfx_zh}", sep=" "))
    if resilient:
        handles.append(_marker_handle(hi, "o", 6))
        texts.append(ctx.text(f"Hub function held up, 2022 Q1 ({n_up}){sfx_en}",
                              f"枢纽职能韧性较强（2022Q1，{n_up} 个）{sfx_zh}", sep=" "))
        handles.append(_marker_handle("none", "o", 6, edge=mute))
        texts.append(ctx.text(f"Other top-{n} airports ({n - n_up})", f"其他前 {n} 位机场（{n - n_up} 个）", sep=" "))
    plate.add_legend(handles, texts, title=ctx.text("Airports", "机场", sep=" "))
    plate.add_scalebar()
    plate.add_note(ctx.credits(coordinates=False, extra=_airport_notes(ctx, prov, resilient=resilient)))
    return plate


def _airport_notes(ctx: RecipeContext, prov, *, resilient: bool) -> list[str]:
    a = _airports
    lines = [ctx.text(f"Passenger values: {prov.label('en')}", f"客流数值：{prov.label('zh')}", sep=" / ")]
    if prov.proxy:
        lines.append(ctx.text(
            "The report publishes no passenger figures: airports are the report cities' main airports ranked by the "
            "rank-size proxy r^-0.5 of the city's best rank in Table 2-6 (airline service), Table 2-8 "
            "(connectivity) and the GDCI"
            + ("; held up = a North American hub, or a Table 2-6 city that is not Chinese (section 2.4)"
               if resilient else "") + " — pass a table with airport_passengers= (iata, value, value_2022)",
            "报告未公布客流数据：机场为报告城市的主要机场，按城市在表 2-6（航空服务）、表 2-8（联通设施）"
            "与全球活力城市指数中最佳排名的位序—规模代理值 r^-0.5 排序"
            + ("；韧性较强＝北美枢纽，或表 2-6 中的非中国城市（第 2.4 节）" if resilient else "")
            + "——可用 airport_passengers= 提供数据表", sep=" / "))
    elif resilient:
        lines.append(ctx.text(f"Held up: 2022 Q1 value at least {a.RESILIENT_SHARE:g} of the 2019 Q1 value",
                              f"韧性较强：2022Q1 数值不低于 2019Q1 的 {a.RESILIENT_SHARE:g} 倍", sep=" / "))
    lines.append(ctx.text(
        f"Airports: {a.source_note()}; a city's airports lie within {a.AIRPORT_RADIUS_KM:g} km (geodesic) "
        "of its point (geocity.airports)",
        f"机场位置：{a.source_note('zh')}；城市机场为距城市点 {a.AIRPORT_RADIUS_KM:g} 公里（大地线）内的机场"
        "（geocity.airports）",
        sep=" / "))
    return lines


@register("2-13", "Distribution of top 100 airports by international transit passenger (2019 Q1)",
          "国际中转客流 TOP100 机场分布 (2019Q1)")
def _figure_2_13(ctx: RecipeContext):
    return _airport_plate(ctx, resilient=False)


@register("2-14", "Distribution of top 100 airports with resilient international transit hub functions (2022 Q1)",
          "国际中转枢纽 TOP100 机场中枢纽职能韧性较强的机场分布 (2022Q1)")
def _figure_2_14(ctx: RecipeContext):
    return _airport_plate(ctx, resilient=True)
