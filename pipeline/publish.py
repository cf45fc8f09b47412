"""Publish: immutable, checksummed, versioned training sets, and the reader ML teams use.

Layout of one task under the storage root::

    curated/<task>/
      <version>.<build>/           one immutable build: part-00000.parquet ... + _manifest.json
      <version> -> <version>.<build>/   symlink (local disk): the version's current build
      latest -> <version>.<build>/      symlink (local disk): the latest version's build
      _versions/<version>.json     which build is version <version>   (pointer, replaced atomically)
      _tags/<name>.json            a build pinned by name             (never pruned)
      _latest.json                 the newest version (highest id; a backfill never moves it back)
      .lock                        serialises the publishers of the task

A version id is the last day of the data interval it covers (``YYYY-MM-DD``); a re-run of
that day replaces the version. ``<build>`` is 12 hex digits of the SHA-256 of the manifest
without ``created_at``: the same inputs give the same build, byte for byte, so a re-run with
identical inputs changes nothing. Each build folder is a plain Parquet dataset that pandas,
pyarrow, Polars and DuckDB read directly (``_``-prefixed files are ignored by all of them).

Commit protocol (what makes a publish atomic):

1. write the data files into a hidden ``.tmp-*`` folder, hash them, write ``_manifest.json``
   last, fsync, then rename the folder to ``<version>.<build>`` (kept as is if that identical
   build is already there and intact);
2. replace ``_versions/<version>.json`` and then ``_latest.json`` (write aside + rename);
3. prune: drop versions beyond ``keep_versions`` (never the latest nor a tagged build), point
   the symlinks at what the pointers name, then delete every build and leftover no pointer
   names (renamed away first).

Readers only follow pointers to manifested builds, so a publisher killed at any point leaves
them on the previous build or the complete new one, and a re-run completes the job and clears
what the killed one left. On an object store (no rename) the same protocol holds: data files
first, the manifest last, pointers as single-object writes; readers trust only pointed-to,
manifested builds. The symlinks are a convenience for tools without labelq (each swap is
atomic, but only :func:`read_training_set` checks the checksums and retries if a version is
replaced while it reads).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.splits import SPLITS
from pipeline.storage import PARQUET_OPTIONS, Layout, atomic_write_json, read_json, sha256_file

if TYPE_CHECKING:
    import pandas as pd

MANIFEST = "_manifest.json"
LATEST = "_latest.json"
VERSIONS = "_versions"
TAGS = "_tags"
LOCK = ".lock"
#: Symlink to the latest build, next to one symlink per version id (local disk only).
LATEST_LINK = "latest"
#: Version of the manifest layout (1 was the walking skeleton's ``curated/<task>/<version>/``).
FORMAT = 2
#: Rows per data file; larger sets are written as several ``part-NNNNN.parquet`` files.
MAX_ROWS_PER_FILE = 1_000_000

_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
_BUILD_RE = re.compile(r"^(?P<version>\d{4}-\d{2}-\d{2})\.(?P<build>[0-9a-f]{12})$")
_LEFTOVERS = (".tmp-", ".trash-")
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


# --------------------------------------------------------------------------- small helpers
def _task_dir(root: str | os.PathLike[str], task: str) -> Path:
    return Layout(root).curated(task)


def _fsync(path: Path) -> None:
    """Flush a file or folder entry to disk (best effort on platforms that cannot)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


def _write_pointer(path: Path, ref: Ref, **extra: Any) -> None:
    atomic_write_json(path, {**asdict(ref), **extra})
    _fsync(path.parent)


def _read_pointer(path: Path) -> Ref | None:
    try:
        data = read_json(path)
    except FileNotFoundError:
        return None
    if not {"version", "path", "content_sha256"} <= set(data):
        return None  # a format-1 pointer: names no build
    return Ref(data["version"], data["path"], data["content_sha256"])


def _pointers(folder: Path, base: Path) -> dict[str, Ref]:
    """``{file stem: Ref}`` for the pointers in ``folder`` whose build is manifested."""
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.glob("*.json")):
        if p.name.startswith("."):
            continue
        ref = _read_pointer(p)
        if ref is not None and (base / ref.path / MANIFEST).is_file():
            out[p.stem] = ref
    return out


