"""Idempotence: content addressing by SHA-256, explicit supersession, re-runs change nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import parse_config
from pipeline.history import resolve
from pipeline.ingest.ledger import read_ledger
from pipeline.storage import Store, open_store
from helpers.deliveries import CONFIG, acme

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


@pytest.fixture(scope="module")
def cfg():
    """The hostile-test config, with acme shipping its batch id in a ``batch`` column."""
    vendors = {**CONFIG["vendors"], "acme": {**CONFIG["vendors"]["acme"],
                                             "columns": {**CONFIG["vendors"]["acme"]["columns"], "batch": "batch_id"}}}
    return parse_config({**CONFIG, "vendors": vendors})


def deliver(root: Path, day: date, name: str, table) -> Path:
    folder = root / "landing" / "acme" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name


def run(cfg, root: Path, day: date) -> dict:
    steps.ingest(cfg, open_store(root), day, "acme")
    steps.validate(cfg, open_store(root), day, "acme")
    return report(root, day)


def report(root: Path, day: date) -> dict:
    return json.loads((root / "staged" / "sentiment" / f"date={day}" / "vendor=acme" / "_validate.json").read_text())


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "landing" not in p.parts}


def deliveries(root: Path, until: date) -> dict[tuple[str, str], dict]:
    """``{(date, file name): delivery}`` of the acme history as of ``until`` (pipeline.history)."""
    hist = resolve(Store(root), "sentiment", until)
    return {(d["date"], d["file"].rsplit("/", 1)[-1]): d for d in hist.deliveries}


def partition_digest(root: Path, day: date) -> dict[str, str]:
    """SHA-256 of every file of ``day``'s ingested, staged, quarantine and ledger partitions."""
    return {k: v for k, v in tree_digest(root).items() if f"date={day}" in k}


