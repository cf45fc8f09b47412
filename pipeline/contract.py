"""The canonical Arrow schemas, named once.

Every stage reads and writes these; vendor-specific shapes exist only in landing files and
are mapped onto :data:`ANNOTATIONS` by :mod:`pipeline.ingest.canonical`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

#: One row per label an annotator gave an item (the long format every metric consumes).
ANNOTATIONS = pa.schema(
    [
        pa.field("task", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("vendor", pa.string(), nullable=False),
        pa.field("annotator_id", pa.string()),
        pa.field("label", pa.string()),
        pa.field("annotated_at", pa.timestamp("us", tz="UTC")),
        pa.field("batch_id", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
    ]
)

#: Items whose true label is known; mixed into vendor deliveries to measure accuracy.
GOLD = pa.schema(
    [
        pa.field("task", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("gold_label", pa.string(), nullable=False),
    ]
)

#: The published training set: one row per item that passed the task's consensus rules,
#: sorted by ``item_id``. ``vendors``: comma-joined sorted vendors that labelled the item;
#: ``split``: train / validation / test, fixed by a hash of ``item_id`` (:mod:`pipeline.publish.splits`);
#: ``source_batches``: sorted ``<vendor>/<batch_id>`` of every batch that labelled the item
#: (each one is listed with its SHA-256 and validation result in the version's manifest).
CURATED = pa.schema(
    [
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("confidence", pa.float64(), nullable=False),
        pa.field("n_annotations", pa.int32(), nullable=False),
        pa.field("agreement", pa.float64(), nullable=False),
        pa.field("vendors", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("source_batches", pa.list_(pa.string()), nullable=False),
    ]
)

#: Columns a vendor must map onto (``annotated_at`` and ``batch_id`` are optional).
REQUIRED_VENDOR_COLUMNS = ("item_id", "annotator_id", "label")
OPTIONAL_VENDOR_COLUMNS = ("annotated_at", "batch_id")

ANNOTATION_COLUMNS: tuple[str, ...] = tuple(ANNOTATIONS.names)


def namespaced(annotations: pd.DataFrame) -> pd.DataFrame:
    """``annotations`` with ``annotator_id`` as ``<vendor>/<annotator_id>``: an annotator is
    (vendor, annotator id), so two vendors' ``w1`` are two raters (agreement, consensus).

    >>> import pandas as pd
    >>> namespaced(pd.DataFrame({"vendor": ["a", "b"], "annotator_id": ["w1", "w1"]}))["annotator_id"].tolist()
    ['a/w1', 'b/w1']
    """
    if annotations.empty:
        return annotations
    return annotations.assign(annotator_id=annotations["vendor"].astype(str) + "/" + annotations["annotator_id"].astype(str))


def require_columns(present: Iterable[str], needed: Iterable[str], what: str, fix: str = "") -> None:
    """Raise a ``ValueError`` naming the columns of ``needed`` missing from ``present``, the columns
    there are, and ``fix`` (how to get the right input): the one column check of every stage."""
    have = [str(c) for c in present]
    missing = [c for c in needed if c not in have]
    if missing:
        raise ValueError(f"{what} is missing required column(s) {missing}; it has {have}" + (f"; {fix}" if fix else ""))
