"""Text helpers of the static plates (:mod:`geocity.render.static`): label
languages and bilingual text, the DPI check, the "no Chinese on an English
plate" guard, line wrapping by text width (CJK counts double) and the
graticule's degree labels.

Fonts (finding and registering the CJK font) stay in
:mod:`geocity.render.static`.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from .. import _validate
from ..errors import ValidationError

#: Label languages.
LANGS = ("en", "zh", "both")
#: Output formats :func:`~geocity.render.static.save_figure` writes.
FORMATS = ("png", "pdf", "svg")

_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")

#: Accepted PNG resolutions (dots per inch); the style's ``output.dpi`` obeys the same range.
DPI_RANGE = (10, 2400)


def check_dpi(dpi) -> int | None:
    """``dpi`` as an int within :data:`DPI_RANGE`, or ``None`` (the style's default)."""
    if dpi is None:
        return None
    v = _validate.whole("dpi", dpi, minimum=1)
    if not DPI_RANGE[0] <= v <= DPI_RANGE[1]:
        raise ValidationError(
            f"dpi must be between {DPI_RANGE[0]} and {DPI_RANGE[1]} (300 for print, 96–150 for screens), got {dpi!r}"
        )
    return int(v)


def check_lang(lang: str) -> str:
    """Validate a label language."""
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {', '.join(LANGS)}, not {lang!r}")
    return lang



def bilingual(en: str | None, zh: str | None, lang: str, sep: str = "\n") -> str:
    """Pick the English text, the Chinese text or both (Chinese first)."""
    en = en or ""
    zh = zh or ""
    if lang == "en":
        return en
    if lang == "zh":
        return zh or en
    if zh and en:
        return f"{zh}{sep}{en}"
    return zh or en


def _guard_text(text: str, family: Sequence[str]) -> None:
    """Refuse CJK text when no CJK font is in ``family`` (never tofu)."""
    if _CJK.search(text or "") and len(family) < 2:
        raise ValidationError(
            f"text {text[:30]!r} holds Chinese characters but the plate language is English; "
            "use lang='zh' or lang='both'"
        )


def _units(t: str) -> float:
    """Approximate text width in Latin-character units (CJK counts double)."""
    return sum(2.0 if _CJK.match(ch) else 1.0 for ch in t)


def _wrap(text: str, max_units: float) -> str:
    """Wrap each line of ``text`` at spaces (or anywhere in CJK runs) so that
    no line is wider than ``max_units``."""
    out = []
    for line in text.split("\n"):
        cur = ""
        for tok in re.findall(r"[\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|\S+\s*|\s+", line):
            if cur and _units(cur + tok.rstrip()) > max_units:
                out.append(cur.rstrip())
                cur = tok.lstrip()
            else:
                cur += tok
        out.append(cur.rstrip())
    return "\n".join(out)


def nice_step(span: float, target: int = 5) -> float:
    """A 1-2-5 × 10ⁿ step giving about ``target`` intervals over ``span``."""
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _fmt_lon(v: float) -> str:
    v = (v + 180.0) % 360.0 - 180.0
    if abs(v) < 1e-9 or abs(abs(v) - 180) < 1e-9:
        return f"{abs(v):g}°"
    return f"{abs(v):g}°{'E' if v > 0 else 'W'}"


def _fmt_lat(v: float) -> str:
    if abs(v) < 1e-9:
        return "0°"
    return f"{abs(v):g}°{'N' if v > 0 else 'S'}"


