"""Krippendorff's alpha of set-valued labels (multi-label tags) with MASI and Jaccard distances:
equal to nltk's AnnotationTask to 1e-9, MASI's exact thirds, the empty set as an answer, and the
invariances of a set (tag order, repeats, row order)."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.measure.agreement import UndefinedAgreementWarning, krippendorff_alpha
from pipeline.measure.agreement.sets import SetDistance, encode_sets

nltk_agreement = pytest.importorskip("nltk.metrics.agreement")
nltk_distance = importlib.import_module("nltk.metrics.distance")
NLTK = {"jaccard": nltk_distance.jaccard_distance, "masi": nltk_distance.masi_distance}


def _tagged(seed: int, n_items: int = 60, n_tags: int = 6, empty: bool = False) -> list[tuple[str, str, frozenset]]:
    """(coder, item, tag set) triples: a true set per item, each coder adding and dropping tags."""
    rng = np.random.default_rng(seed)
    tags = [f"t{k}" for k in range(n_tags)]
    rows = []
    for i in range(n_items):
        truth = set(rng.choice(tags, size=rng.integers(0 if empty else 1, 4), replace=False))
        for c in range(rng.integers(1, 6)):
            s = set(truth)
            if rng.random() < 0.4:
                s.add(str(rng.choice(tags)))
            if rng.random() < 0.3 and s and (empty or len(s) > 1):
                s.discard(sorted(s)[rng.integers(0, len(s))])
            rows.append((f"c{c}", f"i{i:03d}", frozenset(s)))
    return rows


def _frame(rows) -> pd.DataFrame:
    return pd.DataFrame({"item_id": [r[1] for r in rows], "annotator_id": [r[0] for r in rows],
                         "label": [sorted(r[2]) for r in rows]})


def _reference(rows, distance) -> float:
    """Krippendorff's alpha with ``distance`` straight from the definition (pure Python, tiny data)."""
    by_item: dict[str, list[frozenset]] = {}
    for _, item, s in rows:
        by_item.setdefault(item, []).append(s)
    pairable = {i: v for i, v in by_item.items() if len(v) >= 2}
    values = [s for v in pairable.values() for s in v]
    n = len(values)
    observed = sum(distance(a, b) / (len(v) - 1) for v in pairable.values()
                   for x, a in enumerate(v) for y, b in enumerate(v) if x != y)
    expected = sum(distance(a, b) for x, a in enumerate(values) for y, b in enumerate(values) if x != y)
    return 1 - (n - 1) * observed / expected


