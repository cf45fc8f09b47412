"""Tag-set consensus by binary relevance (pipeline.merge.multilabel): per-tag majority and
Dawid-Skene against crowd-kit's BinaryRelevance on the same simulated data, the empty set kept,
gold clamping, thresholds and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.merge.consensus import get_aggregator
from pipeline.merge.multilabel import aggregate_tags, tag_answers

TAGS = [f"t{k}" for k in range(6)]


def _simulate(seed: int = 0, n_items: int = 600, n_annotators: int = 20, per_item: int = 3):
    """Items with a true tag set (per-tag prevalence 5%..50%); each annotator finds a tag with its
    own recall per tag and adds wrong ones at its own false-positive rate."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.05, 0.5, len(TAGS))
    recall = rng.uniform(0.5, 0.95, (n_annotators, len(TAGS)))
    false_pos = rng.uniform(0.01, 0.15, (n_annotators, len(TAGS)))
    truth = rng.random((n_items, len(TAGS))) < prevalence
    who = np.array([rng.choice(n_annotators, per_item, replace=False) for _ in range(n_items)])
    item = np.repeat(np.arange(n_items), per_item)
    ann = who.reshape(-1)
    u = rng.random((len(item), len(TAGS)))
    present = np.where(truth[item], u < recall[ann], u < false_pos[ann])
    labels = [list(np.asarray(TAGS, dtype=object)[row]) for row in present]
    frame = pd.DataFrame({"item_id": [f"i{k:04d}" for k in item], "annotator_id": [f"a{k:02d}" for k in ann],
                          "label": labels})
    return frame, pd.DataFrame(truth, index=[f"i{k:04d}" for k in range(n_items)], columns=TAGS)


def _matrix(tags: pd.Series, index: pd.Index) -> np.ndarray:
    sets = tags.reindex(index)
    return np.array([[t in set(s) for t in TAGS] for s in sets])


def test_dawid_skene_per_tag_is_at_least_as_accurate_as_crowd_kits_binary_relevance():
    from crowdkit.aggregation import BinaryRelevance, DawidSkene

    frame, truth = _simulate()
    ours = aggregate_tags(frame, "dawid_skene").set_index("item_id")
    theirs = BinaryRelevance(DawidSkene(n_iter=100)).fit_predict(
        frame.rename(columns={"item_id": "task", "annotator_id": "worker"}))
    ours_acc = (_matrix(ours["tags"], truth.index) == truth.to_numpy()).mean()
    theirs_acc = (_matrix(theirs, truth.index) == truth.to_numpy()).mean()
    assert ours_acc >= theirs_acc - 0.002
    assert ours_acc > (_matrix(aggregate_tags(frame, "majority_vote").set_index("item_id")["tags"], truth.index)
                       == truth.to_numpy()).mean() - 0.01


def test_each_tag_is_its_own_dawid_skene_model():
    frame, _ = _simulate(seed=1, n_items=200)
    out = aggregate_tags(frame, "dawid_skene").set_index("item_id")
    rows, present, vocab = tag_answers(frame)
    assert list(vocab) == TAGS
    for tag in ("t0", "t3"):
        fit = get_aggregator("dawid_skene", labels=[0, 1]).fit(rows.assign(label=present[:, TAGS.index(tag)].astype(int)))
        np.testing.assert_allclose(out[f"p_{tag}"].to_numpy(), fit.probas_.reindex(out.index)[1].to_numpy(), atol=1e-12)


def test_majority_vote_is_the_share_of_annotators_and_the_empty_set_stays():
    frame = pd.DataFrame({"item_id": ["a", "a", "a", "b", "b", "c", "c", "d"],
                          "annotator_id": ["x", "y", "z", "x", "y", "x", "y", "x"],
                          "label": [["spam"], ["spam", "toxic"], [], [], [], ["toxic"], ["spam"], None]})
    out = aggregate_tags(frame, "majority_vote").set_index("item_id")
    assert list(out.index) == ["a", "b", "c"]  # d gave no answer at all
    assert out.loc["a", "p_spam"] == pytest.approx(2 / 3) and out.loc["a", "p_toxic"] == pytest.approx(1 / 3)
    assert list(out.loc["a", "tags"]) == ["spam"]
    assert list(out.loc["b", "tags"]) == [] and out.loc["b", "n_annotations"] == 2  # the empty set is an answer
    assert list(out.loc["c", "tags"]) == ["spam", "toxic"]  # a half share reaches the 0.5 threshold
    assert list(aggregate_tags(frame, "majority_vote", threshold=0.6).set_index("item_id").loc["c", "tags"]) == []
    everything_empty = aggregate_tags(frame.assign(label=[[]] * 8), "majority_vote")
    assert [list(t) for t in everything_empty["tags"]] == [[], [], [], []]


def test_gold_sets_clamp_their_items():
    frame, truth = _simulate(seed=2, n_items=300)
    gold_items = truth.index[:30]
    gold = pd.DataFrame({"item_id": gold_items,
                         "gold_tags": [list(np.asarray(TAGS)[truth.loc[i].to_numpy()]) for i in gold_items]})
    out = aggregate_tags(frame, "dawid_skene", gold=gold).set_index("item_id")
    assert (_matrix(out["tags"], gold_items) == truth.loc[gold_items].to_numpy()).all()


def test_errors_name_the_tag_the_method_and_the_threshold():
    frame, _ = _simulate(seed=3, n_items=20)
    with pytest.raises(ValueError, match=r"tag\(s\) \['t5'\] outside the vocabulary"):
        aggregate_tags(frame, "majority_vote", tags=TAGS[:5])
    with pytest.raises(ValueError, match="unknown tag consensus method 'mace'"):
        aggregate_tags(frame, "mace")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold must be in"):
        aggregate_tags(frame, threshold=0)
