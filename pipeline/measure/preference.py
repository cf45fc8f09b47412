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
- **Strength calibration** (:func:`strength_calibration`): does a stronger preference agree more
  often with a reference (the scorecard's leave-one-vendor-out consensus)? Among judgements that
  prefer a side, carry a strength (``|margin|``) and whose reference prefers a side: per group and
  strength, the share that pick the reference's side (Wilson interval); per group,
  :func:`strength_agreement` gives the point-biserial correlation
  :math:`r = \operatorname{corr}(|m|, \mathbb{1}[\text{agrees}])` (positive: calibrated
  strengths; NaN when either is constant).

References: E. B. Wilson (1927), JASA 22(158); for position bias in pairwise judgements of model
outputs, e.g. L. Zheng et al. (2023), "Judging LLM-as-a-judge with MT-Bench and Chatbot Arena".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.contract import require_columns
from pipeline.measure.accuracy import wilson_interval

__all__ = ["position_bias", "strength_agreement", "strength_calibration", "tie_rate"]


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


def _strength_rows(annotations: pd.DataFrame, loo: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Judgements with a strength that prefer a side, joined to a reference that prefers one:
    the ``by`` columns, ``strength`` (``|margin|``) and ``agrees``."""
    require_columns(annotations.columns, [*by, "item_id", "choice", "margin"], "annotations", "strength calibration needs them")
    require_columns(loo.columns, ["vendor", "item_id", "loo_label"], "loo", "the reference consensus")
    rows = annotations[annotations["margin"].notna() & annotations["choice"].isin(["a", "b"])]
    ref = loo[loo["loo_label"].isin(["a", "b"])][["vendor", "item_id", "loo_label"]]
    joined = rows.merge(ref, on=["vendor", "item_id"], how="inner")
    out = joined[by].copy()
    out["strength"] = joined["margin"].astype("float64").abs().round(6).to_numpy()
    out["agrees"] = (joined["choice"].astype("string") == joined["loo_label"].astype("string")).to_numpy(dtype=bool)
    return out


def strength_calibration(annotations: pd.DataFrame, loo: pd.DataFrame, *, by: Sequence[str] = ("vendor",),
                         confidence: float = 0.95) -> pd.DataFrame:
    """Per group in ``by`` (which must include ``vendor``, the key of ``loo``) and strength level
    ``|margin|``: ``n`` judgements, ``n_agree`` of them on the side ``loo_label`` (the
    reference consensus of ``loo``: ``vendor, item_id, loo_label``) prefers, ``agree_share`` and
    its Wilson ``ci_low`` / ``ci_high``. Vendors without strengths have no rows.

    >>> import pandas as pd
    >>> a = pd.DataFrame({"vendor": "v", "item_id": ["p", "q", "r"], "choice": ["a", "b", "a"], "margin": [3.0, -1.0, 1.0]})
    >>> loo = pd.DataFrame({"vendor": "v", "item_id": ["p", "q", "r"], "loo_label": ["a", "a", "a"]})
    >>> strength_calibration(a, loo)[["strength", "n", "n_agree"]].to_dict("records")
    [{'strength': 1.0, 'n': 2, 'n_agree': 1}, {'strength': 3.0, 'n': 1, 'n_agree': 1}]
    """
    by = list(by)
    rows = _strength_rows(annotations, loo, by)
    counted = np.ones(len(rows), dtype=bool)
    out = _shares(rows[[*by, "strength"]], counted, rows["agrees"].to_numpy(dtype=bool), hits="n_agree",
                  share="agree_share", confidence=confidence)
    return out.astype({"n": "int64", "n_agree": "int64"})


def strength_agreement(annotations: pd.DataFrame, loo: pd.DataFrame, *, by: Sequence[str] = ("vendor",)) -> pd.DataFrame:
    """Per group in ``by``: ``n_strength`` judgements of :func:`strength_calibration` and
    ``strength_agreement_corr``, the correlation of their strength with agreeing (NaN when the
    strengths or the agreements are all equal, or there are fewer than three)."""
    by = list(by)
    rows = _strength_rows(annotations, loo, by)
    x, y = rows["strength"].to_numpy(dtype=float), rows["agrees"].to_numpy(dtype=float)
    frame = rows[by].assign(_n=1, _x=x, _y=y, _xx=x * x, _yy=y * y, _xy=x * y)
    g = frame.groupby(by, as_index=False, dropna=False).sum(numeric_only=True).sort_values(by, ignore_index=True)
    n = g["_n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = g["_xy"] / n - (g["_x"] / n) * (g["_y"] / n)
        vx = g["_xx"] / n - (g["_x"] / n) ** 2
        vy = g["_yy"] / n - (g["_y"] / n) ** 2
        corr = cov / np.sqrt(vx * vy)
    ok = (n >= 3) & (vx > 1e-12) & (vy > 1e-12)
    return pd.DataFrame({**{c: g[c] for c in by}, "n_strength": g["_n"].astype("int64"),
                         "strength_agreement_corr": corr.where(ok).astype("float64")})
