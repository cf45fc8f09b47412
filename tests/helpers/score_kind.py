"""A toy label kind from outside the package: a numeric score per (item, annotator).

It exists to prove the seam (:mod:`pipeline.kinds`): nothing in ``pipeline/`` knows it, yet a
task with ``kind: tests.helpers.score_kind:ScoreKind`` runs through every stage to a published
training set. Options: ``min``, ``max`` (the scale) and ``tolerance`` (a score within it of the
gold score is correct). Consensus: the per-item mean; ``agreement`` and ``confidence``: the share
of the item's scores within ``tolerance`` of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.kinds import Delivery, LabelKind, Measured, Simulated, SimulationSpec
from pipeline.measure.accuracy import wilson_interval

NUMBER = (pa.types.is_integer, pa.types.is_floating)


def _options(task: Any) -> tuple[float, float, float]:
    o = task.options
    return float(o.get("min", 0.0)), float(o.get("max", 10.0)), float(o.get("tolerance", 1.0))


class ScoreKind(LabelKind):
    name: ClassVar[str] = "score"
    payload: ClassVar[pa.Schema] = pa.schema([pa.field("score", pa.float64())])
    gold_payload: ClassVar[pa.Schema] = pa.schema([pa.field("gold_score", pa.float64(), nullable=False)])
    curated_payload: ClassVar[pa.Schema] = pa.schema([pa.field("score", pa.float64(), nullable=False)])
    vendor_columns: ClassVar[Mapping[str, tuple[Any, ...]]] = {"score": NUMBER}
    required_columns: ClassVar[tuple[str, ...]] = ("score",)
    default_consensus: ClassVar[str] = "mean"
    suite_file: ClassVar[Path | None] = Path(__file__).with_name("score_kind.json")

    def check_task(self, task: Any) -> None:
        if task.consensus != "mean":
            raise ValueError(f"consensus: a score task knows only 'mean', got {task.consensus!r}")
        unknown = sorted(set(task.options) - {"min", "max", "tolerance"})
        if unknown:
            raise ValueError(f"options: unknown option(s) {unknown}; a score task takes min, max, tolerance")
        lo, hi, tol = _options(task)
        if not lo < hi or tol <= 0:
            raise ValueError(f"options: need min < max and tolerance > 0, got {task.options}")

    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: Any, invalid_text: np.ndarray,
                    task: Any = None) -> dict[str, pa.ChunkedArray]:
        return {"score": pc.cast(columns["score"], pa.float64())}

    def suite_parameters(self, task: Any) -> dict[str, Any]:
        lo, hi, _ = _options(task)
        return {"score_min": lo, "score_max": hi}

    # -- numbers
    @staticmethod
    def _correct(annotations: pd.DataFrame, gold: pd.DataFrame, tol: float) -> pd.Series:
        truth = annotations["item_id"].map(gold.set_index("item_id")["gold_score"]) if len(gold) else \
            pd.Series(np.nan, index=annotations.index)
        ok = ((annotations["score"] - truth).abs() <= tol).astype("boolean")
        return ok.mask(truth.isna())

    def _accuracy(self, annotations: pd.DataFrame, correct: pd.Series, by: list[str]) -> pd.DataFrame:
        frame = annotations[by].assign(_g=correct.notna().astype("int64"), _c=correct.fillna(False).astype("int64"))
        out = frame.groupby(by, as_index=False).agg(n_gold=("_g", "sum"), n_correct=("_c", "sum"))
        out["accuracy"] = out["n_correct"] / out["n_gold"].where(out["n_gold"] > 0)
        out["ci_low"], out["ci_high"] = wilson_interval(out["n_correct"].to_numpy(), out["n_gold"].to_numpy())
        return out

    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: Any) -> Measured:
        from pipeline.contract import namespaced
        from pipeline.measure.agreement import krippendorff_alpha

        raters = namespaced(annotations).rename(columns={"score": "label"})
        rows = []
        for scope, part in [("overall", raters), *((f"vendor={v}", g) for v, g in raters.groupby("vendor"))]:
            alpha = krippendorff_alpha(part[["item_id", "annotator_id", "label"]], level="interval")
            rows.append({"scope": scope, "metric": "krippendorff_alpha", "value": float(alpha), "ci_low": np.nan,
                         "ci_high": np.nan, "n_items": int(part["item_id"].nunique()), "n_labels": len(part)})
        agreement = pd.DataFrame(rows)
        correct = self._correct(annotations, gold, _options(task)[2])
        return Measured({"agreement": agreement, "accuracy_vendor": self._accuracy(annotations, correct, ["vendor"]),
                         "accuracy_annotator": self._accuracy(annotations, correct, ["vendor", "annotator_id"])},
                        {"level": "interval"})

    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: Any) -> pd.DataFrame:
        tol = _options(task)[2]
        scored = annotations[annotations["score"].notna()]
        mean = scored.groupby("item_id")["score"].mean()
        near = (scored["score"] - scored["item_id"].map(mean)).abs() <= tol
        share = near.groupby(scored["item_id"]).mean()
        out = pd.DataFrame({"item_id": mean.index.astype(str), "score": mean.to_numpy(),
                            "n_annotations": scored.groupby("item_id").size().reindex(mean.index).to_numpy(),
                            "agreement": share.reindex(mean.index).to_numpy()})
        out["confidence"] = out["agreement"]
        return out.reset_index(drop=True)

    def consensus_settings(self, task: Any) -> dict[str, Any]:
        return {"settings": {"tolerance": _options(task)[2]}}

    def balance(self, curated: pa.Table, task: Any) -> dict[str, Any]:
        scores = curated["score"]
        return {"score_summary": {"mean": pc.mean(scores).as_py(), "min": pc.min(scores).as_py(),
                                  "max": pc.max(scores).as_py()}}

    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: Any, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Any:
        from pipeline.score.scorecard import scorecards_from_correct

        return scorecards_from_correct(annotations, self._correct(annotations, gold, _options(task)[2]),
                                       task=task_name, prices=prices, vendors=vendors)

    def report_sections(self, inputs: Any) -> list[dict[str, Any]]:
        cons = inputs.consensus
        if cons is None:
            return [{"id": "score-histogram", "title": "Consensus scores", "columns": [], "rows": [], "note": None}]
        counts = pd.cut(cons["score"], bins=np.arange(0, 11, 2), include_lowest=True).value_counts(sort=False)
        return [{"id": "score-histogram", "title": "Consensus scores", "columns": ["scores", "items"],
                 "rows": [{"scores": str(b), "items": int(n)} for b, n in counts.items()],
                 "note": "Items by consensus score (the per-item mean), every item merged so far."}]

    def simulate(self, task_name: str, task: Any, vendors: Mapping[str, Any], spec: SimulationSpec) -> Simulated:
        """Two annotators per item and vendor; vendor ``i`` adds noise of sd ``0.5 * (i + 1)``; the
        last file of the first vendor on the first day has one score off the scale."""
        lo, hi, _ = _options(task)
        deliveries, gold, bad = [], [], []
        for d in range(spec.days):
            day = spec.start + timedelta(days=d)
            rng = np.random.default_rng([spec.seed, spec.task_index, day.toordinal()])
            items = [f"{task_name}-{day:%Y%m%d}-{i:04d}" for i in range(spec.items_per_day)]
            truth = rng.uniform(lo + 1, hi - 1, size=len(items)).round(1)
            is_gold = rng.random(len(items)) < spec.gold_fraction
            gold.append(pd.DataFrame({"task": task_name, "item_id": np.array(items)[is_gold], "gold_score": truth[is_gold]}))
            for v, (vname, vcfg) in enumerate(vendors.items()):
                inverse = {canon: col for col, canon in vcfg.columns.items()}
                n = 2 * len(items)
                scores = np.clip(np.repeat(truth, 2) + rng.normal(0, 0.5 * (v + 1), size=n), lo, hi).round(1)
                if d == 0 and v == 0:
                    scores[0] = hi + 5  # off the scale: quarantined with a reason
                    bad.append(f"{vname}-{day:%Y%m%d} (score_out_of_range)")
                frame = pd.DataFrame({
                    inverse["item_id"]: np.repeat(items, 2),
                    inverse["annotator_id"]: [f"{vname[:2]}{k % 2 + 2 * v}" for k in range(n)],
                    inverse["score"]: scores,
                    inverse["annotated_at"]: datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc),
                })
                deliveries.append(Delivery(vname, day, f"{vname}-{day:%Y%m%d}", pa.Table.from_pandas(frame, preserve_index=False)))
        table = pa.Table.from_pandas(pd.concat(gold, ignore_index=True), schema=self.gold, preserve_index=False)
        return Simulated(deliveries, table, bad)
