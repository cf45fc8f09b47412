"""``labelq summary``: the text never cuts a quarantine reason mid-value; ``--json`` holds the numbers on disk."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.publish import read_manifest
from pipeline.summary import DETAIL_CHARS, clip_reasons, reason_clauses, render_summary
from pipeline.storage import open_store

QUARANTINED = re.compile(r"^      quarantined (?P<file>\S+) \((?P<rows>[^)]*)\): (?P<reason>[a-z_]+): (?P<detail>.*)$")


def _reason_records(root) -> dict[str, dict]:
    """``file -> reason.json`` (plus its key) of every quarantined file under ``root``."""
    out = {}
    for p in sorted((root / "quarantine").glob("date=*/vendor=*/*.reason.json")):
        out[json.loads(p.read_text())["file"]] = {**json.loads(p.read_text()), "key": p.relative_to(root).as_posix()}
    return out


def _assert_whole_clauses(shown: str, record: dict) -> None:
    """``shown`` is the record's detail, or its first whole clauses plus ``(+N more, see <key>)``."""
    clauses = reason_clauses(record["detail"])
    for k in range(1, len(clauses) + 1):
        head = "; ".join(clauses[:k])
        rest = len(clauses) - k
        if shown == (head if not rest else f"{head} (+{rest} more, see {record['key']})"):
            return
    raise AssertionError(f"{record['file']}: {shown!r} is not whole clauses of {record['detail']!r}")


def test_reason_clauses_split_only_between_clauses():
    detail = ("f.parquet: column 'label': 2 row(s) unknown_label (rows [0, 3], values ['a; b', \"it's; x\"]); "
              "f.parquet: column 'annotator_id': 1 row(s) null_annotator_id (rows [7]); f.parquet: empty")
    clauses = reason_clauses(detail)
    assert clauses == ["f.parquet: column 'label': 2 row(s) unknown_label (rows [0, 3], values ['a; b', \"it's; x\"])",
                       "f.parquet: column 'annotator_id': 1 row(s) null_annotator_id (rows [7])", "f.parquet: empty"]
    assert "; ".join(clauses) == detail
    assert clip_reasons(detail, limit=10_000) == detail
    assert clip_reasons(detail, limit=10, see="r.json") == clauses[0] + " (+2 more, see r.json)"  # the first is never cut
    two = "; ".join(clauses[:2])
    assert clip_reasons(detail, limit=len(two), see="r.json") == two + " (+1 more, see r.json)"
    assert reason_clauses("") == [""] and clip_reasons("") == ""


@pytest.mark.parametrize("detail_chars", [None, 60])
def test_summary_never_cuts_a_reason_mid_value(processed, config, detail_chars):
    text = render_summary(config, open_store(processed)) if detail_chars is None else render_summary(config, open_store(processed), detail_chars=detail_chars)
    records = _reason_records(processed)
    lines = [m for m in map(QUARANTINED.match, text.splitlines()) if m]
    assert sorted(m["file"] for m in lines) == sorted(records) and len(records) >= 2
    assert any(len(r["detail"]) > 160 for r in records.values())  # the old cut at 160 characters would show
    for m in lines:
        record = records[m["file"]]
        assert m["reason"] == record["reason"]
        assert m["rows"] == f"{record['rows_quarantined']} of {record['rows']} rows"
        _assert_whole_clauses(m["detail"], record)
        if detail_chars is None and len(record["detail"]) <= DETAIL_CHARS:
            assert m["detail"] == record["detail"]  # it fits in the default 300 characters: in full
        elif detail_chars is None:  # a longer one shows its first whole clauses and where the rest is
            assert m["detail"] != record["detail"] and m["detail"].endswith(f"see {record['key']})")
    if detail_chars is None:
        assert any(len(r["detail"]) <= DETAIL_CHARS for r in records.values())
    if detail_chars:
        assert "more, see quarantine/date=" in text


def test_summary_json_holds_the_numbers_on_disk(processed, config, days, capsys):
    assert main(["summary", "--root", str(processed), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["tasks"]) == list(config.tasks)
    for name in config.tasks:
        _assert_task_summary(processed, name, data["tasks"][name], days)


def _assert_task_summary(processed, name: str, task: dict, days) -> None:
    assert [d["date"] for d in task["days"]] == [d.isoformat() for d in days]
    records = {f: r for f, r in _reason_records(processed).items() if r["task"] == name}
    assert records, name  # both simulators quarantine something
    for d, day in zip(days, task["days"]):
        folder = processed / "metrics" / name / f"date={d}"
        measured = json.loads((folder / "summary.json").read_text())
        assert day["measured"] is True
        for k in ("batches_staged", "batches_quarantined", "rows_in", "rows_staged", "rows_quarantined", "labels",
                  "items", "level", "agreement", "gold_accuracy"):
            assert day[k] == measured[k], k
        agreement = pd.read_parquet(folder / "agreement.parquet").query("scope == 'overall'")
        assert day["agreement_ci"] == {r.metric: [pytest.approx(r.ci_low), pytest.approx(r.ci_high)] for r in agreement.itertuples()}
        card = pd.read_parquet(processed / "scorecards" / name / f"date={d}" / "scorecard_vendor.parquet")
        assert day["sla"] == {r.vendor: {"status": r.sla_status, "detail": r.sla_detail} for r in card.itertuples()}
        expected = sorted((r for r in records.values() if r["date"] == d.isoformat()), key=lambda r: (r["vendor"], r["file"]))
        assert [q["file"] for q in day["quarantined"]] == [r["file"] for r in expected]
        for q, r in zip(day["quarantined"], expected):
            assert q["reason_file"] == r["key"]
            assert {k: q[k] for k in ("detail", "reason", "cause", "rows", "rows_quarantined", "row_reasons", "vendor")} == \
                   {k: r[k] for k in ("detail", "reason", "cause", "rows", "rows_quarantined", "row_reasons", "vendor")}
    assert sum(len(day["quarantined"]) for day in task["days"]) == len(records)
    latest = json.loads((processed / "curated" / name / "_latest.json").read_text())
    manifest = read_manifest(processed, name, "latest")
    published = task["published"]
    assert published["version"] == manifest["version"] == days[-1].isoformat()
    assert published["counts"] == manifest["counts"] and published["build"] == manifest["build"]
    assert published["content_sha256"] == latest["content_sha256"]
    assert published["path"].endswith(f"curated/{name}/{manifest['version']}.{manifest['build']}")


def test_summary_json_of_an_empty_root(tmp_path, config, capsys):
    (tmp_path / "landing").mkdir()
    assert main(["summary", "--root", str(tmp_path), "--json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tasks"] == {t: {"days": [], "published": None} for t in config.tasks}
