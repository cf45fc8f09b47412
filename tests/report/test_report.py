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
from pipeline.storage import open_store


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
        card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={d}" / "scorecard_vendor.parquet").set_index("vendor")
        rows = page.tables["vendor-scorecard"]
        header, body = rows[0], rows[1:]
        assert [r[0] for r in body] == sorted(config.vendors_for("sentiment"))
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
    card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={d}" / "scorecard_vendor.parquet")
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
    assert data["held_out"]["items_total"] == len(cons)  # counted from the footer: only held-out rows are read
    held = cons[cons["held_out_reason"].notna()].sort_values("item_id")
    assert [i["item_id"] for i in data["held_out"]["items"]] == held["item_id"].head(len(data["held_out"]["items"])).tolist()
    assert "NaN" not in json.dumps(data)


def test_class_balance_and_kappa_tables_match_their_sources(processed, days):
    d = days[-1]
    page = _parse((processed / "reports" / "sentiment" / f"{d}.html").read_text())
    manifest = read_manifest(processed, "sentiment", d.isoformat())
    shown = {r[0]: int(r[1]) for r in page.tables["class-balance"][1:]}
    assert shown == manifest["class_balance"]
    kappa = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={d}" / "vendor_kappa.parquet")
    rows = page.tables["vendor-kappa"]
    names = rows[0][1:]
    for r in rows[1:]:
        for other, cell in zip(names, r[1:]):
            if other == r[0]:
                continue
            k = kappa[(kappa["vendor"] == r[0]) & (kappa["other_vendor"] == other)].iloc[0]
            assert cell == f"{_fmt(k['kappa'])} ({k['n_items']})"


def test_index_links_every_report(processed, days, config):
    html = (processed / "reports" / "index.html").read_text()
    _assert_self_contained(html)
    links = [s for s in _parse(html).srcs if s.endswith(".html")]
    assert sorted(links) == sorted(f"{t}/{d}.html" for t in config.tasks for d in days)
    assert "crowdly" in html  # breached every simulated day


