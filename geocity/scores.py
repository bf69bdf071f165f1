r"""3I scores per city: innovation, industry, infrastructure and a composite.

The report's 3I model scores every city on three dimensions — the global
**innovation** network, the global **production and service** network
(``industry``) and the global **connectivity facility** network
(``infrastructure``) — but publishes only ranks, never the scores. By default
this module therefore derives **rank proxies** from the published ranks; a
user's own indicator table replaces them (:func:`city_scores` with ``source``).

Rank proxy
----------
Every published list ranks the same universe of cities, so a rank ``r`` means
the same thing in every list. Scores of global-city indices, like city sizes,
fall off with rank roughly as a power law (the rank-size rule), so a rank is
mapped to

.. math::

    t(r) = r^{-\alpha}, \qquad \alpha = 0.5 \ (\text{:data:`RANK_EXPONENT`}),

which gives 1 to the first city, 0.5 to the 4th, 0.22 to the 20th and 0.1 to
the 100th: the top of the index dominates, as it does in the report's
clusters, without erasing the mid-ranked cities. A city that appears in no
list gets the base score :math:`b = t(\bar r_u)` (:data:`BASE_SCORE`
≈ 0.057), the score of the middle rank of the unranked block,
:math:`\bar r_u = (101 + 516) / 2 = 308.5`, i.e. its expected rank when the
report says only that it is not in the top 100. A dimension score is the
strongest published evidence for that dimension

.. math::

    s_d = \max\bigl(b,\ t(r_{\mathrm{GDCI}}),\ \max_{T \in \mathcal{T}_d} t(r_T)\bigr),

with the lists :math:`\mathcal{T}_d` of each dimension

* innovation: Table 2-8 "Global Innovation Network" column, Tables 2-1
  (scientific), 2-2 (technological) and 2-3 (industrial innovation frontier);
* industry: Table 2-8 "Global Production and Service Network" column,
  Tables 2-4 (global production network) and 2-5 (global service network);
* infrastructure: Table 2-8 "Global Connectivity Facility Network" column,
  Tables 2-6 (airline) and 2-7 (maritime transport service).

The composite is the weighted mean :math:`c = \sum_d w_d s_d / \sum_d w_d`
(``weights``, default equal).

Why the maximum and not the mean: a top-20 list only says that a city is in
the top 20; a city missing from it may rank 21st or 500th. Averaging would
punish absence from a short list as if it were a bottom rank, while the
maximum keeps the strongest published evidence. The GDCI rank enters every
dimension because the overall index is built from the three dimensions: a
city in the overall top 100 cannot be weak in all of them.

Why a base score: the 415 cities outside the top 100 are not worthless, and a
cluster may gather several of them around a ranked pole (Houston next to
Dallas, Dongguan and Foshan next to Guangzhou). With the base above, about 18
unranked cities weigh as much as Tokyo.

The proxies are *not* the report's scores; every table, export and figure
that shows them must say "proxy": each city's ``score_source`` column says
where its score comes from, and :func:`geocity.provenance.of_frame` turns it
into the one answer every output gives.

User scores
-----------
A CSV file or DataFrame keyed by ``city_id`` (or by a ``name``, ``name_en``,
``city`` or ``name_zh`` column, matched exactly — ignoring case, accents and a
"(Country)" qualifier — against the cities' English and Chinese names, then
through :mod:`geocity.geocode` when it is installed; an ambiguous name such
as "Santiago" is an error asking for the ``city_id``) with any of the columns ``innovation``,
``industry``, ``infrastructure`` and ``composite`` replaces the proxies
(``score_source == "user"``). Values must be finite and non-negative; a
column whose maximum exceeds 1 is divided by its maximum so that every score
lies in [0, 1]. When ``composite`` is missing it is the weighted mean of the
dimensions given; a dimension that is not given is left empty (NaN). Cities
absent from the table get 0 and ``score_source == "user-missing"``.
"""

from __future__ import annotations

import difflib
import logging
import re
from os import PathLike
from typing import Sequence

import numpy as np
import pandas as pd

from . import _validate
from .errors import NotFoundError, ValidationError

log = logging.getLogger(__name__)

