"""Benchmark pipeline.measure.agreement against the krippendorff and statsmodels packages.

Usage::

    .venv/bin/python benchmarks/bench_agreement.py [--rows 1000000] [--repeat 3] [--seed 0]

Builds one seeded long DataFrame (``rows / 4`` items, each labelled by 4 of
200 annotators, 5 classes, string ids, 4 vendors) and times, in one process
and starting from that same DataFrame:

* ours: ``krippendorff_alpha`` (nominal, interval), ``fleiss_kappa`` and the
  full ``agreement_table`` (5 metrics x 5 scopes, 200 bootstrap replicates);
* peers: ``krippendorff.alpha`` including the pivot to its coders x units
  reliability matrix, and statsmodels ``fleiss_kappa`` including the pivot to
  items x rater-slots and ``aggregate_raters``.

Prints seconds, rows/s, the speed ratio (peer / ours) and whether the values
agree, plus pyarrow's Parquet read speed of the same frame for context.
Ours is the best of ``--repeat`` runs after a warm-up run, each peer the best
of ``--peer-repeat`` runs (the first doubles as its warm-up).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of  # noqa: E402  (benchmarks/ is on the path when run as a script)

from pipeline.measure.agreement import agreement_table, fleiss_kappa, krippendorff_alpha  # noqa: E402

N_ANNOTATORS = 200
LABELS_PER_ITEM = 4
N_CLASSES = 5
TARGET_SPEEDUP = 10.0
TARGET_ROWS_PER_S = 8e6


def make_frame(rows: int, seed: int) -> pd.DataFrame:
    """Seeded long frame: 4 distinct annotators of 200 per item, 5 classes, ~70% agreement."""
    rng = np.random.default_rng(seed)
    n_items = max(1, rows // LABELS_PER_ITEM)
    # 4 distinct annotators per item: draw, then redraw the few rows with a repeat (vectorised rounds)
    ann = rng.integers(0, N_ANNOTATORS, (n_items, LABELS_PER_ITEM))
    while True:
        srt = np.sort(ann, axis=1)
        bad = np.flatnonzero((srt[:, 1:] == srt[:, :-1]).any(axis=1))
        if bad.size == 0:
            break
        ann[bad] = rng.integers(0, N_ANNOTATORS, (bad.size, LABELS_PER_ITEM))
    truth = rng.integers(1, N_CLASSES + 1, n_items)
    labels = np.where(
        rng.random((n_items, LABELS_PER_ITEM)) < 0.7,
        truth[:, None],
        rng.integers(1, N_CLASSES + 1, (n_items, LABELS_PER_ITEM)),
    )
    item_ids = np.char.add("item-", np.arange(n_items).astype(str))
    ann_ids = np.char.add("ann-", np.char.zfill(np.arange(N_ANNOTATORS).astype(str), 3))
    vendors = np.array(["acme", "bolt", "crowdco", "datafy"])
    df = pd.DataFrame(
        {
            "item_id": pd.array(np.repeat(item_ids, LABELS_PER_ITEM), dtype="str"),
            "annotator_id": pd.array(ann_ids[ann.ravel()], dtype="str"),
            "label": labels.ravel().astype(np.int64),
            "vendor": pd.array(vendors[ann.ravel() % vendors.size], dtype="str"),
        }
    )
    dup = df.duplicated(["item_id", "annotator_id"]).sum()
    if dup:
        raise RuntimeError(f"generator produced {dup} duplicate (item, annotator) rows")
    return df


def peer_krippendorff(df: pd.DataFrame, level: str) -> float:
    import krippendorff

    reliability = df.pivot(index="annotator_id", columns="item_id", values="label").to_numpy(dtype=np.float64)
    return float(krippendorff.alpha(reliability_data=reliability, level_of_measurement=level))


def peer_statsmodels_fleiss(df: pd.DataFrame) -> float:
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa as sm_fleiss

    slots = df.assign(slot=df.groupby("item_id", sort=False).cumcount())
    wide = slots.pivot(index="item_id", columns="slot", values="label").to_numpy()
    table, _ = aggregate_raters(wide)
    return float(sm_fleiss(table))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="label rows (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; best is reported")
    parser.add_argument("--peer-repeat", type=int, default=2, help="runs of each peer; best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-peers", action="store_true", help="time only ours")
    parser.add_argument("--sparse-annotators", type=int, default=60_000,
                        help="annotators of the sparse annotator-pair kappa case (default 60,000)")
    args = parser.parse_args(argv)

    if not args.skip_peers:  # import peers outside the timed sections
        import krippendorff  # noqa: F401
        import statsmodels.stats.inter_rater  # noqa: F401

    t0 = time.perf_counter()
    df = make_frame(args.rows, args.seed)
    rows = len(df)
    print(
        f"frame: {rows:,} rows, {df['item_id'].nunique():,} items x {LABELS_PER_ITEM} of {N_ANNOTATORS} annotators, "
        f"{N_CLASSES} classes, seed {args.seed} (built in {time.perf_counter() - t0:.1f} s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "labels.parquet"
        df.to_parquet(path, index=False)
        read_s, table = best_of(args.repeat, lambda: pq.read_table(path))
        assert table.num_rows == rows

    cases: list[tuple[str, Callable[[], float], Callable[[], float] | None, str]] = [
        ("alpha nominal", lambda: krippendorff_alpha(df, level="nominal"),
         lambda: peer_krippendorff(df, "nominal"), "krippendorff.alpha (+pivot)"),
        ("alpha interval", lambda: krippendorff_alpha(df, level="interval"),
         lambda: peer_krippendorff(df, "interval"), "krippendorff.alpha (+pivot)"),
        ("fleiss kappa", lambda: fleiss_kappa(df),
         lambda: peer_statsmodels_fleiss(df), "statsmodels (+pivot, aggregate_raters)"),
        ("agreement_table n_boot=200", lambda: len(agreement_table(df, n_boot=200)), None, "-"),
    ]

    header = (
        f"{'task':<28} {'ours s':>8} {'ours rows/s':>13} {'peer s':>8} {'peer rows/s':>13} "
        f"{'peer/ours':>9}  {'|diff|':>8}  peer"
    )
    print()
    print(header)
    print("-" * len(header))
    ok = True
    for name, ours_fn, peer_fn, peer_name in cases:
        ours_fn()  # warm-up (imports, first-call costs)
        ours_s, ours_v = best_of(args.repeat, ours_fn)
        line = f"{name:<28} {ours_s:>8.3f} {rows / ours_s:>13,.0f}"
        if peer_fn is not None and not args.skip_peers:
            peer_s, peer_v = best_of(max(1, args.peer_repeat), peer_fn)
            diff = abs(float(ours_v) - float(peer_v))
            ratio = peer_s / ours_s
            agree = diff <= 1e-9
            ok &= agree and ratio >= TARGET_SPEEDUP
            line += f" {peer_s:>8.3f} {rows / peer_s:>13,.0f} {ratio:>8.1f}x  {diff:>8.1e}  {peer_name}"
            line += "" if agree else "  VALUES DIFFER"
        else:
            line += f" {'-':>8} {'-':>13} {'-':>9}  {'-':>8}  {peer_name}"
        if name.startswith(("alpha", "fleiss")):
            ok &= rows / ours_s >= TARGET_ROWS_PER_S
        print(line)
    print(f"{'parquet read (pyarrow)':<28} {read_s:>8.3f} {rows / read_s:>13,.0f}   (context: same frame from Parquet)")
    print()
    print(
        f"targets: >= {TARGET_SPEEDUP:.0f}x faster than peers and >= {TARGET_ROWS_PER_S / 1e6:.0f}M rows/s: "
        + ("met" if ok else "NOT met")
    )
    sparse_pairs(args.sparse_annotators)
    return 0


def sparse_pairs(n: int) -> None:
    """Annotator-pair kappa for ``n`` annotators, each sharing one item with the next: the long
    table's time and traced peak memory, against what the dense matrix would need."""
    import tracemalloc

    from pipeline.measure.agreement import pairwise_kappa

    rng = np.random.default_rng(3)
    annotators = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1).ravel()
    df = pd.DataFrame({"item_id": np.repeat(np.arange(n), 2), "annotator_id": [f"w{a:07d}" for a in annotators],
                       "label": rng.integers(0, N_CLASSES, 2 * n)})
    tracemalloc.start()
    t0 = time.perf_counter()
    pairs = pairwise_kappa(df)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"\npairwise_kappa, {n:,} annotators ({len(pairs):,} pairs share an item): {seconds:.2f} s, "
          f"traced peak {peak / 2**20:.0f} MiB; a dense {n:,} x {n:,} matrix: {8 * n * n / 2**30:.1f} GiB")


if __name__ == "__main__":
    raise SystemExit(main())
