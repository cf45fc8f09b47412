"""The staged history of a task as of a day: which deliveries count, read from the staged partitions.

Ingest and validate are day-local (a day's partitions depend on that day's landing folder
only), so days can be processed in any order or at once. What one day's deliveries mean for
another's is settled here, when the history is read, from the ``_validate.json`` of every
staged partition up to the horizon ``until``, in (date, file) order and per vendor:

1. **duplicate file**: an accepted delivery with the same bytes (SHA-256) as an earlier accepted
   delivery of the vendor is withdrawn (``duplicate_of`` points at the first);
2. **superseded**: of the accepted deliveries of one batch id, the latest (date, file) counts and
   the earlier ones are withdrawn (``superseded_by``). Only a delivery that *passed* validation
   supersedes: a re-delivery quarantined whole never withdraws accepted rows (it is listed with
   ``tried_to_supersede``);
3. **duplicate pair**: a row repeating an (item, annotator) pair of the vendor already counted
   from an earlier day is withdrawn (the first label counts).

The same set of staged partitions gives the same rows in the same order, whatever order the days
were processed in. :func:`resolve` also returns the digest of its inputs (every ``_validate.json``
up to the horizon and the gold file): a published version records it, and is *stale* once the
digest of the same horizon differs (an earlier day was processed or re-processed since).

:func:`gaps` finds the days up to a horizon whose landing folders hold deliveries that no
validate report covers: a history with holes is refused (:class:`HistoryGap`), never merged.

:func:`resolve_day` gives one day's rows as of that day without reading the rest of the history
whole (only the earlier deliveries' (item, annotator) pairs, for rule 3): measure and scorecard
use it. ``compact=True`` (both functions) reads every text column as integer codes into its sorted
distinct values, one staged file at a time, and returns pandas categoricals; a kind opts in with
``LabelKind.compact_reads``. Both forms give the same rows in the same order (tested).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrays import first_occurrences
from pipeline.config import LabelqConfig
from pipeline.contract import KEY_FIELDS, TRAIL_FIELDS
from pipeline.storage import INGEST_REPORT, VALIDATE_REPORT, Layout, Store


#: Why a staged row does not count at a horizon (``History.withdrawn`` keys).
WITHDRAWN_REASONS = ("duplicate_file", "superseded", "duplicate_pair")


class HistoryGap(ValueError):
    """Days up to the horizon have deliveries that were not ingested and validated (message names them)."""


@dataclass
class History:
    """What counts of a task's staged data up to ``until``."""

    until: date
    annotations: pd.DataFrame
    #: the staged date of each row of ``annotations`` (ISO strings, as a categorical)
    row_dates: pd.Series
    #: one dict per delivery listed by a validate report: file, vendor, date, batch_id, sha256,
    #: status (validation), resolution (``used`` / ``duplicate_file`` / ``superseded`` /
    #: ``quarantined`` / ...), resolved_by, rows_staged, rows_used
    deliveries: list[dict[str, Any]]
    days: list[str]
    inputs_sha256: str
    withdrawn: dict[str, int] = field(default_factory=dict)

    def day(self, day: date) -> pd.DataFrame:
        """The rows staged on ``day`` that count at this horizon."""
        keep = (self.row_dates == day.isoformat()).to_numpy()
        return self.annotations[keep].reset_index(drop=True)


def _report_keys(store: Store, task: str, until: date | None) -> list[tuple[str, str, str]]:
    """``(date, vendor, key)`` of every committed ``_validate.json`` of ``task`` up to ``until``."""
    base = store.layout.staged_task(task).as_posix()
    out = []
    for key in store.committed_files(base, "/" + VALIDATE_REPORT):
        found = Layout.partition_of(key, base, "date", "vendor")
        if found is None:
            continue
        (d, vendor), _ = found
        if until is None or d <= until.isoformat():
            out.append((d, vendor, key))
    return sorted(out)


