"""The local Airflow of ``make airflow`` (scripts/airflow_local.py): a 3-day backfill on SQLite.

Runs the README's "Backfill locally" commands for real, on a throw-away AIRFLOW_HOME and storage
root: ``scripts/airflow_local.py start`` (what ``make airflow`` runs: ``airflow db migrate``,
scheduler, dag-processor and api-server on the LocalExecutor and SQLite), then, in a shell that
sourced ``$AIRFLOW_HOME/env.sh``, ``airflow backfill create ... --reprocess-behavior failed`` and
``airflow dags unpause labelq_daily``, then ``scripts/airflow_local.py wait`` (``make
airflow-wait``). The published versions must be the ones ``labelq run`` publishes for the same
days, with the same content hashes; the run the scheduler creates on unpausing (the latest daily
interval, catchup=False, a day without deliveries) must publish nothing; ``stop`` (``make
airflow-stop``) must leave no process behind.

Skips where it cannot run (no ``airflow`` next to this Python, no /proc, no bash), except under
``CI=true``, where it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import REPO

from helpers.e2e_stack import airflow_local as local
from helpers.e2e_stack import labelq_run_in_background

SCRIPT = REPO / "scripts" / "airflow_local.py"
BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DAG = "labelq_daily"
START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(3)]
# The README's commands, verbatim (after `. .airflow/env.sh`).
UNPAUSE = f"airflow dags unpause {DAG}"
BACKFILL = (f"airflow backfill create --dag-id {DAG} --from-date {DAYS[0]} --to-date {DAYS[-1]}"
            " --reprocess-behavior failed")




def _missing() -> list[str]:
    missing = []
    for exe in ("airflow", "labelq"):
        if not (BIN / exe).exists():
            missing.append(f"{BIN / exe} (install the project: make install)")
    if not Path("/proc/self/stat").exists():
        missing.append("/proc (the local stack finds its processes there: Linux only)")
    if shutil.which("bash") is None:
        missing.append("bash (to source env.sh as the README does)")
    return missing


def _env() -> dict[str, str]:
    """This test process's environment without the Airflow settings conftest points at its own home."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}


def _run(argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env(), **kw)


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> Path:
    """``labelq simulate --root R --seed 7 --days 3 --start 2026-11-01 --items 150``."""
    missing = _missing()
    if missing:
        msg = "the local Airflow test needs: " + "; ".join(missing)
        if IN_CI:
            pytest.fail(msg + " (CI=true: failing instead of skipping)")
        pytest.skip(msg)
    root = tmp_path_factory.mktemp("airflow-local") / "data"
    sim = _run([str(BIN / "labelq"), "simulate", "--root", str(root), "--seed", "7", "--days", str(len(DAYS)),
                "--start", START.isoformat(), "--items", "150", "--quiet"], timeout=300)
    assert sim.returncode == 0, sim.stdout[-2000:] + sim.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def reference(deliveries, tmp_path_factory):
    """``labelq run --root R2 --date 2026-11-01 --days 3`` on a copy of the deliveries, in the
    background while the stack starts (:func:`_reference_versions` waits for it)."""
    ref = tmp_path_factory.mktemp("airflow-local-reference") / "data"
    shutil.copytree(deliveries, ref)
    with labelq_run_in_background(ref, START, len(DAYS), _env()) as proc:
        yield proc, ref


@pytest.fixture(scope="module")
def stack(deliveries, reference, tmp_path_factory):
    """The stack ``make airflow`` starts, on a temp AIRFLOW_HOME and a free port; stopped (and
    checked stopped) by the test, and again here whatever happened."""
    home = tmp_path_factory.mktemp("airflow-local-home") / "airflow"
    port = local.free_port()
    s = local.Stack(home, port=port)
    try:
        res = _run([sys.executable, str(SCRIPT), "--home", str(home), "start", "--root", str(deliveries),
                    "--port", str(port)], timeout=400)
        if res.returncode != 0:
            pytest.fail(f"scripts/airflow_local.py start exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-6000:]}")
        yield s
    finally:
        _stop(s)


def _sessions(s) -> list[dict]:
    return list(s.state().get("processes", {}).values())


def _stop(s) -> list[int]:
    """``scripts/airflow_local.py stop``; returns the processes still alive afterwards (then killed)."""
    records = _sessions(s)
    if records:
        _run([sys.executable, str(SCRIPT), "--home", str(s.home), "stop"], timeout=120)
    left = [pid for r in records for pid in local.session_members(r["pid"])]
    for r in records:  # whatever stop missed: never leave a process behind
        local.stop_session(r, grace=5)
    return left


