"""A deterministic simulator of multi-vendor label deliveries, for demos and tests.

Each vendor in the config delivers every day, in its own column names and label vocabulary
(inverted from the config's mappings), at its own quality:

* per-annotator accuracy around a vendor mean, lower on some classes (class-dependent
  confusion); wrong answers fall mostly on neighbouring classes;
* one careless annotator (uniformly random answers) at the second vendor;
* gold items (known true labels) mixed into every day's work and written to ``gold/``;
* now and then a bad batch (every ``bad_batch_every``-th vendor-day, so short demos have
  some): a renamed column, labels outside the vocabulary, or missing annotator ids, in turn.

The same ``seed`` always writes the same files.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.config import LabelqConfig, TaskConfig, VendorConfig
from pipeline.kinds import Delivery, SimulationSpec, Simulated
from pipeline.kinds.classification import GOLD
from pipeline.storage import Store


@dataclass(frozen=True)
class VendorProfile:
    """How well one simulated vendor labels."""

    accuracy: float
    labels_per_item: int
    n_annotators: int = 6
    weak_class: int | None = None  # index of a class this vendor often gets wrong
    careless_annotator: bool = False


DEFAULT_PROFILES = (
    VendorProfile(accuracy=0.90, labels_per_item=2),
    VendorProfile(accuracy=0.80, labels_per_item=1, weak_class=1, careless_annotator=True),
    VendorProfile(accuracy=0.68, labels_per_item=2, n_annotators=10, weak_class=0),
)

BAD_BATCH_KINDS = ("renamed_column", "unknown_labels", "null_annotators")


@dataclass(frozen=True)
class SimulationReport:
    files: list[str]
    gold_items: int
    rows: int
    bad_batches: list[str]


def _error_matrix(k: int) -> np.ndarray:
    """Row c: where a wrong answer on class c falls (mostly on neighbours, ordinal-style)."""
    idx = np.arange(k)
    w = 1.0 / (np.abs(idx[:, None] - idx[None, :]) ** 2 + 1e-12)
    np.fill_diagonal(w, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def _vendor_labels(vendor: VendorConfig, canonical: list[str]) -> list[object]:
    """The vendor's own spelling of each canonical label (ints if its vocabulary is numeric)."""
    inverse = {c: v for v, c in vendor.labels.items()}
    spelled = [inverse.get(c, c) for c in canonical]
    try:
        return [int(s) for s in spelled]
    except ValueError:
        return list(spelled)


