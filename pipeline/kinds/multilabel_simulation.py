r"""Synthetic multi-label deliveries (the multilabel kind's simulator, ``labelq simulate``).

A task's tags :math:`t = 0 \dots K-1` are ``tasks.<t>.labels`` in order; tag :math:`t` has the
prevalence :math:`p_t`, spread evenly from 0.45 (the first tag) down to 0.08 (the last):
:math:`p_t = 0.45 - 0.37\,\tfrac{t}{K-1}`. An item's true set :math:`S` holds each tag
independently with probability :math:`p_t` (so the empty set happens too, with probability
:math:`\prod_t (1 - p_t)`); a gold item's ``gold_tags`` is :math:`S` (canonical tags, in the
task's order; an empty list for the empty set). The rarer half of the tags are those with
:math:`t \ge \lceil K/2 \rceil`.

A vendor's profile (:class:`TagProfile`) gives every tag a recall :math:`r_t` (``recall`` on the
common half, ``rare_recall`` on the rarer half) and a false-positive rate :math:`f`. Its
annotator :math:`a` has its own :math:`r_{a,t} = \mathrm{clip}(r_t + \delta_a, 0.05, 0.99)` and
:math:`f_a = \mathrm{clip}(f\,(1 + \gamma_a), 0.001, 0.5)`, with :math:`\delta_a \sim N(0, 0.03^2)`
and :math:`\gamma_a \sim N(0, 0.2^2)`. Its answer on an item is the set :math:`A` with, per tag,

.. math::

    P(t \in A \mid t \in S) = r_{a,t}, \qquad P(t \in A \mid t \notin S) = f_a

(independently). Profiles rotate by the vendors' order (:data:`PROFILES`): a **thorough** one
(recall 0.9 on every tag, false positives 0.03), one that **misses rare** tags (recall 0.9 on the
common half, 0.45 on the rarer half) and an **over-tagger** (recall 0.85, false positives 0.15:
larger sets). Each vendor labels each item with probability 0.8, a third of them twice (two
annotators; :func:`pipeline.kinds.simulation.who_rates`), in its own vocabulary (the vendor's
word for each tag, from ``vendors.<v>.labels`` inverted; a tag without one as itself).

Delivery layout, by the vendor's config (other columns: those it maps onto ``item_id``,
``annotator_id``, ``annotated_at``, ``batch_id``, ``vendor``):

* default: the column mapped onto ``tags`` is a ``list<string>`` (``[]``: the empty set);
* ``vendors.<v>.options.delimiter``: that column is one string, the tags joined by the delimiter
  (``""``: the empty set);
* ``vendors.<v>.collect``: long format, one row per (item, annotator, tag) with the tag in the
  ``collect`` column; an annotator whose set is empty delivers one row with a null tag.

Items, days, the two batches of a vendor-day (the first 60% of its labels, then the rest; an
annotator's set never straddles them) and ``annotated_at`` are as in the other kinds'
simulators. Every ``bad_batch_every``-th vendor-day's second batch is broken: in its first
:math:`k = \max(1, \lfloor n/20 \rfloor)` labels the set gains the word ``not_a_tag`` (in no
vocabulary), and (list and delimited formats) the next :math:`k` labels have a null tag set;
validation has rows to quarantine. The same spec always gives the same data.
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
from pipeline.kinds.multilabel import GOLD
from pipeline.kinds.simulation import who_rates

if TYPE_CHECKING:
    from pipeline.config import TaskConfig, VendorConfig

__all__ = ["PROFILES", "TagProfile", "prevalences", "rare_tags", "simulate_multilabel"]

#: The word a broken batch adds to some tag sets: no vendor's or task's tag.
UNKNOWN_TAG = "not_a_tag"


@dataclass(frozen=True)
class TagProfile:
    """How one vendor's annotators tag: the share of an item's true tags they keep (``recall`` on
    the common half of the tags, ``rare_recall`` on the rarer half) and the chance they add a tag
    the item does not have (``false_positive``)."""

    name: str
    recall: float = 0.9
    rare_recall: float = 0.9
    false_positive: float = 0.03
    n_annotators: int = 6

    def recalls(self, k: int) -> np.ndarray:
        """Recall of each of ``k`` tags (in the task's order)."""
        return np.where(rare_tags(k), self.rare_recall, self.recall)


PROFILES = (
    TagProfile("thorough"),
    TagProfile("misses_rare", rare_recall=0.45),
    TagProfile("over_tagger", recall=0.85, rare_recall=0.85, false_positive=0.15),
)


def prevalences(k: int) -> np.ndarray:
    """:math:`p_t` of each of ``k`` tags: 0.45 for the first down to 0.08 for the last."""
    return np.linspace(0.45, 0.08, k) if k > 1 else np.full(k, 0.45)


def rare_tags(k: int) -> np.ndarray:
    """Which of ``k`` tags are the rarer half (:math:`t \\ge \\lceil k/2 \\rceil`)."""
    return np.arange(k) >= (k + 1) // 2


def _vendor_words(vendor: VendorConfig, tags: list[str]) -> list[str]:
    """The vendor's word for each canonical tag (its first word for it; else the tag itself)."""
    to_vendor = {c: v for v, c in reversed(list(vendor.labels.items()))}
    return [to_vendor.get(t, t) for t in tags]


def _unknown_word(vendor: VendorConfig, tags: list[str]) -> str:
    taken = set(tags) | set(vendor.labels) | set(vendor.labels.values())
    word = UNKNOWN_TAG
    while word in taken:
        word += "_"
    return word


def _tag_table(columns: dict[str, str], values: dict[str, Any], tag_column: str, tag_values: pa.Array) -> pa.Table:
    """A delivery: the vendor's columns in its config's order (``tag_column``: ``tag_values``)."""
    arrays: dict[str, pa.Array] = {}
    for vcol, target in columns.items():
        if vcol == tag_column:
            arrays[vcol] = tag_values
        elif target in values:
            arrays[vcol] = pa.array(values[target])
    if tag_column not in arrays:
        arrays[tag_column] = tag_values
    return pa.table(arrays)


def simulate_multilabel(task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                        spec: SimulationSpec) -> Simulated:
    """The multilabel kind's simulator (:meth:`pipeline.kinds.LabelKind.simulate`; module docstring)."""
    tags = list(task.labels or [])
    k = len(tags)
    prevalence = prevalences(k)
    deliveries: list[Delivery] = []
    bad: list[str] = []
    gold_items: list[str] = []
    gold_sets: list[list[str]] = []
    vendor_items = list(vendors.items())
    profiles = [PROFILES[i % len(PROFILES)] for i in range(len(vendor_items))]
    tag_names = np.array(tags, dtype=object)
    for day_index in range(spec.days):
        day = spec.start + timedelta(days=day_index)
        drng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal()])
        n = spec.items_per_day
        items = np.array([f"{task_name}-{day:%Y%m%d}-{i:05d}" for i in range(n)], dtype=object)
        is_gold = drng.random(n) < spec.gold_fraction
        truth = drng.random((n, k)) < prevalence  # (item, tag): the true sets
        gold_items += items[is_gold].tolist()
        gold_sets += [tag_names[row].tolist() for row in truth[is_gold]]
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        for v_index, ((vname, vendor), profile) in enumerate(zip(vendor_items, profiles)):
            n_ann = spec.annotators or profile.n_annotators
            vrng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal(), v_index])
            arng = np.random.default_rng([spec.seed, spec.task_index, v_index])  # the annotators' own rates
            recall = np.clip(profile.recalls(k)[None, :] + arng.normal(0, 0.03, (n_ann, 1)), 0.05, 0.99)
            false_positive = np.clip(profile.false_positive * (1 + arng.normal(0, 0.2, n_ann)), 0.001, 0.5)
            rows, annotator = who_rates(vrng, n, n_ann)
            draw = vrng.random((len(rows), k))
            answer = np.where(truth[rows], draw < recall[annotator], draw < false_positive[annotator][:, None])
            shared: dict[str, np.ndarray | pd.DatetimeIndex] = {
                "item_id": items[rows],
                "annotator_id": np.array([f"{vname}-r{a:02d}" for a in range(n_ann)], dtype=object)[annotator],
                "annotated_at": pd.DatetimeIndex(day_start + pd.to_timedelta(
                    np.sort(vrng.integers(6 * 3600, 22 * 3600, len(rows))), unit="s")),
            }
            words = np.array(_vendor_words(vendor, tags), dtype=object)
            sets: list[list[str] | None] = [words[a].tolist() for a in answer]
            collect = getattr(vendor, "collect", None)
            delimiter = (vendor.options or {}).get("delimiter")
            tag_column = collect or next((c for c, target in vendor.columns.items() if target == "tags"), None)
            if tag_column is None:
                raise ValueError(f"vendors.{vname}.columns: maps no column onto 'tags' (nor names one in collect)")
            cut = int(len(rows) * 0.6)
            for b, sl in enumerate((slice(0, cut), slice(cut, None))):
                batch_id = f"{vname}-{day:%Y%m%d}-{b + 1:02d}"
                part: dict[str, Any] = {key: value[sl] for key, value in shared.items()}
                m = len(part["item_id"])
                part["batch_id"] = np.full(m, batch_id, dtype=object)
                part["vendor"] = np.full(m, vname, dtype=object)
                given = list(sets[sl])
                vendor_day = day_index * len(vendor_items) + v_index
                if b == 1 and vendor_day % spec.bad_batch_every == spec.bad_batch_every - 1 and m >= 20:
                    j = max(1, m // 20)
                    unknown = _unknown_word(vendor, tags)
                    given[:j] = [[*(s or ()), unknown] for s in given[:j]]
                    if collect:  # long format: no null sets (a null tag row is the empty set)
                        what = "unknown_tag"
                    else:
                        given[j:2 * j] = [None] * j
                        what = "unknown_tag, null_label"
                    bad.append(f"{batch_id} ({what})")
                if collect:  # one row per (item, annotator, tag); an empty set: one null row
                    repeat = np.array([max(1, len(s or ())) for s in given])
                    index = np.repeat(np.arange(m), repeat)
                    part = {key: (value[index] if isinstance(value, np.ndarray) else value.take(index))
                            for key, value in part.items()}
                    values = pa.array([t for s in given for t in (s or (None,))], type=pa.string())
                elif delimiter is not None:
                    values = pa.array([None if s is None else str(delimiter).join(s) for s in given], type=pa.string())
                else:
                    values = pa.array(given, type=pa.list_(pa.string()))
                table = _tag_table(vendor.columns, part, tag_column, values)
                deliveries.append(Delivery(vname, day, batch_id, table))
    gold = pa.table({"task": pa.array([task_name] * len(gold_items), pa.string()),
                     "item_id": pa.array(gold_items, pa.string()),
                     "gold_tags": pa.array(gold_sets, pa.list_(pa.string()))}, schema=GOLD)
    return Simulated(deliveries, gold, bad)
