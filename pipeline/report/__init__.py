"""Stage 7, report: a static HTML quality report per task and day, its JSON twin, and an index.

Written by :func:`pipeline.steps.report` (and ``labelq report``) under the storage root::

    reports/<task>/<YYYY-MM-DD>.html   self-contained page: inline CSS, PNG data URIs, no scripts
    reports/<task>/<YYYY-MM-DD>.json   the same numbers for machines (NaN/inf -> null, times ISO 8601)
    reports/index.html                 every report, newest first, with its SLA verdicts

The page opens with an "at a glance" section that fits a 1280x800 window (``id="glance"``): per
vendor its batches accepted and quarantined, gold accuracy with its Wilson interval, cost per
correct label and SLA status, then the day's agreement figures (``id="agreement"``: Krippendorff's
alpha and every other metric of ``agreement.parquet``, with bootstrap intervals, overall and within
each vendor). Then every batch of the day with its status and full reason (``id="batches"``),
the vendor scorecard, accuracy over time with Wilson bands (from the metrics history up to the
report's day), per-vendor confusion heatmaps against gold, the vendor agreement (Cohen's kappa)
matrix, flagged annotators, the published training set's class balance and the items held out of
it. Opening it needs no network: nothing is loaded from a URL.

Layers: :func:`load_inputs` reads (I/O edge), :func:`build_report_data` makes the JSON-able dict
(pure), :func:`render_report` / :func:`render_index` turn dicts into HTML (pure, Jinja2 templates
in ``templates/`` with autoescaping), :func:`write_report` / :func:`write_index` write atomically.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.contract import split_order
from pipeline.report.privacy import pseudonymise

if TYPE_CHECKING:
    from pipeline.kinds import LabelKind
    from pipeline.storage import Store

__all__ = [
    "BATCH_STATUSES",
    "HELD_OUT_SHOWN",
    "METRIC_NAMES",
    "ReportInputs",
    "build_report_data",
    "load_inputs",
    "render_index",
    "render_report",
    "report_figures",
    "report_keys",
    "write_index",
    "write_report",
]

#: Held-out items listed in a report (all are counted; the rest are in consensus.parquet).
HELD_OUT_SHOWN = 200
_TEMPLATES = Path(__file__).with_name("templates")
#: A batch's status in the report: ``staged`` (every row), ``partially_quarantined`` (staged, its
#: bad rows quarantined), ``quarantined`` (the whole file), ``duplicate`` (same bytes delivered
#: before: a no-op), ``superseded`` (its batch id was re-delivered with new bytes).
BATCH_STATUSES = ("staged", "partially_quarantined", "quarantined", "duplicate", "superseded")
#: Display names of the agreement metrics, in the order shown; other metrics follow by name.
METRIC_NAMES = {
    "krippendorff_alpha": "Krippendorff's α",
    "percent_agreement": "percent agreement",
    "fleiss_kappa": "Fleiss' κ",
    "cohen_kappa": "Cohen's κ",
    "scott_pi": "Scott's π",
    "gwet_ac1": "Gwet's AC1",
}
#: Keys of a quarantine ``<file>.reason.json`` carried into the report (not the GX result).
_REASON_KEYS = ("file", "vendor", "batch_id", "rows", "rows_quarantined", "reason", "policy", "cause", "detail",
                "row_reasons", "quarantined_rows")


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report is made of (frames and JSON documents as read from storage).

    ``measured`` is the measure stage's ``summary.json``, ``agreement`` its ``agreement.parquet``
    and ``metrics`` the kind's own scorecard tables
    (:attr:`pipeline.kinds.LabelKind.scorecard_tables`) by name; ``validation`` holds the day's ``_validate.json`` of every vendor of the task (with its
    ``batches``), ``quarantine`` the day's quarantine ``<file>.reason.json`` records of the task,
    each with its storage key under ``key``.
    """

    vendor: pd.DataFrame
    annotator: pd.DataFrame
    confusion: pd.DataFrame
    vendor_kappa: pd.DataFrame
    history: pd.DataFrame
    #: the consensus partition's rows (with ``load_inputs(whole_consensus=False)`` only the held-out ones)
    consensus: pd.DataFrame | None
    manifest: dict[str, Any] | None
    manifest_error: str | None
    measured: dict[str, Any] | None = None
    agreement: pd.DataFrame | None = None
    validation: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    quarantine: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    metrics: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    #: how many items the consensus has when ``consensus`` holds only the held-out ones
    consensus_items: int | None = None


