"""Benchmark reading the staged history (pipeline.history.resolve) against a plain read and polars.

Usage::

    .venv/bin/python benchmarks/bench_history.py [--days 20] [--rows 25000] [--repeat 3]

Writes a seeded staged history: ``--days`` days x 3 vendors x 2 batches of ``--rows`` rows
(string ids), where each day repeats 5% of an earlier day's (item, annotator) pairs in another batch; every 5th day
re-delivers the day before's first batch id with new rows (a supersession). Then times, from
the same files, in one process:

* ``plain``: every staged Parquet file read, concatenated and turned into a pandas DataFrame
  (what ``read_staged`` did before the history was resolved at read time; it counts
  superseded and repeated rows);
* ``resolve``: :func:`pipeline.history.resolve` (reports, supersession, the first label of
  each pair, the input digest), returning a pandas DataFrame;
* ``polars``: the same rows with polars: the files that count (given to it, untimed) scanned
  lazily in (date, file) order, then ``unique(["vendor", "item_id", "annotator_id"],
  keep="first", maintain_order=True)``, returning a polars DataFrame (no pandas conversion).

Prints seconds, rows/s, the ratio to ``plain`` and to polars, and checks resolve and polars
return the same number of rows (and the same rows in the same order).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.history import resolve  # noqa: E402
from pipeline.kinds.classification import ANNOTATIONS  # noqa: E402
from pipeline.storage import Store  # noqa: E402

VENDORS = ("acme", "bluepeak", "crowdly")
START = date(2026, 1, 1)


def _batch(rng: np.random.Generator, vendor: str, day: date, name: str, batch_id: str, items: np.ndarray,
           annotators: np.ndarray) -> pa.Table:
    n = len(items)
    return pa.table({
        "task": pa.array(["t"] * n), "item_id": pa.array(np.char.add("i", items.astype(str))),
        "vendor": pa.array([vendor] * n), "annotator_id": pa.array(np.char.add("w", annotators.astype(str))),
        "label": pa.array(np.array(["a", "b", "c"])[rng.integers(0, 3, n)]),
        "annotated_at": pa.array(np.full(n, np.datetime64(day, "us")), pa.timestamp("us", tz="UTC")),
        "batch_id": pa.array([batch_id] * n), "source_file": pa.array([f"landing/{vendor}/{day}/{name}.parquet"] * n),
    }, schema=ANNOTATIONS)


def write_history(root: Path, days: int, rows: int, seed: int) -> int:
    """The staged partitions and validate reports of ``days`` days; returns the rows written."""
    rng = np.random.default_rng(seed)
    total = 0
    for d in range(days):
        day = START + timedelta(days=d)
        for vendor in VENDORS:
            part = root / "staged" / "t" / f"date={day}" / f"vendor={vendor}"
            part.mkdir(parents=True)
            batches = []
            for b in range(2):
                name = f"{vendor}-{day}-{b}"
                redeliver = b == 1 and d % 5 == 4  # every 5th day re-delivers the day before's first batch
                batch_id = f"{vendor}-{START + timedelta(days=d - 1)}-0" if redeliver else name
                items = rng.integers(0, 50 * rows, rows)
                annotators = rng.integers(0, 400, rows)
                if d and b == 0:  # 5% repeat pairs of the day before
                    prev = pq.read_table(root / "staged" / "t" / f"date={START + timedelta(days=d - 1)}"
                                         / f"vendor={vendor}" / f"{vendor}-{START + timedelta(days=d - 1)}-1.parquet",
                                         columns=["item_id", "annotator_id"])
                    k = rows // 20
                    items[:k] = np.char.lstrip(np.asarray(prev["item_id"][:k].to_pylist(), dtype=str), "i").astype(np.int64)
                    annotators[:k] = np.char.lstrip(np.asarray(prev["annotator_id"][:k].to_pylist(), dtype=str), "w").astype(np.int64)
                table = _batch(rng, vendor, day, name, batch_id, items, annotators)
                pq.write_table(table, part / f"{name}.parquet")
                total += table.num_rows
                batches.append({"file": f"landing/{vendor}/{day}/{name}.parquet", "batch_id": batch_id,
                                "sha256": f"{d:04d}{vendor}{b}", "status": "staged", "rows": rows, "rows_staged": rows,
                                "rows_quarantined": 0, "staged_output": f"staged/t/date={day}/vendor={vendor}/{name}.parquet"})
            (part / "_validate.json").write_text(json.dumps({"vendor": vendor, "date": day.isoformat(), "batches": batches}))
    return total


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--rows", type=int, default=25_000, help="rows per batch (6 batches a day)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import polars as pl

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        written = write_history(root, args.days, args.rows, args.seed)
        store = Store(root)
        until = START + timedelta(days=args.days - 1)
        files = sorted(root.glob("staged/t/date=*/vendor=*/*.parquet"))

        def plain():
            return pa.concat_tables([pq.read_table(f, schema=ANNOTATIONS) for f in files]).to_pandas()

        def ours():
            return resolve(store, "t", until)

        # which files count (reports and supersession) is given to polars, not timed
        used = [root / d["staged_output"] for d in resolve(store, "t", until).deliveries if d["resolution"] == "used"]

        def peer() -> pl.DataFrame:
            return (pl.concat([pl.scan_parquet(f) for f in used])
                    .unique(["vendor", "item_id", "annotator_id"], keep="first", maintain_order=True).collect())

        t_plain, raw = best(plain, args.repeat)
        t_ours, hist = best(ours, args.repeat)
        t_peer, pol = best(peer, args.repeat)
        same = len(pol) == len(hist.annotations) and \
            pol["item_id"].to_list() == hist.annotations["item_id"].tolist()
        print(f"history: {args.days} days x {len(VENDORS)} vendors x 2 batches x {args.rows} rows = {written} staged rows; "
              f"{len(hist.annotations)} count ({hist.withdrawn})")
        print(f"{'what':<10} {'seconds':>8} {'rows/s':>12} {'vs plain':>9} {'vs polars':>10}")
        for name, t in (("plain", t_plain), ("resolve", t_ours), ("polars", t_peer)):
            print(f"{name:<10} {t:8.3f} {written / t:12,.0f} {t / t_plain:8.2f}x {t / t_peer:9.2f}x")
        print(f"resolve and polars agree (rows and order): {same}")
        if not same:
            raise SystemExit("resolve and polars disagree")


if __name__ == "__main__":
    main()
