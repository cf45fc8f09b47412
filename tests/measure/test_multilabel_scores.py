"""Per-tag scores against gold and set-size bias of tag-set annotations (pipeline.measure.multilabel):
tag_scores against scikit-learn's precision_recall_fscore_support and statsmodels' Wilson
intervals, hand-computed small cases (empty sets, no answers, groups without gold), set_size_bias
against scipy's one-sample t interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.multilabel import TAGS, VENDORS, random_tagging, sklearn_scores

from pipeline.measure.multilabel import (
    MACRO,
    MICRO,
    SIZE_BIAS_COLUMNS,
    TAG_SCORE_COLUMNS,
    set_size_bias,
    tag_scores,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tag_scores_equal_sklearn_per_tag_micro_and_macro_per_vendor(seed):
    annotations, gold = random_tagging(seed)
    out = tag_scores(annotations, gold)
    assert list(out.columns) == ["vendor", *TAG_SCORE_COLUMNS]
    assert out["vendor"].unique().tolist() == sorted(VENDORS)
    assert out[out["vendor"] == "loose"]["tag"].tolist() == [*TAGS, MICRO, MACRO]
    for vendor in VENDORS:
        mine = out[out["vendor"] == vendor].set_index("tag")
        part = annotations[annotations["vendor"] == vendor]
        p, r, f = sklearn_scores(part, gold, TAGS, average=None)
        np.testing.assert_allclose(mine.loc[TAGS, "precision"], p, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mine.loc[TAGS, "recall"], r, rtol=0, atol=1e-12)
        np.testing.assert_allclose(mine.loc[TAGS, "f1"], f, rtol=0, atol=1e-12)
        for row, average in ((MICRO, "micro"), (MACRO, "macro")):
            p, r, f = sklearn_scores(part, gold, TAGS, average=average)
            np.testing.assert_allclose(mine.loc[row, ["precision", "recall", "f1"]].to_numpy(dtype=float), [p, r, f],
                                       rtol=0, atol=1e-12)
        n_gold = part["tags"].notna() & part["item_id"].isin(gold["item_id"])
        assert (mine["n_gold"] == n_gold.sum()).all()
        per_tag = mine.loc[TAGS]
        assert (per_tag[["tp", "fp", "fn", "tn"]].sum(axis=1) == n_gold.sum()).all()
        for c in ("tp", "fp", "fn", "tn"):
            assert mine.loc[MICRO, c] == mine.loc[MACRO, c] == per_tag[c].sum()


def test_tag_scores_wilson_intervals_equal_statsmodels():
    from statsmodels.stats.proportion import proportion_confint

    annotations, gold = random_tagging(3)
    for confidence in (0.95, 0.9):
        out = tag_scores(annotations, gold, confidence=confidence)
        rows = out[out["tag"] != MACRO]
        for measure, n in (("precision", rows["tp"] + rows["fp"]), ("recall", rows["tp"] + rows["fn"])):
            defined = n > 0
            assert defined.sum() > 10
            low, high = proportion_confint(rows["tp"][defined], n[defined], alpha=1 - confidence, method="wilson")
            np.testing.assert_allclose(rows[f"{measure}_ci_low"][defined], low, atol=1e-12)
            np.testing.assert_allclose(rows[f"{measure}_ci_high"][defined], high, atol=1e-12)
            assert rows[f"{measure}_ci_low"][~defined].isna().all()
        assert out.loc[out["tag"] == MACRO, ["precision_ci_low", "recall_ci_high"]].isna().all().all()


def _small() -> tuple[pd.DataFrame, pd.DataFrame]:
    gold = pd.DataFrame({"item_id": ["g1", "g2", "g3", "g4"], "gold_tags": [["x"], ["x", "y"], [], ["y"]]})
    annotations = pd.DataFrame([
        ("g1", "A", "a1", []),          # x: fn (the empty set is an answer)
        ("g1", "A", "a2", ["x"]),       # x: tp
        ("g2", "A", "a1", ["x"]),       # x: tp, y: fn
        ("g3", "A", "a1", ["y"]),       # y: fp, x: tn
        ("g2", "A", "a3", None),        # no answer: ignored
        ("n1", "A", "a1", ["x", "y"]),  # not a gold item: ignored
        ("n1", "B", "b1", ["x"]),       # B answered no gold item
        ("g3", "C", "c1", []),          # tn for every tag: nothing defined
        ("g1", "D", "d1", []),          # x: fn, no x said: precision undefined
    ], columns=["item_id", "vendor", "annotator_id", "tags"])
    return annotations, gold


def test_tag_scores_hand_computed():
    annotations, gold = _small()
    out = tag_scores(annotations, gold).set_index(["vendor", "tag"])
    cols = ["n_gold", "tp", "fp", "fn", "tn"]
    assert out.loc[("A", "x"), cols].tolist() == [4, 2, 0, 1, 1]
    assert out.loc[("A", "y"), cols].tolist() == [4, 0, 1, 1, 2]
    assert out.loc[("A", MICRO), cols].tolist() == [4, 2, 1, 2, 3]
    assert out.loc[("A", MACRO), cols].tolist() == [4, 2, 1, 2, 3]
    scores = ["precision", "recall", "f1"]
    np.testing.assert_allclose(out.loc[("A", "x"), scores].to_numpy(dtype=float), [1, 2 / 3, 0.8])
    np.testing.assert_allclose(out.loc[("A", "y"), scores].to_numpy(dtype=float), [0, 0, 0])
    np.testing.assert_allclose(out.loc[("A", MICRO), scores].to_numpy(dtype=float), [2 / 3, 1 / 2, 4 / 7])
    np.testing.assert_allclose(out.loc[("A", MACRO), scores].to_numpy(dtype=float), [1 / 2, 1 / 3, 2 / 5])
    # B: no answer on a gold item, still listed
    b = out.loc["B"]
    assert b.index.tolist() == ["x", "y", MICRO, MACRO]
    assert (b["n_gold"] == 0).all() and (b[["tp", "fp", "fn", "tn"]] == 0).all().all()
    assert b[[*scores, "precision_ci_low", "recall_ci_high"]].isna().all().all()
    # C: one empty answer on an empty gold set: all tn, every score 0/0
    assert out.loc[("C", "x"), cols].tolist() == [1, 0, 0, 0, 1]
    assert out.loc["C", scores].isna().all().all()
    # D: precision undefined (NaN), recall and F1 0; the macro mean skips the undefined
    d = out.loc["D"]
    assert np.isnan(d.loc["x", "precision"]) and d.loc["x", "recall"] == 0 and d.loc["x", "f1"] == 0
    assert np.isnan(d.loc["x", "precision_ci_low"]) and d.loc["x", "recall_ci_low"] == 0
    assert d.loc["y", scores].isna().all()
    assert np.isnan(d.loc[MACRO, "precision"]) and d.loc[MACRO, "recall"] == 0 and d.loc[MACRO, "f1"] == 0


def test_tag_scores_vocabulary_grouping_and_errors():
    annotations, gold = _small()
    out = tag_scores(annotations, gold, tags=["x", "y", "z"], by=["vendor", "annotator_id"])
    assert list(out.columns) == ["vendor", "annotator_id", *TAG_SCORE_COLUMNS]
    a1 = out[(out["vendor"] == "A") & (out["annotator_id"] == "a1")].set_index("tag")
    assert a1.loc["z", ["tp", "fp", "fn", "tn"]].tolist() == [0, 0, 0, 3]
    assert np.isnan(a1.loc["z", "f1"])
    a3 = out[out["annotator_id"] == "a3"]  # only a None answer
    assert len(a3) == 5 and (a3["n_gold"] == 0).all()
    with pytest.raises(ValueError, match=r"annotations use tag\(s\) \['y'\]"):
        tag_scores(annotations, gold.assign(gold_tags=[["x"]] * 4), tags=["x"])
    with pytest.raises(ValueError, match=r"gold use tag\(s\) \['w'\]"):
        tag_scores(annotations, gold.assign(gold_tags=[["w"], [], [], []]), tags=["x", "y"])
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['gold_tags'\]"):
        tag_scores(annotations, gold.rename(columns={"gold_tags": "tags"}))
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['tags'\]"):
        tag_scores(annotations.rename(columns={"tags": "label"}), gold)
    with pytest.raises(ValueError, match="several rows for item"):
        tag_scores(annotations, pd.concat([gold, gold.head(1)]))


def test_wilson_textbook_value():
    from pipeline.measure.accuracy import wilson_interval

    low, high = wilson_interval(8, 10)
    assert (round(float(low), 4), round(float(high), 4)) == (0.4902, 0.9433)


def _biased(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference sets per item; vendor ``over`` adds a tag to most answers, ``under`` drops one,
    ``fair`` adds or drops one at random."""
    rng = np.random.default_rng(seed)
    reference, rows = [], []
    for i in range(150):
        truth = sorted(rng.choice(TAGS, size=rng.integers(1, 3), replace=False).tolist())
        reference.append((f"i{i}", truth))
        others = [t for t in TAGS if t not in truth]
        for a in range(2):
            add, drop = others[:1] if rng.random() < 0.8 else [], truth[1:] if rng.random() < 0.8 else truth
            fair = truth + others[:1] if rng.random() < 0.5 else truth[1:]
            rows += [(f"i{i}", "over", f"o{a}", truth + add), (f"i{i}", "under", f"u{a}", drop),
                     (f"i{i}", "fair", f"f{a}", fair)]
    rows += [("i0", "fair", "f9", None), ("elsewhere", "over", "o0", ["spam"]),  # ignored
             ("elsewhere", "absent", "x0", ["spam"]), ("i1", "single", "s0", ["spam", "hate", "nsfw"])]
    return (pd.DataFrame(rows, columns=["item_id", "vendor", "annotator_id", "tags"]),
            pd.DataFrame(reference, columns=["item_id", "tags"]))