def _discard(path: Path) -> None:
    """Remove ``path`` so that it vanishes at once under its name (renamed away, then deleted)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    if not path.name.startswith(_LEFTOVERS):
        trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex[:12]}")
        os.rename(path, trash)
        path = trash
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _link(base: Path, name: str, target: str) -> None:
    """Point the convenience symlink ``base/name`` at build folder ``target`` (atomic rename; best effort)."""
    link = base / name
    try:
        if link.is_symlink() and os.readlink(link) == target:
            return
        if link.exists() and not link.is_symlink():
            _discard(link)  # a materialised copy (e.g. made by copytree) or a format-1 folder
        tmp = base / f".tmp-{name}-{uuid.uuid4().hex[:12]}"
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError:  # pragma: no cover - no symlinks here (e.g. Windows without privilege)
        pass


def _sync_links(base: Path, refs: dict[str, Ref], latest: Ref | None) -> None:
    """Make the ``<version>`` and ``latest`` symlinks match the pointers (the pointers are the truth)."""
    for v, ref in refs.items():
        _link(base, v, ref.path)
    if latest is not None:
        _link(base, LATEST_LINK, latest.path)
    for p in base.iterdir():
        if p.is_symlink() and _VERSION_RE.match(p.name) and p.name not in refs:
            p.unlink()


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[None]:
    """Hold the task's publish lock (released by the OS if the process dies)."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / LOCK, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: single publisher per task assumed
            yield
            return
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _intact(folder: Path) -> bool:
    try:
        manifest = read_json(folder / MANIFEST)
        return all(sha256_file(folder / f["path"]) == f["sha256"] for f in manifest["files"])
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------- writing
def _commit_build(base: Path, version: str, table: pa.Table, manifest: dict[str, Any], max_rows: int) -> Ref:
    """Step 1 of the protocol: the immutable build folder (returns its pointer)."""
    tmp = base / f".tmp-{version}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        files = []
        for i, start in enumerate(range(0, max(table.num_rows, 1), max_rows)):
            chunk = table.slice(start, max_rows)
            part = tmp / f"part-{i:05d}.parquet"
            pq.write_table(chunk, part, **PARQUET_OPTIONS)
            _fsync(part)
            files.append({"path": part.name, "sha256": sha256_file(part), "rows": chunk.num_rows,
                          "bytes": part.stat().st_size})
        body = {k: v for k, v in manifest.items() if k not in _UNSTABLE_KEYS}
        body.update(
            format=FORMAT, version=version, files=files, rows=table.num_rows, content_sha256=content_hash(files),
            schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema],
        )
        build = _digest(body)[:12]
        final = base / f"{version}.{build}"
        if final.is_dir() and _intact(final):
            _discard(tmp)  # this exact build is already published: keep it (and its created_at)
        else:
            _discard(final)  # a damaged copy of this build, if any
            created = datetime.now(timezone.utc).isoformat(timespec="seconds")
            atomic_write_json(tmp / MANIFEST, {**body, "build": build, "created_at": created})
            _fsync(tmp)
            os.rename(tmp, final)
            _fsync(base)
    except BaseException:
        _discard(tmp)
        raise
    return Ref(version, final.name, body["content_sha256"])


def _update_latest(base: Path) -> None:
    refs = _pointers(base / VERSIONS, base)
    if not refs:
        return
    newest = refs[max(refs)]
    if _read_pointer(base / LATEST) != newest:
        _write_pointer(base / LATEST, newest)


def _prune(base: Path, keep_versions: int | None) -> list[str]:
    """Step 3 of the protocol; call with the lock held. Returns the pruned version ids."""
    refs = _pointers(base / VERSIONS, base)
    pinned = {r.path for r in _pointers(base / TAGS, base).values()}
    latest = _read_pointer(base / LATEST)
    pruned = []
    if keep_versions is not None:
        for v in sorted(refs)[:-keep_versions]:
            if (latest is None or v != latest.version) and refs[v].path not in pinned:
                (base / VERSIONS / f"{v}.json").unlink()
                pruned.append(v)
        if pruned:
            _fsync(base / VERSIONS)
    refs = _pointers(base / VERSIONS, base)
    _sync_links(base, refs, latest)
    live = {r.path for r in refs.values()} | pinned | ({latest.path} if latest else set())
    for folder in (base / VERSIONS, base / TAGS):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(_LEFTOVERS):
                    _discard(p)
    for p in base.iterdir():
        if p.name.startswith(_LEFTOVERS) or (p.is_dir() and _BUILD_RE.match(p.name) and p.name not in live):
            _discard(p)
    return pruned


