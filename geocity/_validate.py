"""Checks of numeric parameters, shared by every module.

One message shape for a bad number everywhere: ``"<name> must be a positive
number of km, got -5"``. Each check either raises
:class:`~geocity.errors.ValidationError` or, given a ``problems`` list, appends
its message there and returns NaN, for the functions that gather every
problem of a call into one error.

Also the one rule for naming rows of a user's input in messages
(:class:`RowLabels`, :func:`rows`): a CSV's own line numbers (header = line
1), ``feature N`` (from 1) of a vector file, ``index L`` of an in-memory
table.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from .errors import ValidationError


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        # True is not 1 km; None, lists and arrays are not numbers
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _report(message: str, problems: list[str] | None) -> float:
    if problems is None:
        raise ValidationError(message)
    problems.append(message)
    return math.nan


def _of(unit: str | None) -> str:
    return f" of {unit}" if unit else ""


def positive(name: str, value, *, unit: str | None = None, problems: list[str] | None = None) -> float:
    """``value`` as a finite float > 0.

    Parameters
    ----------
    name
        The parameter's name as the caller knows it (``"eps_km"``).
    value
        A number or a numeric string (from a command line or a YAML file).
    unit
        Said in the message (``"km"``).
    problems
        Collect the message here instead of raising.

    Examples
    --------
    >>> positive("eps_km", "450")
    450.0
    >>> positive("eps_km", -5, unit="km")
    Traceback (most recent call last):
    ...
    geocity.errors.ValidationError: eps_km must be a positive number of km, got -5
    """
    v = _number(value)
    if not (math.isfinite(v) and v > 0):
        return _report(f"{name} must be a positive number{_of(unit)}, got {value!r}", problems)
    return v


def non_negative(name: str, value, *, unit: str | None = None, problems: list[str] | None = None) -> float:
    """``value`` as a finite float >= 0 (see :func:`positive`)."""
    v = _number(value)
    if not (math.isfinite(v) and v >= 0):
        return _report(f"{name} must be a number >= 0{_of(unit)}, got {value!r}", problems)
    return v


def whole(name: str, value, *, minimum: int = 1, problems: list[str] | None = None) -> int | float:
    """``value`` as an int >= ``minimum`` (``3.0`` passes, ``2.5`` does not)."""
    v = _number(value)
    if not (math.isfinite(v) and v == int(v) and v >= minimum):
        return _report(f"{name} must be a whole number >= {minimum}, got {value!r}", problems)
    return int(v)


# --------------------------------------------------------------------------
# naming rows in messages
# --------------------------------------------------------------------------
#
# One rule for every message that names rows of a user's input: the row as the
# user finds it in the file. A CSV row is its *line number* in a text editor
# (the header is line 1, so the first data row is line 2; blank lines, which
# readers skip, and line breaks inside quoted cells are counted); a feature of
# a GeoPackage, GeoJSON, shapefile or FlatGeobuf is ``feature N`` counted from
# 1 in the file's order; a row of an in-memory table is ``index L`` (its pandas
# index label). A ``city_id`` is added in brackets when the input has one.


class RowRef(str):
    """A row's name in a message (``"line 5"``, ``"feature 3 (tokyo-jp)"``).

    A plain string whose ``repr`` is the bare text, so that a list of them
    reads ``[line 5, line 9]`` wherever a message prints a list.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def csv_record_lines(text: str) -> list[int]:
    """Line number (header = line 1) where each data record of a CSV text starts.

    Blank lines, and lines of only spaces and tabs, are skipped (as
    :func:`pandas.read_csv` skips them) and a
    quoted cell spanning several lines counts all of them, so the ``k``-th row
    pandas reads is on line ``csv_record_lines(text)[k]``.

    Examples
    --------
    >>> csv_record_lines('name,lat\\n\\nA,1\\n"B\\nC",2\\n \\nD,3\\n')
    [3, 4, 7]
    """
    import csv
    import io

    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # a 1 MB cell is a cell (pandas reads it), not the end of the count
    last = [""]

    def lines():
        for line in io.StringIO(text):
            last[0] = line
            yield line

    reader = csv.reader(lines())
    out: list[int] = []
    end = 0
    header = True
    try:
        for rec in reader:
            start, end = end + 1, reader.line_num
            # a blank line, or one of spaces and tabs only, which pandas skips as blank too
            if not rec or (start == end and not last[0].strip(" \t\r\n")):
                continue
            if header:
                header = False
                continue
            out.append(start)
    except csv.Error:  # pragma: no cover - the reader refused the file earlier
        pass
    finally:
        csv.field_size_limit(old_limit)
    return out


