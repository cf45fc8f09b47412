import json
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


@pytest.mark.slow
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


# --------------------------------------------------------------------------- inputs that used to be silently wrong
def test_a_vendor_without_a_landing_folder_is_warned_about_and_fails_under_strict(fresh_copy, caplog, capsys):
    import shutil

    shutil.rmtree(fresh_copy / "landing" / "crowdly")
    with caplog.at_level("WARNING", logger="labelq"):
        assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-01", "-q"]) == 0
    assert any("vendor 'crowdly': landing folder" in r.message and "does not exist" in r.message for r in caplog.records)
    capsys.readouterr()
    assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-02", "--strict", "-q"]) == 1
    err = capsys.readouterr().err
    assert "vendor 'crowdly': landing folder" in err and "vendors.crowdly.landing" in err and "--strict" in err


@pytest.mark.parametrize("command", [["run", "--date", "2026-11-01"], ["summary"], ["status"], ["versions", "sentiment"],
                                     ["report", "--date", "2026-11-01"]])
def test_a_root_that_is_not_a_labelq_root_is_refused_and_left_untouched(tmp_path, capsys, command):
    missing = tmp_path / "no-such-root"
    assert main([*command, "--root", str(missing), "-q"]) == 2
    assert "not a labelq storage root (it does not exist)" in capsys.readouterr().err and not missing.exists()
    other = tmp_path / "photos"
    (other / "2019").mkdir(parents=True)
    assert main([*command, "--root", str(other), "-q"]) == 2
    assert "holds none of landing, gold" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["2019"]  # nothing created


def test_versions_of_an_unknown_task_fails(processed, capsys):
    assert main(["versions", "sentmient", "--root", str(processed), "-q"]) == 1
    assert "unknown task 'sentmient'; known tasks: ['sentiment', 'helpfulness']" in capsys.readouterr().err


