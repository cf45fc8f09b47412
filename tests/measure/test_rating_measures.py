"""Per-rater measures of ratings: bias against scipy's t interval and Pearson r, scale use against
scipy's entropy, gold error against statsmodels' Wilson interval, and hand-built examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy as scipy_entropy
from scipy.stats import pearsonr, ttest_1samp
from statsmodels.stats.proportion import proportion_confint

from pipeline.measure.rating import gold_error, rater_bias, scale_use

BIAS_COLUMNS = ["n", "bias", "ci_low", "ci_high", "mae", "rmse", "corr", "leniency"]
SCALE_COLUMNS = ["n", "levels_used", "top_share", "entropy", "levels_available", "normalised_entropy", "flagged"]
GOLD_COLUMNS = ["n_gold", "n_correct", "accuracy", "ci_low", "ci_high", "mae", "bias"]


def _random_ratings(seed: int = 7, n_items: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Several vendors and annotators rating on 1-5 with different offsets and noise, plus a
    continuous reference for most items."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(1, 5, n_items)
    rows = []
    for vendor, offset, noise in [("v1", 0.8, 0.5), ("v2", -0.6, 0.7), ("v3", 0.0, 1.0)]:
        for annotator in ("x", "y", "z"):
            items = rng.choice(n_items, size=rng.integers(5, 40), replace=False)
            scores = np.clip(np.round(truth[items] + offset + rng.normal(0, noise, items.size)), 1, 5)
            rows.append(pd.DataFrame({"vendor": vendor, "annotator_id": f"{vendor}-{annotator}",
                                      "item_id": [f"i{i}" for i in items], "score": scores}))
    ann = pd.concat(rows, ignore_index=True)
    ann.loc[ann.sample(frac=0.05, random_state=seed).index, "score"] = np.nan
    keep = rng.random(n_items) < 0.85
    reference = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)], "score": truth})[keep]
    return ann, reference


def _diffs(ann: pd.DataFrame, reference: pd.DataFrame, group: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The scores and references of one group, computed independently of the module."""
    ref = dict(zip(reference["item_id"], reference["score"]))
    mask = np.logical_and.reduce([ann[c] == v for c, v in group.items()])
    sub = ann[mask & ann["score"].notna() & ann["item_id"].isin(list(ref))]
    x = sub["score"].to_numpy(dtype=float)
    return x, np.array([ref[i] for i in sub["item_id"]], dtype=float)


# ----------------------------------------------------------------------------------------- rater_bias


@pytest.mark.parametrize("by", [["vendor"], ["vendor", "annotator_id"]])
@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_bias_interval_mae_rmse_and_corr_match_scipy(by, confidence):
    ann, reference = _random_ratings()
    out = rater_bias(ann, reference, by=by, confidence=confidence)
    assert list(out.columns) == [*by, *BIAS_COLUMNS] and out["n"].dtype == np.int64
    assert len(out) == len(ann[by].drop_duplicates())
    for row in out.to_dict("records"):
        x, y = _diffs(ann, reference, {c: row[c] for c in by})
        d = x - y
        assert row["n"] == d.size >= 3
        ci = ttest_1samp(d, 0).confidence_interval(confidence_level=confidence)
        assert row["bias"] == pytest.approx(d.mean(), abs=1e-12)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-12)
        assert row["mae"] == pytest.approx(np.abs(d).mean(), abs=1e-12)
        assert row["rmse"] == pytest.approx(np.sqrt((d**2).mean()), abs=1e-12)
        assert row["corr"] == pytest.approx(pearsonr(x, y).statistic, abs=1e-12)
        expected = "lenient" if ci.low > 0 else "severe" if ci.high < 0 else "neutral"
        assert row["leniency"] == expected
    per_vendor = rater_bias(ann, reference, by=["vendor"]).set_index("vendor")["leniency"]
    assert per_vendor["v1"] == "lenient" and per_vendor["v2"] == "severe"


