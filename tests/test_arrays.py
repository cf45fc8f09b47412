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
