"""Vendor and annotator scorecards: accuracy, agreement, volume, turnaround, cost, low effort.

Data contract (the canonical long format of :data:`pipeline.kinds.classification.ANNOTATIONS`)
--------------------------------------------------------------------------------------------
``annotations``: staged classification labels, one row per label an annotator gave an item (the
columns of that schema that are used: ``task, item_id, vendor, annotator_id, label, annotated_at``),
usually of one task and one day. ``gold``: ``item_id, gold_label`` (:data:`~pipeline.kinds.classification.GOLD`).
Another kind scores through :meth:`pipeline.kinds.LabelKind.scorecards` (e.g. :func:`scorecards_from_correct`).

Every function below takes frames and returns frames (no I/O), except the two edges at the end:
:func:`write_scorecards` and :func:`read_metrics_history`, which go through
:mod:`pipeline.storage`. The tables, written per task and day under
``scorecards/<task>/date=<D>/`` (the stage's own partition) by :func:`pipeline.steps.scorecard`, are:

``scorecard_vendor``
    one row per vendor: volume, gold accuracy, leave-one-vendor-out (LOO) accuracy, kappa vs
    LOO consensus, turnaround, cost and SLA status (see :data:`VENDOR_COLUMNS`);
``scorecard_annotator``
    one row per (vendor, annotator): the same measures plus low-effort signals;
``confusion``
    ``vendor, gold_label, label, count``: every cell of each vendor's confusion matrix against
    gold, zeros included;
``vendor_kappa``
    ``vendor, other_vendor, kappa, n_items``: Cohen's kappa between every two vendors (both
    orders), each vendor's label on an item being its annotators' majority.

Definitions
-----------
Gold accuracy
    :math:`\\hat p = c / n` over the labels given to gold items, with the Wilson 95% interval
    (:func:`pipeline.measure.accuracy.wilson_interval`).
Leave-one-vendor-out (LOO) consensus
    for vendor :math:`v`, the task's consensus method (:func:`pipeline.merge.consensus.aggregate`)
    fitted on the labels of every *other* vendor only; gold items are not clamped to their gold
    label (``clamp_gold=False``; gold still sets the weights of ``weighted_vote``), so the LOO
    consensus is a gold-free reference. LOO accuracy is the share of :math:`v`'s labels that
    equal the LOO consensus of their item (items no other vendor labelled are not counted),
    with a Wilson interval.
Kappa vs consensus
    Cohen's kappa (unweighted) between :math:`v`'s item labels (its annotators' majority, ties
    to the label first in the task's order) and the LOO consensus, over the items both cover.
Turnaround
    the canonical data carries only ``annotated_at`` (no request or start time), so turnaround
    is measured as throughput: ``first_label_at`` / ``last_label_at`` (UTC), ``span_hours`` =
    last - first, ``active_hours`` = number of distinct UTC clock hours with at least one label
    and ``labels_per_active_hour`` = labels / active hours.
Cost
    ``cost = n_labels * price_per_label``; cost per correct label
    ``= cost / (n_labels * gold_accuracy) = price_per_label / gold_accuracy`` (NaN when gold
    accuracy is undefined, ``inf`` when it is 0).
Low effort (per annotator, see :class:`LowEffortRules`)
    *near constant*: top label share >= ``top_share`` with at least ``min_labels`` labels;
    *chance level*: with at least ``min_gold`` gold labels, the Wilson upper bound is below
    :math:`1/k` or the interval contains :math:`1/k` (:math:`k` = number of task labels);
    *too fast*: median ``duration_column`` seconds below ``min_seconds``, only when that column
    exists (the canonical schema has none, so it is reported as n/a).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.measure.accuracy import align_gold, gold_accuracy, wilson_interval
from pipeline.score import _coded
from pipeline.contract import namespaced, require_columns

if TYPE_CHECKING:
    from pipeline.measure.agreement.kappa import KappaWeights
    from pipeline.merge.consensus import Method
    from pipeline.storage import Root, Store

__all__ = [
    "METRIC_TABLES",
    "VENDOR_COLUMNS",
    "ANNOTATOR_COLUMNS",
    "LowEffortRules",
    "Scorecards",
    "build_scorecards",
    "confusion_long",
    "cost_columns",
    "kappa_vs_consensus",
    "leave_one_vendor_out",
    "loo_accuracy",
    "low_effort_signals",
    "read_metrics_history",
    "turnaround",
    "vendor_kappa",
    "volume",
    "write_scorecards",
]

#: The metric tables a scorecard run writes (file stem under ``scorecards/<task>/date=<D>/``).
METRIC_TABLES: tuple[str, ...] = ("scorecard_vendor", "scorecard_annotator", "confusion", "vendor_kappa")

#: Rater name of the LOO consensus in :func:`kappa_vs_consensus` (never a vendor name).
_CONSENSUS = "\x00consensus"


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a == b`` elementwise: on codes when both are categoricals of one dtype, else as strings."""
    if isinstance(a.dtype, pd.CategoricalDtype) and a.dtype == b.dtype:
        return a == b
    return a.astype("string") == b.astype("string")


