import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.validate.stage import annotated_at_bounds
from pipeline.validate.gx import load_suite, validate_batch
from pipeline.storage import open_store

DAY = date(2026, 11, 1)
PARAMS = {"label_set": ["negative", "neutral", "positive"], "vendor_set": ["acme"], "task_set": ["sentiment"],
          **annotated_at_bounds(DAY)}


def _frame(**overrides):
    df = pd.DataFrame({
        "task": "sentiment", "item_id": ["i1", "i1", "i2"], "vendor": "acme", "annotator_id": ["a", "b", "a"],
        "label": ["positive", "neutral", "negative"],
        "annotated_at": pd.to_datetime(["2026-11-01T10:00Z"] * 3, utc=True), "batch_id": "b1", "source_file": "f",
    })
    for k, v in overrides.items():
        df[k] = v
    return df


def validate_frame(frame: pd.DataFrame, *, parameters: dict):
    """GX's verdict on ``frame`` as the validate stage gets it (sentiment's and acme's suites)."""
    return validate_batch(pa.Table.from_pandas(frame, preserve_index=False), task="sentiment", vendor="acme",
                          parameters=parameters)


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


def test_a_failure_names_its_column_rows_and_values():
    out = validate_frame(_frame(label=["positive", "MIXED", "negative"]), parameters=PARAMS)
    found = [f for f in out.failures if f["reason"] == "unknown_label"]  # the label set, and the task's own suite
    assert found and all(f["column"] == "label" and f["example_rows"] == [1] and "MIXED" in f["examples"] for f in found)


def test_empty_batch_fails():
    out = validate_frame(_frame().iloc[0:0], parameters=PARAMS)
    assert not out.success and out.failures[0]["reason"] == "empty_batch"


def test_validate_stage_quarantines_original_bytes_with_gx_result(fresh_copy, config):
    folder = fresh_copy / config.vendors["acme"].landing / DAY.isoformat()
    bad = pd.read_parquet(sorted(folder.glob("*.parquet"))[0])
    bad.loc[bad.index[:7], "answer"] = "MAYBE"
    bad["batch"] = "acme-bad"
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), folder / "acme-bad.parquet")
    steps.ingest(config, open_store(fresh_copy), DAY, "acme")
    out = steps.validate(config, open_store(fresh_copy), DAY, "acme")
    assert out["batches_quarantined"] == 1 and out["batches_staged"] == 2
    assert out["rows_in"] == out["rows_staged"] + out["rows_quarantined"]
    assert out["rows_quarantined"] == len(bad)
    q = fresh_copy / "quarantine" / f"date={DAY}" / "vendor=acme"
    assert (q / "acme-bad.parquet").read_bytes() == (folder / "acme-bad.parquet").read_bytes()
    reason = json.loads((q / "acme-bad.parquet.reason.json").read_text())
    assert reason["reason"] == "validation_failed" and reason["rows"] == len(bad)
    assert reason["failures"][0]["unexpected_count"] == 7
    assert reason["gx_result"]["success"] is False
    # row-level policy: the 7 unknown labels are counted exactly; every other row repeats an
    # (item, annotator) pair the first file already staged, so the file is over the bad-row
    # threshold and is quarantined whole
    assert reason["row_reasons"] == {"unknown_label": 7, "duplicate_staged": len(bad) - 7}
    assert reason["policy"] == "file" and reason["cause"].startswith("too_many_bad_rows")
    staged = fresh_copy / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme"
    assert "acme-bad.parquet" not in {p.name for p in staged.iterdir()}


def test_rejected_file_is_quarantined_and_others_continue(fresh_copy, config):
    folder = fresh_copy / config.vendors["bluepeak"].landing / DAY.isoformat()
    (folder / "broken.parquet").write_bytes(b"not parquet at all")
    steps.ingest(config, open_store(fresh_copy), DAY, "bluepeak")
    out = steps.validate(config, open_store(fresh_copy), DAY, "bluepeak")
    assert out["batches_quarantined"] == 1 and out["batches_staged"] == 2 and out["unreadable_files"] == 1
    reason = json.loads((fresh_copy / "quarantine" / f"date={DAY}" / "vendor=bluepeak" / "broken.parquet.reason.json").read_text())
    assert reason["reason"] == "unreadable" and "broken.parquet" in reason["detail"]


def test_validate_needs_ingest_first(fresh_copy, config):
    with pytest.raises(FileNotFoundError, match="run the ingest stage"):
        steps.validate(config, open_store(fresh_copy), DAY, "crowdly")


