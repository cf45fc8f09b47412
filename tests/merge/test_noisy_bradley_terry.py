"""Bradley-Terry with annotator reliability: the EM fit is the MAP of its stated objective (checked
by an independent implementation and scipy), it discounts spammers and position-biased annotators,
and ranks as crowd-kit's NoisyBradleyTerry does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit, logsumexp
from scipy.stats import spearmanr

from pipeline.merge.preference import fit_bradley_terry, fit_noisy_bradley_terry, noisy_bradley_terry


def _crowd(seed: int, n: int, m: int, *, annotators: int = 12, spammers: int = 3, first_pickers: int = 0,
           tie_rate: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """``m`` judgements of pairs of ``n`` responses (true scores ~ N(0, 1), Davidson model) by
    ``annotators`` annotators, of whom the first ``spammers`` answer at random and the next
    ``first_pickers`` always pick the response shown first."""
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    ann = rng.integers(0, annotators, m)
    d = true[a] - true[b]
    nu = 2 * tie_rate / (1 - tie_rate) if tie_rate else 0.0
    u = rng.random(m) * (np.exp(d / 2) + np.exp(-d / 2) + nu)
    choice = np.where(u < np.exp(d / 2), "a", np.where(u < np.exp(d / 2) + np.exp(-d / 2), "b", "tie")).astype(object)
    shown = np.where(rng.random(m) < 0.5, "a", "b").astype(object)
    spam = ann < spammers
    choice[spam] = rng.choice(["a", "b", "tie"] if tie_rate else ["a", "b"], int(spam.sum()))
    first = (ann >= spammers) & (ann < spammers + first_pickers)
    choice[first] = shown[first]
    frame = pd.DataFrame({"annotator_id": [f"w{k:02d}" for k in ann], "response_a": [f"r{x:03d}" for x in a],
                          "response_b": [f"r{x:03d}" for x in b], "choice": choice, "shown_first": shown})
    return frame, true


def _ordered(scores: pd.Series, n: int) -> np.ndarray:
    return scores.reindex([f"r{x:03d}" for x in range(n)]).to_numpy()


# ------------------------------------------------------------------ the fit is the stated MAP
def _log_posterior(x: np.ndarray, frame: pd.DataFrame, alpha: float) -> float:
    """The module docstring's objective, written out independently: per judgement
    log(r_u P_BT(y) + (1 - r_u) pi_u(shown side)), minus alpha |theta|^2, plus the Beta(2, 2) and
    Dirichlet(2, 2, 2) log priors (up to constants). ``x`` = theta, delta, logit r, log pi (k x 3)."""
    ids = np.array(sorted(set(frame["response_a"]) | set(frame["response_b"])))
    who = np.array(sorted(set(frame["annotator_id"])))
    n, k = len(ids), len(who)
    theta, delta = x[:n], x[n]
    r = expit(x[n + 1:n + 1 + k])
    log_pi = x[n + 1 + k:].reshape(k, 3)
    log_pi = log_pi - logsumexp(log_pi, axis=1, keepdims=True)
    ia = np.searchsorted(ids, frame["response_a"].to_numpy())
    ib = np.searchsorted(ids, frame["response_b"].to_numpy())
    u = np.searchsorted(who, frame["annotator_id"].to_numpy())
    choice, shown = frame["choice"].to_numpy(), frame["shown_first"].to_numpy()
    d = theta[ia] - theta[ib]
    logd = np.logaddexp(np.logaddexp(d / 2, -d / 2), delta)
    log_bt = np.where(choice == "a", d / 2, np.where(choice == "b", -d / 2, delta)) - logd
    side = np.where(choice == "tie", 2, np.where(choice == shown, 0, 1))
    total = np.logaddexp(np.log(r[u]) + log_bt, np.log1p(-r[u]) + log_pi[u, side]).sum()
    prior = np.log(r).sum() + np.log1p(-r).sum() + log_pi.sum()
    return float(total - alpha * theta @ theta + prior)


def test_em_reaches_the_maximum_a_posteriori_that_scipy_finds():
    frame, _ = _crowd(0, 6, 240, annotators=4, spammers=1, first_pickers=1, tie_rate=0.15)
    alpha = 0.05
    fit = fit_noisy_bradley_terry(frame, alpha=alpha, tol=1e-10)
    assert fit.converged
    k = fit.reliability.size
    ours = np.concatenate([fit.scores.to_numpy(), [fit.tie_log_odds], np.log(fit.reliability / (1 - fit.reliability)),
                           np.log(fit.noise.to_numpy()).ravel()])
    assert fit.objective == pytest.approx(_log_posterior(ours, frame, alpha), abs=1e-8)
    x0 = np.concatenate([np.zeros(fit.scores.size), [0.0], np.full(k, 1.0), np.zeros(3 * k)])
    best = minimize(lambda x: -_log_posterior(x, frame, alpha), x0, method="BFGS", options={"gtol": 1e-7})
    assert -best.fun <= fit.objective + 1e-6  # scipy finds nothing better ...
    assert -best.fun == pytest.approx(fit.objective, abs=1e-4)  # ... and reaches the same optimum
    got = best.x[:fit.scores.size]
    assert np.abs(got - fit.scores.to_numpy()).max() < 1e-3
    assert np.abs(expit(best.x[fit.scores.size + 1:fit.scores.size + 1 + k]) - fit.reliability.to_numpy()).max() < 1e-3


# ------------------------------------------------------------------ what it is for
def test_spammers_and_position_bias_are_discounted_and_the_ranking_improves():
    n = 40
    frame, true = _crowd(1, n, 6000, annotators=12, spammers=3, first_pickers=2, tie_rate=0.1)
    noisy, plain = fit_noisy_bradley_terry(frame), fit_bradley_terry(frame)
    rel = noisy.reliability
    assert rel[["w00", "w01", "w02", "w03", "w04"]].max() < 0.25 < 0.5 < rel.drop(["w00", "w01", "w02", "w03", "w04"]).min()
    assert (noisy.noise.loc[["w03", "w04"], "first"] > 0.9).all()  # they pick the response shown first
    assert (noisy.noise.loc[["w00", "w01", "w02"], "first"].between(0.2, 0.5)).all()
    truth = spearmanr(_ordered(noisy.scores, n), true).statistic
    assert truth > spearmanr(_ordered(plain.scores, n), true).statistic
    assert truth > 0.95
    real = noisy.real.groupby(frame["annotator_id"]).mean()
    assert real[["w00", "w03"]].max() < 0.3 < real.drop(["w00", "w01", "w02", "w03", "w04"]).min()


def test_without_shown_first_the_noise_is_over_a_b_tie_and_reliable_crowds_match_plain_bt():
    n = 20
    frame, _ = _crowd(2, n, 3000, annotators=8, spammers=0, tie_rate=0.2)
    frame = frame.drop(columns="shown_first")
    noisy, plain = fit_noisy_bradley_terry(frame), fit_bradley_terry(frame)
    assert spearmanr(_ordered(noisy.scores, n), _ordered(plain.scores, n)).statistic > 0.99
    assert list(noisy.noise.columns) == ["first", "second", "tie"]
    assert noisy.probabilities.shape == (len(frame), 3)
    np.testing.assert_allclose(noisy.probabilities.sum(axis=1), 1.0)


def test_ranks_as_crowdkit_noisy_bradley_terry():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    n = 30
    frame, true = _crowd(5, n, 3000, annotators=12, spammers=3)
    label = np.where(frame["choice"] == "a", frame["response_a"], frame["response_b"])
    theirs = crowdkit.NoisyBradleyTerry().fit_predict(pd.DataFrame(
        {"worker": frame["annotator_id"], "left": frame["response_a"], "right": frame["response_b"], "label": label}))
    ours = noisy_bradley_terry(frame.drop(columns="shown_first"), ties="drop")
    assert spearmanr(_ordered(ours, n), _ordered(theirs, n)).statistic > 0.98
    assert spearmanr(_ordered(ours, n), true).statistic >= spearmanr(_ordered(theirs, n), true).statistic - 0.01


def test_a_null_shown_first_counts_response_a_as_first():
    frame, _ = _crowd(6, 10, 800, annotators=6, spammers=1, first_pickers=1, tie_rate=0.1)
    unknown = frame["annotator_id"].isin(["w00", "w05"])  # their vendor does not say what it showed first
    mixed = frame.assign(shown_first=frame["shown_first"].where(~unknown, None))
    rewritten = frame.assign(shown_first=frame["shown_first"].where(~unknown, "a"))
    a, b = fit_noisy_bradley_terry(mixed), fit_noisy_bradley_terry(rewritten)
    pd.testing.assert_series_equal(a.scores, b.scores)
    pd.testing.assert_frame_equal(a.noise, b.noise)


def test_ties_drop_leaves_tied_rows_out():
    frame, _ = _crowd(3, 10, 600, annotators=5, spammers=1, tie_rate=0.2)
    fit = fit_noisy_bradley_terry(frame, ties="drop")
    tied = (frame["choice"] == "tie").to_numpy()
    assert fit.tie_log_odds is None and fit.real[tied].isna().all() and fit.real[~tied].between(0, 1).all()
    assert (fit.noise["tie"] == 0).all()


# ------------------------------------------------------------------ invariances
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_row_order_names_and_orientation_change_nothing(seed):
    frame, _ = _crowd(seed % 7, 8, 300, annotators=5, spammers=1, first_pickers=1, tie_rate=0.1)
    base = fit_noisy_bradley_terry(frame, tol=1e-10)
    rng = np.random.default_rng(seed)
    shuffled = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
    flip = rng.random(len(shuffled)) < 0.5  # swap a/b on some rows, with the choice and shown side
    swap = {"a": "b", "b": "a", "tie": "tie"}
    turned = shuffled.copy()
    turned.loc[flip, ["response_a", "response_b"]] = shuffled.loc[flip, ["response_b", "response_a"]].to_numpy()
    turned.loc[flip, "choice"] = shuffled.loc[flip, "choice"].map(swap)
    turned.loc[flip, "shown_first"] = shuffled.loc[flip, "shown_first"].map(swap)
    renamed = turned.assign(response_a="z" + turned["response_a"], response_b="z" + turned["response_b"],
                            annotator_id="q" + turned["annotator_id"])
    other = fit_noisy_bradley_terry(renamed, tol=1e-10)
    np.testing.assert_allclose(other.scores.to_numpy(), base.scores.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(other.reliability.to_numpy(), base.reliability.to_numpy(), atol=1e-5)
    assert other.objective == pytest.approx(base.objective, abs=1e-6)


@pytest.mark.parametrize("change, match", [
    (lambda f: f.drop(columns="annotator_id"), "annotator_id on every row"),
    (lambda f: f.assign(shown_first=["a", "left"] * (len(f) // 2)), r"shown_first must be 'a', 'b' or null.*rows \[1, 3"),
    (lambda f: f.assign(choice=["a", "maybe"] * (len(f) // 2)), r"choice must be one of"),
])
def test_bad_input_is_refused_naming_the_rows(change, match):
    frame, _ = _crowd(4, 6, 40, annotators=3, spammers=1)
    with pytest.raises(ValueError, match=match):
        fit_noisy_bradley_terry(change(frame))
