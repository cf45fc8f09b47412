"""Synthetic pairwise-preference deliveries (the preference kind's simulator, ``labelq simulate``).

Each day has ``items_per_day // 3`` prompts with three responses each (three pairs per prompt).
Every response has a true quality :math:`q \\sim N(0, 1)`; a judgement of responses :math:`i, j`
follows Davidson's model (:mod:`pipeline.merge.preference.bradley_terry`) with
:math:`d = (q_i - q_j) / T_a` for the annotator's temperature :math:`T_a` and a tie propensity
:math:`\\nu_a`. Vendor profiles rotate: a careful one, one with a **position-biased** annotator
(picks the response shown first 80% of the time), one with a **tie-happy** annotator. Each vendor
judges each pair with probability 0.8 (a third of them twice, by two of its annotators), shows the two responses in a random order and sends its
own orientation (response ids as displayed, ``shown_first``) and vocabulary (``vendors.<v>.labels``
inverted); a strength on its scale when it maps one (``options.strength_max``). Gold pairs
(``gold_fraction``) carry the better response by true quality. Every ``bad_batch_every``-th
vendor-day's second batch compares some responses with themselves and answers some with a word
outside the vocabulary, so validation has rows to quarantine.
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
from pipeline.kinds.preference import GOLD, MARGIN_MAX, pair_ids
from pipeline.kinds.simulation import who_rates

if TYPE_CHECKING:
    from pipeline.config import TaskConfig, VendorConfig

__all__ = ["PreferenceProfile", "simulate_preference"]


@dataclass(frozen=True)
class PreferenceProfile:
    """How one vendor's annotators judge: ``temperature`` (higher: noisier), the tie propensity
    ``nu``, and the share of first-shown picks of its one odd annotator (``biased_first``; None:
    none) and the tie rate of its one tie-happy annotator (``tie_happy``; None: none)."""

    n_annotators: int = 6
    temperature: float = 0.4
    nu: float = 0.15
    biased_first: float | None = None
    tie_happy: float | None = None


PROFILES = (PreferenceProfile(), PreferenceProfile(temperature=0.6, biased_first=0.8),
            PreferenceProfile(temperature=0.8, tie_happy=0.5))
_RATIONALES = np.array(["more accurate", "clearer", "more helpful", "safer", "shorter and correct", "follows the prompt"])


def _judge(rng: np.random.Generator, d: np.ndarray, shown_a_first: np.ndarray, annotator: np.ndarray,
           profile: PreferenceProfile) -> tuple[np.ndarray, np.ndarray]:
    """Choice (0 = a, 1 = b, 2 = tie in the canonical orientation) and the judge's |margin| in [0, 1]."""
    z = d / profile.temperature
    w = np.stack([np.exp(z / 2), np.exp(-z / 2), np.full_like(z, profile.nu)], axis=1)
    p = w / w.sum(axis=1, keepdims=True)
    u = rng.random(len(d))
    choice = (u[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 2)
    if profile.biased_first is not None:  # annotator 0 picks what it saw first, mostly
        odd = annotator == 0
        first = np.where(shown_a_first, 0, 1)
        pick = rng.random(len(d)) < profile.biased_first
        choice = np.where(odd & pick, first, np.where(odd & ~pick, 1 - first, choice))
    if profile.tie_happy is not None:
        odd = annotator == 0
        choice = np.where(odd & (rng.random(len(d)) < profile.tie_happy), 2, choice)
    strength = np.where(choice == 2, 0.0, np.clip(np.abs(np.tanh(z)) + rng.normal(0, 0.15, len(d)), 0.05, 1.0))
    return choice, strength


def _vendor_frame(vendor: VendorConfig, canon: dict[str, Any]) -> pd.DataFrame:
    """The vendor's own columns and vocabulary for canonical values ``canon``."""
    to_vendor = {c: v for v, c in reversed(list(vendor.labels.items()))}  # canonical -> the vendor's first word for it
    cols = {}
    for vendor_col, target in vendor.columns.items():
        values = canon[target]
        if target in ("choice", "shown_first"):  # the vendor's word where it has one, else as is
            values = pd.Series(values, dtype=object).replace(to_vendor).to_numpy()
        cols[vendor_col] = values
    return pd.DataFrame(cols)


def simulate_preference(task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                        spec: SimulationSpec) -> Simulated:
    """The preference kind's simulator (:meth:`pipeline.kinds.LabelKind.simulate`; module docstring)."""
    deliveries: list[Delivery] = []
    bad: list[str] = []
    gold_parts: list[pd.DataFrame] = []
    texts: list[pd.DataFrame] = []  # the catalog: every prompt's and response's text
    vendor_items = list(vendors.items())
    profiles = [PROFILES[i % len(PROFILES)] for i in range(len(vendor_items))]
    n_prompts = max(1, spec.items_per_day // 3)
    for day_index in range(spec.days):
        day = spec.start + timedelta(days=day_index)
        drng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal()])
        quality = drng.normal(size=(n_prompts, 3))
        prompts = np.array([f"{task_name}-{day:%Y%m%d}-p{i:05d}" for i in range(n_prompts)], dtype=object)
        responses = np.array([[f"{p}-r{k}" for k in range(3)] for p in prompts], dtype=object)
        texts.append(pd.DataFrame({"id": np.concatenate([prompts, responses.ravel()]),
                                   "text": np.concatenate([[f"Question {p}?" for p in prompts],
                                                           [f"Answer {r} (quality {q:+.2f})" for r, q in
                                                            zip(responses.ravel(), quality.ravel())]])}))
        pi, ra, rb = np.repeat(np.arange(n_prompts), 3), np.tile([0, 0, 1], n_prompts), np.tile([1, 2, 2], n_prompts)
        d = quality[pi, ra] - quality[pi, rb]  # canonical orientation: r0 < r1 < r2
        a_ids, b_ids, p_ids = responses[pi, ra], responses[pi, rb], prompts[pi]
        items = np.asarray(pair_ids(pa.chunked_array([p_ids.astype(str)]), pa.chunked_array([a_ids.astype(str)]),
                                    pa.chunked_array([b_ids.astype(str)])).to_numpy(zero_copy_only=False), dtype=object)
        is_gold = drng.random(len(items)) < spec.gold_fraction
        gold_parts.append(pd.DataFrame({"task": task_name, "item_id": items[is_gold],
                                        "gold_choice": np.where(d[is_gold] > 0, "a", "b")}))
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        for v_index, ((vname, vendor), profile) in enumerate(zip(vendor_items, profiles)):
            n_ann = spec.annotators or profile.n_annotators
            vrng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal(), v_index])
            rows, annotator = who_rates(vrng, len(items), n_ann)
            displayed_swap = vrng.random(len(rows)) < 0.5  # the vendor's own (a, b) is (b, a) canonically
            shown_a_first = vrng.random(len(rows)) < 0.5  # which canonical response was displayed first
            choice, strength = _judge(vrng, d[rows], shown_a_first, annotator, profile)
            # into the vendor's orientation
            v_choice = np.where(displayed_swap & (choice < 2), 1 - choice, choice)
            first_is_vendor_a = shown_a_first != displayed_swap
            top = vendor.options.get("strength_max")
            canon: dict[str, Any] = {
                "item_id": items[rows],
                "prompt_id": p_ids[rows], "annotator_id": np.array([f"{vname}-w{k:02d}" for k in range(n_ann)], dtype=object)[annotator],
                "response_a": np.where(displayed_swap, b_ids[rows], a_ids[rows]),
                "response_b": np.where(displayed_swap, a_ids[rows], b_ids[rows]),
                "choice": np.array(["a", "b", "tie"], dtype=object)[v_choice],
                "shown_first": np.where(first_is_vendor_a, "a", "b").astype(object),
                # on the vendor's scale: at least 1 for a preference, 0 for a tie
                "strength": np.where(choice == 2, 0, np.maximum(1, np.rint(strength * float(top or MARGIN_MAX)))).astype(np.int64),
                "rationale": _RATIONALES[vrng.integers(0, len(_RATIONALES), len(rows))],
                "annotated_at": pd.DatetimeIndex(day_start + pd.to_timedelta(
                    np.sort(vrng.integers(6 * 3600, 22 * 3600, len(rows))), unit="s")),
            }
            cut = int(len(rows) * 0.6)
            for b, sl in enumerate((slice(0, cut), slice(cut, None))):
                batch_id = f"{vname}-{day:%Y%m%d}-{b + 1:02d}"
                part = {k: v[sl] for k, v in canon.items()}
                part["batch_id"] = np.full(len(part["choice"]), batch_id, dtype=object)
                vendor_day = day_index * len(vendor_items) + v_index
                if b == 1 and vendor_day % spec.bad_batch_every == spec.bad_batch_every - 1 and len(part["choice"]) >= 20:
                    n_bad = max(1, len(part["choice"]) // 20)
                    part["response_b"] = part["response_b"].copy()
                    part["response_b"][:n_bad] = part["response_a"][:n_bad]
                    part["choice"] = part["choice"].copy()
                    part["choice"][n_bad:2 * n_bad] = "maybe"
                    bad.append(f"{batch_id} (self_comparison, unknown_choice)")
                frame = _vendor_frame(vendor, part)
                deliveries.append(Delivery(vname, day, batch_id, pa.Table.from_pandas(frame, preserve_index=False)))
    gold = pd.concat(gold_parts, ignore_index=True) if gold_parts else GOLD.empty_table().to_pandas()
    catalog = pd.concat(texts, ignore_index=True) if texts else pd.DataFrame({"id": [], "text": []})
    return Simulated(deliveries, pa.Table.from_pandas(gold, schema=GOLD, preserve_index=False), bad,
                     catalog=pa.Table.from_pandas(catalog, preserve_index=False))
