"""The report's bilingual terms: one table, the report's own words, used by both renderers."""

from __future__ import annotations

import pytest

from geocity import terms
from geocity.errors import NotFoundError, ValidationError


def test_lookup_and_languages():
    assert terms.term("gdci", "en") == "Global Dynamic Cities Index"
    assert terms.term("infrastructure", "zh") == "联通设施"
    assert terms.term("industry", "both") == "industry / 生产与服务"
    assert terms.region("Africa", "both") == "Africa 非洲"
    assert terms.region("Atlantis", "zh") == "Atlantis"
    with pytest.raises(NotFoundError, match="no term 'gdpi'.*gdci"):
        terms.term("gdpi")
    with pytest.raises(ValidationError, match="lang must be one of"):
        terms.term("gdci", "fr")


def test_chinese_terms_are_the_reports_words():
    from geocity._build.report import report_path

    path = report_path()
    if not path.exists():
        pytest.skip(f"report text not at {path}")
    text = path.read_text(encoding="utf-8")
    own = {"composite", "proxy", "rank_proxy", "pole", "gdci_short", "bri_short",
           "prov_proxy", "prov_user", "prov_partial_tag"}  # geocity's, not the report's
    for key, (_en, zh) in terms.TERMS.items():
        if key not in own:
            assert zh.replace("“", "").replace("”", "") in text.replace("“", "").replace("”", ""), key
    for name, (en, zh) in terms.REGIONS.items():
        if name != "other":
            assert zh in text and en in text, name


def test_both_renderers_use_the_table():
    from geocity import _figures_landscape
    from geocity.render.web import text

    for dim in ("innovation", "industry", "infrastructure", "composite"):
        for lang, i in (("en", 0), ("zh", 1)):
            assert text.label(dim, lang) == terms.TERMS[dim][i]
        assert _figures_landscape._SCORE_ZH[dim] == terms.TERMS[dim][1]
    assert terms.TERMS["gdci"][1] in text.label("gdci", "zh")
    assert text.label("clusters", "both") == terms.term("clusters", "both")
    # poles are the plates' 极点城市 (geocity.figures), not a word of the web map's own
    assert text.label("poles", "zh") == terms.TERMS["pole"][1] == "极点城市"
    # no web-map label repeats a term of the table under another key
    for key, pair in text.LABELS.items():
        assert pair not in terms.TERMS.values(), key


def test_popup_change_is_translated():
    from geocity import styles
    from geocity.render.web import cities

    row = {"name_en": "Tokyo", "name_zh": "东京", "gdci_rank": 1, "gdci_change": "same"}
    labels = styles.change_symbols(styles.load_style())
    assert "不变" in cities.popup(row, "zh", None, labels)
    assert "Unchanged / 不变" in cities.popup(row, "both", None, labels)
    assert "same" not in cities.popup(row, "zh", None, labels)
