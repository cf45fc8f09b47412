"""The ``labelq`` command line: the same stage functions the Airflow DAG calls, in-process."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, timedelta
from pathlib import Path

from pipeline.config import ConfigError, load_config, resolve_root

EPILOG = """\
storage root: --root, else $LABELQ_ROOT, else the config's storage.root, else ./data
config file:  --config, else $LABELQ_CONFIG, else ./config/labelq.yaml

examples:
  labelq simulate --root data --seed 7 --days 3 --start 2026-11-01
  labelq run --root data --date 2026-11-01 --days 3
  labelq summary --root data
  python -c "import pipeline; print(pipeline.read_training_set('data', 'sentiment').head())"
"""


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date {s!r}: use YYYY-MM-DD") from None


def _positive(s: str) -> int:
    n = int(s)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="YAML config (default: $LABELQ_CONFIG or config/labelq.yaml)")
    common.add_argument("--root", help="storage root (default: $LABELQ_ROOT, the config's, or ./data)")
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")

    parser = argparse.ArgumentParser(
        prog="labelq",
        description="Turn multi-vendor label deliveries into training data you can trust: "
        "ingest -> validate (Great Expectations) -> measure (agreement, gold accuracy) -> "
        "merge (consensus) -> publish (versioned Parquet).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", parents=[common], help="write simulated vendor deliveries and gold labels",
                       description="Write DAYS days of deliveries for every configured vendor under "
                       "ROOT/landing/<vendor>/<date>/ and the gold set under ROOT/gold/. "
                       "Deterministic for a seed.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--days", type=_positive, default=3, help="number of days (default 3)")
    p.add_argument("--start", type=_date, default=date(2026, 11, 1), help="first day, YYYY-MM-DD (default 2026-11-01)")
    p.add_argument("--items", type=_positive, default=300, help="items per task and day (default 300)")

    p = sub.add_parser("run", parents=[common], help="run every stage for one or more days, in-process",
                       description="Run ingest, validate, measure, merge and publish for each day from "
                       "--date on, without Airflow (the DAG runs the same functions).")
    p.add_argument("--date", type=_date, required=True, help="the (first) day to process, YYYY-MM-DD")
    p.add_argument("--days", type=_positive, default=1, help="process this many consecutive days (default 1)")
    p.add_argument("--json", action="store_true", help="print the stage summaries as JSON")

    sub.add_parser("summary", parents=[common], help="print what has been measured, quarantined and published",
                   description="Per task and day: batches accepted and quarantined, agreement, "
                   "per-vendor accuracy against gold, and where the training set was published.")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"labelq: {exc}", file=sys.stderr)
        return 2
    root = resolve_root(args.root, config)

    if args.command == "simulate":
        from pipeline.simulate import simulate

        rep = simulate(config, root, seed=args.seed, days=args.days, start=args.start, items_per_day=args.items)
        print(f"simulated {args.days} day(s) from {args.start}: {len(rep.files)} files, {rep.rows} rows, "
              f"{rep.gold_items} gold items under {root}")
        for b in rep.bad_batches:
            print(f"  bad batch delivered: {b}")
        return 0

    if args.command == "run":
        from pipeline.steps import run_day

        results = []
        for i in range(args.days):
            day = args.date + timedelta(days=i)
            print(f"[{i + 1}/{args.days}] {day}", file=sys.stderr)
            results.append(run_day(config, root, day))
        if args.json:
            print(json.dumps(results, indent=2, default=str))
        else:
            from pipeline.summary import render_summary

            print(render_summary(config, root))
        return 0

    if args.command == "summary":
        from pipeline.summary import render_summary

        print(render_summary(config, root))
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a known command


if __name__ == "__main__":
    sys.exit(main())
