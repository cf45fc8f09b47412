"""The ingest stage for one vendor and day (``steps.ingest``): every complete file in
``landing/<vendor>/<day>/`` into ``ingested/date=<D>/vendor=<v>/``.

Names that escape the folder are rejected; each file gets its SHA-256, is a no-op if the ledger
already holds these bytes, has its footer checked against the vendor's column contract, and is
streamed through the vendor adapter (:mod:`pipeline.ingest.canonical`) into
``<stem>.parquet`` (canonical columns + ``_source_row``, ``_claimed_vendor``, ``_issue``,
``_key``), recorded in ``_ingest.json`` and the ledger. Day-local: only the day's own repeats
are settled here. Storage goes through :class:`~pipeline.storage.Store` (a local folder or
``s3://``); files are streamed in record batches, so memory is bounded by the batch size.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import LabelqConfig, TaskConfig, VendorConfig
from pipeline.ingest.canonical import (
    DEFAULT_BATCH_ROWS,
    ContractError,
    FileRecord,
    check_contract,
    ingested_with_key,
    intermediate_options,
    iter_delivery,
    map_batch,
    open_delivery,
    pair_keys,
)
from pipeline.kinds import LabelKind
from pipeline.ingest.ledger import duplicate_of, ledger_entry, read_ledger, write_ledger_day
from pipeline.storage import Store, in_background

log = logging.getLogger("labelq")


def _write_with_key(writer: pq.ParquetWriter, canon: pa.Table) -> None:
    """Append the (item_id, annotator_id) duplicate key and write the batch (on the writer thread)."""
    keys = pair_keys(canon["item_id"], canon["annotator_id"])
    writer.write_table(canon.append_column("_key", pa.array(keys, pa.uint64())))


def _ingest_file(store: Store, key: str, out_key: str, *, vendor_name: str, vcfg: VendorConfig, kind: LabelKind,
                 batch_rows: int, task: TaskConfig | None = None) -> tuple[int, int, str | None, list[str]]:
    """Stream one delivery into ``out_key``; returns (rows, source rows, batch id if single, extra columns)."""
    with store.open_input(key) as fh:
        pf = open_delivery(fh, file=key)
        try:
            return _ingest_open_file(store, pf, key, out_key, vendor_name=vendor_name, vcfg=vcfg, kind=kind,
                                     batch_rows=batch_rows, task=task)
        except ContractError as exc:  # after the footer was read: its rows are counted as quarantined
            exc.rows = pf.metadata.num_rows  # type: ignore[attr-defined]
            raise


def _ingest_open_file(store: Store, pf: pq.ParquetFile, key: str, out_key: str, *, vendor_name: str,
                      vcfg: VendorConfig, kind: LabelKind, batch_rows: int,
                      task: TaskConfig | None = None) -> tuple[int, int, str | None, list[str]]:
    """:func:`_ingest_file` once the footer was read."""
    extra = check_contract(pf.schema_arrow, vcfg, file=key, kind=kind)
    stem = PurePosixPath(key).stem
    rows, batch_ids = 0, set[str]()
    with store.parquet_writer(out_key, ingested_with_key(kind), **intermediate_options(kind)) as writer, \
            in_background() as submit:
        for flat, parent in iter_delivery(pf, vcfg, file=key, batch_rows=batch_rows):
            try:
                canon = map_batch(flat, task=vcfg.task_name, vendor_name=vendor_name, vendor=vcfg, batch_id=stem,
                                  source_file=key, source_rows=parent, kind=kind, task_config=task)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                first = int(parent[0]) if len(parent) else 0
                raise ContractError("bad_values", f"{key}: rows {first}..{first + len(parent) - 1}: values cannot be "
                                    f"mapped to the canonical schema: {exc}") from None
            submit(_write_with_key, writer, canon)
            batch_ids.update(v for v in pc.unique(canon["batch_id"]).to_pylist() if v is not None)
            rows += canon.num_rows
    source_rows = pf.metadata.num_rows
    return rows, source_rows, (batch_ids.pop() if len(batch_ids) == 1 else None), extra


def ingest_day(config: LabelqConfig, store: Store, day: date, vendor: str, *,
               batch_rows: int = DEFAULT_BATCH_ROWS, strict: bool = False) -> dict[str, Any]:
    """See the module docstring; returns the JSON-able summary (no per-file list).

    Day-local: what is written for ``day`` depends only on ``landing/<vendor>/<day>/`` (and the
    config), never on other days, so days can be ingested in any order or at once. Bytes
    delivered twice the same day are a recorded no-op here; repeats across days, and
    re-deliveries of a batch id, are settled when the history is read (:mod:`pipeline.history`).
    A vendor whose landing folder does not exist is warned about (``strict``: ``ValueError``).
    """
    vcfg = config.vendors[vendor]
    feeds = vcfg.feeds()
    lay = store.layout
    vendor_folder = lay.vendor_landing(vcfg).as_posix()
    if not store.is_dir(vendor_folder):
        msg = (f"vendor {vendor!r}: landing folder {store.location(vendor_folder)} does not exist, so it delivered "
               f"nothing on {day}; check vendors.{vendor}.landing in the config and the storage root")
        if strict:
            raise ValueError(msg + " (--strict)")
        log.warning("ingest %s", msg)
    files, escaped = store.complete_files(lay.landing(vcfg, day).as_posix(), owner=vendor_folder)
    if (other := _shared_landing(config, store, vendor)) is not None:
        files, escaped = [], [(lay.landing(vcfg, day).as_posix(), "path_escape",
                               f"{vendor_folder}: resolves to {other[1]}, the folder of vendor {other[0]!r}; rejected, "
                               f"nothing read (each vendor's landing folder must be its own)")]
    records: list[FileRecord] = []
    with store.replace_dir(lay.ingested(day, vendor).as_posix()) as out:
        for key, reason, why in escaped:
            for task in feeds:
                records.append(FileRecord(file=key, sha256=None, batch_id=PurePosixPath(key).stem, rows=None,
                                          status="rejected", reason=reason, detail=why, task=task))
            log.warning("ingest %s: %s", vendor, why)
        for key in files:
            stem = PurePosixPath(key).stem
            sha = store.sha256(key)
            for task, feed in feeds.items():  # one delivery, one canonical file per task it feeds
                rec = FileRecord(file=key, sha256=sha, batch_id=stem, rows=None, status="ingested", task=task)
                records.append(rec)
                dup = duplicate_of(sha, earlier=[ledger_entry(r, day) for r in records[:-1] if r.sha256], task=task)
                if dup is not None:
                    rec.status, rec.reason, rec.duplicate_of = "duplicate", "duplicate_file", dup
                    rec.detail = (f"{key}: same bytes (SHA-256 {sha[:12]}) as {dup['file']} delivered {dup['date']}; "
                                  "recorded as a no-op")
                    continue
                name = lay.ingested_file(stem, task if vcfg.feeds_several else None)
                try:
                    rec.rows, rec.source_rows, batch_id, rec.extra_columns = _ingest_file(
                        store, key, out.key(lay.ingested(day, vendor) / name), vendor_name=vendor, vcfg=feed,
                        kind=config.tasks[task].label_kind, batch_rows=batch_rows, task=config.tasks[task])
                    rec.batch_id = batch_id or stem
                    rec.output = name
                except ContractError as exc:
                    rec.status, rec.reason, rec.detail = "rejected", exc.reason, str(exc)
                    rec.rows = getattr(exc, "rows", None)
                    log.warning("ingest %s: rejected %s", vendor, exc)
        summary = {
            "stage": "ingest", "vendor": vendor, "task": vcfg.task, **({"tasks": sorted(feeds)} if vcfg.feeds_several else {}),
            "date": day.isoformat(),
            "landing_folder_exists": store.is_dir(vendor_folder),
            "files": [r.to_dict() for r in records],
            "files_ingested": sum(r.status == "ingested" for r in records),
            "files_rejected": sum(r.status == "rejected" for r in records),
            "files_duplicate": sum(r.status == "duplicate" for r in records),
        }
        store.write_json(out.key(lay.ingest_report(day, vendor)), summary)
    write_ledger_day(store, vendor, day, [ledger_entry(r, day) for r in records])
    log.info("ingest %s %s: %d file(s), %d ingested, %d rejected, %d duplicate", vendor, day, len(records),
             summary["files_ingested"], summary["files_rejected"], summary["files_duplicate"])
    return {k: v for k, v in summary.items() if k != "files"}


def _shared_landing(config: LabelqConfig, store: Store, vendor: str) -> tuple[str, str] | None:
    """``(other vendor, real path)`` if ``vendor``'s landing folder resolves into (or over) another
    vendor's (a symlinked folder would attribute that vendor's files to this one); local roots only."""
    if not store.is_local:
        return None
    import os

    def real(v: str) -> str:
        return os.path.realpath(store.path(store.layout.vendor_landing(config.vendors[v]).as_posix()))

    mine = real(vendor)
    for other in config.vendors:
        theirs = real(other)
        if other != vendor and os.path.commonpath([mine, theirs]) in (mine, theirs):
            return other, theirs
    return None
