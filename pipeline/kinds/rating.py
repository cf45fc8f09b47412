r"""Ratings: a score per item on the task's scale (a 1-5 Likert level, a 0-100 score, met / not met).

The label kind of LLM-evaluation and SFT-review data (:mod:`pipeline.kinds`). A task's scale is
either

- **levels**: ``labels`` (the ordered level names, e.g. ``[poor, fair, good, very_good,
  excellent]``) with their numbers in ``options.values`` (default ``1..n``; a two-level scale is
  a **binary criterion**, default ``0, 1``: not met / met), or
- **numeric**: ``options.scale: {min, max, step}``: the values ``min, min + step, ..., max`` (give
  the precision as ``step`` for scores that are not whole numbers, e.g. ``0.01``).

A rubric is several rating tasks (one per criterion) fed by one vendor file
(``vendors.<v>.tasks.<criterion>.columns`` maps each criterion's column onto ``label``).

Canonical form. ``label``: the level name (levels; through the vendor's vocabulary
``vendors.<v>.labels`` onto the task's level names, after NFC + trim) or the value as delivered
(numeric scales, as text); ``score``: its number (null when the level is unknown or the text is
not a number; values within 1e-9 steps of a scale value are snapped onto it). Row checks
(``expectations/kinds/rating.json``): ``null_label``, ``not_on_scale`` (unknown level / not a
number), ``out_of_range`` (below ``min`` or above ``max``), ``off_step`` (between two values of
the scale).

Gold rows carry the true ``gold_score``. A rating is *correct* against gold when it is within
``options.tolerance`` of it (default 0: the same level). The training set has per item the
consensus ``score`` (:func:`pipeline.merge.rating.aggregate` with the task's ``consensus``:
``mean``, ``median``, ``trimmed_mean`` or ``annotator_model``; or ``dawid_skene`` over the levels
as classes, at most 11 levels: posterior mean, sd, most probable level and its posterior as the
confidence), its standard error ``se`` and the
nearest level ``label``; ``confidence`` is the normal-theory probability that the true score lies
within half a step of the consensus (:math:`2\Phi(\tfrac{h}{se}) - 1`, :math:`h` = half the step,
or ``tolerance`` if larger; 0 without a standard error, i.e. one rating) and ``agreement`` the
share of the item's ratings within :math:`h` of the consensus.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import annotations_schema, curated_schema, gold_schema
from pipeline.kinds import Delivery, LabelKind, Measured, SimulationSpec, Simulated, TypeCheck
from pipeline.merge.rating.levels import nearest_level

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import TaskConfig, VendorConfig
    from pipeline.report import ReportInputs
    from pipeline.score.scorecard import Scorecards

__all__ = ["ANNOTATIONS", "CURATED", "GOLD", "MAX_LEVELS", "Rating", "Scale", "scale_of"]

#: Most values a scale may have (a finer numeric scale: widen ``step``).
MAX_LEVELS = 10_001
#: Scales with at most this many levels get a level histogram (class balance) in manifests and reports.
BALANCE_LEVELS = 11
_SNAP = 1e-9  # in steps: a delivered value this close to a scale value is that value

_VALUES: tuple[TypeCheck, ...] = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                  pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_boolean,
                                  pa.types.is_binary, pa.types.is_large_binary)

PAYLOAD = pa.schema([pa.field("label", pa.string()), pa.field("score", pa.float64())])
GOLD_PAYLOAD = pa.schema([pa.field("gold_score", pa.float64(), nullable=False)])
CURATED_PAYLOAD = pa.schema([pa.field("score", pa.float64(), nullable=False), pa.field("se", pa.float64()),
                             pa.field("label", pa.string(), nullable=False)])

#: Staged annotations of a rating task.
ANNOTATIONS = annotations_schema(PAYLOAD)
#: Gold items of a rating task: the true score of each.
GOLD = gold_schema(GOLD_PAYLOAD)
#: The published training set of a rating task: one row per item.
CURATED = curated_schema(CURATED_PAYLOAD)

_OPTIONS = ("scale", "values", "tolerance")
#: Consensus over the scale's levels as classes (beside pipeline.merge.rating's numeric METHODS).
LEVEL_METHODS = ("dawid_skene",)


@dataclass(frozen=True)
class Scale:
    """A rating task's scale: the allowed ``values`` (ascending), their level ``names`` and ``step``."""

    values: tuple[float, ...]
    names: tuple[str, ...]
    step: float
    labelled: bool
    tolerance: float = 0.0

    @property
    def low(self) -> float:
        return self.values[0]

    @property
    def high(self) -> float:
        return self.values[-1]

    @property
    def binary(self) -> bool:
        return len(self.values) == 2

    @property
    def half_width(self) -> float:
        """How far from the consensus a rating still counts as agreeing: half a step, or the tolerance."""
        return max(self.step / 2, self.tolerance)

    def snap(self, x: np.ndarray) -> np.ndarray:
        """``x`` with values within :data:`_SNAP` steps of a scale value replaced by that value."""
        nearest = np.asarray(self.values)[self.nearest(x)]
        close = np.abs(x - nearest) <= _SNAP * self.step
        return np.where(close & np.isfinite(x), nearest, x)

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """Index of the scale value nearest to each ``x`` (ties to the lower; NaN -> 0)."""
        return nearest_level(np.asarray(self.values), x)

    def describe(self) -> dict[str, Any]:
        """The scale as recorded in manifests."""
        out: dict[str, Any] = {"min": self.low, "max": self.high, "step": self.step, "levels": len(self.values)}
        if self.labelled:
            out["labels"] = dict(zip(self.names, self.values))
        if self.tolerance:
            out["tolerance"] = self.tolerance
        return out


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"options.{key}: a finite number is needed, got {value!r}")
    return float(value)


