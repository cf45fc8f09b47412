"""Benchmark the whole pipeline: one big day, and the cost of a day as the history grows.

Run from the repository root::

    .venv/bin/python benchmarks/bench_pipeline.py                      # a 1M-label day and a 30-day history
    .venv/bin/python benchmarks/bench_pipeline.py --labels 1000000 10000000 --history-days 0
    .venv/bin/python benchmarks/bench_pipeline.py --labels 1000000 --profile   # + the top functions per stage
    .venv/bin/python benchmarks/bench_pipeline.py --labels 1000000 --memory    # + where each stage's memory peaks

The task is the demo's ``sentiment`` (classification, three vendors: ``config/labelq.yaml``
without its other tasks). Every stage runs in a fresh ``python`` process, as an Airflow task
does: ingest and validate per vendor, then measure, merge, publish, scorecard and report.

* **Day** (``--labels``, each a target number of labels of one day): per stage the wall and CPU
  seconds (user + system of the process), labels per second and peak resident memory
  (``ru_maxrss``); the total against pyarrow reading the same landing files
  (``pq.read_table`` of every file, in a process of its own, best of 3); and with ``--profile``, each
  stage's top functions by own time (cProfile, which slows the stage: its timings are not those
  of the table).
* **History** (``--history-days`` days of ``--history-labels`` labels): the days run in order;
  days 1, 2, 10, 20 and the last are measured stage by stage (the others run in one process each),
  and the table shows each measured day's wall, CPU and peak memory against day 2's.

Also the start-up of a stage process (``import pipeline.steps`` and what a stage loads) as a
share of the stages' time. A benchmark, not a test: it prints and never fails on a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _configs import one_task_config  # noqa: E402  (benchmarks/ is on the path when run as a script)

from pipeline.config import load_config  # noqa: E402
from pipeline.simulate import simulate  # noqa: E402
from pipeline.storage import open_store  # noqa: E402

START = date(2026, 11, 1)
TASK = "sentiment"

#: One stage in a fresh process: ``python -c RUNNER <stage> <root> <day> <vendor or task> [profile out]``.
RUNNER = """
import sys
from datetime import date
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
stage, root, day, arg, *prof = sys.argv[1:]
call = lambda: getattr(steps, stage)(load_config(), open_store(root), date.fromisoformat(day), arg)
if prof:
    import cProfile
    cProfile.run("call()", prof[0])
else:
    call()
"""
#: One stage with its resident memory sampled every millisecond: prints the peak and the pipeline's
#: frames of the main thread when it was reached (``python -c PEAK_RUNNER <stage> <root> <day> <arg>``).
PEAK_RUNNER = """
import os, sys, threading, time, traceback
from datetime import date
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
stage, root, day, arg = sys.argv[1:]
page, main, best, done = os.sysconf("SC_PAGE_SIZE"), threading.main_thread().ident, [0, None], threading.Event()
def sample():
    while not done.is_set():
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page
        if rss > best[0]:
            frame = sys._current_frames().get(main)
            best[0], best[1] = rss, traceback.extract_stack(frame) if frame is not None else []
        time.sleep(0.001)
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
getattr(steps, stage)(load_config(), open_store(root), date.fromisoformat(day), arg)
done.set()
sampler.join()
print("PEAK", round(best[0] / 2**20))
for f in best[1] or []:
    if "/pipeline/" in f.filename:
        print("AT", f"{f.filename.split('/pipeline/')[-1]}:{f.lineno} {f.name}")
"""
#: Simulated deliveries in their own process (a stage forked from a big benchmark process would
#: report that process's memory as its own peak): ``python -c SIMULATE <root> <days> <items>``.
SIMULATE = """
import sys
from datetime import date
from pipeline.config import load_config
from pipeline.simulate import simulate
from pipeline.storage import open_store
root, days, items = sys.argv[1:]
rep = simulate(load_config(), open_store(root), seed=7, days=int(days), start=date(2026, 11, 1), items_per_day=int(items))
print("ROWS", rep.rows)
"""
#: pyarrow alone reading a day's landing files, best of 3: ``python -c READ_LANDING <root> <day>``.
READ_LANDING = """
import sys, time
from pathlib import Path
import pyarrow.parquet as pq
root, day = sys.argv[1:]
files = sorted(Path(root).glob(f"landing/*/{day}/*.parquet"))
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    for f in files:
        pq.read_table(f)
    best = min(best, time.perf_counter() - t0)
print("BEST", best)
"""
#: A stretch of unmeasured days in one process.
RUN_DAYS = """
import sys
from datetime import date, timedelta
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
root, first, days = sys.argv[1:]
config, store = load_config(), open_store(root)
for d in range(int(days)):
    steps.run_day(config, store, date.fromisoformat(first) + timedelta(days=d))
