"""The classification scorecard's heavy tables on integer codes (a compact read, see :mod:`pipeline.history`).

:func:`pipeline.score.scorecard.build_scorecards` takes this path when the annotations are
categoricals whose labels all lie in the task's label set; every table equals the one the
frame-level building blocks of :mod:`pipeline.score.scorecard` give from the same rows as strings
(tested in ``tests/kinds/test_classification_compact.py``), only without joins, ``isin`` or
refits on string keys:

* each vendor's label on an item (its annotators' majority, ties to the label first in the task's
  order, as :func:`pipeline.measure.agreement.majority_labels`) is computed once, as a dense
  ``vendors x items`` array, and feeds both vendor-by-vendor kappa and kappa vs consensus;
* the leave-one-vendor-out *majority vote* is the per-item label counts of all vendors minus the
  vendor's own (no refit): :math:`\\hat z^{(-v)}_i = \\arg\\max_k (n_{ik} - n^{(v)}_{ik})`, ties to
  the label first in the task's order, which is :class:`pipeline.merge.consensus.MajorityVote`'s
  rule when ``labels`` are given; other methods are refitted
  (:func:`pipeline.score.scorecard.leave_one_vendor_out`) and only their result is coded;
* agreement with that consensus, volume, turnaround and the confusion matrices are ``np.bincount``
  over row codes (gold accuracy is :func:`pipeline.measure.accuracy.gold_accuracy`, itself on codes).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from pipeline.arrays import unique_sorted

if TYPE_CHECKING:
    from pipeline.measure.agreement.kappa import KappaWeights

__all__ = ["Codes", "codes_of", "confusion", "dense_loo", "gold_codes", "kappa_vs_consensus", "loo_accuracy",
           "loo_majority", "turnaround", "vendor_kappa", "volume"]

_KEY = ["vendor", "annotator_id"]


@dataclass(frozen=True)
class Codes:
    """One task's labels as integer codes, rows aligned with the annotations they came from."""

    vendors: list[str]  # vendors with labels, sorted
    vendor: np.ndarray  # per row: index into ``vendors``
    vendor_dtype: pd.CategoricalDtype  # the annotations' dtypes, for key columns that join on codes
    annotator_dtype: pd.CategoricalDtype
    item_dtype: pd.CategoricalDtype
    item: np.ndarray  # per row: item category code
    n_items: int
    label: np.ndarray  # per row: index into the task's labels
    n_cat: int
    pair: np.ndarray  # per row: index of its (vendor, annotator) in sorted order
    pair_vendor: np.ndarray  # per pair: index into ``vendors``
    pair_vendor_code: np.ndarray  # per pair: vendor category code
    pair_annotator_code: np.ndarray  # per pair: annotator category code
    majority: np.ndarray  # (vendors, items) int16: the vendor's majority label on the item, -1 when none

    def pair_keys(self) -> pd.DataFrame:
        """``vendor, annotator_id`` of every pair, as categoricals of the annotations' dtypes, sorted."""
        return pd.DataFrame({
            "vendor": pd.Categorical.from_codes(self.pair_vendor_code, dtype=self.vendor_dtype),
            "annotator_id": pd.Categorical.from_codes(self.pair_annotator_code, dtype=self.annotator_dtype),
        })