def _simulate_vendor_day(
    rng: np.random.Generator,
    *,
    items: np.ndarray,
    truth: np.ndarray,
    n_classes: int,
    profile: VendorProfile,
    annotator_acc: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (item index, annotator index, answered class) arrays for one vendor and day."""
    n_items, k = len(items), profile.labels_per_item
    # k distinct annotators per item: a random offset plus a stride keeps them distinct
    start = rng.integers(0, profile.n_annotators, size=n_items)
    ann = (start[:, None] + np.arange(k)[None, :]) % profile.n_annotators
    item_idx = np.repeat(np.arange(n_items), k)
    ann = ann.ravel()
    true = truth[item_idx]
    acc = annotator_acc[ann].copy()
    if profile.weak_class is not None:
        acc[true == profile.weak_class] *= 0.7
    correct = rng.random(len(ann)) < acc
    err = _error_matrix(n_classes)
    # sample a wrong class per row from err[true] by inverse CDF (vectorised)
    cdf = np.cumsum(err[true], axis=1)
    wrong = (rng.random(len(ann))[:, None] > cdf).sum(axis=1)
    answer = np.where(correct, true, np.minimum(wrong, n_classes - 1))
    if profile.careless_annotator:
        careless = ann == profile.n_annotators - 1
        answer[careless] = rng.integers(0, n_classes, size=int(careless.sum()))
    return item_idx, ann, answer


def _to_vendor_frame(
    vendor_name: str,
    vendor: VendorConfig,
    *,
    item_ids: np.ndarray,
    annotators: np.ndarray,
    answers: np.ndarray,
    times: pd.DatetimeIndex,
    vendor_labels: list[object],
    batch_id: str,
) -> pd.DataFrame:
    inverse = {canon: col for col, canon in vendor.columns.items()}
    ts = times
    if vendor.timezone != "UTC":  # vendor sends naive local wall-clock times
        ts = times.tz_convert(zoneinfo.ZoneInfo(vendor.timezone)).tz_localize(None)
    cols: dict[str, object] = {
        inverse["item_id"]: item_ids,
        inverse["annotator_id"]: [f"{vendor_name[:2]}-{a:03d}" for a in annotators],
        inverse["label"]: np.asarray(vendor_labels, dtype=object)[answers],
    }
    if "annotated_at" in inverse:
        cols[inverse["annotated_at"]] = ts
    if "batch_id" in inverse:
        cols[inverse["batch_id"]] = batch_id
    frame = pd.DataFrame(cols)
    label_col = inverse["label"]
    if all(isinstance(v, int) for v in vendor_labels):
        frame[label_col] = frame[label_col].astype("int64")
    return frame


def _corrupt(frame: pd.DataFrame, kind: str, vendor: VendorConfig, rng: np.random.Generator) -> pd.DataFrame:
    inverse = {canon: col for col, canon in vendor.columns.items()}
    frame = frame.copy()
    if kind == "renamed_column":
        old = inverse["annotator_id"]
        frame = frame.rename(columns={old: old + "_v2"})
    elif kind == "unknown_labels":
        col = inverse["label"]
        bad = rng.random(len(frame)) < 0.3
        frame[col] = frame[col].astype(str)
        frame.loc[bad, col] = "MIXED"
    elif kind == "null_annotators":
        col = inverse["annotator_id"]
        frame[col] = frame[col].astype(object)
        frame.loc[rng.random(len(frame)) < 0.2, col] = None
    return frame


def simulate_classification(task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                            spec: SimulationSpec) -> Simulated:
    """The classification kind's simulator (:meth:`pipeline.kinds.LabelKind.simulate`): every day of
    ``spec`` for the ``vendors`` of one task, each delivery in the vendor's own schema and
    vocabulary, and the gold rows (see the module docstring)."""
    labels = list(task.labels or [])
    k = len(labels)
    seed, t_index, annotators = spec.seed, spec.task_index, spec.annotators
    deliveries: list[Delivery] = []
    bad: list[str] = []
    gold_parts: list[pd.DataFrame] = []
    vendor_items = list(vendors.items())
    rng = np.random.default_rng([seed, t_index])
    prior = rng.dirichlet(np.full(k, 8.0))
    profiles = [DEFAULT_PROFILES[i % len(DEFAULT_PROFILES)] for i in range(len(vendor_items))]
    if annotators is not None:
        profiles = [replace(p, n_annotators=annotators) for p in profiles]
    accs = [
        np.clip(rng.normal(p.accuracy, 0.05, size=p.n_annotators), 0.35, 0.99) for p in profiles
    ]
    for d in range(spec.days):
        day = spec.start + timedelta(days=d)
        drng = np.random.default_rng([seed, t_index, day.toordinal()])
        truth = drng.choice(k, size=spec.items_per_day, p=prior)
        item_ids = np.array([f"{task_name}-{day:%Y%m%d}-{i:05d}" for i in range(spec.items_per_day)])
        is_gold = drng.random(spec.items_per_day) < spec.gold_fraction
        gold_parts.append(
            pd.DataFrame(
                {"task": task_name, "item_id": item_ids[is_gold],
                 "gold_label": np.asarray(labels, dtype=object)[truth[is_gold]]}
            )
        )
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        for v_index, ((vname, vendor), profile) in enumerate(zip(vendor_items, profiles)):
            vrng = np.random.default_rng([seed, t_index, day.toordinal(), v_index])
            item_idx, ann, answer = _simulate_vendor_day(
                vrng, items=item_ids, truth=truth, n_classes=k, profile=profile, annotator_acc=accs[v_index]
            )
            seconds = np.sort(vrng.integers(6 * 3600, 22 * 3600, size=len(ann)))
            times = pd.DatetimeIndex(day_start + pd.to_timedelta(seconds, unit="s"))
            # two batches a day: the first ~60% of the work, then the rest
            cut = int(len(ann) * 0.6)
            for b, sl in enumerate((slice(0, cut), slice(cut, None))):
                batch_id = f"{vname}-{day:%Y%m%d}-{b + 1:02d}"
                frame = _to_vendor_frame(
                    vname, vendor,
                    item_ids=item_ids[item_idx[sl]], annotators=ann[sl], answers=answer[sl],
                    times=times[sl], vendor_labels=_vendor_labels(vendor, labels), batch_id=batch_id,
                )
                vendor_day = d * len(vendor_items) + v_index
                if b == 1 and vendor_day % spec.bad_batch_every == spec.bad_batch_every - 1:
                    kind = BAD_BATCH_KINDS[(spec.bad_batches_before + len(bad)) % len(BAD_BATCH_KINDS)]
                    frame = _corrupt(frame, kind, vendor, vrng)
                    bad.append(f"{batch_id} ({kind})")
                deliveries.append(Delivery(vname, day, batch_id, pa.Table.from_pandas(frame, preserve_index=False)))
    gold = pd.concat(gold_parts, ignore_index=True) if gold_parts else GOLD.empty_table().to_pandas()
    return Simulated(deliveries, pa.Table.from_pandas(gold, schema=GOLD, preserve_index=False), bad)


def _feed_groups(config: LabelqConfig) -> dict[str, list[str]]:
    """``{task: the tasks simulated with it}``: tasks linked by vendors whose files feed several
    tasks (in config order); a task linked to no other is absent."""
    parent = {t: t for t in config.tasks}

    def root(t: str) -> str:
        while parent[t] != t:
            t = parent[t]
        return t

    for vendor in config.vendors.values():
        if vendor.feeds_several:
            fed = [t for t in config.tasks if t in vendor.tasks]
            for t in fed[1:]:
                parent[root(t)] = root(fed[0])
    by_root: dict[str, list[str]] = {}
    for t in config.tasks:
        by_root.setdefault(root(t), []).append(t)
    return {t: members for members in by_root.values() if len(members) > 1 for t in members}


def simulate(
    config: LabelqConfig,
    store: Store,
    *,
    seed: int = 0,
    days: int = 3,
    start: date = date(2026, 11, 1),
    items_per_day: int = 300,
    gold_fraction: float = 0.1,
    bad_batch_every: int = 4,
    annotators: int | None = None,
) -> SimulationReport:
    """Write ``days`` days of deliveries for every vendor, plus the gold set, into ``store``.

    Each task's data comes from its label kind's simulator (:meth:`pipeline.kinds.LabelKind.simulate`;
    classification: :func:`simulate_classification`); tasks fed by vendors whose files feed several
    tasks (a rubric's criteria) are simulated together, one file per vendor and batch
    (:meth:`pipeline.kinds.LabelKind.simulate_feeds`). ``annotators``: annotators per vendor
    (default: each profile's, 6 to 10); a large value spreads the work thinly (e.g. 20,000 per
    vendor: a day of 60,000 distinct annotators).

    ``files`` of the report are the delivered files' locations.
    """
    if days < 1 or items_per_day < 1 or bad_batch_every < 1 or (annotators is not None and annotators < 2):
        raise ValueError(
            f"days, items_per_day and bad_batch_every must be >= 1 and annotators >= 2 "
            f"(got {days}, {items_per_day}, {bad_batch_every}, {annotators})"
        )
    layout = store.layout
    files: list[str] = []
    bad: list[str] = []
    rows = 0
    n_gold = 0
    groups = _feed_groups(config)
    done: set[str] = set()
    for t_index, (task_name, task) in enumerate(config.tasks.items()):
        if task_name in done:
            continue
        kind = task.label_kind
        spec = SimulationSpec(seed=seed, task_index=t_index, start=start, days=days, items_per_day=items_per_day,
                              gold_fraction=gold_fraction, bad_batch_every=bad_batch_every, annotators=annotators,
                              bad_batches_before=len(bad))
        group = groups.get(task_name, [task_name])
        catalog = None
        if task_name in groups:  # vendors whose files feed several tasks: simulated together
            kinds = {config.tasks[t].kind for t in group}
            if len(kinds) > 1:
                raise ValueError(f"labelq simulate: vendors feed tasks {group} of different kinds {sorted(kinds)} from one "
                                 "file; it simulates such files for tasks of one kind only")
            vendors = {n: v for n, v in config.vendors.items() if set(v.feeds()) & set(group)}
            deliveries, golds, broken = kind.simulate_feeds({t: config.tasks[t] for t in group}, vendors, spec)
        else:
            sim = kind.simulate(task_name, task, config.vendors_for(task_name), spec)
            deliveries, golds, broken, catalog = sim.deliveries, {task_name: sim.gold}, sim.bad_batches, sim.catalog
        done.update(group)
        for delivery in deliveries:
            key = layout.landing_file(config.vendors[delivery.vendor], delivery.day, delivery.name)
            store.write_parquet(delivery.table, key)
            files.append(store.location(key))
            rows += delivery.table.num_rows
        bad += broken
        if catalog is not None and task.catalog is not None:  # texts of earlier simulations stay
            old = store.read_parquet(task.catalog).to_pandas() if store.is_file(task.catalog) else None
            texts = pd.concat(([old] if old is not None else []) + [catalog.to_pandas()], ignore_index=True)
            texts = texts.drop_duplicates("id", keep="last").sort_values("id", ignore_index=True)
            store.write_parquet(pa.Table.from_pandas(texts, preserve_index=False), task.catalog)
        for name, table in golds.items():
            gold_kind = config.tasks[name].label_kind
            key = layout.gold(name).as_posix()
            existing = store.read_parquet(key, schema=gold_kind.gold).to_pandas() if store.is_file(key) else None
            gold = pd.concat(([existing] if existing is not None else []) + [table.to_pandas()], ignore_index=True)
            gold = gold.drop_duplicates("item_id", keep="last").sort_values("item_id", ignore_index=True)
            store.write_parquet(pa.Table.from_pandas(gold, schema=gold_kind.gold, preserve_index=False), key)
            n_gold += len(gold)
    return SimulationReport(files=files, gold_items=n_gold, rows=rows, bad_batches=bad)