"""


@dataclass
class Stage:
    stage: str
    arg: str
    wall_s: float
    cpu_s: float
    peak_mib: float


def _env(config: Path) -> dict[str, str]:
    return {**os.environ, "LABELQ_PSEUDONYM_KEY": "bench-key-0123456789", "LABELQ_CONFIG": str(config)}


def _process(argv: list[str], env: dict[str, str], output: list[str] | None = None) -> tuple[float, float, float]:
    """Run ``python argv`` to the end: (wall s, CPU s, peak RSS MiB); its output appended to ``output``."""
    with tempfile.TemporaryFile("w+") as log:  # the stages' logs: shown only when one fails
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, *argv], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if status != 0:
            log.seek(0)
            raise SystemExit(f"{' '.join(argv[2:5])} failed (exit status {status}):\n{log.read()[-4000:]}")
        if output is not None:
            log.seek(0)
            output.append(log.read())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _calls(config_path: Path) -> list[tuple[str, str]]:
    vendors = list(load_config(config_path).vendors)
    return [(s, v) for s in ("ingest", "validate") for v in vendors] + \
        [(s, TASK) for s in ("measure", "merge", "publish", "scorecard", "report")]


def run_stages(root: Path, day: date, config_path: Path, *, profile_dir: Path | None = None) -> list[Stage]:
    out = []
    for stage, arg in _calls(config_path):
        argv = ["-c", RUNNER, stage, str(root), day.isoformat(), arg]
        if profile_dir is not None:
            argv.append(str(profile_dir / f"{stage}-{arg}.prof"))
        out.append(Stage(stage, arg, *_process(argv, _env(config_path))))
    return out


def _simulate(config_path: Path, root: Path, days: int, items: int) -> int:
    """Simulate ``days`` days of ``items`` items into ``root`` in a fresh process; returns the labels."""
    out: list[str] = []
    _process(["-c", SIMULATE, str(root), str(days), str(items)], _env(config_path), out)
    return int(next(line.split()[1] for line in out[0].splitlines() if line.startswith("ROWS ")))


def _labels_per_item(config_path: Path, folder: Path) -> float:
    """Labels per item of the simulator on this config (a small calibration day)."""
    rep = simulate(load_config(config_path), open_store(folder / "calibrate"), seed=1, days=1, start=START,
                   items_per_day=2000)
    return rep.rows / 2000


def _read_landing(root: Path, day: date, config_path: Path) -> float:
    """Best of 3 ``pq.read_table`` of the day's landing files, in a fresh process: read here, the
    benchmark's own memory would grow, and Linux carries a parent's peak RSS into the
    ``ru_maxrss`` of every stage process it starts afterwards."""
    out: list[str] = []
    _process(["-c", READ_LANDING, str(root), day.isoformat()], _env(config_path), out)
    return float(next(line.split()[1] for line in out[0].splitlines() if line.startswith("BEST ")))


def _print_stages(stages: list[Stage], labels: int) -> None:
    print(f"  {'stage':<22} {'wall s':>8} {'CPU s':>8} {'labels/s':>11} {'peak MiB':>9}")
    for s in stages:
        print(f"  {s.stage + ' ' + s.arg:<22} {s.wall_s:8.1f} {s.cpu_s:8.1f} {labels / s.wall_s:11,.0f} {s.peak_mib:9.0f}")
    wall, cpu, peak = sum(s.wall_s for s in stages), sum(s.cpu_s for s in stages), max(s.peak_mib for s in stages)
    print(f"  {'all stages':<22} {wall:8.1f} {cpu:8.1f} {labels / wall:11,.0f} {peak:9.0f}")


def _print_profile(profile_dir: Path, top: int = 6) -> None:
    import pstats

    for prof in sorted(profile_dir.glob("*.prof")):
        stats = pstats.Stats(str(prof))
        total = stats.total_tt  # type: ignore[attr-defined]
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]  # type: ignore[attr-defined]
        print(f"  {prof.stem} ({total:.1f} s profiled): " + "; ".join(
            f"{Path(f).name}:{line} {name} {tt / total:.0%}" for (f, line, name), (_, _, tt, _, _) in rows))


def _print_peaks(root: Path, day: date, config_path: Path) -> None:
    """Each stage again with its memory sampled: the peak and where (innermost pipeline frames)."""
    for stage, arg in _calls(config_path):
        out: list[str] = []
        _process(["-c", PEAK_RUNNER, stage, str(root), day.isoformat(), arg], _env(config_path), out)
        lines = out[0].splitlines()
        peak = next(line.split()[1] for line in lines if line.startswith("PEAK "))
        where = [line[3:] for line in lines if line.startswith("AT ")][-3:]
        print(f"  {stage + ' ' + arg:<22} {peak:>6} MiB at {' < '.join(reversed(where)) or '(start-up)'}")


def bench_day(labels: int, per_item: float, folder: Path, config_path: Path, profile: bool,
              memory: bool = False) -> dict:
    root = folder / f"day-{labels}"
    items = max(int(round(labels / per_item)), 1)
    t0 = time.perf_counter()
    rows = _simulate(config_path, root, 1, items)
    print(f"\nday of {rows:,} labels ({items:,} items; simulated in {time.perf_counter() - t0:.0f} s)", flush=True)
    stages = run_stages(root, START, config_path)
    _print_stages(stages, rows)
    read = _read_landing(root, START, config_path)
    wall = sum(s.wall_s for s in stages)
    print(f"  pyarrow reads the day's landing files in {read:.2f} s: labelq / read = {wall / read:,.0f}x")
    if profile:
        prof_dir = folder / f"profile-{labels}"
        prof_dir.mkdir()
        run_stages(root, START, config_path, profile_dir=prof_dir)
        print("  top functions by own time (cProfile):")
        _print_profile(prof_dir)
    if memory:
        print("  where each stage's memory peaked (resident set sampled every millisecond, in a run of its own):")
        _print_peaks(root, START, config_path)
    return {"labels": rows, "items": items, "read_s": read, "stages": [asdict(s) for s in stages]}


def bench_history(days: int, labels: int, per_item: float, folder: Path, config_path: Path) -> dict:
    root = folder / "history"
    items = max(int(round(labels / per_item)), 1)
    t0 = time.perf_counter()
    rows = _simulate(config_path, root, days, items)
    print(f"\nhistory of {days} days x ~{rows // days:,} labels (simulated in {time.perf_counter() - t0:.0f} s)", flush=True)
    measured = sorted({1, 2, 10, 20, days} & set(range(1, days + 1)))
    results: dict[int, list[Stage]] = {}
    d = 1
    while d <= days:
        if d in measured:
            results[d] = run_stages(root, START + timedelta(days=d - 1), config_path)
            d += 1
            continue
        stretch = min([m for m in measured if m > d], default=days + 1) - d
        _process(["-c", RUN_DAYS, str(root), (START + timedelta(days=d - 1)).isoformat(), str(stretch)], _env(config_path))
        d += stretch
    base = results.get(2) or results[measured[0]]
    base_wall, base_cpu = sum(s.wall_s for s in base), sum(s.cpu_s for s in base)
    base_peak = max(s.peak_mib for s in base)
    print(f"  {'day':>4} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'wall/day 2':>11} {'CPU/day 2':>10} {'peak/day 2':>11}  slowest stage")
    for day, stages in results.items():
        wall, cpu, peak = sum(s.wall_s for s in stages), sum(s.cpu_s for s in stages), max(s.peak_mib for s in stages)
        slowest = max(stages, key=lambda s: s.wall_s)
        print(f"  {day:>4} {wall:8.1f} {cpu:8.1f} {peak:9.0f} {wall / base_wall:10.2f}x {cpu / base_cpu:9.2f}x "
              f"{peak / base_peak:10.2f}x  {slowest.stage} {slowest.wall_s:.1f} s")
    last = results[measured[-1]]
    print(f"  per stage, day {measured[-1]} against day {2 if 2 in results else measured[0]}:")
    print(f"    {'stage':<22} {'wall s':>7} {'x':>6} {'peak MiB':>9} {'x':>6}")
    for b, s in zip(base, last):
        print(f"    {s.stage + ' ' + s.arg:<22} {s.wall_s:7.2f} {s.wall_s / b.wall_s:5.2f}x {s.peak_mib:9.0f} "
              f"{s.peak_mib / b.peak_mib:5.2f}x")
    return {"days": days, "labels_per_day": rows // days,
            "measured": {str(k): [asdict(s) for s in v] for k, v in results.items()}}


def startup(config_path: Path) -> float:
    """Seconds of a process that only imports what every stage loads."""
    best = float("inf")
    for _ in range(3):
        wall, _, _ = _process(["-c", "from pipeline import steps; import pandas, pyarrow.parquet; from pipeline.config "
                               "import load_config; load_config()"], _env(config_path))
        best = min(best, wall)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=int, nargs="*", default=[1_000_000], help="labels of each benchmarked day")
    ap.add_argument("--history-days", type=int, default=30)
    ap.add_argument("--history-labels", type=int, default=100_000, help="labels per day of the history")
    ap.add_argument("--profile", action="store_true", help="also profile each stage of each day (cProfile)")
    ap.add_argument("--memory", action="store_true",
                    help="also run each stage of each day with its memory sampled: the peak and the code it was reached in")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {os.cpu_count()} cores; task {TASK}, every stage in its own process")
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="labelq-bench-pipeline-") as tmp:
        folder = Path(tmp)
        config_path = one_task_config(folder, TASK)
        per_item = _labels_per_item(config_path, folder)
        start_s = startup(config_path)
        stages = len(_calls(config_path))
        print(f"start-up of a stage process: {start_s:.2f} s ({stages} processes a day: {start_s * stages:.1f} s)")
        out["startup_s"] = start_s
        out["days"] = [bench_day(n, per_item, folder, config_path, args.profile, args.memory) for n in args.labels]
        if args.history_days:
            out["history"] = bench_history(args.history_days, args.history_labels, per_item, folder, config_path)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
