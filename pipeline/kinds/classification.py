"""Single-label classification: each label is one class of the task's ordered label set.

The first label kind (:mod:`pipeline.kinds`). Payload: ``label`` (text, mapped through the
vendor's vocabulary ``vendors.<v>.labels`` after NFC + trim); gold: ``gold_label``; training
set: the consensus ``label``. Its numbers come from the numeric core this module wires:
agreement (:mod:`pipeline.measure.agreement`: Krippendorff's alpha at the task's ``level``,
Fleiss, Cohen, Scott, Gwet, per category and per annotator pair), consensus
(:mod:`pipeline.merge.consensus`: majority vote, weighted vote, Dawid-Skene, one-coin
Dawid-Skene, MACE), gold accuracy (:mod:`pipeline.measure.accuracy`: a label is correct when it
equals the gold label) and scorecards (:mod:`pipeline.score.scorecard`). The GX row checks are
``expectations/kinds/classification.json`` (``null_label``, ``unknown_label``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pyarrow as pa

from pipeline.contract import annotations_schema, curated_schema, gold_schema
from pipeline.kinds import LabelKind, Measured, SimulationSpec, Simulated, TypeCheck

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import TaskConfig, VendorConfig
    from pipeline.score.scorecard import Scorecards

_TEXT: tuple[TypeCheck, ...] = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                pa.types.is_integer, pa.types.is_binary, pa.types.is_large_binary,
                                pa.types.is_boolean, pa.types.is_floating)

PAYLOAD = pa.schema([pa.field("label", pa.string())])
GOLD_PAYLOAD = pa.schema([pa.field("gold_label", pa.string(), nullable=False)])
CURATED_PAYLOAD = pa.schema([pa.field("label", pa.string(), nullable=False)])

#: Staged annotations of a classification task (the long format every metric consumes).
ANNOTATIONS = annotations_schema(PAYLOAD)
#: Gold items of a classification task: the true label of each.
GOLD = gold_schema(GOLD_PAYLOAD)
#: The published training set of a classification task.
CURATED = curated_schema(CURATED_PAYLOAD)


def _labels(task: TaskConfig) -> list[str]:
    return list(task.labels or [])


class Classification(LabelKind):
    """One class per label, from the task's ordered ``labels``."""

    name: ClassVar[str] = "classification"
    report_reads_consensus: ClassVar[bool] = False
    payload: ClassVar[pa.Schema] = PAYLOAD
    gold_payload: ClassVar[pa.Schema] = GOLD_PAYLOAD
    curated_payload: ClassVar[pa.Schema] = CURATED_PAYLOAD
    vendor_columns: ClassVar[Mapping[str, tuple[TypeCheck, ...]]] = {"label": _TEXT}
    required_columns: ClassVar[tuple[str, ...]] = ("label",)
    dictionary_columns: ClassVar[tuple[str, ...]] = ("label",)
    compact_reads: ClassVar[bool] = True
    default_consensus: ClassVar[str] = "majority_vote"
    report_template: ClassVar[str] = "kinds/classification.html.j2"

    # ------------------------------------------------------------------ config
    def check_task(self, task: TaskConfig) -> None:
        from pipeline.merge.consensus import METHODS

        if task.labels is None:
            raise ValueError("labels: a classification task needs its ordered label set (at least 2 labels)")
        if task.consensus not in METHODS:
            raise ValueError(f"consensus: unknown method {task.consensus!r} for a classification task; "
                             f"choose from {list(METHODS)}")
        if task.options:
            raise ValueError(f"options: a classification task takes no options, got {sorted(task.options)}")

    def check_vendor(self, vendor: VendorConfig, task: TaskConfig) -> None:
        if vendor.options:
            raise ValueError(f"options: a classification vendor takes no options, got {sorted(vendor.options)}")
        labels = _labels(task)
        bad = sorted(v for v in set(vendor.labels.values()) if v not in set(labels))
        if bad:
            raise ValueError(f"labels: maps onto {bad}, not in task {vendor.task!r} labels {labels}")

    # ------------------------------------------------------------------ ingest, validate
    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: VendorConfig,
                    invalid_text: np.ndarray, task: TaskConfig | None = None) -> dict[str, pa.ChunkedArray]:
        from pipeline.ingest.canonical import as_text, normalise_labels

        return {"label": normalise_labels(as_text(columns["label"], invalid_text), vendor.labels)}

    def suite_parameters(self, task: TaskConfig) -> dict[str, Any]:
        return {"label_set": _labels(task)}

    # ------------------------------------------------------------------ measure, merge, publish
    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> Measured:
        from pipeline.contract import namespaced
        from pipeline.measure.accuracy import gold_accuracy
        from pipeline.measure.agreement import UndefinedAgreementWarning, agreement_table, pairwise_kappa, per_category_agreement

        raters = namespaced(annotations)  # an annotator is (vendor, annotator id)
        agreement = agreement_table(raters, level=task.level, labels=_labels(task), by="vendor")
        with warnings.catch_warnings():  # pairs that share no item are NaN by design
            warnings.simplefilter("ignore", UndefinedAgreementWarning)
            per_category = per_category_agreement(raters)
            # only the pairs that share an item: memory follows the labels, not the square of the annotators
            kappa_pairs = pairwise_kappa(raters, by="annotator_id").rename(
                columns={"rater_a": "annotator_a", "rater_b": "annotator_b"})
        vendor_acc = gold_accuracy(annotations, gold, by=["vendor"])
        annotator_acc = gold_accuracy(annotations, gold, by=["vendor", "annotator_id"])
        return Measured({"agreement": agreement, "agreement_per_category": per_category, "kappa_annotators": kappa_pairs,
                         "accuracy_vendor": vendor_acc, "accuracy_annotator": annotator_acc}, {"level": task.level})

    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
        from pipeline.contract import namespaced
        from pipeline.merge.consensus import Method, aggregate

        return aggregate(namespaced(annotations), method=cast(Method, task.consensus),
                         gold=gold if len(gold) else None, labels=_labels(task))

    def consensus_settings(self, task: TaskConfig) -> dict[str, Any]:
        from pipeline.merge.consensus import Method, get_aggregator

        return {"settings": get_aggregator(cast(Method, task.consensus), labels=_labels(task)).get_params()}

    def balance(self, curated: pa.Table, task: TaskConfig) -> dict[str, Any]:
        import pandas as pd

        from pipeline.publish.splits import SPLITS

        labels = curated.select(["label", "split"]).to_pandas()
        by_split = pd.crosstab(labels["split"], labels["label"]).reindex(index=list(SPLITS), columns=_labels(task),
                                                                         fill_value=0)
        return {"class_balance": {label: int(n) for label, n in by_split.sum().to_dict().items()},
                "class_balance_by_split": {s: {label: int(n) for label, n in by_split.loc[s].to_dict().items()}
                                           for s in SPLITS}}

    # ------------------------------------------------------------------ score, report, simulate
    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Scorecards:
        from pipeline.merge.consensus import Method
        from pipeline.score.scorecard import build_scorecards

        return build_scorecards(annotations, gold, task=task_name, labels=_labels(task),
                                method=cast(Method, task.consensus), prices=prices, vendors=vendors)

    def report_labels(self, task: TaskConfig) -> list[str]:
        return _labels(task)

    def simulate(self, task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                 spec: SimulationSpec) -> Simulated:
        from pipeline.simulate import simulate_classification

        return simulate_classification(task_name, task, vendors, spec)
