"""Row- and file-level quarantine policy, vectorised.

The row checks are compiled from the same GX suites that give each batch its verdict
(``expectations/*.json``), so the counts here are exact for every row (GX's unexpected lists
are capped and are never used for counting). Supported row-level expectation types:
``expect_column_values_to_not_be_null``, ``expect_column_value_lengths_to_be_between``,
``expect_column_values_to_be_in_set``, ``expect_column_values_to_match_regex``,
``expect_column_values_to_be_between`` (numbers, or ISO 8601 bounds on timestamps),
``expect_column_pair_values_a_to_be_greater_than_b`` (e.g. a preference's two responses, kept in
canonical order, must differ) and ``expect_compound_columns_to_be_unique`` on ``[item_id, annotator_id]`` (duplicates within
the file and against rows already staged from other batches). Anything else is verdict-only:
if GX fails it, the whole file is quarantined.

A row's reason is the first that applies, in this order: ingest issues (``invalid_utf8``,
``invalid_timestamp``),
``wrong_vendor`` (the row claims another vendor), the suite's row checks in suite order, then
``duplicate_in_file`` (every repeat after the first) and ``duplicate_staged``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrays import unique_sorted
from pipeline.ingest.canonical import ISSUE_REASONS, bool_mask

#: Row reasons that come from ingest or the duplicate index rather than a single expectation.
INGEST_REASONS = (*ISSUE_REASONS, "wrong_vendor")
DUPLICATE_REASONS = ("duplicate_in_file", "duplicate_staged")
#: GX reasons (``meta.reason``) that duplicate rows account for.
DUPLICATE_GX = "duplicate_label"



def quarantine_rows_canonical(annotations: pa.Schema) -> pa.Schema:
    """A kind's canonical columns as kept for quarantined rows: nullable (a bad row may lack any)."""
    return pa.schema([f.with_nullable(True) for f in annotations])


def quarantine_rows_schema(annotations: pa.Schema) -> pa.Schema:
    """A quarantined-rows file (``<stem>.rows.parquet``) of a kind whose staged schema is ``annotations``:
    its canonical columns (nullable), the row's place in the delivery and its reason."""
    return pa.schema([*quarantine_rows_canonical(annotations), pa.field("source_row", pa.int64()),
                      pa.field("reason", pa.string())])

#: Row-level expectations on a pair of columns (``column_A``, ``column_B``).
_PAIR_TYPES = {"expect_column_pair_values_a_to_be_greater_than_b"}
_ROW_TYPES = {
    "expect_column_values_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_value_lengths_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
}


@dataclass(frozen=True)
class RowCheck:
    """One row-level expectation in vectorised form."""

    reason: str
    type: str
    column: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class RowPolicy:
    """The row checks of a (task, vendor) suite plus every reason code in precedence order."""

    checks: tuple[RowCheck, ...]
    reasons: tuple[str, ...]  # index + 1 is the code stored per row (0 = good)
    verdict_only: tuple[str, ...]  # suite reasons GX judges that no row check accounts for

    def code(self, reason: str) -> int:
        return self.reasons.index(reason) + 1


def compile_policy(expectations: list[dict[str, Any]]) -> RowPolicy:
    """Row checks from suite expectation dicts (as stored in ``expectations/*.json``)."""
    checks: list[RowCheck] = []
    verdict_only: list[str] = []
    for e in expectations:
        kwargs = dict(e.get("kwargs", {}))
        reason = (e.get("meta") or {}).get("reason") or e["type"]
        if e["type"] in _ROW_TYPES and "column" in kwargs:
            checks.append(RowCheck(reason, e["type"], kwargs.pop("column"), kwargs))
        elif e["type"] in _PAIR_TYPES:
            checks.append(RowCheck(reason, e["type"], kwargs.pop("column_A"), kwargs))
        elif e["type"] == "expect_compound_columns_to_be_unique" and sorted(kwargs.get("column_list", [])) == ["annotator_id", "item_id"]:
            continue  # the duplicate index
        elif not e["type"].startswith("expect_table_"):
            verdict_only.append(reason)
    reasons = list(INGEST_REASONS)
    for c in checks:
        if c.reason not in reasons:
            reasons.append(c.reason)
    reasons += [r for r in DUPLICATE_REASONS if r not in reasons]
    return RowPolicy(tuple(checks), tuple(reasons), tuple(dict.fromkeys(verdict_only)))


