"""The nearest level of a scale (numpy only: the rating kind's config checks import it)."""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_level"]


def nearest_level(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index into the ascending ``values`` (at least two) of the value nearest each ``x``; a tie goes
    to the lower value, a non-finite ``x`` to index 0.

    >>> nearest_level(np.array([1.0, 2.0, 3.0]), np.array([1.4, 1.5, 2.6, np.nan]))
    array([0, 0, 2, 0])
    """
    x = np.where(np.isfinite(x), x, values[0])
    pos = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    return np.where(np.abs(x - values[pos - 1]) <= np.abs(values[pos] - x), pos - 1, pos)
