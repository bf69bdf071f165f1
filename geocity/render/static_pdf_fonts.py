"""A working copy of the CJK font for PDF output, holding only the characters
geocity itself writes.

matplotlib embeds the glyphs a PDF uses by subsetting the font file with
fontTools, and it does so for every PDF: for the 16 MB Noto Sans CJK SC that
means decompiling the whole font each time (~1 s per plate, the largest part
of the figures step's PDF time). :func:`geocity.render.static.save_figure`
therefore puts, for PDF output only and only while the file is written, a
small copy of the CJK font in front of it in every text's family list
(:func:`pdf_font_families`). The copy holds the glyphs of every CJK character
in geocity's own text — the package's modules, the embedded ``layers/`` and
``styles/`` — plus CJK punctuation and the full-width forms, with the
outlines, metrics and PostScript name of the original (only the family name
differs, so that matplotlib's font manager can tell the two apart).

Nothing is lost: matplotlib falls back glyph by glyph along the family list,
so a character the copy lacks (a user's name with a rare character) comes
from the full font, as before. The copy is made once per process, with the
same fontTools options every time (no timestamp is recalculated), in a
temporary folder removed when the process exits; the PDF bytes of a plate are
the same run to run.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["pdf_font_families", "subset_family", "own_cjk_characters"]

#: ranges kept whole in the copy: CJK symbols and punctuation, full-width forms
_KEEP_RANGES = ((0x3000, 0x303F), (0xFF00, 0xFFEF))
_SUFFIX = " (geocity PDF subset)"
_made: dict[str, str | None] = {}  # full family -> subset family (None: could not be made)
_tmp_dir: list[Path] = []


def _is_cjk(c: str) -> bool:
    return ord(c) >= 0x2E80


def own_cjk_characters() -> list[int]:
    """Code points of the copy: every CJK character in geocity's own text
    (package modules, embedded layers and styles) and the kept ranges, sorted."""
    from .. import __file__ as pkg_file
    from .._data import data_dir

    roots: list[Path] = []
    for r in (Path(pkg_file).resolve().parent, data_dir("layers").resolve(), data_dir("styles").resolve()):
        if not any(r.is_relative_to(done) for done in roots):  # a wheel holds them inside the package
            roots.append(r)
    chars: set[int] = set()
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() in (".py", ".csv", ".yaml", ".yml", ".json", ".md", ".txt") and p.is_file():
                try:
                    text = p.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                chars.update(ord(c) for c in text if _is_cjk(c))
    for lo, hi in _KEEP_RANGES:
        chars.update(range(lo, hi + 1))
    return sorted(chars)


def _font_file(family: str):
    from matplotlib.font_manager import FontProperties, fontManager

    try:
        return fontManager.findfont(FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        return None


def _make_subset(family: str) -> str | None:
    """Write the copy of ``family``'s font file and register it; its family name."""
    from fontTools import subset
    from matplotlib.font_manager import fontManager

    src = _font_file(family)
    if src is None:
        return None
    if not _tmp_dir:
        d = Path(tempfile.mkdtemp(prefix="geocity-pdf-fonts-"))
        _tmp_dir.append(d)
        atexit.register(shutil.rmtree, d, True)
    opts = subset.Options(glyph_names=True, recommended_glyphs=True, notdef_outline=True,
                          name_IDs=["*"], name_languages=["*"], name_legacy=True, layout_features=["*"])
    opts.font_number = getattr(src, "face_index", 0) or 0
    font = subset.load_font(str(src), opts)
    cmap = font.getBestCmap() or {}
    subsetter = subset.Subsetter(options=opts)
    subsetter.populate(unicodes=[c for c in own_cjk_characters() if c in cmap])
    subsetter.subset(font)
    new_family = family + _SUFFIX
    for rec in font["name"].names:
        if rec.nameID in (1, 4, 16):
            rec.string = new_family
    out = _tmp_dir[0] / f"subset-{len(_made)}.otf"
    font.save(str(out))
    font.close()
    fontManager.addfont(str(out))
    if not any(f.name == new_family for f in fontManager.ttflist):  # pragma: no cover - defensive
        return None
    log.debug("PDF subset of %s: %s (%d bytes)", family, out, out.stat().st_size)
    return new_family


def subset_family(family: str) -> str | None:
    """Family name of the PDF working copy of ``family`` (made on first use),
    or None when ``family`` is not installed or has no CJK glyphs to copy."""
    if family not in _made:
        try:
            _made[family] = _make_subset(family)
        except Exception as exc:  # noqa: BLE001 - an unusual font: PDFs embed the full font as before
            log.info("no PDF subset of %s (%s): the full font is embedded", family, exc)
            _made[family] = None
    return _made[family]


def pdf_font_families(texts, cjk_family: str) -> list[tuple[object, list[str]]]:
    """Put the working copy of ``cjk_family`` in front of it in the family list
    of every text that uses it. Returns ``(text, old families)`` to restore."""
    sub = None
    changed: list[tuple[object, list[str]]] = []
    for t in texts:
        fam = list(t.get_fontfamily())
        if cjk_family not in fam:
            continue
        sub = sub or subset_family(cjk_family)
        if sub is None:
            return changed
        i = fam.index(cjk_family)
        changed.append((t, fam))
        t.set_fontfamily([*fam[:i], sub, *fam[i:]])
    return changed
