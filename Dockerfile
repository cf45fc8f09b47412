# labelq on Airflow 3: one image for every Airflow component (api-server, scheduler,
# dag-processor, triggerer, celery worker) with the project installed, so a worker can import
# `pipeline` and run every stage. docker-compose.yml builds it; docs/operations.md.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AIRFLOW_HOME=/opt/airflow \
    LABELQ_HOME=/opt/labelq

RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 50000 --gid 0 --home-dir /opt/airflow --create-home airflow \
 && mkdir -p /opt/labelq /opt/airflow/logs /opt/airflow/auth \
 && chown -R 50000:0 /opt/labelq /opt/airflow

WORKDIR /opt/labelq
# The project with its `celery` extra (Celery provider, PostgreSQL and Redis drivers; see
# pyproject.toml). asyncpg: Airflow 3.3 also opens an async engine on the metadata DB;
# celery<5.7: the Celery provider 3.26 imports `celery.backends.database.retry`, gone in 5.7.
COPY --chown=50000:0 pyproject.toml README.md ./
COPY --chown=50000:0 pipeline/ pipeline/
RUN pip install --upgrade pip uv \
 && uv pip install --system --compile-bytecode -e ".[celery]" "asyncpg>=0.30" "celery[redis]>=5.5,<5.7"
COPY --chown=50000:0 dags/ dags/
# bytecode at build time: PYTHONDONTWRITEBYTECODE keeps imports from writing any, and every task
# process would otherwise compile its imports (uv's --compile-bytecode does the installed packages)
RUN python -m compileall -q pipeline dags
COPY --chown=50000:0 expectations/ expectations/
COPY --chown=50000:0 config/ config/

USER 50000
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
