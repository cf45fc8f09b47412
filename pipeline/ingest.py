"""Ingest: find a vendor's delivered files for a day and map them onto the canonical schema.

Pure mapping (:func:`check_contract`, :func:`to_canonical`) takes and returns Arrow tables;
:func:`read_delivery` is the edge that opens files. A file that cannot be read or does not
match its vendor's column contract is rejected whole, with a reason, before any combining
(pyarrow datasets would otherwise fill a renamed column with nulls).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.config import VendorConfig
from pipeline.schema import ANNOTATIONS


@dataclass
class FileRecord:
    """What happened to one delivered file (recorded in the ingest report)."""

    file: str
    sha256: str
    batch_id: str
    rows: int | None
    status: str  # "ingested" | "rejected" | "duplicate"
    reason: str | None = None
    detail: str | None = None
    output: str | None = None
    extra_columns: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class ContractError(ValueError):
    """A delivered file does not match its vendor's column contract."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_ID_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_string_view)
_LABEL_TYPES = _ID_TYPES + (pa.types.is_boolean, pa.types.is_floating)
_TIME_TYPES = (pa.types.is_timestamp, pa.types.is_string, pa.types.is_large_string, pa.types.is_date)


def _type_ok(t: pa.DataType, checks: tuple) -> bool:
    return any(check(t) for check in checks)


def check_contract(schema: pa.Schema, vendor: VendorConfig, *, file: str) -> list[str]:
    """Raise :class:`ContractError` unless ``schema`` has every mapped column in a usable type.

    Returns the names of extra (unmapped) columns, which are ignored.
    """
    missing = [c for c in vendor.columns if c not in schema.names]
    if missing:
        raise ContractError(
            "schema_drift",
            f"{file}: missing column(s) {missing} required by the vendor contract; "
            f"file has {schema.names}. Fix the delivery or the vendor's `columns` mapping.",
        )
    expected = {"item_id": _ID_TYPES, "annotator_id": _ID_TYPES, "label": _LABEL_TYPES,
                "annotated_at": _TIME_TYPES, "batch_id": _ID_TYPES}
    for col, canon in vendor.columns.items():
        t = schema.field(col).type
        if not _type_ok(t, expected[canon]):
            raise ContractError(
                "schema_drift",
                f"{file}: column {col!r} (-> {canon}) has type {t}, which cannot hold {canon}.",
            )
    return [c for c in schema.names if c not in vendor.columns]


def _as_string(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_floating(arr.type):
        # 1.0 -> "1" so numeric vocabularies map the same whether sent as int or float
        as_int = pc.cast(arr, pa.int64(), safe=False)
        if pc.all(pc.or_kleene(pc.equal(pc.cast(as_int, arr.type), arr), pc.is_null(arr))).as_py() is not False:
            arr = as_int
    return pc.cast(arr, pa.string())


def normalise_labels(arr: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    """Cast to string, NFC-normalise, trim, then map the vendor vocabulary onto canonical labels.

    Labels with no entry in ``mapping`` are kept as (normalised) so validation can name them.
    """
    s = pc.utf8_trim_whitespace(pc.utf8_normalize(_as_string(arr), "NFC"))
    if not mapping:
        return s
    keys = pa.array([pc.utf8_normalize(pa.array([k]), "NFC")[0].as_py().strip() for k in mapping])
    values = pa.array(list(mapping.values()), pa.string())
    idx = pc.index_in(s, value_set=keys)
    mapped = pc.take(values, idx)
    return pc.if_else(pc.is_null(idx), s, mapped)


def to_utc(arr: pa.ChunkedArray, tz: str) -> pa.ChunkedArray:
    """Timestamps as UTC microseconds; naive values are taken to be in the vendor's ``tz``."""
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        import pandas as pd

        parsed = pd.to_datetime(arr.to_pandas(), format="ISO8601", utc=False, errors="coerce")
        arr = pa.chunked_array([pa.Array.from_pandas(parsed)])
    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("us"))
    if arr.type.tz is None:
        zoneinfo.ZoneInfo(tz)  # raises on an unknown zone name
        arr = pc.assume_timezone(arr, timezone=tz, ambiguous="earliest", nonexistent="earliest")
    return pc.cast(arr, pa.timestamp("us", tz="UTC"))


def to_canonical(
    table: pa.Table,
    *,
    task: str,
    vendor_name: str,
    vendor: VendorConfig,
    batch_id: str,
    source_file: str,
) -> pa.Table:
    """Rename, cast and relabel a vendor table into the :data:`~pipeline.schema.ANNOTATIONS` schema."""
    n = table.num_rows
    by_canon = {canon: table.column(col) for col, canon in vendor.columns.items()}

    def const(value: str) -> pa.ChunkedArray:
        return pa.chunked_array([pa.array([value] * n, pa.string())]) if n else pa.chunked_array([], pa.string())

    columns = {
        "task": const(task),
        "item_id": pc.cast(by_canon["item_id"], pa.string()),
        "vendor": const(vendor_name),
        "annotator_id": pc.utf8_trim_whitespace(pc.cast(by_canon["annotator_id"], pa.string())),
        "label": normalise_labels(by_canon["label"], vendor.labels),
        "annotated_at": (
            to_utc(by_canon["annotated_at"], vendor.timezone)
            if "annotated_at" in by_canon
            else pa.chunked_array([pa.nulls(n, pa.timestamp("us", tz="UTC"))])
        ),
        "batch_id": pc.cast(by_canon["batch_id"], pa.string()) if "batch_id" in by_canon else const(batch_id),
        "source_file": const(source_file),
    }
    return pa.table(columns, schema=ANNOTATIONS)


def read_delivery(path: Path) -> pa.Table:
    """Open one delivered Parquet file (the I/O edge); raises ``ContractError('unreadable')``."""
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ContractError("unreadable", f"{path.name}: not a readable Parquet file: {exc}") from None
