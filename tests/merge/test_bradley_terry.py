"""Bradley-Terry scores (with Davidson's ties) against closed forms, choix and crowd-kit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.merge.preference import bradley_terry, fit_bradley_terry


def _random_comparisons(seed: int, n: int, m: int, *, tie_rate: float = 0.0, components: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """``m`` comparisons among ``n`` responses split into ``components`` groups (prompts), drawn
    from the Davidson model with true scores ~ N(0, 1); returns the frame and the true scores."""
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    group = np.arange(n) % components
    a = rng.integers(0, n, 4 * m)
    b = rng.integers(0, n, 4 * m)
    ok = (a != b) & (group[a] == group[b])
    a, b = a[ok][:m], b[ok][:m]
    d = true[a] - true[b]
    nu = 2 * tie_rate / (1 - tie_rate) if tie_rate else 0.0
    denom = np.exp(d / 2) + np.exp(-d / 2) + nu
    u = rng.random(len(a)) * denom
    choice = np.where(u < np.exp(d / 2), "a", np.where(u < np.exp(d / 2) + np.exp(-d / 2), "b", "tie"))
    frame = pd.DataFrame({"response_a": [f"r{x:04d}" for x in a], "response_b": [f"r{x:04d}" for x in b],
                          "choice": choice})
    return frame, true


def _as_choix(frame: pd.DataFrame) -> tuple[int, list[tuple[int, int]], list[str]]:
    ids = sorted(set(frame["response_a"]) | set(frame["response_b"]))
    pos = {r: k for k, r in enumerate(ids)}
    data = [(pos[a], pos[b]) if c == "a" else (pos[b], pos[a])
            for a, b, c in zip(frame["response_a"], frame["response_b"], frame["choice"]) if c != "tie"]
    return len(ids), data, ids


# ----------------------------------------------------------------------------- closed forms
def test_two_responses_k_wins_of_n_is_the_log_odds_and_its_standard_error():
    k, n = 7, 10
    c = pd.DataFrame({"response_a": ["x"] * n, "response_b": ["y"] * n, "choice": ["a"] * k + ["b"] * (n - k)})
    fit = fit_bradley_terry(c, ties="drop", alpha=0)
    d = fit.scores["x"] - fit.scores["y"]
    assert d == pytest.approx(np.log(k / (n - k)), abs=1e-12)
    assert fit.scores.sum() == pytest.approx(0, abs=1e-12)  # alpha = 0: each component centred
    p = k / n  # var(d) = 1 / (n p (1 - p)); each centred score is +-d/2
    assert fit.se["x"] == pytest.approx(np.sqrt(1 / (n * p * (1 - p))) / 2, rel=1e-9)
    assert fit.probabilities["p_a"].to_numpy() == pytest.approx(np.full(n, p), abs=1e-12)


def test_davidson_ties_closed_form():
    """Two responses: the Davidson MLE reproduces the observed shares, so d = log(w_a / w_b) and
    delta = log(t / sqrt(w_a w_b))."""
    wa, wb, t = 5, 2, 3
    c = pd.DataFrame({"response_a": ["x"] * 10, "response_b": ["y"] * 10, "choice": ["a"] * wa + ["b"] * wb + ["tie"] * t})
    fit = fit_bradley_terry(c, alpha=0)
    assert fit.scores["x"] - fit.scores["y"] == pytest.approx(np.log(wa / wb), abs=1e-10)
    assert fit.tie_log_odds == pytest.approx(np.log(t / np.sqrt(wa * wb)), abs=1e-10)
    assert fit.probabilities.iloc[0].tolist() == pytest.approx([wa / 10, wb / 10, t / 10], abs=1e-10)


def test_without_any_tie_the_davidson_fit_is_the_plain_model():
    frame, _ = _random_comparisons(1, 12, 200)
    davidson, plain = fit_bradley_terry(frame, alpha=0.01), fit_bradley_terry(frame, ties="drop", alpha=0.01)
    assert davidson.tie_log_odds == -np.inf and plain.tie_log_odds is None
    pd.testing.assert_series_equal(davidson.scores, plain.scores)


# ----------------------------------------------------------------------------- peers
@pytest.mark.parametrize("seed, n, m, components, alpha", [
    (0, 10, 120, 1, 0.01), (1, 40, 600, 1, 1e-4), (2, 60, 900, 12, 0.1), (3, 25, 80, 5, 1.0)])
def test_scores_equal_choix_penalised_mle(seed, n, m, components, alpha):
    """choix.opt_pairwise minimises the same objective: NLL + alpha * sum(theta ** 2)."""
    choix = pytest.importorskip("choix")
    frame, _ = _random_comparisons(seed, n, m, components=components)
    n_items, data, ids = _as_choix(frame)
    ref = choix.opt_pairwise(n_items, data, alpha=alpha, tol=1e-12)
    ours = fit_bradley_terry(frame, ties="drop", alpha=alpha).scores.reindex(ids).to_numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_rankings_match_crowdkit_bradley_terry():
    """crowd-kit's BradleyTerry is the unpenalised MLE by Hunter's MM algorithm; its scores are
    exp(theta) normalised to sum 1, so their logs equal ours up to a constant.

    ``tol=0``: crowd-kit 1.4.2 keeps ``p_old`` as an alias of the array it updates, so its
    change-in-scores test reads 0 on the second iteration and any ``tol > 0`` stops MM after two
    steps; with ``tol=0`` it runs all ``n_iter`` and reaches the MLE."""
    from crowdkit.aggregation import BradleyTerry

    frame, _ = _random_comparisons(4, 15, 1500)
    winner = np.where(frame["choice"] == "a", frame["response_a"], frame["response_b"])
    ck = BradleyTerry(n_iter=5_000, tol=0).fit(pd.DataFrame({
        "worker": "w", "left": frame["response_a"], "right": frame["response_b"], "label": winner})).scores_
    ours = bradley_terry(frame, ties="drop", alpha=0)
    ck_log = np.log(ck.reindex(ours.index))
    assert list(ours.sort_values().index) == list(ck_log.sort_values().index)
    np.testing.assert_allclose(ours - ours.mean(), ck_log - ck_log.mean(), atol=1e-4)


def test_scores_recover_the_true_order_on_simulated_comparisons():
    frame, true = _random_comparisons(5, 30, 6000, tie_rate=0.2)
    fit = fit_bradley_terry(frame, alpha=1e-3)
    ids = [f"r{x:04d}" for x in range(30)]
    rho = np.corrcoef(fit.scores.reindex(ids).rank(), pd.Series(true).rank())[0, 1]
    assert rho > 0.95
    assert np.exp(fit.tie_log_odds) == pytest.approx(2 * 0.2 / 0.8, rel=0.15)  # nu = 2 r / (1 - r) at d = 0
    assert (fit.se > 0).all() and fit.converged


# ----------------------------------------------------------------------------- invariances
_frames = st.integers(min_value=0, max_value=10_000).map(lambda s: _random_comparisons(s, 8, 60, tie_rate=0.15)[0])


@settings(max_examples=25, deadline=None)
@given(frame=_frames, seed=st.integers(0, 10_000))
def test_row_order_response_names_and_orientation_change_nothing(frame, seed):
    rng = np.random.default_rng(seed)
    base = fit_bradley_terry(frame, alpha=0.05)
    shuffled = frame.sample(frac=1.0, random_state=seed)
    pd.testing.assert_series_equal(fit_bradley_terry(shuffled, alpha=0.05).scores, base.scores, atol=1e-9, rtol=0)
    flip = rng.random(len(frame)) < 0.5  # (b, a) with the choice flipped is the same judgement
    swapped = frame.copy()
    swapped.loc[flip, ["response_a", "response_b"]] = frame.loc[flip, ["response_b", "response_a"]].to_numpy()
    swapped.loc[flip, "choice"] = frame.loc[flip, "choice"].map({"a": "b", "b": "a", "tie": "tie"})
    again = fit_bradley_terry(swapped, alpha=0.05)
    pd.testing.assert_series_equal(again.scores, base.scores, atol=1e-9, rtol=0)
    assert again.tie_log_odds == pytest.approx(base.tie_log_odds, abs=1e-9)
    names = {r: f"z{k}" for k, r in enumerate(rng.permutation(sorted(set(frame["response_a"]) | set(frame["response_b"]))))}
    renamed = frame.assign(response_a=frame["response_a"].map(names), response_b=frame["response_b"].map(names))
    got = fit_bradley_terry(renamed, alpha=0.05).scores
    np.testing.assert_allclose(got.reindex(base.scores.index.map(names)).to_numpy(), base.scores.to_numpy(), atol=1e-9)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("frame, match", [
    (pd.DataFrame({"response_a": ["x"], "response_b": ["y"]}), r"missing \['choice'\]"),
    (pd.DataFrame({"response_a": ["x", "x"], "response_b": ["y", "y"], "choice": ["a", "left"]}), r"rows \[1\] have \['left'\]"),
    (pd.DataFrame({"response_a": ["x", "y"], "response_b": ["y", "y"], "choice": ["a", "b"]}), r"rows \[1\] compare"),
])
def test_bad_comparisons_are_refused_naming_the_rows(frame, match):
    with pytest.raises(ValueError, match=match):
        fit_bradley_terry(frame)


def test_a_negative_penalty_is_refused():
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        fit_bradley_terry(pd.DataFrame({"response_a": ["x"], "response_b": ["y"], "choice": ["a"]}), alpha=-1)


# ----------------------------------------------------------------------------- large connected sets
@pytest.mark.parametrize("alpha", [1e-3, 0.0])
def test_a_connected_set_above_the_dense_limit_is_solved_sparse_with_the_same_result(monkeypatch, alpha):
    """Components above MAX_COMPONENT go through a sparse LU: with the limit lowered, the same
    comparisons (one 300-response set plus small ones) give the dense path's scores and errors."""
    import importlib

    module = importlib.import_module("pipeline.merge.preference.bradley_terry")
    frame, _ = _random_comparisons(7, 300, 6000, tie_rate=0.1)
    small, _ = _random_comparisons(8, 40, 400, tie_rate=0.1, components=20)
    frame = pd.concat([frame, small.assign(response_a="s" + small["response_a"], response_b="s" + small["response_b"])],
                      ignore_index=True)
    dense = fit_bradley_terry(frame, alpha=alpha)
    monkeypatch.setattr(module, "MAX_COMPONENT", 50)
    sparse = fit_bradley_terry(frame, alpha=alpha)
    assert sparse.converged and dense.converged
    np.testing.assert_allclose(sparse.scores.to_numpy(), dense.scores.to_numpy(), atol=1e-9)
    np.testing.assert_allclose(sparse.se.to_numpy(), dense.se.to_numpy(), atol=1e-9)
    assert sparse.tie_log_odds == pytest.approx(dense.tie_log_odds, abs=1e-10)


