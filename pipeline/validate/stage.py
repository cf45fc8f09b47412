"""The validate stage for one vendor and day (``steps.validate``): each ingested file into
``staged/<task>/date=<D>/vendor=<v>/`` and ``quarantine/date=<D>/vendor=<v>/``.

Each file is read batch by batch: vectorised row checks compiled from the GX suites
(:mod:`pipeline.validate.rows`) give every row a reason or none; GX (:mod:`pipeline.validate.gx`,
the combined canonical + task + vendor suite) gives the verdict. Good rows go to
``staged/.../<stem>.parquet`` (with ``.<stem>.validation.json``, GX's result with personal values
scrubbed), bad rows to ``quarantine/.../<stem>.rows.parquet`` with a ``reason`` column, and a
``<file>.reason.json`` plus the original file byte for byte. The whole file is quarantined when
it is unreadable, drifts from the contract, is empty, fails a table-level or verdict-only
expectation, or has more bad rows than ``max_bad_row_fraction``.
``rows_in = rows_staged + rows_quarantined``, always.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import LabelqConfig, VendorConfig
from pipeline.ingest.canonical import DEFAULT_BATCH_ROWS, dictionary_columns, ingested_schema
from pipeline.kinds import LabelKind
from pipeline.ingest.ledger import ledger_entry, read_ledger, write_ledger_day
from pipeline.storage import REASON_SUFFIX, VALIDATION_SUFFIX, Layout, Store, in_background
from pipeline.validate.rows import (
    RowPolicy,
    compile_policy,
    duplicate_masks,
    quarantine_rows_canonical,
    quarantine_rows_schema,
    reason_array,
    row_codes,
)

if TYPE_CHECKING:
    from pipeline.validate.gx import ValidationOutcome

log = logging.getLogger("labelq")

#: Examples kept per row reason in reports (row numbers always; values unless personal).
EXAMPLES = 5


def superseded_detail(file: str, batch_id: str, later: dict[str, Any]) -> str:
    return (f"{file}: batch {batch_id!r} was re-delivered as {later['file']} ({later['date']}); "
            "this delivery's rows are withdrawn")


def _describe_rows(file: str, counts: Counter, examples: dict[str, list[tuple[int, str | None]]],
                   columns: dict[str, str]) -> str:
    """``<file>: column 'label': 7 row(s) unknown_label (rows [3, 9], values ['MAYBE']); ...``."""
    parts = []
    for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        ex = examples.get(reason, [])
        rows = [r for r, _ in ex]
        vals = [v for _, v in ex if v is not None]
        shown = f", values [{', '.join(vals)}]" if vals else ""
        parts.append(f"{file}: column {columns.get(reason, '?')!r}: {n} row(s) {reason} (rows {rows}{shown})")
    return "; ".join(parts)


def _reason_columns(policy: RowPolicy) -> dict[str, str]:
    cols = {c.reason: c.column for c in policy.checks}
    return {**cols, "invalid_utf8": "(text)", "invalid_timestamp": "annotated_at", "wrong_vendor": "vendor",
            "duplicate_in_file": "item_id, annotator_id", "duplicate_staged": "item_id, annotator_id"}


def validate_file(store: Store, rec: dict[str, Any], *, in_key: str, staged_dir: str, quarantine_dir: str,
                  task: str, vendor: str, vcfg: VendorConfig, kind: LabelKind, params: dict[str, Any],
                  staged_keys: np.ndarray, batch_rows: int) -> dict[str, Any]:
    """Split one ingested file into staged and quarantined rows; returns its batch entry (with
    ``_keys``, its staged pair keys, and ``_reason``, its reason file's key and document or None,
    for the caller to pop)."""
    from pipeline.validate.gx import merge_outcomes, personal_columns, suite_expectations, validate_batch

    policy = compile_policy(suite_expectations(task, vendor, kind.name))
    personal = set(personal_columns(task, vendor, kind.name))
    schema = kind.annotations
    stem = PurePosixPath(rec["output"]).stem
    stage_key = Layout.join(staged_dir, Layout.staged_file(stem))
    rows_key = Layout.join(quarantine_dir, Layout.quarantined_rows(stem))
    counts: Counter = Counter()
    examples: dict[str, list[tuple[int, str | None]]] = {}
    columns = _reason_columns(policy)
    rows_in = rows_bad = 0
    outcomes = []
    with store.open_input(in_key) as fh:
        pf = pq.ParquetFile(fh, read_dictionary=dictionary_columns(kind))
        keys = pf.read(columns=["_key"])["_key"].to_numpy()
        dup_in_file, dup_staged = duplicate_masks(keys, staged_keys)
        good_all = np.zeros(len(keys), dtype=bool)
        with store.parquet_writer(stage_key, schema) as good_w, \
                store.parquet_writer(rows_key, quarantine_rows_schema(schema)) as bad_w, in_background() as submit:
            for batch in pf.iter_batches(batch_size=batch_rows):
                t = pa.Table.from_batches([batch])
                n = t.num_rows
                sl = slice(rows_in, rows_in + n)
                codes = row_codes(t, policy, params=params, vendor=vendor, dup_in_file=dup_in_file[sl],
                                  dup_staged=dup_staged[sl])
                canon = t.select(schema.names)
                good = codes == 0
                good_all[sl] = good
                submit(_write_split, good_w, bad_w, t, codes, policy, schema)  # while GX validates the batch
                outcomes.append(validate_batch(canon, task=task, vendor=vendor, parameters=params, offset=rows_in,
                                               kind=kind.name))
                if not good.all():
                    _collect(codes, policy, t, counts, examples, columns, personal, vcfg)
                    rows_bad += int((~good).sum())
                rows_in += n
    if not outcomes:  # an empty file still gets GX's verdict (empty_batch)
        outcomes.append(validate_batch(_empty(kind), task=task, vendor=vendor, parameters=params, kind=kind.name))
    verdict = merge_outcomes(outcomes)
    failing = {f["reason"] or f["expectation"] for f in verdict.failures}
    row_level = set(policy.reasons) | {"duplicate_label"}
    cause = None
    if rows_in == 0:
        cause = "empty_batch"
    elif failing - row_level:
        cause = "failed " + ", ".join(sorted(failing - row_level))
    elif not verdict.success and rows_bad == 0:
        cause = "gx_verdict_without_bad_rows"
    elif rows_in and rows_bad / rows_in > vcfg.max_bad_row_fraction:
        cause = f"too_many_bad_rows ({rows_bad}/{rows_in} > {vcfg.max_bad_row_fraction:.0%})"
    entry = {"file": rec["file"], "sha256": rec["sha256"], "batch_id": rec["batch_id"], "rows": rows_in,
             "row_reasons": dict(counts)}
    row_detail = _describe_rows(rec["file"], counts, examples, columns)
    if cause is not None:  # the whole file
        store.delete(stage_key)
        store.delete(rows_key)
        detail = "; ".join(x for x in (f"{rec['file']}: quarantined whole: {cause}", row_detail) if x)
        why = _quarantine_file(store, rec, quarantine_dir, reason="validation_failed", detail=detail, policy="file",
                               cause=cause, counts=counts, verdict=verdict, rows=rows_in, rows_quarantined=rows_in)
        return {**entry, "status": "quarantined", "reason": "validation_failed", "detail": detail,
                "rows_staged": 0, "rows_quarantined": rows_in, "gx_success": verdict.success,
                "_keys": np.zeros(0, dtype=np.uint64), "_reason": why}
    entry["_keys"] = keys[good_all]
    store.write_json(Layout.join(staged_dir, Layout.validation_file(stem)), verdict.result)
    if rows_bad == 0:
        store.delete(rows_key)
        return {**entry, "status": "staged", "reason": None, "detail": None, "rows_staged": rows_in,
                "rows_quarantined": 0, "gx_success": verdict.success, "staged_output": stage_key}
    why = _quarantine_file(store, rec, quarantine_dir, reason="bad_rows", detail=row_detail, policy="rows", cause=None,
                           counts=counts, verdict=verdict, rows=rows_in, rows_quarantined=rows_bad,
                           rows_file=PurePosixPath(rows_key).name)
    return {**entry, "status": "staged", "reason": "bad_rows", "detail": row_detail, "rows_staged": rows_in - rows_bad,
            "rows_quarantined": rows_bad, "gx_success": verdict.success, "staged_output": stage_key,
            "quarantined_rows": PurePosixPath(rows_key).name, "_reason": why}


def _write_split(good_w: pq.ParquetWriter, bad_w: pq.ParquetWriter, t: pa.Table, codes: np.ndarray, policy: RowPolicy,
                 schema: pa.Schema) -> None:
    """Good rows to the staged file (``schema``: the kind's annotations); bad rows, with ``source_row``
    and ``reason``, to the quarantine rows file."""
    canon = t.select(schema.names)
    good = codes == 0
    good_w.write_table(canon.filter(pa.array(good)).cast(schema))
    if not good.all():
        bad = ~good
        bad_rows = canon.filter(pa.array(bad)).cast(quarantine_rows_canonical(schema))  # bad rows may lack a required value
        reasons = reason_array(codes[bad], policy)
        src = t["_source_row"].filter(pa.array(bad))
        bad_w.write_table(pa.Table.from_arrays([*bad_rows.columns, src, reasons], schema=quarantine_rows_schema(schema)))


def _empty(kind: LabelKind) -> pa.Table:
    """No rows, in the kind's canonical columns (an empty file still gets GX's verdict)."""
    return pa.Table.from_batches([], schema=ingested_schema(kind)).select(kind.annotations.names)


def gx_validate_file(store: Store, in_key: str, *, task: str, vendor: str, params: dict[str, Any], batch_rows: int,
                     kind: LabelKind | None = None) -> ValidationOutcome:
    """GX's verdict alone on one ingested file, streamed batch by batch (what :func:`validate_file`
    computes beside its row checks; used by the benchmark to time the GX step)."""
    from pipeline.validate.gx import merge_outcomes, validate_batch

    from pipeline.kinds import DEFAULT_KIND, get_kind

    kind = kind or get_kind(DEFAULT_KIND)
    outcomes = []
    offset = 0
    with store.open_input(in_key) as fh:
        pf = pq.ParquetFile(fh, read_dictionary=dictionary_columns(kind))
        for batch in pf.iter_batches(batch_size=batch_rows, columns=kind.annotations.names):
            outcomes.append(validate_batch(pa.Table.from_batches([batch]), task=task, vendor=vendor,
                                           parameters=params, offset=offset, kind=kind.name))
            offset += batch.num_rows
    if not outcomes:
        outcomes.append(validate_batch(_empty(kind), task=task, vendor=vendor, parameters=params, kind=kind.name))
    return merge_outcomes(outcomes)


def _collect(codes: np.ndarray, policy: RowPolicy, t: pa.Table, counts: Counter[str],
             examples: dict[str, list[tuple[int, str | None]]], columns: dict[str, str],
             personal: set[str], vcfg: VendorConfig) -> None:
    """Exact per-reason counts (bincount) and the first few example rows per reason (values clipped)."""
    from pipeline.validate.gx import clip

    for code, n in enumerate(np.bincount(codes, minlength=len(policy.reasons) + 1)):
        if code == 0 or n == 0:
            continue
        reason = policy.reasons[code - 1]
        counts[reason] += int(n)
        have = examples.setdefault(reason, [])
        if len(have) >= EXAMPLES:
            continue
        idx = np.flatnonzero(codes == code)[: EXAMPLES - len(have)]
        rows = t["_source_row"].take(pa.array(idx)).to_pylist()
        col = "_claimed_vendor" if reason == "wrong_vendor" else columns.get(reason)
        vals: list[str | None]
        if col in t.column_names and col not in personal:
            vals = [clip(ascii(v)) if isinstance(v, str) else clip(repr(v)) for v in t[col].take(pa.array(idx)).to_pylist()]
        else:
            vals = [None for _ in rows]
        have.extend(zip(rows, vals))


def _quarantine_file(store: Store, rec: dict[str, Any], quarantine_dir: str, *, reason: str, detail: str,
                     policy: str, cause: str | None, counts: Counter[str], verdict: ValidationOutcome | None, rows: int | None,
                     rows_quarantined: int | None, rows_file: str | None = None) -> tuple[str, dict[str, Any]]:
    """Copy the original bytes (when inside the landing folder); returns the key and document of its
    ``<file>.reason.json``, written once the day's re-deliveries are settled (:func:`validate_day`)."""
    name = PurePosixPath(rec["file"]).name
    copied = rec.get("reason") != "path_escape" and store.is_file(rec["file"])
    if copied:
        store.copy(rec["file"], Layout.join(quarantine_dir, name))
    return Layout.join(quarantine_dir, Layout.quarantine_reason(name)), {
        "file": rec["file"], "sha256": rec["sha256"], "vendor": rec.get("vendor"), "task": rec.get("task"),
        "date": rec.get("date"), "batch_id": rec["batch_id"], "rows": rows, "rows_quarantined": rows_quarantined,
        "reason": reason, "policy": policy, "cause": cause, "detail": detail, "row_reasons": dict(counts),
        "quarantined_rows": rows_file, "original_copied": copied,
        "failures": verdict.failures if verdict else [], "gx_result": verdict.result if verdict else None,
        "tried_to_supersede": [],  # filled in by _note_failed_redeliveries
    }


