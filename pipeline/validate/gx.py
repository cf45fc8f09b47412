"""Validate: run a Great Expectations (GX Core 1.x) suite, stored as JSON, on a batch.

Suites live in ``expectations/<name>.json`` and are loaded by GX itself: ``annotations`` (the
shared columns), ``kinds/<kind>`` (the label kind's payload), then ``tasks/<task>`` and
``vendors/<vendor>`` where they exist. Suite parameters (``{"$PARAMETER": "label_set"}``) are
filled per batch from the config (:meth:`pipeline.kinds.LabelKind.suite_parameters`), so one
suite serves every task and vendor. Great Expectations is imported lazily: it is slow to import and DAG
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

from pipeline.kinds import DEFAULT_KIND, get_kind

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"


@dataclass(frozen=True)
class ValidationOutcome:
    """A batch's verdict plus the failing expectations in short form and GX's full result."""

    success: bool
    failures: list[dict[str, Any]]
    result: dict[str, Any]


def expectations_dir() -> Path:
    """``$LABELQ_EXPECTATIONS`` or the repository's ``expectations/`` folder."""
    return Path(os.environ.get("LABELQ_EXPECTATIONS") or EXPECTATIONS_DIR)


def suite_path(name: str) -> Path:
    """Where suite ``name`` is stored: ``expectations/<name>.json``, or for ``kinds/<kind>`` the file a
    kind ships itself (:attr:`pipeline.kinds.LabelKind.suite_file`)."""
    if name.startswith("kinds/"):
        try:
            own = get_kind(name.removeprefix("kinds/")).suite_file
        except ValueError:
            own = None
        if own is not None:
            return Path(own)
    return expectations_dir() / f"{name}.json"


@functools.cache
def load_suite(name: str = "annotations") -> Any:
    """Load ``expectations/<name>.json`` into a GX ``ExpectationSuite`` (``name`` may be ``tasks/<task>``
    or ``kinds/<kind>``, see :func:`suite_path`)."""
    import great_expectations as gx

    path = suite_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expectation suite {name!r} not found")
    try:
        return gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8")))
    except Exception as exc:  # GX raises several types for malformed suites
        raise ValueError(f"{path}: not a valid GX expectation suite: {exc}") from exc


def suite_names(task: str, vendor: str, kind: str = DEFAULT_KIND) -> list[str]:
    """The suites a (task, vendor) batch of label kind ``kind`` must pass: the shared ``annotations``,
    the kind's ``kinds/<kind>``, then ``tasks/<task>`` and ``vendors/<vendor>`` where they exist."""
    names = ["annotations", get_kind(kind).suite]
    for extra in (f"tasks/{task}", f"vendors/{vendor}"):
        if (expectations_dir() / f"{extra}.json").is_file():
            names.append(extra)
    return names


def suite_documents(task: str, vendor: str, kind: str = DEFAULT_KIND) -> tuple[dict[str, Any], ...]:
    """The raw JSON of each suite for (task, vendor, kind), each first checked by loading it with GX."""
    return tuple(_document(n) for n in suite_names(task, vendor, kind))


@functools.cache
def _combined(names: tuple[str, ...], name: str) -> Any:
    """One GX ``ExpectationSuite`` holding every expectation of the suites ``names``, in order."""
    import great_expectations as gx

    docs = [_document(n) for n in names]
    personal = list(dict.fromkeys(c for d in docs for c in (d.get("meta") or {}).get("personal_data_columns", [])))
    return gx.ExpectationSuite(name=name, expectations=[e for d in docs for e in d["expectations"]],
                               meta={"sources": list(names), "personal_data_columns": personal})


@functools.cache
def _document(name: str) -> dict[str, Any]:
    """The raw JSON of suite ``name``, first checked by loading it with GX (which names the file on error)."""
    load_suite(name)
    return dict(json.loads(suite_path(name).read_text(encoding="utf-8")))


def combined_suite(task: str, vendor: str, kind: str = DEFAULT_KIND) -> Any:
    """One GX ``ExpectationSuite`` holding every expectation of :func:`suite_names` (one pass per batch)."""
    return _combined(tuple(suite_names(task, vendor, kind)), f"labelq.{task}.{vendor}")


def suite_expectations(task: str, vendor: str, kind: str = DEFAULT_KIND) -> list[dict[str, Any]]:
    """Every expectation dict (as in the JSON files) for (task, vendor, kind), in suite order."""
    return [e for d in suite_documents(task, vendor, kind) for e in d["expectations"]]


