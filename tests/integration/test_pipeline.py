"""All stages over three simulated days, in-process (the same functions the DAG calls)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline import read_training_set, steps
from pipeline.publish import ChecksumMismatch, VersionNotFound, list_versions, read_manifest, version_path
from pipeline.storage import open_store, replace_dir


def _reports(root):
    return [json.loads(p.read_text()) for p in sorted(root.glob("staged/*/date=*/vendor=*/_validate.json"))]


def test_rows_reconcile_for_every_vendor_and_day(processed, config, days):
    reports = _reports(processed)
    assert len(reports) == len(days) * len(config.vendors)
    for r in reports:
        assert r["rows_in"] == r["rows_staged"] + r["rows_quarantined"], r
        landing = processed / config.vendors[r["vendor"]].landing / r["date"]
        delivered = sum(pq.ParquetFile(f).metadata.num_rows for f in landing.glob("*.parquet"))
        assert r["rows_in"] == delivered
        staged = processed / "staged" / r["task"] / f"date={r['date']}" / f"vendor={r['vendor']}"
        assert sum(pq.ParquetFile(f).metadata.num_rows for f in staged.glob("*.parquet")) == r["rows_staged"]


def test_bad_batches_are_quarantined_with_reasons(processed):
    reasons = sorted(processed.glob("quarantine/date=*/vendor=*/*.reason.json"))
    assert reasons, "the simulator's bad batches must end up in quarantine"
    for p in reasons:
        r = json.loads(p.read_text())
        original = processed / r["file"]
        assert (p.parent / original.name).read_bytes() == original.read_bytes()
        assert r["detail"]
        if r["task"] == "sentiment":  # the classification simulator breaks whole batches
            assert r["reason"] in {"validation_failed", "schema_drift", "unreadable", "bad_values"}, r["reason"]
        else:  # the preference one slips bad rows into a good batch: those rows go, the rest is staged
            assert r["reason"] == "bad_rows" and 0 < r["rows_quarantined"] < r["rows"], r
            rows = p.parent / p.name.replace(".parquet.reason.json", ".rows.parquet")
            assert pq.ParquetFile(rows).metadata.num_rows == r["rows_quarantined"]
    assert {json.loads(p.read_text())["task"] for p in reasons} == {"sentiment", "helpfulness"}


def test_staged_rows_are_attributed_to_their_landing_vendor(processed, config):
    for vendor, vcfg in config.vendors.items():
        for f in processed.glob(f"staged/*/date=*/vendor={vendor}/*.parquet"):
            t = pq.read_table(f, columns=["vendor", "source_file"]).to_pandas()
            assert set(t["vendor"]) == {vendor}
            assert t["source_file"].str.startswith(vcfg.landing + "/").all()


def test_published_set_one_row_per_item_with_min_labels(processed, config, days):
    task = config.tasks["sentiment"]
    df = read_training_set(processed, "sentiment")
    assert list_versions(processed, "sentiment") == [d.isoformat() for d in days]
    assert df["item_id"].is_unique
    assert set(df["label"]) <= set(task.labels)
    assert df["confidence"].between(0, 1).all() and df["agreement"].between(0, 1).all()
    assert (df["n_annotations"] >= task.min_labels_per_item).all()
    staged = steps.read_staged(open_store(processed), "sentiment", until=days[-1])
    counts = staged.groupby("item_id").size()
    # majority vote's confidence is the winning label's vote share, computed here from the staged rows
    assert task.consensus == "majority_vote" and task.min_confidence is not None
    share = staged.groupby(["item_id", "label"]).size().groupby(level="item_id").max() / counts
    eligible = counts[(counts >= task.min_labels_per_item) & (share >= task.min_confidence)]
    assert 0 < len(eligible) < (counts >= task.min_labels_per_item).sum()  # both rules hold items out
    assert set(df["item_id"]) == set(eligible.index)
    assert (df.set_index("item_id")["n_annotations"] == counts.reindex(df["item_id"]).to_numpy()).all()
    m = read_manifest(processed, "sentiment")
    assert m["counts"]["published"] == len(df)
    assert m["counts"]["held_out"] == staged["item_id"].nunique() - len(df)
    assert sum(m["class_balance"].values()) == len(df)


def test_vendors_column_lists_contributors(processed, days):
    df = read_training_set(processed, "sentiment").set_index("item_id")
    staged = steps.read_staged(open_store(processed), "sentiment", until=days[-1])
    expected = staged.groupby("item_id")["vendor"].agg(lambda s: ",".join(sorted(set(s))))
    assert (df["vendors"] == expected.reindex(df.index)).all()


def test_consensus_beats_the_weakest_vendor_on_gold(processed, days):
    df = read_training_set(processed, "sentiment")
    gold = steps.read_gold(open_store(processed), "sentiment")
    m = df.merge(gold, on="item_id")
    consensus_acc = (m["label"] == m["gold_label"]).mean()
    summary = json.loads((processed / "metrics" / "sentiment" / f"date={days[0]}" / "summary.json").read_text())
    vendor_acc = {v: a["accuracy"] for v, a in summary["gold_accuracy"].items()}
    assert vendor_acc["acme"] > vendor_acc["crowdly"]
    assert consensus_acc > min(vendor_acc.values())


def test_metrics_partition_has_agreement_and_accuracy(processed, days, config):
    part = processed / "metrics" / "sentiment" / f"date={days[0]}"
    agreement = pd.read_parquet(part / "agreement.parquet")
    assert {"overall", *config.vendors_for("sentiment")} <= set(agreement["scope"])
    overall = agreement[agreement["scope"] == "overall"].set_index("metric")["value"]
    assert 0 < overall["krippendorff_alpha"] < 1 and 0 < overall["percent_agreement"] < 1
    acc = pd.read_parquet(part / "accuracy_vendor.parquet")
    assert set(acc["vendor"]) == set(config.vendors_for("sentiment"))
    assert ((acc["ci_low"] <= acc["accuracy"]) & (acc["accuracy"] <= acc["ci_high"])).all()


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


def test_rerunning_a_day_reproduces_its_version_and_keeps_latest(processed, config, days, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    before = {d: _digest(root / "curated" / "sentiment" / d.isoformat()) for d in days}
    steps.run_day(config, open_store(root), days[0])  # a backfill of the first day
    assert _digest(root / "curated" / "sentiment" / days[0].isoformat()) == before[days[0]]
    assert read_manifest(root, "sentiment")["version"] == days[-1].isoformat()
    # a re-run overwrites partitions instead of appending
    assert len(steps.read_staged(open_store(root), "sentiment", day=days[0])) == len(steps.read_staged(open_store(processed), "sentiment", day=days[0]))


def test_failed_write_leaves_previous_output_intact(tmp_path):
    dest = tmp_path / "part"
    with replace_dir(dest) as d:
        (d / "a.txt").write_text("good")
    with pytest.raises(RuntimeError):
        with replace_dir(dest) as d:
            (d / "a.txt").write_text("half")
            raise RuntimeError("killed mid-write")
    assert (dest / "a.txt").read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["part"]


def test_reader_verifies_checksums_and_names_versions(processed, tmp_path, days):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    with pytest.raises(VersionNotFound, match=r"no version '2020-01-01'; published: \['2026-11-01'"):
        read_training_set(root, "sentiment", version="2020-01-01")
    with pytest.raises(VersionNotFound, match="no published training set"):
        read_training_set(root, "toxicity")
    first = read_training_set(root, "sentiment", version=days[0].isoformat())
    assert len(first) < len(read_training_set(root, "sentiment"))
    # the version's immutable build folder (copytree turned the <version> symlink into a copy)
    part = version_path(root, "sentiment", days[-1].isoformat()) / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ChecksumMismatch, match="part-00000.parquet"):
        read_training_set(root, "sentiment")


def test_measure_writes_per_category_and_annotator_pair_agreement(processed, days):
    from pipeline.measure.agreement import cohen_kappa, per_category_agreement

    part = processed / "metrics" / "sentiment" / f"date={days[0]}"
    from pipeline.contract import namespaced

    ann = namespaced(steps.read_staged(open_store(processed), "sentiment", day=days[0]))  # an annotator is (vendor, id)
    per_cat = pd.read_parquet(part / "agreement_per_category.parquet")
    expected = per_category_agreement(ann)
    assert per_cat["category"].tolist() == expected["category"].tolist()
    assert per_cat["value"].to_numpy() == pytest.approx(expected["value"].to_numpy(), nan_ok=True)
    pairs = pd.read_parquet(part / "kappa_annotators.parquet")
    assert (pairs["annotator_a"] < pairs["annotator_b"]).all()
    # exactly the pairs that share an item (sparse: no row per pair that cannot be compared),
    # with the number of items they share, found here by a self-join of the labels
    both = ann[["item_id", "annotator_id"]].merge(ann[["item_id", "annotator_id"]], on="item_id")
    both = both[both["annotator_id_x"] < both["annotator_id_y"]]
    expected_pairs = both.groupby(["annotator_id_x", "annotator_id_y"]).size()
    got = pairs.set_index(["annotator_a", "annotator_b"])["n_items"]
    assert len(pairs) == len(expected_pairs) > 0
    assert got.sort_index().tolist() == expected_pairs.sort_index().tolist()
    assert list(got.sort_index().index) == list(expected_pairs.sort_index().index)
    for row in pairs.dropna(subset=["kappa"]).head(25).itertuples():
        assert row.kappa == pytest.approx(cohen_kappa(ann, raters=(row.annotator_a, row.annotator_b)), abs=1e-12)
