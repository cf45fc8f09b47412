"""pipeline.arrays: the sort-based distinct values equal numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.arrays import unique_sorted


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_unique_sorted_equals_numpy(dtype, n):
    rng = np.random.default_rng(n)
    values = rng.integers(0, 50 if n else 1, n).astype(dtype)
    got = unique_sorted(values)
    np.testing.assert_array_equal(got, np.unique(values))
    assert got.dtype == np.unique(values).dtype


@pytest.mark.parametrize("as_type", ["str", "object", "category", "int"])
def test_positions_equals_get_indexer(as_type):
    import pandas as pd

    from pipeline.arrays import positions

    index = pd.Index(["b", "a", "d", "c"]) if as_type != "int" else pd.Index([5, 1, 9, 3])
    raw = ["a", "x", "c", None, "b", "a"] if as_type != "int" else [1, 7, 3, 5, 1]
    values = pd.Series(raw, dtype={"str": "str", "object": object, "category": "category", "int": "int64"}[as_type])
    want = index.get_indexer(pd.Index(values.astype(object)))
    np.testing.assert_array_equal(positions(index, values), want)
    assert (positions(index, values)[values.isna().to_numpy()] == -1).all()


def test_positions_hashes_the_smaller_side_with_the_same_answer():
    """A long index and few (repeated, null, absent) values, and the other way round."""
    import pandas as pd

    from pipeline.arrays import positions

    index = pd.Index([f"item-{i:05d}" for i in range(5000)], dtype="str")
    values = pd.Series(["item-00042", "nope", None, "item-04999", "item-00042"], dtype="str")
    want = index.get_indexer(pd.Index(values.astype(object)))
    np.testing.assert_array_equal(positions(index, values), want)
    np.testing.assert_array_equal(positions(pd.Index(values.dropna().unique()), pd.Series(index)),
                                  pd.Index(values.dropna().unique()).get_indexer(index))


def test_unique_sorted_with_a_bound_counts_instead_of_sorting():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 300, 5000)
    np.testing.assert_array_equal(unique_sorted(values, bound=300), np.unique(values))
    np.testing.assert_array_equal(unique_sorted(values, bound=10**12), np.unique(values))  # too wide: sorts


def test_positions_of_arrow_backed_text_in_several_chunks():
    """Columns read from Parquet are Arrow-backed and chunked (one chunk per row group)."""
    import pandas as pd
    import pyarrow as pa

    from pipeline.arrays import positions

    chunked = pa.chunked_array([["c", "a"], ["zz", None, "b"]])
    values = pa.Table.from_arrays([chunked], names=["v"]).to_pandas()["v"]
    index = pd.Index([f"{c}" for c in "abcdefghij"], dtype="str")
    want = index.get_indexer(pd.Index(values.astype(object)))
    np.testing.assert_array_equal(positions(index, values), want)
    np.testing.assert_array_equal(positions(pd.Index(["b", "c"], dtype="str"), values),
                                  pd.Index(["b", "c"]).get_indexer(pd.Index(values.astype(object))))


@pytest.mark.parametrize("bound", [40, 10**9])  # a presence map, and the sort
def test_first_occurrences_marks_the_first_row_of_each_value(bound):
    from pipeline.arrays import first_occurrences

    rng = np.random.default_rng(5)
    for values in (rng.permutation(40), rng.integers(0, 40, 30)):  # all distinct; with repeats
        _, first = np.unique(values, return_index=True)
        want = np.zeros(values.size, dtype=bool)
        want[first] = True
        np.testing.assert_array_equal(first_occurrences(values, bound=bound), want)
