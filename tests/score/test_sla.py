"""SLA thresholds in config, their evaluation on a scorecard, and the check step that raises."""

from __future__ import annotations

import re

import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline import steps
from pipeline.config import ConfigError, SLAConfig, parse_config
from pipeline.score.sla import SLABreach, breaches, evaluate_sla, sla_status
from pipeline.storage import open_store


def _card(**cols) -> pd.DataFrame:
    base = {"vendor": ["v"], "n_gold": [50], "gold_accuracy": [0.9], "gold_ci_low": [0.8], "gold_ci_high": [0.95],
            "kappa_vs_consensus": [0.6], "n_consensus_items": [100]}
    base.update(cols)
    return pd.DataFrame(base)


def test_crowdly_like_accuracy_breaches_a_075_sla():
    card = _card(vendor=["crowdly"], n_gold=[50], gold_accuracy=[0.68], gold_ci_low=[0.54], gold_ci_high=[0.79])
    checks = evaluate_sla(card, {"crowdly": SLAConfig(min_gold_accuracy=0.75, min_gold_labels=20)})
    assert checks[["metric", "status"]].values.tolist() == [["gold_accuracy", "breach"]]
    status = sla_status(checks).iloc[0]
    assert status["sla_status"] == "breach"
    assert "0.680 [0.540, 0.790] < 0.75 on 50 gold labels" in status["sla_detail"]
    (b,) = breaches(checks)
    assert (b.vendor, b.metric, b.value, b.threshold, b.n) == ("crowdly", "gold_accuracy", 0.68, 0.75, 50)


def test_too_few_gold_labels_is_insufficient_data_not_a_verdict():
    checks = evaluate_sla(_card(n_gold=[10], gold_accuracy=[0.1]), {"v": SLAConfig(min_gold_accuracy=0.75, min_gold_labels=20)})
    assert checks["status"].tolist() == ["insufficient_data"]
    assert sla_status(checks)["sla_status"].tolist() == ["insufficient_data"]
    assert breaches(checks) == []


def test_kappa_threshold_and_worst_status_wins():
    sla = SLAConfig(min_gold_accuracy=0.8, min_kappa_vs_consensus=0.5, min_gold_labels=20)
    ok_gold_bad_kappa = evaluate_sla(_card(kappa_vs_consensus=[0.3]), {"v": sla})
    assert ok_gold_bad_kappa.set_index("metric")["status"].to_dict() == {"gold_accuracy": "ok", "kappa_vs_consensus": "breach"}
    s = sla_status(ok_gold_bad_kappa).iloc[0]
    assert s["sla_status"] == "breach" and s["sla_detail"].startswith("kappa vs leave-one-out consensus 0.300 < 0.5")
    undefined = evaluate_sla(_card(kappa_vs_consensus=[np.nan], n_consensus_items=[0]), {"v": sla})
    assert sla_status(undefined)["sla_status"].tolist() == ["insufficient_data"]
    assert sla_status(evaluate_sla(_card(), {"v": sla}))["sla_status"].tolist() == ["ok"]


def test_vendors_without_sla_have_no_checks():
    checks = evaluate_sla(_card(), {"v": None})
    assert checks.empty and sla_status(checks).empty


def test_sla_breach_message_names_vendor_metric_value_threshold():
    card = pd.concat([_card(vendor=["a"], gold_accuracy=[0.6]), _card(vendor=["b"], kappa_vs_consensus=[0.1])])
    slas = {"a": SLAConfig(min_gold_accuracy=0.75), "b": SLAConfig(min_kappa_vs_consensus=0.2)}
    exc = SLABreach(breaches(evaluate_sla(card, slas)), task="t", date="2026-11-01")
    assert isinstance(exc, RuntimeError)
    msg = str(exc)
    assert "vendor 'a': gold_accuracy 0.600 < min_gold_accuracy 0.75" in msg
    assert "vendor 'b': kappa_vs_consensus 0.100 < min_kappa_vs_consensus 0.2" in msg
    assert "2 vendor(s)" in msg and "task 't', 2026-11-01" in msg


def _config_dict(config) -> dict:
    return config.model_dump(mode="json")