def test_each_task_suite_matches_its_config_labels(config, repo):
    labelled = {name: task for name, task in config.tasks.items() if task.labels}  # a preference task has a / b / tie
    assert "sentiment" in labelled and "helpfulness" not in labelled
    for name, task in labelled.items():
        suite = json.loads((repo / "expectations" / "tasks" / f"{name}.json").read_text())
        in_set = [e for e in suite["expectations"] if e["type"] == "expect_column_values_to_be_in_set"]
        assert in_set and in_set[0]["kwargs"]["value_set"] == task.labels


def test_canonical_task_and_vendor_suites_are_combined_from_json():
    from pipeline.validate.gx import combined_suite, suite_names

    assert suite_names("sentiment", "crowdly") == ["annotations", "kinds/classification", "tasks/sentiment", "vendors/crowdly"]
    assert suite_names("sentiment", "acme") == ["annotations", "kinds/classification", "tasks/sentiment"]
    assert suite_names("helpfulness", "arena", "preference") == ["annotations", "kinds/preference"]
    n = sum(len(load_suite(s).expectations) for s in suite_names("sentiment", "crowdly"))
    assert len(combined_suite("sentiment", "crowdly").expectations) == n


def test_personal_values_are_scrubbed_but_rows_and_counts_kept():
    import pyarrow as pa

    from pipeline.validate.gx import validate_batch

    frame = _frame(annotator_id=["secret-a", "secret-a", None], item_id=["i1", "i1", "i2"])
    out = validate_batch(pa.Table.from_pandas(frame, preserve_index=False), task="sentiment", vendor="acme",
                         parameters=PARAMS, offset=100)
    assert "secret-a" not in json.dumps(out.result)
    dup = {f["reason"]: f for f in out.failures}["duplicate_label"]
    assert dup["unexpected_count"] == 2 and dup["example_rows"] == [100, 101] and dup["examples"] == []
    assert "id" not in out.result and "ge_load_time" not in json.dumps(out.result)  # reproducible bytes


def test_docs_builds_a_gx_site_without_personal_values(fresh_copy, config):
    from pipeline.cli import main

    folder = fresh_copy / config.vendors["acme"].landing / DAY.isoformat()
    t = pa.table({"item": ["x1", "x1", "x2"], "worker": ["secret-w", "secret-w", "ok"], "answer": ["POS", "NEG", "??"],
                  "ts": pa.array([pd.Timestamp("2026-11-01T10:00Z")] * 3), "batch": ["acme-x"] * 3})
    pq.write_table(t, folder / "acme-x.parquet")
    steps.ingest(config, open_store(fresh_copy), DAY, "acme")
    steps.validate(config, open_store(fresh_copy), DAY, "acme")
    staged = fresh_copy / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme"
    assert sorted(p.name for p in staged.glob("*.validation.json")) == [  # beside each staged batch, hidden
        ".acme-20261101-01.validation.json", ".acme-20261101-02.validation.json"]  # so dataset readers skip them
    assert main(["docs", "--root", str(fresh_copy), "-q"]) == 0
    site = fresh_copy / "docs" / "gx"
    pages = list(site.rglob("*.html"))
    assert (site / "index.html").is_file() and len(pages) >= 4
    assert not any("secret-w" in p.read_text(errors="replace") for p in pages)


def test_data_docs_escape_vendor_values(fresh_copy, config):
    """A label that is HTML (``<img src=x onerror=...>``) must reach the Data Docs pages as text."""
    from pipeline.cli import main

    payload = "<img src=x onerror=alert(1)>"
    folder = fresh_copy / config.vendors["acme"].landing / DAY.isoformat()
    t = pa.table({"item": ["x1", "x2", "x3"], "worker": ["w-a", "w-b", "w-c"], "answer": [payload, "NEG", "POS"],
                  "ts": pa.array([pd.Timestamp("2026-11-01T10:00Z")] * 3), "batch": ["acme-x"] * 3})
    pq.write_table(t, folder / "acme-x.parquet")
    steps.ingest(config, open_store(fresh_copy), DAY, "acme")
    steps.validate(config, open_store(fresh_copy), DAY, "acme")
    assert main(["docs", "--root", str(fresh_copy), "-q"]) == 0
    pages = [p.read_text(errors="replace") for p in (fresh_copy / "docs" / "gx").rglob("*.html")]
    assert not any(payload in page for page in pages)
    assert any("&lt;img src=x onerror=alert(1)&gt;" in page or "&amp;lt;img" in page for page in pages)