def _is_in(values: pd.Series, among: pd.Series) -> np.ndarray:
    """``values.isin(among)`` as a numpy mask, through Arrow: pandas' ``isin`` on Arrow-backed
    strings makes a Python object per value (the slowest step of a scorecard at 1M labels)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def used(s: pd.Series) -> np.ndarray:  # which categories a categorical's rows use
        codes = s.cat.codes.to_numpy()
        return np.bincount(codes[codes >= 0], minlength=len(s.cat.categories)) > 0

    if isinstance(values.dtype, pd.CategoricalDtype) and values.dtype == among.dtype:  # codes against codes
        return np.append(used(among), False)[values.cat.codes.to_numpy()]

    def plain(s: pd.Series) -> pa.Array:  # a categorical's distinct values, else the values
        if isinstance(s.dtype, pd.CategoricalDtype):
            return pa.array(s.cat.categories[used(s)], pa.string())
        return pa.array(s, from_pandas=True)

    value_set = pc.unique(plain(among))
    if isinstance(values.dtype, pd.CategoricalDtype):  # per category, then per row by its code
        per_category = pc.is_in(pa.array(values.cat.categories, pa.string()), value_set=value_set)
        return np.append(np.asarray(per_category.to_numpy(zero_copy_only=False), dtype=bool), False)[values.cat.codes]
    found = pc.is_in(pa.array(values, from_pandas=True), value_set=value_set)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

_ACCURACY = ["n_gold", "n_correct", "gold_accuracy", "gold_ci_low", "gold_ci_high"]
_LOO = ["n_loo", "n_loo_agree", "loo_accuracy", "loo_ci_low", "loo_ci_high"]
_TURNAROUND = ["first_label_at", "last_label_at", "span_hours", "active_hours", "labels_per_active_hour"]
_SLA = ["sla_status", "sla_detail"]

#: Columns of ``scorecard_vendor`` in order.
VENDOR_COLUMNS: tuple[str, ...] = (
    "task", "vendor", "n_labels", "n_items", "n_annotators", *_ACCURACY, *_LOO,
    "kappa_vs_consensus", "n_consensus_items", *_TURNAROUND,
    "price_per_label", "cost", "cost_per_correct_label", "n_low_effort_annotators", *_SLA,
)
#: Columns of ``scorecard_annotator`` in order.
ANNOTATOR_COLUMNS: tuple[str, ...] = (
    "task", "vendor", "annotator_id", "n_labels", "n_items", *_ACCURACY, *_LOO, *_TURNAROUND,
    "cost", "top_label", "top_label_share", "near_constant", "chance_level", "too_fast",
    "low_effort", "low_effort_detail",
)


@dataclass(frozen=True)
class LowEffortRules:
    """Thresholds of the per-annotator low-effort signals (see the module docstring)."""

    min_labels: int = 20
    top_share: float = 0.9
    min_gold: int = 10
    min_seconds: float = 2.0
    duration_column: str = "duration_s"


@dataclass(frozen=True)
class Scorecards:
    """The four metric tables of one task and day (see the module docstring), plus a label
    kind's own scorecard tables in ``extra`` (``{file stem: frame}``, e.g. the preference kind's
    ``preference_vendor`` and ``strength_calibration``; :attr:`pipeline.kinds.LabelKind.scorecard_tables`)."""

    vendor: pd.DataFrame
    annotator: pd.DataFrame
    confusion: pd.DataFrame
    vendor_kappa: pd.DataFrame
    extra: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """``{file stem: frame}`` in :data:`METRIC_TABLES` order, then the ``extra`` tables."""
        clash = sorted(set(self.extra) & set(METRIC_TABLES))
        if clash:
            raise ValueError(f"extra scorecard tables {clash} would overwrite the shared ones; name them otherwise")
        return {**dict(zip(METRIC_TABLES, (self.vendor, self.annotator, self.confusion, self.vendor_kappa))), **self.extra}

    def with_sla(self, status: pd.DataFrame) -> Scorecards:
        """Copy with ``sla_status`` / ``sla_detail`` taken from ``status`` (``vendor`` keyed)."""
        v = self.vendor.drop(columns=_SLA).merge(status[["vendor", *_SLA]], on="vendor", how="left")
        v["sla_status"] = v["sla_status"].fillna("no_sla").astype("string")
        v["sla_detail"] = v["sla_detail"].astype("string")
        return replace(self, vendor=v[list(VENDOR_COLUMNS)])


# --------------------------------------------------------------------------- building blocks
def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    require_columns(frame.columns, columns, what, "expected the canonical long format of pipeline.kinds.classification.ANNOTATIONS")


def _rate(correct: pd.Series, total: pd.Series, confidence: float) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """``correct / total`` (NaN when ``total == 0``) and its Wilson interval."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = correct / total.where(total > 0)
    lo, hi = wilson_interval(correct.to_numpy(), total.to_numpy(), confidence=confidence)
    return p.astype("float64"), lo, hi


def volume(annotations: pd.DataFrame, *, by: Sequence[str] = ("vendor",)) -> pd.DataFrame:
    """``n_labels``, ``n_items`` (distinct) and ``n_annotators`` (distinct) per group in ``by``."""
    by = list(by)
    return (
        annotations.groupby(by, as_index=False, sort=True)
        .agg(n_labels=("item_id", "size"), n_items=("item_id", "nunique"), n_annotators=("annotator_id", "nunique"))
        .astype({"n_labels": "int64", "n_items": "int64", "n_annotators": "int64"})
    )


