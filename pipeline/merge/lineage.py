"""Lineage of merged items: which vendors and batches labelled each item, and the canonical row
order a merge reads annotations in (so its output never depends on file or listing order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.arrays import positions, unique_sorted
from pipeline.kinds import LabelKind

__all__ = ["contributing_vendors", "merge_order", "source_batches"]


def contributing_vendors(annotations: pd.DataFrame, item_ids: pd.Series) -> pd.Series:
    """Comma-joined sorted vendor names that labelled each item in ``item_ids`` (vectorised: a
    bit mask of vendors per item on integer codes; names joined once per distinct mask), as
    Arrow-backed text (``string[pyarrow]``; null for an item nobody labelled)."""
    v_codes, vendors = pd.factorize(annotations["vendor"], sort=True)
    if len(vendors) > 62:
        raise ValueError(f"{len(vendors)} vendors label one task; at most 62 are supported")
    i_codes, items = _codes(annotations["item_id"])
    masks = np.zeros(len(items), dtype=np.int64)
    np.bitwise_or.at(masks, i_codes, np.left_shift(np.int64(1), v_codes.astype(np.int64)))
    distinct, inverse = np.unique(masks, return_inverse=True)
    names = np.array([",".join(str(v) for b, v in enumerate(vendors) if m >> b & 1) for m in distinct.tolist()],
                     dtype=object)
    at = positions(items, item_ids)
    per_item = np.append(inverse, -1)[at]  # -1: nobody labelled it (null)
    # Arrow-backed text: a few distinct names taken per item, no Python string per item
    out = pa.array(names, pa.string()).take(pa.array(per_item, mask=per_item < 0))
    return pd.Series(pd.arrays.ArrowExtensionArray(out))


def _codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of ``column`` and the values they number (a categorical's own codes)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        values = column.cat.categories
    else:
        codes, uniques = pd.factorize(column)
        values = pd.Index(uniques)
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} annotation(s) have no {column.name}; staged rows always have one")
    return codes, values


def source_batches(annotations: pd.DataFrame, item_ids: pd.Series) -> pa.ListArray:
    """Sorted unique ``<vendor>/<batch_id>`` that labelled each item of ``item_ids`` (vectorised).

    ``item_ids`` must be unique; an item without annotations gets an empty list.
    """
    v_codes, v_names = pd.factorize(annotations["vendor"], use_na_sentinel=False)
    b_codes, b_names = pd.factorize(annotations["batch_id"], use_na_sentinel=False)
    pair_key = v_codes.astype(np.int64) * max(len(b_names), 1) + b_codes
    n_pairs = len(v_names) * max(len(b_names), 1)
    pairs = unique_sorted(pair_key, bound=n_pairs)  # the (vendor, batch) pairs that occur: few
    lookup = np.zeros(n_pairs, dtype=np.int64)
    lookup[pairs] = np.arange(len(pairs))
    pair_codes = lookup[pair_key]
    # the distinct "<vendor>/<batch>" names (a batch is far fewer than its rows), ranked by name
    names = np.array([f"{v_names[p // max(len(b_names), 1)]}/{b_names[p % max(len(b_names), 1)]}" for p in pairs.tolist()],
                     dtype=object)
    order = np.argsort(names.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    pos = positions(pd.Index(item_ids), annotations["item_id"])
    keep = pos >= 0
    width = max(len(names), 1)
    key = unique_sorted(pos[keep].astype(np.int64) * width + rank[pair_codes[keep]],
                        bound=len(item_ids) * width)  # per item, its batches by name
    offsets = np.concatenate([[0], np.cumsum(np.bincount(key // width, minlength=len(item_ids)))])
    values = pa.array(names[order], pa.string()).take(pa.array(key % width))  # no Python string per value
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


def merge_order(kind: LabelKind) -> list[str]:
    """Canonical row order of annotations before merging, so results never depend on file order:
    item, vendor, annotator, batch, file, time, then the kind's payload columns (those of a nested
    type, e.g. a list of tags, are not orderable: a kind with one carries its text form too)."""
    flat = [f.name for f in kind.payload if not pa.types.is_nested(f.type)]
    return ["item_id", "vendor", "annotator_id", "batch_id", "source_file", "annotated_at", *flat]