def write_version(
    root: str | os.PathLike[str],
    task: str,
    version: str,
    table: pa.Table,
    manifest: dict[str, Any],
    *,
    keep_versions: int | None = None,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
) -> Path:
    """Publish ``table`` as version ``version`` of ``task`` with ``manifest``; returns its build folder.

    ``table`` must already be in its final row order (schema metadata is dropped, so the
    bytes depend on the data only). The manifest gains ``format``, ``version``, ``files``
    (path, SHA-256, rows, bytes), ``rows``, ``content_sha256``, ``schema``, ``build`` and
    ``created_at``. Re-publishing a version replaces it; ``_latest.json`` names the highest
    version id; then versions beyond the newest ``keep_versions`` are pruned (never the
    latest, never a tagged one). See the module docstring for why this is atomic.
    """
    _check_version_id(version)
    if max_rows_per_file < 1:
        raise ValueError(f"max_rows_per_file must be >= 1, got {max_rows_per_file}")
    base = _task_dir(root, task)
    with _locked(base):
        ref = _commit_build(base, version, table.replace_schema_metadata(None), manifest, max_rows_per_file)
        (base / VERSIONS).mkdir(exist_ok=True)
        _write_pointer(base / VERSIONS / f"{version}.json", ref)
        _update_latest(base)
        _prune(base, keep_versions)
    return base / ref.path


def prune(root: str | os.PathLike[str], task: str, keep_versions: int | None) -> list[str]:
    """Keep the newest ``keep_versions`` versions (plus the latest and tagged ones); returns the pruned ids."""
    base = _task_dir(root, task)
    if not base.is_dir():
        return []
    with _locked(base):
        return _prune(base, keep_versions)


# --------------------------------------------------------------------------- tags
def list_tags(root: str | os.PathLike[str], task: str) -> dict[str, Ref]:
    """``{tag name: Ref}`` of ``task``, sorted by name."""
    base = _task_dir(root, task)
    return _pointers(base / TAGS, base)


def tag_version(root: str | os.PathLike[str], task: str, version: str, name: str, *, force: bool = False) -> Ref:
    """Pin the current build of ``version`` (or ``"latest"``, or another tag) under ``name``.

    A tagged build is never pruned and stays readable as ``version="tag:<name>"`` (or just
    ``name``) even after its version id is re-published. Moving an existing tag needs ``force``.
    """
    _check_tag(name)
    base = _task_dir(root, task)
    with _locked(base):
        ref = _resolve(root, task, version)
        path = base / TAGS / f"{name}.json"
        current = _read_pointer(path)
        if current is not None and current.path != ref.path and not force:
            raise ValueError(
                f"tag {name!r} of task {task!r} already pins version {current.version} (build {current.path}); "
                f"use force=True (labelq tag --force) to move it, or untag it first"
            )
        path.parent.mkdir(exist_ok=True)
        _write_pointer(path, ref, tag=name)
    return ref


def untag(root: str | os.PathLike[str], task: str, name: str) -> Ref:
    """Remove tag ``name``; its build becomes prunable again. Returns what it pinned."""
    base = _task_dir(root, task)
    with _locked(base):
        path = base / TAGS / f"{name}.json"
        ref = _read_pointer(path)
        if ref is None:
            raise VersionNotFound(f"task {task!r} has no tag {name!r}; tags: {sorted(list_tags(root, task)) or 'none'}")
        path.unlink()
        _fsync(path.parent)
    return ref


# --------------------------------------------------------------------------- reading
def version_refs(root: str | os.PathLike[str], task: str) -> dict[str, Ref]:
    """``{version id: Ref}`` of ``task``'s published (pointed-to, manifested) versions, oldest first."""
    base = _task_dir(root, task)
    return dict(sorted(_pointers(base / VERSIONS, base).items()))


def latest_ref(root: str | os.PathLike[str], task: str) -> Ref | None:
    """What ``_latest.json`` names, or None before the first publish."""
    return _read_pointer(_task_dir(root, task) / LATEST)


def list_versions(root: str | os.PathLike[str], task: str) -> list[str]:
    """Published (pointed-to, manifested) version ids of ``task``, oldest first."""
    return list(version_refs(root, task))


def _resolve(root: str | os.PathLike[str], task: str, version: str = "latest") -> Ref:
    base = _task_dir(root, task)
    if version == "latest":
        ref = _read_pointer(base / LATEST)
        if ref is not None and (base / ref.path / MANIFEST).is_file():
            return ref
        refs = _pointers(base / VERSIONS, base)
        if refs:
            return refs[max(refs)]
        raise VersionNotFound(f"task {task!r} has no published training set under {base}")
    tags = _pointers(base / TAGS, base)
    if version.startswith("tag:"):
        if version[4:] in tags:
            return tags[version[4:]]
        raise VersionNotFound(f"task {task!r} has no tag {version[4:]!r}; tags: {sorted(tags) or 'none'}")
    refs = _pointers(base / VERSIONS, base)
    if version in refs:
        return refs[version]
    if version in tags:
        return tags[version]
    raise VersionNotFound(
        f"task {task!r} has no version {version!r}; published: {sorted(refs) or 'none'}; tags: {sorted(tags) or 'none'}"
    )


def resolve_version(root: str | os.PathLike[str], task: str, version: str = "latest") -> str:
    """The version id that ``version`` (``"latest"``, an id, ``"tag:<name>"`` or a tag name) names."""
    return _resolve(root, task, version).version


