"""The ``labelq`` command line: the same stage functions the Airflow DAG calls, in-process."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pipeline.config import ConfigError, LabelqConfig, load_config
from pipeline.runtime import resolve_root

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.storage import Store

EPILOG = """\
storage root: --root, else $LABELQ_ROOT, else the config's storage.root, else ./data
              (a folder, or s3://bucket/prefix with AWS_* credentials; add
              ?endpoint_override=host:port&scheme=http for a non-AWS endpoint)
config file:  --config, else $LABELQ_CONFIG, else ./config/labelq.yaml

examples:
  labelq simulate --root data --seed 7 --days 3 --start 2026-11-01
  labelq run --root data --date 2026-11-01 --days 3
  labelq summary --root data
  labelq status --root data
  labelq versions sentiment --root data
  labelq tag sentiment 2026-11-03 paper-v1 --root data
  labelq diff sentiment tag:paper-v1 latest --root data
  labelq relabel sentiment --date 2026-11-03 --csv relabel.csv
  labelq report --date 2026-11-03
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
    common.add_argument("--root", help="storage root: a folder or s3://bucket/prefix[?endpoint_override=host:port&scheme=http] (default: $LABELQ_ROOT, the config's, or ./data)")
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
    p.add_argument("--annotators", type=_positive, default=None,
                   help="annotators per vendor (default 6 to 10 by vendor; e.g. 20000 for a day of 60,000 annotators)")

    p = sub.add_parser("run", parents=[common], help="run every stage for one or more days, in-process",
                       description="Run ingest, validate, measure, merge, publish, scorecard and report for each day from "
                       "--date on, without Airflow (the DAG runs the same functions). A day no vendor delivered "
                       "anything on publishes nothing new (--allow-empty publishes a version anyway). Days before "
                       "--date whose deliveries were never processed are refused, naming the days to run first. "
                       "Afterwards, later versions that the processed days made stale (built without their current "
                       "data, e.g. when days ran out of order) are re-published in date order (--no-refresh: only "
                       "list them; `labelq status` shows them).")
    p.add_argument("--date", type=_date, required=True, help="the (first) day to process, YYYY-MM-DD")
    p.add_argument("--days", type=_positive, default=1, help="process this many consecutive days (default 1)")
    p.add_argument("--json", action="store_true", help="print the stage summaries as JSON, one object per day "
                   "(later days re-published because they were stale follow, with \"refreshed\": true)")
    p.add_argument("--allow-empty", action="store_true",
                   help="publish a version even for a day without any delivery (default: skip it and say so)")
    p.add_argument("--strict", action="store_true",
                   help="fail when a configured vendor has no landing folder (default: warn and go on)")
    p.add_argument("--no-refresh", action="store_true",
                   help="do not re-publish later versions made stale by the processed days (exit 1 listing them)")

    p = sub.add_parser("status", parents=[common], help="per task and day: what was ingested, validated, merged, "
                       "published, and which versions are stale",
                       description="Read-only. Per task and day: vendors ingested and validated, whether the day was "
                       "merged and published, deliveries in landing that were never processed, and versions that "
                       "are stale (an earlier day's staged data changed after they were built). Works from the "
                       "storage root alone; with a config the landing folders are checked too.")
    p.add_argument("--task", help="one task (default: every task)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")

    p = sub.add_parser("summary", parents=[common], help="print what has been measured, quarantined and published",
                       description="Per task and day: batches accepted and quarantined, agreement, "
                       "per-vendor accuracy against gold, SLA status, every quarantined file with its reason, "
                       "and where the training set was published.")
    p.add_argument("--json", action="store_true",
                   help="print it as JSON (full quarantine reasons, agreement intervals, published counts)")

    p = sub.add_parser("relabel", parents=[common], help="list the items held out of a day's training set, for relabelling",
                       description="Print the items the merge of DATE held out of TASK's training set (too few labels, "
                       "or consensus confidence / agreement below the task's min_confidence / min_agreement) with "
                       "the reason, the current consensus and the vendors that labelled them; --csv writes them all "
                       "to a file to send back to the vendors. Read from ROOT/consensus/<task>/date=<date>/relabel.parquet.")
    p.add_argument("task")
    p.add_argument("--date", type=_date, required=True, help="the merged day, YYYY-MM-DD")
    p.add_argument("--csv", metavar="FILE", help="write every held-out item to FILE as CSV")
    p.add_argument("--limit", type=_positive, default=20, help="items to print (default 20)")

    version_help = "a version: latest, YYYY-MM-DD (the last day it covers), tag:<name> or a tag name"
    p = sub.add_parser("versions", parents=[common], help="list a task's published training-set versions",
                       description="Per version: items per split, held out, data interval, content hash, "
                       "tags and the folder (a plain Parquet dataset).")
    p.add_argument("task")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    p = sub.add_parser("rubric", parents=[common], help="a rubric's rating criteria side by side, one row per item",
                       description="Read one published version of each rating TASK (a rubric's criteria) and join "
                       "them on item_id: per criterion the consensus score, _se, _n, _agreement and _label, then the "
                       "item's split (pipeline.read_rubric). Prints the versions read and the first rows; --out writes "
                       "the whole table (.parquet or .csv).")
    p.add_argument("tasks", nargs="+", metavar="TASK")
    p.add_argument("--version", action="append", default=[], metavar="TASK=VERSION",
                   help=f"read this version of TASK (default latest; repeat per task); {version_help}")
    p.add_argument("--out", metavar="FILE", help="write the table to FILE (.parquet or .csv)")
    p.add_argument("--limit", type=_positive, default=10, help="rows to print (default 10)")
    p = sub.add_parser("diff", parents=[common], help="items added, removed and relabelled between two versions",
                       description=f"Compare version A with version B of TASK. A and B: {version_help}.")
    p.add_argument("task")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("--limit", type=_positive, default=20, help="changed items to print (default 20)")
    p.add_argument("--json", action="store_true", help="print every changed item as JSON")
    p = sub.add_parser("tag", parents=[common], help="pin a version under a name (tagged versions are never pruned)",
                       description=f"Pin the current build of VERSION ({version_help}) as NAME; read it back "
                       "with read_training_set(root, task, version='tag:NAME').")
    p.add_argument("task")
    p.add_argument("version")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="move the tag if it already pins another build")
    p = sub.add_parser("untag", parents=[common], help="remove a tag (its version becomes prunable again)")
    p.add_argument("task")
    p.add_argument("name")

    p = sub.add_parser("report", parents=[common], help="write the HTML quality report of a day (vendor scorecards, SLAs)",
                       description="Write ROOT/reports/<task>/<date>.html (self-contained: no network needed "
                       "to open it) and its JSON twin, and refresh ROOT/reports/index.html. Computes the "
                       "day's scorecards first if they are missing (measure, merge and publish must have run).")
    p.add_argument("--date", type=_date, required=True, help="the day to report on, YYYY-MM-DD")
    p.add_argument("--task", help="one task (default: every configured task)")

    p = sub.add_parser("docs", parents=[common], help="build Great Expectations Data Docs of every validated batch",
                       description="Render the stored GX validation results (staged and quarantined batches) as "
                       "GX Data Docs under ROOT/docs/gx (or --out). Unexpected values of personal-data columns "
                       "(e.g. annotator ids) are never stored, so they never reach the site.")
    p.add_argument("--out", help="site folder (default: ROOT/docs/gx)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(message)s", stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # GX pins some of its loggers at INFO on import: keep its chatter out
        handler.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith("great_expectations"))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        if args.command not in READ_ONLY or not str(exc).endswith(NOT_FOUND):
            print(f"labelq: {exc}", file=sys.stderr)
            return 2
        config = None  # read-only commands work from the storage root alone
    root = resolve_root(args.root, config)
    from pipeline.storage import open_store

    try:
        store = open_store(root)  # the one Store of this command: every stage below is handed it
        if args.command != "simulate":
            from pipeline.status import NotARoot, check_root

            try:
                check_root(store, config)
            except NotARoot as exc:
                print(f"labelq {args.command}: {exc}", file=sys.stderr)
                return 2
        return _dispatch(args, config, store)
    except OSError as exc:  # the disk or the object store, not the data: one line, no traceback
        print(f"labelq {args.command}: {os_error_message(exc, root)}", file=sys.stderr)
        return 1


