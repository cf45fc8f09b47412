"""labelq: multi-vendor label quality.

Stages live in :mod:`pipeline.steps`; ML teams read published sets with
:func:`read_training_set`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "read_training_set"]

if TYPE_CHECKING:
    from pipeline.publish import read_training_set


def __getattr__(name: str) -> Any:  # lazy, so `import pipeline` stays cheap for DAG parsing
    if name == "read_training_set":
        from pipeline.publish import read_training_set

        return read_training_set
    raise AttributeError(name)
