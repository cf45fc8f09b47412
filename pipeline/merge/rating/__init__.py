"""Consensus of numeric ratings (the rating label kind, :mod:`pipeline.kinds.rating`): mean,
median, trimmed mean and a Gaussian annotator model with per-annotator bias and noise. See
:mod:`.numeric`. Importing the package is cheap (config validation reads :data:`METHODS`); the
rest loads on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .numeric import MEDIAN_SE_FACTOR, RESULT_COLUMNS, AnnotatorModelFit, aggregate, fit_annotator_model

__all__ = [
    "MEDIAN_SE_FACTOR",
    "METHODS",
    "RESULT_COLUMNS",
    "AnnotatorModelFit",
    "Method",
    "aggregate",
    "fit_annotator_model",
]

Method = Literal["mean", "median", "trimmed_mean", "annotator_model"]
METHODS: tuple[str, ...] = get_args(Method)


def __getattr__(name: str) -> Any:  # lazy: keep `import pipeline.merge.rating` cheap
    if name in ("MEDIAN_SE_FACTOR", "RESULT_COLUMNS", "AnnotatorModelFit", "aggregate", "fit_annotator_model"):
        from . import numeric

        return getattr(numeric, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