def os_error_message(exc: OSError, root: object) -> str:
    """One line for a storage failure: the file, what happened and the remedy.

    >>> import errno
    >>> os_error_message(OSError(errno.ENOSPC, "No space left on device", "/srv/data/staged/x"), "/srv/data")
    '/srv/data/staged/x: No space left on device; free space on the disk of the storage root /srv/data and re-run (the previous outputs are intact: partitions are replaced only when complete)'
    """
    import errno

    where = exc.filename or root
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        fix = (f"free space on the disk of the storage root {root} and re-run (the previous outputs are intact: "
               "partitions are replaced only when complete)")
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = f"the storage root {root} is not writable here: fix its permissions or point --root / $LABELQ_ROOT elsewhere"
    else:
        fix = "check the storage root and re-run (the previous outputs are intact)"
    return f"{where}: {what}; {fix}"


def _dispatch(args: argparse.Namespace, config: LabelqConfig | None, store: Store) -> int:
    """Run ``args.command`` (``main`` has loaded the config, opened the root and checked it)."""
    if args.command == "status":
        return _status_command(args, config, store)
    if args.command in ("versions", "diff", "tag", "untag"):
        return _versions_command(args, config, store)
    if args.command == "rubric":
        return _rubric_command(args, store)
    if config is None:  # main lets only the READ_ONLY commands through without one
        raise RuntimeError(f"labelq {args.command} needs a config file")
    if args.command == "simulate":
        from pipeline.simulate import simulate

        rep = simulate(config, store, seed=args.seed, days=args.days, start=args.start, items_per_day=args.items,
                       annotators=args.annotators)
        print(f"simulated {args.days} day(s) from {args.start}: {len(rep.files)} files, {rep.rows} rows, "
              f"{rep.gold_items} gold items under {store.location('')}")
        for b in rep.bad_batches:
            print(f"  bad batch delivered: {b}")
        return 0

    if args.command == "run":
        return _run_command(args, config, store)

    if args.command == "report":
        return _report_command(args, config, store)

    if args.command == "relabel":
        return _relabel_command(args, config, store)

    if args.command == "docs":
        from pipeline.validate.stage import build_docs

        print(f"GX Data Docs: {build_docs(store, args.out)}")
        return 0

    if args.command == "summary":
        from pipeline.summary import render_summary, summary_data

        print(json.dumps(summary_data(config, store), indent=2, allow_nan=False) if args.json else render_summary(config, store))
        return 0
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees a known command


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
    ``@``, tab or CR first) prefixed with ``'`` (OWASP's CSV-injection advice); vendor ids and
    labels are untrusted.

    >>> import pandas as pd
    >>> csv_safe(pd.DataFrame({"item_id": ["=HYPERLINK(1)", "ok", "-2"], "n": [1, 2, 3]}))["item_id"].tolist()
    ["'=HYPERLINK(1)", 'ok', "'-2"]
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith(("string", "str")):
            text = out[col].astype("string")
            risky = text.str.match(r"^[=+\-@\t\r]").fillna(False).astype(bool)
            if risky.any():
                out[col] = text.where(~risky, "'" + text)
    return out