def test_config_validates_sla(config):
    data = _config_dict(config)
    assert config.vendors["crowdly"].sla.min_gold_accuracy == 0.75
    data["vendors"]["acme"]["sla"] = {"min_gold_labels": 5}
    with pytest.raises(ConfigError, match=r"vendors\.acme\.sla: sets no threshold"):
        parse_config(data, source="c.yaml")
    data["vendors"]["acme"]["sla"] = {"min_gold_accuracy": 1.5}
    with pytest.raises(ConfigError, match=r"vendors\.acme\.sla\.min_gold_accuracy"):
        parse_config(data, source="c.yaml")
    data["vendors"]["acme"]["sla"] = {"min_gold_accuracy": 0.7, "min_gold_labelz": 3}
    with pytest.raises(ConfigError, match=r"vendors\.acme\.sla\.min_gold_labelz"):
        parse_config(data, source="c.yaml")
    data["vendors"]["acme"]["sla"] = None
    assert parse_config(data).vendors["acme"].sla is None


def test_pipeline_scorecard_carries_sla_status_and_check_raises(processed, days, config):
    card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={days[0]}" / "scorecard_vendor.parquet")
    status = dict(zip(card["vendor"], card["sla_status"]))
    assert status["crowdly"] == "breach"  # the simulated weakest vendor (~68% accurate) vs 0.75
    assert set(status.values()) <= {"ok", "breach", "insufficient_data", "no_sla"}
    with pytest.raises(SLABreach, match=r"vendor 'crowdly': gold_accuracy 0\.\d+ < min_gold_accuracy 0\.75") as info:
        steps.check_sla(config, open_store(processed), days[0], "sentiment")
    assert {b.vendor for b in info.value.breaches} == {v for v, s in status.items() if s == "breach"}


def test_check_sla_passes_without_thresholds_breached(processed, days, config):
    data = _config_dict(config)
    for v in data["vendors"].values():
        v["sla"] = {"min_gold_accuracy": 0.0, "min_gold_labels": 1}
    out = steps.check_sla(parse_config(data), open_store(processed), days[0], "sentiment")
    assert set(out["status"].values()) == {"ok"}


def test_check_sla_needs_the_scorecard(tmp_path, config, days):
    with pytest.raises(FileNotFoundError, match="run the scorecard stage first"):
        steps.check_sla(config, open_store(tmp_path), days[0], "sentiment")


