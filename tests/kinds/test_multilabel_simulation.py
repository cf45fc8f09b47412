"""The multilabel kind's simulator on its own: deterministic, each delivery format (list column,
delimited string, long rows), the vendors' vocabularies, gold share, the profiles' recall and
set sizes against the true (gold) sets, and the broken batches."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import TaskConfig, VendorConfig, parse_config
from pipeline.kinds import SimulationSpec, kind_names
from pipeline.kinds.multilabel import GOLD
from pipeline.kinds.multilabel_simulation import PROFILES, UNKNOWN_TAG, rare_tags, simulate_multilabel

START = date(2026, 11, 1)
TAGS = ["toxic", "spam", "off_topic", "pii", "self_harm", "medical"]
SHARED = {"item": "item_id", "rater": "annotator_id", "at": "annotated_at", "batch": "batch_id"}

RAW = {
    "tasks": {"safety": {"kind": "multilabel", "labels": TAGS, "consensus": "dawid_skene", "options": {"threshold": 0.5}}},
    "vendors": {
        # thorough: list<string> column, its own words for two tags
        "listy": {"task": "safety", "landing": "landing/listy", "columns": {**SHARED, "flags": "tags"},
                  "labels": {"Toxic": "toxic", "SPAM": "spam"}},
        # misses_rare: one delimited string
        "joined": {"task": "safety", "landing": "landing/joined", "columns": {**SHARED, "flags": "tags"},
                   "labels": {"tox": "toxic", "phi": "pii", "med": "medical"}, "options": {"delimiter": ";"}},
        # over_tagger: long format, one row per tag
        "long": {"task": "safety", "landing": "landing/long", "columns": {**SHARED, "flag": "tags"},
                 "labels": {"T": "toxic", "S": "spam", "O": "off_topic", "P": "pii", "H": "self_harm", "M": "medical"},
                 "collect": "flag"},
    },
}


def _configs() -> tuple[str, TaskConfig, dict[str, VendorConfig]]:
    """The task and vendors through pipeline.config: the whole config once the multilabel kind is
    registered; until then (the kind is being written) the task built as a classification task
    relabelled ``multilabel`` (the simulator reads only its ``labels``) and each vendor validated
    on its own (VendorConfig checks ``collect`` itself)."""
    if "multilabel" in kind_names():
        config = parse_config(RAW)
        return "safety", config.tasks["safety"], config.vendors_for("safety")
    raw = RAW["tasks"]["safety"]
    task = TaskConfig(labels=raw["labels"]).model_copy(
        update={"kind": "multilabel", "consensus": raw["consensus"], "options": raw["options"]})
    return "safety", task, {name: VendorConfig(**v) for name, v in RAW["vendors"].items()}


SPEC = SimulationSpec(seed=7, task_index=0, start=START, days=4, items_per_day=600, gold_fraction=0.25)


@pytest.fixture(scope="module")
def sim():
    name, task, vendors = _configs()
    return simulate_multilabel(name, task, vendors, SPEC)


def _sets(sim, vendor: str, good_only: bool = True) -> dict[tuple[str, str], frozenset[str]]:
    """(item, annotator) -> canonical tag set of ``vendor``'s deliveries (broken batches skipped)."""
    _, _, vendors = _configs()
    cfg = vendors[vendor]
    to_canon = dict(cfg.labels)
    broken = {b.split(" ")[0] for b in sim.bad_batches}
    out: dict[tuple[str, str], set[str]] = {}
    for d in sim.deliveries:
        if d.vendor != vendor or (good_only and d.name in broken):
            continue
        rows = d.table.to_pylist()
        for r in rows:
            key = (r["item"], r["rater"])
            if cfg.collect:
                s = out.setdefault(key, set())
                if r["flag"] is not None:
                    s.add(to_canon.get(r["flag"], r["flag"]))
            elif r["flags"] is None:  # a broken batch's null set
                out[key] = set()
            elif cfg.options.get("delimiter"):
                out[key] = {to_canon.get(w, w) for w in r["flags"].split(";") if w}
            else:
                out[key] = {to_canon.get(w, w) for w in r["flags"]}
    return {k: frozenset(v) for k, v in out.items()}


def _gold(sim) -> dict[str, frozenset[str]]:
    return {r["item_id"]: frozenset(r["gold_tags"]) for r in sim.gold.to_pylist()}


def test_same_spec_same_tables(sim):
    name, task, vendors = _configs()
    again = simulate_multilabel(name, task, vendors, SPEC)
    assert sim.gold.equals(again.gold)
    assert sim.bad_batches == again.bad_batches
    assert [(d.vendor, d.day, d.name) for d in sim.deliveries] == [(d.vendor, d.day, d.name) for d in again.deliveries]
    assert all(a.table.equals(b.table) for a, b in zip(sim.deliveries, again.deliveries))
    other = simulate_multilabel(name, task, vendors, SimulationSpec(**{**SPEC.__dict__, "task_index": 1}))
    assert not sim.gold.equals(other.gold)