#: Commands that only read published or staged data: they work without a config file.
READ_ONLY = ("versions", "diff", "tag", "untag", "status", "rubric")
NOT_FOUND = "config file not found (set --config or LABELQ_CONFIG)"


def _run_command(args: argparse.Namespace, config: LabelqConfig, store: Store) -> int:
    """``labelq run``: every stage per day, then re-publish the later versions those days made stale."""
    from pipeline.history import stale_versions
    from pipeline.publish import VersionNotFound
    from pipeline.steps import refresh_stale, run_day

    results, refreshed = [], []
    last = args.date + timedelta(days=args.days - 1)
    try:
        for i in range(args.days):
            day = args.date + timedelta(days=i)
            print(f"[{i + 1}/{args.days}] {day}", file=sys.stderr)
            results.append(run_day(config, store, day, allow_empty=args.allow_empty, strict=args.strict))
        for task in config.tasks:
            if args.no_refresh:
                later = [s["version"] for s in stale_versions(store, task) if s["version"] > last.isoformat()]
                if later:
                    print(f"labelq run: {task}: later version(s) {', '.join(later)} are stale (built without the current "
                          f"data of the days just run); re-run them: `labelq run --date {later[0]} --days "
                          f"{(date.fromisoformat(later[-1]) - date.fromisoformat(later[0])).days + 1}`", file=sys.stderr)
                    return 1
                continue
            for r in refresh_stale(config, store, task, after=last):
                print(f"re-published {task} version {r['date']}: it was built before {args.date}"
                      f"{'..' + last.isoformat() if args.days > 1 else ''} was processed", file=sys.stderr)
                refreshed.append(r)
    except (ValueError, FileNotFoundError, VersionNotFound) as exc:
        print(f"labelq run: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results + [{"refreshed": True, **r} for r in refreshed], indent=2, default=str))
        return 0
    from pipeline.summary import render_summary

    print(render_summary(config, store))
    for r in results:  # SLA verdicts are in the summary (check_sla is the step that fails on them)
        for task, stages in r["tasks"].items():
            skipped = [st["skipped"] for st in stages.values() if st.get("skipped")]
            if skipped:
                print(f"  {task} {r['date']}: skipped: {skipped[0]}")
            elif "report" in stages:
                print(f"  report {task} {r['date']}: {stages['report']['html']}")
    return 0


def _status_command(args: argparse.Namespace, config: LabelqConfig | None, store: Store) -> int:
    """``labelq status``: per task and day, how far each stage got; stale versions."""
    from pipeline.status import known_tasks, render_status, task_status

    tasks = known_tasks(store, config)
    if args.task:
        if args.task not in tasks:
            print(f"labelq status: unknown task {args.task!r}; known tasks: {tasks or 'none'}", file=sys.stderr)
            return 1
        tasks = [args.task]
    statuses = [task_status(store, t, config) for t in tasks]
    print(json.dumps(statuses, indent=2) if args.json else render_status(statuses))
    return 0


def _report_command(args: argparse.Namespace, config: LabelqConfig, store: Store) -> int:
    """``labelq report``: scorecards (if missing) and the HTML report of one day, per task.

    Refuses (exit 1, nothing written) when a task's day was never measured: a report of a day
    that was not processed would be a page of empty tables and a phantom row in the index.
    """
    from pipeline import steps
    from pipeline.score.scorecard import scorecard_key

    tasks = [args.task] if args.task else list(config.tasks)
    if args.task and args.task not in config.tasks:
        print(f"labelq report: unknown task {args.task!r}; configured tasks: {sorted(config.tasks)}", file=sys.stderr)
        return 2
    missing = [task for task in tasks if not store.is_file(store.layout.metrics_summary(task, args.date).as_posix())]
    if missing:  # checked for every task before anything is written
        for task in missing:
            print(f"labelq report: {task} {args.date}: this day has not been processed "
                  f"({store.location(store.layout.metrics_summary(task, args.date).as_posix())} not found, so there is nothing to report); "
                  f"run it first: `labelq run --date {args.date}`", file=sys.stderr)
        return 1
    for task in tasks:
        try:
            if not store.is_file(scorecard_key(store, task, args.date)):
                steps.scorecard(config, store, args.date, task)
            out = steps.report(config, store, args.date, task)
        except (FileNotFoundError, ValueError) as exc:
            print(f"labelq report: {task} {args.date}: {exc}", file=sys.stderr)
            return 1
        if out.get("skipped"):
            print(f"{task} {args.date}: skipped: {out['skipped']}")
            continue
        breaches = out["sla_breaches"]
        print(f"{task} {args.date}: {out['html']}" + (f" (SLA breached by {', '.join(breaches)})" if breaches else ""))
    print(f"index: {store.location('reports/index.html')}")
    return 0


def _relabel_command(args: argparse.Namespace, config: LabelqConfig, store: Store) -> int:
    """``labelq relabel``: the held-out items of one merged day."""
    if args.task not in config.tasks:
        print(f"labelq relabel: unknown task {args.task!r}; configured tasks: {sorted(config.tasks)}", file=sys.stderr)
        return 2
    key = store.layout.relabel_table(args.task, args.date).as_posix()
    if not store.is_file(key):
        print(f"labelq relabel: {store.location(key)}: not found; run the merge stage for {args.task} {args.date} "
              f"first (`labelq run --date {args.date}`)", file=sys.stderr)
        return 1
    items = store.read_parquet(key).to_pandas()
    counts = items["held_out_reason"].value_counts().sort_index()
    print(f"{args.task} {args.date}: {len(items)} item(s) held out for relabelling"
          + "".join(f"\n  {n:>6}  {reason}" for reason, n in counts.items()))
    if len(items):
        print(items.head(args.limit).to_string(index=False))
        if len(items) > args.limit:
            print(f"... {len(items) - args.limit} more (--csv FILE writes all)")
    if args.csv:
        csv_safe(items).to_csv(args.csv, index=False)
        print(f"wrote {len(items)} item(s) to {args.csv}")
    return 0


def _versions_command(args: argparse.Namespace, config: LabelqConfig | None, store: Store) -> int:
    """``labelq versions | diff | tag | untag``: read and pin published training sets (no config needed)."""
    from pipeline import publish
    from pipeline.publish import diff as versions
    from pipeline.status import known_tasks

    if not store.is_dir(store.layout.curated(args.task).as_posix()):
        tasks = known_tasks(store, config)
        known = f"unknown task {args.task!r}; known tasks: {tasks or 'none'}" if args.task not in tasks else \
            f"task {args.task!r} has no published training set under {store.location(store.layout.curated(args.task))} yet"
        print(f"labelq {args.command}: {known}", file=sys.stderr)
        return 1
    try:
        if args.command == "versions":
            rows = versions.version_summaries(store, args.task)
            print(json.dumps(rows, indent=2) if args.json else versions.render_versions(args.task, rows))
        elif args.command == "diff":
            diff = versions.diff_versions(store, args.task, args.a, args.b)
            if args.json:
                print(diff.astype(object).where(diff.notna(), None).to_json(orient="records", indent=2))
            else:
                print(versions.render_diff(store, args.task, args.a, args.b, diff, limit=args.limit))
        elif args.command == "tag":
            ref = publish.tag_version(store, args.task, args.version, args.name, force=args.force)
            print(f"tagged {args.task} version {ref.version} (content sha256 {ref.content_sha256[:12]}) as {args.name}")
        else:
            ref = publish.untag(store, args.task, args.name)
            print(f"removed tag {args.name} from {args.task} version {ref.version}")
    except (publish.VersionNotFound, ValueError) as exc:
        print(f"labelq {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _rubric_command(args: argparse.Namespace, store: Store) -> int:
    """``labelq rubric``: the criteria of a rubric side by side (:func:`pipeline.read_rubric`)."""
    from pathlib import Path

    import pandas as pd

    from pipeline.publish import VersionNotFound
    from pipeline.publish.rubric import read_rubric

    versions = {}
    for spec in args.version:
        task, sep, version = spec.partition("=")
        if not sep or not task or not version:
            print(f"labelq rubric: --version {spec!r}: give TASK=VERSION, e.g. safe=2026-11-02", file=sys.stderr)
            return 2
        versions[task] = version
    try:
        table = read_rubric(store, args.tasks, versions=versions)
    except (VersionNotFound, ValueError, FileNotFoundError) as exc:
        print(f"labelq rubric: {exc}", file=sys.stderr)
        return 1
    read = ", ".join(f"{t} {v}" for t, v in table.attrs["versions"].items())
    print(f"rubric of {len(args.tasks)} criteria ({read}): {len(table)} items")
    if args.out:
        out = Path(args.out)
        if out.suffix == ".csv":
            csv_safe(table).to_csv(out, index=False)
        elif out.suffix == ".parquet":
            table.to_parquet(out, index=False)
        else:
            print(f"labelq rubric: --out {args.out}: give a .parquet or .csv file", file=sys.stderr)
            return 2
        print(f"wrote {len(table)} rows to {out}")
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(table.head(args.limit).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
