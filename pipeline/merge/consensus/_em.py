"""EM shared by the Dawid-Skene family (Dawid-Skene, one-coin, MACE): one base estimator that
runs the loop, and its building blocks."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._base import BaseAggregator
from ._encoding import Encoded, clamp_to_gold


def check_em_settings(max_iter: Any, tol: Any, alpha: Any) -> None:
    """Raise ``ValueError`` naming a bad ``max_iter`` (positive int), ``tol`` or ``alpha`` (finite, >= 0)."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not isinstance(tol, (int, float, np.floating)) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    if not isinstance(alpha, (int, float, np.floating)) or not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")


class EMAggregator(BaseAggregator):
    """Base of the EM estimators: posteriors start at the vote shares (gold items clamped), then
    each iteration's model step (:meth:`_em_iteration`: M-step from the posteriors, the
    per-class log-likelihood of each item, the log prior) is followed by the shared E-step
    (:func:`posterior_step`) until the data log-likelihood changes by at most ``tol`` per label
    or ``max_iter`` is reached; :meth:`_em_finish` stores the fitted parameters.

    Subclasses implement :meth:`_em_start`, :meth:`_em_iteration` and :meth:`_em_finish`; the
    state they pass between them is theirs.
    """

    def __init__(
        self,
        labels: Sequence[Any] | None = None,
        *,
        max_iter: int = 100,
        tol: float = 1e-6,
        alpha: float = 0.01,
        clamp_gold: bool = True,
    ) -> None:
        check_em_settings(max_iter, tol, alpha)
        super().__init__(labels=labels)
        self.max_iter = max_iter
        self.tol = tol
        self.alpha = alpha
        self.clamp_gold = clamp_gold

    @abstractmethod
    def _em_start(self, enc: Encoded) -> dict[str, Any]:
        """The model's state before the first iteration."""

    @abstractmethod
    def _em_iteration(self, enc: Encoded, Tt: np.ndarray, state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """M-step from the posteriors ``Tt`` (classes, items), updating ``state``; returns the
        logits (classes, items: each item's log-likelihood under each true class) and the log prior."""

    @abstractmethod
    def _em_finish(self, enc: Encoded, state: dict[str, Any]) -> None:
        """Store the fitted parameters (``skills_``, ``confusion_matrices_`` ...) from ``state``."""

    def _fit_encoded(self, enc: Encoded) -> np.ndarray:
        gold = enc.gold if self.clamp_gold else np.full(enc.n_items, -1, dtype=np.int64)
        gold_rows = np.flatnonzero(gold >= 0)
        # posteriors as Tt, shape (classes, items): see softmax_columns
        Tt = np.ascontiguousarray((enc.counts / np.maximum(enc.n_annotations, 1)[:, None]).T)
        clamp_to_gold(Tt, gold, transposed=True)
        state = self._em_start(enc)
        history: list[float] = []
        converged = False
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1 if enc.n_items else 1):
            logits, log_prior = self._em_iteration(enc, Tt, state)
            Tt, log_likelihood = posterior_step(logits, log_prior, gold, gold_rows)
            history.append(log_likelihood)
            if len(history) > 1 and abs(history[-1] - history[-2]) <= self.tol * enc.n_rows:
                converged = True
                break
        record_em_fit(self, n_iter, converged, history)
        self._em_finish(enc, state)
        return np.ascontiguousarray(Tt.T)

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
