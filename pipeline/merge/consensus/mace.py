"""MACE (Multi-Annotator Competence Estimation): who answers truthfully and who spams, by EM."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._encoding import Encoded
from .dawid_skene import _PROB_FLOOR, DawidSkene

__all__ = ["MACE"]


class MACE(DawidSkene):
    r"""MACE: annotator :math:`j` knows the answer with probability :math:`\theta_j`
    (competence), otherwise spams a label drawn from its own distribution :math:`\xi_j`.

    Model (Hovy et al. 2013). Item :math:`i` has a latent true class :math:`z_i`, uniform over
    the :math:`K` classes. For each label :math:`r` that annotator :math:`j = a_r` gives item
    :math:`i`, a latent spam indicator :math:`s_r \sim \text{Bernoulli}(1 - \theta_j)` decides:
    :math:`y_r = z_i` if :math:`s_r = 0`, else :math:`y_r \sim \text{Cat}(\xi_j)`. Hence

    .. math::

        P(y_r = l \mid z_i = k) = \theta_j [l = k] + (1 - \theta_j)\, \xi_{jl},
        \qquad P(z_i = k \mid y) \propto \prod_{r:\, item(r)=i} P(y_r \mid z_i = k).

    EM over :math:`(z, s)`, vectorised over the label rows with ``np.bincount``:

    - E-step in log space: with :math:`w_r = \log((1 - \theta_j)\xi_{j y_r})` and
      :math:`c_r = \log(\theta_j + (1 - \theta_j)\xi_{j y_r})`,
      :math:`\log T_{ik} = \sum_r w_r + \sum_{r:\, y_r = k} (c_r - w_r) -
      \operatorname{logsumexp}_k(\cdot)`. Never a product of probabilities, so any number of
      labels per item is safe.
    - Expected "knew it" indicator of row :math:`r`:
      :math:`\kappa_r = T_{i y_r}\, \theta_j / (\theta_j + (1 - \theta_j)\xi_{j y_r})`
      (a row whose label differs from the true class must be spam).
    - M-step with add-:math:`\alpha` smoothing of the fractional counts (the paper's EM
      variant; the variational-Bayes variant with Beta/Dirichlet priors is not implemented):
      :math:`\theta_j = (\alpha + \sum_{r: a_r = j} \kappa_r) / (2\alpha + n_j)`,
      :math:`\xi_{jl} = (\alpha + \sum_{r: a_r = j, y_r = l} (1 - \kappa_r)) /
      (K\alpha + \sum_{r: a_r = j} (1 - \kappa_r))`.
    - Gold items (``gold=``) are clamped to their gold label at initialisation and after every
      E-step, so they anchor competences and spamming distributions.

    MACE is thus a Dawid-Skene model with a constrained confusion matrix
    :math:`\pi^{(j)} = \theta_j I + (1 - \theta_j) \mathbf{1} \xi_j^\top` and a fixed uniform
    prior: it shares :class:`~pipeline.merge.consensus.DawidSkene`'s settings and reports its
    parameters in the same form too, but has its own EM.

    Deterministic start (no random restarts): the first M-step uses the majority-vote shares
    as :math:`T` and :math:`\theta_j = 1/2`, :math:`\xi_j` uniform as the "current" parameters.
    Iterations stop when the observed-data log-likelihood
    :math:`\ell = \sum_i \log \frac{1}{K} \sum_k \prod_r P(y_r \mid z_i = k)` changes by less
    than ``tol`` per annotation, or after ``max_iter`` iterations. Exact ties between
    posteriors are broken by the :class:`~pipeline.merge.consensus.MajorityVote` tie rule.

    Parameters
    ----------
    labels : sequence, optional
        Full ordered label set (unused classes still exist; order = tie order).
    max_iter : int, default 100
        Iteration cap.
    tol : float, default 1e-6
        Convergence tolerance on the log-likelihood change per annotation.
    alpha : float, default 0.01
        Pseudo-count added to each fractional count (knew / spammed, and every spam label)
        before normalising; MACE's reference implementation uses ``0.01 / K``.
    clamp_gold : bool, default True
        Clamp gold items to their gold label (only matters when ``gold`` is given to ``fit``).

    Attributes
    ----------
    labels_, probas_, result_, classes_, tie_order_
        See :class:`~pipeline.merge.consensus._base.BaseAggregator`.
    competence_ : pandas.Series
        :math:`\theta_j` per ``annotator_id``: probability of answering truthfully (not the
        accuracy, which is :math:`\theta_j + (1 - \theta_j)\xi_{j z}`).
    spamming_ : pandas.DataFrame
        :math:`\xi_j`: annotators x labels, rows sum to 1; what each annotator answers when
        spamming.
    confusion_matrices_, priors_, skills_
        As in :class:`~pipeline.merge.consensus.DawidSkene`: the implied :math:`\pi^{(j)}`, the
        uniform prior, and the implied accuracy :math:`\theta_j + (1 - \theta_j) / K`.
    n_iter_, converged_, log_likelihood_, log_likelihood_history_
        As in :class:`~pipeline.merge.consensus.DawidSkene` (:math:`\ell` above).

    Notes
    -----
    Input: the labelq long format (``item_id``, ``annotator_id``, ``label``; gold as
    ``item_id``, ``gold_label``). Each iteration costs O(n_rows + n_items * K +
    n_annotators * K) with no per-row Python loop.
    The true-class prior is uniform, as in the paper: on skewed classes (e.g. 88% negatives)
    this costs accuracy against :class:`~pipeline.merge.consensus.DawidSkene`, which learns it.
    With a single informative annotator :math:`\theta_j` is not identified (the likelihood is
    flat along it); agreement between annotators is what pins competences down.

    References
    ----------
    .. [1] D. Hovy, T. Berg-Kirkpatrick, A. Vaswani, E. Hovy, "Learning Whom to Trust with
       MACE", Proceedings of NAACL-HLT 2013, pp. 1120-1130. https://aclanthology.org/N13-1132
    .. [2] Toloka crowd-kit, ``crowdkit.aggregation.classification.MACE``.
    """

    @staticmethod
    def _log_tables(competence: np.ndarray, spamming: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per (annotator, label) tables, shape (n_annotators, K): ``log P(y=l | z != l)``,
        ``log P(y=l | z=l)`` and ``P(knew it | y=l, z=l)``."""
        log_know = np.log(np.maximum(competence, _PROB_FLOOR))[:, None]
        log_spam = np.log(np.maximum(1.0 - competence, _PROB_FLOOR))[:, None] + np.log(
            np.maximum(spamming, _PROB_FLOOR)
        )
        log_same = np.logaddexp(log_know, log_spam)
        return log_spam, log_same, np.exp(log_know - log_same)

    def _m_step(
        self, knew: np.ndarray, enc: Encoded, pair: np.ndarray, n_per_annotator: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed competence and spamming distributions from the expected indicators."""
        n_ann, n_cls, a = enc.n_annotators, enc.n_classes, self.alpha
        competence = (np.bincount(enc.annotator, knew, n_ann) + a) / (n_per_annotator + 2 * a)
        spam = np.bincount(pair, 1.0 - knew, n_ann * n_cls).reshape(n_ann, n_cls) + a
        total = spam.sum(axis=1, keepdims=True)
        spamming = np.divide(spam, total, out=np.full_like(spam, 1.0 / max(n_cls, 1)),
                             where=total > 0)
        return competence, spamming

    def _em_start(self, enc: Encoded) -> dict[str, Any]:
        n_items, n_ann, n_cls = enc.n_items, enc.n_annotators, enc.n_classes
        competence = np.full(n_ann, 0.5)
        spamming = np.full((n_ann, n_cls), 1.0 / max(n_cls, 1))
        return {"pair": enc.annotator * n_cls + enc.label,  # row -> (annotator, label) cell
                "cell": enc.label * n_items + enc.item,  # row -> (label, item) cell of Tt
                "n_per_annotator": np.bincount(enc.annotator, minlength=n_ann).astype(np.float64),
                "log_uniform": np.full(n_cls, -np.log(max(n_cls, 1))),
                "competence": competence, "spamming": spamming,
                "knew_if_same": self._log_tables(competence, spamming)[2]}

    def _em_iteration(self, enc: Encoded, Tt: np.ndarray, state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        n_items, n_cls = enc.n_items, enc.n_classes
        pair, cell = state["pair"], state["cell"]
        knew = Tt.ravel()[cell] * state["knew_if_same"].ravel()[pair]
        competence, spamming = self._m_step(knew, enc, pair, state["n_per_annotator"])
        log_spam, log_same, state["knew_if_same"] = self._log_tables(competence, spamming)
        state["competence"], state["spamming"] = competence, spamming
        spam_r = log_spam.ravel()[pair]
        logits = np.bincount(cell, log_same.ravel()[pair] - spam_r, n_cls * n_items)
        logits = logits.reshape(n_cls, n_items) + np.bincount(enc.item, spam_r, n_items)
        return logits, state["log_uniform"]

    def _em_finish(self, enc: Encoded, state: dict[str, Any]) -> None:
        n_cls = enc.n_classes
        competence, spamming = state["competence"], state["spamming"]
        annotators = enc.annotators.rename("annotator_id")
        self.competence_ = pd.Series(competence, index=annotators, name="competence")
        self.spamming_ = pd.DataFrame(spamming, index=annotators,
                                      columns=enc.classes.rename("label"))
        log_spam, log_same, _ = self._log_tables(competence, spamming)
        log_pi = np.repeat(log_spam[:, :, None], n_cls, axis=2)  # [a, l(observed), k(true)]
        diag = np.arange(n_cls)
        log_pi[:, diag, diag] = log_same
        self._set_parameters(enc, log_pi, state["log_uniform"])