def turnaround(annotations: pd.DataFrame, *, by: Sequence[str] = ("vendor",)) -> pd.DataFrame:
    """Throughput per group: first/last label time, span, active hours, labels per active hour.

    ``active_hours`` counts distinct UTC clock hours (``annotated_at`` floored to the hour) with
    at least one label; ``labels_per_active_hour = n_labels / active_hours``. Rows without
    ``annotated_at`` count as labels but not towards the times (all-null groups give NaN/NaT).
    """
    by = list(by)
    ts = pd.to_datetime(annotations["annotated_at"], utc=True)
    frame = annotations[by].assign(_ts=ts, _hour=ts.dt.floor("h"))
    out = frame.groupby(by, as_index=False, sort=True).agg(
        n_labels=("_ts", "size"), first_label_at=("_ts", "min"), last_label_at=("_ts", "max"),
        active_hours=("_hour", "nunique"),
    )
    out["span_hours"] = (out["last_label_at"] - out["first_label_at"]).dt.total_seconds() / 3600.0
    out["active_hours"] = out["active_hours"].astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["labels_per_active_hour"] = out["n_labels"] / out["active_hours"].where(out["active_hours"] > 0)
    return out[[*by, *_TURNAROUND]]


def gold_scores(annotations: pd.DataFrame, gold: pd.DataFrame, *, by: Sequence[str], confidence: float = 0.95) -> pd.DataFrame:
    """:func:`pipeline.measure.accuracy.gold_accuracy` with the scorecard's column names (``gold_*``)."""
    acc = gold_accuracy(annotations, gold, by=list(by), confidence=confidence)
    return acc.rename(columns={"accuracy": "gold_accuracy", "ci_low": "gold_ci_low", "ci_high": "gold_ci_high"})