def test_a_rater_adding_one_to_every_reference_is_lenient_by_exactly_one():
    ref = pd.DataFrame({"item_id": list("abcde"), "score": [1.0, 2.0, 3.0, 4.0, 2.0]})
    ann = pd.DataFrame({"vendor": ["plus"] * 5 + ["minus"] * 5 + ["fair"] * 4,
                        "item_id": list("abcde") * 2 + list("abcd"),
                        "score": [2.0, 3.0, 4.0, 5.0, 3.0, 1.0, 1.0, 2.0, 3.0, 1.0, 2.0, 1.0, 4.0, 3.0]})
    out = rater_bias(ann, ref, by=["vendor"]).set_index("vendor")
    plus = out.loc["plus"]
    assert plus["bias"] == 1.0 and plus["mae"] == 1.0 and plus["rmse"] == 1.0 and plus["leniency"] == "lenient"
    assert plus["ci_low"] == plus["ci_high"] == 1.0  # sd 0: the interval is the point
    assert plus["corr"] == pytest.approx(1.0)
    minus = out.loc["minus"]  # diffs 0, -1, -1, -1, -1
    assert minus["bias"] == -0.8 and minus["mae"] == 0.8 and minus["leniency"] == "severe"
    assert minus["rmse"] == pytest.approx(np.sqrt(0.8))
    fair = out.loc["fair"]  # diffs +1, -1, +1, -1
    assert fair["bias"] == 0.0 and fair["mae"] == 1.0 and fair["leniency"] == "neutral"
    assert list(out.index) == ["fair", "minus", "plus"]


def test_small_groups_constant_sides_and_groups_without_reference():
    ref = pd.DataFrame({"item_id": ["a", "b", "c"], "score": [2.0, 2.0, 2.0]})
    ann = pd.DataFrame({"vendor": ["one", "two", "two", "three", "three", "three", "none", "null"],
                        "item_id": ["a", "a", "b", "a", "b", "c", "zz", "a"],
                        "score": [3.0, 3.0, 5.0, 1.0, 2.0, 4.0, 3.0, np.nan]})
    out = rater_bias(ann, ref, by=["vendor"]).set_index("vendor")
    assert out.loc["one", "n"] == 1 and out.loc["one", "bias"] == 1.0 and np.isnan(out.loc["one", "ci_low"])
    assert out.loc["one", "leniency"] == "neutral"  # no interval from one rating
    assert out.loc["two", "n"] == 2 and not np.isnan(out.loc["two", "ci_low"]) and np.isnan(out.loc["two", "corr"])
    assert out.loc["three", "n"] == 3 and np.isnan(out.loc["three", "corr"])  # the reference is constant
    for empty in ("none", "null"):
        assert out.loc[empty, "n"] == 0 and out.loc[empty, "leniency"] == "neutral"
        assert out.loc[empty, ["bias", "ci_low", "ci_high", "mae", "rmse", "corr"]].isna().all()
    strict = rater_bias(ann, ref, by=["vendor"], min_n=3).set_index("vendor")
    assert np.isnan(strict.loc["two", "ci_low"]) and not np.isnan(strict.loc["three", "ci_low"])


def test_bias_is_invariant_to_row_order():
    ann, reference = _random_ratings(seed=3)
    by = ["vendor", "annotator_id"]
    out = rater_bias(ann, reference, by=by)
    shuffled = rater_bias(ann.sample(frac=1, random_state=1), reference.sample(frac=1, random_state=2), by=by)
    pd.testing.assert_frame_equal(out, shuffled, check_exact=False, rtol=0, atol=1e-12)


