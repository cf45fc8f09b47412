"""Per-tag agreement and tag prevalence of tag-set annotations (pipeline.measure.multilabel):
per-tag alpha against the krippendorff package, Fleiss' kappa against statsmodels, prevalence and
its Wilson interval against hand counts and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.measure.multilabel import PER_TAG_COLUMNS, per_tag_agreement, tag_prevalence

TAGS = ["hate", "spam", "violence"]


def _frame(seed: int = 0, n_items: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        truth = {t for t, p in zip(TAGS, (0.2, 0.4, 0.1)) if rng.random() < p}
        for vendor, extra in (("loose", 0.3), ("tight", 0.05)):
            for a in rng.choice(4, size=rng.integers(1, 3), replace=False):
                s = {t for t in truth if rng.random() < 0.85} | {t for t in TAGS if rng.random() < extra / 3}
                rows.append((f"i{i:03d}", f"{vendor}-{a}", vendor, sorted(s)))
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "vendor", "label"])


def test_per_tag_alpha_and_kappa_equal_the_peers_on_the_presence_answers():
    import krippendorff
    from statsmodels.stats.inter_rater import fleiss_kappa

    frame = _frame()
    out = per_tag_agreement(frame).set_index(["scope", "tag"])
    assert list(out.reset_index().columns) == list(PER_TAG_COLUMNS)
    assert set(out.index.get_level_values("scope")) == {"overall", "loose", "tight"}
    for scope in ("overall", "loose"):
        part = frame if scope == "overall" else frame[frame["vendor"] == scope]
        for tag in TAGS:
            present = part.assign(x=[float(tag in s) for s in part["label"]])
            matrix = present.pivot(index="annotator_id", columns="item_id", values="x").to_numpy()
            assert out.loc[(scope, tag), "alpha"] == pytest.approx(
                krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"), abs=1e-9)
            two = present.groupby("item_id").filter(lambda g: len(g) == 2)  # statsmodels needs equal raters
            assert len(two) > 0
            if scope == "overall":
                table = pd.crosstab(two["item_id"], two["x"]).reindex(columns=[0.0, 1.0], fill_value=0).to_numpy()
                ours = per_tag_agreement(two.drop(columns="x"), tags=TAGS, by=None).set_index("tag")
                assert ours.loc[tag, "fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-9)
            assert out.loc[(scope, tag), "prevalence"] == pytest.approx(present["x"].mean())


def test_tag_prevalence_shows_over_tagging_with_wilson_intervals():
    from statsmodels.stats.proportion import proportion_confint

    frame = _frame(seed=1)
    out = tag_prevalence(frame, by=["vendor"]).set_index(["vendor", "tag"])
    for (vendor, tag), row in out.iterrows():
        answers = frame[frame["vendor"] == vendor]
        k = sum(tag in s for s in answers["label"])
        assert (row["n_answers"], row["n_with_tag"]) == (len(answers), k)
        lo, hi = proportion_confint(k, len(answers), method="wilson")
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
        assert row["mean_set_size"] == pytest.approx(answers["label"].map(len).mean())
    assert out.loc["loose", "mean_set_size"].iloc[0] > out.loc["tight", "mean_set_size"].iloc[0]  # loose over-tags


def test_the_empty_set_counts_as_an_answer_without_tags():
    frame = pd.DataFrame({"item_id": ["a", "a", "b"], "annotator_id": ["x", "y", "x"], "vendor": "v",
                          "label": [["spam"], [], None]})
    out = tag_prevalence(frame, by=["vendor"]).set_index("tag")
    assert out.loc["spam", "n_answers"] == 2 and out.loc["spam", "n_with_tag"] == 1
    assert out.loc["spam", "mean_set_size"] == pytest.approx(0.5)