# --------------------------------------------------------------------------- JSON-able values
def _py(x: Any) -> Any:
    """A plain JSON value: None for NaN/NA/inf, ISO strings for times, Python scalars."""
    if x is None or x is pd.NA or x is pd.NaT:
        return None
    if isinstance(x, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(x) else pd.Timestamp(x).isoformat()
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_py(v) for v in x]
    return x if isinstance(x, str) else str(x)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame`` as a list of JSON-able dicts (see :func:`_py`)."""
    cols = list(frame.columns)
    return [{c: _py(v) for c, v in zip(cols, row)} for row in frame.itertuples(index=False, name=None)]


# --------------------------------------------------------------------------- I/O edge: read
def _read_batches(store: Store, task: str, day: date) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's ``_validate.json`` per vendor of ``task`` and the quarantine reasons of its vendors."""
    from pipeline.storage import REASON_SUFFIX, VALIDATE_REPORT

    staged = store.layout.staged_day(task, day).as_posix()
    validation = [store.read_json(k) for k in store.committed_files(staged, "/" + VALIDATE_REPORT)]
    quarantine = []
    for vendor in sorted({r["vendor"] for r in validation}):
        for key in store.committed_files(store.layout.quarantine(day, vendor).as_posix(), REASON_SUFFIX):
            reason = store.read_json(key)
            if reason.get("task", task) == task:
                quarantine.append({**{k: reason.get(k) for k in _REASON_KEYS}, "vendor": reason.get("vendor") or vendor,
                                   "key": key})
    return validation, quarantine


def load_inputs(store: Store, task: str, day: date, *, scorecard_extras: Sequence[str] = (),
                whole_consensus: bool = True) -> ReportInputs:
    """Read a report's inputs: the day's scorecard tables (and the kind's own ones
    ``scorecard_extras``, those present, into ``ReportInputs.metrics``), the measure stage's summary and
    agreement table, the validation reports and quarantine reasons of the day's batches, the
    history up to ``day``, the consensus partition and the manifest of training-set version ``day``.
    ``whole_consensus=False`` reads only the consensus's held-out rows (what the report lists) and
    its item count (``consensus_items``), not every item merged so far.

    Raises ``FileNotFoundError`` (saying which stage to run) when the scorecard is missing.
    """
    from pipeline.publish import VersionNotFound, read_manifest
    from pipeline.score.scorecard import METRIC_TABLES, read_metrics_history, scorecard_key

    tables = {}
    for name in METRIC_TABLES:
        key = scorecard_key(store, task, day, name)
        if not store.is_file(key):
            raise FileNotFoundError(
                f"{store.location(key)}: no scorecard for {task} {day}; run the scorecard stage first "
                f"(`labelq run --date {day}` or pipeline.steps.scorecard)"
            )
        tables[name] = store.read_parquet(key).to_pandas()
    history = read_metrics_history(store, task, "scorecard_vendor", until=day)
    summary_key = store.layout.metrics_summary(task, day).as_posix()
    measured = store.read_json(summary_key) if store.is_file(summary_key) else None
    agree_key = store.layout.agreement_table(task, day).as_posix()
    agreement = store.read_parquet(agree_key).to_pandas() if store.is_file(agree_key) else None
    validation, quarantine = _read_batches(store, task, day)
    extra = {name: store.read_parquet(key).to_pandas() for name in scorecard_extras
             if store.is_file(key := store.layout.scorecard_table(task, day, name).as_posix())}
    cons_key = store.layout.consensus_table(task, day).as_posix()
    consensus, consensus_items = None, None
    if store.is_file(cons_key) and whole_consensus:
        consensus = store.read_parquet(cons_key).to_pandas()
    elif store.is_file(cons_key):  # the held-out items only, and the count of all (a long history has many)
        import pyarrow.compute as pc

        meta = store.parquet_metadata(cons_key)
        shown = [c for c in HELD_OUT_COLUMNS if c in meta.schema.names]
        consensus = store.read_parquet(cons_key, columns=shown, filters=pc.field("held_out_reason").is_valid()).to_pandas()
        consensus_items = meta.num_rows
    manifest, error = None, None
    try:
        manifest = read_manifest(store, task, day.isoformat())
    except (VersionNotFound, FileNotFoundError) as exc:
        error = str(exc)
    return ReportInputs(tables["scorecard_vendor"], tables["scorecard_annotator"], tables["confusion"],
                        tables["vendor_kappa"], history, consensus, manifest, error, consensus_items=consensus_items,
                        measured=measured, agreement=agreement, validation=validation, quarantine=quarantine,
                        metrics=extra)


