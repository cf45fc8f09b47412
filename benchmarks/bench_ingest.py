"""Benchmark: ingest + validate + stage throughput on one large delivery.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ingest.py                       # 4M rows, 1M-row batches
    .venv/bin/python benchmarks/bench_ingest.py --rows 1000000 --batch-rows 250000
    .venv/bin/python benchmarks/bench_ingest.py --json benchmarks/results/ingest.json

What it does
------------
1. Generates one acme-style delivery of ``--rows`` rows (seeded; 0.1% unknown labels and
   0.05% repeated (item, annotator) pairs, so the row-level quarantine path is exercised),
   written as Parquet with 256k-row row groups.
2. Warms up (imports Great Expectations and builds its context on a 10-row file; reported
   apart: an Airflow task pays it once per process).
3. Times ``steps.ingest`` and ``steps.validate`` (which stages good rows and quarantines bad
   ones) in a fresh root; rows/s = delivered rows / (ingest + validate) wall-clock seconds.
4. Times the GX step alone (``pipeline.validate.stage.gx_validate_file``: every batch of the file, in this
   process; inside ``validate`` it runs in a worker process beside the Arrow row checks) beside
   the same checks written in plain pandas on the same batches.
5. Peak memory of ingest + validate in this process: Arrow's allocator peak (a fresh proxy
   pool) and the peak RSS, next to the in-memory size of the whole delivery. (The GX worker
   process holds one more batch while it validates.)

Targets: >= 1M rows/s through ingest + validate + stage on a 2-core machine; peak memory
bounded by the streaming batch size, not the file size. This is a benchmark, not a test: it
prints numbers and never fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import steps  # noqa: E402
from pipeline.validate import stage as validate_stage  # noqa: E402
from pipeline.config import parse_config  # noqa: E402
from pipeline.kinds.classification import ANNOTATIONS  # noqa: E402
from pipeline.storage import open_store

DAY = date(2026, 11, 1)
CONFIG = {
    "tasks": {"sentiment": {"labels": ["negative", "neutral", "positive"]}},
    "vendors": {"acme": {"task": "sentiment", "landing": "landing/acme",
                         "columns": {"item": "item_id", "worker": "annotator_id", "answer": "label", "ts": "annotated_at",
                                     "batch": "batch_id"},
                         "labels": {"NEG": "negative", "NEU": "neutral", "POS": "positive"}}},
}
PARAMS = {"label_set": ["negative", "neutral", "positive"], "vendor_set": ["acme"], "task_set": ["sentiment"],
          **validate_stage.annotated_at_bounds(DAY)}


def generate(path: Path, rows: int, *, seed: int = 0, chunk: int = 1 << 20) -> int:
    """Write ``rows`` acme rows (vectorised); returns the in-memory Arrow size of the whole delivery."""
    rng = np.random.default_rng(seed)
    schema = pa.schema([("item", pa.string()), ("worker", pa.string()), ("answer", pa.string()),
                        ("ts", pa.timestamp("us", tz="UTC")), ("batch", pa.string())])
    words = np.array(["NEG", "NEU", "POS"])
    total = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as w:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            k = np.arange(start, start + n)
            item = pa.array(np.char.add("sentiment-20261101-", (k // 5).astype("U9")))
            worker = pa.array(np.char.add("ac-", ((k % 5) + 5 * ((k // 50_000) % 40)).astype("U4")))
            answer = words[rng.integers(0, 3, n)].astype(object)
            answer[rng.random(n) < 0.001] = "MIXED"
            dup = np.flatnonzero(rng.random(n) < 0.0005)
            item_np = np.asarray(item.to_pylist(), dtype=object) if len(dup) else None
            if len(dup):
                item_np[dup] = item_np[np.maximum(dup - 5, 0)]
                item = pa.array(item_np, pa.string())
            ts = pa.array((1_793_577_600_000_000 + k * 1000).astype("int64"), pa.timestamp("us", tz="UTC"))
            t = pa.table([item, worker, pa.array(answer, pa.string()), ts, pa.array(np.full(n, "acme-big"), pa.string())],
                         schema=schema)
            total += t.nbytes
            w.write_table(t, row_group_size=1 << 18)
    return total


def pandas_checks(frame: pd.DataFrame) -> dict[str, int]:
    """The suite's row checks in plain pandas (what GX computes, without GX)."""
    ann = frame["annotator_id"]
    return {
        "null": int(frame[["task", "item_id", "vendor", "annotator_id", "label", "batch_id", "annotated_at"]].isna().sum().sum()),
        "empty": int((ann.str.len() < 1).sum() + (frame["item_id"].str.len() < 1).sum()),
        "long_item": int((frame["item_id"].str.len() > 256).sum()),
        "unknown_label": int((~frame["label"].isin(PARAMS["label_set"]) & frame["label"].notna()).sum()),
        "wrong_vendor": int((~frame["vendor"].isin(["acme"])).sum()),
        "wrong_task": int((~frame["task"].isin(["sentiment"])).sum()),
        "duplicates": int(frame.duplicated(["item_id", "annotator_id"], keep=False).sum()),
        "columns_ok": int(list(frame.columns) == list(ANNOTATIONS.names)),
    }


