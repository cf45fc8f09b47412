"""Inter-annotator agreement for multi-vendor annotation data.

Data contract (the canonical long format named in ``pipeline/contract.py``): a
:class:`pandas.DataFrame` or :class:`pyarrow.Table` with at least the columns
``item_id``, ``annotator_id`` and ``label`` -- one row per label an annotator
gave an item.  ``label`` may be string or numeric.  Missing labels are simply
absent rows or null ``label`` values (null labels are dropped).  Other
columns (``vendor``, ``task``, ``annotated_at``, ...) are ignored unless a
function uses them (``vendor`` for per-vendor scopes).

Metrics are plain functions with keyword-only options.  Undefined results
(empty input, one rater per item, a single category, ...) are NaN with an
:class:`UndefinedAgreementWarning` saying why.  The value-based metrics can
also be computed from mergeable sufficient statistics
(:func:`coincidences`), which add across batches split by item.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._sums import UndefinedAgreementWarning
    from .binary_f1 import balanced_f1, pairwise_f1
    from .bootstrap import BootstrapResult, bootstrap_ci
    from .coincidence import CoincidenceStats, coincidences, merge
    from .icc import ICC_COLUMNS, ICC_TYPES, intraclass_corr, kendall_w
    from .kappa import ConfusionStats, cohen_kappa, confusion
    from .krippendorff import Level, krippendorff_alpha
    from .multirater import fleiss_kappa, gwet_ac1, percent_agreement, scott_pi
    from .pairwise import pairwise_kappa, pairwise_kappa_matrix
    from .per_category import per_category_agreement
    from .table import TABLE_COLUMNS, TABLE_METRICS, agreement_table

#: Where each public name lives: imported on first use (PEP 562), so that a stage needing one
#: metric does not pay for scipy.stats and scipy.sparse, which others use.
_LAZY = {
    "UndefinedAgreementWarning": "_sums",
    "balanced_f1": "binary_f1",
    "pairwise_f1": "binary_f1",
    "BootstrapResult": "bootstrap",
    "bootstrap_ci": "bootstrap",
    "CoincidenceStats": "coincidence",
    "coincidences": "coincidence",
    "merge": "coincidence",
    "ICC_COLUMNS": "icc",
    "ICC_TYPES": "icc",
    "intraclass_corr": "icc",
    "kendall_w": "icc",
    "ConfusionStats": "kappa",
    "cohen_kappa": "kappa",
    "confusion": "kappa",
    "Level": "krippendorff",
    "krippendorff_alpha": "krippendorff",
    "fleiss_kappa": "multirater",
    "gwet_ac1": "multirater",
    "percent_agreement": "multirater",
    "scott_pi": "multirater",
    "pairwise_kappa": "pairwise",
    "pairwise_kappa_matrix": "pairwise",
    "per_category_agreement": "per_category",
    "TABLE_COLUMNS": "table",
    "TABLE_METRICS": "table",
    "agreement_table": "table",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ICC_COLUMNS",
    "ICC_TYPES",
    "TABLE_COLUMNS",
    "TABLE_METRICS",
    "BootstrapResult",
    "CoincidenceStats",
    "ConfusionStats",
    "Level",
    "UndefinedAgreementWarning",
    "agreement_table",
    "balanced_f1",
    "bootstrap_ci",
    "coincidences",
    "cohen_kappa",
    "confusion",
    "fleiss_kappa",
    "gwet_ac1",
    "intraclass_corr",
    "kendall_w",
    "krippendorff_alpha",
    "merge",
    "pairwise_f1",
    "pairwise_kappa",
    "pairwise_kappa_matrix",
    "per_category_agreement",
    "percent_agreement",
    "scott_pi",
]
