"""docker-compose.yml, .env.example and the Dockerfile, checked without a Docker engine.

The compose file must describe the production topology (Airflow 3, CeleryExecutor, Postgres,
Redis, api-server, scheduler, dag-processor, triggerer, workers, an init service), every
Airflow component must read the same configuration from the one env file, every long-running
service must have a health check, and the project's folders must be mounted where the
configuration says they are. The e2e stack (tests/helpers/e2e_stack.py) must use the same settings.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from helpers import REPO
import yaml

AIRFLOW_SERVICES = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
ALL_AIRFLOW = {*AIRFLOW_SERVICES, "airflow-init"}
# Settings every component must share (and the e2e stack must set too).
SHARED = [
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "LABELQ_ROOT",
    "LABELQ_CONFIG",
]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """.env.example as docker compose reads it (KEY=VALUE lines, # comments)."""
    out = {}
    for n, line in enumerate((REPO / ".env.example").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f".env.example:{n}: not KEY=VALUE: {line!r}"
        assert key not in out, f".env.example:{n}: {key} set twice"
        out[key] = value
    return out


def _mounts(service: dict) -> dict[str, str]:
    """container path -> host path of the service's bind mounts and volumes."""
    out = {}
    for v in service.get("volumes", []):
        host, container = v.split(":")[:2]
        out[container] = host
    return out


def test_compose_has_the_production_topology(services):
    assert {"postgres", "redis", *ALL_AIRFLOW} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"][: len(command)] == command, name
    assert "airflow db migrate" in services["airflow-init"]["command"][0]
    assert services["airflow-init"]["restart"] == "no"


def test_compose_airflow_services_share_one_image_and_one_env_file(services):
    images = {services[s]["image"] for s in ALL_AIRFLOW}
    assert len(images) == 1, images
    for s in ALL_AIRFLOW:
        assert services[s]["build"] == ".", s
        assert services[s]["env_file"] == [".env"], s
        # configuration in one place: no service overrides a setting inline
        assert "environment" not in services[s], f"{s}: put settings in .env.example, not in `environment:`"
    assert (REPO / "Dockerfile").is_file()
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r'pip install .*-e "\.\[celery\]"', dockerfile), "the image installs the project with the celery extra"


def test_compose_health_checks_and_start_order(services, env):
    # the scheduler's health endpoint only exists when enabled
    assert ":8974/health" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    for name, svc in services.items():
        if name == "airflow-init":
            assert "healthcheck" not in svc
            continue
        hc = svc.get("healthcheck")
        assert hc and hc["test"][0] in ("CMD", "CMD-SHELL") and len(hc["test"]) > 1, f"{name}: no health check"
        assert {"interval", "timeout", "retries"} <= set(hc), name
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    init_deps = services["airflow-init"]["depends_on"]
    assert init_deps["postgres"]["condition"] == "service_healthy"


def test_compose_mounts_the_project_where_the_config_points(services, env):
    for s in ALL_AIRFLOW:
        mounts = _mounts(services[s])
        for folder in ("dags", "pipeline", "expectations", "config", "data"):
            assert mounts.get(f"/opt/labelq/{folder}") == f"./{folder}", f"{s}: ./{folder} not mounted"
            if folder != "data":
                assert (REPO / folder).is_dir()
        assert "/opt/airflow/logs" in mounts, f"{s}: task logs must be shared with the api-server"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/labelq/dags"
    assert env["LABELQ_ROOT"] == "/opt/labelq/data"
    assert Path(env["LABELQ_CONFIG"]).parent == Path("/opt/labelq/config")
    assert (REPO / "config" / Path(env["LABELQ_CONFIG"]).name).is_file()
    auth = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).parent
    assert str(auth) in _mounts(services["airflow-apiserver"]) and str(auth) in _mounts(services["airflow-init"])


def test_env_example_configures_celery_on_postgres_and_redis(env, services):
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert re.fullmatch(r"postgresql\+psycopg2://[^@]+@postgres:5432/\w+", db), db
    # Celery results go to the same database, with an explicit driver (SQLAlchemy 2.1 would pick psycopg 3)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + db
    assert f"{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}" in db
    assert re.fullmatch(r"redis://redis:6379/\d+", env["AIRFLOW__CELERY__BROKER_URL"])
    port = services["airflow-apiserver"]["command"][services["airflow-apiserver"]["command"].index("--port") + 1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-apiserver:{port}/execution/"
    assert services["airflow-apiserver"]["ports"] == [f"{port}:{port}"]
    for secret in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
                   "LABELQ_ADMIN_PASSWORD"):
        assert env[secret] == "CHANGE-ME", f"{secret}: ship a placeholder, never a real secret"
        assert secret in services["airflow-init"]["command"][0], f"airflow-init must refuse a missing {secret}"


def test_env_example_settings_are_real_airflow_options(env):
    from airflow.configuration import conf

    described = conf.configuration_description  # core + provider (celery) options
    for key in env:
        if not key.startswith("AIRFLOW__"):
            continue
        section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
        assert option in described.get(section, {}).get("options", {}), f".env.example: {key} is no Airflow option"


def test_e2e_stack_uses_the_same_settings(env, tmp_path):
    from helpers.e2e_stack import AirflowStack

    stack_env = AirflowStack(home=tmp_path, root=tmp_path / "data").env()
    missing = [k for k in SHARED if k not in env or k not in stack_env]
    assert not missing, f"set in only one of .env.example and tests/helpers/e2e_stack.py: {missing}"
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__LOAD_EXAMPLES"):
        assert stack_env[key] == env[key], key
    assert stack_env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")


def test_init_script_is_valid_bash(services):
    script = services["airflow-init"]["command"][0]
    # undo compose's escaping/interpolation: $$ -> $, ${AIRFLOW_UID:-50000} -> 50000
    script = re.sub(r"\$\{AIRFLOW_UID:-(\d+)\}", r"\1", script).replace("$$", "$")
    res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_local_env_file_is_not_committed():
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_operations_guide_shows_the_commands_the_tests_run():
    from helpers import e2e_stack

    guide = (REPO / "docs" / "operations.md").read_text()
    expected = [e2e_stack.SIMULATE, e2e_stack.UNPAUSE, "airflow db migrate",
                *(e2e_stack.BACKFILL.format(reprocess=r) for r in ("failed", "completed"))]
    for cmd in expected:
        assert cmd in guide, f"docs/operations.md does not show `{cmd}`"
    for argv in e2e_stack.PROCESSES.values():
        pattern = r"\s+".join(r"\S+" if "{" in a else re.escape(a) for a in ["airflow", *argv])
        assert re.search(pattern, guide), f"docs/operations.md does not show `airflow {' '.join(argv)}`"
    # the REST calls the e2e test makes
    for fragment in ('"$API/auth/token"', '"$API/api/v2/dags/labelq_daily/dagRuns"', '"logical_date": null',
                     '"conf": {"date": "2026-11-01"}', "/api/v2/backfills?dag_id=labelq_daily"):
        assert fragment in guide, fragment
    assert "docs/operations.md" in (REPO / "README.md").read_text(), "README must link the operations guide"