def _ref(entry: dict[str, Any], day: date) -> dict[str, Any]:
    return {"file": entry["file"], "sha256": entry["sha256"], "date": day.isoformat(), "batch_id": entry["batch_id"]}


def _earlier_accepted_entries(store: Store, vendor: str, day: date) -> list[dict[str, Any]]:
    """Ledger entries of deliveries of ``vendor`` accepted on days before ``day`` (as recorded so far).

    Only for the ``tried_to_supersede`` note of a quarantined re-delivery; nothing staged depends on it.
    """
    return [e for e in read_ledger(store, vendor) if e["date"] < day.isoformat() and e["status"] == "staged"]


def _settle_supersessions(store: Store, batches: list[dict[str, Any]], day: date, staged_dir: str) -> None:
    """Within the day: of the *accepted* deliveries of one batch id, the last file (by name) wins.

    The earlier ones become ``superseded`` (their staged rows withdrawn, pointers both ways). A
    delivery that failed validation never supersedes anything: it is quarantined, and the
    accepted delivery stays (its ``tried_to_supersede`` names which).
    """
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for b in batches:
        if b["status"] == "staged":
            by_batch.setdefault(b["batch_id"], []).append(b)
    for group in by_batch.values():
        *older, winner = group  # batches are in file-name order
        for old in older:
            ref = _ref(winner, day)
            old.update(status="superseded", reason="superseded", superseded_by=ref,
                       detail=superseded_detail(old["file"], old["batch_id"], ref))
            winner.setdefault("supersedes", []).append(_ref(old, day))
            stem = PurePosixPath(old["staged_output"]).stem
            store.delete(Layout.join(staged_dir, Layout.staged_file(stem)))
            store.delete(Layout.join(staged_dir, Layout.validation_file(stem)))
            old["rows_superseded"] = old.pop("rows_staged")
            old.pop("staged_output", None)


