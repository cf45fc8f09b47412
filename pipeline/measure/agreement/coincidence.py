"""Mergeable sufficient statistics for the value-based agreement metrics.

Every metric in this package except Cohen's kappa depends on the data only
through the *label-count profile* of each item: the vector
``x_i = (n_i1, ..., n_iV)`` of how many labels of each category item ``i``
received (Krippendorff 2011 calls the matrix of these rows "value counts").
:class:`CoincidenceStats` stores the multiset of these profiles compactly:
the distinct profiles (a sparse ``K x V`` matrix) and how many items have each
(``multiplicity``).  For categorical tasks ``K`` is tiny (e.g. at most 70
distinct profiles for 4 labels over 5 classes), so

* the coincidence matrix ``o_vk = sum_i (n_iv n_ik - [v = k] n_iv) / (m_i - 1)``
  (Krippendorff 2011, eq. for ``o_ck``) and every metric is a cheap weighted
  sum over profiles, and
* the item bootstrap is a multinomial draw over ``K`` profiles instead of a
  resample of raw rows.

Statistics built from batches that are **split by item** add up exactly:
``metric(all rows) == metric(coincidences(part1) + coincidences(part2))``.
(An item split across batches would be counted as two items.)

Data contract (``pipeline/contract.py``): a DataFrame or pyarrow Table with at
least ``item_id``, ``annotator_id``, ``label``; one row per label an annotator
gave an item; null labels are dropped; other columns are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from ._codes import Annotations, Encoded, encode, group_counts

__all__ = ["CoincidenceStats", "as_stats", "coincidences", "merge"]

# above this many categories ``matrix`` is returned as a scipy sparse array
_DENSE_MATRIX_MAX_V = 2048


class CoincidenceStats:
    """Distinct item label-count profiles with multiplicities (mergeable).

    Build with :func:`coincidences`; combine batches split by item with ``+``
    or :func:`merge`.  Every value-based metric
    (:func:`~pipeline.measure.agreement.krippendorff_alpha`,
    :func:`~pipeline.measure.agreement.percent_agreement`,
    :func:`~pipeline.measure.agreement.fleiss_kappa`,
    :func:`~pipeline.measure.agreement.scott_pi`,
    :func:`~pipeline.measure.agreement.gwet_ac1`,
    :func:`~pipeline.measure.agreement.per_category_agreement`) accepts a
    ``CoincidenceStats`` in place of the annotations.

    Attributes
    ----------
    categories : ndarray of shape (V,)
        Category values (sorted, or in ``labels`` when one was given).
    profiles : scipy.sparse.csr_array of shape (K, V)
        Distinct per-item label counts ``n_iv`` (only items with >= 1 label).
    multiplicity : ndarray of shape (K,)
        Number of items having each profile.
    explicit_order : bool
        Whether ``categories`` came from an explicit ``labels``.
    """

    __slots__ = ("categories", "profiles", "multiplicity", "explicit_order", "_cache")

    def __init__(
        self,
        categories: np.ndarray,
        profiles: sparse.csr_array,
        multiplicity: np.ndarray,
        *,
        explicit_order: bool = False,
    ) -> None:
        self.categories = np.asarray(categories)
        self.profiles = profiles
        self.multiplicity = np.asarray(multiplicity, dtype=np.int64)
        self.explicit_order = explicit_order
        self._cache: dict[str, Any] = {}
        if profiles.shape != (self.multiplicity.shape[0], self.categories.shape[0]):
            raise ValueError(
                f"profiles shape {profiles.shape} does not match {self.multiplicity.shape[0]} multiplicities "
                f"x {self.categories.shape[0]} categories"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def n_profiles(self) -> int:
        """Number of distinct label-count profiles ``K``."""
        return int(self.multiplicity.shape[0])

    @property
    def n_categories(self) -> int:
        """Number of categories ``V`` in the domain."""
        return int(self.categories.shape[0])

    @property
    def labels_per_item(self) -> np.ndarray:
        """``m`` of each profile (number of labels the item received)."""
        if "m" not in self._cache:
            self._cache["m"] = np.asarray(self.profiles.sum(axis=1)).ravel().astype(np.float64)
        return self._cache["m"]

    @property
    def n_items(self) -> int:
        """Items with at least one label."""
        return int(self.multiplicity.sum())

    @property
    def n_labels(self) -> int:
        """Non-null labels."""
        return int(round(float(self.multiplicity @ self.labels_per_item)))

    @property
    def n_pairable_items(self) -> int:
        """Items with two or more labels (the only ones that carry agreement)."""
        return int(self.multiplicity[self.labels_per_item >= 2].sum())

    @property
    def value_totals(self) -> np.ndarray:
        """``n_v``: labels of each category on pairable items (coincidence margins)."""
        pairable = (self.labels_per_item >= 2).astype(np.float64)
        return np.asarray(self.profiles.T @ (self.multiplicity * pairable)).ravel()

    def coincidence_matrix(self) -> np.ndarray | sparse.csr_array:
        """Krippendorff's coincidence matrix ``o`` (V x V).

        ``o_vk = sum_i (n_iv n_ik - [v = k] n_iv) / (m_i - 1)`` over items with
        ``m_i >= 2``.  Dense for ``V <= 2048``, scipy sparse above (the metrics
        never need it: they use per-profile sums, see
        :mod:`pipeline.measure.agreement.krippendorff`).
        """
        m = self.labels_per_item
        w = np.where(m >= 2, self.multiplicity / np.maximum(m - 1.0, 1.0), 0.0)
        x = sparse.csr_array(self.profiles, dtype=np.float64)
        o = (x.T @ sparse.diags_array(w) @ x).tocsr()
        o = o - sparse.diags_array(np.asarray(x.T @ w).ravel())
        if self.n_categories <= _DENSE_MATRIX_MAX_V:
            return np.asarray(o.toarray())
        return sparse.csr_array(o)

    @property
    def matrix(self) -> np.ndarray | sparse.csr_array:
        """Alias of :meth:`coincidence_matrix`."""
        return self.coincidence_matrix()

    # ------------------------------------------------------------------ merge
    def __add__(self, other: CoincidenceStats) -> CoincidenceStats:
        if not isinstance(other, CoincidenceStats):
            return NotImplemented
        return merge(self, other)

    def __radd__(self, other: Any) -> CoincidenceStats:
        if isinstance(other, int) and other == 0:  # supports sum([...])
            return self
        return NotImplemented

    def reweighted(self, multiplicity: np.ndarray) -> CoincidenceStats:
        """Same profiles with other item multiplicities (used by the bootstrap)."""
        return CoincidenceStats(self.categories, self.profiles, multiplicity, explicit_order=self.explicit_order)

    def __repr__(self) -> str:
        return (
            f"CoincidenceStats(n_items={self.n_items}, n_labels={self.n_labels}, "
            f"n_categories={self.n_categories}, n_profiles={self.n_profiles})"
        )


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------
def coincidences(annotations: Annotations | Encoded, categories: Sequence[Any] | None = None) -> CoincidenceStats:
    """Sufficient statistics of ``annotations`` for the value-based metrics.

    Parameters
    ----------
    annotations : pandas.DataFrame or pyarrow.Table
        Long format: columns ``item_id``, ``annotator_id``, ``label`` (one row
        per label an annotator gave an item; null labels dropped; other
        columns ignored).
    categories : sequence, optional
        The category domain in order (the task's label order).  Every observed
        label must be in it; unobserved categories get zero counts (they
        matter for Gwet's AC1, whose chance term uses the number of
        categories).  Default: the observed labels, sorted.

    Returns
    -------
    CoincidenceStats
        Mergeable with ``+`` across batches split by item.

    Notes
    -----
    Cost: one ``factorize`` of ``item_id`` and ``label``, a ``bincount`` over
    ``item x category`` keys and a grouping of items by profile; O(rows)
    memory, no items x annotators matrix.
    """
    enc = annotations if isinstance(annotations, Encoded) else encode(annotations, labels=categories)
    return from_codes(enc.item, enc.label, enc.n_item_slots, enc.categories, explicit_order=categories is not None)


def from_codes(
    item: np.ndarray,
    label: np.ndarray,
    n_item_slots: int,
    categories: np.ndarray,
    *,
    explicit_order: bool = False,
) -> CoincidenceStats:
    """Build :class:`CoincidenceStats` from integer codes (internal fast path)."""
    n_cat = int(len(categories))
    if item.size == 0:
        empty = sparse.csr_array((0, n_cat), dtype=np.int64)
        return CoincidenceStats(categories, empty, np.empty(0, dtype=np.int64), explicit_order=explicit_order)
    fast = _from_codes_positional(item, label, n_item_slots, categories, explicit_order)
    if fast is not None:
        return fast
    keys, counts = group_counts(item * n_cat + label, n_item_slots * n_cat)
    rows = keys // n_cat
    cols = keys - rows * n_cat
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    indptr = np.r_[starts, rows.size].astype(np.int64)
    ones = np.ones(starts.size, dtype=np.int64)
    return _compress(categories, indptr, cols, counts, ones, explicit_order=explicit_order)


def _from_codes_positional(
    item: np.ndarray, label: np.ndarray, n_item_slots: int, categories: np.ndarray, explicit_order: bool
) -> CoincidenceStats | None:
    """Fast path for few categories: read each item's count vector as one base-``b`` number.

    ``key_i = sum_rows b ** label`` (``b`` = max labels per item + 1) is an
    exact, collision-free id of the profile while ``b ** V <= 2 ** 52``; it
    is one weighted ``bincount`` over rows, and profiles are decoded from the
    distinct keys' digits.  Returns ``None`` when the key would not be exact
    or decoding would not be O(rows).
    """
    n_cat = int(len(categories))
    m = np.bincount(item, minlength=n_item_slots)
    base = int(m.max()) + 1
    if n_cat * np.log2(base) > 52:
        return None
    powers = np.power(float(base), np.arange(n_cat, dtype=np.float64))
    key = np.bincount(item, weights=powers[label], minlength=n_item_slots)
    key = key[m > 0]
    codes, uniques = pd.factorize(key)
    n_types = uniques.size
    if n_types * n_cat > 8 * item.size + (1 << 20):
        return None
    digits = (np.asarray(uniques, dtype=np.float64)[:, None] // powers[None, :]) % base
    profiles = sparse.csr_array(digits.astype(np.int64))
    profiles.sort_indices()
    multiplicity = np.bincount(codes, minlength=n_types).astype(np.int64)
    return CoincidenceStats(categories, profiles, multiplicity, explicit_order=explicit_order)


def _compress(
    categories: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    weights: np.ndarray,
    *,
    explicit_order: bool,
) -> CoincidenceStats:
    """Group identical CSR rows (column indices sorted within rows) and sum weights."""
    n_rows = indptr.size - 1
    n_cat = int(len(categories))
    lengths = np.diff(indptr)
    type_of_row = _profile_codes(indptr, indices, data, lengths, n_cat)
    if type_of_row is None:  # no compression possible cheaply: every row its own profile
        profiles = sparse.csr_array((data, indices, indptr), shape=(n_rows, n_cat))
        return CoincidenceStats(categories, profiles, weights, explicit_order=explicit_order)
    n_types = int(type_of_row.max()) + 1 if n_rows else 0
    first = np.empty(n_types, dtype=np.int64)
    first[type_of_row[::-1]] = np.arange(n_rows - 1, -1, -1, dtype=np.int64)
    multiplicity = np.bincount(type_of_row, weights=weights, minlength=n_types)
    multiplicity = np.rint(multiplicity).astype(np.int64)
    rep_len = lengths[first]
    new_indptr = np.r_[0, np.cumsum(rep_len)].astype(np.int64)
    gather = np.repeat(indptr[first] - new_indptr[:-1], rep_len) + np.arange(new_indptr[-1], dtype=np.int64)
    profiles = sparse.csr_array((data[gather], indices[gather], new_indptr), shape=(n_types, n_cat))
    return CoincidenceStats(categories, profiles, multiplicity, explicit_order=explicit_order)


def _profile_codes(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, lengths: np.ndarray, n_cat: int
) -> np.ndarray | None:
    """Exact integer id per row such that equal ids <=> equal rows; ``None`` if too costly."""
    n_rows = lengths.size
    if n_rows == 0:
        return np.empty(0, dtype=np.int64)
    base = int(data.max()) + 1
    # fast path: the count vector read as a base-`base` number fits exactly in a float64
    if n_cat * np.log2(base) <= 52:
        digits = data.astype(np.float64) * np.power(float(base), indices.astype(np.float64))
        key = np.add.reduceat(digits, indptr[:-1]) if digits.size else np.zeros(n_rows)
        key[lengths == 0] = 0.0
        codes, _ = pd.factorize(key)
        return codes.astype(np.int64)
    # exact path: combine the (category, count) entries position by position
    max_len = int(lengths.max())
    max_code = n_cat * base + 1
    if n_rows * max_len > 8 * indices.size + (1 << 20) or float(n_rows) * (max_code + 1) >= 2.0**62:
        return None
    entry_code = indices.astype(np.int64) * base + data.astype(np.int64) + 1  # >= 1; 0 = "row ended"
    key = np.zeros(n_rows, dtype=np.int64)
    for pos in range(max_len):  # loop over positions within a row (max labels per item), not items
        col = np.zeros(n_rows, dtype=np.int64)
        has = lengths > pos
        col[has] = entry_code[indptr[:-1][has] + pos]
        key, _ = pd.factorize(key * (max_code + 1) + col)
        key = key.astype(np.int64)
    return key


def _align(stats: CoincidenceStats, categories: np.ndarray) -> CoincidenceStats:
    if stats.n_categories == len(categories) and np.array_equal(stats.categories, categories):
        return stats
    pos = pd.Index(categories).get_indexer(pd.Index(stats.categories))
    prof = stats.profiles.tocsr()
    new = sparse.csr_array((prof.data, pos[prof.indices], prof.indptr), shape=(stats.n_profiles, len(categories)))
    new.sort_indices()
    return CoincidenceStats(categories, new, stats.multiplicity, explicit_order=stats.explicit_order)


def merge(*parts: CoincidenceStats) -> CoincidenceStats:
    """Combine statistics of batches that are split by item.

    Categories are united (sorted when comparable, unless a part carries an
    explicit ``labels``, whose order is kept and extended).  The result
    is exactly the statistics of the concatenated batches.
    """
    if not parts:
        raise ValueError("merge needs at least one CoincidenceStats")
    for p in parts:
        if not isinstance(p, CoincidenceStats):
            raise ValueError(f"merge takes CoincidenceStats objects, got {type(p).__name__}")
    explicit = [p for p in parts if p.explicit_order]
    if explicit:
        cats = pd.Index(explicit[0].categories)
        for p in parts:
            extra = pd.Index(p.categories).difference(cats, sort=False)
            if len(extra) and p.explicit_order:
                raise ValueError(
                    f"cannot merge statistics built with different labels lists (extra {list(extra)[:5]})"
                )
            cats = cats.append(extra)
        categories = np.asarray(cats.to_numpy())
    else:
        cats = pd.Index(parts[0].categories)
        for p in parts[1:]:
            cats = cats.union(pd.Index(p.categories), sort=None)
        try:
            cats = cats.sort_values()
        except TypeError:
            pass
        categories = np.asarray(cats.to_numpy())
    aligned = [_align(p, categories) for p in parts]
    prof = sparse.vstack([a.profiles for a in aligned], format="csr")
    weights = np.concatenate([a.multiplicity for a in aligned])
    prof.sort_indices()
    return _compress(
        categories,
        prof.indptr.astype(np.int64),
        prof.indices.astype(np.int64),
        prof.data.astype(np.int64),
        weights,
        explicit_order=bool(explicit),
    )


def as_stats(annotations: Annotations | CoincidenceStats, labels: Sequence[Any] | None) -> CoincidenceStats:
    """Annotations -> :class:`CoincidenceStats`; a stats object is re-aligned to ``labels``."""
    if isinstance(annotations, CoincidenceStats):
        if labels is None:
            return annotations
        order = pd.Index(list(labels))
        if order.has_duplicates:
            raise ValueError(f"labels has duplicate categories {order[order.duplicated()].tolist()[:5]}")
        unknown = pd.Index(annotations.categories).difference(order)
        if len(unknown):
            raise ValueError(
                f"categories {list(unknown)[:5]!r} of the statistics are not in labels={list(labels)[:10]!r}"
            )
        aligned = _align(annotations, np.asarray(order.to_numpy()))
        return CoincidenceStats(aligned.categories, aligned.profiles, aligned.multiplicity, explicit_order=True)
    return coincidences(annotations, categories=labels)