def version_path(root: str | os.PathLike[str], task: str, version: str = "latest") -> Path:
    """The build folder of ``version``: a plain Parquet dataset (``part-*.parquet``)."""
    return _task_dir(root, task) / _resolve(root, task, version).path


def read_manifest(root: str | os.PathLike[str], task: str, version: str = "latest") -> dict[str, Any]:
    """The ``_manifest.json`` of ``version`` (see :func:`resolve_version` for what it accepts)."""
    return read_json(version_path(root, task, version) / MANIFEST)


def _check_splits(split: str | Sequence[str] | None) -> list[str] | None:
    if split is None:
        return None
    wanted = [split] if isinstance(split, str) else list(split)
    bad = [s for s in wanted if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; choose from {list(SPLITS)}")
    return wanted


def _read_build(folder: Path, ref: Ref, columns: list[str] | None, splits: list[str] | None, verify: bool) -> pa.Table:
    manifest = read_json(folder / MANIFEST)
    if manifest.get("content_sha256") != ref.content_sha256:
        raise ChecksumMismatch(f"{folder / MANIFEST}: content hash differs from its pointer; the version was modified after publishing")
    names = [f["name"] for f in manifest["schema"]]
    if columns is not None and (unknown := [c for c in columns if c not in names]):
        raise ValueError(f"unknown column(s) {unknown}; the training set has {names}")
    paths = []
    for f in manifest["files"]:
        path = folder / f["path"]
        if verify and sha256_file(path) != f["sha256"]:
            raise ChecksumMismatch(
                f"{path}: SHA-256 differs from {folder / MANIFEST}; the version was modified after publishing "
                f"(re-run `labelq run --date {ref.version}` to republish it)"
            )
        paths.append(path)
    if verify and content_hash(manifest["files"]) != manifest["content_sha256"]:
        raise ChecksumMismatch(f"{folder / MANIFEST}: files do not add up to content_sha256")
    filters = [("split", "in", splits)] if splits else None
    return pa.concat_tables([pq.read_table(p, columns=columns, filters=filters) for p in paths])


def read_training_table(
    root: str | os.PathLike[str],
    task: str,
    version: str = "latest",
    *,
    columns: list[str] | None = None,
    split: str | Sequence[str] | None = None,
    verify: bool = True,
) -> pa.Table:
    """Like :func:`read_training_set`, as a :class:`pyarrow.Table` (e.g. for ``polars.from_arrow``)."""
    splits = _check_splits(split)
    for attempt in range(2):
        ref = _resolve(root, task, version)
        try:
            return _read_build(_task_dir(root, task) / ref.path, ref, columns, splits, verify)
        except FileNotFoundError:
            if attempt:  # replaced and pruned while we read it: resolve once more, then give up
                raise
    raise AssertionError("unreachable")


def read_training_set(
    root: str | os.PathLike[str],
    task: str,
    version: str = "latest",
    *,
    columns: list[str] | None = None,
    split: str | Sequence[str] | None = None,
    verify: bool = True,
) -> pd.DataFrame:
    """The published training set of ``task`` as a DataFrame, one row per item, sorted by item_id.

    Columns (:data:`pipeline.schema.CURATED`): item_id, label, confidence, n_annotations,
    agreement, vendors, split, source_batches. ``version``: ``"latest"`` (default), a version
    id (``YYYY-MM-DD``, the last day it covers), ``"tag:<name>"`` or a bare tag name.
    ``split``: ``"train"``, ``"validation"``, ``"test"`` or a list of them. With ``verify``
    (default) every data file is checked against the manifest's SHA-256 first and
    :class:`ChecksumMismatch` is raised on any difference.
    """
    return read_training_table(root, task, version, columns=columns, split=split, verify=verify).to_pandas()


# --------------------------------------------------------------------------- downstream
def asset_uri(root: str | os.PathLike[str], task: str) -> str:
    """URI of the Airflow Asset for ``task``'s curated training sets (stable across versions).

    ``file:///<absolute root>/curated/<task>`` for a local root, ``<root>/curated/<task>`` for
    an object-store root such as ``s3://bucket/labelq``. Consumers resolve the version with
    :func:`read_training_set` (or ``_latest.json`` in that folder).

    >>> asset_uri("/srv/labelq", "sentiment")
    'file:///srv/labelq/curated/sentiment'
    >>> asset_uri("s3://bucket/labelq/", "sentiment")
    's3://bucket/labelq/curated/sentiment'
    """
    s = os.fspath(root)
    if "://" in s:
        return f"{s.rstrip('/')}/curated/{task}"
    return f"{Path(s).absolute().as_uri()}/curated/{task}"
