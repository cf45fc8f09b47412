"""The history contract (pipeline.history): a version lists exactly the days it read; days run out
of order, late deliveries, empty days, partial earlier days and concurrent runs publish what
running the days in order publishes, or fail with a message naming the command to run (other
orders and concurrent runs: test_history_orders.py)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta

import pytest

from helpers.history import builds
from pipeline import steps
from pipeline.cli import main
from pipeline.history import HistoryGap, gaps, resolve, stale_versions
from pipeline.publish import list_versions, read_manifest
from pipeline.storage import Store, open_store

TASK = "sentiment"


def run_cli(*args: str) -> int:
    return main([*args, "-q"])


def test_versions_list_exactly_the_days_they_read(processed, days):
    for i, d in enumerate(days):
        m = read_manifest(processed, TASK, d.isoformat())
        assert m["days"] == [x.isoformat() for x in days[: i + 1]]
        assert m["data_interval"] == {"start": days[0].isoformat(), "end": (d + timedelta(days=1)).isoformat()}
        assert m["inputs_sha256"] == resolve(Store(processed), TASK, d).inputs_sha256
    assert stale_versions(Store(processed), TASK) == []


@pytest.mark.slow
def test_a_day_run_before_an_unprocessed_earlier_day_is_refused(fresh_copy, days, in_order, capsys):
    d1, d2, d3 = (d.isoformat() for d in days)
    assert run_cli("run", "--root", str(fresh_copy), "--date", d1) == 0
    capsys.readouterr()
    assert run_cli("run", "--root", str(fresh_copy), "--date", d3) == 1
    err = capsys.readouterr().err
    assert f"{d2}: acme, bluepeak, crowdly" in err and f"`labelq run --date {d2} --days 2`" in err
    assert list_versions(fresh_copy, TASK) == [d1]  # nothing published from a history with a hole
    assert run_cli("run", "--root", str(fresh_copy), "--date", d2) == 0
    assert run_cli("run", "--root", str(fresh_copy), "--date", d3) == 0
    assert builds(fresh_copy) == in_order


def test_a_partially_validated_earlier_day_is_refused(fresh_copy, config, days):
    steps.run_day(config, open_store(fresh_copy), days[0])
    steps.ingest(config, open_store(fresh_copy), days[1], "acme")
    steps.validate(config, open_store(fresh_copy), days[1], "acme")
    for v in config.vendors_for(TASK):
        steps.ingest(config, open_store(fresh_copy), days[2], v)
        steps.validate(config, open_store(fresh_copy), days[2], v)
    assert gaps(config, Store(fresh_copy), TASK, days[2]) == {days[1].isoformat(): ["bluepeak", "crowdly"]}
    with pytest.raises(HistoryGap, match=f"{days[1]}: bluepeak, crowdly"):
        steps.merge(config, open_store(fresh_copy), days[2], TASK)
    with pytest.raises(HistoryGap):
        steps.measure(config, open_store(fresh_copy), days[2], TASK)
    assert not (fresh_copy / "consensus" / TASK / f"date={days[2]}").exists()


@pytest.mark.slow
def test_a_late_delivery_republishes_the_later_versions(fresh_copy, days, in_order, capsys, caplog):
    """Day 2's files arrive after day 3 was published: running day 2 re-publishes version 3."""
    d1, d2, d3 = (d.isoformat() for d in days)
    held = fresh_copy.parent / "held"
    for vendor in ("acme", "bluepeak", "crowdly"):
        (held / vendor).mkdir(parents=True)
        shutil.move(fresh_copy / "landing" / vendor / d2, held / vendor / d2)
    assert run_cli("run", "--root", str(fresh_copy), "--date", d1, "--days", "3") == 0
    out = capsys.readouterr()
    assert f"skipped: no vendor of task 'sentiment' delivered anything on {d2}" in out.out
    assert list_versions(fresh_copy, TASK) == [d1, d3]
    for vendor in ("acme", "bluepeak", "crowdly"):
        shutil.move(held / vendor / d2, fresh_copy / "landing" / vendor / d2)
    # the late files are visible before anything runs, and refused by a run of a later day
    assert run_cli("status", "--root", str(fresh_copy)) == 0
    assert f"{d2}" in (status := capsys.readouterr().out) and "delivered, not processed: acme, bluepeak, crowdly" in status
    assert run_cli("run", "--root", str(fresh_copy), "--date", d3) == 1
    capsys.readouterr()
    # --no-refresh: day 2 is published, version 3 is reported stale and left alone; the publish
    # step itself (what the DAG runs) warns, naming the backfill that rebuilds it
    with caplog.at_level("WARNING", logger="labelq"):
        assert run_cli("run", "--root", str(fresh_copy), "--date", d2, "--no-refresh") == 1
    assert f"later version(s) {d3} are stale" in capsys.readouterr().err
    assert any(f"later version(s) {d3} were built without this day's current data" in r.getMessage()
               and f"--from-date {d3} --to-date {d3}" in r.getMessage() for r in caplog.records)
    assert [s["version"] for s in stale_versions(Store(fresh_copy), TASK)] == [d3]
    assert run_cli("status", "--root", str(fresh_copy), "--json") == 0
    st = json.loads(capsys.readouterr().out)[0]
    assert st["stale"] == [d3] and st["latest"] == d3 and st["latest_stale"] is True
    # a plain run re-publishes it: the same bytes as running the days in order
    assert run_cli("run", "--root", str(fresh_copy), "--date", d2) == 0
    assert f"re-published sentiment version {d3}" in capsys.readouterr().err
    assert builds(fresh_copy) == in_order
    assert stale_versions(Store(fresh_copy), TASK) == []


@pytest.mark.slow
def test_a_day_without_deliveries_publishes_nothing_unless_allowed(fresh_copy, days, capsys):
    d1, d2, d3 = (d.isoformat() for d in days)
    for vendor in ("acme", "bluepeak", "crowdly"):
        shutil.rmtree(fresh_copy / "landing" / vendor / d3)
    assert run_cli("run", "--root", str(fresh_copy), "--date", d1, "--days", "3") == 0
    assert f"skipped: no vendor of task 'sentiment' delivered anything on {d3}" in capsys.readouterr().out
    assert list_versions(fresh_copy, TASK) == [d1, d2]
    assert not (fresh_copy / "metrics" / TASK / f"date={d3}").exists()
    assert run_cli("run", "--root", str(fresh_copy), "--date", d3, "--allow-empty") == 0
    v2, v3 = read_manifest(fresh_copy, TASK, d2), read_manifest(fresh_copy, TASK, d3)
    assert v3["content_sha256"] == v2["content_sha256"]  # the same data, as a version of its own
    assert v3["days"] == [d1, d2, d3] and v3["data_interval"] == {"start": d1, "end": (days[2] + timedelta(days=1)).isoformat()}


def test_a_staged_file_missing_from_its_partition_is_an_error_not_a_silent_drop(processed, tmp_path, days):
    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    victim = sorted((root / "staged" / TASK / f"date={days[0]}" / "vendor=acme").glob("*.parquet"))[0]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=rf"{victim.name}: staged rows of landing/acme/{days[0]}/.* are missing.*"
                                                rf"`labelq run --date {days[0]}`"):
        resolve(Store(root), TASK, days[1])