#: Memory pools that must live as long as the interpreter (see main()).
_KEEP_ALIVE: list[pa.MemoryPool] = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--batch-rows", type=int, default=1 << 20)
    ap.add_argument("--workdir", type=Path, default=None, help="where to write data (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="labelq-bench-"))
    config = parse_config(CONFIG)
    src = work / "source.parquet"
    t0 = time.perf_counter()
    in_memory = generate(src, args.rows)
    gen_s = time.perf_counter() - t0

    # warm-up: GX import + context, on a tiny file
    warm = work / "warm"
    (warm / "landing/acme" / DAY.isoformat()).mkdir(parents=True)
    pq.write_table(pq.read_table(src).slice(0, 10), warm / "landing/acme" / DAY.isoformat() / "w.parquet")
    t0 = time.perf_counter()
    steps.ingest(config, open_store(warm), DAY, "acme")
    steps.validate(config, open_store(warm), DAY, "acme")
    warm_s = time.perf_counter() - t0

    root = work / "data"
    if root.exists():
        shutil.rmtree(root)
    (root / "landing/acme" / DAY.isoformat()).mkdir(parents=True)
    shutil.copyfile(src, root / "landing/acme" / DAY.isoformat() / "big.parquet")

    base_pool = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(base_pool)
    _KEEP_ALIVE.append(pool)  # buffers allocated through it outlive main(): freeing one after the pool died segfaulted
    pa.set_memory_pool(pool)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    ing = steps.ingest(config, open_store(root), DAY, "acme", batch_rows=args.batch_rows)
    t1 = time.perf_counter()
    val = steps.validate(config, open_store(root), DAY, "acme", batch_rows=args.batch_rows)
    t2 = time.perf_counter()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    arrow_peak = pool.max_memory()
    pa.set_memory_pool(base_pool)
    ingest_s, validate_s = t1 - t0, t2 - t1

    # the GX step alone (in this process, as the GX worker runs it: every batch of the file) ...
    in_key = f"ingested/date={DAY}/vendor=acme/big.parquet"
    t0 = time.perf_counter()
    validate_stage.gx_validate_file(open_store(str(root)), in_key, task="sentiment", vendor="acme", params=PARAMS,
                            batch_rows=args.batch_rows)
    gx_s = time.perf_counter() - t0
    # ... beside the same checks in plain pandas on the same batches (conversion not timed)
    pandas_s = 0.0
    pf = pq.ParquetFile(root / in_key)
    for batch in pf.iter_batches(batch_size=args.batch_rows, columns=list(ANNOTATIONS.names)):
        frame = batch.to_pandas()
        t0 = time.perf_counter()
        pandas_checks(frame)
        pandas_s += time.perf_counter() - t0

    total = ingest_s + validate_s
    out = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "pyarrow": pa.__version__,
                    "pandas": pd.__version__},
        "rows": args.rows, "batch_rows": args.batch_rows, "generate_s": round(gen_s, 2), "gx_warmup_s": round(warm_s, 2),
        "ingest_s": round(ingest_s, 3), "validate_stage_s": round(validate_s, 3), "total_s": round(total, 3),
        "rows_per_s": round(args.rows / total),
        "rows_staged": val["rows_staged"], "rows_quarantined": val["rows_quarantined"], "rows_in": val["rows_in"],
        "files_ingested": ing["files_ingested"],
        "gx_step_alone_s": round(gx_s, 3), "pandas_same_checks_s": round(pandas_s, 3),
        "gx_over_pandas": round(gx_s / pandas_s, 1),
        "arrow_peak_mb": round(arrow_peak / 1e6, 1),
        "rss_growth_mb": round((rss1 - rss0) / 1024, 1), "peak_rss_mb": round(rss1 / 1024, 1),
        "delivery_in_memory_mb": round(in_memory / 1e6, 1),
        "source_file_mb": round(src.stat().st_size / 1e6, 1),
    }
    for k, v in out.items():
        print(f"{k:>36}: {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