class _Counted:
    """Row label ``"<word> N"``, N counted from 1 (picklable, unlike a lambda)."""

    def __init__(self, word: str):
        self.word = word

    def __call__(self, i: int) -> str:
        return f"{self.word} {i + 1}"


class _IndexLabel:
    """Row label ``"index L"`` of an in-memory table's pandas index."""

    def __init__(self, index):
        self.index = index

    def __call__(self, i: int) -> str:
        label = self.index[i]
        return f"index {label!r}" if isinstance(label, str) else f"index {label}"


class CsvLines:
    """Row label ``"line N"`` from known line numbers (``lines[i]`` of row ``i``)."""

    def __init__(self, lines):
        self.lines = list(lines)

    def __call__(self, i: int) -> str:
        return f"line {self.lines[i]}"


class _CsvLine:
    """Row label ``"line N"`` of a CSV: its record lines counted from the text the first time one is asked for.
    Pickled (e.g. to a plate-rendering process) with the line numbers, not the reader."""

    def __init__(self, text_of=None, lines=None):
        self._text_of = text_of
        self._lines = lines

    def _all(self) -> list[int]:
        if self._lines is None:
            self._lines = csv_record_lines(self._text_of())
        return self._lines

    def __call__(self, i: int) -> str:
        lines = self._all()
        return f"line {lines[i]}" if i < len(lines) else f"line {i + 2}"

    def __reduce__(self):
        return (_CsvLine, (None, self._all()))


class RowLabels(Sequence):
    """How messages name the rows of one input, computed only when asked.

    Build one with :meth:`csv`, :meth:`features` or :meth:`index`; then
    ``labels[i]`` is the :class:`RowRef` of the ``i``-th row read and
    :meth:`take` gives the labels of a selection (in its order), e.g. of the
    rows of a result sorted along a corridor.

    A CSV's line numbers are counted from its text the first time a label is
    needed (an error), so reading 10^7 good rows costs nothing extra.
    """

    def __init__(self, n: int, make, ids=None, positions=None):
        self._n = int(n)
        self._make = make  # position -> "line 5" etc.
        self._ids = ids  # a sequence (a pandas Series is read by position), or None
        self._pos = positions  # optional selection of the underlying rows

    # constructors ---------------------------------------------------------
    @classmethod
    def csv(cls, n: int, text_of, ids=None) -> "RowLabels":
        """Rows of a CSV: ``line N``. ``text_of`` returns the decoded text (called once, lazily)."""
        return cls(n, _CsvLine(text_of), ids)

    @classmethod
    def features(cls, n: int, ids=None) -> "RowLabels":
        """Features of a vector file: ``feature N`` (1-based, file order)."""
        return cls(n, _Counted("feature"), ids)

    @classmethod
    def index(cls, index, ids=None) -> "RowLabels":  # type: ignore[override]  # a constructor, not Sequence.index
        """Rows of an in-memory table: ``index L`` (the pandas index label)."""
        return cls(len(index), _IndexLabel(index), ids)

    @classmethod
    def positions(cls, n: int, word: str = "row") -> "RowLabels":
        """Rows of a table geocity made: ``row N`` counted from 1."""
        return cls(n, _Counted(word))

    # sequence -------------------------------------------------------------
    def __len__(self) -> int:
        return self._n if self._pos is None else len(self._pos)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        j = i if self._pos is None else int(self._pos[i])
        text = self._make(j)
        if self._ids is not None:
            cid = self._ids.iloc[j] if hasattr(self._ids, "iloc") else self._ids[j]
            if cid is not None and str(cid).strip() and str(cid) != "nan":
                shown = repr(str(cid))[1:-1]  # escaped, as in quote()
                text += f" ({shown if len(shown) <= 60 else shown[:60] + '…'})"
        return RowRef(text)

    def take(self, positions) -> "RowLabels":
        """The labels of rows ``positions`` (indices into this sequence), in that order."""
        import numpy as np

        pos = np.asarray(positions, dtype=np.int64)
        if self._pos is not None:
            pos = np.asarray(self._pos, dtype=np.int64)[pos]
        return RowLabels(self._n, self._make, self._ids, pos)

    def __deepcopy__(self, memo):  # immutable: pandas may deep-copy ``attrs``
        return self

    def __repr__(self) -> str:
        return f"RowLabels({len(self)} rows)"


