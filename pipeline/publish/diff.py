"""What ML teams ask of published training sets: which versions exist, and what changed.

:func:`version_summaries` backs ``labelq versions <task>`` and :func:`diff_versions` backs
``labelq diff <task> A B``; both accept anything :func:`pipeline.publish.read_training_set`
does as a version (``latest``, ``YYYY-MM-DD``, ``tag:<name>`` or a tag name), and any root it
does (a local folder, an ``s3://`` URI or a :class:`~pipeline.storage.Store`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.publish import (
    Root,
    latest_ref,
    list_tags,
    read_manifest,
    read_training_set,
    resolve_version,
    version_path,
    version_refs,
)
from pipeline.contract import SPLITS
from pipeline.storage import open_store

#: Kinds of change between two versions, in the order they are reported.
CHANGES = ("added", "removed", "relabelled")


def version_summaries(root: Root, task: str) -> list[dict[str, Any]]:
    """One dict per published version, oldest first, then tagged builds no version points to any more.

    Keys: version, build, path (a local folder or an ``s3://`` URI), latest, tags, superseded,
    data_interval, created_at, items, held_out, splits, class_balance, content_sha256.
    """
    root = open_store(root)  # one client for every call below
    refs, tags, latest = version_refs(root, task), list_tags(root, task), latest_ref(root, task)
    current = {r.path for r in refs.values()}
    entries = [(r, False) for _, r in sorted(refs.items())]
    entries += [(r, True) for r in sorted({r for r in tags.values() if r.path not in current}, key=lambda r: r.path)]
    out = []
    for ref, superseded in entries:
        m = read_manifest(root, task, ref)
        out.append({
            "version": ref.version, "build": m["build"], "path": str(version_path(root, task, ref)),
            "latest": latest is not None and latest.path == ref.path,
            "tags": sorted(n for n, t in tags.items() if t.path == ref.path), "superseded": superseded,
            "data_interval": m["data_interval"], "created_at": m["created_at"],
            "items": m["counts"]["published"], "held_out": m["counts"]["held_out"],
            "splits": m["splits"]["items"], "class_balance": m["class_balance"],
            "content_sha256": m["content_sha256"],
        })
    return out


def render_versions(task: str, rows: list[dict[str, Any]]) -> str:
    """The human table printed by ``labelq versions``."""
    if not rows:
        return f"task {task}: nothing published yet"
    lines = [f"task {task}: {sum(not r['superseded'] for r in rows)} version(s)"]
    for r in rows:
        marks = (["latest"] if r["latest"] else []) + [f"tag:{t}" for t in r["tags"]]
        marks += ["superseded build"] if r["superseded"] else []
        sp = " / ".join(f"{k} {r['splits'][k]}" for k in SPLITS)
        lines.append(
            f"  {r['version']}  {', '.join(marks) or '-'}\n"
            f"      {r['items']} items ({sp}), {r['held_out']} held out; "
            f"interval [{r['data_interval']['start']}, {r['data_interval']['end']}); "
            f"content sha256 {r['content_sha256'][:12]}; created {r['created_at']}\n"
            f"      classes {r['class_balance']}\n"
            f"      {r['path']}"
        )
    return "\n".join(lines)


def diff_versions(root: Root, task: str, a: str, b: str) -> pd.DataFrame:
    """Items added, removed and relabelled from version ``a`` to version ``b``.

    Returns one row per changed item, ordered by change (see :data:`CHANGES`) then item_id,
    with columns item_id, change, label_a, label_b (null where the item is absent).
    """
    cols = ["item_id", "label"]
    root = open_store(root)  # one client for every call below
    m = read_training_set(root, task, a, columns=cols).merge(
        read_training_set(root, task, b, columns=cols), on="item_id", how="outer", suffixes=("_a", "_b"), indicator=True
    )
    change = np.select(
        [m["_merge"] == "right_only", m["_merge"] == "left_only", m["label_a"] != m["label_b"]],
        list(CHANGES), default="",
    )
    out = m.assign(change=pd.Categorical(change, categories=["", *CHANGES]))[change != ""]
    out = out.sort_values(["change", "item_id"], ignore_index=True)
    return out[["item_id", "change", "label_a", "label_b"]].astype({"change": str})


def render_diff(root: Root, task: str, a: str, b: str, diff: pd.DataFrame, *, limit: int = 20) -> str:
    """The human report printed by ``labelq diff``: counts, relabel transitions, first ``limit`` rows."""
    root = open_store(root)  # one client for every call below
    va, vb = resolve_version(root, task, a), resolve_version(root, task, b)
    counts = diff["change"].value_counts()
    lines = [f"task {task}: {a} ({va}) -> {b} ({vb}): " + ", ".join(f"{int(counts.get(c, 0))} {c}" for c in CHANGES)]
    relabelled = diff[diff["change"] == "relabelled"]
    pairs: dict[Any, int] = relabelled.groupby(["label_a", "label_b"]).size().to_dict()
    for (la, lb), n in pairs.items():
        lines.append(f"  relabelled {la} -> {lb}: {n}")
    if len(diff):
        shown = diff.head(limit).fillna("-")
        lines.append(shown.to_string(index=False))
        if len(diff) > limit:
            lines.append(f"  ... {len(diff) - limit} more (--limit N to see more, --json for all)")
    return "\n".join(lines)
