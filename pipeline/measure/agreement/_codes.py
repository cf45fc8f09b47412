"""Input validation and integer coding of the canonical long annotation format.

Data contract (``pipeline/contract.py``): a :class:`pandas.DataFrame` or a
:class:`pyarrow.Table` with at least the columns ``item_id``, ``annotator_id``
and ``label``; one row per label an annotator gave an item.  ``label`` may be
string or numeric.  Missing labels are absent rows or null ``label`` values
(null labels are dropped).  Other columns (``vendor``, ``task``,
``annotated_at``, ...) are ignored unless a function uses them (e.g.
``vendor``).

Everything downstream works on integer codes (``pd.factorize`` /
``pyarrow.compute.dictionary_encode``), never on Python objects per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import require_columns

__all__ = ["REQUIRED_COLUMNS", "Annotations", "Encoded", "encode", "group_counts"]

REQUIRED_COLUMNS: tuple[str, ...] = ("item_id", "annotator_id", "label")

#: What every public metric accepts as ``annotations``.
Annotations = Union[pd.DataFrame, pa.Table]


def _column(annotations: Any, name: str) -> pd.Series | pa.ChunkedArray:
    if isinstance(annotations, pd.DataFrame):
        return annotations[name]
    return annotations.column(name)


def _columns_of(annotations: Any) -> list[str]:
    if isinstance(annotations, pd.DataFrame):
        return [str(c) for c in annotations.columns]
    if isinstance(annotations, (pa.Table, pa.RecordBatch)):
        return list(annotations.column_names)
    raise TypeError(
        "annotations must be a pandas DataFrame or a pyarrow Table in the long format "
        f"(columns {', '.join(REQUIRED_COLUMNS)}); got {type(annotations).__name__}"
    )


def check_columns(annotations: Any, extra: Sequence[str] = ()) -> None:
    """Raise a ``ValueError`` naming any missing required column."""
    require_columns(sorted(set(_columns_of(annotations))), (*REQUIRED_COLUMNS, *extra), "annotations",
                    f"the long format needs {list(REQUIRED_COLUMNS)} (one row per label an annotator gave an item)")


def _as_arrow(col: pd.Series | pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | None:
    """The column as a pyarrow ChunkedArray without copying, if it is Arrow-backed."""
    if isinstance(col, pa.Array):
        return pa.chunked_array([col])
    if isinstance(col, pa.ChunkedArray):
        return col
    arr = col.array
    if hasattr(arr, "__arrow_array__") and not isinstance(col.dtype, pd.CategoricalDtype):
        try:
            out = pa.array(arr)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # pragma: no cover - defensive
            return None
        return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])
    return None


def _factorize_runs(col: pd.Series | pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, Any] | None:
    """Factorize only the heads of runs of equal consecutive values (ids usually come grouped).

    Exact for any order (equal values in different runs get the same code via
    the hash factorization of the heads); used only when runs are long
    enough to pay off, otherwise ``None``.
    """
    n = len(col)
    if n < 1024:
        return None
    arrow = _as_arrow(col)
    if arrow is not None:
        if not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type) or pa.types.is_integer(arrow.type)):
            return None
        differs = pc.not_equal(arrow.slice(1), arrow.slice(0, n - 1))
        differs = pc.fill_null(differs, True).to_numpy(zero_copy_only=False)
    elif isinstance(col, pd.Series) and col.dtype.kind in "iu":
        values = col.to_numpy()
        differs = values[1:] != values[:-1]
    else:
        return None
    heads = np.flatnonzero(np.r_[True, differs])
    if heads.size > n // 2:
        return None
    if arrow is not None:
        head_codes, uniques = _factorize_plain(arrow.take(pa.array(heads)))
    else:
        raw_codes, raw_uniques = pd.factorize(col.iloc[heads], sort=False, use_na_sentinel=True)
        head_codes, uniques = np.asarray(raw_codes, dtype=np.int64), raw_uniques
    codes = np.repeat(head_codes, np.diff(np.r_[heads, n]))
    return codes, uniques


def _factorize_plain(col: pa.ChunkedArray) -> tuple[np.ndarray, Any]:
    codes, uniques = pd.factorize(col.to_pandas(types_mapper=pd.ArrowDtype), sort=False, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), uniques


def factorize(
    col: pd.Series | pa.ChunkedArray | pa.Array, *, sort: bool, materialize: bool = True
) -> tuple[np.ndarray, Any]:
    """Integer codes (``-1`` for null) and the distinct values.

    With ``sort=True`` the distinct values are sorted when they are mutually
    comparable; otherwise they keep first-appearance order.  With
    ``materialize=False`` the distinct values stay a pandas ``Index`` (no
    Python object per value; used for the many item ids).
    """
    if not sort:
        runs = _factorize_runs(col)
        if runs is not None:
            return runs if not materialize else (runs[0], _to_numpy(runs[1]))
    if isinstance(col, (pa.ChunkedArray, pa.Array)):
        col = col.to_pandas(types_mapper=pd.ArrowDtype)  # keeps ints as ints when nulls are present
        if not isinstance(col, pd.Series):
            col = pd.Series(col)
    try:
        codes, uniques = pd.factorize(col, sort=sort, use_na_sentinel=True)
    except TypeError:  # mixed, unorderable values
        codes, uniques = pd.factorize(col, sort=False, use_na_sentinel=True)
    if not materialize:
        return np.asarray(codes, dtype=np.int64), uniques
    return np.asarray(codes, dtype=np.int64), _to_numpy(uniques)


def _to_numpy(uniques: Any) -> np.ndarray:
    if isinstance(uniques, pd.Categorical) or isinstance(getattr(uniques, "dtype", None), pd.CategoricalDtype):
        uniques = np.asarray(uniques)
    uniq = np.asarray(uniques)
    if uniq.dtype.kind in "OUS" and len(uniq) and all(isinstance(u, (int, float, np.number)) for u in uniq[:64]):
        try:
            uniq = uniq.astype(np.float64) if any(isinstance(u, float) for u in uniq) else uniq.astype(np.int64)
        except (TypeError, ValueError):
            pass
    return uniq


@dataclass(frozen=True)
class Encoded:
    """Integer-coded annotations (rows with a null label already dropped)."""

    item: np.ndarray  #: item code per kept row, in ``[0, n_item_slots)``
    label: np.ndarray  #: category code per kept row, in ``[0, len(categories))``
    categories: np.ndarray  #: category values, sorted unless ``labels`` given
    n_item_slots: int  #: number of item codes (items with only null labels included)
    item_ids: Any  #: item id of each item code (a pandas Index; indexable)
    annotator: np.ndarray | None = None  #: annotator code per kept row
    annotators: np.ndarray | None = None  #: annotator id of each annotator code
    group: np.ndarray | None = None  #: group (e.g. vendor) code per kept row (``-1`` = null)
    groups: np.ndarray | None = None  #: group value of each group code

    @property
    def n_rows(self) -> int:
        return int(self.item.shape[0])


def _map_to_order(codes: np.ndarray, uniques: np.ndarray, labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    order = pd.Index(list(labels))
    if order.has_duplicates:
        dup = order[order.duplicated()].unique().tolist()[:5]
        raise ValueError(f"labels has duplicate categories {dup}; list each category once")
    pos = order.get_indexer(pd.Index(uniques)) if len(uniques) else np.empty(0, dtype=np.int64)
    if (pos < 0).any():
        # tolerate 1 vs "1" (e.g. numeric labels stored as text, labels from a config file)
        as_text = pd.Index([str(x) for x in order])
        if not as_text.has_duplicates:
            alt = as_text.get_indexer(pd.Index([str(x) for x in uniques]))
            if (alt >= 0).all():
                pos = alt
    unknown = [uniques[j] for j in np.flatnonzero(pos < 0)[:5]]
    if unknown:
        n_unknown = int((pos < 0).sum())
        raise ValueError(
            f"{n_unknown} observed label value(s) are not in labels, e.g. {unknown!r}; "
            f"labels={list(labels)[:10]!r} must list every category the task can use "
            "(check spelling and type, e.g. 1 vs '1')"
        )
    mapped = pos[codes] if len(codes) else codes
    return np.asarray(mapped, dtype=np.int64), np.asarray(order.to_numpy())


def encode(
    annotations: Annotations,
    *,
    labels: Sequence[Any] | None = None,
    annotator: bool = False,
    group: str | None = None,
) -> Encoded:
    """Validate ``annotations`` and code item, label (and optionally annotator/vendor).

    Rows whose ``label`` is null are dropped.  A null ``item_id`` on a labelled
    row raises ``ValueError``.
    """
    check_columns(annotations, (group,) if group else ())
    label_codes, label_uniques = factorize(_column(annotations, "label"), sort=True)
    keep = label_codes >= 0
    all_kept = bool(keep.all())
    item_codes, item_uniques = factorize(_column(annotations, "item_id"), sort=False, materialize=False)
    if not all_kept:
        item_codes = item_codes[keep]
        label_codes = label_codes[keep]
    if (item_codes < 0).any():
        raise ValueError(
            f"item_id is null on {int((item_codes < 0).sum())} labelled row(s); every label row must name its item"
        )
    # categories actually present after dropping nulls (factorize never yields unused ones)
    if labels is not None:
        label_codes, categories = _map_to_order(label_codes, label_uniques, labels)
    else:
        categories = label_uniques
    kw: dict[str, Any] = {}
    if annotator:
        a_codes, a_uniques = factorize(_column(annotations, "annotator_id"), sort=False)
        if not all_kept:
            a_codes = a_codes[keep]
        if (a_codes < 0).any():
            raise ValueError(
                f"annotator_id is null on {int((a_codes < 0).sum())} labelled row(s); "
                "rater-based metrics need to know who gave each label"
            )
        kw.update(annotator=a_codes, annotators=a_uniques)
    if group:
        g_codes, g_uniques = factorize(_column(annotations, group), sort=True)
        if not all_kept:
            g_codes = g_codes[keep]
        kw.update(group=g_codes, groups=g_uniques)
    return Encoded(
        item=item_codes,
        label=label_codes,
        categories=categories,
        n_item_slots=len(item_uniques),
        item_ids=item_uniques,
        **kw,
    )


def group_counts(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-negative integer ``keys`` (ascending) and how often each occurs.

    Uses ``np.bincount`` when the key space ``size`` is at most a few times the
    number of keys (O(rows) memory), else a sort (``np.unique``).
    """
    if keys.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    if size <= max(8 * keys.size, 1 << 20):
        counts = np.bincount(keys, minlength=size)
        flat = np.flatnonzero(counts)
        return flat.astype(np.int64, copy=False), counts[flat].astype(np.int64, copy=False)
    flat, counts = np.unique(keys, return_counts=True)
    return flat.astype(np.int64, copy=False), counts.astype(np.int64, copy=False)
