"""The Airflow DAG: it parses cleanly and cheaply, and a real run on SQLite publishes a set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest


def _env(airflow_home: Path, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AIRFLOW_HOME=str(airflow_home), LABELQ_ROOT=str(root))
    return env


def _python(code: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=timeout)


def test_dagbag_has_no_import_errors(repo):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(repo / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["labelq_daily"]
    assert {t.task_id for t in dag.tasks} == {"vendors", "ingest", "validate", "tasks", "measure", "merge", "publish"}
    assert dag.max_active_runs >= 1


def test_dag_parse_imports_nothing_heavy(repo, airflow_home, tmp_path):
    out = _python(
        f"""
        import runpy, sys, json
        runpy.run_path({str(repo / 'dags' / 'labelq_daily.py')!r})
        heavy = ['pandas', 'pyarrow', 'great_expectations', 'sklearn', 'scipy', 'pipeline.steps', 'pipeline.validate']
        print(json.dumps([m for m in heavy if m in sys.modules]))
        """,
        _env(airflow_home, tmp_path),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow-sqlite")
    env = dict(os.environ, AIRFLOW_HOME=str(home))
    airflow = Path(sys.executable).parent / "airflow"
    res = subprocess.run([str(airflow), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (home / "airflow.db").is_file()
    return home


def test_dag_test_on_sqlite_publishes_a_training_set(repo, migrated_home, simulated, tmp_path, days):
    root = tmp_path / "data"
    shutil.copytree(simulated, root)
    for day in days[:2]:
        out = _python(
            f"""
            import datetime, runpy
            dag = runpy.run_path({str(repo / 'dags' / 'labelq_daily.py')!r})['labelq_daily']()
            run = dag.test(logical_date=datetime.datetime({day.year}, {day.month}, {day.day}, tzinfo=datetime.timezone.utc))
            print('RUN_STATE', run.state)
            """,
            _env(migrated_home, root),
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
        assert "RUN_STATE success" in out.stdout, (out.stdout + out.stderr)[-4000:]

    from pipeline import read_training_set
    from pipeline.publish import list_versions

    assert list_versions(root, "sentiment") == [d.isoformat() for d in days[:2]]
    published = read_training_set(root, "sentiment")
    plain = pd.read_parquet(root / "curated" / "sentiment" / days[1].isoformat())
    assert len(plain) == len(published) > 0
    assert plain["item_id"].is_unique
    assert set(plain["label"]) <= {"negative", "neutral", "positive"}
    # the DAG wrote the same partitions the CLI writes
    for d in days[:2]:
        assert (root / "metrics" / "sentiment" / f"date={d}" / "summary.json").is_file()
        assert not (root / "metrics" / "sentiment" / f"date={days[2]}").exists()
