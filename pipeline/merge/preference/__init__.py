"""Consensus over pairwise preferences: Bradley-Terry scores of responses (with Davidson's ties).

:func:`bradley_terry` returns one score per response (a Series indexed by response id);
:func:`fit_bradley_terry` also gives standard errors, the tie parameter and each comparison's
P(a), P(b), P(tie). Input: a DataFrame with ``response_a``, ``response_b``, ``choice`` in
``a`` / ``b`` / ``tie``.
"""

from __future__ import annotations

from pipeline.merge.preference.bradley_terry import CHOICES, BradleyTerryFit, bradley_terry, fit_bradley_terry

__all__ = ["CHOICES", "BradleyTerryFit", "bradley_terry", "fit_bradley_terry"]
