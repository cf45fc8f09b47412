"""One-vs-rest agreement per category (binary alpha or Fleiss' kappa per category)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._codes import Annotations
from ._sums import features, safe_div, undefined
from .coincidence import CoincidenceStats, as_stats

__all__ = ["per_category_agreement"]


def per_category_agreement(
    annotations: Annotations | CoincidenceStats,
    *,
    metric: Literal["krippendorff_alpha", "fleiss_kappa"] = "krippendorff_alpha",
    labels: Sequence[Any] | None = None,
) -> pd.DataFrame:
    r"""Agreement on each category against all others (one-vs-rest).

    Each label is recoded to ``c`` / ``not c`` and a binary coefficient is
    computed, for all categories at once.  With ``x_ic`` labels of category
    ``c`` among the ``m_i`` labels of item ``i`` (items with ``m_i >= 2``),
    ``n_c = sum_i x_ic`` and ``n = sum_i m_i``:

    * ``"krippendorff_alpha"`` (binary alpha):
      ``alpha_c = 1 - (n - 1) * sum_i 2 x_ic (m_i - x_ic) / (m_i - 1) / (2 n_c (n - n_c))``
    * ``"fleiss_kappa"`` (Fleiss 1971 category kappa, generalised to
      unequal ``m_i`` as in :func:`fleiss_kappa`):
      ``kappa_c = (P_c - p_c^2 - (1-p_c)^2) / (1 - p_c^2 - (1-p_c)^2)`` with
      ``P_c`` the mean over items of ``1 - 2 x_ic (m_i - x_ic) / (m_i (m_i - 1))``
      and ``p_c = n_c / n``.

    Parameters
    ----------
    annotations : pandas.DataFrame, pyarrow.Table or CoincidenceStats
        Long format (data contract of ``pipeline/contract.py``): ``item_id``,
        ``annotator_id``, ``label``; one row per label an annotator gave an
        item; null labels dropped; other columns ignored.
    metric : {"krippendorff_alpha", "fleiss_kappa"}
        Binary coefficient to compute per category.
    labels : sequence, optional
        Category domain and order of the output rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``category, metric, value, n_labels`` (``n_labels`` = labels
        of that category on items with two or more labels).  A category that
        is never or always used is NaN (one :class:`UndefinedAgreementWarning`
        lists them).

    References
    ----------
    Fleiss, J. L. (1971), Psychological Bulletin 76(5), 378-382 (kappa for
    category j).  Krippendorff, K. (2011), Computing Krippendorff's
    Alpha-Reliability (binary alpha).
    """
    if metric not in ("krippendorff_alpha", "fleiss_kappa"):
        raise ValueError(f"metric must be 'krippendorff_alpha' or 'fleiss_kappa', got {metric!r}")
    stats = as_stats(annotations, labels)
    f = features(stats)
    w = stats.multiplicity.astype(np.float64)
    m = f.m
    p = f.pairable
    n_c = np.asarray(f.xp.T @ w).ravel()
    n = float(w @ (p * m))
    x = f.x
    # sum_i a_i x_ic (m_i - x_ic) for per-profile weights a_i, as sparse column sums
    def cross(a: np.ndarray) -> np.ndarray:
        lin = np.asarray(x.T @ (a * m)).ravel()
        sq = np.asarray(x.multiply(x).T @ a).ravel()
        return lin - sq

    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "krippendorff_alpha":
            obs = 2.0 * cross(w * p / np.maximum(m - 1.0, 1.0))
            exp = 2.0 * n_c * (n - n_c)
            value = 1.0 - (n - 1.0) * safe_div(obs, exp)
        else:
            n_items = float(w @ p)
            p_bar = 1.0 - safe_div(2.0 * cross(w * p / np.maximum(m * (m - 1.0), 1.0)), np.float64(n_items))
            share = safe_div(n_c, np.float64(n))
            chance = share * share + (1.0 - share) * (1.0 - share)
            value = safe_div(p_bar - chance, 1.0 - chance)
    out = pd.DataFrame(
        {
            "category": stats.categories,
            "metric": metric,
            "value": np.asarray(value, dtype=np.float64),
            "n_labels": np.rint(n_c).astype(np.int64),
        }
    )
    bad = out.loc[~np.isfinite(out["value"]), "category"].tolist()
    if bad:
        why = "no item has two or more labels" if n == 0 else "the category is used on none or all comparable labels"
        undefined(f"per_category_agreement for categories {bad[:10]!r}", why)
    return out
