"""Position bias and tie rate of preference judgements, against statsmodels' Wilson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from pipeline.measure.preference import position_bias, tie_rate


def _judgements(vendor: str, n_first: int, n_second: int, n_ties: int, n_unknown_order: int = 0) -> pd.DataFrame:
    rows = ([("a", "a")] * n_first + [("b", "a")] * n_second + [("tie", "b")] * n_ties + [("a", None)] * n_unknown_order)
    return pd.DataFrame({"vendor": vendor, "annotator_id": "w", "choice": [c for c, _ in rows],
                         "shown_first": [s for _, s in rows]})


def test_position_bias_counts_non_tie_judgements_with_a_known_order_and_flags_off_half():
    frame = pd.concat([_judgements("biased", 40, 10, 5, 3), _judgements("fair", 26, 24, 9)], ignore_index=True)
    out = position_bias(frame).set_index("vendor")
    assert out.loc["biased", ["n", "n_first"]].tolist() == [50, 40] and out.loc["fair", ["n", "n_first"]].tolist() == [50, 26]
    for vendor in ("biased", "fair"):
        lo, hi = proportion_confint(out.loc[vendor, "n_first"], out.loc[vendor, "n"], method="wilson")
        assert (out.loc[vendor, "ci_low"], out.loc[vendor, "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert out.loc["biased", "flagged"] and not out.loc["fair", "flagged"]


def test_the_order_is_the_shown_response_not_the_letter():
    """Choosing b when b was shown first is a first-shown pick."""
    frame = pd.DataFrame({"vendor": "v", "choice": ["b", "b", "a"], "shown_first": ["b", "b", "b"]})
    assert position_bias(frame)[["n", "n_first"]].iloc[0].tolist() == [3, 2]


def test_a_group_without_known_order_has_no_share_and_is_not_flagged():
    out = position_bias(_judgements("v", 0, 0, 2, 4))
    assert out["n"].iloc[0] == 0 and np.isnan(out["first_share"].iloc[0]) and not out["flagged"].iloc[0]


def test_tie_rate_per_vendor():
    frame = pd.concat([_judgements("v1", 5, 5, 10), _judgements("v2", 9, 9, 2)], ignore_index=True)
    out = tie_rate(frame).set_index("vendor")
    assert out["n_ties"].to_dict() == {"v1": 10, "v2": 2} and out["tie_rate"].to_dict() == {"v1": 0.5, "v2": 0.1}
    lo, hi = proportion_confint(10, 20, method="wilson")
    assert (out.loc["v1", "ci_low"], out.loc["v1", "ci_high"]) == pytest.approx((lo, hi), abs=1e-12)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="shown_first"):
        position_bias(pd.DataFrame({"vendor": ["v"], "choice": ["a"]}))
