"""Consensus labels from many annotators (labelq merge stage).

Data contract (labelq canonical long format)
--------------------------------------------
``annotations``: pandas DataFrame or pyarrow Table with at least ``item_id``, ``annotator_id``,
``label``: one row per label an annotator gave an item; labels are strings or numbers. Other
columns (``vendor``, ``task``, ``annotated_at``, ...) may be present; ``vendor`` is used by
``method="weighted_vote", by="vendor"``.

``gold``: DataFrame (or pyarrow Table) with ``item_id``, ``gold_label``.

Entry points
------------
:func:`aggregate` returns one row per item; :func:`get_aggregator` returns the (unfitted)
estimator so that its fitted parameters (confusion matrices, skills, ...) can be inspected.

Estimators (crowd-kit style: settings in ``__init__``, ``fit(annotations, gold=None)`` returns
``self``, fitted results end in ``_``): :class:`MajorityVote`, :class:`WeightedVote`,
:class:`DawidSkene`, :class:`OneCoinDawidSkene`, :class:`MACE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:  # importing the package stays cheap (config validation reads METHODS)
    import pandas as pd

    from ._base import BaseAggregator

__all__ = [
    "MACE",
    "METHODS",
    "RESULT_COLUMNS",
    "BaseAggregator",
    "DawidSkene",
    "MajorityVote",
    "Method",
    "OneCoinDawidSkene",
    "WeightedVote",
    "aggregate",
    "get_aggregator",
]

Method = Literal["majority_vote", "weighted_vote", "dawid_skene", "one_coin_dawid_skene", "mace"]
METHODS: tuple[str, ...] = get_args(Method)


def __getattr__(name: str) -> Any:  # lazy: keep `import pipeline.merge.consensus` cheap
    if name in ("RESULT_COLUMNS", "BaseAggregator"):
        from . import _base

        return getattr(_base, name)
    if name == "MajorityVote":
        from .majority_vote import MajorityVote

        return MajorityVote
    if name == "WeightedVote":
        from .weighted_vote import WeightedVote

        return WeightedVote
    if name == "DawidSkene":
        from .dawid_skene import DawidSkene

        return DawidSkene
    if name == "OneCoinDawidSkene":
        from .one_coin_dawid_skene import OneCoinDawidSkene

        return OneCoinDawidSkene
    if name == "MACE":
        from .mace import MACE

        return MACE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _estimator_class(method: str) -> type[BaseAggregator]:
    if method == "majority_vote":
        return __getattr__("MajorityVote")
    if method == "weighted_vote":
        return __getattr__("WeightedVote")
    if method == "dawid_skene":
        return __getattr__("DawidSkene")
    if method == "one_coin_dawid_skene":
        return __getattr__("OneCoinDawidSkene")
    if method == "mace":
        return __getattr__("MACE")
    raise ValueError(f"unknown consensus method {method!r}; choose one of {list(METHODS)}")


def get_aggregator(method: Method = "majority_vote", **settings: Any) -> BaseAggregator:
    """Return an unfitted estimator for ``method`` built with ``settings``.

    Parameters
    ----------
    method : {"majority_vote", "weighted_vote", "dawid_skene", "one_coin_dawid_skene", "mace"}
    **settings
        Keyword arguments of the estimator's ``__init__`` (e.g. ``labels``, ``tol``,
        ``max_iter``, ``by``). Unknown settings raise ``ValueError`` naming the valid ones.

    Examples
    --------
    >>> ds = get_aggregator("dawid_skene", max_iter=50).fit(annotations)  # doctest: +SKIP
    >>> ds.confusion_matrices_, ds.priors_, ds.n_iter_                   # doctest: +SKIP
    """
    cls = _estimator_class(method)
    try:
        return cls(**settings)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ValueError(
            f"invalid setting(s) {sorted(settings)} for method {method!r}: {exc}; "
            f"valid settings are {valid}"
        ) from None


def aggregate(
    annotations: Any,
    *,
    method: Method = "majority_vote",
    gold: Any = None,
    labels: Sequence[Any] | None = None,
    **settings: Any,
) -> pd.DataFrame:
    """Consensus label per item.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        Canonical long format: at least ``item_id``, ``annotator_id``, ``label`` (one row per
        label an annotator gave an item; string or numeric labels). Other columns are ignored
        except ``vendor`` for ``method="weighted_vote", by="vendor"``.
    method : {"majority_vote", "weighted_vote", "dawid_skene", "one_coin_dawid_skene", "mace"}
        ``majority_vote`` (default, deterministic tie rule, see :class:`MajorityVote`),
        ``weighted_vote`` (votes weighted by smoothed gold accuracy, see :class:`WeightedVote`),
        ``dawid_skene`` (confusion-matrix EM, :class:`DawidSkene`), ``one_coin_dawid_skene``
        (one skill per annotator, :class:`OneCoinDawidSkene`), ``mace`` (competence and
        spamming distribution per annotator, :class:`MACE`).
    gold : pandas.DataFrame or pyarrow.Table, optional
        ``item_id``, ``gold_label``. Used by ``weighted_vote`` (annotator weights) and the
        Dawid-Skene models and MACE (gold items clamped to their gold label); ignored by
        majority vote.
    labels : sequence, optional
        The task's full ordered label set: classes nobody used still exist, and the order is the
        tie-breaking order. Labels outside it raise ``ValueError``. Without it the class set is
        the labels present (a categorical ``label`` column counts as its values; unused
        categories are not classes) plus gold labels nobody gave, in sorted order.
    **settings
        Passed to the estimator's ``__init__`` (see :func:`get_aggregator`).

    Returns
    -------
    pandas.DataFrame
        One row per item, sorted by ``item_id``, RangeIndex, columns:

        - ``item_id``: as in the input;
        - ``label``: consensus label (dtype of the labels);
        - ``confidence`` (float64): posterior probability of ``label`` (vote share for majority
          vote, weighted vote share for weighted vote);
        - ``n_annotations`` (int64): number of rows for the item;
        - ``agreement`` (float64): share of the item's rows whose label equals ``label``.

    Raises
    ------
    ValueError
        Unknown method or setting, missing columns, missing values (rows are named), labels not
        in ``labels=``, conflicting gold labels.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item_id": [1, 1, 1, 2, 2],
    ...                    "annotator_id": ["a", "b", "c", "a", "b"],
    ...                    "label": ["cat", "cat", "dog", "dog", "dog"]})
    >>> aggregate(df)
       item_id label  confidence  n_annotations  agreement
    0        1   cat    0.666667              3   0.666667
    1        2   dog    1.000000              2   1.000000
    """
    if "labels" in settings:  # pragma: no cover - keyword-only already prevents this
        raise ValueError("pass labels= once")
    estimator = get_aggregator(method, labels=labels, **settings)
    return estimator.fit(annotations, gold=gold).result_.copy()
