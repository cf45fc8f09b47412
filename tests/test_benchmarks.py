"""The benchmarks run to the end on a small input (they print figures; these check they exit cleanly
and account for every row)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO


@pytest.mark.slow
def test_bench_ingest_exits_cleanly_and_accounts_for_every_row(tmp_path):
    out = tmp_path / "ingest.json"
    proc = subprocess.run([sys.executable, "benchmarks/bench_ingest.py", "--rows", "20000", "--batch-rows", "5000",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]  # it used to segfault at exit (a freed memory pool)
    res = json.loads(out.read_text())
    assert res["rows_in"] == 20000 == res["rows_staged"] + res["rows_quarantined"] and res["rows_quarantined"] > 0