def codes_of(annotations: pd.DataFrame, labels: Sequence[Any] | None) -> Codes | None:
    """:class:`Codes` of compact annotations (no null label, vendor, item or annotator), or None
    when the frame-level path must run instead: not categoricals, no ``labels`` of strings, or a
    label outside them (that path then names the problem)."""
    columns = ("item_id", "vendor", "annotator_id", "label")
    if labels is None or not all(isinstance(annotations[c].dtype, pd.CategoricalDtype) for c in columns):
        return None
    classes = list(labels)
    if not all(isinstance(x, str) for x in classes) or len(set(classes)) != len(classes):
        return None
    raw = {c: annotations[c].cat.codes.to_numpy() for c in columns}
    if any(len(v) and v.min() < 0 for v in raw.values()):
        return None
    label = _class_of(annotations["label"], classes, missing=-1)
    if len(label) and label.min() < 0:
        return None
    n_vendor_cats = len(annotations["vendor"].cat.categories)
    n_annotator_cats = len(annotations["annotator_id"].cat.categories)
    used_vendor = np.bincount(raw["vendor"], minlength=n_vendor_cats) > 0
    vendor_index = np.cumsum(used_vendor) - 1
    vendor = vendor_index[raw["vendor"]]
    pair_key = raw["vendor"].astype(np.int64) * n_annotator_cats + raw["annotator_id"]
    used_pair = np.bincount(pair_key, minlength=n_vendor_cats * n_annotator_cats) > 0  # vendors x annotator ids: small
    pair_index = np.cumsum(used_pair) - 1
    keys = np.flatnonzero(used_pair)
    vendor_names = annotations["vendor"].cat.categories
    n_items, n_cat = len(annotations["item_id"].cat.categories), len(classes)
    vendors = [str(x) for x in vendor_names[used_vendor]]
    item = raw["item_id"].astype(np.int64)
    majority = np.full((len(vendors), n_items), -1, dtype=np.int16)
    for v in range(len(vendors)):  # the majority of each vendor's labels per item, ties to the first label
        own = _label_counts(item[vendor == v], label[vendor == v], n_items, n_cat)
        labelled = own.any(axis=1)
        majority[v, labelled] = own[labelled].argmax(axis=1)
    dtypes = {c: cast(pd.CategoricalDtype, annotations[c].dtype) for c in ("vendor", "annotator_id", "item_id")}
    return Codes(
        vendors=vendors, vendor=vendor, vendor_dtype=dtypes["vendor"], annotator_dtype=dtypes["annotator_id"],
        item_dtype=dtypes["item_id"], item=item, n_items=n_items,
        label=label, n_cat=n_cat, pair=pair_index[pair_key], pair_vendor=vendor_index[keys // n_annotator_cats],
        pair_vendor_code=keys // n_annotator_cats, pair_annotator_code=keys % n_annotator_cats, majority=majority,
    )


def _label_counts(item: np.ndarray, label: np.ndarray, n_items: int, n_cat: int) -> np.ndarray:
    """``(items, labels)`` counts of the rows (item codes, label indices)."""
    k = max(n_cat, 1)
    return np.bincount(item * k + label, minlength=n_items * k).reshape(n_items, k)


def volume(codes: Codes, *, by_annotator: bool = False) -> pd.DataFrame:
    """:func:`pipeline.score.scorecard.volume` by ``vendor`` (or ``vendor, annotator_id``)."""
    if not by_annotator:
        per_vendor = np.bincount(codes.pair_vendor, minlength=len(codes.vendors))
        return pd.DataFrame({"vendor": pd.Series(codes.vendors, dtype="string"),
                             "n_labels": np.bincount(codes.vendor, minlength=len(codes.vendors)).astype(np.int64),
                             "n_items": (codes.majority >= 0).sum(axis=1).astype(np.int64),
                             "n_annotators": per_vendor.astype(np.int64)})
    n_pairs = len(codes.pair_vendor)
    distinct = unique_sorted(codes.pair * np.int64(max(codes.n_items, 1)) + codes.item)  # (annotator, item) once each
    out = codes.pair_keys()
    out["n_labels"] = np.bincount(codes.pair, minlength=n_pairs).astype(np.int64)
    out["n_items"] = np.bincount(distinct // max(codes.n_items, 1), minlength=n_pairs).astype(np.int64)
    return out


def loo_majority(codes: Codes) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-vendor-out majority vote on every item each vendor labelled: ``(label, n)``,
    both ``(vendors, items)``; label -1 where no other vendor labelled the item."""
    n_v, n_i = len(codes.vendors), codes.n_items
    total = _label_counts(codes.item, codes.label, n_i, codes.n_cat)
    loo = np.full((n_v, n_i), -1, dtype=np.int16)
    n = np.zeros((n_v, n_i), dtype=np.int64)
    for v in range(n_v):
        mine_rows = codes.vendor == v
        own = _label_counts(codes.item[mine_rows], codes.label[mine_rows], n_i, codes.n_cat)
        others = total - own
        n_others = others.sum(axis=1)
        mine = codes.majority[v] >= 0
        ok = mine & (n_others > 0)
        loo[v, ok] = others[ok].argmax(axis=1)  # the first maximum: the label first in the task's order
        n[v, ok] = n_others[ok]
    return loo, n


def _class_of(column: pd.Series, labels: Sequence[Any], *, missing: int) -> np.ndarray:
    """Per row of a categorical ``column``, its value's index in ``labels`` (``missing`` for a
    value outside them or a null): one lookup per category, not per row."""
    position = {x: i for i, x in enumerate(labels)}
    to_class = np.array([position.get(c, missing) for c in column.cat.categories] + [missing], dtype=np.int64)
    return to_class[column.cat.codes.to_numpy()]  # a null's code -1 picks the appended ``missing``


def dense_loo(codes: Codes, loo: pd.DataFrame, labels: Sequence[Any]) -> np.ndarray:
    """A :func:`pipeline.score.scorecard.leave_one_vendor_out` frame of this compact read (its
    ``vendor``, ``item_id`` and ``loo_label`` on the annotations' categories) as a
    ``(vendors, items)`` label array."""
    if not all(isinstance(loo[c].dtype, pd.CategoricalDtype) for c in ("vendor", "item_id", "loo_label")):
        raise ValueError("dense_loo needs the consensus of a compact read (categorical vendor, item_id, loo_label)")
    out = np.full((len(codes.vendors), codes.n_items), -1, dtype=np.int16)
    vendor = _class_of(loo["vendor"], codes.vendors, missing=-1)
    known = vendor >= 0
    out[vendor[known], loo["item_id"].cat.codes.to_numpy()[known]] = _class_of(loo["loo_label"], labels, missing=-1)[known]
    return out


def _groups(codes: Codes, by_annotator: bool) -> tuple[np.ndarray, int, pd.DataFrame]:
    """Per row its group, the number of groups and their key columns: by vendor, or by
    (vendor, annotator) as categoricals of the annotations' dtypes."""
    if by_annotator:
        return codes.pair, len(codes.pair_vendor), codes.pair_keys()
    return codes.vendor, len(codes.vendors), pd.DataFrame({"vendor": pd.Series(codes.vendors, dtype="string")})


def loo_accuracy(codes: Codes, loo: np.ndarray, *, by_annotator: bool, confidence: float) -> pd.DataFrame:
    """:func:`pipeline.score.scorecard.loo_accuracy` by ``vendor`` (or ``vendor, annotator_id``)."""
    from pipeline.score.scorecard import _rate

    ref = loo[codes.vendor, codes.item]
    counted = ref >= 0
    group, size, out = _groups(codes, by_annotator)
    out["n_loo"] = np.bincount(group[counted], minlength=size).astype(np.int64)
    out["n_loo_agree"] = np.bincount(group[counted & (ref == codes.label)], minlength=size).astype(np.int64)
    out["loo_accuracy"], out["loo_ci_low"], out["loo_ci_high"] = _rate(out["n_loo_agree"], out["n_loo"], confidence)
    return out


def _kappa(a: np.ndarray, b: np.ndarray, n_cat: int, weights: KappaWeights) -> float:
    """Cohen's kappa of two label arrays over the positions both have (-1 = none); NaN when none."""
    from pipeline.measure.agreement.kappa import kappa_from_confusion

    both = (a >= 0) & (b >= 0)
    if not both.any():
        return float("nan")
    confusion = np.bincount(a[both].astype(np.int64) * n_cat + b[both], minlength=n_cat * n_cat)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(kappa_from_confusion(confusion.reshape(1, n_cat, n_cat).astype(np.float64), weights)[0])


def vendor_kappa(codes: Codes, weights: KappaWeights = None) -> pd.DataFrame:
    """:func:`pipeline.score.scorecard.vendor_kappa`: every ordered pair of vendors."""
    n = len(codes.vendors)
    kappa, shared = np.full((n, n), np.nan), np.zeros((n, n), dtype=np.int64)
    for a in range(n):
        for b in range(a + 1, n):  # confusion oriented as the pairwise matrix's (smaller code first); kappa is symmetric
            kappa[a, b] = kappa[b, a] = _kappa(codes.majority[a], codes.majority[b], codes.n_cat, weights)
            shared[a, b] = shared[b, a] = int(((codes.majority[a] >= 0) & (codes.majority[b] >= 0)).sum())
    row, col = np.nonzero(~np.eye(n, dtype=bool))  # row-major: vendor, then other vendor
    names = np.asarray(codes.vendors, dtype=object)
    return pd.DataFrame({"vendor": names[row], "other_vendor": names[col], "kappa": kappa[row, col],
                         "n_items": shared[row, col]}).astype(
        {"vendor": "string", "other_vendor": "string", "kappa": "float64", "n_items": "int64"})


def kappa_vs_consensus(codes: Codes, loo: np.ndarray, weights: KappaWeights = None) -> pd.DataFrame:
    """:func:`pipeline.score.scorecard.kappa_vs_consensus` against a ``(vendors, items)`` LOO label array."""
    rows = []
    for v, name in enumerate(codes.vendors):
        n = int(((loo[v] >= 0) & (codes.majority[v] >= 0)).sum())
        kappa = _kappa(loo[v], codes.majority[v], codes.n_cat, weights) if n else float("nan")
        rows.append((name, kappa, n))
    return pd.DataFrame(rows, columns=["vendor", "kappa_vs_consensus", "n_consensus_items"]).astype(
        {"vendor": "string", "kappa_vs_consensus": "float64", "n_consensus_items": "int64"})


def gold_codes(codes: Codes, gold: pd.DataFrame, labels: Sequence[Any]) -> np.ndarray | None:
    """Per item code, its gold label's index in ``labels`` (``len(labels)`` for a null gold label or
    one outside them: it counts, never matches), -1 for items without gold; None when ``gold`` is not
    aligned on the annotations' codes (:func:`pipeline.measure.accuracy.align_gold`) or lists an
    item twice (the frame-level join then counts each of its rows)."""
    item, gold_label = gold["item_id"], gold["gold_label"]
    if not (isinstance(item.dtype, pd.CategoricalDtype) and isinstance(gold_label.dtype, pd.CategoricalDtype)
            and item.dtype == codes.item_dtype):
        return None
    at = item.cat.codes.to_numpy().astype(np.int64)
    if (at < 0).any() or (len(at) and np.bincount(at, minlength=codes.n_items).max() > 1):
        return None
    out = np.full(codes.n_items, -1, dtype=np.int64)
    out[at] = _class_of(gold_label, labels, missing=len(labels))
    return out


def confusion(codes: Codes, gold: np.ndarray, labels: Sequence[Any]) -> pd.DataFrame | None:
    """:func:`pipeline.score.scorecard.confusion_long`; None when a labelled gold item's gold label
    lies outside ``labels`` (the frame-level table then appends it to the cells)."""
    k = codes.n_cat
    truth = gold[codes.item]
    on_gold = truth >= 0
    if (truth[on_gold] >= k).any():
        return None
    cells = np.bincount((codes.vendor[on_gold] * k + truth[on_gold]) * k + codes.label[on_gold],
                        minlength=len(codes.vendors) * k * k)
    grid = pd.MultiIndex.from_product([codes.vendors, list(labels), list(labels)], names=["vendor", "gold_label", "label"])
    out = pd.Series(cells.astype(np.int64), index=grid, name="count").reset_index()
    return out.astype({"vendor": "string", "gold_label": "string", "label": "string", "count": "int64"})


def turnaround(codes: Codes, annotated_at: pd.Series, *, by_annotator: bool) -> pd.DataFrame | None:
    """:func:`pipeline.score.scorecard.turnaround` by ``vendor`` (or ``vendor, annotator_id``);
    None unless ``annotated_at`` is a UTC datetime column (the frame-level path parses the rest)."""
    from pipeline.score.scorecard import _TURNAROUND

    dtype = annotated_at.dtype
    if not (isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"):
        return None
    group, size, out = _groups(codes, by_annotator)
    ts = annotated_at.reset_index(drop=True)
    span = ts.groupby(group, sort=True).agg(["min", "max"]).reindex(range(size))
    raw = ts.array.asi8
    timed = ts.notna().to_numpy()
    per_hour = int(np.timedelta64(1, "h") / np.timedelta64(1, dtype.unit))
    hour = raw[timed] // per_hour  # floor to the clock hour
    active = np.zeros(size, dtype=np.int64)
    if hour.size:
        lo, n_hours = int(hour.min()), int(hour.max() - hour.min()) + 1
        key = group[timed].astype(np.int64) * n_hours + (hour - lo)
        distinct = (np.flatnonzero(np.bincount(key, minlength=size * n_hours)) if size * n_hours <= 8 * key.size + (1 << 20)
                    else pd.unique(key))
        active = np.bincount(distinct // n_hours, minlength=size).astype(np.int64)
    out["first_label_at"] = span["min"].to_numpy()
    out["last_label_at"] = span["max"].to_numpy()
    out["first_label_at"] = out["first_label_at"].astype(dtype)  # an all-empty span comes as objects: cast after
    out["last_label_at"] = out["last_label_at"].astype(dtype)
    out["span_hours"] = (out["last_label_at"] - out["first_label_at"]).dt.total_seconds() / 3600.0
    out["active_hours"] = active
    n_labels = np.bincount(group, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["labels_per_active_hour"] = pd.Series(n_labels, index=out.index) / out["active_hours"].where(out["active_hours"] > 0)
    return out[[*(_KEY if by_annotator else ["vendor"]), *_TURNAROUND]]
