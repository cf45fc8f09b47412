"""SLA checks in the DAG: one check per (task, vendor), a breach fails only its own check,
the run still succeeds, and the failure callback alerts a webhook."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from helpers import REPO
from helpers.e2e_stack import webhook as serve_webhook

DAG_FILE = REPO / "dags" / "labelq_daily.py"


@pytest.fixture
def webhook() -> Iterator[SimpleNamespace]:
    with serve_webhook() as hook:
        yield hook


# --------------------------------------------------------------------------- structure
@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FILE.parent))
    assert bag.import_errors == {}
    return bag.dags["labelq_daily"]


def test_check_sla_is_mapped_per_vendor_after_scorecard_and_does_not_block_report(dag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from pipeline.runtime import sla_alert

    check = dag.get_task("check_sla")
    assert isinstance(check, MappedOperator)
    assert check.map_index_template == "{{ task_name }}/{{ vendor }}"
    assert check.upstream_task_ids == {"sla_checks"}
    assert dag.get_task("sla_checks").upstream_task_ids == {"scorecard"}
    assert dag.get_task("report").upstream_task_ids == {"scorecard"}  # report never waits for the checks
    callbacks = check.on_failure_callback
    assert (callbacks if isinstance(callbacks, list) else [callbacks]) == [sla_alert]
    assert check.retries >= 1  # transient errors are retried; a breach is raised as AirflowFailException


def test_run_state_is_decided_by_report_and_an_all_done_summary(dag):
    from airflow.sdk import TriggerRule

    summary = dag.get_task("sla_summary")
    assert summary.trigger_rule == TriggerRule.ALL_DONE
    assert summary.upstream_task_ids == {"check_sla"}
    assert {t.task_id for t in dag.leaves} == {"report", "sla_summary"}
    assert all(t.trigger_rule == TriggerRule.ALL_SUCCESS for t in dag.tasks if t.task_id != "sla_summary")


def test_publish_and_merge_run_in_date_order(dag):
    assert dag.get_task("publish").depends_on_past
    assert dag.get_task("merge").depends_on_past
    assert not dag.get_task("check_sla").depends_on_past


# --------------------------------------------------------------------------- a real run on SQLite
@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow-sla")
    res = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                         env=dict(os.environ, AIRFLOW_HOME=str(home)), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return home


@pytest.fixture(scope="module")
def sla_run(migrated_home, simulated, tmp_path_factory, days) -> Iterator[SimpleNamespace]:
    """``dag.test()`` of the first simulated day (crowdly breaches its SLA) with the webhook set."""
    with serve_webhook() as webhook:
        root = tmp_path_factory.mktemp("sla-run") / "data"
        shutil.copytree(simulated, root)
        day = days[0]
        code = f"""
            import datetime, json, runpy
            dag = runpy.run_path({str(DAG_FILE)!r})['labelq_daily']()
            run = dag.test(logical_date=datetime.datetime({day.year}, {day.month}, {day.day}, tzinfo=datetime.timezone.utc))
            tis = [[ti.task_id, ti.map_index, ti.rendered_map_index, str(ti.state)] for ti in run.get_task_instances()]
            print('RESULT ' + json.dumps({{"state": str(run.state), "run_id": run.run_id, "tis": tis}}))
            """
        env = dict(os.environ, AIRFLOW_HOME=str(migrated_home), LABELQ_ROOT=str(root), LABELQ_ALERT_WEBHOOK=webhook.url)
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                             timeout=600)
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-4000:]
        (result,) = [json.loads(line.removeprefix("RESULT ")) for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        yield SimpleNamespace(day=day, root=root, log=log, received=webhook.received, **result)


@pytest.mark.slow
def test_breach_fails_only_its_check_and_the_run_succeeds(sla_run, config):
    assert sla_run.state == "success", sla_run.log[-4000:]
    states = {(t, label): state for t, _, label, state in sla_run.tis}
    checks = {label: state for (t, label), state in states.items() if t == "check_sla"}
    card = pd.read_parquet(sla_run.root / "scorecards" / "helpfulness" / f"date={sla_run.day}" / "scorecard_vendor.parquet")
    assert set(card["vendor"]) == set(config.vendors_for("helpfulness"))
    assert checks == {**{f"sentiment/{v}": ("failed" if v == "crowdly" else "success") for v in config.vendors_for("sentiment")},
                      **{f"helpfulness/{r.vendor}": ("failed" if r.sla_status == "breach" else "success") for r in card.itertuples()}}
    assert states[("report", "sentiment")] == "success"
    assert states[("publish", "sentiment")] == "success"
    assert states[("sla_summary", None)] == "success"
    # the failure names task, vendor, metric, value, threshold and the scorecard
    assert "AirflowFailException: SLA breached by 1 vendor(s) on task 'sentiment'" in sla_run.log
    assert f"see scorecards/sentiment/date={sla_run.day}/scorecard_vendor.parquet" in sla_run.log
    assert "vendor 'crowdly': gold_accuracy 0." in sla_run.log and "< min_gold_accuracy 0.75" in sla_run.log
    assert "vendor 'acme':" not in sla_run.log and "vendor 'bluepeak':" not in sla_run.log
    assert "SLA BREACH" in sla_run.log and "sentiment/crowdly" in sla_run.log  # sla_summary's warning


def test_failure_callback_posts_the_breach_to_the_webhook(sla_run):
    assert len(sla_run.received) == 1, sla_run.received
    path, ctype, payload = sla_run.received[0]
    assert (path, ctype) == ("/hooks/labelq", "application/json")
    crowdly = [m for t, m, label, _ in sla_run.tis if t == "check_sla" and label == "sentiment/crowdly"]
    assert {k: payload[k] for k in ("task", "vendor", "date", "dag_id", "run_id", "map_index")} == {
        "task": "sentiment", "vendor": "crowdly", "date": sla_run.day.isoformat(), "dag_id": "labelq_daily",
        "run_id": sla_run.run_id, "map_index": crowdly[0]}
    assert "vendor 'crowdly': gold_accuracy" in payload["text"] and "min_gold_accuracy 0.75" in payload["text"]


# --------------------------------------------------------------------------- the callback on its own
def _context(label: str = "sentiment/crowdly", exc: BaseException | None = None) -> dict:
    import datetime as dt

    ti = SimpleNamespace(dag_id="labelq_daily", run_id="r1", map_index=2, rendered_map_index=label)
    return {"ti": ti, "params": {"date": None}, "logical_date": dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc),
            "exception": exc or RuntimeError("vendor 'crowdly': gold_accuracy 0.400 < min_gold_accuracy 0.75")}


def test_sla_alert_logs_an_error_and_posts_json(webhook, monkeypatch, caplog):
    from pipeline.runtime import sla_alert

    monkeypatch.setenv("LABELQ_ALERT_WEBHOOK", webhook.url)
    with caplog.at_level(logging.ERROR, logger="labelq.alert"):
        sla_alert(_context())
    ((_, _, payload),) = webhook.received
    assert payload == {"text": payload["text"], "task": "sentiment", "vendor": "crowdly", "date": "2026-11-02",
                       "dag_id": "labelq_daily", "run_id": "r1", "map_index": 2}
    assert payload["text"].startswith("labelq SLA check failed: task sentiment, vendor crowdly, 2026-11-02: vendor 'crowdly'")
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "vendor crowdly" in caplog.records[0].getMessage()


def test_sla_alert_without_webhook_only_logs(webhook, monkeypatch, caplog):
    from pipeline.runtime import sla_alert

    monkeypatch.delenv("LABELQ_ALERT_WEBHOOK", raising=False)
    with caplog.at_level(logging.ERROR, logger="labelq.alert"):
        sla_alert(_context())
    assert webhook.received == []
    assert len(caplog.records) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:{dead}/hook", "file:///etc/passwd", "not a url"])
def test_sla_alert_never_raises_on_a_bad_webhook(url, monkeypatch, caplog):
    import socket

    from pipeline.runtime import sla_alert

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("LABELQ_ALERT_WEBHOOK", url.format(dead=dead))
    with caplog.at_level(logging.ERROR, logger="labelq.alert"):
        sla_alert(_context())  # must not raise
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and ("failed" in messages[1] or "not an http(s) URL" in messages[1])


def test_sla_alert_survives_a_context_without_task_instance(monkeypatch, caplog):
    from pipeline.runtime import sla_alert

    monkeypatch.delenv("LABELQ_ALERT_WEBHOOK", raising=False)
    with caplog.at_level(logging.ERROR, logger="labelq.alert"):
        sla_alert({})  # e.g. a callback run by the dag-processor for a task whose worker died
    assert "task ?, vendor ?" in caplog.records[0].getMessage()