# --------------------------------------------------------------------------- pure: data
#: The consensus columns the report lists of each held-out item (those a kind's table has).
HELD_OUT_COLUMNS = ("item_id", "held_out_reason", "n_annotations", "label", "confidence", "agreement", "vendors")


def _held_out(consensus: pd.DataFrame | None, shown: int, items_total: int | None = None) -> dict[str, Any]:
    """``items_total``: the consensus's items when ``consensus`` holds only the held-out ones (None: all are there)."""
    if consensus is None:
        return {"available": False, "total": 0, "by_reason": {}, "items": [], "shown": 0}
    held = consensus[consensus["held_out_reason"].notna()].sort_values("item_id", ignore_index=True)
    cols = [c for c in HELD_OUT_COLUMNS if c in held.columns]
    by_reason = held["held_out_reason"].astype(str).value_counts().sort_index()
    total = len(consensus) if items_total is None else items_total
    return {"available": True, "total": int(len(held)), "items_total": int(total),
            "by_reason": {str(k): int(v) for k, v in by_reason.items()},
            "items": records(held[cols].head(shown)), "shown": int(min(shown, len(held)))}


def _class_balance(manifest: Mapping[str, Any] | None, error: str | None) -> dict[str, Any]:
    if manifest is None:
        return {"available": False, "reason": error or "no published version"}
    counts = {str(k): int(v) for k, v in (manifest.get("class_balance") or {}).items()}
    total = sum(counts.values())
    by_split = manifest.get("class_balance_by_split")
    if by_split:  # train, validation, test first (the manifest's JSON keys are sorted)
        by_split = {s: by_split[s] for s in split_order(by_split)}
    return {"available": True, "version": manifest.get("version"), "build": manifest.get("build"),
            "published": (manifest.get("counts") or {}).get("published", total),
            "held_out": (manifest.get("counts") or {}).get("held_out"),
            "counts": counts, "shares": {k: (v / total if total else None) for k, v in counts.items()},
            "by_split": {str(s): {str(k): int(v) for k, v in per.items()} for s, per in by_split.items()} if by_split else None}


_BATCH_COUNTS = ("batches_staged", "batches_partially_quarantined", "batches_quarantined", "batches_duplicate",
                 "batches_superseded", "rows_in", "rows_staged", "rows_quarantined")


def _batch_status(batch: Mapping[str, Any]) -> str:
    """One of :data:`BATCH_STATUSES` (a staged batch with quarantined rows is partially quarantined)."""
    if batch["status"] == "staged" and (batch.get("rows_quarantined") or 0) > 0:
        return "partially_quarantined"
    return str(batch["status"])


