"""Majority vote with a deterministic, documented tie rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._base import BaseAggregator
from ._encoding import Encoded

__all__ = ["MajorityVote"]


class MajorityVote(BaseAggregator):
    r"""Majority vote: each item gets its most frequent label.

    .. math:: \hat z_i = \arg\max_k \sum_{r:\, item(r)=i} [\, y_r = k \,]

    ``probas_`` holds the vote shares :math:`n_{ik} / n_i`, so the ``confidence`` of the chosen
    label is its vote share (equal to ``agreement``).

    **Tie rule (deterministic, never random).** When several labels share the highest vote count
    for an item, the winner is

    1. the label that comes first in ``labels`` if ``labels`` was given; otherwise
    2. the label with the most votes over the whole data set; and among those
    3. the smallest label in sort order (mixed types sort by type name, then value).

    The same rule breaks (exact) ties in every other estimator of this package. Contrast with
    crowd-kit's ``MajorityVote``, which breaks ties at random (Toloka/crowd-kit issue #108).

    Parameters
    ----------
    labels : sequence, optional
        The task's full ordered label set. Classes nobody used still get a ``probas_`` column;
        the order is the tie order. Any ``label`` outside it raises ``ValueError``.

    Notes
    -----
    Data contract: ``annotations`` is a pandas DataFrame or pyarrow Table with at least
    ``item_id``, ``annotator_id``, ``label`` (one row per label an annotator gave an item;
    other columns are ignored). ``gold`` (``item_id``, ``gold_label``) is accepted by
    :meth:`fit` for API uniformity and ignored, except that its labels join the class set.
    A repeated (annotator, item) pair counts as several votes.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item_id": [1, 1, 1, 2, 2],
    ...                    "annotator_id": ["a", "b", "c", "a", "b"],
    ...                    "label": ["cat", "cat", "dog", "dog", "cat"]})
    >>> MajorityVote().fit(df).labels_.tolist()  # item 2 ties; "cat" has more votes overall
    ['cat', 'cat']
    >>> MajorityVote(labels=["dog", "cat"]).fit(df).labels_.tolist()
    ['cat', 'dog']
    """

    def __init__(self, labels: Sequence[Any] | None = None) -> None:
        super().__init__(labels=labels)

    def _fit_encoded(self, enc: Encoded) -> np.ndarray:
        counts = enc.counts.astype(np.float64)
        n = counts.sum(axis=1, keepdims=True)
        self.counts_ = pd.DataFrame(
            enc.counts, index=enc.items.rename("item_id"), columns=enc.classes.rename("label")
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.divide(counts, n, out=np.zeros_like(counts), where=n > 0)
