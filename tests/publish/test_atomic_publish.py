"""A publisher killed with SIGKILL at any point never leaves readers on a partial version.

Real processes are killed: a helper subprocess (the "zygote") imports the publisher once and
forks one publishing process per trial, so hundreds of kills fit in a few seconds. Each forked
publisher counts its storage mutations, at both levels: the :class:`~pipeline.storage.Store`
methods the commit protocol speaks (write_bytes, write_parquet, fsync, rename, discard, link,
delete, delete_tree) and the system calls beneath them (mkdir, fsync, rename, replace, symlink,
unlink, rmdir), and SIGKILLs itself right before mutation k, for every k, or is SIGKILLed by the
zygote after a random delay. A few plain ``python`` subprocesses are also SIGKILLed by this
test process after a random delay. After every kill the test reads what a reader would, then
re-runs the publish and checks it completes the job and clears every leftover.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import TESTS
from pipeline.publish import (
    LATEST_LINK,
    MANIFEST,
    TAGS,
    VERSIONS,
    VersionNotFound,
    list_tags,
    list_versions,
    read_manifest,
    read_training_table,
    tag_version,
    write_version,
)
from helpers.zygote import check_completed, check_reader_view, concurrent_reader

TASK = "t"

#: Runs inside a forked or spawned publisher: optional failpoint, then one write_version.
_PUBLISHER = textwrap.dedent(
    """
    import json, os, shutil, signal, sys, time
    import pyarrow.parquet as pq

    def publish_one(job):
        from pipeline.publish import write_version
        ops = 0
        store_ops = 0
        kill_at = job.get("kill_before")

        def wrap(mod, name):
            orig = getattr(mod, name)
            def counted(*a, **k):
                nonlocal ops, store_ops
                ops += 1
                store_ops += isinstance(mod, type)
                if ops == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return orig(*a, **k)
            setattr(mod, name, counted)

        from pipeline.storage import Store
        for name in ("write_bytes", "write_parquet", "fsync", "rename", "discard", "link", "delete", "delete_tree"):
            wrap(Store, name)
        for name in ("mkdir", "fsync", "rename", "replace", "symlink", "unlink", "rmdir"):
            wrap(os, name)
        table = pq.read_table(job["input"])
        t0 = time.perf_counter()
        write_version(job["root"], job["task"], job["version"], table, job["manifest"], keep_versions=job.get("keep"))
        return {"ops": ops, "store_ops": store_ops, "seconds": time.perf_counter() - t0}
    """
)

#: The zygote: one JSON job per stdin line -> fork a publisher, maybe kill it, report one JSON line.
_ZYGOTE = _PUBLISHER + textwrap.dedent(
    f"""
    import pipeline.publish, pyarrow.dataset  # imported once, before any fork (read_table imports the latter)
    sys.path.insert(0, {str(TESTS)!r})
    from helpers.zygote import serve
    serve(publish_one, timeout=20)
    """
)


#: A plain subprocess publisher: says "ready" and waits for a go, so the kill lands inside the publish.
_SPAWNED = _PUBLISHER + textwrap.dedent(
    """
    import pipeline.publish
    job = json.loads(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(publish_one(job)), flush=True)
    """
)


class Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )

    def run(self, **job) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"zygote died (exit {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def zygote():
    z = Zygote()
    yield z
    z.close()


def _table(n: int, shift: int) -> pa.Table:
    ids = [f"item-{i:06d}" for i in range(n)]
    return pa.table({"item_id": ids, "label": [("neg", "neu", "pos")[(i + shift) % 3] for i in range(n)],
                     "split": ["train"] * n})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    tables = {"v1": _table(300, 0), "v2": _table(400, 0), "v2new": _table(450, 1), "v3": _table(500, 0),
              "v4": _table(600, 2), "big": _table(40_000, 1)}
    paths = {}
    for name, t in tables.items():
        paths[name] = d / f"{name}.parquet"
        pq.write_table(t, paths[name])
    return paths


def _manifest(name: str) -> dict:
    return {"task": TASK, "input": name}


def _build_template(root: Path, inputs: dict[str, Path], scenario: str) -> dict:
    """Publish the state before the publish under test; returns the job and what readers may see."""
    pub = {}
    for v, name in {"first": [("2026-11-01", "v1")],
                    "replace": [("2026-11-01", "v1"), ("2026-11-02", "v2")],
                    "prune": [("2026-11-01", "v1"), ("2026-11-02", "v2"), ("2026-11-03", "v3")],
                    "big": [("2026-11-01", "v1"), ("2026-11-02", "v2")]}[scenario]:
        write_version(root, TASK, v, pq.read_table(inputs[name]), _manifest(name))
        pub[v] = name
    job = {"first": ("2026-11-02", "v2", None), "replace": ("2026-11-02", "v2new", None),
           "prune": ("2026-11-04", "v4", 2), "big": ("2026-11-02", "big", None)}[scenario]
    if scenario == "prune":
        tag_version(root, TASK, "2026-11-01", "keep")
    version, name, keep = job
    return {"job": {"task": TASK, "version": version, "input": str(inputs[name]), "manifest": _manifest(name),
                    "keep": keep},
            "before": pub, "after": {**pub, version: name}, "keep": keep}


def _content(root: Path, version: str) -> str | None:
    """Which input the reader sees for ``version`` (None: not published); checksums verified."""
    try:
        read_training_table(root, TASK, version)  # verifies every file against the manifest
        return read_manifest(root, TASK, version)["input"]
    except VersionNotFound:
        return None


def _check_reader_view(root: Path, spec: dict) -> None:
    check_reader_view(lambda v: _content(root, v), spec)
    base = root / "curated" / TASK
    for link in base.iterdir():  # the plain-reader symlinks never dangle
        if link.is_symlink():
            assert (link / MANIFEST).is_file(), link


def _check_completed(root: Path, spec: dict) -> None:
    expected = check_completed(lambda v: _content(root, v), list_versions(root, TASK), spec)
    base = root / "curated" / TASK
    names = {p.name for p in base.iterdir()}
    live = {json.loads(p.read_text())["path"] for d in (VERSIONS, TAGS) if (base / d).is_dir()
            for p in (base / d).glob("*.json")}
    builds = {n for n in names if "." in n and not n.startswith((".", "_"))}
    assert builds == live, "every build is pointed to, and only those are kept"
    assert not [n for n in names if n.startswith((".tmp-", ".trash-"))]
    for d in (VERSIONS, TAGS):
        if (base / d).is_dir():
            assert not [p for p in (base / d).iterdir() if p.name.startswith(".")]
    assert {n for n in names if (base / n).is_symlink()} == set(expected) | {LATEST_LINK}
    assert os.readlink(base / LATEST_LINK) == json.loads((base / "_latest.json").read_text())["path"]


def _rerun(root: Path, job: dict) -> None:
    write_version(root, job["task"], job["version"], pq.read_table(job["input"]), job["manifest"],
                  keep_versions=job["keep"])


@pytest.mark.parametrize("scenario", ["first", "replace", "prune"])
def test_sigkill_before_every_filesystem_step(scenario, zygote, inputs, tmp_path):
    template = tmp_path / "template"
    spec = _build_template(template, inputs, scenario)
    probe = tmp_path / "probe"
    shutil.copytree(template, probe, symlinks=True)
    clean = zygote.run(root=str(probe), **spec["job"])
    assert not clean["killed"] and "error" not in clean, clean
    _check_completed(probe, spec)
    n_ops = clean["ops"]
    assert n_ops >= 15, f"publisher made only {n_ops} filesystem steps: is the counting hooked up?"
    assert clean["store_ops"] >= 8, f"only {clean['store_ops']} Store mutations counted: is the protocol speaking keys?"
    for k in range(1, n_ops + 1):
        root = tmp_path / f"kill-{k}"
        shutil.copytree(template, root, symlinks=True)
        res = zygote.run(root=str(root), kill_before=k, **spec["job"])
        assert res["killed"], (k, res)
        _check_reader_view(root, spec)
        _rerun(root, spec["job"])
        _check_completed(root, spec)
        shutil.rmtree(root)


def test_sigkill_after_random_delays(zygote, inputs, tmp_path):
    template = tmp_path / "template"
    spec = _build_template(template, inputs, "big")
    probes = []
    for i in range(3):  # calibrate: the fastest of three unkilled runs (the first one is cold)
        shutil.copytree(template, tmp_path / f"probe-{i}", symlinks=True)
        probes.append(zygote.run(root=str(tmp_path / f"probe-{i}"), **spec["job"]))
    fastest = min(probes, key=lambda r: r["wall"])
    start, wall = fastest["wall"] - fastest["seconds"], fastest["wall"]  # the publish spans ~[start, wall]
    rng = random.Random(6)
    outcomes = {"killed": 0, "finished": 0}
    for i in range(40):
        root = tmp_path / f"trial-{i}"
        shutil.copytree(template, root, symlinks=True)
        res = zygote.run(root=str(root), kill_after=rng.uniform(0.5 * start, 0.9 * wall), **spec["job"])
        outcomes["killed" if res["killed"] else "finished"] += 1
        _check_reader_view(root, spec)
        _rerun(root, spec["job"])
        _check_completed(root, spec)
        shutil.rmtree(root)
    assert outcomes["killed"] >= 10, outcomes  # most land inside the publish; timing on a loaded box varies


def test_sigkill_of_a_spawned_publisher_process(inputs, tmp_path):
    template = tmp_path / "template"
    spec = _build_template(template, inputs, "replace")
    rng = random.Random(11)
    for i in range(3):
        root = tmp_path / f"spawned-{i}"
        shutil.copytree(template, root, symlinks=True)
        job = {"root": str(root), **spec["job"]}
        proc = subprocess.Popen([sys.executable, "-c", _SPAWNED, json.dumps(job)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0, 0.03))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _check_reader_view(root, spec)
        _rerun(root, spec["job"])
        _check_completed(root, spec)


def test_readers_during_republishing_see_only_complete_versions(zygote, inputs, tmp_path):
    root = tmp_path / "data"
    spec = _build_template(root, inputs, "replace")
    expected = {name: pq.read_table(inputs[name]) for name in ("v2", "v2new")}
    with concurrent_reader(lambda: read_training_table(root, TASK, "latest"), expected) as seen:
        for i in range(16):
            name = ("v2new", "v2")[i % 2]
            res = zygote.run(root=str(root), **{**spec["job"], "input": str(inputs[name]), "manifest": _manifest(name)})
            assert not res["killed"] and "error" not in res, res
    assert set(seen) == {"v2", "v2new"}, "the reader should have seen both contents"
    assert list_tags(root, TASK) == {}


def test_concurrent_publishers_of_one_task_serialise(inputs, tmp_path):
    """Backfill days publishing at once (Airflow runs several days in parallel) never lose an update."""
    root = tmp_path / "data"
    jobs = [("2026-11-01", "v1"), ("2026-11-02", "v2"), ("2026-11-03", "v3"), ("2026-11-04", "v4")] * 3
    tables = {name: pq.read_table(inputs[name]) for _, name in jobs}
    errors: list[BaseException] = []

    def publish(version: str, name: str) -> None:
        try:
            write_version(root, TASK, version, tables[name], _manifest(name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=job) for job in random.Random(2).sample(jobs, len(jobs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors[0]
    spec = {"before": {}, "after": dict(jobs), "keep": None}
    _check_completed(root, spec)
