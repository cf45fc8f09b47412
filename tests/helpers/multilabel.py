"""Tag-set (multi-label) annotation frames for the multi-label measure tests, and scikit-learn's
per-answer scores of them against gold (the reference :func:`pipeline.measure.multilabel.tag_scores`
must equal)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

TAGS = ["hate", "nsfw", "spam", "violence"]
#: vendor -> (share of true tags it keeps, chance of adding each other tag, share of no answers)
VENDORS = {"loose": (0.8, 0.25, 0.05), "tight": (0.95, 0.02, 0.0), "sloppy": (0.6, 0.1, 0.1)}


def random_tagging(seed: int = 0, n_items: int = 120, gold_share: float = 0.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(annotations, gold)``: annotations ``item_id, vendor, annotator_id, tags`` (lists, some
    numpy arrays, some ``[]``, some ``None``) and ``gold`` ``item_id, gold_tags`` on a share of the
    items (a few gold items nobody answered)."""
    rng = np.random.default_rng(seed)
    rows, gold = [], []
    for i in range(n_items):
        item = f"i{i:03d}"
        truth = sorted(t for t, p in zip(TAGS, (0.2, 0.1, 0.4, 0.15)) if rng.random() < p)
        if rng.random() < gold_share:
            gold.append((item, truth))
        if i % 17 == 0:  # a gold item nobody answered (when it is gold)
            continue
        for vendor, (keep, extra, missing) in VENDORS.items():
            for a in rng.choice(5, size=rng.integers(1, 4), replace=False):
                if rng.random() < missing:
                    tags = None
                else:
                    kept = {t for t in truth if rng.random() < keep}
                    tags = sorted(kept | {t for t in TAGS if t not in truth and rng.random() < extra})
                    if a % 2:
                        tags = np.asarray(tags, dtype=object)
                rows.append((item, vendor, f"{vendor}-{a}", tags))
    annotations = pd.DataFrame(rows, columns=["item_id", "vendor", "annotator_id", "tags"])
    return annotations, pd.DataFrame(gold, columns=["item_id", "gold_tags"])


def sklearn_scores(annotations: pd.DataFrame, gold: pd.DataFrame, tags: Sequence[str],
                   average: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's ``precision_recall_fscore_support`` (``zero_division=np.nan``) of the
    answering rows of ``annotations`` on gold items, each aligned with its item's gold set."""
    from sklearn.metrics import precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    answered = annotations[annotations["tags"].notna()]
    on_gold = answered.merge(gold, on="item_id", how="inner")
    binarizer = MultiLabelBinarizer(classes=list(tags)).fit([list(tags)])
    y_pred = binarizer.transform([list(s) for s in on_gold["tags"]])
    y_true = binarizer.transform([list(s) for s in on_gold["gold_tags"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision / recall: NaN by zero_division
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=np.nan)
    return np.asarray(p, dtype=float), np.asarray(r, dtype=float), np.asarray(f, dtype=float)
