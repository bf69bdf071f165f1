"""Text of the web map: escaping, labels in the report's words, popups.

Every string that reaches a popup, tooltip, legend, search tip or layer
name goes through :func:`escape` (or :func:`search_text` for the search
box). Labels come from :mod:`geocity.terms` (the table the plates use, so a
pole is 极点城市 on both); the few labels that only the web map needs —
popup row headings, layer-control names, notes — are in :data:`LABELS`
here, several of them built from the report's terms. :func:`label` is the
one function that picks English, Chinese or both.
"""

from __future__ import annotations

import html as _html
import math
from typing import Any, Iterable, Mapping

import pandas as pd

from ... import terms as _terms
from ...errors import NotFoundError

__all__ = ["escape", "search_text", "text", "pick", "label", "t", "name", "country_tag", "rows_html", "LABELS",
           "TERM_KEYS", "check_lang"]

_T = _terms.TERMS

#: Web-map label key → the :mod:`geocity.terms` key it is (the report's words).
TERM_KEYS: dict[str, str] = {
    "innovation": "innovation", "industry": "industry", "infrastructure": "infrastructure",
    "composite": "composite", "clusters": "clusters", "proxy_tag": "proxy", "pole": "pole",
}

#: Labels only the web map uses, ``(English, Chinese)``; where the report
#: has a word for part of one, it is taken from :data:`geocity.terms.TERMS`.
LABELS: dict[str, tuple[str, str]] = {
    "country": ("Country", "国家"),
    "region": ("Region", "区域"),
    "gdci": (f"{_T['gdci_short'][0]} rank", f"{_T['gdci_short'][1]} 排名"),
    "bri": (f"{_T['bri_short'][0]} rank", f"{_T['bri_short'][1]} 排名"),
    "change": ("change", "变化"),
    "not_ranked": ("not in the top 100", "未进入前100"),
    "scores": ("3I scores", "3I得分"),
    "missing_score": ("not in the scores table, scored 0", "不在得分表中，得分记为 0"),
    "corridor": ("Corridor", "经济走廊"),
    "distance": ("distance to corridor", "距走廊"),
    "chainage": ("chainage", "里程"),
    "cluster": ("City cluster", _T["cluster"][1]),
    "typology": ("typology", "类型"),
    # plural heading of the report's term "pole" (极点城市, as on the plates)
    "poles": ("pole cities", _T["pole"][1]),
    "members": ("members", "成员城市"),
    "cluster_rank": ("rank among clusters", "城市群排名"),
    "total": ("total score", "总得分"),
    "mean": ("mean score", "平均得分"),
    "cities": ("Report cities", "报告城市"),
    "gdci_top": (f"{_T['gdci_short'][0]} top 100", f"{_T['gdci_short'][1]}前 100"),
    "bri_top": (f"{_T['bri_short'][0]} top 100", f"{_T['bri_short'][1]}前 100"),
    "top_change": ("change", "变化"),
    "corridor_line": ("corridor", "走廊"),
    "buffer": ("within", "范围"),
    "points": ("My points", "我的点"),
    "countries": ("Countries (Natural Earth)", "国家（Natural Earth）"),
    "legend": ("Legend", "图例"),
    "size_score": ("size: composite 3I score", "大小：3I综合得分"),
    "size_rank": ("size: rank", "大小：排名"),
    "search": ("Search city", "搜索城市"),
    "density": ("Density", "密度"),
    "modelled": ("modelled", "模型"),
    "density_proxy_note": ("modelled from rank-derived proxy scores, not data published by the report",
                           "由排名推算的代理得分建模，非报告发布的数据"),
    "density_note": ("modelled (kernel density of the weights)", "模型结果（权重的核密度）"),
    "links": ("Links", "联系"),
    "link": ("link", "联系"),
    "links_modelled": ("modelled links (gravity model)", "模型联系（引力模型）"),
    "links_observed": ("links", "联系"),
    "strength": ("strength (relative)", "强度（相对值）"),
    "relative_strength": ("relative strength", "相对强度"),
    "link_distance": ("distance", "距离"),
    "link_source": ("source", "来源"),
    "modelled_gravity": ("modelled (gravity model)", "模型结果（引力模型）"),
    "observed": ("observed (edge table)", "观测值（联系表）"),
    "links_proxy_note": ("modelled from rank-derived proxy scores; the report publishes no flows",
                         "由排名推算的代理得分建模；报告未公布流量数据"),
    "links_note": ("modelled; the report publishes no flows", "模型结果；报告未公布流量数据"),
}