def test_bias_errors_name_the_problem():
    ann = pd.DataFrame({"vendor": ["v"], "item_id": ["a"], "score": [1.0]})
    ref = pd.DataFrame({"item_id": ["a"], "score": [1.0]})
    with pytest.raises(ValueError, match=r"annotations is missing.*\['annotator_id'\]"):
        rater_bias(ann, ref, by=["vendor", "annotator_id"])
    with pytest.raises(ValueError, match=r"reference is missing.*\['score'\]"):
        rater_bias(ann, ref.rename(columns={"score": "consensus"}), by=["vendor"])
    with pytest.raises(ValueError, match=r"reference has more than one row.*'dup'"):
        rater_bias(ann, pd.DataFrame({"item_id": ["a", "dup", "dup"], "score": [1.0, 2.0, 3.0]}), by=["vendor"])
    with pytest.raises(ValueError, match="confidence"):
        rater_bias(ann, ref, by=["vendor"], confidence=95)
    with pytest.raises(ValueError, match="non-empty list"):
        rater_bias(ann, ref, by="vendor")
    with pytest.raises(ValueError, match="non-empty list"):
        rater_bias(ann, ref, by=[])


# ------------------------------------------------------------------------------------------ scale_use


def test_a_rater_answering_only_three_is_flagged_and_a_full_range_rater_is_not():
    ann = pd.DataFrame({"vendor": ["flat"] * 12 + ["full"] * 10 + ["few"] * 9 + ["two"] * 10,
                        "score": [3.0] * 12 + [1.0, 2.0, 3.0, 4.0, 5.0] * 2 + [3.0] * 9 + [2.0, 3.0] * 5})
    out = scale_use(ann, by=["vendor"], levels=[1, 2, 3, 4, 5]).set_index("vendor")
    assert list(out.reset_index().columns) == ["vendor", *SCALE_COLUMNS]
    assert out.loc["flat", ["n", "levels_used", "top_share", "entropy"]].tolist() == [12, 1, 1.0, 0.0]
    assert out.loc["flat", "flagged"] and out.loc["two", "flagged"]
    assert not out.loc["full", "flagged"] and not out.loc["few", "flagged"]  # 9 < min_ratings
    assert out.loc["full", "entropy"] == pytest.approx(np.log2(5)) and out.loc["full", "normalised_entropy"] == pytest.approx(1.0)
    assert out.loc["two", "top_share"] == 0.5 and out.loc["two", "normalised_entropy"] == pytest.approx(1 / np.log2(5))
    assert (out["levels_available"] == 5).all() and out["n"].dtype == np.int64 and out["flagged"].dtype == bool
    assert not scale_use(ann, by=["vendor"], min_levels=2).set_index("vendor").loc["two", "flagged"]


def test_a_binary_criterion_flags_a_rater_using_one_value_only():
    ann = pd.DataFrame({"vendor": ["always_met"] * 10 + ["mixed"] * 10, "score": [1.0] * 10 + [0.0, 1.0] * 5})
    out = scale_use(ann, by=["vendor"], levels=[0, 1]).set_index("vendor")
    assert out.loc["always_met", "flagged"] and not out.loc["mixed", "flagged"]  # min(3, 2) = 2 levels
    assert out.loc["mixed", "entropy"] == pytest.approx(1.0) and out.loc["mixed", "normalised_entropy"] == pytest.approx(1.0)
    # without levels the threshold is min_levels = 3, so both raters of a binary scale would be flagged
    unknown = scale_use(ann, by=["vendor"]).set_index("vendor")
    assert unknown["flagged"].all() and unknown["levels_available"].isna().all() and unknown["normalised_entropy"].isna().all()


