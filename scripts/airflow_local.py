"""A local Airflow for labelq on the embedded default: LocalExecutor, SQLite, no Docker.

``make airflow`` runs ``start``; ``make airflow-stop`` runs ``stop``. ``start`` migrates the
SQLite metadata DB under ``$AIRFLOW_HOME`` (``./.airflow`` from the Makefile), starts ``airflow
scheduler``, ``airflow dag-processor`` and ``airflow api-server`` in the background (each in its
own session; logs and pid files in ``$AIRFLOW_HOME/local/``), waits until all three are healthy
and the DAG processor has parsed ``labelq_daily``, writes ``$AIRFLOW_HOME/env.sh`` (source it to
run ``airflow ...`` against this stack) and prints how to backfill. No triggerer: no labelq task
defers.

Why these settings (what kept runs from progressing on this 2-core machine):

* The DAG is paused at creation, and Airflow 3.3's scheduler never starts a queued run of a
  paused DAG, backfill runs included: ``airflow dags unpause labelq_daily`` (after ``backfill
  create``, so the whole range is queued before a run starts). ``merge`` and
  ``publish`` have ``depends_on_past``, so ``airflow backfill create`` refuses to run without
  ``--reprocess-behavior`` (``failed``: days without a successful run; ``completed``: every day).
* ``LocalExecutor`` is the default executor (Airflow 3 removed the SequentialExecutor) and works
  on SQLite (Airflow opens it in WAL mode). Its default ``parallelism`` of 32 forks 32 workers
  and, in a backfill, runs a dozen ingest/validate tasks at once on 2 cores, each importing
  pandas, pyarrow and Great Expectations itself (~7 s of CPU): every task crawls. Here
  ``parallelism`` is the number of CPUs (at least 2), and the workers are started from a
  forkserver that has imported ``pipeline.steps`` and Great Expectations once
  (``[scheduler] mp_start_method = forkserver`` + ``mp_forkserver_preload``), so a task process,
  forked from its worker, starts with them loaded: a task takes about a second instead of 30-60.
  The price: code edits under ``pipeline/`` need a restart (``--no-preload`` to go without).
* Task processes report to the API server's execution API: ``[core] execution_api_server_url``
  and ``[api] base_url`` name the API server's actual address (127.0.0.1 and the chosen port;
  ``localhost`` may resolve to ::1, where nothing listens). The JWT secret that signs the tasks'
  tokens comes from ``$AIRFLOW_HOME/airflow.cfg``, generated once, so every process agrees.
* ``[database] sql_alchemy_connect_args`` = ``pipeline.runtime.SQLITE_CONNECT_ARGS``: a 60 s busy
  timeout instead of pysqlite's 5 s, for writers that wait on each other, and a connection factory
  that takes the write lock (``BEGIN IMMEDIATE``) before a ``SAVEPOINT`` outside a transaction.
  Without it a ``session.begin_nested()`` block (how ``airflow backfill create`` creates each run)
  reads first, and when another process writes before its own first write, SQLite refuses the
  upgrade at once with ``database is locked``: the busy timeout never applies to it.
* ``[logging] worker_log_server_port`` is a free port (default 8793 clashes with any other
  LocalExecutor scheduler on the machine, e.g. a second stack), and ``[dag_processor]
  refresh_interval`` is 5 s, so edited or new DAG files are seen at once.

Inherited ``AIRFLOW__*`` variables are dropped: the stack runs with exactly the settings in
``env.sh``. Python standard library only (it runs before anything is imported from Airflow).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "labelq_daily"
# Started in this order, stopped in the reverse order but the scheduler first (it owns the task
# processes, which need the API server until they end).
COMPONENTS = ("api-server", "dag-processor", "scheduler")
STOP_ORDER = ("scheduler", "dag-processor", "api-server")
# What the LocalExecutor's forkserver imports before forking workers (as the Celery workers of
# the production stack do, pipeline.runtime.WORKER_PRELOAD).
PRELOAD = ("airflow.executors.local_executor", "airflow.sdk.execution_time.task_runner",
           "pipeline.steps", "pipeline.validate.gx", "great_expectations")


class LocalAirflowError(RuntimeError):
    """The stack did not start, or a wait timed out; the message carries the logs' tails."""


