"""labelq daily pipeline: vendor deliveries -> validated -> measured -> merged -> published.

Thin by design: every task calls one function of :mod:`pipeline.steps` (the same stages, in
the same order, as ``labelq run``; ``sla_summary`` calls :mod:`pipeline.summary`); nothing heavy is imported at parse time. One DAG for all labelling tasks: per-vendor work (ingest, validate)
fans out over the configured vendors and per-task work (measure, merge, publish) over the
configured tasks with dynamic task mapping, so both lists are read at run time and the DAG
processor never reads the config (docs/operations.md, "Why one DAG").

Each run works on one day (its logical date = the data interval start, or ``params.date``)
and every stage replaces its own partition for that day, so re-runs and backfills
(``airflow backfill create --dag-id labelq_daily --from-date ... --to-date ...``) overwrite,
never append. A day no vendor delivered anything on skips measure .. report (nothing new is
published; ``params.allow_empty`` publishes anyway), so unpausing the DAG never publishes an
empty version for today. Ingest and validate are day-local (days may run them in any order);
``merge`` refuses a history with unprocessed deliveries on earlier days, naming them. ``merge`` builds the consensus over every day up to the run's day, so it waits
for the previous run's ``merge`` (``depends_on_past``), and so does ``publish`` (one publisher
per labelling task at a time, in date order: the object-store publishing assumes it): backfill
days run their per-vendor stages in parallel but merge and publish in date order.

Failures: bad data or config (``ValueError`` and friends, see
:func:`pipeline.runtime.is_permanent_error`) fail the task at once; anything else (I/O,
lost workers) is retried with exponential backoff. Each ``publish`` emits an asset event
for ``file://<root>/curated/<task>`` through the ``labelq-curated`` asset alias.

SLAs: after ``scorecard``, ``check_sla`` runs once per (labelling task, vendor) pair
(map index ``<task>/<vendor>``). A breach fails that instance at once (``AirflowFailException``,
no retries; the message names metric, value, threshold and the scorecard) and its
``on_failure_callback`` (:func:`pipeline.runtime.sla_alert`) logs it and POSTs it to
``$LABELQ_ALERT_WEBHOOK`` if set. ``report`` does not wait for the checks, and the leaf
``sla_summary`` (trigger rule ``all_done``) runs whatever they end in: the run succeeds once the
data is published and reported, with the breaching vendor's check failed in it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import AssetAlias, Param, TriggerRule, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

from pipeline.runtime import CURATED_ALIAS, sla_alert

PROJECT = Path(__file__).resolve().parent.parent


def _run() -> tuple:
    """(config, store, day) for the current task's run: the storage root is opened here, once per task."""
    from pipeline.runtime import run_day, run_settings
    from pipeline.storage import open_store

    ctx = get_current_context()
    config, root = _fail_fast(run_settings, ctx["params"])
    day = _fail_fast(run_day, ctx["params"], ctx.get("logical_date"), ctx.get("data_interval_start"))
    return config, _fail_fast(open_store, root), day


def _fail_fast(fn, *args, **kwargs):
    """Call ``fn``; turn a data/config error into a failure Airflow does not retry."""
    from airflow.sdk.exceptions import AirflowFailException

    from pipeline.runtime import is_permanent_error

    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        if is_permanent_error(exc):
            raise AirflowFailException(f"{type(exc).__name__}: {exc} (not retried: fix the data or config)") from exc
        raise


def _skip_if_empty(result: dict) -> dict:
    """A stage that found no deliveries for the day skips (so do the stages after it)."""
    if result.get("skipped"):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(result["skipped"])
    return result


def _vendor_step(step: Callable[..., dict], vendor: str, **kwargs: Any) -> dict:
    """Run the stage function ``step`` (``steps.ingest`` / ``steps.validate``) for one vendor of the run's day."""
    config, store, day = _run()
    return _fail_fast(step, config, store, day, vendor, **kwargs)


def _task_step(step: Callable[..., dict], task_name: str) -> dict:
    """Run the stage function ``step`` (``steps.measure`` ...) for one labelling task of the run's day."""
    config, store, day = _run()
    allow_empty = bool(get_current_context()["params"].get("allow_empty"))
    return _skip_if_empty(_fail_fast(step, config, store, day, task_name, allow_empty=allow_empty))