def quote(value, limit: int = 80) -> str:
    """A user's string as a message shows it: ``repr`` (so control characters,
    bidirectional overrides and line breaks are escaped, never sent raw to a
    terminal), cut to about ``limit`` characters with the full length said.

    Examples
    --------
    >>> print(quote("Tok\\x1byo"))
    'Tok\\x1byo'
    >>> quote("N" * 10000, limit=12)
    "'NNNNNNNNNNNN…' (10000 characters)"
    """
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{repr(text[:limit])[:-1]}…{repr(text)[0]} ({len(text)} characters)"


def printable(value, limit: int | None = None) -> str:
    """A user's string for a terminal, without quotes: every character that is
    not printable (ESC, BEL, a bidirectional override, a line break) shown as
    its escape, so a name cannot recolour, clear or reorder the user's screen.

    >>> printable("\\x1b[31mRed\\u202e")
    '\\\\x1b[31mRed\\\\u202e'
    """
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text


def rows(labels, positions, *, limit: int = 10) -> str:
    """Name the rows ``positions`` of an input: ``"line 3, line 7 and 4 more"``.

    Parameters
    ----------
    labels
        A :class:`RowLabels` (or any sequence of row names).
    positions
        Indices of the rows to name (e.g. ``numpy.flatnonzero(bad)``).
    limit
        Name at most this many; the rest are counted.

    Examples
    --------
    >>> rows(RowLabels.features(5), [0, 3])
    'feature 1, feature 4'
    >>> rows(RowLabels.positions(30), range(12), limit=2)
    'row 1, row 2 and 10 more'
    """
    pos = [int(p) for p in positions]
    shown = ", ".join(str(labels[p]) for p in pos[:limit])
    return shown + (f" and {len(pos) - limit} more" if len(pos) > limit else "")


def key_name(key: tuple) -> str:
    """A YAML key path as written in messages: ``layers[0].style.field``."""
    out = ""
    for k in key:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def yaml_key_lines(node) -> tuple[dict[tuple, int], list[str]]:
    """The line of every key path of a composed YAML document (``yaml.compose``;
    list items by index) and its duplicated keys as ``'a.b' (line N)``: what the
    style sheets, plate files and edition files name in their messages."""
    import yaml

    lines: dict[tuple, int] = {}
    dups: list[str] = []

    def walk(n, prefix: tuple) -> None:
        lines.setdefault(prefix, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                if k.value in seen:
                    dups.append(f"'{key_name(prefix + (k.value,))}' (line {k.start_mark.line + 1})")
                seen.add(k.value)
                lines[prefix + (k.value,)] = k.start_mark.line + 1
                walk(v, prefix + (k.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[prefix + (i,)] = v.start_mark.line + 1
                walk(v, prefix + (i,))

    if node is not None:
        walk(node, ())
    return lines, dups