def _text(value: float) -> str:
    """A scale value as text: whole numbers without a decimal point (``4.0`` -> ``"4"``)."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


def scale_of(task: TaskConfig) -> Scale:
    """The scale of a rating ``task`` from its config (``ValueError`` naming the key when it does not fit)."""
    opts = task.options
    unknown = sorted(set(opts) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"options: unknown option(s) {unknown} for a rating task (known: {list(_OPTIONS)})")
    tolerance = _number(opts.get("tolerance", 0.0), "tolerance")
    if tolerance < 0:
        raise ValueError(f"options.tolerance: must be >= 0, got {tolerance}")
    if (task.labels is None) == ("scale" not in opts):
        raise ValueError("a rating task needs its scale: either labels (the ordered level names, with options.values "
                         "their numbers) or options.scale {min, max, step}, not both")
    if task.labels is not None:
        names = tuple(task.labels)
        raw = opts.get("values")
        if raw is None:
            values = (0.0, 1.0) if len(names) == 2 else tuple(float(i) for i in range(1, len(names) + 1))
        else:
            if not isinstance(raw, list) or len(raw) != len(names):
                raise ValueError(f"options.values: one number per label ({len(names)}: {list(names)}), got {raw!r}")
            values = tuple(_number(v, "values") for v in raw)
        if any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"options.values: must increase with the labels' order, got {list(values)}")
        gaps = np.diff(values)
        return Scale(values, names, float(gaps.min()), True, tolerance)
    if "values" in opts:
        raise ValueError("options.values: numbers of named levels; a numeric scale (options.scale) has none")
    spec = opts["scale"]
    if not isinstance(spec, dict) or sorted(spec) != ["max", "min", "step"]:
        raise ValueError(f"options.scale: give min, max and step (e.g. {{min: 1, max: 7, step: 1}}), got {spec!r}")
    low, high, step = (_number(spec[k], f"scale.{k}") for k in ("min", "max", "step"))
    if not (low < high and step > 0):
        raise ValueError(f"options.scale: need min < max and step > 0, got {spec}")
    count = (high - low) / step
    if abs(count - round(count)) > 1e-9 * max(1.0, count):
        raise ValueError(f"options.scale: (max - min) / step = {count:g} must be a whole number")
    if round(count) + 1 > MAX_LEVELS:
        raise ValueError(f"options.scale: {round(count) + 1} values is more than {MAX_LEVELS}; use a coarser step")
    values = tuple(float(low + i * step) for i in range(round(count) + 1))
    return Scale(values, tuple(_text(v) for v in values), step, False, tolerance)


class Rating(LabelKind):
    """A score on the task's scale (levels, a numeric range, or a binary criterion)."""

    name: ClassVar[str] = "rating"
    report_reads_consensus: ClassVar[bool] = False
    payload: ClassVar[pa.Schema] = PAYLOAD
    gold_payload: ClassVar[pa.Schema] = GOLD_PAYLOAD
    curated_payload: ClassVar[pa.Schema] = CURATED_PAYLOAD
    vendor_columns: ClassVar[Mapping[str, tuple[TypeCheck, ...]]] = {"label": _VALUES}
    required_columns: ClassVar[tuple[str, ...]] = ("label",)
    dictionary_columns: ClassVar[tuple[str, ...]] = ("label",)
    default_consensus: ClassVar[str] = "mean"
    scorecard_tables: ClassVar[tuple[str, ...]] = ("rating_vendor", "rating_annotator")

    # ------------------------------------------------------------------ config
    def check_task(self, task: TaskConfig) -> None:
        from pipeline.merge.rating import METHODS

        scale_of(task)
        if task.level not in ("ordinal", "interval", "ratio"):
            raise ValueError(f"level: a rating task's agreement level is ordinal, interval or ratio (set it), got "
                             f"{task.level!r}")
        if task.consensus in LEVEL_METHODS:
            levels = len(scale_of(task).values)
            if levels > BALANCE_LEVELS:
                raise ValueError(f"consensus: {task.consensus} treats each of the scale's levels as a class: at most "
                                 f"{BALANCE_LEVELS} levels, this scale has {levels}; use one of {list(METHODS)}")
        elif task.consensus not in METHODS:
            raise ValueError(f"consensus: unknown method {task.consensus!r} for a rating task; choose from "
                             f"{[*METHODS, *LEVEL_METHODS]}")

    def check_vendor(self, vendor: VendorConfig, task: TaskConfig) -> None:
        if vendor.options:
            raise ValueError(f"options: a rating vendor takes no options, got {sorted(vendor.options)}")
        scale = scale_of(task)
        targets = set(vendor.labels.values())
        if scale.labelled:
            bad = sorted(targets - set(scale.names))
            if bad:
                raise ValueError(f"labels: maps onto {bad}, not levels of task {vendor.task!r} ({list(scale.names)})")
        else:
            bad = []
            for v in sorted(targets):
                try:
                    float(v)
                except ValueError:
                    bad.append(v)
            if bad:
                raise ValueError(f"labels: maps onto {bad}; a numeric scale's vocabulary maps onto numbers (as text)")

    # ------------------------------------------------------------------ ingest, validate
    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: VendorConfig,
                    invalid_text: np.ndarray, task: TaskConfig | None = None) -> dict[str, pa.ChunkedArray]:
        import pandas as pd

        from pipeline.ingest.canonical import as_text, normalise_labels

        if task is None:
            raise TypeError("the rating kind maps values onto its task's scale: map_payload needs task=")
        scale = scale_of(task)
        raw = columns["label"]
        if pa.types.is_boolean(raw.type):  # a met / not met flag: 1 / 0
            raw = pc.cast(raw, pa.int8())
        label = normalise_labels(as_text(raw, invalid_text), vendor.labels)
        if scale.labelled:
            position = pc.index_in(label, value_set=pa.array(list(scale.names), pa.string()))
            score = pc.take(pa.array(scale.values, pa.float64()), position)
        else:  # numbers as text: parsed on the distinct values
            encoded = pc.dictionary_encode(label).combine_chunks()
            distinct = pd.to_numeric(pd.Series(encoded.dictionary.to_pylist(), dtype=object), errors="coerce")
            parsed = scale.snap(distinct.to_numpy(dtype=np.float64))
            score = pa.chunked_array([pc.take(pa.array(parsed, pa.float64(), mask=np.isnan(parsed)), encoded.indices)])
        return {"label": label, "score": score}

    def suite_parameters(self, task: TaskConfig) -> dict[str, Any]:
        scale = scale_of(task)
        return {"score_min": scale.low, "score_max": scale.high, "score_values": list(scale.values)}

    # ------------------------------------------------------------------ measure, merge, publish
    @staticmethod
    def _raters(annotations: pd.DataFrame) -> pd.DataFrame:
        """The ratings as the numeric long format (``label`` = the score), annotators namespaced."""
        from pipeline.contract import namespaced

        return namespaced(annotations).assign(label=annotations["score"].to_numpy(dtype=np.float64))

    @staticmethod
    def _gold_scores(gold: pd.DataFrame) -> pd.DataFrame:
        return gold[["item_id", "gold_score"]].rename(columns={"gold_score": "gold_label"})

    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> Measured:
        import pandas as pd

        from pipeline.measure.agreement import (
            TABLE_COLUMNS,
            UndefinedAgreementWarning,
            agreement_table,
            intraclass_corr,
            pairwise_f1,
        )
        from pipeline.measure.rating import gold_error

        scale = scale_of(task)
        raters = self._raters(annotations)
        table = agreement_table(raters, level=task.level, by="vendor")
        extra: list[dict[str, Any]] = []
        scopes = [("overall", raters)] + [(str(v), g) for v, g in raters.groupby("vendor", sort=True)]
        with warnings.catch_warnings():  # one-rater scopes and the two-way ICCs of crowd designs are NaN by design
            warnings.simplefilter("ignore", UndefinedAgreementWarning)
            for scope, frame in scopes:
                n_items, n_labels = int(frame["item_id"].nunique()), len(frame)
                icc = intraclass_corr(frame[["item_id", "annotator_id", "label"]], incomplete="one_way").set_index("type")
                for kind, metric in (("ICC(1)", "icc1"), ("ICC(1,k)", "icc1k")):
                    extra.append({"scope": scope, "metric": metric, "value": icc.loc[kind, "icc"],
                                  "ci_low": icc.loc[kind, "ci_low"], "ci_high": icc.loc[kind, "ci_high"],
                                  "n_items": n_items, "n_labels": n_labels})
                if scale.binary:
                    f1, _ = pairwise_f1(frame[["item_id", "annotator_id", "label"]], positive=scale.values[1])
                    extra.append({"scope": scope, "metric": "balanced_f1", "value": f1, "ci_low": np.nan,
                                  "ci_high": np.nan, "n_items": n_items, "n_labels": n_labels})
        if extra:
            table = pd.concat([table, pd.DataFrame(extra, columns=list(TABLE_COLUMNS)).astype(table.dtypes.to_dict())],
                              ignore_index=True)
        scores = annotations.assign(score=annotations["score"].astype("float64"))
        accuracy = {by: gold_error(scores, gold, by=list(cols), tolerance=scale.tolerance)
                    for by, cols in (("vendor", ("vendor",)), ("annotator", ("vendor", "annotator_id")))}
        return Measured({"agreement": table, "accuracy_vendor": accuracy["vendor"],
                         "accuracy_annotator": accuracy["annotator"]}, {"level": task.level})

    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
        import pandas as pd
        from scipy import special

        scale = scale_of(task)
        raters = self._raters(annotations)
        out = self._scores(raters, task, gold)
        score = out["score"].to_numpy(dtype=np.float64)
        h = scale.half_width
        if "confidence" not in out:  # the numeric methods: how likely the truth is within half a step
            se = out["se"].to_numpy(dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                out["confidence"] = np.where(se > 0, special.erf(h / (se * math.sqrt(2.0))), np.where(se == 0, 1.0, 0.0))
            out["label"] = np.asarray(scale.names, dtype=object)[scale.nearest(score)]
        pos = pd.Index(out["item_id"]).get_indexer(pd.Index(raters["item_id"]))
        close = np.abs(raters["label"].to_numpy(dtype=np.float64) - score[pos]) <= h + 1e-12
        agree = np.bincount(pos, close, minlength=len(out))
        out["agreement"] = agree / np.maximum(out["n_annotations"].to_numpy(), 1)
        return out[["item_id", "score", "se", "label", "confidence", "n_annotations", "agreement"]]

    def _scores(self, raters: pd.DataFrame, task: TaskConfig, gold: pd.DataFrame | None) -> pd.DataFrame:
        """``item_id, score, se, n_annotations`` of the task's method; ``dawid_skene`` (a class per
        level) also gives ``label`` (the most probable level) and ``confidence`` (its posterior),
        its score and se being the posterior mean and sd of the level's number."""
        import pandas as pd

        from pipeline.merge.rating import Method, aggregate

        ratings = raters[["item_id", "annotator_id", "label"]]
        gold_scores = self._gold_scores(gold) if gold is not None and len(gold) else None
        if task.consensus not in LEVEL_METHODS:
            return aggregate(ratings, cast(Method, task.consensus), gold=gold_scores)
        from pipeline.merge.consensus import get_aggregator

        scale = scale_of(task)
        values = np.asarray(scale.values)
        fit = get_aggregator("dawid_skene", labels=list(scale.values)).fit(ratings, gold=gold_scores)
        probas = fit.probas_.reindex(columns=list(scale.values), fill_value=0.0).sort_index()
        p = probas.to_numpy(dtype=np.float64)
        mean = p @ values
        counts = ratings.groupby("item_id", sort=True).size().reindex(probas.index)
        return pd.DataFrame({"item_id": probas.index.to_numpy(), "score": mean,
                             "se": np.sqrt(np.maximum(p @ values**2 - mean**2, 0.0)),
                             "n_annotations": counts.to_numpy(dtype=np.int64),
                             "label": np.asarray(scale.names, dtype=object)[p.argmax(axis=1)],
                             "confidence": p.max(axis=1)})

    def consensus_settings(self, task: TaskConfig) -> dict[str, Any]:
        return {"settings": {"method": task.consensus, "scale": scale_of(task).describe()}}

    def balance(self, curated: pa.Table, task: TaskConfig) -> dict[str, Any]:
        import pandas as pd

        from pipeline.contract import SPLITS

        scale = scale_of(task)
        rows = curated.select(["score", "label", "split"]).to_pandas()
        out: dict[str, Any] = {"score_mean": float(rows["score"].mean()) if len(rows) else None,
                               "score_sd": float(rows["score"].std()) if len(rows) > 1 else None,
                               "scale": scale.describe()}
        if len(scale.values) <= BALANCE_LEVELS:
            by_split = pd.crosstab(rows["split"], rows["label"]).reindex(index=list(SPLITS), columns=list(scale.names),
                                                                         fill_value=0)
            out["class_balance"] = {c: int(n) for c, n in by_split.sum().to_dict().items()}
            out["class_balance_by_split"] = {s: {c: int(n) for c, n in by_split.loc[s].to_dict().items()} for s in SPLITS}
        return out

    # ------------------------------------------------------------------ score, report, simulate
    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Scorecards:
        """Volume, gold accuracy (within ``tolerance``), turnaround and cost
        (:func:`pipeline.score.scorecard.scorecards_from_correct`); quadratic-weighted kappa on the
        scale's levels between vendors (``vendor_kappa``) and of each vendor against the
        leave-one-vendor-out consensus's nearest level (``kappa_vs_consensus``); plus ``rating_vendor`` and
        ``rating_annotator``: each rater's bias against the leave-one-vendor-out consensus (the
        task's method on the other vendors' ratings) with its t interval and ``leniency``
        (lenient / severe / neutral), MAE and correlation with that consensus, MAE and bias against
        gold, and scale use (levels used; ``scale_flagged`` for a rater who uses one or two levels;
        :mod:`pipeline.measure.rating`)."""
        import pandas as pd

        from pipeline.measure.rating import correct_against_gold, gold_error, rater_bias, scale_use
        from pipeline.score.scorecard import kappa_vs_consensus, scorecards_from_correct, vendor_kappa

        scale = scale_of(task)
        scores = annotations.assign(score=annotations["score"].astype("float64"))
        correct = correct_against_gold(scores, gold, tolerance=scale.tolerance)
        cards = scorecards_from_correct(scores, correct, task=task_name, prices=prices, vendors=vendors)
        loo = self._leave_one_vendor_out(scores, task)
        bias_v, bias_a = [], []
        for name, rows in scores.groupby("vendor", sort=True):
            reference = loo.get(str(name))
            if reference is None:
                reference = pd.DataFrame({"item_id": pd.Series(dtype="string"), "score": pd.Series(dtype="float64")})
            bias_v.append(rater_bias(rows, reference, by=["vendor"]))
            bias_a.append(rater_bias(rows, reference, by=["vendor", "annotator_id"]))
        use = scale_use(scores, by=["vendor", "annotator_id"], levels=list(scale.values))
        gold_v = gold_error(scores, gold, by=["vendor"], tolerance=scale.tolerance)
        gold_a = gold_error(scores, gold, by=["vendor", "annotator_id"], tolerance=scale.tolerance)

        def joined(parts: list[pd.DataFrame], key: list[str], gold_part: pd.DataFrame) -> pd.DataFrame:
            frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*key, "n"])
            frame = frame.rename(columns={"n": "n_consensus", "ci_low": "bias_ci_low", "ci_high": "bias_ci_high",
                                          "mae": "mae_consensus", "rmse": "rmse_consensus", "corr": "corr_consensus"})
            g = gold_part[[*key, "n_gold", "mae", "bias"]].rename(columns={"mae": "mae_gold", "bias": "bias_gold"})
            return frame.merge(g, on=key, how="left")

        per_vendor = cards.vendor[["task", "vendor"]].astype({"vendor": "string"}).merge(
            joined(bias_v, ["vendor"], gold_v).astype({"vendor": "string"}), on="vendor", how="left")
        flagged = use[use["flagged"]].groupby("vendor").size().rename("scale_flagged_annotators")
        per_vendor["scale_flagged_annotators"] = per_vendor["vendor"].map(flagged).fillna(0).astype("int64")
        annotator = cards.annotator[["task", "vendor", "annotator_id"]].merge(
            joined(bias_a, ["vendor", "annotator_id"], gold_a).astype({"vendor": "string", "annotator_id": "string"}),
            on=["vendor", "annotator_id"], how="left")
        annotator = annotator.merge(
            use[["vendor", "annotator_id", "levels_used", "top_share", "flagged"]].rename(columns={"flagged": "scale_flagged"})
            .astype({"vendor": "string", "annotator_id": "string"}), on=["vendor", "annotator_id"], how="left")
        for frame in (per_vendor, annotator):
            for c in ("n_consensus", "n_gold"):
                frame[c] = frame[c].fillna(0).astype("int64")
            frame["leniency"] = frame["leniency"].fillna("neutral").astype("string")
        annotator["scale_flagged"] = annotator["scale_flagged"].astype("boolean").fillna(False).astype(bool)
        # quadratic-weighted kappa on the scale's levels: between vendors, and of each vendor against
        # the leave-one-vendor-out consensus (its nearest level), so min_kappa_vs_consensus SLAs apply
        levels = scores.assign(label=scores["score"])
        values = list(scale.values)
        loo_levels = pd.concat([ref.assign(vendor=v, loo_label=np.asarray(values)[scale.nearest(
            ref["score"].to_numpy(dtype=np.float64))]) for v, ref in loo.items()], ignore_index=True) if loo else \
            pd.DataFrame({"vendor": pd.Series(dtype="string"), "item_id": pd.Series(dtype="string"),
                          "loo_label": pd.Series(dtype="float64")})
        kappa = kappa_vs_consensus(levels.astype({"vendor": "string"}), loo_levels.astype({"vendor": "string"}),
                                   labels=values, weights="quadratic")
        card = cards.vendor.drop(columns=["kappa_vs_consensus", "n_consensus_items"]).merge(kappa, on="vendor", how="left")
        card["n_consensus_items"] = card["n_consensus_items"].fillna(0).astype("int64")
        card = card[list(cards.vendor.columns)]
        return replace(cards, vendor=card, vendor_kappa=vendor_kappa(levels, labels=values, weights="quadratic"),
                       extra={"rating_vendor": per_vendor, "rating_annotator": annotator})

    def _leave_one_vendor_out(self, scores: pd.DataFrame, task: TaskConfig) -> dict[str, pd.DataFrame]:
        """``{vendor: item_id, score}``: the task's consensus of every *other* vendor's ratings (no gold)."""
        raters = self._raters(scores)
        out = {}
        for vendor in sorted(raters["vendor"].astype(str).unique()):
            others = raters[raters["vendor"].astype(str) != vendor]
            if len(others):
                out[vendor] = self._scores(others, task, None)[["item_id", "score"]]
        return out

    def report_labels(self, task: TaskConfig) -> list[str]:
        scale = scale_of(task)
        return list(scale.names) if len(scale.values) <= BALANCE_LEVELS else []

    def report_sections(self, inputs: ReportInputs) -> list[dict[str, Any]]:
        import pandas as pd

        card = inputs.metrics.get("rating_vendor")
        cols = ["vendor", "n_consensus", "bias", "bias_ci_low", "bias_ci_high", "leniency", "mae_consensus",
                "corr_consensus", "n_gold", "mae_gold", "bias_gold", "scale_flagged_annotators"]
        rows: list[dict[str, Any]] = []
        if card is not None:
            for r in card.reindex(columns=cols).to_dict("records"):
                rows.append({str(c): (None if pd.isna(v) else round(float(v), 3) if isinstance(v, float) else v)
                             for c, v in r.items()})
        return [{"id": "leniency", "title": "Vendor leniency", "columns": cols, "rows": rows,
                 "note": "bias: the vendor's mean rating minus the other vendors' consensus on the same items, with a "
                         "95% t interval; lenient / severe when the interval excludes 0. mae / corr against that "
                         "consensus and (mae_gold, bias_gold) against gold. scale_flagged_annotators: annotators "
                         "who use only one or two levels of the scale (named in "
                         "scorecards/<task>/date=<D>/rating_annotator.parquet)."}]

    def simulate(self, task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                 spec: SimulationSpec) -> Simulated:
        from pipeline.kinds.rating_simulation import simulate_rating

        return simulate_rating(task_name, task, vendors, spec)

    def simulate_feeds(self, tasks: Mapping[str, TaskConfig], vendors: Mapping[str, VendorConfig],
                       spec: SimulationSpec) -> tuple[list[Delivery], dict[str, pa.Table], list[str]]:
        from pipeline.kinds.rating_simulation import simulate_rubric

        return simulate_rubric(tasks, vendors, spec)
