"""Vendor service-level agreements (SLAs): thresholds from config checked against a scorecard.

Each vendor may set ``sla`` in ``config/labelq.yaml`` (:class:`pipeline.config.SLAConfig`)::

    vendors:
      crowdly:
        sla: {min_gold_accuracy: 0.75, min_kappa_vs_consensus: 0.20, min_gold_labels: 20}

Rules, per vendor, task and day (on the ``scorecard_vendor`` row of :mod:`pipeline.score.scorecard`):

``gold_accuracy``
    checked when ``min_gold_accuracy`` is set: ``insufficient_data`` with fewer than
    ``min_gold_labels`` labels on gold items, ``breach`` when the point estimate is below the
    threshold, else ``ok``. (The point estimate, not the interval, decides; the Wilson
    interval is quoted in the detail so a reader can judge how firm a breach is.)
``kappa_vs_consensus``
    checked when ``min_kappa_vs_consensus`` is set: ``insufficient_data`` when the kappa is
    undefined (no item shared with the other vendors, or chance agreement total), ``breach``
    when below the threshold, else ``ok``.

A vendor's ``sla_status`` is ``breach`` if any check breaches, else ``insufficient_data`` if any
check lacks data, else ``ok``; ``no_sla`` for vendors without an ``sla`` entry. ``sla_detail``
says why, one clause per check.

:func:`pipeline.steps.check_sla` raises :class:`SLABreach` when any vendor breaches. Wire it as
its own task after the scorecard stage (not upstream of publish): the check fails visibly in the
scheduler while the training set is still published and every vendor is still scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.config import SLAConfig
from pipeline.contract import require_columns

__all__ = ["SLA_STATUSES", "Breach", "SLABreach", "SLAStatus", "breaches", "evaluate_sla", "sla_status"]

SLAStatus = Literal["ok", "breach", "insufficient_data", "no_sla"]
SLA_STATUSES: tuple[str, ...] = ("ok", "breach", "insufficient_data", "no_sla")

#: scorecard column checked -> SLAConfig threshold field
_METRICS: dict[str, str] = {"gold_accuracy": "min_gold_accuracy", "kappa_vs_consensus": "min_kappa_vs_consensus"}

CHECK_COLUMNS: tuple[str, ...] = ("vendor", "metric", "value", "threshold", "n", "status", "detail")


@dataclass(frozen=True)
class Breach:
    """One failed SLA check."""

    vendor: str
    metric: str
    value: float
    threshold: float
    n: int

    def __str__(self) -> str:
        return f"vendor {self.vendor!r}: {self.metric} {self.value:.3f} < {_METRICS[self.metric]} {self.threshold:g} (n={self.n})"


class SLABreach(RuntimeError):
    """At least one vendor breached its SLA; the message names vendor, metric, value, threshold.

    Attributes
    ----------
    breaches : list of Breach
    task, date : str
    """

    def __init__(self, breaches: list[Breach], *, task: str, date: str) -> None:
        self.breaches = list(breaches)
        self.task = task
        self.date = date
        from datetime import date as day_type

        from pipeline.storage import Layout

        lines = "\n  ".join(str(b) for b in self.breaches)
        lay, day = Layout(""), day_type.fromisoformat(date)
        super().__init__(
            f"SLA breached by {len({b.vendor for b in self.breaches})} vendor(s) on task {task!r}, {date}:\n  {lines}\n"
            f"see {lay.scorecard_table(task, day, 'scorecard_vendor').as_posix()} and {lay.report(task, day).as_posix()}"
        )


def _verdict(value: float, threshold: float) -> tuple[str, str]:
    """``("breach", "<")`` when ``value`` is below ``threshold``, else ``("ok", ">=")``."""
    return ("breach", "<") if value < threshold else ("ok", ">=")


def evaluate_sla(scorecard: pd.DataFrame, slas: Mapping[str, SLAConfig | None]) -> pd.DataFrame:
    """Every SLA check of every vendor, one row per (vendor, metric) with a threshold.

    Parameters
    ----------
    scorecard : DataFrame
        ``scorecard_vendor`` rows (``vendor, n_gold, gold_accuracy, gold_ci_low, gold_ci_high,
        kappa_vs_consensus, n_consensus_items``).
    slas : mapping
        ``vendor -> SLAConfig`` (or None: no SLA). Vendors absent from ``scorecard`` are
        ignored; scorecard vendors absent from ``slas`` have no checks.

    Returns
    -------
    DataFrame ``vendor, metric, value, threshold, n, status, detail`` with status ``ok`` /
    ``breach`` / ``insufficient_data`` (rules in the module docstring).
    """
    need = ["vendor", "n_gold", "gold_accuracy", "gold_ci_low", "gold_ci_high", "kappa_vs_consensus", "n_consensus_items"]
    require_columns(scorecard.columns, need, "scorecard", "SLA checks need them: build it with pipeline.score.scorecard")
    rows = []
    r: Any  # one scorecard row (attribute access by column name)
    for r in scorecard.itertuples(index=False):
        sla = slas.get(str(r.vendor))
        if sla is None:
            continue
        if sla.min_gold_accuracy is not None:
            t, v, n = sla.min_gold_accuracy, r.gold_accuracy, int(r.n_gold)
            if n < sla.min_gold_labels or pd.isna(v):
                rows.append((r.vendor, "gold_accuracy", v, t, n, "insufficient_data",
                             f"gold accuracy: {n} gold labels < min_gold_labels {sla.min_gold_labels}"))
            else:
                status, rel = _verdict(v, t)
                rows.append((r.vendor, "gold_accuracy", v, t, n, status,
                             f"gold accuracy {v:.3f} [{r.gold_ci_low:.3f}, {r.gold_ci_high:.3f}] {rel} {t:g} on {n} gold labels"))
        if sla.min_kappa_vs_consensus is not None:
            t, v, n = sla.min_kappa_vs_consensus, r.kappa_vs_consensus, int(r.n_consensus_items)
            if pd.isna(v):
                rows.append((r.vendor, "kappa_vs_consensus", v, t, n, "insufficient_data",
                             f"kappa vs consensus undefined on {n} shared items"))
            else:
                status, rel = _verdict(v, t)
                rows.append((r.vendor, "kappa_vs_consensus", v, t, n, status,
                             f"kappa vs leave-one-out consensus {v:.3f} {rel} {t:g} on {n} items"))
    out = pd.DataFrame(rows, columns=list(CHECK_COLUMNS))
    return out.astype({"vendor": "string", "metric": "string", "value": "float64", "threshold": "float64",
                       "n": "int64", "status": "string", "detail": "string"})


def sla_status(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per vendor with checks: ``vendor, sla_status, sla_detail`` (worst status wins).

    Order of severity: ``breach`` > ``insufficient_data`` > ``ok``; the detail joins the
    checks' clauses with ``"; "``, breaches first.
    """
    if checks.empty:
        return pd.DataFrame({"vendor": pd.Series(dtype="string"), "sla_status": pd.Series(dtype="string"),
                             "sla_detail": pd.Series(dtype="string")})
    rank = {"breach": 0, "insufficient_data": 1, "ok": 2}
    ordered = checks.assign(_rank=checks["status"].map(rank).astype("int64")).sort_values(["vendor", "_rank", "metric"], kind="stable")
    out = ordered.groupby("vendor", as_index=False, sort=True).agg(
        _rank=("_rank", "min"), sla_detail=("detail", lambda s: "; ".join(s)))
    names = np.array(["breach", "insufficient_data", "ok"], dtype=object)
    out["sla_status"] = names[out["_rank"].to_numpy()]
    return out[["vendor", "sla_status", "sla_detail"]].astype("string")


def breaches(checks: pd.DataFrame) -> list[Breach]:
    """The failed checks of :func:`evaluate_sla` as :class:`Breach` records."""
    bad: Iterable[Any] = checks[checks["status"] == "breach"].itertuples(index=False)
    return [Breach(str(r.vendor), str(r.metric), float(r.value), float(r.threshold), int(r.n)) for r in bad]


def enforce_sla(scorecard: pd.DataFrame, slas: Mapping[str, SLAConfig | None], *, task: str, date: str) -> pd.DataFrame:
    """:func:`evaluate_sla`, then raise :class:`SLABreach` naming every breach; returns the
    :func:`sla_status` of the vendors when none breached (the ``check_sla`` steps)."""
    checks = evaluate_sla(scorecard, slas)
    failed = breaches(checks)
    if failed:
        raise SLABreach(failed, task=task, date=date)
    return sla_status(checks)
