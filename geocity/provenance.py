"""Where a score comes from: one rule, decided here, for every output.

The report publishes ranks, not scores, so geocity's 3I scores are either
**rank-derived proxies** (:func:`geocity.scores.rank_proxy_scores`) or
values from a **user's table**; a city a user's table leaves out gets 0.
Every scored row carries that fact as data, in a ``score_source`` column
with one of :data:`SOURCES`:

``"rank-proxy"``
    a rank-derived proxy (documented in :mod:`geocity.scores`);
``"user"``
    a value from the user's table;
``"user-missing"``
    the city is not in the user's table; its score is the stand-in 0.

A row built from several scored rows (a cluster from its members, a link
from its two cities, a density surface from its points) takes the weakest
evidence among them (:func:`combine`): proxy before missing before user. So
a cluster with one proxy member is a proxy result, whatever the rest.

:func:`describe` turns any such column into one :class:`ScoreProvenance`,
and every consumer — cluster tables and records, density GeoTIFF tags,
links, plates, web-map legends and popups — asks it, and only it, whether to
say "proxy" and what to write. ``DataFrame.attrs`` is never consulted
(pandas documents it as experimental; it does not survive every operation).

Examples
--------
>>> import pandas as pd
>>> p = describe(pd.Series(["user", "user", "user-missing"]), table="my_scores.csv")
>>> p.kind, p.proxy, p.partial
('user-partial', False, True)
>>> p.label("en")
'user-supplied scores (my_scores.csv); 1 of 3 cities not in the table, scored 0'
>>> describe(pd.Series(["rank-proxy"] * 4)).label("zh")
'由排名推算的代理得分，非报告数值'
>>> combine(["user", "rank-proxy"])
'rank-proxy'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from . import terms as _terms
from .errors import ValidationError

__all__ = ["RANK_PROXY", "USER", "USER_MISSING", "SOURCES", "ScoreProvenance", "combine", "describe",
           "of_frame"]

RANK_PROXY = "rank-proxy"
USER = "user"
USER_MISSING = "user-missing"
#: Values of a ``score_source`` column, weakest evidence first.
SOURCES: tuple[str, ...] = (RANK_PROXY, USER_MISSING, USER)
_RANK = {s: i for i, s in enumerate(SOURCES)}


def combine(values: Iterable[Any]) -> str:
    """The ``score_source`` of a result built from rows with ``values``:
    the weakest evidence among them (``"user"`` for no values)."""
    seen = {str(v) for v in values if v is not None and str(v) not in ("", "nan", "None")}
    bad = seen - set(SOURCES)
    if bad:
        raise ValidationError(f"unknown score_source value(s) {sorted(bad)}; valid: {list(SOURCES)}")
    return min(seen, key=_RANK.__getitem__) if seen else USER


@dataclass(frozen=True)
class ScoreProvenance:
    """How many rows rest on each kind of evidence, and the user's table.

    Attributes
    ----------
    n_proxy, n_user, n_missing : int
        Rows whose ``score_source`` is rank-proxy, user, user-missing.
    table : str or None
        Name of the user's scores table (a file name), when known.
    """

    n_proxy: int = 0
    n_user: int = 0
    n_missing: int = 0
    table: str | None = None

    @property
    def n(self) -> int:
        """All rows: ``n_proxy + n_user + n_missing``."""
        return self.n_proxy + self.n_user + self.n_missing

    @property
    def proxy(self) -> bool:
        """True when any value rests on a rank-derived proxy."""
        return self.n_proxy > 0

    @property
    def partial(self) -> bool:
        """True when a user's table left cities out (their stand-in is 0)."""
        return self.n_missing > 0

    @property
    def kind(self) -> str:
        """``"proxy"``, ``"user"``, ``"user-partial"`` or ``"mixed"`` (proxies and user values)."""
        if self.n_proxy and (self.n_user or self.n_missing):
            return "mixed"
        if self.n_proxy:
            return "proxy"
        return "user-partial" if self.n_missing else "user"

    @property
    def source(self) -> str:
        """The ``score_source`` of a result built from all these rows (:func:`combine`)."""
        return RANK_PROXY if self.n_proxy else USER_MISSING if self.n_missing else USER

    def label(self, lang: str = "en") -> str:
        """What the scores are, in the report's words (``"en"``, ``"zh"``, ``"both"``)."""
        if lang == "both":
            en, zh = self.label("en"), self.label("zh")
            return en if en == zh else f"{en} / {zh}"
        _terms.check_lang(lang)
        is_zh = lang == "zh"
        if self.kind == "proxy":
            return _terms.term("prov_proxy", lang)
        table = f"（{self.table}）" if is_zh and self.table else f" ({self.table})" if self.table else ""
        text = _terms.term("prov_user", lang) + table
        if self.kind == "mixed":
            text = (f"{_terms.term('prov_user', lang)}{table}：{self.n_user} 个城市；"
                    f"{_terms.term('prov_proxy', lang)}：{self.n_proxy} 个城市" if is_zh else
                    f"{text} for {self.n_user} cities, {_terms.term('prov_proxy', lang)} for {self.n_proxy}")
        if self.n_missing:
            text += (f"；{self.n} 个城市中 {self.n_missing} 个不在表中，得分记为 0" if is_zh else
                     f"; {self.n_missing} of {self.n} cities not in the table, scored 0")
        return text

    def tag(self, lang: str = "en") -> str:
        """A short tag for layer names and legends: "proxy", "user" … ('' for user scores)."""
        if self.proxy:
            return _terms.term("proxy", lang)
        if self.partial:
            return _terms.term("prov_partial_tag", lang)
        return ""

    def record(self) -> dict[str, Any]:
        """The provenance fields of a metadata record (``.meta.json``, GeoTIFF tags)."""
        return {"score_source": self.source, "scores_kind": self.kind, "proxy": self.proxy,
                "scores_partial": self.partial, "n_scores_user": self.n_user, "n_scores_proxy": self.n_proxy,
                "n_scores_missing": self.n_missing,
                "scores_table": self.table, "scores_note": self.label("en")}


