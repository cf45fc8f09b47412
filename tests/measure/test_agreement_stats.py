"""Mergeable statistics, bootstrap, the agreement table, pairwise and per-category agreement."""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

krippendorff = pytest.importorskip("krippendorff")

from pipeline.measure.agreement import (  # noqa: E402
    TABLE_COLUMNS,
    TABLE_METRICS,
    CoincidenceStats,
    agreement_table,
    bootstrap_ci,
    coincidences,
    cohen_kappa,
    confusion,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    merge,
    pairwise_kappa_matrix,
    per_category_agreement,
    percent_agreement,
    scott_pi,
)
from pipeline.measure.agreement.bootstrap import _value_evaluator, replicate_weights  # noqa: E402

LEVELS = ["nominal", "ordinal", "interval", "ratio"]


def random_frame(seed: int, n_items: int = 400, n_ann: int = 12, n_cat: int = 5, vendors: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    truth = rng.integers(1, n_cat + 1, n_items)
    for i in range(n_items):
        k = int(rng.integers(1, 6))
        for a in rng.choice(n_ann, size=min(k, n_ann), replace=False):
            lab = truth[i] if rng.random() < 0.65 else int(rng.integers(1, n_cat + 1))
            rows.append((f"item-{i}", f"ann-{a:02d}", int(lab), f"vendor-{a % vendors}"))
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label", "vendor"])


def all_metrics(x) -> dict[str, float]:
    out = {f"alpha_{lv}": krippendorff_alpha(x, level=lv) for lv in LEVELS}
    out.update(
        percent_agreement=percent_agreement(x), fleiss_kappa=fleiss_kappa(x), scott_pi=scott_pi(x), gwet_ac1=gwet_ac1(x)
    )
    return out


# ------------------------------------------------------------- mergeable statistics
@pytest.mark.parametrize("seed", [0, 1])
def test_metrics_of_merged_stats_equal_metrics_of_all_rows(seed):
    df = random_frame(seed)
    items = df["item_id"].unique()
    rng = np.random.default_rng(seed)
    part = dict(zip(items, rng.integers(0, 3, items.size)))
    parts = [df[df["item_id"].map(part) == p] for p in range(3)]
    # a batch that lacks a category forces category alignment on merge
    parts[2] = parts[2][parts[2]["label"] != 5]
    full = pd.concat(parts)
    merged = coincidences(parts[0]) + coincidences(parts[1]) + coincidences(parts[2])
    assert merged.n_items == full["item_id"].nunique() and merged.n_labels == len(full)
    expected = all_metrics(full)
    for name, value in all_metrics(merged).items():
        assert value == pytest.approx(expected[name], abs=1e-12), name
    assert sum([coincidences(p) for p in parts]).n_profiles == merged.n_profiles
    m2 = merge(*(coincidences(p) for p in parts))
    assert np.allclose(m2.coincidence_matrix(), coincidences(full).coincidence_matrix())


def test_coincidence_matrix_matches_krippendorff_package():
    df = random_frame(3, n_items=60)
    stats = coincidences(df)
    wide = df.pivot(index="annotator_id", columns="item_id", values="label").to_numpy(dtype=float)
    counts = krippendorff.krippendorff._reliability_data_to_value_counts(wide, stats.categories.astype(float))
    expected = krippendorff.krippendorff._coincidences(counts)
    assert np.allclose(stats.coincidence_matrix(), expected, atol=1e-12)
    assert np.allclose(stats.value_totals, expected.sum(axis=0))


def test_profiles_compress_and_label_order_realigns():
    df = random_frame(4)
    stats = coincidences(df)
    assert isinstance(stats, CoincidenceStats)
    assert stats.n_profiles < stats.n_items  # identical label-count profiles are grouped
    ordered = coincidences(df, categories=[5, 4, 3, 2, 1])
    assert list(ordered.categories) == [5, 4, 3, 2, 1]
    assert krippendorff_alpha(ordered, level="ordinal") == pytest.approx(
        krippendorff_alpha(df, level="ordinal", labels=[5, 4, 3, 2, 1]), abs=1e-12
    )
    # stats + labels: q of Gwet's AC1 follows the wider domain
    assert gwet_ac1(stats, labels=[1, 2, 3, 4, 5, 6]) == pytest.approx(
        gwet_ac1(df, labels=[1, 2, 3, 4, 5, 6]), abs=1e-12
    )


def test_confusion_stats_add():
    df = random_frame(5).query("annotator_id in ['ann-01', 'ann-02']")
    items = df["item_id"].unique()
    a = df[df["item_id"].isin(items[::2])]
    b = df[~df["item_id"].isin(items[::2])]
    total = confusion(a, raters=("ann-01", "ann-02")) + confusion(b, raters=("ann-02", "ann-01"))
    for w in (None, "linear", "quadratic"):
        assert cohen_kappa(total, weights=w) == pytest.approx(cohen_kappa(df, weights=w), abs=1e-12)


# ----------------------------------------------------------------- fleiss (unequal m)
def test_fleiss_unequal_raters_hand_computation():
    # items: [a,a,b] (m=3), [a,b] (m=2), [b,b,b,b] (m=4), [a] (m=1, not pairable)
    df = pd.DataFrame(
        [(1, "r1", "a"), (1, "r2", "a"), (1, "r3", "b"), (2, "r1", "a"), (2, "r2", "b"),
         (3, "r1", "b"), (3, "r2", "b"), (3, "r3", "b"), (3, "r4", "b"), (4, "r1", "a")],
        columns=["item_id", "annotator_id", "label"],
    )
    p_items = [Fraction(2, 6), Fraction(0, 2), Fraction(12, 12)]  # (sum n_ij^2 - m) / (m (m-1))
    p_bar = sum(p_items) / 3
    p_a, p_b = Fraction(3, 9), Fraction(6, 9)  # pooled over the 9 labels of pairable items
    p_e = p_a**2 + p_b**2
    assert fleiss_kappa(df) == pytest.approx(float((p_bar - p_e) / (1 - p_e)), abs=1e-12)  # -0.25
    assert fleiss_kappa(df) == pytest.approx(-0.25, abs=1e-12)
    # percent agreement pools pairs: (2 + 0 + 12) / (6 + 2 + 12)
    assert percent_agreement(df) == pytest.approx(14 / 20, abs=1e-12)
    assert scott_pi(df) == pytest.approx(float((Fraction(14, 20) - p_e) / (1 - p_e)), abs=1e-12)
    # Gwet: pi_k averages per-item shares over all 4 rated items, q = 2
    pi_a = (Fraction(2, 3) + Fraction(1, 2) + 0 + 1) / 4
    p_e_gwet = 2 * pi_a * (1 - pi_a) / (2 - 1)
    assert gwet_ac1(df) == pytest.approx(float((p_bar - p_e_gwet) / (1 - p_e_gwet)), abs=1e-12)


# ----------------------------------------------------------------------- bootstrap
def test_bootstrap_is_seeded_and_brackets_the_estimate():
    df = random_frame(6)
    r1 = bootstrap_ci(krippendorff_alpha, df, n_boot=300, seed=11)
    r2 = bootstrap_ci(krippendorff_alpha, df, n_boot=300, seed=11)
    r3 = bootstrap_ci(krippendorff_alpha, df, n_boot=300, seed=12)
    assert r1 == r2 and r1 != r3
    assert r1.ci_low < r1.estimate < r1.ci_high and r1.n_valid == 300
    ordinal = bootstrap_ci(functools.partial(krippendorff_alpha, level="ordinal"), df, n_boot=200)
    assert ordinal.estimate == pytest.approx(krippendorff_alpha(df, level="ordinal"))
    assert ordinal.ci_low < ordinal.estimate < ordinal.ci_high
    pair = df[df["annotator_id"].isin(["ann-01", "ann-03"])]
    kappa = bootstrap_ci("cohen_kappa", pair, n_boot=300, metric_kwargs={"weights": "linear"})
    assert kappa.ci_low < kappa.estimate < kappa.ci_high


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [("krippendorff_alpha", {"level": lv}) for lv in LEVELS]
    + [(m, {}) for m in ("percent_agreement", "fleiss_kappa", "scott_pi", "gwet_ac1")],
)
def test_bootstrap_replicate_equals_metric_on_resampled_items(metric, kwargs):
    """A replicate computed from profile weights equals the metric on explicitly resampled rows."""
    df = random_frame(7, n_items=80)
    rng = np.random.default_rng(0)
    item_ids = df["item_id"].unique()
    draw = rng.integers(0, item_ids.size, item_ids.size)
    groups = dict(tuple(df.groupby("item_id")))
    resampled = pd.concat(
        [groups[item_ids[d]].assign(item_id=f"copy{j}") for j, d in enumerate(draw)], ignore_index=True
    )
    fn = {"krippendorff_alpha": krippendorff_alpha, "percent_agreement": percent_agreement,
          "fleiss_kappa": fleiss_kappa, "scott_pi": scott_pi, "gwet_ac1": gwet_ac1}[metric]
    expected = fn(resampled, **kwargs)
    # the same resample expressed as multiplicities of the original item profiles
    stats = coincidences(df)
    counts = pd.Series(item_ids[draw]).value_counts()
    weights = np.zeros(stats.n_profiles)
    for item, c in counts.items():  # small test-only loop to map items to profiles
        prof = coincidences(df[df["item_id"] == item], categories=list(stats.categories)).profiles.toarray()[0]
        k = int(np.flatnonzero((stats.profiles.toarray() == prof).all(axis=1))[0])
        weights[k] += c
    got = _value_evaluator(metric, kwargs)(stats, weights[None, :])[0]
    assert got == pytest.approx(expected, abs=1e-9)