def test_redelivery_under_another_name_on_another_day_is_a_recorded_noop(cfg, tmp_path):
    root = tmp_path / "data"
    first = deliver(root, D1, "b1.parquet", acme(10, batch="b1"))
    run(cfg, root, D1)
    (root / "landing" / "acme" / D2.isoformat()).mkdir(parents=True)
    (root / "landing" / "acme" / D2.isoformat() / "renamed.parquet").write_bytes(first.read_bytes())
    run(cfg, root, D2)  # day-local: D2 is validated on its own ...
    d = deliveries(root, D2)[(D2.isoformat(), "renamed.parquet")]  # ... and the history withdraws the repeat
    assert d["resolution"] == "duplicate_file" and d["resolved_by"]["file"] == f"landing/acme/{D1}/b1.parquet"
    assert d["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest() and d["rows_used"] == 0
    assert len(steps.read_staged(open_store(root), "sentiment", until=D2)) == 10  # counted once
    assert resolve(Store(root), "sentiment", D2).withdrawn["duplicate_file"] == 10


def test_corrected_redelivery_supersedes_the_old_batch_explicitly(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, D1, "b1.parquet", acme(10, answer=["POS"] * 10, batch="b1"))
    deliver(root, D1, "b2.parquet", acme(6, start=100, batch="b2"))
    assert run(cfg, root, D1)["rows_staged"] == 16
    day1 = partition_digest(root, D1)
    deliver(root, D2, "b1-fixed.parquet", acme(10, answer=["NEG"] * 10, batch="b1"))  # same batch id, new bytes
    r2 = run(cfg, root, D2)
    assert r2["rows_staged"] == 10 and r2["batches_staged"] == 1  # not duplicates of the rows it replaces
    assert partition_digest(root, D1) == day1  # processing D2 never rewrites D1's partitions
    hist = deliveries(root, D2)
    old, new = hist[(D1.isoformat(), "b1.parquet")], hist[(D2.isoformat(), "b1-fixed.parquet")]
    assert old["resolution"] == "superseded" and old["resolved_by"]["file"] == f"landing/acme/{D2}/b1-fixed.parquet"
    assert new["resolution"] == "used" and new["rows_used"] == 10
    staged = steps.read_staged(open_store(root), "sentiment", until=D2)
    assert len(staged) == 16 and set(staged.loc[staged["batch_id"] == "b1", "label"]) == {"negative"}
    as_of_d1 = steps.read_staged(open_store(root), "sentiment", until=D1)  # the history as it stood on D1 is unchanged
    assert len(as_of_d1) == 16 and set(as_of_d1.loc[as_of_d1["batch_id"] == "b1", "label"]) == {"positive"}
    ledger = {(e["date"], e["file"].rsplit("/", 1)[-1]): e for e in read_ledger(Store(root), "acme")}
    assert ledger[(D2.isoformat(), "b1-fixed.parquet")]["staged_output"] == \
        f"staged/sentiment/date={D2}/vendor=acme/b1-fixed.parquet"
    # re-running either day keeps the same outcome
    before = tree_digest(root)
    run(cfg, root, D1)
    run(cfg, root, D2)
    assert tree_digest(root) == before


def test_rows_already_staged_from_another_batch_are_withdrawn(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, D1, "b1.parquet", acme(10, batch="b1"))
    run(cfg, root, D1)
    deliver(root, D2, "b9.parquet", acme(10, start=6, batch="b9"))  # rows 6..9 repeat (item, annotator) pairs
    assert run(cfg, root, D2)["rows_staged"] == 10  # day-local
    b9 = deliveries(root, D2)[(D2.isoformat(), "b9.parquet")]
    assert (b9["rows_staged"], b9["rows_used"], b9["rows_duplicate_pair"]) == (10, 6, 4)
    staged = steps.read_staged(open_store(root), "sentiment", until=D2)
    assert len(staged) == 16 and not staged.duplicated(["vendor", "item_id", "annotator_id"]).any()
    first = staged[staged["batch_id"] == "b1"]
    assert len(first) == 10  # the first label of a pair counts
    assert len(steps.read_staged(open_store(root), "sentiment", day=D2)) == 6


def test_rows_already_staged_from_another_batch_the_same_day_are_quarantined(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, D1, "b1.parquet", acme(10, batch="b1"))
    deliver(root, D1, "b9.parquet", acme(10, start=6, batch="b9"))
    r = run(cfg, root, D1)
    e = {b["batch_id"]: b for b in r["batches"]}["b9"]
    assert (e["rows_staged"], e["rows_quarantined"], e["row_reasons"]) == (6, 4, {"duplicate_staged": 4})
    assert "4 row(s) duplicate_staged (rows [0, 1, 2, 3])" in e["detail"]


def test_days_processed_out_of_order_stage_and_resolve_the_same(cfg, tmp_path):
    """Day-local stages: D2 before D1 gives the same partitions and history as D1 then D2."""
    roots = {}
    for order in ("in_order", "reversed"):
        root = tmp_path / order / "data"
        deliver(root, D1, "b1.parquet", acme(10, answer=["POS"] * 10, batch="b1"))
        deliver(root, D1, "b2.parquet", acme(6, start=100, batch="b2"))
        deliver(root, D2, "b1-fixed.parquet", acme(10, answer=["NEG"] * 10, batch="b1"))
        deliver(root, D2, "copy.parquet", acme(6, start=100, batch="b2"))  # same bytes as b2: a repeat
        deliver(root, D2, "b9.parquet", acme(8, start=200, batch="b9"))
        for d in ([D1, D2] if order == "in_order" else [D2, D1]):
            run(cfg, root, d)
        roots[order] = root
    assert tree_digest(roots["in_order"]) == tree_digest(roots["reversed"])
    a = steps.read_staged(open_store(roots["in_order"]), "sentiment", until=D2)
    b = steps.read_staged(open_store(roots["reversed"]), "sentiment", until=D2)
    assert a.equals(b) and len(a) == 6 + 10 + 8


def test_rerunning_a_day_changes_nothing(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, D1, "a.parquet", acme(12, batch="a"))
    deliver(root, D1, "b.parquet", acme(8, start=50, answer=["POS"] * 7 + ["??"], batch="b"))
    (root / "landing" / "acme" / D1.isoformat() / "c.parquet").write_bytes(b"garbage")
    run(cfg, root, D1)
    before = tree_digest(root)
    assert any(k.startswith("ledger/") for k in before) and any(k.endswith(".validation.json") for k in before)
    run(cfg, root, D1)
    assert tree_digest(root) == before


def test_same_day_redelivery_of_a_batch_supersedes_the_earlier_file(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, D1, "x-1.parquet", acme(4, answer=["POS"] * 4, batch="x"))
    deliver(root, D1, "x-2.parquet", acme(4, answer=["NEU"] * 4, batch="x"))
    r = run(cfg, root, D1 + timedelta(days=0))
    status = {b["file"].rsplit("/", 1)[-1]: b["status"] for b in r["batches"]}
    assert status == {"x-1.parquet": "superseded", "x-2.parquet": "staged"} and r["rows_staged"] == 4
