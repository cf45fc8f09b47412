import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main

LABELQ = str(Path(sys.executable).parent / "labelq")


def test_help_explains_commands_and_settings():
    out = subprocess.run([LABELQ, "--help"], capture_output=True, text=True, check=True).stdout
    for word in ("simulate", "run", "summary", "LABELQ_ROOT", "ingest", "publish"):
        assert word in out
    run_help = subprocess.run([LABELQ, "run", "--help"], capture_output=True, text=True, check=True).stdout
    assert "--date" in run_help and "--root" in run_help


def test_simulate_run_and_summary(tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["simulate", "--root", str(root), "--seed", "1", "--days", "2", "--items", "60", "-q"]) == 0
    assert "simulated 2 day(s)" in capsys.readouterr().out
    assert main(["run", "--root", str(root), "--date", "2026-11-01", "--days", "2", "-q"]) == 0
    out = capsys.readouterr().out
    assert "2026-11-01: batches" in out and "2026-11-02: batches" in out
    assert "gold accuracy" in out and "published sentiment version 2026-11-02" in out


def test_bad_config_exits_2_naming_the_key(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tasks: {t: {labels: [a, b], levle: nominal}}\nvendors: {}\n")
    res = subprocess.run([LABELQ, "summary", "--config", str(cfg)], capture_output=True, text=True)
    assert res.returncode == 2
    assert "tasks.t.levle" in res.stderr


def test_bad_date_is_rejected():
    with pytest.raises(SystemExit) as e:
        main(["run", "--date", "11/01/2026"])
    assert e.value.code == 2
