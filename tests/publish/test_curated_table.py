"""pipeline.publish.manifest.curated_table: kept items sorted by item_id whatever order the consensus has."""

from __future__ import annotations

import pyarrow as pa

from pipeline.publish.manifest import curated_table

RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _consensus(ids: list[str]) -> pa.Table:
    n = len(ids)
    return pa.table({
        "item_id": ids, "label": ["pos"] * n, "confidence": [0.9] * n, "n_annotations": pa.array([3] * n, pa.int32()),
        "agreement": [1.0] * n, "vendors": ["a"] * n, "source_batches": [["a/b1"]] * n,
        "held_out_reason": [None if int(i[-3:]) % 3 else "fewer than 3 labels" for i in ids],
    })


def test_curated_rows_are_sorted_by_item_id_from_sorted_and_shuffled_consensus():
    ids = [f"item-{i:03d}" for i in range(60)]
    shuffled = ids[7:] + ids[:7][::-1]
    from_sorted, from_shuffled = curated_table(_consensus(ids), RATIOS), curated_table(_consensus(shuffled), RATIOS)
    assert from_sorted["item_id"].to_pylist() == sorted(from_sorted["item_id"].to_pylist())
    assert from_shuffled.equals(from_sorted) and from_sorted.num_rows == 40  # every third item is held out
