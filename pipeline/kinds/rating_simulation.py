"""Synthetic rating deliveries (the rating kind's simulator, ``labelq simulate``).

Every item has a true score :math:`t` uniform on the scale's range widened by half a step at
each end (so every level is equally likely); its gold score is the scale value nearest :math:`t`.
An annotator of a vendor with profile (``leniency`` :math:`b`, ``noise`` :math:`s`, both in steps
of the scale) rates the scale value nearest :math:`t + (b + \\beta_a + s\\,\\varepsilon)\\cdot
\\text{step}` (clipped to the range), with a small per-annotator offset :math:`\\beta_a \\sim
N(0, 0.15^2)` and :math:`\\varepsilon \\sim N(0, 1)`; on a binary criterion (values 0 and 1, where a
whole step flips the answer, the drift is halved) that makes a lenient vendor say "met" too
often. Vendor profiles rotate: a careful one, a **lenient** one whose annotator 0 uses only the top level (a
rater the scorecard flags for scale use), a **severe** and noisy one. Each vendor rates each item
with probability 0.8, a third of them twice (two annotators), in its own vocabulary (levels: the
vendor's word for each level, from ``vendors.<v>.labels`` inverted; numeric scales: numbers).
Every ``bad_batch_every``-th vendor-day's second batch has values outside the range and between
two steps (numeric scales) or a word outside the vocabulary (levels), so validation has rows to
quarantine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.kinds import Delivery, SimulationSpec, Simulated
from pipeline.kinds.rating import GOLD, Scale, scale_of
from pipeline.kinds.simulation import who_rates

if TYPE_CHECKING:
    from pipeline.config import TaskConfig, VendorConfig

__all__ = ["PROFILES", "RatingProfile", "simulate_rating", "simulate_rubric"]


@dataclass(frozen=True)
class RatingProfile:
    """How one vendor's annotators rate: ``leniency`` and ``noise`` in steps of the scale, and
    whether its annotator 0 only ever gives the top level (``top_only``)."""

    n_annotators: int = 6
    leniency: float = 0.0
    noise: float = 0.5
    top_only: bool = False


PROFILES = (RatingProfile(), RatingProfile(leniency=0.8, noise=0.6, top_only=True),
            RatingProfile(leniency=-0.6, noise=1.1))


def _rate(rng: np.random.Generator, truth: np.ndarray, annotator: np.ndarray, offsets: np.ndarray, scale: Scale,
          profile: RatingProfile) -> np.ndarray:
    """Index of the scale value each annotator gives (see the module docstring)."""
    drift = profile.leniency + offsets[annotator] + profile.noise * rng.normal(size=len(truth))
    # on a two-level scale a whole step flips the answer: its raters drift half as far
    given = truth + drift * scale.step * (0.5 if scale.binary else 1.0)
    index = scale.nearest(given)
    if profile.top_only:
        index = np.where(annotator == 0, len(scale.values) - 1, index)
    return index


def _vendor_values(vendor: VendorConfig, scale: Scale, index: np.ndarray) -> np.ndarray:
    """The vendor's own values for scale positions ``index`` (its word for a level, else the number)."""
    if scale.labelled:
        to_vendor = {c: v for v, c in reversed(list(vendor.labels.items()))}  # canonical -> the vendor's first word
        words = np.array([to_vendor.get(n, n) for n in scale.names], dtype=object)
        return words[index]
    values = np.asarray(scale.values)[index]
    return values.astype(np.int64) if float(scale.step).is_integer() and float(scale.low).is_integer() else values


def simulate_rating(task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                    spec: SimulationSpec) -> Simulated:
    """The rating kind's simulator (:meth:`pipeline.kinds.LabelKind.simulate`; module docstring)."""
    deliveries, gold, bad = simulate_rubric({task_name: task}, vendors, spec)
    return Simulated(deliveries, gold[task_name], bad)


