"""Position bias and tie rate of preference judgements, against statsmodels' Wilson interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from statsmodels.stats.proportion import proportion_confint

from pipeline.measure.preference import position_bias, strength_agreement, strength_calibration, tie_rate


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


def _strengths(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Judgements of two vendors with strengths (v1: the stronger, the likelier right), a third
    without, and a reference consensus per (vendor, item)."""
    rng = np.random.default_rng(seed)
    rows, ref = [], []
    for vendor in ("v1", "v2", "v3"):
        for k in range(300):
            item, truth = f"{vendor}-{k}", "a" if k % 2 else "b"
            strength = float(rng.choice([0.75, 1.5, 2.25, 3.0]))
            right = rng.random() < (0.5 + strength / 7 if vendor == "v1" else 0.7)
            choice = truth if right else ("b" if truth == "a" else "a")
            if k % 10 == 0:
                choice = "tie"  # not counted: a tie prefers no side
            sign = 1.0 if choice == "a" else -1.0 if choice == "b" else 0.0
            rows.append((vendor, item, choice, sign * strength if vendor != "v3" else np.nan))
            ref.append((vendor, item, "tie" if k % 15 == 1 else truth))  # a tied reference is not counted either
    frame = pd.DataFrame(rows, columns=["vendor", "item_id", "choice", "margin"])
    return frame, pd.DataFrame(ref, columns=["vendor", "item_id", "loo_label"])


def test_strength_calibration_counts_agreement_with_the_reference_per_strength():
    frame, loo = _strengths()
    out = strength_calibration(frame, loo)
    assert set(out["vendor"]) == {"v1", "v2"}  # v3 has no strengths
    joined = frame.merge(loo, on=["vendor", "item_id"])
    kept = joined[joined["choice"].isin(["a", "b"]) & joined["loo_label"].isin(["a", "b"]) & joined["margin"].notna()]
    for r in out.itertuples():
        mine = kept[(kept["vendor"] == r.vendor) & np.isclose(kept["margin"].abs(), r.strength)]
        assert (r.n, r.n_agree) == (len(mine), int((mine["choice"] == mine["loo_label"]).sum()))
        assert (r.ci_low, r.ci_high) == pytest.approx(proportion_confint(r.n_agree, r.n, method="wilson"), abs=1e-12)
    assert out.groupby("vendor")["n"].sum().to_dict() == kept.groupby("vendor").size().to_dict()


def test_strength_agreement_is_the_point_biserial_correlation():
    frame, loo = _strengths(1)
    out = strength_agreement(frame, loo).set_index("vendor")
    joined = frame.merge(loo, on=["vendor", "item_id"])
    kept = joined[joined["choice"].isin(["a", "b"]) & joined["loo_label"].isin(["a", "b"]) & joined["margin"].notna()]
    for vendor in ("v1", "v2"):
        mine = kept[kept["vendor"] == vendor]
        r = pearsonr(mine["margin"].abs(), (mine["choice"] == mine["loo_label"]).astype(float)).statistic
        assert out.loc[vendor, "strength_agreement_corr"] == pytest.approx(r, abs=1e-10)
        assert out.loc[vendor, "n_strength"] == len(mine)
    assert out.loc["v1", "strength_agreement_corr"] > 0.15 > abs(out.loc["v2", "strength_agreement_corr"])
    assert "v3" not in out.index  # no strengths at all
    same = frame.assign(margin=np.sign(frame["margin"]) * 3.0)  # one strength only: no correlation to speak of
    assert strength_agreement(same, loo)["strength_agreement_corr"].isna().all()


def test_strength_calibration_names_missing_columns():
    frame, loo = _strengths()
    with pytest.raises(ValueError, match="loo_label"):
        strength_calibration(frame, loo.drop(columns="loo_label"))
    with pytest.raises(ValueError, match="margin"):
        strength_agreement(frame.drop(columns="margin"), loo)
