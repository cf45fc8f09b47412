"""The HTML report and its JSON twin: contents match the scorecard, self-contained, no network."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from pipeline import steps
from pipeline.cli import main
from pipeline.publish import read_manifest
from pipeline.report import (
    ReportInputs,
    build_report_data,
    render_index,
    render_report,
    report_figures,
)
from pipeline.report import figures as figs


class _Tables(HTMLParser):
    """Cell texts of every ``<table id=...>``: {id: [[cell, ...], ...]} (header rows included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.srcs: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if "src" in a:
            self.srcs.append(a["src"])
        if "href" in a:
            self.srcs.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    return p


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html), "the report must not load anything from the network"
    assert "<script" not in html and "<link" not in html and "@import" not in html


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if pd.isna(x) else f"{x:.{digits}f}"


# --------------------------------------------------------------------------- the pipeline's reports
def test_every_day_has_a_report_matching_its_scorecard(processed, days, config):
    for d in days:
        html = (processed / "reports" / "sentiment" / f"{d}.html").read_text(encoding="utf-8")
        _assert_self_contained(html)
        page = _parse(html)
        card = pd.read_parquet(processed / "metrics" / "sentiment" / f"date={d}" / "scorecard_vendor.parquet").set_index("vendor")
        rows = page.tables["vendor-scorecard"]
        header, body = rows[0], rows[1:]
        assert [r[0] for r in body] == sorted(config.vendors)
        col = {name: header.index(name) for name in ("SLA", "gold accuracy", "gold labels", "LOO accuracy",
                                                     "κ vs LOO consensus", "cost / correct label")}
        for r in body:
            v = card.loc[r[0]]
            assert r[col["SLA"]] == v["sla_status"]
            assert r[col["gold accuracy"]] == _fmt(v["gold_accuracy"])
            assert r[col["gold accuracy"] + 1] == f"[{_fmt(v['gold_ci_low'])}, {_fmt(v['gold_ci_high'])}]"
            assert r[col["gold labels"]] == str(v["n_gold"])
            assert r[col["LOO accuracy"]] == _fmt(v["loo_accuracy"])
            assert r[col["κ vs LOO consensus"]] == _fmt(v["kappa_vs_consensus"])
            assert r[col["cost / correct label"]] == _fmt(v["cost_per_correct_label"], 4)
        images = [s for s in page.srcs if s.startswith("data:image/png;base64,")]
        assert len(images) == 4  # accuracy over time, confusion, kappa matrix, class balance
        assert all(len(s) > 1000 for s in images)
        assert {"vendor-kappa", "sla-thresholds", "annotator-scorecard", "class-balance"} <= set(page.tables)
        if (card["sla_status"] == "breach").any():
            assert 'id="sla-breaches"' in html and "SLA breached by" in html


def test_json_twin_has_the_same_numbers(processed, days):
    d = days[-1]
    data = json.loads((processed / "reports" / "sentiment" / f"{d}.json").read_text())
    card = pd.read_parquet(processed / "metrics" / "sentiment" / f"date={d}" / "scorecard_vendor.parquet")
    assert [v["vendor"] for v in data["vendors"]] == card["vendor"].tolist()
    for v, (_, row) in zip(data["vendors"], card.iterrows()):
        assert v["gold_accuracy"] == pytest.approx(row["gold_accuracy"])
        assert v["kappa_vs_consensus"] == pytest.approx(row["kappa_vs_consensus"])
        assert v["sla_status"] == row["sla_status"]
    assert sorted({h["date"] for h in data["history"]}) == [x.isoformat() for x in days]
    manifest = read_manifest(processed, "sentiment", d.isoformat())
    assert data["class_balance"]["counts"] == manifest["class_balance"]
    cons = pd.read_parquet(processed / "consensus" / "sentiment" / f"date={d}" / "consensus.parquet")
    assert data["held_out"]["total"] == int(cons["held_out_reason"].notna().sum())
    assert "NaN" not in json.dumps(data)


