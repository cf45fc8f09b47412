"""A partition swap on ``s3://`` (:meth:`pipeline.storage.Store.replace_dir`) SIGKILLed right before
each of its object-store mutations, against a real S3 protocol server on loopback (moto).

After every kill a reader (a new :func:`open_store`, as every stage and CLI command opens the
root) sees the old partition or the new one, exactly, never a mix; the next swap of the same
partition completes and leaves no journal; a build of a run killed before its journal stays,
invisible, until its lease expires, and the next swap after that deletes it; the sibling
partition is never touched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import json
from datetime import datetime, timedelta, timezone

from helpers import TESTS
from pipeline.storage import BUILD_LEASE, BUILD_LEASE_SECONDS, SWAPS, Store, open_store
from helpers.zygote import spawn

BUCKET = "labelq-swaps"
KEY = "staged/sentiment/date=2026-11-01/vendor=acme"
SIBLING = "staged/sentiment/date=2026-11-01/vendor=bluepeak"
OLD = {"part-0.parquet": "old 0", "part-1.parquet": "old 1", "_validate.json": "old report"}
NEW = {"part-1.parquet": "new 1", "part-2.parquet": "new 2", "part-3.parquet": "new 3", "_validate.json": "new report"}

_ZYGOTE = f"TESTS = {str(TESTS)!r}\n" + textwrap.dedent(
    """
    import os, signal, sys
    import pyarrow.fs as pafs
    from pipeline.storage import Store
    sys.path.insert(0, TESTS)
    from helpers.zygote import Counting, serve

    def swap_one(job):
        s3 = Store(job["root"])
        counting = Counting(s3.fs, job.get("kill_before"))
        store = Store(s3.base, filesystem=pafs.PyFileSystem(counting))
        with store.replace_dir(job["key"]) as build:
            for name, body in job["files"].items():
                store.write_bytes(f"{build}/{name}", body.encode())
        if job.get("kill_before") == len(counting.ops):  # killed after its last mutation, before it returns
            os.kill(os.getpid(), signal.SIGKILL)
        return {"ops": counting.ops}

    serve(swap_one, timeout=30)
    """
)


@pytest.fixture(scope="module")
def client(s3_server):
    import boto3

    c = boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1")
    c.create_bucket(Bucket=BUCKET)
    return c


@pytest.fixture(scope="module")
def zygote(s3_server):  # started after the fixture set the AWS_* variables it inherits
    with spawn(_ZYGOTE) as run:
        yield run


def _root(server: str, prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}?endpoint_override={server}&scheme=http"


def _swap(store: Store, key: str, files: dict[str, str]) -> None:
    with store.replace_dir(key) as build:
        for name, body in files.items():
            store.write_bytes(f"{build}/{name}", body.encode())


def _partition(store: Store, key: str) -> dict[str, str]:
    """What a reader sees in ``key``: committed file name -> content."""
    return {k.removeprefix(key + "/"): store.read_bytes(k).decode() for k in store.committed_files(key, "")}


def _keys(client, prefix: str) -> list[str]:
    return sorted(obj["Key"].removeprefix(prefix + "/") for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=prefix + "/") for obj in page.get("Contents", []))


def _strays(client, prefix: str) -> list[str]:
    """Builds and journals left behind (pyarrow's empty folder markers aside)."""
    return [k for k in _keys(client, prefix) if not k.endswith("/") and ("/.tmp-" in k or k.startswith(SWAPS + "/"))]


def _expire_leases(client, prefix: str) -> int:
    """Backdate the lease of every build under ``prefix`` past its expiry (as if hours went by)."""
    old = (datetime.now(timezone.utc) - timedelta(seconds=BUILD_LEASE_SECONDS + 60)).isoformat()
    leases = [k for k in _keys(client, prefix) if k.endswith("/" + BUILD_LEASE)]
    for k in leases:
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{k}", Body=json.dumps({"leased_at": old}).encode())
    return len(leases)


@pytest.mark.slow
def test_a_swap_killed_before_any_object_store_mutation_reads_old_or_new_and_is_finished(s3_server, client, zygote):
    def fresh(prefix: str) -> Store:
        store = Store(_root(s3_server, prefix))
        _swap(store, KEY, OLD)
        _swap(store, SIBLING, {"part-0.parquet": "sibling"})
        return store

    fresh("probe")
    clean = zygote(root=_root(s3_server, "probe"), key=KEY, files=NEW)
    assert not clean["killed"] and "error" not in clean, clean
    ops = clean["ops"]
    journal = [i for i, op in enumerate(ops) if op.startswith("put ") and f"/{SWAPS}/" in op]
    assert len(journal) == 1, ops  # one commit point ...
    builds = [i for i, op in enumerate(ops) if op.startswith("put ") and "/.tmp-vendor=acme-" in op]
    copies = [i for i, op in enumerate(ops) if op.startswith("copy_file ")]
    assert ops[builds[0]].endswith("/" + BUILD_LEASE), ops  # the lease first
    assert len(builds) == len(NEW) + 1 and max(builds) < journal[0] < min(copies), ops  # ... after the build, before any copy
    assert len(copies) == len(NEW) and ops[copies[-1]].endswith("/_validate.json"), ops  # the report is copied last
    assert _partition(open_store(_root(s3_server, "probe")), KEY) == NEW
    mixed = kept_builds = 0
    for k in range(len(ops) + 1):  # k == len(ops): killed after its last mutation
        prefix = f"kill-{k}"
        store = fresh(prefix)
        res = zygote(root=_root(s3_server, prefix), kill_before=k, key=KEY, files=NEW)
        assert res["killed"], (k, res)
        raw = Store(_root(s3_server, prefix))  # what the bucket holds now, before anyone finishes the swap
        mixed += _partition(raw, KEY) not in (OLD, NEW)
        reader = open_store(_root(s3_server, prefix))
        assert _partition(reader, KEY) == (OLD if k <= journal[0] else NEW), (k, ops[k - 1] if k else None)
        assert _partition(reader, SIBLING) == {"part-0.parquet": "sibling"}
        _swap(store, KEY, NEW)  # the re-run
        assert _partition(store, KEY) == NEW and _partition(store, SIBLING) == {"part-0.parquet": "sibling"}
        left = _strays(client, prefix)
        if builds[0] < k <= journal[0]:  # killed after its lease, before its journal: the build stays, leased
            assert left and all("/.tmp-vendor=acme-" in s for s in left), (k, left)
            assert any(s.endswith("/" + BUILD_LEASE) for s in left), (k, left)
        else:  # killed before it leased anything, or after its journal (finished by the reader)
            assert left == [], (k, left)
        kept_builds += bool(left)
        _expire_leases(client, prefix)
        _swap(store, KEY, NEW)  # a later run, after the lease expired
        assert _partition(store, KEY) == NEW and _strays(client, prefix) == [], (k, _strays(client, prefix))
    assert mixed >= 3, "some kills should land mid-copy (a mix in the bucket that the reader must not see)"
    assert kept_builds >= 3, "kills before the journal should leave a leased build that the re-run keeps"
    print(f"\n{len(ops) + 1} kill points; {mixed} left a mixed partition in the bucket, finished by the next reader; "
          f"{kept_builds} left a leased build, deleted once its lease expired")


def test_a_failed_build_on_s3_leaves_the_partition_and_no_build(s3_server, client):
    store = Store(_root(s3_server, "failed"))
    _swap(store, KEY, OLD)
    with pytest.raises(RuntimeError, match="a failing build"), store.replace_dir(KEY) as build:
        store.write_bytes(f"{build}/part-9.parquet", b"half")
        raise RuntimeError("a failing build")
    assert _partition(store, KEY) == OLD and _strays(client, "failed") == []


def test_a_swap_finished_by_two_processes_at_once_completes_and_a_lost_object_is_named(s3_server, client):
    """A run that opens the store while another run's swap is in flight finishes that swap too. Here
    the other finisher copies everything and deletes the build right after this one listed it, so
    this one's copy finds its source gone: that copy counts as done. An object gone from both the
    build and the partition is an error naming it."""
    import pyarrow.fs as pafs

    from helpers.zygote import Counting

    store = Store(_root(s3_server, "twice"))
    _swap(store, KEY, OLD)
    build_id = "0123456789ab"
    build = f"{KEY.rsplit('/', 1)[0]}/.tmp-vendor=acme-{build_id}"
    for name, body in NEW.items():
        store.write_bytes(f"{build}/{name}", body.encode())
    journal = {"dest": KEY, "tmp": build, "copy": sorted(NEW), "delete": ["part-0.parquet"]}
    store.write_json(Store._journal_key(KEY, build_id), journal)

    class OtherFinisherFirst(Counting):
        def copy_file(self, src: str, dest: str) -> None:
            if not self.ops:  # before this process's first copy, the other one finishes the whole swap
                for name in NEW:
                    store.copy(f"{build}/{name}", f"{KEY}/{name}")
                store.delete_tree(build)
            super().copy_file(src, dest)

    racing = Store(store.base, filesystem=pafs.PyFileSystem(OtherFinisherFirst(store.fs, None)))
    assert racing.finish_swaps() == [KEY]
    assert _partition(store, KEY) == NEW and _strays(client, "twice") == []

    store.write_json(Store._journal_key(KEY, build_id), {**journal, "copy": ["part-9.parquet"]})
    with pytest.raises(ValueError, match=r"the swap of .*vendor=acme lost part-9\.parquet .*re-run the stage"):
        open_store(_root(s3_server, "twice"))


def test_a_live_build_beside_another_swap_of_the_same_partition_is_kept_and_a_deleted_one_refuses(s3_server, client):
    """Nothing locks on an object store: two runs may replace one partition at once (a re-publish of
    a stale day beside that day's own run). The second run's start never deletes the first run's
    build while its lease is fresh; if a build is deleted all the same, its run refuses to swap an
    empty build in and names the fix, and the partition keeps its content."""
    store = Store(_root(s3_server, "live"))
    _swap(store, KEY, OLD)
    with store.replace_dir(KEY) as first:
        store.write_bytes(f"{first}/part-1.parquet", b"first 1")
        _swap(store, KEY, NEW)  # another run, start to end, while the first is still writing
        assert store.is_file(f"{first}/part-1.parquet")  # its build survived the other run's start
        store.write_bytes(f"{first}/_validate.json", b"first report")
    assert _partition(store, KEY) == {"part-1.parquet": "first 1", "_validate.json": "first report"}  # the last swap wins
    assert _strays(client, "live") == []

    with pytest.raises(ValueError, match=r"build .* was deleted while it was written .* re-run the stage"), \
            store.replace_dir(KEY) as doomed:
        store.write_bytes(f"{doomed}/part-7.parquet", b"doomed")
        store.delete_tree(doomed)  # e.g. cleared by a run whose clock is hours ahead
    assert _partition(store, KEY) == {"part-1.parquet": "first 1", "_validate.json": "first report"}
