"""Classification reads its annotations compact (categoricals with sorted categories): every table
its measure and scorecards write equals the one computed from the same rows as strings."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.history import resolve_day
from pipeline.steps import read_gold
from pipeline.storage import Store
from helpers.history import as_objects


def _reads(processed, config, day):
    tcfg = config.tasks["sentiment"]
    kind = tcfg.label_kind
    assert kind.compact_reads
    gold = read_gold(Store(processed), "sentiment", kind=kind)
    strings = resolve_day(Store(processed), "sentiment", day, schema=kind.annotations)
    compact = resolve_day(Store(processed), "sentiment", day, schema=kind.annotations, compact=True)
    assert isinstance(compact["annotator_id"].dtype, pd.CategoricalDtype) and len(compact) == len(strings) > 500
    return tcfg, kind, gold, strings, compact


def _assert_tables_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(want)
    for name in want:
        assert len(want[name]), name
        pd.testing.assert_frame_equal(as_objects(got[name]), as_objects(want[name]), obj=name)


def test_measure_tables_equal_from_a_compact_read(processed, config, days):
    tcfg, kind, gold, strings, compact = _reads(processed, config, days[-1])
    want, got = kind.measure(strings, gold, tcfg), kind.measure(compact, gold, tcfg)
    _assert_tables_equal(got.tables, want.tables)
    assert got.summary == want.summary


@pytest.mark.parametrize(("day_index", "method"), [(0, "majority_vote"), (-1, "majority_vote"), (-1, "dawid_skene"),
                                                    (-1, "weighted_vote")])
def test_scorecards_equal_from_a_compact_read(processed, config, days, day_index, method):
    """Also with the model-based LOO consensus, which takes gold (items of other days among it)."""
    tcfg, kind, gold, strings, compact = _reads(processed, config, days[day_index])
    tcfg = tcfg.model_copy(update={"consensus": method})
    assert not gold["item_id"].isin(strings["item_id"]).all()
    vendors = config.vendors_for("sentiment")
    args = dict(task_name="sentiment", prices={v: c.price_per_label for v, c in vendors.items()}, vendors=list(vendors))
    want, got = kind.scorecards(strings, gold, tcfg, **args), kind.scorecards(compact, gold, tcfg, **args)
    _assert_tables_equal(got.tables(), want.tables())
