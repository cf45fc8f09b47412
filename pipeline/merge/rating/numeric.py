r"""Consensus scores of numeric ratings (a "rating" label kind's merge step).

Input: the labelq long format, one row per rating: ``item_id``, ``annotator_id``, ``label``
(a finite number); at most one rating per (item, annotator). Output of :func:`aggregate`: one row
per item, sorted by ``item_id``: ``score``, its standard error ``se`` and ``n_annotations``.

Simple methods (item :math:`i` with ratings :math:`x_{i1..n}`, sample sd :math:`s_i`):

- ``mean``: :math:`\bar x_i`, se :math:`s_i/\sqrt{n}`;
- ``median``: the middle rating (the mean of the two middle ones for even :math:`n`, as
  ``numpy.median``), se :math:`\sqrt{\pi/2}\,s_i/\sqrt{n}` (= 1.2533..., the large-sample se of
  the median of normal data; a normal-theory estimate, no bootstrap);
- ``trimmed_mean``: ``scipy.stats.trim_mean(x, trim)``: :math:`g = \lfloor \text{trim}\cdot n
  \rfloor` ratings cut from each end, mean of the rest; se the Tukey-McLaughlin estimate
  :math:`s_w / ((1 - 2\,\text{trim})\sqrt{n})` with :math:`s_w` the sd of the sample winsorized at
  the same :math:`g` (``scipy.stats.mstats.trimmed_stde``).

These se's are NaN for an item with one rating (no spread to estimate).

Annotator model (``annotator_model``; :func:`fit_annotator_model`): rating
:math:`x_{ij} = \mu_i + b_j + e_{ij}`, :math:`e_{ij} \sim N(0, \sigma_j^2)`, with per-annotator bias
:math:`b_j` and noise variance :math:`\sigma_j^2` (the Gaussian crowd model of Raykar et al. 2010
with an additive bias, as the PG1 model of Piech et al. 2013). Weak priors, in pseudo-ratings:
:math:`b_j \mid \sigma_j^2 \sim N(0, \sigma_j^2/\kappa)` (``bias_prior`` :math:`\kappa`: as if
each annotator had also given :math:`\kappa` unbiased ratings) and
:math:`\sigma_j^2 \sim \text{Scaled-Inv-}\chi^2(\nu, s_0^2)` (``noise_prior`` :math:`\nu`: as if
:math:`\nu` more ratings with variance :math:`s_0^2`, the pooled within-item variance of the
data), so an annotator with one or two ratings gets neither zero variance nor a wild bias. The
scores :math:`\mu_i` have a flat prior and are integrated out: the fit is the MAP of
:math:`(b, \sigma^2)` under the marginal likelihood, found by EM (the M-step a conditional one,
ECM: :math:`b` then :math:`\sigma^2`). E-step, item :math:`i` not gold, :math:`w_{ij} = 1/\sigma_j^2`:

.. math::

    \hat\mu_i = \frac{\sum_j w_{ij} (x_{ij} - b_j)}{\sum_j w_{ij}},\qquad
    v_i = \operatorname{Var}(\mu_i \mid x) = \frac{1}{\sum_j w_{ij}}

(gold items: :math:`\hat\mu_i` = the gold label, :math:`v_i = 0`). M-step, :math:`r_{ij} = x_{ij} -
\hat\mu_i`, :math:`n_j` ratings of annotator :math:`j`:

.. math::

    b_j = \frac{\sum_i r_{ij} - \lambda\sigma_j^2}{n_j + \kappa},\qquad
    \sigma_j^2 = \frac{\sum_i \big[(r_{ij} - b_j)^2 + v_i\big] + \kappa b_j^2 + \nu s_0^2}{n_j + \nu + 3}

(:math:`n_j + \nu + 2` without the bias prior). Identifiability: without gold, :math:`\mu + c`,
:math:`b - c` fit equally well, so the biases are constrained to :math:`\sum_j b_j = 0` (the
average annotator is unbiased; :math:`\lambda` is its Lagrange multiplier); with gold the gold
items fix the level and :math:`\lambda = 0` (annotators not connected to any gold item through
shared items are then held only by the bias prior). The reported score is :math:`\hat\mu_i` and
its se :math:`\sqrt{v_i}` (given the fitted annotator parameters; 0 for gold items). The
:math:`v_i` term is what keeps EM from the degenerate joint maximum where one annotator's
ratings become the scores and its variance collapses. The model takes raters' errors to be
independent given the item: where an item's raters share much of their error (the emotion data of
``benchmarks/bench_rating.py``), weighting raters by their agreement with the crowd can score
worse than the plain mean. Everything is a handful of
``np.bincount`` passes over the ratings per iteration; rows are put in a canonical order first,
so results do not depend on the input's row order.

References: V. C. Raykar, S. Yu, L. H. Zhao, G. H. Valadez, C. Florin, L. Bogoni, L. Moy (2010),
"Learning from crowds", JMLR 11, 1297-1322; C. Piech, J. Huang, Z. Chen, C. Do, A. Ng, D. Koller
(2013), "Tuned models of peer assessment in MOOCs", EDM 2013; X.-L. Meng and D. B. Rubin (1993),
"Maximum likelihood estimation via the ECM algorithm", Biometrika 80(2); J. W. Tukey and
D. H. McLaughlin (1963), Sankhya A 25; benchmark data and the published Mean / Median figures:
Y. Zheng, G. Li, Y. Li, C. Shan, R. Cheng (2017), "Truth inference in crowdsourcing: is the
problem solved?", PVLDB 10(5), 541-552.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.merge.consensus._inputs import _check_nulls, _factorize_sorted, _shown, _to_pandas

__all__ = [
    "METHODS",
    "MEDIAN_SE_FACTOR",
    "RESULT_COLUMNS",
    "AnnotatorModelFit",
    "Method",
    "aggregate",
    "fit_annotator_model",
]

from pipeline.merge.rating import METHODS, Method  # noqa: E402  (named in the cheap package __init__)
from pipeline.merge.rating.levels import nearest_level  # noqa: E402

#: Columns of :func:`aggregate`'s result, in order.
RESULT_COLUMNS: tuple[str, str, str, str] = ("item_id", "score", "se", "n_annotations")
#: se of the median = this x sd / sqrt(n): sqrt(pi / 2), the normal-theory large-sample factor.
MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)


@dataclass(frozen=True)
class AnnotatorModelFit:
    """What :func:`fit_annotator_model` estimates.

    ``scores``: :func:`aggregate`'s frame (``item_id``, ``score``, ``se``, ``n_annotations``);
    ``bias`` (:math:`b_j`) and ``noise_sd`` (:math:`\\sigma_j`): Series indexed by sorted
    ``annotator_id``; ``prior_sd``: :math:`s_0`, the noise prior's scale; ``log_posterior``: the
    maximised objective (log marginal likelihood + log prior, up to a constant); ``iterations``
    and ``converged`` of EM.
    """

    scores: pd.DataFrame
    bias: pd.Series
    noise_sd: pd.Series
    prior_sd: float
    log_posterior: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class _Ratings:
    """Validated ratings in canonical row order (by item, then annotator codes)."""

    items: pd.Index
    annotators: pd.Index
    item: np.ndarray
    annotator: np.ndarray
    x: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_annotators(self) -> int:
        return len(self.annotators)


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------
def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _numeric(values: pd.Series, name: str, column: str) -> np.ndarray:
    """``values`` as float64, refusing non-numbers, booleans, missing and infinite values (naming rows)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.dtype.categories.dtype)
    dtype = values.dtype
    numeric = (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
               and not pd.api.types.is_complex_dtype(dtype))
    if not numeric and dtype == object:
        numeric = pd.api.types.infer_dtype(values, skipna=True) in ("integer", "floating", "mixed-integer-float",
                                                                    "decimal", "empty")
    if not numeric:  # error path: find the offending rows one value at a time
        bad = np.array([not (_is_real(v) or v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))
                        for v in values.to_numpy(dtype=object)], dtype=bool)
        if not bad.any():  # e.g. an all-missing string column: report it as missing below
            bad = values.isna().to_numpy()
        raise ValueError(
            f"{name} column {column!r} must hold real numbers (dtype {dtype}); row(s) {_shown(values.index[bad])} have "
            f"non-numeric value(s) {_shown(values[bad].tolist())}"
        )
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} missing or infinite value(s) in column {column!r} at row(s) "
            f"{_shown(values.index[bad])} ({_shown(x[bad].tolist())}); drop or fill them before aggregating"
        )
    return x


