"""Timing shared by the benchmarks (each run as ``.venv/bin/python benchmarks/<name>.py``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of the fastest of ``repeats`` calls of ``fn``, and its last result."""
    best, out = float("inf"), None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
