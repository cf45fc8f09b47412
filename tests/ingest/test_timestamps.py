"""pipeline.ingest.canonical.to_utc: repeated values are converted once each, with the answer of
converting every value on its own (DST gaps and overlaps, offsets, nulls and bad text included)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest

from pipeline.ingest.canonical import to_utc

TZ = "America/New_York"  # 2026-03-08 02:00 does not exist there; 2026-11-01 01:00-02:00 happens twice


def _one_by_one(values: list, type_: pa.DataType) -> tuple[list, list]:
    out, bad = [], []
    for v in values:  # one value: nothing repeats, so the direct path
        flag = np.zeros(1, dtype=bool)
        out.append(to_utc(pa.chunked_array([pa.array([v], type_)]), TZ, flag).to_pylist()[0])
        bad.append(bool(flag[0]))
    return out, bad


@pytest.mark.parametrize("kind", ["timestamp", "text"])
def test_repeated_values_convert_as_each_value_alone(kind):
    naive = [datetime(2026, 11, 1, 1, 30), datetime(2026, 3, 8, 2, 30), datetime(2026, 6, 1, 12, 0), None]
    if kind == "timestamp":
        distinct, type_ = naive, pa.timestamp("us")
    else:
        distinct = [None if v is None else v.isoformat() for v in naive] + ["2026-06-01T12:00:00+02:00", "not a time"]
        type_ = pa.string()
    values = [distinct[i % len(distinct)] for i in range(10 * len(distinct))]  # every value ten times
    flags = np.zeros(len(values), dtype=bool)
    got = to_utc(pa.chunked_array([pa.array(values[:7], type_), pa.array(values[7:], type_)]), TZ, flags)
    want, want_bad = _one_by_one(values, type_)
    assert got.to_pylist() == want
    assert flags.tolist() == want_bad
    assert got.type == pa.timestamp("us", tz="UTC") and got.null_count == values.count(None) + 10 * (kind == "text")
