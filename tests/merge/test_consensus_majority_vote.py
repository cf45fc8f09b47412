"""Majority vote and the ``aggregate`` output contract (pipeline.merge.consensus)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.merge.consensus import RESULT_COLUMNS, MajorityVote, aggregate, get_aggregator


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


TOY = frame(
    [
        # item 1: cat 2, dog 1 -> cat 2/3
        (1, "a", "cat"), (1, "b", "cat"), (1, "c", "dog"),
        # item 2: dog 3 -> dog 1.0
        (2, "a", "dog"), (2, "b", "dog"), (2, "c", "dog"),
        # item 3: tie cat/dog 1-1 -> overall dog 5 > cat 3 -> dog
        (3, "a", "cat"), (3, "b", "dog"),
        # item 4: bird alone
        (4, "c", "bird"),
    ]
)


def test_toy_majority_vote_hand_checked() -> None:
    out = aggregate(TOY)
    assert list(out.columns) == list(RESULT_COLUMNS)
    assert out["item_id"].tolist() == [1, 2, 3, 4]
    assert out["label"].tolist() == ["cat", "dog", "dog", "bird"]
    np.testing.assert_allclose(out["confidence"], [2 / 3, 1.0, 0.5, 1.0])
    assert out["n_annotations"].tolist() == [3, 3, 2, 1]
    np.testing.assert_allclose(out["agreement"], [2 / 3, 1.0, 0.5, 1.0])


def test_output_contract_dtypes_and_order() -> None:
    shuffled = TOY.sample(frac=1.0, random_state=3).assign(item_id=lambda d: d.item_id * 10)
    out = aggregate(shuffled)
    assert isinstance(out.index, pd.RangeIndex)
    assert out["item_id"].is_monotonic_increasing
    assert out["confidence"].dtype == np.float64
    assert out["agreement"].dtype == np.float64
    assert out["n_annotations"].dtype == np.int64
    assert out["item_id"].dtype == shuffled["item_id"].dtype


class TestTieRule:
    """Documented tie rule: labels= order, else overall frequency, else sort order."""

    def test_labels_order_wins(self) -> None:
        out = aggregate(TOY, labels=["cat", "dog", "bird"])
        assert out.loc[out.item_id == 3, "label"].item() == "cat"
        out = aggregate(TOY, labels=["dog", "cat", "bird"])
        assert out.loc[out.item_id == 3, "label"].item() == "dog"

    def test_overall_frequency_then_sort_order(self) -> None:
        # overall frequency: dog 5 vs cat 3 -> dog (already in TOY)
        assert aggregate(TOY).loc[2, "label"] == "dog"
        # equal overall frequency -> smallest in sort order
        df = frame([(1, "a", "b"), (1, "b", "a"), (2, "a", "a"), (2, "b", "b")])
        assert aggregate(df)["label"].tolist() == ["a", "a"]
        df = frame([(1, "a", 2), (1, "b", 1), (2, "a", 1), (2, "b", 2)])
        assert aggregate(df)["label"].tolist() == [1, 1]

    def test_ties_are_not_random(self) -> None:
        df = frame([(i, a, lab) for i in range(50) for a, lab in (("x", "p"), ("y", "q"))])
        outs = {tuple(aggregate(df.sample(frac=1, random_state=s))["label"]) for s in range(5)}
        assert outs == {("p",) * 50}

    def test_estimator_exposes_tie_order(self) -> None:
        mv = MajorityVote().fit(TOY)
        assert list(mv.tie_order_) == ["dog", "cat", "bird"]
        assert list(MajorityVote(labels=["bird", "cat", "dog"]).fit(TOY).tie_order_) == [
            "bird", "cat", "dog",
        ]


def test_unused_labels_get_probas_column() -> None:
    mv = MajorityVote(labels=["cat", "dog", "bird", "fish"]).fit(TOY)
    assert list(mv.probas_.columns) == ["cat", "dog", "bird", "fish"]
    assert (mv.probas_["fish"] == 0).all()
    np.testing.assert_allclose(mv.probas_.sum(axis=1), 1.0)
    assert mv.counts_.loc[1, "cat"] == 2


def test_pyarrow_input_and_extra_columns() -> None:
    df = TOY.assign(vendor="v1", task="t", annotated_at=pd.Timestamp("2025-01-01"))
    pd.testing.assert_frame_equal(aggregate(pa.Table.from_pandas(df)), aggregate(TOY))


def test_categorical_and_dictionary_labels() -> None:
    cat = TOY.assign(label=pd.Categorical(TOY["label"], categories=["fish", "bird", "cat", "dog"]))
    out = aggregate(cat)
    expected = aggregate(TOY)
    assert out["label"].tolist() == expected["label"].tolist()
    pd.testing.assert_frame_equal(out.drop(columns="label"), expected.drop(columns="label"))
    table = pa.Table.from_pandas(TOY).cast(
        pa.schema([("item_id", pa.int64()), ("annotator_id", pa.string()),
                   ("label", pa.dictionary(pa.int32(), pa.string()))])
    )
    assert aggregate(table)["label"].tolist() == expected["label"].tolist()


def test_get_aggregator_returns_estimator() -> None:
    est = get_aggregator("majority_vote", labels=["cat", "dog", "bird"])
    assert isinstance(est, MajorityVote)
    assert est.fit(TOY) is est
    assert est.labels_.loc[1] == "cat"


class TestErrors:
    def test_missing_column_named(self) -> None:
        with pytest.raises(ValueError, match=r"missing required column\(s\) \['annotator_id'\]"):
            aggregate(TOY.drop(columns="annotator_id"))

    def test_duplicated_columns(self) -> None:
        df = pd.concat([TOY, TOY[["label"]]], axis=1)
        with pytest.raises(ValueError, match=r"duplicated column name\(s\) \['label'\]"):
            aggregate(df)

    def test_null_rows_named(self) -> None:
        df = TOY.copy()
        df.loc[5, "label"] = None
        with pytest.raises(ValueError, match=r"'label' at row\(s\) \[5\]"):
            aggregate(df)

    def test_label_outside_labels_named(self) -> None:
        with pytest.raises(ValueError, match=r"'bird'.*not in labels.*row\(s\) \[8\]"):
            aggregate(TOY, labels=["cat", "dog"])

    def test_bad_labels_argument(self) -> None:
        with pytest.raises(ValueError, match="duplicate"):
            aggregate(TOY, labels=["cat", "cat", "dog", "bird"])
        with pytest.raises(ValueError, match="single string"):
            aggregate(TOY, labels="cat")
        with pytest.raises(ValueError, match="at least one"):
            aggregate(TOY, labels=[])

    def test_unknown_method_and_setting(self) -> None:
        with pytest.raises(ValueError, match="unknown consensus method 'mode'"):
            aggregate(TOY, method="mode")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="invalid setting"):
            aggregate(TOY, max_iter=3)

    def test_not_a_frame(self) -> None:
        with pytest.raises(TypeError, match="pandas.DataFrame or pyarrow.Table"):
            aggregate([(1, "a", "x")])  # type: ignore[arg-type]


def test_empty_input() -> None:
    out = aggregate(TOY.iloc[:0])
    assert list(out.columns) == list(RESULT_COLUMNS) and len(out) == 0


def test_docstring_examples() -> None:
    import doctest

    import pipeline.merge.consensus as consensus
    import pipeline.merge.consensus.majority_vote as majority_vote

    for module in (consensus, majority_vote):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
