"""Benchmark: pipeline.bradley_terry vs choix and crowd-kit on simulated pairwise comparisons.

Run from the repository root::

    .venv/bin/python benchmarks/bench_preference.py                 # 1M comparisons (~3 min)
    .venv/bin/python benchmarks/bench_preference.py --comparisons 100000

Sections
--------
1. Head to head: ``--comparisons`` judgements (default 1,000,000) of responses to 500 prompts,
   4 responses each (2,000 responses: crowd-kit's BradleyTerry builds dense responses x responses
   matrices, so it cannot take more), drawn from the Bradley-Terry model with true scores
   N(0, 1). Fit time and recovered-ranking accuracy (the share of within-prompt response pairs
   ordered as the true scores order them), ours side by side with ``choix.opt_pairwise`` (the
   same penalised objective, scipy Newton-CG) and crowd-kit's ``BradleyTerry`` (Hunter's MM).
   crowd-kit runs twice: as shipped (``n_iter=100``, default ``tol``; its convergence test
   compares the score vector with an alias of itself, so it stops after two MM steps) and
   like-for-like (``tol=0``: all ``n_iter`` steps). Ratios are crowd-kit's / choix's time over ours.
2. Scale: the same number of comparisons over 50,000 prompts x 4 responses (200,000 responses),
   ours only (crowd-kit's dense matrices would hold 4 x 10^10 entries), with 10% ties (Davidson).
3. Unreliable annotators: ``--noisy-comparisons`` judgements (default 300,000), about five per
   within-prompt pair (4 responses a prompt), by 200 annotators of whom 30% answer at random
   (10% of it ties) and 10% always pick the response shown first; the rest follow the Davidson
   model with 10% ties. Per pair, the share of pairs whose consensus prefers the truly better
   response (a consensus tie counts as wrong), and the within-prompt ranking accuracy of the
   scores: majority vote and Dawid-Skene over a / b / tie (``pipeline.merge.consensus``),
   Bradley-Terry (pair preferred = higher score), Bradley-Terry with annotator reliability
   (``fit_noisy_bradley_terry``, given ``shown_first``) and crowd-kit's ``NoisyBradleyTerry``
   (no ties: it is given the non-tied judgements).

Times are wall-clock seconds of one fit from a pandas DataFrame (best of ``--repeats``), so they
include input conversion. This is a benchmark, not a test: it prints and never fails on a target.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import best_of  # noqa: E402  (benchmarks/ is on the path when run as a script)

from pipeline.merge.consensus import get_aggregator  # noqa: E402
from pipeline.merge.preference import fit_bradley_terry, fit_noisy_bradley_terry  # noqa: E402

ALPHA = 1e-3


def simulate(m: int, prompts: int, per_prompt: int, *, seed: int, tie_rate: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """``m`` comparisons within prompts (Davidson model, true scores N(0, 1)); returns frame and truth."""
    rng = np.random.default_rng(seed)
    n = prompts * per_prompt
    truth = rng.normal(size=n)
    prompt = rng.integers(0, prompts, m)
    i = prompt * per_prompt + rng.integers(0, per_prompt, m)
    j = prompt * per_prompt + (i % per_prompt + rng.integers(1, per_prompt, m)) % per_prompt
    d = truth[i] - truth[j]
    nu = 2 * tie_rate / (1 - tie_rate) if tie_rate else 0.0
    u = rng.random(m) * (np.exp(d / 2) + np.exp(-d / 2) + nu)
    choice = np.where(u < np.exp(d / 2), "a", np.where(u < np.exp(d / 2) + np.exp(-d / 2), "b", "tie"))
    ids = np.array([f"r{k:07d}" for k in range(n)], dtype=object)
    return pd.DataFrame({"response_a": ids[i], "response_b": ids[j], "choice": choice}), truth


def ranking_accuracy(scores: pd.Series, truth: np.ndarray, per_prompt: int) -> float:
    """Share of within-prompt response pairs that ``scores`` order as ``truth`` does."""
    ids = np.array([f"r{k:07d}" for k in range(len(truth))], dtype=object)
    s = scores.reindex(ids).to_numpy(dtype=float).reshape(-1, per_prompt)
    t = truth.reshape(-1, per_prompt)
    good = total = 0
    for a in range(per_prompt):
        for b in range(a + 1, per_prompt):
            scored = ~(np.isnan(s[:, a]) | np.isnan(s[:, b]))  # both responses were compared at all
            total += int(scored.sum())
            good += int(((s[scored, a] - s[scored, b]) * (t[scored, a] - t[scored, b]) > 0).sum())
    return good / total


def simulate_crowd(m: int, *, seed: int, annotators: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    """Section 3's judgements: about five per within-prompt pair, 30% of the annotators spammers,
    10% position-biased (always the response shown first), the rest honest with 10% ties."""
    rng = np.random.default_rng(seed)
    per_prompt = 4
    prompts = max(m // 30, 1)  # 6 pairs a prompt, ~5 judgements a pair
    n = prompts * per_prompt
    truth = rng.normal(size=n)
    prompt = rng.integers(0, prompts, m)
    i = prompt * per_prompt + rng.integers(0, per_prompt, m)
    j = prompt * per_prompt + (i % per_prompt + rng.integers(1, per_prompt, m)) % per_prompt
    lo, hi = np.minimum(i, j), np.maximum(i, j)  # one orientation per pair, as labelq's ingest makes it
    d = truth[lo] - truth[hi]
    nu = 2 * 0.1 / 0.9
    u = rng.random(m) * (np.exp(d / 2) + np.exp(-d / 2) + nu)
    choice = np.where(u < np.exp(d / 2), "a", np.where(u < np.exp(d / 2) + np.exp(-d / 2), "b", "tie")).astype(object)
    shown = np.where(rng.random(m) < 0.5, "a", "b").astype(object)
    who = rng.integers(0, annotators, m)
    spam = who < int(0.3 * annotators)
    choice[spam] = rng.choice(np.array(["a", "b", "tie"], dtype=object), int(spam.sum()), p=[0.45, 0.45, 0.1])
    biased = (who >= int(0.3 * annotators)) & (who < int(0.4 * annotators))
    choice[biased] = shown[biased]
    ids = np.array([f"r{k:07d}" for k in range(n)], dtype=object)
    frame = pd.DataFrame({"item_id": ids[lo] + ":" + ids[hi], "annotator_id": [f"w{k:03d}" for k in who],
                          "response_a": ids[lo], "response_b": ids[hi], "choice": choice, "shown_first": shown})
    return frame, truth


def pair_accuracy(preferred: pd.Series, frame: pd.DataFrame, truth: np.ndarray) -> float:
    """Share of the judged pairs whose ``preferred`` (a / b / tie by item_id) names the truly better response."""
    pairs = frame.drop_duplicates("item_id").set_index("item_id")
    a = pairs["response_a"].str.slice(1).astype(int).to_numpy()
    b = pairs["response_b"].str.slice(1).astype(int).to_numpy()
    better = np.where(truth[a] > truth[b], "a", "b")
    return float((preferred.reindex(pairs.index).to_numpy() == better).mean())


def by_scores(scores: pd.Series, frame: pd.DataFrame) -> pd.Series:
    """Each pair's preferred response by the higher score."""
    pairs = frame.drop_duplicates("item_id").set_index("item_id")
    diff = scores.reindex(pairs["response_a"]).to_numpy() - scores.reindex(pairs["response_b"]).to_numpy()
    return pd.Series(np.where(diff > 0, "a", np.where(diff < 0, "b", "tie")), index=pairs.index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--comparisons", type=int, default=1_000_000)
    parser.add_argument("--noisy-comparisons", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sections", default="1,2,3", help="which sections to run, e.g. 3")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    from crowdkit.aggregation import BradleyTerry

    print(f"# bench_preference: {args.comparisons:,} comparisons; Python {platform.python_version()}, "
          f"{platform.machine()}", flush=True)
    results: dict[str, Any] = {"comparisons": args.comparisons}

    warm, _ = simulate(1000, 10, 4, seed=0)  # imports and first calls out of the timings, on both sides
    fit_bradley_terry(warm, ties="drop", alpha=ALPHA)
    BradleyTerry(n_iter=2).fit(pd.DataFrame({"worker": "w", "left": warm["response_a"], "right": warm["response_b"],
                                             "label": warm["response_a"]}))

    sections = {int(x) for x in args.sections.split(",")}
    if 1 in sections:
        head_to_head(args, results)
    if 2 in sections:
        scale(args, results)
    if 3 in sections:
        unreliable(args, results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def head_to_head(args: argparse.Namespace, results: dict[str, Any]) -> None:
    import choix
    from crowdkit.aggregation import BradleyTerry

    frame, truth = simulate(args.comparisons, 500, 4, seed=1)
    rows = []
    t_ours, fit = best_of(args.repeats, lambda: fit_bradley_terry(frame, ties="drop", alpha=ALPHA))
    rows.append(("labelq bradley_terry", t_ours, ranking_accuracy(fit.scores, truth, 4)))
    ids = np.array(sorted(set(frame["response_a"]) | set(frame["response_b"])), dtype=object)
    pos = pd.Series(np.arange(len(ids)), index=ids)
    win = np.where(frame["choice"] == "a", frame["response_a"], frame["response_b"])
    lose = np.where(frame["choice"] == "a", frame["response_b"], frame["response_a"])

    def run_choix() -> pd.Series:
        data = list(zip(pos[win].to_numpy().tolist(), pos[lose].to_numpy().tolist()))
        return pd.Series(choix.opt_pairwise(len(ids), data, alpha=ALPHA, tol=1e-8), index=ids)

    t_choix, s_choix = best_of(args.repeats, run_choix)
    rows.append(("choix opt_pairwise", t_choix, ranking_accuracy(s_choix, truth, 4)))
    ck_input = pd.DataFrame({"worker": "w", "left": frame["response_a"], "right": frame["response_b"], "label": win})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ck, ck = best_of(args.repeats, lambda: BradleyTerry(n_iter=100).fit(ck_input).scores_)
        rows.append(("crowd-kit BradleyTerry (as shipped)", t_ck, ranking_accuracy(np.log(ck), truth, 4)))
        t_ck2, ck2 = best_of(args.repeats, lambda: BradleyTerry(n_iter=100, tol=0).fit(ck_input).scores_)
        rows.append(("crowd-kit BradleyTerry (tol=0, 100 MM steps)", t_ck2, ranking_accuracy(np.log(ck2), truth, 4)))
    ours = fit.scores.reindex(ids).to_numpy()

    same_as_ours = {name: ranking_accuracy(scores, ours, 4) for name, scores in
                    (("choix opt_pairwise", s_choix), ("crowd-kit BradleyTerry (as shipped)", np.log(ck)),
                     ("crowd-kit BradleyTerry (tol=0, 100 MM steps)", np.log(ck2)))}

    max_diff = float(np.max(np.abs(ours - s_choix.to_numpy())))
    print(f"\n## 1. head to head: {len(frame):,} comparisons, 500 prompts x 4 responses")
    print(f"{'method':46s} {'seconds':>9s} {'ranking acc':>12s} {'time / ours':>12s}")
    for name, t, acc in rows:
        print(f"{name:46s} {t:9.2f} {acc:12.4f} {t / t_ours:11.1f}x")
    print(f"ours vs choix: max |score difference| {max_diff:.2e} (same objective)")
    for name, share in same_as_ours.items():
        print(f"within-prompt pairs {name} orders as ours does: {share:.4f}")
    results["head_to_head"] = [{"method": n, "seconds": t, "ranking_accuracy": a, "ratio_to_ours": t / t_ours}
                               for n, t, a in rows]
    results["max_abs_diff_vs_choix"] = max_diff
    results["same_order_as_ours"] = same_as_ours



def scale(args: argparse.Namespace, results: dict[str, Any]) -> None:
    frame, truth = simulate(args.comparisons, 50_000, 4, seed=2, tie_rate=0.1)
    t_big, fit = best_of(args.repeats, lambda: fit_bradley_terry(frame, alpha=ALPHA))
    acc = ranking_accuracy(fit.scores, truth, 4)
    print(f"\n## 2. scale: {len(frame):,} comparisons, 50,000 prompts x 4 responses, 10% ties (Davidson)")
    print(f"labelq bradley_terry: {t_big:.2f} s, ranking accuracy {acc:.4f}, {fit.iterations} Newton steps, "
          f"tie parameter nu = {np.exp(fit.tie_log_odds):.3f} (true {2 * 0.1 / 0.9:.3f})")
    results["scale"] = {"seconds": t_big, "ranking_accuracy": acc, "iterations": fit.iterations,
                        "nu": float(np.exp(fit.tie_log_odds))}


def unreliable(args: argparse.Namespace, results: dict[str, Any]) -> None:
    from crowdkit.aggregation import NoisyBradleyTerry

    frame, truth = simulate_crowd(args.noisy_comparisons, seed=3)
    labels = frame.assign(label=frame["choice"])[["item_id", "annotator_id", "label"]]
    rows3 = []
    for name, method in (("majority vote", "majority_vote"), ("Dawid-Skene", "dawid_skene")):
        t, agg = best_of(args.repeats, lambda method=method: get_aggregator(method, labels=["a", "b", "tie"]).fit(labels))
        rows3.append((f"labelq {name}", t, pair_accuracy(agg.labels_, frame, truth), None))
    t, bt = best_of(args.repeats, lambda: fit_bradley_terry(frame, alpha=ALPHA))
    rows3.append(("labelq bradley_terry", t, pair_accuracy(by_scores(bt.scores, frame), frame, truth),
                  ranking_accuracy(bt.scores, truth, 4)))
    t, nbt = best_of(args.repeats, lambda: fit_noisy_bradley_terry(frame, alpha=ALPHA))
    rows3.append(("labelq noisy bradley_terry (reliability)", t, pair_accuracy(by_scores(nbt.scores, frame), frame, truth),
                  ranking_accuracy(nbt.scores, truth, 4)))
    decided = frame[frame["choice"] != "tie"]
    ck_noisy = pd.DataFrame({"worker": decided["annotator_id"], "left": decided["response_a"], "right": decided["response_b"],
                             "label": np.where(decided["choice"] == "a", decided["response_a"], decided["response_b"])})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, ck_scores = best_of(args.repeats, lambda: NoisyBradleyTerry().fit_predict(ck_noisy))
    rows3.append(("crowd-kit NoisyBradleyTerry", t, pair_accuracy(by_scores(ck_scores, frame), frame, truth),
                  ranking_accuracy(ck_scores, truth, 4)))
    rel = nbt.reliability
    print(f"\n## 3. unreliable annotators: {len(frame):,} judgements of {frame['item_id'].nunique():,} pairs by 200 "
          "annotators (30% random, 10% always the first shown)")
    print(f"{'method':46s} {'seconds':>9s} {'pairs right':>12s} {'ranking acc':>12s}")
    for name, t, acc_pairs, acc_rank in rows3:
        print(f"{name:46s} {t:9.2f} {acc_pairs:12.4f} {'' if acc_rank is None else f'{acc_rank:12.4f}':>12s}")
    mv = rows3[0][2]
    print(f"noisy bradley_terry vs majority vote: {rows3[3][2] - mv:+.4f} pairs right; Dawid-Skene vs majority vote: "
          f"{rows3[1][2] - mv:+.4f}")
    who = rel.index.str.slice(1).astype(int).to_numpy()
    print(f"mean fitted reliability: random {rel.iloc[who < 60].mean():.3f}, first-shown {rel.iloc[(who >= 60) & (who < 80)].mean():.3f}, "
          f"honest {rel.iloc[who >= 80].mean():.3f}; {nbt.iterations} SQUAREM steps")
    results["unreliable"] = [{"method": n, "seconds": t, "pair_accuracy": a, "ranking_accuracy": r} for n, t, a, r in rows3]


if __name__ == "__main__":
    sys.exit(main())
