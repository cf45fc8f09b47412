"""Scorecards against hand-computed values on tiny frames, and the metrics history on disk."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.score.scorecard import (
    ANNOTATOR_COLUMNS,
    METRIC_TABLES,
    VENDOR_COLUMNS,
    LowEffortRules,
    build_scorecards,
    cost_columns,
    kappa_vs_consensus,
    leave_one_vendor_out,
    low_effort_signals,
    gold_scores,
    read_metrics_history,
    turnaround,
    write_scorecards,
)
from pipeline.storage import open_store

LABELS = ["a", "b"]
# Wilson 95% interval of 3/4 (statsmodels proportion_confint(3, 4, method="wilson"))
WILSON_3_OF_4 = (0.30064184258240184, 0.9544127391902995)


def _frame(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """(vendor, annotator, item, label, 'HH:MM') rows -> canonical long frame."""
    df = pd.DataFrame(rows, columns=["vendor", "annotator_id", "item_id", "label", "t"])
    df["annotated_at"] = pd.to_datetime("2026-11-01 " + df.pop("t")).dt.tz_localize("UTC")
    df["task"], df["batch_id"], df["source_file"] = "toy", "b1", "f1"
    return df


@pytest.fixture
def toy() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three vendors on items x1..x3 (+ x4 labelled by A only); gold on all four.

    A (one annotator): x1 a, x2 a, x3 b, x4 b    gold: x1 a, x2 b, x3 b, x4 b  -> 3/4
    B (one annotator): x1 a, x2 b, x3 b                                         -> 3/3
    C (c1, c2):        x1 a a, x2 b b, x3 a b                                   -> 5/6
    """
    ann = _frame([
        ("A", "a1", "x1", "a", "09:00"), ("A", "a1", "x2", "a", "09:30"),
        ("A", "a1", "x3", "b", "10:15"), ("A", "a1", "x4", "b", "12:00"),
        ("B", "b1", "x1", "a", "09:00"), ("B", "b1", "x2", "b", "09:10"), ("B", "b1", "x3", "b", "09:20"),
        ("C", "c1", "x1", "a", "11:00"), ("C", "c1", "x2", "b", "11:05"), ("C", "c1", "x3", "a", "11:10"),
        ("C", "c2", "x1", "a", "11:00"), ("C", "c2", "x2", "b", "11:05"), ("C", "c2", "x3", "b", "11:10"),
    ])
    gold = pd.DataFrame({"item_id": ["x1", "x2", "x3", "x4"], "gold_label": ["a", "b", "b", "b"]})
    return ann, gold


@pytest.fixture
def cards(toy):
    ann, gold = toy
    return build_scorecards(ann, gold, task="toy", labels=LABELS, prices={"A": 0.10, "B": 0.20, "C": 0.05})


def test_gold_accuracy_three_of_four_with_wilson_interval(cards):
    a = cards.vendor.set_index("vendor").loc["A"]
    assert (a["n_gold"], a["n_correct"]) == (4, 3)
    assert a["gold_accuracy"] == pytest.approx(0.75)
    assert (a["gold_ci_low"], a["gold_ci_high"]) == pytest.approx(WILSON_3_OF_4, abs=1e-12)
    c = cards.vendor.set_index("vendor").loc["C"]
    assert (c["n_gold"], c["n_correct"]) == (6, 5)


def test_leave_one_vendor_out_consensus_on_three_vendor_toy(toy):
    ann, _ = toy
    loo = leave_one_vendor_out(ann, method="majority_vote", labels=LABELS)
    got = {(r.vendor, r.item_id): r.loo_label for r in loo.itertuples()}
    # A left out: B + C. x1 a,a,a -> a; x2 b,b,b -> b; x3 b,a,b -> b; x4 nobody else -> absent
    assert {k: v for k, v in got.items() if k[0] == "A"} == {("A", "x1"): "a", ("A", "x2"): "b", ("A", "x3"): "b"}
    # C left out: A + B. x2 is a 1-1 tie (a, b) -> 'a', first in the task's label order
    assert {k: v for k, v in got.items() if k[0] == "C"} == {("C", "x1"): "a", ("C", "x2"): "a", ("C", "x3"): "b"}
    assert {k: v for k, v in got.items() if k[0] == "B"} == {("B", "x1"): "a", ("B", "x2"): "b", ("B", "x3"): "b"}


