"""The tidy agreement table written by the pipeline's measure stage."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._codes import Annotations, check_columns, encode
from ._sums import (
    UndefinedAgreementWarning,
    degenerate_reason,
    fleiss_kappa_from,
    gwet_ac1_from,
    percent_agreement_from,
    scott_pi_from,
    sums,
)
from .bootstrap import _check_confidence, _ChunkSums, _value_evaluator, bootstrap_values, percentile_interval
from .coincidence import CoincidenceStats, from_codes
from .krippendorff import Level, alpha_from_parts, alpha_parts, check_level, numeric_values

__all__ = ["TABLE_COLUMNS", "TABLE_METRICS", "agreement_table"]

#: Metrics reported per scope, in row order.
TABLE_METRICS: tuple[str, ...] = ("percent_agreement", "krippendorff_alpha", "fleiss_kappa", "scott_pi", "gwet_ac1")
#: Columns of :func:`agreement_table`.
TABLE_COLUMNS: tuple[str, ...] = ("scope", "metric", "value", "ci_low", "ci_high", "n_items", "n_labels")

_MASK_MAX_GROUPS = 64


def _point_values(stats: CoincidenceStats, level: str) -> dict[str, float]:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = sums(stats)
        return {
            "percent_agreement": float(percent_agreement_from(s)),
            "krippendorff_alpha": float(alpha_from_parts(*alpha_parts(stats, level))),
            "fleiss_kappa": float(fleiss_kappa_from(s)),
            "scott_pi": float(scott_pi_from(s)),
            "gwet_ac1": float(gwet_ac1_from(s, stats.n_categories)),
        }


def _scopes(enc: Any, by: str | None) -> list[tuple[str, np.ndarray | None]]:
    """``(scope name, row selector)``; ``None`` selects every row."""
    scopes: list[tuple[str, np.ndarray | None]] = [("overall", None)]
    if by is None or enc.groups is None:
        return scopes
    n_groups = len(enc.groups)
    if n_groups <= _MASK_MAX_GROUPS:
        for g in range(n_groups):
            scopes.append((str(enc.groups[g]), np.flatnonzero(enc.group == g)))
        return scopes
    order = np.argsort(enc.group, kind="stable")
    bounds = np.searchsorted(enc.group[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        scopes.append((str(enc.groups[g]), order[bounds[g] : bounds[g + 1]]))
    return scopes


def agreement_table(
    annotations: Annotations,
    *,
    level: Level = "nominal",
    labels: Sequence[Any] | None = None,
    by: str | None = "vendor",
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Agreement per scope as a tidy table (one row per scope and metric).

    Scopes: ``"overall"`` (all labels of each item, whoever gave them) and,
    when ``by`` is set, one scope per value of that column (``str`` of the
    vendor name): agreement *within* the vendor, among that vendor's
    annotators, on the items it labelled.  Rows with a null ``by`` value
    only count towards ``"overall"``.

    Metrics per scope (see each function for its formula): ``percent_agreement``,
    ``krippendorff_alpha`` (at ``level``), ``fleiss_kappa``, ``scott_pi``
    (multi-rater pi) and ``gwet_ac1``; all but alpha treat labels as nominal.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        Long format (data contract of ``pipeline/contract.py``): columns
        ``item_id``, ``annotator_id``, ``label`` (+ the ``by`` column, e.g.
        ``vendor``); one row per label an annotator gave an item; null
        labels are dropped; other columns are ignored.
    level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
        Level of measurement for Krippendorff's alpha.
    labels : sequence, optional
        The task's categories in order (ordinal rank order; Gwet's ``q``).
    by : str or None, default "vendor"
        Column defining the per-group scopes; ``None`` for overall only.
    n_boot : int, default 200
        Item-bootstrap replicates per scope for ``ci_low``/``ci_high``
        (``0`` = no intervals, NaN).  Items are resampled within the scope;
        see :func:`bootstrap_ci`.
    seed : int, default 0
        Seed; each scope gets its own child stream of
        ``numpy.random.SeedSequence(seed)``, so results are reproducible.
    confidence : float, default 0.95
        Confidence level of the percentile intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``scope, metric, value, ci_low, ci_high, n_items, n_labels``;
        ``n_items`` = items with at least one label in the scope and
        ``n_labels`` = their non-null labels.  Undefined values are NaN and
        each degenerate scope emits one :class:`UndefinedAgreementWarning`
        saying why.

    Notes
    -----
    Cost is a few passes over integer codes per scope plus ``O(K)`` per
    bootstrap replicate (``K`` = distinct item label profiles), so 1M rows
    with 200 replicates take well under a second.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item_id": [1, 1, 2, 2], "annotator_id": ["a", "b", "a", "b"],
    ...                    "label": ["x", "x", "y", "y"], "vendor": ["v1"] * 4})
    >>> agreement_table(df, n_boot=0)[["scope", "metric", "value"]].head(2)
         scope              metric  value
    0  overall   percent_agreement    1.0
    1  overall  krippendorff_alpha    1.0
    """
    check_level(level)
    _check_confidence(confidence)
    if int(n_boot) < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot!r}")
    if by is not None:
        check_columns(annotations, (by,))
    enc = encode(annotations, labels=labels, group=by)
    explicit = labels is not None
    seeds = np.random.SeedSequence(seed)

    rows: list[tuple[Any, ...]] = []
    scopes = _scopes(enc, by)
    children = seeds.spawn(len(scopes))
    shared = _ChunkSums()  # the nominal-family metrics share one set of sums per replicate chunk
    evaluators = {name: _value_evaluator(name, {"level": level}, shared) for name in TABLE_METRICS}
    for (scope, sel), child in zip(scopes, children):
        item = enc.item if sel is None else enc.item[sel]
        label = enc.label if sel is None else enc.label[sel]
        stats = from_codes(item, label, enc.n_item_slots, enc.categories, explicit_order=explicit)
        if level in ("interval", "ratio"):
            numeric_values(stats, level)
        values = _point_values(stats, level)
        reason = degenerate_reason(sums(stats))
        if reason is not None:
            warnings.warn(
                f"agreement_table scope {scope!r}: {reason}; undefined metrics are NaN",
                UndefinedAgreementWarning,
                stacklevel=2,
            )
        intervals: dict[str, tuple[float, float]] = {}
        if n_boot and stats.n_pairable_items > 0:
            reps = bootstrap_values(stats, evaluators, int(n_boot), np.random.default_rng(child))
            for name in TABLE_METRICS:
                lo, hi, _ = percentile_interval(reps[name], confidence)
                intervals[name] = (lo, hi)
        for name in TABLE_METRICS:
            lo, hi = intervals.get(name, (float("nan"), float("nan")))
            value = values[name]
            if not np.isfinite(value):
                lo = hi = float("nan")
            rows.append((scope, name, value, lo, hi, stats.n_items, stats.n_labels))
    out = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return out.astype(
        {"scope": "str", "metric": "str", "value": "float64", "ci_low": "float64", "ci_high": "float64",
         "n_items": "int64", "n_labels": "int64"}
    )
