"""Krippendorff's alpha for nominal, ordinal, interval and ratio data.

Computed from item label-count profiles (:mod:`.coincidence`) without ever
materialising a ``V x V`` matrix for the nominal, ordinal and interval
levels: each level's observed disagreement is a sum of per-profile
within-item disagreements and its expected disagreement a closed form of the
category totals.  Only the ratio level needs pairwise category distances for
its expected disagreement; those are accumulated in column blocks (memory
``O(V * block)``, time ``O(V^2)``), cf. fast-krippendorff issue #38.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast, get_args

import numpy as np
import pandas as pd

from pipeline.contract import LEVELS, Level

from ._codes import Annotations, check_columns
from ._sums import Features, degenerate_reason, features, safe_div, undefined
from .coincidence import CoincidenceStats, as_stats
from .sets import SetDistance, SetMetric, encode_sets

__all__ = ["Level", "krippendorff_alpha"]


_BLOCK_ELEMENTS = 1 << 22  # ~32 MB of float64 per block of pairwise distances


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")


def numeric_values(stats: CoincidenceStats, level: str) -> np.ndarray:
    """Category values as float64 for the interval/ratio metrics."""
    cats = stats.categories
    if cats.dtype.kind in "biuf":
        return cats.astype(np.float64)
    try:
        vals = pd.to_numeric(pd.Series(cats), errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"level={level!r} needs numeric labels, but labels include {list(cats[:3])!r}; "
            "use level='ordinal' with labels for ordered text labels, or level='nominal'"
        ) from None
    return vals


def _ratio_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(s != 0, (a - b) / s, 0.0)
    return d * d


# --------------------------------------------------------------- observed parts
def _interval_profile_ss(f: Features, scores: np.ndarray) -> np.ndarray:
    """Within-profile sum of squared deviations of ``scores`` (stable, 1-D scores)."""
    x = f.x
    if x.shape[0] == 0:
        return np.zeros(0)
    s1 = np.asarray(x @ scores).ravel()
    mu = s1 / np.maximum(f.m, 1.0)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    dev = scores[x.indices] - mu[rows]
    return np.bincount(rows, weights=x.data * dev * dev, minlength=x.shape[0])


def _interval_observed(f: Features, scores: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum_k w_k p_k 2 m_k SS_k / (m_k - 1)`` for 1-D or per-replicate (B, V) scores."""
    g = f.pairable * 2.0 * f.m / np.maximum(f.m - 1.0, 1.0)
    if scores.ndim == 1:
        return w @ (g * _interval_profile_ss(f, scores))
    x = f.x
    s1 = np.asarray(x @ scores.T)  # (K, B)
    s2 = np.asarray(x @ (scores * scores).T)
    ss = s2 - s1 * s1 / np.maximum(f.m, 1.0)[:, None]
    ss = np.maximum(ss, 0.0)
    return np.einsum("bk,kb->b", w, g[:, None] * ss)


#: A difference function on category positions: ``delta(i, j)`` for index arrays of one shape.
Delta = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _ratio(values: np.ndarray) -> Delta:
    return lambda i, j: _ratio_delta(values[i], values[j])


def _pair_profile_obs(f: Features, delta: Delta) -> np.ndarray:
    """Per profile ``p sum_{j != l} x_j x_l delta(j, l) / (m - 1)`` from the pairs of its nonzeros."""
    x = f.x
    k = x.shape[0]
    if k == 0:
        return np.zeros(0)
    lengths = np.diff(x.indptr)
    rows = np.repeat(np.arange(k), lengths)
    rep = np.repeat(np.arange(x.indices.size), lengths[rows])  # entry e repeated L_row times
    block_start = np.repeat(np.r_[0, np.cumsum(lengths[rows])[:-1]], lengths[rows])
    partner = x.indptr[rows[rep]] + (np.arange(rep.size) - block_start)
    d = delta(x.indices[rep], x.indices[partner])
    per = np.bincount(rows[rep], weights=x.data[rep] * x.data[partner] * d, minlength=k)
    return f.pairable * per / np.maximum(f.m - 1.0, 1.0)


