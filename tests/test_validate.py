import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.validate import describe, load_suite, validate_frame

DAY = date(2026, 11, 1)
PARAMS = {"label_set": ["negative", "neutral", "positive"], "vendor_set": ["acme"], "task_set": ["sentiment"]}


def _frame(**overrides):
    df = pd.DataFrame({
        "task": "sentiment", "item_id": ["i1", "i1", "i2"], "vendor": "acme", "annotator_id": ["a", "b", "a"],
        "label": ["positive", "neutral", "negative"],
        "annotated_at": pd.to_datetime(["2026-11-01T10:00Z"] * 3, utc=True), "batch_id": "b1", "source_file": "f",
    })
    for k, v in overrides.items():
        df[k] = v
    return df


def test_suite_is_loaded_by_gx_from_json(repo):
    suite = load_suite("annotations")
    on_disk = json.loads((repo / "expectations" / "annotations.json").read_text())
    assert suite.name == on_disk["name"] == "annotations"
    assert len(suite.expectations) == len(on_disk["expectations"]) >= 10


def test_good_batch_passes():
    out = validate_frame(_frame(), parameters=PARAMS)
    assert out.success and out.failures == []


@pytest.mark.parametrize(
    "overrides, reason, column",
    [
        ({"label": ["positive", "MIXED", "negative"]}, "unknown_label", "label"),
        ({"annotator_id": ["a", None, "a"]}, "null_annotator_id", "annotator_id"),
        ({"annotator_id": ["a", "a", "a"]}, "duplicate_label", ["item_id", "annotator_id"]),
        ({"vendor": "bluepeak"}, "wrong_vendor", "vendor"),
    ],
)
def test_bad_batches_fail_with_reason_and_column(overrides, reason, column):
    out = validate_frame(_frame(**overrides), parameters=PARAMS)
    assert not out.success
    reasons = {f["reason"]: f for f in out.failures}
    assert reason in reasons
    assert reasons[reason]["column"] == column
    assert reasons[reason]["unexpected_count"] >= 1


def test_description_names_file_column_and_rows():
    out = validate_frame(_frame(label=["positive", "MIXED", "negative"]), parameters=PARAMS)
    text = describe(out.failures, file="landing/acme/x.parquet")
    assert "landing/acme/x.parquet" in text and "'label'" in text and "rows [1]" in text and "MIXED" in text


def test_empty_batch_fails():
    out = validate_frame(_frame().iloc[0:0], parameters=PARAMS)
    assert not out.success and out.failures[0]["reason"] == "empty_batch"


def test_validate_stage_quarantines_original_bytes_with_gx_result(fresh_copy, config):
    folder = fresh_copy / config.vendors["acme"].landing / DAY.isoformat()
    bad = pd.read_parquet(sorted(folder.glob("*.parquet"))[0])
    bad.loc[bad.index[:7], "answer"] = "MAYBE"
    bad["batch"] = "acme-bad"
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), folder / "acme-bad.parquet")
    steps.ingest(config, fresh_copy, DAY, "acme")
    out = steps.validate(config, fresh_copy, DAY, "acme")
    assert out["batches_quarantined"] == 1 and out["batches_staged"] == 2
    assert out["rows_in"] == out["rows_staged"] + out["rows_quarantined"]
    assert out["rows_quarantined"] == len(bad)
    q = fresh_copy / "quarantine" / f"date={DAY}" / "vendor=acme"
    assert (q / "acme-bad.parquet").read_bytes() == (folder / "acme-bad.parquet").read_bytes()
    reason = json.loads((q / "acme-bad.parquet.reason.json").read_text())
    assert reason["reason"] == "validation_failed" and reason["rows"] == len(bad)
    assert reason["failures"][0]["unexpected_count"] == 7
    assert reason["gx_result"]["success"] is False
    staged = fresh_copy / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme"
    assert "acme-bad.parquet" not in {p.name for p in staged.iterdir()}


def test_rejected_file_is_quarantined_and_others_continue(fresh_copy, config):
    folder = fresh_copy / config.vendors["bluepeak"].landing / DAY.isoformat()
    (folder / "broken.parquet").write_bytes(b"not parquet at all")
    steps.ingest(config, fresh_copy, DAY, "bluepeak")
    out = steps.validate(config, fresh_copy, DAY, "bluepeak")
    assert out["batches_quarantined"] == 1 and out["batches_staged"] == 2 and out["unreadable_files"] == 1
    reason = json.loads((fresh_copy / "quarantine" / f"date={DAY}" / "vendor=bluepeak" / "broken.parquet.reason.json").read_text())
    assert reason["reason"] == "unreadable" and "broken.parquet" in reason["detail"]


def test_validate_needs_ingest_first(fresh_copy, config):
    with pytest.raises(FileNotFoundError, match="run the ingest stage"):
        steps.validate(config, fresh_copy, DAY, "crowdly")
