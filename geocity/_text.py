"""Decoding users' text tables: the one place for encodings and ragged rows.

Used by :func:`geocity.geocode.read_table` (name lists) and
:func:`geocity.export.read` (point CSVs), so a file gets the same answer
whichever command reads it: UTF-8, UTF-8 with BOM or UTF-16 by their marks,
else UTF-8 if it decodes, else GB18030/GBK -- unless the text looks like
Windows-1252 read as GB18030, or a forced encoding misreads a UTF-8 file,
which are errors naming the line and both readings.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .errors import ValidationError


def decode(raw: bytes, encoding: str | None, path: Path) -> tuple[str, str]:
    """Decode ``raw`` with ``encoding``, or detect it (see :func:`geocity.geocode.read_table`); -> (text, encoding used)."""
    if encoding:
        try:
            text = raw.decode(encoding)
        except LookupError:
            raise ValidationError(f"unknown encoding {encoding!r} for {path}; try utf-8, utf-8-sig, gbk or gb18030")
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
        return raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
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
    _check_not_latin(text, raw, path)
    return text, "gb18030"


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
    line_no = next((i for i, (a, b) in enumerate(zip(forced_lines, utf8_lines), start=1) if a != b), 1)
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


def check_row_lengths(text: str, sep: str, path: Path) -> None:
    """Refuse rows with more cells than the header: pandas would silently shift
    the columns (the extra leading cells become the index)."""
    try:
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
