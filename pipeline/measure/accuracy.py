"""Accuracy of vendors and annotators against gold items, with Wilson score intervals."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
import pandas as pd

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
    import pyarrow as pa
    import pyarrow.compute as pc

    extra = pd.Index(gold["gold_label"].dropna().unique()).difference(label.categories)
    if len(extra):
        labels = label.categories.append(extra).sort_values()
        annotations = annotations.assign(label=annotations["label"].cat.set_categories(labels))
        label = annotations["label"].dtype
    # one hash build over the item categories gives each gold item its code (null: nobody labelled it)
    at = pc.index_in(pa.array(gold["item_id"], from_pandas=True), value_set=pa.array(item.categories, pa.string()))
    codes = np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
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
