"""End to end on the production topology, without Docker (docs/operations.md).

``airflow api-server``, ``scheduler``, ``dag-processor`` and ``celery worker`` run as
subprocesses on loopback against this machine's PostgreSQL (a fresh database per run) and
Redis (a dedicated db number). A run is triggered through the REST API (/api/v2, JWT from
the SimpleAuthManager), then a three-day ``airflow backfill create`` runs, then the same
backfill again: outputs must match the in-process ``labelq run`` byte for byte and not
change on the second backfill. Skips only when PostgreSQL or Redis is not listening.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from helpers.e2e_stack import (
    BACKFILL,
    BIN,
    SIMULATE,
    UNPAUSE,
    AirflowStack,
    StackError,
    labelq_run_in_background,
    missing_services,
    webhook,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAG = "labelq_daily"
CONSUMER = "labelq_training_set_consumer"
START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(3)]
# Checked by test_compose too: the e2e stack needs these importable (see docs/operations.md).
REQUIRED_MODULES = ("psycopg2", "asyncpg", "redis", "celery", "airflow.providers.celery")


def _data_files(root: Path) -> dict[str, str]:
    """SHA-256 of every data file the pipeline writes (reports with timestamps left out)."""
    out = {}
    for sub in ("staged", "quarantine", "consensus", "metrics", "curated"):
        for p in sorted((root / sub).rglob("*.parquet")):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> Path:
    """Simulated deliveries (``labelq simulate``, as the guide shows it); skips without the services."""
    missing = missing_services()
    if missing:
        pytest.skip("e2e needs local services: " + "; ".join(missing))
    for mod in REQUIRED_MODULES:
        try:
            __import__(mod)
        except ImportError as exc:
            pytest.fail(f"{mod} is not installed ({exc}); install the dev extra: pip install -e '.[dev]'")
    try:  # the Celery provider 3.26 imports this; celery 5.7 removed it (pin celery<5.7)
        from celery.backends.database import retry  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"this celery cannot run Airflow's Celery provider ({exc}); install 'celery[redis]>=5.5,<5.7'")
    root = tmp_path_factory.mktemp("e2e") / "data"
    argv = shlex.split(SIMULATE.replace('"$LABELQ_ROOT"', shlex.quote(str(root))))
    sim = subprocess.run([str(BIN / argv[0]), *argv[1:], "--quiet"], capture_output=True, text=True, timeout=300)
    assert sim.returncode == 0, sim.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def reference(deliveries, tmp_path_factory):
    """``labelq run`` (no Airflow) on a copy of the deliveries, started in the background while
    the Airflow stack starts; :func:`_finish` waits for it. Yields (process, its root)."""
    ref = tmp_path_factory.mktemp("e2e-reference") / "data"
    for inputs in ("landing", "gold", "catalog"):  # what `labelq simulate` wrote: deliveries, gold, texts
        shutil.copytree(deliveries / inputs, ref / inputs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    with labelq_run_in_background(ref, START, len(DAYS), env) as proc:
        yield proc, ref


def _finish(reference) -> dict[str, str]:
    proc, ref = reference
    proc.wait(timeout=600)
    assert proc.returncode == 0, (ref.parent / "labelq-run.log").read_text(errors="replace")[-3000:]
    return _data_files(ref)


@pytest.fixture(scope="module")
def alerts():
    """The webhook the workers' SLA failure callbacks POST to (``LABELQ_ALERT_WEBHOOK``)."""
    with webhook() as hook:
        yield hook


@pytest.fixture(scope="module")
def stack(deliveries, reference, alerts):
    s = AirflowStack(home=deliveries.parent / "airflow-home", root=deliveries,
                     extra_env={"LABELQ_ALERT_WEBHOOK": alerts.url})
    try:
        s.start()
        yield s
    finally:
        s.close()


