"""Validate: run a Great Expectations (GX Core 1.x) suite, stored as JSON, on a batch.

Suites live in ``expectations/<name>.json`` and are loaded by GX itself. Suite parameters
(``{"$PARAMETER": "label_set"}``) are filled per batch from the config, so one suite serves
every task and vendor. Great Expectations is imported lazily: it is slow to import and DAG
files must stay cheap to parse.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"


@dataclass(frozen=True)
class ValidationOutcome:
    """A batch's verdict plus the failing expectations in short form and GX's full result."""

    success: bool
    failures: list[dict[str, Any]]
    result: dict[str, Any]


def expectations_dir() -> Path:
    """``$LABELQ_EXPECTATIONS`` or the repository's ``expectations/`` folder."""
    return Path(os.environ.get("LABELQ_EXPECTATIONS") or EXPECTATIONS_DIR)


@functools.cache
def load_suite(name: str = "annotations") -> Any:
    """Load ``expectations/<name>.json`` into a GX ``ExpectationSuite``."""
    import great_expectations as gx

    path = expectations_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expectation suite {name!r} not found")
    try:
        return gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8")))
    except Exception as exc:  # GX raises several types for malformed suites
        raise ValueError(f"{path}: not a valid GX expectation suite: {exc}") from exc


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral GX context with a pandas dataframe asset, built once per process."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("labelq")
    asset = source.add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def _failures(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in result.get("results", []):
        if r.get("success"):
            continue
        cfg = r.get("expectation_config", {})
        res = r.get("result", {}) or {}
        kwargs = {k: v for k, v in cfg.get("kwargs", {}).items() if k != "batch_id"}
        out.append(
            {
                "expectation": cfg.get("type"),
                "reason": (cfg.get("meta") or {}).get("reason"),
                "column": kwargs.get("column") or kwargs.get("column_list"),
                "unexpected_count": res.get("unexpected_count"),
                "examples": [str(v) for v in (res.get("partial_unexpected_list") or [])[:5]],
                "example_rows": (res.get("partial_unexpected_index_list") or [])[:5],
                "observed_value": res.get("observed_value"),
                "exception": (r.get("exception_info") or {}).get("exception_message"),
            }
        )
    return out


def validate_frame(frame: pd.DataFrame, *, parameters: dict[str, Any], suite: str = "annotations") -> ValidationOutcome:
    """Validate ``frame`` with the named suite; ``parameters`` fill the suite's ``$PARAMETER`` slots."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame.reset_index(drop=True)})
    result = batch.validate(load_suite(suite), expectation_parameters=parameters, result_format="SUMMARY")
    as_dict = result.to_json_dict()
    return ValidationOutcome(success=bool(result.success), failures=_failures(as_dict), result=as_dict)


def describe(failures: list[dict[str, Any]], *, file: str) -> str:
    """One human line per failing expectation, naming the file, column and first bad rows."""
    parts = []
    for f in failures:
        where = f" column {f['column']!r}" if f["column"] else ""
        rows = f" (rows {f['example_rows']}, values {f['examples']})" if f["example_rows"] else ""
        count = f": {f['unexpected_count']} bad value(s)" if f["unexpected_count"] else ""
        observed = f": observed {f['observed_value']}" if f["observed_value"] is not None and not count else ""
        parts.append(f"{file}:{where} {f['reason'] or f['expectation']}{count}{observed}{rows}")
    return "; ".join(parts)
