r"""Multi-label sets: each answer is the set of tags that apply to an item (content tags, policy flags).

The label kind of tagging work (:mod:`pipeline.kinds`). A task's ``labels`` are its tag
vocabulary (names of letters, digits, ``_ . -``; each becomes a ``p_<tag>`` column of the
training set); ``consensus`` is ``dawid_skene`` (default) or ``majority_vote`` per tag;
``options.threshold`` (default 0.5) the probability a tag needs to enter the consensus set;
``options.distance`` (``masi``, default, or ``jaccard``) the set distance of the headline
Krippendorff's alpha.

Vendors deliver a set per (item, annotator) as

- a **list column** mapped onto ``tags`` (``[]`` = the empty set, an answer: "no tag applies");
- a **delimited string** (``vendors.<v>.options.delimiter``, e.g. ``";"``; ``""`` = the empty set);
- **one row per tag** (``vendors.<v>.collect: <the tag column>``: ingest gathers the rows of one
  (item, annotator) into its set; a row with a null tag adds nothing, so an annotator's lone
  null row is the empty set).

A null value is no answer (quarantined ``null_label``), never the empty set. Tags go through the
vendor's vocabulary ``vendors.<v>.labels`` (vendor word -> tag, after NFC + trim); blank tags
are no tags; repeats count once. Canonical form: ``tags`` (the sorted set) and ``tags_text``
(its tags joined by ``|``, a ``|`` inside a tag written ``\|``): the text the GX row checks
judge (``expectations/kinds/multilabel.json``: ``null_label``, ``unknown_tag`` for a set with a
tag outside the vocabulary, which quarantines the row with its tags named).

Agreement: Krippendorff's alpha with the MASI (``krippendorff_alpha``) and Jaccard
(``krippendorff_alpha_jaccard``) distances with item-bootstrap intervals, per-tag binary alpha and
Fleiss' kappa, tag prevalence per vendor (:mod:`pipeline.measure.multilabel`). Consensus: binary
relevance (:func:`pipeline.merge.multilabel.aggregate_tags`): per tag :math:`P(t)`, the set of tags
with :math:`P(t) \ge` threshold (an empty set stays, ``tags = []``); ``confidence`` is the
probability that the whole set is right if tags are independent,
:math:`\prod_t \max(P(t), 1 - P(t))` at threshold 0.5 (in general :math:`P(t)` for chosen tags,
:math:`1 - P(t)` for the rest); ``agreement`` the share of the item's answers equal to the
consensus set. An answer is *correct* against gold when it is the gold set exactly; scorecards
add per-tag precision, recall and F1 against gold and over- / under-tagging against the other
vendors' consensus.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import annotations_schema, curated_schema, gold_schema
from pipeline.kinds import LabelKind, Measured, SimulationSpec, Simulated, TypeCheck

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import TaskConfig, VendorConfig
    from pipeline.measure.agreement.sets import SetMetric
    from pipeline.merge.multilabel import Method
    from pipeline.report import ReportInputs
    from pipeline.score.scorecard import Scorecards

__all__ = ["ANNOTATIONS", "CURATED", "GOLD", "MultiLabel", "SEPARATOR", "sorted_sets", "tags_of", "tags_regex"]

#: What a tag name may be (it names a ``p_<tag>`` column and is joined by ``|`` in ``tags_text``).
TAG_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
#: Joins the tags of ``tags_text``.
SEPARATOR = "|"

_TEXT: tuple[TypeCheck, ...] = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                pa.types.is_binary, pa.types.is_large_binary)
_LIST: tuple[TypeCheck, ...] = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)

PAYLOAD = pa.schema([pa.field("tags", pa.list_(pa.string())), pa.field("tags_text", pa.string())])
GOLD_PAYLOAD = pa.schema([pa.field("gold_tags", pa.list_(pa.string()), nullable=False)])
CURATED_PAYLOAD = pa.schema([pa.field("tags", pa.list_(pa.string()), nullable=False)])

#: Staged annotations of a multi-label task.
ANNOTATIONS = annotations_schema(PAYLOAD)
#: Gold items of a multi-label task: the true set of each.
GOLD = gold_schema(GOLD_PAYLOAD)
#: The training set of a multi-label task without its ``p_<tag>`` columns (:meth:`MultiLabel.curated_for`).
CURATED = curated_schema(CURATED_PAYLOAD)

_TASK_OPTIONS = ("threshold", "distance")
_VENDOR_OPTIONS = ("delimiter",)
_DISTANCES = ("masi", "jaccard")


def tags_of(task: TaskConfig) -> list[str]:
    """The tag vocabulary of a multi-label ``task`` (its ``labels``)."""
    return list(task.labels or [])


def tags_regex(tags: list[str]) -> str:
    """The ``tags_text`` of a set of ``tags`` (sorted, ``|``-joined), as an anchored regex: the
    ``unknown_tag`` check (the empty set, ``""``, matches)."""
    one = "(?:" + "|".join(re.escape(t) for t in sorted(tags, key=lambda t: (-len(t), t))) + ")"
    return rf"^(?:{one}(?:\|{one})*)?$"


def _threshold(task: TaskConfig) -> float:
    return float(task.options.get("threshold", 0.5))


def _distance(task: TaskConfig) -> SetMetric:
    return cast("SetMetric", str(task.options.get("distance", "masi")))


def _text_of(sets: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """``tags_text`` of a list column (null stays null; ``[]`` -> ``""``)."""
    arr = sets.combine_chunks() if isinstance(sets, pa.ChunkedArray) else sets
    escaped = pc.replace_substring(pc.list_flatten(arr), SEPARATOR, "\\" + SEPARATOR)
    rebuilt = pa.ListArray.from_arrays(arr.offsets, escaped, mask=pc.is_null(arr))
    return pa.chunked_array([pc.binary_join(rebuilt, SEPARATOR)], pa.string())


def _sets(row: np.ndarray, tag: pa.Array, n: int, answered: pa.Array) -> pa.ListArray:
    """``n`` sets from (row, tag) pairs: each row's tags sorted, a repeat counted once; rows not
    ``answered`` null (no answer), answered rows without a pair ``[]``."""
    pairs = pa.table({"row": pa.array(row, pa.int64()), "tag": tag})
    pairs = pairs.take(pc.sort_indices(pairs, sort_keys=[("row", "ascending"), ("tag", "ascending")]))
    rows = pairs["row"].to_numpy()
    tags = pairs["tag"].combine_chunks()
    repeat = np.zeros(len(rows), dtype=bool)
    if len(rows) > 1:
        repeat[1:] = (rows[1:] == rows[:-1]) & np.asarray(pc.equal(tags[1:], tags[:-1]), dtype=bool)
    rows, tags = rows[~repeat], tags.filter(pa.array(~repeat))
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), tags, mask=pc.invert(answered))


def sorted_sets(sets: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """A list column's sets in canonical form: tags sorted, repeats once, nulls kept."""
    arr = sets.combine_chunks() if isinstance(sets, pa.ChunkedArray) else sets
    arr = pc.cast(arr, pa.list_(pa.string()))
    return _sets(pc.list_parent_indices(arr).to_numpy(), pc.list_flatten(arr), len(arr), arr.is_valid())


