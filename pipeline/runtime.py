"""What a scheduled or triggered run works on: config, storage root and the day (partition).

Used by the Airflow DAG's tasks (the CLI resolves the same things from its flags).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pipeline.config import LabelqConfig, load_config, resolve_root


def run_day(params: Mapping[str, Any], logical_date: datetime | None, data_interval_start: datetime | None) -> date:
    """The partition a run processes.

    ``params["date"]`` (a manual run or backfill override) wins; else the run's logical date,
    which for the daily ``CronDataIntervalTimetable`` equals the start of its data interval;
    else (a run triggered with no logical date) the data interval start.
    """
    if params.get("date"):
        return date.fromisoformat(str(params["date"]))
    when = logical_date or data_interval_start
    if when is None:
        raise ValueError("the run has no logical date or data interval; pass params.date=YYYY-MM-DD")
    return when.date()


def run_settings(params: Mapping[str, Any]) -> tuple[LabelqConfig, Path]:
    """Config and storage root from the DAG params (``config``, ``root``) or the environment."""
    config = load_config(params.get("config") or None)
    return config, resolve_root(params.get("root") or None, config)
