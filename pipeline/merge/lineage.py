"""Lineage of merged items: which vendors and batches labelled each item, and the canonical row
order a merge reads annotations in (so its output never depends on file or listing order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.kinds import LabelKind

__all__ = ["contributing_vendors", "merge_order", "source_batches"]


def contributing_vendors(annotations: pd.DataFrame, item_ids: pd.Series) -> pd.Series:
    """Comma-joined sorted vendor names that labelled each item in ``item_ids`` (vectorised)."""
    vendors, v_codes = np.unique(annotations["vendor"].to_numpy(dtype=str), return_inverse=True)
    if len(vendors) > 62:
        raise ValueError(f"{len(vendors)} vendors label one task; at most 62 are supported")
    items, i_codes = np.unique(annotations["item_id"].to_numpy(dtype=str), return_inverse=True)
    masks = np.zeros(len(items), dtype=np.int64)
    np.bitwise_or.at(masks, i_codes, np.left_shift(np.int64(1), v_codes.astype(np.int64)))
    names = {m: ",".join(v for b, v in enumerate(vendors) if m >> b & 1) for m in np.unique(masks).tolist()}
    by_item = pd.Series([names[m] for m in masks.tolist()], index=items)
    return by_item.reindex(item_ids.to_numpy()).reset_index(drop=True)


def source_batches(annotations: pd.DataFrame, item_ids: pd.Series) -> pa.ListArray:
    """Sorted unique ``<vendor>/<batch_id>`` that labelled each item of ``item_ids`` (vectorised).

    ``item_ids`` must be unique; an item without annotations gets an empty list.
    """
    keys = annotations["vendor"].astype(str) + "/" + annotations["batch_id"].astype(str)
    pos = pd.Index(item_ids).get_indexer(annotations["item_id"])
    pairs = pd.DataFrame({"pos": pos, "batch": keys.to_numpy(dtype=object)})
    pairs = pairs[pairs["pos"] >= 0].drop_duplicates().sort_values(["pos", "batch"])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(pairs["pos"].to_numpy(), minlength=len(item_ids)))])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(pairs["batch"].to_numpy(dtype=object), pa.string()))


def merge_order(kind: LabelKind) -> list[str]:
    """Canonical row order of annotations before merging, so results never depend on file order:
    item, vendor, annotator, batch, file, time, then the kind's payload columns (those of a nested
    type, e.g. a list of tags, are not orderable: a kind with one carries its text form too)."""
    flat = [f.name for f in kind.payload if not pa.types.is_nested(f.type)]
    return ["item_id", "vendor", "annotator_id", "batch_id", "source_file", "annotated_at", *flat]
