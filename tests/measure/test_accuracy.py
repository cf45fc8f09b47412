import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from pipeline.measure.accuracy import align_gold, gold_accuracy, wilson_interval


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (57, 83), (1, 1), (999, 1000)])
def test_wilson_matches_statsmodels(k, n):
    lo, hi = wilson_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert lo == pytest.approx(ref_lo, abs=1e-12) and hi == pytest.approx(ref_hi, abs=1e-12)


def test_wilson_published_example():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263 -> 0.2553 to 0.3662
    lo, hi = wilson_interval(81, 263)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.2553, 0.3662)


def test_wilson_empty_is_nan():
    lo, hi = wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(lo[0]) and np.isnan(hi[0])


def test_gold_accuracy_hand_computed():
    ann = pd.DataFrame({
        "item_id": ["g1", "g1", "g2", "g2", "x", "g1"],
        "vendor": ["a", "b", "a", "b", "a", "c"],
        "annotator_id": ["a1", "b1", "a2", "b1", "a1", "c1"],
        "label": ["p", "p", "n", "p", "p", "n"],
    })
    gold = pd.DataFrame({"item_id": ["g1", "g2"], "gold_label": ["p", "n"]})
    out = gold_accuracy(ann, gold, by=["vendor"]).set_index("vendor")
    assert out.loc["a", ["n_gold", "n_correct"]].tolist() == [2, 2]
    assert out.loc["b", ["n_gold", "n_correct"]].tolist() == [2, 1]
    assert out.loc["c", "accuracy"] == 0.0
    per_ann = gold_accuracy(ann, gold, by=["vendor", "annotator_id"]).set_index("annotator_id")
    assert per_ann.loc["b1", "accuracy"] == 0.5 and per_ann.loc["a1", "n_gold"] == 1


def test_gold_accuracy_group_without_gold_is_nan():
    ann = pd.DataFrame({"item_id": ["x"], "vendor": ["a"], "label": ["p"]})
    out = gold_accuracy(ann, pd.DataFrame({"item_id": ["g"], "gold_label": ["p"]}))
    assert out["n_gold"].tolist() == [0] and np.isnan(out["accuracy"].iloc[0])


def test_gold_accuracy_missing_column_is_named():
    with pytest.raises(ValueError, match=r"\['vendor'\]"):
        gold_accuracy(pd.DataFrame({"item_id": [], "label": []}), pd.DataFrame({"item_id": [], "gold_label": []}))


def test_wilson_bounds_contain_the_estimate_at_the_extremes():
    k = np.array([0, 5, 17, 40])
    n = np.array([5, 5, 17, 40])
    lo, hi = wilson_interval(k, n)
    p = k / n
    assert (lo <= p).all() and (p <= hi).all()
    assert lo[0] == 0.0 and (hi[1:] == 1.0).all()


def test_gold_accuracy_is_the_same_on_compact_annotations_and_align_gold_keeps_every_gold_label():
    ann = pd.DataFrame({"vendor": ["a", "a", "b", "b", "b"], "item_id": ["i1", "i2", "i1", "i2", "i3"],
                        "label": ["x", "y", "x", "x", "y"]})
    gold = pd.DataFrame({"item_id": ["i1", "i2", "i9"], "gold_label": ["x", "z", "x"]})  # z: nobody gave it; i9: nobody labelled it
    compact = ann.astype("category")
    aligned_ann, aligned_gold = align_gold(compact, gold)
    assert aligned_gold["item_id"].tolist() == ["i1", "i2"] and aligned_gold["gold_label"].tolist() == ["x", "z"]
    assert aligned_gold["item_id"].dtype == compact["item_id"].dtype and "z" in aligned_ann["label"].cat.categories
    assert aligned_ann["label"].astype(str).tolist() == ann["label"].tolist()
    assert align_gold(ann, gold)[1] is gold  # strings: nothing to align
    want = gold_accuracy(ann, gold, by=["vendor"])
    got = gold_accuracy(compact, gold, by=["vendor"])
    assert got["n_gold"].tolist() == want["n_gold"].tolist() == [2, 2]
    assert got["n_correct"].tolist() == want["n_correct"].tolist() == [1, 1]
    assert got["vendor"].astype(str).tolist() == ["a", "b"]


@pytest.mark.parametrize("by", [["vendor"], ["vendor", "annotator_id"]])
def test_gold_accuracy_on_codes_equals_the_join_with_null_labels_and_groups_without_gold(by):
    """Compact annotations take the integer-code path; strings the join: the same counts, groups
    and order, a null label on a gold item counted and never correct, a null gold label likewise."""
    ann = pd.DataFrame({
        "vendor": ["b", "a", "a", "b", "c", "a", "b", "a", "b"],
        "annotator_id": ["b1", "a2", "a1", "b1", "c1", "a1", "b2", "a2", "b3"],
        "item_id": ["g1", "g1", "g2", "g3", "x", "g3", "g1", "x", "g3"],
        "label": ["p", None, "n", "p", "p", "n", "n", "p", None],
    })
    gold = pd.DataFrame({"item_id": ["g1", "g2", "g3", "g9"], "gold_label": ["p", "n", None, "p"]})
    want = gold_accuracy(ann, gold, by=by)
    got = gold_accuracy(ann.astype("category"), gold, by=by)
    pd.testing.assert_frame_equal(got.astype({c: str for c in by}), want.astype({c: str for c in by}))
    assert want["n_gold"].sum() == 7 and (want["n_gold"] == 0).any()  # g1 3 (one null label), g2 1, g3 3; c none
    assert want["n_correct"].sum() == 2  # b1's p on g1, a1's n on g2; nothing matches g3's null gold label,
    # not even b3's null label