def _batches(validation: Sequence[Mapping[str, Any]], quarantine: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every batch of the day per vendor with its status and full reason, and per-vendor counts.

    Batches come from the vendors' ``_validate.json``; each is joined (on its delivered file) to
    its quarantine record, whose key is ``reason_file``. A quarantine record no batch names is
    listed too (status from its policy), so nothing quarantined is left out.
    """
    reasons = {(q["vendor"], q["file"]): q for q in quarantine}
    items = []
    for report in validation:
        for b in report.get("batches") or []:
            q = reasons.pop((report["vendor"], b["file"]), None) or {}
            items.append({"vendor": report["vendor"], "batch_id": b.get("batch_id"), "file": b["file"],
                          "status": _batch_status(b), "reason": b.get("reason"), "cause": q.get("cause"),
                          "detail": b.get("detail") or q.get("detail"), "rows": b.get("rows"),
                          "rows_staged": b.get("rows_staged"), "rows_quarantined": b.get("rows_quarantined"),
                          "row_reasons": dict(b.get("row_reasons") or {}), "reason_file": q.get("key"),
                          "quarantined_rows": q.get("quarantined_rows")})
    for q in reasons.values():
        status = "partially_quarantined" if q.get("policy") == "rows" else "quarantined"
        items.append({"vendor": q["vendor"], "batch_id": q.get("batch_id"), "file": q["file"], "status": status,
                      "reason": q.get("reason"), "cause": q.get("cause"), "detail": q.get("detail"), "rows": q.get("rows"),
                      "rows_staged": None, "rows_quarantined": q.get("rows_quarantined"),
                      "row_reasons": dict(q.get("row_reasons") or {}), "reason_file": q["key"],
                      "quarantined_rows": q.get("quarantined_rows")})
    items.sort(key=lambda b: (b["vendor"], b["file"]))
    counts = {r["vendor"]: {k: int(r.get(k) or 0) for k in _BATCH_COUNTS}
              for r in sorted(validation, key=lambda r: r["vendor"])}
    statuses = [*BATCH_STATUSES, *sorted({b["status"] for b in items} - set(BATCH_STATUSES))]
    return {"available": bool(validation), "counts": counts, "items": items,
            "by_status": {s: sum(b["status"] == s for b in items) for s in statuses}}


def _agreement(frame: pd.DataFrame | None, level: str | None) -> dict[str, Any]:
    """The day's agreement table (every metric and scope of ``agreement.parquet``), ordered for display."""
    if frame is None or frame.empty:
        return {"available": False, "level": level, "metrics": [], "scopes": [], "names": {}, "rows": []}
    present = set(frame["metric"].astype(str))
    metrics = [m for m in METRIC_NAMES if m in present] + sorted(present - set(METRIC_NAMES))
    scopes = frame["scope"].astype(str)
    ordered = (["overall"] if (scopes == "overall").any() else []) + sorted(set(scopes) - {"overall"})
    rank = pd.Series(range(len(ordered)), index=ordered)
    mrank = pd.Series(range(len(metrics)), index=metrics)
    table = frame.assign(_s=scopes.map(rank), _m=frame["metric"].astype(str).map(mrank))
    table = table.sort_values(["_s", "_m"], kind="stable").drop(columns=["_s", "_m"])
    names = {m: METRIC_NAMES.get(m, m.replace("_", " ")) + (f" ({level})" if m == "krippendorff_alpha" and level else "")
             for m in metrics}
    return {"available": True, "level": level, "metrics": metrics, "scopes": ordered, "names": names,
            "rows": records(table)}


#: Annotator rows a report lists at most (flagged first, then lowest gold accuracy, then most
#: labels); every annotator stays in the restricted ``scorecard_annotator.parquet``.
ANNOTATORS_SHOWN = 500

#: How the report names annotators (in its ``meta``).
ANNOTATOR_IDS_NOTE = ("pseudonyms: HMAC-SHA256 of (vendor, annotator id) keyed by $LABELQ_PSEUDONYM_KEY or the root's "
                      "keys/pseudonym.key; real ids only in scorecards/<task>/date=<D>/scorecard_annotator.parquet")


def build_report_data(
    inputs: ReportInputs,
    *,
    task: str,
    day: date,
    labels: Sequence[str],
    slas: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    held_out_shown: int = HELD_OUT_SHOWN,
    pseudonym_key: bytes | None = None,
    annotators_shown: int = ANNOTATORS_SHOWN,
    kind: LabelKind | None = None,
) -> dict[str, Any]:
    """The report as a JSON-able dict: the JSON twin, and what the HTML template renders.

    Annotators are named by pseudonyms (:mod:`pipeline.report.privacy`, keyed by ``pseudonym_key``;
    None: a random key, so the ids cannot be recovered, nor matched across reports). At most
    ``annotators_shown`` annotator rows are listed (``annotators_total`` counts them all), so a
    day with 60,000 annotators gives a report of bounded size; every flagged one is in
    ``low_effort`` up to the same bound.

    Keys: ``task, date, meta, labels, vendors`` (scorecard rows), ``sla`` (``thresholds`` per
    vendor, ``breaches``: vendor rows with status breach, ``counts`` per status),
    ``annotators`` (at most ``annotators_shown`` rows), ``annotators_total``, ``low_effort`` (flagged rows), ``confusion``, ``vendor_kappa``,
    ``history`` (vendor rows of every day up to ``date``), ``class_balance``, ``held_out``,
    ``measured`` (the measure stage's day summary: rows in / staged / quarantined, labels, items;
    None if it has not run), ``batches`` (``items``: every batch of the day with vendor, status
    in :data:`BATCH_STATUSES`, reason code, cause, full ``detail`` and ``reason_file``, the
    quarantine record; ``counts`` per vendor from its ``_validate.json``; ``by_status``) and
    ``agreement`` (``rows`` of ``agreement.parquet``: scope, metric, value, ci_low, ci_high,
    n_items, n_labels; ``metrics`` and ``scopes`` in display order, ``names``, ``level``),
    ``kind`` (the task's label kind, default classification) and ``kind_sections`` (the kind's own
    tables, :meth:`pipeline.kinds.LabelKind.report_sections`).
    """
    from pipeline.kinds import DEFAULT_KIND, get_kind

    kind = kind or get_kind(DEFAULT_KIND)
    slas = slas or {}
    thresholds = {
        v: (None if s is None else {"min_gold_accuracy": s.min_gold_accuracy,
                                    "min_kappa_vs_consensus": s.min_kappa_vs_consensus,
                                    "min_gold_labels": s.min_gold_labels})
        for v, s in sorted(slas.items())
    }
    vendors = records(inputs.vendor)
    status = inputs.vendor["sla_status"].astype(str).value_counts()
    hist_cols = [c for c in ("date", "vendor", "n_gold", "gold_accuracy", "gold_ci_low", "gold_ci_high", "n_loo",
                             "loo_accuracy", "loo_ci_low", "loo_ci_high", "kappa_vs_consensus", "sla_status")
                 if c in inputs.history.columns]
    history = inputs.history[hist_cols].copy()
    if "date" in history.columns:
        history["date"] = pd.to_datetime(history["date"]).dt.strftime("%Y-%m-%d")
    annot = inputs.annotator.copy()
    if "annotator_id" in annot.columns:
        annot["annotator_id"] = pseudonymise(annot["vendor"], annot["annotator_id"],
                                             pseudonym_key or secrets.token_bytes(32))
    n_annotators = len(annot)
    if n_annotators > annotators_shown:  # flagged first, then the least accurate, then the busiest
        rank = annot.assign(_ok=~annot["low_effort"].astype(bool), _acc=annot["gold_accuracy"].fillna(np.inf),
                            _busy=-annot["n_labels"])
        annot = annot.loc[rank.sort_values(["_ok", "_acc", "_busy"], kind="stable").index[:annotators_shown].sort_values()]
    return {
        "task": task,
        "date": day.isoformat(),
        "meta": {**dict(meta or {}), "annotator_ids": ANNOTATOR_IDS_NOTE},
        "labels": list(labels),
        "vendors": vendors,
        "sla": {
            "thresholds": thresholds,
            "counts": {str(k): int(v) for k, v in status.sort_index().items()},
            "breaches": [v for v in vendors if v.get("sla_status") == "breach"],
        },
        "annotators": records(annot),
        "annotators_total": n_annotators,
        "low_effort": records(annot[annot["low_effort"].astype(bool)]),
        "confusion": records(inputs.confusion),
        "vendor_kappa": records(inputs.vendor_kappa),
        "history": records(history),
        "class_balance": _class_balance(inputs.manifest, inputs.manifest_error),
        "held_out": _held_out(inputs.consensus, held_out_shown, inputs.consensus_items),
        "measured": None if inputs.measured is None else {
            k: _py(inputs.measured.get(k)) for k in ("level", "labels", "items", "rows_in", "rows_staged", "rows_quarantined",
                                                     "batches_staged", "batches_quarantined") if k in inputs.measured},
        "batches": _batches(inputs.validation, inputs.quarantine),
        "agreement": _agreement(inputs.agreement, (inputs.measured or {}).get("level")),
        "kind": kind.name,
        "kind_sections": [{**sec, "rows": records(pd.DataFrame(sec["rows"]))} for sec in kind.report_sections(inputs)],
    }


def report_figures(inputs: ReportInputs, *, labels: Sequence[str], data: Mapping[str, Any]) -> dict[str, str | None]:
    """The report's images as PNG data URIs (``None`` where there is nothing to plot)."""
    from pipeline.report import figures

    thresholds = {v: (t or {}).get("min_gold_accuracy") for v, t in data["sla"]["thresholds"].items()}
    cb = data["class_balance"]
    return {
        "accuracy_over_time": figures.accuracy_over_time(inputs.history, thresholds),
        "confusion": figures.confusion_heatmaps(inputs.confusion, labels),
        "vendor_kappa": figures.kappa_heatmap(inputs.vendor_kappa),
        "class_balance": figures.class_balance(cb.get("by_split"), cb.get("counts") or {}, labels) if cb["available"] else None,
    }


# --------------------------------------------------------------------------- pure: HTML
def _fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}f}"


