r"""Per-rater measures of numeric ratings (a 1-5 Likert level, a 0-100 score, a 0/1 rubric criterion).

Data contract: the staged annotations of a rating task (:mod:`pipeline.kinds.rating`), one row per
rating: ``item_id``, ``score`` (float; null scores are ignored) and the grouping columns ``by``
(``["vendor"]`` or ``["vendor", "annotator_id"]``). For a group's ratings :math:`x_i` of items with
a reference :math:`y_i` (a consensus or gold score) and :math:`d_i = x_i - y_i`:

- **Bias** (:func:`rater_bias`): :math:`\bar d` with its Student-t interval
  :math:`\bar d \pm t_{n-1,(1+c)/2}\, s_d / \sqrt n` (:math:`s_d` with ddof 1), the mean absolute
  error :math:`\tfrac1n\sum|d_i|`, the RMSE :math:`\sqrt{\tfrac1n\sum d_i^2}` and Pearson's
  :math:`r(x, y)`. ``leniency`` is ``lenient`` when the interval lies above 0, ``severe`` below.
- **Scale use** (:func:`scale_use`): the distinct scores used, the share of the most used one and
  the Shannon entropy :math:`H = -\sum_k p_k \log_2 p_k` of the score distribution (bits;
  normalised by :math:`\log_2 K` for a scale of :math:`K` levels). A rater with enough ratings who
  uses fewer than ``min_levels`` levels (at most all :math:`K`) is ``flagged``.
- **Gold error** (:func:`gold_error`): the share of gold ratings within ``tolerance`` of the gold
  score (Wilson interval, :func:`pipeline.measure.accuracy.wilson_interval`), the MAE and bias.

For a vendor manager: *bias* says whether a vendor's raters score systematically higher (lenient)
or lower (severe) than the reference, in scale points: a calibration issue, fixable with guidelines
or anchors, and no sign of noise. *MAE / RMSE* are the typical size of a rating's disagreement
(RMSE weighs large misses more); *corr* asks whether the rater orders items like the reference at
all, whatever the offset: a low value is a comprehension or effort problem that no recalibration
fixes. *Scale use* catches raters who answer "3" or "met" to everything (central tendency /
straight-lining): their ratings carry little information even when their bias is small. *Gold
error* is accuracy on items with a known answer, the figure to put in a vendor's contract. With a
consensus reference, leave the rater's vendor out of it (the scorecard's leave-one-vendor-out
consensus), or a vendor is compared partly with itself.

References: F. E. Saal, R. G. Downey & M. A. Lahey (1980), "Rating the ratings", Psychological
Bulletin 88(2), 413-428 (leniency/severity, central tendency, range restriction); C. M. Myford &
E. W. Wolfe (2003), "Detecting and measuring rater effects", J. Applied Measurement 4(4), 386-422;
C. E. Shannon (1948), Bell System Technical Journal 27(3); E. B. Wilson (1927), JASA 22(158).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from pipeline.contract import require_columns
from pipeline.measure.accuracy import wilson_interval

__all__ = ["correct_against_gold", "gold_error", "rater_bias", "scale_use"]

_SLACK = 1e-9  # float slack of the tolerance test of gold_error and of matching scores to levels


def _by(by: Sequence[str]) -> list[str]:
    """``by`` as a list, rejecting a bare string, an empty list and the score column."""
    if isinstance(by, str) or not list(by):
        raise ValueError(f"by must be a non-empty list of column names, e.g. ['vendor'] or ['vendor', 'annotator_id']; got {by!r}")
    cols = list(by)
    if "score" in cols or "gold_score" in cols:
        raise ValueError(f"by {cols} names a score column; group by who rated (vendor, annotator_id), not by the score")
    return cols


def _groups(annotations: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Every group of ``annotations``, sorted: the rows of every output."""
    return annotations[by].drop_duplicates().sort_values(by, ignore_index=True)


