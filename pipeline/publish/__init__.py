"""Stage 5, publish: immutable, checksummed, versioned training sets, and the reader ML teams use.

Layout of one task under the storage root (a local folder or an object store)::

    curated/<task>/
      <version>.<build>/           one immutable build: part-00000.parquet ... + _manifest.json
      <version> -> <version>.<build>/   symlink (local disk only): the version's current build
      latest -> <version>.<build>/      symlink (local disk only): the latest version's build
      _versions/<version>.json     which build is version <version>   (pointer, replaced atomically)
      _tags/<name>.json            a build pinned by name             (never pruned)
      _latest.json                 the newest version (highest id; a backfill never moves it back)
      .lock                        serialises the publishers of the task (local disk only)

Every function taking ``root`` accepts a local folder, an ``s3://bucket/prefix`` URI (with
``?endpoint_override=host:port&scheme=http`` if needed) or a :class:`~pipeline.storage.Store`.
:func:`write_version` and :func:`version_path` return a build folder as a :class:`~pathlib.Path`
for a local root and as a URI string (``s3://bucket/prefix/curated/<task>/<version>.<build>``)
on an object store.

A version id is the last day of the data interval it covers (``YYYY-MM-DD``); a re-run of
that day replaces the version. ``<build>`` is 12 hex digits of the SHA-256 of the manifest
without ``created_at``: the same inputs give the same build, byte for byte and on any storage,
so a re-run with identical inputs changes nothing. Each build folder is a plain Parquet dataset
that pandas, pyarrow, Polars and DuckDB read directly (``_``-prefixed files are ignored by all
of them).

Commit protocol (what makes a publish atomic). Readers trust only a build that a pointer names
and that has its ``_manifest.json``; a build's manifest is written last and deleted first.

On local disk, under the task's ``.lock`` (``fcntl``; released by the OS if the process dies):

1. write the data files into a hidden ``.tmp-*`` folder, hash them, write ``_manifest.json``
   last, fsync, then rename the folder to ``<version>.<build>`` (kept as is if that identical
   build is already there and intact);
2. replace ``_versions/<version>.json`` and then ``_latest.json`` (write aside + rename, fsync);
3. prune: drop versions beyond ``keep_versions`` (never the latest nor a tagged build), point
   the symlinks at what the pointers name, then delete every build and leftover no pointer
   names (renamed away first).

On an object store (no rename, no lock; every PUT is atomic per object):

0. PUT a lease ``.lease-<version>.<build>.json`` on the build about to be written (a concurrent
   publisher's prune skips leased builds; a lease expires after :data:`LEASE_SECONDS`);
1. serialise the data files in memory (the same Parquet bytes as on disk), hash them and
   compute the build id; if ``<version>.<build>/`` is already there and intact keep it, else
   delete whatever is under that name (a damaged copy or a killed publisher's data files:
   manifest first), PUT the data files, then ``_manifest.json`` last;
2. PUT ``_versions/<version>.json``, then ``_latest.json`` (re-listed after writing, so a concurrent
   publisher of another version cannot leave it on the older one), then delete the lease;
3. prune: delete the pointers of dropped versions, then every build no pointer names: its
   manifest first, then its data files. This also clears what a killed publisher left (data
   files without a manifest, or a manifested build no pointer names yet).

(Step 1 holds the build's Parquet bytes in memory until the build id is known: about the
compressed size of the training set.)

So a publisher killed at any point leaves readers on the previous build or the complete new
one, and a re-run completes the job and clears what the killed one left. On an object store
nothing locks; two publishers of different versions of a task may overlap safely: each leases
its build, so the other's prune leaves it alone, and ``_latest.json`` is re-listed after writing.
Still, the Airflow DAG runs ``publish`` per task with ``depends_on_past`` (days publish one after
the other), and ``labelq tag`` / ``untag`` are best run when no publish of that task is running.
A killed publisher's leftovers under an unexpired lease stay (invisible to readers) until a
re-run of that version or the lease's expiry.
The symlinks are a convenience for tools without labelq (each swap is atomic, but only
:func:`read_training_set` checks the checksums and retries if a version is replaced while it
reads); on an object store such tools read ``_latest.json`` and the build folder it names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.publish.splits import SPLITS
from pipeline.storage import (  # the names inside curated/<task>/, defined with the rest of the layout
    LATEST,
    LATEST_LINK,
    LEASE_PREFIX,
    LEFTOVERS,
    LOCK,
    MANIFEST,
    PARQUET_OPTIONS,
    TAGS,
    VERSIONS,
    Layout,
    Root,
    Store,
    open_store,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMAT", "LATEST", "LATEST_LINK", "LEASE_PREFIX", "LEASE_SECONDS", "LOCK", "MANIFEST", "MAX_ROWS_PER_FILE", "TAGS",
    "VERSIONS", "ChecksumMismatch", "Ref", "VersionNotFound", "asset_uri", "content_hash", "latest_ref", "list_tags",
    "list_versions", "prune", "read_manifest", "read_published_table", "read_training_set", "read_training_table", "resolve_version",
    "tag_version", "untag", "version_path", "version_refs", "write_version",
]

#: Version of the manifest layout (1 was the walking skeleton's ``curated/<task>/<version>/``).
FORMAT = 2
#: Rows per data file; larger sets are written as several ``part-NNNNN.parquet`` files.
MAX_ROWS_PER_FILE = 1_000_000

_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
#: On an object store a publisher leases the build it writes (``.lease-<version>.<build>.json``)
#: until its pointers are written, so that a concurrent publisher's prune leaves it alone; a
#: killed publisher's lease expires after this many seconds and its leftovers are pruned then.
LEASE_SECONDS = 3600
_UNSTABLE_KEYS = ("created_at",)  # manifest keys left out of the build id


class VersionNotFound(LookupError):
    """The requested training-set version or tag does not exist (the message lists those that do)."""


class ChecksumMismatch(RuntimeError):
    """A published data file no longer matches the SHA-256 in its manifest."""


@dataclass(frozen=True)
class Ref:
    """What a pointer names: a version id, its build folder and the data's content hash."""

    version: str
    path: str
    content_sha256: str


