"""Consensus of numeric ratings (a future "rating" label kind): mean, median, trimmed mean and a
Gaussian annotator model with per-annotator bias and noise. See :mod:`.numeric`."""

from __future__ import annotations

from .numeric import (
    MEDIAN_SE_FACTOR,
    METHODS,
    RESULT_COLUMNS,
    AnnotatorModelFit,
    Method,
    aggregate,
    fit_annotator_model,
)

__all__ = [
    "MEDIAN_SE_FACTOR",
    "METHODS",
    "RESULT_COLUMNS",
    "AnnotatorModelFit",
    "Method",
    "aggregate",
    "fit_annotator_model",
]