def _note_failed_redeliveries(reasons: dict[str, dict[str, Any]], batches: list[dict[str, Any]], day: date,
                               quarantine_dir: str, earlier: dict[str, list[dict[str, Any]]], vendor: str) -> None:
    """A re-delivery quarantined whole replaces nothing: its reason document (in ``reasons``, by key)
    names the accepted deliveries of its batch id that stay (this day's, and earlier days' as recorded so far)."""
    for b in batches:
        if b["status"] != "quarantined":
            continue
        tried = earlier.get(b["batch_id"], []) + [_ref(o, day) for o in batches
                                                  if o["batch_id"] == b["batch_id"] and o["status"] == "staged"]
        if not tried:
            continue
        reasons[Layout.join(quarantine_dir, Layout.quarantine_reason(PurePosixPath(b["file"]).name))]["tried_to_supersede"] = tried
        log.warning("validate %s: %s re-delivers batch %r but failed validation, so it replaces nothing: %s stays",
                    vendor, b["file"], b["batch_id"], ", ".join(f"{r['file']} ({r['date']})" for r in tried))


#: The earliest plausible ``annotated_at`` (before it, a placeholder such as the Unix epoch).
EARLIEST_ANNOTATION = "2000-01-01T00:00:00+00:00"


def annotated_at_bounds(day: date) -> dict[str, str]:
    """Suite parameters ``annotated_at_min`` / ``annotated_at_max`` for a delivery on ``day``.

    A label cannot be made after it was delivered: the latest plausible time is the end of the
    day after ``day`` (UTC), a day of grace for vendor clocks and time zones. Rows outside are
    quarantined as ``implausible_annotated_at`` (``expectations/annotations.json``).
    """
    latest = datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=timezone.utc) - timedelta(microseconds=1)
    return {"annotated_at_min": EARLIEST_ANNOTATION, "annotated_at_max": latest.isoformat()}