@dataclass(frozen=True)
class _Task:
    """One task's ``curated/<task>`` folder in ``store``; every key comes from ``store.layout``."""

    store: Store
    name: str

    @property
    def lay(self) -> Layout:
        return self.store.layout

    @property
    def key(self) -> str:
        """The task folder's key."""
        return self.lay.curated(self.name).as_posix()

    def entry(self, name: str) -> str:
        """Key of ``name`` in the task folder (a build, a symlink, a lease, a leftover)."""
        return self.lay.curated_entry(self.name, name)

    def file(self, build: str, name: str = MANIFEST) -> str:
        """Key of file ``name`` of ``build`` (by default its manifest)."""
        return self.lay.build_file(self.name, build, name)


def _task(root: Root, task: str) -> _Task:
    return _Task(open_store(root), task)


# --------------------------------------------------------------------------- small helpers
def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def content_hash(files: Sequence[dict[str, Any]]) -> str:
    """SHA-256 over the data files' ``"<path> <sha256>\\n"`` lines, sorted by path.

    Two versions with the same content hash hold byte-identical data files.
    """
    lines = "".join(f"{f['path']} {f['sha256']}\n" for f in sorted(files, key=lambda f: f["path"]))
    return hashlib.sha256(lines.encode()).hexdigest()


def _check_version_id(version: str) -> None:
    if not _VERSION_RE.match(version):
        raise ValueError(f"version id {version!r} must be the last day it covers, YYYY-MM-DD")


def _check_tag(name: str) -> None:
    if name == "latest" or not _TAG_RE.match(name):
        raise ValueError(
            f"tag name {name!r}: use a letter then letters, digits, '.', '_' or '-' (max 64), not 'latest'"
        )


def _write_pointer(t: _Task, key: str, ref: Ref, **extra: Any) -> None:
    """Replace the pointer at ``key`` (atomic: rename locally, one PUT on an object store)."""
    t.store.write_json(key, {**asdict(ref), **extra})
    t.store.fsync(key, folder=True)


