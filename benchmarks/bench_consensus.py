"""Benchmark: pipeline.merge.consensus vs crowd-kit on real and synthetic crowdsourcing data.

Run from the repository root::

    .venv/bin/python benchmarks/bench_consensus.py            # everything but GLAD (~2-3 min)
    .venv/bin/python benchmarks/bench_consensus.py --glad     # + crowd-kit GLAD (+~80 s)
    .venv/bin/python benchmarks/bench_consensus.py --json benchmarks/results/consensus.json

Sections
--------
1. Real data (VLDB 2017 truth-inference datasets duck, product, dog, face): accuracy against
   ground truth and fit time for every method, ours side by side with crowd-kit
   (MajorityVote, DawidSkene, OneCoinDawidSkene, MACE, optionally GLAD), in one process.
   crowd-kit MACE runs with ``n_restarts=1``: its restarts all reuse one seed, so 10 give the
   same result 10 times slower. Its "em, canonical ids" row is the like-for-like peer of our
   MACE; its default row ("vb") is crowd-kit as shipped, whose spamming distributions are
   permuted between workers unless ids are canonical (see :func:`canonical_ids`).
2. What gold adds: 5% of the truth used as gold (several random splits), accuracy measured on
   the other 95%, with and without gold.
3. Synthetic scale test: 100k items x 4 of 200 annotators (400k rows), 5 classes, seeded;
   our DawidSkene vs crowd-kit's: time ratio (target >= 10x) and accuracy difference
   (target: no worse than 0.2 points); the same ratios for MACE (no target).

Times are wall-clock seconds of one ``fit`` from a pandas DataFrame to labels (best of
``--repeats`` runs after a warm-up), so they include input conversion on both sides.
This is a benchmark, not a test: it prints tables and never fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.merge.consensus import aggregate, get_aggregator  # noqa: E402

#: ``../shared`` relative to the repo root (override with ``$LABELQ_TRUTH_INFERENCE_DIR``)
DATA_DIR = Path(os.environ.get("LABELQ_TRUTH_INFERENCE_DIR")
                or Path(__file__).resolve().parents[2] / "shared" / "datasets" / "truth_inference")
DATASETS = ("duck", "product", "dog", "face")

warnings.filterwarnings("ignore", module="crowdkit")  # pandas-3 deprecations inside crowd-kit


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def load(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical long format (item_id, annotator_id, label, vendor) + truth Series."""
    answers = pd.read_csv(DATA_DIR / name / "answer.csv", dtype={"question": str, "worker": str})
    df = answers.rename(columns={"question": "item_id", "worker": "annotator_id",
                                 "answer": "label"})
    # no vendor in the data: assign workers to 3 vendors by a stable hash (README advice)
    df["vendor"] = df["annotator_id"].map(lambda w: f"vendor{zlib.crc32(w.encode()) % 3}")
    truth = pd.read_csv(DATA_DIR / name / "truth.csv", dtype={"question": str})
    return df, truth.set_index("question")["truth"]


def to_crowdkit(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"item_id": "task", "annotator_id": "worker"})[
        ["task", "worker", "label"]
    ]


