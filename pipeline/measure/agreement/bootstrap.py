"""Item bootstrap confidence intervals computed on sufficient statistics.

Resampling ``N`` items with replacement is the same as drawing how many
copies of each *distinct item profile* enter the replicate:
``multinomial(N, multiplicity / N)`` over the ``K`` profiles of a
:class:`~.coincidence.CoincidenceStats` (or over the ``V x V`` cells of a
two-rater confusion matrix).  Every metric is a closed form of weighted sums
over profiles, so a replicate costs ``O(K)`` instead of re-reading the raw
rows.  When profiles barely repeat (e.g. continuous interval labels) items
are drawn directly (``rng.integers``) and counted, in chunks of replicates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ._codes import Annotations
from ._sums import fleiss_kappa_from, gwet_ac1_from, percent_agreement_from, scott_pi_from, sums
from .coincidence import CoincidenceStats, as_stats
from .kappa import ConfusionStats, cohen_kappa, confusion, kappa_from_confusion
from .krippendorff import _set_stats, alpha_from_parts, alpha_parts, check_level, krippendorff_alpha, numeric_values
from .multirater import fleiss_kappa, gwet_ac1, percent_agreement, scott_pi

__all__ = ["BootstrapResult", "bootstrap_ci", "replicate_weights"]

_CHUNK_ELEMENTS = 1 << 22  # replicate-weight cells held at once (~32 MB float64)
_MULTINOMIAL_MAX_K = 4096


class BootstrapResult(NamedTuple):
    """Point estimate and percentile bootstrap interval."""

    estimate: float
    ci_low: float
    ci_high: float
    n_boot: int
    confidence: float
    n_valid: int  #: replicates where the metric was defined (not NaN)


def replicate_weights(multiplicity: np.ndarray, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield ``(b, K)`` float arrays of item counts per profile, ``n_boot`` rows in total.

    Each row is the profile histogram of one resample of ``N = sum(multiplicity)``
    items drawn uniformly with replacement.
    """
    mult = np.asarray(multiplicity, dtype=np.int64)
    k = mult.size
    n = int(mult.sum())
    if n_boot <= 0 or k == 0:
        return
    chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // max(k, n, 1)))
    if k <= _MULTINOMIAL_MAX_K:
        p = mult / n
        chunk = max(1, min(n_boot, _CHUNK_ELEMENTS // k))
        done = 0
        while done < n_boot:
            b = min(chunk, n_boot - done)
            yield rng.multinomial(n, p, size=b).astype(np.float64)
            done += b
        return
    profile_of_item = np.repeat(np.arange(k, dtype=np.int64), mult)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        draws = profile_of_item[rng.integers(0, n, size=(b, n))]
        draws += (np.arange(b, dtype=np.int64) * k)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * k).reshape(b, k).astype(np.float64)
        done += b


# ------------------------------------------------------------------ evaluators
class _ChunkSums:
    """``sums(stats, w)`` computed once per replicate chunk and shared by the metrics."""

    def __init__(self) -> None:
        self._stats: CoincidenceStats | None = None
        self._w: np.ndarray | None = None  # kept alive, so identity checks cannot alias
        self._value: dict[str, np.ndarray] | None = None

    def __call__(self, stats: CoincidenceStats, w: np.ndarray) -> dict[str, np.ndarray]:
        if self._value is None or stats is not self._stats or w is not self._w:
            self._stats, self._w, self._value = stats, w, sums(stats, w)
        return self._value


def _value_evaluator(
    name: str, kwargs: Mapping[str, Any], shared: _ChunkSums | None = None
) -> Callable[[CoincidenceStats, np.ndarray], np.ndarray]:
    """Vectorised ``metric(stats reweighted by each row of w)`` for the value-based metrics."""
    sums_of = shared if shared is not None else _ChunkSums()
    if name == "krippendorff_alpha":
        level = kwargs.get("level", "nominal")
        check_level(level)

        def alpha(stats: CoincidenceStats, w: np.ndarray) -> np.ndarray:
            return alpha_from_parts(*alpha_parts(stats, level, w))

        return alpha
    if name == "percent_agreement":
        return lambda stats, w: percent_agreement_from(sums_of(stats, w))
    if name == "fleiss_kappa":
        return lambda stats, w: fleiss_kappa_from(sums_of(stats, w))
    if name == "scott_pi":
        return lambda stats, w: scott_pi_from(sums_of(stats, w))
    if name == "gwet_ac1":
        return lambda stats, w: gwet_ac1_from(sums_of(stats, w), stats.n_categories)
    raise ValueError(f"no bootstrap evaluator for {name!r}")  # pragma: no cover


_VALUE_METRICS: dict[Callable[..., float], str] = {
    krippendorff_alpha: "krippendorff_alpha",
    percent_agreement: "percent_agreement",
    fleiss_kappa: "fleiss_kappa",
    scott_pi: "scott_pi",
    gwet_ac1: "gwet_ac1",
}
_BY_NAME: dict[str, Callable[..., float]] = {v: k for k, v in _VALUE_METRICS.items()} | {"cohen_kappa": cohen_kappa}


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """Percentile interval of the finite replicates (NaN if fewer than half are finite)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < 0.5 * values.size:
        return float("nan"), float("nan"), int(finite.size)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(finite, [tail, 1.0 - tail])
    return float(lo), float(hi), int(finite.size)


def bootstrap_values(
    stats: CoincidenceStats,
    evaluators: Mapping[str, Callable[[CoincidenceStats, np.ndarray], np.ndarray]],
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Replicate values of several metrics from one shared set of item resamples."""
    out: dict[str, list[np.ndarray]] = {name: [] for name in evaluators}
    with np.errstate(divide="ignore", invalid="ignore"):
        for w in replicate_weights(stats.multiplicity, n_boot, rng):
            for name, ev in evaluators.items():
                out[name].append(np.asarray(ev(stats, w), dtype=np.float64).reshape(-1))
    return {k: (np.concatenate(v) if v else np.empty(0)) for k, v in out.items()}


def _check_confidence(confidence: float) -> None:
    if not (0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence is the confidence level and must be in (0, 1), got {confidence!r}")


def bootstrap_ci(
    metric: Callable[..., float] | str,
    annotations: Annotations | CoincidenceStats | ConfusionStats,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
    metric_kwargs: Mapping[str, Any] | None = None,
) -> BootstrapResult:
    r"""Percentile bootstrap confidence interval of an agreement metric, resampling items.

    Items (not rows) are the resampling unit: each replicate draws ``N``
    items with replacement, keeping all labels of a drawn item together.
    It is computed on sufficient statistics (profile multinomial, see module
    docstring), and is reproducible for a given ``seed``.  The interval is
    ``[q_{(1-confidence)/2}, q_{(1+confidence)/2}]`` of the defined (non-NaN)
    replicates; NaN if fewer than half of them are defined.

    Parameters
    ----------
    metric : callable or str
        One of :func:`krippendorff_alpha` (also with ``distance="masi"`` or ``"jaccard"`` for
        set-valued labels), :func:`cohen_kappa`,
        :func:`fleiss_kappa`, :func:`scott_pi`, :func:`gwet_ac1`,
        :func:`percent_agreement` (or its name, or a ``functools.partial``
        of one with keyword options, e.g.
        ``partial(krippendorff_alpha, level="ordinal")``).
    annotations : pandas.DataFrame, pyarrow.Table or statistics
        Long format (data contract of ``pipeline/contract.py``): ``item_id``,
        ``annotator_id``, ``label``; one row per label an annotator gave an
        item; null labels dropped.  Or :func:`coincidences` /
        :func:`confusion` statistics.
    n_boot : int, default 1000
        Number of replicates.
    confidence : float, default 0.95
        Confidence level of the interval (the level of measurement is the metric's: pass it in
        ``metric_kwargs={"level": "interval"}`` or via ``partial``).
    seed : int, Generator or None, default 0
        Seed of ``numpy.random.default_rng``.
    metric_kwargs : mapping, optional
        Keyword options of the metric (``level``, ``labels``,
        ``raters``, ``weights``).

    Returns
    -------
    BootstrapResult
        ``(estimate, ci_low, ci_high, n_boot, confidence, n_valid)``.

    References
    ----------
    Efron, B. & Tibshirani, R. (1993). An Introduction to the Bootstrap,
    ch. 13 (percentile intervals).  Hayes, A. F. & Krippendorff, K. (2007).
    Answering the call for a standard reliability measure for coding data.
    Communication Methods and Measures 1(1), 77-89.
    """
    _check_confidence(confidence)
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be a positive number of replicates, got {n_boot!r}")
    kwargs: dict[str, Any] = dict(metric_kwargs or {})
    if isinstance(metric, functools.partial):
        kwargs = {**metric.keywords, **kwargs}
        metric = metric.func
    if isinstance(metric, str):
        if metric not in _BY_NAME:
            raise ValueError(f"unknown metric {metric!r}; choose one of {sorted(_BY_NAME)}")
        metric = _BY_NAME[metric]
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    if metric is cohen_kappa:
        weights = kwargs.get("weights")
        stats_c = annotations if isinstance(annotations, ConfusionStats) else confusion(
            annotations, raters=kwargs.get("raters"), labels=kwargs.get("labels")
        )
        estimate = cohen_kappa(stats_c, weights=weights)
        cells = stats_c.matrix.ravel()
        v = stats_c.matrix.shape[0]
        reps = []
        with np.errstate(divide="ignore", invalid="ignore"):
            for w in replicate_weights(cells, int(n_boot), rng):
                reps.append(kappa_from_confusion(w.reshape(-1, v, v), weights))
        values = np.concatenate(reps) if reps else np.empty(0)
    elif metric in _VALUE_METRICS:
        name = _VALUE_METRICS[metric]
        unknown = set(kwargs) - ({"level", "labels", "distance"} if name == "krippendorff_alpha" else {"labels"})
        if unknown:
            raise ValueError(f"{name} does not take option(s) {sorted(unknown)}")
        if kwargs.get("distance") is not None:  # set-valued labels: the categories are the distinct sets
            estimate = krippendorff_alpha(annotations, **kwargs)
            stats, delta = _set_stats(annotations, kwargs["distance"], kwargs.get("level", "nominal"), kwargs.get("labels"))

            def set_alpha(s: CoincidenceStats, w: np.ndarray) -> np.ndarray:
                return alpha_from_parts(*alpha_parts(s, "nominal", w, delta=delta))

            values = bootstrap_values(stats, {name: set_alpha}, int(n_boot), rng)[name]
            lo, hi, n_valid = percentile_interval(values, confidence)
            return BootstrapResult(float(estimate), lo, hi, int(n_boot), float(confidence), n_valid)
        stats = as_stats(annotations, kwargs.get("labels"))
        point_kwargs = {k: v for k, v in kwargs.items() if k != "labels"}
        estimate = metric(stats, **point_kwargs)
        if name == "krippendorff_alpha" and kwargs.get("level", "nominal") in ("interval", "ratio"):
            numeric_values(stats, kwargs["level"])
        values = bootstrap_values(stats, {name: _value_evaluator(name, kwargs)}, int(n_boot), rng)[name]
    else:
        raise ValueError(
            f"bootstrap_ci supports {sorted(_BY_NAME)} from pipeline.measure.agreement, got {getattr(metric, '__name__', metric)!r}"
        )
    lo, hi, n_valid = percentile_interval(values, confidence)
    return BootstrapResult(float(estimate), lo, hi, int(n_boot), float(confidence), n_valid)
