"""Names, poles and typology of the clusters of :class:`geocity.cluster.CityClusters`.

*Poles, names and typology* and *Ties and unranked clusters* in
:mod:`geocity.cluster` give the rules; this module applies them to one
cluster at a time:

- :func:`_poles`: the members whose score is at least ``pole_share`` of the
  top member's, at most ``max_poles``, in decreasing score (ties by
  ``city_id``); :func:`_poles_by` says how they were chosen;
- :func:`_typology`: single-/multi-pole and domestic/cross-border;
- :func:`_label_names`: the names as they appear in cluster names (the
  report's "(Country)" qualifier dropped unless the bare name is ambiguous),
  joined with :data:`_DASH`;
- :func:`_ranked`: whether a city's score rests on published evidence.

The names are re-exported from :mod:`geocity.cluster`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: Joins the poles' names in a cluster name ("Shenzhen–Hong Kong–Guangzhou").
_DASH = "–"


def _poles(idx: np.ndarray, w: np.ndarray, pole_share: float, max_poles: int) -> list[int]:
    """The poles of the cluster whose members ``idx`` are sorted by decreasing
    score ``w`` (ties by ``city_id``): members with a score of at least
    ``pole_share`` × the top one's, at most ``max_poles``, or the top member
    when every score is 0."""
    top = w[idx[0]]
    poles = [i for i in idx if top > 0 and w[i] >= pole_share * top]
    return poles[:max_poles] or [idx[0]]


def _poles_by(idx: np.ndarray, poles: Sequence[int], w: np.ndarray, n_ranked: int) -> str:
    """How the poles were chosen: ``"score"``, ``"score (ties by city_id)"``
    when members with equal scores straddle the pole cut or share the name's
    order, ``"tie-break (all members unranked)"`` when no member is ranked."""
    pw = w[poles]
    rest = w[[i for i in idx if i not in set(poles)]]
    if n_ranked == 0:
        return "tie-break (all members unranked)"
    if len(set(pw.tolist())) < len(pw) or (rest == pw[-1]).any():
        return "score (ties by city_id)"
    return "score"


def _typology(poles: Sequence[int], territories: pd.Series) -> tuple[str, str]:
    """``(polarity, scope)``: "multi-pole" with ≥ 2 poles (else "single-pole"),
    "cross-border" when the members' ``territories`` (ISO 3166 codes) hold ≥ 2
    distinct codes (else "domestic")."""
    polarity = "multi-pole" if len(poles) >= 2 else "single-pole"
    scope = "cross-border" if len(set(territories)) >= 2 else "domestic"
    return polarity, scope


def _ranked(source: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per city: does its score rest on published evidence? Rank proxies:
    a score above :data:`geocity.scores.BASE_SCORE` (a rank in one of the
    report's lists); ``"user-missing"`` (absent from the user's table): no;
    any other source (the user's own values): yes."""
    from .scores import BASE_SCORE

    src = np.asarray(source, dtype=object).astype(str)
    above = w > BASE_SCORE * (1.0 + 1e-9)
    return np.where(src == "rank-proxy", above, src != "user-missing")


def _label_names(names: pd.Series) -> pd.Series:
    """Names as they appear in cluster names: the report's "(Country)"
    qualifier is dropped unless another city of the layer has the same bare
    name, compared ignoring case and accents ("San Diego (USA)" → "San
    Diego"; "Santiago (Chile)", and "San Jose (USA)" next to "San José (Costa
    Rica)", keep theirs). Applied to English and Chinese names separately
    (圣迭戈 is unique, 奥克兰 is both Oakland and Auckland)."""
    from .layers import strip_qualifier
    from .scores import _norm_name

    names = names.astype(str)
    bare = names.map(strip_qualifier)
    key = bare.map(_norm_name)
    unique = key.map(key.value_counts()) == 1
    return bare.where(unique & (bare != ""), names)


def _text(s: pd.Series) -> pd.Series:
    """A column as str with missing values as ''."""
    s = s.astype(object)
    return s.where(s.notna(), "").astype(str)
