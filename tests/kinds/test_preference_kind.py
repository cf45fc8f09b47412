"""The preference kind through every stage: three vendors, each in its own schema, vocabulary and
orientation, simulated, ingested, validated, measured, merged, published, scored and reported."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset  # noqa: F401  (pa.dataset)
import pyarrow.parquet  # noqa: F401  (pa.parquet)
import pytest

from pipeline import steps
from pipeline.config import ConfigError, parse_config
from pipeline.kinds import get_kind
from pipeline.kinds.preference import CURATED, pair_ids
from pipeline.contract import namespaced
from pipeline.merge.preference import fit_bradley_terry, fit_noisy_bradley_terry
from pipeline.publish import ChecksumMismatch, read_manifest, read_published_table, read_training_set
from pipeline.simulate import simulate
from pipeline.storage import open_store

from helpers.deliveries import assert_every_row_accounted_for

START = date(2026, 11, 1)
TASK = "helpfulness"
ARENA = {"task": TASK, "landing": "landing/arena", "price_per_label": 0.4,
         "columns": {"prompt": "prompt_id", "left": "response_a", "right": "response_b", "winner": "choice",
                     "judge": "annotator_id", "ts": "annotated_at", "first": "shown_first", "how_much": "strength",
                     "why": "rationale"},
         "labels": {"left": "a", "right": "b", "same": "tie"}, "options": {"strength_max": 4},
         "sla": {"min_gold_accuracy": 0.5, "min_gold_labels": 10}}
RAW = {
    "tasks": {TASK: {"kind": "preference", "min_labels_per_item": 2, "consensus": "dawid_skene",
                     "catalog": "catalog/helpfulness.parquet"}},
    "vendors": {
        "arena": ARENA,
        "pairwise_co": {"task": TASK, "landing": "landing/pairwise_co", "price_per_label": 0.2,
                        "columns": {"pid": "prompt_id", "resp1": "response_a", "resp2": "response_b", "pref": "choice",
                                    "annotator": "annotator_id", "time": "annotated_at", "shown": "shown_first"},
                        "labels": {"1": "a", "2": "b", "0": "tie"}},
        "rlhfworks": {"task": TASK, "landing": "landing/rlhfworks", "price_per_label": 0.1,
                      "columns": {"prompt_id": "prompt_id", "A": "response_a", "B": "response_b", "verdict": "choice",
                                  "rater": "annotator_id", "at": "annotated_at", "first_shown": "shown_first"},
                      "labels": {"A": "a", "B": "b", "TIE": "tie"}},
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("preference")
    config = parse_config(RAW)
    store = open_store(root)
    sim = simulate(config, store, seed=3, days=2, start=START, items_per_day=300, gold_fraction=0.2)
    results = [steps.run_day(config, store, START + timedelta(days=d)) for d in range(2)]
    return config, root, store, sim, results


def _landed(root, vendor: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted((root / "landing" / vendor).rglob("*.parquet"))], ignore_index=True)


def test_every_row_is_staged_or_quarantined_with_a_reason(run):
    config, root, store, sim, results = run
    assert sim.bad_batches == ["arena-20261102-02 (self_comparison, unknown_choice)"]
    assert_every_row_accounted_for(root, results)
    bad = results[1]["vendors"]["arena"]["validate"]
    assert bad["rows_quarantined"] > 0
    rows = pd.read_parquet(root / "quarantine" / f"date={START + timedelta(days=1)}" / "vendor=arena" /
                           "arena-20261102-02.rows.parquet")
    assert set(rows["reason"]) == {"same_response", "unknown_choice"}
    assert (rows.loc[rows["reason"] == "same_response", "response_a"] ==
            rows.loc[rows["reason"] == "same_response", "response_b"]).all()


def test_pairs_are_oriented_and_named_canonically_whatever_the_vendor_sent(run):
    """A vendor's (b, a) is the same comparison as another's (a, b): one item id, the choice flipped."""
    config, root, store, sim, results = run
    staged = steps.read_staged(store, TASK, until=START + timedelta(days=1))
    assert (staged["response_a"] < staged["response_b"]).all()
    assert (staged["item_id"] == staged["prompt_id"] + ":" + staged["response_a"] + ":" + staged["response_b"]).all()
    landed = _landed(root, "pairwise_co")
    swapped = landed[landed["resp1"] > landed["resp2"]]
    assert len(swapped) > 50  # the simulator displays half the pairs the other way round
    row = swapped.iloc[0]
    got = staged[(staged["vendor"] == "pairwise_co") & (staged["annotator_id"] == row["annotator"])
                 & (staged["response_a"] == row["resp2"]) & (staged["response_b"] == row["resp1"])]
    assert len(got) == 1
    flip = {"1": "b", "2": "a", "0": "tie"}  # the vendor's 1 was its resp1, now response_b
    assert got["choice"].iloc[0] == flip[str(row["pref"])]
    shown = {"1": "b", "2": "a"}[str(row["shown"])] if str(row["shown"]) in ("1", "2") else None
    assert got["shown_first"].iloc[0] == shown
    by_item = staged.groupby("item_id")["vendor"].nunique()
    assert (by_item >= 2).mean() > 0.8  # the vendors' judgements of one pair meet under one id


def test_margin_maps_the_vendor_strength_onto_the_canonical_scale(run):
    config, root, store, sim, results = run
    staged = steps.read_staged(store, TASK, until=START + timedelta(days=1))
    arena = staged[staged["vendor"] == "arena"]
    assert arena["margin"].notna().all() and staged.loc[staged["vendor"] != "arena", "margin"].isna().all()
    assert arena["margin"].between(-3, 3).all()
    assert (np.sign(arena["margin"]) == arena["choice"].map({"a": 1.0, "b": -1.0, "tie": 0.0})).all()
    assert set(np.round(arena["margin"].abs() * 4 / 3, 9)) <= {0.0, 1.0, 2.0, 3.0, 4.0}  # strength 0..4 of arena


def test_the_published_set_is_one_row_per_comparison_split_by_prompt(run):
    config, root, store, sim, results = run
    last = START + timedelta(days=1)
    ts = read_training_set(root, TASK)
    assert pa.Schema.from_pandas(ts, preserve_index=False).names == CURATED.names
    assert ts["item_id"].is_unique and (ts["response_a"] < ts["response_b"]).all()
    assert (ts.groupby("prompt_id")["split"].nunique() == 1).all()  # a prompt never straddles splits
    assert np.allclose(ts[["p_a", "p_b", "p_tie"]].sum(axis=1), 1.0)
    manifest = read_manifest(root, TASK)
    assert manifest["kind"] == "preference" and "sha256(prompt_id)" in manifest["splits"]["rule"]
    assert sum(manifest["class_balance"].values()) == len(ts)
    assert manifest["prompts"] == ts["prompt_id"].nunique()
    gold = pd.read_parquet(root / "gold" / f"{TASK}.parquet")
    on_gold = ts.merge(gold, on="item_id")
    assert len(on_gold) > 50
    assert (on_gold["preferred"] == on_gold["gold_choice"]).mean() > 0.8  # consensus beats every vendor
    assert results[1]["tasks"][TASK]["publish"]["version"] == last.isoformat()


def test_position_bias_and_tie_rate_find_the_odd_annotators(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    metrics = root / "metrics" / TASK / f"date={day}"
    bias = pd.read_parquet(metrics / "position_bias.parquet")
    flagged = bias[bias["flagged"] & bias["annotator_id"].notna()]
    assert flagged["annotator_id"].tolist() == ["pairwise_co-w00"]  # the simulator's biased annotator
    assert flagged["first_share"].iloc[0] > 0.65
    ties = pd.read_parquet(metrics / "tie_rate.parquet").set_index("vendor")
    assert ties.loc["rlhfworks", "tie_rate"] > ties.loc["arena", "tie_rate"]  # its tie-happy annotator
    staged = steps.read_staged(store, TASK, day=day)
    for vendor, r in ties.iterrows():
        mine = staged[staged["vendor"] == vendor]
        assert r["n_ties"] == (mine["choice"] == "tie").sum() and r["n"] == len(mine)


def test_agreement_and_accuracy_tables(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    metrics = root / "metrics" / TASK / f"date={day}"
    agreement = pd.read_parquet(metrics / "agreement.parquet")
    overall = agreement[agreement["scope"] == "overall"].set_index("metric")["value"]
    assert {"percent_agreement", "krippendorff_alpha", "percent_agreement_no_ties", "krippendorff_alpha_no_ties"} <= set(overall.index)
    assert overall["percent_agreement_no_ties"] > overall["percent_agreement"]  # ties are where judges differ most
    staged = steps.read_staged(store, TASK, day=day)
    gold = pd.read_parquet(root / "gold" / f"{TASK}.parquet")
    acc = pd.read_parquet(metrics / "accuracy_vendor.parquet").set_index("vendor")
    on_gold = staged.merge(gold, on="item_id")
    for vendor, r in acc.iterrows():
        mine = on_gold[on_gold["vendor"] == vendor]
        assert r["n_gold"] == len(mine) and r["n_correct"] == (mine["choice"] == mine["gold_choice"]).sum()
    card = pd.read_parquet(root / "scorecards" / TASK / f"date={day}" / "scorecard_vendor.parquet").set_index("vendor")
    assert card.loc["arena", "sla_status"] in ("ok", "breach")
    assert card["gold_accuracy"].to_dict() == pytest.approx(acc["accuracy"].to_dict())
    assert (card["n_loo"] > 100).all() and card["loo_accuracy"].between(0.5, 1).all()  # vs the other vendors' consensus
    assert card["kappa_vs_consensus"].notna().all()
    assert card.loc["arena", "cost_per_correct_label"] == pytest.approx(0.4 / card.loc["arena", "gold_accuracy"])


def test_the_vendor_scorecard_has_position_bias_tie_rate_and_strength_calibration(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    folder = root / "scorecards" / TASK / f"date={day}"
    pref = pd.read_parquet(folder / "preference_vendor.parquet").set_index("vendor")
    assert sorted(pref.index) == sorted(config.vendors_for(TASK))
    bias = pd.read_parquet(root / "metrics" / TASK / f"date={day}" / "position_bias.parquet")
    per_vendor = bias[bias["annotator_id"].isna()].set_index("vendor")
    assert pref["first_share"].to_dict() == pytest.approx(per_vendor["first_share"].to_dict())
    assert pref["position_flagged"].to_dict() == per_vendor["flagged"].to_dict()
    odd = bias[bias["annotator_id"].notna() & bias["flagged"]].groupby("vendor").size()
    assert pref["flagged_annotators"].to_dict() == odd.reindex(pref.index, fill_value=0).to_dict()
    ties = pd.read_parquet(root / "metrics" / TASK / f"date={day}" / "tie_rate.parquet").set_index("vendor")
    assert pref["tie_rate"].to_dict() == pytest.approx(ties["tie_rate"].to_dict())
    # only arena sends strengths; the simulator's stronger judgements are the likelier right
    assert pref.loc["arena", "n_strength"] > 100 and pref.loc["arena", "strength_agreement_corr"] > 0
    assert (pref.loc[["pairwise_co", "rlhfworks"], "n_strength"] == 0).all()
    calibration = pd.read_parquet(folder / "strength_calibration.parquet")
    assert set(calibration["vendor"]) == {"arena"} and calibration["n"].sum() == pref.loc["arena", "n_strength"]
    assert set(calibration["strength"]) <= {0.75, 1.5, 2.25, 3.0}  # arena's 1..4 on the -3..3 scale


def _n(kappa: pd.DataFrame, vendor: str, other: str) -> int:
    return int(kappa[(kappa["vendor"] == vendor) & (kappa["other_vendor"] == other)]["n_items"].iloc[0])


def test_the_report_shows_position_bias_and_tie_rate_per_vendor(run):
    config, root, store, sim, results = run
    day = START + timedelta(days=1)
    html = (root / "reports" / TASK / f"{day}.html").read_text()
    data = json.loads((root / "reports" / TASK / f"{day}.json").read_text())
    sections = {s["id"]: s for s in data["kind_sections"]}
    bias = {r["vendor"]: r for r in sections["position-bias"]["rows"]}
    assert set(bias) == {"arena", "pairwise_co", "rlhfworks"} and bias["pairwise_co"]["flagged_annotators"] == 1
    assert {r["vendor"] for r in sections["tie-rate"]["rows"]} == set(bias)
    assert 'id="position-bias"' in html and 'id="tie-rate"' in html and 'id="strength-calibration"' in html
    kappa = pd.read_parquet(root / "scorecards" / TASK / f"date={day}" / "vendor_kappa.parquet")
    pairs = [(r["vendor"], r["other_vendor"], r["n_items"]) for r in sections["vendor-agreement"]["rows"]]
    assert pairs == [("arena", "pairwise_co", _n(kappa, "arena", "pairwise_co")), ("arena", "rlhfworks", _n(kappa, "arena", "rlhfworks")),
                     ("pairwise_co", "rlhfworks", _n(kappa, "pairwise_co", "rlhfworks"))]
    assert all(r["kappa"] is not None and -1 <= r["kappa"] <= 1 for r in sections["vendor-agreement"]["rows"])
    calibration = pd.read_parquet(root / "scorecards" / TASK / f"date={day}" / "strength_calibration.parquet")
    shown = sections["strength-calibration"]["rows"]
    assert [(r["vendor"], r["strength"], r["n"]) for r in shown] == list(
        zip(calibration["vendor"], calibration["strength"], calibration["n"]))
    assert "more helpful" not in html and "follows the prompt" not in html  # rationales are never put in reports
    assert "pairwise_co-w00" not in html  # annotators are counted, not named


def test_pair_ids_escape_the_separator():
    ids = pair_ids(pa.chunked_array([["p:1", "p"]]), pa.chunked_array([["a%", "1:a"]]), pa.chunked_array([["b", "b"]]))
    assert ids.to_pylist() == ["p%3A1:a%25:b", "p:1%3Aa:b"]  # distinct, and splittable on ':'


@pytest.mark.parametrize("change, match", [
    ({"tasks": {TASK: {"kind": "preference", "labels": ["x", "y"]}}}, "outcomes are fixed"),
    ({"tasks": {TASK: {"kind": "preference", "consensus": "weighted_vote"}}}, "unknown method 'weighted_vote'"),
    ({"vendors": {"arena": {**ARENA, "options": {}}}}, "strength_max"),
    ({"vendors": {"arena": {**ARENA, "options": {"strength_max": 4, "scale": 1}}}}, r"unknown option\(s\) \['scale'\]"),
    ({"vendors": {"arena": {**ARENA, "labels": {"left": "a", "right": "b", "same": "equal"}}}}, r"maps onto \['equal'\]"),
])
def test_config_errors_name_the_key(change, match):
    raw = {"tasks": {**RAW["tasks"], **change.get("tasks", {})}, "vendors": {**RAW["vendors"], **change.get("vendors", {})}}
    with pytest.raises((ConfigError, ValueError), match=match):
        parse_config(raw)


def test_a_vendor_need_not_map_item_id_but_a_classification_vendor_must():
    assert get_kind("preference").item_ids_from_payload and not get_kind("classification").item_ids_from_payload
    with pytest.raises((ConfigError, ValueError), match=r"maps no vendor column to \['item_id'\]"):
        parse_config({"tasks": {"s": {"labels": ["x", "y"]}},
                      "vendors": {"v": {"task": "s", "landing": "landing/v", "columns": {"w": "annotator_id", "l": "label"}}}})


def test_the_merge_fits_annotator_reliability_and_discounts_the_odd_annotators(run):
    config, root, store, sim, results = run
    last = START + timedelta(days=1)
    rel = pd.read_parquet(root / "consensus" / TASK / f"date={last}" / "annotator_reliability.parquet")
    staged = steps.read_staged(store, TASK, until=last)
    assert rel["n_judgements"].sum() == len(staged) and not rel.duplicated(["vendor", "annotator_id"]).any()
    key = rel.set_index(["vendor", "annotator_id"])
    biased = key.loc[("pairwise_co", "pairwise_co-w00")]  # picks the response shown first 80% of the time
    assert biased["noise_first"] > 0.7 and biased["reliability"] == key["reliability"].min()  # (true share 0.8)
    assert key.loc[("rlhfworks", "rlhfworks-w00"), "noise_tie"] == key["noise_tie"].max()  # the tie-happy one
    assert np.allclose(key[["noise_first", "noise_second", "noise_tie"]].sum(axis=1), 1.0)
    fit = fit_noisy_bradley_terry(namespaced(staged)[["annotator_id", "response_a", "response_b", "choice", "shown_first"]])
    scores = read_published_table(root, TASK, "response_scores").to_pandas().set_index("response_id")
    pd.testing.assert_series_equal(scores["reliable_score"], fit.scores.rename_axis("response_id"), check_names=False)
    assert "annotator_reliability" not in {e["table"] for e in read_manifest(root, TASK)["extras"]}  # it names annotators


def test_every_version_carries_the_bradley_terry_scores_of_the_responses(run):
    """``response_scores`` rides in the version (checksummed, hidden from dataset readers of the
    build) and equals a fit on the staged judgements that count."""
    config, root, store, sim, results = run
    last = START + timedelta(days=1)
    scores = read_published_table(root, TASK, "response_scores").to_pandas().set_index("response_id")
    staged = steps.read_staged(store, TASK, until=last)
    fit = fit_bradley_terry(staged[["response_a", "response_b", "choice"]])
    pd.testing.assert_series_equal(scores["score"], fit.scores.rename_axis("response_id"), check_names=False)
    responses = pd.concat([staged["response_a"], staged["response_b"]])
    assert scores["n_comparisons"].to_dict() == responses.value_counts().sort_index().to_dict()
    assert (scores["wins"] + scores["losses"] + scores["ties"] == scores["n_comparisons"]).all()
    manifest = read_manifest(root, TASK)
    extras = {e["table"]: e for e in manifest["extras"]}
    assert sorted(extras) == ["response_scores", "trl"] and extras["response_scores"]["path"] == "_response_scores.parquet"
    build = root / "curated" / TASK / f"{last}.{manifest['build']}"
    assert len(pa.dataset.dataset(build, format="parquet").to_table()) == len(read_training_set(root, TASK))
    with pytest.raises(ValueError, match=r"has no table 'scores'; it has \['response_scores', 'trl'\]"):
        read_published_table(root, TASK, "scores")


def test_a_tampered_extra_table_is_refused(run, tmp_path):
    import shutil

    config, root, store, sim, results = run
    copy = tmp_path / "copy"
    shutil.copytree(root / "curated", copy / "curated", symlinks=True)
    manifest = read_manifest(copy, TASK)
    target = copy / "curated" / TASK / f"{manifest['version']}.{manifest['build']}" / "_response_scores.parquet"
    table = pa.parquet.read_table(target)
    pa.parquet.write_table(table.slice(1), target)
    with pytest.raises(ChecksumMismatch, match="SHA-256 differs"):
        read_published_table(copy, TASK, "response_scores")


def test_the_trl_export_holds_the_decided_pairs_with_their_texts_and_hugging_face_loads_it(run):
    """``prompt``, ``chosen``, ``rejected`` (and the margin towards the chosen one) for every
    published pair with a winner; ties left out and counted in the manifest."""
    datasets = pytest.importorskip("datasets")
    config, root, store, sim, results = run
    ts = read_training_set(root, TASK)
    trl = read_published_table(root, TASK, "trl").to_pandas()
    text = pd.read_parquet(root / "catalog" / f"{TASK}.parquet").set_index("id")["text"]
    decided = ts[ts["preferred"] != "tie"].reset_index(drop=True)
    assert trl["item_id"].tolist() == decided["item_id"].tolist()
    a_wins = decided["preferred"] == "a"
    assert trl["chosen"].tolist() == decided["response_a"].where(a_wins, decided["response_b"]).map(text).tolist()
    assert trl["rejected"].tolist() == decided["response_b"].where(a_wins, decided["response_a"]).map(text).tolist()
    assert trl["prompt"].tolist() == decided["prompt_id"].map(text).tolist()
    towards_chosen = decided["margin"].where(a_wins, -decided["margin"])  # negative when strengths disagree
    np.testing.assert_array_equal(trl["margin"].to_numpy(), towards_chosen.to_numpy())
    assert (trl["margin"].dropna() > 0).mean() > 0.8 and trl["split"].tolist() == decided["split"].tolist()
    counts = read_manifest(root, TASK)["exports"]["trl"]
    assert counts == {"rows": len(trl), "ties_left_out": int((ts["preferred"] == "tie").sum()), "missing_texts_left_out": 0,
                      "columns": ["prompt", "chosen", "rejected", "margin", "item_id", "split"]}
    manifest = read_manifest(root, TASK)
    build = root / "curated" / TASK / f"{manifest['version']}.{manifest['build']}"
    loaded = datasets.load_dataset("parquet", data_files=str(build / "_trl.parquet"), split="train",
                                   cache_dir=str(root / ".hf-cache"))
    assert loaded.column_names[:3] == ["prompt", "chosen", "rejected"] and loaded.num_rows == len(trl)
    assert loaded[0]["chosen"] == trl["chosen"].iloc[0]


def test_a_missing_catalog_stops_the_publish_naming_the_file(run, tmp_path):
    import shutil

    config, root, store, sim, results = run
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    (copy / "catalog" / f"{TASK}.parquet").unlink()
    with pytest.raises(ValueError, match=r"catalog/helpfulness.parquet: the catalog of task 'helpfulness'"):
        steps.publish(config, open_store(copy), START + timedelta(days=1), TASK)
    assert read_manifest(copy, TASK)["build"] == read_manifest(root, TASK)["build"]  # the previous version stays
