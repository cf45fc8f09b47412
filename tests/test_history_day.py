"""pipeline.history: the day-local read (resolve_day) equals the full resolution's day, whatever the history holds."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import parse_config
from pipeline.history import resolve, resolve_day
from pipeline.kinds import get_kind
from pipeline.storage import Store, open_store
from helpers.deliveries import CONFIG, acme
from helpers.history import as_objects

D = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def cfg():
    """The hostile-test config with acme's batch id in a ``batch`` column, and a second vendor."""
    acme_cfg = {**CONFIG["vendors"]["acme"], "columns": {**CONFIG["vendors"]["acme"]["columns"], "batch": "batch_id"}}
    return parse_config({**CONFIG, "vendors": {"acme": acme_cfg, "zeta": {**acme_cfg, "landing": "landing/zeta"}}})


def _deliver(root: Path, vendor: str, day: date, name: str, table) -> None:
    folder = root / "landing" / vendor / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)


def _assert_day_equals_full(root: Path, until: date) -> pd.DataFrame:
    schema = get_kind("classification").annotations
    full = resolve(Store(root), "sentiment", until, schema=schema).day(until)
    local = resolve_day(Store(root), "sentiment", until, schema=schema)
    pd.testing.assert_frame_equal(local, full)
    compact = resolve_day(Store(root), "sentiment", until, schema=schema, compact=True)  # integer codes, same rows
    full_compact = resolve(Store(root), "sentiment", until, schema=schema, compact=True).day(until)
    assert all(isinstance(compact[c].dtype, pd.CategoricalDtype) for c in ("item_id", "vendor", "annotator_id", "label"))
    pd.testing.assert_frame_equal(as_objects(compact), as_objects(full))
    pd.testing.assert_frame_equal(as_objects(full_compact), as_objects(full))
    return local


def test_resolve_day_equals_the_full_resolution_on_a_hostile_history(cfg, tmp_path):
    root = tmp_path / "data"
    _deliver(root, "acme", D[0], "b1.parquet", acme(10, batch="b1"))
    _deliver(root, "acme", D[0], "b2.parquet", acme(6, start=100, batch="b2"))
    _deliver(root, "zeta", D[0], "z1.parquet", acme(8, batch="z1"))  # same item/worker names, another vendor
    _deliver(root, "acme", D[1], "b9.parquet", acme(10, start=6, batch="b9"))  # rows 6..9 repeat day-1 pairs
    _deliver(root, "acme", D[1], "b2-fixed.parquet", acme(6, start=100, answer=["NEG"] * 6, batch="b2"))  # supersedes
    (root / "landing" / "acme" / D[2].isoformat()).mkdir(parents=True)
    (root / "landing" / "acme" / D[2].isoformat() / "again.parquet").write_bytes(
        (root / "landing" / "acme" / D[1].isoformat() / "b9.parquet").read_bytes())  # a duplicate file
    _deliver(root, "zeta", D[2], "z2.parquet", acme(8, start=4, batch="z2"))  # rows 4..7 repeat zeta's day 1 (not acme's)
    _deliver(root, "acme", D[3], "b1-fixed.parquet", acme(10, answer=["NEU"] * 10, batch="b1"))  # supersedes day 1's b1
    _deliver(root, "acme", D[3], "b4.parquet", acme(6, start=14, batch="b4"))  # rows 14, 15 repeat b9 (day 2)
    for d in D:
        for vendor in ("acme", "zeta"):
            steps.ingest(cfg, open_store(root), d, vendor)
            steps.validate(cfg, open_store(root), d, vendor)
    got = {d: _assert_day_equals_full(root, d) for d in D}
    assert len(got[D[0]]) == 10 + 6 + 8
    assert len(got[D[1]]) == 6 + 6  # b9's rows 6..9 repeat b1's pairs; b2-fixed supersedes b2 and counts whole
    assert len(got[D[2]]) == 4 and set(got[D[2]]["vendor"]) == {"zeta"}  # again.parquet is a duplicate file
    # b1-fixed supersedes b1, so b9's rows 6..9 now count first and b1-fixed's 6..9 are the repeats
    day4 = got[D[3]]
    assert len(day4) == 6 + 4 and (day4["batch_id"] == "b1").sum() == 6 and set(day4.loc[day4["batch_id"] == "b1", "label"]) == {"neutral"}


def test_resolve_day_equals_the_full_resolution_on_the_simulated_history(processed, config, days):
    for d in days:
        local = _assert_day_equals_full(processed, d)
        assert len(local) and set(local["vendor"]) <= set(config.vendors_for("sentiment"))


@pytest.mark.parametrize("method", ["majority_vote", "weighted_vote", "dawid_skene", "one_coin_dawid_skene", "mace"])
def test_a_compact_history_merges_to_the_same_consensus_and_lineage(processed, config, days, method):
    """The merge reads a classification history compact (categoricals): consensus, confidence and
    lineage equal those of the same history as strings."""
    from pipeline.merge.lineage import contributing_vendors, merge_order, source_batches
    from pipeline.steps import read_gold

    tcfg = config.tasks["sentiment"].model_copy(update={"consensus": method})
    kind = tcfg.label_kind
    gold = read_gold(Store(processed), "sentiment", kind=kind)
    out = []
    for compact in (False, True):
        ann = resolve(Store(processed), "sentiment", days[-1], schema=kind.annotations, compact=compact).annotations
        if compact:
            assert isinstance(ann["item_id"].dtype, pd.CategoricalDtype)
        ann = ann.sort_values(merge_order(kind), kind="stable", ignore_index=True)
        result = kind.consensus(ann, gold, tcfg)
        result["vendors"] = contributing_vendors(ann, result["item_id"])
        result["source_batches"] = source_batches(ann, result["item_id"]).to_pylist()
        out.append((as_objects(result), as_objects(ann)))
    (strings, ann_s), (compact, ann_c) = out
    pd.testing.assert_frame_equal(ann_c, ann_s)  # the same rows in the same canonical order
    pd.testing.assert_frame_equal(compact, strings)
    assert len(strings) > 100 and strings["vendors"].str.contains(",").any()


def test_the_compact_read_is_exact_on_files_of_many_row_groups_and_another_column_order(processed, days, tmp_path):
    """Each row group of a staged file has its own dictionary (Arrow hands every batch of a row
    group that group's dictionary object): a file of many small row groups gives many segments,
    each mapped through its own dictionary; a file whose columns are in another order than the
    kind's schema is read through the cast path."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(processed, root)
    staged = sorted((root / "staged").rglob("*.parquet"))
    assert staged
    for i, path in enumerate(staged):
        table = pq.read_table(path)
        if i % 2:  # another column order: the schema check fails and the file is cast on read
            table = table.select(list(reversed(table.column_names)))
        pq.write_table(table, path, row_group_size=7, write_batch_size=3)
    assert pq.ParquetFile(staged[0]).num_row_groups > 1
    for d in days:
        _assert_day_equals_full(root, d)
