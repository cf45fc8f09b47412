"""Numeric consensus of ratings (pipeline.merge.rating): closed forms against pandas / scipy, the
annotator model's properties and recovery of simulated annotators, input errors, and the emotion
dataset of the VLDB 2017 truth-inference benchmark against its published Mean / Median figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import mstats

from helpers.truth_inference import DATA_DIR, IN_CI, load
from pipeline.merge.rating import MEDIAN_SE_FACTOR, METHODS, RESULT_COLUMNS, aggregate, fit_annotator_model

SIMPLE = ("mean", "median", "trimmed_mean")

#: Zheng et al., PVLDB 10(5) 2017, Table 6, emotion: (MAE, RMSE)
PUBLISHED = {"mean": (12.02, 17.84), "median": (13.53, 21.26)}


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emotion() -> tuple[pd.DataFrame, pd.Series]:
    """(ratings in the labelq long format, truth by item id) of the emotion dataset."""
    folder = DATA_DIR / "emotion"
    if not (folder / "answer.csv").exists() or not (folder / "truth.csv").exists():
        message = f"emotion dataset not found under {folder} (../shared/datasets/truth_inference relative to the repo)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return load("emotion")


def errors(scores: pd.DataFrame, truth: pd.Series, items: pd.Index | None = None) -> tuple[float, float]:
    """(MAE, RMSE) of ``scores`` against ``truth`` on ``items`` (default: every item with truth)."""
    items = truth.index if items is None else items
    diff = scores.set_index("item_id")["score"].reindex(items).to_numpy() - truth.reindex(items).to_numpy()
    assert not np.isnan(diff).any(), "an item with truth has no score"
    return float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def simulate(n_items: int, n_annotators: int, per_item: int, *, seed: int, bias_sd: float = 3.0,
             sd_range: tuple[float, float] = (1.0, 8.0)) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Ratings x = mu_i + b_j + N(0, sd_j^2), ``per_item`` distinct annotators an item; returns
    (frame, true scores mu by item code, biases b, noise sds by annotator code)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(50.0, 10.0, n_items)
    b = rng.normal(0.0, bias_sd, n_annotators)
    sd = np.exp(rng.uniform(np.log(sd_range[0]), np.log(sd_range[1]), n_annotators))
    who = np.argsort(rng.random((n_items, n_annotators)), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(n_items), per_item)
    x = mu[item] + b[who] + rng.normal(size=len(item)) * sd[who]
    frame = pd.DataFrame({"item_id": [f"i{k:05d}" for k in item], "annotator_id": [f"a{k:03d}" for k in who],
                          "label": x})
    return frame, mu, b, sd


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    """Uneven numbers of ratings (1 to 12 an item), integer and tied values, 15 annotators."""
    rng = np.random.default_rng(7)
    rows = []
    for k in range(60):
        n = int(rng.integers(1, 13))
        for j in rng.choice(15, size=n, replace=False):
            rows.append((f"item{k:02d}", f"w{j:02d}", float(rng.integers(-5, 6) * 2 + (k % 3))))
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


# --------------------------------------------------------------------------------------------
# the emotion dataset vs the published figures
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["mean", "median"])
def test_simple_methods_reproduce_the_published_emotion_figures(emotion: tuple, method: str) -> None:
    ratings, truth = emotion
    mae, rmse = errors(aggregate(ratings, method), truth)
    print(f"{method}: MAE {mae:.4f}, RMSE {rmse:.4f} (published {PUBLISHED[method]})")
    assert (round(mae, 2), round(rmse, 2)) == PUBLISHED[method]


def test_the_published_median_is_the_mean_of_the_two_middle_ratings(emotion: tuple) -> None:
    """Every emotion item has 10 ratings: the published median pins the even-count convention
    (numpy.median's, averaging the two middle ratings); the lower or upper middle rating alone
    does not reproduce it."""
    ratings, truth = emotion
    assert set(ratings.groupby("item_id").size()) == {10}
    ordered = ratings.sort_values(["item_id", "label"])
    for name, pick in (("lower", 4), ("upper", 5)):
        alt = ordered.groupby("item_id")["label"].nth(pick)
        one_side = pd.DataFrame({"item_id": ordered["item_id"].loc[alt.index], "score": alt.to_numpy(dtype=float)})
        mae, rmse = errors(one_side, truth)
        print(f"{name} middle rating: MAE {mae:.4f}, RMSE {rmse:.4f}")
        assert (round(mae, 2), round(rmse, 2)) != PUBLISHED["median"]


def test_annotator_model_on_emotion(emotion: tuple) -> None:
    ratings, truth = emotion
    fit = fit_annotator_model(ratings)
    mae, rmse = errors(fit.scores, truth)
    mean_mae, mean_rmse = errors(aggregate(ratings, "mean"), truth)
    print(f"annotator model: MAE {mae:.4f}, RMSE {rmse:.4f} ({fit.iterations} EM steps); "
          f"mean: MAE {mean_mae:.4f}, RMSE {mean_rmse:.4f}")
    assert fit.converged
    assert abs(float(fit.bias.sum())) < 1e-8 * fit.prior_sd  # the identifiability constraint without gold
    assert mae < PUBLISHED["median"][0] and rmse < PUBLISHED["median"][1]


def test_gold_does_not_make_the_model_worse_on_the_other_items(emotion: tuple) -> None:
    """Five folds of the truth items (by sorted id, position mod 5): each fold's truth given as
    gold (20% of the items), MAE on the other 80% with and without it, averaged over the folds."""
    ratings, truth = emotion
    ids = pd.Index(sorted(truth.index))
    fold = np.arange(len(ids)) % 5
    plain = fit_annotator_model(ratings).scores
    without, with_gold = [], []
    for f in range(5):
        gold_ids, others = ids[fold == f], ids[fold != f]
        gold = pd.DataFrame({"item_id": gold_ids, "gold_label": truth[gold_ids].to_numpy()})
        fit = fit_annotator_model(ratings, gold=gold)
        assert fit.converged
        scored = fit.scores.set_index("item_id")
        assert np.array_equal(scored.loc[gold_ids, "score"].to_numpy(), truth[gold_ids].to_numpy(dtype=float))
        assert (scored.loc[gold_ids, "se"] == 0).all()
        without.append(errors(plain, truth, others)[0])
        with_gold.append(errors(fit.scores, truth, others)[0])
    print("MAE on the non-gold items, per fold, without / with gold:",
          [f"{a:.3f}/{b:.3f}" for a, b in zip(without, with_gold)])
    assert np.mean(with_gold) <= np.mean(without)


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------
def test_simple_methods_equal_pandas_and_scipy(small: pd.DataFrame) -> None:
    groups = small.groupby("item_id")["label"]
    n = groups.size()
    sd = groups.std(ddof=1)
    mean = aggregate(small, "mean").set_index("item_id")
    assert mean.index.tolist() == sorted(n.index)
    np.testing.assert_allclose(mean["score"], groups.mean().reindex(mean.index), rtol=1e-12)
    np.testing.assert_allclose(mean["se"], (sd / np.sqrt(n)).reindex(mean.index), rtol=1e-12)
    assert mean["se"][n.reindex(mean.index) == 1].isna().all() and (n == 1).any()
    median = aggregate(small, "median").set_index("item_id")
    np.testing.assert_allclose(median["score"], groups.median().reindex(median.index), rtol=1e-12)
    np.testing.assert_allclose(median["se"], (MEDIAN_SE_FACTOR * sd / np.sqrt(n)).reindex(median.index), rtol=1e-12)
    for trim in (0.0, 0.1, 0.2, 0.25, 0.4):
        got = aggregate(small, "trimmed_mean", trim=trim).set_index("item_id")
        want = groups.apply(lambda s: stats.trim_mean(s.to_numpy(), trim)).reindex(got.index)
        np.testing.assert_allclose(got["score"], want, rtol=1e-12, err_msg=f"trim={trim}")
        several = n.reindex(got.index) > 1
        limits = (trim, trim) if trim else None  # scipy 1.17's trimmed_stde fails on limits=(0, 0)
        multi = small[small.groupby("item_id")["label"].transform("size") > 1].groupby("item_id")["label"]
        want_se = multi.apply(lambda s: float(mstats.trimmed_stde(s.to_numpy(), limits=limits)))
        np.testing.assert_allclose(got["se"][several], want_se.reindex(got.index[several]), rtol=1e-10,
                                   err_msg=f"trim={trim}")
        assert got["se"][~several].isna().all()
    for method in METHODS:
        out = aggregate(small, method)
        assert tuple(out.columns) == RESULT_COLUMNS and isinstance(out.index, pd.RangeIndex)
        assert out["n_annotations"].dtype == np.int64 and out["score"].dtype == np.float64
        np.testing.assert_array_equal(out["n_annotations"], n.reindex(out["item_id"]).to_numpy())


def test_model_equals_the_mean_when_annotators_are_alike() -> None:
    """A Latin-square design: 4 annotators rate 12 items; annotator j's error on item i is
    d[(i + j) % 4], so every annotator makes the same errors equally often (and all share the
    offset 7): same bias, same noise, and the model's scores are the plain means."""
    d = np.array([-3.0, 1.0, 4.0, -0.5])
    truth = np.linspace(-20, 35, 12)
    rows = [(f"q{i:02d}", f"r{j}", truth[i] + 7.0 + d[(i + j) % 4]) for i in range(12) for j in range(4)]
    ratings = pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])
    fit = fit_annotator_model(ratings)
    mean = aggregate(ratings, "mean")
    assert fit.converged
    np.testing.assert_allclose(fit.scores["score"], mean["score"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fit.bias, 0.0, atol=1e-12)
    np.testing.assert_allclose(fit.noise_sd, fit.noise_sd.iloc[0], rtol=1e-12)
    np.testing.assert_allclose(fit.scores["se"], fit.noise_sd.iloc[0] / 2, rtol=1e-12)  # sd / sqrt(4)


def test_model_recovers_simulated_biases_and_noise() -> None:
    """3,000 items x 6 of 20 annotators (~900 ratings each), biases N(0, 3^2), noise sds 1 to 8.
    Bias j is estimated to within 4 standard errors, se_j = sqrt((sd_j^2 + mean posterior
    variance of j's items) / n_j) (an upper bound: j's error and the score's are positively
    correlated), relative to the true biases' mean (the sum-to-zero constraint); noise sd j to
    within 4 / sqrt(2 n_j) relatively (the large-sample se of an sd estimate) of its
    prior-adjusted value. The scores' 95% intervals cover the truth 95% of the time (+-0.02,
    ~5 binomial sds), and the model beats the mean where its assumptions hold."""
    ratings, mu, b, sd = simulate(3000, 20, 6, seed=11)
    fit = fit_annotator_model(ratings)
    assert fit.converged
    ann = ratings["annotator_id"].str.slice(1).astype(int).to_numpy()
    n_j = np.bincount(ann)
    assert fit.bias.index.tolist() == [f"a{k:03d}" for k in range(20)]
    v = fit.scores["se"].to_numpy() ** 2
    item = np.repeat(np.arange(3000), 6)
    mean_v = np.bincount(ann, v[item]) / n_j
    se_b = np.sqrt((sd**2 + mean_v) / n_j)
    z = (fit.bias.to_numpy() - (b - b.mean())) / se_b
    print("bias z-scores:", np.round(z, 2))
    assert np.abs(z).max() < 4
    target = np.sqrt((n_j * sd**2 + fit.bias.to_numpy() ** 2 + 2.0 * fit.prior_sd**2) / (n_j + 5))
    rel = fit.noise_sd.to_numpy() / target - 1
    print("noise sd relative errors:", np.round(rel, 3))
    assert np.all(np.abs(rel) < 4 / np.sqrt(2 * n_j))
    scores = fit.scores["score"].to_numpy()
    covered = np.mean(np.abs(scores - (mu + b.mean())) <= 1.959964 * fit.scores["se"].to_numpy())
    print(f"95% interval coverage {covered:.4f}")
    assert abs(covered - 0.95) < 0.02
    mae_model = np.mean(np.abs(scores - b.mean() - mu))
    mae_mean = np.mean(np.abs(aggregate(ratings, "mean")["score"].to_numpy() - b.mean() - mu))
    print(f"MAE vs truth: model {mae_model:.4f}, mean {mae_mean:.4f}")
    assert mae_model < mae_mean


def test_em_never_lowers_the_log_posterior() -> None:
    ratings, mu, _, _ = simulate(300, 12, 4, seed=5)
    gold = pd.DataFrame({"item_id": [f"i{k:05d}" for k in range(0, 300, 10)], "gold_label": mu[::10]})
    for g in (None, gold):
        values = [fit_annotator_model(ratings, gold=g, max_iter=k).log_posterior for k in range(0, 25)]
        assert np.all(np.diff(values) >= -1e-9 * np.abs(values[1:])), values
        assert values[-1] > values[0]


def test_gold_clamps_and_anchors_the_biases() -> None:
    """With every item's truth as gold the MAP is explicit: the biases are each annotator's mean
    residual against the truth (shrunk by n_j / (n_j + 1), the bias prior), the variances below;
    gold for unrated items is ignored."""
    ratings, mu, b, _ = simulate(400, 8, 3, seed=3)
    item = ratings["item_id"].str.slice(1).astype(int).to_numpy()
    gold = pd.DataFrame({"item_id": [f"i{k:05d}" for k in range(400)] + ["nobody rated me"],
                         "gold_label": list(mu) + [1e9]})
    fit = fit_annotator_model(ratings, gold=gold)
    np.testing.assert_array_equal(fit.scores["score"], mu)
    assert (fit.scores["se"] == 0).all() and len(fit.scores) == 400
    resid = ratings["label"].to_numpy() - mu[item]
    by = pd.Series(resid).groupby(ratings["annotator_id"].to_numpy())
    bias = (by.sum() / (by.size() + 1)).reindex(fit.bias.index)
    np.testing.assert_allclose(fit.bias, bias, rtol=1e-10)
    # ... and the noise variances the MAP with no latent scores left: (SS_j + kappa b_j^2 + nu s0^2) / (n_j + nu + 3)
    ss = (pd.Series(resid - bias.reindex(ratings["annotator_id"]).to_numpy()) ** 2).groupby(
        ratings["annotator_id"].to_numpy()).sum().reindex(fit.bias.index)
    n_j = by.size().reindex(fit.bias.index)
    np.testing.assert_allclose(fit.noise_sd ** 2, (ss + bias**2 + 2.0 * fit.prior_sd**2) / (n_j + 5), rtol=1e-10)
    assert abs(float(fit.bias.sum())) > 0.1  # no sum-to-zero constraint with gold


def test_annotators_with_one_rating_get_a_finite_positive_noise() -> None:
    ratings, _, _, _ = simulate(50, 6, 3, seed=2)
    extra = pd.DataFrame({"item_id": ["i00000", "lonely"], "annotator_id": ["new1", "new2"], "label": [10.0, 3.0]})
    fit = fit_annotator_model(pd.concat([ratings, extra], ignore_index=True))
    assert fit.converged
    assert np.all(np.isfinite(fit.noise_sd)) and np.all(fit.noise_sd > 0.1 * fit.prior_sd)
    lonely = fit.scores.set_index("item_id").loc["lonely"]
    assert lonely["n_annotations"] == 1 and np.isclose(lonely["score"], 3.0 - fit.bias["new2"])
    assert np.isclose(lonely["se"], fit.noise_sd["new2"])


def test_noise_only_model_has_no_bias(small: pd.DataFrame) -> None:
    fit = fit_annotator_model(small, bias=False)
    assert fit.converged and (fit.bias == 0).all()


# --------------------------------------------------------------------------------------------
# invariances
# --------------------------------------------------------------------------------------------
def _results(ratings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {m: aggregate(ratings, m) for m in METHODS}


def test_row_order_does_not_matter(small: pd.DataFrame) -> None:
    shuffled = small.sample(frac=1.0, random_state=3)
    before, after = _results(small), _results(shuffled)
    for m in METHODS:
        pd.testing.assert_frame_equal(before[m], after[m], check_exact=True, obj=m)
    fa, fb = fit_annotator_model(small), fit_annotator_model(shuffled)
    pd.testing.assert_series_equal(fa.bias, fb.bias, check_exact=True)
    pd.testing.assert_series_equal(fa.noise_sd, fb.noise_sd, check_exact=True)


def test_relabelling_ids_does_not_matter(small: pd.DataFrame) -> None:
    """New ids that sort in another order (reversed item order, shuffled annotators)."""
    items = sorted(small["item_id"].unique())
    item_map = {old: f"z{len(items) - k:03d}" for k, old in enumerate(items)}
    annotators = sorted(small["annotator_id"].unique())
    perm = np.random.default_rng(1).permutation(len(annotators))
    ann_map = {old: f"ann{perm[k]:02d}" for k, old in enumerate(annotators)}
    renamed = small.assign(item_id=small["item_id"].map(item_map), annotator_id=small["annotator_id"].map(ann_map))
    before, after = _results(small), _results(renamed)
    for m in METHODS:
        back = after[m].assign(item_id=after[m]["item_id"].map({v: k for k, v in item_map.items()}))
        back = back.sort_values("item_id", ignore_index=True)
        pd.testing.assert_frame_equal(before[m], back, check_exact=False, rtol=1e-10, obj=m)
    fa, fb = fit_annotator_model(small), fit_annotator_model(renamed)
    inverse = {v: k for k, v in ann_map.items()}
    np.testing.assert_allclose(fa.bias, fb.bias.rename(index=inverse).reindex(fa.bias.index), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fa.noise_sd, fb.noise_sd.rename(index=inverse).reindex(fa.noise_sd.index), rtol=1e-9)


@pytest.mark.parametrize("shift, factor", [(123.25, 1.0), (-40.0, 1.0), (0.0, 3.5), (10.0, 0.02)])
def test_shifting_and_scaling_labels_moves_scores_alike(small: pd.DataFrame, shift: float, factor: float) -> None:
    moved = small.assign(label=small["label"] * factor + shift)
    before, after = _results(small), _results(moved)
    for m in METHODS:
        np.testing.assert_allclose(after[m]["score"], before[m]["score"] * factor + shift, rtol=1e-9, atol=1e-9,
                                   err_msg=m)
        np.testing.assert_allclose(after[m]["se"], before[m]["se"] * factor, rtol=1e-9, atol=1e-12, err_msg=m)
    fa, fb = fit_annotator_model(small), fit_annotator_model(moved)
    np.testing.assert_allclose(fb.bias, fa.bias * factor, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(fb.noise_sd, fa.noise_sd * factor, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------
def _frame(labels: list) -> pd.DataFrame:
    return pd.DataFrame({"item_id": ["a", "a", "b", "b"], "annotator_id": ["x", "y", "x", "y"],
                         "label": pd.Series(labels, index=[10, 11, 12, 13], dtype=object)},
                        index=[10, 11, 12, 13])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("labels, match", [
    ([1.0, "high", 3.0, "n/a"], r"real numbers .*row\(s\) \[11, 13\].*\['high', 'n/a'\]"),
    (["1", "2", "3", "4"], r"real numbers .*row\(s\) \[10, 11, 12, 13\].*\['1', '2', '3', '4'\]"),
    ([True, False, True, True], r"real numbers .*row\(s\) \[10, 11, 12, 13\]"),
    ([1.0, np.nan, 3.0, 4.0], r"missing or infinite .*row\(s\) \[11\]"),
    ([1.0, 2.0, None, 4.0], r"missing or infinite .*row\(s\) \[12\]"),
    ([1.0, 2.0, 3.0, np.inf], r"missing or infinite .*row\(s\) \[13\] \(\[inf\]\)"),
])
def test_bad_labels_are_refused_naming_rows_and_values(method: str, labels: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        aggregate(_frame(labels), method)


@pytest.mark.parametrize("method", METHODS)
def test_duplicate_ratings_are_refused_naming_them(method: str) -> None:
    ratings = pd.DataFrame({"item_id": ["a", "a", "b", "a"], "annotator_id": ["x", "y", "x", "x"],
                            "label": [1.0, 2.0, 3.0, 1.0]}, index=[5, 6, 7, 8])
    with pytest.raises(ValueError, match=r"row\(s\) \[5, 8\].*\[\('a', 'x'\)\]"):
        aggregate(ratings, method)


def test_other_bad_input() -> None:
    ok = _frame([1.0, 2.0, 3.0, 4.0]).astype({"label": float})
    with pytest.raises(ValueError, match=r"unknown rating method 'mode'.*'annotator_model'"):
        aggregate(ok, "mode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"trim must be in \[0, 0.5\)"):
        aggregate(ok, "trimmed_mean", trim=0.5)
    with pytest.raises(ValueError, match=r"missing required column\(s\) \['label'\]"):
        aggregate(ok.drop(columns="label"))
    with pytest.raises(ValueError, match=r"'item_id' at row\(s\) \[12\]"):
        aggregate(ok.assign(item_id=["a", "a", None, "b"]))
    with pytest.raises(ValueError, match=r"'annotator_id' at row\(s\) \[10\]"):
        aggregate(ok.assign(annotator_id=[None, "y", "x", "y"]))
    with pytest.raises(ValueError, match=r"gold column 'gold_label' must hold real numbers.*\['good'\]"):
        aggregate(ok, "annotator_model", gold=pd.DataFrame({"item_id": ["a"], "gold_label": ["good"]}))
    with pytest.raises(ValueError, match=r"different gold_label values for item_id\(s\) \['b'\]"):
        aggregate(ok, "annotator_model", gold=pd.DataFrame({"item_id": ["b", "b"], "gold_label": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"bias_prior must be a finite number >= 0"):
        fit_annotator_model(ok, bias_prior=-1.0)
    with pytest.raises(ValueError, match=r"tol must be > 0"):
        aggregate(ok, "annotator_model", tol=0.0)


def test_numbers_in_object_and_nullable_columns_are_accepted() -> None:
    want = aggregate(_frame([1.0, 2.0, 3.0, 4.0]).astype({"label": float}))
    pd.testing.assert_frame_equal(aggregate(_frame([1, 2.0, 3, 4])), want)
    nullable = _frame([1.0, 2.0, 3.0, 4.0]).astype({"label": "Int64"})
    pd.testing.assert_frame_equal(aggregate(nullable), want)


def test_empty_input_gives_an_empty_frame() -> None:
    empty = pd.DataFrame({"item_id": pd.Series([], dtype=object), "annotator_id": pd.Series([], dtype=object),
                          "label": pd.Series([], dtype=float)})
    for m in METHODS:
        out = aggregate(empty, m)
        assert tuple(out.columns) == RESULT_COLUMNS and len(out) == 0


def test_level_names_map_onto_their_numbers_and_the_result_names_the_nearest_level():
    levels = {"poor": 1, "fair": 2, "good": 3, "great": 4}
    names = pd.DataFrame({"item_id": ["a", "a", "a", "b", "b", "c"], "annotator_id": ["x", "y", "z", "x", "y", "x"],
                          "label": ["good", "great", "great", "poor", "fair", "fair"]})
    numbers = names.assign(label=names["label"].map(levels).astype(float))
    for method in ("mean", "median", "annotator_model"):
        by_name = aggregate(names, method, levels=levels)
        plain = aggregate(numbers, method)
        pd.testing.assert_frame_equal(by_name.drop(columns="label"), plain)
    out = aggregate(names, "mean", levels=levels).set_index("item_id")
    assert out.loc["a", "label"] == "great"  # 3.67 is nearest 4
    assert out.loc["b", "label"] == "poor"  # 1.5 is as near 1 as 2: the lower level
    assert out.loc["c", "label"] == "fair"
    gold = pd.DataFrame({"item_id": ["b"], "gold_label": ["fair"]})
    assert aggregate(names, "annotator_model", levels=levels, gold=gold).set_index("item_id").loc["b", "score"] == 2.0
    with pytest.raises(ValueError, match=r"value\(s\) \['excellent'\] outside the levels .* at row\(s\) \[5\]"):
        aggregate(names.assign(label=names["label"].where(names.index != 5, "excellent")), "mean", levels=levels)
    with pytest.raises(ValueError, match="distinct finite numbers"):
        aggregate(names, "mean", levels={"poor": 1, "fair": 1})
