"""One function per stage: storage at the edges, pure calls in between.

The Airflow DAG and the ``labelq`` CLI both call these, so there is one code path. They
take the run's :class:`~pipeline.storage.Store`, which the caller opened once from the
storage root (:func:`pipeline.storage.open_store`: a local folder or an ``s3://`` URI). Each
returns a small JSON-able summary (what Airflow passes through XCom: paths and counts,
never data) and each replaces its own output partition whole, so a re-run overwrites.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa

from pipeline import __version__
from pipeline.config import LabelqConfig, TaskConfig, VendorConfig
from pipeline.kinds import DEFAULT_KIND, LabelKind, get_kind
from pipeline.merge.lineage import contributing_vendors, merge_order, source_batches
from pipeline.publish import read_manifest, write_version
from pipeline.publish.manifest import build_manifest, curated_table
from pipeline.storage import Store

log = logging.getLogger("labelq")


def _vendor(config: LabelqConfig, vendor: str) -> VendorConfig:
    if vendor not in config.vendors:
        raise ValueError(f"unknown vendor {vendor!r}; configured vendors: {sorted(config.vendors)}")
    return config.vendors[vendor]


def _task(config: LabelqConfig, task: str) -> TaskConfig:
    if task not in config.tasks:
        raise ValueError(f"unknown task {task!r}; configured tasks: {sorted(config.tasks)}")
    return config.tasks[task]


# --------------------------------------------------------------------------- ingest
def ingest(config: LabelqConfig, store: Store, day: date, vendor: str, *, batch_rows: int | None = None,
           strict: bool = False) -> dict[str, Any]:
    """Map ``vendor``'s files delivered on ``day`` onto the canonical schema, streamed.

    Writes ``ingested/date=<day>/vendor=<vendor>/`` (one canonical Parquet per accepted file
    plus ``_ingest.json`` recording every file: SHA-256, rows, status and reason) and the
    ledger (``ledger/vendor=<vendor>/date=<day>.json``). Day-local: reads ``landing/<vendor>/<day>/``
    only (repeats and re-deliveries across days are settled when the history is read,
    :mod:`pipeline.history`). A vendor without a landing folder is warned about, or with
    ``strict`` raises ``ValueError``.
    """
    from pipeline.ingest.canonical import DEFAULT_BATCH_ROWS
    from pipeline.ingest.stage import ingest_day

    _vendor(config, vendor)
    return ingest_day(config, store, day, vendor, batch_rows=batch_rows or DEFAULT_BATCH_ROWS, strict=strict)


# --------------------------------------------------------------------------- validate
def validate(config: LabelqConfig, store: Store, day: date, vendor: str, *, batch_rows: int | None = None) -> dict[str, Any]:
    """Validate each ingested file with the GX suites; stage good rows, quarantine the rest.

    Day-local. Row-level failures (unknown label, null/empty annotator, duplicate (item,
    annotator) in the file or against rows staged from another batch of the day, a row claiming
    another vendor, invalid UTF-8) quarantine just those rows (``quarantine/.../<stem>.rows.parquet`` with a ``reason``
    column); file-level failures (unreadable, schema drift, empty, too many bad rows) quarantine
    the file byte for byte. Every quarantined file gets ``<file>.reason.json``. Writes
    ``staged/<task>/date=<day>/vendor=<vendor>/`` (good rows, GX results, ``_validate.json``).
    Rows reconcile exactly: ``rows_in == rows_staged + rows_quarantined``.
    """
    from pipeline.ingest.canonical import DEFAULT_BATCH_ROWS
    from pipeline.validate.stage import validate_day

    for task in _vendor(config, vendor).feeds():
        _task(config, task)
    return validate_day(config, store, day, vendor, batch_rows=batch_rows or DEFAULT_BATCH_ROWS)


# --------------------------------------------------------------------------- helpers for task-level stages
def read_staged(store: Store, task: str, *, day: date | None = None, until: date | None = None) -> pd.DataFrame:
    """Staged annotations of ``task`` that count: up to ``until``, or those staged on ``day``
    (as of that day). Duplicate files, superseded batches and repeated pairs across days are
    withdrawn (:func:`pipeline.history.resolve`)."""
    from pipeline.history import resolve, resolve_day

    if (day is None) == (until is None):
        raise ValueError("read_staged: give exactly one of day= or until=")
    return resolve_day(store, task, day) if day is not None else resolve(store, task, until).annotations  # type: ignore[arg-type]


def read_gold(store: Store, task: str, *, kind: LabelKind | None = None) -> pd.DataFrame:
    """Gold items of ``task`` (``gold/<task>.parquet``, in ``kind.gold``; empty if there is none)."""
    schema = (kind or get_kind(DEFAULT_KIND)).gold
    key = store.layout.gold(task).as_posix()
    if not store.is_file(key):
        return schema.empty_table().to_pandas()
    try:
        gold = store.read_parquet(key, schema=schema).to_pandas()
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise ValueError(f"{store.location(key)}: the gold file cannot be read ({exc}); it must be a Parquet file "
                         f"with columns {schema.names}: restore it or rewrite it from your gold source") from None
    return gold[gold["task"] == task].reset_index(drop=True)


def validation_reports(store: Store, task: str, *, day: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """The ``_validate.json`` of every vendor's staged partition of ``task`` (for ``day`` / up to ``until``)."""
    from pipeline.history import validation_reports as reports

    return reports(store, task, day=day, until=until)