@dag(
    dag_id="labelq_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    max_active_tasks=32,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "date": Param(None, type=["null", "string"], format="date",
                      description="Day to process (YYYY-MM-DD); default: the run's data interval"),
        "root": Param(os.environ.get("LABELQ_ROOT"), type=["null", "string"], description="Storage root"),
        "config": Param(os.environ.get("LABELQ_CONFIG", str(PROJECT / "config" / "labelq.yaml")), type="string",
                        description="labelq YAML config"),
        "allow_empty": Param(False, type="boolean",
                             description="Publish a version even if no vendor delivered anything that day"),
        "strict": Param(False, type="boolean", description="Fail ingest when a vendor's landing folder is missing"),
    },
    tags=["labelq"],
    doc_md=__doc__,
)
def labelq_daily():
    @task
    def vendors() -> list[str]:
        config, _, _ = _run()
        return list(config.vendors)

    @task(map_index_template="{{ vendor }}")
    def ingest(vendor: str) -> dict:
        from pipeline import steps

        return _vendor_step(steps.ingest, vendor, strict=bool(get_current_context()["params"].get("strict")))

    @task(map_index_template="{{ ingested['vendor'] }}")
    def validate(ingested: dict) -> dict:
        from pipeline import steps

        return _vendor_step(steps.validate, ingested["vendor"])

    @task
    def tasks(validated: list[dict]) -> list[str]:
        config, _, _ = _run()
        return list(config.tasks)

    @task(map_index_template="{{ task_name }}")
    def measure(task_name: str) -> dict:
        from pipeline import steps

        return _task_step(steps.measure, task_name)

    @task(map_index_template="{{ measured['task'] }}", depends_on_past=True)
    def merge(measured: dict) -> dict:
        from pipeline import steps

        return _task_step(steps.merge, measured["task"])

    @task(map_index_template="{{ merged['task'] }}", outlets=[AssetAlias(CURATED_ALIAS)], depends_on_past=True)
    def publish(merged: dict) -> dict:
        from airflow.sdk import Asset

        from pipeline import steps
        from pipeline.publish import asset_uri

        config, store, day = _run()
        allow_empty = bool(get_current_context()["params"].get("allow_empty"))
        result = _skip_if_empty(_fail_fast(steps.publish, config, store, day, merged["task"], allow_empty=allow_empty))
        uri = asset_uri(store, result["task"])
        get_current_context()["outlet_events"][AssetAlias(CURATED_ALIAS)].add(
            Asset(uri),
            extra={k: result[k] for k in ("task", "version", "date", "items", "held_out")},
        )
        return result

    @task(map_index_template="{{ published['task'] }}")
    def scorecard(published: dict) -> dict:
        from pipeline import steps

        return _task_step(steps.scorecard, published["task"])

    @task(map_index_template="{{ scored['task'] }}")
    def report(scored: dict) -> dict:
        from pipeline import steps

        return _task_step(steps.report, scored["task"])

    @task
    def sla_checks(scored: list[dict]) -> list[dict]:
        """One ``{task_name, vendor}`` per configured vendor of every scored labelling task."""
        config, _, _ = _run()
        return [{"task_name": s["task"], "vendor": v} for s in scored for v in config.vendors_for(s["task"])]

    @task(map_index_template="{{ task_name }}/{{ vendor }}", on_failure_callback=sla_alert)
    def check_sla(task_name: str, vendor: str) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline import steps
        from pipeline.score.sla import SLABreach

        config, store, day = _run()
        try:
            return _fail_fast(steps.check_vendor_sla, config, store, day, task_name, vendor)
        except SLABreach as exc:  # a verdict on the vendor's data: retrying cannot change it
            raise AirflowFailException(f"{exc} (storage root {store.location('')}; not retried)") from exc

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def sla_summary() -> dict:
        from pipeline.summary import sla_summary as summarise

        config, store, day = _run()
        return _fail_fast(summarise, config, store, day)

    validated = validate.expand(ingested=ingest.expand(vendor=vendors()))
    published = publish.expand(merged=merge.expand(measured=measure.expand(task_name=tasks(validated))))
    scored = scorecard.expand(published=published)
    report.expand(scored=scored)
    check_sla.expand_kwargs(sla_checks(scored)) >> sla_summary()


labelq_daily()