class MultiLabel(LabelKind):
    """A set of tags from the task's vocabulary per item and annotator."""

    name: ClassVar[str] = "multilabel"
    report_reads_consensus: ClassVar[bool] = False
    payload: ClassVar[pa.Schema] = PAYLOAD
    gold_payload: ClassVar[pa.Schema] = GOLD_PAYLOAD
    curated_payload: ClassVar[pa.Schema] = CURATED_PAYLOAD
    vendor_columns: ClassVar[Mapping[str, tuple[TypeCheck, ...]]] = {"tags": (*_LIST, *_TEXT)}
    required_columns: ClassVar[tuple[str, ...]] = ("tags",)
    dictionary_columns: ClassVar[tuple[str, ...]] = ("tags_text",)
    default_consensus: ClassVar[str] = "dawid_skene"
    scorecard_tables: ClassVar[tuple[str, ...]] = ("tag_vendor", "tag_annotator", "tagging_vendor")

    # ------------------------------------------------------------------ config
    def check_task(self, task: TaskConfig) -> None:
        from pipeline.merge.multilabel import METHODS

        tags = tags_of(task)
        if not tags:
            raise ValueError("labels: a multi-label task needs its tag vocabulary (the tags a set may hold)")
        bad = [t for t in tags if not TAG_NAME.fullmatch(t)]
        if bad:
            raise ValueError(f"labels: tag name(s) {bad} are not letters, digits, '_', '.' or '-' (each tag names a "
                             "p_<tag> column of the training set); rename them and map the vendors' words onto them")
        if task.consensus not in METHODS:
            raise ValueError(f"consensus: unknown method {task.consensus!r} for a multi-label task; choose from {list(METHODS)}")
        unknown = sorted(set(task.options) - set(_TASK_OPTIONS))
        if unknown:
            raise ValueError(f"options: unknown option(s) {unknown} for a multi-label task (known: {list(_TASK_OPTIONS)})")
        threshold = task.options.get("threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise ValueError(f"options.threshold: the probability a tag needs to enter the set, in (0, 1]; got {threshold!r}")
        if _distance(task) not in _DISTANCES:
            raise ValueError(f"options.distance: the set distance of alpha, one of {list(_DISTANCES)}; got {_distance(task)!r}")
        if task.level != "nominal":
            raise ValueError(f"level: a multi-label task's alpha uses options.distance ({list(_DISTANCES)}), not a level; "
                             f"remove level: {task.level}")

    def check_vendor(self, vendor: VendorConfig, task: TaskConfig) -> None:
        unknown = sorted(set(vendor.options) - set(_VENDOR_OPTIONS))
        if unknown:
            raise ValueError(f"options: unknown option(s) {unknown} for a multi-label vendor (known: {list(_VENDOR_OPTIONS)})")
        delimiter = vendor.options.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or not delimiter.strip()):
            raise ValueError(f"options.delimiter: the text between two tags of a delimited string (e.g. ';'), got "
                             f"{delimiter!r}")
        if delimiter is not None and vendor.collect is not None:
            raise ValueError("options.delimiter and collect: one row per tag (collect) has no delimited strings; give one")
        bad = sorted(set(vendor.labels.values()) - set(tags_of(task)))
        if bad:
            raise ValueError(f"labels: maps onto {bad}, not tags of task {vendor.task!r} ({tags_of(task)})")

    # ------------------------------------------------------------------ ingest, validate
    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: VendorConfig,
                    invalid_text: np.ndarray, task: TaskConfig | None = None) -> dict[str, pa.ChunkedArray]:
        from pipeline.ingest.canonical import as_text, normalise_labels

        raw = columns["tags"]
        kind = raw.type.value_type if pa.types.is_dictionary(raw.type) else raw.type
        if any(check(kind) for check in _LIST):
            sets = raw.combine_chunks()
            if pa.types.is_fixed_size_list(sets.type) or pa.types.is_large_list(sets.type):
                sets = pc.cast(sets, pa.list_(sets.type.value_type))
        else:
            delimiter = vendor.options.get("delimiter")
            if delimiter is None:
                raise ValueError(f"the column mapped onto tags holds text ({raw.type}), not a list of tags; set the "
                                 "vendor's options.delimiter to the text between two tags (e.g. ';'), or deliver a "
                                 "list column, or one row per tag with the vendor's collect: <column>")
            sets = pc.split_pattern(as_text(raw, invalid_text), delimiter).combine_chunks()
        n = len(sets)
        answered = sets.is_valid()
        parents = pc.list_parent_indices(sets).to_numpy()
        values = pc.list_flatten(sets)
        bad = np.zeros(len(values), dtype=bool)
        text = normalise_labels(as_text(pa.chunked_array([values]), bad), vendor.labels).combine_chunks()
        if bad.any():  # invalid UTF-8 in a tag: the row is quarantined (invalid_utf8)
            invalid_text |= np.bincount(parents[bad], minlength=n) > 0
        keep = np.asarray(pc.fill_null(pc.greater(pc.utf8_length(text), 0), False), dtype=bool)
        tags = _sets(parents[keep], text.filter(pa.array(keep)), n, answered)
        return {"tags": pa.chunked_array([tags]), "tags_text": _text_of(tags)}

    def suite_parameters(self, task: TaskConfig) -> dict[str, Any]:
        return {"tags_regex": tags_regex(tags_of(task))}

    # ------------------------------------------------------------------ measure, merge, publish
    @staticmethod
    def _raters(annotations: pd.DataFrame) -> pd.DataFrame:
        """Annotations as the set-valued long format (``label`` = the tags), annotators namespaced."""
        from pipeline.contract import namespaced

        return namespaced(annotations).assign(label=annotations["tags"].to_numpy(dtype=object))

    @staticmethod
    def _gold_text(gold: pd.DataFrame) -> pd.DataFrame:
        """Gold as ``item_id, gold_label`` with the set as its ``tags_text``."""
        import pandas as pd

        sets = sorted_sets(pa.array(gold["gold_tags"].to_numpy(), pa.list_(pa.string())))
        return pd.DataFrame({"item_id": gold["item_id"].to_numpy(dtype=object),
                             "gold_label": _text_of(sets).to_numpy(zero_copy_only=False)})

    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> Measured:
        import pandas as pd

        from pipeline.measure.accuracy import gold_accuracy
        from pipeline.measure.agreement import TABLE_COLUMNS, UndefinedAgreementWarning, bootstrap_ci, krippendorff_alpha
        from pipeline.measure.multilabel import per_tag_agreement, tag_prevalence

        tags = tags_of(task)
        sets = self._raters(annotations)
        rows: list[dict[str, Any]] = []
        scopes = [("overall", sets)] + [(str(v), g) for v, g in sets.groupby("vendor", sort=True)]
        first = _distance(task)
        metrics = [("krippendorff_alpha", first)] + [(f"krippendorff_alpha_{d}", cast("SetMetric", d)) for d in _DISTANCES
                                                     if d != first]
        with warnings.catch_warnings():  # one-annotator scopes are undefined by design
            warnings.simplefilter("ignore", UndefinedAgreementWarning)
            for scope, frame in scopes:
                ratings = frame[["item_id", "annotator_id", "label"]]
                n_items, n_labels = int(frame["item_id"].nunique()), len(frame)
                for metric, distance in metrics:
                    ci = bootstrap_ci(partial(krippendorff_alpha, distance=distance), ratings, n_boot=200, seed=0)
                    rows.append({"scope": scope, "metric": metric, "value": ci.estimate,
                                 "ci_low": ci.ci_low, "ci_high": ci.ci_high, "n_items": n_items, "n_labels": n_labels})
        agreement = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).astype(
            {"scope": "str", "metric": "str", "value": "float64", "ci_low": "float64", "ci_high": "float64",
             "n_items": "int64", "n_labels": "int64"})
        texts = annotations.assign(label=annotations["tags_text"].astype(object))
        gold_text = self._gold_text(gold)
        return Measured({"agreement": agreement, "agreement_per_tag": per_tag_agreement(sets, tags=tags),
                         "tag_prevalence": tag_prevalence(sets, tags=tags),
                         "accuracy_vendor": gold_accuracy(texts, gold_text, by=["vendor"]),
                         "accuracy_annotator": gold_accuracy(texts, gold_text, by=["vendor", "annotator_id"])},
                        {"level": first})

    def _aggregate(self, sets: pd.DataFrame, task: TaskConfig, gold: pd.DataFrame | None) -> pd.DataFrame:
        from pipeline.merge.multilabel import aggregate_tags

        return aggregate_tags(sets[["item_id", "annotator_id", "label"]], cast("Method", task.consensus),
                              threshold=_threshold(task), tags=tags_of(task),
                              gold=gold[["item_id", "gold_tags"]] if gold is not None and len(gold) else None)

    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
        import pandas as pd

        tags = tags_of(task)
        sets = self._raters(annotations)
        out = self._aggregate(sets, task, gold)
        p = out[[f"p_{t}" for t in tags]].to_numpy(dtype=np.float64)
        chosen = p >= _threshold(task) - 1e-12
        out["confidence"] = np.where(chosen, p, 1.0 - p).prod(axis=1)
        consensus_text = _text_of(pa.array(out["tags"].to_numpy(), pa.list_(pa.string()))).to_numpy(zero_copy_only=False)
        pos = pd.Index(out["item_id"]).get_indexer(pd.Index(annotations["item_id"]))
        same = annotations["tags_text"].to_numpy(dtype=object) == consensus_text[pos]
        out["agreement"] = np.bincount(pos, same, minlength=len(out)) / np.maximum(out["n_annotations"].to_numpy(), 1)
        return out[["item_id", "tags", *[f"p_{t}" for t in tags], "confidence", "n_annotations", "agreement"]]

    def curated_for(self, task: TaskConfig) -> pa.Schema:
        """The training set: ``item_id``, ``tags``, ``p_<tag>`` per tag of the vocabulary, then the shared trail."""
        probabilities = [pa.field(f"p_{t}", pa.float64(), nullable=False) for t in tags_of(task)]
        return curated_schema(pa.schema([*CURATED_PAYLOAD, *probabilities]))

    def consensus_settings(self, task: TaskConfig) -> dict[str, Any]:
        return {"settings": {"method": task.consensus, "threshold": _threshold(task), "tags": tags_of(task)}}

    def balance(self, curated: pa.Table, task: TaskConfig) -> dict[str, Any]:
        import pandas as pd

        from pipeline.contract import SPLITS

        tags = tags_of(task)
        sets = curated["tags"].combine_chunks()
        sizes = pc.list_value_length(sets).to_numpy(zero_copy_only=False)
        split = curated["split"].to_numpy(zero_copy_only=False)
        flat = pd.DataFrame({"split": np.repeat(split, sizes), "tag": pc.list_flatten(sets).to_numpy(zero_copy_only=False)})
        by_split = pd.crosstab(flat["split"], flat["tag"]).reindex(index=list(SPLITS), columns=tags, fill_value=0)
        return {"tag_counts": {t: int(n) for t, n in by_split.sum().to_dict().items()},
                "tag_counts_by_split": {s: {t: int(n) for t, n in by_split.loc[s].to_dict().items()} for s in SPLITS},
                "empty_sets": int((sizes == 0).sum()),
                "mean_set_size": float(sizes.mean()) if len(sizes) else None}

    # ------------------------------------------------------------------ score, report, simulate
    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Scorecards:
        """Volume, gold accuracy (the gold set exactly), turnaround and cost
        (:func:`pipeline.score.scorecard.scorecards_from_correct`); plus ``tag_vendor`` /
        ``tag_annotator``: per-tag precision, recall and F1 against gold (with micro and macro rows,
        :func:`pipeline.measure.multilabel.tag_scores`), and ``tagging_vendor``: each vendor's mean
        set size against the consensus of the *other* vendors on the same items (over- / under-tagging,
        :func:`pipeline.measure.multilabel.set_size_bias`)."""
        import pandas as pd

        from pipeline.measure.multilabel import set_size_bias, tag_scores
        from pipeline.score.scorecard import scorecards_from_correct

        tags = tags_of(task)
        truth = self._gold_text(gold).set_index("item_id")["gold_label"] if len(gold) else pd.Series(dtype=object)
        expected = annotations["item_id"].map(truth)
        correct = pd.Series(annotations["tags_text"].to_numpy(dtype=object) == expected.to_numpy(dtype=object),
                            index=annotations.index).astype("boolean").where(expected.notna())
        cards = scorecards_from_correct(annotations, correct, task=task_name, prices=prices, vendors=vendors)
        by_vendor = tag_scores(annotations, gold, by=["vendor"], tags=tags)
        by_annotator = tag_scores(annotations, gold, by=["vendor", "annotator_id"], tags=tags)
        sets = self._raters(annotations)
        tagging = []
        for vendor in sorted(annotations["vendor"].astype(str).unique()):
            mine = annotations["vendor"].astype(str) == vendor
            if mine.all():
                continue
            reference = self._aggregate(sets[~mine.to_numpy()], task, None)[["item_id", "tags"]]
            tagging.append(set_size_bias(annotations[mine.to_numpy()], reference, by=["vendor"]))
        tagging_vendor = pd.concat(tagging, ignore_index=True) if tagging else \
            set_size_bias(annotations.iloc[:0], pd.DataFrame({"item_id": [], "tags": []}), by=["vendor"])
        return replace(cards, extra={"tag_vendor": by_vendor.assign(task=task_name),
                                     "tag_annotator": by_annotator.assign(task=task_name),
                                     "tagging_vendor": tagging_vendor.assign(task=task_name)})

    def report_sections(self, inputs: ReportInputs) -> list[dict[str, Any]]:
        import pandas as pd

        def number(v: Any) -> Any:
            return None if v is None or (isinstance(v, float) and np.isnan(v)) else \
                round(float(v), 3) if isinstance(v, float) else v

        sections = []
        scores = inputs.metrics.get("tag_vendor")
        if scores is not None and len(scores):
            f1 = scores.pivot_table(index="vendor", columns="tag", values="f1", aggfunc="first", dropna=False)
            n_gold = scores.groupby("vendor")["n_gold"].max()
            seen = list(dict.fromkeys(scores["tag"].astype(str)))  # the vocabulary's order, then micro, macro
            order = [c for c in ("(micro)", "(macro)") if c in seen] + [c for c in seen if c not in ("(micro)", "(macro)")]
            cols = ["vendor", "n_gold", *[f"f1 {c}" for c in order]]
            rows = [{"vendor": str(v), "n_gold": int(n_gold.get(v, 0)), **{f"f1 {c}": number(f1.loc[v, c]) for c in order}}
                    for v in f1.index]
            sections.append({"id": "tag-f1", "title": "Per-tag vendor F1 against gold", "columns": cols, "rows": rows,
                             "note": "F1 = 2TP / (2TP + FP + FN) of each tag's presence in the vendor's answers on gold "
                                     "items; (micro): counts summed over tags, (macro): the mean of the tags' F1. "
                                     "Precision and recall with Wilson intervals, per annotator too, are in "
                                     "scorecards/<task>/date=<D>/tag_vendor.parquet and tag_annotator.parquet."})
        tagging = inputs.metrics.get("tagging_vendor")
        if tagging is not None:
            cols = ["vendor", "n", "mean_set_size", "mean_reference_size", "size_bias", "bias_ci_low", "bias_ci_high",
                    "tagging"]
            rows = [{str(c): (None if pd.isna(v) else number(v)) for c, v in r.items()}
                    for r in tagging.reindex(columns=cols).to_dict("records")]
            sections.append({"id": "tagging", "title": "Over- and under-tagging", "columns": cols, "rows": rows,
                             "note": "mean tags per answer against the other vendors' consensus sets on the same items, "
                                     "with a 95% t interval of the difference; over / under when it excludes 0."})
        return sections

    def simulate(self, task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                 spec: SimulationSpec) -> Simulated:
        from pipeline.kinds.multilabel_simulation import simulate_multilabel

        return simulate_multilabel(task_name, task, vendors, spec)
