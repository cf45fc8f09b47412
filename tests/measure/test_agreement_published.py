"""Agreement metrics reproduce published values (tables in tests/helpers/agreement_refs.py)."""

from __future__ import annotations

import pytest

from helpers import agreement_refs as refs
from pipeline.measure.agreement import (
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)


def test_krippendorff_2011_binary_two_observers():
    df = refs.coders_by_units(refs.KRIPP_BINARY)
    assert round(krippendorff_alpha(df), 3) == refs.KRIPP_BINARY_ALPHA
    # exact value: 1 - (n - 1) * o_01 / (n_0 n_1) = 1 - 19 * 4 / (14 * 6)
    assert krippendorff_alpha(df) == pytest.approx(1 - 19 * 4 / 84, abs=1e-12)


def test_krippendorff_2011_nominal_two_observers():
    df = refs.coders_by_units(refs.KRIPP_NOMINAL_TWO)
    assert round(krippendorff_alpha(df, level="nominal"), 3) == refs.KRIPP_NOMINAL_TWO_ALPHA


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_krippendorff_2011_four_coders_missing_values(level):
    df = refs.coders_by_units(refs.KRIPP_FOUR)
    assert round(krippendorff_alpha(df, level=level), 3) == refs.KRIPP_FOUR_ALPHA[level]


def test_krippendorff_2011_ordinal_with_text_labels_and_label_order():
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    text = [[None if v is None else names[v] for v in row] for row in refs.KRIPP_FOUR]
    df = refs.coders_by_units(text)
    order = ["very low", "low", "mid", "high", "very high"]
    assert round(krippendorff_alpha(df, level="ordinal", labels=order), 3) == 0.815
    # alphabetical order is a different (wrong) scale: the order must matter
    assert round(krippendorff_alpha(df, level="ordinal"), 3) != 0.815
    assert round(krippendorff_alpha(df, level="nominal"), 3) == 0.743


def test_fleiss_wikipedia_table():
    df = refs.counts_to_long(refs.WIKI_FLEISS_COUNTS)
    assert round(fleiss_kappa(df), 3) == refs.WIKI_FLEISS_KAPPA


def test_fleiss_1971_diagnoses():
    df = refs.units_by_raters(refs.FLEISS_1971_DIAGNOSES)
    assert fleiss_kappa(df) == pytest.approx(refs.FLEISS_1971_KAPPA, abs=5e-8)
    assert round(fleiss_kappa(df), 4) == 0.4302
    # constant raters per item: multi-rater Scott's pi equals Fleiss' kappa
    assert scott_pi(df) == pytest.approx(fleiss_kappa(df), abs=1e-12)


def test_cohen_artstein_poesio_tables():
    df1 = refs.pairs_to_long(*refs.AP_TABLE1)
    assert round(cohen_kappa(df1), 3) == refs.AP_TABLE1_KAPPA
    df4 = refs.pairs_to_long(*refs.AP_TABLE4)
    assert round(cohen_kappa(df4), 4) == refs.AP_TABLE4_KAPPA


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_weighted_example(weights):
    df = refs.pairs_to_long(*refs.WEIGHTED_EXAMPLE)
    assert round(cohen_kappa(df, weights=weights), 4) == refs.WEIGHTED_EXAMPLE_KAPPA[weights]


@pytest.mark.parametrize("weights", [None, "linear"])
def test_cohen_sas_example(weights):
    df = refs.cells_to_long(refs.SAS_TABLE10)
    # categories 0..2 are the table's rows/columns even though rater 1 never used 0
    assert round(cohen_kappa(df, weights=weights, labels=[0, 1, 2]), 4) == refs.SAS_TABLE10_KAPPA[weights]


@pytest.mark.parametrize(("cells", "expected"), [(refs.K2004_TABLE_4A, refs.K2004_4A), (refs.K2004_TABLE_4B, refs.K2004_4B)])
def test_krippendorff_2004_two_by_three_tables(cells, expected):
    df = refs.cells_to_long(cells)
    assert round(percent_agreement(df), 3) == expected["percent_agreement"]
    assert round(scott_pi(df), 3) == expected["scott_pi"]
    assert round(cohen_kappa(df), 3) == expected["cohen_kappa"]


def test_gwet_ac1_hand_example():
    df = refs.cells_to_long(refs.GWET_HAND)
    assert round(gwet_ac1(df), 4) == refs.GWET_HAND_AC1
    assert round(scott_pi(df), 4) == refs.GWET_HAND_PI
