"""What a scheduled or triggered run works on: config, storage root, the day (partition), and
how a failure is classified.

Used by the Airflow DAGs (the CLI resolves the same things from its flags). Importing this
module is cheap (no pandas, pyarrow, pydantic or Great Expectations), so DAG files may use
it at parse time: :func:`curated_asset_uri` and :func:`default_root` are parse-time helpers,
and :func:`sla_alert` is the SLA check tasks' failure callback.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config import LabelqConfig

#: Name of the Airflow asset alias the publish task emits through: one event per curated
#: training set it publishes (``file://<root>/curated/<task>``).
CURATED_ALIAS = "labelq-curated"

PROJECT = Path(__file__).resolve().parent.parent


def run_day(params: Mapping[str, Any], logical_date: datetime | None, data_interval_start: datetime | None) -> date:
    """The partition a run processes.

    ``params["date"]`` (a manual run or backfill override) wins; else the run's logical date,
    which for the daily ``CronDataIntervalTimetable`` equals the start of its data interval;
    else (a run triggered with no logical date) the data interval start.
    """
    if params.get("date"):
        return date.fromisoformat(str(params["date"]))
    when = logical_date or data_interval_start
    if when is None:
        raise ValueError("the run has no logical date or data interval; pass params.date=YYYY-MM-DD")
    return when.date()


def run_settings(params: Mapping[str, Any]) -> tuple[LabelqConfig, Path | str]:
    """Config and storage root from the DAG params (``config``, ``root``) or the environment."""
    from pipeline.config import load_config

    config = load_config(params.get("config") or None)
    return config, resolve_root(params.get("root") or None, config)


def default_root() -> Path | str:
    """The storage root a DAG file assumes at parse time: ``$LABELQ_ROOT``, else ``<project>/data``.

    A local folder comes back as an absolute Path, an object-store URI (``s3://...``) as is.
    Parse time never reads the config (the run-time root may also come from the config's
    ``storage.root`` or ``params.root``; deployments set ``LABELQ_ROOT`` so all agree).
    """
    return storage_root(os.environ.get("LABELQ_ROOT") or PROJECT / "data")


def resolve_root(root: str | os.PathLike[str] | None, config: LabelqConfig | None = None) -> Path | str:
    """Storage root: ``root`` (``--root``), else ``$LABELQ_ROOT``, else the config's, else ``./data``.

    A local folder comes back as an absolute :class:`~pathlib.Path`; an object-store URI
    (``s3://bucket/prefix?endpoint_override=...``) as the string itself (see
    :class:`pipeline.storage.Store`).
    """
    return storage_root(root or os.environ.get("LABELQ_ROOT") or (config.storage.root if config else None) or "data")


def storage_root(root: str | os.PathLike[str]) -> Path | str:
    """``root`` as the stages take it: an object-store URI (``s3://...``) as is, else an absolute Path.

    >>> storage_root("s3://bucket/labelq?endpoint_override=127.0.0.1:9000")
    's3://bucket/labelq?endpoint_override=127.0.0.1:9000'
    >>> storage_root("file:///srv/labelq")
    PosixPath('/srv/labelq')
    """
    text = os.fspath(root)
    if "://" in text and not text.startswith("file://"):
        return text
    return Path(text.removeprefix("file://")).absolute()


def curated_asset_uri(root: str | os.PathLike[str], task: str) -> str:
    """URI of the Airflow asset that stands for ``task``'s curated training sets under ``root``.

    ``file:///<absolute root>/curated/<task>`` for a local root, ``s3://bucket/prefix/curated/<task>``
    for an object-store root (connection options such as ``?endpoint_override=`` are not part of
    an asset's identity and are dropped): the folder :func:`pipeline.read_training_set` reads.
    The publish task emits an event for it on every publish; consumers schedule on it.

    >>> curated_asset_uri("/srv/labelq", "sentiment")
    'file:///srv/labelq/curated/sentiment'
    >>> curated_asset_uri("s3://bucket/labelq/?endpoint_override=127.0.0.1:9000&scheme=http", "sentiment")
    's3://bucket/labelq/curated/sentiment'
    """
    from pipeline.storage.layout import Layout  # the standard library only: cheap at parse time

    text = os.fspath(root)
    if "://" in text and not text.startswith("file://"):
        return f"{text.split('?', 1)[0].rstrip('/')}/{Layout('').curated(task).as_posix()}"
    return Layout(Path(text.removeprefix("file://")).absolute()).curated(task).as_uri()


# Errors that a retry cannot fix: bad data or configuration, a missing upstream partition,
# a programming error. Anything else (OSError on a network mount, a lost worker, a timeout)
# is taken as transient and retried.
_PERMANENT: tuple[type[BaseException], ...] = (
    ValueError,  # includes pipeline.config.ConfigError and data/contract errors
    LookupError,  # KeyError, IndexError, publish.VersionNotFound
    TypeError,
    AttributeError,
    NotImplementedError,
    AssertionError,  # a broken invariant in the code
    FileNotFoundError,  # an upstream stage's partition or the config is missing
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


def is_permanent_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a data, config or code error that retrying would only repeat.

    The DAG fails such tasks at once (no retries); other errors are retried with backoff.

    >>> is_permanent_error(ValueError("bad label"))
    True
    >>> is_permanent_error(TimeoutError("NFS stalled"))
    False
    """
    return isinstance(exc, _PERMANENT)


class _WriteLockingCursor(sqlite3.Cursor):
    """A cursor that takes SQLite's write lock when a ``SAVEPOINT`` opens a transaction.

    pysqlite (legacy transaction control) begins a transaction only before INSERT/UPDATE/DELETE,
    and that deferred ``BEGIN`` takes the write lock at once, waiting for it up to the busy
    timeout. A ``SAVEPOINT`` outside a transaction (SQLAlchemy's ``session.begin_nested()``, which
    Airflow's backfill and scheduler use) instead starts a *deferred* transaction that reads
    first; its first write must then upgrade a read snapshot, and if another process committed
    meanwhile SQLite refuses at once with ``database is locked`` (SQLITE_BUSY_SNAPSHOT, no busy
    wait): ``airflow backfill create`` failed so while the scheduler heartbeated.

    Here such a savepoint is preceded by ``BEGIN IMMEDIATE`` (wait for the write lock, then
    read), and its ``RELEASE`` is followed by ``COMMIT``: SQLite commits when the outermost
    savepoint that began a transaction is released, and this keeps that timing, so no lock is
    held longer than before.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        conn = self.connection
        words = sql.split(None, 3)
        verb = words[0].upper() if words else ""
        if verb == "SAVEPOINT" and not conn.in_transaction and len(words) > 1:
            super().execute("BEGIN IMMEDIATE")
            conn._outer_savepoint = words[1]  # type: ignore[attr-defined]
            return super().execute(sql, parameters)
        out = super().execute(sql, parameters)
        if verb == "RELEASE" and conn.in_transaction and getattr(conn, "_outer_savepoint", None) is not None:
            name = words[2] if len(words) > 2 and words[1].upper() == "SAVEPOINT" else words[1] if len(words) > 1 else ""
            if name == conn._outer_savepoint:  # type: ignore[attr-defined]
                conn._outer_savepoint = None  # type: ignore[attr-defined]
                conn.commit()
        return out


class WriteLockingConnection(sqlite3.Connection):
    """``sqlite3.connect(factory=...)`` for Airflow's SQLite DB: cursors are :class:`_WriteLockingCursor`."""

    _outer_savepoint: str | None = None

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or _WriteLockingCursor)


#: SQLAlchemy connect args for Airflow's SQLite metadata DB on the embedded default
#: (``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS=pipeline.runtime.SQLITE_CONNECT_ARGS``, set by
#: ``make airflow``): writers wait up to 60 s for the write lock instead of pysqlite's 5 s, and a
#: savepoint that opens a transaction takes the write lock up front (:class:`WriteLockingConnection`),
#: so concurrent writers queue instead of failing with ``database is locked``.
SQLITE_CONNECT_ARGS: dict[str, Any] = {"timeout": 60, "factory": WriteLockingConnection}

#: Environment variable naming the webhook :func:`sla_alert` POSTs to (unset: log only).
ALERT_WEBHOOK_ENV = "LABELQ_ALERT_WEBHOOK"


def sla_alert(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of the DAG's ``check_sla`` tasks: log an ERROR line and POST it.

    Airflow calls it in the process that ran the task (the Celery worker; the ``airflow dags
    test`` / ``dag.test()`` process) once the task has failed for good: an SLA breach (failed at
    once, no retries) or an error its retries did not fix. If ``$LABELQ_ALERT_WEBHOOK`` is set,
    POSTs JSON ``{"text", "task", "vendor", "date", "dag_id", "run_id", "map_index"}`` to it
    (Slack-compatible ``text``; 10 s timeout). Never raises: a webhook error is logged.
    """
    log = logging.getLogger("labelq.alert")
    try:
        ti = context.get("ti")
        # rendered map index "<task>/<vendor>" (the check task's map_index_template)
        label = str(getattr(ti, "rendered_map_index", None) or "")
        task, _, vendor = label.partition("/")
        try:
            day: str | None = run_day(context.get("params") or {}, context.get("logical_date"),
                                      context.get("data_interval_start")).isoformat()
        except ValueError:
            day = None
        exc = context.get("exception")
        payload = {
            "text": f"labelq SLA check failed: task {task or '?'}, vendor {vendor or '?'}, {day or '?'}: "
                    f"{exc or 'no exception recorded (see the task log)'}",
            "task": task or None, "vendor": vendor or None, "date": day,
            "dag_id": getattr(ti, "dag_id", None), "run_id": getattr(ti, "run_id", None),
            "map_index": getattr(ti, "map_index", None),
        }
        log.error("%s (dag %s, run %s, map index %s)", payload["text"], payload["dag_id"], payload["run_id"],
                  payload["map_index"])
    except Exception:  # a callback must not mask the task's own failure
        log.exception("sla_alert: could not build the alert")
        return
    url = os.environ.get(ALERT_WEBHOOK_ENV)
    if url:
        post_alert(url, payload)


def _safe_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: never its credentials, path or query (tokens live there).

    >>> _safe_url("https://user:s3cret@hooks.example.com:8443/services/T000/B000/XXXX?token=abc")
    'https://hooks.example.com:8443'
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _redact(text: str, url: str) -> str:
    """``text`` with the URL's credentials, path and query replaced (error messages may quote them)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    for secret in (url, parts.password, parts.username, parts.path if len(parts.path) > 1 else None, parts.query):
        if secret:
            text = text.replace(secret, "***")
    return text


def post_alert(url: str, payload: Mapping[str, Any], *, timeout: float = 10) -> bool:
    """POST ``payload`` as JSON to ``url`` (http/https only); log and return False on any error."""
    import json
    import urllib.request
    from urllib.parse import urlsplit

    log = logging.getLogger("labelq.alert")
    if urlsplit(url).scheme not in ("http", "https"):
        log.error("%s=%r is not an http(s) URL; alert not sent", ALERT_WEBHOOK_ENV, url)
        return False
    req = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
        return True
    except Exception as exc:  # urllib.error.URLError, HTTPError, TimeoutError, ...
        log.error("alert webhook %s failed: %s: %s", _safe_url(url), type(exc).__name__, _redact(str(exc), url))
        return False


#: Modules a Celery worker imports once at start, before it forks its pool: every task
#: process inherits them instead of paying seconds of imports (pandas, pyarrow, Great
#: Expectations) per task. Enabled with
#: ``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=pipeline.runtime.CELERY_CONFIG``.
WORKER_PRELOAD = ("pipeline.steps", "pipeline.validate.gx", "great_expectations")


def __getattr__(name: str) -> Any:
    # ``CELERY_CONFIG`` is built on first access so that importing this module (DAG parsing)
    # never imports Celery: Airflow's default Celery config plus WORKER_PRELOAD as ``imports``.
    if name == "CELERY_CONFIG":
        from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

        imports = (*DEFAULT_CELERY_CONFIG.get("imports", ()), *WORKER_PRELOAD)
        return {**DEFAULT_CELERY_CONFIG, "imports": imports}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