def test_run_day_reports_breaches_without_failing(processed, days, config, tmp_path, caplog):
    root = tmp_path / "data"
    shutil.copytree(processed, root)
    with caplog.at_level("WARNING", logger="labelq"):
        out = steps.scorecard(config, open_store(root), days[-1], "sentiment")
    assert out["sla"]["crowdly"]["status"] == "breach"
    assert any("crowdly" in b for b in out["sla_breaches"])
    assert any("SLA breach" in r.getMessage() and "crowdly" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- one vendor at a time (the DAG's check_sla)
def _write_card(root, day, card: pd.DataFrame, task: str = "sentiment"):
    path = root / "scorecards" / task / f"date={day}" / "scorecard_vendor.parquet"
    path.parent.mkdir(parents=True)
    card.to_parquet(path)
    return path


@pytest.fixture
def three_vendor_card(tmp_path, days):
    """acme fine, bluepeak too few gold labels, crowdly below its 0.75 gold accuracy."""
    card = pd.concat([_card(vendor=["acme"]), _card(vendor=["bluepeak"], n_gold=[5], gold_accuracy=[0.2]),
                      _card(vendor=["crowdly"], gold_accuracy=[0.6], gold_ci_low=[0.45], gold_ci_high=[0.73])])
    _write_card(tmp_path, days[0], card)
    return tmp_path


def test_check_vendor_sla_raises_for_the_breaching_vendor_only(three_vendor_card, config, days):
    with pytest.raises(SLABreach) as info:
        steps.check_vendor_sla(config, open_store(three_vendor_card), days[0], "sentiment", "crowdly")
    assert [(b.vendor, b.metric, b.value, b.threshold) for b in info.value.breaches] == [("crowdly", "gold_accuracy", 0.6, 0.75)]
    assert "vendor 'crowdly': gold_accuracy 0.600 < min_gold_accuracy 0.75" in str(info.value)
    assert f"scorecards/sentiment/date={days[0]}/scorecard_vendor.parquet" in str(info.value)

    ok = steps.check_vendor_sla(config, open_store(three_vendor_card), days[0], "sentiment", "acme")
    assert ok == {"stage": "check_sla", "task": "sentiment", "vendor": "acme", "date": days[0].isoformat(), "status": "ok",
                  "detail": ok["detail"]}
    assert ok["detail"].startswith("gold accuracy 0.900")
    thin = steps.check_vendor_sla(config, open_store(three_vendor_card), days[0], "sentiment", "bluepeak")
    assert thin["status"] == "insufficient_data" and "5 gold labels < min_gold_labels 20" in thin["detail"]


def test_check_vendor_sla_without_thresholds_is_no_sla(three_vendor_card, config, days):
    data = _config_dict(config)
    data["vendors"]["crowdly"]["sla"] = None
    out = steps.check_vendor_sla(parse_config(data), open_store(three_vendor_card), days[0], "sentiment", "crowdly")
    assert (out["status"], out["detail"]) == ("no_sla", None)


def test_check_vendor_sla_rejects_unknown_or_missing_vendors(three_vendor_card, config, days, tmp_path):
    with pytest.raises(ValueError, match="unknown vendor 'nobody'"):
        steps.check_vendor_sla(config, open_store(three_vendor_card), days[0], "sentiment", "nobody")
    data = _config_dict(config)
    data["tasks"]["topic"] = {**data["tasks"]["sentiment"]}
    data["vendors"]["acme"]["task"] = "topic"
    with pytest.raises(ValueError, match="vendor 'acme' labels task 'topic', not 'sentiment'"):
        steps.check_vendor_sla(parse_config(data), open_store(three_vendor_card), days[0], "sentiment", "acme")
    other = tmp_path / "other"
    _write_card(other, days[0], _card(vendor=["acme"]))
    with pytest.raises(LookupError, match="no row for vendor 'crowdly'; re-run the scorecard stage"):
        steps.check_vendor_sla(config, open_store(other), days[0], "sentiment", "crowdly")
    with pytest.raises(FileNotFoundError, match="run the scorecard stage first"):
        steps.check_vendor_sla(config, open_store(other), days[1], "sentiment", "crowdly")


def test_check_vendor_sla_agrees_with_check_sla_on_pipeline_output(processed, days, config):
    for day in days:
        card = pd.read_parquet(processed / "scorecards" / "sentiment" / f"date={day}" / "scorecard_vendor.parquet")
        breached = set()
        for vendor in config.vendors_for("sentiment"):
            try:
                out = steps.check_vendor_sla(config, open_store(processed), day, "sentiment", vendor)
                assert out["status"] == card.set_index("vendor").loc[vendor, "sla_status"]
            except SLABreach as exc:
                assert {b.vendor for b in exc.breaches} == {vendor}
                breached.add(vendor)
        assert "crowdly" in breached
        with pytest.raises(SLABreach) as info:
            steps.check_sla(config, open_store(processed), day, "sentiment")
        assert {b.vendor for b in info.value.breaches} == breached


def test_summary_shows_sla_status_and_breaches(processed, days, config):
    from pipeline.summary import render_summary, sla_summary

    text = render_summary(config, open_store(processed))
    sections = {m.group(1): body for m, body in zip(re.finditer(r"^== task (\S+) ==$", text, re.M),
                                                   re.split(r"^== task \S+ ==$", text, flags=re.M)[1:])}
    assert list(sections) == list(config.tasks)
    for day in days:
        status, breached = {}, {}
        for task in config.tasks:
            card = pd.read_parquet(processed / "scorecards" / task / f"date={day}" / "scorecard_vendor.parquet")
            status[task] = dict(zip(card["vendor"], card["sla_status"]))
            assert set(status[task]) == set(config.vendors_for(task))
            expected = ", ".join(f"{v} {'BREACH' if s == 'breach' else s}" for v, s in sorted(status[task].items()))
            day_text = sections[task].split(f"  {day}: ", 1)[1].split("\n  20", 1)[0]
            assert f"      SLA: {expected}" in day_text.splitlines()
            breached[task] = sorted(v for v, s in status[task].items() if s == "breach")
            assert [line.split(":")[0].split()[-1] for line in day_text.splitlines() if "SLA BREACH" in line] == breached[task]
        assert "crowdly" in breached["sentiment"]
        out = sla_summary(config, open_store(processed), day)
        assert out["status"] == status
        assert [b.split(":")[0] for b in out["breaches"]] == [f"{t}/{v}" for t in config.tasks for v in breached[t]]
    assert sla_summary(config, open_store(processed), days[-1].replace(year=2030))["status"] == {t: None for t in config.tasks}
