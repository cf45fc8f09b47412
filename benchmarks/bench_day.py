"""Benchmark one day of many annotators through every stage, each in its own process (as Airflow
runs them), for peak memory and time.

Usage::

    .venv/bin/python benchmarks/bench_day.py [--annotators 20000] [--items 60000] [--root DIR]

Simulates one day (``config/labelq.yaml``'s sentiment task: three vendors, ``--annotators`` annotators each, so
3 x 20,000 = 60,000 distinct annotators; ``--items`` items, two labels per item at two vendors,
one at the third), then runs ingest and validate per vendor and measure, merge, publish,
scorecard and report for the task, each stage a fresh ``python`` process. Prints each stage's
seconds and peak resident memory (``ru_maxrss`` of that process), the annotator pairs the sparse
kappa table holds, and what the dense annotator x annotator matrix it replaced would need.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _configs import one_task_config  # noqa: E402  (benchmarks/ is on the path when run as a script)

from pipeline.config import load_config  # noqa: E402
from pipeline.simulate import simulate  # noqa: E402
from pipeline.storage import open_store  # noqa: E402

DAY = date(2026, 11, 1)


#: One stage in a fresh process: ``python -c RUNNER <stage> <root> <day> <vendor or task>``.
RUNNER = """
import sys
from datetime import date
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
stage, root, day, arg = sys.argv[1:]
getattr(steps, stage)(load_config(), open_store(root), date.fromisoformat(day), arg)
"""


def _stage(stage: str, arg: str, root: Path, config: Path) -> tuple[float, float]:
    """Run ``pipeline.steps.<stage>(config, root, DAY, arg)`` in a fresh process: (seconds, peak RSS in MiB)."""
    env = {**os.environ, "LABELQ_PSEUDONYM_KEY": "bench-key-0123456789", "LABELQ_CONFIG": str(config)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, stage, str(root), DAY.isoformat(), arg], cwd=REPO, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"stage {stage} {arg} failed (exit status {status})")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotators", type=int, default=20_000, help="annotators per vendor (default 20,000)")
    ap.add_argument("--items", type=int, default=60_000, help="items in the day (default 60,000)")
    ap.add_argument("--root", type=Path, default=None, help="storage root to use (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = one_task_config(Path(tmp))
        config = load_config(config_path)
        root = args.root or Path(tmp) / "root"
        t0 = time.perf_counter()
        rep = simulate(config, open_store(root), days=1, start=DAY, items_per_day=args.items, annotators=args.annotators)
        print(f"simulated {rep.rows:,} labels of {args.items:,} items by {len(config.vendors)} x {args.annotators:,} "
              f"annotators in {time.perf_counter() - t0:.1f} s", flush=True)
        (task,) = config.tasks
        calls = [(stage, vendor) for stage in ("ingest", "validate") for vendor in config.vendors]
        calls += [(stage, task) for stage in ("measure", "merge", "publish", "scorecard", "report")]
        print(f"{'stage':<34} {'seconds':>8} {'peak RSS MiB':>13}")
        peak = total = 0.0
        for stage, arg in calls:
            seconds, rss = _stage(stage, arg, root, config_path)
            peak, total = max(peak, rss), total + seconds
            print(f"{stage + ' ' + arg:<34} {seconds:8.1f} {rss:13.0f}", flush=True)
        print(f"{'all ' + str(len(calls)) + ' stages':<34} {total:8.1f} {peak:13.0f}")
        metrics = root / "metrics" / task / f"date={DAY.isoformat()}"
        pairs = pq.read_metadata(metrics / "kappa_annotators.parquet").num_rows
        staged = pq.read_table(root / "scorecards" / task / f"date={DAY.isoformat()}" / "scorecard_annotator.parquet",
                               columns=["annotator_id"]).num_rows
        dense = 8 * staged * staged / 2**30
        print(f"\n{staged:,} annotators scored; the sparse kappa table holds {pairs:,} pairs that share an item; "
              f"a dense {staged:,} x {staged:,} float64 matrix would need {dense:.1f} GiB")
        print(f"peak resident memory of any stage: {peak:,.0f} MiB ({dense * 1024 / peak:,.0f}x less than the dense matrix alone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