def leave_one_vendor_out(
    annotations: pd.DataFrame,
    *,
    method: Method = "majority_vote",
    labels: Sequence[Any] | None = None,
    gold: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Consensus of the *other* vendors on every item each vendor labelled.

    For each vendor :math:`v`, :func:`pipeline.merge.consensus.aggregate` with ``method`` is fitted on
    the rows with ``vendor != v`` (all their items, so model-based methods estimate annotator
    quality from as much data as possible); the result is kept for the items :math:`v` labelled.
    ``gold`` is passed for the annotator weights of ``weighted_vote`` and Dawid-Skene but items
    are not clamped to gold (``clamp_gold=False``): the reference is built from labels only.

    Returns
    -------
    DataFrame ``vendor, item_id, loo_label, loo_n_annotations``; items that no other vendor
    labelled are absent.
    """
    from pipeline.merge.consensus import aggregate

    _require(annotations, ["item_id", "vendor", "annotator_id", "label"], "annotations")
    settings: dict[str, Any] = {} if method == "majority_vote" else {"clamp_gold": False}
    use_gold = gold if (gold is not None and len(gold) and method != "majority_vote") else None
    parts = []
    for vendor in sorted(annotations["vendor"].dropna().unique()):
        own = annotations["vendor"] == vendor
        others = annotations.loc[~own, ["item_id", "annotator_id", "label", "vendor"]]
        if others.empty:
            continue
        others = namespaced(others)  # an annotator is (vendor, annotator id): two other vendors' "w1" are two raters
        cons = aggregate(others, method=method, gold=use_gold, labels=labels, **settings)
        cons = cons[_is_in(cons["item_id"], annotations.loc[own, "item_id"])]
        part = pd.DataFrame({"vendor": vendor, "item_id": cons["item_id"].to_numpy(), "loo_label": cons["label"].to_numpy(),
                             "loo_n_annotations": cons["n_annotations"].to_numpy(dtype="int64")})
        for col, like in (("vendor", "vendor"), ("item_id", "item_id"), ("loo_label", "label")):
            if isinstance(annotations[like].dtype, pd.CategoricalDtype):  # compact in, compact out: joins on codes
                part[col] = part[col].astype(annotations[like].dtype)
        parts.append(part)
    if not parts:
        return pd.DataFrame({"vendor": pd.Series(dtype="string"), "item_id": pd.Series(dtype="string"),
                             "loo_label": pd.Series(dtype="string"), "loo_n_annotations": pd.Series(dtype="int64")})
    return pd.concat(parts, ignore_index=True)


def loo_accuracy(annotations: pd.DataFrame, loo: pd.DataFrame, *, by: Sequence[str] = ("vendor",), confidence: float = 0.95) -> pd.DataFrame:
    """Share of labels equal to their item's LOO consensus, per group in ``by`` (Wilson interval).

    ``n_loo`` = labels on items with a LOO consensus, ``n_loo_agree`` = those equal to it.
    ``by`` must include ``vendor`` (the LOO consensus depends on the vendor left out).
    """
    by = list(by)
    if "vendor" not in by:
        raise ValueError(f"by={by!r} must include 'vendor': the LOO consensus differs per vendor left out")
    groups = annotations[by].drop_duplicates().sort_values(by, ignore_index=True)
    joined = annotations[[*by, "item_id", "label"]].merge(loo[["vendor", "item_id", "loo_label"]], on=["vendor", "item_id"])
    joined["agree"] = _same(joined["label"], joined["loo_label"]).astype("int64")
    counts = joined.groupby(by, as_index=False).agg(n_loo=("agree", "size"), n_loo_agree=("agree", "sum"))
    out = groups.merge(counts, on=by, how="left")
    out[["n_loo", "n_loo_agree"]] = out[["n_loo", "n_loo_agree"]].fillna(0).astype("int64")
    out["loo_accuracy"], out["loo_ci_low"], out["loo_ci_high"] = _rate(out["n_loo_agree"], out["n_loo"], confidence)
    return out


def _kappa_matrix(frame: pd.DataFrame, labels: Sequence[Any] | None, weights: KappaWeights = None) -> pd.DataFrame:
    from pipeline.measure.agreement import UndefinedAgreementWarning, pairwise_kappa_matrix

    with warnings.catch_warnings():  # undefined kappas are NaN in the table; no need to warn twice
        warnings.simplefilter("ignore", UndefinedAgreementWarning)
        return pairwise_kappa_matrix(frame, by="vendor", labels=labels, weights=weights)


def _shared_items(annotations: pd.DataFrame) -> pd.DataFrame:
    """Vendors x vendors: number of items both labelled (``X^T X`` of the item x vendor presence),
    vendors sorted; on integer codes (a crosstab of string ids costs seconds per million rows)."""
    known = annotations["item_id"].notna() & annotations["vendor"].notna()
    items, _ = pd.factorize(annotations.loc[known, "item_id"])
    vendors, names = pd.factorize(annotations.loc[known, "vendor"], sort=True)
    present = np.zeros((items.max() + 1 if len(items) else 0, len(names)), dtype=np.int64)
    present[items, vendors] = 1
    names = pd.Index(np.asarray(names, dtype=object), name="vendor")
    return pd.DataFrame(present.T @ present, index=names, columns=names)


def vendor_kappa(annotations: pd.DataFrame, *, labels: Sequence[Any] | None = None,
                 weights: KappaWeights = None) -> pd.DataFrame:
    """Cohen's kappa between every two vendors, long format (both orders, no diagonal); ``weights``
    ``"linear"`` / ``"quadratic"`` for ordered labels (e.g. a rating scale's levels).

    A vendor's label on an item is its annotators' majority (ties to the label first in
    ``labels``), via :func:`pipeline.measure.agreement.pairwise_kappa_matrix` ``(by="vendor")``;
    kappa is over the items both vendors labelled.

    Returns ``vendor, other_vendor, kappa, n_items`` sorted by vendor pair.
    """
    columns = {"vendor": "string", "other_vendor": "string", "kappa": "float64", "n_items": "int64"}
    vendors = sorted(annotations["vendor"].dropna().unique()) if len(annotations) else []
    if len(vendors) < 2:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    mat = _kappa_matrix(annotations, labels, weights).reindex(index=vendors, columns=vendors)
    shared = _shared_items(annotations).reindex(index=vendors, columns=vendors, fill_value=0)
    a, b = np.meshgrid(np.arange(len(vendors)), np.arange(len(vendors)), indexing="ij")
    off = a != b
    out = pd.DataFrame({
        "vendor": np.asarray(vendors, dtype=object)[a[off]],
        "other_vendor": np.asarray(vendors, dtype=object)[b[off]],
        "kappa": mat.to_numpy(dtype="float64")[off],
        "n_items": shared.to_numpy(dtype="int64")[off],
    })
    return out.astype(columns)


def kappa_vs_consensus(annotations: pd.DataFrame, loo: pd.DataFrame, *, labels: Sequence[Any] | None = None,
                       weights: KappaWeights = None) -> pd.DataFrame:
    """Cohen's kappa of each vendor (annotators' majority per item) vs its LOO consensus
    (``loo``: ``vendor, item_id, loo_label``); ``weights`` as :func:`vendor_kappa`.

    Returns ``vendor, kappa_vs_consensus, n_consensus_items`` (items with both a vendor label
    and a LOO consensus; kappa NaN when there are none or chance agreement is total).
    """
    rows = []
    compact = all(isinstance(annotations[c].dtype, pd.CategoricalDtype) for c in ("vendor", "annotator_id"))
    if compact:  # the consensus rater joins the categories (kept sorted), so rater columns stay codes
        annotations = annotations.assign(**{c: annotations[c].cat.set_categories(
            annotations[c].cat.categories.append(pd.Index([_CONSENSUS])).sort_values()) for c in ("vendor", "annotator_id")})
    for vendor in sorted(annotations["vendor"].dropna().unique()):
        mine = annotations.loc[annotations["vendor"] == vendor, ["item_id", "annotator_id", "label", "vendor"]]
        ref = loo.loc[loo["vendor"] == vendor]
        n = int(_is_in(ref["item_id"], mine["item_id"]).sum())
        kappa = np.nan
        if n:
            if compact and ref["item_id"].dtype == mine["item_id"].dtype and ref["loo_label"].dtype == mine["label"].dtype:
                rater = {c: pd.Categorical([_CONSENSUS] * len(ref), dtype=mine[c].dtype) for c in ("annotator_id", "vendor")}
                cons = pd.DataFrame({"item_id": ref["item_id"].reset_index(drop=True), "annotator_id": rater["annotator_id"],
                                     "label": ref["loo_label"].reset_index(drop=True), "vendor": rater["vendor"]})
            else:
                cons = pd.DataFrame({"item_id": ref["item_id"].to_numpy(), "annotator_id": _CONSENSUS,
                                     "label": ref["loo_label"].to_numpy(), "vendor": _CONSENSUS})
            mat = _kappa_matrix(pd.concat([mine, cons], ignore_index=True), labels, weights)
            kappa = float(mat.loc[vendor, _CONSENSUS])
        rows.append((vendor, kappa, n))
    return pd.DataFrame(rows, columns=["vendor", "kappa_vs_consensus", "n_consensus_items"]).astype(
        {"vendor": "string", "kappa_vs_consensus": "float64", "n_consensus_items": "int64"})


def confusion_long(annotations: pd.DataFrame, gold: pd.DataFrame, *, labels: Sequence[Any] | None = None) -> pd.DataFrame:
    """Each vendor's confusion matrix against gold, one row per cell (zeros included).

    Returns ``vendor, gold_label, label, count``: ``count`` labels of the vendor equal to
    ``label`` on items whose gold label is ``gold_label``. Cells run over ``labels`` (plus any
    other label seen, appended in sorted order) for every vendor, even one with no gold labels.
    """
    on_gold = annotations[["vendor", "item_id", "label"]].merge(gold[["item_id", "gold_label"]], on="item_id")
    seen = pd.Index(pd.concat([on_gold["label"], on_gold["gold_label"]]).dropna().astype(str).unique())
    classes = list(labels or [])
    classes += sorted(set(seen) - set(map(str, classes)))
    vendors = sorted(annotations["vendor"].dropna().unique()) if len(annotations) else []
    grid = pd.MultiIndex.from_product([vendors, classes, classes], names=["vendor", "gold_label", "label"])
    counts = on_gold.astype({"label": str, "gold_label": str}).groupby(["vendor", "gold_label", "label"]).size()
    out = counts.reindex(grid, fill_value=0).rename("count").reset_index()
    return out.astype({"vendor": "string", "gold_label": "string", "label": "string", "count": "int64"})


def cost_columns(n_labels: pd.Series, gold_acc: pd.Series, price: pd.Series) -> pd.DataFrame:
    r"""Cost of the labels and cost per correct label.

    .. math:: \text{cost} = n \cdot p, \qquad
              \text{cost per correct label} = \frac{n \cdot p}{n \cdot \hat a} = \frac{p}{\hat a}

    with :math:`n` labels, price :math:`p` per label and gold accuracy :math:`\hat a` (the
    expected number of correct labels is :math:`n \hat a`). NaN when :math:`\hat a` is
    undefined or :math:`n = 0`; ``inf`` when :math:`\hat a = 0`.
    """
    cost = n_labels.astype("float64") * price.astype("float64")
    correct = n_labels.astype("float64") * gold_acc.astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        per_correct = np.where(n_labels > 0, cost.to_numpy() / correct.to_numpy(), np.nan)
    return pd.DataFrame({"price_per_label": price.astype("float64"), "cost": cost,
                         "cost_per_correct_label": per_correct.astype("float64")}, index=n_labels.index)


def low_effort_signals(
    annotations: pd.DataFrame,
    annotator_gold: pd.DataFrame,
    *,
    n_classes: int,
    rules: LowEffortRules = LowEffortRules(),
) -> pd.DataFrame:
    """Per-annotator low-effort signals (rules in the module docstring and :class:`LowEffortRules`).

    Parameters
    ----------
    annotations : DataFrame
        Canonical long frame (``vendor, annotator_id, label``; ``rules.duration_column`` if
        present).
    annotator_gold : DataFrame
        :func:`gold_scores` by ``vendor, annotator_id``.
    n_classes : int
        :math:`k`, the size of the task's label set (chance accuracy is :math:`1/k`).

    Returns
    -------
    DataFrame ``vendor, annotator_id, top_label, top_label_share, near_constant`` (bool),
    ``chance_level`` / ``too_fast`` (nullable boolean: NA = not enough gold / no duration
    column), ``low_effort`` (any signal true) and ``low_effort_detail`` (text, n/a reasons too).
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2 (the task's label count), got {n_classes}")
    key = ["vendor", "annotator_id"]
    counts = annotations.groupby([*key, "label"], as_index=False).size()
    counts = counts.sort_values([*key, "size", "label"], ascending=[True, True, False, True], kind="stable")
    top = counts.groupby(key, as_index=False).agg(top_label=("label", "first"), top_n=("size", "first"), n=("size", "sum"))
    top["top_label_share"] = top["top_n"] / top["n"]
    top["near_constant"] = (top["n"] >= rules.min_labels) & (top["top_label_share"] >= rules.top_share)
    out = top.merge(annotator_gold[[*key, "n_gold", "gold_ci_low", "gold_ci_high"]], on=key, how="left")
    chance = 1.0 / n_classes
    enough = out["n_gold"].fillna(0) >= rules.min_gold
    at_chance = (out["gold_ci_high"] < chance) | ((out["gold_ci_low"] <= chance) & (chance <= out["gold_ci_high"]))
    out["chance_level"] = pd.array(np.where(enough, at_chance.fillna(False), False), dtype="boolean")
    out.loc[~enough, "chance_level"] = pd.NA
    dur = rules.duration_column
    if dur in annotations.columns:
        med = annotations.groupby(key)[dur].median().rename("median_seconds").reset_index()
        out = out.merge(med, on=key, how="left")
        out["too_fast"] = pd.array((out["median_seconds"] < rules.min_seconds).to_numpy(), dtype="boolean")
        out.loc[out["median_seconds"].isna(), "too_fast"] = pd.NA
    else:
        out["median_seconds"] = np.nan
        out["too_fast"] = pd.array([pd.NA] * len(out), dtype="boolean")
    out["low_effort"] = (out["near_constant"] | out["chance_level"].fillna(False) | out["too_fast"].fillna(False)).astype(bool)
    out["low_effort_detail"] = _low_effort_detail(out, chance=chance, rules=rules, has_duration=dur in annotations.columns)
    return out[[*key, "top_label", "top_label_share", "near_constant", "chance_level", "too_fast",
                "low_effort", "low_effort_detail"]]


def _low_effort_detail(out: pd.DataFrame, *, chance: float, rules: LowEffortRules, has_duration: bool) -> pd.Series:
    """Human-readable reasons, one string per annotator ('' when nothing to say)."""
    def text(r: Any) -> str:
        parts = []
        if r.near_constant:
            parts.append(f"near-constant: {r.top_label_share:.0%} of {r.n} labels are {r.top_label!r}")
        if pd.isna(r.chance_level):
            parts.append(f"chance level n/a: {int(r.n_gold) if pd.notna(r.n_gold) else 0} gold labels < {rules.min_gold}")
        elif r.chance_level:
            parts.append(f"chance-level gold accuracy: Wilson [{r.gold_ci_low:.2f}, {r.gold_ci_high:.2f}] vs 1/k = {chance:.2f}")
        if not has_duration:
            parts.append(f"speed n/a: no {rules.duration_column!r} column")
        elif pd.notna(r.too_fast) and bool(r.too_fast):
            parts.append(f"implausibly fast: median {r.median_seconds:.1f}s < {rules.min_seconds}s per label")
        return "; ".join(parts)

    return pd.Series([text(r) for r in out.itertuples(index=False)], index=out.index, dtype="string")


# --------------------------------------------------------------------------- the whole scorecard
def build_scorecards(
    annotations: pd.DataFrame,
    gold: pd.DataFrame,
    *,
    task: str,
    labels: Sequence[Any],
    method: Method = "majority_vote",
    prices: Mapping[str, float] | None = None,
    vendors: Sequence[str] | None = None,
    rules: LowEffortRules = LowEffortRules(),
    confidence: float = 0.95,
    loo: pd.DataFrame | None = None,
) -> Scorecards:
    """Every scorecard table of one task (and, usually, one day) from its labels and gold.

    Parameters
    ----------
    annotations : DataFrame
        Canonical long frame of ``task`` (see the module docstring).
    gold : DataFrame
        ``item_id, gold_label`` (may be empty: gold metrics are then NaN, counts 0).
    task : str
        Written into the ``task`` column.
    labels : sequence
        The task's ordered label set (consensus tie order, kappa categories, confusion cells).
    method : str
        The task's consensus method, used for the leave-one-vendor-out consensus.
    prices : mapping, optional
        ``vendor -> price_per_label`` (missing vendors cost 0).
    vendors : sequence, optional
        Vendors that must appear in ``scorecard_vendor`` even without labels that day (their
        metrics are NaN / 0, so an SLA check reports ``insufficient_data`` rather than nothing).
    rules : LowEffortRules
    confidence : float
        Level of the Wilson intervals.
    loo : DataFrame, optional
        The :func:`leave_one_vendor_out` consensus of these annotations, when the caller has it
        already (else it is computed).

    Returns
    -------
    Scorecards
        ``sla_status`` is ``"no_sla"`` and ``sla_detail`` null until :meth:`Scorecards.with_sla`.
    """
    _require(annotations, ["item_id", "vendor", "annotator_id", "label", "annotated_at"], "annotations")
    _require(gold, ["item_id", "gold_label"], "gold")
    annotations, gold = align_gold(annotations, gold)
    ann = annotations[annotations["label"].notna()]
    prices = dict(prices or {})
    # a compact read with the task's labels: the heavy tables on integer codes (pipeline.score._coded)
    codes = _coded.codes_of(ann, labels) if loo is None else None
    if codes is not None:
        if method == "majority_vote":
            dense, _ = _coded.loo_majority(codes)
        else:
            dense = _coded.dense_loo(codes, leave_one_vendor_out(ann, method=method, labels=labels, gold=gold), labels)
    elif loo is None:
        loo = leave_one_vendor_out(ann, method=method, labels=labels, gold=gold)

    # vendors
    names = sorted(set(vendors or []) | set(ann["vendor"].dropna().unique()))
    v = pd.DataFrame({"vendor": pd.Series(names, dtype="string")})
    keyed = ann if isinstance(ann["vendor"].dtype, pd.CategoricalDtype) else ann.astype({"vendor": "string"})
    gold_at = _coded.gold_codes(codes, gold, labels) if codes is not None else None  # for the confusion cells

    def timing(by: list[str]) -> pd.DataFrame:
        coded = _coded.turnaround(codes, keyed["annotated_at"], by_annotator=len(by) > 1) if codes is not None else None
        return coded if coded is not None else turnaround(keyed, by=by)

    if codes is not None:
        vendor_parts = (_coded.volume(codes), gold_scores(keyed, gold, by=["vendor"], confidence=confidence),
                        _coded.loo_accuracy(codes, dense, by_annotator=False, confidence=confidence),
                        _coded.kappa_vs_consensus(codes, dense), timing(["vendor"]))
    else:
        assert loo is not None
        vendor_parts = (volume(keyed), gold_scores(keyed, gold, by=["vendor"], confidence=confidence),
                        loo_accuracy(keyed, loo, confidence=confidence), kappa_vs_consensus(keyed, loo, labels=labels),
                        turnaround(keyed))
    for part in vendor_parts:
        v = v.merge(part.astype({"vendor": "string"}), on="vendor", how="left")
    zero = ["n_labels", "n_items", "n_annotators", "n_gold", "n_correct", "n_loo", "n_loo_agree",
            "n_consensus_items", "active_hours"]
    v[zero] = v[zero].fillna(0).astype("int64")
    for c in ("gold_accuracy", "gold_ci_low", "gold_ci_high"):
        v[c] = v[c].astype("float64")
    lo, hi = wilson_interval(v["n_correct"].to_numpy(), v["n_gold"].to_numpy(), confidence=confidence)
    v["gold_ci_low"], v["gold_ci_high"] = lo, hi  # also for vendors without labels (NaN)
    for c in ("loo_accuracy", "loo_ci_low", "loo_ci_high"):
        v[c] = v[c].astype("float64")
    price = v["vendor"].map(lambda name: float(prices.get(name, 0.0))).astype("float64")
    v = v.join(cost_columns(v["n_labels"], v["gold_accuracy"], price))

    # annotators
    key = ["vendor", "annotator_id"]
    a = _coded.volume(codes, by_annotator=True) if codes is not None else volume(keyed, by=key).drop(columns="n_annotators")
    a_gold = gold_scores(keyed, gold, by=key, confidence=confidence)
    agree = (_coded.loo_accuracy(codes, dense, by_annotator=True, confidence=confidence) if codes is not None
             else loo_accuracy(keyed, loo, by=key, confidence=confidence))  # type: ignore[arg-type]
    for part in (a_gold, agree, timing(key),
                 low_effort_signals(keyed, a_gold, n_classes=len(labels), rules=rules)):
        a = a.merge(part, on=key, how="left")
    a["cost"] = a["n_labels"].astype("float64") * a["vendor"].map(lambda name: float(prices.get(name, 0.0))).astype("float64")
    a.insert(0, "task", task)
    a = a.astype({"task": "string", "vendor": "string", "annotator_id": "string", "top_label": "string"})

    flagged = a.groupby("vendor")["low_effort"].sum()
    v["n_low_effort_annotators"] = v["vendor"].map(flagged).fillna(0).astype("int64")
    v.insert(0, "task", task)
    v["sla_status"] = pd.Series("no_sla", index=v.index, dtype="string")
    v["sla_detail"] = pd.Series(pd.NA, index=v.index, dtype="string")
    v = v.astype({"task": "string"})
    coded_confusion = _coded.confusion(codes, gold_at, labels) if codes is not None and gold_at is not None else None
    return Scorecards(
        vendor=v[list(VENDOR_COLUMNS)],
        annotator=a[list(ANNOTATOR_COLUMNS)].sort_values(key, ignore_index=True),
        confusion=coded_confusion if coded_confusion is not None else confusion_long(keyed, gold, labels=labels),
        vendor_kappa=_coded.vendor_kappa(codes) if codes is not None else vendor_kappa(keyed, labels=labels),
    )


# --------------------------------------------------------------------------- I/O edges
def write_scorecards(store: Store, task: str, day: date, cards: Scorecards) -> list[str]:
    """Write the tables to ``scorecards/<task>/date=<day>/<name>.parquet``: the scorecard stage's
    own partition, built aside and swapped in whole (a killed stage leaves the previous one).

    Returns the written files' locations (local paths or object-store keys with the bucket).
    """
    folder = store.layout.scorecards(task, day).as_posix()
    tables = {name: pa.Table.from_pandas(frame, preserve_index=False) for name, frame in cards.tables().items()}
    with store.replace_dir(folder) as out:  # everything converted first: a bad frame writes nothing
        for name, table in tables.items():
            store.write_parquet(table, out.key(store.layout.scorecard_table(task, day, name)))
    return [store.location(store.layout.scorecard_table(task, day, name).as_posix()) for name in tables]


def scorecard_key(store: Store, task: str, day: date, name: str = "scorecard_vendor") -> str:
    """Key of scorecard table ``name`` of ``task`` and ``day`` (in the scorecard stage's partition)."""
    if name not in METRIC_TABLES:
        raise ValueError(f"{name!r} is not a scorecard table; choose from {list(METRIC_TABLES)}")
    return store.layout.scorecard_table(task, day, name).as_posix()


_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def read_metrics_history(root: Root, task: str, name: str, *, until: date | None = None) -> pd.DataFrame:
    """One metrics table of ``task`` across every measured day, with a ``date`` column first.

    Parameters
    ----------
    root : path
        Storage root.
    task : str
    name : str
        One of :data:`METRIC_TABLES` (under ``scorecards/<task>/date=<D>/``), or a measure table
        under ``metrics/<task>/date=<D>/`` (``accuracy_vendor``, ``accuracy_annotator``, ``agreement``, ...).
    until : date, optional
        Only days up to and including ``until``.

    Returns
    -------
    DataFrame with ``date`` (``datetime64``, the partition's day) then the table's columns,
    sorted by date; empty (only ``date``) when no day has been measured.

    Raises
    ------
    ValueError
        ``name`` is not a plain file stem, or measured days exist but none has ``name`` (the
        message lists the tables that do exist).

    Examples
    --------
    >>> hist = read_metrics_history("data", "sentiment", "scorecard_vendor")  # doctest: +SKIP
    >>> hist.pivot(index="date", columns="vendor", values="gold_accuracy")    # doctest: +SKIP
    """
    from pipeline.storage import Layout, open_store

    if not _NAME.match(name):
        raise ValueError(f"metrics table name {name!r} must be a file stem such as 'scorecard_vendor'")
    store = open_store(root)
    bases = {kind: folder(task).as_posix() for kind, folder in
             (("scorecards", store.layout.scorecards_task), ("metrics", store.layout.metrics_task))}
    # (key, day, file stem) of every committed metrics and scorecard table
    files = [(k, found[0][0], found[1].removesuffix(".parquet")) for base in bases.values()
             for k in store.committed_files(base, ".parquet")
             if (found := Layout.partition_of(k, base, "date")) is not None]
    if until is not None:
        files = [f for f in files if f[1] <= until.isoformat()]
    wanted = [f for f in files if f[2] == name]
    if not wanted:
        if files:
            known = sorted({f[2] for f in files})
            raise ValueError(f"no metrics table {name!r} under {store.location(bases['metrics'])} or "
                             f"{store.location(bases['scorecards'])}; available: {known}")
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[us]")})
    frames = []
    for key, day, _ in wanted:
        df = store.read_parquet(key).to_pandas()
        df.insert(0, "date", pd.Timestamp(day))
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["date"] = out["date"].astype("datetime64[us]")
    return out.sort_values("date", kind="stable", ignore_index=True)


# --------------------------------------------------------------------------- any label kind
def scorecards_from_correct(
    annotations: pd.DataFrame,
    correct: pd.Series,
    *,
    task: str,
    prices: Mapping[str, float] | None = None,
    vendors: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> Scorecards:
    """Scorecards of a label kind that only says which labels are correct against gold.

    ``correct``: aligned with ``annotations``; True / False on labels of gold items, NA on the rest
    (what "correct" means is the kind's: e.g. within a tolerance of the gold score). Gives volume,
    gold accuracy with Wilson intervals, turnaround and cost per correct label per vendor and
    annotator; the classification-only columns (leave-one-vendor-out agreement, kappa, top label,
    low-effort signals) are NaN / NA / False, and ``confusion`` / ``vendor_kappa`` are empty.
    """
    _require(annotations, ["item_id", "vendor", "annotator_id", "annotated_at"], "annotations")
    if len(correct) != len(annotations):
        raise ValueError(f"correct has {len(correct)} values for {len(annotations)} annotations; give one per row")
    prices = dict(prices or {})
    keyed = annotations.astype({"vendor": "string"}).reset_index(drop=True)
    flags = pd.Series(pd.array(correct.to_numpy(), dtype="boolean"))
    keyed["_gold"], keyed["_correct"] = flags.notna().astype("int64"), flags.fillna(False).astype("int64")

    def gold(by: list[str]) -> pd.DataFrame:
        out = keyed.groupby(by, as_index=False).agg(n_gold=("_gold", "sum"), n_correct=("_correct", "sum"))
        with np.errstate(invalid="ignore", divide="ignore"):
            out["gold_accuracy"] = out["n_correct"] / out["n_gold"].where(out["n_gold"] > 0)
        out["gold_ci_low"], out["gold_ci_high"] = wilson_interval(out["n_correct"].to_numpy(), out["n_gold"].to_numpy(),
                                                                  confidence=confidence)
        return out

    names = sorted(set(vendors or []) | set(keyed["vendor"].dropna().unique()))
    v = pd.DataFrame({"vendor": pd.Series(names, dtype="string")})
    for part in (volume(keyed), gold(["vendor"]), turnaround(keyed)):
        v = v.merge(part.astype({"vendor": "string"}), on="vendor", how="left")
    zero = ["n_labels", "n_items", "n_annotators", "n_gold", "n_correct", "active_hours"]
    v[zero] = v[zero].fillna(0).astype("int64")
    for c in ("n_loo", "n_loo_agree", "n_consensus_items", "n_low_effort_annotators"):
        v[c] = 0
    for c in ("gold_accuracy", "gold_ci_low", "gold_ci_high", "loo_accuracy", "loo_ci_low", "loo_ci_high",
              "kappa_vs_consensus"):
        v[c] = v[c].astype("float64") if c in v.columns else np.nan
    price = v["vendor"].map(lambda name: float(prices.get(name, 0.0))).astype("float64")
    v = v.join(cost_columns(v["n_labels"], v["gold_accuracy"], price))
    v.insert(0, "task", task)
    v["sla_status"] = pd.Series("no_sla", index=v.index, dtype="string")
    v["sla_detail"] = pd.Series(pd.NA, index=v.index, dtype="string")
    v = v.astype({"task": "string"})

    key = ["vendor", "annotator_id"]
    a = volume(keyed, by=key).drop(columns="n_annotators")
    for part in (gold(key), turnaround(keyed, by=key)):
        a = a.merge(part, on=key, how="left")
    for c in ("n_loo", "n_loo_agree"):
        a[c] = 0
    for c in ("loo_accuracy", "loo_ci_low", "loo_ci_high", "top_label_share"):
        a[c] = np.nan
    a["cost"] = a["n_labels"].astype("float64") * a["vendor"].map(lambda name: float(prices.get(name, 0.0))).astype("float64")
    a["top_label"] = pd.Series(pd.NA, index=a.index, dtype="string")
    a["near_constant"] = False
    a["chance_level"] = pd.array([pd.NA] * len(a), dtype="boolean")
    a["too_fast"] = pd.array([pd.NA] * len(a), dtype="boolean")
    a["low_effort"] = False
    a["low_effort_detail"] = pd.Series("", index=a.index, dtype="string")
    a.insert(0, "task", task)
    a = a.astype({"task": "string", "vendor": "string", "annotator_id": "string"})
    confusion = pd.DataFrame({"vendor": pd.Series(dtype="string"), "gold_label": pd.Series(dtype="string"),
                              "label": pd.Series(dtype="string"), "count": pd.Series(dtype="int64")})
    kappa = vendor_kappa(keyed.iloc[0:0].assign(label=pd.Series(dtype="string")))
    return Scorecards(vendor=v[list(VENDOR_COLUMNS)], annotator=a[list(ANNOTATOR_COLUMNS)].sort_values(key, ignore_index=True),
                      confusion=confusion, vendor_kappa=kappa)