def test_replicate_weights_large_profile_path_sums_to_n():
    mult = np.ones(5000, dtype=np.int64)
    chunks = list(replicate_weights(mult, 7, np.random.default_rng(0)))
    w = np.vstack(chunks)
    assert w.shape == (7, 5000) and np.all(w.sum(axis=1) == 5000)


# ------------------------------------------------------------------------- table
def test_agreement_table_layout_and_values():
    df = random_frame(8)
    tab = agreement_table(df, n_boot=100, seed=3)
    assert tuple(tab.columns) == TABLE_COLUMNS
    assert list(tab["scope"].unique()) == ["overall", "vendor-0", "vendor-1", "vendor-2"]
    assert list(tab["metric"].unique()) == list(TABLE_METRICS)
    overall = tab[tab["scope"] == "overall"].set_index("metric")
    assert overall.loc["krippendorff_alpha", "value"] == pytest.approx(krippendorff_alpha(df), abs=1e-12)
    assert overall.loc["gwet_ac1", "value"] == pytest.approx(gwet_ac1(df), abs=1e-12)
    assert (overall["n_items"] == df["item_id"].nunique()).all() and (overall["n_labels"] == len(df)).all()
    v1 = tab[tab["scope"] == "vendor-1"].set_index("metric")
    sub = df[df["vendor"] == "vendor-1"]
    assert v1.loc["fleiss_kappa", "value"] == pytest.approx(fleiss_kappa(sub), abs=1e-12)
    assert v1.loc["percent_agreement", "value"] == pytest.approx(percent_agreement(sub), abs=1e-12)
    assert (tab["ci_low"] <= tab["value"]).all() and (tab["value"] <= tab["ci_high"]).all()
    # reproducible, and the same from a pyarrow Table
    again = agreement_table(pa.Table.from_pandas(df, preserve_index=False), n_boot=100, seed=3)
    pd.testing.assert_frame_equal(tab, again)