def _encode(annotations: Any) -> _Ratings:
    df = _to_pandas(annotations, "annotations", ("item_id", "annotator_id", "label"))
    item, items = _factorize_sorted(df["item_id"])
    _check_nulls(item, df.index, "annotations", "item_id")
    annotator, annotators = _factorize_sorted(df["annotator_id"])
    _check_nulls(annotator, df.index, "annotations", "annotator_id")
    x = _numeric(df["label"], "annotations", "label")
    key = item * max(len(annotators), 1) + annotator
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    same = sorted_key[1:] == sorted_key[:-1]
    if same.any():
        rows = np.unique(np.concatenate([order[:-1][same], order[1:][same]]))
        pairs = list(zip(df["item_id"].iloc[rows], df["annotator_id"].iloc[rows]))
        raise ValueError(
            f"annotations rate the same item twice by the same annotator at row(s) {_shown(df.index[rows])} "
            f"((item_id, annotator_id) {_shown(dict.fromkeys(pairs))}); keep one rating per item and annotator"
        )
    return _Ratings(items=items, annotators=annotators, item=item[order], annotator=annotator[order], x=x[order])


def _encode_gold(gold: Any, items: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(gold mask over ``items``, gold value per item, NaN where none); gold for unrated items is ignored."""
    g = _to_pandas(gold, "gold", ("item_id", "gold_label"))
    null_item = g["item_id"].isna().to_numpy()
    if null_item.any():
        raise ValueError(f"gold has {int(null_item.sum())} missing value(s) in column 'item_id' at row(s) "
                         f"{_shown(g.index[null_item])}")
    value = _numeric(g["gold_label"], "gold", "gold_label")
    codes = items.get_indexer(pd.Index(g["item_id"])) if len(items) else np.full(len(g), -1)
    keep = codes >= 0
    codes, value = codes[keep], value[keep]
    mask = np.zeros(len(items), dtype=bool)
    out = np.full(len(items), np.nan)
    if len(codes):
        lo = np.full(len(items), np.inf)
        hi = np.full(len(items), -np.inf)
        np.minimum.at(lo, codes, value)
        np.maximum.at(hi, codes, value)
        conflicting = np.flatnonzero(lo < hi)
        if len(conflicting):
            raise ValueError(f"gold gives different gold_label values for item_id(s) {_shown(items[conflicting])}; "
                             "keep one gold label per item")
        mask[codes] = True
        out[codes] = value
    return mask, out


def _frame(r: _Ratings, score: np.ndarray, se: np.ndarray, n: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"item_id": r.items, "score": score.astype(np.float64), "se": se.astype(np.float64),
                         "n_annotations": n.astype(np.int64)})


# --------------------------------------------------------------------------------------------
# simple methods
# --------------------------------------------------------------------------------------------
def _group_sd(item: np.ndarray, x: np.ndarray, n: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Sample sd (ddof 1) of ``x`` per item around its mean ``centre``; NaN for single ratings."""
    ss = np.bincount(item, (x - centre[item]) ** 2, minlength=len(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan)


def _simple(r: _Ratings, method: str, trim: float) -> tuple[np.ndarray, np.ndarray]:
    """(score, se) per item of ``mean``, ``median`` or ``trimmed_mean``."""
    k = r.n_items
    n = np.bincount(r.item, minlength=k)
    mean = np.bincount(r.item, r.x, minlength=k) / n
    sd = _group_sd(r.item, r.x, n, mean)
    if method == "mean":
        return mean, sd / np.sqrt(n)
    xs = r.x[np.lexsort((r.x, r.item))]  # r.item is already sorted: ratings ascending within each item
    starts = np.cumsum(n) - n
    if method == "median":
        return 0.5 * (xs[starts + (n - 1) // 2] + xs[starts + n // 2]), MEDIAN_SE_FACTOR * sd / np.sqrt(n)
    g = (trim * n).astype(np.int64)  # int(trim * n), as scipy.stats.trim_mean
    rank = np.arange(len(xs)) - starts[r.item]
    keep = (rank >= g[r.item]) & (rank < (n - g)[r.item])
    score = np.bincount(r.item, np.where(keep, xs, 0.0), minlength=k) / (n - 2 * g)
    winsorized = np.clip(xs, xs[starts + g][r.item], xs[starts + n - g - 1][r.item])
    w_mean = np.bincount(r.item, winsorized, minlength=k) / n
    se = _group_sd(r.item, winsorized, n, w_mean) / ((1 - 2 * trim) * np.sqrt(n))
    return score, se


# --------------------------------------------------------------------------------------------
# annotator model
# --------------------------------------------------------------------------------------------
def _prior_variance(r: _Ratings) -> float:
    """s0^2: pooled within-item variance; else the variance of all ratings; else 1 (all ratings equal)."""
    n = np.bincount(r.item, minlength=r.n_items)
    mean = np.bincount(r.item, r.x, minlength=r.n_items) / n
    ss = float(np.sum((r.x - mean[r.item]) ** 2))
    dof = int(np.sum(n - 1))
    if dof > 0 and ss > 0:
        return ss / dof
    spread = float(np.var(r.x)) if len(r.x) else 0.0
    return spread if spread > 0 else 1.0


class _Model:
    """The EM iteration of the annotator model on encoded ratings (see the module docstring)."""

    def __init__(self, r: _Ratings, gold_mask: np.ndarray, gold_value: np.ndarray, *, bias: bool,
                 bias_prior: float, noise_prior: float) -> None:
        self.r, self.gold, self.gold_value = r, gold_mask, gold_value
        self.bias, self.kappa, self.nu = bias, bias_prior, noise_prior
        self.s0sq = _prior_variance(r)
        self.n_j = np.bincount(r.annotator, minlength=r.n_annotators).astype(np.float64)
        self.constrained = bias and not gold_mask.any()
        self.bias_term = bias and bias_prior > 0  # the b prior's own log(sigma^2) term
        self.denominator = self.n_j + noise_prior + 2 + (1 if self.bias_term else 0)

    def posterior(self, b: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """E-step: (posterior mean and variance of each item's score, sum of weights per item)."""
        r = self.r
        w = 1.0 / s2[r.annotator]
        total = np.bincount(r.item, w, minlength=r.n_items)
        mu = np.bincount(r.item, w * (r.x - b[r.annotator]), minlength=r.n_items) / total
        v = 1.0 / total
        mu[self.gold] = self.gold_value[self.gold]
        v[self.gold] = 0.0
        return mu, v, total

    def step(self, b: np.ndarray, s2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One EM (ECM) step from ``(b, s2)``."""
        r = self.r
        mu, v, _ = self.posterior(b, s2)
        resid = r.x - mu[r.item]
        if self.bias:
            d = self.n_j + self.kappa
            s = np.bincount(r.annotator, resid, minlength=r.n_annotators)
            lam = float(np.sum(s / d) / np.sum(s2 / d)) if self.constrained else 0.0
            b = (s - lam * s2) / d
        expected = (resid - b[r.annotator]) ** 2 + v[r.item]
        s2 = (np.bincount(r.annotator, expected, minlength=r.n_annotators) + self.kappa * b**2 * self.bias
              + self.nu * self.s0sq) / self.denominator
        return b, s2

    def log_posterior(self, b: np.ndarray, s2: np.ndarray) -> float:
        """log p(x | b, s2) (scores integrated out; gold scores fixed) + log p(b, s2), constants dropped."""
        r = self.r
        mu, _, total = self.posterior(b, s2)
        resid = r.x - b[r.annotator] - mu[r.item]
        value = -0.5 * float(np.sum(np.log(s2[r.annotator]) + resid**2 / s2[r.annotator]))
        value -= 0.5 * float(np.sum(np.log(total[~self.gold])))  # the integral over each free score
        if self.bias_term:
            value -= 0.5 * float(np.sum(np.log(s2) + self.kappa * b**2 / s2))
        value -= float(np.sum((self.nu / 2 + 1) * np.log(s2) + self.nu * self.s0sq / (2 * s2)))
        return value

    def fit(self, max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """EM from b = 0, sigma^2 = s0^2 until no b_j moves more than ``tol`` * s0 and no sigma_j
        by a factor more than exp(``tol``)."""
        b = np.zeros(self.r.n_annotators)
        s2 = np.full(self.r.n_annotators, self.s0sq)
        if not len(self.r.x):  # nothing to fit
            return b, s2, 0, True
        scale = math.sqrt(self.s0sq)
        converged, it = False, 0
        for it in range(1, max_iter + 1):
            b_new, s2_new = self.step(b, s2)
            change = max(float(np.max(np.abs(b_new - b), initial=0.0)) / scale,
                         0.5 * float(np.max(np.abs(np.log(s2_new / s2)), initial=0.0)))
            b, s2 = b_new, s2_new
            if change <= tol:
                converged = True
                break
        return b, s2, it, converged


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------
def _check_settings(max_iter: int, tol: float, bias_prior: float, noise_prior: float) -> None:
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if not (bias_prior >= 0 and math.isfinite(bias_prior)):
        raise ValueError(f"bias_prior must be a finite number >= 0 (pseudo-ratings), got {bias_prior}")
    if not (noise_prior > 0 and math.isfinite(noise_prior)):  # 0 would let a variance collapse to 0
        raise ValueError(f"noise_prior must be a finite number > 0 (pseudo-ratings), got {noise_prior}")


def _fit(r: _Ratings, gold: Any, *, bias: bool, bias_prior: float, noise_prior: float, max_iter: int,
         tol: float) -> AnnotatorModelFit:
    if gold is not None:
        gold_mask, gold_value = _encode_gold(gold, r.items)
    else:
        gold_mask, gold_value = np.zeros(r.n_items, dtype=bool), np.full(r.n_items, np.nan)
    model = _Model(r, gold_mask, gold_value, bias=bias, bias_prior=bias_prior, noise_prior=noise_prior)
    b, s2, it, converged = model.fit(max_iter, tol)
    mu, v, _ = model.posterior(b, s2)
    n = np.bincount(r.item, minlength=r.n_items)
    index = pd.Index(r.annotators, name="annotator_id")
    return AnnotatorModelFit(
        scores=_frame(r, mu, np.sqrt(v), n),
        bias=pd.Series(b, index=index, name="bias"),
        noise_sd=pd.Series(np.sqrt(s2), index=index, name="noise_sd"),
        prior_sd=math.sqrt(model.s0sq),
        log_posterior=model.log_posterior(b, s2),
        iterations=it,
        converged=converged,
    )


def fit_annotator_model(annotations: Any, *, gold: Any = None, bias: bool = True, bias_prior: float = 1.0,
                        noise_prior: float = 2.0, max_iter: int = 1000, tol: float = 1e-8) -> AnnotatorModelFit:
    """Fit the Gaussian annotator model (bias and noise per annotator; module docstring) by EM.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        ``item_id``, ``annotator_id``, ``label`` (finite numbers), one row per rating, at most one
        per (item, annotator). Other columns are ignored.
    gold : DataFrame, optional
        ``item_id``, ``gold_label`` (numbers): those items' scores are clamped to their gold label,
        which also anchors the biases (no sum-to-zero constraint then). Gold for items nobody
        rated is ignored; one gold label per item.
    bias : bool
        Fit a bias per annotator (default); ``False`` fits noise only (:math:`b_j = 0`).
    bias_prior, noise_prior : float
        Prior strengths :math:`\\kappa` (>= 0; 0 is a flat prior) and :math:`\\nu` (> 0) in
        pseudo-ratings; see the module docstring.
    max_iter, tol : EM stops after ``max_iter`` steps or when no bias moves more than ``tol``
        times :math:`s_0` and no noise sd changes by a factor more than :math:`e^{tol}`.
    """
    _check_settings(max_iter, tol, bias_prior, noise_prior)
    return _fit(_encode(annotations), gold, bias=bias, bias_prior=bias_prior, noise_prior=noise_prior,
                max_iter=max_iter, tol=tol)


def _with_levels(annotations: Any, method: Method, *, gold: Any, trim: float, max_iter: int, tol: float,
                 levels: Mapping[str, float]) -> pd.DataFrame:
    """:func:`aggregate` of level names: names -> numbers, then the nearest level of each score."""
    names = [str(k) for k in levels]
    values = np.array([float(v) for v in levels.values()], dtype=np.float64)
    if len(names) < 2 or not np.all(np.isfinite(values)) or len(set(values.tolist())) < len(values):
        raise ValueError(f"levels must map at least two level names onto distinct finite numbers, got {dict(levels)}")

    def numbers(frame: Any, column: str, what: str) -> pd.DataFrame:
        _to_pandas(frame, what, ("item_id", column))  # names the missing columns
        df = frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()
        text = df[column].astype("string")
        code = pd.Index(names).get_indexer(pd.Index(text))
        bad = (code < 0) & text.notna().to_numpy()
        if bad.any():
            raise ValueError(f"{what} column {column!r} has value(s) {_shown(text[bad].unique().tolist())} outside the "
                             f"levels {names} at row(s) {_shown(df.index[bad])}")
        return df.assign(**{column: np.where(code >= 0, values[np.maximum(code, 0)], np.nan)})

    out = aggregate(numbers(annotations, "label", "annotations"), method,
                    gold=None if gold is None else numbers(gold, "gold_label", "gold"), trim=trim, max_iter=max_iter, tol=tol)
    order = np.argsort(values, kind="stable")
    nearest = nearest_level(values[order], out["score"].to_numpy(dtype=np.float64))
    out["label"] = np.asarray(names, dtype=object)[order][nearest]
    return out


def aggregate(annotations: Any, method: Method = "mean", *, gold: Any = None, trim: float = 0.1,
              max_iter: int = 1000, tol: float = 1e-8, levels: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Consensus score of each item's numeric ratings.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        ``item_id``, ``annotator_id``, ``label`` (finite numbers: numeric strings, booleans,
        missing or infinite values raise ``ValueError`` naming the rows), one row per rating and
        at most one per (item, annotator) (duplicates raise, naming them).
    method : {"mean", "median", "trimmed_mean", "annotator_model"}
        See the module docstring. ``annotator_model`` runs :func:`fit_annotator_model` with its
        default priors (use that function for its settings and fitted annotator parameters).
    gold : DataFrame, optional
        ``item_id``, ``gold_label``: used by ``annotator_model`` only (gold items' scores are the
        gold labels, and they anchor the annotators' biases and noise); the other methods ignore
        it (it is not even validated for them).
    trim : float
        Share cut from each end by ``trimmed_mean``, in [0, 0.5).
    max_iter, tol : EM settings of ``annotator_model``.
    levels : mapping, optional
        An ordinal scale's level names and their numbers (e.g. ``{"poor": 1, "fair": 2, "good":
        3}``): ``label`` (and ``gold_label``) may then hold level names, and the result gains
        ``label``, the level nearest each score (ties to the lower level). A name outside
        ``levels`` raises ``ValueError`` naming the rows.

    Returns
    -------
    pandas.DataFrame
        One row per rated item, sorted by ``item_id``, RangeIndex: ``item_id``, ``score``
        (float64), ``se`` (float64, NaN for the simple methods on a single rating),
        ``n_annotations`` (int64), and with ``levels`` ``label`` (the nearest level's name).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item_id": ["a", "a", "a", "b"], "annotator_id": ["x", "y", "z", "x"],
    ...                    "label": [1.0, 2.0, 6.0, 4.0]})
    >>> aggregate(df, "median")
      item_id  score        se  n_annotations
    0       a    2.0  1.914469              3
    1       b    4.0       NaN              1
    """
    if method not in METHODS:
        raise ValueError(f"unknown rating method {method!r}; choose one of {list(METHODS)}")
    if levels is not None:
        return _with_levels(annotations, method, gold=gold, trim=trim, max_iter=max_iter, tol=tol, levels=levels)
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    if method == "annotator_model":
        _check_settings(max_iter, tol, 1.0, 2.0)
        return _fit(_encode(annotations), gold, bias=True, bias_prior=1.0, noise_prior=2.0, max_iter=max_iter,
                    tol=tol).scores
    r = _encode(annotations)
    score, se = _simple(r, method, trim)
    return _frame(r, score, se, np.bincount(r.item, minlength=r.n_items))