def test_loo_accuracy_counts_each_label_against_the_others_consensus(cards):
    v = cards.vendor.set_index("vendor")
    # A: x1 a=a, x2 a!=b, x3 b=b (x4 has no other vendor): 2/3
    assert (v.loc["A", "n_loo"], v.loc["A", "n_loo_agree"]) == (3, 2)
    assert v.loc["B", "loo_accuracy"] == 1.0
    # C: x1 a,a vs a (2); x2 b,b vs a (0); x3 a,b vs b (1): 3/6
    assert (v.loc["C", "n_loo"], v.loc["C", "n_loo_agree"]) == (6, 3)
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(3, 6, method="wilson")
    assert (v.loc["C", "loo_ci_low"], v.loc["C", "loo_ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    a = cards.annotator.set_index("annotator_id")
    assert (a.loc["c1", "n_loo_agree"], a.loc["c2", "n_loo_agree"]) == (1, 2)


def test_kappa_vs_loo_consensus_by_hand(cards):
    v = cards.vendor.set_index("vendor")
    # A [a,a,b] vs LOO [a,b,b]: po = 2/3, pe = (2*1 + 1*2)/9 = 4/9 -> kappa = (2/9)/(5/9) = 0.4
    assert v.loc["A", "kappa_vs_consensus"] == pytest.approx(0.4)
    assert v.loc["A", "n_consensus_items"] == 3
    # C's majority per item: x1 a, x2 b, x3 a/b tie -> a; vs LOO [a,a,b]: po = 1/3, pe = 5/9 -> -0.5
    assert v.loc["C", "kappa_vs_consensus"] == pytest.approx(-0.5)
    assert v.loc["B", "kappa_vs_consensus"] == pytest.approx(1.0)


def test_vendor_kappa_matrix_is_symmetric_with_shared_item_counts(cards):
    k = cards.vendor_kappa.set_index(["vendor", "other_vendor"])
    assert len(k) == 6  # 3 vendors, both orders, no diagonal
    assert k.loc[("A", "B"), "kappa"] == pytest.approx(0.4)  # same tables as A vs its LOO consensus
    assert k.loc[("A", "B"), "kappa"] == k.loc[("B", "A"), "kappa"]
    assert k.loc[("A", "B"), "n_items"] == 3 and k.loc[("B", "C"), "n_items"] == 3


def test_confusion_long_has_every_cell(cards):
    conf = cards.confusion
    assert list(conf.columns) == ["vendor", "gold_label", "label", "count"]
    assert len(conf) == 3 * 2 * 2
    c = conf[conf["vendor"] == "C"].set_index(["gold_label", "label"])["count"]
    assert c.to_dict() == {("a", "a"): 2, ("a", "b"): 0, ("b", "a"): 1, ("b", "b"): 3}
    assert conf.groupby("vendor")["count"].sum().to_dict() == {"A": 4, "B": 3, "C": 6}


def test_volume_turnaround_and_cost(cards):
    a = cards.vendor.set_index("vendor").loc["A"]
    assert (a["n_labels"], a["n_items"], a["n_annotators"]) == (4, 4, 1)
    assert a["first_label_at"] == pd.Timestamp("2026-11-01 09:00", tz="UTC")
    assert a["span_hours"] == pytest.approx(3.0)
    assert a["active_hours"] == 3  # 09h, 10h, 12h
    assert a["labels_per_active_hour"] == pytest.approx(4 / 3)
    # cost = 4 x 0.10; per correct label = cost / (labels x gold accuracy) = 0.4 / (4 x 0.75)
    assert a["cost"] == pytest.approx(0.4)
    assert a["cost_per_correct_label"] == pytest.approx(0.4 / 3)
    c = cards.vendor.set_index("vendor").loc["C"]
    assert c["cost_per_correct_label"] == pytest.approx(6 * 0.05 / 5)


def test_cost_per_correct_label_edge_cases():
    out = cost_columns(pd.Series([10, 0, 5]), pd.Series([0.0, np.nan, np.nan]), pd.Series([0.1, 0.1, 0.1]))
    assert math.isinf(out["cost_per_correct_label"][0])
    assert out["cost_per_correct_label"][1:].isna().all()
    assert out["cost"].tolist() == pytest.approx([1.0, 0.0, 0.5])


def test_columns_and_dtypes_are_stable(cards):
    assert tuple(cards.vendor.columns) == VENDOR_COLUMNS
    assert tuple(cards.annotator.columns) == ANNOTATOR_COLUMNS
    assert cards.vendor["sla_status"].eq("no_sla").all()
    assert tuple(cards.tables()) == METRIC_TABLES


def test_result_does_not_depend_on_row_order(toy):
    ann, gold = toy
    a = build_scorecards(ann, gold, task="toy", labels=LABELS)
    b = build_scorecards(ann.sample(frac=1, random_state=3), gold, task="toy", labels=LABELS)
    pd.testing.assert_frame_equal(a.vendor, b.vendor)
    pd.testing.assert_frame_equal(a.annotator, b.annotator)
    pd.testing.assert_frame_equal(a.vendor_kappa, b.vendor_kappa)


@pytest.mark.parametrize("method", ["weighted_vote", "dawid_skene", "one_coin_dawid_skene"])
def test_loo_works_with_every_consensus_method_and_ignores_gold_clamping(toy, method):
    ann, gold = toy
    gold = gold.assign(gold_label=gold["gold_label"].where(gold["item_id"] != "x1", "b"))  # everyone says a
    loo = leave_one_vendor_out(ann, method=method, labels=LABELS, gold=gold)
    assert set(loo["vendor"]) == {"A", "B", "C"} and not loo["item_id"].eq("x4").any()
    # the other vendors unanimously say 'a' on x1; clamping to gold would give 'b'
    x1 = loo[loo["item_id"] == "x1"].set_index("vendor")["loo_label"].to_dict()
    assert x1 == {"A": "a", "B": "a", "C": "a"}


def test_empty_day_keeps_configured_vendors():
    cols = ["task", "item_id", "vendor", "annotator_id", "label", "annotated_at"]
    ann = pd.DataFrame({c: pd.Series(dtype="string") for c in cols}).astype({"annotated_at": "datetime64[us, UTC]"})
    gold = pd.DataFrame({"item_id": pd.Series(dtype="string"), "gold_label": pd.Series(dtype="string")})
    cards = build_scorecards(ann, gold, task="t", labels=LABELS, vendors=["x", "y"])
    assert cards.vendor["vendor"].tolist() == ["x", "y"]
    assert cards.vendor["n_labels"].eq(0).all() and cards.vendor["gold_accuracy"].isna().all()
    assert cards.annotator.empty and cards.vendor_kappa.empty


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"annotated_at"):
        build_scorecards(pd.DataFrame({"item_id": [], "vendor": [], "annotator_id": [], "label": []}),
                         pd.DataFrame({"item_id": [], "gold_label": []}), task="t", labels=LABELS)


# --------------------------------------------------------------------------- low effort
def _low_effort_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    gold_rows = []
    for i in range(20):  # 'const': 20 labels, all 'a'
        rows.append(("V", "const", f"c{i}", "a", "09:00"))
    for i in range(12):  # 'chance': 12 gold labels, 4 correct (Wilson [0.138, 0.609] contains 1/3)
        rows.append(("V", "chance", f"g{i}", "a" if i < 4 else "b", "09:00"))
        gold_rows.append((f"g{i}", "a" if i < 8 else "c"))
    for i in range(12):  # 'good': the same 12 gold items, all correct
        rows.append(("V", "good", f"g{i}", "a" if i < 8 else "c", "09:00"))
    rows += [("V", "thin", "g0", "a", "09:00")]  # one gold label: not enough to judge
    ann = _frame(rows)
    gold = pd.DataFrame(gold_rows, columns=["item_id", "gold_label"])
    return ann, gold


def test_low_effort_near_constant_and_chance_level():
    ann, gold = _low_effort_frame()
    acc = gold_scores(ann, gold, by=["vendor", "annotator_id"])
    sig = low_effort_signals(ann, acc, n_classes=3).set_index("annotator_id")
    assert bool(sig.loc["const", "near_constant"]) and sig.loc["const", "top_label_share"] == 1.0
    assert not sig.loc["chance", "near_constant"]
    assert bool(sig.loc["chance", "chance_level"])
    assert not pd.isna(sig.loc["good", "chance_level"]) and not sig.loc["good", "chance_level"]
    assert pd.isna(sig.loc["thin", "chance_level"]) and "n/a" in sig.loc["thin", "low_effort_detail"]
    assert sig["too_fast"].isna().all()  # no duration column in the canonical data
    assert sig["low_effort"].to_dict() == {"chance": True, "const": True, "good": False, "thin": False}
    assert "speed n/a" in sig.loc["good", "low_effort_detail"]


def test_low_effort_too_fast_only_with_a_duration_column():
    ann, gold = _low_effort_frame()
    ann["duration_s"] = np.where(ann["annotator_id"] == "good", 0.5, 30.0)
    acc = gold_scores(ann, gold, by=["vendor", "annotator_id"])
    sig = low_effort_signals(ann, acc, n_classes=3, rules=LowEffortRules(min_seconds=2.0)).set_index("annotator_id")
    assert bool(sig.loc["good", "too_fast"]) and not sig.loc["const", "too_fast"]
    assert "implausibly fast" in sig.loc["good", "low_effort_detail"]


def test_turnaround_ignores_missing_times():
    ann = _frame([("V", "v1", "i1", "a", "09:00"), ("V", "v1", "i2", "a", "09:59")])
    ann.loc[1, "annotated_at"] = pd.NaT
    t = turnaround(ann).iloc[0]
    assert t["active_hours"] == 1 and t["span_hours"] == 0.0 and t["labels_per_active_hour"] == 2.0


def test_kappa_vs_consensus_without_overlap_is_nan(toy):
    ann, _ = toy
    only_a = ann[ann["vendor"] == "A"]
    out = kappa_vs_consensus(only_a, leave_one_vendor_out(only_a, labels=LABELS), labels=LABELS)
    assert out["n_consensus_items"].tolist() == [0] and out["kappa_vs_consensus"].isna().all()


# --------------------------------------------------------------------------- history on disk
def test_metrics_history_round_trip(tmp_path, toy):
    ann, gold = toy
    days = [date(2026, 11, 1), date(2026, 11, 2)]
    for d in days:
        write_scorecards(open_store(tmp_path), "toy", d, build_scorecards(ann, gold, task="toy", labels=LABELS))
    hist = read_metrics_history(tmp_path, "toy", "scorecard_vendor")
    assert list(hist.columns) == ["date", *VENDOR_COLUMNS]
    assert hist["date"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2026-11-01", "2026-11-02"]
    assert len(hist) == 6 and hist["gold_accuracy"].notna().all()
    assert len(read_metrics_history(tmp_path, "toy", "confusion", until=days[0])) == 12
    with pytest.raises(ValueError, match=r"available: \['confusion', 'scorecard_annotator'"):
        read_metrics_history(tmp_path, "toy", "nope")
    with pytest.raises(ValueError, match="file stem"):
        read_metrics_history(tmp_path, "toy", "../x")
    assert read_metrics_history(tmp_path, "other", "scorecard_vendor").empty


def test_pipeline_writes_scorecards_for_every_day(processed, days, config):
    hist = read_metrics_history(processed, "sentiment", "scorecard_vendor")
    assert sorted(hist["date"].dt.date.unique()) == days
    assert set(hist["vendor"]) == set(config.vendors_for("sentiment"))
    other = read_metrics_history(processed, "helpfulness", "scorecard_vendor")
    assert sorted(other["date"].dt.date.unique()) == days and set(other["vendor"]) == set(config.vendors_for("helpfulness"))
    measured = read_metrics_history(processed, "sentiment", "accuracy_vendor")
    merged = hist.merge(measured, on=["date", "vendor"])
    assert (merged["gold_accuracy"] == merged["accuracy"]).all()  # same numbers as the measure stage
    for name in METRIC_TABLES:
        assert (read_metrics_history(processed, "sentiment", name)["date"].nunique()) == len(days)


def test_scorecard_stage_owns_its_partition_and_a_killed_run_leaves_the_previous_one(processed, config, days, tmp_path):
    """Measure and scorecard each replace only their own partition: re-running measure keeps the
    scorecards, and a scorecard stage SIGKILLed between two of its table writes leaves the
    previous scorecard partition whole and measure's partition untouched."""
    import hashlib
    import os
    import shutil
    import subprocess
    import sys

    from pipeline import steps

    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    day = days[1]

    def digest(folder: str) -> dict[str, str]:
        base = root / folder / "sentiment" / f"date={day}"
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(base.iterdir())}

    cards, metrics = digest("scorecards"), digest("metrics")
    assert set(cards) == {"scorecard_vendor.parquet", "scorecard_annotator.parquet", "confusion.parquet",
                          "vendor_kappa.parquet"} and not set(cards) & set(metrics)
    steps.measure(config, open_store(root), day, "sentiment")
    assert digest("scorecards") == cards and digest("metrics") == metrics
    kill = f"""
import os, signal, sys
import pipeline.storage as storage
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
writes = []
real = storage.Store.write_parquet
def write_then_die(self, table, key):
    writes.append(key)
    if len(writes) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    real(self, table, key)
storage.Store.write_parquet = write_then_die
import datetime
steps.scorecard(load_config({os.environ['LABELQ_CONFIG']!r}), open_store({str(root)!r}), datetime.date.fromisoformat({day.isoformat()!r}), "sentiment")
"""
    res = subprocess.run([sys.executable, "-c", kill], capture_output=True, text=True, timeout=300)
    assert res.returncode == -9, res.stderr[-2000:]
    assert digest("scorecards") == cards and digest("metrics") == metrics  # the previous partitions, whole
    steps.scorecard(config, open_store(root), day, "sentiment")  # the re-run completes it
    assert digest("scorecards") == cards


def test_vendor_kappa_counts_the_items_two_vendors_share_as_a_crosstab_does():
    """n_items on integer codes equals X^T X of the item x vendor crosstab (the reference)."""
    from pipeline.score.scorecard import leave_one_vendor_out, vendor_kappa

    rng = np.random.default_rng(4)
    n = 5000
    frame = pd.DataFrame({"item_id": pd.array([f"i{k}" for k in rng.integers(0, 1500, n)], dtype="string[pyarrow]"),
                          "vendor": pd.array(rng.choice(["c", "a", "b", "d"], n), dtype="string[pyarrow]"),
                          "annotator_id": [f"w{k}" for k in rng.integers(0, 30, n)],
                          "label": rng.choice(["x", "y", "z"], n)})
    present = pd.crosstab(frame["item_id"], frame["vendor"]).gt(0).astype("int64")
    shared = present.T @ present
    out = vendor_kappa(frame, labels=["x", "y", "z"])
    expected = [int(shared.loc[a, b]) for a, b in zip(out["vendor"], out["other_vendor"])]
    assert out["n_items"].tolist() == expected and len(out) == 12
    loo = leave_one_vendor_out(frame, labels=["x", "y", "z"])
    for vendor, rows in loo.groupby("vendor"):  # only the items the vendor labelled
        assert set(rows["item_id"]) <= set(frame.loc[frame["vendor"] == vendor, "item_id"])