def _skip_empty(config: LabelqConfig, store: Store, stage: str, task: str, day: date, allow_empty: bool) -> dict[str, Any] | None:
    """The summary of a skipped stage when no vendor of ``task`` delivered anything on ``day``."""
    from pipeline.history import delivered_on

    if allow_empty or delivered_on(config, store, task, day):
        return None
    why = (f"no vendor of task {task!r} delivered anything on {day}: nothing new to {stage} "
           f"(the latest version stays; pass --allow-empty / params.allow_empty to publish one anyway)")
    log.warning("%s %s %s: skipped: %s", stage, task, day, why)
    return {"stage": stage, "task": task, "date": day.isoformat(), "skipped": why}


# --------------------------------------------------------------------------- measure
def measure(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """Agreement (overall and per vendor) and gold accuracy (per vendor and annotator) for ``day``.

    Writes ``metrics/<task>/date=<day>/``: agreement.parquet (every metric with bootstrap CIs,
    overall and per vendor), agreement_per_category.parquet (one-vs-rest alpha),
    kappa_annotators.parquet (Cohen's kappa of every annotator pair that shares an item, with
    ``n_items``; long format),
    accuracy_vendor.parquet, accuracy_annotator.parquet and summary.json. Vendor-by-vendor
    kappa is in the scorecard stage's vendor_kappa.parquet. Skipped (nothing written) on a day
    without deliveries unless ``allow_empty``; refuses a history with holes
    (:class:`pipeline.history.HistoryGap`).
    """
    from pipeline.history import check_complete, resolve_day
    from pipeline.measure import headline_figures

    tcfg = _task(config, task)
    kind = tcfg.label_kind
    if skipped := _skip_empty(config, store, "measure", task, day, allow_empty):
        return skipped
    check_complete(config, store, task, day)
    ann = resolve_day(store, task, day, schema=kind.annotations, compact=kind.compact_reads)
    measured = kind.measure(ann, read_gold(store, task, kind=kind), tcfg)
    tables = measured.tables
    reports = validation_reports(store, task, day=day)
    summary = {
        "stage": "measure", "task": task, "date": day.isoformat(), "kind": kind.name, "labels": len(ann),
        "items": int(ann["item_id"].nunique()),
        "batches_staged": sum(r["batches_staged"] for r in reports),
        "batches_quarantined": sum(r["batches_quarantined"] for r in reports),
        "rows_in": sum(r["rows_in"] for r in reports),
        "rows_staged": sum(r["rows_staged"] for r in reports),
        "rows_quarantined": sum(r["rows_quarantined"] for r in reports),
        **measured.summary,
        **headline_figures(tables["agreement"], tables["accuracy_vendor"]),
    }
    with store.replace_dir(store.layout.metrics(task, day).as_posix()) as out:
        for name, frame in tables.items():
            store.write_parquet(pa.Table.from_pandas(frame, preserve_index=False),
                                out.key(store.layout.metrics_table(task, day, name)))
        store.write_json(out.key(store.layout.metrics_summary(task, day)), summary)
    log.info("measure %s %s: %d labels on %d items, alpha=%s", task, day, summary["labels"], summary["items"],
             (summary.get("agreement") or {}).get("krippendorff_alpha"))
    return summary


# --------------------------------------------------------------------------- merge
def merge(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """Consensus over every staged label of ``task`` that counts up to ``day``; hold out thin or uncertain items.

    Writes ``consensus/<task>/date=<day>/``: ``consensus.parquet``, one row per item with the
    consensus, ``vendors``, ``source_batches`` (lineage) and ``held_out_reason`` (null for
    items that go into the training set; rules in :mod:`pipeline.merge.holdout`),
    ``relabel.parquet``, the held-out items to send back for more labels (``labelq relabel``),
    and ``_merge.json``: the days and deliveries it read (:func:`pipeline.history.resolve`:
    what was withdrawn as a duplicate or superseded, and why) and the digest of those inputs,
    which publish checks. Rows are put in a canonical order first, so the output is the same
    whatever order files arrived, were listed or days were processed in. Skipped on a day
    without deliveries unless ``allow_empty``; refuses a history with holes
    (:class:`pipeline.history.HistoryGap`).
    """
    from pipeline.history import check_complete, release_memory, resolve
    from pipeline.merge.holdout import held_out_reasons, relabel_list

    tcfg = _task(config, task)
    kind = tcfg.label_kind
    if skipped := _skip_empty(config, store, "merge", task, day, allow_empty):
        return skipped
    with store.lock(store.layout.task_lock(task).as_posix()):
        check_complete(config, store, task, day)
        hist = resolve(store, task, day, schema=kind.annotations, compact=kind.compact_reads)
        ann = hist.annotations
        if ann.empty:
            raise ValueError(f"task {task!r}: no staged annotations up to {day}; nothing to merge")
        ann = ann.sort_values(merge_order(kind), kind="stable", ignore_index=True)
        hist.annotations = ann.iloc[:0]  # the unsorted copy is not needed any more
        result = kind.consensus(ann, read_gold(store, task, kind=kind), tcfg)
        release_memory()  # the fit's intermediates, before lineage allocates its own
        result["vendors"] = contributing_vendors(ann, result["item_id"])
        result["held_out_reason"] = held_out_reasons(result, min_labels=tcfg.min_labels_per_item,
                                                     min_confidence=tcfg.min_confidence, min_agreement=tcfg.min_agreement)
        relabel = relabel_list(result)
        extras = kind.consensus_tables(ann, result, tcfg)
        batches = source_batches(ann, result["item_id"])
        labels_used = len(ann)
        del ann  # the history's labels are done with: free them before the table is built
        release_memory()
        table = pa.Table.from_pandas(result, preserve_index=False).append_column("source_batches", batches)
        by_reason = relabel["held_out_reason"].value_counts().sort_index()
        summary = {"stage": "merge", "task": task, "date": day.isoformat(), "method": tcfg.consensus,
                   "items": len(result), "held_out": len(relabel), "labels_used": labels_used,
                   "held_out_by_reason": {str(k): int(v) for k, v in by_reason.items()},
                   "days": hist.days, "withdrawn": hist.withdrawn}
        with store.replace_dir(store.layout.consensus(task, day).as_posix()) as out:
            store.write_parquet(table, out.key(store.layout.consensus_table(task, day)))
            store.write_parquet(pa.Table.from_pandas(relabel, preserve_index=False), out.key(store.layout.relabel_table(task, day)))
            for name, frame in extras.items():
                store.write_parquet(pa.Table.from_pandas(frame, preserve_index=False),
                                    out.key(store.layout.consensus_extra(task, day, name)))
            store.write_json(out.key(store.layout.merge_report(task, day)), {**summary, "inputs_sha256": hist.inputs_sha256,
                                                       "deliveries": hist.deliveries})
    withdrawn = ", ".join(f"{n} {k}" for k, n in hist.withdrawn.items() if n)
    log.info("merge %s %s: %d items by %s, %d held out%s", task, day, len(result), tcfg.consensus, summary["held_out"],
             f"; rows withdrawn: {withdrawn}" if withdrawn else "")
    return summary


# --------------------------------------------------------------------------- publish
def publish(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """Publish the merged labels of ``day`` as training-set version ``<day>`` of ``task``.

    The version holds every staged label that counts up to ``day``; its manifest lists exactly
    the days it read (``days``; ``data_interval`` is ``[first day, day + 1)``), every delivery
    with its validation status and how the history resolved it, and the digest of those inputs
    (``inputs_sha256``). Refuses (``ValueError``) when the staged data changed since the merge
    (e.g. an earlier day was processed meanwhile): re-run the merge. Skipped on a day without
    deliveries unless ``allow_empty``. Same inputs give byte-identical data files and the same
    content hash; see :mod:`pipeline.publish` for the layout, the manifest and why a publish is
    atomic. Later versions made stale by this day are listed under ``stale_later_versions``
    (``labelq run`` re-publishes them; the DAG logs a warning naming the command).
    """
    from pipeline.history import read_reports, stale_versions

    tcfg = _task(config, task)
    kind = tcfg.label_kind
    if skipped := _skip_empty(config, store, "publish", task, day, allow_empty):
        return skipped
    cons_dir = store.layout.consensus(task, day).as_posix()
    cons_key, merge_key = store.layout.consensus_table(task, day).as_posix(), store.layout.merge_report(task, day).as_posix()
    with store.lock(store.layout.task_lock(task).as_posix()):
        if not store.is_file(cons_key) or not store.is_file(merge_key):
            raise FileNotFoundError(f"{store.location(cons_dir)}: no consensus for {task} {day}; run the merge stage first")
        merged = store.read_json(merge_key)
        every_day = read_reports(store, task)  # read once: the digest, the manifest and the staleness check
        inputs = every_day.upto(day)
        current = inputs.digest()
        if merged["inputs_sha256"] != current:
            raise ValueError(
                f"task {task!r} {day}: the staged data up to {day} changed since it was merged (another day was "
                f"processed meanwhile?); re-run the merge first: `labelq run --date {day}` (nothing was published)")
        cons = store.read_parquet(cons_key)
        table = curated_table(cons, tcfg.splits.model_dump(), kind.curated_for(tcfg), split_by=kind.split_unit)
        metrics_key = store.layout.metrics_summary(task, day).as_posix()
        gold = read_gold(store, task, kind=kind)
        manifest = build_manifest(
            task=task, day=day, merged=merged, reports=inputs.docs(), inputs_sha256=current,
            config_sha256=config.digest(), task_config=tcfg, consensus=cons, table=table, gold_items=len(gold),
            quality=store.read_json(metrics_key) if store.is_file(metrics_key) else None)
        extra_keys = {name: store.layout.consensus_extra(task, day, name).as_posix() for name in kind.published_tables}
        extras = {n: store.read_parquet(k) for n, k in extra_keys.items() if store.is_file(k)}
        exports, export_counts = kind.exports(table, tcfg, _read_catalog(store, task, tcfg))
        if export_counts:
            manifest["exports"] = export_counts
        dest = write_version(store, task, day.isoformat(), table, manifest, keep_versions=tcfg.keep_versions,
                             extras={**extras, **exports})
        written = read_manifest(store, task, day.isoformat())
        later = [s["version"] for s in stale_versions(store, task, every_day) if s["version"] > day.isoformat()]
    log.info("publish %s %s: %d items -> %s", task, day, table.num_rows, dest)
    if later:
        log.warning("publish %s %s: later version(s) %s were built without this day's current data and are now stale; "
                    "re-run them in date order: `labelq run --date %s --days %d` (or `airflow backfill create --dag-id "
                    "labelq_daily --from-date %s --to-date %s --reprocess-behavior completed`); `labelq status` lists "
                    "stale versions", task, day, ", ".join(later), later[0],
                    (date.fromisoformat(later[-1]) - date.fromisoformat(later[0])).days + 1, later[0], later[-1])
    return {"stage": "publish", "task": task, "date": day.isoformat(), "version": day.isoformat(),
            "path": str(dest), "items": table.num_rows, "held_out": manifest["counts"]["held_out"],
            "content_sha256": written["content_sha256"], "build": written["build"], "days": manifest["days"],
            "stale_later_versions": later}


def _read_catalog(store: Store, task: str, tcfg: TaskConfig) -> pa.Table | None:
    """The task's item texts (``tasks.<t>.catalog``), or None when it names none."""
    if tcfg.catalog is None:
        return None
    try:
        catalog = store.read_parquet(tcfg.catalog, columns=["id", "text"])
    except (FileNotFoundError, pa.ArrowInvalid, OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{store.location(tcfg.catalog)}: the catalog of task {task!r} (tasks.{task}.catalog) cannot be "
                         f"read ({exc}); it must be a Parquet file with columns id, text") from None
    return catalog


# --------------------------------------------------------------------------- scorecard, SLA, report
def scorecard(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """Vendor and annotator scorecards of ``task`` for ``day``, with each vendor's SLA status.

    Writes ``scorecards/<task>/date=<day>/`` (its own partition): scorecard_vendor.parquet, scorecard_annotator.parquet,
    confusion.parquet, vendor_kappa.parquet (definitions in :mod:`pipeline.score.scorecard`; read the
    history with :func:`pipeline.score.scorecard.read_metrics_history`). An SLA breach is logged as a
    warning and listed under ``sla_breaches``; it does not raise (that is :func:`check_sla`).
    Skipped on a day without deliveries unless ``allow_empty``.
    """
    from pipeline.history import resolve_day
    from pipeline.score.scorecard import write_scorecards
    from pipeline.score.sla import breaches, evaluate_sla, sla_status

    tcfg = _task(config, task)
    kind = tcfg.label_kind
    if skipped := _skip_empty(config, store, "scorecard", task, day, allow_empty):
        return skipped
    vendors = config.vendors_for(task)
    cards = kind.scorecards(
        resolve_day(store, task, day, schema=kind.annotations, compact=kind.compact_reads), read_gold(store, task, kind=kind), tcfg,
        task_name=task, prices={v: c.price_per_label for v, c in vendors.items()}, vendors=list(vendors),
    )
    checks = evaluate_sla(cards.vendor, {v: c.sla for v, c in vendors.items()})
    cards = cards.with_sla(sla_status(checks))
    paths = write_scorecards(store, task, day, cards)
    failed = breaches(checks)
    for b in failed:
        log.warning("SLA breach %s %s: %s", task, day, b)
    flagged = cards.annotator[cards.annotator["low_effort"]]
    vendor_rows: Iterable[Any] = cards.vendor.itertuples()
    summary = {
        "stage": "scorecard", "task": task, "date": day.isoformat(), "files": [str(p) for p in paths],
        "sla": {r.vendor: {"status": r.sla_status, "detail": None if pd.isna(r.sla_detail) else r.sla_detail}
                for r in vendor_rows},
        "sla_breaches": [str(b) for b in failed],
        "low_effort_annotators": [f"{r.vendor}/{r.annotator_id}" for r in flagged.itertuples()],
    }
    log.info("scorecard %s %s: %d vendor(s), %d annotator(s), %d flagged low-effort, %d SLA breach(es)", task, day,
             len(cards.vendor), len(cards.annotator), len(flagged), len(failed))
    return summary


def _scorecard_key(store: Store, task: str, day: date) -> str:
    from pipeline.score.scorecard import scorecard_key

    return scorecard_key(store, task, day)


def _vendor_scorecard(store: Store, task: str, day: date) -> pd.DataFrame:
    """The day's ``scorecard_vendor.parquet`` of ``task`` (``FileNotFoundError`` naming the stage to run)."""
    key = _scorecard_key(store, task, day)
    if not store.is_file(key):
        raise FileNotFoundError(f"{store.location(key)}: no vendor scorecard for {task} {day}; run the scorecard stage first")
    return store.read_parquet(key).to_pandas()


def check_sla(config: LabelqConfig, store: Store, day: date, task: str) -> dict[str, Any]:
    """Check the day's vendor scorecard against the SLAs in config; raise on any breach.

    Meant as its own DAG task downstream of ``scorecard`` (and not upstream of ``publish``), so
    a breach fails visibly without blocking the training set or the other vendors' scoring.

    Raises
    ------
    pipeline.score.sla.SLABreach
        (a ``RuntimeError``) naming each breaching vendor, metric, value and threshold.
    FileNotFoundError
        The scorecard of ``task`` and ``day`` has not been written yet.
    """
    from pipeline.score.sla import enforce_sla

    _task(config, task)
    card = _vendor_scorecard(store, task, day)
    status = enforce_sla(card, {v: c.sla for v, c in config.vendors_for(task).items()}, task=task, date=day.isoformat())
    log.info("check_sla %s %s: no breach (%s)", task, day, dict(zip(status["vendor"], status["sla_status"])))
    return {"stage": "check_sla", "task": task, "date": day.isoformat(),
            "status": {str(v): str(s) for v, s in zip(status["vendor"], status["sla_status"])}}


def check_vendor_sla(config: LabelqConfig, store: Store, day: date, task: str, vendor: str) -> dict[str, Any]:
    """:func:`check_sla` for one vendor of ``task`` (one DAG task instance per vendor).

    Returns ``stage, task, vendor, date, status, detail`` with status ``ok``,
    ``insufficient_data`` or ``no_sla`` (none of them raises).

    Raises
    ------
    pipeline.score.sla.SLABreach
        ``vendor`` breached its SLA (names metric, value, threshold and the scorecard).
    FileNotFoundError
        The scorecard of ``task`` and ``day`` has not been written yet.
    ValueError, LookupError
        ``vendor`` is unknown or labels another task; the scorecard has no row for it.
    """
    from pipeline.score.sla import enforce_sla

    _task(config, task)
    feeds = _vendor(config, vendor).feeds()
    if task not in feeds:
        labelled = f"task {next(iter(feeds))!r}" if len(feeds) == 1 else f"tasks {sorted(feeds)}"
        raise ValueError(f"vendor {vendor!r} labels {labelled}, not {task!r}")
    card = _vendor_scorecard(store, task, day)
    card = card[card["vendor"] == vendor]
    if card.empty:
        raise LookupError(f"{store.location(_scorecard_key(store, task, day))} has no row for vendor {vendor!r}; "
                          f"re-run the scorecard stage for {task} {day}")
    status = enforce_sla(card, {vendor: feeds[task].sla}, task=task, date=day.isoformat())
    verdict, detail = ("no_sla", None) if status.empty else (str(status["sla_status"].iloc[0]), str(status["sla_detail"].iloc[0]))
    log.info("check_sla %s %s %s: %s (%s)", task, day, vendor, verdict, detail)
    return {"stage": "check_sla", "task": task, "vendor": vendor, "date": day.isoformat(), "status": verdict, "detail": detail}


def report(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """Static HTML quality report of ``task`` for ``day`` + JSON twin, and the reports index.

    Writes ``reports/<task>/<day>.html``, ``reports/<task>/<day>.json`` and
    ``reports/index.html`` (see :mod:`pipeline.report`); needs the day's scorecard. Skipped on
    a day without deliveries unless ``allow_empty``.
    """
    from pipeline import report as rpt
    from pipeline.report.privacy import pseudonym_key

    tcfg = _task(config, task)
    if skipped := _skip_empty(config, store, "report", task, day, allow_empty):
        return skipped
    inputs = rpt.load_inputs(store, task, day, scorecard_extras=tcfg.label_kind.scorecard_tables,
                             whole_consensus=tcfg.label_kind.report_reads_consensus)
    labels = tcfg.label_kind.report_labels(tcfg)
    data = rpt.build_report_data(
        inputs, task=task, day=day, labels=labels,
        slas={v: c.sla for v, c in config.vendors_for(task).items()},
        meta={"labelq": __version__, "consensus": tcfg.consensus, "config_sha256": config.digest()[:12]},
        pseudonym_key=pseudonym_key(store), kind=tcfg.label_kind,
    )
    html_path, json_path = rpt.write_report(store, task, day, data, rpt.render_report(data, rpt.report_figures(inputs, labels=labels, data=data)))
    index = rpt.write_index(store)
    log.info("report %s %s -> %s", task, day, html_path)
    return {"stage": "report", "task": task, "date": day.isoformat(), "html": str(html_path), "json": str(json_path),
            "index": str(index), "sla_breaches": [v["vendor"] for v in data["sla"]["breaches"]]}


# --------------------------------------------------------------------------- the whole day
#: The per-task stages of a day, in DAG order (measure .. report).
TASK_STAGES = ("measure", "merge", "publish", "scorecard", "report")


def run_task_stages(config: LabelqConfig, store: Store, day: date, task: str, *, allow_empty: bool = False) -> dict[str, Any]:
    """measure, merge, publish, scorecard and report of ``task`` for ``day``; a skipped stage skips the rest."""
    out: dict[str, Any] = {}
    for name in TASK_STAGES:
        out[name] = globals()[name](config, store, day, task, allow_empty=allow_empty)
        if out[name].get("skipped"):
            break
    return out


def run_day(config: LabelqConfig, store: Store, day: date, *, allow_empty: bool = False, strict: bool = False) -> dict[str, Any]:
    """Every stage for ``day``, in-process, in DAG order: per vendor, then per task.

    Per task: measure, merge, publish, then scorecard and report (SLA breaches are logged and
    listed in the scorecard summary; :func:`check_sla` is the step that raises on them). On a
    day without deliveries the task stages are skipped (``skipped`` in their summary) unless
    ``allow_empty``; ``strict`` makes a vendor without a landing folder an error.
    """
    results: dict[str, Any] = {"date": day.isoformat(), "vendors": {}, "tasks": {}}
    for vendor in config.vendors:
        results["vendors"][vendor] = {"ingest": ingest(config, store, day, vendor, strict=strict),
                                      "validate": validate(config, store, day, vendor)}
    for task in config.tasks:
        results["tasks"][task] = run_task_stages(config, store, day, task, allow_empty=allow_empty)
    return results


def refresh_stale(config: LabelqConfig, store: Store, task: str, *, after: date | None = None) -> list[dict[str, Any]]:
    """Re-run the task stages of every stale version of ``task`` (later than ``after``), in date order.

    A version is stale when an earlier day's staged data changed after it was built
    (:func:`pipeline.history.stale_versions`); re-running its task stages rebuilds it from the
    current history, so it equals what running the days in order gives. Returns the stage
    summaries per refreshed day.
    """
    from pipeline.history import stale_versions

    done = []
    for s in stale_versions(store, task):
        day = date.fromisoformat(s["version"])
        if after is not None and day <= after:
            continue
        log.warning("refresh %s %s: the version is stale (an earlier day changed); re-running measure .. report", task, day)
        done.append({"date": day.isoformat(), **run_task_stages(config, store, day, task, allow_empty=True)})
    return done
