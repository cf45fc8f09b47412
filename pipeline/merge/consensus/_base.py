"""The base of every consensus estimator: ``fit`` on the long format, the result table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from ._encoding import Encoded, argmax_tie_order, encode

# --------------------------------------------------------------------------------------------
# base estimator
# --------------------------------------------------------------------------------------------
RESULT_COLUMNS: tuple[str, ...] = ("item_id", "label", "confidence", "n_annotations", "agreement")


class BaseAggregator:
    """Common ``fit`` / result plumbing. Subclasses implement :meth:`_fit_encoded`.

    Fitted attributes (all estimators)
    ----------------------------------
    labels_ : pandas.Series
        Consensus label per item, indexed by ``item_id`` (sorted).
    probas_ : pandas.DataFrame
        Items x classes; row ``i`` is the estimator's distribution over the true label of item
        ``i`` (rows sum to 1). Columns are all classes, including ones nobody used.
    result_ : pandas.DataFrame
        The :func:`pipeline.merge.consensus.aggregate` output: ``item_id, label, confidence,
        n_annotations, agreement``, one row per item sorted by ``item_id``.
    classes_ : pandas.Index
        The class set: ``labels=`` in its order, else the observed labels (plus gold labels
        nobody gave) in sorted order. Column order of ``probas_``.
    tie_order_ : pandas.Index
        Classes in tie-breaking priority, first wins.
    """

    #: whether ``encode`` must read the ``vendor`` column
    _needs_vendor: bool = False

    def __init__(self, labels: Sequence[Any] | None = None) -> None:
        self.labels = labels

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def get_params(self) -> dict[str, Any]:
        """Settings given to ``__init__`` (public attributes not ending in ``_``)."""
        return {
            k: v for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")
        }

    # subclasses -------------------------------------------------------------------------
    def _fit_encoded(self, enc: Encoded) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # public -----------------------------------------------------------------------------
    def fit(self, annotations: Any, gold: Any = None) -> Self:
        """Fit on ``annotations`` (``item_id, annotator_id, label``) and optional ``gold``
        (``item_id, gold_label``). Returns ``self``."""
        enc = encode(annotations, labels=self.labels, gold=gold, vendor=self._needs_vendor)
        probas = self._fit_encoded(enc)
        self._store(enc, probas)
        return self

    def fit_predict(self, annotations: Any, gold: Any = None) -> pd.Series:
        """Fit and return :attr:`labels_` (consensus label per ``item_id``)."""
        return self.fit(annotations, gold=gold).labels_

    def fit_predict_proba(self, annotations: Any, gold: Any = None) -> pd.DataFrame:
        """Fit and return :attr:`probas_` (items x classes)."""
        return self.fit(annotations, gold=gold).probas_

    def _store(self, enc: Encoded, probas: np.ndarray) -> None:
        chosen = argmax_tie_order(probas, enc.tie_order)
        rows = np.arange(enc.n_items)
        n_ann = enc.n_annotations
        item_index = enc.items.rename("item_id")
        self.classes_ = enc.classes.rename("label")
        self.tie_order_ = enc.classes[enc.tie_order].rename("label")
        label_values = enc.classes.take(chosen)
        self.labels_ = pd.Series(label_values, index=item_index, name="label")
        self.probas_ = pd.DataFrame(probas, index=item_index, columns=self.classes_)
        with np.errstate(invalid="ignore", divide="ignore"):
            agreement = enc.counts[rows, chosen] / n_ann
        self.result_ = pd.DataFrame(
            {
                "item_id": enc.items,
                "label": label_values,
                "confidence": probas[rows, chosen].astype(np.float64),
                "n_annotations": n_ann.astype(np.int64),
                "agreement": agreement.astype(np.float64),
            },
            columns=list(RESULT_COLUMNS),
        )
        self._encoded = enc
