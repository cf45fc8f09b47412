"""Agreement metrics match peer implementations on random data (to 1e-9)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

krippendorff = pytest.importorskip("krippendorff")
inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
from sklearn.metrics import cohen_kappa_score  # noqa: E402

from pipeline.measure.agreement import (  # noqa: E402
    cohen_kappa,
    confusion,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_kappa,
    pairwise_kappa_matrix,
    scott_pi,
)


def reliability_matrix(seed: int, n_coders: int, n_units: int, n_values: int, p_missing: float) -> np.ndarray:
    """Coders x units matrix of values 1..n_values with NaN for missing, some agreement built in."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, n_values + 1, n_units)
    noise = rng.integers(1, n_values + 1, (n_coders, n_units))
    data = np.where(rng.random((n_coders, n_units)) < 0.6, truth, noise).astype(np.float64)
    data[rng.random((n_coders, n_units)) < p_missing] = np.nan
    return data


def to_long(data: np.ndarray) -> pd.DataFrame:
    coder, unit = np.nonzero(~np.isnan(data))
    return pd.DataFrame(
        {
            "item_id": [f"u{u}" for u in unit],
            "annotator_id": [f"c{c}" for c in coder],
            "label": data[coder, unit],
        }
    )


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize(
    ("seed", "n_coders", "n_units", "n_values", "p_missing"),
    [(0, 3, 40, 4, 0.3), (1, 6, 200, 7, 0.5), (2, 2, 25, 3, 0.2), (3, 10, 120, 12, 0.7)],
)
def test_alpha_matches_krippendorff_package(level, seed, n_coders, n_units, n_values, p_missing):
    data = reliability_matrix(seed, n_coders, n_units, n_values, p_missing)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(to_long(data), level=level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("level", ["interval", "ratio", "ordinal", "nominal"])
def test_alpha_many_distinct_values_matches_krippendorff_package(level):
    # continuous-ish labels: ~300 distinct values, profiles barely repeat
    rng = np.random.default_rng(7)
    truth = rng.normal(50, 10, 150)
    data = np.round(truth + rng.normal(0, 3, (4, 150)), 1)
    data[rng.random(data.shape) < 0.3] = np.nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(to_long(data), level=level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("seed", "n_raters", "n_pool", "n_cat"), [(0, 3, 3, 3), (1, 5, 12, 4), (2, 8, 20, 6)])
def test_fleiss_matches_statsmodels(seed, n_raters, n_pool, n_cat):
    # every item gets exactly n_raters labels (statsmodels assumes a full table),
    # from a larger pool of annotators
    rng = np.random.default_rng(seed)
    n_items = 150
    truth = rng.integers(0, n_cat, n_items)
    labels = np.where(rng.random((n_items, n_raters)) < 0.5, truth[:, None], rng.integers(0, n_cat, (n_items, n_raters)))
    raters = np.argsort(rng.random((n_items, n_pool)), axis=1)[:, :n_raters]
    df = pd.DataFrame(
        {
            "item_id": np.repeat(np.arange(n_items), n_raters),
            "annotator_id": raters.ravel(),
            "label": labels.ravel(),
        }
    )
    table, _ = inter_rater.aggregate_raters(labels)
    expected = inter_rater.fleiss_kappa(table)
    assert fleiss_kappa(df) == pytest.approx(expected, abs=1e-9)
    assert scott_pi(df) == pytest.approx(expected, abs=1e-9)


def two_raters(seed: int, n_items: int, n_cat: int, p_missing: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_cat, n_items)
    rows = []
    for rater in ("ann", "bob"):
        lab = np.where(rng.random(n_items) < 0.6, truth, rng.integers(0, n_cat, n_items))
        keep = rng.random(n_items) >= p_missing
        rows.append(pd.DataFrame({"item_id": np.flatnonzero(keep), "annotator_id": rater, "label": lab[keep]}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize(("seed", "n_items", "n_cat", "p_missing"), [(0, 60, 3, 0.2), (1, 300, 6, 0.4), (2, 40, 2, 0.0)])
def test_cohen_matches_sklearn_and_statsmodels(weights, seed, n_items, n_cat, p_missing):
    df = two_raters(seed, n_items, n_cat, p_missing)
    wide = df.pivot(index="item_id", columns="annotator_id", values="label").dropna()
    labels = np.unique(wide.to_numpy())
    expected = cohen_kappa_score(wide["ann"], wide["bob"], weights=weights, labels=labels)
    ours = cohen_kappa(df, weights=weights)
    assert ours == pytest.approx(expected, abs=1e-9)
    # statsmodels works on the contingency table; linear/quadratic on equally spaced categories
    table = confusion(df).matrix
    wt = {None: None, "linear": "linear", "quadratic": "quadratic"}[weights]
    sm = inter_rater.cohens_kappa(table, wt=wt, return_results=False)
    assert ours == pytest.approx(sm, abs=1e-9)
    # symmetric in the raters
    assert cohen_kappa(df, raters=("bob", "ann"), weights=weights) == pytest.approx(ours, abs=1e-12)


def test_pairwise_matrix_matches_sklearn_per_pair():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(120):
        anns = rng.choice(6, size=rng.integers(1, 5), replace=False)
        truth = rng.integers(0, 4)
        for a in anns:
            rows.append((i, f"a{a}", truth if rng.random() < 0.6 else int(rng.integers(0, 4))))
    df = pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])
    mat = pairwise_kappa_matrix(df, weights="quadratic")
    assert np.allclose(mat.to_numpy(), mat.to_numpy().T, equal_nan=True)
    wide = df.pivot(index="item_id", columns="annotator_id", values="label")
    for a in mat.index:
        for b in mat.columns:
            if a == b:
                assert mat.loc[a, b] == 1.0
                continue
            both = wide[[a, b]].dropna()
            cats = np.unique(both.to_numpy())
            expected = cohen_kappa_score(both[a], both[b], weights="quadratic", labels=cats)
            assert mat.loc[a, b] == pytest.approx(expected, abs=1e-9)


def test_sparse_pairwise_kappa_matches_sklearn_on_every_pair_that_shares_items():
    """pairwise_kappa lists exactly the pairs that share an item, with the shared count, and the
    kappa sklearn computes on those items; it agrees with the dense matrix wherever that is defined."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(400):
        anns = rng.choice(40, size=rng.integers(1, 4), replace=False)  # 40 annotators, sparse overlap
        truth = rng.integers(0, 3)
        rows += [(i, f"a{a:02d}", truth if rng.random() < 0.7 else int(rng.integers(0, 3))) for a in anns]
    df = pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])
    long = pairwise_kappa(df, weights="linear", labels=[0, 1, 2])
    wide = df.pivot(index="item_id", columns="annotator_id", values="label")
    shared = {(a, b): int(wide[[a, b]].dropna().shape[0]) for a in wide.columns for b in wide.columns if a < b}
    expected_pairs = {k: n for k, n in shared.items() if n > 0}
    assert list(zip(long["rater_a"], long["rater_b"])) == sorted(expected_pairs)
    assert long["n_items"].tolist() == [expected_pairs[k] for k in sorted(expected_pairs)]
    mat = pairwise_kappa_matrix(df, weights="linear", labels=[0, 1, 2])
    for r in long.itertuples():
        both = wide[[r.rater_a, r.rater_b]].dropna()
        expected = cohen_kappa_score(both[r.rater_a], both[r.rater_b], weights="linear", labels=[0, 1, 2])
        if np.isnan(r.kappa):  # sklearn returns nan (with a warning) when chance agreement is 1
            assert np.isnan(mat.loc[r.rater_a, r.rater_b])
            continue
        assert r.kappa == pytest.approx(expected, abs=1e-9)
        assert mat.loc[r.rater_a, r.rater_b] == pytest.approx(r.kappa, abs=1e-12)
