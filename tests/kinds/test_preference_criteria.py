"""Per-criterion preferences: one vendor file with a helpfulness and a harmlessness verdict per row
feeds two preference tasks (the seam's multi-task mapping), each validated, scored and published
on its own, the pair turned to the canonical order in both."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import parse_config
from pipeline.publish import read_published_table, read_training_set
from pipeline.storage import open_store

from helpers.deliveries import DAY

RAW = {
    "tasks": {"helpfulness": {"kind": "preference", "min_labels_per_item": 2},
              "harmlessness": {"kind": "preference", "min_labels_per_item": 2}},
    "vendors": {
        "judges": {"landing": "landing/judges", "max_bad_row_fraction": 0.5,
                   "columns": {"prompt": "prompt_id", "left": "response_a", "right": "response_b", "judge": "annotator_id",
                               "ts": "annotated_at", "first": "shown_first"},
                   "tasks": {"helpfulness": {"columns": {"help": "choice"}, "labels": {"L": "a", "R": "b", "=": "tie"}},
                             "harmlessness": {"columns": {"harm": "choice"},  # its own word for a tie
                                              "labels": {"L": "a", "R": "b", "same": "tie"}}}},
    },
}
N = 60  # 10 prompts x 3 pairs x 2 judges


def _judges() -> pa.Table:
    k = np.arange(N)
    prompt, pair, judge = k // 6, (k // 2) % 3, k % 2
    left = np.array([f"p{p}-r{x}" for p, x in zip(prompt, pair)], dtype=object)
    right = np.array([f"p{p}-r{(x + 1) % 3}" for p, x in zip(prompt, pair)], dtype=object)
    flip = judge == 1  # the second judge was shown the pair the other way round
    left, right = np.where(flip, right, left), np.where(flip, left, right)
    # on helpfulness the lower-numbered response wins; on harmlessness the other one; both judges agree
    lower_left = np.array([a < b for a, b in zip(left, right)])
    help_ = np.where(lower_left, "L", "R").astype(object)
    harm = np.where(lower_left, "R", "L").astype(object)
    harm[7] = "maybe"  # unknown to harmlessness only
    return pa.Table.from_pandas(pd.DataFrame({
        "prompt": [f"p{p}" for p in prompt], "left": left, "right": right, "judge": [f"j{j}" for j in judge],
        "ts": pd.Timestamp("2026-11-01 12:00", tz="UTC") + pd.to_timedelta(k, unit="s"),
        "first": np.where(k % 3 == 0, "R", "L"), "help": help_, "harm": harm,
    }), preserve_index=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("criteria")
    config = parse_config(RAW)
    folder = root / "landing" / "judges" / DAY.isoformat()
    folder.mkdir(parents=True)
    pq.write_table(_judges(), folder / "judges-1.parquet")
    return config, root, steps.run_day(config, open_store(root), DAY)


def test_each_criterion_is_its_own_task_with_its_own_vocabulary(run):
    config, root, out = run
    v = out["vendors"]["judges"]["validate"]["tasks"]
    assert (v["helpfulness"]["rows_staged"], v["helpfulness"]["rows_quarantined"]) == (N, 0)
    assert (v["harmlessness"]["rows_staged"], v["harmlessness"]["rows_quarantined"]) == (N - 1, 1)
    helpful = steps.read_staged(open_store(root), "helpfulness", day=DAY)
    harmless = steps.read_staged(open_store(root), "harmlessness", day=DAY)
    assert (helpful["response_a"] < helpful["response_b"]).all() and (harmless["response_a"] < harmless["response_b"]).all()
    assert set(helpful["choice"]) == {"a"} and set(harmless["choice"]) == {"b"}  # the canonical order flips every verdict
    assert helpful["shown_first"].isin(["a", "b"]).all()  # "L" / "R" through the task's vocabulary of sides


def test_both_criteria_publish_their_pairs_and_scores(run):
    config, root, out = run
    helpful, harmless = read_training_set(root, "helpfulness"), read_training_set(root, "harmlessness")
    assert len(helpful) == 30 and set(helpful["preferred"]) == {"a"}
    assert len(harmless) == 29 and set(harmless["preferred"]) == {"b"}  # the pair with a quarantined row: one label
    scores = read_published_table(root, "helpfulness", "response_scores").to_pandas().set_index("response_id")
    mine = scores.loc[["p0-r0", "p0-r1", "p0-r2"]]
    assert mine["wins"].to_dict() == {"p0-r0": 4, "p0-r1": 2, "p0-r2": 0}  # r0 beats r1 and r2, r1 beats r2; two judges
    assert mine["score"].is_monotonic_decreasing and mine["score"].is_unique
    harm = read_published_table(root, "harmlessness", "response_scores").to_pandas().set_index("response_id")
    assert harm.loc["p0-r2", "score"] > harm.loc["p0-r1", "score"] > harm.loc["p0-r0", "score"]  # the other way round