#: Characters :func:`escape` writes as character references beyond html.escape.
_EXTRA_ESCAPES = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})
_SEARCH_ESCAPES = str.maketrans({"`": "&#96;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def check_lang(lang: str) -> str:
    """``lang`` if it is ``"en"``, ``"zh"`` or ``"both"`` (:func:`geocity.terms.check_lang`)."""
    return _terms.check_lang(lang)


def escape(value: Any) -> str:
    """HTML-escape ``value`` for popups, tooltips, legends and layer names.

    Beyond :func:`html.escape` (``& < > " '``) it escapes the backtick and
    ``$`` and the backslash, so that the text is also inert inside a
    JavaScript template literal (where folium places tooltip texts), and
    ``{`` and ``}``, so that no Jinja delimiter (``{{``, ``{%``, ``{#``)
    survives even where a page is rendered by folium itself (``m.save``,
    a notebook); :func:`geocity.render.leaflet.to_html` never compiles
    rendered text anyway (:mod:`geocity.render.page`). The browser shows
    every character as typed. Missing values (None, NaN) become an empty
    string.

    Examples
    --------
    >>> escape("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> escape("Xi'an `${x}`")
    'Xi&#x27;an &#96;&#36;&#123;x&#125;&#96;'
    >>> escape("S{{ 7*7 }}X")
    'S&#123;&#123; 7*7 &#125;&#125;X'
    """
    s = text(value)
    return _html.escape(s, quote=True).translate(_EXTRA_ESCAPES) if s else ""


def search_text(value: str) -> str:
    """Text for leaflet-search, which shows its keys as HTML: escape the
    markup characters (and the Jinja delimiters' braces) only, so that
    "Xi'an" stays searchable as typed."""
    return _html.escape(value, quote=False).translate(_SEARCH_ESCAPES)


def text(value: Any) -> str:
    """A cell as plain text ('' when missing)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        if pd.isna(value) is True:
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def pick(en: str, zh: str, lang: str, *, sep: str = " / ") -> str:
    """``en``, ``zh`` or both (``"en{sep}zh"``, one of them when they are the same), plain text."""
    check_lang(lang)
    if lang == "en":
        return en
    if lang == "zh":
        return zh
    return en if en == zh else f"{en}{sep}{zh}"


def label(key: str, lang: str, *, sep: str = " / ") -> str:
    """The web map's label ``key`` in ``lang`` (plain text): the report's
    term (:func:`geocity.terms.term`) where there is one, else :data:`LABELS`."""
    if key in TERM_KEYS:
        return _terms.term(TERM_KEYS[key], lang, sep=sep)
    try:
        en, zh = LABELS[key]
    except KeyError:
        raise NotFoundError(f"no web-map label {key!r}; known: {', '.join(sorted({*LABELS, *TERM_KEYS}))}") from None
    return pick(en, zh, lang, sep=sep)


def rank_label(key: str, year: int, lang: str) -> str:
    """"GDCI 2022 rank" / "GDCI 2022 排名" (``key`` "gdci" or "bri"), escaped for HTML."""
    en, zh = LABELS[key]
    short_en, short_zh = en.rsplit(" ", 1), zh.rsplit(" ", 1)
    return escape(pick(f"{short_en[0]} {int(year)} {short_en[1]}", f"{short_zh[0]} {int(year)} {short_zh[1]}", lang))


def t(key: str, lang: str) -> str:
    """:func:`label`, escaped for HTML."""
    return escape(label(key, lang))


def name(row: Mapping, lang: str, en_col: str = "name_en", zh_col: str = "name_zh") -> str:
    """The plain-text name of a row in ``lang`` (falls back to the other language)."""
    en = text(row.get(en_col))
    zh = text(row.get(zh_col))
    if lang == "en":
        return en or zh
    if lang == "zh":
        return zh or en
    return f"{en} {zh}".strip() if en != zh else en


def country_tag(row: Mapping) -> str:
    """``"(XX)"`` of the row's ``country_iso2``, or ``""`` when it has none."""
    iso = text(row.get("country_iso2"))
    return f"({iso})" if iso else ""


def rows_html(title: str, rows: Iterable[tuple[str, str]], note: str = "") -> str:
    """A popup: an escaped title (given escaped) and (label, value) rows whose
    parts are already escaped; ``note`` (escaped) under the table."""
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows if v != "")
    out = f'<div class="geocity-popup"><div class="geocity-title">{title}</div><table>{body}</table>'
    if note:
        out += f'<div class="geocity-popup-note">{note}</div>'
    return out + "</div>"
