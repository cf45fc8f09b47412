r"""Agreement of numeric ratings: intraclass correlations (ICC) and Kendall's W.

Input: the canonical long format (``item_id``, ``annotator_id``, ``label`` a number), at most one
rating per (item, annotator); null labels are dropped.

**ICC** (Shrout & Fleiss 1979; McGraw & Wong 1996). With :math:`n` items (targets) each rated by
the same :math:`k` raters (a *complete* design), the two-way ANOVA of the :math:`n \times k`
table gives the mean squares between items :math:`MS_R`, between raters :math:`MS_C`, residual
:math:`MS_E` and within items :math:`MS_W = (SS_C + SS_E) / (n(k-1))`, and

.. math::

    \text{ICC}(1) = \frac{MS_R - MS_W}{MS_R + (k-1) MS_W},\quad
    \text{ICC}(2,1) = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E + k (MS_C - MS_E)/n},\quad
    \text{ICC}(3,1) = \frac{MS_R - MS_E}{MS_R + (k-1) MS_E},

    \text{ICC}(1,k) = \frac{MS_R - MS_W}{MS_R},\quad
    \text{ICC}(2,k) = \frac{MS_R - MS_E}{MS_R + (MS_C - MS_E)/n},\quad
    \text{ICC}(3,k) = \frac{MS_R - MS_E}{MS_R}.

ICC(1): one-way random (each item may have other raters); ICC(2,·): two-way random, absolute
agreement (McGraw & Wong's ICC(A,·)); ICC(3,·): two-way mixed, consistency (ICC(C,·)); ``,k``: the
reliability of the mean of :math:`k` ratings. F tests and 95% intervals as McGraw & Wong (the
ICC(2) interval by Satterthwaite's approximate degrees of freedom). On complete data every value
equals ``pingouin.intraclass_corr`` (tested to 1e-9).

**Incomplete designs** (crowd data: each item rated by a few of many raters), by ``incomplete``:

- ``"one_way"`` (default): only ICC(1) and ICC(1,k) are defined (raters do not cross items, so
  rater variance cannot be separated: ICC(2,·) and ICC(3,·) rows are NaN with an
  :class:`UndefinedAgreementWarning`). The one-way ANOVA with unequal group sizes :math:`n_i`
  (:math:`N = \sum n_i` ratings) uses :math:`MS_R = \sum n_i (\bar x_i - \bar x)^2 / (n-1)`,
  :math:`MS_W = \sum (x_{ij} - \bar x_i)^2 / (N - n)` and in place of :math:`k` the adjusted group
  size :math:`k_0 = (N - \sum n_i^2 / N)/(n-1)` (Searle 1971; Donner 1986); its interval is the
  balanced F interval with :math:`k_0` (approximate; exact when balanced, where it equals the
  complete-design ICC(1)). Items with one rating add to :math:`MS_R` only.
- ``"complete"``: keep only the items every rater rated (listwise deletion, as pingouin's
  ``nan_policy="omit"``; a warning says how many items were dropped), then the complete design.
- ``"raise"``: a ``ValueError`` naming items without every rater.

**Kendall's W** (coefficient of concordance; Kendall & Babington Smith 1939): :math:`m` raters
each rank the same :math:`n` items (average ranks for ties), :math:`R_i` the rank sums,
:math:`S = \sum (R_i - \bar R)^2`, :math:`T_j = \sum_g (t_g^3 - t_g)` over rater :math:`j`'s tie
groups:

.. math::  W = \frac{12 S}{m^2 (n^3 - n) - m \sum_j T_j}

with the Friedman :math:`\chi^2 = m (n-1) W` on :math:`n-1` degrees of freedom (equal to
``pingouin.friedman``'s W with items as the within factor and raters as subjects).

References: P. E. Shrout, J. L. Fleiss (1979), "Intraclass correlations: uses in assessing rater
reliability", Psychological Bulletin 86(2), 420-428; K. O. McGraw, S. P. Wong (1996), "Forming
inferences about some intraclass correlation coefficients", Psychological Methods 1(1), 30-46;
A. Donner (1986), "A review of inference procedures for the intraclass correlation coefficient in
the one-way random effects model", International Statistical Review 54(1), 67-82; S. R. Searle
(1971), *Linear Models*, Wiley; M. G. Kendall, B. Babington Smith (1939), "The problem of m
rankings", Annals of Mathematical Statistics 10(3), 275-287.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ._codes import Annotations, check_columns, factorize
from ._sums import UndefinedAgreementWarning

__all__ = ["ICC_COLUMNS", "ICC_TYPES", "Incomplete", "intraclass_corr", "kendall_w"]

#: Row order of :func:`intraclass_corr`.
ICC_TYPES: tuple[str, ...] = ("ICC(1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)")
#: Columns of :func:`intraclass_corr`.
ICC_COLUMNS: tuple[str, ...] = ("type", "icc", "f", "df1", "df2", "pval", "ci_low", "ci_high", "n_items",
                                "n_raters", "design")
Incomplete = Literal["one_way", "complete", "raise"]


def _shown(values: Any, limit: int = 5) -> str:
    values = list(values)
    head = ", ".join(repr(v) for v in values[:limit])
    return head + (f", ... ({len(values)} in all)" if len(values) > limit else "")


@dataclass(frozen=True)
class _Ratings:
    item: np.ndarray  # item code per rating
    rater: np.ndarray  # rater code per rating
    x: np.ndarray  # the rating
    items: np.ndarray  # item id per code
    raters: np.ndarray  # rater id per code


def _ratings(annotations: Annotations) -> _Ratings:
    """Numeric ratings coded by item and rater; ValueError on non-numbers or repeated (item, rater)."""
    check_columns(annotations)
    df = annotations if isinstance(annotations, pd.DataFrame) else annotations.to_pandas()
    df = df[df["label"].notna()]
    label = df["label"]
    if not (pd.api.types.is_numeric_dtype(label.dtype) and not pd.api.types.is_bool_dtype(label.dtype)):
        try:
            label = pd.to_numeric(label)
        except (TypeError, ValueError):
            bad = pd.to_numeric(label, errors="coerce").isna()
            raise ValueError(f"ICC and Kendall's W need numeric labels; row(s) {_shown(df.index[bad])} have "
                             f"{_shown(label[bad].tolist())}; map the scale's levels to numbers first") from None
    x = label.to_numpy(dtype=np.float64)
    if not np.isfinite(x).all():
        bad = ~np.isfinite(x)
        raise ValueError(f"labels must be finite; row(s) {_shown(df.index[bad])} are {_shown(x[bad].tolist())}")
    item, items = factorize(df["item_id"], sort=True)
    rater, raters = factorize(df["annotator_id"], sort=True)
    if (item < 0).any() or (rater < 0).any():
        col = "item_id" if (item < 0).any() else "annotator_id"
        rows = df.index[(item < 0) | (rater < 0)]
        raise ValueError(f"{col} is null on labelled row(s) {_shown(rows)}; every rating must name its item and rater")
    key = item.astype(np.int64) * max(len(raters), 1) + rater
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        pairs = [(items[k // len(raters)], raters[k % len(raters)]) for k in dup[:5]]
        raise ValueError(f"{int((counts > 1).sum())} (item_id, annotator_id) pair(s) are rated more than once, e.g. "
                         f"{_shown(pairs)}; keep one rating per item and rater")
    return _Ratings(item, rater, x, np.asarray(items), np.asarray(raters))


def _nan_row(kind: str, n: int, k: float, design: str) -> dict[str, Any]:
    return {"type": kind, "icc": math.nan, "f": math.nan, "df1": math.nan, "df2": math.nan, "pval": math.nan,
            "ci_low": math.nan, "ci_high": math.nan, "n_items": n, "n_raters": k, "design": design}


def _complete(table: np.ndarray, alpha: float, design: str) -> pd.DataFrame:
    """The six ICCs of a complete ``n x k`` table (rows items, columns raters)."""
    n, k = table.shape
    grand = table.mean()
    ss_r = k * float(np.sum((table.mean(axis=1) - grand) ** 2))
    ss_c = n * float(np.sum((table.mean(axis=0) - grand) ** 2))
    ss_e = float(np.sum((table - grand) ** 2)) - ss_r - ss_c
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    ms_r, ms_c, ms_e = ss_r / df_r, ss_c / df_c, ss_e / df_e
    ms_w = (ss_c + ss_e) / (df_c + df_e)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (ms_r - ms_w) / (ms_r + (k - 1) * ms_w)
        icc2 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e + k * (ms_c - ms_e) / n)
        icc3 = (ms_r - ms_e) / (ms_r + (k - 1) * ms_e)
        icc1k = (ms_r - ms_w) / ms_r
        icc2k = (ms_r - ms_e) / (ms_r + (ms_c - ms_e) / n)
        icc3k = (ms_r - ms_e) / ms_r
        f1 = ms_r / ms_w
        f3 = ms_r / ms_e
        df_w = n * (k - 1)
        q = 1 - alpha / 2
        f1l, f1u = f1 / stats.f.ppf(q, df_r, df_w), f1 * stats.f.ppf(q, df_w, df_r)
        f3l, f3u = f3 / stats.f.ppf(q, df_r, df_e), f3 * stats.f.ppf(q, df_e, df_r)
        l1, u1 = (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)
        l3, u3 = (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)
        # ICC(2): McGraw & Wong (1996) case 2A, Satterthwaite degrees of freedom
        fj = ms_c / ms_e
        vn = df_e * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df_r * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2u, f2l = stats.f.ppf(q, df_r, v), stats.f.ppf(q, v, df_r)
        l2 = n * (ms_r - f2u * ms_e) / (f2u * (k * ms_c + (k * n - k - n) * ms_e) + n * ms_r)
        u2 = n * (f2l * ms_r - ms_e) / (k * ms_c + (k * n - k - n) * ms_e + n * f2l * ms_r)
    p1, p3 = float(stats.f.sf(f1, df_r, df_w)), float(stats.f.sf(f3, df_r, df_e))
    rows = [
        ("ICC(1)", icc1, f1, df_w, p1, l1, u1),
        ("ICC(2,1)", icc2, f3, df_e, p3, l2, u2),
        ("ICC(3,1)", icc3, f3, df_e, p3, l3, u3),
        ("ICC(1,k)", icc1k, f1, df_w, p1, 1 - 1 / f1l, 1 - 1 / f1u),
        ("ICC(2,k)", icc2k, f3, df_e, p3, l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        ("ICC(3,k)", icc3k, f3, df_e, p3, 1 - 1 / f3l, 1 - 1 / f3u),
    ]
    return pd.DataFrame([{"type": t, "icc": float(i), "f": float(f), "df1": float(df_r), "df2": float(d), "pval": p,
                          "ci_low": float(lo), "ci_high": float(hi), "n_items": n, "n_raters": float(k),
                          "design": design} for t, i, f, d, p, lo, hi in rows], columns=list(ICC_COLUMNS))


def _one_way(r: _Ratings, alpha: float) -> pd.DataFrame:
    """ICC(1), ICC(1,k) of an unbalanced one-way design (k -> k0); the two-way rows NaN."""
    n_items = len(r.items)
    n_i = np.bincount(r.item, minlength=n_items).astype(np.float64)
    big_n = float(n_i.sum())
    mean_i = np.bincount(r.item, r.x, minlength=n_items) / n_i
    grand = float(r.x.mean())
    df_r, df_w = n_items - 1, big_n - n_items
    k0 = (big_n - float(np.sum(n_i**2)) / big_n) / df_r
    rows = [_nan_row(t, n_items, k0, "one_way") for t in ICC_TYPES]
    if df_r < 1 or df_w < 1:
        warnings.warn("ICC is undefined: it needs at least two items and one item rated twice; returning NaN",
                      UndefinedAgreementWarning, stacklevel=3)
        return pd.DataFrame(rows, columns=list(ICC_COLUMNS))
    ms_r = float(np.sum(n_i * (mean_i - grand) ** 2)) / df_r
    ms_w = float(np.sum((r.x - mean_i[r.item]) ** 2)) / df_w
    q = 1 - alpha / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = ms_r / ms_w
        f1l, f1u = f1 / stats.f.ppf(q, df_r, df_w), f1 * stats.f.ppf(q, df_w, df_r)
        values = {
            "ICC(1)": ((ms_r - ms_w) / (ms_r + (k0 - 1) * ms_w), (f1l - 1) / (f1l + k0 - 1), (f1u - 1) / (f1u + k0 - 1)),
            "ICC(1,k)": ((ms_r - ms_w) / ms_r, 1 - 1 / f1l, 1 - 1 / f1u),
        }
    p1 = float(stats.f.sf(f1, df_r, df_w))
    for row in rows:
        if row["type"] in values:
            icc, lo, hi = values[row["type"]]
            row.update(icc=float(icc), f=float(f1), df1=float(df_r), df2=float(df_w), pval=p1, ci_low=float(lo),
                       ci_high=float(hi))
    warnings.warn("ICC(2,.) and ICC(3,.) are undefined: not every rater rated every item (an incomplete design), so "
                  "rater variance cannot be separated; returning NaN for them (incomplete='complete' keeps only the "
                  "items every rater rated)", UndefinedAgreementWarning, stacklevel=3)
    return pd.DataFrame(rows, columns=list(ICC_COLUMNS))


def intraclass_corr(annotations: Annotations, *, incomplete: Incomplete = "one_way",
                    confidence: float = 0.95) -> pd.DataFrame:
    """Intraclass correlations of numeric ratings, one row per :data:`ICC_TYPES` (module docstring).

    Parameters
    ----------
    annotations : DataFrame or pyarrow Table
        ``item_id``, ``annotator_id``, ``label`` (numbers); one rating per (item, annotator).
    incomplete : {"one_way", "complete", "raise"}
        What to do when not every rater rated every item (see the module docstring).
    confidence : float
        Level of the ``ci_low`` / ``ci_high`` interval (McGraw & Wong 1996).

    Returns
    -------
    DataFrame with columns :data:`ICC_COLUMNS`: ``f``, ``df1``, ``df2``, ``pval`` of the F test of
    ICC = 0; ``n_raters`` is :math:`k` (:math:`k_0` in a one-way incomplete design); ``design``
    ``"two_way"`` (complete), ``"complete_subset"`` or ``"one_way"``.
    """
    if incomplete not in ("one_way", "complete", "raise"):
        raise ValueError(f"incomplete must be 'one_way', 'complete' or 'raise', got {incomplete!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    alpha = 1 - confidence
    r = _ratings(annotations)
    n, k = len(r.items), len(r.raters)
    table = np.full((n, k), np.nan)
    table[r.item, r.rater] = r.x
    rated_by_all = ~np.isnan(table).any(axis=1)
    design = "two_way"
    if n and not rated_by_all.all():
        missing = r.items[~rated_by_all]
        if incomplete == "raise":
            raise ValueError(f"{len(missing)} item(s) are not rated by all {k} raters (e.g. item_id {_shown(missing)}); "
                             "ICC(2) and ICC(3) need every rater on every item: pass incomplete='one_way' for ICC(1) "
                             "or incomplete='complete' to keep the complete items")
        if incomplete == "one_way":
            return _one_way(r, alpha)
        warnings.warn(f"ICC: dropped {len(missing)} of {n} item(s) not rated by all {k} raters "
                      f"(e.g. item_id {_shown(missing)}); {int(rated_by_all.sum())} remain",
                      UndefinedAgreementWarning, stacklevel=2)
        table = table[rated_by_all]
        design = "complete_subset"
    if table.shape[0] < 2 or table.shape[1] < 2:
        warnings.warn(f"ICC is undefined: it needs at least two items and two raters (got {table.shape[0]} x "
                      f"{table.shape[1]}); returning NaN", UndefinedAgreementWarning, stacklevel=2)
        return pd.DataFrame([_nan_row(t, table.shape[0], table.shape[1], design) for t in ICC_TYPES],
                            columns=list(ICC_COLUMNS))
    return _complete(table, alpha, design)


def kendall_w(annotations: Annotations) -> dict[str, float]:
    """Kendall's coefficient of concordance W, tie-corrected (module docstring).

    Every rater must rate every item (ranks are taken within each rater over all items); a
    ``ValueError`` names the items a rater missed. Returns ``{"w", "chi2", "df", "pval",
    "n_items", "n_raters"}``; W is NaN (with an :class:`UndefinedAgreementWarning`) for fewer
    than two items or raters or when every rater gives every item the same rating.
    """
    r = _ratings(annotations)
    n, m = len(r.items), len(r.raters)
    table = np.full((n, m), np.nan)
    table[r.item, r.rater] = r.x
    holes = np.isnan(table)
    if holes.any():
        rater = int(np.flatnonzero(holes.any(axis=0))[0])
        missed = r.items[holes[:, rater]]
        raise ValueError(f"Kendall's W needs every rater to rate every item; rater {r.raters[rater]!r} did not rate "
                         f"item_id {_shown(missed)}; keep the raters and items of a complete block")
    out = {"w": math.nan, "chi2": math.nan, "df": float(n - 1), "pval": math.nan, "n_items": float(n),
           "n_raters": float(m)}
    if n < 2 or m < 2:
        warnings.warn(f"Kendall's W is undefined: it needs two items and two raters (got {n} x {m}); returning NaN",
                      UndefinedAgreementWarning, stacklevel=2)
        return out
    ranks = stats.rankdata(table, axis=0)  # average ranks within each rater
    sums = ranks.sum(axis=1)
    s = float(np.sum((sums - sums.mean()) ** 2))
    ties = 0.0
    for j in range(m):  # one np.unique per rater (raters are few; items are vectorised)
        _, t = np.unique(table[:, j], return_counts=True)
        ties += float(np.sum(t.astype(np.float64) ** 3 - t))
    den = m**2 * (n**3 - n) - m * ties
    if den == 0:
        warnings.warn("Kendall's W is undefined: every rater gives every item the same rating; returning NaN",
                      UndefinedAgreementWarning, stacklevel=2)
        return out
    w = 12 * s / den
    chi2 = m * (n - 1) * w
    out.update(w=w, chi2=chi2, pval=float(stats.chi2.sf(chi2, n - 1)))
    return out
