"""Weighted sums over item profiles: the additive core every metric is computed from.

For profile ``k`` with label counts ``x_k`` (``m_k = sum_v x_kv`` labels,
``q_k = sum_v x_kv^2``) and pairable flag ``p_k = [m_k >= 2]`` the per-profile
quantities are

=================  ==========================================================
``items``          1
``labels``         m
``pairable_items`` p
``pairable_labels``p m
``pairs``          p m (m - 1)            (ordered label pairs within the item)
``agree``          p (q - m)              (ordered agreeing pairs)
``fleiss_p``       p (q - m) / (m (m-1))  (Fleiss' per-item agreement P_i)
``nominal_obs``    p (m^2 - q) / (m - 1)  (Krippendorff's nominal D_o numerator)
``n_v``            p x_v                  (pairable values per category)
``gwet_pi``        x_v / m                (Gwet's per-item category shares)
=================  ==========================================================

A metric is a closed-form function of ``W @ feature`` where ``W`` is the item
multiplicity vector (point estimate) or a ``(B, K)`` matrix of bootstrap
multiplicities; every formula below broadcasts over that leading axis.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # scipy.sparse is imported where used: kappa needs this module, not scipy
    from scipy import sparse

    from .coincidence import CoincidenceStats

SCALARS = ("items", "labels", "pairable_items", "pairable_labels", "pairs", "agree", "fleiss_p", "nominal_obs")


class UndefinedAgreementWarning(UserWarning):
    """An agreement coefficient is undefined for this input and NaN is returned."""


def undefined(metric: str, reason: str, stacklevel: int = 3) -> float:
    """Warn that ``metric`` is undefined because of ``reason`` and return NaN."""
    warnings.warn(f"{metric} is undefined: {reason}; returning NaN", UndefinedAgreementWarning, stacklevel=stacklevel)
    return float("nan")


class Features:
    """Per-profile features of a :class:`CoincidenceStats` (cached on it)."""

    def __init__(self, stats: CoincidenceStats) -> None:
        from scipy import sparse

        x = sparse.csr_array(stats.profiles, dtype=np.float64)
        m = stats.labels_per_item
        q = np.asarray(x.multiply(x).sum(axis=1)).ravel() if x.shape[0] else np.zeros(0)
        p = (m >= 2).astype(np.float64)
        safe_m1 = np.maximum(m - 1.0, 1.0)
        safe_m = np.maximum(m, 1.0)
        self.m = m
        self.pairable = p
        self.x = x
        self.scalars = np.column_stack(
            [
                np.ones_like(m),
                m,
                p,
                p * m,
                p * m * (m - 1.0),
                p * (q - m),
                p * (q - m) / (safe_m * safe_m1),
                p * (m * m - q) / safe_m1,
            ]
        ) if m.size else np.zeros((0, len(SCALARS)))
        self.xp = sparse.csr_array(sparse.diags_array(p) @ x) if m.size else x
        self.xg = sparse.csr_array(sparse.diags_array(1.0 / safe_m) @ x) if m.size else x


def features(stats: CoincidenceStats) -> Features:
    f = stats._cache.get("features")
    if f is None:
        f = Features(stats)
        stats._cache["features"] = f
    return f


def weighted(x: sparse.csr_array, w: np.ndarray) -> np.ndarray:
    """``w @ x`` for ``w`` of shape (K,) or (B, K); returns (V,) or (B, V)."""
    if w.ndim == 1:
        return np.asarray(x.T @ w).ravel()
    return np.asarray(x.T @ w.T).T


def sums(stats: CoincidenceStats, w: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All additive sums, for multiplicities ``w`` (default: the stats' own)."""
    f = features(stats)
    w = stats.multiplicity.astype(np.float64) if w is None else np.asarray(w, dtype=np.float64)
    s = w @ f.scalars
    out = {name: s[..., j] for j, name in enumerate(SCALARS)}
    out["n_v"] = weighted(f.xp, w)
    out["gwet_pi"] = weighted(f.xg, w)
    return out


def safe_div(num: npt.ArrayLike, den: npt.ArrayLike) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(den == 0, np.nan, out)


# --------------------------------------------------------------------- formulas
def percent_agreement_from(s: dict[str, np.ndarray]) -> np.ndarray:
    return safe_div(s["agree"], s["pairs"])


def chance_pooled(s: dict[str, np.ndarray]) -> np.ndarray:
    """``sum_v p_v^2`` with ``p_v = n_v / n`` pooled over pairable labels."""
    n = s["pairable_labels"]
    share = safe_div(s["n_v"], n[..., None])
    return np.sum(share * share, axis=-1)


def chance_corrected(observed: np.ndarray, chance: np.ndarray) -> np.ndarray:
    """``(P_o - P_e) / (1 - P_e)``, NaN when ``P_e == 1`` (one category only)."""
    chance = np.asarray(chance, dtype=np.float64)
    # P_e == 1 (exactly, as shares of a single category are 1.0) is undefined, not 1.0 or 0.0
    return safe_div(observed - chance, 1.0 - chance)


def fleiss_kappa_from(s: dict[str, np.ndarray]) -> np.ndarray:
    p_bar = safe_div(s["fleiss_p"], s["pairable_items"])
    return chance_corrected(p_bar, chance_pooled(s))


def scott_pi_from(s: dict[str, np.ndarray]) -> np.ndarray:
    return chance_corrected(percent_agreement_from(s), chance_pooled(s))


def gwet_ac1_from(s: dict[str, np.ndarray], n_categories: int) -> np.ndarray:
    p_a = safe_div(s["fleiss_p"], s["pairable_items"])
    pi = safe_div(s["gwet_pi"], s["items"][..., None])
    if n_categories < 2:
        return np.full(np.shape(p_a), np.nan)
    p_e = np.sum(pi * (1.0 - pi), axis=-1) / (n_categories - 1)
    return chance_corrected(p_a, p_e)


def degenerate_reason(s: Mapping[str, Any], *, check_categories: bool = True) -> str | None:
    """Why the value-based metrics are undefined for these (scalar) sums, if they are."""
    if float(s["labels"]) == 0:
        return "there are no labels (empty input, or every label is null)"
    if float(s["pairable_items"]) == 0:
        return "no item has two or more labels (one rater per item), so no pair of labels can be compared"
    if check_categories and int(np.count_nonzero(np.asarray(s["n_v"]) > 0)) < 2:
        return "only one category occurs among the comparable labels, so chance agreement is 1"
    return None