def _fmt_time(x: Any) -> str:
    """ISO time -> ``MM-DD HH:MM UTC`` (compact enough for a table cell)."""
    return "n/a" if not x else pd.Timestamp(x).tz_convert("UTC").strftime("%m-%d %H:%M UTC")


def _environment(extra: Path | None = None) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([_TEMPLATES, *([extra] if extra else [])]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = _fmt_num
    env.filters["time"] = _fmt_time
    return env


def render_report(data: Mapping[str, Any], images: Mapping[str, str | None]) -> str:
    """The HTML page of one report (``data`` from :func:`build_report_data`)."""
    kappa = {(r["vendor"], r["other_vendor"]): r for r in data["vendor_kappa"]}
    names = sorted({r["vendor"] for r in data["vendor_kappa"]} | {r["other_vendor"] for r in data["vendor_kappa"]})
    agreement = {(r["scope"], r["metric"]): r for r in data["agreement"]["rows"]}
    scope_sizes = {r["scope"]: r for r in data["agreement"]["rows"]}  # n_items / n_labels are per scope
    glance = sorted({v["vendor"] for v in data["vendors"]} | set(data["batches"]["counts"]))
    template = _kind_template(data.get("kind"))
    return _environment(template.parent if template.is_absolute() else None).get_template("report.html.j2").render(
        d=data, images=images, kappa=kappa, kappa_vendors=names, agreement=agreement, scope_sizes=scope_sizes,
        glance_vendors=glance, scorecard={v["vendor"]: v for v in data["vendors"]},
        kind_template=template.name if template.is_absolute() else template.as_posix())


def _kind_template(kind: str | None) -> Path:
    """The kind's report sections template: a name under ``templates/`` or a file the kind ships."""
    from pipeline.kinds import DEFAULT_KIND, get_kind

    return Path(get_kind(kind or DEFAULT_KIND).report_template)


def render_index(entries: Sequence[Mapping[str, Any]]) -> str:
    """The index page: ``entries`` have ``task, date, href, counts`` (SLA status counts) and
    ``breaches`` (vendor names), newest first within each task."""
    tasks: dict[str, list[Mapping[str, Any]]] = {}
    for e in sorted(entries, key=lambda e: (e["task"], e["date"]), reverse=True):
        tasks.setdefault(e["task"], []).append(e)
    return _environment().get_template("index.html.j2").render(tasks=dict(sorted(tasks.items())))


# --------------------------------------------------------------------------- I/O edge: write
def report_keys(task: str, day: date) -> tuple[str, str]:
    """``(html, json)`` keys (relative to the storage root) of the report of ``task`` and ``day``."""
    from pipeline.storage import Layout

    lay = Layout("")
    return lay.report(task, day, ".html").as_posix(), lay.report(task, day, ".json").as_posix()


def write_report(store: Store, task: str, day: date, data: Mapping[str, Any], html: str) -> tuple[str, str]:
    """Write the page and its JSON twin atomically (readers see the old or the new file)."""
    html_key, json_key = report_keys(task, day)
    store.write_json(json_key, data)
    store.write_bytes(html_key, html.encode("utf-8"))
    return store.location(html_key), store.location(json_key)


def write_index(store: Store) -> str:
    """Rebuild ``reports/index.html`` from every report JSON under ``reports/`` (atomically)."""
    entries = []
    for key in store.committed_files(store.layout.reports().as_posix(), ".json"):
        if (found := store.layout.report_of(key)) is None:
            continue
        d = store.read_json(key)
        entries.append({"task": d["task"], "date": d["date"], "href": store.layout.report_href(*found),
                        "counts": d["sla"]["counts"], "breaches": [v["vendor"] for v in d["sla"]["breaches"]],
                        "published": d["class_balance"].get("published") if d["class_balance"]["available"] else None,
                        "held_out": d["held_out"]["total"]})
    index = store.layout.reports_index().as_posix()
    store.write_bytes(index, render_index(entries).encode("utf-8"))
    return store.location(index)