def _read_pointer(t: _Task, key: str) -> Ref | None:
    """What the pointer at ``key`` names; None if it is absent, torn or not a pointer (readers then
    fall back to the version pointers, and the next publish rewrites it)."""
    try:
        data = t.store.read_json(key)
    except FileNotFoundError:
        return None
    except ValueError:  # torn or garbled (e.g. a disk that lost the tail of the write)
        return None
    if not isinstance(data, dict):
        return None
    if not {"version", "path", "content_sha256"} <= set(data):
        return None  # a format-1 pointer: names no build
    if not isinstance(data["path"], str) or not Layout.is_build(data["path"]):
        return None  # names no build of this folder (and never a path elsewhere)
    return Ref(data["version"], data["path"], data["content_sha256"])


def _manifested(t: _Task, ref: Ref) -> bool:
    return t.store.is_file(t.file(ref.path))


def _pointers(t: _Task, folder: str) -> dict[str, Ref]:
    """``{file stem: Ref}`` for the pointers in ``folder`` (a key) whose build is manifested."""
    out = {}
    for info in t.store.list_dir(folder):
        stem = Layout.pointer_stem(info.base_name)
        if info.type != pafs.FileType.File or stem is None:
            continue
        ref = _read_pointer(t, Layout.join(folder, info.base_name))
        if ref is not None and _manifested(t, ref):
            out[stem] = ref
    return out


