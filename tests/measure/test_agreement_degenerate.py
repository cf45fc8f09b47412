"""Degenerate inputs give NaN with a warning saying why; bad input gives an actionable ValueError."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.measure.agreement import (
    UndefinedAgreementWarning,
    agreement_table,
    bootstrap_ci,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    pairwise_kappa_matrix,
    per_category_agreement,
    percent_agreement,
    scott_pi,
)

CHANCE_CORRECTED = {
    "alpha_nominal": lambda df: krippendorff_alpha(df),
    "alpha_ordinal": lambda df: krippendorff_alpha(df, level="ordinal"),
    "alpha_interval": lambda df: krippendorff_alpha(df, level="interval"),
    "alpha_ratio": lambda df: krippendorff_alpha(df, level="ratio"),
    "fleiss_kappa": fleiss_kappa,
    "scott_pi": scott_pi,
    "gwet_ac1": gwet_ac1,
}
ALL_VALUE = {**CHANCE_CORRECTED, "percent_agreement": percent_agreement}


def frame(rows):
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


EMPTY = pd.DataFrame({"item_id": pd.Series([], dtype="str"), "annotator_id": pd.Series([], dtype="str"),
                      "label": pd.Series([], dtype="int64")})
ALL_NULL = frame([(1, "a", None), (1, "b", None), (2, "a", None)])
ONE_RATER_PER_ITEM = frame([(1, "a", 1), (2, "b", 2), (3, "a", 1), (4, "c", 3)])
ONE_CATEGORY = frame([(1, "a", 2), (1, "b", 2), (2, "a", 2), (2, "b", 2), (3, "c", 2)])


@pytest.mark.parametrize("name", sorted(ALL_VALUE))
@pytest.mark.parametrize(
    ("data", "why"),
    [(EMPTY, "no labels"), (ALL_NULL, "no labels"), (ONE_RATER_PER_ITEM, "two or more labels")],
    ids=["empty", "all-null", "one-rater-per-item"],
)
def test_no_comparable_labels_gives_nan_and_warning(name, data, why):
    with pytest.warns(UndefinedAgreementWarning, match=why):
        assert math.isnan(ALL_VALUE[name](data))


def test_empty_pyarrow_table():
    table = pa.Table.from_pandas(EMPTY, preserve_index=False)
    with pytest.warns(UndefinedAgreementWarning, match="no labels"):
        assert math.isnan(krippendorff_alpha(table))


@pytest.mark.parametrize("name", sorted(CHANCE_CORRECTED))
def test_one_category_gives_nan_and_warning(name):
    with pytest.warns(UndefinedAgreementWarning, match="one category|same value|single category"):
        assert math.isnan(CHANCE_CORRECTED[name](ONE_CATEGORY))


def test_one_category_percent_agreement_is_a_true_one():
    # observed agreement is not chance-corrected: identical labels agree 100%
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert percent_agreement(ONE_CATEGORY) == 1.0


def test_gwet_with_a_wider_domain_is_defined():
    # with labels naming two categories, AC1 is defined (Gwet's design): 1.0
    assert gwet_ac1(ONE_CATEGORY, labels=[1, 2]) == pytest.approx(1.0)


def test_cohen_degenerate():
    no_shared = frame([(1, "a", 1), (2, "b", 2)])
    with pytest.warns(UndefinedAgreementWarning, match="share no"):
        assert math.isnan(cohen_kappa(no_shared))
    one_cat = frame([(1, "a", 1), (1, "b", 1), (2, "a", 1), (2, "b", 1)])
    for weights in (None, "linear", "quadratic"):
        with pytest.warns(UndefinedAgreementWarning, match="chance agreement is total"):
            assert math.isnan(cohen_kappa(one_cat, weights=weights))


def test_table_degenerate_scope_is_nan_with_one_warning():
    df = pd.DataFrame(
        {
            "item_id": [1, 1, 2, 2, 3, 4],
            "annotator_id": ["a", "b", "a", "b", "c", "c"],
            "label": ["x", "y", "x", "x", "y", "x"],
            "vendor": ["v1", "v1", "v1", "v1", "v2", "v2"],
        }
    )
    with pytest.warns(UndefinedAgreementWarning, match="'v2'.*two or more labels") as rec:
        tab = agreement_table(df, n_boot=20)
    assert len([w for w in rec if "v2" in str(w.message)]) == 1
    v2 = tab[tab["scope"] == "v2"]
    assert v2[["value", "ci_low", "ci_high"]].isna().all().all()
    assert (v2["n_items"] == 2).all() and (v2["n_labels"] == 2).all()
    assert tab[tab["scope"] == "overall"]["value"].notna().all()


def test_table_on_empty_input():
    with pytest.warns(UndefinedAgreementWarning, match="no labels"):
        tab = agreement_table(EMPTY, by=None)
    assert list(tab["scope"].unique()) == ["overall"]
    assert tab["value"].isna().all() and (tab["n_items"] == 0).all()


def test_per_category_degenerate_category_warns():
    df = frame([(1, "a", "x"), (1, "b", "x"), (2, "a", "y"), (2, "b", "x")])
    with pytest.warns(UndefinedAgreementWarning, match="'z'"):
        res = per_category_agreement(df, labels=["x", "y", "z"]).set_index("category")
    assert math.isnan(res.loc["z", "value"])
    # with two categories, one-vs-rest agreement is the same for both
    assert res.loc["x", "value"] == pytest.approx(res.loc["y", "value"])


# --------------------------------------------------------------- actionable errors
def test_missing_columns_named():
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['annotator_id'\]"):
        krippendorff_alpha(pd.DataFrame({"item_id": [1], "label": [1]}))


def test_wrong_input_type():
    with pytest.raises(TypeError, match="pandas DataFrame or a pyarrow Table"):
        krippendorff_alpha([(1, "a", 1)])


def test_cohen_needs_a_pair_when_more_than_two_raters():
    df = frame([(1, "a", 1), (1, "b", 1), (1, "c", 2), (2, "a", 1), (2, "b", 2)])
    with pytest.raises(ValueError, match="exactly two raters.*3 annotators.*raters=\\(a, b\\)"):
        cohen_kappa(df)
    assert cohen_kappa(df, raters=("a", "b")) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="rater 'zed' has no labels"):
        cohen_kappa(df, raters=("a", "zed"))
    with pytest.raises(ValueError, match="two different annotators"):
        cohen_kappa(df, raters=("a", "a"))


def test_cohen_rejects_duplicate_labels_per_item():
    df = frame([(1, "a", 1), (1, "a", 2), (1, "b", 1)])
    with pytest.raises(ValueError, match="annotator 'a' gave more than one label to 1 item"):
        cohen_kappa(df)
    with pytest.raises(ValueError, match="more than one label"):
        pairwise_kappa_matrix(df)


def test_bad_options():
    df = frame([(1, "a", 1), (1, "b", 2), (2, "a", 1), (2, "b", 1)])
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(df, level="cardinal")
    with pytest.raises(ValueError, match="not in labels"):
        krippendorff_alpha(df, labels=[1, 3])
    with pytest.raises(ValueError, match="duplicate"):
        krippendorff_alpha(df, labels=[1, 2, 2])
    with pytest.raises(ValueError, match="weights must be"):
        cohen_kappa(df, weights="cubic")
    with pytest.raises(ValueError, match="confidence level"):
        bootstrap_ci(krippendorff_alpha, df, confidence=95)
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci("kappa_of_doom", df)
    with pytest.raises(ValueError, match="by must be"):
        pairwise_kappa_matrix(df, by="task")
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['vendor'\]"):
        agreement_table(df)
    text = frame([(1, "a", "lo"), (1, "b", "hi")])
    with pytest.raises(ValueError, match="needs numeric labels"):
        krippendorff_alpha(text, level="interval")
    null_item = frame([(None, "a", 1), (1, "b", 1)])
    with pytest.raises(ValueError, match="item_id is null"):
        krippendorff_alpha(null_item)
    assert np.isfinite(krippendorff_alpha(df))
