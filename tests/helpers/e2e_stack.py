"""The production topology without Docker: Airflow 3 on PostgreSQL with Celery on Redis.

:class:`AirflowStack` starts ``airflow api-server``, ``airflow scheduler``, ``airflow
dag-processor`` and ``airflow celery worker`` as subprocesses (each in its own process
group) on loopback, with a fresh PostgreSQL database as the metadata DB and a dedicated
Redis database as the Celery broker, and stops and drops all of it in :meth:`close`.
Every setting is an ``AIRFLOW__*`` environment variable, the same ones
``.env.example`` sets for docker-compose (docs/operations.md).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases the e2e stacks may claim (one per running stack; 0 is left to others).
REDIS_DBS = range(9, 16)
REDIS_LOCK = "labelq:e2e:owner"

# Commands docs/operations.md shows and the e2e test runs, verbatim (tests/airflow/test_compose.py
# checks the guide still contains them).
SIMULATE = 'labelq simulate --root "$LABELQ_ROOT" --seed 7 --days 3 --start 2026-11-01 --items 150'
UNPAUSE = "airflow dags unpause labelq_daily"
BACKFILL = ("airflow backfill create --dag-id labelq_daily --from-date 2026-11-01 --to-date 2026-11-03"
            " --reprocess-behavior {reprocess}")
PROCESSES = {  # name -> argv after `airflow` (the api-server's port is added at start)
    "api-server": ["api-server", "--host", "127.0.0.1", "--workers", "1"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "worker": ["celery", "worker", "--queues", "{queue}", "--concurrency", "{concurrency}"],
}


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_airflow_local() -> Any:
    """``scripts/airflow_local.py`` (the local stack ``make airflow`` starts) as a module."""
    spec = importlib.util.spec_from_file_location("airflow_local", REPO / "scripts" / "airflow_local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


airflow_local = _load_airflow_local()
free_port = airflow_local.free_port  # outside the ephemeral range: no outgoing connection takes it


@contextmanager
def labelq_run_in_background(root: Path, start: date, days: int, env: Mapping[str, str]) -> Iterator[subprocess.Popen]:
    """``labelq run --root ROOT --date START --days N`` as a background process (the reference the
    Airflow runs are compared with), output in ``<root>/../labelq-run.log``; killed if still running."""
    with open(root.parent / "labelq-run.log", "wb") as log:  # a file, not a pipe nobody drains
        proc = subprocess.Popen([str(BIN / "labelq"), "run", "--root", str(root), "--date", start.isoformat(),
                                 "--days", str(days), "--quiet"], env={**env, "LABELQ_ROOT": str(root)},
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def missing_services() -> list[str]:
    """Services the stack needs that are not listening, as human-readable reasons."""
    missing = []
    if not port_open(PG_HOST, PG_PORT):
        missing.append(f"PostgreSQL is not listening on {PG_HOST}:{PG_PORT}")
    if not port_open(REDIS_HOST, REDIS_PORT):
        missing.append(f"Redis is not listening on {REDIS_HOST}:{REDIS_PORT}")
    return missing


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def webhook() -> Iterator[SimpleNamespace]:
    """A JSON webhook on 127.0.0.1 (a server thread): ``.url``, and ``.received``, every POST as
    (path, content type, parsed body). For ``LABELQ_ALERT_WEBHOOK`` (``pipeline.runtime.sla_alert``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hooks/labelq", received=server.received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class StackError(RuntimeError):
    """The stack failed to start or a run did not finish; the message carries the logs' tails."""


def _admin_sql(statement: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) as ``postgres`` on the local server."""
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@dataclass
class AirflowStack:
    """A throw-away Airflow 3 CeleryExecutor deployment for one test session.

    ``home`` is AIRFLOW_HOME (logs of every process in ``home/proc-logs``), ``root`` the
    labelq storage root the DAGs work on, ``extra_env`` more environment for every process
    (e.g. ``LABELQ_ALERT_WEBHOOK``).
    """

    home: Path
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    worker_concurrency: int = 3
    name: str = field(default_factory=lambda: f"labelq_e2e_{uuid.uuid4().hex[:10]}")
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis_db: int | None = None
    db_created: bool = False
    api_port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    _token: str | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def db_url(self) -> str:
        return f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{self.name}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def queue(self) -> str:
        return self.name  # a queue of our own: no other stack's worker can take our tasks

    def env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        secrets_file = self.home / "secrets.json"
        if not secrets_file.exists():
            secrets_file.write_text(json.dumps({
                "fernet": Fernet.generate_key().decode(), "jwt": secrets.token_urlsafe(32),
                "api": secrets.token_urlsafe(32), "log_port": free_port(),
            }))
        s = json.loads(secrets_file.read_text())
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{self.name}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "pipeline.runtime.CELERY_CONFIG",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": s["fernet"],
            "AIRFLOW__API_AUTH__JWT_SECRET": s["jwt"],
            "AIRFLOW__API__SECRET_KEY": s["api"],
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(s["log_port"]),
            # Only the runs the test asks for: no cron-scheduled run for "yesterday" (and, with it,
            # no asset-triggered runs: the test checks the consumer's queued asset event instead).
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Short loops so a 3-day backfill takes seconds, not minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "LABELQ_ROOT": str(self.root),
            "LABELQ_CONFIG": os.environ.get("LABELQ_CONFIG") or str(REPO / "config" / "labelq.yaml"),  # conftest's
        })
        env.update(self.extra_env)
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> AirflowStack:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "proc-logs").mkdir(exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}) + "\n")
        self._claim_redis_db()
        self._create_database()
        self.airflow("db", "migrate", timeout=300)
        extra = {"api-server": ["--port", str(self.api_port)],
                 "worker": ["--celery-hostname", f"{self.name}@%h", "--without-gossip", "--without-mingle"]}
        for name, argv in PROCESSES.items():
            argv = [a.format(queue=self.queue, concurrency=self.worker_concurrency) for a in argv]
            self.spawn(name, *argv, *extra.get(name, []))
        self._wait(lambda: self._get_status("/api/v2/monitor/health") == 200, 120, "the api-server to answer")
        return self

    def close(self) -> None:
        """Stop every process group this stack started, then drop its database and Redis db."""
        for name, proc in reversed(list(self.procs.items())):
            _stop_group(proc)
        self.procs.clear()
        if self.db_created:
            _admin_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.db_created = False
        if self.redis_db is not None:
            import redis

            redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db).flushdb()
            self.redis_db = None

    def __enter__(self) -> AirflowStack:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _claim_redis_db(self) -> None:
        import redis

        for db in REDIS_DBS:
            if redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).set(REDIS_LOCK, self.name, nx=True, ex=3600):
                self.redis_db = db
                return
        raise StackError(f"every Redis db in {list(REDIS_DBS)} is claimed by another e2e stack ({REDIS_LOCK})")

    def _create_database(self) -> None:
        _admin_sql(f'CREATE DATABASE "{self.name}"')
        self.db_created = True

    # ------------------------------------------------------------------ processes
    def airflow(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``airflow <args>`` to completion with the stack's environment."""
        res = subprocess.run([str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True,
                             timeout=timeout, cwd=self.home)
        if check and res.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {res.returncode}:\n{(res.stdout + res.stderr)[-4000:]}")
        return res

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.home / "proc-logs" / f"{name}.log", "wb")
        proc = subprocess.Popen([str(BIN / "airflow"), *args], env=self.env(), cwd=self.home, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs[name] = proc
        return proc

    def logs(self, lines: int = 30) -> str:
        """Tails of every process's log and the errors of the latest task logs (for failure messages)."""
        out = []
        for log in sorted((self.home / "proc-logs").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {log.name} (last {len(tail)} lines)\n" + "\n".join(line[:500] for line in tail))
        task_logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
        for path in task_logs[-8:]:
            text = path.read_text(errors="replace").splitlines()
            errors = [line for line in text if '"level":"error"' in line or "Traceback" in line][-10:]
            out.append(f"----- {path.relative_to(self.home)}\n" + "\n".join(line[:1500] for line in errors or text[-3:]))
        return "\n".join(out)

    def _check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise StackError(f"airflow processes exited: {dead}\n{self.logs()}")

    def _wait(self, ready, timeout: float, what: str, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            value = ready()
            if value:
                return value
            time.sleep(interval)
        raise StackError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.logs()}")

    # ------------------------------------------------------------------ REST API (/api/v2)
    def _get_status(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def token(self) -> str:
        """A JWT from the SimpleAuthManager: ``POST /auth/token`` with the admin's password."""
        if self._token is None:
            body = json.dumps({"username": "admin", "password": self.password}).encode()
            req = urllib.request.Request(self.base_url + "/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                self._token = json.load(r)["access_token"]
        return self._token

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, ok: tuple[int, ...] = (200, 201)) -> Any:
        req = urllib.request.Request(
            f"{self.base_url}/api/v2{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if status not in ok:
            raise StackError(f"{method} /api/v2{path} -> {status}: {payload[:2000]!r}")
        return json.loads(payload) if payload else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        """Wait until the dag-processor has serialized ``dag_id``; returns its /dags record."""
        return self._wait(lambda: self.api("GET", f"/dags/{dag_id}", ok=(200, 404)).get("dag_id") and
                          self.api("GET", f"/dags/{dag_id}"), timeout, f"the dag-processor to parse {dag_id}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, conf: Mapping[str, Any]) -> dict:
        return self.api("POST", f"/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf)})

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240) -> dict:
        def finished():
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = self._wait(finished, timeout, f"run {dag_id}/{run_id}")
        if run["state"] != "success":
            raise StackError(f"run {dag_id}/{run_id} ended {run['state']}\n{self.task_states(dag_id, run_id)}\n{self.logs()}")
        return run

    def task_states(self, dag_id: str, run_id: str) -> list[tuple[str, int, str]]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        return sorted((t["task_id"], t["map_index"], t["state"]) for t in tis)

    def runs(self, dag_id: str, **query: str) -> list[dict]:
        qs = "&".join(f"{k}={v}" for k, v in {"limit": "100", "order_by": "logical_date", **query}.items())
        return self.api("GET", f"/dags/{dag_id}/dagRuns?{qs}")["dag_runs"]

    def wait_for_backfill(self, dag_id: str, timeout: float = 300) -> list[dict]:
        """Wait until the dag's latest backfill completed; returns its runs (all must succeed)."""
        def done():
            backfills = self.api("GET", f"/backfills?dag_id={dag_id}&limit=100")["backfills"]
            latest = max(backfills, key=lambda b: b["id"]) if backfills else None
            if latest is None:
                return None
            runs = [r for r in self.runs(dag_id, run_type="backfill")
                    if r["state"] not in ("success", "failed")]
            if latest["completed_at"] and not runs:
                return latest
            return None

        backfill = self._wait(done, timeout, f"the backfill of {dag_id}", interval=2)
        runs = [r for r in self.runs(dag_id, run_type="backfill")]
        failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
        if failed:
            raise StackError(f"backfill {backfill['id']}: runs {failed} did not succeed\n"
                             + "\n".join(str(self.task_states(dag_id, r)) for r in failed) + "\n" + self.logs())
        return runs


def _stop_group(proc: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process group ``proc`` leads, then SIGKILL whatever is left after ``grace``."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        proc.wait()
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure its children went with it
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