def _pairs(annotations: pd.DataFrame, reference: pd.DataFrame, column: str, by: list[str], what: str) -> pd.DataFrame:
    """Ratings with a non-null score joined to the non-null ``column`` of ``reference`` (one row
    per item): the ``by`` columns, ``_x`` (the rating), ``_y`` (the reference) and ``_d = _x - _y``."""
    require_columns(annotations.columns, ["item_id", "score", *by], "annotations", "pass the staged ratings of one task")
    require_columns(reference.columns, ["item_id", column], what, f"pass one row per item: item_id, {column}")
    ids = reference["item_id"].dropna()
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        shown = list(dup.astype(str).unique()[:5])
        raise ValueError(f"{what} has more than one row for {dup.nunique()} item_id(s), e.g. {shown}; "
                         f"give one {column} per item (aggregate repeated ones first)")
    ref = reference.loc[reference["item_id"].notna() & reference[column].notna(), ["item_id", column]]
    ref = ref.rename(columns={column: "_y"}).astype({"_y": "float64"})
    cols = list(dict.fromkeys([*by, "item_id", "score"]))
    rows = annotations.loc[annotations["score"].notna(), cols].rename(columns={"score": "_x"}).astype({"_x": "float64"})
    joined = rows.merge(ref, on="item_id", how="inner")
    return joined.assign(_d=joined["_x"] - joined["_y"])[[*by, "_x", "_y", "_d"]]