@dataclass(frozen=True)
class Reports:
    """The ``_validate.json`` of a task's staged partitions, read once: ``(date, vendor, key)`` and bytes."""

    keys: list[tuple[str, str, str]]
    raw: dict[str, bytes]
    gold_sha256: str

    def upto(self, until: date | str) -> Reports:
        u = until if isinstance(until, str) else until.isoformat()
        return Reports([k for k in self.keys if k[0] <= u], self.raw, self.gold_sha256)

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(self.raw[k].decode("utf-8")) for _, _, k in self.keys]

    def digest(self) -> str:
        """What a version records as ``inputs_sha256``: every report's SHA-256, and the gold file's."""
        h = hashlib.sha256()
        for d, v, k in self.keys:
            h.update(f"{d} {v} {hashlib.sha256(self.raw[k]).hexdigest()}\n".encode())
        h.update(f"gold {self.gold_sha256}\n".encode())
        return h.hexdigest()


def read_reports(store: Store, task: str, until: date | None = None) -> Reports:
    """Every validate report of ``task`` up to ``until`` (all days if None), and the gold file's SHA-256."""
    keys = _report_keys(store, task, until)
    gold = store.layout.gold(task).as_posix()
    return Reports(keys, {k: store.read_bytes(k) for _, _, k in keys}, store.sha256(gold) if store.is_file(gold) else "-")


def validation_reports(store: Store, task: str, *, day: date | None = None,
                       until: date | None = None) -> list[dict[str, Any]]:
    """The ``_validate.json`` of every vendor's staged partition of ``task`` (for ``day`` / up to ``until``)."""
    keys = _report_keys(store, task, until if day is None else day)
    return [store.read_json(k) for d, _, k in keys if day is None or d == day.isoformat()]


def inputs_sha256(store: Store, task: str, until: date) -> str:
    """Digest of what :func:`resolve` reads for ``task`` up to ``until`` (validate reports and gold)."""
    return read_reports(store, task, until).digest()


def _ref(d: dict[str, Any]) -> dict[str, Any]:
    return {"file": d["file"], "sha256": d["sha256"], "date": d["date"], "batch_id": d["batch_id"]}


def _settle(deliveries: list[dict[str, Any]]) -> None:
    """Rules 1 and 2 of the module docstring, in place (``deliveries`` sorted by date, file)."""
    first_by_sha: dict[tuple[str, str], dict[str, Any]] = {}
    accepted = [d for d in deliveries if d["status"] == "staged"]
    for d in accepted:
        first = first_by_sha.setdefault((d["vendor"], d["sha256"]), d)
        if first is not d:
            d.update(resolution="duplicate_file", resolved_by=_ref(first))
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for d in accepted:
        if d["resolution"] == "used":
            latest[(d["vendor"], d["batch_id"])] = d
    for d in accepted:
        winner = latest.get((d["vendor"], d["batch_id"]))
        if d["resolution"] == "used" and winner is not None and winner is not d:
            d.update(resolution="superseded", resolved_by=_ref(winner))
    for d in deliveries:  # a quarantined re-delivery replaces nothing: say what stays
        if d["status"] == "quarantined" and (d["vendor"], d["batch_id"]) in latest:
            kept = latest[(d["vendor"], d["batch_id"])]
            if (kept["date"], kept["file"]) < (d["date"], d["file"]):
                d["tried_to_supersede"] = _ref(kept)