def test_entropy_matches_scipy_over_many_groups():
    rng = np.random.default_rng(11)
    n_groups = 200
    sizes = rng.integers(1, 30, n_groups)
    ann = pd.DataFrame({"vendor": np.repeat([f"v{g % 7}" for g in range(n_groups)], sizes),
                        "annotator_id": np.repeat([f"a{g:03d}" for g in range(n_groups)], sizes),
                        "score": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], sizes.sum(), p=[0.05, 0.1, 0.5, 0.25, 0.1])})
    ann.loc[rng.random(len(ann)) < 0.05, "score"] = np.nan
    out = scale_use(ann, by=["vendor", "annotator_id"], levels=[1, 2, 3, 4, 5], min_ratings=5)
    keys = list(zip(out["vendor"], out["annotator_id"]))
    assert len(out) == n_groups and keys == sorted(keys)
    for row in out.to_dict("records"):
        scores = ann.loc[(ann["annotator_id"] == row["annotator_id"]) & ann["score"].notna(), "score"]
        counts = scores.value_counts().to_numpy()
        assert row["n"] == counts.sum() and row["levels_used"] == counts.size
        if counts.size:
            assert row["entropy"] == pytest.approx(scipy_entropy(counts, base=2), abs=1e-12)
            assert row["normalised_entropy"] == pytest.approx(scipy_entropy(counts, base=2) / np.log2(5), abs=1e-12)
            assert row["top_share"] == pytest.approx(counts.max() / counts.sum(), abs=1e-15)
        assert row["flagged"] == (counts.sum() >= 5 and counts.size < 3)


def test_scale_use_null_only_group_and_errors():
    ann = pd.DataFrame({"vendor": ["v", "w"], "score": [np.nan, 2.0]})
    out = scale_use(ann, by=["vendor"], levels=[1, 2, 3]).set_index("vendor")
    assert out.loc["v", "n"] == 0 and out.loc["v", "levels_used"] == 0 and not out.loc["v", "flagged"]
    assert np.isnan(out.loc["v", "top_share"]) and np.isnan(out.loc["v", "entropy"])
    with pytest.raises(ValueError, match=r"not among the 3 levels.*\[7\.0\]"):
        scale_use(pd.DataFrame({"vendor": ["v", "v"], "score": [7.0, 2.0]}), by=["vendor"], levels=[1, 2, 3])
    with pytest.raises(ValueError, match="distinct"):
        scale_use(ann, by=["vendor"], levels=[1, 1, 2])
    with pytest.raises(ValueError, match=r"missing.*\['score'\]"):
        scale_use(ann.rename(columns={"score": "label"}), by=["vendor"])
    with pytest.raises(ValueError, match="min_ratings"):
        scale_use(ann, by=["vendor"], min_ratings=0)


# ----------------------------------------------------------------------------------------- gold_error


