"""Configs shared by the benchmarks: the demo's, cut down to one task."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def one_task_config(folder: Path, task: str = "sentiment") -> Path:
    """``config/labelq.yaml`` with only ``task`` and the vendors feeding it, written into ``folder``."""
    raw = yaml.safe_load((REPO / "config" / "labelq.yaml").read_text(encoding="utf-8"))
    raw["tasks"] = {task: raw["tasks"][task]}
    raw["vendors"] = {v: c for v, c in raw["vendors"].items() if c.get("task") == task}
    path = folder / "labelq.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path
