"""The five real crowdsourcing datasets with ground truth (VLDB 2017 truth-inference benchmark),
at ``../shared/datasets/truth_inference`` relative to the repo root."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from helpers import REPO

#: ``../shared`` relative to the repo root (override with ``$LABELQ_TRUTH_INFERENCE_DIR``)
DATA_DIR = Path(os.environ.get("LABELQ_TRUTH_INFERENCE_DIR") or REPO.parent / "shared" / "datasets" / "truth_inference")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DATASETS = ["duck", "product", "dog", "face"]


def load(name: str) -> tuple[pd.DataFrame, pd.Series]:
    answers = pd.read_csv(DATA_DIR / name / "answer.csv", dtype={"question": str, "worker": str})
    annotations = answers.rename(
        columns={"question": "item_id", "worker": "annotator_id", "answer": "label"}
    )
    truth = pd.read_csv(DATA_DIR / name / "truth.csv", dtype={"question": str})
    return annotations, truth.set_index("question")["truth"]


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    return float((labels.reindex(truth.index) == truth).mean())


def crowdkit_frame(annotations: pd.DataFrame) -> pd.DataFrame:
    return annotations.rename(columns={"item_id": "task", "annotator_id": "worker"})
