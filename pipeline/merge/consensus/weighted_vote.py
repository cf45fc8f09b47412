"""Weighted majority vote, weights from smoothed gold accuracy per annotator or per vendor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._base import BaseAggregator
from ._encoding import Encoded, clamp_to_gold

__all__ = ["WeightedVote"]

_ACC_CLIP = 1e-6


class WeightedVote(BaseAggregator):
    r"""Majority vote where each vote counts with its author's (or vendor's) gold accuracy.

    Let :math:`u(r)` be the unit (annotator, or vendor with ``by="vendor"``) of row :math:`r`,
    :math:`c_u` the number of its labels on gold items that equal the gold label and
    :math:`n_u` the number of its labels on gold items. Its smoothed accuracy is the posterior
    mean under a Beta prior with mean :math:`m` and strength :math:`s` (pseudo-labels):

    .. math:: \hat a_u = \frac{c_u + s\,m}{n_u + s},

    so units with few or no gold labels shrink to :math:`m` (``prior_mean``; by default the
    pooled gold accuracy of all units, i.e. empirical Bayes; ``prior_mean=0.5,
    prior_strength=2`` is Laplace's rule :math:`(c_u+1)/(n_u+2)`). The vote weight is

    - ``weighting="accuracy"``: :math:`w_u = \hat a_u`;
    - ``weighting="log_odds"``: :math:`w_u = \max(0, \log\frac{(K-1)\hat a_u}{1-\hat a_u})`,
      the Bayes-optimal weight when errors are uniform over the other :math:`K-1` classes
      (Nitzan & Paroush 1982); at-or-below-chance units get weight 0.

    and the item's score for class :math:`k` is
    :math:`P_{ik} = \sum_{r:\, i_r=i,\, y_r=k} w_{u(r)} / \sum_{r:\, i_r=i} w_{u(r)}` (the
    ``confidence``). Items whose votes all weigh 0 fall back to plain vote shares; ties follow
    the :class:`~pipeline.merge.consensus.MajorityVote` tie rule. Without any gold item all weights
    are 1 and this is exactly majority vote.

    Parameters
    ----------
    labels : sequence, optional
        Full ordered label set (unused classes still exist; order = tie order).
    by : {"annotator", "vendor"}, default "annotator"
        Unit that gets a weight. ``"vendor"`` needs a ``vendor`` column and pools the gold
        labels of all the vendor's annotators.
    weighting : {"accuracy", "log_odds"}, default "accuracy"
    prior_mean : float in (0, 1), optional
        Mean :math:`m` of the Beta prior; default: pooled gold accuracy (with one pseudo-label
        each way, so it is never 0 or 1).
    prior_strength : float >= 0, default 2.0
        Strength :math:`s` of the Beta prior, in pseudo gold labels.
    clamp_gold : bool, default True
        Gold items get their gold label (confidence 1) in the output.

    Attributes
    ----------
    skills_ : pandas.Series
        Smoothed accuracy :math:`\hat a_u`, indexed by ``annotator_id`` (or ``vendor``).
    weights_ : pandas.Series
        Vote weight :math:`w_u`, same index.
    gold_counts_ : pandas.DataFrame
        ``n_gold`` (:math:`n_u`) and ``n_correct`` (:math:`c_u`) per unit.
    prior_mean_ : float
        The :math:`m` used.
    labels_, probas_, result_, classes_, tie_order_
        See :class:`~pipeline.merge.consensus._base.BaseAggregator`.

    Notes
    -----
    Data contract: ``annotations`` has ``item_id``, ``annotator_id``, ``label`` (plus
    ``vendor`` for ``by="vendor"``); ``gold`` has ``item_id``, ``gold_label``.

    References
    ----------
    .. [1] S. Nitzan and J. Paroush, "Optimal decision rules in uncertain dichotomous choice
       situations", International Economic Review 23(2):289-297, 1982.
    .. [2] Toloka crowd-kit, ``crowdkit.aggregation.classification.GoldMajorityVote``.
    """

    def __init__(
        self,
        labels: Sequence[Any] | None = None,
        *,
        by: Literal["annotator", "vendor"] = "annotator",
        weighting: Literal["accuracy", "log_odds"] = "accuracy",
        prior_mean: float | None = None,
        prior_strength: float = 2.0,
        clamp_gold: bool = True,
    ) -> None:
        if by not in ("annotator", "vendor"):
            raise ValueError(f"by must be 'annotator' or 'vendor', got {by!r}")
        if weighting not in ("accuracy", "log_odds"):
            raise ValueError(f"weighting must be 'accuracy' or 'log_odds', got {weighting!r}")
        if prior_mean is not None and not (0.0 < float(prior_mean) < 1.0):
            raise ValueError(f"prior_mean must be strictly between 0 and 1, got {prior_mean!r}")
        if not np.isfinite(prior_strength) or prior_strength < 0:
            raise ValueError(f"prior_strength must be a finite number >= 0, got {prior_strength!r}")
        super().__init__(labels=labels)
        self.by = by
        self.weighting = weighting
        self.prior_mean = prior_mean
        self.prior_strength = prior_strength
        self.clamp_gold = clamp_gold

    @property
    def _needs_vendor(self) -> bool:  # type: ignore[override]
        return self.by == "vendor"

    def _fit_encoded(self, enc: Encoded) -> np.ndarray:
        if self.by == "vendor":
            if enc.vendor is None or enc.vendors is None:  # pragma: no cover - encode() sets them
                raise RuntimeError("vendor codes missing; encode(..., vendor=True) was not used")
            unit, units, name = enc.vendor, enc.vendors, "vendor"
        else:
            unit, units, name = enc.annotator, enc.annotators, "annotator_id"
        n_units, n_cls = len(units), enc.n_classes

        row_gold = enc.gold[enc.item] if enc.n_rows else enc.item
        scored = row_gold >= 0
        n_gold = np.bincount(unit[scored], minlength=n_units).astype(np.float64)
        n_correct = np.bincount(
            unit[scored], weights=(enc.label[scored] == row_gold[scored]).astype(np.float64),
            minlength=n_units,
        )
        any_gold = bool(scored.any())
        if self.prior_mean is not None:
            mean = float(self.prior_mean)
        else:  # pooled accuracy, one pseudo-label each way so it stays inside (0, 1)
            mean = (n_correct.sum() + 1.0) / (n_gold.sum() + 2.0)
        s = float(self.prior_strength)
        with np.errstate(divide="ignore", invalid="ignore"):
            skill = np.where(n_gold + s > 0, (n_correct + s * mean) / (n_gold + s), mean)
        if not any_gold:
            weight = np.ones(n_units)
        elif self.weighting == "accuracy":
            weight = skill.copy()
        elif n_cls <= 1:
            weight = np.ones(n_units)
        else:
            acc = np.clip(skill, _ACC_CLIP, 1 - _ACC_CLIP)
            weight = np.maximum(0.0, np.log((n_cls - 1) * acc / (1 - acc)))

        unit_index = units.rename(name)
        self.prior_mean_ = mean
        self.skills_ = pd.Series(skill, index=unit_index, name="skill")
        self.weights_ = pd.Series(weight, index=unit_index, name="weight")
        self.gold_counts_ = pd.DataFrame(
            {"n_gold": n_gold.astype(np.int64), "n_correct": n_correct.astype(np.int64)},
            index=unit_index,
        )

        scores = np.bincount(
            enc.item * n_cls + enc.label, weights=weight[unit], minlength=enc.n_items * n_cls
        ).astype(np.float64).reshape(enc.n_items, n_cls)
        total = scores.sum(axis=1, keepdims=True)
        counts = enc.counts.astype(np.float64)
        n = counts.sum(axis=1, keepdims=True)
        zero = total[:, 0] <= 0
        scores[zero] = counts[zero]
        total[zero] = n[zero]
        with np.errstate(divide="ignore", invalid="ignore"):
            probas = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
        if self.clamp_gold:
            clamp_to_gold(probas, enc.gold)
        return probas
