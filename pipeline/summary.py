"""Human-readable summaries of what the pipeline produced (for the CLI and the demo)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.config import LabelqConfig
from pipeline.publish import VersionNotFound, read_manifest, resolve_version
from pipeline.storage import open_store

log = logging.getLogger("labelq")


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def sla_verdicts(root: Path | str, task: str, day: date) -> dict[str, dict[str, str | None]] | None:
    """``vendor -> {"status", "detail"}`` from the ``sla_status`` column of ``task``'s scorecard for
    ``day`` (None if the scorecard stage has not run for that day)."""
    store = open_store(root)
    key = f"{store.layout.metrics(task, day).as_posix()}/scorecard_vendor.parquet"
    if not store.is_file(key):
        return None
    card = store.read_parquet(key, columns=["vendor", "sla_status", "sla_detail"]).to_pylist()
    return {r["vendor"]: {"status": r["sla_status"], "detail": r["sla_detail"]} for r in card}


def sla_summary(config: LabelqConfig, root: Path | str, day: date) -> dict[str, Any]:
    """Every vendor's SLA status of ``day``, per task; logs each breach (the DAG's ``sla_summary`` task).

    Returns ``date``, ``status`` (task -> vendor -> status; None for a task without a scorecard
    that day) and ``breaches`` (``"<task>/<vendor>: <detail>"``). Never raises on a breach: the
    per-vendor ``check_sla`` tasks are the ones that fail.
    """
    status: dict[str, dict[str, str] | None] = {}
    found: list[str] = []
    for task in config.tasks:
        verdicts = sla_verdicts(root, task, day)
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


def render_summary(config: LabelqConfig, root: Path | str) -> str:
    """Per task and day: batches accepted and quarantined, agreement, vendor accuracy, SLA status, output."""
    store = open_store(root)
    reasons = [store.read_json(k) for k in store.committed_files("quarantine", ".reason.json")]
    lines: list[str] = []
    for task in config.tasks:
        lines.append(f"== task {task} ==")
        metrics = f"metrics/{task}"
        metric_days = [k for k in store.committed_files(metrics, "/summary.json") if k.count("/") == 3]
        if not metric_days:
            lines.append("  no measured days yet (run `labelq run` or the DAG)")
        for key in metric_days:
            s = store.read_json(key)
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
            verdicts = sla_verdicts(store, task, date.fromisoformat(s["date"]))
            if verdicts:
                lines.extend(_sla_line(verdicts))
        for r in reasons:
            if r["task"] == task:
                lines.append(f"  quarantined {r['file']} ({r['rows']} rows): {r['reason']}: {r['detail'][:160]}")
        try:
            version = resolve_version(root, task)
            m = read_manifest(root, task, version)
            lines.append(
                f"  published {task} version {version}: {m['counts']['published']} items "
                f"({m['counts']['held_out']} held out) -> {store.location(store.layout.curated(task) / (m['version'] + '.' + m['build']))}"
            )
        except VersionNotFound:
            lines.append("  nothing published yet")
    return "\n".join(lines)
