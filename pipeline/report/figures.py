"""Report figures: matplotlib (Agg, no pyplot state) rendered to PNG ``data:`` URIs.

Each function takes frames and returns a ``data:image/png;base64,...`` string (or ``None`` when
there is nothing to draw), so the HTML embeds every image and opens without a network. PNGs are
written without a timestamp or software tag, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pipeline.contract import split_order

__all__ = ["accuracy_over_time", "class_balance", "confusion_heatmaps", "kappa_heatmap", "to_data_uri"]

DPI = 80
#: Colour-blind-safe palette (Okabe & Ito 2008), cycled per vendor.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def to_data_uri(fig: Figure) -> str:
    """Render ``fig`` as PNG and return it as a base64 ``data:`` URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _colours(vendors: Iterable[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(vendors))}


def accuracy_over_time(history: pd.DataFrame, thresholds: Mapping[str, float | None] | None = None) -> str | None:
    """Gold and leave-one-vendor-out accuracy per vendor and day, with Wilson 95% bands.

    ``history``: :func:`pipeline.score.scorecard.read_metrics_history` of ``scorecard_vendor``
    (``date, vendor, gold_accuracy, gold_ci_low, gold_ci_high, loo_accuracy, loo_ci_low,
    loo_ci_high``). ``thresholds``: vendor -> ``min_gold_accuracy`` drawn dashed.
    """
    if history.empty:
        return None
    thresholds = thresholds or {}
    colours = _colours(history["vendor"].astype(str).unique())
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    panels = [("gold", "accuracy vs gold"), ("loo", "accuracy vs leave-one-vendor-out consensus")]
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (prefix, title) in zip(axes, panels):
        for vendor, g in history.sort_values("date").groupby("vendor", sort=True):
            c = colours[str(vendor)]
            x = pd.to_datetime(g["date"]).to_numpy()
            y = g[f"{prefix}_accuracy"].to_numpy(dtype=float)
            lo = g[f"{prefix}_ci_low"].to_numpy(dtype=float)
            hi = g[f"{prefix}_ci_high"].to_numpy(dtype=float)
            ax.fill_between(x, lo, hi, color=c, alpha=0.18, linewidth=0)
            yerr = np.clip(np.vstack([y - lo, hi - y]), 0, None)  # float noise at p=0 or 1
            ax.errorbar(x, y, yerr=np.where(np.isfinite(yerr), yerr, 0), color=c, marker="o", ms=4,
                        capsize=3, lw=1.5, label=str(vendor))
            t = thresholds.get(str(vendor)) if prefix == "gold" else None
            if t is not None:
                ax.axhline(t, color=c, ls="--", lw=1, alpha=0.8)
        ax.set_title(title, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        days = pd.to_datetime(history["date"])
        if (days.max() - days.min()).days <= 14:  # one tick per day, no hour ticks
            ax.xaxis.set_major_locator(mdates.DayLocator())
            ax.set_xlim(days.min() - pd.Timedelta(hours=12), days.max() + pd.Timedelta(hours=12))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    axes[0].set_ylabel("accuracy (Wilson 95% band)")
    axes[0].legend(fontsize=8, loc="lower left")
    return to_data_uri(fig)


def confusion_heatmaps(confusion: pd.DataFrame, labels: Sequence[str]) -> str | None:
    """One heatmap per vendor: rows gold label, columns given label, colour = row share, text = count."""
    if confusion.empty or int(confusion["count"].sum()) == 0:
        return None
    vendors = sorted(confusion["vendor"].astype(str).unique())
    classes = list(labels) + sorted(set(confusion["label"].astype(str)) - set(labels))
    fig = Figure(figsize=(3.4 * len(vendors), 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(vendors)))
    for ax, vendor in zip(axes, vendors):
        m = (confusion[confusion["vendor"] == vendor]
             .pivot_table(index="gold_label", columns="label", values="count", aggfunc="sum", fill_value=0)
             .reindex(index=classes, columns=classes, fill_value=0).to_numpy(dtype=float))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = m / m.sum(axis=1, keepdims=True)
        ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1)
        for (i, j), n in np.ndenumerate(m):
            s = share[i, j]
            ax.text(j, i, f"{int(n)}", ha="center", va="center", fontsize=9,
                    color="white" if np.isfinite(s) and s > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=30, fontsize=8)
        ax.set_yticks(range(len(classes)), classes, fontsize=8)
        ax.set_xlabel("vendor label", fontsize=8)
        ax.set_title(f"{vendor} (n={int(m.sum())})", fontsize=10)
    axes[0].set_ylabel("gold label", fontsize=8)
    return to_data_uri(fig)


def kappa_heatmap(vendor_kappa: pd.DataFrame) -> str | None:
    """Vendor x vendor Cohen's kappa (diverging colours centred on 0), values written in cells."""
    if vendor_kappa.empty:
        return None
    vendors = sorted(set(vendor_kappa["vendor"].astype(str)) | set(vendor_kappa["other_vendor"].astype(str)))
    m = (vendor_kappa.pivot_table(index="vendor", columns="other_vendor", values="kappa", aggfunc="first")
         .reindex(index=vendors, columns=vendors).to_numpy(dtype=float, copy=True))
    np.fill_diagonal(m, np.nan)
    fig = Figure(figsize=(1.2 * len(vendors) + 2, 1.0 * len(vendors) + 1.2))
    ax = fig.subplots()
    im = ax.imshow(np.ma.masked_invalid(m), cmap="RdBu", vmin=-1, vmax=1)
    for (i, j), k in np.ndenumerate(m):
        ax.text(j, i, "" if i == j else ("n/a" if not np.isfinite(k) else f"{k:.2f}"), ha="center", va="center", fontsize=9)
    ax.set_xticks(range(len(vendors)), vendors, rotation=30, fontsize=8)
    ax.set_yticks(range(len(vendors)), vendors, fontsize=8)
    ax.set_title("Cohen's kappa between vendors", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return to_data_uri(fig)


def class_balance(by_split: Mapping[str, Mapping[str, int]] | None, counts: Mapping[str, int], labels: Sequence[str]) -> str | None:
    """Bar chart of the training set's labels, stacked by split when ``by_split`` is given."""
    if not counts or sum(counts.values()) == 0:
        return None
    classes = list(labels) + sorted(set(counts) - set(labels))
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    x = np.arange(len(classes))
    if by_split:
        bottom = np.zeros(len(classes))
        for i, split in enumerate(split_order(by_split)):
            per = by_split[split]
            h = np.array([per.get(c, 0) for c in classes], dtype=float)
            ax.bar(x, h, bottom=bottom, label=split, color=PALETTE[i % len(PALETTE)])
            bottom += h
        ax.legend(fontsize=8)
    else:
        ax.bar(x, [counts.get(c, 0) for c in classes], color=PALETTE[0])
    ax.set_xticks(x, classes, fontsize=8)
    ax.set_ylabel("items")
    ax.set_title("training set class balance", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return to_data_uri(fig)