def _deliveries(keys: list[tuple[str, str, str]], reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every delivery the reports list, in (date, vendor, file) order, settled by rules 1 and 2."""
    deliveries: list[dict[str, Any]] = []
    for (d, vendor, _), rep in zip(keys, reports):
        for b in rep["batches"]:
            deliveries.append({"vendor": vendor, "date": d, "file": b["file"], "batch_id": b["batch_id"],
                               "sha256": b["sha256"], "status": b["status"], "rows_staged": b.get("rows_staged") or 0,
                               "staged_output": b.get("staged_output"), "rows_used": 0,
                               "resolution": "used" if b["status"] == "staged" else b["status"], "resolved_by": None})
    deliveries.sort(key=lambda x: (x["date"], x["vendor"], x["file"]))
    _settle(deliveries)
    return deliveries


def _dictionary_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every string column dictionary-encoded (how :func:`resolve` reads a compact history)."""
    return pa.schema([f.with_type(pa.dictionary(pa.int32(), pa.string())) if pa.types.is_string(f.type) else f
                      for f in schema])


def release_memory() -> None:
    """Give freed memory back to the system after a big read: Arrow's pool and glibc's heap (whose
    freed fragments would otherwise stay in the process's resident set and add to every later peak)."""
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        pass


@dataclass
class _Coded:
    """A history read compact: per text column one integer code per row (-1: null) into sorted values;
    the other columns as Arrow arrays. Built one staged file at a time, so no file's strings outlive it."""

    codes: dict[str, np.ndarray]
    values: dict[str, pa.Array]
    other: dict[str, pa.ChunkedArray]
    names: list[str]

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.codes.values()))) if self.codes else len(next(iter(self.other.values())))

    def _pair_keys(self, v: np.ndarray, i: np.ndarray, a: np.ndarray) -> np.ndarray:
        """One int64 per (vendor, item, annotator) code triple (code -1, a null, included)."""
        n_items, n_annotators = len(self.values["item_id"]), len(self.values["annotator_id"])
        key = v.astype(np.int64) * (n_items + 1)
        key += i + 1
        key *= n_annotators + 1
        key += a + 1
        return key

    def first_of_pairs(self) -> np.ndarray:
        """Rule 3 on codes: the first row of every (vendor, item, annotator), one int64 per pair."""
        keys = self._pair_keys(self.codes["vendor"], self.codes["item_id"], self.codes["annotator_id"])
        bound = (len(self.values["vendor"]) + 1) * (len(self.values["item_id"]) + 1) * (len(self.values["annotator_id"]) + 1)
        return first_occurrences(keys, bound=bound)

    def withdraw_seen(self, keep: np.ndarray, earlier: Iterable[tuple[str, pa.Table]]) -> None:
        """Rule 3 against earlier deliveries, in place: clear ``keep`` where a row repeats a pair of
        ``(vendor, table of item_id, annotator_id)``. An earlier pair is looked up among these rows'
        codes (pairs with an item or annotator these rows lack cannot repeat; nulls match nulls, as
        the full resolution's grouping has it)."""
        vendors = self.values["vendor"].to_pylist()
        mine: np.ndarray | None = None
        for vendor, pairs in earlier:
            if vendor not in vendors or not pairs.num_rows:
                continue
            if mine is None:
                mine = self._pair_keys(self.codes["vendor"], self.codes["item_id"], self.codes["annotator_id"])
            i = pc.fill_null(pc.index_in(pairs["item_id"], value_set=self.values["item_id"]), -1).to_numpy()
            a = pc.fill_null(pc.index_in(pairs["annotator_id"], value_set=self.values["annotator_id"]), -1).to_numpy()
            known = (i >= 0) & ((a >= 0) | pc.is_null(pairs["annotator_id"]).to_numpy(zero_copy_only=False))
            if not known.any():
                continue
            theirs = self._pair_keys(np.full(int(known.sum()), vendors.index(vendor)), i[known], a[known])
            keep[np.isin(mine, theirs)] = False

    def frame(self, keep: np.ndarray) -> pd.DataFrame:
        """The rows ``keep`` selects as pandas: text columns as categoricals with sorted categories,
        so sorting, grouping and comparing them give what the strings give. Consumes the codes
        (each column's are dropped once its categorical is built) and copies nothing more: the
        frame's columns are those categoricals, so the peak is the codes plus one column."""
        every = bool(keep.all())
        mask = pa.array(keep)
        cols: dict[str, Any] = {}
        for name in self.names:
            if name in self.codes:
                cats = pd.Index(self.values[name].to_pandas(), dtype="str")
                codes = self.codes.pop(name)
                cols[name] = pd.Categorical.from_codes(codes if every else codes[keep], categories=cats)
                del codes
            else:
                cols[name] = (self.other.pop(name) if every else self.other.pop(name).filter(mask)).to_pandas()
        return pd.DataFrame(cols, copy=False)