def describe(sources: Iterable[Any], *, table: str | None = None) -> ScoreProvenance:
    """The :class:`ScoreProvenance` of a ``score_source`` column (or any
    iterable of its values). Missing values count as user values (a user's
    own weights carry no ``score_source``)."""
    counts = {s: 0 for s in SOURCES}
    for v in sources:
        s = USER if v is None or str(v) in ("", "nan", "None", "<NA>") else str(v)
        if s not in counts:
            raise ValidationError(f"unknown score_source value {s!r}; valid: {list(SOURCES)}")
        counts[s] += 1
    return ScoreProvenance(n_proxy=counts[RANK_PROXY], n_user=counts[USER], n_missing=counts[USER_MISSING],
                           table=table)


def of_frame(frame: Any, *, table: str | None = None, column: str = "score_source") -> ScoreProvenance:
    """:func:`describe` of ``frame[column]``; a frame without the column
    holds the user's own values (``n_user`` = its rows)."""
    cols = getattr(frame, "columns", ())
    if column in cols:
        return describe(frame[column], table=table)
    return ScoreProvenance(n_user=len(frame), table=table)


def from_record(md: Mapping[str, Any]) -> ScoreProvenance:
    """A :class:`ScoreProvenance` back from :meth:`ScoreProvenance.record`
    fields (e.g. GeoTIFF tags read as text)."""

    def num(key: str) -> int:
        try:
            return int(float(md.get(key) or 0))
        except (TypeError, ValueError):
            return 0

    table = md.get("scores_table")
    return ScoreProvenance(n_proxy=num("n_scores_proxy"), n_user=num("n_scores_user"),
                           n_missing=num("n_scores_missing"),
                           table=None if table in (None, "", "None", "null") else str(table))
