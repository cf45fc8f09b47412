"""A label kind from outside the package runs through every stage to a published set.

``helpers.score_kind.ScoreKind`` (a numeric score per label) is unknown to ``pipeline/``; the
task names it by import path. Simulated by its own simulator, then ingest, validate, measure,
merge, publish, scorecard, SLA check and report run as for classification, and each output is
checked against numbers recomputed here from the staged rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, TESTS
from pipeline import steps
from pipeline.config import ConfigError, parse_config
from pipeline.kinds import get_kind, kind_names
from pipeline.publish import read_manifest, read_training_set
from pipeline.simulate import simulate
from pipeline.storage import open_store

KIND = "helpers.score_kind:ScoreKind"
START = date(2026, 11, 1)
RAW = {
    "tasks": {"quality": {"kind": KIND, "options": {"min": 0, "max": 10, "tolerance": 1.0}, "min_labels_per_item": 2}},
    "vendors": {
        "rateco": {"task": "quality", "landing": "landing/rateco", "price_per_label": 0.05,
                   "columns": {"doc": "item_id", "rater": "annotator_id", "value": "score", "at": "annotated_at"},
                   "sla": {"min_gold_accuracy": 0.5, "min_gold_labels": 5}},
        "scorely": {"task": "quality", "landing": "landing/scorely", "price_per_label": 0.02,
                    "columns": {"id": "item_id", "who": "annotator_id", "points": "score", "ts": "annotated_at"}},
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    config = parse_config(RAW)
    sim = simulate(config, open_store(root), seed=3, days=2, start=START, items_per_day=60, gold_fraction=0.3)
    results = [steps.run_day(config, open_store(root), START + pd.Timedelta(days=d).to_pytimedelta()) for d in range(2)]
    return config, root, sim, results


def test_the_kind_is_found_by_import_path_and_registered_by_name(run):
    kind = get_kind(KIND)
    assert kind.name == "score" and "score" in kind_names() and get_kind("score") is kind
    assert kind.annotations.names == ["task", "item_id", "vendor", "annotator_id", "score", "annotated_at", "batch_id",
                                      "source_file"]


def test_config_errors_come_from_the_kind():
    bad = json.loads(json.dumps(RAW))
    bad["tasks"]["quality"]["options"]["colour"] = "red"
    with pytest.raises(ConfigError, match=r"tasks\.quality: options: unknown option\(s\) \['colour'\]"):
        parse_config(bad)
    bad = json.loads(json.dumps(RAW))
    bad["vendors"]["rateco"]["columns"]["value"] = "label"  # a classification column on a score task
    with pytest.raises(ConfigError, match=r"vendors\.rateco\.columns: maps onto unknown canonical columns \['label'\]"):
        parse_config(bad)
    with pytest.raises(ConfigError, match="unknown label kind 'nope'"):
        parse_config({**RAW, "tasks": {"quality": {"kind": "nope"}}})


def test_rows_reconcile_and_the_off_scale_score_is_quarantined_with_its_reason(run):
    config, root, sim, results = run
    first = results[0]["vendors"]["rateco"]["validate"]
    assert first["rows_in"] == first["rows_staged"] + first["rows_quarantined"] == 2 * 60
    assert first["rows_quarantined"] == 1
    rows = pd.read_parquet(next((root / "quarantine" / f"date={START}" / "vendor=rateco").glob("*.rows.parquet")))
    assert rows["reason"].tolist() == ["score_out_of_range"] and rows["score"].tolist() == [15.0]
    delivered = sum(pd.read_parquet(f).shape[0] for f in sim.files)
    assert delivered == sim.rows
    staged = sum(v["validate"]["rows_staged"] + v["validate"]["rows_quarantined"]
                 for r in results for v in r["vendors"].values())
    assert staged == delivered == 2 * 2 * 2 * 60


def test_published_set_is_the_kinds_curated_schema_with_per_item_means(run):
    config, root, sim, results = run
    last = START + pd.Timedelta(days=1).to_pytimedelta()
    ts = read_training_set(root, "quality")
    assert list(ts.columns) == [*get_kind("score").curated.names]
    assert ts["score"].dtype == np.float64
    staged = steps.read_staged(open_store(root), "quality", until=last)
    expected = staged.groupby("item_id")["score"].mean()
    got = ts.set_index("item_id")["score"]
    assert len(got) == staged["item_id"].nunique() == 120
    np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(), rtol=0, atol=1e-12)
    counts = staged.groupby("item_id").size().reindex(got.index)
    assert (ts["n_annotations"].to_numpy() == counts.to_numpy()).all() and sorted(set(counts)) == [3, 4]  # one quarantined
    assert set(ts["vendors"]) == {"rateco,scorely"}
    manifest = read_manifest(root, "quality", last.isoformat())
    assert manifest["kind"] == "score" and "class_balance" not in manifest
    assert manifest["score_summary"]["mean"] == pytest.approx(float(ts["score"].mean()), abs=1e-12)
    assert manifest["consensus"] == {"method": "mean", "min_labels_per_item": 2, "settings": {"tolerance": 1.0},
                                     "gold_items": sim.gold_items}


def test_gold_accuracy_is_the_kinds_definition_of_correct(run):
    config, root, sim, results = run
    ann = steps.read_staged(open_store(root), "quality", day=START)
    gold = pd.read_parquet(root / "gold" / "quality.parquet").set_index("item_id")["gold_score"]
    on_gold = ann[ann["item_id"].isin(gold.index)]
    correct = (on_gold["score"] - on_gold["item_id"].map(gold)).abs() <= 1.0
    card = pd.read_parquet(root / "scorecards" / "quality" / f"date={START}" / "scorecard_vendor.parquet")
    for vendor, acc in correct.groupby(on_gold["vendor"]).mean().items():
        row = card[card["vendor"] == vendor].iloc[0]
        assert row["gold_accuracy"] == pytest.approx(acc, abs=1e-12)
        assert row["n_gold"] == correct[on_gold["vendor"] == vendor].size
        assert row["cost_per_correct_label"] == pytest.approx(config.vendors[vendor].price_per_label / acc)
    # the noisier vendor (sd 1.0 against 0.5) is less often within the tolerance
    by_vendor = card.set_index("vendor")["gold_accuracy"]
    assert by_vendor["rateco"] > by_vendor["scorely"]
    metrics = json.loads((root / "metrics" / "quality" / f"date={START}" / "summary.json").read_text())
    assert metrics["kind"] == "score" and metrics["gold_accuracy"]["rateco"]["accuracy"] == pytest.approx(by_vendor["rateco"])


def test_agreement_is_alpha_interval_equal_to_the_krippendorff_package(run):
    import krippendorff  # the peer package (a dev dependency)

    config, root, sim, results = run
    ann = steps.read_staged(open_store(root), "quality", day=START)
    raters = ann.assign(rater=ann["vendor"] + "/" + ann["annotator_id"])
    matrix = raters.pivot_table(index="rater", columns="item_id", values="score", aggfunc="first")
    expected = krippendorff.alpha(reliability_data=matrix.to_numpy(), level_of_measurement="interval")
    agreement = pd.read_parquet(root / "metrics" / "quality" / f"date={START}" / "agreement.parquet")
    overall = agreement[(agreement["scope"] == "overall") & (agreement["metric"] == "krippendorff_alpha")]
    assert overall["value"].iloc[0] == pytest.approx(expected, abs=1e-9)


def test_sla_and_report_run_for_the_kind(run):
    config, root, sim, results = run
    out = steps.check_sla(config, open_store(root), START, "quality")
    assert out["status"] == {"rateco": "ok"}  # gold accuracy ~0.95 on ~36 gold labels; scorely has no SLA
    html = (root / "reports" / "quality" / f"{START}.html").read_text()
    assert "rateco" in html and "scorely" in html
    assert 'id="score-histogram"' in html and "Confusion against gold" not in html  # the kind's sections only
    data = json.loads((root / "reports" / "quality" / f"{START}.json").read_text())
    assert data["labels"] == [] and data["confusion"] == [] and data["kind"] == "score"
    histogram = data["kind_sections"][0]["rows"]
    assert sum(r["items"] for r in histogram) == 60  # the first day's items


@pytest.mark.slow  # two fresh processes (simulate, run): ~30 s
def test_the_cli_finds_the_kind_by_import_path_in_a_new_process(tmp_path):
    """What an Airflow task does: a fresh process that knows the kind only from the config."""
    cfg = tmp_path / "labelq.yaml"
    cfg.write_text(yaml.safe_dump(RAW))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]), "LABELQ_CONFIG": str(cfg)}
    labelq = [sys.executable, "-m", "pipeline.cli"]
    subprocess.run([*labelq, "simulate", "--root", str(tmp_path / "data"), "--days", "1", "--start", str(START)],
                   env=env, check=True, capture_output=True)
    done = subprocess.run([*labelq, "run", "--root", str(tmp_path / "data"), "--date", str(START)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_manifest(tmp_path / "data", "quality", str(START))["kind"] == "score"


def test_a_kind_that_measures_without_the_shared_tables_is_refused():
    from pipeline.kinds import Measured

    with pytest.raises(TypeError, match=r"no table\(s\) \['accuracy_vendor', 'accuracy_annotator'\]"):
        Measured({"agreement": pd.DataFrame()})