def test_thousands_of_connected_responses_are_scored():
    """2,500 responses all connected (e.g. models compared across prompts): no refusal, and the
    scores are the penalised optimum scipy's L-BFGS finds on the same objective."""
    from scipy.optimize import minimize

    n, alpha = 2500, 1e-3
    frame, true = _random_comparisons(9, n, 50_000)
    fit = fit_bradley_terry(frame, ties="drop", alpha=alpha)
    assert fit.converged
    pos = {r: k for k, r in enumerate(fit.scores.index)}
    a, b = frame["response_a"].map(pos).to_numpy(), frame["response_b"].map(pos).to_numpy()
    win, lose = np.where(frame["choice"] == "a", a, b), np.where(frame["choice"] == "a", b, a)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[win] - theta[lose]
        g = -1.0 / (1.0 + np.exp(d))  # d/dd log(1 + e^-d)
        grad = np.bincount(win, g, n) - np.bincount(lose, g, n) + 2 * alpha * theta
        return float(np.logaddexp(0, -d).sum() + alpha * theta @ theta), grad

    ref = minimize(objective, np.zeros(n), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 20_000})
    ours, grad = objective(fit.scores.to_numpy())
    assert np.abs(grad).max() < 1e-8 and ours <= ref.fun + 1e-9  # at the optimum; scipy gets no lower
    np.testing.assert_allclose(fit.scores.to_numpy(), ref.x, atol=5e-4)  # L-BFGS stops a little short
    order = fit.scores.reindex([f"r{x:04d}" for x in range(n)]).to_numpy()
    assert np.corrcoef(order, true)[0, 1] > 0.85  # 40 comparisons a response: a noisy but real recovery
    assert (fit.se > 0).all() and np.isfinite(fit.se).all()