def test_cli_report_rebuilds_scorecard_and_report(processed, days, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    shutil.rmtree(root / "reports")
    for f in (root / "scorecards" / "sentiment" / f"date={days[0]}").glob("*.parquet"):
        f.unlink()
    assert main(["report", "--root", str(root), "--date", days[0].isoformat(), "--task", "sentiment", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"reports/sentiment/{days[0]}.html" in out and "SLA breached by crowdly" in out
    assert (root / "scorecards" / "sentiment" / f"date={days[0]}" / "scorecard_vendor.parquet").is_file()
    assert (root / "reports" / "index.html").is_file() and (root / "reports" / "sentiment" / f"{days[0]}.json").is_file()
    assert main(["report", "--root", str(root), "--date", days[0].isoformat(), "--task", "nope", "-q"]) == 2


def test_report_stage_needs_a_scorecard(tmp_path, config):
    from pipeline.simulate import simulate

    simulate(config, open_store(tmp_path), seed=1, days=1, start=date(2026, 11, 1), items_per_day=30)  # delivered, never run
    with pytest.raises(FileNotFoundError, match="run the scorecard stage first"):
        steps.report(config, open_store(tmp_path), date(2026, 11, 1), "sentiment")
    # a day nobody delivered anything on is skipped, and says why (nothing written)
    skipped = steps.report(config, open_store(tmp_path), date(2026, 11, 2), "sentiment")
    assert "delivered anything on 2026-11-02" in skipped["skipped"] and not (tmp_path / "reports").exists()


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


def test_a_day_with_thousands_of_annotators_lists_a_bounded_number_flagged_first():
    """Per-annotator output is bounded: 2,000 annotators give 500 rows (the flagged ones, then the
    lowest gold accuracy), with the total and where the rest are."""
    inputs = _toy_inputs("acme")
    n = 2000
    rng = np.random.default_rng(1)
    acc = rng.uniform(0.2, 1.0, n)
    flagged = np.zeros(n, dtype=bool)
    flagged[[7, 1500, 1999]] = True
    annot = pd.DataFrame({"vendor": ["acme"] * n, "annotator_id": [f"a{i}" for i in range(n)], "n_labels": rng.integers(1, 50, n),
                          "n_gold": [4] * n, "gold_accuracy": acc, "gold_ci_low": acc - 0.1, "gold_ci_high": acc + 0.1,
                          "loo_accuracy": [np.nan] * n, "labels_per_active_hour": [1.0] * n, "cost": [0.1] * n,
                          "top_label": ["a"] * n, "top_label_share": [0.5] * n, "low_effort": flagged,
                          "low_effort_detail": np.where(flagged, "near-constant answers", "")})
    inputs = ReportInputs(*[annot if f == "annotator" else getattr(inputs, f) for f in ReportInputs.__dataclass_fields__])
    data = build_report_data(inputs, task="t", day=date(2026, 11, 1), labels=["a", "b"], pseudonym_key=b"k" * 32)
    assert data["annotators_total"] == n and len(data["annotators"]) == 500 and len(data["low_effort"]) == 3
    shown = {r["gold_accuracy"] for r in data["annotators"]}
    unflagged = np.sort(acc[~flagged])
    assert shown == set(acc[flagged]) | set(unflagged[:497])  # every flagged one, then the 497 least accurate
    html = render_report(data, {k: None for k in ("accuracy_over_time", "confusion", "vendor_kappa", "class_balance")})
    assert "500 of 2000 annotators" in html and "scorecard_annotator.parquet" in html
    assert len(_parse(html).tables["annotator-scorecard"]) == 501  # header + 500 rows


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
        files = [*(root / "metrics" / "sentiment" / f"date={d}").glob("*.parquet"),
                 *(root / "scorecards" / "sentiment" / f"date={d}").glob("*.parquet"), *(root / "reports" / "sentiment").glob(f"{d}.*")]
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    before = digests()
    steps.scorecard(config, open_store(root), d, "sentiment")
    steps.report(config, open_store(root), d, "sentiment")
    assert digests() == before and len(before) >= 8


# --------------------------------------------------------------------------- at a glance, batches, agreement
def _validation(root, d, task: str = "sentiment") -> dict[str, dict]:
    staged = root / "staged" / task / f"date={d}"
    return {p.parent.name.removeprefix("vendor="): json.loads(p.read_text())
            for p in sorted(staged.glob("vendor=*/_validate.json"))}


def _reasons(root, d, task: str = "sentiment") -> dict[str, dict]:
    """``file -> reason record`` (with its key relative to the root) of the day's quarantine of ``task``."""
    out = {}
    for p in sorted((root / "quarantine" / f"date={d}").glob("vendor=*/*.reason.json")):
        r = json.loads(p.read_text())
        if r["task"] == task:
            out[r["file"]] = {**r, "key": p.relative_to(root).as_posix()}
    return out


def test_report_opens_with_the_glance_then_the_batches(processed, days):
    for d in days:
        html = (processed / "reports" / "sentiment" / f"{d}.html").read_text()
        ids = [html.index(f'id="{i}"')
               for i in ("glance", "glance-vendors", "agreement", "batches", "batch-list", "vendor-scorecard")]
        assert ids == sorted(ids)
        assert html.index('id="sla-breaches"') < html.index('id="batches"')  # the SLA verdicts are in the glance


def test_glance_matches_validation_and_scorecard(processed, days):
    for d in days:
        rows = _parse((processed / "reports" / "sentiment" / f"{d}.html").read_text()).tables["glance-vendors"]
        header, body = rows[0], rows[1:]
        col = {name: header.index(name) for name in ("SLA", "batches accepted", "batches quarantined", "rows staged / in",
                                                     "gold accuracy [95% CI]", "gold labels", "cost / correct label")}
        card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={d}" / "scorecard_vendor.parquet").set_index("vendor")
        val = _validation(processed, d)
        assert [r[0] for r in body] == sorted(card.index) == sorted(val)
        for r in body:
            v, c = card.loc[r[0]], val[r[0]]
            assert r[col["SLA"]] == v["sla_status"]
            accepted = str(c["batches_staged"]) + (f" ({c['batches_partially_quarantined']} with quarantined rows)"
                                                   if c["batches_partially_quarantined"] else "")
            assert r[col["batches accepted"]] == accepted
            assert r[col["batches quarantined"]] == str(c["batches_quarantined"])
            assert r[col["rows staged / in"]] == f"{c['rows_staged']} / {c['rows_in']}"
            ci = f"[{_fmt(v['gold_ci_low'])}, {_fmt(v['gold_ci_high'])}]"
            assert r[col["gold accuracy [95% CI]"]] == f"{_fmt(v['gold_accuracy'])} {ci}"
            assert r[col["gold labels"]] == str(v["n_gold"])
            assert r[col["cost / correct label"]] == _fmt(v["cost_per_correct_label"], 4)


def test_agreement_table_shows_every_metric_and_scope_with_its_interval(processed, days):
    for d in days:
        page = _parse((processed / "reports" / "sentiment" / f"{d}.html").read_text())
        table = pd.read_parquet(processed / "metrics" / "sentiment" / f"date={d}" / "agreement.parquet")
        rows = page.tables["agreement"]
        scopes = ["overall", *sorted(set(table["scope"]) - {"overall"})]
        assert rows[0] == ["metric", *["overall" if s == "overall" else f"within {s}" for s in scopes]]
        shown = {r[0]: r[1:] for r in rows[1:]}
        assert "Krippendorff's α (ordinal)" in shown and len(shown) == table["metric"].nunique() + 1  # + items / labels
        names = {"krippendorff_alpha": "Krippendorff's α (ordinal)", "percent_agreement": "percent agreement",
                 "fleiss_kappa": "Fleiss' κ", "scott_pi": "Scott's π", "gwet_ac1": "Gwet's AC1"}
        for t in table.itertuples():
            cell = shown[names[t.metric]][scopes.index(t.scope)]
            expected = "n/a" if pd.isna(t.value) else f"{t.value:.3f} [{_fmt(t.ci_low)}, {_fmt(t.ci_high)}]"
            assert cell == expected, (t.scope, t.metric)
            assert shown["items / labels"][scopes.index(t.scope)] == f"{t.n_items} / {t.n_labels}"


@pytest.mark.parametrize("task", ["sentiment", "helpfulness"])
def test_batch_list_has_every_batch_with_its_full_reason(processed, days, task):
    seen_quarantined = 0
    for d in days:
        html = (processed / "reports" / task / f"{d}.html").read_text()
        rows = _parse(html).tables["batch-list"]
        header, body = rows[0], rows[1:]
        col = {name: header.index(name) for name in ("vendor", "batch", "status", "rows", "staged", "quarantined", "reason", "detail")}
        reasons = _reasons(processed, d, task)
        expected = []
        for vendor, rep in _validation(processed, d, task).items():
            for b in rep["batches"]:
                status = "partially quarantined" if b["status"] == "staged" and b.get("rows_quarantined") else b["status"]
                detail = b["detail"] or ""
                if b["file"] in reasons:
                    r = reasons.pop(b["file"])
                    assert r["detail"] == b["detail"]
                    detail += f" record: {r['key']}" + (f", bad rows: {r['quarantined_rows']}" if r.get("quarantined_rows") else "")
                    seen_quarantined += 1
                expected.append([vendor, b["batch_id"], status, str(b["rows"]), str(b.get("rows_staged", "")),
                                 str(b.get("rows_quarantined", "")), " ".join(detail.split())])
        assert not reasons, f"quarantine records without a batch row: {sorted(reasons)}"
        got = [[r[col[k]] for k in ("vendor", "batch", "status", "rows", "staged", "quarantined", "detail")] for r in body]
        assert got == sorted(expected, key=lambda e: (e[0], e[1]))
        data = json.loads((processed / "reports" / task / f"{d}.json").read_text())
        assert [b["detail"] for b in data["batches"]["items"] if b["reason_file"]] == \
               [json.loads((processed / b["reason_file"]).read_text())["detail"] for b in data["batches"]["items"] if b["reason_file"]]
    assert seen_quarantined >= 2  # each simulator quarantines a batch (or its bad rows) on days 2 and 3


def test_json_twin_has_the_glance_numbers(processed, days):
    d = days[-1]
    data = json.loads((processed / "reports" / "sentiment" / f"{d}.json").read_text())
    table = pd.read_parquet(processed / "metrics" / "sentiment" / f"date={d}" / "agreement.parquet")
    twin = pd.DataFrame(data["agreement"]["rows"])
    merged = table.merge(twin, on=["scope", "metric"], suffixes=("", "_twin"), validate="one_to_one")
    assert len(merged) == len(table) == len(twin)
    for c in ("value", "ci_low", "ci_high"):
        assert np.allclose(merged[c].astype(float), merged[f"{c}_twin"].astype(float), equal_nan=True)
    assert data["agreement"]["metrics"][0] == "krippendorff_alpha" and data["agreement"]["level"] == "ordinal"
    summary = json.loads((processed / "metrics" / "sentiment" / f"date={d}" / "summary.json").read_text())
    assert {k: data["measured"][k] for k in ("rows_in", "rows_staged", "rows_quarantined", "labels", "items")} == \
           {k: summary[k] for k in ("rows_in", "rows_staged", "rows_quarantined", "labels", "items")}
    for vendor, rep in _validation(processed, d).items():
        assert data["batches"]["counts"][vendor] == {k: rep[k] for k in data["batches"]["counts"][vendor]}
    assert sum(data["batches"]["by_status"].values()) == len(data["batches"]["items"])


def test_toy_report_shows_each_batch_status():
    batches = [
        {"file": "landing/acme/d/a1.parquet", "batch_id": "a1", "status": "staged", "reason": None, "detail": None,
         "rows": 10, "rows_staged": 10, "rows_quarantined": 0},
        {"file": "landing/acme/d/a2.parquet", "batch_id": "a2", "status": "staged", "reason": "bad_rows",
          "detail": ("landing/acme/d/a2.parquet: column 'label': 2 row(s) unknown_label "
                    "(rows [0, 3], values ['x; y', 'z'])"),
         "rows": 10, "rows_staged": 8, "rows_quarantined": 2},
        {"file": "landing/acme/d/a3.parquet", "batch_id": "a3", "status": "quarantined", "reason": "schema_drift",
         "detail": "landing/acme/d/a3.parquet: missing column(s) ['worker']", "rows": 5, "rows_staged": 0, "rows_quarantined": 5},
        {"file": "landing/acme/d/a4.parquet", "batch_id": "a4", "status": "duplicate", "reason": "duplicate_file",
         "detail": "landing/acme/d/a4.parquet: same bytes as landing/acme/c/a0.parquet delivered c", "rows": 10},
        {"file": "landing/acme/d/a5.parquet", "batch_id": "a5", "status": "superseded", "reason": "superseded",
         "detail": "landing/acme/d/a5.parquet: batch 'a5' was re-delivered", "rows": 10},
    ]
    validation = [{"vendor": "<b>acme</b>", "batches": batches, "batches_staged": 2, "batches_partially_quarantined": 1,
                   "batches_quarantined": 1, "batches_duplicate": 1, "batches_superseded": 1, "rows_in": 25,
                   "rows_staged": 18, "rows_quarantined": 7}]
    quarantine = [{"vendor": "<b>acme</b>", "file": b["file"], "detail": b["detail"], "reason": b["reason"],
                   "cause": "schema_drift" if b["batch_id"] == "a3" else None, "policy": "file" if b["batch_id"] == "a3" else "rows",
                   "quarantined_rows": "a2.rows.parquet" if b["batch_id"] == "a2" else None,
                   "key": f"quarantine/date=d/vendor=acme/{b['batch_id']}.parquet.reason.json"} for b in batches[1:3]]
    agreement = pd.DataFrame({"scope": ["overall", "overall", "<b>acme</b>"],
                              "metric": ["percent_agreement", "krippendorff_alpha", "krippendorff_alpha"],
                              "value": [0.9, 0.8, np.nan], "ci_low": [0.85, 0.7, np.nan], "ci_high": [0.95, 0.9, np.nan],
                              "n_items": [4, 4, 4], "n_labels": [8, 8, 4]})
    base = _toy_inputs()
    inputs = ReportInputs(*[getattr(base, f) for f in list(ReportInputs.__dataclass_fields__)[:8]],
                          measured={"level": "nominal", "labels": 8, "items": 4, "rows_in": 25, "rows_staged": 18,
                                    "rows_quarantined": 7},
                          agreement=agreement, validation=validation, quarantine=quarantine)
    data = build_report_data(inputs, task="t", day=date(2026, 11, 1), labels=["a", "b"])
    statuses = ("staged", "partially_quarantined", "quarantined", "duplicate", "superseded")
    assert [b["status"] for b in data["batches"]["items"]] == list(statuses)
    assert data["batches"]["by_status"] == dict.fromkeys(statuses, 1)
    assert data["agreement"]["metrics"] == ["krippendorff_alpha", "percent_agreement"]
    html = render_report(data, {k: None for k in ("accuracy_over_time", "confusion", "vendor_kappa", "class_balance")})
    _assert_self_contained(html)
    assert "<b>acme</b>" not in html
    page = _parse(html)
    body = page.tables["batch-list"][1:]
    assert [r[2] for r in body] == ["staged", "partially quarantined", "quarantined", "duplicate", "superseded"]
    assert body[1][7].endswith("values ['x; y', 'z']) record: quarantine/date=d/vendor=acme/a2.parquet.reason.json, "
                               "bad rows: a2.rows.parquet")
    assert body[2][6] == "schema_drift"
    glance = page.tables["glance-vendors"]
    assert "other batches" in glance[0] and glance[1][glance[0].index("other batches")] == "1 duplicate, 1 superseded"
    assert glance[1][glance[0].index("batches accepted")] == "2 (1 with quarantined rows)"
    alpha = page.tables["agreement"]
    assert alpha[0] == ["metric", "overall", "within <b>acme</b>"]
    assert alpha[1] == ["Krippendorff's α (nominal)", "0.800 [0.700, 0.900]", "n/a"]
    json.dumps(data, allow_nan=False)


def test_toy_report_without_validation_or_measure_says_so():
    data = build_report_data(_toy_inputs(), task="t", day=date(2026, 11, 1), labels=["a", "b"])
    html = render_report(data, {k: None for k in ("accuracy_over_time", "confusion", "vendor_kappa", "class_balance")})
    assert "the validate stage has not run" in html and "the measure stage has not run" in html
    assert data["batches"]["items"] == [] and data["agreement"]["available"] is False and data["measured"] is None


def test_cli_report_refuses_a_day_never_processed(processed, days, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    index = (root / "reports" / "index.html").read_bytes()
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    never = days[-1].replace(day=days[-1].day + 7)
    for argv in (["--task", "sentiment"], []):
        assert main(["report", "--root", str(root), "--date", never.isoformat(), "-q", *argv]) == 1
        err = capsys.readouterr().err
        assert f"sentiment {never}" in err and "has not been processed" in err and f"`labelq run --date {never}`" in err
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before  # nothing written
    assert not (root / "metrics" / "sentiment" / f"date={never}").exists()
    assert (root / "reports" / "index.html").read_bytes() == index
