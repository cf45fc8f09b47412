"""Partition swaps survive kills: readers find the old or the new partition, never none, and the
next run clears what a killed one left (pipeline.storage.replace_dir)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.storage import store as storage  # the module that writes (where _exchange lives)
from pipeline.storage import atomic_write_bytes, open_store, replace_dir


def _fill(folder: Path, text: str) -> None:
    (folder / "part.txt").write_text(text)


def _content(dest: Path) -> str | None:
    return (dest / "part.txt").read_text() if dest.is_dir() else None


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith((".tmp-", ".old-")))


def _killed_child(body) -> bool:
    """Run ``body`` in a forked child (pure-Python file work only); True if it died by SIGKILL."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            body()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("exchange, kill", [
    *[(True, k) for k in ("in_body", "before_swap", "after_swap")],  # renameat2(RENAME_EXCHANGE): one atomic step
    *[(False, k) for k in ("in_body", "before_swap", "mid_swap", "after_swap")],  # the two-rename fallback
])
def test_a_swap_killed_at_any_point_leaves_old_or_new_and_the_next_run_recovers(tmp_path, exchange, kill):
    dest = tmp_path / "vendor=acme"
    with replace_dir(dest) as t:
        _fill(t, "old")

    def body() -> None:
        real_replace, real_exchange, real_rmtree = os.replace, storage._exchange, shutil.rmtree
        calls = []

        def replace(a, b):
            calls.append((a, b))
            if kill == "mid_swap" and len(calls) == 2:  # the two-rename fallback: dest renamed away, tmp not yet in
                _die()
            real_replace(a, b)

        def exch(a, b):
            if kill == "before_swap":
                _die()
            return real_exchange(a, b) if exchange else False

        def rmtree(path, *args, **kwargs):
            if kill == "after_swap":
                _die()
            real_rmtree(path, *args, **kwargs)

        os.replace, storage._exchange, storage.shutil.rmtree = replace, exch, rmtree
        with replace_dir(dest) as t:
            _fill(t, "new")
            if kill == "in_body":
                _die()

    assert _killed_child(body)
    seen = _content(dest)
    if kill == "mid_swap":
        assert seen is None and any(n.startswith(".old-") for n in _leftovers(tmp_path))  # the window the fallback has
    else:
        assert seen in ("old", "new")  # never missing with the atomic exchange
    # the next replacement recovers first (puts the old partition back if it was missing), even if it fails itself
    with pytest.raises(RuntimeError), replace_dir(dest) as t:
        raise RuntimeError("a failing rebuild")
    assert _content(dest) in ("old", "new")
    with replace_dir(dest) as t:
        _fill(t, "newer")
    assert _content(dest) == "newer" and _leftovers(tmp_path) == []


def test_a_failed_atomic_write_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "_report.json"
    atomic_write_bytes(target, b"{}")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_bytes(target, b'{"new": 1}')
    assert target.read_bytes() == b"{}" and sorted(p.name for p in tmp_path.iterdir()) == ["_report.json"]


_KILL_VALIDATE = """
import os, signal, sys
from pathlib import Path
import pipeline.storage.store as storage
from pipeline import steps
from pipeline.config import load_config
from pipeline.storage import open_store
import datetime
real = os.replace
def replace(a, b):
    if Path(b).name == "vendor=acme" and "staged" in Path(b).parts and Path(a).name.startswith(".tmp-vendor=acme"):
        os.kill(os.getpid(), signal.SIGKILL)  # the staged partition renamed away, the new one not yet in
    real(a, b)
os.replace = replace
storage._exchange = lambda a, b: False  # the two-rename fallback (file systems without renameat2)
steps.validate(load_config(os.environ["LABELQ_CONFIG"]), open_store(sys.argv[1]), datetime.date.fromisoformat(sys.argv[2]), "acme")
"""


