"""Cohen's kappa for every pair of annotators (or of vendors), in one vectorised pass."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.arrays import first_occurrences, unique_sorted
from ._codes import Annotations, check_columns, encode, group_counts
from ._sums import UndefinedAgreementWarning
from .kappa import KappaWeights, kappa_from_confusion, weight_matrix

__all__ = ["majority_labels", "pairwise_kappa", "pairwise_kappa_matrix"]

_PAIR_CHUNK = 1 << 22  # label pairs generated at once
#: Largest rater count :func:`pairwise_kappa_matrix` builds a dense matrix for (8 * n^2 bytes: 800 MB).
MAX_DENSE_RATERS = 10_000


def majority_labels(
    rater: np.ndarray, item: np.ndarray, label: np.ndarray, n_items: int, n_cat: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One label per (rater, item): the majority of the rater's labels on the item.

    Ties go to the category that comes first in the category order (sorted
    labels, or ``labels``).  Returns ``(rater, item, label)`` arrays.
    """
    unit = rater * n_items + item
    keys, counts = group_counts(unit * n_cat + label, int(rater.max(initial=0) + 1) * n_items * n_cat)
    units = keys // n_cat
    cats = keys - units * n_cat
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, units.size]))
    best = np.maximum.reduceat(counts, starts)
    winners = np.flatnonzero(counts == best[seg])
    _, first = np.unique(seg[winners], return_index=True)  # keys ascend in category within a unit
    pick = winners[first]
    return units[pick] // n_items, units[pick] % n_items, cats[pick]


