"""labelq: multi-vendor label quality.

Stages live in :mod:`pipeline.steps`; ML teams read published sets with
:func:`read_training_set`, and a version's other tables (e.g. a preference task's ``trl`` export
and ``response_scores``) with :func:`read_published_table`, and a rubric's rating criteria side by
side with :func:`read_rubric`. :func:`bradley_terry` scores the responses of pairwise preference
judgements (``response_a``, ``response_b``, ``choice`` in ``a`` / ``b`` / ``tie``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


class OneLineFilter(logging.Filter):
    """Escape CR and LF in a record's message: vendor file names and values cannot forge log lines.

    >>> r = logging.LogRecord("labelq", logging.WARNING, __file__, 1, "ingest %s", ("a.parquet\\nINFO fake",), None)
    >>> OneLineFilter().filter(r) and r.getMessage()
    'ingest a.parquet\\\\nINFO fake'
    """

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "\n" in msg or "\r" in msg:
            record.msg, record.args = msg.replace("\r", "\\r").replace("\n", "\\n"), None
        return True


logging.getLogger("labelq").addFilter(OneLineFilter())

__all__ = ["__version__", "bradley_terry", "read_published_table", "read_rubric", "read_training_set"]

if TYPE_CHECKING:
    from pipeline.merge.preference import bradley_terry
    from pipeline.publish import read_published_table, read_training_set
    from pipeline.publish.rubric import read_rubric


def __getattr__(name: str) -> Any:  # lazy, so `import pipeline` stays cheap for DAG parsing
    if name == "read_training_set":
        from pipeline.publish import read_training_set

        return read_training_set
    if name == "read_published_table":
        from pipeline.publish import read_published_table

        return read_published_table
    if name == "read_rubric":
        from pipeline.publish.rubric import read_rubric

        return read_rubric
    if name == "bradley_terry":
        from pipeline.merge.preference import bradley_terry

        return bradley_terry
    raise AttributeError(name)
