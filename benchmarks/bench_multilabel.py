"""Benchmark: tag-set consensus (pipeline.merge.multilabel) against crowd-kit's BinaryRelevance.

Run from the repository root::

    .venv/bin/python benchmarks/bench_multilabel.py                 # 20,000 items x 3 annotators, 10 tags
    .venv/bin/python benchmarks/bench_multilabel.py --items 5000 --json /tmp/bench_multilabel.json

Simulated data: ``--items`` items, each with a true tag set (tag k present with probability from
5% to 50%), labelled by ``--per-item`` of ``--annotators`` annotators; an annotator finds a
present tag with its own recall per tag (uniform 0.5..0.95) and adds an absent one at its own
false-positive rate (0.01..0.15). Printed per method: the share of (item, tag) decisions equal to
the truth, the macro F1 over tags, and the seconds of one call (best of ``--repeats``), with
crowd-kit 1.4's ``BinaryRelevance(DawidSkene(n_iter=100))`` and ``BinaryRelevance(MajorityVote())``
on the same frame. This is a benchmark, not a test: it prints and never fails on a target.
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

from pipeline.merge.multilabel import aggregate_tags  # noqa: E402


def simulate(n_items: int, n_annotators: int, per_item: int, n_tags: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    tags = [f"tag{k:02d}" for k in range(n_tags)]
    prevalence = np.linspace(0.05, 0.5, n_tags)
    recall = rng.uniform(0.5, 0.95, (n_annotators, n_tags))
    false_pos = rng.uniform(0.01, 0.15, (n_annotators, n_tags))
    truth = rng.random((n_items, n_tags)) < prevalence
    who = np.argsort(rng.random((n_items, n_annotators)), axis=1)[:, :per_item]  # distinct annotators per item
    item, ann = np.repeat(np.arange(n_items), per_item), who.reshape(-1)
    u = rng.random((len(item), n_tags))
    present = np.where(truth[item], u < recall[ann], u < false_pos[ann])
    names = np.asarray(tags, dtype=object)
    frame = pd.DataFrame({"item_id": np.char.add("i", item.astype(str)).astype(object),
                          "annotator_id": np.char.add("a", ann.astype(str)).astype(object),
                          "label": [list(names[row]) for row in present]})  # data preparation, not timed
    return frame, truth, tags


def score(chosen: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    accuracy = float((chosen == truth).mean())
    tp = (chosen & truth).sum(axis=0)
    f1 = 2 * tp / np.maximum(chosen.sum(axis=0) + truth.sum(axis=0), 1)
    return accuracy, float(f1.mean())


def as_matrix(sets: pd.Series, n_items: int, tags: list[str]) -> np.ndarray:
    index = {t: k for k, t in enumerate(tags)}
    out = np.zeros((n_items, len(tags)), dtype=bool)
    for item, chosen in sets.items():  # result conversion for scoring, not timed
        for t in chosen:
            out[int(str(item)[1:]), index[t]] = True
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--per-item", type=int, default=3)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    print(f"# bench_multilabel: Python {platform.python_version()}, {platform.machine()}", flush=True)
    frame, truth, tags = simulate(args.items, args.annotators, args.per_item, args.tags, args.seed)
    rows: list[dict[str, Any]] = []
    for method in ("majority_vote", "dawid_skene"):
        aggregate_tags(frame.head(50), method)  # imports and first calls out of the timing
        t, out = best_of(args.repeats, lambda method=method: aggregate_tags(frame, method))
        acc, f1 = score(as_matrix(out.set_index("item_id")["tags"], args.items, tags), truth)
        rows.append({"method": f"labelq aggregate_tags({method!r})", "seconds": t, "accuracy": acc, "macro_f1": f1})
    try:
        from crowdkit.aggregation import BinaryRelevance, DawidSkene, MajorityVote
    except ImportError:
        print("crowd-kit is not installed (pip install -e '.[dev]'): peers skipped")
    else:
        ck = frame.rename(columns={"item_id": "task", "annotator_id": "worker"})
        for name, make in (("crowd-kit BinaryRelevance(MajorityVote())", lambda: BinaryRelevance(MajorityVote())),
                           ("crowd-kit BinaryRelevance(DawidSkene(n_iter=100))",
                            lambda: BinaryRelevance(DawidSkene(n_iter=100)))):
            t, out = best_of(args.repeats, lambda make=make: make().fit_predict(ck))
            acc, f1 = score(as_matrix(out, args.items, tags), truth)
            rows.append({"method": name, "seconds": t, "accuracy": acc, "macro_f1": f1})
    print(f"\n{len(frame):,} tag sets of {args.items:,} items by {args.annotators} annotators ({args.per_item} per item), "
          f"{args.tags} tags")
    print(f"{'method':52s} {'accuracy':>9s} {'macro F1':>9s} {'seconds':>9s}")
    for r in rows:
        print(f"{r['method']:52s} {r['accuracy']:9.4f} {r['macro_f1']:9.4f} {r['seconds']:9.2f}")
    ours = next(r for r in rows if r["method"].endswith("('dawid_skene')"))
    peer = next((r for r in rows if "DawidSkene" in r["method"]), None)
    if peer is not None:
        print(f"Dawid-Skene per tag: labelq {peer['seconds'] / ours['seconds']:.1f}x faster than crowd-kit, accuracy "
              f"{ours['accuracy'] - peer['accuracy']:+.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
