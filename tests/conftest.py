"""Shared fixtures. Airflow is pointed at a throw-away home before anything imports it."""

from __future__ import annotations

import os
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="labelq-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
#: The demo's config (config/labelq.yaml): every task of the demo. ``test_dags`` runs it whole
#: through Airflow (as ``make demo`` does); each label kind has its own end-to-end module under
#: tests/kinds/.
DEMO_CONFIG = REPO / "config" / "labelq.yaml"


def _core_config() -> Path:
    """The demo config without its rubric and its tagging task (the rating and multi-label tasks
    and the vendors feeding only them):
    what the shared fixtures below and the stage, history, storage, CLI and Airflow stack tests
    run, so that each kind added to the demo does not multiply the cost of every such test."""
    import yaml

    raw = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    dropped = {t for t, cfg in raw["tasks"].items() if cfg.get("kind") in ("rating", "multilabel")}
    raw["tasks"] = {t: cfg for t, cfg in raw["tasks"].items() if t not in dropped}
    raw["vendors"] = {v: cfg for v, cfg in raw["vendors"].items()
                      if ({cfg["task"]} if cfg.get("task") else set(cfg.get("tasks", {}))) - dropped}
    path = _AIRFLOW_HOME.parent / f"{_AIRFLOW_HOME.name}-labelq.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


CORE_CONFIG = _core_config()
os.environ["LABELQ_CONFIG"] = str(CORE_CONFIG)
os.environ.pop("LABELQ_ROOT", None)

START = date(2026, 11, 1)
DAYS = 3


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def config():
    """The config of the shared fixtures (:data:`CORE_CONFIG`, also ``$LABELQ_CONFIG``)."""
    from pipeline.config import load_config

    return load_config(CORE_CONFIG)


@pytest.fixture(scope="session")
def demo_config():
    """The demo's whole config (:data:`DEMO_CONFIG`)."""
    from pipeline.config import load_config

    return load_config(DEMO_CONFIG)


@pytest.fixture(scope="session")
def days() -> list[date]:
    return [START + timedelta(days=i) for i in range(DAYS)]


@pytest.fixture(scope="session")
def simulated(tmp_path_factory, config) -> Path:
    """Three days of simulated deliveries (read-only: copy before running stages on it)."""
    from pipeline.simulate import simulate
    from pipeline.storage import open_store

    root = tmp_path_factory.mktemp("simulated")
    simulate(config, open_store(root), seed=7, days=DAYS, start=START, items_per_day=200)
    return root


@pytest.fixture(scope="session")
def processed(tmp_path_factory, simulated, config, days) -> Path:
    """The simulated deliveries run through every stage for every day (read-only)."""
    import shutil

    from pipeline.steps import run_day
    from pipeline.storage import open_store

    root = tmp_path_factory.mktemp("processed") / "data"
    shutil.copytree(simulated, root)
    for d in days:
        run_day(config, open_store(root), d)
    return root


@pytest.fixture
def fresh_copy(tmp_path, simulated) -> Path:
    """A private, writable copy of the simulated deliveries."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(simulated, root)
    return root


@pytest.fixture(scope="module")
def s3_server():
    """A real S3 protocol server (moto in server mode) on a free loopback port, with test credentials
    in ``AWS_*``; yields ``"127.0.0.1:<port>"`` (use it as ``?endpoint_override=...&scheme=http``)."""
    import logging

    from helpers.e2e_stack import free_port
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    port = free_port()  # outside the ephemeral range: no outgoing connection takes it meanwhile
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mp = pytest.MonkeyPatch()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        mp.setenv(k, v)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        mp.undo()
        server.stop()


@pytest.fixture
def s3(s3_server):
    """A boto3 client of the loopback S3 server with :data:`helpers.s3.BUCKET` created (emptied and removed after)."""
    import boto3

    from helpers.s3 import BUCKET

    client = boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)
