"""Ingest: find a vendor's delivered files for a day and map them onto the canonical schema.

Pure mapping (:func:`check_contract`, :func:`flatten`, :func:`map_batch`)
takes and returns Arrow data; :func:`iter_delivery` is the edge that streams a file in record
batches (``pq.ParquetFile.iter_batches``), so memory is bounded by the batch size, not the file.
A file that cannot be read or does not match its vendor's column contract is rejected whole,
with a reason, before any combining (pyarrow datasets would otherwise fill a renamed column
with nulls); once its footer was read, its rows are counted (the footer's row count) on the
quarantined side. Values that cannot be mapped in a single row (invalid UTF-8, text that is not
an ISO 8601 timestamp) are marked in the row's ``_issue`` and quarantined by validation, not
dropped. Integer ids are accepted and written as decimal text (``7`` and ``"7"`` are the same
item; ``"007"`` is another); floating-point ids are a contract error.

Vendor adapters are config (:class:`~pipeline.config.VendorConfig`): ``columns`` (vendor column
or dotted struct path -> canonical column), ``labels`` (vocabulary, matched after NFC + trim),
``timezone`` (for naive timestamps), ``explode`` (a list column: one row per element),
``collect`` (the inverse: the values of one column over the rows of one (item, annotator) become
one list; such a file is read whole, and its canonical rows are the collected ones, each with the
first delivered row as its ``_source_row``) and ``vendor_column`` (the vendor each row claims).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import TaskConfig, VendorConfig
from pipeline.kinds import DEFAULT_KIND, LabelKind, get_kind

#: Row bookkeeping ingest adds to a kind's canonical columns: the row's position in the delivered
#: file, the vendor it claims, and an ingest-time issue.
BOOKKEEPING = (pa.field("_source_row", pa.int64()), pa.field("_claimed_vendor", pa.string()), pa.field("_issue", pa.string()))
#: What a row's ``_issue`` may hold: values that could not be mapped (null when the row is fine).
INVALID_UTF8, INVALID_TIMESTAMP = "invalid_utf8", "invalid_timestamp"
ISSUE_REASONS = (INVALID_UTF8, INVALID_TIMESTAMP)
#: Errors a corrupt Parquet file raises while its footer or pages are decoded.
_READ_ERRORS = (pa.ArrowException, OSError, ValueError, IndexError, KeyError, OverflowError, MemoryError)
#: The pair key validate's duplicate index uses, appended by ingest.
KEY_FIELD = pa.field("_key", pa.uint64())
#: Shared text columns read back as Arrow dictionaries (cheap checks on distinct values, categoricals for GX).
_SHARED_DICTIONARY = ("task", "vendor", "annotator_id", "batch_id", "source_file", "_claimed_vendor", "_issue")


def _kind(kind: LabelKind | None) -> LabelKind:
    return get_kind(DEFAULT_KIND) if kind is None else kind


def ingested_schema(kind: LabelKind | None = None) -> pa.Schema:
    """A kind's canonical columns (all nullable: a bad row may lack any) plus :data:`BOOKKEEPING`."""
    return pa.schema([f.with_nullable(True) for f in _kind(kind).annotations] + list(BOOKKEEPING))


def ingested_with_key(kind: LabelKind | None = None) -> pa.Schema:
    """What ingest writes: :func:`ingested_schema` plus ``_key``."""
    return ingested_schema(kind).append(KEY_FIELD)


def dictionary_columns(kind: LabelKind | None = None) -> list[str]:
    """Text columns of an ingested file read back as Arrow dictionaries (order does not matter)."""
    return [*_SHARED_DICTIONARY, *_kind(kind).dictionary_columns]


def intermediate_options(kind: LabelKind | None = None) -> dict[str, Any]:
    """Writer options of the ingested (intermediate) files: speed first (staged files use PARQUET_OPTIONS)."""
    return {"compression": "lz4", "write_statistics": False, "use_dictionary": dictionary_columns(kind)}


#: Rows per streamed record batch (memory is bounded by this, not by the file size). Each batch
#: is one GX validation, whose fixed cost (~0.3 s) argues for large batches.
DEFAULT_BATCH_ROWS = 1 << 20