def validate_day(config: LabelqConfig, store: Store, day: date, vendor: str, *,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> dict[str, Any]:
    """See the module docstring; returns the JSON-able summary (no per-batch list).

    Day-local, like :func:`ingest_day`: every file is validated on its own, repeats of an
    (item, annotator) pair already staged from another batch *of the same day* are quarantined
    (``duplicate_staged``), and the day's re-deliveries of a batch id are settled after
    validation (:func:`_settle_supersessions`). Nothing of another day is read or rewritten:
    repeats and re-deliveries across days are settled when the history is read
    (:func:`pipeline.history.resolve`).
    """
    vcfg = config.vendors[vendor]
    lay = store.layout
    ingested = lay.ingested(day, vendor).as_posix()
    report_key = lay.ingest_report(day, vendor).as_posix()
    if not store.is_file(report_key):
        raise FileNotFoundError(f"{store.location(report_key)}: no ingest report; run the ingest stage for {vendor} {day} first")
    report = store.read_json(report_key)
    feeds = vcfg.feeds()
    accepted = _earlier_accepted_entries(store, vendor, day)  # the vendor's ledger, read once for every task
    summaries: dict[str, dict[str, Any]] = {}
    entries: list[dict[str, Any]] = []
    with store.replace_dir(lay.quarantine(day, vendor).as_posix()) as quarantine:
        for task_name, feed in feeds.items():
            records = [r for r in report["files"] if r.get("task") in (None, task_name)]
            summaries[task_name], batches = _validate_feed(
                config, store, day, vendor, task_name, feed, records, ingested=ingested, quarantine=quarantine,
                sub=lay.quarantine_folder(task_name if vcfg.feeds_several else None),
                earlier=[e for e in accepted if e.get("task") in (None, task_name)], batch_rows=batch_rows)
            entries += [ledger_entry(b, day, task=task_name, **{k: b.get(k) for k in (
                "rows_staged", "rows_quarantined", "staged_output", "quarantined_rows")}) for b in batches]
    write_ledger_day(store, vendor, day, entries)
    for task_name, summary in summaries.items():
        log.info("validate %s %s%s: %d batch(es) staged (%d with quarantined rows), %d quarantined; %d of %d rows "
                 "staged", vendor, day, f" ({task_name})" if vcfg.feeds_several else "", summary["batches_staged"],
                 summary["batches_partially_quarantined"], summary["batches_quarantined"], summary["rows_staged"],
                 summary["rows_in"])
    if not vcfg.feeds_several:
        return next(iter(summaries.values()))
    counts = [k for k, v in next(iter(summaries.values())).items() if isinstance(v, int) and not isinstance(v, bool)]
    return {"stage": "validate", "vendor": vendor, "task": None, "date": day.isoformat(),
            **{k: sum(s[k] for s in summaries.values()) for k in counts}, "tasks": summaries}


def _validate_feed(config: LabelqConfig, store: Store, day: date, vendor: str, task_name: str, vcfg: VendorConfig,
                   records: list[dict[str, Any]], *, ingested: str, quarantine: str, sub: str,
                   earlier: list[dict[str, Any]], batch_rows: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`validate_day` for one task a vendor's files feed: replaces ``staged/<task>/date=<day>/vendor=<vendor>/``
    and fills the vendor's quarantine partition ``quarantine`` (in its folder ``sub`` when the vendor's
    files feed several tasks); ``earlier``: the task's ledger entries accepted before ``day``. Returns
    the summary and the batch entries (for the ledger)."""
    lay = store.layout
    task = config.tasks[task_name]
    kind = task.label_kind
    params = {**kind.suite_parameters(task), "vendor_set": [vendor], "task_set": [task_name], **annotated_at_bounds(day)}
    quarantine = Layout.join(quarantine, sub) if sub else quarantine
    earlier_by_batch: dict[str, list[dict[str, Any]]] = {}
    for e in earlier:
        earlier_by_batch.setdefault(e["batch_id"], []).append({k: e[k] for k in ("file", "sha256", "date", "batch_id")})
    keys_by_batch: dict[str, list[np.ndarray]] = {}
    batches: list[dict[str, Any]] = []
    reasons: dict[str, dict[str, Any]] = {}  # reason files, written once the re-deliveries are settled
    with store.replace_dir(lay.staged(task_name, day, vendor).as_posix()) as staged:
        for rec in records:
            rec = {**rec, "vendor": vendor, "task": task_name, "date": day.isoformat()}
            base = {k: rec[k] for k in ("file", "sha256", "batch_id", "rows")}
            links = {k: rec.get(k) for k in ("duplicate_of",) if rec.get(k)}
            if rec["status"] == "duplicate":
                batches.append({**base, **links, "status": rec["status"], "reason": rec["reason"], "detail": rec["detail"]})
                continue
            if rec["status"] == "rejected":
                key, doc = _quarantine_file(store, rec, quarantine, reason=rec["reason"], detail=rec["detail"],
                                            policy="file", cause=rec["reason"], counts=Counter(), verdict=None,
                                            rows=rec["rows"], rows_quarantined=rec["rows"])
                reasons[key] = doc
                log.warning("validate %s: quarantined %s: %s", vendor, rec["file"], rec["detail"])
                batches.append({**base, **links, "status": "quarantined", "reason": rec["reason"], "detail": rec["detail"],
                                "rows_staged": 0, "rows_quarantined": rec["rows"] or 0})
                continue
            others = [k for b, ks in keys_by_batch.items() if b != rec["batch_id"] for k in ks]
            entry = validate_file(store, rec, in_key=Layout.join(ingested, rec["output"]), staged_dir=staged,
                                  quarantine_dir=quarantine, task=task_name, vendor=vendor, vcfg=vcfg, kind=kind,
                                  params=params,
                                  staged_keys=np.concatenate(others) if others else np.zeros(0, dtype=np.uint64),
                                  batch_rows=batch_rows)
            keys_by_batch.setdefault(rec["batch_id"], []).append(entry.pop("_keys"))
            if (why := entry.pop("_reason", None)) is not None:
                if sub and why[1].get("quarantined_rows"):
                    why[1]["quarantined_rows"] = Layout.join(sub, why[1]["quarantined_rows"])
                reasons[why[0]] = why[1]
            if sub and entry.get("quarantined_rows"):
                entry["quarantined_rows"] = Layout.join(sub, entry["quarantined_rows"])
            if entry.get("staged_output"):
                entry["staged_output"] = Layout.join(staged.dest, PurePosixPath(entry["staged_output"]).name)
            if entry["detail"]:
                log.warning("validate %s: %s %s: %s", vendor, entry["status"], rec["file"], entry["detail"])
            batches.append({**entry, **links})
        _settle_supersessions(store, batches, day, staged)
        _note_failed_redeliveries(reasons, batches, day, quarantine, earlier_by_batch, vendor)
        for key, doc in reasons.items():
            store.write_json(key, doc)
        counted = [b for b in batches if b["status"] in ("staged", "quarantined")]
        summary = {
            "stage": "validate", "vendor": vendor, "task": task_name, "date": day.isoformat(),
            "batches_staged": sum(b["status"] == "staged" for b in batches),
            "batches_quarantined": sum(b["status"] == "quarantined" for b in batches),
            "batches_partially_quarantined": sum(b["status"] == "staged" and b["rows_quarantined"] > 0 for b in batches),
            "batches_duplicate": sum(b["status"] == "duplicate" for b in batches),
            "batches_superseded": sum(b["status"] == "superseded" for b in batches),
            "rows_in": sum(b["rows"] or 0 for b in counted),
            "rows_staged": sum(b["rows_staged"] for b in counted),
            "rows_quarantined": sum(b["rows_quarantined"] for b in counted),
            "rows_superseded": sum(b.get("rows_superseded", 0) for b in batches),
            "unreadable_files": sum(b["rows"] is None for b in counted),
        }
        if summary["rows_in"] != summary["rows_staged"] + summary["rows_quarantined"]:  # an invariant, never user input
            raise RuntimeError(f"validate {vendor} {task_name} {day}: rows do not reconcile: {summary}")
        store.write_json(staged.key(lay.validate_report(task_name, day, vendor)), {**summary, "batches": batches})
    return summary, batches


# --------------------------------------------------------------------------- data docs
def build_docs(store: Store, site_dir: Any = None) -> Any:
    """Render every stored validation result (staged ``*.validation.json`` and the GX result in
    quarantine ``*.reason.json``) as GX Data Docs; returns the site's ``index.html``.

    The site goes to ``site_dir`` or ``<root>/docs/gx`` (local roots). Stored results never hold
    unexpected values of personal-data columns (see :func:`pipeline.validate.gx.scrub`).
    """
    from pathlib import Path

    from pipeline.validate.gx import build_data_docs

    results: list[tuple[str, dict[str, Any]]] = []
    staged = store.layout.staged_root()
    for key in store.committed_files(staged.as_posix(), VALIDATION_SUFFIX, hidden=True):
        name = PurePosixPath(key)
        if (stem := Layout.validation_stem(name.name)) is None:
            continue
        results.append(((name.parent / stem).relative_to(staged.as_posix()).as_posix(), store.read_json(key)))
    for key in store.committed_files(store.layout.quarantine_root().as_posix(), REASON_SUFFIX):
        doc = store.read_json(key)
        if doc.get("gx_result"):
            results.append((key.removesuffix(REASON_SUFFIX), doc["gx_result"]))
    if site_dir is None:
        if not store.is_local:
            raise ValueError(f"{store.uri}: give a local folder for the Data Docs site of an object-store root")
        site_dir = store.local_path(store.layout.gx_docs())
    return build_data_docs(sorted(results, key=lambda r: r[0]), Path(site_dir))