def simulate_rubric(tasks: Mapping[str, TaskConfig], vendors: Mapping[str, VendorConfig],
                    spec: SimulationSpec) -> tuple[list[Delivery], dict[str, pa.Table], list[str]]:
    """Several rating criteria of the same items, each vendor's file holding a column per criterion
    it feeds (``vendors.<v>.tasks``; :meth:`pipeline.kinds.LabelKind.simulate_feeds`): the items are
    named after the first criterion, each criterion has its own truth and gold, a vendor's profile
    applies to every criterion it rates. The broken batches break the first criterion's column.
    Returns the deliveries, each criterion's gold and the broken batches."""
    scales = {name: scale_of(task) for name, task in tasks.items()}
    first = next(iter(tasks))
    deliveries: list[Delivery] = []
    bad: list[str] = []
    gold_parts: dict[str, list[pd.DataFrame]] = {name: [] for name in tasks}
    vendor_items = list(vendors.items())
    profiles = [PROFILES[i % len(PROFILES)] for i in range(len(vendor_items))]
    for day_index in range(spec.days):
        day = spec.start + timedelta(days=day_index)
        drng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal()])
        n = spec.items_per_day
        items = np.array([f"{first}-{day:%Y%m%d}-{i:05d}" for i in range(n)], dtype=object)
        is_gold = drng.random(n) < spec.gold_fraction
        truth = {}
        for name, scale in scales.items():
            truth[name] = drng.uniform(scale.low - scale.step / 2, scale.high + scale.step / 2, n)
            gold_parts[name].append(pd.DataFrame({"task": name, "item_id": items[is_gold], "gold_score": np.asarray(
                scale.values)[scale.nearest(truth[name][is_gold])]}))
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        for v_index, ((vname, vendor), profile) in enumerate(zip(vendor_items, profiles)):
            feeds = {t: view for t, view in vendor.feeds().items() if t in tasks}
            n_ann = spec.annotators or profile.n_annotators
            vrng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal(), v_index])
            offsets = np.random.default_rng([spec.seed, spec.task_index, v_index]).normal(0, 0.15, n_ann)
            rows, annotator = who_rates(vrng, n, n_ann)
            shared: dict[str, Any] = {
                "item_id": items[rows],
                "annotator_id": np.array([f"{vname}-r{k:02d}" for k in range(n_ann)], dtype=object)[annotator],
                "annotated_at": pd.DatetimeIndex(day_start + pd.to_timedelta(
                    np.sort(vrng.integers(6 * 3600, 22 * 3600, len(rows))), unit="s")),
            }
            values = {t: _vendor_values(view, scales[t], _rate(vrng, truth[t][rows], annotator, offsets, scales[t], profile))
                      for t, view in feeds.items()}
            label_column = {t: next(c for c, target in view.columns.items() if target == "label") for t, view in feeds.items()}
            cut = int(len(rows) * 0.6)
            for b, sl in enumerate((slice(0, cut), slice(cut, None))):
                batch_id = f"{vname}-{day:%Y%m%d}-{b + 1:02d}"
                part = {k: v[sl] for k, v in shared.items()}
                part["batch_id"] = np.full(len(part["item_id"]), batch_id, dtype=object)
                given = {t: v[sl] for t, v in values.items()}
                vendor_day = day_index * len(vendor_items) + v_index
                if b == 1 and vendor_day % spec.bad_batch_every == spec.bad_batch_every - 1 and len(part["item_id"]) >= 20:
                    t = next(iter(feeds))
                    scale, k = scales[t], max(1, len(part["item_id"]) // 20)
                    broken = given[t].astype(object if scale.labelled else np.float64)
                    if scale.labelled:
                        broken[:k] = "n/a"
                        what = "not_on_scale"
                    else:
                        broken[:k] = scale.high + 3 * scale.step
                        broken[k:2 * k] = scale.low + scale.step / 2
                        what = "out_of_range, off_step"
                    given[t] = broken
                    bad.append(f"{batch_id} ({what})" if len(tasks) == 1 else f"{batch_id} ({t}: {what})")
                columns = {vcol: part[target] for vcol, target in vendor.columns.items() if target in part}
                columns.update({label_column[t]: given[t] for t in feeds})
                frame = pd.DataFrame(columns)
                deliveries.append(Delivery(vname, day, batch_id, pa.Table.from_pandas(frame, preserve_index=False)))
    gold = {name: pa.Table.from_pandas(pd.concat(parts, ignore_index=True) if parts else GOLD.empty_table().to_pandas(),
                                       schema=GOLD, preserve_index=False) for name, parts in gold_parts.items()}
    return deliveries, gold, bad