def _param(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _fails(check: RowCheck, col: pa.ChunkedArray, params: dict[str, Any]) -> pa.ChunkedArray:
    """True where the row fails ``check`` (GX semantics: nulls are skipped except by not_null)."""
    if check.type == "expect_column_values_to_not_be_null":
        return pc.is_null(col)
    if pa.types.is_dictionary(col.type):  # judge the distinct values once, then expand
        chunks = [pc.take(_fails(check, pa.chunked_array([c.dictionary]), params).combine_chunks(), c.indices)
                  for c in col.chunks]
        return pa.chunked_array(chunks, pa.bool_())
    if check.type == "expect_column_values_to_be_between":
        bad = pa.chunked_array([pa.array(np.zeros(len(col), dtype=bool))])
        for key, op in (("min_value", pc.less), ("max_value", pc.greater)):
            bound = _param(check.kwargs.get(key), params)
            if bound is not None:
                bad = pc.or_(bad, op(col, _scalar(bound, col.type)))
    elif check.type == "expect_column_values_to_be_in_set":
        allowed = _param(check.kwargs["value_set"], params)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):  # a scale's values
            bad = pc.invert(pc.is_in(pc.cast(col, pa.float64()), value_set=pa.array(allowed, pa.float64())))
        else:
            bad = pc.invert(pc.is_in(col, value_set=pa.array(allowed, pa.string())))
    elif check.type == "expect_column_value_lengths_to_be_between":
        n = pc.utf8_length(col)
        lo, hi = _param(check.kwargs.get("min_value"), params), _param(check.kwargs.get("max_value"), params)
        bad = pa.chunked_array([pa.array(np.zeros(len(col), dtype=bool))])
        if lo is not None:
            bad = pc.or_(bad, pc.less(n, lo))
        if hi is not None:
            bad = pc.or_(bad, pc.greater(n, hi))
    else:  # expect_column_values_to_match_regex
        bad = pc.invert(pc.match_substring_regex(col, _param(check.kwargs["regex"], params)))
    return pc.and_(pc.fill_null(bad, False), pc.is_valid(col))


def _pair_fails(check: RowCheck, table: pa.Table) -> pa.ChunkedArray:
    """True where column A is not greater than column B (GX skips a row only if both are missing)."""
    a, b = (pc.cast(table[c], pa.string()) if pa.types.is_dictionary(table[c].type) else table[c]
            for c in (check.column, check.kwargs["column_B"]))
    ok = pc.greater_equal(a, b) if check.kwargs.get("or_equal") else pc.greater(a, b)
    both_missing = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.and_(pc.invert(pc.fill_null(ok, False)), pc.invert(both_missing))


def _scalar(value: Any, type_: pa.DataType) -> pa.Scalar:
    """A suite bound as a scalar of the column's type (ISO 8601 text for timestamp columns)."""
    if pa.types.is_timestamp(type_) and isinstance(value, str):
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return pa.scalar(ts.as_unit("us"), type_)
    return pa.scalar(value, type_)


def row_codes(
    table: pa.Table,
    policy: RowPolicy,
    *,
    params: dict[str, Any],
    vendor: str,
    dup_in_file: np.ndarray,
    dup_staged: np.ndarray,
) -> np.ndarray:
    """Per-row reason code (0 = good; else ``policy.reasons[code - 1]``), highest precedence wins."""
    n = table.num_rows
    codes = np.zeros(n, dtype=np.int8)
    ordered: list[tuple[str, np.ndarray]] = []
    if "_issue" in table.column_names:
        issue = table["_issue"]
        if pa.types.is_dictionary(issue.type):
            issue = pc.cast(issue, pa.string())
        ordered += [(reason, bool_mask(pc.equal(issue, reason))) for reason in ISSUE_REASONS]
    if "_claimed_vendor" in table.column_names and table["_claimed_vendor"].null_count < n:
        claimed = table["_claimed_vendor"]
        if pa.types.is_dictionary(claimed.type):
            claimed = pc.cast(claimed, pa.string())
        claimed = pc.utf8_lower(claimed)
        ordered.append(("wrong_vendor", bool_mask(pc.not_equal(claimed, vendor.lower()))))
    for check in policy.checks:
        bad = _pair_fails(check, table) if check.type in _PAIR_TYPES else _fails(check, table[check.column], params)
        ordered.append((check.reason, bool_mask(bad)))
    ordered += [("duplicate_in_file", dup_in_file), ("duplicate_staged", dup_staged)]
    for reason, bad in reversed(ordered):  # lowest precedence first, so the first reason wins
        codes[bad] = policy.code(reason)
    return codes


def reason_array(codes: np.ndarray, policy: RowPolicy) -> pa.Array:
    """Reason strings for ``codes`` (null for good rows)."""
    names = pa.array([None, *policy.reasons], pa.string())
    return pc.take(names, pa.array(codes.astype(np.int32)))


def duplicate_masks(keys: np.ndarray, staged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(repeat of an earlier row in the file, already staged from another batch); key 0 never matches."""
    valid = keys != 0
    in_file = pd.Series(keys).duplicated(keep="first").to_numpy() & valid
    if len(staged):
        in_staged = pd.Index(unique_sorted(staged)).get_indexer(keys) >= 0
    else:
        in_staged = np.zeros(len(keys), dtype=bool)
    return in_file, in_staged & valid
