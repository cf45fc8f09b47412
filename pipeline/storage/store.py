"""Reading and writing the layout on a local folder or an object store: atomic writes, partition swaps, locks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.config import VendorConfig

from pipeline.storage.layout import (
    BUILD_LEASE,
    BUILD_LEASE_SECONDS,
    LEFTOVERS,
    SWAPS,
    Build,
    Layout,
    PathEscape,
    check_member_name,
)

#: Parquet writer settings fixed so the same table always gives the same bytes.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True, "use_dictionary": True}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _tmp_sibling(path: Path, tag: str = "tmp") -> Path:
    return path.with_name(f".{tag}-{path.name}-{uuid.uuid4().hex[:12]}")


def atomic_write_bytes(path: Path, data: bytes, *, exclusive: bool = False, mode: int = 0o666) -> bool:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    ``exclusive``: only if ``path`` does not exist yet (the temporary file is linked into place,
    so of two racing writers one wins and the other changes nothing); returns whether this call
    wrote. ``mode``: the new file's permissions (before the umask). A failed write (a full disk,
    a read-only root) removes its temporary file before raising.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
        return True
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename is None:  # name the file (fsync, write errors carry none)
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically with the fixed :data:`PARQUET_OPTIONS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    try:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the directory entries ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system or file system cannot (the caller falls back)."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _flock_dir(path: Path, *, block: bool = True) -> int | None:
    """An exclusive ``flock`` on directory ``path`` (an fd; the OS drops it if the process dies),
    or None if ``block`` is False and another process holds it."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _recover_siblings(dest: Path) -> None:
    """Finish what a killed or failed :func:`replace_dir` of ``dest`` left (call with the parent locked).

    ``.old-<name>-*`` (the old partition, renamed aside by the two-rename fallback) is put back
    if ``dest`` is missing (killed between the renames: readers see the old partition again),
    else deleted; ``.tmp-<name>-*`` of dead writers (no process holds their lock) are deleted.
    """
    parent = dest.parent
    olds = sorted(parent.glob(f".old-{dest.name}-*"), key=lambda p: p.stat().st_mtime)
    if olds and not dest.exists():
        os.replace(olds.pop(), dest)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in parent.glob(f".tmp-{dest.name}-*"):
        if not tmp.is_dir():
            tmp.unlink(missing_ok=True)
            continue
        fd = _flock_dir(tmp, block=False)
        if fd is not None:  # nobody is building it any more
            os.close(fd)
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _locked_dir(path: Path) -> Iterator[None]:
    fd = _flock_dir(path)
    try:
        yield
    finally:
        os.close(fd)  # type: ignore[arg-type]