def test_each_vendor_delivers_its_format(sim):
    by_vendor = {}
    for d in sim.deliveries:
        by_vendor.setdefault(d.vendor, []).append(d)
    # two batches per vendor-day
    assert {v: len(ds) for v, ds in by_vendor.items()} == {"listy": 2 * SPEC.days, "joined": 2 * SPEC.days,
                                                          "long": 2 * SPEC.days}
    for d in by_vendor["listy"]:
        assert d.table.schema.field("flags").type == pa.list_(pa.string())
        assert d.table.column_names == ["item", "rater", "at", "batch", "flags"]
        assert pa.types.is_timestamp(d.table.schema.field("at").type)
        assert [] in d.table.column("flags").to_pylist()  # the empty set, explicit
    for d in by_vendor["joined"]:
        assert d.table.schema.field("flags").type == pa.string()
        assert "" in d.table.column("flags").to_pylist()
        assert any(";" in (s or "") for s in d.table.column("flags").to_pylist())
    for d in by_vendor["long"]:
        assert d.table.schema.field("flag").type == pa.string()
        rows = d.table.to_pylist()
        keys = [(r["item"], r["rater"]) for r in rows]
        assert len(set(keys)) < len(keys)  # several rows of one (item, annotator)
        # every (item, annotator)'s rows are adjacent, and a null tag is alone (the empty set)
        runs = {}
        for key, r in zip(keys, rows):
            runs.setdefault(key, []).append(r["flag"])
        assert sum(len(v) for v in runs.values()) == len(rows)
        assert [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k] == list(runs)
        assert any(v == [None] for v in runs.values())
        assert all(None not in v or v == [None] for v in runs.values())
        assert len({r["batch"] for r in rows}) == 1


def test_vendor_vocabulary_is_used(sim):
    seen: dict[str, set[str]] = {}
    for d in sim.deliveries:
        col = "flag" if d.vendor == "long" else "flags"
        values = d.table.column(col).to_pylist()
        words = seen.setdefault(d.vendor, set())
        for v in values:
            if v is None:
                continue
            words.update(v if isinstance(v, list) else (v.split(";") if d.vendor == "joined" else [v]))
    words = {v: w - {"", UNKNOWN_TAG} for v, w in seen.items()}
    assert words["listy"] == {"Toxic", "SPAM", "off_topic", "pii", "self_harm", "medical"}
    assert words["joined"] == {"tox", "spam", "off_topic", "phi", "self_harm", "med"}
    assert words["long"] == {"T", "S", "O", "P", "H", "M"}


def test_gold_share_and_schema(sim):
    assert sim.gold.schema.equals(GOLD)
    assert sim.gold.column("task").to_pylist() == ["safety"] * sim.gold.num_rows
    share = sim.gold.num_rows / (SPEC.days * SPEC.items_per_day)
    assert abs(share - SPEC.gold_fraction) < 0.03
    gold = _gold(sim)
    assert frozenset() in gold.values()  # the empty set happens
    assert all(s <= set(TAGS) for s in gold.values())
    # the first tag is the most common, the last the rarest
    counts = [sum(t in s for s in gold.values()) / len(gold) for t in TAGS]
    assert counts[0] > 0.35 and counts[-1] < 0.15


def _recall(sim, vendor: str, tags: list[str]) -> float:
    gold = _gold(sim)
    hits = total = 0
    for (item, _), given in _sets(sim, vendor).items():
        if item in gold:
            for t in tags:
                if t in gold[item]:
                    total += 1
                    hits += t in given
    assert total > 50
    return hits / total


def test_profiles_differ_as_designed(sim):
    assert [p.name for p in PROFILES] == ["thorough", "misses_rare", "over_tagger"]
    rare = [t for t, r in zip(TAGS, rare_tags(len(TAGS))) if r]
    common = [t for t in TAGS if t not in rare]
    assert rare == ["pii", "self_harm", "medical"]
    thorough, misses = _recall(sim, "listy", rare), _recall(sim, "joined", rare)
    assert thorough > 0.8 and misses < 0.6 and thorough - misses > 0.25
    assert _recall(sim, "joined", common) > 0.8  # only the rare tags are missed
    size = {v: np.mean([len(s) for s in _sets(sim, v).values()]) for v in ("listy", "joined", "long")}
    assert size["long"] > size["listy"] + 0.3 and size["long"] > size["joined"]
    # two annotators on some items, each vendor on ~80% of them
    pairs = _sets(sim, "listy", good_only=False)
    items = [i for i, _ in pairs]
    assert len(items) > len(set(items))
    assert 0.7 < len(set(items)) / (SPEC.days * SPEC.items_per_day) < 0.9


def test_bad_batches_hold_unknown_tags_and_nulls(sim):
    assert sim.bad_batches
    broken = {b.split(" ")[0]: b for b in sim.bad_batches}
    assert all(name.endswith("-02") for name in broken)
    by_name = {d.name: d for d in sim.deliveries}
    assert set(broken) <= set(by_name)
    formats = set()
    for name, label in broken.items():
        d = by_name[name]
        formats.add(d.vendor)
        col = d.table.column("flag" if d.vendor == "long" else "flags").to_pylist()
        if d.vendor == "long":
            assert UNKNOWN_TAG in col and label.endswith("(unknown_tag)")
        elif d.vendor == "joined":
            assert any(v is not None and UNKNOWN_TAG in v.split(";") for v in col) and None in col
            assert label.endswith("(unknown_tag, null_label)")
        else:
            assert any(v is not None and UNKNOWN_TAG in v for v in col) and None in col
            assert label.endswith("(unknown_tag, null_label)")
    assert len(formats) >= 2
    good = [d for d in sim.deliveries if d.name not in broken]
    for d in good:
        col = d.table.column("flag" if d.vendor == "long" else "flags").to_pylist()
        assert UNKNOWN_TAG not in str(col)
        if d.vendor != "long":
            assert None not in col
