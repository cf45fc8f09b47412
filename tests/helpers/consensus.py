"""Annotation frames for the consensus tests, and the output contract every method must meet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.merge.consensus import RESULT_COLUMNS


def frame(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def gold_frame(pairs: dict) -> pd.DataFrame:
    return pd.DataFrame({"item_id": list(pairs), "gold_label": list(pairs.values())})


def check_contract(out: pd.DataFrame, annotations: pd.DataFrame) -> None:
    """The aggregate() output contract, recomputed from the raw annotations."""
    assert list(out.columns) == list(RESULT_COLUMNS)
    assert isinstance(out.index, pd.RangeIndex)
    items = np.sort(annotations["item_id"].unique())
    assert out["item_id"].tolist() == items.tolist()
    assert out["confidence"].dtype == np.float64 and out["agreement"].dtype == np.float64
    assert out["n_annotations"].dtype == np.int64
    assert out["confidence"].between(0.0, 1.0 + 1e-12).all()
    assert not out.isna().any().any()
    merged = annotations.merge(out[["item_id", "label"]], on="item_id", suffixes=("", "_c"))
    n = merged.groupby("item_id").size()
    agree = (merged["label"] == merged["label_c"]).groupby(merged["item_id"]).mean()
    np.testing.assert_array_equal(out["n_annotations"], n.loc[out["item_id"]].to_numpy())
    np.testing.assert_allclose(out["agreement"], agree.loc[out["item_id"]].to_numpy())


def flipper_frame() -> tuple[pd.DataFrame, dict]:
    """a and b always right, c always says the opposite; item 7 was labelled by c alone."""
    truth = {i: ("pos" if i % 2 else "neg") for i in range(1, 7)}
    flip = {"pos": "neg", "neg": "pos"}
    rows = []
    for i, t in truth.items():
        rows += [(i, "a", t), (i, "b", t), (i, "c", flip[t])]
    rows.append((7, "c", "pos"))
    truth[7] = "neg"
    return frame(rows), truth


def random_frame(seed: int, n_items: int = 60, n_ann: int = 8, k: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(f"i{i:03d}", f"w{a}", f"c{rng.integers(k)}")
            for i in range(n_items) for a in rng.choice(n_ann, 3, replace=False)]
    df = frame(rows)
    return df.assign(vendor=df["annotator_id"].map(lambda a: "V" + str(int(a[1:]) % 2)))