#: Exponent of the rank-size transform ``t(r) = r ** -RANK_EXPONENT``.
RANK_EXPONENT: float = 0.5
#: Cities analysed by the report (Appendix 3) and depth of the GDCI ranking.
N_CITIES: int = 516
N_RANKED: int = 100
#: Score of a city in none of the published lists: t at the middle unranked rank (308.5 of 101..516).
BASE_SCORE: float = float(((N_RANKED + 1 + N_CITIES) / 2) ** -RANK_EXPONENT)
#: The three dimensions of the 3I model, in order.
DIMENSIONS: tuple[str, str, str] = ("innovation", "industry", "infrastructure")
#: Score columns a user table may hold.
SCORE_COLUMNS: tuple[str, ...] = (*DIMENSIONS, "composite")

#: Report tables feeding each dimension (Table 2-8 handled by its column).
DIMENSION_TABLES: dict[str, tuple[str, ...]] = {
    "innovation": ("2-1", "2-2", "2-3"),
    "industry": ("2-4", "2-5"),
    "infrastructure": ("2-6", "2-7"),
}

__all__ = [
    "BASE_SCORE",
    "RANK_EXPONENT",
    "DIMENSIONS",
    "DIMENSION_TABLES",
    "rank_score",
    "rank_proxy_scores",
    "city_scores",
    "input_files",
]