def test_agreement_table_levels_overall_only_and_no_bootstrap():
    df = random_frame(9)
    tab = agreement_table(df, level="ordinal", labels=[1, 2, 3, 4, 5], by=None, n_boot=0)
    assert list(tab["scope"]) == ["overall"] * len(TABLE_METRICS)
    assert tab[["ci_low", "ci_high"]].isna().all().all()
    alpha = tab.set_index("metric").loc["krippendorff_alpha", "value"]
    assert alpha == pytest.approx(krippendorff_alpha(df, level="ordinal"), abs=1e-12)


# ----------------------------------------------------------- pairwise / per-category
def test_pairwise_by_vendor_uses_majority_with_documented_tie_rule():
    df = pd.DataFrame(
        [
            # item 1: v1 majority 'b' (2 of 3); v2 says 'b'
            (1, "a1", "b", "v1"), (1, "a2", "b", "v1"), (1, "a3", "a", "v1"), (1, "b1", "b", "v2"),
            # item 2: v1 tie a/c -> 'a' (first in sorted order); v2 says 'a'
            (2, "a1", "c", "v1"), (2, "a2", "a", "v1"), (2, "b1", "a", "v2"),
            # item 3: v1 'c'; v2 tie c/b -> 'b'
            (3, "a1", "c", "v1"), (3, "b1", "c", "v2"), (3, "b2", "b", "v2"),
        ],
        columns=["item_id", "annotator_id", "label", "vendor"],
    )
    mat = pairwise_kappa_matrix(df, by="vendor")
    expected = cohen_kappa(
        pd.DataFrame([(1, "v1", "b"), (1, "v2", "b"), (2, "v1", "a"), (2, "v2", "a"), (3, "v1", "c"), (3, "v2", "b")],
                     columns=["item_id", "annotator_id", "label"])
    )
    assert mat.loc["v1", "v2"] == pytest.approx(expected, abs=1e-12)
    # with labels reversed, ties go the other way
    rev = pairwise_kappa_matrix(df, by="vendor", labels=["c", "b", "a"])
    expected_rev = cohen_kappa(
        pd.DataFrame([(1, "v1", "b"), (1, "v2", "b"), (2, "v1", "c"), (2, "v2", "a"), (3, "v1", "c"), (3, "v2", "c")],
                     columns=["item_id", "annotator_id", "label"]),
        labels=["c", "b", "a"],
    )
    assert rev.loc["v1", "v2"] == pytest.approx(expected_rev, abs=1e-12)


