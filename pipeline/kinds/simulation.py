"""Shared pieces of the kinds' simulators (``labelq simulate``)."""

from __future__ import annotations

import numpy as np

__all__ = ["who_rates"]


def who_rates(rng: np.random.Generator, n_items: int, n_annotators: int, *, share: float = 0.8,
              twice: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Which of a vendor's annotators label which items: each item with probability ``share``,
    a ``twice`` part of those by a second, different annotator too. Returns (item index, annotator
    index) per label, sorted by item (stable: an item's first annotator first)."""
    once = np.flatnonzero(rng.random(n_items) < share)
    again = once[rng.random(len(once)) < twice]
    rows = np.concatenate([once, again])
    first = rng.integers(0, n_annotators, len(once))
    second = (first[np.searchsorted(once, again)] + rng.integers(1, n_annotators, len(again))) % n_annotators
    annotator = np.concatenate([first, second])
    order = np.argsort(rows, kind="stable")
    return rows[order], annotator[order]