def rank_score(rank, *, base: float = BASE_SCORE, exponent: float = RANK_EXPONENT) -> np.ndarray:
    """Map published ranks to scores ``r ** -exponent`` in (0, 1]; NaN (unranked) → ``base``.

    Examples
    --------
    >>> rank_score([1, 4, 100, float("nan")]).round(4).tolist()
    [1.0, 0.5, 0.1, 0.0569]
    """
    r = np.asarray(rank, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.power(np.maximum(r, 1.0), -float(exponent))
    return np.where(np.isfinite(r), np.maximum(s, 0.0), base)


def _table_key(table: str) -> str | None:
    m = re.search(r"2\s*[-‐–.]\s*([1-8])", str(table))
    return f"2-{m.group(1)}" if m else None


def _dimension_of_28(dimension: str) -> str | None:
    d = str(dimension).lower()
    if "innov" in d:
        return "innovation"
    if "produc" in d or "service" in d or "industr" in d:
        return "industry"
    if "connect" in d or "infra" in d or "facilit" in d:
        return "infrastructure"
    return None


def _weights(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (3,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValidationError(
            f"weights must be three non-negative numbers (innovation, industry, infrastructure) "
            f"with a positive sum, got {weights!r}"
        )
    return w


def rank_proxy_scores(
    city_ids: Sequence[str],
    *,
    gdci: pd.DataFrame | None = None,
    dimension_ranks: pd.DataFrame | None = None,
    weights: Sequence[float] = (1, 1, 1),
    base: float = BASE_SCORE,
) -> pd.DataFrame:
    """Rank-derived proxy scores for ``city_ids`` (see the module docstring).

    Parameters
    ----------
    city_ids
        The cities to score.
    gdci, dimension_ranks
        The ``gdci_2022`` and ``dimension_ranks`` layers; loaded from
        :mod:`geocity.layers` when omitted.
    weights
        Weights of innovation, industry and infrastructure in the composite.
    base
        Score of a city in none of the lists.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``city_ids``: ``innovation, industry, infrastructure,
        composite`` and ``score_source`` ("rank-proxy").
    """
    w = _weights(weights)
    if gdci is None or dimension_ranks is None:
        from . import layers

        gdci = layers.load("gdci_2022") if gdci is None else gdci
        dimension_ranks = layers.load("dimension_ranks") if dimension_ranks is None else dimension_ranks
    ids = pd.Index(list(city_ids), name="city_id")
    best = {d: pd.Series(base, index=ids, dtype=float) for d in DIMENSIONS}

    def lift(dim: str, ranks: pd.DataFrame) -> None:
        r = ranks.groupby("city_id")["rank"].min()
        r = r[r.index.isin(ids)]
        s = pd.Series(rank_score(r.to_numpy(), base=base), index=r.index)
        best[dim].loc[s.index] = np.maximum(best[dim].loc[s.index].to_numpy(), s.to_numpy())

    g = gdci[["city_id", "rank"]]
    for d in DIMENSIONS:
        lift(d, g)
    dr = dimension_ranks.copy()
    dr["_key"] = dr["table"].map(_table_key)
    unknown = dr["_key"].isna()
    if unknown.any():
        log.debug("dimension_ranks: ignoring rows of unknown tables %s", sorted(set(dr.loc[unknown, "table"])))
    for d, tables in DIMENSION_TABLES.items():
        lift(d, dr[dr["_key"].isin(tables)])
    t28 = dr[dr["_key"] == "2-8"]
    if len(t28):
        dims = t28["dimension"].map(_dimension_of_28)
        for d in DIMENSIONS:
            lift(d, t28[dims == d])
    out = pd.DataFrame({d: best[d] for d in DIMENSIONS})
    out["composite"] = (out[list(DIMENSIONS)].to_numpy() * w).sum(axis=1) / w.sum()
    out["score_source"] = "rank-proxy"
    return out


def _read_user_table(source) -> pd.DataFrame:
    """The user's scores table: a DataFrame as given, or a CSV read as every
    geocity reader reads a user's table (:func:`geocity.export._read_csv`,
    i.e. :mod:`geocity._text`): UTF-8, UTF-8 with BOM, UTF-16 by its mark or
    GB18030/GBK detected; a file mixing encodings, a binary or NUL-holding
    file, a header naming a column twice or rows longer than the header are
    one :class:`ValidationError` naming the file (and line)."""
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if isinstance(source, (str, PathLike)):
        from pathlib import Path

        from .export import _read_csv

        p = Path(source)
        if not p.exists():
            raise NotFoundError(f"scores file {str(p)!r} does not exist")
        return _read_csv(p, what=f"scores file {str(p)!r}")
    raise ValidationError(
        f"source must be a CSV path or a pandas DataFrame, not {type(source).__name__}"
    )


def _row_labels(source, tab: pd.DataFrame, keys: pd.Series):
    """How messages name the rows of a scores table: ``line N (key)`` of a CSV
    (its own line numbers, decoded as it was read), ``index L (key)`` of a DataFrame."""
    if isinstance(source, (str, PathLike)):
        from pathlib import Path

        from .export import _csv_labels

        return _csv_labels(Path(source), len(tab), None, ids=keys)
    return _validate.RowLabels.index(tab.index, ids=keys)


def _columns(tab: pd.DataFrame, limit: int = 20) -> str:
    """The columns of a table for a message: at most ``limit``, each cut (a 1,000-column file)."""
    names = [_validate.quote(c, 40) for c in tab.columns]
    return "[" + ", ".join(names[:limit]) + (f", … {len(names) - limit} more" if len(names) > limit else "") + "]"


def _norm_name(x: str) -> str:
    import unicodedata

    x = unicodedata.normalize("NFKD", str(x)).encode("ascii", "ignore").decode() or str(x)
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", " ", x.lower()).strip()


def _resolve_names(names: pd.Series, cities) -> pd.Series:
    """Map names to ``city_id``: exact (accent- and case-insensitive) match on
    the cities' English or Chinese names first, then :mod:`geocity.geocode`
    for the rest when it is available. Unresolved or ambiguous names are kept
    as given, so that the caller reports them as unknown."""
    lookup: dict[str, set[str]] = {}
    for col in ("name_en", "name_zh"):
        if col not in cities.columns:
            continue
        for cid, nm in zip(cities["city_id"].astype(str), cities[col].astype(str), strict=True):
            for key in {_norm_name(nm), _norm_name(re.sub(r"\s*[(（][^()（）]*[)）]\s*$", "", nm))}:
                if key:
                    lookup.setdefault(key, set()).add(cid)
    out: list[str | None] = []
    ambiguous = []
    for nm in names:
        hit = lookup.get(_norm_name(nm), set()) or lookup.get(
            _norm_name(re.sub(r"\s*[(（][^()（）]*[)）]\s*$", "", str(nm))), set()
        )
        if len(hit) == 1:
            out.append(next(iter(hit)))
        else:
            if len(hit) > 1:
                ambiguous.append(f"{_validate.quote(nm)} ({' or '.join(sorted(hit))})")
            out.append(None)
    res = pd.Series(out, index=names.index, dtype=object)
    if ambiguous:
        raise ValidationError(
            f"scores table: ambiguous city name(s) {', '.join(ambiguous[:5])}; use a city_id column instead"
        )
    todo = res.isna()
    if todo.any():
        from .geocode import geocode  # alternate spellings, GeoNames aliases

        try:
            got = geocode(pd.DataFrame({"name": list(names[todo])}), name_col="name")
            if "city_id" in got.columns:
                ids = got["city_id"].astype(object)
                match = got["match"].astype(str) if "match" in got.columns else pd.Series("exact", index=got.index)
                # an ambiguous name (e.g. one with a large namesake) stays unresolved and is
                # reported as unknown, as in geocity.network: a city_id column settles it
                res[todo] = [x if isinstance(x, str) and x and m in ("exact", "alias") else None
                             for x, m in zip(ids, match, strict=True)]
        except Exception as exc:  # noqa: BLE001 - reported as unknown names below
            log.info("geocode could not resolve names: %s", exc)
    return res.where(res.notna(), names.astype(str))


def _user_scores(  # noqa: C901 - every check of the table collected into one message, then one fill
    source, city_ids: pd.Index, w: np.ndarray, cities=None
) -> pd.DataFrame:
    tab = _read_user_table(source)
    where = f"scores file {str(source)!r}" if isinstance(source, (str, PathLike)) else "scores table"
    tab.columns = [str(c).strip() for c in tab.columns]
    lower = {c.lower(): c for c in tab.columns}
    tab = tab.rename(columns={lower[c]: c for c in SCORE_COLUMNS if c in lower and lower[c] != c})
    problems: list[str] = []
    by_id = "city_id" in lower
    if by_id:
        tab = tab.rename(columns={lower["city_id"]: "city_id"})
        keys = tab["city_id"].astype(str).str.strip()
    else:
        name_col = next((lower[c] for c in ("name", "name_en", "city", "name_zh") if c in lower), None)
        if name_col is None:
            raise ValidationError(
                f"{where} has no city_id or name column (columns: {_columns(tab)}); "
                "add a city_id column such as 'beijing-cn'"
            )
        known = cities if cities is not None else pd.DataFrame({'city_id': city_ids})
        keys = _resolve_names(tab[name_col].astype(str), known)
    cols = [c for c in SCORE_COLUMNS if c in tab.columns]
    if not cols:
        raise ValidationError(
            f"{where} has none of the score columns {list(SCORE_COLUMNS)} "
            f"(columns: {_columns(tab)}); name at least one column innovation, industry, "
            "infrastructure or composite"
        )
    if len(tab) == 0:
        raise ValidationError(f"{where} is empty (a header but no rows); add one row per city")
    unknown = sorted(set(keys[~keys.isin(city_ids)].astype(str)))
    if unknown:
        hints = []
        for u in unknown[:5]:
            pool = list(city_ids) if by_id or cities is None or "name_en" not in cities.columns else [
                str(x) for x in cities["name_en"]
            ]
            m = difflib.get_close_matches(u, pool, n=1)
            hints.append(_validate.quote(u) + (f" (did you mean {m[0]!r}?)" if m else ""))
        problems.append(
            f"{len(unknown)} unknown {'city_id' if by_id else 'city name'}(s): {', '.join(hints)}"
            + (" …" if len(unknown) > 5 else "")
        )
    dup = sorted(set(keys[keys.duplicated()].astype(str)))
    if dup:
        problems.append(f"duplicate {'city_id' if by_id else 'city'}(s): "
                        f"[{', '.join(_validate.quote(d) for d in dup[:10])}" + (", …]" if len(dup) > 10 else "]"))
    vals = {}
    labels = _row_labels(source, tab, keys)
    for c in cols:
        v = pd.to_numeric(tab[c], errors="coerce")
        bad = ~np.isfinite(v.to_numpy(dtype=float))
        if bad.any():
            problems.append(f"column {c!r} has {int(bad.sum())} missing or non-numeric value(s): "
                            f"{_validate.rows(labels, np.flatnonzero(bad), limit=5)}")
        neg = v.to_numpy(dtype=float) < 0
        if neg.any():
            problems.append(f"column {c!r} has {int(neg.sum())} negative value(s): "
                            f"{_validate.rows(labels, np.flatnonzero(neg), limit=5)}")
        vals[c] = v
    if problems:
        raise ValidationError(f"{where}: " + "; ".join(problems) + "; fix the table and retry")
    out = pd.DataFrame(index=city_ids, columns=list(SCORE_COLUMNS), dtype=float)
    for c in cols:
        v = vals[c].to_numpy(dtype=float)
        mx = v.max() if v.size else 0.0
        if mx > 1:
            log.info("scores column %r: max %.4g > 1, divided by its maximum", c, mx)
            v = v / mx
        out.loc[keys.to_numpy(), c] = v
    given = [d for d in DIMENSIONS if d in cols]
    if "composite" not in cols:
        wd = np.array([w[DIMENSIONS.index(d)] for d in given])
        if wd.sum() <= 0:
            raise ValidationError("the weights of the given score columns sum to 0; change weights")
        out["composite"] = out[given].to_numpy() @ wd / wd.sum()
    missing = ~city_ids.isin(keys)
    out.loc[missing, [c for c in SCORE_COLUMNS if c in cols or c == "composite"]] = 0.0
    out["score_source"] = np.where(missing, "user-missing", "user")
    if missing.any():
        log.warning("%d cities are not in the scores table and get score 0", int(missing.sum()))
    return out


def input_files(source=None) -> list:
    """Files :func:`city_scores` reads with the embedded cities layer: the
    ``cities`` layer, plus the rank tables for the proxies (``source=None``)
    or the user's scores file — for the checksums of provenance records
    (:func:`geocity.export.write_metadata`).

    >>> [p.name for p in input_files()]
    ['cities.csv', 'dimension_ranks.csv', 'gdci_2022.csv']
    """
    from pathlib import Path

    from . import layers
    from ._data import data_dir

    names = ["cities"] + (["dimension_ranks", "gdci_2022"] if source is None else [])
    files = []
    for name in names:
        for fname in layers.LAYERS[name][0]:
            path = data_dir("layers") / fname
            if path.is_file():
                files.append(path)
                break
    if isinstance(source, (str, PathLike)):
        files.append(Path(source))
    return files


def city_scores(cities=None, *, source=None, weights: Sequence[float] = (1, 1, 1)):
    """Cities with their 3I scores.

    Parameters
    ----------
    cities
        A cities GeoDataFrame with a ``city_id`` column; the embedded
        ``cities`` layer when omitted.
    source
        ``None`` for the rank proxies (module docstring), or a CSV path or
        DataFrame of the user's scores keyed by ``city_id`` (or ``name``).
    weights
        Weights of innovation, industry and infrastructure in ``composite``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cities`` plus ``innovation, industry, infrastructure, composite``
        in [0, 1] and ``score_source`` per city (``"rank-proxy"``, ``"user"``
        or ``"user-missing"``; see :mod:`geocity.provenance`).

    Examples
    --------
    >>> from geocity import provenance
    >>> gdf = city_scores()
    >>> provenance.of_frame(gdf).proxy, gdf["score_source"].unique().tolist()
    (True, ['rank-proxy'])
    >>> g = gdf.set_index("city_id")
    >>> round(float(g.loc["tokyo-jp", "composite"]), 3), round(float(g.loc["houston-us", "composite"]), 3)
    (1.0, 0.057)
    """
    w = _weights(weights)
    if cities is None:
        from . import layers

        cities = layers.load("cities")
    if "city_id" not in cities.columns:
        raise ValidationError("cities has no 'city_id' column; pass the cities layer or add city_id")
    if len(cities) == 0:
        raise ValidationError("cities is empty; nothing to score")
    ids = pd.Index(cities["city_id"].astype(str))
    if ids.duplicated().any():
        raise ValidationError(f"cities: duplicate city_id(s) {sorted(set(ids[ids.duplicated()]))[:10]}")
    if source is None:
        sc = rank_proxy_scores(ids, weights=tuple(float(x) for x in w))
    else:
        sc = _user_scores(source, ids, w, cities)
    out = cities.copy()
    for c in (*SCORE_COLUMNS, "score_source"):
        out[c] = sc[c].to_numpy()
    return out
