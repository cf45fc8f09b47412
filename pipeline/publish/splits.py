"""Deterministic train / validation / test splits, fixed by a hash of each ``item_id``.

An item's split depends only on its id and the task's ratios (``tasks.<t>.splits``), never on
which other items exist, so it never changes between versions or re-runs. The rule, which
anyone can reproduce without labelq::

    u = int.from_bytes(sha256(item_id.encode("utf-8")).digest()[:8], "big") >> 11   # 53 bits
    u / 2**53 < train                      -> "train"
    u / 2**53 < train + validation         -> "validation"
    otherwise                              -> "test"

Changing the ratios moves only the items between the old and new boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
import numpy as np

from pipeline.contract import SPLITS, Split

__all__ = ["SPLITS", "SPLIT_RULE", "Split", "assign_splits", "item_unit"]
#: The rule in words, as each version's manifest records it.
SPLIT_RULE = "sha256(item_id) first 53 bits / 2**53 vs cumulative ratios"


def item_unit(item_ids: Iterable[str]) -> np.ndarray:
    """Each item's position in [0, 1): the first 53 bits of SHA-256 of its UTF-8 id, shape (n,)."""
    ids = list(item_ids)
    h = np.fromiter(
        (int.from_bytes(hashlib.sha256(i.encode("utf-8")).digest()[:8], "big") >> 11 for i in ids),
        dtype=np.uint64,
        count=len(ids),
    )
    return h.astype(np.float64) / float(2**53)


def assign_splits(item_ids: Iterable[str], ratios: Mapping[str, float]) -> np.ndarray:
    """The split of each item, shape (n,), as strings from :data:`SPLITS`.

    ``ratios`` maps every split in :data:`SPLITS` to its share (they must sum to 1), e.g.
    ``{"train": 0.8, "validation": 0.1, "test": 0.1}`` or ``TaskConfig.splits.model_dump()``.
    """
    missing = [s for s in SPLITS if s not in ratios]
    unknown = sorted(set(ratios) - set(SPLITS))
    if missing or unknown:
        raise ValueError(f"split ratios need exactly {list(SPLITS)}; missing {missing}, unknown {unknown}")
    shares = np.array([float(ratios[s]) for s in SPLITS])
    if (shares < 0).any() or abs(shares.sum() - 1.0) > 1e-9:
        raise ValueError(f"split ratios must be >= 0 and sum to 1, got {dict(zip(SPLITS, shares.tolist()))}")
    bounds = np.cumsum(shares)[:-1]
    return np.asarray(SPLITS, dtype=object)[np.searchsorted(bounds, item_unit(item_ids), side="right")]
