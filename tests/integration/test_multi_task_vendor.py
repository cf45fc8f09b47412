"""One vendor file feeds several tasks (``vendors.<v>.tasks``), configured without code.

A file with a helpfulness and a harmlessness column feeds two classification tasks; each task
reads its own column with its own vocabulary, validates and quarantines on its own, and is
published on its own, with every row attributed to the vendor that delivered it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import ConfigError, parse_config
from pipeline.publish import read_manifest, read_training_set
from pipeline.storage import open_store

from helpers.deliveries import DAY

RAW = {
    "tasks": {"helpfulness": {"labels": ["bad", "ok", "good"], "min_labels_per_item": 2},
              "harmlessness": {"labels": ["unsafe", "safe"], "min_labels_per_item": 2}},
    "vendors": {
        "acme": {"landing": "landing/acme", "max_bad_row_fraction": 0.5,
                 "columns": {"item": "item_id", "worker": "annotator_id", "ts": "annotated_at"},
                 "tasks": {"helpfulness": {"columns": {"help": "label"}, "labels": {"1": "bad", "2": "ok", "3": "good"}},
                           "harmlessness": {"columns": {"harm": "label"}, "labels": {"no": "unsafe", "yes": "safe"},
                                            "sla": {"min_gold_accuracy": 0.5}}}},
        "bluepeak": {"task": "helpfulness", "landing": "landing/bluepeak",
                     "columns": {"id": "item_id", "rater": "annotator_id", "answer": "label"}},
    },
}
N = 40  # acme rows: 20 items x 2 workers


def _acme() -> pa.Table:
    k = np.arange(N)
    harm = np.where(k % 3 == 0, "no", "yes").astype(object)
    harm[5] = "maybe"  # unknown to harmlessness only: that task quarantines the row, helpfulness keeps it
    return pa.Table.from_pandas(pd.DataFrame({
        "item": [f"i{j // 2}" for j in k], "worker": [f"w{j % 2}" for j in k],
        "help": (k % 3 + 1).astype("int64"), "harm": harm,
        "ts": pd.Timestamp("2026-11-01 12:00", tz="UTC") + pd.to_timedelta(k, unit="s"),
    }), preserve_index=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    config = parse_config(RAW)
    for vendor, name, table in (("acme", "acme-1.parquet", _acme()),
                                ("bluepeak", "bp-1.parquet", pa.table({"id": [f"i{j}" for j in range(20)],
                                                                       "rater": ["b0"] * 20, "answer": ["good"] * 20}))):
        folder = root / "landing" / vendor / DAY.isoformat()
        folder.mkdir(parents=True)
        pq.write_table(table, folder / name)
    return config, root, steps.run_day(config, open_store(root), DAY)


def test_each_task_reads_its_own_column_and_reconciles_on_its_own(run):
    config, root, out = run
    v = out["vendors"]["acme"]["validate"]
    assert set(v["tasks"]) == {"helpfulness", "harmlessness"}
    help_, harm = v["tasks"]["helpfulness"], v["tasks"]["harmlessness"]
    assert (help_["rows_in"], help_["rows_staged"], help_["rows_quarantined"]) == (N, N, 0)
    assert (harm["rows_in"], harm["rows_staged"], harm["rows_quarantined"]) == (N, N - 1, 1)
    assert v["rows_in"] == 2 * N == v["rows_staged"] + v["rows_quarantined"]  # one canonical row per (file row, task)
    q = root / "quarantine" / f"date={DAY}" / "vendor=acme" / "task=harmlessness"
    rows = pd.read_parquet(next(q.glob("*.rows.parquet")))
    assert rows["reason"].tolist() == ["unknown_label"] and rows["source_row"].tolist() == [5]
    reason = json.loads(next(q.glob("*.reason.json")).read_text())
    assert reason["task"] == "harmlessness" and reason["quarantined_rows"] == "task=harmlessness/acme-1.rows.parquet"


def test_staged_rows_carry_their_task_vocabulary_and_vendor(run):
    config, root, out = run
    helpful = steps.read_staged(open_store(root), "helpfulness", day=DAY)
    harmless = steps.read_staged(open_store(root), "harmlessness", day=DAY)
    acme_help = helpful[helpful["vendor"] == "acme"].sort_values(["item_id", "annotator_id"])
    assert len(acme_help) == N and set(acme_help["label"]) == {"bad", "ok", "good"}
    assert set(harmless["vendor"]) == {"acme"} and set(harmless["label"]) == {"unsafe", "safe"}
    assert set(helpful["task"]) == {"helpfulness"} and set(harmless["task"]) == {"harmlessness"}
    assert len(helpful[helpful["vendor"] == "bluepeak"]) == 20


def test_both_tasks_publish_and_score_the_vendor(run):
    config, root, out = run
    helpful = read_training_set(root, "helpfulness")
    harmless = read_training_set(root, "harmlessness")
    assert len(helpful) == 20 and "i2" in set(helpful["item_id"])
    # row 5 (item i2) was quarantined for harmlessness only: one label left there, under min_labels_per_item
    assert len(harmless) == 19 and "i2" not in set(harmless["item_id"])
    held = pd.read_parquet(root / "consensus" / "harmlessness" / f"date={DAY}" / "relabel.parquet")
    assert held["item_id"].tolist() == ["i2"] and held["held_out_reason"].tolist() == ["fewer than 2 labels"]
    assert set(helpful["vendors"]) == {"acme,bluepeak"} and set(harmless["vendors"]) == {"acme"}
    assert read_manifest(root, "helpfulness", DAY.isoformat())["kind"] == "classification"
    # no gold file: the harmlessness SLA of acme cannot be judged, and helpfulness has none
    assert steps.check_vendor_sla(config, open_store(root), DAY, "harmlessness", "acme")["status"] == "insufficient_data"
    assert steps.check_vendor_sla(config, open_store(root), DAY, "helpfulness", "acme")["status"] == "no_sla"


def test_the_same_bytes_again_are_a_no_op_for_every_task(run, tmp_path):
    config, root, _ = run
    import shutil

    copy = tmp_path / "root"
    shutil.copytree(root, copy)
    folder = copy / "landing" / "acme" / DAY.isoformat()
    shutil.copy(folder / "acme-1.parquet", folder / "acme-1-again.parquet")
    steps.ingest(config, open_store(copy), DAY, "acme")
    v = steps.validate(config, open_store(copy), DAY, "acme")
    assert v["tasks"]["helpfulness"]["batches_duplicate"] == v["tasks"]["harmlessness"]["batches_duplicate"] == 1
    assert v["tasks"]["helpfulness"]["rows_staged"] == N  # the copy adds nothing


@pytest.mark.parametrize("change, message", [
    (lambda r: r["vendors"]["acme"]["tasks"]["harmlessness"]["columns"].clear(),
     r"vendors\.acme\.tasks\.harmlessness\.columns: maps no vendor column to \['label'\]"),
    (lambda r: r["vendors"]["acme"].update(task="helpfulness"), "give either task .* or tasks"),
    (lambda r: r["vendors"]["acme"]["tasks"].update(topic={"columns": {"t": "label"}}),
     r"vendors\.acme\.tasks\.topic: unknown task 'topic'"),
    (lambda r: r["vendors"]["acme"]["tasks"]["harmlessness"]["labels"].update(meh="neutral"),
     r"vendors\.acme\.tasks\.harmlessness\.labels: maps onto \['neutral'\]"),
])
def test_config_errors_name_the_task_of_the_vendor(change, message):
    raw = json.loads(json.dumps(RAW))
    change(raw)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