def test_e2e_triggered_run_publishes_and_backfill_is_idempotent(stack, reference, alerts, config):
    import time

    import pipeline
    from pipeline.publish import list_versions, read_manifest
    from pipeline.runtime import curated_asset_uri

    t0 = time.monotonic()

    def phase(name: str) -> None:  # timings, shown by pytest when the test fails (or with -s)
        print(f"[e2e] {time.monotonic() - t0:6.1f}s  {name}")

    stack.wait_for_dag(DAG)
    stack.wait_for_dag(CONSUMER)
    phase("DAGs parsed")
    stack.airflow(*shlex.split(UNPAUSE)[1:])
    stack.unpause(CONSUMER)

    # 1. a manual run through the REST API, for one day (params.date)
    stack.trigger(DAG, "e2e-manual", {"date": START.isoformat()})
    stack.wait_for_run(DAG, "e2e-manual")
    phase("manual run succeeded")
    states = stack.task_states(DAG, "e2e-manual")
    assert {t for t, _, _ in states} == {"vendors", "ingest", "validate", "tasks", "measure", "merge", "publish",
                                         "scorecard", "report", "sla_checks", "check_sla", "sla_summary"}
    assert sum(t == "ingest" for t, _, _ in states) == len(config.vendors) == 6  # one mapped instance per vendor
    # the simulated crowdly breaches its SLA: its check failed (at once), the others' passed, the run succeeded
    checks = stack.api("GET", f"/dags/{DAG}/dagRuns/e2e-manual/taskInstances/check_sla/listMapped")["task_instances"]
    card = pd.read_parquet(stack.root / "scorecards" / "helpfulness" / f"date={START}" / "scorecard_vendor.parquet")
    helpfulness = {(f"helpfulness/{r.vendor}", "failed" if r.sla_status == "breach" else "success", 1) for r in card.itertuples()}
    assert len(helpfulness) == 3
    assert {(t["rendered_map_index"], t["state"], t["try_number"]) for t in checks} == {
        ("sentiment/acme", "success", 1), ("sentiment/bluepeak", "success", 1), ("sentiment/crowdly", "failed", 1),
        *helpfulness}
    assert [s for t, _, s in states if t in ("report", "sla_summary")] == ["success"] * (len(config.tasks) + 1)
    # ... and its on_failure_callback, run on the Celery worker, POSTed the alert (after reporting
    # the task's state, so it may land a moment after the run ended)
    deadline = time.monotonic() + 30
    while not [a for a in alerts.received if a[2]["run_id"] == "e2e-manual"] and time.monotonic() < deadline:
        time.sleep(0.5)
    sent = [a[2] for a in alerts.received if a[2]["run_id"] == "e2e-manual"]
    assert [(a["task"], a["vendor"], a["date"], a["dag_id"]) for a in sent] == [("sentiment", "crowdly", START.isoformat(), DAG)]
    phase("SLA breach failed crowdly's check and alerted")
    assert list_versions(stack.root, "sentiment") == [START.isoformat()]
    first = pipeline.read_training_set(stack.root, "sentiment")
    assert len(first) > 0 and first["item_id"].is_unique

    # the publish emitted an event for the curated asset through the alias, and the example
    # consumer (scheduled on that asset) has it queued: the scheduler starts it on its next loop
    # (the e2e stack runs with [scheduler] use_job_schedule=False, so nothing is started on a clock)
    uri = curated_asset_uri(stack.root, "sentiment")
    events = stack.api("GET", f"/assets/events?source_dag_id={DAG}&source_run_id=e2e-manual")["asset_events"]
    assert sorted((e["uri"], e["extra"]["version"], e["source_task_id"]) for e in events) == sorted(
        (curated_asset_uri(stack.root, t), START.isoformat(), "publish") for t in config.tasks)  # one per task
    queued = stack.api("GET", f"/dags/{CONSUMER}/assets/queuedEvents")["queued_events"]
    assert [q["asset_id"] for q in queued] == [e["asset_id"] for e in events if e["uri"] == uri]  # it reads sentiment

    # 2. a three-day backfill with the CLI, exactly as docs/operations.md shows it
    # (merge depends_on_past, so Airflow asks for a reprocess behavior: `failed` fills the
    # days that have no successful run, `completed` re-runs every day of the range)
    stack.airflow(*shlex.split(BACKFILL.format(reprocess="failed"))[1:])
    runs = stack.wait_for_backfill(DAG)
    phase("first backfill succeeded")
    assert sorted(r["logical_date"][:10] for r in runs) == [d.isoformat() for d in DAYS]
    assert list_versions(stack.root, "sentiment") == [d.isoformat() for d in DAYS]
    assert read_manifest(stack.root, "sentiment")["version"] == DAYS[-1].isoformat()
    latest = pipeline.read_training_set(stack.root, "sentiment")
    assert len(latest) >= len(first)
    once = _data_files(stack.root)
    assert once == _finish(reference), "the DAG on Celery wrote other bytes than `labelq run`"

    # 3. the same backfill again (re-running completed days) leaves identical outputs
    stack.airflow(*shlex.split(BACKFILL.format(reprocess="completed"))[1:])
    stack.wait_for_backfill(DAG)
    phase("second backfill succeeded")
    assert _data_files(stack.root) == once
    assert pipeline.read_training_set(stack.root, "sentiment").equals(latest)

    # 4. a config error fails at once, without the retries transient errors get
    stack.trigger(DAG, "e2e-bad-config", {"date": START.isoformat(), "config": str(stack.root / "missing.yaml")})
    with pytest.raises(StackError, match="ended failed"):
        stack.wait_for_run(DAG, "e2e-bad-config", timeout=120)
    vendors = stack.api("GET", f"/dags/{DAG}/dagRuns/e2e-bad-config/taskInstances/vendors")
    assert (vendors["state"], vendors["try_number"], vendors["max_tries"]) == ("failed", 1, 3)
    phase("bad config failed fast")
