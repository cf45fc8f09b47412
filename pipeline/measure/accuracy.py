"""Accuracy of vendors and annotators against gold items, with Wilson score intervals."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import cast

import numpy as np
import pandas as pd

from pipeline.arrays import positions
from pipeline.contract import require_columns


def wilson_interval(correct: np.ndarray | int, total: np.ndarray | int, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Wilson score interval for a binomial proportion.

    .. math::
        \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}}

    with :math:`\hat p = k/n` and :math:`z` the normal quantile for ``confidence``.
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. JASA 22(158), 209-212. ``total == 0`` gives NaN bounds.
    """
    k = np.asarray(correct, dtype=float)
    n = np.asarray(total, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)  # not scipy.stats: 1 s of imports in every stage that scores
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    # exactly 0 at k = 0 and 1 at k = n (floating point would leave ~1e-16 off)
    low = np.where(k == 0, 0.0, centre - half)
    high = np.where(k == n, 1.0, centre + half)
    low, high = np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
    return (low, high) if low.ndim else (low[()], high[()])


def align_gold(annotations: pd.DataFrame, gold: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compact annotations (categorical ``item_id`` and ``label``) and ``gold`` on the same categories,
    so that their joins and label comparisons run on integer codes: gold labels nobody gave join the
    label categories, gold items nobody labelled are left out (they score nothing). Annotations of
    strings, or gold already aligned, come back as they are."""
    item, label = annotations["item_id"].dtype, annotations["label"].dtype
    if not (isinstance(item, pd.CategoricalDtype) and isinstance(label, pd.CategoricalDtype)):
        return annotations, gold
    if gold["item_id"].dtype == item and gold["gold_label"].dtype == label:
        return annotations, gold
    extra = pd.Index(gold["gold_label"].dropna().unique()).difference(label.categories)
    if len(extra):
        labels = label.categories.append(extra).sort_values()
        annotations = annotations.assign(label=annotations["label"].cat.set_categories(labels))
        label = annotations["label"].dtype
    codes = positions(item.categories, gold["item_id"]).astype(np.int64)  # -1: nobody labelled it (or null)
    known = codes >= 0
    gold = gold[known]
    return annotations, gold.assign(item_id=pd.Categorical.from_codes(codes[known], dtype=item),
                                    gold_label=gold["gold_label"].astype(label))


def gold_accuracy(
    annotations: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    by: Sequence[str] = ("vendor",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Share of labels on gold items that equal the gold label, per group in ``by``.

    Parameters
    ----------
    annotations : DataFrame
        Canonical long frame; needs ``item_id``, ``label`` and the ``by`` columns.
    gold : DataFrame
        ``item_id``, ``gold_label``.

    Returns
    -------
    DataFrame with the ``by`` columns and ``n_gold`` (labels on gold items), ``n_correct``,
    ``accuracy``, ``ci_low``, ``ci_high`` (Wilson interval). Groups with no gold labels
    appear with ``n_gold == 0`` and NaN accuracy.
    """
    by = list(by)
    require_columns(annotations.columns, ["item_id", "label", *by], "annotations", "gold accuracy needs them")
    annotations, gold = align_gold(annotations, gold)
    coded = _coded_gold_counts(annotations, gold, by)
    if coded is not None:
        out = coded
    else:
        groups = annotations[by].drop_duplicates().sort_values(by, ignore_index=True)
        on_gold = annotations.merge(gold[["item_id", "gold_label"]], on="item_id", how="inner")
        on_gold = on_gold.assign(correct=(on_gold["label"] == on_gold["gold_label"]).astype("int64"))
        counts = on_gold.groupby(by, as_index=False).agg(n_gold=("correct", "size"), n_correct=("correct", "sum"))
        out = groups.merge(counts, on=by, how="left")
        out[["n_gold", "n_correct"]] = out[["n_gold", "n_correct"]].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["accuracy"] = out["n_correct"] / out["n_gold"].where(out["n_gold"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["n_correct"].to_numpy(), out["n_gold"].to_numpy(), confidence=confidence)
    return out


def _coded_gold_counts(annotations: pd.DataFrame, gold: pd.DataFrame, by: list[str]) -> pd.DataFrame | None:
    """The ``by`` groups with ``n_gold`` and ``n_correct`` on integer codes, for compact annotations
    (categorical ``by`` columns without nulls) and gold aligned on their codes with one row per
    item (:func:`align_gold`); None otherwise (the join path then runs). Equal to the join path:
    groups in code order (the order ``sort_values`` gives categoricals), a null label never correct."""
    from pipeline.arrays import unique_sorted

    item, label = annotations["item_id"], annotations["label"]
    if not (isinstance(item.dtype, pd.CategoricalDtype) and gold["item_id"].dtype == item.dtype
            and gold["gold_label"].dtype == label.dtype and all(isinstance(annotations[c].dtype, pd.CategoricalDtype) for c in by)):
        return None
    gold_items = gold["item_id"].cat.codes.to_numpy().astype(np.int64)
    n_items = len(item.dtype.categories)
    if len(gold_items) and np.bincount(gold_items, minlength=n_items).max() > 1:
        return None
    codes = [annotations[c].cat.codes.to_numpy().astype(np.int64) for c in by]
    if any(len(c) and c.min() < 0 for c in codes):
        return None
    sizes = tuple(len(annotations[c].cat.categories) for c in by)
    key = np.ravel_multi_index(codes, sizes)  # orders as the codes do, column by column
    distinct = unique_sorted(key, bound=int(np.prod(sizes, dtype=np.int64)))
    group = np.searchsorted(distinct, key)
    truth = np.full(n_items + 1, -2, dtype=np.int64)  # -2: no gold; a null gold label's -1 never matches
    truth[gold_items] = gold["gold_label"].cat.codes.to_numpy()
    label_codes = label.cat.codes.to_numpy()
    row_truth = truth[item.cat.codes.to_numpy()]  # a null item's -1 picks the appended "no gold"
    on_gold = row_truth != -2
    correct = on_gold & (row_truth == label_codes) & (label_codes >= 0)
    out = pd.DataFrame({column: pd.Categorical.from_codes(part, dtype=cast(pd.CategoricalDtype, annotations[column].dtype))
                        for column, part in zip(by, np.unravel_index(distinct, sizes))})
    out["n_gold"] = np.bincount(group[on_gold], minlength=len(distinct)).astype(np.int64)
    out["n_correct"] = np.bincount(group[correct], minlength=len(distinct)).astype(np.int64)
    return out
