"""The rating kind through every stage: a 5-level Likert criterion and a binary (met / not met)
criterion, each from three vendors with their own schema, vocabulary, leniency and noise,
simulated, ingested, validated, measured, merged, published, scored and reported; and the scale's
config, mapping and row checks on their own."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import steps
from pipeline.config import ConfigError, parse_config
from pipeline.kinds import get_kind
from pipeline.kinds.rating import CURATED, MAX_LEVELS, scale_of
from pipeline.merge.rating import aggregate
from pipeline.publish import read_manifest, read_training_set
from pipeline.simulate import simulate
from pipeline.storage import open_store

from helpers.deliveries import assert_every_row_accounted_for

START = date(2026, 11, 1)
LEVELS = ["poor", "fair", "good", "very_good", "excellent"]


def _vendor(task: str, name: str, columns: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    return {"task": task, "landing": f"landing/{name}", "price_per_label": 0.1, "columns": columns,
            "labels": labels or {}, "sla": {"min_gold_accuracy": 0.3, "min_gold_labels": 10}}


RAW = {
    "tasks": {
        "quality": {"kind": "rating", "labels": LEVELS, "level": "ordinal", "consensus": "annotator_model",
                    "min_labels_per_item": 2},
        "accurate": {"kind": "rating", "labels": ["no", "yes"], "level": "ordinal", "consensus": "mean",
                     "min_labels_per_item": 2},
    },
    "vendors": {
        "careful": _vendor("quality", "careful", {"item": "item_id", "rater": "annotator_id", "stars": "label",
                                                  "at": "annotated_at", "batch": "batch_id"},
                           {"1": "poor", "2": "fair", "3": "good", "4": "very_good", "5": "excellent"}),
        "generous": _vendor("quality", "generous", {"id": "item_id", "who": "annotator_id", "grade": "label",
                                                    "ts": "annotated_at"},
                            {"Poor": "poor", "Fair": "fair", "Good": "good", "Very good": "very_good",
                             "Excellent": "excellent"}),
        "strict": _vendor("quality", "strict", {"item_id": "item_id", "annotator": "annotator_id", "q": "label",
                                                "time": "annotated_at"},
                          {"P": "poor", "F": "fair", "G": "good", "VG": "very_good", "E": "excellent"}),
        "check_a": _vendor("accurate", "check_a", {"item": "item_id", "rater": "annotator_id", "ok": "label",
                                                   "at": "annotated_at"}, {"0": "no", "1": "yes"}),
        "check_b": _vendor("accurate", "check_b", {"item": "item_id", "rater": "annotator_id", "met": "label",
                                                   "at": "annotated_at"}, {"not met": "no", "met": "yes"}),
        "check_c": _vendor("accurate", "check_c", {"item": "item_id", "rater": "annotator_id", "verdict": "label",
                                                   "at": "annotated_at"}, {"N": "no", "Y": "yes"}),
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rating")
    config = parse_config(RAW)
    store = open_store(root)
    sim = simulate(config, store, seed=5, days=2, start=START, items_per_day=300, gold_fraction=0.2)
    results = [steps.run_day(config, store, START + timedelta(days=d)) for d in range(2)]
    return config, root, store, sim, results


def test_every_row_is_staged_or_quarantined_with_a_reason(run):
    config, root, store, sim, results = run
    assert sim.bad_batches  # the simulator broke some batches
    assert_every_row_accounted_for(root, results)
    reasons = pd.concat([pd.read_parquet(p) for p in (root / "quarantine").rglob("*.rows.parquet")])["reason"]
    assert set(reasons) == {"not_on_scale"}  # labelled scales: the word outside the vocabulary


def test_staged_scores_are_the_levels_values(run):
    config, root, store, sim, results = run
    staged = steps.read_staged(store, "quality", until=START + timedelta(days=1))
    assert set(staged["score"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    by_label = staged.groupby("label")["score"].unique()
    assert {k: list(v) for k, v in by_label.items()} == {n: [float(i + 1)] for i, n in enumerate(LEVELS)}
    binary = steps.read_staged(store, "accurate", until=START + timedelta(days=1))
    assert set(binary["score"].unique()) == {0.0, 1.0}


def test_the_training_set_has_score_se_and_the_nearest_level(run):
    config, root, store, sim, results = run
    curated = read_training_set(root, "quality")
    assert list(curated.columns) == CURATED.names
    assert curated["item_id"].is_unique and (curated["n_annotations"] >= 2).all()
    assert set(curated["label"]) <= set(LEVELS)
    nearest = np.clip(np.rint(curated["score"]), 1, 5).astype(int)
    assert (curated["label"].map({n: i + 1 for i, n in enumerate(LEVELS)}) == nearest).mean() > 0.99
    assert ((curated["confidence"] >= 0) & (curated["confidence"] <= 1)).all()
    assert ((curated["agreement"] >= 0) & (curated["agreement"] <= 1)).all()
    manifest = read_manifest(root, "quality")
    assert manifest["consensus"]["settings"]["scale"]["labels"] == {n: float(i + 1) for i, n in enumerate(LEVELS)}
    assert sum(manifest["class_balance"].values()) == len(curated)
    # the consensus beats every single vendor against gold (the annotator model corrects leniency)
    gold = pd.read_parquet(root / "gold" / "quality.parquet").set_index("item_id")["gold_score"]
    staged = steps.read_staged(store, "quality", until=START + timedelta(days=1))
    on_gold = curated.set_index("item_id")["score"].reindex(gold.index).dropna()
    consensus_mae = float((on_gold - gold.reindex(on_gold.index)).abs().mean())
    for vendor, rows in staged.groupby("vendor"):
        vendor_mae = float((rows.set_index("item_id")["score"] - gold).dropna().abs().mean())
        assert consensus_mae < vendor_mae, vendor


def test_binary_criterion_consensus_is_the_met_share(run):
    config, root, store, sim, results = run
    curated = read_training_set(root, "accurate")
    staged = steps.read_staged(store, "accurate", until=START + timedelta(days=1))
    share = staged.groupby("item_id")["score"].mean()
    pd.testing.assert_series_equal(curated.set_index("item_id")["score"], share.reindex(curated["item_id"]).rename("score"),
                                   check_index_type=False, check_names=False)
    assert set(curated["label"]) <= {"no", "yes"}


def test_agreement_has_alpha_icc_and_balanced_f1(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    quality = pd.read_parquet(root / "metrics" / "quality" / f"date={day}" / "agreement.parquet")
    overall = quality[quality["scope"] == "overall"].set_index("metric")["value"]
    assert {"krippendorff_alpha", "icc1", "icc1k"} <= set(overall.index)
    assert 0.3 < overall["icc1"] < overall["icc1k"] < 1
    assert not (quality["metric"] == "balanced_f1").any()
    binary = pd.read_parquet(root / "metrics" / "accurate" / f"date={day}" / "agreement.parquet")
    f1 = binary[binary["metric"] == "balanced_f1"].set_index("scope")["value"]
    assert set(f1.index) == {"overall", "check_a", "check_b", "check_c"}
    assert ((f1 > 0.5) & (f1 <= 1)).all()
    assert f1["check_a"] > f1["check_c"]  # the careful profile (noise 0.5 steps) against the noisy one (1.1)


def test_the_scorecard_names_each_vendors_leniency(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    card = pd.read_parquet(root / "scorecards" / "quality" / f"date={day}" / "rating_vendor.parquet").set_index("vendor")
    # simulated profiles: careful (no bias), generous (+0.8 steps, one top-only rater), strict (-0.6 steps)
    assert card.loc["generous", "leniency"] == "lenient" and card.loc["generous", "bias"] > 0.3
    assert card.loc["strict", "leniency"] == "severe" and card.loc["strict", "bias"] < -0.3
    assert abs(card.loc["careful", "bias"]) < abs(card.loc["generous", "bias"])
    assert card.loc["generous", "scale_flagged_annotators"] >= 1
    assert card.loc["careful", "scale_flagged_annotators"] == 0
    assert (card["bias_ci_low"] <= card["bias"]).all() and (card["bias"] <= card["bias_ci_high"]).all()
    annotators = pd.read_parquet(root / "scorecards" / "quality" / f"date={day}" / "rating_annotator.parquet")
    flagged = annotators[annotators["scale_flagged"]]
    assert (flagged["vendor"] == "generous").all() and (flagged["levels_used"] <= 2).all()
    vendor = pd.read_parquet(root / "scorecards" / "quality" / f"date={day}" / "scorecard_vendor.parquet").set_index("vendor")
    assert (vendor["n_gold"] > 0).all() and vendor.loc["careful", "gold_accuracy"] > vendor.loc["strict", "gold_accuracy"]


def test_the_report_shows_vendor_leniency(run):
    config, root, store, sim, results = run
    html = (root / "reports" / "quality" / f"{START + timedelta(days=1)}.html").read_text()
    assert "Vendor leniency" in html and "lenient" in html and "severe" in html
    import re

    table = html[html.index('<table id="leniency">'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    assert [c[0] for c in cells] == ["careful", "generous", "strict"]
    assert all(re.fullmatch(r"\d+", c[1]) for c in cells)  # counts as counts, not 295.000
    assert all(re.fullmatch(r"-?\d+\.\d{3}", c[2]) for c in cells)  # the bias to three decimals


# ---------------------------------------------------------------------------------------- scale
def _task(**kw):
    return parse_config({"tasks": {"t": {"kind": "rating", "level": "interval", **kw}},
                         "vendors": {"v": _vendor("t", "v", {"i": "item_id", "w": "annotator_id", "x": "label"})}}).tasks["t"]


def test_scale_from_levels_numbers_and_binary():
    assert scale_of(_task(labels=["bad", "ok", "good"])).values == (1.0, 2.0, 3.0)
    assert scale_of(_task(labels=["no", "yes"])).values == (0.0, 1.0)
    assert scale_of(_task(labels=["low", "high"], options={"values": [-1, 1]})).values == (-1.0, 1.0)
    numeric = scale_of(_task(options={"scale": {"min": -100, "max": 100, "step": 5}}))
    assert numeric.values[:3] == (-100.0, -95.0, -90.0) and len(numeric.values) == 41 and not numeric.labelled
    assert scale_of(_task(options={"scale": {"min": 0, "max": 1, "step": 0.1}})).values[3] == pytest.approx(0.3)


@pytest.mark.parametrize("kw,match", [
    ({}, "needs its scale"),
    ({"labels": ["a", "b"], "options": {"scale": {"min": 0, "max": 1, "step": 1}}}, "not both"),
    ({"options": {"scale": {"min": 1, "max": 5}}}, "give min, max and step"),
    ({"options": {"scale": {"min": 5, "max": 1, "step": 1}}}, "min < max"),
    ({"options": {"scale": {"min": 0, "max": 1, "step": 0.3}}}, "must be a whole number"),
    ({"options": {"scale": {"min": 0, "max": 1e6, "step": 1}}}, f"more than {MAX_LEVELS}"),
    ({"labels": ["a", "b", "c"], "options": {"values": [1, 2]}}, "one number per label"),
    ({"labels": ["a", "b"], "options": {"values": [2, 1]}}, "must increase"),
    ({"labels": ["a", "b"], "options": {"stars": 5}}, r"unknown option\(s\) \['stars'\]"),
    ({"labels": ["a", "b"], "level": "nominal"}, "ordinal, interval or ratio"),
    ({"labels": ["a", "b"], "consensus": "mace"}, r"unknown method 'mace' for a rating task; choose from \['mean', 'median', 'trimmed_mean', 'annotator_model', 'dawid_skene'\]"),
])
def test_scale_config_errors_name_the_key(kw, match):
    with pytest.raises(ConfigError, match=match):
        _task(**kw)


def test_a_vendor_vocabulary_must_map_onto_the_scale():
    raw = {"tasks": {"t": {"kind": "rating", "labels": ["no", "yes"], "level": "ordinal"}},
           "vendors": {"v": _vendor("t", "v", {"i": "item_id", "w": "annotator_id", "x": "label"}, {"Y": "yes", "M": "maybe"})}}
    with pytest.raises(ConfigError, match=r"maps onto \['maybe'\], not levels of task 't'"):
        parse_config(raw)


def test_mapping_parses_numbers_snaps_them_and_leaves_the_rest_for_validation():
    from pipeline.validate.gx import suite_expectations
    from pipeline.validate.rows import compile_policy, row_codes

    task = _task(options={"scale": {"min": 0, "max": 1, "step": 0.1}})
    vendor = parse_config({"tasks": {"t": {"kind": "rating", "level": "interval",
                                           "options": {"scale": {"min": 0, "max": 1, "step": 0.1}}}},
                           "vendors": {"v": _vendor("t", "v", {"i": "item_id", "w": "annotator_id", "x": "label"})}}).vendors["v"]
    kind = get_kind("rating")
    values = pa.chunked_array([["0.3", "0.30000000001", "1", "1.5", "0.25", "abc", None, " 0.7 "]])
    bad = np.zeros(len(values), dtype=bool)
    out = kind.map_payload({"label": values}, vendor, bad, task=task)
    score = out["score"].to_pylist()
    assert score[0] == score[1] == scale_of(task).values[3]  # snapped onto the scale's own 0.3
    assert score[2] == 1.0 and score[3] == 1.5 and score[4] == 0.25 and score[5] is None and score[6] is None
    assert score[7] == pytest.approx(0.7)
    numbers = kind.map_payload({"label": pa.chunked_array([pa.array([3, 7, 11], pa.int64())])}, vendor,
                               np.zeros(3, dtype=bool), task=task)
    assert numbers["score"].to_pylist() == [3.0, 7.0, 11.0]
    table = pa.table({"label": out["label"], "score": out["score"]})
    policy = compile_policy([e for e in suite_expectations("t", "v", "rating")
                             if e["kwargs"].get("column") in ("label", "score")])
    none = np.zeros(table.num_rows, dtype=bool)
    codes = row_codes(table, policy, params=kind.suite_parameters(task), vendor="v", dup_in_file=none, dup_staged=none)
    reasons = [None if c == 0 else policy.reasons[c - 1] for c in codes]
    assert reasons == [None, None, None, "out_of_range", "off_step", "not_on_scale", "null_label", None]


def test_consensus_confidence_is_the_chance_the_truth_is_within_half_a_step():
    from scipy import stats

    task = _task(labels=LEVELS, consensus="mean")
    ann = pd.DataFrame({"item_id": ["a"] * 4 + ["b"] * 3 + ["c"], "vendor": "v", "annotator_id": list("wxyzwxyw"),
                        "score": [3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 5.0, 2.0]})
    out = get_kind("rating").consensus(ann, pd.DataFrame({"item_id": [], "gold_score": []}), task).set_index("item_id")
    ref = aggregate(ann.assign(label=ann["score"]), "mean").set_index("item_id")
    assert out.loc["a", "score"] == 3.5 and out.loc["a", "se"] == pytest.approx(ref.loc["a", "se"])
    assert out.loc["a", "confidence"] == pytest.approx(2 * stats.norm.cdf(0.5 / ref.loc["a", "se"]) - 1)
    assert out.loc["a", "agreement"] == 1.0  # 3 and 4 are both within half a step of 3.5
    assert out.loc["a", "label"] == "good"  # 3.5 is as near 3 as 4: the lower level
    assert out.loc["b", "confidence"] == 1.0 and out.loc["b", "label"] == "excellent"  # unanimous: se 0
    assert out.loc["c", "confidence"] == 0.0 and out.loc["c", "n_annotations"] == 1  # one rating: no se


# ---------------------------------------------------------------------------------------- rubric
def _rubric_vendor(name: str, words: dict[str, str]) -> dict:
    return {"landing": f"landing/{name}", "price_per_label": 0.2,
            "columns": {"item": "item_id", "rater": "annotator_id", "at": "annotated_at"},
            "tasks": {"following": {"columns": {"follows": "label"}, "labels": words},
                      "factuality": {"columns": {"facts": "label"}},
                      "safe": {"columns": {"is_safe": "label"}, "labels": {"0": "no", "1": "yes"}}}}


RUBRIC = {
    "tasks": {
        "following": {"kind": "rating", "labels": LEVELS, "level": "ordinal", "consensus": "annotator_model"},
        "factuality": {"kind": "rating", "level": "interval", "options": {"scale": {"min": 1, "max": 7, "step": 1}}},
        "safe": {"kind": "rating", "labels": ["no", "yes"], "level": "ordinal"},
    },
    "vendors": {name: _rubric_vendor(name, {w: lvl for w, lvl in zip(words, LEVELS)}) for name, words in (
        ("graders", ["1", "2", "3", "4", "5"]), ("kindly", ["F", "D", "C", "B", "A"]),
        ("harsh", ["fails", "poor", "partial", "good", "excellent"]))},
}


@pytest.fixture(scope="module")
def rubric(tmp_path_factory):
    root = tmp_path_factory.mktemp("rubric")
    config = parse_config(RUBRIC)
    store = open_store(root)
    sim = simulate(config, store, seed=11, days=1, start=START, items_per_day=400, gold_fraction=0.2, bad_batch_every=2)
    result = steps.run_day(config, store, START)
    return config, root, store, sim, result


def test_a_rubric_is_one_file_per_vendor_feeding_every_criterion(rubric):
    config, root, store, sim, result = rubric
    for vendor in RUBRIC["vendors"]:
        files = sorted((root / "landing" / vendor / START.isoformat()).glob("*.parquet"))
        assert len(files) == 2
        frame = pd.read_parquet(files[0])
        assert list(frame.columns) == ["item", "rater", "at", "follows", "facts", "is_safe"]
    assert sim.bad_batches and all("following: not_on_scale" in b for b in sim.bad_batches)
    for task in RUBRIC["tasks"]:
        curated = read_training_set(root, task)
        assert len(curated) > 300 and curated["item_id"].str.startswith("following-").all()
        staged = steps.read_staged(store, task, until=START)
        scale = scale_of(config.tasks[task])
        assert set(staged["score"].unique()) <= set(scale.values)
    # the broken rows are the first criterion's only: quarantined there, staged for the others
    following = steps.read_staged(store, "following", until=START)
    safe = steps.read_staged(store, "safe", until=START)
    assert len(safe) > len(following)


def test_the_rubric_scorecards_show_each_vendors_leniency_per_criterion(rubric):
    config, root, store, sim, result = rubric
    for task in RUBRIC["tasks"]:
        card = pd.read_parquet(root / "scorecards" / task / f"date={START}" / "rating_vendor.parquet").set_index("vendor")
        # profiles rotate in config order: graders careful, kindly lenient, harsh severe
        assert card.loc["kindly", "bias"] > card.loc["graders", "bias"] > card.loc["harsh", "bias"], task
        assert card.loc["kindly", "leniency"] == "lenient" and card.loc["harsh", "leniency"] == "severe", task
        html = (root / "reports" / task / f"{START}.html").read_text()
        assert "Vendor leniency" in html


def test_read_rubric_puts_the_criteria_side_by_side(rubric):
    import pipeline
    from pipeline.publish import read_manifest

    config, root, store, sim, result = rubric
    tasks = list(RUBRIC["tasks"])
    wide = pipeline.read_rubric(root, tasks)
    assert list(wide.columns) == ["item_id", *[c for t in tasks for c in (t, f"{t}_se", f"{t}_n", f"{t}_agreement",
                                                                            f"{t}_label")], "split"]
    assert wide["item_id"].is_unique and wide["item_id"].is_monotonic_increasing
    assert wide.attrs["versions"] == {t: START.isoformat() for t in tasks}
    for t in tasks:
        curated = read_training_set(root, t).set_index("item_id")
        assert set(wide.loc[wide[t].notna(), "item_id"]) == set(curated.index)  # held-out items are NaN, not dropped rows
        mine = wide.set_index("item_id").loc[curated.index]
        np.testing.assert_array_equal(mine[t].to_numpy(), curated["score"].to_numpy())
        np.testing.assert_array_equal(mine[f"{t}_n"].to_numpy(dtype=float), curated["n_annotations"].to_numpy(dtype=float))
        assert (mine["split"] == curated["split"]).all()
    assert set(wide["item_id"]) == set().union(*(set(read_training_set(root, t)["item_id"]) for t in tasks))
    with pytest.raises(ValueError, match=r"versions given for \['other'\], which are not among the tasks"):
        pipeline.read_rubric(root, tasks, versions={"other": "latest"})
    with pytest.raises(ValueError, match=r"task\(s\) \['safe'\] named more than once"):
        pipeline.read_rubric(root, ["safe", "safe"])
    assert read_manifest(root, "safe")["kind"] == "rating"


def test_vendor_kappa_is_quadratic_weighted_on_the_levels(run):
    from sklearn.metrics import cohen_kappa_score

    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    staged = steps.read_staged(store, "quality", until=day)
    staged = staged[staged["annotated_at"].dt.date == day]
    # a vendor's level on an item: its annotators' majority, ties to the lower level
    counts = staged.groupby(["vendor", "item_id", "score"]).size().rename("n").reset_index()
    top = counts.sort_values(["vendor", "item_id", "n", "score"], ascending=[True, True, False, True])
    level = top.drop_duplicates(["vendor", "item_id"]).pivot(index="item_id", columns="vendor", values="score")
    kappa = pd.read_parquet(root / "scorecards" / "quality" / f"date={day}" / "vendor_kappa.parquet")
    assert len(kappa) == 6
    for row in kappa.itertuples():
        both = level[[row.vendor, row.other_vendor]].dropna()
        assert row.n_items == len(both)
        assert row.kappa == pytest.approx(cohen_kappa_score(both[row.vendor], both[row.other_vendor], weights="quadratic"))
    card = pd.read_parquet(root / "scorecards" / "quality" / f"date={day}" / "scorecard_vendor.parquet").set_index("vendor")
    assert card["kappa_vs_consensus"].notna().all() and (card["n_consensus_items"] > 0).all()
    assert card.loc["careful", "kappa_vs_consensus"] > card.loc["strict", "kappa_vs_consensus"]


def test_labelq_rubric_prints_and_writes_the_wide_table(rubric, tmp_path, capsys):
    import pipeline
    from pipeline.cli import main

    config, root, store, sim, result = rubric
    tasks = list(RUBRIC["tasks"])
    out = tmp_path / "rubric.csv"
    assert main(["rubric", *tasks, "--root", str(root), "--out", str(out), "--limit", "2", "-q"]) == 0
    printed = capsys.readouterr().out
    wide = pipeline.read_rubric(root, tasks)
    assert f"rubric of 3 criteria (following {START}, factuality {START}, safe {START}): {len(wide)} items" in printed
    written = pd.read_csv(out)
    assert list(written.columns) == list(wide.columns) and len(written) == len(wide)
    np.testing.assert_allclose(written["safe"].to_numpy(), wide["safe"].to_numpy(dtype=float))
    assert main(["rubric", "safe", "--version", "safe", "--root", str(root), "-q"]) == 2
    assert "give TASK=VERSION" in capsys.readouterr().err
    assert main(["rubric", "safe", "--version", "safe=2020-01-01", "--root", str(root), "-q"]) == 1


def test_dawid_skene_over_the_levels_gives_the_posterior_mean_and_the_most_probable_level():
    from pipeline.merge.consensus import get_aggregator

    task = _task(labels=LEVELS, level="ordinal", consensus="dawid_skene")
    rng = np.random.default_rng(9)
    truth = rng.integers(1, 6, 120)
    rows = [(f"i{i:03d}", "v", f"w{w}", float(np.clip(t + rng.integers(-1, 2) * (w % 2), 1, 5)))
            for i, t in enumerate(truth) for w in rng.choice(6, 3, replace=False)]
    ann = pd.DataFrame(rows, columns=["item_id", "vendor", "annotator_id", "score"])
    out = get_kind("rating").consensus(ann, pd.DataFrame({"item_id": [], "gold_score": []}), task).set_index("item_id")
    fit = get_aggregator("dawid_skene", labels=[1.0, 2.0, 3.0, 4.0, 5.0]).fit(
        ann.assign(annotator_id="v/" + ann["annotator_id"], label=ann["score"])[["item_id", "annotator_id", "label"]])
    p = fit.probas_.reindex(columns=[1.0, 2.0, 3.0, 4.0, 5.0], fill_value=0.0).loc[out.index]
    levels = np.arange(1.0, 6.0)
    np.testing.assert_allclose(out["score"].to_numpy(), p.to_numpy() @ levels, atol=1e-12)
    np.testing.assert_allclose(out["se"].to_numpy(), np.sqrt(p.to_numpy() @ levels**2 - (p.to_numpy() @ levels) ** 2),
                               atol=1e-9)
    assert (out["label"].to_numpy() == np.asarray(LEVELS)[p.to_numpy().argmax(axis=1)]).all()
    np.testing.assert_allclose(out["confidence"].to_numpy(), p.to_numpy().max(axis=1))
    with pytest.raises(ConfigError, match="at most 11 levels, this scale has 21"):
        _task(options={"scale": {"min": 0, "max": 20, "step": 1}}, consensus="dawid_skene")
