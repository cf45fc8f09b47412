"""Item lineage (pipeline.merge.lineage) on integer codes equals the plain pandas computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.merge.lineage import contributing_vendors, source_batches


def _annotations(seed: int, n: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "vendor": pd.array(rng.choice(["b", "a", "\u00e7a", "a2", "B"], n), dtype="string[pyarrow]"),
        "batch_id": pd.array([f"bt{k}" for k in rng.integers(0, 40, n)], dtype="string[pyarrow]"),
        "item_id": pd.array([f"i{k}" for k in rng.integers(0, 3000, n)], dtype="string[pyarrow]")})


def test_source_batches_are_each_items_sorted_vendor_batches():
    ann = _annotations(1)
    items = pd.Series([*sorted(set(ann["item_id"])), "never-labelled"])
    keys = (ann["vendor"].astype(str) + "/" + ann["batch_id"].astype(str)).to_numpy(dtype=object)
    expected = pd.DataFrame({"item": ann["item_id"].astype(str), "batch": keys}).drop_duplicates() \
        .sort_values(["item", "batch"]).groupby("item")["batch"].agg(list)
    got = source_batches(ann, items).to_pylist()
    assert got[-1] == []
    assert dict(zip(items[:-1], got[:-1])) == expected.to_dict()
    assert source_batches(ann.iloc[:0], pd.Series(["x"])).equals(pa.array([[]], pa.list_(pa.string())))


def test_contributing_vendors_are_sorted_and_comma_joined():
    ann = _annotations(2)
    items = pd.Series([*sorted(set(ann["item_id"]), reverse=True), "never-labelled"])
    expected = ann.groupby(ann["item_id"].astype(str))["vendor"].agg(lambda v: ",".join(sorted(set(v))))
    got = contributing_vendors(ann, items)
    assert got.iloc[:-1].tolist() == expected.reindex(items[:-1]).tolist()
    assert pd.isna(got.iloc[-1])