def _pair_confusions(
    rater: np.ndarray, item: np.ndarray, label: np.ndarray, n_raters: int, n_cat: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confusion counts of every co-occurring rater pair ``a < b``: (a, b, (P, V, V) tensor)."""
    order = np.argsort(item, kind="stable")
    r, it, v = rater[order], item[order], label[order]
    starts = np.flatnonzero(np.r_[True, it[1:] != it[:-1]])
    sizes = np.diff(np.r_[starts, it.size])
    pos_in_item = np.arange(it.size) - np.repeat(starts, sizes)
    partners = np.repeat(sizes, sizes) - 1 - pos_in_item  # later rows of the same item
    key_space = n_raters * n_raters * n_cat * n_cat
    all_keys: list[np.ndarray] = []
    # chunk rows so at most ~_PAIR_CHUNK pairs are materialised at once
    total = int(partners.sum())
    n_chunks = max(1, -(-total // _PAIR_CHUNK))
    cuts = np.searchsorted(np.cumsum(partners), np.arange(1, n_chunks) * _PAIR_CHUNK)
    edges = np.unique(np.r_[0, cuts, it.size])
    for lo, hi in zip(edges[:-1], edges[1:]):  # loop over chunks of rows, not items
        rows = np.arange(lo, hi)
        cnt = partners[lo:hi]
        rep = np.repeat(rows, cnt)
        block = np.repeat(np.r_[0, np.cumsum(cnt)[:-1]], cnt)
        mate = rep + 1 + (np.arange(rep.size) - block)
        a, b, va, vb = r[rep], r[mate], v[rep], v[mate]
        swap = a > b
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        va, vb = np.where(swap, vb, va), np.where(swap, va, vb)
        all_keys.append(((a * n_raters + b) * n_cat + va) * n_cat + vb)
    keys = np.concatenate(all_keys) if all_keys else np.empty(0, dtype=np.int64)
    flat, counts = group_counts(keys, key_space)
    pair = flat // (n_cat * n_cat)
    cell = flat - pair * (n_cat * n_cat)
    pair_ids, pair_idx = np.unique(pair, return_inverse=True)
    tensor = np.zeros((pair_ids.size, n_cat * n_cat), dtype=np.float64)
    np.add.at(tensor, (pair_idx, cell), counts)
    return pair_ids // n_raters, pair_ids % n_raters, tensor.reshape(-1, n_cat, n_cat)


def _rater_codes(
    annotations: Annotations, by: str, labels: Sequence[Any] | None, weights: KappaWeights
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(rater, item, label, rater names, n categories)``: one label per (rater, item)."""
    if by not in ("annotator_id", "vendor"):
        raise ValueError(f"by must be 'annotator_id' or 'vendor', got {by!r}")
    weight_matrix(1, weights)  # reject a bad weighting before any work
    if by == "vendor":
        check_columns(annotations, ("vendor",))
    enc = encode(annotations, labels=labels, annotator=by == "annotator_id", group="vendor" if by == "vendor" else None)
    n_cat = len(enc.categories)
    if by == "annotator_id":
        assert enc.annotator is not None and enc.annotators is not None
        rater, item, label, names = enc.annotator, enc.item, enc.label, enc.annotators
        unit, bound = rater * enc.n_item_slots + item, len(names) * enc.n_item_slots
        if not first_occurrences(unit, bound=bound).all():  # a presence map, no sort, when nothing repeats
            _, dup = group_counts(unit, bound)
            raise ValueError(
                f"{int((dup > 1).sum())} (annotator_id, item_id) pair(s) have more than one label; "
                "pairwise Cohen's kappa needs one label per rater and item (deduplicate first), "
                "or use by='vendor' for majority labels"
            )
        return rater, item, label, names, n_cat
    assert enc.group is not None and enc.groups is not None
    keep = enc.group >= 0
    rater, item, label = majority_labels(enc.group[keep], enc.item[keep], enc.label[keep], enc.n_item_slots, max(n_cat, 1))
    return rater, item, label, enc.groups, n_cat


def _pair_kappas(
    rater: np.ndarray, item: np.ndarray, label: np.ndarray, n_raters: int, n_cat: int, weights: KappaWeights
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(a, b, n_items, kappa)`` of every rater pair ``a < b`` (codes) that shares an item."""
    if not rater.size:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, np.empty(0)
    a, b, tensor = _pair_confusions(rater, item, label, n_raters, n_cat)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = kappa_from_confusion(tensor, weights) if tensor.size else np.empty(0)
    return a, b, tensor.sum(axis=(1, 2)).astype(np.int64), k


def pairwise_kappa(
    annotations: Annotations,
    *,
    by: Literal["annotator_id", "vendor"] = "annotator_id",
    weights: KappaWeights = None,
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    r"""Cohen's kappa of every pair of raters that share at least one item (long, sparse).

    The same kappas as :func:`pairwise_kappa_matrix`, but only for the pairs that can be compared:
    memory follows :math:`\sum_i m_i (m_i - 1) / 2` (label pairs within items), not the square of
    the number of raters (60,000 annotators would need a 26.8 GiB dense matrix).

    Returns
    -------
    pandas.DataFrame
        ``rater_a``, ``rater_b`` (``rater_a < rater_b`` when the ids are comparable), ``n_items``
        (items both labelled) and ``kappa`` (NaN where undefined: chance agreement 1), sorted by
        ``(rater_a, rater_b)``; one row per pair that shares an item.

    References
    ----------
    Cohen, J. (1960); Cohen, J. (1968) -- see :func:`cohen_kappa`.
    """
    rater, item, label, names, n_cat = _rater_codes(annotations, by, labels, weights)
    a, b, n_items, k = _pair_kappas(rater, item, label, len(names), n_cat, weights)
    na, nb = names[a].astype(object), names[b].astype(object)
    try:  # the smaller id first when ids are comparable (kappa is symmetric)
        swap = na > nb
        na, nb = np.where(swap, nb, na), np.where(swap, na, nb)
    except TypeError:
        pass
    out = pd.DataFrame({"rater_a": na, "rater_b": nb, "n_items": n_items, "kappa": k})
    try:
        out = out.sort_values(["rater_a", "rater_b"], kind="stable", ignore_index=True)
    except TypeError:
        pass
    return out


def pairwise_kappa_matrix(
    annotations: Annotations,
    *,
    by: Literal["annotator_id", "vendor"] = "annotator_id",
    weights: KappaWeights = None,
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    r"""Cohen's kappa between every pair of raters, on the items each pair shares.

    For raters ``a`` and ``b``, kappa is computed from the confusion matrix of
    the items both labelled (see :func:`cohen_kappa`; weights on category
    positions).  All pairs come from one self-join of labels within items
    (``sum_i m_i (m_i - 1) / 2`` pairs, generated in chunks), no
    items x annotators matrix.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        Long format (data contract of ``pipeline/contract.py``): ``item_id``,
        ``annotator_id``, ``label`` (+ ``vendor`` for ``by="vendor"``); one
        row per label an annotator gave an item; null labels dropped.
    by : {"annotator_id", "vendor"}
        The raters.  With ``"annotator_id"`` each annotator must give at most
        one label per item (else ``ValueError``).  With ``"vendor"`` a
        vendor's label on an item is the majority of its annotators' labels;
        **ties go to the category that comes first in the category order**
        (``labels`` if given, else sorted labels), so results are
        deterministic.
    weights : {None, "linear", "quadratic"}
        Kappa weighting.
    labels : sequence, optional
        Category domain and order.

    Returns
    -------
    pandas.DataFrame
        Square, symmetric, indexed and columned by rater (at most :data:`MAX_DENSE_RATERS`
        raters, else ``ValueError``: use :func:`pairwise_kappa`).  The diagonal is 1
        (NaN for a rater who used a single category); a pair is NaN when it
        shares no item or its kappa is undefined (chance agreement 1).

    References
    ----------
    Cohen, J. (1960); Cohen, J. (1968) -- see :func:`cohen_kappa`.
    """
    rater, item, label, names, n_cat = _rater_codes(annotations, by, labels, weights)
    n_raters = len(names)
    present = unique_sorted(rater)
    if present.size > MAX_DENSE_RATERS:
        raise ValueError(
            f"pairwise_kappa_matrix: {present.size} raters would need a dense {present.size} x {present.size} matrix "
            f"({8 * present.size ** 2 / 2 ** 30:.1f} GiB); use pairwise_kappa, the long table of the pairs that "
            "share an item")
    out = np.full((n_raters, n_raters), np.nan)
    if rater.size:
        a, b, _, k = _pair_kappas(rater, item, label, n_raters, n_cat, weights)
        out[a, b] = k
        out[b, a] = k
        used = np.bincount(rater * n_cat + label, minlength=n_raters * n_cat).reshape(n_raters, n_cat)
        diag = np.where((used > 0).sum(axis=1) >= 2, 1.0, np.nan)
        out[present, present] = diag[present]
        if present.size >= 2 and a.size == 0:
            warnings.warn(
                "pairwise_kappa_matrix: no two raters share an item; every off-diagonal kappa is NaN",
                UndefinedAgreementWarning,
                stacklevel=2,
            )
    try:  # rows/columns in sorted rater order when the ids are comparable
        present = present[np.argsort(names[present], kind="stable")]
    except TypeError:
        pass
    idx = pd.Index(names[present], name=by)
    return pd.DataFrame(out[np.ix_(present, present)], index=idx, columns=idx.rename(None))