def personal_columns(task: str, vendor: str, kind: str = DEFAULT_KIND) -> list[str]:
    """Columns that may hold personal data (suite ``meta.personal_data_columns``): values never stored."""
    cols: list[str] = []
    for d in suite_documents(task, vendor, kind):
        cols += [c for c in (d.get("meta") or {}).get("personal_data_columns", []) if c not in cols]
    return cols


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


def _with_columns(parameters: dict[str, Any], kind: str) -> dict[str, Any]:
    """``parameters`` with ``annotation_columns`` (the kind's ordered canonical columns) unless given."""
    return {"annotation_columns": get_kind(kind).annotations.names, **parameters}


_VALUE_KEYS = ("partial_unexpected_list", "partial_unexpected_counts", "unexpected_list", "unexpected_index_query",
               "details")


def scrub(result: dict[str, Any], personal: list[str], *, offset: int = 0) -> dict[str, Any]:
    """Drop unexpected *values* of expectations on ``personal`` columns; shift row indices by ``offset``.

    Counts and row numbers stay (they are not personal); the values never reach reports or Data Docs.
    """
    out = json.loads(json.dumps(result, default=str))
    out.pop("id", None)  # volatile: a re-run must reproduce the stored result byte for byte
    (out.get("meta") or {}).get("batch_markers", {}).pop("ge_load_time", None)
    for r in out.get("results", []):
        kwargs = (r.get("expectation_config") or {}).get("kwargs", {})
        cols = [kwargs["column"]] if "column" in kwargs else list(kwargs.get("column_list") or [])
        res = r.get("result") or {}
        if offset and res.get("partial_unexpected_index_list"):
            res["partial_unexpected_index_list"] = [i + offset if isinstance(i, int) else i
                                                    for i in res["partial_unexpected_index_list"]]
        if set(cols) & set(personal):
            for k in _VALUE_KEYS:
                res.pop(k, None)
            r.setdefault("expectation_config", {}).setdefault("meta", {})["values_scrubbed"] = "personal data"
    return _bounded(out)


#: Longest vendor-supplied string kept verbatim in stored results, reasons and reports.
MAX_QUOTED = 200


def clip(text: str, limit: int = MAX_QUOTED) -> str:
    """``text``, or its first ``limit`` characters and its length (vendor strings are unbounded).

    >>> clip("x" * 500, 10)
    'xxxxxxxxxx… (500 chars)'
    """
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


def _bounded(obj: Any) -> Any:
    """``obj`` (a JSON document) with every string clipped (:func:`clip`): one 10 MB label must not
    make a 10 MB validation result, reason file or manifest."""
    if isinstance(obj, str):
        return clip(obj)
    if isinstance(obj, dict):
        return {k: _bounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_bounded(v) for v in obj]
    return obj


@functools.cache
def pair_columns(task: str, vendor: str, kind: str = DEFAULT_KIND) -> frozenset[str]:
    """Columns that an expectation compares with another column (they stay text for GX: pandas
    cannot order two categoricals with different categories)."""
    return frozenset(e["kwargs"][c] for d in suite_documents(task, vendor, kind) for e in d["expectations"]
                     if e["type"].startswith("expect_column_pair_values") for c in ("column_A", "column_B"))


