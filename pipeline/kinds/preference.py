"""Pairwise preferences: an annotator saw a prompt and two responses and said which is better.

The label kind of RLHF / DPO / reward-model data (:mod:`pipeline.kinds`). A vendor row names the
prompt (``prompt_id``), the two responses (``response_a``, ``response_b``), the annotator, the
``choice`` in the vendor's vocabulary (``vendors.<v>.labels`` maps it onto ``a`` / ``b`` /
``tie``) and optionally a ``strength`` on the vendor's scale (``vendors.<v>.options.strength_max``:
the scale's top), which response was shown first (``shown_first``, through the same vocabulary
onto ``a`` / ``b``) and a ``rationale`` text (stored, never put in reports).

Canonical form. A pair is unordered: every row is turned so that ``response_a < response_b``
(lexicographic), flipping ``choice``, ``margin`` and ``shown_first`` with it, so the same pair
delivered as (b, a) by another vendor is the same comparison. Its ``item_id`` is
``<prompt_id>:<response_a>:<response_b>`` (``%`` and ``:`` in ids escaped as ``%25`` / ``%3A``)
unless the vendor maps its own pair id onto ``item_id``. ``margin`` is the signed strength on
the canonical scale -:data:`MARGIN_MAX` .. +:data:`MARGIN_MAX` (positive: ``response_a`` is
preferred; 0 for a tie; null without a strength). Criteria (helpfulness, harmlessness, ...) are
separate tasks fed by one file (``vendors.<v>.tasks``, each mapping its criterion's column onto
``choice``).

Gold rows name the canonical ``item_id`` and the true ``gold_choice`` in the canonical orientation.
Row checks (``expectations/kinds/preference.json``): ids present, the two responses differ,
``choice`` in ``a`` / ``b`` / ``tie``, ``margin`` in range, ``shown_first`` in ``a`` / ``b``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import annotations_schema, curated_schema, gold_schema
from pipeline.kinds import LabelKind, Measured, SimulationSpec, Simulated, TypeCheck

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import TaskConfig, VendorConfig
    from pipeline.report import ReportInputs
    from pipeline.score.scorecard import Scorecards

__all__ = ["ANNOTATIONS", "CHOICES", "CURATED", "GOLD", "MARGIN_MAX", "Preference", "pair_ids"]

#: The canonical outcomes of a comparison.
CHOICES = ("a", "b", "tie")
#: The canonical strength scale: a margin lies in [-MARGIN_MAX, MARGIN_MAX].
MARGIN_MAX = 3.0

_TEXT: tuple[TypeCheck, ...] = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view,
                                pa.types.is_integer, pa.types.is_binary, pa.types.is_large_binary, pa.types.is_boolean)
_NUMBER: tuple[TypeCheck, ...] = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)

PAYLOAD = pa.schema([
    pa.field("prompt_id", pa.string()), pa.field("response_a", pa.string()), pa.field("response_b", pa.string()),
    pa.field("choice", pa.string()), pa.field("margin", pa.float64()), pa.field("shown_first", pa.string()),
    pa.field("rationale", pa.string()),
])
GOLD_PAYLOAD = pa.schema([pa.field("gold_choice", pa.string(), nullable=False)])
CURATED_PAYLOAD = pa.schema([
    pa.field("prompt_id", pa.string(), nullable=False), pa.field("response_a", pa.string(), nullable=False),
    pa.field("response_b", pa.string(), nullable=False), pa.field("preferred", pa.string(), nullable=False),
    pa.field("p_a", pa.float64(), nullable=False), pa.field("p_b", pa.float64(), nullable=False),
    pa.field("p_tie", pa.float64(), nullable=False), pa.field("margin", pa.float64()),
])

#: Staged annotations of a preference task.
ANNOTATIONS = annotations_schema(PAYLOAD)
#: Gold comparisons: the true choice of each (canonical orientation).
GOLD = gold_schema(GOLD_PAYLOAD)
#: The published training set: one row per comparison.
CURATED = curated_schema(CURATED_PAYLOAD)

_FLIP = {"a": "b", "b": "a"}
#: Consensus methods of a preference task (the categorical estimators over a / b / tie).
METHODS = ("majority_vote", "dawid_skene", "one_coin_dawid_skene", "mace")


def _escape(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.replace_substring(pc.replace_substring(ids, "%", "%25"), ":", "%3A")


def pair_ids(prompt: pa.ChunkedArray, a: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
    """The canonical pair id ``<prompt>:<a>:<b>`` of each row (``a`` < ``b`` already; null if any part is).

    >>> import pyarrow as pa
    >>> pair_ids(pa.chunked_array([["p:1"]]), pa.chunked_array([["r1"]]), pa.chunked_array([["r2"]])).to_pylist()
    ['p%3A1:r1:r2']
    """
    return pc.binary_join_element_wise(_escape(prompt), _escape(a), _escape(b), ":")


def _strength_max(vendor: VendorConfig) -> float | None:
    value = vendor.options.get("strength_max")
    return None if value is None else float(value)


class Preference(LabelKind):
    """A pairwise preference between two responses to a prompt: ``a``, ``b`` or ``tie``, with a margin."""

    name: ClassVar[str] = "preference"
    report_reads_consensus: ClassVar[bool] = False
    payload: ClassVar[pa.Schema] = PAYLOAD
    gold_payload: ClassVar[pa.Schema] = GOLD_PAYLOAD
    curated_payload: ClassVar[pa.Schema] = CURATED_PAYLOAD
    vendor_columns: ClassVar[Mapping[str, tuple[TypeCheck, ...]]] = {
        "prompt_id": _TEXT, "response_a": _TEXT, "response_b": _TEXT, "choice": _TEXT, "strength": _NUMBER,
        "shown_first": _TEXT, "rationale": _TEXT}
    required_columns: ClassVar[tuple[str, ...]] = ("prompt_id", "response_a", "response_b", "choice")
    dictionary_columns: ClassVar[tuple[str, ...]] = ("choice", "shown_first")
    item_ids_from_payload: ClassVar[bool] = True
    split_unit: ClassVar[str] = "prompt_id"
    default_consensus: ClassVar[str] = "majority_vote"

    # ------------------------------------------------------------------ config
    def check_task(self, task: TaskConfig) -> None:
        if task.labels is not None:
            raise ValueError("labels: a preference task's outcomes are fixed (a, b, tie); drop labels")
        if task.consensus not in METHODS:
            raise ValueError(f"consensus: unknown method {task.consensus!r} for a preference task; choose from {list(METHODS)}")
        if task.options:
            raise ValueError(f"options: a preference task takes no options, got {sorted(task.options)}")

    def check_vendor(self, vendor: VendorConfig, task: TaskConfig) -> None:
        unknown = sorted(set(vendor.options) - {"strength_max"})
        if unknown:
            raise ValueError(f"options: unknown option(s) {unknown} for a preference vendor (known: strength_max)")
        strength = "strength" in vendor.columns.values()
        top = vendor.options.get("strength_max")
        if strength and (not isinstance(top, (int, float)) or isinstance(top, bool) or top <= 0):
            raise ValueError(f"options.strength_max: the top of the vendor's strength scale (a number > 0) is needed "
                             f"to map its strength onto the margin, got {top!r}")
        if top is not None and not strength:
            raise ValueError("options.strength_max: set, but no vendor column is mapped onto strength")
        bad = sorted(v for v in set(vendor.labels.values()) if v not in CHOICES)
        if bad:
            raise ValueError(f"labels: maps onto {bad}; a preference vendor's vocabulary maps onto {list(CHOICES)}")

    # ------------------------------------------------------------------ ingest, validate
    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: VendorConfig,
                    invalid_text: np.ndarray, task: TaskConfig | None = None) -> dict[str, pa.ChunkedArray]:
        from pipeline.ingest.canonical import as_text, normalise_labels

        n = len(columns["choice"])
        prompt = pc.utf8_trim_whitespace(as_text(columns["prompt_id"], invalid_text))
        a = pc.utf8_trim_whitespace(as_text(columns["response_a"], invalid_text))
        b = pc.utf8_trim_whitespace(as_text(columns["response_b"], invalid_text))
        choice = normalise_labels(as_text(columns["choice"], invalid_text), vendor.labels)
        shown = (normalise_labels(as_text(columns["shown_first"], invalid_text), vendor.labels)
                 if "shown_first" in columns else pa.chunked_array([pa.nulls(n, pa.string())]))
        rationale = (as_text(columns["rationale"], invalid_text) if "rationale" in columns
                     else pa.chunked_array([pa.nulls(n, pa.string())]))
        top = _strength_max(vendor)
        if "strength" in columns and top is not None:
            strength = pc.multiply(pc.cast(columns["strength"], pa.float64()), MARGIN_MAX / top)
            sign = pc.if_else(pc.equal(choice, "a"), 1.0, pc.if_else(pc.equal(choice, "b"), -1.0,
                              pc.if_else(pc.equal(choice, "tie"), 0.0, pa.scalar(None, pa.float64()))))
            margin = pc.multiply(pc.abs(strength), sign)  # a strength on an unknown choice stays null
        else:
            margin = pa.chunked_array([pa.nulls(n, pa.float64())])
        swap = pc.fill_null(pc.greater(a, b), False)

        def flipped(x: pa.ChunkedArray) -> pa.ChunkedArray:
            turned = pc.if_else(pc.equal(x, "a"), "b", pc.if_else(pc.equal(x, "b"), "a", x))
            return pc.if_else(swap, turned, x)

        return {"prompt_id": prompt, "response_a": pc.if_else(swap, b, a), "response_b": pc.if_else(swap, a, b),
                "choice": flipped(choice), "margin": pc.if_else(swap, pc.subtract(0.0, margin), margin),
                "shown_first": flipped(shown), "rationale": rationale}

    def item_ids(self, payload: Mapping[str, pa.ChunkedArray], invalid_text: np.ndarray) -> pa.ChunkedArray:
        return pair_ids(payload["prompt_id"], payload["response_a"], payload["response_b"])

    def suite_parameters(self, task: TaskConfig) -> dict[str, Any]:
        return {"choice_set": list(CHOICES), "side_set": ["a", "b"], "margin_min": -MARGIN_MAX, "margin_max": MARGIN_MAX}

    # ------------------------------------------------------------------ measure, merge, publish
    @staticmethod
    def _as_labels(annotations: pd.DataFrame, column: str = "choice") -> pd.DataFrame:
        """The judgements as the categorical long format (``label`` = the choice), annotators namespaced."""
        from pipeline.contract import namespaced

        return namespaced(annotations).assign(label=annotations[column].to_numpy())

    @staticmethod
    def _gold_labels(gold: pd.DataFrame) -> pd.DataFrame:
        return gold.rename(columns={"gold_choice": "gold_label"})

    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> Measured:
        import pandas as pd

        from pipeline.measure.accuracy import gold_accuracy
        from pipeline.measure.agreement import agreement_table
        from pipeline.measure.preference import position_bias, tie_rate

        raters = self._as_labels(annotations)
        agreement = agreement_table(raters, level="nominal", labels=list(CHOICES), by="vendor")
        decided = raters[raters["label"] != "tie"]
        no_ties = agreement_table(decided, level="nominal", labels=["a", "b"], by="vendor")
        no_ties = no_ties[no_ties["metric"].isin(["percent_agreement", "krippendorff_alpha"])]
        no_ties = no_ties.assign(metric=no_ties["metric"] + "_no_ties")
        with_margin = raters[raters["margin"].notna()].assign(label=lambda f: f["margin"].astype("float64"))
        margin = agreement_table(with_margin, level="interval", by="vendor")
        margin = margin[margin["metric"] == "krippendorff_alpha"].assign(metric="krippendorff_alpha_margin")
        table = pd.concat([agreement, no_ties, margin], ignore_index=True)
        gold_labels = self._gold_labels(gold)
        labelled = annotations.assign(label=annotations["choice"])
        per_vendor = position_bias(annotations, by=["vendor"])
        per_vendor.insert(1, "annotator_id", pd.Series(pd.NA, index=per_vendor.index, dtype="string"))
        bias = pd.concat([per_vendor, position_bias(annotations, by=["vendor", "annotator_id"])], ignore_index=True)
        return Measured({
            "agreement": table,
            "accuracy_vendor": gold_accuracy(labelled, gold_labels, by=["vendor"]),
            "accuracy_annotator": gold_accuracy(labelled, gold_labels, by=["vendor", "annotator_id"]),
            "position_bias": bias[["vendor", "annotator_id", *[c for c in bias.columns if c not in ("vendor", "annotator_id")]]],
            "tie_rate": tie_rate(annotations, by=["vendor"]),
        }, {"level": "nominal"})

    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
        from pipeline.merge.consensus import Method, get_aggregator

        raters = self._as_labels(annotations)
        fit = get_aggregator(cast(Method, task.consensus), labels=list(CHOICES)).fit(
            raters, gold=self._gold_labels(gold) if len(gold) else None)
        result = fit.result_.copy()
        probas = fit.probas_.reindex(columns=list(CHOICES), fill_value=0.0)
        first = annotations.groupby("item_id", sort=True)[["prompt_id", "response_a", "response_b"]].first()
        margin = annotations.groupby("item_id", sort=True)["margin"].mean()
        keyed = result.set_index("item_id")
        out = first.join(keyed[["label"]]).rename(columns={"label": "preferred"})
        out[["p_a", "p_b", "p_tie"]] = probas.loc[out.index, list(CHOICES)].to_numpy()
        split = (out["p_a"] == out["p_b"]) & (out["p_a"] >= out["p_tie"])  # as much for a as for b: no preference
        out.loc[split, "preferred"] = "tie"
        out["margin"] = margin.reindex(out.index)
        out[["confidence", "n_annotations", "agreement"]] = keyed.loc[out.index, ["confidence", "n_annotations", "agreement"]]
        return out.rename_axis("item_id").reset_index()

    published_tables: ClassVar[tuple[str, ...]] = ("response_scores",)

    def consensus_tables(self, annotations: pd.DataFrame, consensus: pd.DataFrame, task: TaskConfig) -> dict[str, pd.DataFrame]:
        """``response_scores``: one row per response judged so far: ``prompt_id``, ``response_id``, its
        Bradley-Terry ``score`` (Davidson ties, penalised MLE: :func:`pipeline.merge.preference.fit_bradley_terry`)
        and standard error ``se``, the same with annotator reliability ``reliable_score`` /
        ``reliable_se`` (:func:`pipeline.merge.preference.fit_noisy_bradley_terry`: spammers and
        position-biased annotators discounted), ``n_comparisons``, ``wins``, ``losses`` and ``ties``.
        ``annotator_reliability`` (in the merge partition, not published: it names annotators): per
        ``vendor``, ``annotator_id``, ``n_judgements``, the fitted ``reliability`` and the answers
        when not really comparing, ``noise_first`` / ``noise_second`` / ``noise_tie`` (by the side
        shown; ``response_a`` / ``response_b`` where the vendor does not say)."""
        import logging

        import pandas as pd

        from pipeline.contract import namespaced
        from pipeline.merge.preference import fit_bradley_terry, fit_noisy_bradley_terry

        try:
            fit = fit_bradley_terry(annotations[["response_a", "response_b", "choice"]])
        except ValueError as exc:  # comparisons the model refuses: no scores rather than a failed merge
            logging.getLogger("labelq").warning("preference: no response scores this time: %s", exc)
            return {}
        sides = pd.concat([
            pd.DataFrame({"response_id": annotations["response_a"], "prompt_id": annotations["prompt_id"],
                          "win": annotations["choice"] == "a", "loss": annotations["choice"] == "b"}),
            pd.DataFrame({"response_id": annotations["response_b"], "prompt_id": annotations["prompt_id"],
                          "win": annotations["choice"] == "b", "loss": annotations["choice"] == "a"}),
        ], ignore_index=True).assign(tie=lambda f: ~(f["win"] | f["loss"]))
        counts = sides.groupby("response_id", sort=True).agg(
            prompt_id=("prompt_id", "first"), n_comparisons=("win", "size"), wins=("win", "sum"),
            losses=("loss", "sum"), ties=("tie", "sum"))
        counts["score"], counts["se"] = fit.scores.reindex(counts.index), fit.se.reindex(counts.index)
        raters = namespaced(annotations)  # an annotator is (vendor, annotator id)
        tables: dict[str, pd.DataFrame] = {}
        try:
            noisy = fit_noisy_bradley_terry(raters[["annotator_id", "response_a", "response_b", "choice", "shown_first"]])
        except ValueError as exc:
            logging.getLogger("labelq").warning("preference: no reliability-weighted scores this time: %s", exc)
            counts["reliable_score"] = counts["reliable_se"] = np.nan
        else:
            counts["reliable_score"] = noisy.scores.reindex(counts.index)
            counts["reliable_se"] = noisy.se.reindex(counts.index)
            who = annotations.groupby(raters["annotator_id"].to_numpy(), sort=True).agg(
                vendor=("vendor", "first"), annotator_id=("annotator_id", "first"), n_judgements=("choice", "size"))
            noise = noisy.noise.reindex(who.index)
            tables["annotator_reliability"] = pd.DataFrame({
                "vendor": who["vendor"].astype("string").to_numpy(),
                "annotator_id": who["annotator_id"].astype("string").to_numpy(),
                "n_judgements": who["n_judgements"].to_numpy(dtype="int64"),
                "reliability": noisy.reliability.reindex(who.index).to_numpy(),
                "noise_first": noise["first"].to_numpy(), "noise_second": noise["second"].to_numpy(),
                "noise_tie": noise["tie"].to_numpy()})
        out = counts.reset_index()[["prompt_id", "response_id", "score", "se", "reliable_score", "reliable_se",
                                    "n_comparisons", "wins", "losses", "ties"]]
        return {"response_scores": out.astype({c: "int64" for c in ("n_comparisons", "wins", "losses", "ties")}), **tables}

    def consensus_settings(self, task: TaskConfig) -> dict[str, Any]:
        from pipeline.merge.consensus import Method, get_aggregator

        return {"settings": get_aggregator(cast(Method, task.consensus), labels=list(CHOICES)).get_params()}

    def exports(self, curated: pa.Table, task: TaskConfig, catalog: pa.Table | None) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """``trl``: the version as TRL's preference format (``prompt``, ``chosen``, ``rejected``, plus
        ``margin``: the consensus margin towards the chosen response, null without strengths and
        negative when the vendors' strengths lean the other way, and
        ``item_id``, ``split``), the texts from the task's catalog. Ties are left out (they prefer
        nothing), and so are pairs whose texts the catalog lacks; both are counted. Held-out pairs
        are not in the training set to begin with. No catalog, no export."""
        import pandas as pd

        if catalog is None:
            return {}, {}
        rows = curated.select(["item_id", "prompt_id", "response_a", "response_b", "preferred", "margin", "split"]).to_pandas()
        text = catalog.to_pandas().drop_duplicates("id", keep="last").set_index("id")["text"]
        decided = rows[rows["preferred"] != "tie"]
        a_wins = (decided["preferred"] == "a").to_numpy()
        chosen = np.where(a_wins, decided["response_a"], decided["response_b"])
        rejected = np.where(a_wins, decided["response_b"], decided["response_a"])
        out = pd.DataFrame({"prompt": decided["prompt_id"].map(text).to_numpy(), "chosen": pd.Series(chosen).map(text).to_numpy(),
                            "rejected": pd.Series(rejected).map(text).to_numpy(),
                            "margin": np.where(a_wins, decided["margin"], -decided["margin"]),
                            "item_id": decided["item_id"].to_numpy(), "split": decided["split"].to_numpy()})
        known = out[["prompt", "chosen", "rejected"]].notna().all(axis=1)
        schema = pa.schema([("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string()),
                            ("margin", pa.float64()), ("item_id", pa.string()), ("split", pa.string())])
        trl = pa.Table.from_pandas(out[known].reset_index(drop=True), schema=schema, preserve_index=False)
        return {"trl": trl}, {"trl": {"rows": trl.num_rows, "ties_left_out": int(len(rows) - len(decided)),
                                      "missing_texts_left_out": int((~known).sum()),
                                      "columns": schema.names}}

    def balance(self, curated: pa.Table, task: TaskConfig) -> dict[str, Any]:
        import pandas as pd

        from pipeline.contract import SPLITS

        rows = curated.select(["preferred", "split"]).to_pandas()
        by_split = pd.crosstab(rows["split"], rows["preferred"]).reindex(index=list(SPLITS), columns=list(CHOICES),
                                                                         fill_value=0)
        return {"class_balance": {c: int(n) for c, n in by_split.sum().to_dict().items()},
                "class_balance_by_split": {s: {c: int(n) for c, n in by_split.loc[s].to_dict().items()} for s in SPLITS},
                "prompts": int(pc.count_distinct(curated["prompt_id"]).as_py())}

    # ------------------------------------------------------------------ score, report, simulate
    scorecard_tables: ClassVar[tuple[str, ...]] = ("preference_vendor", "strength_calibration")

    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Scorecards:
        """The classification scorecards over the outcomes a / b / tie: a judgement is correct when it
        equals the gold pair's choice; agreement with the leave-one-vendor-out consensus and kappa
        against it; the low-effort signals (an annotator who always answers one side is flagged).

        Extra tables: ``preference_vendor`` (per vendor: position bias ``first_share`` with its
        Wilson interval and ``position_flagged``, ``flagged_annotators``, ``tie_rate`` with its
        interval, and strength calibration ``strength_agreement_corr`` over ``n_strength``
        judgements; :mod:`pipeline.measure.preference`) and ``strength_calibration`` (per vendor
        and strength: the share agreeing with the leave-one-vendor-out consensus)."""
        import pandas as pd

        from pipeline.measure.preference import position_bias, strength_agreement, strength_calibration, tie_rate
        from pipeline.merge.consensus import Method
        from pipeline.score.scorecard import build_scorecards, leave_one_vendor_out

        labelled = annotations.assign(label=annotations["choice"])
        gold_labels = self._gold_labels(gold)
        method = cast(Method, task.consensus)
        loo = leave_one_vendor_out(labelled[labelled["label"].notna()], method=method, labels=list(CHOICES),
                                   gold=gold_labels)
        cards = build_scorecards(labelled, gold_labels, task=task_name, labels=list(CHOICES), method=method,
                                 prices=prices, vendors=vendors, loo=loo)
        keyed = annotations.astype({"vendor": "string"})
        loo = loo.astype({"vendor": "string"})
        bias = position_bias(keyed, by=["vendor"]).rename(columns={
            "n": "n_position", "ci_low": "first_ci_low", "ci_high": "first_ci_high", "flagged": "position_flagged"})
        per_annotator = position_bias(keyed, by=["vendor", "annotator_id"])
        odd = per_annotator[per_annotator["flagged"]].groupby("vendor").size().rename("flagged_annotators").reset_index()
        ties = tie_rate(keyed, by=["vendor"]).rename(columns={"n": "n_judgements", "ci_low": "tie_ci_low",
                                                               "ci_high": "tie_ci_high"})
        out = cards.vendor[["task", "vendor"]].copy()
        for part in (bias, odd, ties, strength_agreement(keyed, loo)):
            out = out.merge(part.astype({"vendor": "string"}), on="vendor", how="left")
        counts = ["n_position", "n_first", "flagged_annotators", "n_judgements", "n_ties", "n_strength"]
        out[counts] = out[counts].fillna(0).astype("int64")
        out["position_flagged"] = out["position_flagged"].astype("boolean").fillna(False).astype(bool)
        calibration = strength_calibration(keyed, loo, by=["vendor"])
        calibration.insert(0, "task", pd.Series(task_name, index=calibration.index, dtype="string"))
        columns = ["task", "vendor", "n_position", "n_first", "first_share", "first_ci_low", "first_ci_high",
                   "position_flagged", "flagged_annotators", "n_judgements", "n_ties", "tie_rate", "tie_ci_low",
                   "tie_ci_high", "n_strength", "strength_agreement_corr"]
        return replace(cards, extra={"preference_vendor": out[columns], "strength_calibration": calibration})

    def report_labels(self, task: TaskConfig) -> list[str]:
        return list(CHOICES)

    def report_sections(self, inputs: ReportInputs) -> list[dict[str, Any]]:
        import pandas as pd

        def rows(frame: pd.DataFrame | None, columns: list[str]) -> list[dict[str, Any]]:
            if frame is None:
                return []
            return [{str(c): (None if pd.isna(v) else round(float(v), 3) if isinstance(v, float) else v)
                     for c, v in r.items()} for r in frame[columns].to_dict("records")]

        card = inputs.metrics.get("preference_vendor")  # annotators are counted there, never named
        bias = ties = None
        if card is not None:
            bias = card.rename(columns={"n_position": "n", "first_ci_low": "ci_low", "first_ci_high": "ci_high",
                                        "position_flagged": "flagged"})
            ties = card.rename(columns={"n_judgements": "n", "tie_ci_low": "ci_low", "tie_ci_high": "ci_high"})
        cols = ["n", "n_first", "first_share", "ci_low", "ci_high", "flagged", "flagged_annotators"]
        tie_cols = ["vendor", "n", "n_ties", "tie_rate", "ci_low", "ci_high"]
        pair_cols = ["vendor", "other_vendor", "kappa", "n_items"]
        kappa = inputs.vendor_kappa
        pairs = kappa[kappa["vendor"].astype(str) < kappa["other_vendor"].astype(str)] if len(kappa) else None
        strength_cols = ["vendor", "strength", "n", "n_agree", "agree_share", "ci_low", "ci_high", "corr"]
        calibration = inputs.metrics.get("strength_calibration") if card is not None else None
        if card is not None and calibration is not None:  # both from the same scorecard stage
            corr = card.set_index("vendor")["strength_agreement_corr"]
            calibration = calibration.assign(corr=calibration["vendor"].map(corr).astype("float64"))
        return [
            {"id": "position-bias", "title": "Position bias per vendor", "columns": ["vendor", *cols],
             "rows": rows(bias, ["vendor", *cols]),
             "note": "Share of non-tie judgements that chose the response shown first (Wilson 95% interval); "
                     "flagged when the interval excludes 0.5. flagged_annotators: the vendor's annotators whose own "
                     "interval excludes 0.5 (named in metrics/<task>/date=<D>/position_bias.parquet; this table is "
                     "scorecards/<task>/date=<D>/preference_vendor.parquet)."},
            {"id": "tie-rate", "title": "Tie rate per vendor", "columns": tie_cols,
             "rows": rows(ties, tie_cols),
             "note": "Share of judgements that are ties (Wilson 95% interval)."},
            {"id": "vendor-agreement", "title": "Agreement between vendors", "columns": pair_cols,
             "rows": rows(pairs, pair_cols),
             "note": "Cohen's kappa on a / b / tie between each pair of vendors, over the comparisons both judged "
                     "(each vendor's majority choice per comparison; scorecards/<task>/date=<D>/vendor_kappa.parquet)."},
            {"id": "strength-calibration", "title": "Strength calibration per vendor", "columns": strength_cols,
             "rows": rows(calibration, strength_cols),
             "note": "Per vendor and strength |margin| (-3..3 scale): of its judgements that prefer a side, the share "
                     "on the side the other vendors' consensus prefers (Wilson 95% interval). corr: correlation of "
                     "strength with agreeing; positive when a stronger preference is more often right. Vendors "
                     "without strengths have no rows."},
        ]

    def simulate(self, task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                 spec: SimulationSpec) -> Simulated:
        from pipeline.kinds.preference_simulation import simulate_preference

        return simulate_preference(task_name, task, vendors, spec)
