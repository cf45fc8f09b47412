"""Summaries of what the pipeline produced, for people (the CLI and the demo) and for scripts (``--json``)."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pipeline.config import LabelqConfig
from pipeline.publish import VersionNotFound, read_manifest, resolve_version
from pipeline.score.scorecard import scorecard_key
from pipeline.storage import METRICS_SUMMARY, REASON_SUFFIX, Layout, Store

log = logging.getLogger("labelq")

#: Characters of a quarantine reason the text summary shows before it stops at a clause boundary.
DETAIL_CHARS = 300
#: Fields of a quarantine ``<file>.reason.json`` the summary carries (everything but the GX result).
_REASON_KEYS = ("vendor", "file", "batch_id", "sha256", "rows", "rows_quarantined", "reason", "policy", "cause",
                "detail", "row_reasons", "quarantined_rows")


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def sla_verdicts(store: Store, task: str, day: date) -> dict[str, dict[str, str | None]] | None:
    """``vendor -> {"status", "detail"}`` from the ``sla_status`` column of ``task``'s scorecard for
    ``day`` (None if the scorecard stage has not run for that day)."""
    key = scorecard_key(store, task, day)
    if not store.is_file(key):
        return None
    card = store.read_parquet(key, columns=["vendor", "sla_status", "sla_detail"]).to_pylist()
    return {r["vendor"]: {"status": r["sla_status"], "detail": r["sla_detail"]} for r in card}


def sla_summary(config: LabelqConfig, store: Store, day: date) -> dict[str, Any]:
    """Every vendor's SLA status of ``day``, per task; logs each breach (the DAG's ``sla_summary`` task).

    Returns ``date``, ``status`` (task -> vendor -> status; None for a task without a scorecard
    that day) and ``breaches`` (``"<task>/<vendor>: <detail>"``). Never raises on a breach: the
    per-vendor ``check_sla`` tasks are the ones that fail.
    """
    status: dict[str, dict[str, str] | None] = {}
    found: list[str] = []
    for task in config.tasks:
        verdicts = sla_verdicts(store, task, day)
        status[task] = None if verdicts is None else {v: str(x["status"]) for v, x in verdicts.items()}
        for vendor, x in (verdicts or {}).items():
            if x["status"] == "breach":
                found.append(f"{task}/{vendor}: {x['detail']}")
    for line in found:
        log.warning("SLA BREACH %s %s", day, line)
    log.info("SLA summary %s: %d breach(es); %s", day, len(found), status)
    return {"date": day.isoformat(), "status": status, "breaches": found}


def _sla_line(verdicts: dict[str, dict[str, str | None]]) -> list[str]:
    lines = ["      SLA: " + ", ".join(f"{v} {x['status'].upper() if x['status'] == 'breach' else x['status']}"
                                      for v, x in sorted(verdicts.items()))]
    lines += [f"      SLA BREACH {v}: {x['detail']}" for v, x in sorted(verdicts.items()) if x["status"] == "breach"]
    return lines


# --------------------------------------------------------------------------- reasons, whole clauses only
def reason_clauses(detail: str) -> list[str]:
    """``detail`` split into its reason clauses, at each ``"; "`` that separates two of them.

    A ``"; "`` inside brackets (``rows [...]``, ``values ['a; b']``, ``(...)``) or inside a quoted
    value within them belongs to a value and never splits. ``"; ".join`` of the result is ``detail``.

    >>> reason_clauses("f: column 'label': 2 row(s) unknown_label (rows [0, 3], values ['a; b']); f: empty")
    ["f: column 'label': 2 row(s) unknown_label (rows [0, 3], values ['a; b'])", 'f: empty']
    """
    clauses, start, depth, quote, i = [], 0, 0, "", 0
    while i < len(detail):  # a scan of one short message, not of data
        ch = detail[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif depth and ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif not depth and detail.startswith("; ", i):
            clauses.append(detail[start:i])
            start = i + 2
            i += 1
        i += 1
    clauses.append(detail[start:])
    return clauses


def clip_reasons(detail: str, *, limit: int = DETAIL_CHARS, see: str | None = None) -> str:
    """The whole reason clauses of ``detail`` that fit in ``limit`` characters (the first always
    does), then ``(+N more, see <see>)`` for the clauses left out: never a value cut in two.

    >>> clip_reasons("a: bad rows [1, 2]; b: empty; c: drift", limit=30, see="x.reason.json")
    'a: bad rows [1, 2]; b: empty (+1 more, see x.reason.json)'
    """
    clauses = reason_clauses(detail)
    shown = clauses[:1]
    for clause in clauses[1:]:
        if len("; ".join([*shown, clause])) > limit:
            break
        shown.append(clause)
    rest = len(clauses) - len(shown)
    text = "; ".join(shown)
    return text if not rest else f"{text} (+{rest} more, see {see or 'the quarantine record'})"


# --------------------------------------------------------------------------- the summary as data, then as text
def _quarantined(store: Store) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every quarantine record, per task and day: the ``<file>.reason.json`` fields (not the GX
    result) with the record's key under ``reason_file``, sorted by vendor and file."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for key in store.committed_files(store.layout.quarantine_root().as_posix(), REASON_SUFFIX):
        r = store.read_json(key)
        day = r.get("date") or store.layout.quarantine_day_of(key)
        out.setdefault(str(r.get("task")), {}).setdefault(str(day), []).append(
            {**{k: r.get(k) for k in _REASON_KEYS}, "reason_file": key})
    for days in out.values():
        for rs in days.values():
            rs.sort(key=lambda r: (str(r["vendor"]), str(r["file"])))
    return out


def _agreement_ci(store: Store, task: str, day: date) -> dict[str, list[float | None]]:
    """``metric -> [ci_low, ci_high]`` of the day's overall agreement (``agreement.parquet``)."""
    key = store.layout.agreement_table(task, day).as_posix()
    if not store.is_file(key):
        return {}
    t = store.read_parquet(key, columns=["scope", "metric", "ci_low", "ci_high"]).to_pandas()
    t = t[t["scope"] == "overall"]
    ci = t[["ci_low", "ci_high"]].astype(object).where(t[["ci_low", "ci_high"]].notna(), None)
    return {str(m): [lo, hi] for m, lo, hi in zip(t["metric"], ci["ci_low"], ci["ci_high"])}