def test_set_size_bias_detects_over_and_under_tagging_with_the_t_interval():
    from scipy.stats import ttest_1samp

    annotations, reference = _biased()
    out = set_size_bias(annotations, reference)
    assert list(out.columns) == ["vendor", *SIZE_BIAS_COLUMNS]
    assert out["vendor"].tolist() == ["absent", "fair", "over", "single", "under"]
    got = out.set_index("vendor")
    assert got.loc["over", "tagging"] == "over" and got.loc["under", "tagging"] == "under"
    assert got.loc["fair", "tagging"] == "neutral"
    merged = annotations.dropna(subset=["tags"]).merge(reference, on="item_id", suffixes=("", "_ref"))
    for vendor in ("fair", "over", "under"):
        part = merged[merged["vendor"] == vendor]
        size = part["tags"].map(len).to_numpy(dtype=float)
        ref = part["tags_ref"].map(len).to_numpy(dtype=float)
        row = got.loc[vendor]
        assert row["n"] == len(part) == 300
        assert row["mean_set_size"] == pytest.approx(size.mean(), abs=1e-12)
        assert row["mean_reference_size"] == pytest.approx(ref.mean(), abs=1e-12)
        assert row["size_bias"] == pytest.approx((size - ref).mean(), abs=1e-12)
        ci = ttest_1samp(size - ref, 0.0).confidence_interval(0.95)
        assert (row["bias_ci_low"], row["bias_ci_high"]) == (pytest.approx(ci.low, abs=1e-12),
                                                             pytest.approx(ci.high, abs=1e-12))
    assert got.loc["absent", "n"] == 0 and got.loc["absent", ["size_bias", "bias_ci_low"]].isna().all()
    assert got.loc["single", "n"] == 1 and got.loc["single", "size_bias"] == 3 - len(reference["tags"][1])
    assert got.loc["single", ["bias_ci_low", "bias_ci_high"]].isna().all()
    assert got.loc["absent", "tagging"] == got.loc["single", "tagging"] == "neutral"
    fair = merged[merged["vendor"] == "fair"]
    d = (fair["tags"].map(len) - fair["tags_ref"].map(len)).to_numpy(dtype=float)
    ci90 = set_size_bias(annotations, reference, confidence=0.9).set_index("vendor").loc["fair"]
    expected = ttest_1samp(d, 0.0).confidence_interval(0.9)
    assert (ci90["bias_ci_low"], ci90["bias_ci_high"]) == (pytest.approx(expected.low, abs=1e-12),
                                                           pytest.approx(expected.high, abs=1e-12))


def test_set_size_bias_against_the_consensus_sets():
    from pipeline.merge.multilabel import aggregate_tags

    annotations, _ = random_tagging(4)
    consensus = aggregate_tags(annotations.rename(columns={"tags": "label"}), "majority_vote")
    out = set_size_bias(annotations, consensus[["item_id", "tags"]]).set_index("vendor")
    assert out.loc["loose", "tagging"] == "over"  # adds tags the others do not
    assert out.loc["loose", "size_bias"] > out.loc["tight", "size_bias"]
    with pytest.raises(ValueError, match="rename gold_tags to tags"):
        set_size_bias(annotations, consensus.rename(columns={"tags": "gold_tags"}))
