"""Every consensus method: hand-checked toys, edge cases, output contract, stability,
gold clamping, determinism and input errors (pipeline.merge.consensus)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.consensus import check_contract, flipper_frame, frame, gold_frame, random_frame
from pipeline.merge.consensus import (
    METHODS,
    RESULT_COLUMNS,
    DawidSkene,
    OneCoinDawidSkene,
    WeightedVote,
    aggregate,
    get_aggregator,
)

ALL = pytest.mark.parametrize("method", METHODS)


# --------------------------------------------------------------------------------------------
# hand-checked toys
# --------------------------------------------------------------------------------------------
class TestWeightedVoteToy:
    """a is right on both gold items, b wrong on both; c, d have no gold.

    Laplace / pooled prior (pooled = (2 + 1) / (4 + 2) = 0.5, strength 2):
    acc_a = (2+1)/(2+2) = 0.75, acc_b = (0+1)/(2+2) = 0.25, acc_c = acc_d = 0.5.
    """

    DF = frame(
        [
            ("g1", "a", "x"), ("g1", "b", "y"),
            ("g2", "a", "y"), ("g2", "b", "x"),
            ("i3", "a", "x"), ("i3", "b", "y"),
            ("i4", "a", "x"), ("i4", "b", "y"), ("i4", "c", "y"), ("i4", "d", "y"),
        ]
    )
    GOLD = gold_frame({"g1": "x", "g2": "y"})

    def test_accuracy_weights(self) -> None:
        wv = WeightedVote().fit(self.DF, gold=self.GOLD)
        np.testing.assert_allclose(wv.skills_.loc[["a", "b", "c", "d"]], [0.75, 0.25, 0.5, 0.5])
        assert wv.prior_mean_ == pytest.approx(0.5)
        out = wv.result_.set_index("item_id")
        assert out.loc["i3", "label"] == "x" and out.loc["i3", "confidence"] == pytest.approx(0.75)
        # i4: x = 0.75, y = 0.25 + 0.5 + 0.5 = 1.25 -> y with 1.25 / 2.0
        assert out.loc["i4", "label"] == "y"
        assert out.loc["i4", "confidence"] == pytest.approx(0.625)
        assert out.loc["i4", "agreement"] == pytest.approx(0.75)
        # gold items are clamped by default
        assert out.loc["g1", "label"] == "x" and out.loc["g1", "confidence"] == 1.0
        assert out.loc["g1", "agreement"] == pytest.approx(0.5)

    def test_laplace_is_explicit_prior(self) -> None:
        a = WeightedVote(prior_mean=0.5, prior_strength=2).fit(self.DF, gold=self.GOLD)
        np.testing.assert_allclose(a.skills_.loc[["a", "b", "c"]], [0.75, 0.25, 0.5])

    def test_log_odds_weights(self) -> None:
        # w = max(0, log(acc / (1 - acc))): a log 3, b 0, c d 0 -> a alone decides
        wv = WeightedVote(weighting="log_odds").fit(self.DF, gold=self.GOLD)
        np.testing.assert_allclose(wv.weights_.loc[["a", "b", "c"]], [np.log(3), 0, 0], atol=1e-12)
        assert wv.labels_.loc["i4"] == "x" and wv.probas_.loc["i4", "x"] == pytest.approx(1.0)

    def test_by_vendor(self) -> None:
        df = self.DF.assign(vendor=self.DF["annotator_id"].map({"a": "V1", "b": "V2",
                                                                 "c": "V1", "d": "V1"}))
        wv = WeightedVote(by="vendor").fit(df, gold=self.GOLD)
        np.testing.assert_allclose(wv.skills_.loc[["V1", "V2"]], [0.75, 0.25])
        assert wv.gold_counts_.loc["V1", "n_gold"] == 2
        # i4: x = 0.75 (a), y = 0.25 (b) + 0.75 (c) + 0.75 (d) = 1.75 -> 1.75 / 2.5
        assert wv.labels_.loc["i4"] == "y"
        assert wv.probas_.loc["i4", "y"] == pytest.approx(0.7)
        out = aggregate(pa.Table.from_pandas(df), method="weighted_vote", by="vendor",
                        gold=pa.Table.from_pandas(self.GOLD))
        assert out.set_index("item_id").loc["i4", "confidence"] == pytest.approx(0.7)

    def test_no_gold_is_majority_vote(self) -> None:
        df = self.DF
        pd.testing.assert_frame_equal(aggregate(df, method="weighted_vote"), aggregate(df))

    def test_no_clamp(self) -> None:
        wv = WeightedVote(clamp_gold=False).fit(self.DF, gold=self.GOLD)
        # g1: a (0.75) says x, b (0.25) says y
        assert wv.probas_.loc["g1", "x"] == pytest.approx(0.75)


class TestDawidSkeneToy:
    def test_learns_a_flipper(self) -> None:
        df, truth = flipper_frame()
        mv = aggregate(df).set_index("item_id")["label"]
        assert mv.loc[7] == "pos"  # majority vote trusts c
        ds = DawidSkene().fit(df)
        assert ds.labels_.to_dict() == truth  # DS learns c flips and inverts item 7
        cm = ds.confusion_matrices_
        assert cm.loc[("c", "pos"), "neg"] > 0.9 and cm.loc[("c", "neg"), "pos"] > 0.9
        assert cm.loc[("a", "pos"), "pos"] > 0.9
        np.testing.assert_allclose(cm.sum(axis=1), 1.0)
        assert ds.skills_.loc["c"] < 0.1 < 0.9 < ds.skills_.loc["a"]
        np.testing.assert_allclose(ds.probas_.sum(axis=1), 1.0)
        assert ds.priors_.sum() == pytest.approx(1.0)
        assert ds.converged_ and 1 <= ds.n_iter_ < ds.max_iter
        assert np.isfinite(ds.log_likelihood_)

    def test_em_log_likelihood_is_nondecreasing(self) -> None:
        df, _ = flipper_frame()
        for est in (DawidSkene(tol=0), OneCoinDawidSkene(tol=0)):
            hist = np.array(est.fit(df).log_likelihood_history_)
            assert len(hist) > 5
            assert (np.diff(hist) >= -1e-9).all()

    def test_one_coin_skills(self) -> None:
        df, truth = flipper_frame()
        oc = OneCoinDawidSkene().fit(df)
        assert oc.labels_.to_dict() == truth
        assert oc.skills_.loc["a"] > 0.9 and oc.skills_.loc["c"] < 0.1
        # the implied confusion matrix: s on the diagonal, (1 - s)/(K - 1) elsewhere
        s = oc.skills_.loc["a"]
        assert oc.confusion_matrices_.loc[("a", "neg"), "neg"] == pytest.approx(s)
        assert oc.confusion_matrices_.loc[("a", "neg"), "pos"] == pytest.approx(1 - s)

    def test_get_aggregator_settings(self) -> None:
        ds = get_aggregator("dawid_skene", max_iter=2, tol=0.0, alpha=0.5)
        assert isinstance(ds, DawidSkene) and ds.get_params()["alpha"] == 0.5
        assert ds.fit(flipper_frame()[0]).n_iter_ == 2 and not ds.converged_
        assert "max_iter=2" in repr(ds)


# --------------------------------------------------------------------------------------------
# edge cases, every method
# --------------------------------------------------------------------------------------------
@ALL
class TestEdgeCases:
    def test_single_annotator(self, method: str) -> None:
        df = frame([(i, "only", lab) for i, lab in enumerate("abcab")])
        out = aggregate(df, method=method)
        check_contract(out, df)
        assert out["label"].tolist() == list("abcab")
        assert (out["agreement"] == 1.0).all()

    def test_single_item(self, method: str) -> None:
        df = frame([("it", "a", "x"), ("it", "b", "x"), ("it", "c", "y")])
        out = aggregate(df, method=method)
        check_contract(out, df)
        assert out["label"].tolist() == ["x"]

    def test_single_row(self, method: str) -> None:
        df = frame([("it", "a", 3)])
        out = aggregate(df, method=method)
        check_contract(out, df)
        assert out["label"].tolist() == [3] and out["confidence"].item() == pytest.approx(1.0)

    def test_one_class(self, method: str) -> None:
        df = frame([(i, a, "same") for i in range(4) for a in "abc"])
        out = aggregate(df, method=method)
        check_contract(out, df)
        assert (out["label"] == "same").all()
        np.testing.assert_allclose(out["confidence"], 1.0)

    def test_string_and_int_labels_agree(self, method: str) -> None:
        df, _ = flipper_frame()
        as_int = df.assign(label=df["label"].map({"neg": 0, "pos": 1}))
        out_s = aggregate(df, method=method)
        out_i = aggregate(as_int, method=method)
        assert out_i["label"].dtype == np.int64
        assert out_i["label"].map({0: "neg", 1: "pos"}).tolist() == out_s["label"].tolist()
        np.testing.assert_allclose(out_i["confidence"], out_s["confidence"])

    def test_unseen_labels_in_labels(self, method: str) -> None:
        df, _ = flipper_frame()
        est = get_aggregator(method, labels=["neg", "pos", "unsure"]).fit(df)
        assert list(est.probas_.columns) == ["neg", "pos", "unsure"]
        np.testing.assert_allclose(est.probas_.sum(axis=1), 1.0)
        assert (est.labels_ != "unsure").all()
        plain = aggregate(df, method=method, labels=["neg", "pos"])
        assert est.result_["label"].tolist() == plain["label"].tolist()

    def test_gold_label_nobody_used_joins_classes(self, method: str) -> None:
        df = frame([(1, "a", "x"), (1, "b", "x"), (2, "a", "y")])
        est = get_aggregator(method).fit(df, gold=gold_frame({2: "z", 99: "q"}))
        assert list(est.classes_) == ["x", "y", "z"]  # gold for unknown item 99 is ignored

    def test_empty(self, method: str) -> None:
        out = aggregate(frame([]), method=method)
        assert list(out.columns) == list(RESULT_COLUMNS) and out.empty

    def test_mixed_type_labels_and_ids(self, method: str) -> None:
        df = frame([(1, "a", 1), ("1", "a", "1"), (1, 2, 1), ("1", 2, "1")])
        out = aggregate(df, method=method)
        assert out["item_id"].tolist() == [1, "1"]  # ints before strs, deterministic
        assert out["label"].tolist() == [1, "1"]

    def test_repeated_annotator_item_pairs_count_twice(self, method: str) -> None:
        df = frame([(1, "a", "x"), (1, "a", "x"), (1, "b", "y")])
        out = aggregate(df, method=method)
        assert out["n_annotations"].item() == 3
        check_contract(out, df)


# --------------------------------------------------------------------------------------------
# numerical stability
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["dawid_skene", "one_coin_dawid_skene", "mace"])
def test_log_space_many_annotators_per_item(method: str) -> None:
    rng = np.random.default_rng(0)
    n_ann, n_items = 3000, 6
    truth = rng.integers(0, 3, n_items)
    rows = []
    for i in range(n_items):
        right = rng.random(n_ann) < 0.7
        wrong = (truth[i] + rng.integers(1, 3, n_ann)) % 3
        rows += list(zip([i] * n_ann, range(n_ann), np.where(right, truth[i], wrong)))
    df = frame(rows)
    # in probability space 0.7 ** 2100 * 0.15 ** 900 underflows to 0 for every class
    est = get_aggregator(method).fit(df)
    assert not est.probas_.isna().any().any()
    assert np.isfinite(est.log_likelihood_)
    assert est.labels_.tolist() == truth.tolist()
    np.testing.assert_allclose(est.result_["confidence"], 1.0)
    check_contract(est.result_, df)


# --------------------------------------------------------------------------------------------
# gold clamping
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["weighted_vote", "dawid_skene", "one_coin_dawid_skene", "mace"])
def test_gold_clamps_and_anchors(method: str) -> None:
    """a and b contradict each other everywhere: only gold can tell who is right."""
    truth = {i: ("p" if i % 3 else "n") for i in range(20)}
    flip = {"p": "n", "n": "p"}
    df = frame([r for i, t in truth.items() for r in ((i, "a", t), (i, "b", flip[t]))])
    # gold says b is right on item 0 (against the truth): everything follows b
    out = aggregate(df, method=method, gold=gold_frame({0: "p"})).set_index("item_id")
    assert out.loc[0, "label"] == "p" and out.loc[0, "confidence"] == 1.0
    assert (out["label"] == pd.Series(truth).map(flip)).all()
    # the right gold on two items: everything follows a
    out = aggregate(df, method=method, gold=gold_frame({0: "n", 1: "p"})).set_index("item_id")
    assert (out["label"] == pd.Series(truth)).all()


@pytest.mark.parametrize("method", ["dawid_skene", "one_coin_dawid_skene", "mace"])
def test_gold_clamp_overrides_unanimous_annotators(method: str) -> None:
    df, truth = flipper_frame()
    assert truth[2] == "neg"  # a and b say neg, c (the flipper) says pos
    est = get_aggregator(method).fit(df, gold=gold_frame({2: "pos"}))
    assert est.labels_.loc[2] == "pos" and est.probas_.loc[2, "pos"] == 1.0
    free = get_aggregator(method, clamp_gold=False).fit(df, gold=gold_frame({2: "pos"}))
    assert free.labels_.loc[2] == "neg"


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------
@ALL
def test_shuffled_rows_same_output(method: str) -> None:
    df = random_frame(1)
    gold = gold_frame({"i000": "c1", "i005": "c2", "i010": "c0"})
    settings_ = {"by": "vendor"} if method == "weighted_vote" else {}
    ref = aggregate(df, method=method, gold=gold, **settings_)
    for seed in range(3):
        shuffled = df.sample(frac=1.0, random_state=seed)
        shuffled.index = np.random.default_rng(seed).permutation(len(df)) + 1000
        out = aggregate(shuffled, method=method, gold=gold.sample(frac=1.0, random_state=seed),
                        **settings_)
        pd.testing.assert_frame_equal(out, ref, check_exact=True)
    check_contract(ref, df)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 4), st.sampled_from(["a", "b", "c"])),
        min_size=1, max_size=40,
    ),
    seed=st.integers(0, 2**16),
)
def test_property_contract_and_permutation_invariance(rows: list, seed: int) -> None:
    df = frame(rows)
    for method in METHODS:
        out = aggregate(df, method=method, labels=["a", "b", "c"])
        check_contract(out, df)
        again = aggregate(df.sample(frac=1.0, random_state=seed), method=method,
                          labels=["a", "b", "c"])
        pd.testing.assert_frame_equal(out, again, check_exact=True)


# --------------------------------------------------------------------------------------------
# input errors
# --------------------------------------------------------------------------------------------
class TestErrors:
    DF = flipper_frame()[0]

    def test_gold_missing_column(self) -> None:
        with pytest.raises(ValueError, match=r"gold is missing required column\(s\) \['gold_label'\]"):
            aggregate(self.DF, method="dawid_skene", gold=pd.DataFrame({"item_id": [1]}))

    def test_gold_conflicting(self) -> None:
        gold = pd.DataFrame({"item_id": [1, 1, 2, 2], "gold_label": ["pos", "neg", "neg", "neg"]})
        with pytest.raises(ValueError, match=r"different gold_label values for item_id\(s\) \[1\]"):
            aggregate(self.DF, method="dawid_skene", gold=gold)

    def test_gold_null(self) -> None:
        gold = pd.DataFrame({"item_id": [1, 2], "gold_label": ["pos", None]})
        with pytest.raises(ValueError, match=r"'gold_label' at row\(s\) \[1\]"):
            aggregate(self.DF, method="weighted_vote", gold=gold)

    def test_gold_outside_labels(self) -> None:
        with pytest.raises(ValueError, match=r"gold_label value\(s\) \['maybe'\]"):
            aggregate(self.DF, method="dawid_skene", labels=["neg", "pos"],
                      gold=gold_frame({1: "maybe"}))

    def test_vendor_required(self) -> None:
        with pytest.raises(ValueError, match=r"missing required column\(s\) \['vendor'\]"):
            aggregate(self.DF, method="weighted_vote", by="vendor")

    def test_null_annotator_row_named(self) -> None:
        df = self.DF.copy()
        df.loc[4, "annotator_id"] = np.nan
        with pytest.raises(ValueError, match=r"'annotator_id' at row\(s\) \[4\]"):
            aggregate(df, method="dawid_skene")

    @pytest.mark.parametrize(
        ("method", "bad", "match"),
        [
            ("dawid_skene", {"max_iter": 0}, "max_iter"),
            ("dawid_skene", {"tol": -1.0}, "tol"),
            ("one_coin_dawid_skene", {"alpha": float("nan")}, "alpha"),
            ("weighted_vote", {"by": "team"}, "by must be"),
            ("weighted_vote", {"weighting": "rank"}, "weighting"),
            ("weighted_vote", {"prior_mean": 1.0}, "prior_mean"),
            ("weighted_vote", {"prior_strength": -1}, "prior_strength"),
            ("majority_vote", {"tol": 1e-3}, "valid settings are"),
        ],
    )
    def test_bad_settings(self, method: str, bad: dict, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            aggregate(self.DF, method=method, **bad)


# --------------------------------------------------------------------------------------------
# registry completeness (scikit-learn's test_common.py style)
# --------------------------------------------------------------------------------------------
#: Methods a method-parametrised check leaves out, and why (anything else must run every method).
EXEMPT = {
    "test_log_space_many_annotators_per_item": {
        "majority_vote": "no likelihood: nothing to underflow",
        "weighted_vote": "no likelihood: weights are closed-form gold accuracies",
    },
    "test_gold_clamps_and_anchors": {"majority_vote": "ignores gold by definition"},
    "test_gold_clamp_overrides_unanimous_annotators": {
        "majority_vote": "ignores gold by definition",
        "weighted_vote": "its weights are learned from that gold, so un-clamped it follows the gold's annotator "
                         "(TestWeightedVoteToy.test_no_clamp checks its clamp)",
    },
}


def test_every_consensus_method_is_in_every_parametrised_check() -> None:
    """A new method in METHODS runs in every check here unless EXEMPT says why not."""
    import sys

    module = sys.modules[__name__]
    checked = {}
    for name, fn in vars(module).items():
        for mark in getattr(fn, "pytestmark", []) if name.startswith("test_") else []:
            if mark.name == "parametrize" and mark.args[0] == "method":
                checked[name] = set(mark.args[1])
    assert "test_shuffled_rows_same_output" in checked, sorted(checked)  # the registry sees the parametrised checks
    assert set(EXEMPT) <= set(checked), set(EXEMPT) - set(checked)
    for name, methods in checked.items():
        assert methods <= set(METHODS), (name, methods - set(METHODS))
        missing = set(METHODS) - methods
        assert missing == set(EXEMPT.get(name, {})), f"{name} leaves out {sorted(missing)} without a reason in EXEMPT"