def _pair_expected(n_v: np.ndarray, delta: Delta) -> np.ndarray:
    """``sum_{v,k} n_v n_k delta_vk`` accumulated over column blocks (no V x V matrix)."""
    n_cat = n_v.shape[-1]
    block = max(1, _BLOCK_ELEMENTS // max(n_cat, 1))
    total = np.zeros(n_v.shape[:-1])
    for j0 in range(0, n_cat, block):  # loop over blocks of categories, not items
        j1 = min(n_cat, j0 + block)
        i, j = np.meshgrid(np.arange(n_cat), np.arange(j0, j1), indexing="ij")
        d = delta(i, j)
        total = total + np.sum((n_v @ d) * n_v[..., j0:j1], axis=-1)
    return total


# --------------------------------------------------------------------- core
def alpha_parts(
    stats: CoincidenceStats, level: str, w: np.ndarray | None = None, delta: Delta | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(observed, expected, n)`` disagreement sums; ``alpha = 1 - (n-1) obs / exp``.

    ``w`` is the item multiplicity per profile, shape (K,) or (B, K). ``delta``: a difference
    function on category positions used instead of ``level``'s (e.g. a set distance).
    """
    f = features(stats)
    w = stats.multiplicity.astype(np.float64) if w is None else np.asarray(w, dtype=np.float64)
    n_v = np.asarray(f.xp.T @ w).ravel() if w.ndim == 1 else np.asarray(f.xp.T @ w.T).T
    n = n_v.sum(axis=-1)
    if delta is not None:  # cached per difference function that names itself (``delta.key``)
        name = getattr(delta, "key", None)
        per = stats._cache.get(f"delta_obs:{name}") if name is not None else None
        if per is None:
            per = _pair_profile_obs(f, delta)
            if name is not None:
                stats._cache[f"delta_obs:{name}"] = per
        return w @ per, _pair_expected(n_v, delta), n
    if level == "nominal":
        obs = w @ f.scalars[:, 7]
        exp = n * n - np.sum(n_v * n_v, axis=-1)
        return obs, exp, n
    if level in ("interval", "ordinal"):
        if level == "interval":
            values = numeric_values(stats, level)
            n_all_v = stats.value_totals
            n_all = float(n_all_v.sum())
            center = float(n_all_v @ values / n_all) if n_all > 0 else 0.0
            scores = values - center  # shift-invariant; improves conditioning
            obs = _interval_observed(f, scores, w)
            s_b = scores if n_v.ndim == 1 else np.broadcast_to(scores, n_v.shape)
        else:
            # ordinal distance of Krippendorff (2011) = squared difference of mid-ranks
            # M_v = sum_{g<v} n_g + n_v / 2, so ordinal alpha is interval alpha on M_v
            s_b = np.cumsum(n_v, axis=-1) - n_v / 2.0
            s_b = s_b - (n / 2.0)[..., None]  # the n_v-weighted mean of M_v is n/2
            obs = _interval_observed(f, s_b, w)
        s1 = np.sum(n_v * s_b, axis=-1)
        s2 = np.sum(n_v * s_b * s_b, axis=-1)
        exp = 2.0 * (n * s2 - s1 * s1)
        # one distinct value leaves only rounding noise: relative to the scale of the scores
        exp = np.where(exp <= 1e-12 * 2.0 * n * s2, 0.0, exp)
        return obs, exp, n
    if level == "ratio":
        values = numeric_values(stats, level)
        per = stats._cache.get("ratio_obs")
        if per is None:
            per = _pair_profile_obs(f, _ratio(values))
            stats._cache["ratio_obs"] = per
        return w @ per, _pair_expected(n_v, _ratio(values)), n
    check_level(level)
    raise AssertionError("unreachable")


def alpha_from_parts(obs: np.ndarray, exp: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``1 - (n - 1) obs / exp``; NaN where the expected disagreement is 0."""
    return 1.0 - (n - 1.0) * safe_div(obs, exp)


def _set_stats(annotations: Any, distance: str, level: str, labels: Sequence[Any] | None
               ) -> tuple[CoincidenceStats, SetDistance]:
    """Coincidence statistics of set-valued labels, their categories the distinct sets."""
    if distance not in get_args(SetMetric):
        raise ValueError(f"distance must be one of {list(get_args(SetMetric))}, got {distance!r}")
    if level != "nominal" or labels is not None:
        raise ValueError("distance replaces level and labels: give distance alone for set-valued labels")
    if isinstance(annotations, CoincidenceStats):
        raise ValueError("distance needs the annotations (set-valued labels), not CoincidenceStats")
    check_columns(annotations)
    column = annotations["label"] if isinstance(annotations, pd.DataFrame) else annotations.column("label")
    sets = encode_sets(column)
    frame = pd.DataFrame({
        "item_id": (annotations["item_id"] if isinstance(annotations, pd.DataFrame)
                    else annotations.column("item_id").to_pandas()).to_numpy(),
        "annotator_id": 0,
        "label": pd.arrays.IntegerArray(np.maximum(sets.code, 0), mask=sets.code < 0),  # a null label: no answer
    })
    stats = as_stats(frame, None)
    positions = np.asarray(stats.categories, dtype=np.int64)
    return stats, SetDistance(cast(SetMetric, distance), sets.bits[positions])


def krippendorff_alpha(
    annotations: Annotations | CoincidenceStats,
    *,
    level: Level = "nominal",
    labels: Sequence[Any] | None = None,
    distance: SetMetric | None = None,
) -> float:
    r"""Krippendorff's alpha reliability coefficient.

    .. math::

        \alpha = 1 - \frac{D_o}{D_e}
               = 1 - (n - 1) \frac{\sum_{c,k} o_{ck}\, \delta^2_{ck}}
                                  {\sum_{c,k} n_c n_k\, \delta^2_{ck}},
        \qquad
        o_{ck} = \sum_{u:\, m_u \ge 2} \frac{n_{uc} n_{uk} - [c = k]\, n_{uc}}{m_u - 1}

    where ``n_uc`` counts labels of value ``c`` on item ``u``, ``m_u`` the
    labels on ``u``, ``n_c = sum_k o_ck`` and ``n = sum_c n_c`` (only items with
    two or more labels count).  Difference functions: nominal ``[c != k]``;
    interval ``(c - k)^2``; ratio ``((c - k) / (c + k))^2``; ordinal
    ``(sum_{g=c}^{k} n_g - (n_c + n_k)/2)^2``, which equals ``(M_k - M_c)^2``
    for mid-ranks ``M_c = sum_{g<c} n_g + n_c/2`` -- so ordinal alpha is
    computed as interval alpha on mid-ranks.

    Parameters
    ----------
    annotations : pandas.DataFrame, pyarrow.Table or CoincidenceStats
        Long format (data contract of ``pipeline/contract.py``): columns
        ``item_id``, ``annotator_id``, ``label``; one row per label an
        annotator gave an item; null labels are dropped; other columns
        (``vendor``, ``task``, ...) are ignored.  Labels of one item are its
        values regardless of who gave them (annotator ids are not used).
        Or the statistics returned by :func:`coincidences`.
    level : {"nominal", "ordinal", "interval", "ratio"}, default "nominal"
        Level of measurement.  Interval and ratio need numeric labels.
    labels : sequence, optional
        The task's categories in order.  Sets the rank order for
        ``level="ordinal"`` (default: sorted label values) and must contain
        every observed label.
    distance : {"masi", "jaccard"}, optional
        Set-valued labels: each ``label`` is a list of tags (``[]`` = the
        empty set, an answer; null = no answer) and the difference of two
        labels is their MASI or Jaccard distance (:mod:`.sets`; not squared,
        as nltk's ``AnnotationTask(distance=...)``), in place of ``level``.

    Returns
    -------
    float
        Alpha in ``[-1, 1]`` (1 = perfect agreement, 0 = chance).  NaN with an
        :class:`UndefinedAgreementWarning` when undefined: no labels, no item
        with two or more labels, or a single value among comparable labels.

    Raises
    ------
    ValueError
        Missing columns, unknown ``level``, labels outside ``labels``,
        non-numeric labels for interval/ratio.

    References
    ----------
    Krippendorff, K. (2011). Computing Krippendorff's Alpha-Reliability.
    Annenberg School for Communication, University of Pennsylvania.
    https://repository.upenn.edu/asc_papers/43

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"item_id": [1, 1, 2, 2, 3, 3],
    ...                    "annotator_id": ["a", "b"] * 3,
    ...                    "label": ["x", "x", "y", "y", "x", "y"]})
    >>> round(krippendorff_alpha(df), 3)
    0.444
    """
    check_level(level)
    delta: SetDistance | None = None
    if distance is not None:
        stats, delta = _set_stats(annotations, distance, level, labels)
    else:
        stats = as_stats(annotations, labels)
    if level in ("interval", "ratio"):
        numeric_values(stats, level)  # fail early on text labels
    obs, exp, n = alpha_parts(stats, level, delta=delta)
    base = {
        "labels": np.float64(stats.n_labels),
        "pairable_items": np.float64(stats.n_pairable_items),
        "n_v": stats.value_totals,
    }
    reason = degenerate_reason(base)
    if reason is None and float(exp) <= 0.0:
        reason = "all comparable labels have the same value, so expected disagreement is 0"
    if reason is not None:
        what = f"distance={distance!r}" if distance is not None else f"level={level!r}"
        return undefined(f"krippendorff_alpha({what})", reason)
    return float(alpha_from_parts(obs, exp, n))

