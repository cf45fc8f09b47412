"""What the history tests (tests/integration/test_history*.py) share: the published builds of a
root, and the orders (out of order, concurrent) in which days may be processed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd

from pipeline import steps
from pipeline.publish import list_versions, read_manifest
from pipeline.storage import open_store

TASK = "sentiment"
LABELQ = str(Path(sys.executable).parent / "labelq")
#: What a run that loses a race may say (and nothing else).
CLEAR_FAILURES = ("were never ingested and validated", "changed since it was merged")


def builds(root) -> dict[str, tuple[str, str, list[str]]]:
    """``{version: (build, content_sha256, days)}`` of every published version."""
    out = {}
    for v in list_versions(root, TASK):
        m = read_manifest(root, TASK, v)
        out[v] = (m["build"], m["content_sha256"], m["days"])
    return out


def stage_out_of_order(config, root, days) -> None:
    """A backfill order the DAG allows: day 2's ingest and validate before day 1's, then the
    per-task stages in date order."""
    for d in (days[1], days[0], days[2]):
        for vendor in config.vendors_for(TASK):
            steps.ingest(config, open_store(root), d, vendor)
            steps.validate(config, open_store(root), d, vendor)
    for d in days:
        steps.run_task_stages(config, open_store(root), d, TASK)


def _start(root: str, day: date, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([LABELQ, "run", "--root", root, "--date", day.isoformat(), "-q", "--config",
                             os.environ["LABELQ_CONFIG"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def concurrent_days_2_and_3(root: str, days, env, in_order) -> None:
    """Days 2 and 3 started together (day 1 done): each run succeeds, or fails naming the fix, and
    whatever is published meanwhile equals what running the days in order publishes. Then the
    failed ones are re-run one after the other."""
    procs = [(d, _start(root, d, env)) for d in (days[1], days[2])]
    results = [(d, p.returncode, err) for d, p in procs for _, err in [p.communicate(timeout=600)]]
    for _, rc, err in results:
        assert rc == 0 or (rc == 1 and any(m in err for m in CLEAR_FAILURES)), err[-2000:]
    published = builds(root)
    assert published == {v: in_order[v] for v in published}, "a concurrent run published other bytes"
    for d, rc, _ in sorted(results):
        if rc:
            rerun = _start(root, d, env)
            _, err = rerun.communicate(timeout=600)
            assert rerun.returncode == 0, err[-2000:]


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns (strings or categoricals) as Python objects, so a compact read and a string read
    of the same values compare equal with ``pd.testing.assert_frame_equal``."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, (pd.CategoricalDtype, pd.StringDtype))]
    return frame.astype({c: object for c in text})