def canonical_ids(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """crowd-kit frame with workers and labels replaced by first-appearance integer codes.

    crowd-kit 1.4.2 MACE indexes its spamming distributions by first-appearance codes but fills
    them from a groupby sorted by worker and label: on raw ids its result depends on the row
    order. With such codes both orders agree. Returns (frame, label of each label code).
    """
    labels, label_names = pd.factorize(data["label"])
    return data.assign(worker=pd.factorize(data["worker"])[0], label=labels), label_names


def synthetic(
    n_items: int = 100_000,
    n_annotators: int = 200,
    per_item: int = 4,
    n_classes: int = 5,
    seed: int = 2025,
) -> tuple[pd.DataFrame, pd.Series]:
    """Dawid-Skene generative data: class prior ~ Dirichlet(5); annotator accuracy ~ U(0.45,
    0.95) with errors spread by a Dirichlet(1) per true class; ``per_item`` distinct
    annotators per item. Returns (annotations, truth indexed by item_id)."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(n_classes, 5.0))
    truth = rng.choice(n_classes, size=n_items, p=prior)
    acc = rng.uniform(0.45, 0.95, size=n_annotators)
    off = rng.dirichlet(np.ones(n_classes - 1), size=(n_annotators, n_classes))
    conf = np.zeros((n_annotators, n_classes, n_classes))
    for k in range(n_classes):
        others = [c for c in range(n_classes) if c != k]
        conf[:, k, k] = acc
        conf[:, k, others] = off[:, k, :] * (1 - acc)[:, None]
    who = rng.integers(0, n_annotators, size=(n_items, per_item))
    while True:  # redraw items that got the same annotator twice
        s = np.sort(who, axis=1)
        dup = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not dup.any():
            break
        who[dup] = rng.integers(0, n_annotators, size=(int(dup.sum()), per_item))
    item = np.repeat(np.arange(n_items), per_item)
    ann = who.ravel()
    cum = conf.cumsum(axis=2)[ann, truth[item]]
    label = (rng.random(item.size)[:, None] > cum).sum(axis=1).clip(max=n_classes - 1)
    df = pd.DataFrame({"item_id": item, "annotator_id": ann, "label": label})
    return df, pd.Series(truth, index=pd.RangeIndex(n_items, name="item_id"), name="truth")


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels.reindex(truth.index).to_numpy() == truth.to_numpy()).mean())


def timed(fn: Callable[[], pd.Series], repeats: int) -> tuple[pd.Series, float]:
    best, out = np.inf, None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    assert out is not None
    return out, best


def ours(method: str, **settings: Any) -> Callable[[pd.DataFrame, Any], pd.Series]:
    def run(df: pd.DataFrame, gold: Any = None) -> pd.Series:
        return get_aggregator(method, **settings).fit(df, gold=gold).labels_

    return run


def peer(name: str, canonical: bool = False, **kwargs: Any
         ) -> Callable[[pd.DataFrame, Any], pd.Series]:
    from crowdkit import aggregation as ck

    def run(df: pd.DataFrame, gold: Any = None) -> pd.Series:
        est = getattr(ck, name)(**kwargs)
        data = to_crowdkit(df)
        if name == "MajorityVote":
            np.random.seed(0)  # crowd-kit breaks ties at random (its issue #108)
        if canonical:
            data, label_names = canonical_ids(data)
            return est.fit_predict(data).map(label_names.__getitem__)
        if gold is not None:
            return est.fit_predict(data, gold.set_index("item_id")["gold_label"])
        return est.fit_predict(data)

    return run


def mace_em_peer() -> Callable[[pd.DataFrame, Any], pd.Series]:
    """crowd-kit MACE like ours: plain EM (its smoothing 0.01 / K), canonical ids."""
    return peer("MACE", canonical=True, method="em", n_restarts=1, random_state=0)


def print_table(title: str, table: pd.DataFrame, note: str = "") -> None:
    print()
    print(title)
    print("=" * len(title))
    print(table.to_string())
    if note:
        print(note)
    sys.stdout.flush()


def warm_up(runners: dict[str, Callable]) -> None:
    df = pd.DataFrame({"item_id": [1, 1, 2, 2, 3], "annotator_id": ["a", "b", "a", "b", "c"],
                       "label": [0, 1, 1, 1, 0]})
    for run in runners.values():
        run(df)


# ------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------
def real_data(repeats: int, glad: bool) -> pd.DataFrame:
    runners: dict[str, Callable] = {
        "ours  majority_vote": ours("majority_vote"),
        "ours  weighted_vote (no gold = MV)": ours("weighted_vote"),
        "ours  dawid_skene": ours("dawid_skene"),
        "ours  one_coin_dawid_skene": ours("one_coin_dawid_skene"),
        "ours  mace": ours("mace"),
        "crowd-kit MajorityVote": peer("MajorityVote"),
        "crowd-kit DawidSkene": peer("DawidSkene", n_iter=100),
        "crowd-kit DawidSkene (100 it)": peer("DawidSkene", n_iter=100, tol=-np.inf),
        "crowd-kit OneCoinDawidSkene": peer("OneCoinDawidSkene", n_iter=100),
        "crowd-kit MACE (default: vb, raw ids)": peer("MACE", random_state=0, n_restarts=1),
        "crowd-kit MACE (em, canonical ids)": mace_em_peer(),
    }
    if glad:
        runners["crowd-kit GLAD"] = peer("GLAD")
    warm_up(runners)
    rows: dict[str, dict[tuple[str, str], float]] = {name: {} for name in runners}
    for ds in DATASETS:
        df, truth = load(ds)
        for name, run in runners.items():
            slow = name.startswith("crowd-kit") and ("MACE" in name or "GLAD" in name
                                                     or "100 it" in name)
            labels, seconds = timed(lambda: run(df), 1 if slow else repeats)
            rows[name][(ds, "acc")] = accuracy(labels, truth)
            rows[name][(ds, "time_s")] = seconds
    table = pd.DataFrame(rows).T
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def gold_effect(splits: int, frac: float = 0.05) -> pd.DataFrame:
    runners: dict[str, Callable] = {
        "ours  majority_vote (ignores gold)": ours("majority_vote"),
        "ours  weighted_vote (accuracy)": ours("weighted_vote"),
        "ours  weighted_vote (log_odds)": ours("weighted_vote", weighting="log_odds"),
        "ours  weighted_vote (by vendor)": ours("weighted_vote", by="vendor"),
        "ours  dawid_skene": ours("dawid_skene"),
        "ours  one_coin_dawid_skene": ours("one_coin_dawid_skene"),
        "ours  mace": ours("mace"),
        "crowd-kit DawidSkene": peer("DawidSkene", n_iter=100),
    }
    rows: dict[str, dict[tuple[str, str], float]] = {name: {} for name in runners}
    for ds in DATASETS:
        df, truth = load(ds)
        for name, run in runners.items():
            base, with_gold = [], []
            for seed in range(splits):
                gold_truth = truth.sample(frac=frac, random_state=seed)
                rest = truth.drop(gold_truth.index)
                gold = pd.DataFrame({"item_id": gold_truth.index,
                                     "gold_label": gold_truth.to_numpy()})
                base.append(accuracy(run(df), rest))
                with_gold.append(accuracy(run(df, gold), rest))
            rows[name][(ds, "no gold")] = float(np.mean(base))
            rows[name][(ds, "5% gold")] = float(np.mean(with_gold))
            rows[name][(ds, "gain")] = float(np.mean(with_gold) - np.mean(base))
    table = pd.DataFrame(rows).T
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def scale(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, float]]:
    df, truth = synthetic(args.items, args.annotators, args.per_item, args.classes, args.seed)
    runners: dict[str, Callable] = {
        "ours  dawid_skene": ours("dawid_skene"),
        "crowd-kit DawidSkene": peer("DawidSkene", n_iter=100),
        "ours  majority_vote": ours("majority_vote"),
        "crowd-kit MajorityVote": peer("MajorityVote"),
        "ours  one_coin_dawid_skene": ours("one_coin_dawid_skene"),
        "crowd-kit OneCoinDawidSkene": peer("OneCoinDawidSkene", n_iter=100),
        "ours  mace": ours("mace"),
        "crowd-kit MACE (em, canonical ids)": mace_em_peer(),
    }
    warm_up(runners)
    rows = {}
    for name, run in runners.items():
        slow = name.startswith("crowd-kit MACE")  # ~40 s a run at 400k rows
        labels, seconds = timed(lambda: run(df), 1 if slow else args.repeats)
        rows[name] = {"accuracy": accuracy(labels, truth), "time_s": seconds}
    ds_iter = get_aggregator("dawid_skene").fit(df).n_iter_
    mace, mace_peer = rows["ours  mace"], rows["crowd-kit MACE (em, canonical ids)"]
    table = pd.DataFrame(rows).T
    summary = {
        "rows": float(len(df)),
        "ours_ds_iterations": float(ds_iter),
        "time_ratio": rows["crowd-kit DawidSkene"]["time_s"] / rows["ours  dawid_skene"]["time_s"],
        "accuracy_diff_points": 100 * (rows["ours  dawid_skene"]["accuracy"]
                                       - rows["crowd-kit DawidSkene"]["accuracy"]),
        "mace_time_ratio": mace_peer["time_s"] / mace["time_s"],
        "mace_accuracy_diff_points": 100 * (mace["accuracy"] - mace_peer["accuracy"]),
    }
    return table, summary


# ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="best-of-N timing (default 3)")
    parser.add_argument("--glad", action="store_true", help="also run crowd-kit GLAD (slow)")
    parser.add_argument("--gold-splits", type=int, default=5,
                        help="random 5%% gold splits averaged in section 2 (default 5)")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--per-item", type=int, default=4)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--json", type=Path, help="also write all tables to this JSON file")
    args = parser.parse_args(argv)

    import crowdkit
    import scipy

    print(f"python {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}"
          f"  pandas {pd.__version__}  crowd-kit {crowdkit.__version__}  cpus {os.cpu_count()}")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 50)
    fmt = {"float_format": "{:.4f}".format}
    results: dict[str, Any] = {}

    if not args.skip_real:
        if not (DATA_DIR / "duck" / "answer.csv").exists():
            print(f"\n[real data skipped: {DATA_DIR} not found]")
        else:
            table = real_data(args.repeats, args.glad)
            with pd.option_context("display.float_format", fmt["float_format"]):
                print_table(
                    "1. Real data: accuracy vs ground truth, fit time (s)",
                    table,
                    "crowd-kit DawidSkene stops when its loss stops increasing (tol=1e-5); "
                    "'(100 it)' runs all 100 iterations (tol=-inf).\ncrowd-kit MACE: 1 restart "
                    "(its 10 default restarts reuse one seed: same result); 'em, canonical ids' "
                    "is the like-for-like peer of ours, 'default' is as shipped (raw ids).",
                )
                results["real"] = json.loads(table.to_json(orient="index"))
                gold = gold_effect(args.gold_splits)
                print_table(
                    f"2. What gold adds: 5% of the truth as gold, accuracy on the other 95% "
                    f"(mean of {args.gold_splits} splits)",
                    gold,
                    "vendor = crc32(worker id) % 3 (the data has no vendor column).",
                )
                results["gold"] = json.loads(gold.to_json(orient="index"))

    if not args.skip_scale:
        table, summary = scale(args)
        with pd.option_context("display.float_format", fmt["float_format"]):
            print_table(
                f"3. Synthetic: {args.items:,} items x {args.per_item} of {args.annotators} "
                f"annotators = {int(summary['rows']):,} rows, {args.classes} classes, "
                f"seed {args.seed}",
                table,
            )
        ok_speed = summary["time_ratio"] >= 10
        ok_acc = summary["accuracy_diff_points"] >= -0.2
        print(f"DawidSkene speed-up vs crowd-kit: {summary['time_ratio']:.1f}x "
              f"(target >= 10x: {'met' if ok_speed else 'MISSED'}); "
              f"accuracy difference: {summary['accuracy_diff_points']:+.3f} points "
              f"(target >= -0.2: {'met' if ok_acc else 'MISSED'}); "
              f"our EM iterations: {int(summary['ours_ds_iterations'])}")
        print(f"MACE speed-up vs crowd-kit MACE (em): {summary['mace_time_ratio']:.1f}x; "
              f"accuracy difference: {summary['mace_accuracy_diff_points']:+.3f} points")
        results["scale"] = {"table": json.loads(table.to_json(orient="index")), **summary}

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