def frame_for_gx(table: Any, *, text: frozenset[str] = frozenset()) -> pd.DataFrame:
    """An Arrow batch as the pandas frame GX sees: dictionary-encoded text (the columns ingest reads
    so: few distinct values) as categoricals, except the ``text`` columns; plain text (``item_id``:
    nearly one value per row) as Arrow-backed strings.

    Same values and nulls, but GX's per-batch fingerprint and its column metrics work on the
    codes, several times faster than on strings. Built from the Arrow dictionary directly
    (codes + Arrow-backed categories), without converting each value to Python. Encoding a
    column of mostly distinct values would cost more than it saves (0.25 s of 1.35 s per 1M rows).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    cols: dict[str, Any] = {}
    for name in table.column_names:
        col = table[name]
        if name in text:
            cols[name] = (pc.cast(col, pa.string()) if pa.types.is_dictionary(col.type) else col).to_pandas()
            continue
        if pa.types.is_dictionary(col.type):
            arr = col.unify_dictionaries().combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            if isinstance(arr, pa.ChunkedArray):  # no chunks at all
                arr = pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))
            codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
            categories = pd.Index(pd.arrays.ArrowStringArray(pa.chunked_array([pc.cast(arr.dictionary, pa.string())])))
            cols[name] = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories))
        else:
            cols[name] = col.to_pandas()
    return pd.DataFrame(cols, columns=table.column_names)


def validate_batch(table: Any, *, task: str, vendor: str, parameters: dict[str, Any], offset: int = 0,
                   kind: str = DEFAULT_KIND) -> ValidationOutcome:
    """Validate one Arrow batch of canonical rows with the combined (task, vendor, kind) suite.

    Unexpected values of personal-data columns are scrubbed from the stored result; row
    indices are reported relative to the file (``offset`` = the batch's first row).
    """
    frame = frame_for_gx(table, text=pair_columns(task, vendor, kind))
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(combined_suite(task, vendor, kind), expectation_parameters=_with_columns(parameters, kind),
                            result_format="SUMMARY")
    as_dict = scrub(result.to_json_dict(), personal_columns(task, vendor, kind), offset=offset)
    return ValidationOutcome(success=bool(result.success), failures=_failures(as_dict), result=as_dict)


def merge_outcomes(outcomes: list[ValidationOutcome]) -> ValidationOutcome:
    """One verdict for a file validated in several batches: success only if every batch passed.

    Per expectation, ``element_count`` and ``unexpected_count`` are summed and the first failing
    batch's (scrubbed, capped) examples are kept.
    """
    if len(outcomes) == 1:
        return outcomes[0]
    merged = json.loads(json.dumps(outcomes[0].result))
    for i, r in enumerate(merged["results"]):
        parts = [o.result["results"][i] for o in outcomes]
        r["success"] = all(p["success"] for p in parts)
        res = r.setdefault("result", {}) or {}
        for k in ("element_count", "unexpected_count", "missing_count"):
            if any(k in (p.get("result") or {}) for p in parts):
                res[k] = sum((p.get("result") or {}).get(k) or 0 for p in parts)
        if res.get("element_count"):
            res["unexpected_percent"] = 100.0 * (res.get("unexpected_count") or 0) / res["element_count"]
        first_bad = next((p for p in parts if not p["success"]), None)
        if first_bad is not None:
            for k in ("partial_unexpected_list", "partial_unexpected_counts", "partial_unexpected_index_list", "observed_value"):
                if k in (first_bad.get("result") or {}):
                    res[k] = first_bad["result"][k]
        r["result"] = res
    ok = sum(r["success"] for r in merged["results"])
    merged["success"] = all(o.success for o in outcomes)
    merged["statistics"] = {"evaluated_expectations": len(merged["results"]), "successful_expectations": ok,
                            "unsuccessful_expectations": len(merged["results"]) - ok,
                            "success_percent": 100.0 * ok / max(len(merged["results"]), 1)}
    merged.setdefault("meta", {})["labelq_batches"] = len(outcomes)
    return ValidationOutcome(success=merged["success"], failures=_failures(merged), result=merged)


def _html_escaped(obj: Any) -> Any:
    """``obj`` with every string HTML-escaped: the values a result quotes are vendor data, and GX's
    renderer puts them into the Data Docs pages as they are (``<img src=x onerror=...>`` would run).

    >>> _html_escaped({"partial_unexpected_list": ["<img src=x onerror=alert(1)>"]})
    {'partial_unexpected_list': ['&lt;img src=x onerror=alert(1)&gt;']}
    """
    import html

    if isinstance(obj, str):
        return html.escape(obj)
    if isinstance(obj, dict):
        return {k: _html_escaped(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_html_escaped(v) for v in obj]
    return obj


def build_data_docs(results: list[tuple[str, dict[str, Any]]], site_dir: Path) -> Path:
    """Render stored (already scrubbed) validation results as GX Data Docs under ``site_dir``.

    ``results`` are (run name, ``ExpectationSuiteValidationResult`` JSON) pairs. Returns the
    site's ``index.html``. The site is rebuilt whole (written aside, then swapped in).
    """
    import datetime as dt

    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from pipeline.storage import replace_dir

    with replace_dir(site_dir) as tmp:
        context = gx.get_context(mode="ephemeral")
        context.add_data_docs_site(
            site_name="labelq",
            site_config={"class_name": "SiteBuilder",
                         "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(tmp)},
                         "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}},
        )
        for i, (run_name, doc) in enumerate(results):
            doc = {k: v for k, v in doc.items() if k != "id"}
            doc["results"] = [{**r, "result": _html_escaped(r.get("result") or {})} for r in doc.get("results", [])]
            vr = ExpectationSuiteValidationResult(**doc)
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=doc.get("suite_name") or "annotations"),
                run_id=RunIdentifier(run_name=run_name.replace("/", "__").replace("\\", "__"), run_time=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
                                     + dt.timedelta(seconds=i)),
                batch_identifier=f"batch-{i}",
            )
            context.validation_results_store.set(key, vr)
        context.build_data_docs(site_names=["labelq"])
    return site_dir / "index.html"
