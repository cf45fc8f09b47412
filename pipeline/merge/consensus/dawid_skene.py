"""Dawid-Skene confusion-matrix EM, vectorised and in log space."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._em import EMAggregator, design_matrix
from ._encoding import Encoded

__all__ = ["DawidSkene"]

#: floor for probabilities before taking logs (only matters with ``alpha=0``)
_PROB_FLOOR = 1e-300


class DawidSkene(EMAggregator):
    r"""Dawid-Skene model: one full confusion matrix per annotator, fitted by EM.

    Model. Item :math:`i` has a latent true class :math:`z_i \sim \text{Cat}(p)`. Given
    :math:`z_i = k`, annotator :math:`a` answers :math:`l` with probability
    :math:`\pi^{(a)}_{kl}` independently of everything else, so

    .. math::

        P(z_i = k \mid y) \propto p_k \prod_{r:\, item(r)=i} \pi^{(a_r)}_{k\, y_r}.

    EM (Dawid & Skene 1979), starting from the majority-vote shares :math:`T^{(0)}_{ik}`:

    - M-step (MAP with a symmetric Dirichlet pseudo-count :math:`\alpha`):
      :math:`\pi^{(a)}_{kl} = (\alpha + \sum_{r: a_r=a, y_r=l} T_{i_r k}) / (K\alpha +
      \sum_{r: a_r=a} T_{i_r k})`, :math:`p_k = (\alpha + \sum_i T_{ik}) / (K\alpha + n)`.
    - E-step in log space: :math:`\log T_{ik} = \log p_k + \sum_r \log \pi^{(a_r)}_{k y_r} -
      \operatorname{logsumexp}_k(\cdot)`, computed as one sparse product
      :math:`X \log\Pi` where :math:`X` is the items x (annotator, label) count matrix. No
      products of probabilities are ever formed, so hundreds of annotators per item cannot
      underflow.
    - Gold items (``gold=``) are clamped to their gold label at initialisation and after every
      E-step, so they anchor the confusion matrices.

    Iterations stop when the observed-data log-likelihood
    :math:`\ell = \sum_i \log \sum_k p_k \prod_r \pi^{(a_r)}_{k y_r}` changes by less than
    ``tol`` per annotation, or after ``max_iter`` iterations. Exact ties between posteriors are
    broken by the :class:`~pipeline.merge.consensus.MajorityVote` tie rule.

    Parameters
    ----------
    labels : sequence, optional
        Full ordered label set (unused classes still exist; order = tie order).
    max_iter : int, default 100
        Iteration cap.
    tol : float, default 1e-6
        Convergence tolerance on the log-likelihood change per annotation.
    alpha : float, default 0.01
        Dirichlet smoothing pseudo-count added to every confusion-matrix cell and to the class
        prior counts. Keeps rarely seen (annotator, class) rows away from 0/1.
    clamp_gold : bool, default True
        Clamp gold items to their gold label (only matters when ``gold`` is given to ``fit``).

    Attributes
    ----------
    labels_, probas_, result_, classes_, tie_order_
        See :class:`~pipeline.merge.consensus._base.BaseAggregator`.
    priors_ : pandas.Series
        Class prior :math:`p`, indexed by label.
    confusion_matrices_ : pandas.DataFrame
        Index ``(annotator_id, true_label)``, columns observed ``label``; rows sum to 1:
        ``confusion_matrices_.loc[(a, k), l]`` = :math:`\pi^{(a)}_{kl}`.
    skills_ : pandas.Series
        Per-annotator accuracy implied by the model, :math:`\sum_k p_k \pi^{(a)}_{kk}`.
    n_iter_ : int
        EM iterations run.
    converged_ : bool
        Whether ``tol`` was reached before ``max_iter``.
    log_likelihood_ : float
        Final observed-data log-likelihood :math:`\ell` (gold items: joint with their label).
    log_likelihood_history_ : list of float

    Notes
    -----
    Data contract: ``annotations`` has ``item_id``, ``annotator_id``, ``label`` (one row per
    label an annotator gave an item); ``gold`` has ``item_id``, ``gold_label``. Cost per
    iteration is O(n_rows * K + n_annotators * K^2), with no per-item Python loop.

    References
    ----------
    .. [1] A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates
       using the EM algorithm", Journal of the Royal Statistical Society C 28(1):20-28, 1979.
       https://doi.org/10.2307/2346806
    .. [2] Y. Zheng, G. Li, Y. Li, C. Shan, R. Cheng, "Truth inference in crowdsourcing: is the
       problem solved?", PVLDB 10(5):541-552, 2017.
    .. [3] Toloka crowd-kit, ``crowdkit.aggregation.classification.DawidSkene``.
    """

    # model-specific M-step ----------------------------------------------------------------
    def _log_confusion(self, expected: np.ndarray, enc: Encoded) -> np.ndarray:
        """``expected[a, l, k]`` = expected count of (annotator a said l | true k).

        Returns ``log pi`` laid out as ``[a, l, k]`` (normalised over ``l``).
        """
        smoothed = expected + self.alpha
        total = smoothed.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = np.divide(smoothed, total, out=np.full_like(smoothed, 1.0 / enc.n_classes),
                              where=total > 0)
        return np.log(np.maximum(probs, _PROB_FLOOR))

    # EM steps (the loop is EMAggregator's) -----------------------------------------------
    def _em_start(self, enc: Encoded) -> dict[str, Any]:
        X = design_matrix(enc)  # (items, annotators*classes) counts
        return {"X": X, "XT": X.T.tocsr(), "log_pi": np.zeros((enc.n_annotators, enc.n_classes, enc.n_classes)),
                "log_prior": np.zeros(enc.n_classes)}

    def _em_iteration(self, enc: Encoded, Tt: np.ndarray, state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        n_items, n_ann, n_cls = enc.n_items, enc.n_annotators, enc.n_classes
        X, XT = state["X"], state["XT"]
        # M-step: expected[a, l, k] = sum over rows (a said l) of T[item, k]
        expected = np.empty((n_ann * n_cls, n_cls))
        for k in range(n_cls):
            expected[:, k] = XT @ Tt[k]
        log_pi = self._log_confusion(expected.reshape(n_ann, n_cls, n_cls), enc)
        prior = (Tt.sum(axis=1) + self.alpha) / (n_items + n_cls * self.alpha)
        log_prior = np.log(np.maximum(prior, _PROB_FLOOR))
        # E-step in log space: logits[k, i] = log p_k + sum_r log pi[a_r, k, y_r] (the prior is added later)
        log_pi_t = np.ascontiguousarray(log_pi.reshape(n_ann * n_cls, n_cls).T)
        logits = np.empty((n_cls, n_items))
        for k in range(n_cls):
            logits[k] = X @ log_pi_t[k]
        state["log_pi"], state["log_prior"] = log_pi, log_prior
        return logits, log_prior

    def _em_finish(self, enc: Encoded, state: dict[str, Any]) -> None:
        self._set_parameters(enc, state["log_pi"], state["log_prior"])

    def _set_parameters(self, enc: Encoded, log_pi: np.ndarray, log_prior: np.ndarray) -> None:
        classes = enc.classes.rename("label")
        pi = np.exp(log_pi).transpose(0, 2, 1)  # [a, k(true), l(observed)]
        prior = np.exp(log_prior)
        self.priors_ = pd.Series(prior, index=classes, name="prior")
        index = pd.MultiIndex.from_product(
            [enc.annotators, enc.classes], names=["annotator_id", "true_label"]
        )
        self.confusion_matrices_ = pd.DataFrame(
            pi.reshape(len(index), enc.n_classes), index=index, columns=classes
        )
        diag = np.diagonal(pi, axis1=1, axis2=2) if enc.n_classes else np.zeros((len(pi), 0))
        self.skills_ = pd.Series(
            diag @ prior, index=enc.annotators.rename("annotator_id"), name="skill"
        )
