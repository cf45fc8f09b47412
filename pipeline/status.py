"""``labelq status``: per task and day, how far each stage got, and which versions are stale.

Read-only and config-optional: with a config the landing folders are read too (so days
delivered but never processed show up), without one the tasks and vendors are found under
the storage root.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.config import LabelqConfig
from pipeline.history import gaps, stale_versions
from pipeline.publish import latest_ref, version_refs
from pipeline.storage import ROOT_FOLDERS, Layout, Store


class NotARoot(ValueError):
    """The storage root does not exist or holds nothing labelq wrote (the message says what to do)."""


def check_root(store: Store, config: LabelqConfig | None = None) -> None:
    """Raise :class:`NotARoot` unless ``store`` holds a labelq folder (or a configured vendor landing folder)."""
    names = {i.base_name for i in store.list_dir("")}
    landings = {v.landing.split("/", 1)[0] for v in config.vendors.values()} if config else set()
    if names & (set(ROOT_FOLDERS) | landings):
        return
    what = "does not exist" if not names and not store.is_dir("") else "holds none of " + ", ".join(ROOT_FOLDERS)
    raise NotARoot(f"{store.location('')}: not a labelq storage root (it {what}); point --root or $LABELQ_ROOT at the "
                   f"folder that holds landing/, or create a demo one with `labelq simulate --root {store.uri}`")


def _dates(store: Store, key: str) -> set[str]:
    """The ``date=<D>`` partitions directly under ``key``."""
    return {d for i in store.list_dir(key) if (d := Layout.partition_value(i.base_name, "date")) is not None}


def known_tasks(store: Store, config: LabelqConfig | None = None) -> list[str]:
    """The configured tasks, else every task with staged, merged or published data under the root."""
    if config is not None:
        return list(config.tasks)
    found = set()
    lay = store.layout
    for folder in (lay.staged_root(), lay.consensus_root(), lay.curated_root()):
        found |= {i.base_name for i in store.list_dir(folder.as_posix()) if not i.base_name.startswith((".", "_"))}
    return sorted(found)


def task_status(store: Store, task: str, config: LabelqConfig | None = None) -> dict[str, Any]:
    """``{"task", "days": [{date, delivered, ingested, validated, merged, published, stale}], "latest", "stale"}``."""
    lay = store.layout
    vendors = sorted(config.vendors_for(task)) if config else sorted(
        {v for d in store.list_dir(lay.staged_task(task).as_posix())
         for i in store.list_dir(Layout.join(lay.staged_task(task), d.base_name))
         if (v := Layout.partition_value(i.base_name, "vendor")) is not None})
    days: set[str] = _dates(store, lay.staged_task(task).as_posix()) | _dates(store, lay.consensus_task(task).as_posix())
    ingested_days = _dates(store, lay.ingested_root().as_posix())
    refs = version_refs(store, task)
    days |= set(refs)
    holes: dict[str, list[str]] = {}
    if config is not None:
        for v in vendors:
            for i in store.list_dir(lay.vendor_landing(config.vendors[v]).as_posix()):
                try:
                    date.fromisoformat(i.base_name)
                except ValueError:
                    continue
                days.add(i.base_name)
        if days:
            holes = gaps(config, store, task, date.fromisoformat(max(days)))
    stale = {s["version"] for s in stale_versions(store, task)}
    rows = []
    for d in sorted(days):
        day = date.fromisoformat(d)
        ing = [v for v in vendors if d in ingested_days and store.is_file(lay.ingest_report(day, v).as_posix())]
        val = [v for v in vendors if store.is_file(lay.validate_report(task, day, v).as_posix())]
        rows.append({
            "date": d, "vendors": len(vendors), "ingested": len(ing), "validated": len(val),
            "unprocessed_deliveries": holes.get(d, []),
            "merged": store.is_file(lay.consensus_table(task, day).as_posix()),
            "published": d in refs, "stale": d in stale,
        })
    latest = latest_ref(store, task)
    return {"task": task, "days": rows, "latest": latest.version if latest else None,
            "latest_stale": bool(latest and latest.version in stale), "stale": sorted(stale)}


def render_status(statuses: list[dict[str, Any]]) -> str:
    """The text ``labelq status`` prints."""
    lines = []
    for st in statuses:
        lines.append(f"== task {st['task']} ==")
        if not st["days"]:
            lines.append("  nothing delivered or processed yet")
        else:
            lines.append(f"  {'day':<10}  {'ingested':>8}  {'validated':>9}  {'merged':>6}  {'published':>9}  note")
        for r in st["days"]:
            note = []
            if r["unprocessed_deliveries"]:
                note.append("delivered, not processed: " + ", ".join(r["unprocessed_deliveries"]))
            if r["stale"]:
                note.append("STALE (an earlier day changed since it was built)")
            lines.append(f"  {r['date']:<10}  {r['ingested']:>4}/{r['vendors']:<3}  {r['validated']:>5}/{r['vendors']:<3}  "
                         f"{'yes' if r['merged'] else '-':>6}  {'yes' if r['published'] else '-':>9}  {'; '.join(note)}")
        if st["latest"]:
            lines.append(f"  latest: {st['latest']}" + ("  STALE" if st["latest_stale"] else ""))
        if st["stale"]:
            first, last = st["stale"][0], st["stale"][-1]
            n = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
            lines.append(f"  stale versions: {', '.join(st['stale'])}: re-run them with `labelq run --date {first} --days {n}`")
    return "\n".join(lines)