def test_gold_error_hand_computed_with_wilson_interval():
    gold = pd.DataFrame({"item_id": ["g1", "g2", "g3"], "gold_score": [3.0, 5.0, 1.0]})
    ann = pd.DataFrame({"vendor": ["a", "a", "a", "b", "b", "b", "c", "a"],
                        "item_id": ["g1", "g2", "g3", "g1", "g2", "x", "x", "x"],
                        "score": [3.0, 4.0, 1.0, 5.0, 5.0, 2.0, 1.0, 2.0]})
    out = gold_error(ann, gold, by=["vendor"])
    assert list(out.columns) == ["vendor", *GOLD_COLUMNS]
    assert out["n_gold"].dtype == np.int64 and out["n_correct"].dtype == np.int64
    out = out.set_index("vendor")
    assert out.loc["a", ["n_gold", "n_correct"]].tolist() == [3, 2] and out.loc["a", "accuracy"] == pytest.approx(2 / 3)
    assert out.loc["a", "mae"] == pytest.approx(1 / 3) and out.loc["a", "bias"] == pytest.approx(-1 / 3)
    assert out.loc["b", ["n_gold", "n_correct"]].tolist() == [2, 1] and out.loc["b", "bias"] == 1.0
    for vendor in ("a", "b"):
        lo, hi = proportion_confint(out.loc[vendor, "n_correct"], out.loc[vendor, "n_gold"], alpha=0.05, method="wilson")
        assert (out.loc[vendor, "ci_low"], out.loc[vendor, "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert out.loc["c", "n_gold"] == 0 and out.loc["c", ["accuracy", "ci_low", "ci_high", "mae", "bias"]].isna().all()
    lenient = gold_error(ann, gold, by=["vendor"], tolerance=1).set_index("vendor")
    assert lenient.loc["a", "n_correct"] == 3 and lenient.loc["b", "n_correct"] == 1  # b's miss is by 2


def test_gold_tolerance_has_float_slack_and_matches_statsmodels_on_random_data():
    gold = pd.DataFrame({"item_id": ["g"], "gold_score": [0.3]})
    ann = pd.DataFrame({"vendor": ["v", "v"], "item_id": ["g", "g"], "score": [0.1 + 0.2, 0.4]})
    assert gold_error(ann, gold, by=["vendor"])["n_correct"].tolist() == [1]  # 0.1 + 0.2 != 0.3 exactly
    assert gold_error(ann, gold, by=["vendor"], tolerance=0.1)["n_correct"].tolist() == [2]
    rng = np.random.default_rng(5)
    gold = pd.DataFrame({"item_id": [f"g{i}" for i in range(50)], "gold_score": rng.integers(1, 6, 50).astype(float)})
    ann = pd.DataFrame({"vendor": rng.choice(["p", "q", "r", "s"], 400), "item_id": [f"g{i}" for i in rng.integers(0, 50, 400)]})
    ann["score"] = ann["item_id"].map(dict(zip(gold["item_id"], gold["gold_score"]))) + rng.choice([-1.0, 0.0, 0.0, 1.0], 400)
    out = gold_error(ann, gold, by=["vendor"])
    for row in out.to_dict("records"):
        d = ann.loc[ann["vendor"] == row["vendor"], "score"] - ann.loc[ann["vendor"] == row["vendor"], "item_id"].map(
            dict(zip(gold["item_id"], gold["gold_score"])))
        k, n = int((d == 0).sum()), len(d)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (row["n_gold"], row["n_correct"]) == (n, k)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
        assert row["mae"] == pytest.approx(d.abs().mean()) and row["bias"] == pytest.approx(d.mean())


def test_gold_error_errors_name_the_problem():
    ann = pd.DataFrame({"vendor": ["v"], "item_id": ["g"], "score": [1.0]})
    with pytest.raises(ValueError, match=r"gold is missing.*\['gold_score'\]"):
        gold_error(ann, pd.DataFrame({"item_id": ["g"], "score": [1.0]}), by=["vendor"])
    with pytest.raises(ValueError, match=r"gold has more than one row.*'g'"):
        gold_error(ann, pd.DataFrame({"item_id": ["g", "g"], "gold_score": [1.0, 2.0]}), by=["vendor"])
    with pytest.raises(ValueError, match="tolerance"):
        gold_error(ann, pd.DataFrame({"item_id": ["g"], "gold_score": [1.0]}), by=["vendor"], tolerance=-1)


def test_correct_against_gold_is_the_rule_gold_error_counts():
    from pipeline.measure.rating import correct_against_gold, gold_error

    ann = pd.DataFrame({"item_id": ["a", "a", "b", "c", "c"], "vendor": ["v", "w", "v", "v", "w"],
                        "score": [3.0, 3.4, 1.0, 0.3, 0.1 + 0.2]})
    gold = pd.DataFrame({"item_id": ["a", "c"], "gold_score": [3.0, 0.3]})
    flags = correct_against_gold(ann, gold, tolerance=0.25)
    assert flags.tolist() == [True, False, pd.NA, True, True]  # b has no gold; 0.1 + 0.2 is 0.3 within float slack
    counts = gold_error(ann, gold, by=["vendor"], tolerance=0.25).set_index("vendor")["n_correct"]
    assert counts.to_dict() == flags.fillna(False).astype(int).groupby(ann["vendor"]).sum().to_dict()
