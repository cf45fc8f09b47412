"""The fork-and-kill loop of the SIGKILL publishing tests (test_atomic_publish, test_s3_publish).

A "zygote" subprocess imports the publisher once, then serves one JSON job per stdin line: it
forks a publishing process (``publish_one(job)`` in the child), SIGKILLs it after
``job["kill_after"]`` seconds if asked (the child may also kill itself at a failpoint), and
prints one JSON line: ``killed``, ``status``, ``wall`` and what the child returned (or
``error``). A child still running after ``timeout`` seconds is killed and reported with
``status`` -1. The test scripts run it with ``serve(publish_one, timeout=...)``; a child kills
itself right before its k-th object-store mutation through :class:`Counting`.

:func:`concurrent_reader` is the reader side: a thread that keeps reading while a test republishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow.fs as pafs


def serve(publish_one: Callable[[dict[str, Any]], dict[str, Any]], *, timeout: float) -> None:
    """Serve jobs from stdin until it closes (see the module docstring)."""
    for line in sys.stdin:
        job = json.loads(line)
        r, w = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                out = publish_one(job)
                os.write(w, json.dumps(out).encode())
                os._exit(0)
            except BaseException as exc:
                os.write(w, json.dumps({"error": repr(exc)}).encode())
                os._exit(1)
        os.close(w)
        if job.get("kill_after") is not None:
            time.sleep(job["kill_after"])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = -1
                break
            time.sleep(0.001)
        with os.fdopen(r) as fh:
            result = json.loads(fh.read() or "{}")
        wall = time.monotonic() - started
        killed = status != -1 and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps({"killed": killed, "status": status, "wall": wall, **result}), flush=True)


@contextlib.contextmanager
def spawn(code: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """Start a zygote running ``code`` (a script that ends in :func:`serve`); yields ``run(**job)``,
    which sends one job and returns the zygote's JSON answer. Start it after the environment it
    must inherit (e.g. the ``AWS_*`` variables) is set."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            bufsize=1, env={**os.environ})

    def run(**job: Any) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert line, f"zygote died (exit {proc.poll()})"
        return dict(json.loads(line))

    try:
        yield run
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


@contextlib.contextmanager
def concurrent_reader(read: Callable[[], Any], expected: Mapping[str, Any]) -> Iterator[list[str]]:
    """Call ``read()`` in a loop on a thread while the body runs; yields the names of ``expected``
    each read equalled (``.equals``), in order. On exit the thread is stopped and the first failure
    is raised: a read that matched no expected table, or any exception a read raised."""
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                table = read()
                match = [name for name, want in expected.items() if table.equals(want)]
                assert match, "a reader saw rows of no complete version"
                seen.append(match[0])
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
                return

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=30)
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------- killing before a mutation
class Counting(pafs.FileSystemHandler):
    """A pass-through ``pyarrow.fs`` handler over ``fs`` that records every mutation (PUT, delete,
    copy, move, mkdir) in :attr:`ops` and SIGKILLs this process right before mutation number
    ``kill_at`` (None: never). Use it as ``pafs.PyFileSystem(Counting(fs, k))``."""

    def __init__(self, fs: pafs.FileSystem, kill_at: int | None) -> None:
        self.fs, self.kill_at, self.ops = fs, kill_at, []

    def _step(self, name: str, *args: str) -> None:
        if len(self.ops) == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.ops.append(f"{name} {' '.join(args)}")

    def get_type_name(self) -> str:
        return "counting-" + self.fs.type_name

    def normalize_path(self, path: str) -> str:
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(selector)

    def open_input_stream(self, path: str) -> Any:
        return self.fs.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self.fs.open_input_file(path)

    def create_dir(self, path: str, recursive: bool) -> None:
        self._step("create_dir", path)
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self._step("delete_dir", path)
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._step("delete_dir_contents", path)
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError("never deletes a whole bucket")

    def delete_file(self, path: str) -> None:
        self._step("delete_file", path)
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._step("move", src, dest)
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self._step("copy_file", src, dest)
        self.fs.copy_file(src, dest)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        self._step("put", path)
        return self.fs.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        self._step("append", path)
        return self.fs.open_append_stream(path, metadata=metadata)


# --------------------------------------------------------------------------- what readers may see
#: The kill scenarios tag this version ``keep`` before publishing, so retention never prunes it.
TAGGED = "2026-11-01"


def check_reader_view(content: Callable[[str], str | None], spec: Mapping[str, Any]) -> None:
    """After a killed publish: every version reads as before or after it (or, if being pruned, gone).

    ``content(version)`` names the input a reader sees as ``version`` (None: not published);
    ``spec`` has ``before`` / ``after`` (version -> input) and ``keep`` (retention or None).
    """
    before, after, keep = spec["before"], spec["after"], spec["keep"]
    assert content("latest") in {before[max(before)], after[max(after)]}
    for v in set(before) | set(after):
        allowed = {before.get(v), after.get(v)}
        if keep is not None and v not in sorted(after)[-keep:] and v != TAGGED:
            allowed.add(None)  # being pruned: whole or gone, never partial
        assert content(v) in allowed, (v, allowed)
    if keep is not None:
        assert content("tag:keep") == "v1"


def check_completed(content: Callable[[str], str | None], versions: list[str], spec: Mapping[str, Any]) -> dict[str, str]:
    """After a completed publish: exactly the retained versions (``versions``), each with its new
    content, and latest on the newest. Returns the expected ``{version: input}``."""
    after = spec["after"]
    expected = dict(sorted(after.items()))
    if spec["keep"] is not None:
        newest = sorted(after)[-spec["keep"]:]
        expected = {v: n for v, n in expected.items() if v in newest or v == TAGGED}
    assert versions == sorted(expected)
    assert {v: content(v) for v in expected} == expected
    assert content("latest") == after[max(after)]
    return expected