@pytest.mark.parametrize("metric", ["krippendorff_alpha", "fleiss_kappa"])
def test_per_category_equals_binarised_metric(metric):
    df = random_frame(10, n_items=200)
    res = per_category_agreement(df, metric=metric).set_index("category")
    fn = krippendorff_alpha if metric == "krippendorff_alpha" else fleiss_kappa
    for cat in res.index:
        binary = df.assign(label=(df["label"] == cat).map({True: "yes", False: "no"}))
        assert res.loc[cat, "value"] == pytest.approx(fn(binary), abs=1e-12)


# ------------------------------------------------------------- canonical schema / docs
def test_table_on_canonical_arrow_schema_with_text_labels():
    from pipeline.kinds.classification import ANNOTATIONS

    rng = np.random.default_rng(12)
    names = ["negative", "neutral", "positive"]
    n = 300
    items = np.repeat(np.arange(100), 3)
    truth = rng.integers(0, 3, 100)
    lab = np.where(rng.random(n) < 0.7, np.repeat(truth, 3), rng.integers(0, 3, n))
    cols = {
        "task": ["sentiment"] * n,
        "item_id": [f"it{i}" for i in items],
        "vendor": [("acme", "bluepeak")[i % 2] for i in range(n)],
        "annotator_id": [None if i % 17 == 0 else f"w{i % 9}" for i in range(n)],  # nullable in the schema
        "label": [None if i % 23 == 0 else names[v] for i, v in enumerate(lab)],
        "annotated_at": [None] * n,
        "batch_id": ["b1"] * n,
        "source_file": ["f.csv"] * n,
    }
    table = pa.Table.from_pydict(cols, schema=ANNOTATIONS)
    tab = agreement_table(table, level="ordinal", labels=names, by="vendor", n_boot=50)
    assert list(tab["scope"].unique()) == ["overall", "acme", "bluepeak"]
    df = table.to_pandas()
    expected = krippendorff_alpha(df, level="ordinal", labels=names)
    got = tab.set_index(["scope", "metric"]).loc[("overall", "krippendorff_alpha"), "value"]
    assert got == pytest.approx(expected, abs=1e-12)
    assert tab.set_index(["scope", "metric"]).loc[("overall", "krippendorff_alpha"), "n_labels"] == df["label"].notna().sum()


def test_numeric_text_labels_match_numeric_label_order():
    df = pd.DataFrame({"item_id": [1, 1, 2, 2, 3, 3], "annotator_id": list("abab" + "ab"),
                       "label": ["1", "2", "3", "3", "1", "1"]})
    as_numbers = df.assign(label=df["label"].astype(int))
    for level in LEVELS:
        assert krippendorff_alpha(df, level=level, labels=[1, 2, 3]) == pytest.approx(
            krippendorff_alpha(as_numbers, level=level), abs=1e-12
        )


def test_docstring_examples_run():
    import doctest

    import pipeline.measure.agreement.krippendorff as kmod
    import pipeline.measure.agreement.table as tmod

    for mod in (kmod, tmod):
        assert doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_pairwise_kappa_of_60000_annotators_is_sparse_and_the_dense_matrix_refuses():
    """A day with 60,000 distinct annotators asked for a 26.8 GiB annotator-pair matrix; the long
    table holds one row per pair that shares an item (here each item has two annotators, and
    annotator j shares item j with j+1 only), and the dense matrix refuses with the way out."""
    import tracemalloc

    from pipeline.measure.agreement import pairwise_kappa, pairwise_kappa_matrix

    n = 60_000
    rng = np.random.default_rng(3)
    items = np.repeat(np.arange(n), 2)  # item j: annotators j and j+1 (mod n)
    annotators = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1).ravel()
    df = pd.DataFrame({"item_id": items, "annotator_id": [f"w{a:05d}" for a in annotators],
                       "label": rng.integers(0, 3, 2 * n)})
    tracemalloc.start()
    long = pairwise_kappa(df, labels=[0, 1, 2])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(long) == n and (long["n_items"] == 1).all()
    assert (long["rater_a"] < long["rater_b"]).all()
    assert peak < 500 * 2**20, f"{peak / 2**20:.0f} MiB for {n} annotators"  # numpy allocations are traced
    with pytest.raises(ValueError, match=r"60000 raters would need a dense 60000 x 60000 matrix \(26\.8 GiB\); use pairwise_kappa"):
        pairwise_kappa_matrix(df, labels=[0, 1, 2])
