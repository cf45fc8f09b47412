r"""Bradley-Terry with annotator reliability: each judgement is either a real comparison or noise.

Model (the mixture of crowd-kit's ``NoisyBradleyTerry``, with Davidson's ties and a noise
distribution per annotator). Annotator :math:`u` judges for real with probability :math:`r_u`
(its *reliability*), and then the outcome follows the Bradley-Terry-Davidson model of
:mod:`pipeline.merge.preference.bradley_terry`; otherwise it answers without looking, with its own
distribution :math:`\pi_u` over the *displayed* sides (shown first, shown second, tie) when
``shown_first`` is given, else over (a, b, tie) (row by row: a null ``shown_first`` counts
``response_a`` as first). So judgement :math:`c` by :math:`u` with outcome
:math:`y_c` (shown side :math:`s_c`) has

.. math::

    P(y_c) = r_u\, P_{BT}(y_c \mid \theta, \delta) + (1 - r_u)\, \pi_u(s_c).

A spammer (:math:`r_u \to 0`) and a position-biased annotator (:math:`\pi_u` piled on "shown
first") then stop moving the scores, where plain Bradley-Terry counts their judgements like anyone
else's. Crowd-BT (Chen et al. 2013) is the special case of noise that flips the real outcome;
crowd-kit's NoisyBT is this model without ties, its bias :math:`q_u` being
:math:`\pi_u(\text{first})`.

Fit. The maximum a posteriori estimate of

.. math::

    \sum_c \log P(y_c) - \alpha \sum_i \theta_i^2 + \sum_u \log\mathrm{Beta}(r_u; 2, 2)
    + \sum_u \log\mathrm{Dir}(\pi_u; 2, 2, 2)

by expectation-maximisation: the E-step gives each judgement the posterior :math:`z_c` that it is
a real comparison; the M-step sets :math:`r_u = (\sum_{c \in u} z_c + 1) / (n_u + 2)`,
:math:`\pi_u(k) = (\sum_{c \in u, s_c = k} (1 - z_c) + 1) / (\sum_{c \in u} (1 - z_c) + 3)` and
refits :math:`\theta, \delta` by the penalised Newton fit of :func:`fit_bradley_terry` with each
judgement counted :math:`z_c` times, warm-started. Each step raises the objective (Dempster, Laird
& Rubin 1977); it stops when the gain is below ``tol`` relative to the objective. Standard errors
are the Bradley-Terry ones at the optimum with the weights held fixed (they ignore the uncertainty
of the reliabilities, so they are somewhat too small).

References: R. A. Bradley and M. E. Terry (1952); R. R. Davidson (1970); X. Chen, P. N. Bennett,
K. Collins-Thompson, E. Horvitz (2013), "Pairwise ranking aggregation in a crowdsourced setting",
WSDM; crowd-kit ``NoisyBradleyTerry`` (Toloka).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.merge.preference.bradley_terry import (
    Ties,
    _Blocks,
    _check,
    _components,
    _encode,
    _initial_tie_log_odds,
    _newton,
    _pair_index,
    _probabilities,
    _standard_errors,
    _tally,
)

__all__ = ["NoisyBradleyTerryFit", "fit_noisy_bradley_terry", "noisy_bradley_terry"]

#: Sides of a noise answer: by display order when ``shown_first`` is known, else a / b / tie.
SIDES = ("first", "second", "tie")


@dataclass(frozen=True)
class NoisyBradleyTerryFit:
    """What :func:`fit_noisy_bradley_terry` estimates.

    ``scores``, ``se``, ``tie_log_odds``: as :class:`~pipeline.merge.preference.BradleyTerryFit`;
    ``reliability``: :math:`r_u` per annotator (Series indexed by ``annotator_id``, sorted);
    ``noise``: :math:`\\pi_u` per annotator (columns ``first``, ``second``, ``tie``: with
    ``shown_first`` the displayed sides, else ``response_a``, ``response_b``, tie);
    ``real``: per input row the posterior that it is a real comparison; ``probabilities``: P(a),
    P(b), P(tie) of each input row under the real-comparison model; ``objective``: the maximised
    log posterior; ``iterations`` (EM steps) and ``converged``.
    """

    scores: pd.Series
    se: pd.Series
    tie_log_odds: float | None
    reliability: pd.Series
    noise: pd.DataFrame
    real: pd.Series
    probabilities: pd.DataFrame
    objective: float
    iterations: int
    converged: bool


def _sides(comparisons: pd.DataFrame, choice: np.ndarray) -> np.ndarray:
    """Index into :data:`SIDES` of each judgement's answer: which displayed side it picked (on a row
    whose ``shown_first`` is null or absent: ``response_a`` counts as first)."""
    canonical = np.select([choice == "a", choice == "b"], [0, 1], 2)
    if "shown_first" not in comparisons.columns:
        return canonical
    shown = comparisons["shown_first"].astype("object").to_numpy()
    missing = pd.isna(comparisons["shown_first"]).to_numpy()
    known = pd.Series(shown).isin(["a", "b"]).to_numpy()
    if not (known | missing).all():
        rows = np.flatnonzero(~(known | missing))[:5].tolist()
        raise ValueError(f"shown_first must be 'a', 'b' or null on every row; rows {rows} have "
                         f"{[shown[r] for r in rows]}")
    by_display = np.where(choice == "tie", 2, np.where(choice == shown, 0, 1))
    return np.where(missing, canonical, by_display)


class _Problem:
    """The fixed data of a fit and the EM map on the parameter vector ``(theta, [delta], logit r, log pi)``
    (unconstrained, so SQUAREM may extrapolate it; pi is normalised by softmax when read)."""

    def __init__(self, ia: np.ndarray, ib: np.ndarray, choice: np.ndarray, side: np.ndarray, ann: np.ndarray,
                 n: int, k: int, *, use_ties: bool, alpha: float) -> None:
        self.ia, self.ib, self.side, self.ann, self.n, self.k, self.alpha = ia, ib, side, ann, n, k, alpha
        self.code = np.select([choice == "a", choice == "b"], [0, 1], 2)
        self.rows = np.arange(len(ia))
        self.n_u = np.bincount(ann, minlength=k).astype(float)
        self.i, self.j, self.inverse, self.col = _pair_index(ia, ib, choice, n)
        self.p = len(self.i)
        self.blocks = _Blocks(*_components(self.i, self.j, n))
        w = self.counts(np.ones(len(ia)))
        self.use_delta = use_ties and float(w[2].sum()) > 0
        self.sides = 3 if self.use_delta else 2
        self.delta0 = _initial_tie_log_odds(w) if self.use_delta else None

    def counts(self, z: np.ndarray) -> np.ndarray:
        return _tally(self.inverse, self.col, self.p, z)

    def pack(self, theta: np.ndarray, delta: float | None, r: np.ndarray, noise: np.ndarray) -> np.ndarray:
        parts = [theta, [] if delta is None else [delta], np.log(r) - np.log1p(-r), np.log(noise[:, :self.sides]).ravel()]
        return np.concatenate([np.asarray(x, dtype=float) for x in parts])

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, float | None, np.ndarray, np.ndarray]:
        n, k, d = self.n, self.k, int(self.use_delta)
        theta, delta = x[:n], (float(x[n]) if self.use_delta else None)
        r = 1.0 / (1.0 + np.exp(-x[n + d:n + d + k]))
        logs = x[n + d + k:].reshape(k, self.sides)
        pi = np.exp(logs - logs.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        noise = np.zeros((k, 3))
        noise[:, :self.sides] = pi
        return theta, delta, r, noise

    def parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(r_u P_BT(y_c), (1 - r_u) pi_u(s_c)) of every judgement."""
        theta, delta, r, noise = self.unpack(x)
        real = _probabilities(theta, delta, self.ia, self.ib)[self.code, self.rows]
        return r[self.ann] * real, (1 - r[self.ann]) * noise[self.ann, self.side]

    def objective(self, x: np.ndarray) -> float:
        theta, _, r, noise = self.unpack(x)
        real, fake = self.parts(x)
        prior = np.log(r).sum() + np.log1p(-r).sum() + np.log(noise[:, :self.sides]).sum()
        return float(np.log(real + fake).sum() - self.alpha * float(theta @ theta) + prior)

    def posterior_real(self, x: np.ndarray) -> np.ndarray:
        real, fake = self.parts(x)
        return real / (real + fake)

    def em(self, x: np.ndarray) -> np.ndarray:
        """One EM step: E (posterior of a real comparison), M (closed-form r and pi; Newton on theta)."""
        theta, delta, _, _ = self.unpack(x)
        z = self.posterior_real(x)
        r = (np.bincount(self.ann, z, self.k) + 1) / (self.n_u + 2)
        fake = np.stack([np.bincount(self.ann, (1 - z) * (self.side == s), self.k) for s in range(3)], axis=1)[:, :self.sides]
        noise = (fake + 1) / (fake.sum(axis=1, keepdims=True) + self.sides)
        theta, delta, _, _ = _newton(self.i, self.j, self.counts(z), self.n, self.blocks, theta, delta,
                                     alpha=self.alpha, max_iter=3, tol=1e-12)
        return self.pack(theta, delta, r, noise)


