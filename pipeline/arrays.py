"""Array helpers shared by the stages (pure numpy)."""

from __future__ import annotations

import numpy as np

__all__ = ["unique_sorted"]


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` of an integer array, by a sort and a comparison of neighbours.

    numpy 2.3+ answers a bare ``np.unique`` through a hash table and then sorts the distinct
    values: on 10M random int64 keys (numpy 2.4, this 2-core machine) 8-11 s, against 0.7 s for
    this and ~0.9 s for ``np.unique(..., return_counts=True)``, which still sorts.
    """
    out = np.sort(np.asarray(values))
    if out.size < 2:
        return out
    return out[np.concatenate(([True], out[1:] != out[:-1]))]
