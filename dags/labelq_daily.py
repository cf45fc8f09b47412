"""labelq daily pipeline: vendor deliveries -> validated -> measured -> merged -> published.

Thin by design: every task calls one function of :mod:`pipeline.steps`; nothing heavy is
imported at parse time. Per-vendor work fans out with dynamic task mapping. Each run works
on one day (the data interval's start, or ``params.date``) and every stage overwrites its
own partition for that day, so re-runs and backfills never append.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

PROJECT = Path(__file__).resolve().parent.parent


def _run() -> tuple:
    """(config, root, day) for the current task's run."""
    from pipeline.runtime import run_day, run_settings

    ctx = get_current_context()
    config, root = run_settings(ctx["params"])
    return config, root, run_day(ctx["params"], ctx.get("logical_date"), ctx.get("data_interval_start"))


@dag(
    dag_id="labelq_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 0},
    params={
        "date": Param(None, type=["null", "string"], description="Day to process (YYYY-MM-DD); default: the run's data interval"),
        "root": Param(os.environ.get("LABELQ_ROOT"), type=["null", "string"], description="Storage root"),
        "config": Param(os.environ.get("LABELQ_CONFIG", str(PROJECT / "config" / "labelq.yaml")), type="string",
                        description="labelq YAML config"),
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

        config, root, day = _run()
        return steps.ingest(config, root, day, vendor)

    @task(map_index_template="{{ ingested['vendor'] }}")
    def validate(ingested: dict) -> dict:
        from pipeline import steps

        config, root, day = _run()
        return steps.validate(config, root, day, ingested["vendor"])

    @task
    def tasks(validated: list[dict]) -> list[str]:
        config, _, _ = _run()
        return list(config.tasks)

    @task(map_index_template="{{ task_name }}")
    def measure(task_name: str) -> dict:
        from pipeline import steps

        config, root, day = _run()
        return steps.measure(config, root, day, task_name)

    @task(map_index_template="{{ measured['task'] }}")
    def merge(measured: dict) -> dict:
        from pipeline import steps

        config, root, day = _run()
        return steps.merge(config, root, day, measured["task"])

    @task(map_index_template="{{ merged['task'] }}")
    def publish(merged: dict) -> dict:
        from pipeline import steps

        config, root, day = _run()
        return steps.publish(config, root, day, merged["task"])

    validated = validate.expand(ingested=ingest.expand(vendor=vendors()))
    publish.expand(merged=merge.expand(measured=measure.expand(task_name=tasks(validated))))


labelq_daily()