def summary_data(config: LabelqConfig, store: Store) -> dict[str, Any]:
    """What :func:`render_summary` prints, as JSON-able data (``labelq summary --json``).

    ``{"root", "tasks": {task: {"days": [...], "published": {...} | None}}}``. Each day (sorted)
    has ``date``, ``measured`` (False for a day with quarantined files but no metrics yet), the
    measure stage's ``summary.json`` figures (``batches_staged``, ``batches_quarantined``,
    ``rows_in``, ``rows_staged``, ``rows_quarantined``, ``labels``, ``items``, ``level``,
    ``agreement``: metric -> value, ``gold_accuracy``: vendor -> accuracy, ci_low, ci_high,
    n_gold), ``agreement_ci`` (metric -> [low, high]), ``sla`` (vendor -> status, detail; None
    without a scorecard) and ``quarantined`` (every quarantined file of the day with its full
    ``detail``, reason, cause, rows and ``reason_file``). ``published`` is the latest version:
    ``version``, ``build``, ``counts`` (items, published, held_out, ...), ``content_sha256``, ``path``.
    """
    every_quarantined = _quarantined(store)
    tasks: dict[str, Any] = {}
    for task in config.tasks:
        quarantined = every_quarantined.get(task, {})
        days: dict[str, dict[str, Any]] = {}
        base = store.layout.metrics_task(task).as_posix()
        for key in store.committed_files(base, "/" + METRICS_SUMMARY):
            if Layout.partition_of(key, base, "date") is None:
                continue
            s = store.read_json(key)
            day = date.fromisoformat(s["date"])
            days[s["date"]] = {**{k: v for k, v in s.items() if k not in ("stage", "task")}, "measured": True,
                               "agreement_ci": _agreement_ci(store, task, day),
                               "sla": sla_verdicts(store, task, day)}
        for d in set(quarantined) - set(days):
            days[d] = {"date": d, "measured": False, "sla": None}
        for d, day_data in days.items():
            day_data["quarantined"] = quarantined.get(d, [])
        try:
            version = resolve_version(store, task)
            m = read_manifest(store, task, version)
            published = {"version": version, "build": m.get("build"), "counts": m.get("counts"),
                         "content_sha256": m.get("content_sha256"), "data_interval": m.get("data_interval"),
                         "path": store.location(store.layout.curated_entry(task, Layout.build_folder(m["version"], m["build"])))}
        except VersionNotFound:
            published = None
        tasks[task] = {"days": [days[d] for d in sorted(days)], "published": published}
    return {"root": store.location(""), "tasks": tasks}


def render_summary(config: LabelqConfig, store: Store, *, detail_chars: int = DETAIL_CHARS) -> str:
    """Per task and day: batches accepted and quarantined, agreement, vendor accuracy, SLA status,
    quarantined files with their reasons, output. A reason longer than ``detail_chars`` shows its
    whole leading clauses and says how many more its ``reason_file`` holds (:func:`clip_reasons`)."""
    data = summary_data(config, store)
    lines: list[str] = []
    for task, t in data["tasks"].items():
        lines.append(f"== task {task} ==")
        if not any(d["measured"] for d in t["days"]):
            lines.append("  no measured days yet (run `labelq run` or the DAG)")
        for s in t["days"]:
            if not s["measured"]:
                lines.append(f"  {s['date']}: not measured yet (run `labelq run --date {s['date']}`)")
            else:
                ag = s["agreement"]
                lines.append(
                    f"  {s['date']}: batches {s['batches_staged']} accepted, {s['batches_quarantined']} quarantined; "
                    f"rows {s['rows_staged']}/{s['rows_in']} staged; {s['labels']} labels on {s['items']} items; "
                    f"alpha({s['level']})={_fmt(ag.get('krippendorff_alpha'))} "
                    f"agreement={_fmt(ag.get('percent_agreement'))}"
                )
                for vendor, acc in s["gold_accuracy"].items():
                    lines.append(
                        f"      {vendor:<12} gold accuracy {_fmt(acc['accuracy'])} "
                        f"[{_fmt(acc['ci_low'])}, {_fmt(acc['ci_high'])}] on {acc['n_gold']} gold labels"
                    )
                if s["sla"]:
                    lines.extend(_sla_line(s["sla"]))
            for r in s["quarantined"]:
                rows = "unreadable" if r["rows"] is None else f"{r['rows_quarantined']} of {r['rows']} rows"
                detail = clip_reasons(str(r["detail"] or ""), limit=detail_chars, see=r["reason_file"])
                lines.append(f"      quarantined {r['file']} ({rows}): {r['reason']}: {detail}")
        p = t["published"]
        if p is None:
            lines.append("  nothing published yet")
        else:
            lines.append(f"  published {task} version {p['version']}: {p['counts']['published']} items "
                         f"({p['counts']['held_out']} held out) -> {p['path']}")
    return "\n".join(lines)
