"""Example consumer: runs whenever ``labelq_daily`` publishes a new version of a training set.

Scheduled on the curated asset ``file://<root>/curated/<task>`` (``$LABELQ_ROOT`` and
``$LABELQ_CONSUMER_TASK``, default ``sentiment``). It reads the version named in the
triggering asset event with :func:`pipeline.read_training_set` (which checks the SHA-256
of every file) and logs its size and class balance: the place an ML team hangs its
training or evaluation job.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from pipeline.runtime import curated_asset_uri, default_root

TASK = os.environ.get("LABELQ_CONSUMER_TASK", "sentiment")
ROOT = default_root()
CURATED = Asset(curated_asset_uri(ROOT, TASK))


@dag(
    dag_id="labelq_training_set_consumer",
    schedule=[CURATED],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0},
    tags=["labelq", "example"],
    doc_md=__doc__,
)
def labelq_training_set_consumer():
    @task
    def read_latest() -> dict:
        import pipeline

        events = get_current_context()["triggering_asset_events"].get(CURATED, [])
        version = events[-1].extra.get("version", "latest") if events else "latest"
        df = pipeline.read_training_set(ROOT, TASK, version=version)
        summary = {"task": TASK, "version": version, "rows": len(df),
                   "class_balance": {str(k): int(v) for k, v in df["label"].value_counts().sort_index().items()}}
        print(f"training set {TASK}@{version}: {summary['rows']} items, classes {summary['class_balance']}")
        return summary

    read_latest()


labelq_training_set_consumer()
