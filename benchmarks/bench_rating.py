"""Benchmark: numeric consensus of ratings (pipeline.merge.rating) on real and simulated ratings.

Run from the repository root::

    .venv/bin/python benchmarks/bench_rating.py                      # ~1M simulated ratings (~10 s)
    .venv/bin/python benchmarks/bench_rating.py --ratings 100000 --json /tmp/bench_rating.json

Sections
--------
1. Emotion (VLDB 2017 truth-inference benchmark, ``../shared/datasets/truth_inference/emotion``:
   700 texts x 10 ratings in -100..100 by 38 workers, truth for all 700). MAE and RMSE of every
   method against the truth, beside the figures published by Zheng et al. (PVLDB 10(5) 2017,
   Table 6: Mean 12.02 / 17.84, Median 13.53 / 21.26; the paper has no trimmed mean and no
   model of this form), and the time of one call. Two extra annotator-model rows: noise only
   (``bias=False``, no per-annotator bias), and with the truth of 20% of the items given as gold
   (five folds by sorted item id, position mod 5; errors on the other 80%, averaged over folds,
   beside the no-gold model's on the same items), and how much of the error the raters share
   (the sd of an item's mean error against what independent rater noise would leave).
2. Scale: ``--ratings`` simulated ratings (default 1,000,000: ``--items`` 100,000 items x 10
   distinct annotators each, out of ``--annotators`` 2,000), x = mu + b_j + N(0, sd_j^2) with
   mu ~ N(50, 20^2), biases b_j ~ N(0, 5^2), noise sds log-uniform on [3, 30]. Time of each
   method from a pandas DataFrame with string ids (input validation included) and its MAE /
   RMSE against the simulated mu; for the model also its EM steps, the RMSE of its biases
   against the true ones (centred: the model's biases sum to 0) and the median relative error
   of its noise sds.

Times are wall-clock seconds of one call (best of ``--repeats``) on whatever else the machine is
doing. This is a benchmark, not a test: it prints and never fails on a target.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _timing import best_of  # noqa: E402  (benchmarks/ is on the path when run as a script)

from pipeline.merge.rating import METHODS, aggregate, fit_annotator_model  # noqa: E402

DATA = REPO.parent / "shared" / "datasets" / "truth_inference" / "emotion"
#: Zheng et al. (PVLDB 2017) Table 6, emotion: (MAE, RMSE)
PUBLISHED = {"mean": (12.02, 17.84), "median": (13.53, 21.26)}


def errors(score: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    diff = score - truth
    return float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def load_emotion() -> tuple[pd.DataFrame, pd.Series]:
    answers = pd.read_csv(DATA / "answer.csv", dtype={"question": str, "worker": str})
    ratings = answers.rename(columns={"question": "item_id", "worker": "annotator_id", "answer": "label"})
    truth = pd.read_csv(DATA / "truth.csv", dtype={"question": str}).set_index("question")["truth"]
    return ratings, truth


def on_truth(scores: pd.DataFrame, truth: pd.Series, items: pd.Index | None = None) -> tuple[float, float]:
    items = truth.index if items is None else items
    return errors(scores.set_index("item_id")["score"].reindex(items).to_numpy(), truth.reindex(items).to_numpy())


def emotion(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if not (DATA / "answer.csv").exists():
        print(f"\n## 1. emotion: skipped, no data at {DATA}")
        return
    ratings, truth = load_emotion()
    rows: list[tuple[str, float, float, float, tuple[float, float] | None]] = []
    for method in METHODS:
        t, scores = best_of(args.repeats, lambda method=method: aggregate(ratings, method))
        rows.append((method, t, *on_truth(scores, truth), PUBLISHED.get(method)))
    t, fit = best_of(args.repeats, lambda: fit_annotator_model(ratings, bias=False))
    rows.append(("annotator_model, noise only (bias=False)", t, *on_truth(fit.scores, truth), None))

    ids = pd.Index(sorted(truth.index))
    fold = np.arange(len(ids)) % 5
    plain = aggregate(ratings, "annotator_model")
    mean = aggregate(ratings, "mean")
    folds = []
    t_gold = 0.0
    for f in range(5):
        gold_ids, others = ids[fold == f], ids[fold != f]
        gold = pd.DataFrame({"item_id": gold_ids, "gold_label": truth[gold_ids].to_numpy()})
        t, scores = best_of(args.repeats, lambda gold=gold: aggregate(ratings, "annotator_model", gold=gold))
        t_gold += t / 5
        folds.append((*on_truth(scores, truth, others), *on_truth(plain, truth, others), *on_truth(mean, truth, others)))
    avg = np.mean(np.array(folds), axis=0)

    print(f"\n## 1. emotion: {len(ratings):,} ratings of {ratings['item_id'].nunique()} items by "
          f"{ratings['annotator_id'].nunique()} workers, truth for {len(truth)}")
    print(f"{'method':44s} {'MAE':>8s} {'RMSE':>8s} {'published':>15s} {'seconds':>9s}")
    for name, t, mae, rmse, pub in rows:
        published = f"{pub[0]:.2f} / {pub[1]:.2f}" if pub else "-"
        print(f"{name:44s} {mae:8.3f} {rmse:8.3f} {published:>15s} {t:9.4f}")
    print("20% of the items' truth as gold (5 folds), errors on the other 80%, mean over folds:")
    print(f"{'  annotator_model with gold':44s} {avg[0]:8.3f} {avg[1]:8.3f} {'-':>15s} {t_gold:9.4f}")
    print(f"{'  annotator_model without gold':44s} {avg[2]:8.3f} {avg[3]:8.3f}")
    print(f"{'  mean':44s} {avg[4]:8.3f} {avg[5]:8.3f}")
    print("  per fold MAE with / without gold: " + ", ".join(f"{a:.3f}/{b:.3f}" for a, _, b, *_ in folds))
    # how much of the error the raters share: the spread of an item's mean error against what
    # independent rater noise would leave (within-item sd / sqrt(ratings per item))
    by_item = ratings.groupby("item_id")["label"]
    shared_sd = float((by_item.mean() - truth.reindex(by_item.mean().index)).std())
    independent_sd = float((by_item.std() / np.sqrt(by_item.size())).mean())
    print(f"sd of an item's mean error {shared_sd:.1f}; independent noise alone would leave about {independent_sd:.1f} "
          "(within-item sd / sqrt(ratings per item), averaged over items)")
    results["emotion_error_sd"] = {"item_mean_error_sd": shared_sd, "independent_noise_sd": independent_sd}
    results["emotion"] = [{"method": n, "seconds": t, "mae": m, "rmse": r, "published": p} for n, t, m, r, p in rows]
    results["emotion_gold_20pct"] = {"with_gold": {"mae": avg[0], "rmse": avg[1]},
                                     "without_gold": {"mae": avg[2], "rmse": avg[3]},
                                     "mean": {"mae": avg[4], "rmse": avg[5]},
                                     "folds_mae_with_without": [(a, b) for a, _, b, *_ in folds]}


def simulate(n_ratings: int, n_items: int, n_annotators: int, *, seed: int
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """``n_ratings`` ratings spread over ``n_items`` items (``n_ratings // n_items`` distinct
    annotators each); returns (frame, mu by item code, biases, noise sds by annotator code)."""
    rng = np.random.default_rng(seed)
    per_item = max(1, min(n_ratings // n_items, n_annotators))
    mu = rng.normal(50.0, 20.0, n_items)
    b = rng.normal(0.0, 5.0, n_annotators)
    sd = np.exp(rng.uniform(np.log(3.0), np.log(30.0), n_annotators))
    who = rng.integers(0, n_annotators, (n_items, per_item))
    while True:  # redraw the items that drew an annotator twice
        s = np.sort(who, axis=1)
        bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
        if not len(bad):
            break
        who[bad] = rng.integers(0, n_annotators, (len(bad), per_item))
    item = np.repeat(np.arange(n_items), per_item)
    ann = who.ravel()
    x = mu[item] + b[ann] + rng.normal(size=len(item)) * sd[ann]
    order = rng.permutation(len(item))  # rows in no particular order
    item_ids = np.array([f"item{k:07d}" for k in range(n_items)], dtype=object)
    ann_ids = np.array([f"rater{k:05d}" for k in range(n_annotators)], dtype=object)
    frame = pd.DataFrame({"item_id": item_ids[item[order]], "annotator_id": ann_ids[ann[order]], "label": x[order]})
    return frame, mu, b, sd


def scale(args: argparse.Namespace, results: dict[str, Any]) -> None:
    frame, mu, b, sd = simulate(args.ratings, args.items, args.annotators, seed=args.seed)
    rows = []
    for method in METHODS:
        if method == "annotator_model":
            continue
        t, scores = best_of(args.repeats, lambda method=method: aggregate(frame, method))
        rows.append((method, t, *errors(scores["score"].to_numpy(), mu)))
    t, fit = best_of(args.repeats, lambda: fit_annotator_model(frame))
    rows.append(("annotator_model", t, *errors(fit.scores["score"].to_numpy(), mu)))
    bias_rmse = float(np.sqrt(np.mean((fit.bias.to_numpy() - (b - b.mean())) ** 2)))
    sd_rel = float(np.median(np.abs(fit.noise_sd.to_numpy() / sd - 1)))
    covered = float(np.mean(np.abs(fit.scores["score"].to_numpy() - mu - b.mean())
                            <= 1.959964 * fit.scores["se"].to_numpy()))
    print(f"\n## 2. scale: {len(frame):,} ratings, {args.items:,} items, {args.annotators:,} annotators "
          "(bias N(0, 5^2), noise sd 3..30)")
    print(f"{'method':44s} {'seconds':>9s} {'MAE':>8s} {'RMSE':>8s}")
    for name, t, mae, rmse in rows:
        print(f"{name:44s} {t:9.2f} {mae:8.3f} {rmse:8.3f}")
    print(f"annotator_model: {fit.iterations} EM steps (converged: {fit.converged}); bias RMSE vs truth "
          f"{bias_rmse:.3f} (true bias sd {b.std():.2f}); median |noise sd / true - 1| {sd_rel:.3f}; "
          f"95% intervals cover mu + mean(b) for {covered:.3f} of the items")
    results["scale"] = {"ratings": len(frame), "items": args.items, "annotators": args.annotators,
                        "methods": [{"method": n, "seconds": t, "mae": m, "rmse": r} for n, t, m, r in rows],
                        "em_steps": fit.iterations, "converged": fit.converged, "bias_rmse": bias_rmse,
                        "noise_sd_median_rel_error": sd_rel, "coverage_95": covered}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sections", default="1,2", help="which sections to run, e.g. 2")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    print(f"# bench_rating: Python {platform.python_version()}, {platform.machine()}", flush=True)
    results: dict[str, Any] = {}
    warm = pd.DataFrame({"item_id": ["a", "a", "b"], "annotator_id": ["x", "y", "x"], "label": [1.0, 2.0, 3.0]})
    for method in METHODS:  # imports and first calls out of the timings
        aggregate(warm, method)
    sections = {int(x) for x in args.sections.split(",")}
    if 1 in sections:
        emotion(args, results)
    if 2 in sections:
        scale(args, results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
