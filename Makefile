# labelq: `make demo` and `make test` do all set-up on a machine with python3 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

# Airflow runs on its embedded default here: SQLite metadata under a project-local home.
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export LABELQ_ROOT ?= $(CURDIR)/data
export LABELQ_CONFIG ?= $(CURDIR)/config/labelq.yaml

DEMO_START ?= 2026-11-01
DEMO_DAYS  ?= 3
SEED       ?= 7
PYTEST_ARGS ?=
# Local Airflow (`make airflow`, scripts/airflow_local.py): API server / UI port.
AIRFLOW_PORT ?= 8080
LOCAL_AIRFLOW = $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) scripts/airflow_local.py

.PHONY: install demo test test-all typecheck e2e bench clean help airflow airflow-stop airflow-status airflow-wait

help:
	@echo "make demo   install into $(VENV), simulate $(DEMO_DAYS) days of vendor deliveries and run the Airflow DAG on each"
	@echo "make test   install into $(VENV) and run the fast tests (not marked slow or e2e; a few minutes)"
	@echo "make test-all  the type check (mypy) and every test, as CI runs it (.ci/run)"
	@echo "make typecheck  mypy on pipeline/"
	@echo "make e2e    only the end-to-end tests: Airflow on local PostgreSQL + Redis with Celery (docs/operations.md), and on SQLite (make airflow)"
	@echo "make airflow         start a local Airflow on $(AIRFLOW_HOME) (SQLite, LocalExecutor): scheduler, dag-processor, api-server on port $(AIRFLOW_PORT)"
	@echo "make airflow-wait    wait for the latest backfill of labelq_daily and show its runs"
	@echo "make airflow-status  the local Airflow's processes, health and latest runs"
	@echo "make airflow-stop    stop the local Airflow (and its running tasks)"
	@echo "make bench  run the benchmarks in benchmarks/"
	@echo "make clean  remove $(VENV), .airflow and data/"

install: $(VENV)/.installed

# uv when available (much faster), else pip. Re-runs when pyproject.toml changes. Every module is
# compiled to bytecode here (uv's --compile-bytecode, then compileall of the venv's packages,
# which only compiles what is missing, and of pipeline/ and dags/): each Airflow task is a fresh
# process, and where PYTHONDONTWRITEBYTECODE is set (as on this machine) no import would ever
# write a .pyc; imports are then 2-4x slower (benchmarks/bench_startup.py measures it).
$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if command -v uv >/dev/null 2>&1; then \
	    uv pip install --compile-bytecode --python $(BIN)/python -e '.[dev]'; \
	elif $(BIN)/python -m pip install -q uv >/dev/null 2>&1; then \
	    $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e '.[dev]'; \
	else \
	    $(BIN)/python -m pip install -e '.[dev]'; \
	fi
	@$(BIN)/python -m compileall -q -j 0 pipeline dags benchmarks scripts \
	    "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null
	@touch $@

demo: install
	$(BIN)/labelq simulate --root "$(LABELQ_ROOT)" --seed $(SEED) --days $(DEMO_DAYS) --start $(DEMO_START)
	@mkdir -p "$(AIRFLOW_HOME)/demo-logs"
	@$(BIN)/airflow db migrate > "$(AIRFLOW_HOME)/demo-logs/db-migrate.log" 2>&1 \
	    || { tail -n 40 "$(AIRFLOW_HOME)/demo-logs/db-migrate.log"; exit 1; }
	@for day in $$($(BIN)/python -c "import datetime as d; s=d.date.fromisoformat('$(DEMO_START)'); print(*[s+d.timedelta(days=i) for i in range($(DEMO_DAYS))])"); do \
	    log="$(AIRFLOW_HOME)/demo-logs/labelq_daily-$$day.log"; \
	    echo "airflow dags test labelq_daily $$day  (log: $$log)"; \
	    $(BIN)/airflow dags test labelq_daily $$day > "$$log" 2>&1 || { tail -n 60 "$$log"; exit 1; }; \
	    grep -q "DagRun Finished: .*, state=success," "$$log" || { echo "DAG run for $$day did not succeed:"; tail -n 60 "$$log"; exit 1; }; \
	    grep -h "labelq SLA check failed" "$$log" | sed -e 's/^.*labelq SLA check failed/  SLA check failed (task failed, run succeeded)/' -e 's/: SLA breached by.*//'; \
	done
	@echo
	@$(BIN)/labelq summary --quiet
	@echo
	@echo "Read it:  $(BIN)/python -c \"import pipeline; print(pipeline.read_training_set('$(LABELQ_ROOT)', 'sentiment').head())\""
	@echo "TRL:      $(BIN)/python -c \"import pipeline; print(pipeline.read_published_table('$(LABELQ_ROOT)', 'helpfulness', 'trl').to_pandas().head())\""
	@echo "Rubric:   $(BIN)/labelq rubric instruction_following factuality safe --root '$(LABELQ_ROOT)'"
	@echo "Tags:     $(BIN)/python -c \"import pipeline; print(pipeline.read_training_set('$(LABELQ_ROOT)', 'content_flags')[['item_id', 'tags', 'confidence']].head().to_string())\""

# `make test`: the fast default (everything not marked slow or e2e); `make test-all`: the type
# check and every test, as CI runs it (.ci/run). Both run on $(TEST_WORKERS) processes (pytest-xdist),
# a test module's tests on one of them (its module fixtures are built once); TEST_WORKERS=0 runs
# everything in this process (e.g. to debug with pdb).
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: install
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not e2e" $(PYTEST_ARGS)

test-all: install typecheck
	$(BIN)/python -m pytest $(XDIST) --durations=25 $(PYTEST_ARGS)

typecheck: install
	$(BIN)/python -m mypy

e2e: install
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/bench_agreement.py
	$(BIN)/python benchmarks/bench_consensus.py
	$(BIN)/python benchmarks/bench_preference.py
	$(BIN)/python benchmarks/bench_rating.py
	$(BIN)/python benchmarks/bench_multilabel.py
	$(BIN)/python benchmarks/bench_history.py
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_day.py
	$(BIN)/python benchmarks/bench_startup.py
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf $(VENV) .airflow data

# A local Airflow on the embedded default (README, "Backfill locally"): SQLite under
# $(AIRFLOW_HOME), LocalExecutor; processes in the background, logs in $(AIRFLOW_HOME)/local/.
airflow: install
	@$(LOCAL_AIRFLOW) start --port $(AIRFLOW_PORT)

airflow-wait:
	@$(LOCAL_AIRFLOW) wait

airflow-status:
	@$(LOCAL_AIRFLOW) status

airflow-stop:
	@$(LOCAL_AIRFLOW) stop
