"""Agreement of numeric ratings: ICC against Shrout & Fleiss's published table and pingouin (1e-9),
Kendall's W against pingouin's Friedman test, incomplete designs, and pairwise balanced F1 of
binary criteria against scikit-learn."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from pipeline.measure.agreement import (
    ICC_TYPES,
    UndefinedAgreementWarning,
    intraclass_corr,
    kendall_w,
    pairwise_f1,
)

pg = pytest.importorskip("pingouin")

#: pingouin's names of our ICC_TYPES rows
PINGOUIN = dict(zip(ICC_TYPES, ["ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)"]))

#: Shrout & Fleiss (1979), Table 2: six targets rated by four judges, and their Table 4 ICCs
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
SHROUT_FLEISS_ICC = {"ICC(1)": 0.17, "ICC(2,1)": 0.29, "ICC(3,1)": 0.71, "ICC(1,k)": 0.44, "ICC(2,k)": 0.62,
                     "ICC(3,k)": 0.91}


def _long(table) -> pd.DataFrame:
    table = np.asarray(table, dtype=float)
    i, j = np.nonzero(~np.isnan(table))
    return pd.DataFrame({"item_id": [f"t{v:03d}" for v in i], "annotator_id": [f"r{v}" for v in j], "label": table[i, j]})


def _ratings(seed: int, n: int, k: int, bias_sd: float = 1.0, noise_sd: float = 0.7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(n, 1)) + rng.normal(scale=bias_sd, size=(1, k)) + rng.normal(scale=noise_sd, size=(n, k))
    return _long(table)


def _pingouin(df: pd.DataFrame, **kw) -> pd.DataFrame:
    old = pg.options.get("round.column.CI95")
    pg.options["round.column.CI95"] = None  # pingouin rounds the interval to 2 decimals by default
    try:
        return pg.intraclass_corr(data=df, targets="item_id", raters="annotator_id", ratings="label", **kw).set_index("Type")
    finally:
        pg.options["round.column.CI95"] = old


def _assert_equals_pingouin(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ours = ours.set_index("type")
    assert list(ours.index) == list(ICC_TYPES)
    for kind, name in PINGOUIN.items():
        o, p = ours.loc[kind], ref.loc[name]
        for a, b in [("icc", "ICC"), ("f", "F"), ("df1", "df1"), ("df2", "df2"), ("pval", "pval")]:
            assert o[a] == pytest.approx(p[b], abs=1e-9, rel=1e-9), (kind, a)
        assert o["ci_low"] == pytest.approx(p["CI95"][0], abs=1e-9), kind
        assert o["ci_high"] == pytest.approx(p["CI95"][1], abs=1e-9), kind


def test_icc_reproduces_shrout_and_fleiss_table_4():
    out = intraclass_corr(_long(SHROUT_FLEISS)).set_index("type")
    for kind, published in SHROUT_FLEISS_ICC.items():
        assert round(out.loc[kind, "icc"], 2) == published, kind
    assert (out["design"] == "two_way").all() and (out["n_items"] == 6).all() and (out["n_raters"] == 4).all()


@pytest.mark.parametrize("seed,n,k,bias_sd", [(0, 6, 4, 1.0), (1, 30, 2, 0.0), (2, 50, 5, 0.3), (3, 200, 3, 2.0),
                                              (4, 12, 8, 0.5)])
def test_icc_equals_pingouin_on_complete_designs(seed, n, k, bias_sd):
    df = _ratings(seed, n, k, bias_sd)
    _assert_equals_pingouin(intraclass_corr(df), _pingouin(df))


def test_icc_equals_pingouin_on_its_wine_dataset_and_a_pyarrow_table():
    wine = pg.read_dataset("icc").rename(columns={"Wine": "item_id", "Judge": "annotator_id", "Scores": "label"})
    _assert_equals_pingouin(intraclass_corr(wine), _pingouin(wine))
    _assert_equals_pingouin(intraclass_corr(pa.Table.from_pandas(wine)), _pingouin(wine))


def test_icc_interval_level_is_honoured():
    df = _ratings(5, 40, 3)
    wide = intraclass_corr(df, confidence=0.99).set_index("type")
    narrow = intraclass_corr(df, confidence=0.80).set_index("type")
    point = intraclass_corr(df).set_index("type")["icc"]
    assert (wide["ci_low"] < narrow["ci_low"]).all() and (narrow["ci_high"] < wide["ci_high"]).all()
    assert ((narrow["ci_low"] < point) & (point < narrow["ci_high"])).all()


def test_icc_is_invariant_to_affine_rescaling_and_row_order():
    df = _ratings(6, 25, 4)
    base = intraclass_corr(df)
    moved = df.assign(label=3.0 * df["label"] - 7.0).sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(intraclass_corr(moved), base, rtol=1e-9, atol=1e-12)


def test_complete_policy_equals_pingouin_listwise_deletion():
    full = _ratings(7, 40, 4)
    holes = full.drop(index=full.sample(n=9, random_state=2).index)
    with pytest.warns(UndefinedAgreementWarning, match=r"dropped \d+ of 40 item\(s\) not rated by all 4 raters"):
        ours = intraclass_corr(holes, incomplete="complete")
    assert (ours["design"] == "complete_subset").all()
    _assert_equals_pingouin(ours, _pingouin(holes, nan_policy="omit"))


def test_one_way_icc_on_a_crowd_design_matches_the_one_way_anova():
    """Each item rated by 3-6 of 20 raters: ICC(1) from scipy's one-way ANOVA F with the adjusted
    group size k0; the two-way rows are NaN with a warning saying why."""
    rng = np.random.default_rng(8)
    rows = []
    for i in range(120):
        truth = rng.normal()
        for r in rng.choice(20, size=rng.integers(3, 7), replace=False):
            rows.append((i, f"w{r}", truth + rng.normal(scale=0.8)))
    df = pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])
    with pytest.warns(UndefinedAgreementWarning, match=r"ICC\(2,.\) and ICC\(3,.\) are undefined"):
        out = intraclass_corr(df).set_index("type")
    groups = [g.to_numpy() for _, g in df.groupby("item_id")["label"]]
    f, p = stats.f_oneway(*groups)
    sizes = np.array([len(g) for g in groups], dtype=float)
    k0 = (sizes.sum() - (sizes**2).sum() / sizes.sum()) / (len(sizes) - 1)
    assert out.loc["ICC(1)", "f"] == pytest.approx(f, rel=1e-12)
    assert out.loc["ICC(1)", "pval"] == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert out.loc["ICC(1)", "icc"] == pytest.approx((f - 1) / (f + k0 - 1), rel=1e-12)
    assert out.loc["ICC(1,k)", "icc"] == pytest.approx(1 - 1 / f, rel=1e-12)
    assert out.loc["ICC(1)", "n_raters"] == pytest.approx(k0)
    assert out.loc["ICC(1)", "ci_low"] < out.loc["ICC(1)", "icc"] < out.loc["ICC(1)", "ci_high"]
    true_icc = 1 / (1 + 0.8**2)
    assert abs(out.loc["ICC(1)", "icc"] - true_icc) < 0.1
    assert out.loc[["ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"], "icc"].isna().all()
    assert (out["design"] == "one_way").all()


def test_one_way_icc_of_a_complete_design_is_the_two_way_icc_1():
    df = _ratings(9, 30, 4)
    two_way = intraclass_corr(df).set_index("type")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedAgreementWarning)
        from pipeline.measure.agreement.icc import _one_way, _ratings as encode

        one_way = _one_way(encode(df), 0.05).set_index("type")
    for kind in ("ICC(1)", "ICC(1,k)"):
        for col in ("icc", "f", "pval", "ci_low", "ci_high"):
            assert one_way.loc[kind, col] == pytest.approx(two_way.loc[kind, col], rel=1e-12), (kind, col)


def test_incomplete_raise_names_the_items_and_the_options():
    df = _ratings(10, 10, 3).iloc[1:]
    with pytest.raises(ValueError, match=r"1 item\(s\) are not rated by all 3 raters \(e.g. item_id 't000'\).*"
                                         r"incomplete='one_way'.*incomplete='complete'"):
        intraclass_corr(df, incomplete="raise")


def test_icc_input_errors_name_rows_and_pairs():
    df = _ratings(11, 5, 2)
    with pytest.raises(ValueError, match=r"rated more than once, e.g. \('t000', 'r0'\)"):
        intraclass_corr(pd.concat([df, df.iloc[:1]], ignore_index=True))
    with pytest.raises(ValueError, match=r"numeric labels; row\(s\) 3 have 'good'"):
        intraclass_corr(df.assign(label=df["label"].astype(object).where(df.index != 3, "good")))
    with pytest.raises(ValueError, match="incomplete must be"):
        intraclass_corr(df, incomplete="drop")  # type: ignore[arg-type]
    with pytest.warns(UndefinedAgreementWarning, match="at least two items and two raters"):
        assert intraclass_corr(df[df["annotator_id"] == "r0"])["icc"].isna().all()


def test_kendall_w_equals_pingouin_friedman_with_ties():
    rng = np.random.default_rng(12)
    for n, m in [(8, 3), (30, 5), (12, 2)]:
        latent = rng.normal(size=(n, 1)) + rng.normal(scale=0.8, size=(n, m))
        df = _long(np.round(latent * 1.5))  # integer ratings: many ties
        ours = kendall_w(df)
        ref = pg.friedman(data=df, dv="label", within="item_id", subject="annotator_id")
        assert ours["w"] == pytest.approx(float(ref["W"].iloc[0]), rel=1e-12)
        assert ours["chi2"] == pytest.approx(float(ref["Q"].iloc[0]), rel=1e-12)
        assert ours["pval"] == pytest.approx(float(ref["p_unc"].iloc[0]), rel=1e-9)


def test_kendall_w_is_one_for_identical_rankings_and_refuses_holes():
    df = _long(np.tile(np.arange(6.0)[:, None], (1, 4)) * np.array([1.0, 2.0, 10.0, 0.5]))
    assert kendall_w(df)["w"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"rater 'r1' did not rate item_id 't002'"):
        kendall_w(df.drop(index=df[(df["item_id"] == "t002") & (df["annotator_id"] == "r1")].index))


def test_pairwise_balanced_f1_equals_scikit_learn_macro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(13)
    rows = []
    for i in range(200):
        met = rng.random() < 0.3
        for r in rng.choice(8, size=rng.integers(2, 5), replace=False):
            rows.append((i, f"a{r}", int(met != (rng.random() < 0.1 + 0.05 * r))))
    df = pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])
    pooled, pairs = pairwise_f1(df, positive=1)
    y1, y2 = [], []
    for a, b in itertools.combinations(sorted(df["annotator_id"].unique()), 2):
        shared = df[df["annotator_id"] == a].merge(df[df["annotator_id"] == b], on="item_id")
        if shared.empty:
            assert not ((pairs["annotator_a"] == a) & (pairs["annotator_b"] == b)).any()
            continue
        row = pairs[(pairs["annotator_a"] == a) & (pairs["annotator_b"] == b)].iloc[0]
        assert row["n_items"] == len(shared)
        assert row["balanced_f1"] == pytest.approx(f1_score(shared["label_x"], shared["label_y"], average="macro"))
        y1 += shared["label_x"].tolist()
        y2 += shared["label_y"].tolist()
    assert pooled == pytest.approx(f1_score(y1, y2, average="macro"), rel=1e-12)
    # symmetric, and the positive value may be any label
    swapped, _ = pairwise_f1(df.assign(label=df["label"].map({1: "met", 0: "not met"})), positive="met")
    assert swapped == pytest.approx(pooled, rel=1e-12)


def test_pairwise_f1_refuses_non_binary_labels_and_warns_without_pairs():
    df = pd.DataFrame({"item_id": [1, 1, 2], "annotator_id": ["a", "b", "a"], "label": [0, 1, 2]})
    with pytest.raises(ValueError, match="binary criterion; label has 3 distinct values"):
        pairwise_f1(df)
    with pytest.warns(UndefinedAgreementWarning, match="no item has two annotators"):
        value, pairs = pairwise_f1(df.iloc[[0, 2]].assign(label=[0, 1]))
    assert np.isnan(value) and pairs.empty
