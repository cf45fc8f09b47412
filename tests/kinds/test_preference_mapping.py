"""The preference kind's ingest mapping, row by row: vocabulary, orientation, margin, pair ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.config import VendorConfig
from pipeline.kinds import get_kind

KIND = get_kind("preference")


def _vendor(**extra) -> VendorConfig:
    columns = {"p": "prompt_id", "x": "response_a", "y": "response_b", "c": "choice", "w": "annotator_id",
               "s": "strength", "f": "shown_first"}
    return VendorConfig(task="t", landing="landing/v", columns=columns,
                        labels={"X": "a", "Y": "b", "=": "tie"}, options={"strength_max": 2}, **extra)


def _map(prompt, x, y, choice, strength, shown):
    cols = {"prompt_id": pa.chunked_array([prompt]), "response_a": pa.chunked_array([x]),
            "response_b": pa.chunked_array([y]), "choice": pa.chunked_array([choice]),
            "strength": pa.chunked_array([strength], pa.int64()), "shown_first": pa.chunked_array([shown])}
    bad = np.zeros(len(prompt), dtype=bool)
    out = KIND.map_payload(cols, _vendor(), bad)
    return {k: v.to_pylist() for k, v in out.items()}, KIND.item_ids(out, bad).to_pylist(), bad


def test_rows_are_turned_into_canonical_order_with_choice_margin_and_order_flipped():
    out, ids, bad = _map(["p1", "p1", "p1", "p1"], ["r2", "r1", "r2", "r2"], ["r1", "r2", "r1", "r1"],
                         ["X", "X", "=", "maybe"], [2, 1, 0, 1], ["X", "Y", "Y", "X"])
    assert out["response_a"] == ["r1"] * 4 and out["response_b"] == ["r2"] * 4
    assert out["choice"] == ["b", "a", "tie", "maybe"]  # an unknown word is kept for validation to name
    assert out["margin"] == [-3.0, 1.5, 0.0, None]  # +-3 * strength / strength_max towards response_a
    assert out["shown_first"] == ["b", "b", "a", "b"]
    assert ids == ["p1:r1:r2"] * 4 and not bad.any()


def test_a_self_comparison_keeps_its_ids_for_the_suite_to_quarantine():
    out, ids, _ = _map(["p"], ["r1"], ["r1"], ["X"], [1], ["X"])
    assert out["response_a"] == out["response_b"] == ["r1"] and ids == ["p:r1:r1"]


def test_missing_parts_give_a_null_pair_id():
    out, ids, _ = _map(["p", None], ["r1", "r1"], [None, "r2"], ["X", "X"], [1, 1], ["X", "X"])
    assert ids == [None, None]


def test_a_vendor_without_strength_or_order_gets_nulls():
    vendor = VendorConfig(task="t", landing="landing/v", columns={"p": "prompt_id", "x": "response_a", "y": "response_b",
                                                                  "c": "choice", "w": "annotator_id"},
                          labels={"L": "a", "R": "b"})
    cols = {"prompt_id": pa.chunked_array([["p"]]), "response_a": pa.chunked_array([["b"]]),
            "response_b": pa.chunked_array([["a"]]), "choice": pa.chunked_array([["L"]])}
    out = {k: v.to_pylist() for k, v in KIND.map_payload(cols, vendor, np.zeros(1, dtype=bool)).items()}
    assert out == {"prompt_id": ["p"], "response_a": ["a"], "response_b": ["b"], "choice": ["b"], "margin": [None],
                   "shown_first": [None], "rationale": [None]}


@pytest.mark.parametrize("top", [0, -1, "2", True])
def test_a_strength_scale_must_be_a_positive_number(top):
    from pipeline.config import TaskConfig

    with pytest.raises(ValueError, match="strength_max"):
        KIND.check_vendor(_vendor().model_copy(update={"options": {"strength_max": top}}), TaskConfig(kind="preference"))


def test_a_vendor_that_maps_its_own_pair_id_keeps_it():
    from pipeline.ingest.canonical import flatten, map_batch

    vendor = VendorConfig(task="t", landing="landing/v", labels={"X": "a", "Y": "b"},
                          columns={"pair": "item_id", "p": "prompt_id", "x": "response_a", "y": "response_b", "c": "choice",
                                   "w": "annotator_id"})
    table = pa.table({"pair": ["lab-7", "lab-8"], "p": ["p", "p"], "x": ["r2", "r1"], "y": ["r1", "r3"], "c": ["X", "Y"],
                      "w": ["w1", "w1"]})
    flat, rows = flatten(table, vendor)
    out = map_batch(flat, task="t", vendor_name="v", vendor=vendor, batch_id="b", source_file="f", source_rows=rows, kind=KIND)
    assert out["item_id"].to_pylist() == ["lab-7", "lab-8"]
    assert out["response_a"].to_pylist() == ["r1", "r1"] and out["choice"].to_pylist() == ["b", "b"]
