r"""Measures of pairwise preference judgements that agreement coefficients do not give.

Data contract: the staged annotations of a preference task (:mod:`pipeline.kinds.preference`),
one row per judgement: ``vendor``, ``annotator_id``, ``choice`` (``a`` / ``b`` / ``tie``, in the
canonical orientation of the pair) and ``shown_first`` (``a`` / ``b``: which response the
annotator saw first, null when the vendor does not say).

- **Position bias** (:func:`position_bias`): among an annotator's (or vendor's) non-tie judgements
  whose order of display is known, the share :math:`\hat p = k / n` that chose the response shown
  first, with its Wilson score interval. An unbiased judge has :math:`p = 1/2`; the group is
  ``flagged`` when the interval excludes 1/2 (at the given confidence).
- **Tie rate** (:func:`tie_rate`): the share of judgements that are ties, with its Wilson interval.

References: E. B. Wilson (1927), JASA 22(158); for position bias in pairwise judgements of model
outputs, e.g. L. Zheng et al. (2023), "Judging LLM-as-a-judge with MT-Bench and Chatbot Arena".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.contract import require_columns
from pipeline.measure.accuracy import wilson_interval

__all__ = ["position_bias", "tie_rate"]


def _shares(groups: pd.DataFrame, counted: np.ndarray, hit: np.ndarray, *, hits: str, share: str,
            confidence: float) -> pd.DataFrame:
    """Per group of ``groups`` (sorted): ``n`` rows ``counted``, ``hits`` of them ``hit``, their
    ``share`` and its Wilson interval ``ci_low`` / ``ci_high``."""
    by = list(groups.columns)
    frame = groups.assign(_n=counted.astype(np.int64), _hit=(hit & counted).astype(np.int64))
    out = frame.groupby(by, as_index=False, dropna=False).agg(n=("_n", "sum"), **{hits: ("_hit", "sum")})
    out = out.sort_values(by, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[share] = out[hits] / out["n"].where(out["n"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out[hits].to_numpy(), out["n"].to_numpy(), confidence=confidence)
    return out


def position_bias(annotations: pd.DataFrame, *, by: Sequence[str] = ("vendor",), confidence: float = 0.95) -> pd.DataFrame:
    """Share of non-tie judgements that chose the response shown first, per group in ``by``.

    Returns the ``by`` columns, ``n`` (non-tie judgements with a known display order),
    ``n_first`` (of them, the first-shown response chosen), ``first_share``, ``ci_low``,
    ``ci_high`` (Wilson) and ``flagged`` (the interval excludes 0.5); every group of ``annotations``
    appears, with ``n == 0`` and NaN share when it has no such judgement.

    >>> import pandas as pd
    >>> a = pd.DataFrame({"vendor": ["v"] * 4, "choice": ["a", "a", "b", "tie"], "shown_first": ["a", "a", "a", "b"]})
    >>> position_bias(a)[["vendor", "n", "n_first", "first_share"]].to_dict("records")
    [{'vendor': 'v', 'n': 3, 'n_first': 2, 'first_share': 0.6666666666666666}]
    """
    by = list(by)
    require_columns(annotations.columns, [*by, "choice", "shown_first"], "annotations", "position bias needs them")
    choice, shown = annotations["choice"].astype("string"), annotations["shown_first"].astype("string")
    known = (choice.isin(["a", "b"]) & shown.isin(["a", "b"])).fillna(False).to_numpy(dtype=bool)
    first = (choice == shown).fillna(False).to_numpy(dtype=bool) & known
    out = _shares(annotations[by], known, first, hits="n_first", share="first_share", confidence=confidence)
    out["flagged"] = ((out["ci_low"] > 0.5) | (out["ci_high"] < 0.5)).fillna(False).astype(bool)
    return out


def tie_rate(annotations: pd.DataFrame, *, by: Sequence[str] = ("vendor",), confidence: float = 0.95) -> pd.DataFrame:
    """Share of judgements that are ties per group in ``by``: ``n``, ``n_ties``, ``tie_rate``,
    ``ci_low``, ``ci_high`` (Wilson)."""
    by = list(by)
    require_columns(annotations.columns, [*by, "choice"], "annotations", "the tie rate needs them")
    valid = annotations["choice"].notna().to_numpy(dtype=bool)
    ties = (annotations["choice"].astype("string") == "tie").fillna(False).to_numpy(dtype=bool)
    return _shares(annotations[by], valid, ties, hits="n_ties", share="tie_rate", confidence=confidence)