def _squarem(problem: _Problem, x: np.ndarray, *, max_iter: int, tol: float) -> tuple[np.ndarray, int, bool]:
    """Fixed point of ``problem.em`` by SQUAREM (Varadhan & Roland 2008, scheme S3) with the
    monotone safeguard: an extrapolated step that lowers the objective falls back to two EM steps."""
    value = problem.objective(x)
    for it in range(1, max_iter + 1):
        x1 = problem.em(x)
        x2 = problem.em(x1)
        r, v = x1 - x, x2 - 2 * x1 + x
        vv = float(v @ v)
        step = -np.sqrt(float(r @ r) / vv) if vv > 0 else -1.0
        step = min(step, -1.0)
        candidate, new = x2, -np.inf
        if step < -1.0:  # an overshooting extrapolation may overflow: it is then rejected, not an error
            with np.errstate(all="ignore"):
                candidate = problem.em(x - 2 * step * r + step * step * v)
                new = problem.objective(candidate)
        if not np.isfinite(new) or new < value:
            candidate, new = x2, problem.objective(x2)
        moved = float(np.abs(candidate - x).max(initial=0.0))
        x, value = candidate, new
        if moved < tol:
            return x, it, True
    return x, max_iter, False


def fit_noisy_bradley_terry(comparisons: pd.DataFrame, *, ties: Ties = "davidson", alpha: float = 1e-3,
                            max_iter: int = 500, tol: float = 1e-7) -> NoisyBradleyTerryFit:
    """Fit Bradley-Terry with per-annotator reliability and noise; see the module docstring.

    Parameters
    ----------
    comparisons : DataFrame
        One row per judgement: ``annotator_id``, ``response_a``, ``response_b``, ``choice`` in
        :data:`~pipeline.merge.preference.CHOICES`, and optionally ``shown_first`` (``a`` or
        ``b``: which response the annotator saw first; null where unknown), which lets the noise
        model catch position bias.
    ties : {"davidson", "drop"}
        As :func:`fit_bradley_terry`; with ``"drop"`` tied judgements are left out of the fit
        (their ``real`` is NaN).
    alpha : float
        L2 penalty on the scores, as :func:`fit_bradley_terry`.
    max_iter, tol : EM (accelerated by SQUAREM: each of its steps is three EM steps) stops after
        ``max_iter`` steps or when no parameter moves more than ``tol`` (scores, tie log-odds,
        logits of the reliabilities, logs of the noise shares).
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if ties not in ("davidson", "drop"):
        raise ValueError(f"ties must be 'davidson' or 'drop', got {ties!r}")
    comparisons = _check(comparisons)
    if "annotator_id" not in comparisons.columns or comparisons["annotator_id"].isna().any():
        raise ValueError("comparisons need an annotator_id on every row: reliability is per annotator")
    ids, ia_all, ib_all = _encode(comparisons)
    n = len(ids)
    choice_all = comparisons["choice"].to_numpy(dtype=object)
    side_all = _sides(comparisons, choice_all)
    annotators, ann_all = np.unique(comparisons["annotator_id"].astype(str).to_numpy(), return_inverse=True)
    used = np.ones(len(comparisons), dtype=bool) if ties == "davidson" else choice_all != "tie"
    problem = _Problem(ia_all[used], ib_all[used], choice_all[used], side_all[used], ann_all[used], n, len(annotators),
                       use_ties=ties == "davidson", alpha=alpha)
    k = len(annotators)
    start_noise = np.tile([0.45, 0.45, 0.1] if problem.use_delta else [0.5, 0.5, 0.0], (k, 1))
    x0 = problem.pack(np.zeros(n), problem.delta0, np.full(k, 0.8), start_noise)
    x, it, converged = _squarem(problem, x0, max_iter=max_iter, tol=tol)
    theta, delta, reliability, noise = problem.unpack(x)
    z = problem.posterior_real(x)
    se = _standard_errors(problem.i, problem.j, problem.counts(z), n, problem.blocks, theta, delta, alpha)
    probs = _probabilities(theta, delta, ia_all, ib_all)
    real = np.full(len(comparisons), np.nan)
    real[used] = z
    index = pd.Index(ids, name="response_id")
    who = pd.Index(annotators, name="annotator_id")
    return NoisyBradleyTerryFit(
        scores=pd.Series(theta, index=index, name="score"), se=pd.Series(se, index=index, name="se"),
        tie_log_odds=delta if problem.use_delta else (-np.inf if ties == "davidson" else None),
        reliability=pd.Series(reliability, index=who, name="reliability"),
        noise=pd.DataFrame(noise, index=who, columns=list(SIDES)),
        real=pd.Series(real, index=comparisons.index, name="real"),
        probabilities=pd.DataFrame({"p_a": probs[0], "p_b": probs[1], "p_tie": probs[2]}, index=comparisons.index),
        objective=problem.objective(x), iterations=it, converged=converged,
    )


def noisy_bradley_terry(comparisons: pd.DataFrame, *, ties: Ties = "davidson", alpha: float = 1e-3) -> pd.Series:
    """Scores of every response under Bradley-Terry with annotator reliability, indexed by response
    id; ``comparisons`` has ``annotator_id``, ``response_a``, ``response_b``, optional ``shown_first`` and
    ``choice`` in :data:`~pipeline.merge.preference.CHOICES`; see :func:`fit_noisy_bradley_terry`."""
    return fit_noisy_bradley_terry(comparisons, ties=ties, alpha=alpha).scores
