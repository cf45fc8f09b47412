"""Stage 3, measure: inter-annotator agreement (:mod:`~pipeline.measure.agreement`) and accuracy
against gold (:mod:`~pipeline.measure.accuracy`), with confidence intervals
(``metrics/<task>/date=<D>/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def headline_figures(agreement: pd.DataFrame, vendor_accuracy: pd.DataFrame) -> dict[str, Any]:
    """The day's ``summary.json`` figures of any label kind: ``agreement`` (the overall value of each
    metric of its ``agreement`` table) and ``gold_accuracy`` (per vendor: accuracy, n_gold, Wilson
    bounds, from its ``accuracy_vendor`` table); NaN as None."""
    import pandas as pd

    def num(x: Any) -> float | None:
        return None if pd.isna(x) else float(x)

    overall = agreement[agreement["scope"] == "overall"].set_index("metric")["value"]
    rows: Iterable[Any] = vendor_accuracy.itertuples()
    return {"agreement": {str(k): num(v) for k, v in overall.items()},
            "gold_accuracy": {r.vendor: {"accuracy": num(r.accuracy), "n_gold": int(r.n_gold), "ci_low": num(r.ci_low),
                                         "ci_high": num(r.ci_high)} for r in rows}}
