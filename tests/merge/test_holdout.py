"""Held-out items: the rules (hand-checked cases), what the merge and publish stages do with
them, and the relabel list (file and CLI)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.config import ConfigError, parse_config
from pipeline.merge.holdout import RELABEL_COLUMNS, held_out_reasons, relabel_list
from pipeline.publish import read_manifest, read_training_set

CASES = pd.DataFrame({
    "item_id": ["e", "d", "c", "b", "a"],
    "n_annotations": [1, 3, 3, 5, 2],
    "confidence": [1.0, 0.4, 0.6, 0.5, 0.3],
    "agreement": [1.0, 0.4, 0.6, 0.5, 0.3],
})


def test_each_rule_and_their_combination():
    got = held_out_reasons(CASES, min_labels=2, min_confidence=0.5, min_agreement=0.55)
    assert got.tolist() == [
        "fewer than 2 labels",                                   # e: one label, certain
        "confidence below 0.5; agreement below 0.55",            # d
        pd.NA,                                                   # c: kept
        "agreement below 0.55",                                  # b: 0.5 is not below 0.5
        "confidence below 0.5; agreement below 0.55",            # a
    ]
    assert str(got.dtype) == "string"


def test_disabled_rules_hold_nothing_out():
    assert held_out_reasons(CASES).isna().all()
    only_thin = held_out_reasons(CASES, min_labels=3)
    assert only_thin.notna().tolist() == [True, False, False, False, True]


def test_relabel_list_is_the_held_out_items_sorted():
    cons = CASES.assign(held_out_reason=held_out_reasons(CASES, min_labels=3), label="x", vendors="v")
    out = relabel_list(cons)
    assert out["item_id"].tolist() == ["a", "e"]
    assert list(out.columns) == list(RELABEL_COLUMNS)


def test_thresholds_are_validated_by_the_config():
    with pytest.raises(ConfigError, match=r"tasks\.t\.min_confidence"):
        parse_config({"tasks": {"t": {"labels": ["a", "b"], "min_confidence": 1.5}}, "vendors": {}})


def test_merge_and_publish_apply_the_configured_rules(processed, config, days):
    tcfg = config.tasks["sentiment"]
    assert tcfg.min_confidence == 0.5  # the shipped config holds uncertain items out
    day = days[-1]
    cons = pd.read_parquet(processed / "consensus" / "sentiment" / f"date={day}" / "consensus.parquet")
    uncertain = cons["confidence"] < tcfg.min_confidence
    thin = cons["n_annotations"] < tcfg.min_labels_per_item
    assert uncertain.any()  # the test exercises the rule
    assert (cons["held_out_reason"].notna() == (uncertain | thin)).all()
    assert cons.loc[uncertain, "held_out_reason"].str.contains("confidence below 0.5").all()

    relabel = pd.read_parquet(processed / "consensus" / "sentiment" / f"date={day}" / "relabel.parquet")
    expected = cons[cons["held_out_reason"].notna()].sort_values("item_id")
    assert relabel["item_id"].tolist() == expected["item_id"].tolist()
    assert relabel["held_out_reason"].tolist() == expected["held_out_reason"].tolist()

    published = read_training_set(processed, "sentiment", version=day.isoformat())
    assert not set(published["item_id"]) & set(relabel["item_id"])
    assert len(published) + len(relabel) == len(cons)
    counts = read_manifest(processed, "sentiment", day.isoformat())["counts"]
    assert counts["held_out_by_reason"] == relabel["held_out_reason"].value_counts().sort_index().to_dict()
    assert sum(counts["held_out_by_reason"].values()) == counts["held_out"] == len(relabel)


def test_cli_relabel_prints_and_writes_csv(processed, days, tmp_path, capsys):
    day = days[-1].isoformat()
    out_csv = tmp_path / "relabel.csv"
    assert main(["relabel", "sentiment", "--root", str(processed), "--date", day, "--csv", str(out_csv), "-q"]) == 0
    text = capsys.readouterr().out
    expected = pd.read_parquet(processed / "consensus" / "sentiment" / f"date={day}" / "relabel.parquet")
    assert f"sentiment {day}: {len(expected)} item(s) held out for relabelling" in text
    assert "confidence below 0.5" in text
    written = pd.read_csv(out_csv)
    assert written["item_id"].tolist() == expected["item_id"].tolist()
    assert main(["relabel", "nope", "--root", str(processed), "--date", day, "-q"]) == 2
    assert main(["relabel", "sentiment", "--root", str(processed), "--date", "2020-01-01", "-q"]) == 1
    assert "run the merge stage" in capsys.readouterr().err
