"""Hand-made vendor deliveries: a three-vendor config in three schemas (one nested), a good acme
batch, and a way to drop any bytes or table into a vendor's landing folder."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

DAY = date(2026, 11, 1)
CONFIG = {
    "tasks": {"sentiment": {"labels": ["negative", "neutral", "positive"]}},
    "vendors": {
        "acme": {"task": "sentiment", "landing": "landing/acme", "max_bad_row_fraction": 0.5,
                 "columns": {"item": "item_id", "worker": "annotator_id", "answer": "label", "ts": "annotated_at"},
                 "labels": {"NEG": "negative", "NEU": "neutral", "POS": "positive"}},
        "crowdly": {"task": "sentiment", "landing": "landing/crowdly", "timezone": "America/New_York",
                    "columns": {"task_item": "item_id", "labeler": "annotator_id", "score": "label", "created": "annotated_at"},
                    "labels": {"-1": "negative", "0": "neutral", "1": "positive"}},
        "nested": {"task": "sentiment", "landing": "landing/nested", "explode": "answers", "vendor_column": "shop",
                   "max_bad_row_fraction": 0.5,
                   "columns": {"id": "item_id", "answers.worker": "annotator_id", "answers.label": "label",
                               "meta.at": "annotated_at"}},
    },
}


def acme(n: int = 20, *, start: int = 0, **overrides) -> pa.Table:
    """A good acme delivery: n rows, items i<k>, two workers, all labels known."""
    idx = np.arange(start, start + n)
    df = pd.DataFrame({
        "item": [f"i{k // 2}" for k in idx], "worker": [f"w{k % 2}" for k in idx],
        "answer": np.array(["NEG", "NEU", "POS"])[idx % 3],
        "ts": pd.Timestamp("2026-11-01 12:00", tz="UTC") + pd.to_timedelta(idx, unit="ms"),  # all within the day
    })
    for k, v in overrides.items():
        df[k] = v
    return pa.Table.from_pandas(df, preserve_index=False)


def deliver(root: Path, name: str, data: bytes | pa.Table, vendor: str = "acme") -> Path:
    folder = root / "landing" / vendor / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        (folder / name).write_bytes(data)
    else:
        pq.write_table(data, folder / name)
    return folder / name


def to_canonical(table: pa.Table, *, task: str, vendor_name: str, vendor, batch_id: str, source_file: str) -> pa.Table:
    """One whole vendor table through ingest's mapping (``flatten`` then ``map_batch``, as the ingest
    stage streams them), as classification's canonical annotations."""
    from pipeline.ingest.canonical import flatten, map_batch
    from pipeline.kinds.classification import ANNOTATIONS

    flat, parent = flatten(table, vendor)
    mapped = map_batch(flat, task=task, vendor_name=vendor_name, vendor=vendor, batch_id=batch_id,
                       source_file=source_file, source_rows=parent)
    return mapped.select(ANNOTATIONS.names).cast(ANNOTATIONS)


def assert_every_row_accounted_for(root: Path, results: list[dict]) -> None:
    """For every vendor and day of ``steps.run_day`` ``results``: the rows delivered into its landing
    folder = rows staged + rows quarantined, as validation counted them."""
    for r in results:
        for vendor, stages in r["vendors"].items():
            v = stages["validate"]
            delivered = sum(pq.read_metadata(p).num_rows for p in (root / "landing" / vendor / r["date"]).glob("*.parquet"))
            assert v["rows_in"] == v["rows_staged"] + v["rows_quarantined"] == delivered, (vendor, r["date"])
