"""Cohen's kappa (unweighted, linear, quadratic) for two raters, from a confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.arrays import unique_sorted
from ._codes import Annotations, Encoded, encode
from ._sums import safe_div, undefined

__all__ = ["ConfusionStats", "KappaWeights", "cohen_kappa", "confusion"]

KappaWeights = Literal["linear", "quadratic"] | None


@dataclass(frozen=True, eq=False)
class ConfusionStats:
    """Two-rater confusion matrix: mergeable sufficient statistics of Cohen's kappa.

    ``matrix[j, k]`` counts items that rater ``raters[0]`` labelled
    ``categories[j]`` and rater ``raters[1]`` labelled ``categories[k]``.
    Statistics of batches split by item add with ``+``.
    """

    categories: np.ndarray
    matrix: np.ndarray
    raters: tuple[Any, Any]

    @property
    def n_items(self) -> int:
        """Items labelled by both raters."""
        return int(self.matrix.sum())

    def __add__(self, other: ConfusionStats) -> ConfusionStats:
        if not isinstance(other, ConfusionStats):
            return NotImplemented
        if tuple(other.raters) == tuple(self.raters[::-1]) and self.raters[0] != self.raters[1]:
            other = ConfusionStats(other.categories, other.matrix.T, self.raters)
        elif tuple(other.raters) != tuple(self.raters):
            raise ValueError(f"cannot add confusion matrices of rater pairs {self.raters} and {other.raters}")
        cats = pd.Index(self.categories).union(pd.Index(other.categories), sort=None)
        try:
            cats = cats.sort_values()
        except TypeError:
            pass
        out = np.zeros((len(cats), len(cats)), dtype=np.int64)
        for part in (self, other):
            pos = cats.get_indexer(pd.Index(part.categories))
            out[np.ix_(pos, pos)] += part.matrix
        return ConfusionStats(np.asarray(cats.to_numpy()), out, self.raters)


def weight_matrix(n_categories: int, weights: KappaWeights) -> np.ndarray:
    """Disagreement weights on category positions (as scikit-learn's ``cohen_kappa_score``)."""
    idx = np.arange(n_categories, dtype=np.float64)
    if weights is None:
        return 1.0 - np.eye(n_categories)
    if weights == "linear":
        return np.abs(idx[:, None] - idx[None, :])
    if weights == "quadratic":
        return (idx[:, None] - idx[None, :]) ** 2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def kappa_from_confusion(matrix: np.ndarray, weights: KappaWeights = None) -> np.ndarray:
    """``1 - sum(W * O) / sum(W * E)`` over the last two axes (vectorised)."""
    o = np.asarray(matrix, dtype=np.float64)
    n = o.sum(axis=(-2, -1))
    w = weight_matrix(o.shape[-1], weights)
    rows = o.sum(axis=-1)
    cols = o.sum(axis=-2)
    expected = np.einsum("...j,jk,...k->...", rows, w, cols) / np.where(n == 0, 1.0, n)
    observed = np.einsum("...jk,jk->...", o, w)
    # counts and weights are integers: expected is exactly 0 when chance agreement is total
    return 1.0 - safe_div(observed, expected)


def _one_label_per_item(enc: Encoded, rows: np.ndarray, rater: Any) -> None:
    per_item = np.bincount(enc.item[rows], minlength=enc.n_item_slots)
    dup = np.flatnonzero(per_item > 1)
    if dup.size:
        raise ValueError(
            f"annotator {rater!r} gave more than one label to {dup.size} item(s), e.g. item_id "
            f"{enc.item_ids[dup[0]]!r}; Cohen's kappa needs one label per rater and item "
            "(deduplicate, e.g. keep each annotator's latest label)"
        )


def _select_raters(enc: Encoded, raters: Sequence[Any] | None) -> tuple[int, int]:
    assert enc.annotator is not None and enc.annotators is not None
    present = unique_sorted(enc.annotator)
    if raters is None:
        if present.size != 2:
            names = [enc.annotators[c] for c in present[:6]]
            raise ValueError(
                f"cohen_kappa needs exactly two raters, but the annotations have {present.size} annotators "
                f"(e.g. {names!r}); pass raters=(a, b) to choose a pair, or use fleiss_kappa / "
                "krippendorff_alpha / pairwise_kappa_matrix for more raters"
            )
        return int(present[0]), int(present[1])
    if isinstance(raters, (str, bytes)) or len(raters) != 2:
        raise ValueError(f"raters must be a pair (a, b) of annotator_id values, got {raters!r}")
    pos = pd.Index(enc.annotators).get_indexer(list(raters))
    for r, p in zip(raters, pos):
        if p < 0 or not np.isin(p, present):
            raise ValueError(f"rater {r!r} has no labels in the annotations (annotator_id values)")
    if pos[0] == pos[1]:
        raise ValueError(f"raters must be two different annotators, got {raters!r}")
    return int(pos[0]), int(pos[1])


def confusion(
    annotations: Annotations,
    *,
    raters: Sequence[Any] | None = None,
    labels: Sequence[Any] | None = None,
) -> ConfusionStats:
    """Confusion matrix of two raters over the items both labelled.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        Long format (``item_id``, ``annotator_id``, ``label``; one row per
        label an annotator gave an item; null labels dropped).
    raters : pair of annotator ids, optional
        Required when the annotations have more than two annotators.
    labels : sequence, optional
        Category domain and order (matters for weighted kappa).  Default:
        the sorted labels occurring on the items both raters labelled.

    Returns
    -------
    ConfusionStats
    """
    enc = encode(annotations, labels=labels, annotator=True)
    assert enc.annotator is not None and enc.annotators is not None
    a, b = _select_raters(enc, raters)
    labs = []
    for code in (a, b):
        rows = np.flatnonzero(enc.annotator == code)
        _one_label_per_item(enc, rows, enc.annotators[code])
        lab = np.full(enc.n_item_slots, -1, dtype=np.int64)
        lab[enc.item[rows]] = enc.label[rows]
        labs.append(lab)
    both = (labs[0] >= 0) & (labs[1] >= 0)
    la, lb = labs[0][both], labs[1][both]
    cats = enc.categories
    n_cat = len(cats)
    if labels is None:
        used = np.flatnonzero(np.bincount(np.r_[la, lb], minlength=n_cat) > 0)
        remap = np.full(n_cat, -1, dtype=np.int64)
        remap[used] = np.arange(used.size)
        la, lb, cats, n_cat = remap[la], remap[lb], cats[used], used.size
    mat = np.bincount(la * n_cat + lb, minlength=n_cat * n_cat).reshape(n_cat, n_cat).astype(np.int64)
    return ConfusionStats(np.asarray(cats), mat, (enc.annotators[a], enc.annotators[b]))


def cohen_kappa(
    annotations: Annotations | ConfusionStats,
    *,
    raters: Sequence[Any] | None = None,
    weights: KappaWeights = None,
    labels: Sequence[Any] | None = None,
) -> float:
    r"""Cohen's kappa between two raters, optionally weighted.

    .. math::

        \kappa_w = 1 - \frac{\sum_{j,k} w_{jk}\, o_{jk}}{\sum_{j,k} w_{jk}\, e_{jk}},
        \qquad e_{jk} = \frac{o_{j\cdot}\, o_{\cdot k}}{n}

    over the ``n`` items labelled by both raters, with ``w_jk = [j != k]``
    (unweighted, = ``(p_o - p_e) / (1 - p_e)``), ``|j - k|`` (linear) or
    ``(j - k)^2`` (quadratic) on category *positions* in ``labels``
    (default: sorted labels), as :func:`sklearn.metrics.cohen_kappa_score`.

    Parameters
    ----------
    annotations : pandas.DataFrame, pyarrow.Table or ConfusionStats
        Long format (data contract of ``pipeline/contract.py``): ``item_id``,
        ``annotator_id``, ``label``; one row per label an annotator gave an
        item; null labels dropped; other columns ignored.  Each rater must
        give at most one label per item.  Or a :func:`confusion` result.
    raters : pair of annotator ids, optional
        Which two annotators to compare.  Required (else ``ValueError``)
        when the annotations contain more than two annotators.
    weights : {None, "linear", "quadratic"}
        Disagreement weighting.
    labels : sequence, optional
        Category domain and order.

    Returns
    -------
    float
        NaN with :class:`UndefinedAgreementWarning` when the raters share no
        item or chance agreement is total (both used the same single category).

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales.
    Educational and Psychological Measurement 20(1), 37-46.
    Cohen, J. (1968). Weighted kappa. Psychological Bulletin 70(4), 213-220.
    """
    weight_matrix(1, weights)  # validate early
    stats = annotations if isinstance(annotations, ConfusionStats) else confusion(
        annotations, raters=raters, labels=labels
    )
    if stats.n_items == 0:
        return undefined("cohen_kappa", f"raters {stats.raters!r} share no labelled item")
    value = float(kappa_from_confusion(stats.matrix, weights))
    if np.isnan(value):
        return undefined(
            "cohen_kappa", "chance agreement is total (both raters used one and the same category on shared items)"
        )
    return value