def rater_bias(annotations: pd.DataFrame, reference: pd.DataFrame, *, by: Sequence[str], confidence: float = 0.95,
               min_n: int = 2) -> pd.DataFrame:
    """Mean signed difference of each group's ratings from ``reference`` (``item_id``, ``score``).

    Returns the ``by`` columns, ``n`` (ratings of referenced items), ``bias``, ``ci_low`` /
    ``ci_high`` (Student-t interval at ``confidence``; NaN when ``n < min_n`` or ``n < 2``), ``mae``,
    ``rmse``, ``corr`` (Pearson, NaN with fewer than 3 pairs or a constant side) and ``leniency``
    (``lenient`` / ``severe`` / ``neutral``); every group of ``annotations`` appears, sorted.

    >>> import pandas as pd
    >>> a = pd.DataFrame({"vendor": "v", "item_id": ["p", "q", "r"], "score": [3.0, 4.0, 5.0]})
    >>> ref = pd.DataFrame({"item_id": ["p", "q", "r"], "score": [2.0, 3.0, 4.0]})
    >>> rater_bias(a, ref, by=["vendor"])[["n", "bias", "mae", "leniency"]].to_dict("records")
    [{'n': 3, 'bias': 1.0, 'mae': 1.0, 'leniency': 'lenient'}]
    """
    by = _by(by)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1 (e.g. 0.95); got {confidence!r}")
    pairs = _pairs(annotations, reference, "score", by, "reference")
    g = pairs.groupby(by, dropna=False)
    xc = pairs["_x"] - g["_x"].transform("mean")
    yc = pairs["_y"] - g["_y"].transform("mean")
    pairs = pairs.assign(_ad=pairs["_d"].abs(), _dd=pairs["_d"] ** 2, _xx=xc * xc, _yy=yc * yc, _xy=xc * yc)
    agg = pairs.groupby(by, as_index=False, dropna=False).agg(
        n=("_d", "size"), bias=("_d", "mean"), _sd=("_d", "std"), mae=("_ad", "mean"), _ms=("_dd", "mean"),
        _sxx=("_xx", "sum"), _syy=("_yy", "sum"), _sxy=("_xy", "sum"), _ux=("_x", "nunique"), _uy=("_y", "nunique"))
    out = _groups(annotations, by).merge(agg, on=by, how="left")
    n = out["n"].fillna(0).to_numpy(dtype=np.int64)
    bias, sd = out["bias"].to_numpy(dtype=float), out["_sd"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = student_t.ppf((1 + confidence) / 2, np.where(n >= 2, n - 1, 1))
        half = quantile * sd / np.sqrt(n)
        corr = out["_sxy"].to_numpy(dtype=float) / np.sqrt(out["_sxx"].to_numpy(dtype=float) * out["_syy"].to_numpy(dtype=float))
    ok = (n >= max(min_n, 2)) & np.isfinite(sd)
    varies = (n >= 3) & (out["_ux"].fillna(0).to_numpy() > 1) & (out["_uy"].fillna(0).to_numpy() > 1)
    low, high = np.where(ok, bias - half, np.nan), np.where(ok, bias + half, np.nan)
    result = out[by].assign(n=n, bias=bias, ci_low=low, ci_high=high, mae=out["mae"].to_numpy(dtype=float),
                            rmse=np.sqrt(out["_ms"].to_numpy(dtype=float)),
                            corr=np.where(varies, np.clip(corr, -1.0, 1.0), np.nan))
    result["leniency"] = np.select([low > 0, high < 0], ["lenient", "severe"], "neutral")
    return result


def _on_levels(scores: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``scores`` moved onto the nearest value of the sorted ``scale``; a ``ValueError`` naming the
    scores that are not (within float slack) a value of it."""
    right = np.clip(np.searchsorted(scale, scores), 0, scale.size - 1)
    left = np.clip(right - 1, 0, scale.size - 1)
    nearest = np.where(np.abs(scores - scale[left]) <= np.abs(scores - scale[right]), scale[left], scale[right])
    off = np.abs(scores - nearest) > _SLACK * max(1.0, float(np.abs(scale).max()))
    if off.any():
        shown = sorted({float(s) for s in scores[off]})[:5]
        raise ValueError(f"annotations has {int(off.sum())} score(s) not among the {scale.size} levels "
                         f"(from {scale[0]:g} to {scale[-1]:g}), e.g. {shown}; pass the task's scale values as levels")
    return nearest


def scale_use(annotations: pd.DataFrame, *, by: Sequence[str], levels: Sequence[float] | None = None,
              min_ratings: int = 10, min_levels: int = 3) -> pd.DataFrame:
    """How much of the scale each group uses.

    Returns the ``by`` columns, ``n`` (non-null scores), ``levels_used`` (distinct scores),
    ``top_share`` (share of the most used score), ``entropy`` (bits), ``levels_available``
    (``len(levels)``, <NA> without ``levels``), ``normalised_entropy`` (``entropy /
    log2(levels_available)``; NaN without ``levels`` or with fewer than two) and ``flagged``
    (``n >= min_ratings`` and ``levels_used < min(min_levels, levels_available)``). With
    ``levels``, every score must be one of them.

    >>> import pandas as pd
    >>> a = pd.DataFrame({"vendor": ["flat"] * 10 + ["full"] * 10, "score": [3.0] * 10 + [1.0, 2.0, 3.0, 4.0, 5.0] * 2})
    >>> scale_use(a, by=["vendor"], levels=[1, 2, 3, 4, 5])[["vendor", "levels_used", "flagged"]].to_dict("records")
    [{'vendor': 'flat', 'levels_used': 1, 'flagged': True}, {'vendor': 'full', 'levels_used': 5, 'flagged': False}]
    """
    by = _by(by)
    require_columns(annotations.columns, ["score", *by], "annotations", "pass the staged ratings of one task")
    if min_ratings < 1 or min_levels < 1:
        raise ValueError(f"min_ratings and min_levels must be at least 1; got {min_ratings!r} and {min_levels!r}")
    known = annotations["score"].notna()
    scores = annotations.loc[known, "score"].to_numpy(dtype=float)
    available: int | None = None
    if levels is not None:
        scale = np.sort(np.asarray(list(levels), dtype=float))
        if scale.size == 0 or not np.isfinite(scale).all() or np.unique(scale).size != scale.size:
            raise ValueError(f"levels must be distinct finite scale values, e.g. [1, 2, 3, 4, 5] or [0, 1]; got {list(levels)!r}")
        available, scores = int(scale.size), _on_levels(scores, scale)
    rows = annotations.loc[known, by].assign(_s=scores)
    counts = rows.groupby([*by, "_s"], dropna=False).size().rename("_c").reset_index()
    p = counts["_c"] / counts.groupby(by, dropna=False)["_c"].transform("sum")
    counts["_h"] = -p * np.log2(p)
    agg = counts.groupby(by, as_index=False, dropna=False).agg(
        n=("_c", "sum"), levels_used=("_c", "size"), _top=("_c", "max"), entropy=("_h", "sum"))
    out = _groups(annotations, by).merge(agg, on=by, how="left")
    out[["n", "levels_used"]] = out[["n", "levels_used"]].fillna(0).astype("int64")
    n = out["n"].to_numpy(dtype=np.int64)
    entropy = np.where(n > 0, out["entropy"].to_numpy(dtype=float) + 0.0, np.nan)  # + 0.0: no -0.0
    result = out[[*by, "n", "levels_used"]].assign(top_share=np.where(n > 0, out["_top"].to_numpy(dtype=float) / np.maximum(n, 1), np.nan),
                                                   entropy=entropy)
    result["levels_available"] = pd.array([available] * len(result), dtype="Int64")
    result["normalised_entropy"] = entropy / np.log2(available) if available is not None and available >= 2 else np.nan
    threshold = min(min_levels, available) if available is not None else min_levels
    result["flagged"] = (n >= min_ratings) & (result["levels_used"].to_numpy() < threshold)
    return result


def _within(diff: pd.Series, tolerance: float) -> pd.Series:
    """A rating within ``tolerance`` of its reference (``diff`` = score - reference), with float slack."""
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0 (0: the same level); got {tolerance!r}")
    return diff.abs() <= tolerance + _SLACK


def correct_against_gold(annotations: pd.DataFrame, gold: pd.DataFrame, *, tolerance: float = 0.0) -> pd.Series:
    """Per row of ``annotations``: True / False for ratings of gold items (within ``tolerance`` of
    ``gold_score``, the rule of :func:`gold_error`), NA for the rest; aligned with its index."""
    truth = annotations["item_id"].map(gold.set_index("item_id")["gold_score"]) if len(gold) else \
        pd.Series(np.nan, index=annotations.index)
    return _within(annotations["score"].astype("float64") - truth, tolerance).astype("boolean").where(truth.notna())


def gold_error(annotations: pd.DataFrame, gold: pd.DataFrame, *, by: Sequence[str], tolerance: float = 0.0) -> pd.DataFrame:
    """Accuracy and error of each group's ratings of gold items (``gold``: ``item_id``, ``gold_score``).

    A rating is correct when ``|score - gold_score| <= tolerance`` (plus 1e-9 of float slack).
    Returns the ``by`` columns, ``n_gold``, ``n_correct``, ``accuracy``, ``ci_low`` / ``ci_high``
    (95% Wilson), ``mae`` and ``bias`` (mean ``score - gold_score``); groups without gold ratings
    have ``n_gold == 0`` and NaN measures.
    """
    by = _by(by)
    _within(pd.Series(dtype="float64"), tolerance)  # a bad tolerance fails before any data work
    pairs = _pairs(annotations, gold, "gold_score", by, "gold")
    pairs = pairs.assign(_ok=_within(pairs["_d"], tolerance).astype("int64"), _ad=pairs["_d"].abs())
    agg = pairs.groupby(by, as_index=False, dropna=False).agg(
        n_gold=("_ok", "size"), n_correct=("_ok", "sum"), mae=("_ad", "mean"), bias=("_d", "mean"))
    out = _groups(annotations, by).merge(agg, on=by, how="left")
    out[["n_gold", "n_correct"]] = out[["n_gold", "n_correct"]].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = out["n_correct"] / out["n_gold"].where(out["n_gold"] > 0)
    low, high = wilson_interval(out["n_correct"].to_numpy(), out["n_gold"].to_numpy(), confidence=0.95)
    return out[[*by, "n_gold", "n_correct"]].assign(accuracy=accuracy.astype("float64"), ci_low=low, ci_high=high,
                                                    mae=out["mae"].astype("float64"), bias=out["bias"].astype("float64"))
