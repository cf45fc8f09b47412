"""Input validation and conversion for the consensus estimators: the long annotation frame and
gold (pandas or pyarrow), named columns and rows in every error, label sets.

Data contract (labelq canonical long format): ``annotations`` has at least ``item_id``,
``annotator_id`` and ``label``, one row per label an annotator gave an item (labels strings or
numbers; only ``vendor`` of the other columns is ever used, by ``WeightedVote(by="vendor")``);
``gold`` has ``item_id`` and ``gold_label``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import require_columns

ANNOTATION_COLUMNS: tuple[str, str, str] = ("item_id", "annotator_id", "label")
GOLD_COLUMNS: tuple[str, str] = ("item_id", "gold_label")

_MAX_SHOWN = 5


# --------------------------------------------------------------------------------------------
# input validation / conversion
# --------------------------------------------------------------------------------------------
def _to_pandas(frame: Any, name: str, columns: Sequence[str]) -> pd.DataFrame:
    """Return ``frame[columns]`` as a pandas DataFrame, accepting pandas or pyarrow input."""
    if isinstance(frame, pd.DataFrame):
        df = frame
    else:
        try:  # pyarrow.Table / RecordBatch without importing pyarrow eagerly
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is a project dependency
            pa = None
        if pa is not None and isinstance(frame, (pa.Table, pa.RecordBatch)):
            require_columns(frame.schema.names, columns, name)
            return frame.select(list(columns)).to_pandas()
        raise TypeError(
            f"{name} must be a pandas.DataFrame or pyarrow.Table, got {type(frame).__name__}"
        )
    require_columns(df.columns, columns, name)
    duplicated = [c for c in columns if int((df.columns == c).sum()) > 1]
    if duplicated:
        raise ValueError(f"{name} has duplicated column name(s) {duplicated}; keep one of each")
    return df.loc[:, list(columns)]


def _shown(values: Iterable[Any]) -> str:
    values = list(values)
    text = ", ".join(repr(v) for v in values[:_MAX_SHOWN])
    if len(values) > _MAX_SHOWN:
        text += f", ... ({len(values)} in total)"
    return "[" + text + "]"


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _sorted_order(uniques: pd.Index | np.ndarray) -> np.ndarray:
    """Stable order that sorts ``uniques``; mixed types sort by (type name, value)."""
    try:
        return np.argsort(np.asarray(uniques), kind="stable")
    except TypeError:  # e.g. ints mixed with strings
        pass
    seq = list(uniques)
    try:
        return np.array(sorted(range(len(seq)), key=lambda j: _sort_key(seq[j])), dtype=np.int64)
    except TypeError:
        return np.array(
            sorted(range(len(seq)), key=lambda j: (type(seq[j]).__name__, str(seq[j]))),
            dtype=np.int64,
        )


def _factorize_sorted(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize`` with uniques in sorted order (mixed types tolerated); nulls get -1."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # integer codes already: rank the categories in use
        cat_codes = values.cat.codes.to_numpy()
        categories = values.cat.categories
        used = np.zeros(len(categories), dtype=bool)
        used[cat_codes[cat_codes >= 0]] = True
        kept = np.flatnonzero(used)
        present = pd.Index(categories[kept])
        by_value = _sorted_order(present)
        cat_rank = np.full(len(categories), -1, dtype=np.int64)
        cat_rank[kept[by_value]] = np.arange(len(kept), dtype=np.int64)
        return np.append(cat_rank, -1)[cat_codes], present[by_value]  # a null's code -1 picks the appended -1
    codes, uniques = pd.factorize(values, sort=False, use_na_sentinel=True)
    uniques = pd.Index(uniques)
    order = _sorted_order(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    codes = codes.astype(np.int64, copy=False)
    valid = codes >= 0
    codes[valid] = rank[codes[valid]]
    return codes, uniques[order]


def _check_nulls(codes: np.ndarray, index: pd.Index, name: str, column: str) -> None:
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise ValueError(
            f"{name} has {bad.size} missing value(s) in column {column!r} at row(s) "
            f"{_shown(index[bad])}; drop or fill them before aggregating"
        )


def _validate_labels(labels: Sequence[Any] | None) -> pd.Index | None:
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)):
        raise ValueError(
            f"labels must be a sequence of class labels, not the single string {labels!r}"
        )
    index = pd.Index(list(labels))
    if len(index) == 0:
        raise ValueError("labels must contain at least one class label (got an empty sequence)")
    if index.hasnans:
        raise ValueError(f"labels must not contain missing values: {list(labels)!r}")
    if index.has_duplicates:
        dups = index[index.duplicated()].unique()
        raise ValueError(f"labels has duplicate entries {_shown(dups)}; each class once")
    return index