@pytest.mark.slow
def test_a_validate_killed_mid_swap_is_refused_downstream_and_recovered_by_its_rerun(processed, config, days, tmp_path):
    """Killed between the two renames of the fallback swap, day 2's acme partition is missing: the
    next day's merge refuses (naming the day) instead of publishing without it, and re-running
    day 2 puts the partition back and leaves no temporaries anywhere under the root."""
    from pipeline.history import HistoryGap
    from pipeline.steps import merge, read_staged, validate

    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    before = len(read_staged(open_store(root), "sentiment", until=days[2]))
    res = subprocess.run([sys.executable, "-c", _KILL_VALIDATE, str(root), days[1].isoformat()],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    assert not (root / "staged" / "sentiment" / f"date={days[1]}" / "vendor=acme").exists()
    with pytest.raises(HistoryGap, match=f"{days[1]}: acme"):
        merge(config, open_store(root), days[2], "sentiment")
    validate(config, open_store(root), days[1], "acme")
    assert len(read_staged(open_store(root), "sentiment", until=days[2])) == before
    stray = [p for p in root.rglob("*") if p.name.startswith((".tmp-", ".old-", ".trash-"))]
    assert stray == []


def test_a_torn_latest_pointer_falls_back_to_the_versions_and_is_repaired(processed, config, days, tmp_path):
    from pipeline.publish import LATEST, latest_ref, read_training_set
    from pipeline.steps import publish

    root = tmp_path / "data"
    shutil.copytree(processed, root, symlinks=True)
    expected = read_training_set(root, "sentiment")
    pointer = root / "curated" / "sentiment" / LATEST
    pointer.write_bytes(pointer.read_bytes()[:20])  # torn: half a JSON document
    assert read_training_set(root, "sentiment").equals(expected)  # readers fall back to the newest version
    publish(config, open_store(root), days[1], "sentiment")  # any later publish repairs it
    assert json.loads(pointer.read_text())["version"] == days[2].isoformat()
    assert latest_ref(root, "sentiment").version == days[2].isoformat()


def _tree(root: Path, skip: tuple[str, ...]) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), except under the top folders ``skip``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in skip}


@pytest.mark.slow
def test_a_day_killed_at_random_points_in_every_stage_reruns_to_the_same_outputs(simulated, tmp_path):
    """`labelq run` of a day, SIGKILLed at 6 random moments (ingest .. report), then run to the
    end: every output file is byte-identical to an unkilled run's, and no temporary is left.

    Each kill leaves whatever that moment leaves (half-written tmp folders, a swap in flight, a
    lock file); each next attempt runs on top of it. The whole tree is compared (except
    ``locks/``, which holds empty lock files); a version manifest's ``created_at`` is the one
    wall-clock value, compared without it."""
    import random
    import time

    env = {**os.environ, "LABELQ_PSEUDONYM_KEY": "kill-test-key-0123456789"}
    day = "2026-11-01"
    cmd = [str(Path(sys.executable).parent / "labelq"), "run", "--date", day, "-q"]
    ref, root = tmp_path / "ref", tmp_path / "killed"
    for r in (ref, root):
        shutil.copytree(simulated, r)
    t0 = time.monotonic()
    done = subprocess.run([*cmd, "--root", str(ref)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    full = time.monotonic() - t0
    rng = random.Random(20261201)
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen([*cmd, "--root", str(root)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.5, full))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 3, f"only {kills} of 6 runs were killed before they finished (a run takes {full:.1f} s)"
    final = subprocess.run([*cmd, "--root", str(root)], env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    stray = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.name.startswith((".tmp-", ".old-", ".trash-", ".lease-"))]
    assert stray == []
    want, got = _tree(ref, ("locks",)), _tree(root, ("locks",))
    assert sorted(got) == sorted(want), (sorted(set(got) - set(want))[:5], sorted(set(want) - set(got))[:5])
    def same(key: str) -> bool:
        if key.endswith("/_manifest.json"):
            a, b = json.loads(want[key]), json.loads(got[key])
            return {**a, "created_at": None} == {**b, "created_at": None}
        return got[key] == want[key]

    differ = [k for k in want if not same(k)]
    assert differ == [], differ[:10]
