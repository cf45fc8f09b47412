"""The canonical columns every label kind shares, named once.

A staged annotation is one row per label an annotator gave an item: the shared key columns
(:data:`KEY_FIELDS`), then the task's *label kind* payload (:mod:`pipeline.kinds`: for
classification one ``label`` string), then the shared trail (:data:`TRAIL_FIELDS`). Gold rows and
the published training set are built the same way (:func:`gold_schema`, :func:`curated_schema`).
Vendor-specific shapes exist only in landing files and are mapped onto these by
:mod:`pipeline.ingest.canonical`; every stage reads and writes them through its task's kind
(``kind.annotations``, ``kind.gold``, ``kind.curated``).

Null policy: every key column but ``annotator_id`` is non-null once staged; a null payload value
(a label the vendor left empty) is never staged: validation quarantines the row with a reason
(for classification ``null_label``), so no stage downstream sees a missing label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, get_args

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

#: Level of measurement of a task's values (Krippendorff's alpha's distance; ``tasks.<t>.level``).
Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = get_args(Level)

#: The splits of a published training set, in the order their shares are laid out on [0, 1)
#: (:mod:`pipeline.publish.splits`; ``tasks.<t>.splits`` gives each one's share).
Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)


def split_order(names: Iterable[str]) -> list[str]:
    """``names`` with the splits first, in :data:`SPLITS` order, then any others sorted.

    >>> split_order(["test", "extra", "train"])
    ['train', 'test', 'extra']
    """
    names = set(names)
    return [s for s in SPLITS if s in names] + sorted(names - set(SPLITS))

#: Who labelled what: the columns before a kind's payload in every staged annotation.
KEY_FIELDS: tuple[pa.Field, ...] = (
    pa.field("task", pa.string(), nullable=False),
    pa.field("item_id", pa.string(), nullable=False),
    pa.field("vendor", pa.string(), nullable=False),
    pa.field("annotator_id", pa.string()),
)
#: When and from which delivery: the columns after a kind's payload.
TRAIL_FIELDS: tuple[pa.Field, ...] = (
    pa.field("annotated_at", pa.timestamp("us", tz="UTC")),
    pa.field("batch_id", pa.string(), nullable=False),
    pa.field("source_file", pa.string(), nullable=False),
)
SHARED_COLUMNS: tuple[str, ...] = tuple(f.name for f in (*KEY_FIELDS, *TRAIL_FIELDS))

#: Columns a vendor of any kind must map onto, and the shared ones it may map (a kind adds its
#: payload columns: ``kind.vendor_columns``).
REQUIRED_VENDOR_COLUMNS = ("item_id", "annotator_id")
OPTIONAL_VENDOR_COLUMNS = ("annotated_at", "batch_id")

#: The published training set's columns after a kind's payload. ``confidence``: the consensus's
#: posterior probability (kind-defined); ``agreement``: share of the item's labels that agree with
#: it; ``vendors``: comma-joined sorted vendors that labelled the item; ``split``: train /
#: validation / test, fixed by a hash of ``item_id`` (:mod:`pipeline.publish.splits`);
#: ``source_batches``: sorted ``<vendor>/<batch_id>`` of every batch that labelled the item (each
#: listed with its SHA-256 and validation result in the version's manifest).
CURATED_TRAIL: tuple[pa.Field, ...] = (
    pa.field("confidence", pa.float64(), nullable=False),
    pa.field("n_annotations", pa.int32(), nullable=False),
    pa.field("agreement", pa.float64(), nullable=False),
    pa.field("vendors", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("source_batches", pa.list_(pa.string()), nullable=False),
)


def annotations_schema(payload: pa.Schema) -> pa.Schema:
    """A kind's staged annotations: :data:`KEY_FIELDS`, ``payload``, :data:`TRAIL_FIELDS`."""
    clash = sorted(set(payload.names) & set(SHARED_COLUMNS))
    if clash:
        raise ValueError(f"a label kind's payload may not redefine the shared column(s) {clash}")
    return pa.schema([*KEY_FIELDS, *payload, *TRAIL_FIELDS])


def gold_schema(payload: pa.Schema) -> pa.Schema:
    """A kind's gold items (``gold/<task>.parquet``): ``task``, ``item_id`` and the true ``payload``."""
    return pa.schema([KEY_FIELDS[0], KEY_FIELDS[1], *payload])


def curated_schema(payload: pa.Schema) -> pa.Schema:
    """A kind's published training set: one row per kept item, sorted by ``item_id``: ``item_id``,
    the consensus ``payload``, then :data:`CURATED_TRAIL`."""
    return pa.schema([pa.field("item_id", pa.string(), nullable=False), *payload, *CURATED_TRAIL])


def namespaced(annotations: pd.DataFrame) -> pd.DataFrame:
    """``annotations`` with ``annotator_id`` as ``<vendor>/<annotator_id>``: an annotator is
    (vendor, annotator id), so two vendors' ``w1`` are two raters (agreement, consensus).

    >>> import pandas as pd
    >>> namespaced(pd.DataFrame({"vendor": ["a", "b"], "annotator_id": ["w1", "w1"]}))["annotator_id"].tolist()
    ['a/w1', 'b/w1']
    """
    import numpy as np
    import pandas as pd

    if annotations.empty:
        return annotations
    vendor, annotator = annotations["vendor"], annotations["annotator_id"]
    if isinstance(vendor.dtype, pd.CategoricalDtype) and isinstance(annotator.dtype, pd.CategoricalDtype):
        # a compact history: one name per distinct (vendor, annotator) pair, not per row
        n_a = len(annotator.cat.categories) + 1  # code -1 (a null annotator) is pair slot 0
        pair = vendor.cat.codes.to_numpy().astype(np.int64) * n_a
        pair += annotator.cat.codes.to_numpy() + 1
        present = np.flatnonzero(np.bincount(pair, minlength=len(vendor.cat.categories) * n_a))
        names = np.array([f"{vendor.cat.categories[p // n_a]}/{annotator.cat.categories[p % n_a - 1] if p % n_a else 'nan'}"
                          for p in present.tolist()], dtype=object)
        order = np.argsort(names, kind="stable")
        lookup = np.zeros(len(vendor.cat.categories) * n_a, dtype=np.int32)
        lookup[present[order]] = np.arange(len(order), dtype=np.int32)
        codes = lookup[pair]
        return annotations.assign(annotator_id=pd.Categorical.from_codes(codes, categories=pd.Index(names[order])))
    return annotations.assign(annotator_id=vendor.astype(str) + "/" + annotator.astype(str))


def require_columns(present: Iterable[str], needed: Iterable[str], what: str, fix: str = "") -> None:
    """Raise a ``ValueError`` naming the columns of ``needed`` missing from ``present``, the columns
    there are, and ``fix`` (how to get the right input): the one column check of every stage."""
    have = [str(c) for c in present]
    missing = [c for c in needed if c not in have]
    if missing:
        raise ValueError(f"{what} is missing required column(s) {missing}; it has {have}" + (f"; {fix}" if fix else ""))