def _read_coded(store: Store, task: str, used: list[dict[str, Any]], schema: pa.Schema) -> tuple[_Coded, list[int]]:
    """The staged rows of ``used`` as :class:`_Coded` and the rows of each delivery (see :func:`resolve` ``compact``).

    Each file's dictionary indices go straight into one preallocated int32 array per column (sized by
    the reports' ``rows_staged``, grown if a file holds more), chunk by chunk: Arrow gives every
    batch of a Parquet column chunk the same dictionary object, so a dictionary is kept (and later
    remapped) once however many batches use it, and nothing is unified or concatenated per file.
    Once every file's values are known, each segment is remapped in place onto the sorted union.
    """
    text = [f.name for f in schema if pa.types.is_string(f.type)]
    as_read = _dictionary_schema(schema)
    capacity = sum(int(x.get("rows_staged") or 0) for x in used)
    codes = {n: np.empty(capacity, dtype=np.int32) for n in text}
    dictionaries: dict[str, list[pa.Array]] = {n: [] for n in text}
    seen: dict[str, dict[tuple[int, ...], int]] = {n: {} for n in text}  # a dictionary's buffers -> its number
    segments: dict[str, list[tuple[int, int, int]]] = {n: [] for n in text}  # (start, end, dictionary number)
    other: dict[str, list[pa.Array]] = {f.name: [] for f in schema if f.name not in text}
    sizes: list[int] = []
    start = 0
    for x in used:
        t = _read_used(store, task, x, schema=as_read)
        end = start + t.num_rows
        if end > capacity:  # more rows than the report says: grow (never drop a row)
            capacity = max(end, 2 * capacity)
            codes = {n: np.resize(c, capacity) for n, c in codes.items()}
        for name in text:
            at = start
            for chunk in t[name].chunks:
                d = chunk.dictionary
                # the same buffers, offset and length are the same values; every dictionary kept
                # stays alive until the remap, so a buffer address cannot be reused meanwhile
                ident = (d.offset, len(d), *(b.address if b is not None else 0 for b in d.buffers()))
                number = seen[name].get(ident)
                if number is None:
                    number = seen[name][ident] = len(dictionaries[name])
                    dictionaries[name].append(d)
                codes[name][at:at + len(chunk)] = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
                segments[name].append((at, at + len(chunk), number))
                at += len(chunk)
        for name in other:
            other[name].extend(t[name].chunks)
        sizes.append(t.num_rows)
        start = end
        del t
    values = {}
    for name in text:
        every = pa.concat_arrays(dictionaries[name]) if dictionaries[name] else pa.array([], pa.string())
        encoded = pc.dictionary_encode(every)  # one hash pass: every value -> its distinct value
        order = pc.array_sort_indices(encoded.dictionary).to_numpy()  # UTF-8 byte order = code point order = Python's
        ordered = encoded.dictionary.take(pa.array(order))
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        to_global = rank[encoded.indices.to_numpy(zero_copy_only=False)]
        bounds = np.cumsum([0, *(len(d) for d in dictionaries[name])])
        mappings = [np.append(to_global[bounds[i]:bounds[i + 1]], np.int32(-1))  # a null's -1 picks the appended -1
                    for i in range(len(dictionaries[name]))]
        column = codes[name]
        for lo, hi, number in segments[name]:
            column[lo:hi] = mappings[number][column[lo:hi]]
        values[name] = ordered
        dictionaries[name], seen[name] = [], {}
    arrays = {n: pa.chunked_array(c, schema.field(n).type) for n, c in other.items()}
    return _Coded({n: c[:start] for n, c in codes.items()}, values, arrays, schema.names), sizes


