"""Benchmark process start-up: what a stage process pays in imports, with and without bytecode.

Run from the repository root::

    .venv/bin/python benchmarks/bench_startup.py [--repeats 5] [--json out.json]

Each Airflow task is a fresh process that imports what its stage needs, so import time is paid
by every task of every run. For each import set below, a fresh ``python -c "import ..."`` is
timed (best of ``--repeats``) in two conditions:

* ``installed``: as the venv is (``make install`` compiles every module to bytecode:
  ``uv pip install --compile-bytecode`` and ``compileall`` of ``pipeline/`` and ``dags/``);
* ``no bytecode``: ``PYTHONPYCACHEPREFIX`` pointed at an empty folder and
  ``PYTHONDONTWRITEBYTECODE=1``, so no ``.pyc`` is found and every import compiles its source
  (what a venv installed without bytecode costs in an environment that sets
  ``PYTHONDONTWRITEBYTECODE``, as this machine's and the old Dockerfile did).

Also prints the share of the venv's modules that have bytecode. A benchmark, not a test: it
prints and never fails on a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: What a stage process imports (label, statement).
IMPORTS = (
    ("pipeline (DAG parse)", "import pipeline, pipeline.config"),
    ("pipeline.steps + pandas/pyarrow", "import pipeline.steps, pandas, pyarrow.parquet"),
    ("validate stage (+ Great Expectations)", "import pipeline.validate.gx, great_expectations"),
    ("Airflow task SDK", "import airflow.sdk"),
)


def _time(statement: str, env: dict[str, str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], env=env, cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def bytecode_share(root: Path) -> tuple[int, int]:
    """(modules with a current ``.pyc`` of this interpreter, modules) under ``root``."""
    tag = sys.implementation.cache_tag
    sources = [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
    compiled = sum((p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").is_file() for p in sources)
    return compiled, len(sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    site = Path(sysconfig.get_paths()["purelib"])
    compiled, modules = bytecode_share(site)
    own_compiled, own = bytecode_share(REPO / "pipeline")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"bytecode: {compiled:,} of {modules:,} modules in {site} ({compiled / max(modules, 1):.0%}); "
          f"pipeline/: {own_compiled} of {own}")
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    base["PYTHONDONTWRITEBYTECODE"] = "1"  # never add bytecode while measuring
    rows = []
    with tempfile.TemporaryDirectory(prefix="labelq-nopyc-") as empty:
        cold = {**base, "PYTHONPYCACHEPREFIX": empty}
        print(f"\n{'imports':40} {'installed s':>12} {'no bytecode s':>14} {'ratio':>7}")
        for label, statement in IMPORTS:
            warm_s = _time(statement, base, args.repeats)
            cold_s = _time(statement, cold, args.repeats)
            rows.append({"imports": label, "statement": statement, "installed_s": warm_s, "no_bytecode_s": cold_s})
            print(f"{label:40} {warm_s:12.2f} {cold_s:14.2f} {cold_s / warm_s:6.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"bytecode_modules": compiled, "modules": modules, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
