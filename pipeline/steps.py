"""One function per stage: storage at the edges, pure calls in between.

The Airflow DAG and the ``labelq`` CLI both call these, so there is one code path. Each
returns a small JSON-able summary (what Airflow passes through XCom: paths and counts,
never data) and each replaces its own output partition whole, so a re-run overwrites.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline import __version__
from pipeline.accuracy import gold_accuracy
from pipeline.config import LabelqConfig
from pipeline.ingest import ContractError, FileRecord, check_contract, read_delivery, to_canonical
from pipeline.publish import write_version
from pipeline.schema import ANNOTATIONS, CURATED, GOLD
from pipeline.storage import (
    Layout,
    atomic_write_json,
    list_complete_files,
    partition_files,
    read_json,
    read_parquet_files,
    replace_dir,
    sha256_file,
    write_parquet,
)

log = logging.getLogger("labelq")

INGEST_REPORT = "_ingest.json"
VALIDATE_REPORT = "_validate.json"


def _vendor(config: LabelqConfig, vendor: str):
    if vendor not in config.vendors:
        raise ValueError(f"unknown vendor {vendor!r}; configured vendors: {sorted(config.vendors)}")
    return config.vendors[vendor]


def _task(config: LabelqConfig, task: str):
    if task not in config.tasks:
        raise ValueError(f"unknown task {task!r}; configured tasks: {sorted(config.tasks)}")
    return config.tasks[task]


# --------------------------------------------------------------------------- ingest
def ingest(config: LabelqConfig, root: Path, day: date, vendor: str) -> dict[str, Any]:
    """Map ``vendor``'s files delivered on ``day`` onto the canonical schema.

    Writes ``ingested/date=<day>/vendor=<vendor>/`` (one canonical Parquet per accepted file
    plus ``_ingest.json`` recording every file: SHA-256, rows, status and reason).
    """
    vcfg = _vendor(config, vendor)
    layout = Layout(root)
    files = list_complete_files(layout.landing(vcfg, day))
    records: list[FileRecord] = []
    seen: dict[str, str] = {}
    with replace_dir(layout.ingested(day, vendor)) as out:
        for path in files:
            rel = layout.relative(path)
            sha = sha256_file(path)
            rec = FileRecord(file=rel, sha256=sha, batch_id=path.stem, rows=None, status="ingested")
            if sha in seen:
                rec.status, rec.reason = "duplicate", "duplicate_file"
                rec.detail = f"{rel}: same bytes as {seen[sha]}; recorded as a no-op"
                records.append(rec)
                continue
            seen[sha] = rel
            try:
                table = read_delivery(path)
                rec.rows = table.num_rows
                rec.extra_columns = check_contract(table.schema, vcfg, file=rel)
                try:
                    canon = to_canonical(table, task=vcfg.task, vendor_name=vendor, vendor=vcfg, batch_id=path.stem, source_file=rel)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                    raise ContractError("bad_values", f"{rel}: values cannot be mapped to the canonical schema: {exc}") from None
            except ContractError as exc:
                rec.status, rec.reason, rec.detail = "rejected", exc.reason, str(exc)
                log.warning("ingest %s: rejected %s", vendor, exc)
            else:
                batch_ids = canon.column("batch_id").unique().to_pylist()
                rec.batch_id = batch_ids[0] if len(batch_ids) == 1 else path.stem
                target = out / f"{path.stem}.parquet"
                write_parquet(canon, target)
                rec.output = target.name
            records.append(rec)
        summary = {
            "stage": "ingest", "vendor": vendor, "task": vcfg.task, "date": day.isoformat(),
            "files": [r.to_dict() for r in records],
            "files_ingested": sum(r.status == "ingested" for r in records),
            "files_rejected": sum(r.status == "rejected" for r in records),
            "files_duplicate": sum(r.status == "duplicate" for r in records),
        }
        atomic_write_json(out / INGEST_REPORT, summary)
    log.info("ingest %s %s: %d file(s), %d ingested, %d rejected", vendor, day, len(records),
             summary["files_ingested"], summary["files_rejected"])
    return {k: v for k, v in summary.items() if k != "files"}


# --------------------------------------------------------------------------- validate
def validate(config: LabelqConfig, root: Path, day: date, vendor: str) -> dict[str, Any]:
    """Validate each ingested batch with the GX suite; stage good batches, quarantine the rest.

    Writes ``staged/<task>/date=<day>/vendor=<vendor>/`` (accepted batches + ``_validate.json``)
    and ``quarantine/date=<day>/vendor=<vendor>/`` (the original file, byte for byte, and
    ``<file>.reason.json`` with the reason and GX's result). Rows reconcile exactly:
    ``rows_in == rows_staged + rows_quarantined``.
    """
    from pipeline.validate import describe, validate_frame

    vcfg = _vendor(config, vendor)
    task = _task(config, vcfg.task)
    layout = Layout(root)
    ingested = layout.ingested(day, vendor)
    report_path = ingested / INGEST_REPORT
    if not report_path.is_file():
        raise FileNotFoundError(f"{report_path}: no ingest report; run the ingest stage for {vendor} {day} first")
    report = read_json(report_path)
    params = {"label_set": task.labels, "vendor_set": [vendor], "task_set": [vcfg.task]}
    batches: list[dict[str, Any]] = []
    with replace_dir(layout.staged(vcfg.task, day, vendor)) as staged, replace_dir(layout.quarantine(day, vendor)) as quarantine:
        for rec in report["files"]:
            entry = {k: rec[k] for k in ("file", "sha256", "batch_id", "rows")}
            if rec["status"] == "duplicate":
                batches.append({**entry, "status": "duplicate", "reason": rec["reason"], "detail": rec["detail"]})
                continue
            if rec["status"] == "rejected":
                reason, detail, failures, gx_result = rec["reason"], rec["detail"], [], None
            else:
                table = read_parquet_files([ingested / rec["output"]], ANNOTATIONS)
                outcome = validate_frame(table.to_pandas(), parameters=params)
                if outcome.success:
                    write_parquet(table, staged / rec["output"])
                    batches.append({**entry, "status": "staged", "reason": None, "detail": None})
                    continue
                reason, failures, gx_result = "validation_failed", outcome.failures, outcome.result
                detail = describe(failures, file=rec["file"])
            src = root / rec["file"]
            shutil.copyfile(src, quarantine / src.name)
            atomic_write_json(
                quarantine / f"{src.name}.reason.json",
                {"file": rec["file"], "sha256": rec["sha256"], "vendor": vendor, "task": vcfg.task,
                 "date": day.isoformat(), "batch_id": rec["batch_id"], "rows": rec["rows"], "reason": reason,
                 "detail": detail, "failures": failures, "gx_result": gx_result},
            )
            log.warning("validate %s: quarantined %s: %s", vendor, rec["file"], detail)
            batches.append({**entry, "status": "quarantined", "reason": reason, "detail": detail})
        counted = [b for b in batches if b["status"] != "duplicate"]
        summary = {
            "stage": "validate", "vendor": vendor, "task": vcfg.task, "date": day.isoformat(),
            "batches_staged": sum(b["status"] == "staged" for b in batches),
            "batches_quarantined": sum(b["status"] == "quarantined" for b in batches),
            "batches_duplicate": sum(b["status"] == "duplicate" for b in batches),
            "rows_in": sum(b["rows"] or 0 for b in counted),
            "rows_staged": sum(b["rows"] or 0 for b in counted if b["status"] == "staged"),
            "rows_quarantined": sum(b["rows"] or 0 for b in counted if b["status"] == "quarantined"),
            "unreadable_files": sum(b["rows"] is None for b in counted),
        }
        atomic_write_json(staged / VALIDATE_REPORT, {**summary, "batches": batches})
    log.info("validate %s %s: %d batch(es) staged, %d quarantined (%d of %d rows staged)", vendor, day,
             summary["batches_staged"], summary["batches_quarantined"], summary["rows_staged"], summary["rows_in"])
    return summary


# --------------------------------------------------------------------------- helpers for task-level stages
def read_staged(root: Path, task: str, *, day: date | None = None, until: date | None = None) -> pd.DataFrame:
    """Staged annotations of ``task``: for one ``day``, or for every day up to ``until``."""
    base = Layout(root).staged_task(task)
    files = partition_files(base)
    if day is not None:
        files = [f for f in files if f.relative_to(base).parts[0] == f"date={day.isoformat()}"]
    if until is not None:
        files = [f for f in files if f.relative_to(base).parts[0] <= f"date={until.isoformat()}"]
    return read_parquet_files(files, ANNOTATIONS).to_pandas()


def read_gold(root: Path, task: str) -> pd.DataFrame:
    path = Layout(root).gold(task)
    if not path.is_file():
        return GOLD.empty_table().to_pandas()
    gold = read_parquet_files([path], GOLD).to_pandas()
    return gold[gold["task"] == task].reset_index(drop=True)


def validation_reports(root: Path, task: str, *, day: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    base = Layout(root).staged_task(task)
    if not base.is_dir():
        return []
    reports = []
    for p in sorted(base.glob(f"date=*/vendor=*/{VALIDATE_REPORT}")):
        d = p.parent.parent.name.removeprefix("date=")
        if (day is None or d == day.isoformat()) and (until is None or d <= until.isoformat()):
            reports.append(read_json(p))
    return reports


# --------------------------------------------------------------------------- measure
def measure(config: LabelqConfig, root: Path, day: date, task: str) -> dict[str, Any]:
    """Agreement (overall and per vendor) and gold accuracy (per vendor and annotator) for ``day``.

    Writes ``metrics/<task>/date=<day>/``: agreement.parquet, accuracy_vendor.parquet,
    accuracy_annotator.parquet and summary.json.
    """
    from pipeline.agreement import agreement_table

    tcfg = _task(config, task)
    ann = read_staged(root, task, day=day)
    gold = read_gold(root, task)
    agreement = agreement_table(ann, level=tcfg.level, label_order=tcfg.labels, by="vendor")
    vendor_acc = gold_accuracy(ann, gold, by=["vendor"])
    annotator_acc = gold_accuracy(ann, gold, by=["vendor", "annotator_id"])
    reports = validation_reports(root, task, day=day)
    overall = agreement[agreement["scope"] == "overall"].set_index("metric")["value"]
    summary = {
        "stage": "measure", "task": task, "date": day.isoformat(), "labels": len(ann),
        "items": int(ann["item_id"].nunique()), "level": tcfg.level,
        "batches_staged": sum(r["batches_staged"] for r in reports),
        "batches_quarantined": sum(r["batches_quarantined"] for r in reports),
        "rows_in": sum(r["rows_in"] for r in reports),
        "rows_staged": sum(r["rows_staged"] for r in reports),
        "rows_quarantined": sum(r["rows_quarantined"] for r in reports),
        "agreement": {k: (None if pd.isna(v) else float(v)) for k, v in overall.items()},
        "gold_accuracy": {
            r.vendor: {"accuracy": None if pd.isna(r.accuracy) else float(r.accuracy), "n_gold": int(r.n_gold),
                       "ci_low": None if pd.isna(r.ci_low) else float(r.ci_low),
                       "ci_high": None if pd.isna(r.ci_high) else float(r.ci_high)}
            for r in vendor_acc.itertuples()
        },
    }
    with replace_dir(Layout(root).metrics(task, day)) as out:
        write_parquet(pa.Table.from_pandas(agreement, preserve_index=False), out / "agreement.parquet")
        write_parquet(pa.Table.from_pandas(vendor_acc, preserve_index=False), out / "accuracy_vendor.parquet")
        write_parquet(pa.Table.from_pandas(annotator_acc, preserve_index=False), out / "accuracy_annotator.parquet")
        atomic_write_json(out / "summary.json", summary)
    log.info("measure %s %s: %d labels on %d items, alpha=%s", task, day, summary["labels"], summary["items"],
             summary["agreement"].get("krippendorff_alpha"))
    return summary


# --------------------------------------------------------------------------- merge
def contributing_vendors(annotations: pd.DataFrame, item_ids: pd.Series) -> pd.Series:
    """Comma-joined sorted vendor names that labelled each item in ``item_ids`` (vectorised)."""
    vendors, v_codes = np.unique(annotations["vendor"].to_numpy(dtype=str), return_inverse=True)
    if len(vendors) > 62:
        raise ValueError(f"{len(vendors)} vendors label one task; at most 62 are supported")
    items, i_codes = np.unique(annotations["item_id"].to_numpy(dtype=str), return_inverse=True)
    masks = np.zeros(len(items), dtype=np.int64)
    np.bitwise_or.at(masks, i_codes, np.left_shift(np.int64(1), v_codes.astype(np.int64)))
    names = {m: ",".join(v for b, v in enumerate(vendors) if m >> b & 1) for m in np.unique(masks).tolist()}
    by_item = pd.Series([names[m] for m in masks.tolist()], index=items)
    return by_item.reindex(item_ids.to_numpy()).reset_index(drop=True)


def merge(config: LabelqConfig, root: Path, day: date, task: str) -> dict[str, Any]:
    """Consensus over every staged label of ``task`` up to ``day``; hold out thin items.

    Writes ``consensus/<task>/date=<day>/consensus.parquet``: one row per item with the
    consensus and ``held_out_reason`` (null for items that go into the training set).
    """
    from pipeline.consensus import aggregate

    tcfg = _task(config, task)
    ann = read_staged(root, task, until=day)
    if ann.empty:
        raise ValueError(f"task {task!r}: no staged annotations up to {day}; nothing to merge")
    gold = read_gold(root, task)
    result = aggregate(ann, method=tcfg.consensus, gold=gold if len(gold) else None, labels=tcfg.labels)
    result["vendors"] = contributing_vendors(ann, result["item_id"])
    thin = result["n_annotations"] < tcfg.min_labels_per_item
    result["held_out_reason"] = pd.Series(pd.NA, index=result.index, dtype="string")
    result.loc[thin, "held_out_reason"] = f"fewer than {tcfg.min_labels_per_item} labels"
    with replace_dir(Layout(root).consensus(task, day)) as out:
        write_parquet(pa.Table.from_pandas(result, preserve_index=False), out / "consensus.parquet")
    summary = {"stage": "merge", "task": task, "date": day.isoformat(), "method": tcfg.consensus,
               "items": len(result), "held_out": int(thin.sum()), "labels_used": len(ann)}
    log.info("merge %s %s: %d items by %s, %d held out", task, day, len(result), tcfg.consensus, summary["held_out"])
    return summary


# --------------------------------------------------------------------------- publish
def publish(config: LabelqConfig, root: Path, day: date, task: str) -> dict[str, Any]:
    """Publish the merged labels of ``day`` as training-set version ``<day>`` of ``task``."""
    tcfg = _task(config, task)
    layout = Layout(root)
    cons_path = layout.consensus(task, day) / "consensus.parquet"
    if not cons_path.is_file():
        raise FileNotFoundError(f"{cons_path}: no consensus for {task} {day}; run the merge stage first")
    cons = pd.read_parquet(cons_path)
    kept = cons[cons["held_out_reason"].isna()].sort_values("item_id", ignore_index=True)
    table = pa.Table.from_pandas(kept[CURATED.names].astype({"n_annotations": "int32"}), schema=CURATED, preserve_index=False)
    reports = validation_reports(root, task, until=day)
    metrics_path = layout.metrics(task, day) / "summary.json"
    dates = sorted({r["date"] for r in reports})
    manifest = {
        "task": task,
        "data_interval": {"start": dates[0] if dates else day.isoformat(),
                          "end": (day + timedelta(days=1)).isoformat()},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labelq_version": __version__,
        "config_sha256": config.digest(),
        "consensus": {"method": tcfg.consensus, "min_labels_per_item": tcfg.min_labels_per_item},
        "source_batches": sorted(
            ({"vendor": r["vendor"], "date": r["date"], **b} for r in reports for b in r["batches"]),
            key=lambda b: (b["date"], b["vendor"], b["file"]),
        ),
        "counts": {"items": int(len(cons)), "published": int(len(kept)), "held_out": int(len(cons) - len(kept))},
        "class_balance": {str(k): int(v) for k, v in kept["label"].value_counts().sort_index().items()},
        "quality": read_json(metrics_path) if metrics_path.is_file() else None,
    }
    dest = write_version(root, task, day.isoformat(), table, manifest)
    log.info("publish %s %s: %d items -> %s", task, day, len(kept), dest)
    return {"stage": "publish", "task": task, "date": day.isoformat(), "version": day.isoformat(),
            "path": str(dest), "items": int(len(kept)), "held_out": manifest["counts"]["held_out"]}


# --------------------------------------------------------------------------- the whole day
def run_day(config: LabelqConfig, root: Path, day: date) -> dict[str, Any]:
    """Every stage for ``day``, in-process, in DAG order: per vendor, then per task."""
    results: dict[str, Any] = {"date": day.isoformat(), "vendors": {}, "tasks": {}}
    for vendor in config.vendors:
        results["vendors"][vendor] = {"ingest": ingest(config, root, day, vendor),
                                      "validate": validate(config, root, day, vendor)}
    for task in config.tasks:
        results["tasks"][task] = {stage.__name__: stage(config, root, day, task) for stage in (measure, merge, publish)}
    return results
