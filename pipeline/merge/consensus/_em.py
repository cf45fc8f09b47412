"""EM building blocks shared by the Dawid-Skene family (Dawid-Skene, one-coin, MACE)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._encoding import Encoded, clamp_to_gold

# --------------------------------------------------------------------------------------------
# EM building blocks shared by the Dawid-Skene family
# --------------------------------------------------------------------------------------------
def design_matrix(enc: Encoded) -> Any:
    """Sparse CSR count matrix ``X`` of shape ``(n_items, n_annotators * n_classes)``.

    ``X[i, a * K + l]`` is how many times annotator ``a`` gave label ``l`` to item ``i``.
    Built from the canonically sorted rows, so its layout does not depend on the input order.
    """
    from scipy import sparse

    n_cols = enc.n_annotators * enc.n_classes
    col = enc.annotator * enc.n_classes + enc.label
    if enc.n_rows:
        # rows are sorted by (item, annotator, label): duplicates are adjacent
        new = np.ones(enc.n_rows, dtype=bool)
        new[1:] = (enc.item[1:] != enc.item[:-1]) | (col[1:] != col[:-1])
        starts = np.flatnonzero(new)
        data = np.diff(np.append(starts, enc.n_rows)).astype(np.float64)
        rows, cols = enc.item[starts], col[starts]
    else:
        data = np.zeros(0)
        rows = cols = np.zeros(0, dtype=np.int64)
    indptr = np.zeros(enc.n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=enc.n_items), out=indptr[1:])
    return sparse.csr_matrix((data, cols, indptr), shape=(enc.n_items, n_cols))


def softmax_columns(
    logits: np.ndarray, offset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise softmax of ``logits + offset[:, None]`` in log space, in place.

    ``logits`` has shape (n_classes, n_items): the "classes x items" layout keeps every
    reduction on contiguous memory (reducing a short last axis is ~10x slower in numpy).
    Returns ``(probas, logsumexp)`` with shapes (n_classes, n_items) and (n_items,). Shifted
    logits are floored at -700 (exp would go subnormal: slow, and below 1e-304 anyway), so
    nothing under- or overflows however many annotators an item has.
    """
    if logits.shape[1] == 0:
        return logits, np.zeros(0)
    if offset is not None:  # per-class offset, e.g. the log prior
        logits += offset[:, None]
    top = logits.max(axis=0)
    logits -= top
    np.maximum(logits, -700.0, out=logits)
    np.exp(logits, out=logits)
    total = logits.sum(axis=0)
    logits /= total
    return logits, np.log(total) + top


def posterior_step(
    logits: np.ndarray, log_prior: np.ndarray, gold: np.ndarray, gold_rows: np.ndarray
) -> tuple[np.ndarray, float]:
    """E-step tail shared by the EM estimators: posteriors and the data log-likelihood.

    ``logits`` (classes, items) holds each item's log-likelihood under each true class;
    returns ``(Tt, log_likelihood)`` with ``Tt`` the column-softmax of ``logits + log_prior``
    and ``log_likelihood = sum_i log sum_k p_k L_ik``. Gold items (``gold_rows``) are clamped
    to their gold label and contribute the joint term ``log p_g + log L_ig`` instead.
    """
    joint_gold = logits[gold[gold_rows], gold_rows] + log_prior[gold[gold_rows]]
    Tt, lse = softmax_columns(logits, log_prior)
    lse[gold_rows] = joint_gold
    clamp_to_gold(Tt, gold, transposed=True)
    return Tt, float(lse.sum())


def record_em_fit(estimator: Any, n_iter: int, converged: bool, history: list[float]) -> None:
    """Set ``n_iter_``, ``converged_``, ``log_likelihood_`` and ``log_likelihood_history_``."""
    estimator.n_iter_ = n_iter
    estimator.converged_ = converged
    estimator.log_likelihood_ = history[-1] if history else 0.0
    estimator.log_likelihood_history_ = history
