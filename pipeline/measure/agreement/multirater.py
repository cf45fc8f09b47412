"""Percent agreement, Fleiss' kappa, Scott's pi (multi-pi) and Gwet's AC1.

All four treat labels as nominal categories and depend on the data only
through item label-count profiles (:class:`~.coincidence.CoincidenceStats`):
annotator ids are not used, so they accept any number of raters per item.

Notation: item ``i`` received ``m_i`` labels, ``n_ij`` of them in category
``j``; only items with ``m_i >= 2`` ("pairable") can show agreement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._codes import Annotations
from ._sums import (
    degenerate_reason,
    fleiss_kappa_from,
    gwet_ac1_from,
    percent_agreement_from,
    scott_pi_from,
    sums,
    undefined,
)
from .coincidence import CoincidenceStats, as_stats

__all__ = ["fleiss_kappa", "gwet_ac1", "percent_agreement", "scott_pi"]

_CONTRACT = """annotations : pandas.DataFrame, pyarrow.Table or CoincidenceStats
        Long format (data contract of ``pipeline/contract.py``): columns
        ``item_id``, ``annotator_id``, ``label``; one row per label an
        annotator gave an item; null labels are dropped; other columns are
        ignored.  Or the statistics returned by :func:`coincidences`."""


def _point(
    name: str,
    annotations: Annotations | CoincidenceStats,
    labels: Sequence[Any] | None,
    formula: Callable[[dict[str, np.ndarray]], np.ndarray],
    *,
    chance_corrected: bool = True,
) -> float:
    stats = as_stats(annotations, labels)
    s = sums(stats)
    reason = degenerate_reason(s, check_categories=chance_corrected)
    if reason is not None:
        return undefined(name, reason, stacklevel=4)
    return float(formula(s))


def percent_agreement(
    annotations: Annotations | CoincidenceStats, *, labels: Sequence[Any] | None = None
) -> float:
    r"""Observed agreement: the share of agreeing ordered label pairs within items.

    .. math::

        P_o = \frac{\sum_{i: m_i \ge 2} \sum_j n_{ij} (n_{ij} - 1)}
                   {\sum_{i: m_i \ge 2} m_i (m_i - 1)}

    Pairs are pooled over items, so an item with more labels weighs more
    (it has more pairs).  With two raters per item this is the plain share
    of items on which they agree.

    Parameters
    ----------
    {contract}
    labels : sequence, optional
        The task's categories; every observed label must be in it.

    Returns
    -------
    float
        In ``[0, 1]``.  Not chance-corrected: if everybody uses one category
        it is a true 1.0.  NaN (with :class:`UndefinedAgreementWarning`) when
        there are no labels or no item has two or more labels.

    References
    ----------
    Artstein, R. & Poesio, M. (2008). Inter-coder agreement for
    computational linguistics. Computational Linguistics 34(4), 555-596
    (observed agreement ``A_o`` for multiple coders, section 2.6).
    """
    return _point("percent_agreement", annotations, labels, percent_agreement_from, chance_corrected=False)


def fleiss_kappa(annotations: Annotations | CoincidenceStats, *, labels: Sequence[Any] | None = None) -> float:
    r"""Fleiss' kappa for any number of raters, also with unequal raters per item.

    .. math::

        P_i = \frac{\sum_j n_{ij}^2 - m_i}{m_i (m_i - 1)}, \quad
        \bar P = \frac{1}{N'} \sum_{i: m_i \ge 2} P_i, \quad
        p_j = \frac{\sum_{i: m_i \ge 2} n_{ij}}{\sum_{i: m_i \ge 2} m_i}, \quad
        \kappa = \frac{\bar P - \sum_j p_j^2}{1 - \sum_j p_j^2}

    With the same number of labels on every item this is exactly Fleiss
    (1971).  **Unequal numbers of raters per item**: each item's ``P_i``
    uses its own ``m_i`` and items are averaged with equal weight over the
    ``N'`` items that have at least two labels; ``p_j`` pools all labels of
    those items.  Items with a single label carry no agreement information
    and are left out of both ``P-bar`` and ``p_j``.

    Parameters
    ----------
    {contract}
    labels : sequence, optional
        The task's categories; every observed label must be in it.

    Returns
    -------
    float
        NaN (with :class:`UndefinedAgreementWarning`) when there are no
        labels, no item has two or more labels, or only one category occurs.

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many
    raters. Psychological Bulletin 76(5), 378-382.
    """
    return _point("fleiss_kappa", annotations, labels, fleiss_kappa_from)


def scott_pi(annotations: Annotations | CoincidenceStats, *, labels: Sequence[Any] | None = None) -> float:
    r"""Scott's pi, in its multi-rater form ("multi-pi").

    .. math::

        \pi = \frac{P_o - P_e}{1 - P_e}, \qquad P_e = \sum_j p_j^2

    with ``P_o`` = :func:`percent_agreement` (agreeing pairs pooled over
    items) and ``p_j`` the share of category ``j`` among all labels of items
    with two or more labels.  For two raters this is Scott (1955); for a
    constant number of raters per item it equals :func:`fleiss_kappa` (Fleiss'
    kappa is the multi-rater generalisation of pi, Artstein & Poesio 2008).
    With unequal numbers of raters per item it weights items by their number
    of label pairs, whereas Fleiss' kappa averages items equally.

    Parameters
    ----------
    {contract}
    labels : sequence, optional
        The task's categories; every observed label must be in it.

    Returns
    -------
    float
        NaN (with :class:`UndefinedAgreementWarning`) when undefined (no
        labels, no pairable item, one category only).

    References
    ----------
    Scott, W. A. (1955). Reliability of content analysis: the case of
    nominal scale coding. Public Opinion Quarterly 19(3), 321-325.
    Artstein, R. & Poesio, M. (2008), section 2.6 (multi-pi).
    """
    return _point("scott_pi", annotations, labels, scott_pi_from)


def gwet_ac1(annotations: Annotations | CoincidenceStats, *, labels: Sequence[Any] | None = None) -> float:
    r"""Gwet's first-order agreement coefficient AC1 (multiple raters, missing labels).

    .. math::

        p_a = \frac{1}{N'} \sum_{i: m_i \ge 2} \sum_j \frac{n_{ij}(n_{ij}-1)}{m_i (m_i - 1)}, \quad
        \pi_j = \frac{1}{N} \sum_{i: m_i \ge 1} \frac{n_{ij}}{m_i}, \quad
        p_e = \frac{1}{q - 1} \sum_j \pi_j (1 - \pi_j), \quad
        AC_1 = \frac{p_a - p_e}{1 - p_e}

    ``N'`` counts items with two or more labels, ``N`` items with at least
    one, and ``q`` is the number of categories in the domain
    (``len(labels)`` when given, else the number of observed labels).

    Parameters
    ----------
    {contract}
    labels : sequence, optional
        The task's categories; sets ``q`` and must contain every observed
        label.

    Returns
    -------
    float
        NaN (with :class:`UndefinedAgreementWarning`) when there are no
        labels, no pairable item, or the domain has a single category
        (``q = 1``).  If the domain has several categories but raters used
        only one, AC1 is 1 by construction (Gwet's design), unlike kappa.

    References
    ----------
    Gwet, K. L. (2008). Computing inter-rater reliability and its variance
    in the presence of high agreement. British Journal of Mathematical and
    Statistical Psychology 61(1), 29-48.
    Gwet, K. L. (2014). Handbook of Inter-Rater Reliability, 4th ed.
    """
    stats = as_stats(annotations, labels)
    s = sums(stats)
    reason = degenerate_reason(s, check_categories=False)
    if reason is None and stats.n_categories < 2:
        reason = "the category domain has a single category (q = 1), so chance agreement is 1"
    if reason is not None:
        return undefined("gwet_ac1", reason)
    return float(gwet_ac1_from(s, stats.n_categories))


for _f in (percent_agreement, fleiss_kappa, scott_pi, gwet_ac1):
    _f.__doc__ = (_f.__doc__ or "").replace("{contract}", _CONTRACT)
