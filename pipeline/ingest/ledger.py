"""The ingestion ledger: which delivered file (by SHA-256) produced which staged rows.

One JSON document per vendor and day, ``ledger/vendor=<v>/date=<D>.json``, written atomically
by that day's ingest and validate stages (each run owns its own document, so concurrent runs
of different days never write the same object). The ledger of a vendor is the union of its
documents. Entries look like::

    {"file": "landing/acme/2026-11-02/b7.parquet", "sha256": "...", "date": "2026-11-02",
     "batch_id": "acme-20261101-02", "status": "staged", "rows_in": 120, "rows_staged": 118,
     "rows_quarantined": 2, "staged_output": "staged/sentiment/date=2026-11-02/vendor=acme/b7.parquet",
     "duplicate_of": null, "supersedes": [{"file": ..., "sha256": ..., "date": "2026-11-01"}],
     "superseded_by": null}

Each document records its own day only (ingest and validate are day-local): the same bytes
delivered twice that day -> ``duplicate`` (a recorded no-op); of the day's accepted deliveries
of one batch id the last file wins and the others are ``superseded`` (pointers both ways).
Across days the same rules (and repeated (item, annotator) pairs) are applied when the
history is read, by :mod:`pipeline.history`, so processing one day never rewrites another's
documents or partitions.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.ingest.canonical import FileRecord
from pipeline.storage import Store

#: Statuses of entries that produced an outcome (everything but no-op duplicates).
PRIMARY = frozenset({"ingested", "staged", "partially_quarantined", "quarantined", "rejected", "superseded"})

Entry = dict[str, Any]


def read_ledger(store: Store, vendor: str, *, exclude: date | None = None) -> list[Entry]:
    """Every entry of ``vendor`` over all days (but ``exclude``), oldest first."""
    skip = store.layout.ledger(vendor, exclude).as_posix() if exclude else None
    entries: list[Entry] = []
    for key in store.list_files(store.layout.ledger_vendor(vendor).as_posix(), ".json"):
        if key != skip and not key.rsplit("/", 1)[-1].startswith("."):
            try:
                entries.extend(store.read_json(key)["entries"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{store.location(key)}: corrupt ledger document ({type(exc).__name__}: {exc}); "
                                 f"re-run ingest and validate of vendor {vendor!r} for that day to rewrite it") from None
    return sorted(entries, key=lambda e: (e["date"], e["file"]))


def write_ledger_day(store: Store, vendor: str, day: date, entries: list[Entry]) -> str:
    """Replace the ledger document of ``vendor`` and ``day`` atomically; returns its key."""
    key = store.layout.ledger(vendor, day).as_posix()
    store.write_json(key, {"vendor": vendor, "date": day.isoformat(), "entries": entries})
    return key


def _ref(e: Entry) -> dict[str, Any]:
    return {"file": e["file"], "sha256": e["sha256"], "date": e["date"], "batch_id": e["batch_id"]}


def duplicate_of(sha: str, *, earlier: list[Entry], task: str | None = None) -> dict[str, Any] | None:
    """The entry that first delivered these bytes for ``task``, if any (``earlier``: other days + this
    day so far; entries without a task count for every task)."""
    for e in earlier:
        if e["sha256"] == sha and e["status"] in PRIMARY and (task is None or e.get("task") in (None, task)):
            return _ref(e)
    return None


def ledger_entry(rec: FileRecord | dict[str, Any], day: date, **extra: Any) -> dict[str, Any]:
    """One ledger entry of a delivery (an ingest :class:`FileRecord` or a validate batch entry) on ``day``."""
    r = rec.to_dict() if isinstance(rec, FileRecord) else dict(rec)
    keep = ("file", "task", "sha256", "batch_id", "status", "reason", "duplicate_of", "supersedes", "superseded_by")
    return {**{k: r.get(k) for k in keep}, "date": day.isoformat(), "rows_in": r.get("rows"), **extra}
