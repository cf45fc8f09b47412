r"""Set-valued labels (a multi-label task: a set of tags per item and annotator) and their distances.

A label is a list of tags (order and repeats do not matter); the empty list is the empty set, an
answer ("no tag applies"), while a null label is no answer. :func:`encode_sets` codes each row's
set as an integer (equal sets, equal codes) and keeps each distinct set's tags as a row of a
bit matrix, so every distance below is a few vectorised popcounts. For tag sets :math:`A, B`:

- **Jaccard**: :math:`d_J = 1 - |A \cap B| / |A \cup B|`;
- **MASI** (Passonneau 2006): :math:`d_M = 1 - J \cdot M` with :math:`J` the Jaccard similarity and
  monotonicity :math:`M = 1` if :math:`A = B`, :math:`2/3` if one contains the other,
  :math:`1/3` if they only overlap, :math:`0` if disjoint (exact thirds, as nltk >= 3.8; older
  nltk rounded them to 0.67 / 0.33).

Both are 0 for two empty sets (equal answers) and 1 between the empty set and any other.

References: R. Passonneau (2006), "Measuring agreement on set-valued items (MASI) for semantic and
pragmatic annotation", LREC 2006; P. Jaccard (1912), New Phytologist 11(2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pipeline.arrays import unique_sorted

__all__ = ["SetDistance", "SetLabels", "SetMetric", "encode_sets"]

SetMetric = Literal["masi", "jaccard"]


@dataclass(frozen=True, eq=False)
class SetLabels:
    """Row codes of distinct tag sets (``-1`` for a null label), the tags, and each distinct set's
    tags as bits (``bits[k, w]``: 64 tags per word)."""

    code: np.ndarray
    tags: np.ndarray
    bits: np.ndarray

    @property
    def n_sets(self) -> int:
        return int(self.bits.shape[0])

    def sets(self) -> list[frozenset[Any]]:
        """Each distinct set's tags (for messages and tests; not for hot paths)."""
        out = []
        for row in self.bits:
            on = np.flatnonzero(np.unpackbits(row.view(np.uint8), bitorder="little"))
            out.append(frozenset(self.tags[on].tolist()))
        return out


def _as_list_array(labels: Any) -> pa.ChunkedArray:
    if isinstance(labels, pd.Series):
        values = labels.to_numpy(dtype=object)
        bad = [v for v in values[:1000] if v is not None and not isinstance(v, (list, tuple, set, frozenset, np.ndarray))
               and not (isinstance(v, float) and np.isnan(v))]
        if bad:
            raise ValueError(f"set-valued labels must be lists of tags (e.g. ['spam', 'toxic'], [] for none); got "
                             f"{bad[0]!r}; split a delimited string into a list first")
        lists = [None if v is None or (isinstance(v, float) and np.isnan(v)) else list(v) for v in values]
        arr = pa.chunked_array([pa.array(lists, pa.list_(pa.string()))])
    else:
        arr = labels if isinstance(labels, pa.ChunkedArray) else pa.chunked_array([labels])
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        raise ValueError(f"set-valued labels must be a list column (e.g. list<string>), got {arr.type}")
    return arr


def encode_sets(labels: Any) -> SetLabels:
    """Code each row's tag set (a pandas Series of lists or an Arrow list column; module docstring)."""
    arr = _as_list_array(labels).combine_chunks()
    n = len(arr)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    parent = pc.list_parent_indices(arr).to_numpy()
    flat = pc.list_flatten(arr)
    if flat.null_count:
        raise ValueError("a set-valued label holds a null tag; drop it or give the tag a name")
    tag_code, uniques = pd.factorize(pd.Series(flat.to_numpy(zero_copy_only=False), dtype=object), sort=True)
    tags = np.asarray(uniques, dtype=object)
    words = max(1, (len(tags) + 63) // 64)
    bits = np.zeros((n, words), dtype=np.uint64)
    if len(tag_code):
        word = tag_code // 64
        bit = np.left_shift(np.uint64(1), (tag_code % 64).astype(np.uint64))
        np.bitwise_or.at(bits, (parent, word), bit)  # repeats of a tag in one list set the same bit
    distinct, code = np.unique(bits, axis=0, return_inverse=True)
    code = np.asarray(code, dtype=np.int64).reshape(-1)
    code[~valid] = -1
    if not valid.all():  # a null label's row of bits is zero, like the empty set's: keep the
        used = unique_sorted(code[code >= 0])  # distinct sets that some valid row has
        remap = np.full(len(distinct), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        code = np.where(code >= 0, remap[np.maximum(code, 0)], -1)
        distinct = distinct[used]
    return SetLabels(code=code, tags=tags, bits=distinct)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per row of a ``(..., words)`` uint64 array."""
    return np.unpackbits(x.view(np.uint8), axis=-1).sum(axis=-1, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class SetDistance:
    """``metric`` between distinct sets by position (a Krippendorff difference function)."""

    metric: SetMetric
    bits: np.ndarray

    @property
    def key(self) -> str:
        return self.metric

    def __call__(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        a, b = self.bits[i], self.bits[j]
        inter = _popcount(a & b).astype(np.float64)
        size_a, size_b = _popcount(a), _popcount(b)
        union = (size_a + size_b).astype(np.float64) - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            similarity = np.where(union > 0, inter / union, 1.0)  # two empty sets: equal
        if self.metric == "jaccard":
            return 1.0 - similarity
        equal = (inter == size_a) & (inter == size_b)
        nested = inter == np.minimum(size_a, size_b)
        m = np.where(equal, 1.0, np.where(nested, 2.0 / 3.0, np.where(inter > 0, 1.0 / 3.0, 0.0)))
        return 1.0 - similarity * m