@pytest.mark.slow
def test_read_only_commands_work_from_the_root_alone(processed, tmp_path):
    """versions, diff, tag, untag and status need no config file (an ML team has only the root)."""
    import os
    import shutil

    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    env = {**os.environ, "LABELQ_CONFIG": str(tmp_path / "nowhere.yaml"), "LABELQ_ROOT": str(root)}

    def labelq(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([LABELQ, *args], capture_output=True, text=True, env=env, cwd=tmp_path)

    out = labelq("versions", "sentiment", "--json")
    assert out.returncode == 0, out.stderr
    assert [r["version"] for r in json.loads(out.stdout)] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert labelq("diff", "sentiment", "2026-11-01", "latest").returncode == 0
    assert labelq("tag", "sentiment", "2026-11-02", "paper").returncode == 0
    assert labelq("untag", "sentiment", "paper").returncode == 0
    status = labelq("status", "--json")
    assert status.returncode == 0, status.stderr
    tasks = {st["task"]: st for st in json.loads(status.stdout)}  # the root alone names its tasks
    assert set(tasks) == {"sentiment", "helpfulness"}
    for st in tasks.values():
        assert [d["date"] for d in st["days"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert all(d["validated"] == 3 and d["merged"] and d["published"] and not d["stale"] for d in st["days"])
    run = labelq("summary")  # a command that needs the config still says so
    assert run.returncode == 2 and "config file not found" in run.stderr


def test_staged_and_curated_folders_read_directly_with_pyarrow_dataset_and_hugging_face(processed, tmp_path, monkeypatch):
    """Sidecars never get in the way of dataset readers: a staged partition and a published
    version are plain Parquet datasets for ``pyarrow.dataset`` and Hugging Face ``datasets``."""
    import pyarrow.dataset as ds

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    from pipeline.publish import read_training_set, version_path

    part = processed / "staged" / "sentiment" / "date=2026-11-01" / "vendor=acme"
    report = json.loads((part / "_validate.json").read_text())
    assert ds.dataset(part, format="parquet").count_rows() == report["rows_staged"]
    assert ds.dataset(processed / "staged" / "sentiment", format="parquet", partitioning="hive").count_rows() == sum(
        json.loads(p.read_text())["rows_staged"] for p in (processed / "staged" / "sentiment").glob("*/*/_validate.json"))
    hf = datasets.load_dataset(str(part), split="train")
    assert hf.num_rows == report["rows_staged"] and "annotator_id" in hf.column_names
    latest = read_training_set(processed, "sentiment")
    for folder in (version_path(processed, "sentiment"), processed / "curated" / "sentiment" / "latest"):
        assert ds.dataset(folder, format="parquet").count_rows() == len(latest)
        assert datasets.load_dataset(str(folder), split="train").num_rows == len(latest)


# --------------------------------------------------------------------------- operational failures speak
def test_a_full_disk_exits_with_one_line_naming_the_file_and_the_remedy(fresh_copy, monkeypatch, capsys):
    import errno

    import pipeline.storage.store as storage

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-01", "-q"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[1/1]")]  # progress
    assert len(err) == 1 and "No space left on device; free space on the disk" in err[0], err
    assert err[0].startswith(f"labelq run: {fresh_copy}/") and err[0].split(":")[1].strip().endswith(".json")


def _mount_read_only(source: Path, target: Path) -> None:
    """A real read-only view of ``source`` (a bind mount: permissions alone do not stop root)."""
    import subprocess

    target.mkdir()
    res = subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(target)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot bind-mount read-only here (needs root with CAP_SYS_ADMIN): {res.stderr.strip()}")


def test_a_read_only_root_exits_with_one_line_and_keeps_the_outputs(fresh_copy, tmp_path, capsys):
    import subprocess

    assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-01", "-q"]) == 0
    latest = (fresh_copy / "curated" / "sentiment" / "_latest.json").read_bytes()
    ro = tmp_path / "ro"
    _mount_read_only(fresh_copy, ro)
    try:
        capsys.readouterr()
        assert main(["run", "--root", str(ro), "--date", "2026-11-02", "-q"]) == 1
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[1/1]")]
        assert len(err) == 1, err
        assert err[0].startswith(f"labelq run: {ro}/") and "Read-only file system" in err[0], err
        assert f"the storage root {ro} is not writable here" in err[0]
    finally:
        subprocess.run(["umount", str(ro)], check=True)
    assert (fresh_copy / "curated" / "sentiment" / "_latest.json").read_bytes() == latest
    assert not list(fresh_copy.rglob(".tmp-*"))


@pytest.mark.slow
@pytest.mark.parametrize("what", ["ledger", "gold", "staged"])
def test_a_corrupt_ledger_gold_or_staged_file_is_named(fresh_copy, capsys, what):
    assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-01", "-q"]) == 0
    bad = {"ledger": fresh_copy / "ledger/vendor=acme/date=2026-11-01.json",
           "gold": fresh_copy / "gold/sentiment.parquet",
           "staged": next((fresh_copy / "staged/sentiment/date=2026-11-01/vendor=acme").glob("*.parquet"))}[what]
    bad.write_bytes(b"\x00garbage")
    capsys.readouterr()
    assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-02", "-q"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line and not line.startswith("[")]
    assert len(err) == 1 and str(bad) in err[0], err
    assert {"ledger": "corrupt ledger document", "gold": "the gold file cannot be read",
            "staged": "staged file cannot be read"}[what] in err[0], err
    if what == "staged":  # the remedy it names works: the day's partitions are rebuilt from landing
        assert "labelq run --date 2026-11-01" in err[0]
        assert main(["run", "--root", str(fresh_copy), "--date", "2026-11-01", "--days", "2", "-q"]) == 0


def test_relabel_csv_defuses_spreadsheet_formulas(processed, tmp_path, capsys):
    import shutil

    import pandas as pd

    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    part = root / "consensus" / "sentiment" / "date=2026-11-03" / "relabel.parquet"
    items = pd.read_parquet(part)
    items.loc[items.index[0], "item_id"] = '=HYPERLINK("http://evil","x")'
    items.to_parquet(part, index=False)
    out = tmp_path / "relabel.csv"
    assert main(["relabel", "sentiment", "--date", "2026-11-03", "--csv", str(out), "--root", str(root), "-q"]) == 0
    first = pd.read_csv(out, dtype=str)["item_id"].iloc[0]
    assert first == "'=HYPERLINK(\"http://evil\",\"x\")"


def test_a_webhook_url_with_credentials_is_never_logged(caplog):
    from pipeline.runtime import post_alert

    url = "http://hookuser:s3cret-pass@127.0.0.1:9/services/T000/B000/XXXX?token=abc123"
    with caplog.at_level("ERROR", logger="labelq.alert"):
        assert post_alert(url, {"text": "x"}, timeout=2) is False
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "http://127.0.0.1:9" in logged
    for secret in ("s3cret-pass", "hookuser", "token=abc123", "B000/XXXX"):
        assert secret not in logged