def _all_files(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The data files of a build's manifest, then its extra tables' files (``extras``)."""
    return [*manifest["files"], *manifest.get("extras", [])]


def _intact(t: _Task, build: str) -> bool:
    """Whether ``build`` has its manifest and every data file matches it."""
    try:
        manifest = t.store.read_json(t.file(build))
        return all(t.store.sha256(t.file(build, f["path"])) == f["sha256"] for f in _all_files(manifest))
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------- local-disk extras
def _sync_links(t: _Task, refs: dict[str, Ref], latest: Ref | None) -> None:
    """Make the ``<version>`` and ``latest`` symlinks match the pointers (the pointers are the truth)."""
    for v, ref in refs.items():
        t.store.link(t.entry(v), ref.path)
    if latest is not None:
        t.store.link(t.entry(LATEST_LINK), latest.path)
    for name in t.store.links(t.key):
        if _VERSION_RE.match(name) and name not in refs:
            t.store.discard(t.entry(name))


def _sweep_local(t: _Task, refs: dict[str, Ref], latest: Ref | None, live: set[str]) -> None:
    """Symlinks follow the pointers; builds no pointer names and ``.tmp-``/``.trash-`` leftovers go."""
    _sync_links(t, refs, latest)
    for folder in (t.lay.version_pointers(t.name), t.lay.tag_pointers(t.name)):
        for info in t.store.list_dir(folder):
            if info.base_name.startswith(LEFTOVERS):
                t.store.discard(Layout.join(folder, info.base_name))
    for info in t.store.list_dir(t.key):
        name = info.base_name
        if name.startswith(LEFTOVERS) or (info.type == pafs.FileType.Directory and Layout.is_build(name)
                                          and name not in live):
            t.store.discard(t.entry(name))


# --------------------------------------------------------------------------- writing
def _slices(table: pa.Table, max_rows: int, extras: Mapping[str, pa.Table]) -> Iterator[tuple[str, pa.Table, str | None]]:
    """``(file name, rows, extra table name)`` of each data file (one, possibly empty, for an empty
    table; extra name None), then one file per extra table (sorted by name)."""
    for i, start in enumerate(range(0, max(table.num_rows, 1), max_rows)):
        yield Layout.build_part(i), table.slice(start, max_rows), None
    for name in sorted(extras):
        yield Layout.build_extra(name), extras[name].replace_schema_metadata(None), name


def _build_body(
    version: str, table: pa.Table, manifest: dict[str, Any], files: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """The manifest without ``build``/``created_at``, and the build id (12 hex digits of its SHA-256).

    ``files`` entries with a ``table`` name are extra tables: listed under ``extras`` (only when
    there are some) and covered by ``content_sha256`` like the data files."""
    body = {k: v for k, v in manifest.items() if k not in _UNSTABLE_KEYS}
    data, extra = [f for f in files if "table" not in f], [f for f in files if "table" in f]
    body.update(
        format=FORMAT, version=version, files=data, rows=table.num_rows, content_sha256=content_hash(files),
        schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema],
    )
    if extra:
        body["extras"] = extra
    return body, _digest(body)[:12]


def _file_entry(name: str, chunk: pa.Table, extra: str | None, sha256: str, size: int) -> dict[str, Any]:
    return {"path": name, "sha256": sha256, "rows": chunk.num_rows, "bytes": size, **({"table": extra} if extra else {})}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _commit_build_local(t: _Task, version: str, table: pa.Table, manifest: dict[str, Any], max_rows: int,
                        extras: Mapping[str, pa.Table]) -> Ref:
    """Step 1 on local disk: build in a ``.tmp-*`` folder, manifest last, fsync, rename into place."""
    store = t.store
    tmp = store.fresh_sibling(t.entry(version))
    try:
        files = []
        for name, chunk, extra in _slices(table, max_rows, extras):
            part = Layout.join(tmp, name)
            store.write_parquet(chunk, part)
            store.fsync(part)
            files.append(_file_entry(name, chunk, extra, store.sha256(part), store.info(part).size))
        body, build = _build_body(version, table, manifest, files)
        folder = Layout.build_folder(version, build)
        if store.is_dir(t.entry(folder)) and _intact(t, folder):
            store.discard(tmp)  # this exact build is already published: keep it (and its created_at)
        else:
            store.discard(t.entry(folder))  # a damaged copy of this build, if any
            store.write_json(Layout.join(tmp, MANIFEST), {**body, "build": build, "created_at": _now()})
            store.fsync(tmp)
            store.rename(tmp, t.entry(folder))
    except BaseException:
        store.discard(tmp)
        raise
    return Ref(version, folder, body["content_sha256"])


def _commit_build_object(t: _Task, version: str, table: pa.Table, manifest: dict[str, Any], max_rows: int,
                         extras: Mapping[str, pa.Table]) -> Ref:
    """Step 1 on an object store: data files serialised in memory, PUT, then the manifest last."""
    parts: dict[str, bytes] = {}
    files = []
    for name, chunk, extra in _slices(table, max_rows, extras):
        sink = pa.BufferOutputStream()
        pq.write_table(chunk, sink, **PARQUET_OPTIONS)  # the bytes Store.write_parquet puts in a local file
        parts[name] = sink.getvalue().to_pybytes()
        files.append(_file_entry(name, chunk, extra, hashlib.sha256(parts[name]).hexdigest(), len(parts[name])))
    body, build = _build_body(version, table, manifest, files)
    folder = Layout.build_folder(version, build)
    t.store.write_json(t.lay.publish_lease(t.name, folder), {"build": folder, "leased_at": _now()})
    if not _intact(t, folder):  # else this exact build is already published: keep it (and its created_at)
        if t.store.is_dir(t.entry(folder)):  # a damaged copy, or the data files of a killed publisher
            _delete_build_object(t, folder)  # replaced whole, as on local disk
        for name, data in parts.items():
            t.store.write_bytes(t.file(folder, name), data)
        t.store.write_json(t.file(folder), {**body, "build": build, "created_at": _now()})
    return Ref(version, folder, body["content_sha256"])


def _delete_build_object(t: _Task, folder: str) -> None:
    """Delete build ``folder`` from an object store: its manifest first (readers stop trusting it), then the rest."""
    t.store.delete(t.file(folder))
    t.store.delete_tree(t.entry(folder))


def _update_latest(t: _Task) -> None:
    """Point ``_latest.json`` at the highest version id. On an object store (no lock) a concurrent
    publisher may write it from an older listing: re-list after writing until it holds."""
    for _ in range(1 if t.store.is_local else 5):
        refs = _pointers(t, t.lay.version_pointers(t.name))
        if not refs:
            return
        newest = refs[max(refs)]
        if _read_pointer(t, t.lay.latest_pointer(t.name)) == newest:
            return
        _write_pointer(t, t.lay.latest_pointer(t.name), newest)


def _leased(t: _Task) -> set[str]:
    """Builds a live publisher is writing on an object store (a lease younger than LEASE_SECONDS)."""
    now = datetime.now(timezone.utc)
    out = set()
    for info in t.store.list_dir(t.key):
        build = Layout.leased_build(info.base_name)
        if info.type == pafs.FileType.File and build is not None:
            mtime = info.mtime if info.mtime is not None else now
            if mtime.tzinfo is None:
                mtime = mtime.replace(tzinfo=timezone.utc)
            if (now - mtime).total_seconds() < LEASE_SECONDS:
                out.add(build)
            else:
                t.store.delete(t.entry(info.base_name))
    return out


def _prune(t: _Task, keep_versions: int | None) -> list[str]:
    """Step 3 of the protocol; call with the lock held. Returns the pruned version ids."""
    versions, tags = t.lay.version_pointers(t.name), t.lay.tag_pointers(t.name)
    refs = _pointers(t, versions)
    pinned = {r.path for r in _pointers(t, tags).values()}
    latest = _read_pointer(t, t.lay.latest_pointer(t.name))
    pruned = []
    if keep_versions is not None:
        for v in sorted(refs)[:-keep_versions]:
            if (latest is None or v != latest.version) and refs[v].path not in pinned:
                t.store.delete(t.lay.version_pointer(t.name, v))
                pruned.append(v)
        if pruned:
            t.store.fsync(versions)
    refs = _pointers(t, versions)
    live = {r.path for r in refs.values()} | pinned | ({latest.path} if latest else set())
    if t.store.is_local:
        _sweep_local(t, refs, latest, live)
    else:
        live |= _leased(t)
        for info in t.store.list_dir(t.key):
            if info.type == pafs.FileType.Directory and Layout.is_build(info.base_name) and info.base_name not in live:
                _delete_build_object(t, info.base_name)
    return pruned


def write_version(
    root: Root,
    task: str,
    version: str,
    table: pa.Table,
    manifest: dict[str, Any],
    *,
    keep_versions: int | None = None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    extras: Mapping[str, pa.Table] | None = None,
) -> Path | str:
    """Publish ``table`` as version ``version`` of ``task`` with ``manifest``; returns its build folder.

    The build folder is a :class:`~pathlib.Path` for a local root and a URI string
    (``s3://bucket/prefix/curated/<task>/<version>.<build>``) on an object store.
    ``table`` must already be in its final row order (schema metadata is dropped, so the
    bytes depend on the data only). The manifest gains ``format``, ``version``, ``files``
    (path, SHA-256, rows, bytes), ``rows``, ``content_sha256``, ``schema``, ``build`` and
    ``created_at``. Re-publishing a version replaces it; ``_latest.json`` names the highest
    version id; then versions beyond the newest ``keep_versions`` are pruned (never the
    latest, never a tagged one). ``extras``: the kind's other tables of the version (e.g. the
    preference kind's per-response scores), stored as ``_<name>.parquet`` beside the data files,
    listed under ``extras`` and covered by the content hash; read them with
    :func:`read_published_table`. See the module docstring for why this is atomic.
    """
    _check_version_id(version)
    if max_rows_per_file < 1:
        raise ValueError(f"max_rows_per_file must be >= 1, got {max_rows_per_file}")
    t = _task(root, task)
    commit = _commit_build_local if t.store.is_local else _commit_build_object
    with t.store.lock(t.lay.publish_lock(task)):
        ref = commit(t, version, table.replace_schema_metadata(None), manifest, max_rows_per_file, dict(extras or {}))
        _write_pointer(t, t.lay.version_pointer(task, version), ref)
        _update_latest(t)
        if not t.store.is_local:
            t.store.delete(t.lay.publish_lease(task, ref.path))
        _prune(t, keep_versions)
    return t.store.user_path(t.entry(ref.path))


def prune(root: Root, task: str, keep_versions: int | None) -> list[str]:
    """Keep the newest ``keep_versions`` versions (plus the latest and tagged ones); returns the pruned ids."""
    t = _task(root, task)
    if not t.store.is_dir(t.key):
        return []
    with t.store.lock(t.lay.publish_lock(task)):
        return _prune(t, keep_versions)


# --------------------------------------------------------------------------- tags
def list_tags(root: Root, task: str) -> dict[str, Ref]:
    """``{tag name: Ref}`` of ``task``, sorted by name."""
    t = _task(root, task)
    return _pointers(t, t.lay.tag_pointers(task))


def tag_version(root: Root, task: str, version: str, name: str, *, force: bool = False) -> Ref:
    """Pin the current build of ``version`` (or ``"latest"``, or another tag) under ``name``.

    A tagged build is never pruned and stays readable as ``version="tag:<name>"`` (or just
    ``name``) even after its version id is re-published. Moving an existing tag needs ``force``.
    """
    _check_tag(name)
    t = _task(root, task)
    with t.store.lock(t.lay.publish_lock(task)):
        ref = _resolve(t, task, version)
        key = t.lay.tag_pointer(task, name)
        current = _read_pointer(t, key)
        if current is not None and current.path != ref.path and not force:
            raise ValueError(
                f"tag {name!r} of task {task!r} already pins version {current.version} (build {current.path}); "
                f"use force=True (labelq tag --force) to move it, or untag it first"
            )
        _write_pointer(t, key, ref, tag=name)
    return ref


def untag(root: Root, task: str, name: str) -> Ref:
    """Remove tag ``name``; its build becomes prunable again. Returns what it pinned."""
    t = _task(root, task)
    _check_tag(name)
    with t.store.lock(t.lay.publish_lock(task)):
        key = t.lay.tag_pointer(task, name)
        ref = _read_pointer(t, key)
        if ref is None:
            tags = sorted(_pointers(t, t.lay.tag_pointers(task))) or "none"
            raise VersionNotFound(f"task {task!r} has no tag {name!r}; tags: {tags}")
        t.store.delete(key)
        t.store.fsync(t.lay.tag_pointers(task))
    return ref


# --------------------------------------------------------------------------- reading
def version_refs(root: Root, task: str) -> dict[str, Ref]:
    """``{version id: Ref}`` of ``task``'s published (pointed-to, manifested) versions, oldest first."""
    t = _task(root, task)
    return dict(sorted(_pointers(t, t.lay.version_pointers(task)).items()))


def latest_ref(root: Root, task: str) -> Ref | None:
    """What ``_latest.json`` names, or None before the first publish."""
    t = _task(root, task)
    return _read_pointer(t, t.lay.latest_pointer(task))


def list_versions(root: Root, task: str) -> list[str]:
    """Published (pointed-to, manifested) version ids of ``task``, oldest first."""
    return list(version_refs(root, task))


def _named(t: _Task, pointer: Callable[[str, str], str], name: str) -> Ref | None:
    """The manifested build that pointer ``pointer(task, name)`` names (read directly, not listed), or None."""
    if not (_VERSION_RE.fullmatch(name) or _TAG_RE.fullmatch(name)):
        return None  # not a name a pointer can have (and never a path)
    ref = _read_pointer(t, pointer(t.name, name))
    return ref if ref is not None and _manifested(t, ref) else None


def _resolve(t: _Task, task: str, version: str | Ref = "latest") -> Ref:
    lay = t.lay
    if isinstance(version, Ref):
        if _manifested(t, version):
            return version
        raise VersionNotFound(f"task {task!r} has no build {version.path!r} any more (under {t.store.user_path(t.key)})")
    if version == "latest":
        ref = _read_pointer(t, lay.latest_pointer(task))
        if ref is not None and _manifested(t, ref):
            return ref
        refs = _pointers(t, lay.version_pointers(task))
        if refs:
            return refs[max(refs)]
        raise VersionNotFound(f"task {task!r} has no published training set under {t.store.user_path(t.key)}")
    if version.startswith("tag:"):
        if ref := _named(t, lay.tag_pointer, version[4:]):
            return ref
        known = sorted(_pointers(t, lay.tag_pointers(task))) or "none"
        raise VersionNotFound(f"task {task!r} has no tag {version[4:]!r}; tags: {known}")
    if ref := _named(t, lay.version_pointer, version) or _named(t, lay.tag_pointer, version):
        return ref
    refs, tags = _pointers(t, lay.version_pointers(task)), _pointers(t, lay.tag_pointers(task))
    raise VersionNotFound(
        f"task {task!r} has no version {version!r}; published: {sorted(refs) or 'none'}; tags: {sorted(tags) or 'none'}"
    )


def resolve_version(root: Root, task: str, version: str | Ref = "latest") -> str:
    """The version id that ``version`` (``"latest"``, an id, ``"tag:<name>"`` or a tag name) names."""
    return _resolve(_task(root, task), task, version).version


def version_path(root: Root, task: str, version: str | Ref = "latest") -> Path | str:
    """The build folder of ``version``: a plain Parquet dataset (``part-*.parquet``).

    A :class:`~pathlib.Path` for a local root; on an object store the URI string
    ``s3://bucket/prefix/curated/<task>/<version>.<build>`` (without ``?endpoint_override``).
    ``version`` is what :func:`resolve_version` accepts, or a :class:`Ref` (e.g. from :func:`list_tags`).
    """
    t = _task(root, task)
    return t.store.user_path(t.entry(_resolve(t, task, version).path))


def read_manifest(root: Root, task: str, version: str | Ref = "latest") -> dict[str, Any]:
    """The ``_manifest.json`` of ``version`` (see :func:`version_path` for what it accepts)."""
    t = _task(root, task)
    return t.store.read_json(t.file(_resolve(t, task, version).path))


def _check_splits(split: str | Sequence[str] | None) -> list[str] | None:
    if split is None:
        return None
    wanted = [split] if isinstance(split, str) else list(split)
    bad = [s for s in wanted if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; choose from {list(SPLITS)}")
    return wanted


def _read_build(t: _Task, ref: Ref, columns: list[str] | None, splits: list[str] | None, verify: bool) -> pa.Table:
    """Read build ``ref.path``; with ``verify`` each file's bytes are hashed, then parsed from the same bytes."""
    manifest = _checked_manifest(t, ref, verify)
    names = [f["name"] for f in manifest["schema"]]
    if columns is not None and (unknown := [c for c in columns if c not in names]):
        raise ValueError(f"unknown column(s) {unknown}; the training set has {names}")
    filters = [("split", "in", splits)] if splits else None
    return pa.concat_tables([_read_file(t, ref, f, verify, columns=columns, filters=filters) for f in manifest["files"]])


def _checked_manifest(t: _Task, ref: Ref, verify: bool) -> dict[str, Any]:
    """The manifest of build ``ref``, refused (:class:`ChecksumMismatch`) when its content hash is not
    the pointer's or (with ``verify``) its files' hashes do not add up to it."""
    where = t.store.user_path(t.file(ref.path))
    manifest: dict[str, Any] = t.store.read_json(t.file(ref.path))
    if manifest.get("content_sha256") != ref.content_sha256:
        raise ChecksumMismatch(f"{where}: content hash differs from its pointer; the version was modified after publishing")
    if verify and content_hash(_all_files(manifest)) != manifest["content_sha256"]:
        raise ChecksumMismatch(f"{where}: files do not add up to content_sha256")
    return manifest


def _read_resolved(t: _Task, version: str | Ref, read: Callable[[Ref], pa.Table]) -> pa.Table:
    """``read(ref)`` of the build ``version`` names; resolved once more if that build was replaced
    and pruned while it was read."""
    for attempt in range(2):
        ref = _resolve(t, t.name, version)
        try:
            return read(ref)
        except FileNotFoundError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _read_file(t: _Task, ref: Ref, f: Mapping[str, Any], verify: bool, **read: Any) -> pa.Table:
    """One file of build ``ref`` as its manifest entry ``f`` lists it; with ``verify`` its bytes are
    hashed first and parsed from the same bytes (:class:`ChecksumMismatch` on a difference)."""
    key = t.file(ref.path, f["path"])
    if not verify:
        with t.store.open_input(key) as fh:
            return pq.read_table(fh, **read)
    data = t.store.read_bytes(key)
    if hashlib.sha256(data).hexdigest() != f["sha256"]:
        raise ChecksumMismatch(
            f"{t.store.user_path(key)}: SHA-256 differs from {t.store.user_path(t.file(ref.path))}; the version was "
            f"modified after publishing (re-run `labelq run --date {ref.version}` to republish it)"
        )
    return pq.read_table(pa.BufferReader(data), **read)


def read_published_table(root: Root, task: str, name: str, version: str = "latest", *, verify: bool = True) -> pa.Table:
    """Extra table ``name`` of a published version (a kind's table beside the training set, e.g. the
    preference kind's ``response_scores``); ``version`` as for :func:`read_training_set`.

    Raises ``ValueError`` naming the version's tables when it has no ``name``, and
    :class:`ChecksumMismatch` (with ``verify``) when the file or the content hash differs.
    """
    t = _task(root, task)

    def read(ref: Ref) -> pa.Table:
        extras = {f["table"]: f for f in _checked_manifest(t, ref, verify).get("extras", [])}
        if name not in extras:
            raise ValueError(f"task {task!r} version {ref.version} has no table {name!r}; it has {sorted(extras) or 'none'}")
        return _read_file(t, ref, extras[name], verify)

    return _read_resolved(t, version, read)


def read_training_table(
    root: Root,
    task: str,
    version: str = "latest",
    *,
    columns: list[str] | None = None,
    split: str | Sequence[str] | None = None,
    verify: bool = True,
) -> pa.Table:
    """Like :func:`read_training_set`, as a :class:`pyarrow.Table` (e.g. for ``polars.from_arrow``)."""
    splits = _check_splits(split)
    t = _task(root, task)
    return _read_resolved(t, version, lambda ref: _read_build(t, ref, columns, splits, verify))


def read_training_set(
    root: Root,
    task: str,
    version: str = "latest",
    *,
    columns: list[str] | None = None,
    split: str | Sequence[str] | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """The published training set of ``task`` as a DataFrame, one row per item, sorted by item_id.

    ``root``: a local folder, an ``s3://bucket/prefix`` URI or a :class:`~pipeline.storage.Store`.
    Columns: the curated schema of the task's label kind (:attr:`pipeline.kinds.LabelKind.curated`:
    ``item_id``, the kind's consensus payload, then :data:`pipeline.contract.CURATED_TRAIL`; for
    classification :data:`pipeline.kinds.classification.CURATED`). ``version``: ``"latest"`` (default), a version
    id (``YYYY-MM-DD``, the last day it covers), ``"tag:<name>"`` or a bare tag name.
    ``split``: ``"train"``, ``"validation"``, ``"test"`` or a list of them. With ``verify``
    (default) every data file is checked against the manifest's SHA-256 first and
    :class:`ChecksumMismatch` is raised on any difference.
    """
    return read_training_table(root, task, version, columns=columns, split=split, verify=verify).to_pandas()


# --------------------------------------------------------------------------- downstream
def asset_uri(root: Root, task: str) -> str:
    """URI of the Airflow Asset for ``task``'s curated training sets (stable across versions).

    ``file:///<absolute root>/curated/<task>`` for a local root, ``<root>/curated/<task>`` for
    an object-store root such as ``s3://bucket/labelq`` (any ``?endpoint_override=...`` dropped).
    Consumers resolve the version with :func:`read_training_set` (or ``_latest.json`` in that folder).

    >>> asset_uri("/srv/labelq", "sentiment")
    'file:///srv/labelq/curated/sentiment'
    >>> asset_uri("s3://bucket/labelq/?endpoint_override=127.0.0.1:9000", "sentiment")
    's3://bucket/labelq/curated/sentiment'
    """
    from pipeline.runtime import curated_asset_uri  # the one definition (cheap to import for DAG files)

    return curated_asset_uri((root.base if root.is_local else root.uri) if isinstance(root, Store) else root, task)