def _read_used(store: Store, task: str, x: dict[str, Any], *, schema: pa.Schema | None = None,
               columns: list[str] | None = None) -> pa.Table:
    """The staged rows of used delivery ``x`` (errors name the partition and how to rebuild it)."""
    if not store.is_file(x["staged_output"]):  # a damaged partition: never drop its rows silently
        raise FileNotFoundError(
            f"{store.location(x['staged_output'])}: staged rows of {x['file']} are missing, but "
            f"{store.layout.validate_report(task, date.fromisoformat(x['date']), x['vendor']).as_posix()} lists them; re-run "
            f"ingest and validate of {x['vendor']} {x['date']} (`labelq run --date {x['date']}`)")
    try:
        if columns is not None:
            return store.read_parquet(x["staged_output"], columns=columns)
        if schema is None:
            return store.read_parquet(x["staged_output"])
        # as written when that is ``schema`` (the usual case: the stage wrote it so); reading with
        # ``schema=`` goes through the dataset scanner and costs 2-3x the plain read
        as_dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        table = store.read_parquet(x["staged_output"], read_dictionary=as_dictionary or None)
        if table.schema.remove_metadata().equals(schema.remove_metadata()):
            return table
        return store.read_parquet(x["staged_output"], schema=schema)  # older files: cast on read
    except (pa.ArrowInvalid, OSError) as exc:  # a damaged partition: name it and how to rebuild it
        raise ValueError(
            f"{store.location(x['staged_output'])}: the staged file cannot be read ({exc}); staged "
            f"partitions are rebuilt from landing: re-run ingest and validate of {x['vendor']} {x['date']} "
            f"(`labelq run --date {x['date']}`)") from None


def _first_of_pairs(table: pa.Table) -> np.ndarray:
    """Rule 3 within ``table`` (rows in staged order): a mask of the first row of every (vendor, item, annotator)."""
    keep = np.ones(table.num_rows, dtype=bool)
    if not table.num_rows:
        return keep
    pair = ["vendor", "item_id", "annotator_id"]
    # Arrow hash aggregation: the smallest row number of every pair; exact, no per-row Python
    rows = table.select(pair).append_column("_row", pa.array(np.arange(table.num_rows)))
    first_rows = rows.group_by(pair, use_threads=True).aggregate([("_row", "min")])["_row_min"].to_numpy()
    if len(first_rows) < table.num_rows:
        keep[:] = False
        keep[first_rows] = True
    return keep


