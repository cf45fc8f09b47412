r"""Pairwise balanced F1 between annotators on a binary (met / not met) criterion.

For two annotators rating the same items, with :math:`a` items both call positive, :math:`d`
both call negative and :math:`c` on which they differ, the F1 of the positive and of the
negative class are

.. math::  F_1^{+} = \frac{2a}{2a + c},\qquad F_1^{-} = \frac{2d}{2d + c},\qquad
           F_1^{bal} = \tfrac12 (F_1^{+} + F_1^{-})

(symmetric in the two annotators: swapping them swaps false positives and false negatives).
This is the macro-F1 that HealthBench uses to compare a grader's rubric verdicts with
physicians' (Arora et al. 2025), equal to ``sklearn.metrics.f1_score(y1, y2, average="macro")``.
:func:`pairwise_f1` gives it per annotator pair and pooled over every pair of annotators sharing
an item (the counts summed over pairs: the macro-F1 of all rating pairs stacked).

References: R. K. Arora et al. (2025), "HealthBench: evaluating large language models towards
improved human health", arXiv:2505.08775; C. J. van Rijsbergen (1979), *Information Retrieval*.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ._codes import Annotations, check_columns
from ._sums import UndefinedAgreementWarning

__all__ = ["PAIR_F1_COLUMNS", "balanced_f1", "pairwise_f1"]

#: Columns of :func:`pairwise_f1`'s per-pair table.
PAIR_F1_COLUMNS: tuple[str, ...] = ("annotator_a", "annotator_b", "n_items", "both_positive", "both_negative",
                                    "disagree", "f1_positive", "f1_negative", "balanced_f1")


def balanced_f1(both_positive: Any, both_negative: Any, disagree: Any) -> np.ndarray:
    """:math:`F_1^{bal}` from the three counts (vectorised; NaN where a class's F1 is 0/0)."""
    a, d, c = (np.asarray(v, dtype=np.float64) for v in (both_positive, both_negative, disagree))
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * (2 * a / (2 * a + c) + 2 * d / (2 * d + c))


def pairwise_f1(annotations: Annotations, *, positive: Any = 1) -> tuple[float, pd.DataFrame]:
    """Balanced F1 between annotators on a binary criterion (module docstring).

    ``label`` holds two values; ``positive`` names the "met" one (every other value is "not
    met"; a third distinct value is a ``ValueError``). Returns ``(pooled, pairs)``: the
    balanced F1 of every rating pair pooled, and one row per annotator pair with a shared item
    (:data:`PAIR_F1_COLUMNS`, ``annotator_a < annotator_b``). NaN with an
    :class:`UndefinedAgreementWarning` when no item has two annotators or when one class never
    occurs in any pair.
    """
    check_columns(annotations)
    df = annotations if isinstance(annotations, pd.DataFrame) else annotations.to_pandas()
    df = df.loc[df["label"].notna(), ["item_id", "annotator_id", "label"]]
    values = pd.unique(df["label"])
    if len(values) > 2:
        raise ValueError(f"pairwise_f1 needs a binary criterion; label has {len(values)} distinct values "
                         f"({list(values)[:5]}); map the scale to met / not met first")
    if df.duplicated(["item_id", "annotator_id"]).any():
        dup = df.loc[df.duplicated(["item_id", "annotator_id"], keep=False), ["item_id", "annotator_id"]]
        raise ValueError(f"(item_id, annotator_id) rated more than once at row(s) {list(dup.index[:5])}; "
                         "keep one rating per item and annotator")
    frame = pd.DataFrame({"item_id": df["item_id"].to_numpy(), "annotator_id": df["annotator_id"].astype(str).to_numpy(),
                          "pos": (df["label"] == positive).to_numpy()})
    pairs = frame.merge(frame, on="item_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["annotator_id_a"] < pairs["annotator_id_b"]]
    pa, pb = pairs["pos_a"].to_numpy(), pairs["pos_b"].to_numpy()
    counts = pd.DataFrame({"annotator_a": pairs["annotator_id_a"].to_numpy(), "annotator_b": pairs["annotator_id_b"].to_numpy(),
                           "n_items": 1, "both_positive": (pa & pb).astype(np.int64),
                           "both_negative": (~pa & ~pb).astype(np.int64), "disagree": (pa != pb).astype(np.int64)})
    table = counts.groupby(["annotator_a", "annotator_b"], sort=True, as_index=False).sum()
    a, d, c = (table[k].to_numpy() for k in ("both_positive", "both_negative", "disagree"))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["f1_positive"] = 2 * a / (2 * a + c)
        table["f1_negative"] = 2 * d / (2 * d + c)
    table["balanced_f1"] = 0.5 * (table["f1_positive"] + table["f1_negative"])
    table = table[list(PAIR_F1_COLUMNS)]
    if table.empty:
        warnings.warn("pairwise F1 is undefined: no item has two annotators; returning NaN", UndefinedAgreementWarning,
                      stacklevel=2)
        return math.nan, table
    pooled = float(balanced_f1(a.sum(), d.sum(), c.sum()))
    if math.isnan(pooled):
        warnings.warn("pairwise F1 is undefined: one class never occurs in any pair; returning NaN",
                      UndefinedAgreementWarning, stacklevel=2)
    return pooled, table.reset_index(drop=True)
