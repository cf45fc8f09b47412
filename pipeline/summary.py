"""Human-readable summaries of what the pipeline produced (for the CLI and the demo)."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import LabelqConfig
from pipeline.publish import VersionNotFound, read_manifest, resolve_version
from pipeline.storage import Layout, read_json


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def render_summary(config: LabelqConfig, root: Path) -> str:
    """Per task and day: batches accepted and quarantined, agreement, vendor accuracy, output."""
    layout = Layout(root)
    lines: list[str] = []
    for task in config.tasks:
        lines.append(f"== task {task} ==")
        metric_days = sorted(p for p in (root / "metrics" / task).glob("date=*/summary.json")) if (root / "metrics" / task).is_dir() else []
        if not metric_days:
            lines.append("  no measured days yet (run `labelq run` or the DAG)")
        for path in metric_days:
            s = read_json(path)
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
        for reason in sorted((root / "quarantine").glob("date=*/vendor=*/*.reason.json")) if (root / "quarantine").is_dir() else []:
            r = read_json(reason)
            if r["task"] == task:
                lines.append(f"  quarantined {r['file']} ({r['rows']} rows): {r['reason']}: {r['detail'][:160]}")
        try:
            version = resolve_version(root, task)
            m = read_manifest(root, task, version)
            lines.append(
                f"  published {task} version {version}: {m['counts']['published']} items "
                f"({m['counts']['held_out']} held out) -> {layout.curated(task) / m['version']}.{m['build']}"
            )
        except VersionNotFound:
            lines.append("  nothing published yet")
    return "\n".join(lines)