def _masi(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 0.0
    return nltk_distance.masi_distance(set(a), set(b))


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 0.0
    return nltk_distance.jaccard_distance(set(a), set(b))


@pytest.mark.parametrize("distance", ["jaccard", "masi"])
@pytest.mark.parametrize("seed,n_tags", [(0, 6), (1, 3), (2, 12), (3, 70)])
def test_alpha_equals_nltk_annotation_task(distance, seed, n_tags):
    rows = _tagged(seed, n_tags=n_tags)
    ours = krippendorff_alpha(_frame(rows), distance=distance)
    ref = nltk_agreement.AnnotationTask(data=rows, distance=NLTK[distance]).alpha()
    assert ours == pytest.approx(ref, abs=1e-9)


def test_masi_and_jaccard_distances_equal_nltk_for_every_pair_of_sets():
    rng = np.random.default_rng(4)
    vocab = [f"t{k}" for k in range(70)]  # two 64-bit words of tags
    sets = [frozenset(rng.choice(vocab, size=rng.integers(1, 6), replace=False)) for _ in range(40)]
    sets += [frozenset(["t1", "t2"]), frozenset(["t1", "t2", "t3", "t4"])]
    encoded = encode_sets(pd.Series([sorted(s) for s in sets]))
    assert encoded.sets()[encoded.code[-1]] == sets[-1]
    i, j = np.meshgrid(encoded.code, encoded.code, indexing="ij")
    for metric, fn in NLTK.items():
        got = SetDistance(metric, encoded.bits)(i, j)
        want = np.array([[fn(set(a), set(b)) for b in sets] for a in sets])
        np.testing.assert_allclose(got, want, atol=1e-12)
    # nltk's own example, with the exact monotonicity 2/3 (not a rounded 0.67)
    assert SetDistance("masi", encoded.bits)(encoded.code[-2:-1], encoded.code[-1:])[0] == pytest.approx(1 - 0.5 * 2 / 3, abs=1e-15)


@pytest.mark.parametrize("distance,fn", [("masi", _masi), ("jaccard", _jaccard)])
def test_the_empty_set_is_an_answer_and_a_null_label_is_none(distance, fn):
    rows = _tagged(5, n_items=40, empty=True)
    assert any(not s for _, _, s in rows)
    frame = _frame(rows)
    assert krippendorff_alpha(frame, distance=distance) == pytest.approx(_reference(rows, fn), abs=1e-12)
    with_nulls = pd.concat([frame, pd.DataFrame({"item_id": ["i000", "x"], "annotator_id": ["c9", "c9"],
                                                 "label": [None, None]})], ignore_index=True)
    assert krippendorff_alpha(with_nulls, distance=distance) == pytest.approx(_reference(rows, fn), abs=1e-12)


def test_a_set_ignores_tag_order_repeats_and_row_order():
    rows = _tagged(6)
    frame = _frame(rows)
    base = krippendorff_alpha(frame, distance="masi")
    rng = np.random.default_rng(0)
    shuffled = frame.assign(label=[list(rng.permutation(t)) + t[:1] for t in frame["label"]])  # order, a repeat
    shuffled = shuffled.sample(frac=1.0, random_state=3)
    assert krippendorff_alpha(shuffled, distance="masi") == pytest.approx(base, abs=1e-12)
    table = pa.table({"item_id": frame["item_id"], "annotator_id": frame["annotator_id"],
                      "label": pa.array(frame["label"].tolist(), pa.list_(pa.string()))})
    assert krippendorff_alpha(table, distance="masi") == pytest.approx(base, abs=1e-12)


def test_perfect_agreement_is_one_and_one_set_everywhere_is_undefined():
    sets = [["a"], ["a", "b"], [], ["c"]]
    frame = pd.DataFrame({"item_id": np.repeat(np.arange(4), 3), "annotator_id": list("xyz") * 4,
                          "label": list(itertools.chain.from_iterable([s] * 3 for s in sets))})
    assert krippendorff_alpha(frame, distance="jaccard") == pytest.approx(1.0)
    with pytest.warns(UndefinedAgreementWarning, match=r"distance='masi'"):
        assert np.isnan(krippendorff_alpha(frame.assign(label=[["a"]] * 12), distance="masi"))


def test_set_label_errors_say_what_to_give():
    frame = _frame(_tagged(7, n_items=5))
    with pytest.raises(ValueError, match="lists of tags .*split a delimited string"):
        krippendorff_alpha(frame.assign(label="a;b"), distance="masi")
    with pytest.raises(ValueError, match="distance must be one of"):
        krippendorff_alpha(frame, distance="hamming")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distance replaces level"):
        krippendorff_alpha(frame, distance="masi", level="interval")
    with pytest.raises(ValueError, match="null tag"):
        krippendorff_alpha(frame.assign(label=[["a", None]] * len(frame)), distance="masi")


@pytest.mark.parametrize("distance", ["masi", "jaccard"])
def test_bootstrap_interval_of_set_alpha_matches_resampling_items(distance):
    from functools import partial

    from pipeline.measure.agreement import bootstrap_ci

    frame = _frame(_tagged(11, n_items=80))
    result = bootstrap_ci(partial(krippendorff_alpha, distance=distance), frame, n_boot=1000, seed=1)
    assert result.estimate == krippendorff_alpha(frame, distance=distance)
    assert result.ci_low < result.estimate < result.ci_high and result.n_valid == 1000
    # the same interval by brute force: draw items with replacement, relabel the copies, recompute
    rng = np.random.default_rng(2)
    items = frame["item_id"].unique()
    groups = {i: g for i, g in frame.groupby("item_id")}
    values = []
    for _ in range(250):
        drawn = rng.choice(items, size=len(items))
        sample = pd.concat([groups[i].assign(item_id=f"{k}") for k, i in enumerate(drawn)], ignore_index=True)
        values.append(krippendorff_alpha(sample, distance=distance))
    low, high = np.quantile(values, [0.025, 0.975])
    assert abs(result.ci_low - low) < 0.03 and abs(result.ci_high - high) < 0.03
