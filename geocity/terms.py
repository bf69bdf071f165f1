"""The report's bilingual terms: one table for the plates, the web map and the CLI.

Each term is ``(English, Chinese)`` as the 2022 report writes it, so a map
in either language uses the report's own words: 全球活力城市指数 (Global
Dynamic Cities Index), 活力城市聚落 (dynamic city clusters), and the three
networks of the 3I model — 创新 (innovation), 生产与服务 (production and
service, the "industry" score) and 联通设施 (connectivity facilities, the
"infrastructure" score).

Examples
--------
>>> term("gdci", "zh")
'全球活力城市指数'
>>> term("industry", "both")
'industry / 生产与服务'
>>> region("Oceania", "zh")
'大洋洲'
"""

from __future__ import annotations

from .errors import NotFoundError, ValidationError

#: Key → (English, Chinese).
TERMS: dict[str, tuple[str, str]] = {
    # indices and rankings
    "gdci": ("Global Dynamic Cities Index", "全球活力城市指数"),
    "gdci_short": ("GDCI", "全球活力城市指数"),
    "bri": ("Belt and Road potential cities", "“一带一路”潜力城市"),
    "bri_short": ("BRI potential", "“一带一路”潜力城市"),
    # the 3I scores (column name → the report's network)
    "innovation": ("innovation", "创新"),
    "industry": ("industry", "生产与服务"),
    "infrastructure": ("infrastructure", "联通设施"),
    "composite": ("composite 3I", "3I 综合"),
    # clusters
    "cluster": ("city cluster", "活力城市聚落"),
    "clusters": ("City clusters", "活力城市聚落"),
    "pole": ("pole city", "极点城市"),
    # proxies and the provenance of scores (geocity.provenance)
    "proxy": ("proxy", "代理值"),
    "rank_proxy": ("rank-derived proxy", "排名推算的代理值"),
    "prov_proxy": ("rank-derived proxy scores, not the report's", "由排名推算的代理得分，非报告数值"),
    "prov_user": ("user-supplied scores", "用户提供的得分"),
    "prov_partial_tag": ("partial scores", "部分得分"),
}

#: The report's five regions.
REGIONS: dict[str, tuple[str, str]] = {
    "America": ("America", "美洲"),
    "Europe": ("Europe", "欧洲"),
    "Asia": ("Asia", "亚洲"),
    "Oceania": ("Oceania", "大洋洲"),
    "Africa": ("Africa", "非洲"),
    "other": ("Other", "其他"),
}

LANGS = ("en", "zh", "both")


def _pick(pair: tuple[str, str], lang: str, sep: str) -> str:
    if lang == "en":
        return pair[0]
    if lang == "zh":
        return pair[1]
    if lang == "both":
        return pair[0] if pair[0] == pair[1] else f"{pair[0]}{sep}{pair[1]}"
    raise ValidationError(f"lang must be one of {list(LANGS)}, not {lang!r}")


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else a ValidationError naming the choices."""
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {list(LANGS)}, not {lang!r}")
    return lang


def term(key: str, lang: str = "en", *, sep: str = " / ") -> str:
    """The report's word for ``key`` in ``lang`` (``"en"``, ``"zh"`` or ``"both"``)."""
    try:
        pair = TERMS[key]
    except KeyError:
        raise NotFoundError(f"no term {key!r}; known: {', '.join(sorted(TERMS))}") from None
    return _pick(pair, lang, sep)


def region(name: str, lang: str = "en", *, sep: str = " ") -> str:
    """A region's name in ``lang``; an unknown region is returned as given."""
    pair = REGIONS.get(name, (name, name))
    return _pick(pair, lang, sep)