def resolve(store: Store, task: str, until: date, *, schema: pa.Schema | None = None, compact: bool = False) -> History:
    """The rows of ``task`` that count up to ``until`` (see the module docstring), in staged order.

    ``schema``: the task's staged annotations (``kind.annotations``), which every file is read as;
    None reads them as written (and gives only the shared columns when nothing is staged).
    ``compact`` (with a ``schema``): string columns come as pandas categoricals with sorted
    categories (integer codes; a fraction of the memory of Python strings for a long history).
    """
    read = read_reports(store, task, until)
    keys = read.keys
    deliveries = _deliveries(keys, read.docs())
    present = [x for x in deliveries if x["resolution"] == "used" and x["staged_output"]]
    coded: _Coded | None = None
    if compact and schema is not None:  # integer codes, one file at a time (a long history's strings never all in memory)
        coded, sizes = _read_coded(store, task, present, schema)
        keep = coded.first_of_pairs()
    else:
        tables = [_read_used(store, task, x, schema=schema) for x in present]
        sizes = [t.num_rows for t in tables]
        table = pa.concat_tables(tables) if tables else (schema or pa.schema([*KEY_FIELDS, *TRAIL_FIELDS])).empty_table()
        del tables
        # rule 3: the first (date, file, row) label of a vendor's (item, annotator) pair counts
        keep = _first_of_pairs(table)
        if not keep.all():
            table = table.filter(pa.array(keep))
    origin = np.repeat(np.arange(len(sizes)), sizes)  # which used delivery each row came from
    per_delivery_kept = np.bincount(origin[keep], minlength=len(sizes))
    per_delivery_all = np.bincount(origin, minlength=len(sizes))
    for x, n_kept, n_all in zip(present, per_delivery_kept.tolist(), per_delivery_all.tolist()):
        x["rows_used"] = n_kept
        if n_all > n_kept:
            x["rows_duplicate_pair"] = n_all - n_kept
    if coded is not None:
        ann = coded.frame(keep)
        del coded
        release_memory()
    else:
        ann = table.to_pandas()
    day_names = sorted({x["date"] for x in present})
    day_index = {d: i for i, d in enumerate(day_names)}
    day_code = np.array([day_index[x["date"]] for x in present], dtype=np.int16)
    row_dates = pd.Series(pd.Categorical.from_codes(day_code[origin[keep]], categories=pd.Index(day_names, dtype="str")))
    repeat = ~keep
    withdrawn = {
        "duplicate_file": sum(x["rows_staged"] for x in deliveries if x["resolution"] == "duplicate_file"),
        "superseded": sum(x["rows_staged"] for x in deliveries if x["resolution"] == "superseded"),
        "duplicate_pair": int(repeat.sum()),
    }
    return History(until=until, annotations=ann, row_dates=row_dates, deliveries=deliveries,
                   days=sorted({d for d, _, _ in keys}), inputs_sha256=read.digest(),
                   withdrawn=withdrawn)


def resolve_day(store: Store, task: str, day: date, *, schema: pa.Schema | None = None,
                compact: bool = False) -> pd.DataFrame:
    """``resolve(store, task, day, schema=schema, compact=compact).day(day)``, reading only what the day's rows depend on.

    The rows staged on ``day`` that count at horizon ``day``: the day's used deliveries read whole;
    of every earlier used delivery only its (item, annotator) pairs, one file at a time, to withdraw
    the day's repeats of pairs counted before (rule 3). Memory follows the day's labels, not the
    history's; the earlier days cost a two-column scan each. Equal to the full resolution (tested).
    """
    read = read_reports(store, task, day)
    deliveries = _deliveries(read.keys, read.docs())
    used = [x for x in deliveries if x["resolution"] == "used" and x["staged_output"]]
    today = [x for x in used if x["date"] == day.isoformat()]
    earlier = [x for x in used if x["date"] < day.isoformat()]
    if compact and schema is not None:
        coded, _ = _read_coded(store, task, today, schema)
        keep = coded.first_of_pairs()
        coded.withdraw_seen(keep, ((x["vendor"], _read_used(store, task, x, columns=["item_id", "annotator_id"]))
                                   for x in earlier))
        frame = coded.frame(keep)
        del coded
        release_memory()
        return frame
    tables = [_read_used(store, task, x, schema=schema) for x in today]
    table = pa.concat_tables(tables) if tables else (schema or pa.schema([*KEY_FIELDS, *TRAIL_FIELDS])).empty_table()
    keep = _first_of_pairs(table)
    pair = ["vendor", "item_id", "annotator_id"]
    vendors = set(table["vendor"].unique().to_pylist()) if table.num_rows else set()
    rows = table.select(pair).append_column("_row", pa.array(np.arange(table.num_rows)))
    for x in earlier:
        if x["vendor"] not in vendors:
            continue
        pairs = _read_used(store, task, x, columns=["item_id", "annotator_id"])
        pairs = pairs.append_column("vendor", pa.array([x["vendor"]] * pairs.num_rows, pa.string()))
        seen = rows.join(pairs, keys=pair, join_type="left semi", use_threads=True)
        keep[seen["_row"].to_numpy()] = False
    if not keep.all():
        table = table.filter(pa.array(keep))
    return table.to_pandas()