# --------------------------------------------------------------------------- paths and settings
class Stack:
    def __init__(self, home: Path, *, root: str | None = None, config: str | None = None,
                 port: int | None = None, parallelism: int | None = None, preload: bool = True) -> None:
        self.home = home.absolute()
        self.local = self.home / "local"
        self.root = root
        self.config = config
        self.port = port
        self.parallelism = parallelism
        self.preload = preload

    # files
    @property
    def env_file(self) -> Path:
        return self.home / "env.sh"

    @property
    def state_file(self) -> Path:
        return self.local / "stack.json"

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    def log(self, name: str) -> Path:
        return self.local / f"{name}.log"

    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    @property
    def base_url(self) -> str:
        port = self.port or self.state().get("port") or 8080
        return f"http://127.0.0.1:{port}"

    def password(self) -> str:
        return json.loads(self.passwords_file.read_text())["admin"]

    def env(self, *, port: int, log_port: int, parallelism: int) -> dict[str, str]:
        """The complete environment of every process of the stack (and of ``env.sh``)."""
        base_url = f"http://127.0.0.1:{port}"
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "LABELQ_ROOT": _absolute(self.root or os.environ.get("LABELQ_ROOT") or REPO / "data"),
            "LABELQ_CONFIG": _absolute(self.config or os.environ.get("LABELQ_CONFIG") or REPO / "config" / "labelq.yaml"),
            # the processes import this checkout's pipeline, whatever the venv was installed from
            "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # every process (and the `airflow ...` CLI of env.sh) waits up to 60 s for SQLite's write
            # lock instead of pysqlite's 5 s
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "pipeline.runtime.SQLITE_CONNECT_ARGS",
        }
        if self.preload:
            settings["AIRFLOW__SCHEDULER__MP_START_METHOD"] = "forkserver"
            settings["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"] = ",".join(PRELOAD)
        return settings

    def process_env(self, settings: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
        env.update(settings)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def write_env_file(self, settings: dict[str, str]) -> None:
        lines = ["# Written by scripts/airflow_local.py start: source it (. .airflow/env.sh) to run",
                 "# `airflow ...` and `labelq ...` against the local stack.",
                 "# Clears inherited AIRFLOW__* settings first: the stack runs with exactly these.",
                 'for _v in $(env | sed -n "s/^\\(AIRFLOW__[A-Za-z0-9_]*\\)=.*/\\1/p"); do unset "$_v"; done; unset _v']
        lines += [f"export {k}={shlex.quote(v)}" for k, v in settings.items()]
        lines.append(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
        self.env_file.write_text("\n".join(lines) + "\n")


def _absolute(path: str | os.PathLike[str]) -> str:
    """A local path made absolute (the processes run in AIRFLOW_HOME); an ``s3://...`` URI as is."""
    text = os.fspath(path)
    return text if "://" in text else os.path.abspath(text)


# --------------------------------------------------------------------------- processes
def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 = state), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat(5): starttime


def session_members(sid: int) -> list[int]:
    """Every live process in session ``sid`` (the stack's processes and all their children:
    LocalExecutor workers, the forkserver, task processes, which sit in process groups of their own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and fields[0] != "Z" and int(fields[3]) == sid:  # field 6 of stat(5): session
                members.append(int(entry.name))
    return members


def _alive(record: dict[str, Any]) -> bool:
    """Whether the process ``record`` names is still the one this script started (pids get reused)."""
    started = _start_time(record["pid"])
    return started is not None and started == record["start_time"]


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_session(record: dict[str, Any], grace: float = 15.0) -> list[int]:
    """SIGTERM every process of the session ``record`` leads, SIGKILL what is left after ``grace``.

    Only a session this script started (same pid *and* start time) is touched. Returns the
    pids that had to be killed."""
    sid = record["pid"]
    if not _alive(record) and _stat(sid) is not None:
        # the pid now belongs to another process: Linux reuses a pid only once no process is
        # left in the session or process group it named, so nothing of ours is left there
        return []
    members = session_members(sid)  # (the leader may be gone and its children still running)
    if not members:
        return []
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and session_members(sid):
        time.sleep(0.2)
    left = session_members(sid)
    _signal_all(left, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and session_members(sid):
        time.sleep(0.1)
    return left


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default 32768-60999)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(preferred: int | None = None) -> int:
    """A port nothing listens on, outside the ephemeral range.

    A port the kernel handed out for ``bind(0)`` lies in the ephemeral range, where any outgoing
    connection (a worker to PostgreSQL, a client to Redis) may take it as its local port in the
    seconds before the server binds it: the server then fails with ``address already in use``
    (uvicorn exits 3). Ports below that range are handed out only on request.
    """
    if preferred and not port_in_use(preferred):
        return preferred
    low, high = _ephemeral_ports()
    lo, hi = (15000, low - 1) if low > 16000 else (high + 1, 65535)
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randint(lo, hi)
        if not port_in_use(port):
            return port
    raise LocalAirflowError(f"no free port between {lo} and {hi}")


def port_in_use(port: int) -> bool:
    """True if ``port`` cannot be bound on 127.0.0.1 or on every interface (the worker's log
    server listens on ``[::]``)."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, ""), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                continue  # no IPv6 here
            return True
    return False


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"----- {path} (missing)"
    return f"----- {path} (last {len(text)} lines)\n" + "\n".join(line[:400] for line in text)


def logs(stack: Stack, lines: int = 25) -> str:
    """Tails of the processes' logs and the errors of the latest task logs that have any."""
    out = [tail(stack.log(name), lines) for name in COMPONENTS]
    task_logs = sorted((stack.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
    with_errors = []
    for path in reversed(task_logs):
        text = path.read_text(errors="replace")
        if '"level":"error"' in text:
            with_errors.append(f"----- {path.relative_to(stack.home)}: {task_error(path)}")
        if len(with_errors) == 6:
            break
    return "\n".join(out + with_errors[::-1])


# --------------------------------------------------------------------------- REST API
def http(stack: Stack, method: str, path: str, body: dict | None = None, *, token: str | None = None,
         timeout: float = 10) -> tuple[int | None, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(stack.base_url + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    except OSError:
        return None, None
    try:
        return status, json.loads(payload) if payload else None
    except ValueError:
        return status, payload


class Api:
    """The stack's REST API (/api/v2) as the admin user."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            status, body = http(self.stack, "POST", "/auth/token",
                                {"username": "admin", "password": self.stack.password()}, timeout=30)
            if status not in (200, 201):
                raise LocalAirflowError(f"POST /auth/token -> {status}: {body!r}")
            self._token = body["access_token"]
        return self._token

    def get(self, path: str, ok: tuple[int, ...] = (200,)) -> Any:
        status, body = http(self.stack, "GET", "/api/v2" + path, token=self.token(), timeout=30)
        if status == 401:  # token expired: once more with a new one
            self._token = None
            status, body = http(self.stack, "GET", "/api/v2" + path, token=self.token(), timeout=30)
        if status not in ok:
            raise LocalAirflowError(f"GET /api/v2{path} -> {status}: {str(body)[:1000]}")
        return body

    def runs(self, dag_id: str, **query: str) -> list[dict]:
        qs = "&".join(f"{k}={v}" for k, v in {"limit": "100", "order_by": "logical_date", **query}.items())
        return self.get(f"/dags/{dag_id}/dagRuns?{qs}")["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> list[tuple[str, int, str | None]]:
        from urllib.parse import quote

        tis = self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=200")["task_instances"]
        return sorted((t["task_id"], t["map_index"], t["state"]) for t in tis)

    def latest_backfill(self, dag_id: str) -> dict | None:
        backfills = self.get(f"/backfills?dag_id={dag_id}&limit=100")["backfills"]
        return max(backfills, key=lambda b: b["id"]) if backfills else None


def health(stack: Stack, *, within: float = 0) -> dict | None:
    """The API server's health document, or None if it does not answer (within ``within`` seconds:
    a busy server, e.g. one initialising the execution API on a task's first call, may not answer
    a single request for ~10 s on 2 cores, though it is up)."""
    deadline = time.monotonic() + within
    while True:
        status, body = http(stack, "GET", "/api/v2/monitor/health", timeout=5)
        if status == 200 and isinstance(body, dict):
            return body
        if time.monotonic() >= deadline or not _listening(stack):
            return None
        time.sleep(1)


def _listening(stack: Stack) -> bool:
    """Whether anything accepts connections on the stack's port (a refused connection: nothing runs)."""
    try:
        port = int(stack.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def _healthy(h: dict | None) -> bool:
    return bool(h) and all((h.get(c) or {}).get("status") == "healthy"
                           for c in ("metadatabase", "scheduler", "dag_processor"))


# --------------------------------------------------------------------------- commands
def start(stack: Stack, *, timeout: float = 240, quiet: bool = False) -> dict[str, Any]:
    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    airflow = str(Path(sys.executable).parent / "airflow")
    if not os.access(airflow, os.X_OK):
        raise LocalAirflowError(f"no {airflow}: run this with the project's Python (.venv/bin/python "
                                "scripts/airflow_local.py, or make airflow)")
    stack.home.mkdir(parents=True, exist_ok=True)
    stack.local.mkdir(exist_ok=True)
    state = stack.state()
    running = {n: r for n, r in state.get("processes", {}).items() if _alive(r)}
    if running:
        if set(running) == set(COMPONENTS) and _healthy(health(Stack(stack.home, port=state["port"]))):
            pids = ", ".join(str(r["pid"]) for r in running.values())
            say(f"local Airflow already running on {stack.home} (pids {pids})")
            stack.port = state["port"]
            usage(stack, say)
            return state
        say("stopping the remains of an earlier local Airflow: " + ", ".join(running))
        stop(stack, quiet=True)

    port = stack.port or 8080
    if port_in_use(port):
        raise LocalAirflowError(f"port {port} is in use: pick another, e.g. AIRFLOW_PORT={port + 1} make airflow "
                                f"(or scripts/airflow_local.py start --port {port + 1})")
    stack.port = port
    parallelism = stack.parallelism or max(2, os.cpu_count() or 2)
    settings = stack.env(port=port, log_port=free_port(state.get("log_port")), parallelism=parallelism)
    env = stack.process_env(settings)
    stack.write_env_file(settings)
    if not stack.passwords_file.exists():
        stack.passwords_file.write_text(json.dumps({"admin": secrets.token_urlsafe(12)}) + "\n")
        stack.passwords_file.chmod(0o600)

    say(f"airflow db migrate  (SQLite {stack.home / 'airflow.db'}; log {stack.log('db-migrate')})")
    with open(stack.log("db-migrate"), "wb") as log:
        res = subprocess.run([airflow, "db", "migrate"], env=env, cwd=stack.home, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
    if res.returncode != 0:
        raise LocalAirflowError(f"airflow db migrate exited {res.returncode}\n{tail(stack.log('db-migrate'), 40)}")

    state = {"port": port, "log_port": int(settings["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]),
             "parallelism": parallelism, "root": settings["LABELQ_ROOT"], "processes": {}}
    argv = {"api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
            "dag-processor": ["dag-processor"], "scheduler": ["scheduler"]}
    try:
        for name in COMPONENTS:
            with open(stack.log(name), "ab") as log:
                proc = subprocess.Popen([airflow, *argv[name]], env=env, cwd=stack.home, stdout=log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            state["processes"][name] = {"pid": proc.pid, "start_time": _start_time(proc.pid)}
            stack.state_file.write_text(json.dumps(state, indent=1) + "\n")
        started = ", ".join(f"{n} (pid {r['pid']})" for n, r in state["processes"].items())
        say(f"started {started}; logs in {stack.local}/")
        _wait_started(stack, state, timeout)
    except BaseException:
        stop(stack, quiet=True)
        raise
    say(f"healthy, and the DAG processor has parsed {DAG_ID}")
    usage(stack, say)
    return state


def _wait_started(stack: Stack, state: dict[str, Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    api = Api(stack)
    what = "the API server to answer"
    while time.monotonic() < deadline:
        dead = [n for n, r in state["processes"].items() if not _alive(r)]
        if dead:
            raise LocalAirflowError(f"{', '.join(dead)} exited during start-up\n{logs(stack)}")
        h = health(stack)
        if h is None:
            what = "the API server to answer"
        elif not _healthy(h):
            what = f"scheduler and DAG processor to be healthy ({json.dumps(h)})"
        else:
            what = f"the DAG processor to parse {DAG_ID}"
            try:
                if (api.get(f"/dags/{DAG_ID}", ok=(200, 404)) or {}).get("dag_id") == DAG_ID:
                    return
            except LocalAirflowError as exc:  # e.g. the auth manager not ready yet: ask again
                what += f" (last answer: {exc})"
        time.sleep(1)
    raise LocalAirflowError(f"timed out after {timeout:.0f}s waiting for {what}\n{logs(stack)}")


def _shown(path: str | Path) -> str:
    """``path`` relative to the working directory if it is below it, else absolute (shell-quoted)."""
    rel = os.path.relpath(path)
    return shlex.quote(str(path) if rel.startswith("..") else rel)


def usage(stack: Stack, say) -> None:
    root = stack.state().get("root") or ""
    simulate = ""
    if root and "://" not in root and not (Path(root) / "landing").is_dir():
        simulate = (f"\n  labelq simulate --root {_shown(root)} --seed 7 --days 3 --start 2026-11-01"
                    "   # no deliveries there yet")
    env_file = _shown(stack.env_file)
    say(f"""
UI and REST API: {stack.base_url}  (user admin, password {stack.password()})
Backfill, in a shell:
  . {env_file}    # AIRFLOW_HOME and this stack's settings; .venv/bin on PATH{simulate}
  airflow backfill create --dag-id {DAG_ID} --from-date 2026-11-01 --to-date 2026-11-03 --reprocess-behavior failed
  airflow dags unpause {DAG_ID}   # the backfill's runs start now
  make airflow-wait   # follow it to the end
Changed code under pipeline/? Restart (make airflow-stop airflow): the workers have it preloaded.
Stop: make airflow-stop   (logs: {stack.local}/, task logs: {stack.home / 'logs'}/)""")


def stop(stack: Stack, *, quiet: bool = False) -> int:
    state = stack.state()
    procs = state.get("processes", {})
    stopped = 0
    for name in STOP_ORDER:
        record = procs.get(name)
        if not record:
            continue
        killed = stop_session(record)
        stopped += 1
        if not quiet:
            print(f"stopped {name} (pid {record['pid']})" + (f"; had to SIGKILL {killed}" if killed else ""))
    if state:
        state["processes"] = {}
        stack.state_file.write_text(json.dumps(state, indent=1) + "\n")
    if not stopped and not quiet:
        print(f"no local Airflow recorded in {stack.state_file}")
    return stopped


def status(stack: Stack) -> int:
    state = stack.state()
    procs = state.get("processes", {})
    for name in COMPONENTS:
        r = procs.get(name)
        alive = "running" if r and _alive(r) else "EXITED"
        print(f"{name:14s} " + (f"pid {r['pid']} {alive}" if r else "not started"))
    h = health(stack)
    print("health:", json.dumps(h) if h else f"no answer from {stack.base_url}")
    if not h:
        return 1
    api = Api(stack)
    for run in api.runs(DAG_ID)[-12:]:
        print(f"  {run['logical_date'] or '-':27s} {run['run_type']:10s} {run['state']:8s} {run['dag_run_id']}")
    return 0 if _healthy(h) else 1


def task_log(stack: Stack, ti: dict) -> Path:
    """The log file of one task instance try (Airflow's default log layout under AIRFLOW_HOME/logs)."""
    parts = [f"dag_id={ti['dag_id']}", f"run_id={ti['dag_run_id']}", f"task_id={ti['task_id']}"]
    if ti["map_index"] >= 0:
        parts.append(f"map_index={ti['map_index']}")
    return stack.home.joinpath("logs", *parts, f"attempt={ti['try_number']}.log")


def task_error(path: Path) -> str:
    """``ExcType: message`` of the exception a task log reports, else its last error line."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    last = ""
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("level") != "error":
            continue
        detail = event.get("error_detail") or []
        last = (f"{detail[-1].get('exc_type')}: {detail[-1].get('exc_value')}" if detail
                else str(event.get("event")))[:1000]
    return last or "(no error in the log)"


def wait_backfill(stack: Stack, dag_id: str = DAG_ID, timeout: float = 1800, *, fail_fast: bool = False,
                  allowed_failures: tuple[str, ...] = ("check_sla",), quiet: bool = False) -> list[dict]:
    """Wait until ``dag_id``'s latest backfill is complete; return its runs. Raises if one failed.

    Prints each run's state as it changes and every task that fails or is up for retry, with the
    error and its log. ``fail_fast``: give up at the first such task, except failures of
    ``allowed_failures`` (labelq's ``check_sla`` fails by design on an SLA breach, the run still
    succeeds)."""
    api = Api(stack)
    deadline = time.monotonic() + timeout
    last, seen = None, set()

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    while time.monotonic() < deadline:
        backfill = api.latest_backfill(dag_id)
        if backfill is None:
            raise LocalAirflowError(f"{dag_id} has no backfill: airflow backfill create --dag-id {dag_id} ...")
        runs = [r for r in api.runs(dag_id, run_type="backfill")
                if r["logical_date"] and backfill["from_date"][:10] <= r["logical_date"][:10] <= backfill["to_date"][:10]]
        summary = ", ".join(f"{r['logical_date'][:10]} {r['state']}" for r in runs)
        if summary != last:
            say(f"backfill {backfill['id']}: {summary or 'no runs yet'}")
            last = summary
        day_of = {r["dag_run_id"]: r["logical_date"][:10] for r in runs}
        bad = api.get(f"/dags/{dag_id}/dagRuns/~/taskInstances?state=failed&state=up_for_retry&limit=200")
        for ti in bad["task_instances"]:
            key = (ti["dag_run_id"], ti["task_id"], ti["map_index"], ti["try_number"], ti["state"])
            if ti["dag_run_id"] not in day_of or key in seen:
                continue
            seen.add(key)
            name = ti["task_id"] + (f"[{ti.get('rendered_map_index') or ti['map_index']}]" if ti["map_index"] >= 0 else "")
            log = task_log(stack, ti)
            error = (task_error(log).splitlines() or [""])[0][:300]
            if ti["state"] == "failed" and ti["task_id"] in allowed_failures:
                say(f"  {day_of[ti['dag_run_id']]} {name}: failed, as designed (the run goes on): {error}")
            else:
                say(f"  {day_of[ti['dag_run_id']]} {name}: {ti['state']} (try {ti['try_number']}): {error}\n"
                    f"      log: {log}")
            if fail_fast and (ti["state"] == "up_for_retry" or ti["task_id"] not in allowed_failures):
                raise LocalAirflowError(f"{day_of[ti['dag_run_id']]} {name} is {ti['state']} (--fail-fast): "
                                        f"{task_error(log)}\n{logs(stack)}")
        if backfill["completed_at"] and all(r["state"] in ("success", "failed") for r in runs):
            failed = [r for r in runs if r["state"] != "success"]
            if failed:
                details = "\n".join(f"{r['dag_run_id']}: " + ", ".join(
                    f"{t}[{i}] {s}" for t, i, s in api.task_states(dag_id, r["dag_run_id"]) if s != "success")
                    for r in failed)
                raise LocalAirflowError(f"backfill {backfill['id']}: {len(failed)} run(s) failed\n{details}\n{logs(stack)}")
            return runs
        if backfill["is_paused"]:
            raise LocalAirflowError(f"backfill {backfill['id']} is paused (unpause it in the UI)")
        time.sleep(2)
    raise LocalAirflowError(f"timed out after {timeout:.0f}s waiting for the backfill of {dag_id}\n{logs(stack)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="airflow_local.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME") or REPO / ".airflow"),
                   help="AIRFLOW_HOME (default: $AIRFLOW_HOME, else <repo>/.airflow)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start", help="migrate the DB, start scheduler, dag-processor and api-server, wait until healthy")
    s.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_PORT") or 8080), help="API server port (8080)")
    s.add_argument("--root", help="labelq storage root (default: $LABELQ_ROOT, else <repo>/data)")
    s.add_argument("--config", help="labelq config (default: $LABELQ_CONFIG, else config/labelq.yaml)")
    s.add_argument("--parallelism", type=int, help="task slots ([core] parallelism; default: CPUs, at least 2)")
    s.add_argument("--no-preload", action="store_true",
                   help="workers do not preload pipeline.steps and GX (slower tasks, but code edits apply without a restart)")
    s.add_argument("--timeout", type=float, default=240)
    s.add_argument("--quiet", action="store_true")
    sub.add_parser("stop", help="stop every process the last start started (and their task processes)")
    sub.add_parser("status", help="processes, health and the latest runs of labelq_daily")
    w = sub.add_parser("wait", help="wait for the latest backfill of labelq_daily; non-zero exit if a run failed")
    w.add_argument("--dag-id", default=DAG_ID)
    w.add_argument("--timeout", type=float, default=1800)
    w.add_argument("--fail-fast", action="store_true",
                   help="stop at the first task that fails or is retried (check_sla failures excepted)")
    args = p.parse_args(argv)

    if args.command == "start":
        stack = Stack(args.home, root=args.root, config=args.config, port=args.port, parallelism=args.parallelism,
                      preload=not args.no_preload)
    else:
        stack = Stack(args.home)
    try:
        if args.command == "start":
            start(stack, timeout=args.timeout, quiet=args.quiet)
        elif args.command == "stop":
            stop(stack)
        elif args.command == "status":
            return status(stack)
        elif args.command == "wait":
            if not health(stack, within=60):
                raise LocalAirflowError(f"no local Airflow answers on {stack.base_url}: make airflow")
            runs = wait_backfill(stack, args.dag_id, args.timeout, fail_fast=args.fail_fast)
            print(f"done: {len(runs)} run(s) succeeded")
    except LocalAirflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