def test_class_balance_and_kappa_tables_match_their_sources(processed, days):
    d = days[-1]
    page = _parse((processed / "reports" / "sentiment" / f"{d}.html").read_text())
    manifest = read_manifest(processed, "sentiment", d.isoformat())
    shown = {r[0]: int(r[1]) for r in page.tables["class-balance"][1:]}
    assert shown == manifest["class_balance"]
    kappa = pd.read_parquet(processed / "metrics" / "sentiment" / f"date={d}" / "vendor_kappa.parquet")
    rows = page.tables["vendor-kappa"]
    names = rows[0][1:]
    for r in rows[1:]:
        for other, cell in zip(names, r[1:]):
            if other == r[0]:
                continue
            k = kappa[(kappa["vendor"] == r[0]) & (kappa["other_vendor"] == other)].iloc[0]
            assert cell == f"{_fmt(k['kappa'])} ({k['n_items']})"


def test_index_links_every_report(processed, days):
    html = (processed / "reports" / "index.html").read_text()
    _assert_self_contained(html)
    links = [s for s in _parse(html).srcs if s.endswith(".html")]
    assert sorted(links) == [f"sentiment/{d}.html" for d in days]
    assert "crowdly" in html  # breached every simulated day


def test_cli_report_rebuilds_scorecard_and_report(processed, days, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    shutil.rmtree(root / "reports")
    for f in (root / "metrics" / "sentiment" / f"date={days[0]}").glob("scorecard_*.parquet"):
        f.unlink()
    assert main(["report", "--root", str(root), "--date", days[0].isoformat(), "--task", "sentiment", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"reports/sentiment/{days[0]}.html" in out and "SLA breached by crowdly" in out
    assert (root / "metrics" / "sentiment" / f"date={days[0]}" / "scorecard_vendor.parquet").is_file()
    assert (root / "reports" / "index.html").is_file() and (root / "reports" / "sentiment" / f"{days[0]}.json").is_file()
    assert main(["report", "--root", str(root), "--date", days[0].isoformat(), "--task", "nope", "-q"]) == 2


def test_report_stage_needs_a_scorecard(tmp_path, config):
    with pytest.raises(FileNotFoundError, match="run the scorecard stage first"):
        steps.report(config, tmp_path, date(2026, 11, 1), "sentiment")


# --------------------------------------------------------------------------- pure rendering on a toy
def _toy_inputs(vendor_name: str = "<b>acme</b>") -> ReportInputs:
    vendor = pd.DataFrame({
        "task": ["t"], "vendor": [vendor_name], "n_labels": [4], "n_items": [4], "n_annotators": [1],
        "n_gold": [4], "n_correct": [3], "gold_accuracy": [0.75], "gold_ci_low": [0.3006], "gold_ci_high": [0.9544],
        "n_loo": [0], "n_loo_agree": [0], "loo_accuracy": [np.nan], "loo_ci_low": [np.nan], "loo_ci_high": [np.nan],
        "kappa_vs_consensus": [np.nan], "n_consensus_items": [0],
        "first_label_at": [pd.Timestamp("2026-11-01 09:00", tz="UTC")], "last_label_at": [pd.Timestamp("2026-11-01 12:00", tz="UTC")],
        "span_hours": [3.0], "active_hours": [3], "labels_per_active_hour": [4 / 3], "price_per_label": [0.1],
        "cost": [0.4], "cost_per_correct_label": [0.4 / 3], "n_low_effort_annotators": [0],
        "sla_status": ["insufficient_data"], "sla_detail": ["gold accuracy: 4 gold labels < min_gold_labels 20"],
    })
    annot = pd.DataFrame({"vendor": [vendor_name], "annotator_id": ["a1"], "n_labels": [4], "n_gold": [4],
                          "gold_accuracy": [0.75], "gold_ci_low": [0.3], "gold_ci_high": [0.95], "loo_accuracy": [np.nan],
                          "labels_per_active_hour": [1.3], "cost": [0.4], "top_label": ["a"], "top_label_share": [0.5],
                          "low_effort": [False], "low_effort_detail": [""]})
    conf = pd.DataFrame({"vendor": [vendor_name] * 4, "gold_label": ["a", "a", "b", "b"], "label": ["a", "b", "a", "b"],
                         "count": [1, 0, 1, 2]})
    kappa = pd.DataFrame({"vendor": pd.Series(dtype="string"), "other_vendor": pd.Series(dtype="string"),
                          "kappa": pd.Series(dtype="float64"), "n_items": pd.Series(dtype="int64")})
    history = vendor.assign(date=pd.Timestamp("2026-11-01"))
    return ReportInputs(vendor, annot, conf, kappa, history, None, None, "task 't' has no version '2026-11-01'")


def test_toy_report_escapes_and_prints_na():
    inputs = _toy_inputs()
    data = build_report_data(inputs, task="t", day=date(2026, 11, 1), labels=["a", "b"])
    html = render_report(data, report_figures(inputs, labels=["a", "b"], data=data))
    _assert_self_contained(html)
    assert "<b>acme</b>" not in html and "&lt;b&gt;acme&lt;/b&gt;" in html
    body = _parse(html).tables["vendor-scorecard"][1]
    assert body[5] == "0.750" and body[6] == "[0.301, 0.954]" and body[8] == "n/a"  # gold 3/4, LOO undefined
    assert "insufficient_data" in body[1]
    assert "Not published" in html and "No consensus for this day" in html
    assert data["vendors"][0]["loo_accuracy"] is None  # NaN -> null in the JSON twin
    json.dumps(data, allow_nan=False)


def test_toy_report_lists_held_out_items():
    cons = pd.DataFrame({"item_id": ["x1", "x2"], "label": ["a", "b"], "confidence": [1.0, 1.0], "n_annotations": [3, 1],
                         "agreement": [1.0, 1.0], "vendors": ["acme", "acme"],
                         "held_out_reason": pd.array([None, "fewer than 3 labels"], dtype="string")})
    inputs = _toy_inputs("acme")
    inputs = ReportInputs(*[cons if f == "consensus" else getattr(inputs, f) for f in ReportInputs.__dataclass_fields__])
    data = build_report_data(inputs, task="t", day=date(2026, 11, 1), labels=["a", "b"])
    assert data["held_out"]["total"] == 1 and data["held_out"]["by_reason"] == {"fewer than 3 labels": 1}
    rows = _parse(render_report(data, {k: None for k in ("accuracy_over_time", "confusion", "vendor_kappa", "class_balance")})).tables["held-out"]
    assert rows[1][:3] == ["x2", "fewer than 3 labels", "1"]


def test_figures_return_none_when_there_is_nothing_to_plot():
    empty = pd.DataFrame(columns=["vendor", "other_vendor", "kappa", "n_items"])
    assert figs.kappa_heatmap(empty) is None
    assert figs.accuracy_over_time(pd.DataFrame()) is None
    assert figs.class_balance(None, {}, ["a"]) is None
    conf = pd.DataFrame({"vendor": ["v"], "gold_label": ["a"], "label": ["a"], "count": [0]})
    assert figs.confusion_heatmaps(conf, ["a"]) is None


def test_render_index_orders_newest_first():
    entries = [{"task": "t", "date": d, "href": f"t/{d}.html", "counts": {"ok": 1}, "breaches": [], "published": 3,
                "held_out": 0} for d in ("2026-11-01", "2026-11-02")]
    html = render_index(entries)
    assert html.index("2026-11-02") < html.index("2026-11-01")


def test_rerunning_scorecard_and_report_gives_identical_bytes(processed, days, config, tmp_path):
    import hashlib

    root = tmp_path / "data"
    shutil.copytree(processed, root)
    d = days[1]

    def digests() -> dict[str, str]:
        files = [*(root / "metrics" / "sentiment" / f"date={d}").glob("*.parquet"), *(root / "reports" / "sentiment").glob(f"{d}.*")]
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    before = digests()
    steps.scorecard(config, root, d, "sentiment")
    steps.report(config, root, d, "sentiment")
    assert digests() == before and len(before) >= 8
