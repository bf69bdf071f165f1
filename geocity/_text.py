"""Decoding users' text tables: the one place for encodings and ragged rows.

Used by :func:`geocity.geocode.read_table` (name lists) and
:func:`geocity.export.read` (point CSVs), so a file gets the same answer
whichever command reads it: UTF-8, UTF-8 with BOM or UTF-16 by their marks,
else UTF-8 if it decodes, else GB18030/GBK -- unless the text looks like
Windows-1252 read as GB18030, or a forced encoding misreads a UTF-8 file,
which are errors naming the line and both readings.

A file that mixes encodings (lines appended in UTF-8 to a GBK export, or the
other way round) is refused too, naming the first line of each: read as
GB18030 it would turn its UTF-8 lines into mojibake ("北京" -> "鍖椾含"). A
line counts as UTF-8 when it is valid UTF-8 with non-ASCII bytes *and* its
UTF-8 reading looks like text (see :func:`_reads_as_text`): written in GBK,
0.7 % of GeoNames' Chinese names (4 of the report's 516) are valid UTF-8 by
accident ("纽约" -> "ŦԼ", a Latin and an Armenian letter), and such a line
must not make a pure GBK file "mixed". A forced encoding is taken as given
(the way out if the guess is wrong).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

from .errors import ValidationError


def decode(raw: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode ``raw`` with ``encoding``, or detect it (see :func:`geocity.geocode.read_table`).

    Returns (text, encoding used).
    """
    if encoding:
        try:
            text = raw.decode(encoding)
        except LookupError:
            raise ValidationError(
                f"unknown encoding {encoding!r} for {path}; try utf-8, utf-8-sig, gbk or gb18030"
            ) from None
        except UnicodeDecodeError as exc:
            hint = "give the file's real encoding with --encoding (e.g. utf-8, gb18030)"
            if _is_utf8(raw):
                hint = "the file is valid UTF-8: drop --encoding (UTF-8 is detected) or pass --encoding utf-8"
            raise ValidationError(
                f"{path} is not valid {encoding}: byte {exc.start} ({raw[exc.start:exc.start + 4]!r}) cannot be "
                f"decoded; {hint}"
            ) from None
        _check_forced_not_utf8(text, raw, encoding, path)
        return text, encoding
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError:
            _check_not_mixed(raw, path, bom=True)
            raise ValidationError(  # not reached: a line that is not UTF-8 is named above
                f"{path} starts with a UTF-8 byte-order mark but is not valid UTF-8; re-save it as UTF-8"
            ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{path} starts with a UTF-16 byte-order mark but is not valid UTF-16 (byte {exc.start}: "
                f"{exc.reason}); re-save it as UTF-8, or pass --encoding with its real encoding"
            ) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationError(
            f"cannot decode {path}: it is neither UTF-8 nor GB18030/GBK; save it as UTF-8 or pass --encoding "
            "(e.g. cp1252 for a Western-European spreadsheet export)"
        ) from None
    _check_not_mixed(raw, path)
    _check_not_latin(text, raw, path)
    return text, "gb18030"


#: Line breaks as a text editor counts lines. GBK/GB18030 multi-byte characters
#: never contain the bytes \r or \n, so the raw bytes can be split before decoding.
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

#: Scripts written together in one word: Chinese characters and Japanese kana.
_CJK_SCRIPTS = frozenset({"CJK", "HIRAGANA", "KATAKANA"})


def _script(ch: str) -> str:
    """The script of a letter, from its Unicode name ("LATIN", "CYRILLIC", "CJK", ...)."""
    first = unicodedata.name(ch, "").split(" ", 1)[0]
    return "CJK" if first in _CJK_SCRIPTS else first


def _reads_as_text(s: str) -> bool:
    """Whether ``s``, the UTF-8 reading of a line with non-ASCII bytes, looks like text.

    GBK text that is valid UTF-8 by accident reads as a jumble: letters of
    several scripts in one word ("纽约" -> "ŦԼ", "芽庄" -> "ѿׯ", "沙漠山" ->
    "ɳĮɽ"), a combining mark with nothing to combine with ("太原" -> "̫ԭ"),
    controls or unassigned code points. So every run of non-ASCII characters
    must be free of those and its letters of one script, and at least one run
    must vouch for UTF-8: two or more Chinese characters (U+4E00-U+9FFF), an
    accented Latin letter inside a word ("São", "Zürich"), four or more letters
    of another script ("Москва"), or typographic punctuation (U+2010-U+2027:
    "’", "–", "…"). Measured: no false "UTF-8" among the 60,577 Chinese names
    of GeoNames (cities500) written in GBK, 1 in 10^6 random 1-4 character
    strings of GB2312 characters; 99.5 % of those Chinese names and 99.9 % of
    GeoNames' 43,388 non-ASCII primary names in UTF-8 vouch for UTF-8.
    """
    anchored = False
    n, i = len(s), 0
    while i < n:
        if s[i] < "\x80":
            i += 1
            continue
        j = i
        while j < n and s[j] >= "\x80":
            j += 1
        scripts: set[str] = set()
        letters = cjk = 0
        base = s[i - 1] if i > 0 and s[i - 1].isascii() and s[i - 1].isalpha() else ""  # what a mark combines with
        for ch in s[i:j]:
            cat = unicodedata.category(ch)
            if cat in ("Cc", "Cn", "Co", "Cs"):
                return False
            if cat[0] == "M":
                if not base or _script(base) == "CJK":
                    return False
                scripts.add(_script(base))  # "H̱": a mark on an ASCII letter is Latin
                continue
            if cat[0] == "L":
                scripts.add(_script(ch))
                letters += 1
                cjk += "\u4e00" <= ch <= "\u9fff"
                base = ch
            else:
                base = ""
            if "\u2010" <= ch <= "\u2027":
                anchored = True
        if len(scripts) > 1:
            return False
        in_word = (i > 0 and s[i - 1].isascii() and s[i - 1].isalpha()) or (
            j < n and s[j].isascii() and s[j].isalpha())
        if scripts == {"CJK"}:
            anchored |= cjk >= 2
        elif scripts == {"LATIN"}:
            anchored |= in_word
        elif scripts:
            anchored |= letters >= 4
        i = j
    return anchored


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _check_not_mixed(raw: bytes, path: Path, *, bom: bool = False) -> None:
    """Refuse a file with lines in UTF-8 and lines in another encoding (GB18030/GBK).

    ``raw`` is not valid UTF-8 as a whole. Lines are numbered as in a text
    editor (the first is line 1). With ``bom`` the file starts with a UTF-8
    byte-order mark, which declares it UTF-8: any line that is not UTF-8 is
    then the other encoding.
    """
    utf8_line = other_line = None
    for no, line in enumerate(_LINE_BREAK.split(raw), start=1):
        if no == 1 and bom:
            line = line[3:]
        if line.isascii():
            continue
        try:
            as_utf8 = line.decode("utf-8")
        except UnicodeDecodeError:
            if other_line is None:
                other_line = (no, line)
        else:
            if utf8_line is None and _reads_as_text(as_utf8):
                utf8_line = (no, line)
        if other_line is not None and (utf8_line is not None or bom):
            break
    if other_line is None or (utf8_line is None and not bom):
        return
    o_no, o_raw = other_line
    other = (f"line {o_no} is not UTF-8 (as GB18030/GBK it reads "
             f"{_clip(o_raw.decode('gb18030', errors='replace'))!r})")
    fix = f"re-save the file as UTF-8, with line {o_no} and every other line not in UTF-8 converted to UTF-8"
    if utf8_line is None:
        raise ValidationError(
            f"{path} mixes text encodings: it starts with a UTF-8 byte-order mark, but {other}; {fix}"
        )
    u_no, u_raw = utf8_line
    u_text, u_gb = _clip(u_raw.decode("utf-8")), _clip(u_raw.decode("gb18030", errors="replace"))
    raise ValidationError(
        f"{path} mixes text encodings: line {u_no} is UTF-8 ({u_text!r}; as GB18030 it would be mojibake, "
        f"{u_gb!r}), but {other}; {fix}"
        + ("" if bom else f" (or, if line {u_no} is GBK too, pass --encoding gb18030)")
    )


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_forced_not_utf8(text: str, raw: bytes, encoding: str, path: Path) -> None:
    """Refuse a forced non-UTF-8 encoding on a file that is valid UTF-8 and reads differently.

    Such a file decodes without error as GBK, Latin-1 and many other codecs, but
    into mojibake ("北京" -> "鍖椾含", "São" -> "SÃ£o") that then matches nothing.
    Text in GBK or Windows-1252 is valid UTF-8 only by accident (short runs of
    mojibake), so the UTF-8 reading is taken to be the real one.
    """
    import codecs

    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return
    try:
        as_utf8 = (raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw).decode("utf-8")
    except UnicodeDecodeError:
        return
    if as_utf8 == text:  # ASCII, or a codec that agrees with UTF-8 on these bytes
        return
    forced_lines, utf8_lines = text.splitlines(), as_utf8.splitlines()
    line_no = next((i for i, (a, b) in enumerate(zip(forced_lines, utf8_lines, strict=True), start=1) if a != b), 1)
    as_forced = forced_lines[line_no - 1] if line_no <= len(forced_lines) else ""
    as_u = utf8_lines[line_no - 1] if line_no <= len(utf8_lines) else ""
    raise ValidationError(
        f"{path} is valid UTF-8, but the forced encoding {encoding!r} reads it differently: line {line_no} is "
        f"{as_u!r} in UTF-8 but {as_forced!r} in {encoding} (mojibake); drop --encoding (UTF-8 is detected) "
        "or pass --encoding utf-8"
    )


def _latin_mojibake(text: str) -> int | None:
    """Index of the first character that looks like Latin-1/Windows-1252 read as GB18030.

    An accented Latin letter (one byte >= 0x80 in Windows-1252) followed by an
    ASCII letter decodes in GB18030 as one two-byte character whose second byte
    is that ASCII letter ("São" -> "S鉶", "Zürich" -> "Z黵ich"). GB2312 text --
    the Chinese of GBK files -- never has an ASCII second byte, and a rare
    GBK-only character right after a Latin letter is very unlikely in a list of
    names.
    """
    for i, ch in enumerate(text):
        if i == 0 or ord(ch) < 0x80 or not ("a" <= text[i - 1].lower() <= "z"):
            continue
        b = ch.encode("gb18030")
        if len(b) == 2 and (0x41 <= b[1] <= 0x5A or 0x61 <= b[1] <= 0x7A):
            return i
    return None


def _check_not_latin(text: str, raw: bytes, path: Path) -> None:
    i = _latin_mojibake(text)
    if i is None:
        return
    try:
        latin = raw.decode("cp1252")
    except UnicodeDecodeError:
        return
    line_no = text.count("\n", 0, i) + 1
    as_gb = text.splitlines()[line_no - 1]
    as_latin = latin.splitlines()[line_no - 1] if line_no <= len(latin.splitlines()) else "?"
    raise ValidationError(
        f"cannot tell the encoding of {path}: it is not UTF-8, and line {line_no} reads {as_gb!r} as GB18030/GBK "
        f"but {as_latin!r} as Windows-1252 (Latin-1); pass --encoding cp1252 (or latin-1) if the second is "
        "right, --encoding gb18030 if the first is, or save the file as UTF-8"
    )


class _no_field_limit:
    """Lift :mod:`csv`'s 128 KiB cell limit while a user's table is read.

    pandas reads a 1 MB cell (a long WKT polygon, a pasted paragraph) without
    complaint, so geocity's own passes over the same text (row lengths, line
    numbers) must too; the limit is process-wide and put back afterwards.
    """

    def __enter__(self):
        self._old = csv.field_size_limit()
        csv.field_size_limit(2**31 - 1)
        return self

    def __exit__(self, *exc) -> None:
        csv.field_size_limit(self._old)


def header_cells(text: str, sep: str = ",") -> list[str]:
    """The cells of the first non-blank record of a CSV text (the header)."""
    with _no_field_limit():
        for rec in csv.reader(io.StringIO(text), delimiter=sep):
            if rec:
                return rec
    return []


def check_unique_header(header: list[str], path, *, what: str | None = None) -> None:
    """Refuse a header that names two columns alike (after stripping spaces).

    pandas would rename the second ``lat`` to ``lat.1`` and every reader would
    silently use the first one; the message names both column positions.

    Examples
    --------
    >>> check_unique_header(["name", "lat", "lon", "lat "], "p.csv")
    Traceback (most recent call last):
    ...
    geocity.errors.ValidationError: p.csv: the header (line 1) names 1 column twice: 'lat' (columns 2 and 4);
    rename or drop the duplicate so that every column has its own name
    """
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        seen.setdefault(str(name).strip(), []).append(i)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    if not dups:
        return
    shown = ", ".join(f"{_clip(k)!r} (columns {' and '.join(map(str, v))})" for k, v in list(dups.items())[:5])
    raise ValidationError(
        f"{what or path}: the header (line 1) names {len(dups)} column{'s' if len(dups) > 1 else ''} twice: {shown}"
        "; rename or drop the duplicate so that every column has its own name"
    )


def check_row_lengths(text: str, sep: str, path: Path) -> None:
    """Refuse rows with more cells than the header: pandas would silently shift
    the columns (the extra leading cells become the index)."""
    try:
        with _no_field_limit():
            rows = csv.reader(io.StringIO(text), delimiter=sep)
            header = next(rows, [])
            long = [(rows.line_num, len(r)) for r in rows if len(r) > len(header)]
    except csv.Error as exc:
        raise ValidationError(f"cannot parse {path} as CSV: {exc}") from None
    if long:
        where = ", ".join(f"line {n} ({k} cells)" for n, k in long[:10]) + (" ..." if len(long) > 10 else "")
        raise ValidationError(
            f"{path}: {len(long)} row(s) have more cells than the header's {len(header)} "
            f"(separator {sep!r}): {where}; quote cells that contain {sep!r}, or fix the header"
        )
