"""One-coin Dawid-Skene: one accuracy ("skill") per annotator, fitted by EM."""

from __future__ import annotations


import numpy as np
import pandas as pd

from ._encoding import Encoded
from .dawid_skene import _PROB_FLOOR, DawidSkene

__all__ = ["OneCoinDawidSkene"]


class OneCoinDawidSkene(DawidSkene):
    r"""One-coin Dawid-Skene: annotator :math:`a` is right with probability :math:`s_a`,
    otherwise picks one of the :math:`K-1` wrong labels uniformly.

    .. math::

        \pi^{(a)}_{kl} = \begin{cases} s_a & l = k \\ (1 - s_a)/(K - 1) & l \ne k \end{cases},
        \qquad P(z_i = k \mid y) \propto p_k \prod_{r:\, item(r)=i} \pi^{(a_r)}_{k\, y_r}.

    Same EM as :class:`~pipeline.merge.consensus.DawidSkene` (majority-vote start, log-space E-step,
    gold clamping, ``tol`` / ``max_iter``) except the M-step, which estimates one number per
    annotator (MAP with a symmetric Beta(:math:`\alpha+1, \alpha+1`) prior):

    .. math:: s_a = \frac{\alpha + \sum_{r: a_r = a} T_{i_r y_r}}{2\alpha + n_a}.

    With few labels per annotator this is far better determined than a full confusion matrix.

    Parameters
    ----------
    labels, max_iter, tol, alpha, clamp_gold
        As in :class:`~pipeline.merge.consensus.DawidSkene`; ``alpha`` smooths the skills and the
        class prior.

    Attributes
    ----------
    skills_ : pandas.Series
        :math:`s_a` per ``annotator_id``.
    confusion_matrices_, priors_, n_iter_, converged_, log_likelihood_, log_likelihood_history_
        As in :class:`~pipeline.merge.consensus.DawidSkene` (confusion matrices implied by the skills).

    Notes
    -----
    Data contract: ``annotations`` has ``item_id``, ``annotator_id``, ``label``; ``gold`` has
    ``item_id``, ``gold_label``. With a single class the model is trivial (every item gets it).

    References
    ----------
    .. [1] A. P. Dawid and A. M. Skene, "Maximum likelihood estimation of observer error-rates
       using the EM algorithm", JRSS C 28(1):20-28, 1979.
    .. [2] Y. Zhang, X. Chen, D. Zhou, M. I. Jordan, "Spectral methods meet EM: a provably
       optimal algorithm for crowdsourcing", JMLR 17(102):1-44, 2016 (one-coin model).
    .. [3] Toloka crowd-kit, ``crowdkit.aggregation.classification.OneCoinDawidSkene``.
    """

    def _fit_encoded(self, enc: Encoded) -> np.ndarray:
        self._skills = np.ones(enc.n_annotators)  # replaced by every M-step
        return super()._fit_encoded(enc)

    def _log_confusion(self, expected: np.ndarray, enc: Encoded) -> np.ndarray:
        n_cls = enc.n_classes
        if n_cls <= 1:
            self._skills = np.ones(enc.n_annotators)
            return np.zeros_like(expected)
        correct = np.trace(expected, axis1=1, axis2=2)  # sum_l expected[a, l, l]
        total = expected.sum(axis=(1, 2))
        skill = (correct + self.alpha) / (total + 2 * self.alpha)
        skill = np.clip(skill, _PROB_FLOOR, 1.0 - 1e-15)
        self._skills = skill
        log_right = np.log(skill)
        log_wrong = np.log(np.maximum((1.0 - skill) / (n_cls - 1), _PROB_FLOOR))
        out = np.broadcast_to(log_wrong[:, None, None], expected.shape).copy()
        diag = np.arange(n_cls)
        out[:, diag, diag] = log_right[:, None]
        return out

    def _set_parameters(self, enc: Encoded, log_pi: np.ndarray, log_prior: np.ndarray) -> None:
        super()._set_parameters(enc, log_pi, log_prior)
        self.skills_ = pd.Series(
            self._skills, index=enc.annotators.rename("annotator_id"), name="skill"
        )
