"""PDF output embeds the CJK glyphs from a small working copy of the CJK font
(geocity.render.static_pdf_fonts): same outlines, same PostScript name, the
full font for any character the copy lacks, restored family lists, and the
same bytes in a fresh process."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import pytest
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib import TTFont

from geocity.render import static
from geocity.render import static_pdf_fonts as spf

FAMILY = "Noto Sans CJK SC"
RARE = "龘"  # U+9F98: in Noto Sans CJK SC, in none of geocity's own text


def _cjk_fonts(pdf: bytes) -> list[bytes]:
    return sorted(set(re.findall(rb"/BaseFont /([A-Z]{6}\+NotoSansCJK[A-Za-z-]*)", pdf)))


def _plate(label: str):
    p = static.world_plate(title_en="Plate", title_zh="全球城市", lang="zh", draw_basemap=False)
    p.add_points([116.4], [39.9], s=10)
    p.add_labels([116.4], [39.9], [label])
    return p


@pytest.fixture(scope="module")
def subset_path():
    fam = spf.subset_family(static.ensure_cjk_font(FAMILY))
    assert fam == FAMILY + " (geocity PDF subset)"
    from matplotlib.font_manager import FontProperties, fontManager

    return fontManager.findfont(FontProperties(family=fam), fallback_to_default=False)


def test_copy_has_own_characters_with_the_original_outlines(subset_path):
    own = spf.own_cjk_characters()
    assert ord("北") in own and ord("，") in own and ord(RARE) not in own
    sub = TTFont(str(subset_path))
    full_path = spf._font_file(FAMILY)
    full = TTFont(str(full_path), fontNumber=getattr(full_path, "face_index", 0) or 0)
    cmap_sub, cmap_full = sub.getBestCmap(), full.getBestCmap()
    assert {c for c in own if c in cmap_full} <= set(cmap_sub)
    assert sub["name"].getDebugName(6) == full["name"].getDebugName(6)  # same PostScript name in the PDF
    gs_sub, gs_full = sub.getGlyphSet(), full.getGlyphSet()
    for ch in "北京中巴经济走廊（）":
        a, b = RecordingPen(), RecordingPen()
        gs_sub[cmap_sub[ord(ch)]].draw(a)
        gs_full[cmap_full[ord(ch)]].draw(b)
        assert a.value == b.value, ch
        assert gs_sub[cmap_sub[ord(ch)]].width == gs_full[cmap_full[ord(ch)]].width


def test_pdf_uses_copy_and_falls_back_to_full_font(tmp_path, subset_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        own = static.save_figure(_plate("北京"), tmp_path / "own.pdf", dpi=60).read_bytes()
        rare = static.save_figure(_plate("北京" + RARE), tmp_path / "rare.pdf", dpi=60).read_bytes()
    assert len(_cjk_fonts(own)) == 1  # the copy only
    assert len(_cjk_fonts(rare)) == 2  # the copy, and the full font for the rare character


def test_family_lists_restored_and_other_formats_untouched(tmp_path):
    from matplotlib.text import Text

    p = _plate("北京")
    before = [list(t.get_fontfamily()) for t in p.fig.findobj(Text)]
    static.save_figure(p, tmp_path / "a.pdf", dpi=60)
    assert [list(t.get_fontfamily()) for t in p.fig.findobj(Text)] == before
    static.save_figure(p, tmp_path / "a.svg", dpi=60)
    svg = (tmp_path / "a.svg").read_text(encoding="utf-8")
    assert "geocity PDF subset" not in svg and FAMILY in svg


def test_no_copy_when_unavailable(tmp_path, monkeypatch):
    # a font the copy cannot be made of: the PDF embeds the full font, as before
    monkeypatch.setattr(spf, "_made", {FAMILY: None})
    pdf = static.save_figure(_plate("北京"), tmp_path / "full.pdf", dpi=60).read_bytes()
    assert len(_cjk_fonts(pdf)) == 1


_SCRIPT = """
import sys
from geocity.render import static
p = static.world_plate(title_en="Plate", title_zh="全球城市 中巴经济走廊", lang="both", draw_basemap=False)
p.add_labels([116.4], [39.9], ["北京 Beijing"])
static.save_figure(p, sys.argv[1], dpi=60)
"""


def test_same_bytes_in_fresh_processes(tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"p{i}.pdf"
        subprocess.run([sys.executable, "-c", _SCRIPT, str(out)], check=True, timeout=300)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert _cjk_fonts(outs[0])
