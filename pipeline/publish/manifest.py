"""What a published version holds beyond its rows: the training-set table built from a consensus
partition (:func:`curated_table`) and the version's manifest (:func:`build_manifest`): the days
and deliveries it read with their validation and resolution, the consensus settings, split sizes,
counts, the kind's payload balance and the day's quality figures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import __version__
from pipeline.contract import require_columns
from pipeline.kinds import DEFAULT_KIND, get_kind
from pipeline.publish.splits import SPLITS, SPLIT_RULE, assign_splits

if TYPE_CHECKING:
    from pipeline.config import TaskConfig

__all__ = ["build_manifest", "count_values", "curated_table", "rounded"]


def rounded(obj: Any, digits: int = 12) -> Any:
    """``obj`` with every float rounded to ``digits`` significant digits (last-bit noise of
    order-dependent float sums must not change a version's manifest)."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [rounded(v, digits) for v in obj]
    return obj


def count_values(column: pa.ChunkedArray) -> dict[str, int]:
    """``{value: count}`` of the non-null values of ``column``, sorted by value."""
    counts = pc.value_counts(column.drop_null()).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in sorted(counts, key=lambda c: c["values"])}


def curated_table(consensus: pa.Table, ratios: dict[str, float], schema: pa.Schema | None = None, *,
                  split_by: str = "item_id") -> pa.Table:
    """The training set (``schema``: the task kind's ``curated``; default classification's) from a
    consensus table: kept items sorted by item_id, with splits fixed by a hash of column ``split_by``
    (the kind's :attr:`~pipeline.kinds.LabelKind.split_unit`)."""
    schema = schema or get_kind(DEFAULT_KIND).curated
    require_columns(consensus.schema.names, [c for c in schema.names if c != "split"], "consensus",
                    "re-run the merge stage to rebuild it")
    kept = consensus.filter(pc.is_null(consensus["held_out_reason"]))
    ids = kept["item_id"]
    if len(ids) > 1 and pc.any(pc.less(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():  # a merge writes them sorted
        kept = kept.sort_by("item_id")
    columns = {c: kept[c].cast(schema.field(c).type) for c in schema.names if c != "split"}
    columns["split"] = pa.array(assign_splits(kept[split_by].to_pylist(), ratios), pa.string())
    table = pa.table({c: columns[c] for c in schema.names}, schema=schema)
    nulls = [f.name for f in schema if not f.nullable and table[f.name].null_count]
    if nulls:
        raise ValueError(f"consensus has nulls in required column(s) {nulls}; check the merge stage output")
    return table


def build_manifest(*, task: str, day: date, merged: dict[str, Any], reports: list[dict[str, Any]], inputs_sha256: str,
                   config_sha256: str, task_config: TaskConfig, consensus: pa.Table, table: pa.Table, gold_items: int,
                   quality: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of version ``day`` of ``task`` (what :func:`pipeline.publish.write_version` stores
    beside the data; the build adds its files, content hash and schema).

    ``merged``: the merge stage's ``_merge.json``; ``reports``: every ``_validate.json`` up to
    ``day``; ``consensus``: the consensus partition; ``table``: the training set
    (:func:`curated_table`); ``quality``: the measure stage's ``summary.json`` of the day, if any
    (floats rounded to 12 significant digits, :func:`rounded`).
    """
    kind = task_config.label_kind
    resolution = {(d["date"], d["vendor"], d["file"]): d for d in merged["deliveries"]}
    split_sizes = pd.Series(table["split"].to_numpy(zero_copy_only=False)).value_counts()
    days = merged["days"]
    return {
        "task": task,
        "data_interval": {"start": days[0] if days else day.isoformat(), "end": (day + timedelta(days=1)).isoformat()},
        "days": days,
        "inputs_sha256": inputs_sha256,
        "labelq_version": __version__,
        "config_sha256": config_sha256,
        "kind": kind.name,
        "consensus": {"method": task_config.consensus, "min_labels_per_item": task_config.min_labels_per_item,
                      **kind.consensus_settings(task_config), "gold_items": int(gold_items)},
        "splits": {"ratios": task_config.splits.model_dump(), "rule": SPLIT_RULE.replace("item_id", kind.split_unit),
                   "items": {s: int(split_sizes.get(s, 0)) for s in SPLITS}},
        "source_batches": sorted(
            ({"vendor": r["vendor"], "date": r["date"], "batch": f"{r['vendor']}/{b['batch_id']}", **b,
              **{k: resolution.get((r["date"], r["vendor"], b["file"]), {}).get(k)
                 for k in ("resolution", "resolved_by", "rows_used")}}
             for r in reports for b in r["batches"]),
            key=lambda b: (b["date"], b["vendor"], b["file"]),
        ),
        "validation": sorted(({k: v for k, v in r.items() if k != "batches"} for r in reports),
                             key=lambda r: (r["date"], r["vendor"])),
        "counts": {"items": consensus.num_rows, "published": table.num_rows, "held_out": consensus.num_rows - table.num_rows,
                   "held_out_by_reason": count_values(consensus["held_out_reason"]),
                   "labels_used": merged["labels_used"], "rows_withdrawn": merged["withdrawn"]},
        **kind.balance(table, task_config),
        "quality": rounded(quality) if quality is not None else None,
    }