@dataclass
class FileRecord:
    """What happened to one delivered file (recorded in the ingest report and the ledger)."""

    file: str
    sha256: str | None
    batch_id: str
    rows: int | None
    status: str  # "ingested" | "rejected" | "duplicate" (supersession is settled by validate, after validation)
    reason: str | None = None
    detail: str | None = None
    output: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    source_rows: int | None = None
    duplicate_of: dict[str, Any] | None = None
    #: the task these canonical rows feed (a file of a vendor with several tasks has one record per task)
    task: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ContractError(ValueError):
    """A delivered file does not match its vendor's column contract (``reason`` is a code)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_ID_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_string_view,
             pa.types.is_binary, pa.types.is_large_binary)
_TIME_TYPES = (pa.types.is_timestamp, pa.types.is_string, pa.types.is_large_string, pa.types.is_date)
#: Arrow types a vendor column may have for each shared canonical column (a kind adds its payload's).
_SHARED_TYPES = {"item_id": _ID_TYPES, "annotator_id": _ID_TYPES, "annotated_at": _TIME_TYPES, "batch_id": _ID_TYPES,
                 "vendor": _ID_TYPES}


def _type_ok(t: pa.DataType, checks: tuple) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(check(t) for check in checks)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _field_type(schema: pa.Schema, path: str, explode: str | None) -> pa.DataType | None:
    """Type of a column or dotted struct path (list elements if under ``explode``); None if absent."""
    if path in schema.names:
        t = schema.field(path).type
        return t.value_type if path == explode and _is_list(t) else t
    head, *rest = path.split(".")
    if head not in schema.names:
        return None
    t = schema.field(head).type
    if head == explode and _is_list(t):
        t = t.value_type
    for name in rest:
        if not pa.types.is_struct(t) or t.get_field_index(name) < 0:
            return None
        t = t.field(name).type
    return t


def _source_columns(vendor: VendorConfig) -> dict[str, str]:
    """Vendor column (or path) -> canonical column, including the claimed-vendor column."""
    cols = dict(vendor.columns)
    if vendor.vendor_column:
        cols[vendor.vendor_column] = "vendor"
    return cols


def check_contract(schema: pa.Schema, vendor: VendorConfig, *, file: str, kind: LabelKind | None = None) -> list[str]:
    """Raise :class:`ContractError` unless ``schema`` has every mapped column in a type its canonical
    column (shared, or the ``kind``'s payload: ``kind.vendor_columns``) accepts.

    Returns the names of extra (unmapped) columns, which are ignored.
    """
    expected = {**_SHARED_TYPES, **_kind(kind).vendor_columns}
    names = schema.names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ContractError(
            "schema_drift",
            f"{file}: column name(s) {twice} appear more than once; which one holds the data is ambiguous. "
            "Fix the delivery (one column per name).",
        )
    cols = _source_columns(vendor)
    missing = [c for c in cols if _field_type(schema, c, vendor.explode) is None]
    if missing:
        raise ContractError(
            "schema_drift",
            f"{file}: missing column(s) {missing} required by the vendor contract; "
            f"file has {schema.names}. Fix the delivery or the vendor's `columns` mapping.",
        )
    if vendor.explode and not _is_list(schema.field(vendor.explode).type):
        raise ContractError(
            "schema_drift",
            f"{file}: column {vendor.explode!r} has type {schema.field(vendor.explode).type}, but the vendor's "
            "`explode` setting needs a list column.",
        )
    for col, canon in cols.items():
        t = _field_type(schema, col, vendor.explode)
        if not _type_ok(t, expected[canon]):
            raise ContractError(
                "schema_drift",
                f"{file}: column {col!r} (-> {canon}) has type {t}, which cannot hold {canon}.",
            )
    used = {c.split(".", 1)[0] if c not in schema.names else c for c in cols}
    return [c for c in schema.names if c not in used and c != vendor.explode]


def _explode(col: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """One row per list element; null or empty lists keep one row with a null (never lost)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.maximum(lengths, 1)
    parent = np.repeat(np.arange(len(arr), dtype=np.int64), counts)
    has_value = np.repeat(lengths > 0, counts)
    idx = np.full(len(parent), -1, dtype=np.int64)
    idx[has_value] = np.arange(int(has_value.sum()), dtype=np.int64)
    values = pc.take(pc.list_flatten(arr), pa.array(idx, mask=idx < 0))
    return values, parent


def _resolve(table: pa.Table, path: str) -> pa.ChunkedArray:
    if path in table.column_names:
        return table.column(path)
    head, *rest = path.split(".")
    out = table.column(head)
    for name in rest:
        out = pc.struct_field(out, name)
    return out


def flatten(table: pa.Table, vendor: VendorConfig) -> tuple[pa.Table, np.ndarray]:
    """Explode (or collect) the vendor's list column and pull dotted struct paths up into flat columns.

    Returns the flat table (one column per mapped vendor column, named as in the config) and,
    for each output row, the index of the input row it came from (collected rows: the first).
    """
    parent = np.arange(table.num_rows, dtype=np.int64)
    if vendor.explode:
        values, parent = _explode(table.column(vendor.explode))
        others = table.drop_columns([vendor.explode]).take(pa.array(parent))
        table = others.append_column(vendor.explode, values)
    cols = _source_columns(vendor)
    flat = pa.table({c: _resolve(table, c) for c in cols})
    if vendor.collect:
        time = next((c for c, canon in cols.items() if canon == "annotated_at"), None)
        return _collect(flat, vendor.collect, time)
    return flat, parent


def _collect(flat: pa.Table, column: str, time: str | None) -> tuple[pa.Table, np.ndarray]:
    """One row per distinct value of every column but ``column`` and ``time``: ``column``'s non-null
    values as a list (rows whose only values are null: an empty list), ``time`` the latest; rows in
    order of their first delivered row, which each returns as its parent."""
    keys = [c for c in flat.column_names if c not in (column, time)]
    rows = flat.append_column("_row", pa.array(np.arange(flat.num_rows, dtype=np.int64)))
    aggregations: list[tuple[str, str]] = [(column, "list"), ("_row", "min")] + ([(time, "max")] if time else [])
    grouped = rows.group_by(keys, use_threads=False).aggregate(aggregations)
    grouped = grouped.sort_by("_row_min")
    lists = grouped[f"{column}_list"].combine_chunks()
    values = pc.list_flatten(lists)
    keep = values.is_valid()
    parents = pc.list_parent_indices(lists).filter(keep).to_numpy()
    lengths = np.bincount(parents, minlength=grouped.num_rows) if len(parents) else np.zeros(grouped.num_rows, np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    out = {c: grouped[c] for c in keys}
    out[column] = pa.chunked_array([pa.ListArray.from_arrays(offsets, values.filter(keep))])
    if time:
        out[time] = grouped[f"{time}_max"]
    return pa.table({c: out[c] for c in flat.column_names}), grouped["_row_min"].to_numpy()


def _valid_utf8_mask(arr: pa.Array) -> np.ndarray:
    """True where a binary value is valid UTF-8 (or null); error path only, checked per distinct value."""
    enc = pc.dictionary_encode(arr).combine_chunks() if isinstance(arr, pa.ChunkedArray) else pc.dictionary_encode(arr)
    ok_values = np.array([_decodes(v) for v in enc.dictionary.to_pylist()], dtype=bool)
    codes = enc.indices.to_numpy(zero_copy_only=False)
    valid = enc.indices.is_valid().to_numpy(zero_copy_only=False)
    return np.where(valid, ok_values[np.where(valid, codes, 0).astype(np.int64)] if len(ok_values) else True, True)


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def as_text(arr: pa.ChunkedArray, bad: np.ndarray) -> pa.ChunkedArray:
    """Cast a delivered column to string; invalid UTF-8 values become null and are flagged in
    ``bad`` (in place), so the row is quarantined (``invalid_utf8``), not dropped. Whole floats
    become integers first (``1.0`` -> ``"1"``)."""
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:  # Parquet UTF8 columns are read without checking the bytes: check them here
            arr.validate(full=True)
        except pa.ArrowInvalid:
            arr = arr.cast(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        try:
            return pc.cast(arr, pa.string())
        except pa.ArrowInvalid:
            ok = _valid_utf8_mask(arr)
            bad |= ~ok
            return pc.cast(pc.if_else(pa.array(ok), arr, pa.scalar(None, arr.type)), pa.string())
    if pa.types.is_floating(arr.type):
        # 1.0 -> "1" so numeric vocabularies map the same whether sent as int or float
        as_int = pc.cast(arr, pa.int64(), safe=False)
        if pc.all(pc.or_kleene(pc.equal(pc.cast(as_int, arr.type), arr), pc.is_null(arr))).as_py() is not False:
            arr = as_int
    return pc.cast(arr, pa.string())


def _as_string(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    return as_text(arr, np.zeros(len(arr), dtype=bool))


def _on_dictionary(arr: pa.ChunkedArray, fn: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray:
    """Apply ``fn`` (string array -> string array) to the distinct values only, then expand."""
    enc = pc.dictionary_encode(arr)
    enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
    return pa.chunked_array([pc.take(fn(enc.dictionary), enc.indices)], pa.string())


def _norm(arr: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(pc.utf8_normalize(arr, "NFC"))


def normalise_labels(arr: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    """Cast to string, NFC-normalise, trim, then map the vendor vocabulary onto canonical labels.

    Labels with no entry in ``mapping`` are kept as (normalised) so validation can name them.
    Works on the distinct values, so the cost does not grow with repeated labels.
    """
    s = arr if pa.types.is_string(arr.type) else _as_string(arr)
    if not isinstance(s, pa.ChunkedArray):
        s = pa.chunked_array([s])
    keys = _norm(pa.array(list(mapping), pa.string()))
    values = pa.array(list(mapping.values()), pa.string())

    def relabel(distinct: pa.Array) -> pa.Array:
        norm = _norm(distinct)
        if not mapping:
            return norm
        idx = pc.index_in(norm, value_set=keys)
        return pc.if_else(pc.is_null(idx), norm, pc.take(values, idx))

    return _on_dictionary(s, relabel)


_OFFSET = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"  # an ISO 8601 UTC designator or offset at the end


def to_utc(arr: pa.ChunkedArray, tz: str, bad: np.ndarray | None = None) -> pa.ChunkedArray:
    """Timestamps as UTC microseconds; naive values are taken to be in the vendor's ``tz``.

    Text is parsed as ISO 8601 value by value: values with their own offset (``Z``, ``+02:00``)
    keep it, so one column may mix offsets; naive values are in ``tz``. A value that is not a
    timestamp becomes null and is flagged in ``bad`` (in place), so that row, not the file, is
    quarantined (``invalid_timestamp``).
    """
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = _parse_iso_text(arr, tz, bad)
    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("us"))
    if arr.type.tz is None:
        zoneinfo.ZoneInfo(tz)  # raises on an unknown zone name
        arr = _assume_timezone(arr, tz)
    return pc.cast(arr, pa.timestamp("us", tz="UTC"))


def _assume_timezone(arr: pa.ChunkedArray | pa.Array, tz: str) -> pa.Array | pa.ChunkedArray:
    """``pc.assume_timezone`` (a zone lookup per value: ~0.7 us each), once per distinct value
    when values repeat, as labelling times to the second do (a day has 86,400 seconds)."""
    flat = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    encoded = pc.dictionary_encode(flat)
    if 2 * len(encoded.dictionary) > len(flat):
        return pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    local = pc.assume_timezone(encoded.dictionary, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return local.take(encoded.indices)  # a null's null index stays null


def _parse_iso_text(arr: pa.ChunkedArray, tz: str, bad: np.ndarray | None) -> pa.ChunkedArray:
    trimmed = pc.utf8_trim_whitespace(arr)
    flat = trimmed.combine_chunks() if isinstance(trimmed, pa.ChunkedArray) else trimmed
    encoded = pc.dictionary_encode(flat)
    if 2 * len(encoded.dictionary) <= len(flat):  # repeated values (labelling times to the second): parse each once
        invalid = np.zeros(len(encoded.dictionary), dtype=bool)
        distinct = _parse_distinct(encoded.dictionary, tz, invalid)
        if bad is not None:
            at = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
            bad |= np.append(invalid, False)[at]  # a null's -1 picks the appended False: null is not invalid
        return pa.chunked_array([distinct.take(encoded.indices)])
    return pa.chunked_array([_parse_distinct(flat, tz, bad)])


def _parse_distinct(text_arr: pa.Array, tz: str, bad: np.ndarray | None) -> pa.Array:
    """ISO 8601 text (trimmed; :func:`_parse_iso_text` gives it distinct values when they repeat) to UTC
    microseconds, value by value; ``bad`` flags what is no timestamp."""
    aware = np.asarray(pc.fill_null(pc.match_substring_regex(text_arr, _OFFSET), False), dtype=bool)
    text = text_arr.to_pandas()
    naive = ~aware & text.notna().to_numpy()
    utc = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    if aware.any():
        parsed = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        utc[aware] = parsed.dt.tz_localize(None).dt.as_unit("us").to_numpy()
    if naive.any():
        zoneinfo.ZoneInfo(tz)  # raises on an unknown zone name
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce").dt.as_unit("us")
        local_arr = pa.array(local.to_numpy(), pa.timestamp("us"))
        local_utc = pc.assume_timezone(local_arr, timezone=tz, ambiguous="earliest", nonexistent="earliest")  # distinct already
        utc[naive] = pc.cast(local_utc, pa.timestamp("us")).to_numpy(zero_copy_only=False)
    if bad is not None:
        bad |= np.isnat(utc) & text.notna().to_numpy()
    return pa.array(utc, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


def _const(value: str, n: int) -> pa.ChunkedArray:
    codes = pa.array(np.zeros(n, dtype=np.int32))
    return pa.chunked_array([pc.cast(pa.DictionaryArray.from_arrays(codes, pa.array([value], pa.string())), pa.string())])


def map_batch(
    table: pa.Table,
    *,
    task: str,
    vendor_name: str,
    vendor: VendorConfig,
    batch_id: str,
    source_file: str,
    source_rows: np.ndarray | None = None,
    kind: LabelKind | None = None,
    task_config: TaskConfig | None = None,
) -> pa.Table:
    """Map a flat vendor table (see :func:`flatten`) onto :func:`ingested_schema` of ``kind``:
    the shared canonical columns, the kind's payload (``kind.map_payload``, given ``task_config``:
    the settings of ``task``) and row bookkeeping."""
    kind = _kind(kind)
    n = table.num_rows
    bad_utf8, bad_time = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    by_canon = {canon: table.column(col) for col, canon in _source_columns(vendor).items()}
    payload = kind.map_payload({c: by_canon[c] for c in kind.vendor_columns if c in by_canon}, vendor, bad_utf8,
                               task=task_config)
    missing = [c for c in kind.payload.names if c not in payload]
    if missing:  # a kind's bug, never the vendor's: name it
        raise TypeError(f"label kind {kind.name!r}: map_payload returned no column(s) {missing}")
    columns = {
        "task": _const(task, n),
        "item_id": as_text(by_canon["item_id"], bad_utf8) if "item_id" in by_canon else kind.item_ids(payload, bad_utf8),
        "vendor": _const(vendor_name, n),
        "annotator_id": _on_dictionary(as_text(by_canon["annotator_id"], bad_utf8), pc.utf8_trim_whitespace),
        **{c: payload[c] for c in kind.payload.names},
        "annotated_at": (
            to_utc(by_canon["annotated_at"], vendor.timezone, bad_time)
            if "annotated_at" in by_canon
            else pa.chunked_array([pa.nulls(n, pa.timestamp("us", tz="UTC"))])
        ),
        "batch_id": as_text(by_canon["batch_id"], bad_utf8) if "batch_id" in by_canon else _const(batch_id, n),
        "source_file": _const(source_file, n),
        "_source_row": pa.chunked_array([pa.array(np.arange(n, dtype=np.int64) if source_rows is None else source_rows)]),
        "_claimed_vendor": (
            _on_dictionary(as_text(by_canon["vendor"], bad_utf8), _norm)
            if "vendor" in by_canon else pa.chunked_array([pa.nulls(n, pa.string())])
        ),
        "_issue": pa.chunked_array([pa.array(
            np.where(bad_utf8, INVALID_UTF8, np.where(bad_time, INVALID_TIMESTAMP, np.array(None, dtype=object))), pa.string())]),
    }
    return pa.table(columns, schema=ingested_schema(kind))


def open_delivery(source: Any, *, file: str) -> pq.ParquetFile:
    """Open one delivered Parquet file (footer only); raises ``ContractError('unreadable')``."""
    try:
        # INT96 timestamps (legacy Spark/Impala) as microseconds: as nanoseconds, a year past 2262
        # would overflow into a wrong date without a word
        pf = pq.ParquetFile(source, coerce_int96_timestamp_unit="us")
        pf.schema_arrow  # noqa: B018 - decodes the footer's names: fails here, not later
        meta = pf.metadata
        groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except (pa.ArrowInvalid, OSError) as exc:
        raise ContractError("unreadable", f"{file}: not a readable Parquet file: {exc}") from None
    except UnicodeDecodeError as exc:  # column names (or metadata) that are not UTF-8
        raise ContractError("unreadable", f"{file}: the Parquet footer holds names that are not UTF-8 ({exc.reason} at "
                            f"byte {exc.start}); re-export the file with UTF-8 column names") from None
    except _READ_ERRORS as exc:
        raise ContractError("unreadable", f"{file}: not a readable Parquet file: {type(exc).__name__}: {exc}") from None
    if meta.num_rows < 0 or min(groups, default=0) < 0 or sum(groups) != meta.num_rows:
        raise ContractError("unreadable", f"{file}: not a readable Parquet file: the footer claims {meta.num_rows} rows "
                            f"but its row groups hold {sum(groups)}; the file is corrupt, re-export it")
    return pf


def iter_delivery(
    pf: pq.ParquetFile,
    vendor: VendorConfig,
    *,
    file: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Stream ``pf`` as flat vendor tables with their source row numbers, ``batch_rows`` at a time.

    Only the mapped columns are read. Raises ``ContractError('unreadable')`` if the file turns out
    to be corrupt mid-way (the caller discards what it wrote for the file).
    """
    roots = sorted({c if c in pf.schema_arrow.names else c.split(".", 1)[0] for c in _source_columns(vendor)}
                   | ({vendor.explode} if vendor.explode else set()))
    if vendor.collect:  # the rows of one (item, annotator) may be anywhere in the file
        batch_rows = max(pf.metadata.num_rows, 1)
    offset = 0
    it = pf.iter_batches(batch_size=batch_rows, columns=roots, use_threads=True)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            raise ContractError("unreadable", f"{file}: corrupt data after row {offset}: {type(exc).__name__}: "
                                f"{exc}") from None
        flat, parent = flatten(pa.Table.from_batches([batch]), vendor)
        yield flat, parent + offset
        offset += batch.num_rows


def pair_keys(item_id: pa.ChunkedArray | pa.Array, annotator_id: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A 64-bit key per (item_id, annotator_id) pair; 0 where either is null or empty.

    Collisions are ~n^2 / 2^65 (3e-6 for 10M rows) and could only quarantine a row, never drop one.
    """
    def h(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
        enc = pc.dictionary_encode(arr)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        dict_hash = pd.util.hash_pandas_object(pd.Series(enc.dictionary.to_pandas()), index=False).to_numpy()
        if not len(dict_hash):
            return np.zeros(len(arr), np.uint64)
        codes = pc.fill_null(enc.indices, 0).to_numpy(zero_copy_only=False).astype(np.intp)
        return dict_hash[codes].astype(np.uint64)

    item_hash = _hash_strings(item_id)
    key = item_hash * np.uint64(0x9E3779B97F4A7C15) ^ h(annotator_id)
    empty = ~(bool_mask(pc.greater(pc.utf8_length(item_id), 0)) & bool_mask(pc.greater(pc.utf8_length(annotator_id), 0)))
    key[empty] = 0
    key[(key == 0) & ~empty] = 1
    return key


def _hash_strings(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    s = pd.Series(pd.arrays.ArrowStringArray(arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])))
    return pd.util.hash_pandas_object(s, index=False).to_numpy().astype(np.uint64)


def bool_mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean Arrow array as a numpy mask, nulls False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)
