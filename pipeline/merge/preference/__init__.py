"""Consensus over pairwise preferences: Bradley-Terry scores of responses (with Davidson's ties).

:func:`bradley_terry` returns one score per response (a Series indexed by response id);
:func:`fit_bradley_terry` also gives standard errors, the tie parameter and each comparison's
P(a), P(b), P(tie). Input: a DataFrame with ``response_a``, ``response_b``, ``choice`` in
``a`` / ``b`` / ``tie``. :func:`fit_noisy_bradley_terry` (and :func:`noisy_bradley_terry`) add
each annotator's reliability and its answers when not really comparing (``annotator_id``, optional
``shown_first``): the scores then discount spammers and position-biased annotators.
"""

from __future__ import annotations

from pipeline.merge.preference.bradley_terry import CHOICES, BradleyTerryFit, bradley_terry, fit_bradley_terry
from pipeline.merge.preference.noisy_bradley_terry import (
    NoisyBradleyTerryFit,
    fit_noisy_bradley_terry,
    noisy_bradley_terry,
)

__all__ = ["CHOICES", "BradleyTerryFit", "NoisyBradleyTerryFit", "bradley_terry", "fit_bradley_terry",
           "fit_noisy_bradley_terry", "noisy_bradley_terry"]