def _shell(s, command: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``command`` in bash after ``. $AIRFLOW_HOME/env.sh``, as the README has it."""
    res = _run(["bash", "-c", f'. "$1" && {command}', "bash", str(s.env_file)], timeout=timeout, cwd=REPO)
    assert res.returncode == 0, f"{command} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _versions(root: Path, task: str) -> dict[str, str]:
    from pipeline.publish import list_versions, read_manifest

    return {v: read_manifest(root, task, v)["content_sha256"] for v in list_versions(root, task)}


def _wait(predicate, timeout: float, what: str, s, interval: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{local.logs(s)}")


def test_readme_shows_the_commands_this_test_runs():
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Backfill locally (embedded default)"):]
    section = section[:section.index("\n## ")]
    for command in ("make airflow ", ". .airflow/env.sh", BACKFILL, UNPAUSE, "make airflow-wait", "make airflow-stop"):
        assert command in section, f"README's 'Backfill locally' lost {command!r}"
    assert section.index(BACKFILL) < section.index(UNPAUSE), "on SQLite: create the backfill, then unpause"


@pytest.mark.e2e
@pytest.mark.slow
def test_local_airflow_backfill_publishes_what_labelq_run_publishes(stack, reference, deliveries, config):
    t0 = time.monotonic()

    def phase(name: str) -> None:  # shown when the test fails (or with -s)
        print(f"[airflow-local] {time.monotonic() - t0:6.1f}s  {name}", flush=True)

    s, api = stack, local.Api(stack)
    phase("stack started")
    assert s.env_file.exists() and "AIRFLOW__CORE__EXECUTOR=LocalExecutor" in s.env_file.read_text()
    assert api.get(f"/dags/{DAG}")["is_paused"] is True  # as deployed: paused at creation

    # The README's commands, in a shell that sourced env.sh.
    _shell(s, BACKFILL)  # while still paused (README: on SQLite, backfill then unpause)
    _shell(s, UNPAUSE)
    phase("backfill created and unpaused")
    res = _run([sys.executable, str(SCRIPT), "--home", str(s.home), "wait", "--fail-fast", "--timeout", "420"],
               timeout=480)
    assert res.returncode == 0, f"airflow_local.py wait exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-8000:]}"
    assert "done: 3 run(s) succeeded" in res.stdout, res.stdout
    phase("backfill succeeded")
    runs = api.runs(DAG, run_type="backfill")
    assert sorted((r["logical_date"][:10], r["state"]) for r in runs) == [(d.isoformat(), "success") for d in DAYS]

    # Unpausing made the scheduler create its one catchup=False run, for the latest complete
    # daily interval (no deliveries that day): it must finish without publishing a version.
    latest_interval = datetime.now(timezone.utc).date() - timedelta(days=1)
    scheduled = []
    if latest_interval > DAYS[-1]:  # (a clock inside the backfilled days would make that run one of them)
        scheduled = _wait(lambda: [r for r in api.runs(DAG, run_type="scheduled")
                                   if r["state"] in ("success", "failed")], 180, "the scheduled run to finish", s)
        assert [(r["logical_date"][:10], r["state"]) for r in scheduled] == [(latest_interval.isoformat(), "success")], (
            f"{scheduled}\n{api.task_states(DAG, scheduled[0]['dag_run_id'])}")
        phase(f"scheduled run for {latest_interval} finished")

    # The same versions, with the same content, as `labelq run` on the same days.
    proc, ref = reference
    proc.wait(timeout=600)
    assert proc.returncode == 0, (ref.parent / "labelq-run.log").read_text(errors="replace")[-3000:]
    phase("labelq run finished")
    for task in config.tasks:
        expected = _versions(ref, task)
        assert list(expected) == [d.isoformat() for d in DAYS]
        got = _versions(deliveries, task)
        assert got == expected, f"{task}: the local Airflow published {got}, labelq run {expected}"
        if scheduled:
            assert latest_interval.isoformat() not in got  # covered by the equality; said explicitly

    # `make airflow-stop` stops every process of the stack, task processes included.
    left = _stop(s)
    assert left == [], f"processes left after stop: {left}"
    assert local.health(s) is None, "the API server still answers after stop"
    phase("stopped")