def _landing_days(store: Store, folder: str, until: date) -> list[str]:
    days = []
    for info in store.list_dir(folder):
        name = info.base_name
        try:
            d = date.fromisoformat(name)
        except ValueError:
            continue
        if d <= until and d.isoformat() == name:
            days.append(name)
    return days


def gaps(config: LabelqConfig, store: Store, task: str, until: date) -> dict[str, list[str]]:
    """``{day: [vendor, ...]}`` of days up to ``until`` whose landing folder holds complete files no
    ingest/validate report of that vendor and day lists (never processed, or delivered since)."""
    out: dict[str, list[str]] = {}
    lay = store.layout
    for vendor, vcfg in sorted(config.vendors_for(task).items()):
        for d in _landing_days(store, lay.vendor_landing(vcfg).as_posix(), until):
            day = date.fromisoformat(d)
            folder = lay.landing(vcfg, day).as_posix()
            files, escaped = store.complete_files(folder, owner=lay.vendor_landing(vcfg).as_posix())
            delivered = set(files) | {k for k, _, _ in escaped}
            if not delivered:
                continue
            key = lay.validate_report(task, day, vendor).as_posix()
            seen = {b["file"] for b in store.read_json(key)["batches"]} if store.is_file(key) else set()
            if folder in seen:  # the whole day folder was rejected (it resolves outside the vendor's folder)
                continue
            if delivered - seen:
                out.setdefault(d, []).append(vendor)
    return dict(sorted(out.items()))


def check_complete(config: LabelqConfig, store: Store, task: str, until: date) -> None:
    """Raise :class:`HistoryGap` naming the days and vendors :func:`gaps` finds, and the command to run."""
    holes = gaps(config, store, task, until)
    if not holes:
        return
    listed = "; ".join(f"{d}: {', '.join(v)}" for d, v in holes.items())
    first = next(iter(holes))
    raise HistoryGap(
        f"task {task!r}: the history up to {until} has deliveries that were never ingested and validated "
        f"({listed}); a version must not skip them. Run those days first, e.g. `labelq run --date {first}"
        f"{' --days ' + str((until - date.fromisoformat(first)).days + 1) if date.fromisoformat(first) < until else ''}` "
        f"(or `airflow backfill create --dag-id labelq_daily --from-date {first} --to-date {until} "
        f"--reprocess-behavior completed`)"
    )


def delivered_on(config: LabelqConfig, store: Store, task: str, day: date) -> int:
    """How many files the vendors of ``task`` delivered on ``day`` (as ingested, else as in landing)."""
    n = 0
    lay = store.layout
    for vendor, vcfg in config.vendors_for(task).items():
        key = lay.ingest_report(day, vendor).as_posix()
        if store.is_file(key):
            n += len(store.read_json(key)["files"])
        else:
            files, escaped = store.complete_files(lay.landing(vcfg, day).as_posix())
            n += len(files) + len(escaped)
    return n


def stale_versions(store: Store, task: str, reports: Reports | None = None) -> list[dict[str, Any]]:
    """Published versions of ``task`` whose staged inputs (or gold) changed since they were built.

    Each: ``version``, ``recorded`` and ``current`` input digests. ``reports``: every day's
    reports if the caller has read them already (:func:`read_reports` with no horizon). A version is stale once an
    earlier day was processed or re-processed with other results (a late delivery, a fixed
    batch, days run out of order); re-running the task stages of that day refreshes it.
    """
    from pipeline.publish import read_manifest, version_refs

    refs = version_refs(store, task)
    if not refs:
        return []
    reports = reports or read_reports(store, task)  # every day's, read once for all versions
    out = []
    for version, ref in refs.items():
        recorded = read_manifest(store, task, ref).get("inputs_sha256")
        current = reports.upto(version).digest()
        if recorded != current:
            out.append({"version": version, "recorded": recorded, "current": current})
    return out