@contextlib.contextmanager
def replace_dir(dest: Path, *, exchange: bool = True) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in place of ``dest`` on success.

    If the body raises, ``dest`` is left exactly as it was and the temporary is removed. The
    swap is one atomic ``renameat2(RENAME_EXCHANGE)`` where Linux offers it (``exchange``), so a
    reader or a kill never finds ``dest`` missing; elsewhere two renames, and a run killed
    between them is recovered by the next replacement of ``dest`` (the old partition is put back
    first). The temporary is ``flock``-ed while it is built and the swap holds a lock on the
    parent folder, so the next replacement clears only what dead runs left, never a live one's.
    """
    parent = dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _locked_dir(parent):
        _recover_siblings(dest)
        tmp = _tmp_sibling(dest)
        tmp.mkdir()
    building = _flock_dir(tmp)
    try:
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with _locked_dir(parent):
            _recover_siblings(dest)
            if dest.exists() and exchange and _exchange(tmp, dest):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old partition
                return
            old = _tmp_sibling(dest, "old")
            if dest.exists():
                os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        os.close(building)  # type: ignore[arg-type]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- object storage
#: Names that mark a delivery as still being written (skipped by :meth:`Store.complete_files`).
INCOMPLETE_PREFIXES = (".", "_")
INCOMPLETE_SUFFIXES = (".tmp", ".part", ".inprogress")


def _s3_filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    parts = urllib.parse.urlsplit(uri)
    query = dict(urllib.parse.parse_qsl(parts.query))
    endpoint = query.pop("endpoint_override", None) or os.environ.get("AWS_ENDPOINT_URL") or None
    scheme = query.pop("scheme", None)
    if endpoint and "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
    region = query.pop("region", None) or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if query:
        raise ValueError(f"{uri}: unsupported S3 option(s) {sorted(query)}; use endpoint_override, scheme, region")
    fs = pafs.S3FileSystem(endpoint_override=endpoint, scheme=scheme or "https", region=region,
                           allow_bucket_creation=False)
    return fs, f"{parts.netloc}{parts.path}".rstrip("/")


class Store:
    """A storage root on a local disk or an object store, addressed by relative POSIX keys.

    ``Store("data")`` and ``Store("s3://bucket/prefix?endpoint_override=127.0.0.1:9000&scheme=http")``
    expose the same operations; keys come from :attr:`layout` (``Layout("")``).
    """

    def __init__(self, root: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None) -> None:
        text = os.fspath(root)
        self.root = text  # as given (with any ?endpoint_override=...)
        if filesystem is not None:
            self.fs, self.base = filesystem, text.rstrip("/")
        elif text.startswith("s3://"):
            self.fs, self.base = _s3_filesystem(text)
        elif "://" in text and not text.startswith("file://"):
            self.fs, self.base = pafs.FileSystem.from_uri(text)
        else:
            self.fs, self.base = pafs.LocalFileSystem(), Path(text.removeprefix("file://")).absolute().as_posix()
        self.uri = text.split("?", 1)[0]
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)
        self.layout = Layout("")

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"

    # -- addressing
    def path(self, key: str | os.PathLike[str]) -> str:
        """The filesystem path of ``key`` (relative to the root)."""
        k = PurePosixPath(os.fspath(key)).as_posix()
        return self.base if k in ("", ".") else f"{self.base}/{k}"

    def local_path(self, key: str | os.PathLike[str]) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri}: {key} is on an object store, not a local path")
        return Path(self.path(key))

    def display(self, key: str | os.PathLike[str]) -> str:
        """``key`` as recorded in data and messages: relative, forward slashes."""
        return PurePosixPath(os.fspath(key)).as_posix()

    # -- reading
    def info(self, key: str) -> pafs.FileInfo:
        return self.fs.get_file_info(self.path(key))

    def is_file(self, key: str) -> bool:
        return self.info(key).type == pafs.FileType.File

    def is_dir(self, key: str) -> bool:
        return self.info(key).type == pafs.FileType.Directory

    def list_dir(self, key: str) -> list[pafs.FileInfo]:
        """Direct children of ``key`` (files and folders), sorted by name; empty if it is absent."""
        sel = pafs.FileSelector(self.path(key), recursive=False, allow_not_found=True)
        return sorted(self.fs.get_file_info(sel), key=lambda i: i.base_name)

    def list_files(self, key: str, suffix: str = "") -> list[str]:
        """Keys of every file under ``key`` (recursively) ending in ``suffix``, sorted."""
        sel = pafs.FileSelector(self.path(key), recursive=True, allow_not_found=True)
        prefix = self.base + "/"
        return sorted(i.path.removeprefix(prefix) for i in self.fs.get_file_info(sel)
                      if i.type == pafs.FileType.File and i.path.endswith(suffix))

    def committed_files(self, key: str, suffix: str = ".parquet", *, hidden: bool = False) -> list[str]:
        """Keys of the committed files under ``key`` ending in ``suffix``, sorted.

        Anything under a ``.``-prefixed name (a partition or file still being built by
        :meth:`replace_dir` or a writer) is skipped; with ``hidden``, files
        whose own name starts with ``.`` (the validation sidecars) are listed, still not those
        inside ``.``-prefixed folders.
        """
        base = PurePosixPath(key).as_posix().rstrip("/") + "/"
        out = []
        for k in self.list_files(key, suffix):
            *folders, name = k.removeprefix(base).split("/")
            if not any(part.startswith(".") for part in folders) and (hidden or not name.startswith(".")):
                out.append(k)
        return out

    def location(self, key: str | os.PathLike[str]) -> str:
        """Where ``key`` is, for people and summaries: a local absolute path or ``s3://bucket/.../key``."""
        if self.is_local:
            return self.path(key)
        k = PurePosixPath(os.fspath(key)).as_posix()
        return self.uri.rstrip("/") if k in ("", ".") else f"{self.uri.rstrip('/')}/{k}"

    def open_input(self, key: str) -> pa.NativeFile:
        """A random-access handle (what ``pq.ParquetFile`` needs to stream row groups)."""
        return self.fs.open_input_file(self.path(key))

    def read_bytes(self, key: str) -> bytes:
        with self.fs.open_input_stream(self.path(key)) as fh:
            return fh.read()

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key).decode("utf-8"))

    def read_parquet(self, key: str, **kwargs: Any) -> pa.Table:
        return pq.read_table(self.path(key), filesystem=self.fs, **kwargs)

    def parquet_metadata(self, key: str) -> pq.FileMetaData:
        """The Parquet footer of ``key`` (rows, schema, row groups) without reading its data."""
        return pq.read_metadata(self.path(key), filesystem=self.fs)

    def sha256(self, key: str, chunk: int = 1 << 22) -> str:
        """SHA-256 of the file's bytes, streamed (memory bounded by ``chunk``)."""
        h = hashlib.sha256()
        with self.fs.open_input_stream(self.path(key)) as fh:
            while block := fh.read(chunk):
                h.update(block)
        return h.hexdigest()

    def realpath_inside(self, key: str, folder: str) -> bool:
        """Whether ``key`` (after resolving symlinks) lies inside ``folder`` (always true on object stores)."""
        if not self.is_local:
            return True
        real, inside = os.path.realpath(self.path(key)), os.path.realpath(self.path(folder))
        return os.path.commonpath([real, inside]) == inside

    # -- writing (atomic per object)
    def _mkdir_parent(self, key: str) -> None:
        if self.is_local:
            Path(self.path(key)).parent.mkdir(parents=True, exist_ok=True)

    def write_bytes(self, key: str, data: bytes) -> None:
        if self.is_local:
            atomic_write_bytes(Path(self.path(key)), data)
            return
        with self.fs.open_output_stream(self.path(key)) as fh:
            fh.write(data)

    def create_private(self, key: str, data: bytes) -> bool:
        """Write ``data`` to ``key`` unless it exists; returns whether this call wrote it. On local
        disk the file is mode 0600 and racing creators agree on one content; an object store
        has no create-if-absent here (the last writer wins)."""
        if self.is_local:
            return atomic_write_bytes(Path(self.path(key)), data, exclusive=True, mode=0o600)
        if self.is_file(key):
            return False
        self.write_bytes(key, data)
        return True

    def write_json(self, key: str, obj: Any) -> None:
        """``obj`` as pretty, key-sorted JSON, atomically."""
        self.write_bytes(key, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())

    def write_parquet(self, table: pa.Table, key: str) -> None:
        """``table`` with the fixed :data:`PARQUET_OPTIONS`, atomically."""
        with self.parquet_writer(key, table.schema) as writer:
            writer.write_table(table)

    @contextlib.contextmanager
    def parquet_writer(self, key: str, schema: pa.Schema, **options: Any) -> Iterator[pq.ParquetWriter]:
        """A streaming Parquet writer whose file appears at ``key`` only when the body succeeds."""
        opts = {**PARQUET_OPTIONS, **options}
        self._mkdir_parent(key)
        target = self.path(key)
        tmp = f"{PurePosixPath(target).parent}/.tmp-{PurePosixPath(target).name}-{uuid.uuid4().hex[:12]}"
        writer = pq.ParquetWriter(tmp, schema, filesystem=self.fs, **opts)
        try:
            yield writer
            writer.close()
        except BaseException:
            with contextlib.suppress(Exception):
                writer.close()
            with contextlib.suppress(Exception):
                self.fs.delete_file(tmp)
            raise
        self.fs.move(tmp, target)

    def copy(self, src: str, dst: str) -> None:
        """Copy ``src`` to ``dst`` byte for byte (server-side on object stores)."""
        self._mkdir_parent(dst)
        if self.is_local:
            shutil.copyfile(self.path(src), self.path(dst))
        else:
            self.fs.copy_file(self.path(src), self.path(dst))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(key))

    @contextlib.contextmanager
    def replace_dir(self, key: str) -> Iterator[Build]:
        """Build a partition under a temporary sibling key and put it in place of ``key`` on success.

        Yields the :class:`Build` (its key; ``build.key(final)`` is where a file of the partition
        is written).

        Locally this is :func:`replace_dir` (atomic directory renames). On object stores the new
        objects are copied over, reports (``_*``) last, and stale objects deleted, after a journal
        (``.swaps/``) records the swap, so a killed swap is finished by the next :func:`open_store`
        or replacement of ``key``. A build (``.tmp-<name>-*``) of a run killed before its journal is
        invisible to readers and deleted by a later replacement once its lease expires
        (:data:`BUILD_LEASE_SECONDS`). If the body raises, ``key`` is untouched and the build is removed.
        """
        if self.is_local:
            with replace_dir(Path(self.path(key))) as folder:
                yield Build(PurePosixPath(folder.relative_to(Path(self.base))).as_posix(), key)
            return
        dest = PurePosixPath(key).as_posix()
        self._clear_swap_leftovers(dest)
        build = uuid.uuid4().hex[:12]
        tmp = (PurePosixPath(dest).parent / f".tmp-{PurePosixPath(dest).name}-{build}").as_posix()
        self.write_json(f"{tmp}/{BUILD_LEASE}", {"dest": dest, "leased_at": _utcnow().isoformat()})
        try:
            yield Build(tmp, dest)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.delete_dir(self.path(tmp))
            raise
        if not self.is_file(f"{tmp}/{BUILD_LEASE}"):
            raise ValueError(f"{self.location(dest)}: this run's build {tmp} was deleted while it was written (another run "
                             f"cleared it, e.g. after its lease of {BUILD_LEASE_SECONDS} s expired); the partition is "
                             f"unchanged: re-run the stage that writes {dest}")
        new = [k.removeprefix(tmp + "/") for k in self.list_files(tmp) if k != f"{tmp}/{BUILD_LEASE}"]
        old = [k.removeprefix(dest + "/") for k in self.list_files(dest)]
        journal = {"dest": dest, "tmp": tmp, "copy": sorted(new, key=lambda n: (PurePosixPath(n).name.startswith("_"), n)),
                   "delete": sorted(set(old) - set(new))}
        key = self._journal_key(dest, build)
        self.write_json(key, journal)  # the commit point: from here the swap is finished, by this call
        self._finish_swap(key, journal)  # or, if it is killed, by the next open_store or replacement

    @staticmethod
    def _journal_key(dest: str, build: str) -> str:
        """``.swaps/<dest, URL-quoted>~<build>.json`` (:meth:`finish_swaps` selects a partition's by the prefix)."""
        return f"{SWAPS}/{urllib.parse.quote(dest, safe='')}~{build}.json"

    def _finish_swap(self, key: str, journal: dict[str, Any]) -> None:
        """Complete the object-store swap ``journal`` (idempotent: every step may already be done).

        The build's objects are copied while they exist (the build is deleted only after every
        copy), stale objects deleted, then the build, then the journal. Two processes may finish
        one swap at once (its writer, and another run that opened the store meanwhile): whichever
        deletes the build first has copied everything, so a copy whose source is gone is done.
        """
        dest, tmp = journal["dest"], journal["tmp"]
        for name in journal["copy"]:
            src, dst = f"{tmp}/{name}", f"{dest}/{name}"
            try:
                self.fs.copy_file(self.path(src), self.path(dst))
            except OSError:
                if self.is_file(src):  # the build is there: a real failure
                    raise
                if not self.is_file(dst):
                    raise ValueError(f"{self.location(key)}: the swap of {dest} lost {name} (neither built nor copied); "
                                     f"re-run the stage that writes {dest}") from None
                # the build is gone: whoever deleted it had copied everything first
        for name in journal["delete"]:
            self.delete(f"{dest}/{name}")
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.path(tmp))
        self.delete(key)

    def finish_swaps(self, dest: str | None = None) -> list[str]:
        """Finish every object-store swap (of partition ``dest`` only, if given) that a killed run
        left half-done; returns the partitions it completed (nothing to do locally, where a swap is
        one atomic rename)."""
        if self.is_local:
            return []
        prefix = f"{SWAPS}/{urllib.parse.quote(dest, safe='')}~" if dest is not None else f"{SWAPS}/"
        done = []
        for key in self.list_files(SWAPS, ".json"):
            if not key.startswith(prefix):
                continue
            with contextlib.suppress(FileNotFoundError):  # finished meanwhile by its own writer
                journal = self.read_json(key)
                self._finish_swap(key, journal)
                done.append(journal["dest"])
        return done

    def _clear_swap_leftovers(self, dest: str) -> None:
        """Before an object-store swap of ``dest``: finish its journalled swaps, and delete the builds
        of killed runs: those whose lease (``.lease.json``, written first) is missing or older than
        :data:`BUILD_LEASE_SECONDS`. Nothing locks on an object store, so a younger build may be a
        live run's (e.g. a re-publish of a stale day beside that day's own run): it stays, invisible
        to readers, until its lease expires."""
        self.finish_swaps(dest)
        parent, name = PurePosixPath(dest).parent.as_posix(), PurePosixPath(dest).name
        now = _utcnow()
        for info in self.list_dir("" if parent == "." else parent):
            if not info.base_name.startswith(f".tmp-{name}-"):
                continue
            build = info.path.removeprefix(self.base + "/")
            try:
                leased = datetime.fromisoformat(self.read_json(f"{build}/{BUILD_LEASE}")["leased_at"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                leased = None
            if leased is None or (now - leased).total_seconds() > BUILD_LEASE_SECONDS:
                self.delete_tree(build)

    def complete_files(self, folder: str, suffix: str = ".parquet", *,
                       owner: str | None = None) -> tuple[list[str], list[tuple[str, str, str]]]:
        """Delivered files in ``folder``: (complete file keys, [(key, reason, why rejected)]), sorted by name.

        Names starting with ``.``/``_`` or ending ``.tmp``/``.part``/``.inprogress`` are still being
        written and skipped silently; names or symlinks that escape ``folder`` are rejected, and so
        is ``folder`` itself (one entry, nothing in it read) when its real path leaves ``owner``
        (the vendor's own folder: a day folder that is a symlink to another vendor's). Sub-folders
        and files without the ``suffix`` (e.g. ``*.PARQUET``, ``*.csv``) are rejected too, never
        skipped without a word.
        """
        files: list[str] = []
        rejected: list[tuple[str, str, str]] = []
        if owner is not None and self.is_local and self.is_dir(folder) and not self.realpath_inside(folder, owner):
            real = os.path.realpath(self.path(folder))
            return [], [(folder, "path_escape", f"{folder}: the day folder resolves to {real}, outside the vendor's folder "
                                 f"{owner!r}; rejected, nothing in it read (a vendor's files must be in its own folder)")]
        for info in self.list_dir(folder):
            name = info.base_name
            if name.startswith(INCOMPLETE_PREFIXES) or name.endswith(INCOMPLETE_SUFFIXES):
                continue
            key = f"{folder}/{name}"
            try:
                check_member_name(folder, name)
            except PathEscape as exc:
                rejected.append((key, "path_escape", str(exc)))
                continue
            if self.is_local and os.path.islink(self.path(key)) and not self.realpath_inside(key, folder):
                rejected.append((key, "path_escape", f"{key}: symlink to {os.path.realpath(self.path(key))}, outside the "
                                      f"landing folder {folder!r}; rejected (a vendor's files must be in its own folder)"))
                continue
            if info.type == pafs.FileType.Directory:
                rejected.append((key, "not_a_delivery", f"{key}: a sub-folder of a day folder is not read; deliver files directly in "
                                      f"{folder}/"))
                continue
            if info.type != pafs.FileType.File:
                continue
            if not name.endswith(suffix):
                rejected.append((key, "not_a_delivery", f"{key}: not a {suffix} file (names must end in {suffix!r}, lower case); "
                                      "not read"))
                continue
            files.append(key)
        return files, rejected

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold an exclusive lock on ``key`` while the body runs (``fcntl.flock``; the OS releases it
        if the process dies). Local disk only: on an object store nothing locks, and one writer per
        key at a time is assumed (the DAG orders the cumulative stages with ``depends_on_past``)."""
        if not self.is_local:
            yield
            return
        path = Path(self.path(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        import fcntl

        with open(path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def delete_tree(self, key: str) -> None:
        """Delete ``key`` and everything under it (a folder, or every object under the prefix); nothing if absent."""
        if self.is_local:
            shutil.rmtree(self.path(key), ignore_errors=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.path(key))

    # -- local-disk durability and renames (no-ops or refusals on an object store, where each PUT is atomic)
    def user_path(self, key: str | os.PathLike[str]) -> Path | str:
        """``key`` as the caller of this store names it: a :class:`~pathlib.Path` under the root as
        they spelled it (local disk), or the object's URI (without ``?endpoint_override``)."""
        if self.is_local:
            return Path(self.root.removeprefix("file://")) / os.fspath(key)
        return self.location(key)

    def fsync(self, key: str, *, folder: bool = False) -> None:
        """Flush file or folder ``key`` to disk, or with ``folder`` the folder holding it (its entry
        of ``key``); best effort, and nothing to do on an object store."""
        if not self.is_local:
            return
        target = self.path(PurePosixPath(key).parent.as_posix() if folder else key)
        try:
            fd = os.open(target, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def fresh_sibling(self, key: str, tag: str = "tmp") -> str:
        """A new hidden name beside ``key`` (``.<tag>-<name>-<12 hex>``) to build or discard into."""
        k = PurePosixPath(key)
        return (k.parent / f".{tag}-{k.name}-{uuid.uuid4().hex[:12]}").as_posix()

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` (a file or folder) to ``dst`` in one atomic step, then flush ``dst``'s folder.

        Local disk only (``ValueError`` on an object store, which cannot rename a folder)."""
        if not self.is_local:
            raise ValueError(f"{self.uri}: an object store cannot rename {src} atomically")
        os.rename(self.path(src), self.path(dst))
        self.fsync(dst, folder=True)

    def discard(self, key: str) -> None:
        """Remove ``key`` (a file, folder or symlink; nothing if absent) so that it vanishes at once
        under its name: on local disk it is first renamed to a hidden ``.trash-`` sibling (unless it
        already is a ``.tmp-`` / ``.trash-`` leftover), then deleted; on an object store the object,
        or every object under the prefix, is deleted."""
        if not self.is_local:
            self.delete(key)
            self.delete_tree(key)
            return
        path = Path(self.path(key))
        if path.is_symlink():
            path.unlink(missing_ok=True)
            return
        if not path.exists():
            return
        if not path.name.startswith(LEFTOVERS):
            trash = Path(self.path(self.fresh_sibling(key, "trash")))
            os.rename(path, trash)
            path = trash
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def links(self, folder: str) -> dict[str, str]:
        """``{name: target}`` of the symlinks directly in ``folder`` (none on an object store)."""
        if not self.is_local or not self.is_dir(folder):
            return {}
        with os.scandir(self.path(folder)) as entries:
            return {e.name: os.readlink(e.path) for e in entries if e.is_symlink()}

    def link(self, key: str, target: str) -> None:
        """Point symlink ``key`` at ``target`` (relative to its folder), replacing what is there in one
        atomic rename; best effort, and nothing on an object store (symlinks are a local convenience)."""
        if not self.is_local:
            return
        path = Path(self.path(key))
        try:
            if path.is_symlink() and os.readlink(path) == target:
                return
            if path.exists() and not path.is_symlink():
                self.discard(key)  # a materialised copy (e.g. made by copytree)
            tmp = self.path(self.fresh_sibling(key))
            os.symlink(target, tmp)
            os.replace(tmp, path)
        except OSError:  # pragma: no cover - no symlinks here (e.g. Windows without privilege)
            pass


#: A storage root as callers give it: a local folder, an ``s3://`` URI, or an open :class:`Store`.
Root: TypeAlias = str | os.PathLike[str] | Store


def open_store(root: Root) -> Store:
    """A :class:`Store` for ``root`` (a local folder or an ``s3://`` URI); a ``Store`` is returned as is.

    A new object-store :class:`Store` first finishes any partition swap a killed run left
    half-done (:meth:`Store.finish_swaps`), so what it reads is the old partition or the new one.
    """
    if isinstance(root, Store):
        return root
    store = Store(root)
    store.finish_swaps()
    return store


@contextlib.contextmanager
def in_background() -> Iterator[Callable[..., None]]:
    """``submit(fn, *args)`` runs ``fn`` on one writer thread, in order, at most one call pending.

    Parquet encoding and Arrow filters release the GIL, so writing batch k overlaps mapping or
    validating batch k + 1; memory grows by at most one batch. Errors surface on the next submit
    or on leaving the block.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labelq-write")
    last: list[Future] = []

    def submit(fn: Callable[..., Any], *args: Any) -> None:
        if last:
            last.pop().result()
        last.append(pool.submit(fn, *args))

    try:
        yield submit
        if last:
            last.pop().result()
    finally:
        pool.shutdown(wait=True)
