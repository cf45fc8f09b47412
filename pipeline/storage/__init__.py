"""Storage, the only package that touches files: the data layout, atomic writes, partition swaps.

Layout under the storage root (``--root`` / ``$LABELQ_ROOT``, default ``./data``)::

    landing/<vendor>/<YYYY-MM-DD>/<batch>.parquet     vendor deliveries (read only)
    gold/<task>.parquet                              items with known labels
    ingested/date=<D>/vendor=<vendor>/               canonical, not yet validated (ingest)
    staged/<task>/date=<D>/vendor=<vendor>/          validated canonical rows (validate)
    quarantine/date=<D>/vendor=<vendor>/             rejected files and rows + reasons (validate)
    metrics/<task>/date=<D>/                         agreement and accuracy (measure)
    scorecards/<task>/date=<D>/                      vendor and annotator scorecards (scorecard)
    consensus/<task>/date=<D>/                       merged labels and held-out items (merge)
    ledger/vendor=<vendor>/date=<D>.json             which file produced which staged rows (ingest)
    curated/<task>/<version>.<build>/                immutable published builds (publish; see publish.py
    curated/<task>/<version> -> <version>.<build>     for the pointers and symlinks readers follow)

Every stage owns its partitions and replaces them whole: a re-run overwrites, never appends.

Object storage
--------------
:class:`Store` is the same layout on any ``pyarrow.fs`` filesystem: a local folder (the default,
byte-for-byte what the ``Path`` helpers below do) or ``s3://bucket/prefix`` (``S3FileSystem``;
the endpoint comes from ``?endpoint_override=host:port&scheme=http`` on the URI or from
``$AWS_ENDPOINT_URL``, credentials from the usual ``AWS_*`` variables). Keys are relative POSIX
paths built with ``Layout("")`` (e.g. ``store.layout.staged(task, day, vendor)``), so the layout
is still named once. Writes are atomic per object: locally a temporary sibling renamed into
place; on S3 a single PUT / completed multipart upload. :meth:`Store.replace_dir` builds a
partition aside; locally it is swapped in with renames, on S3 its objects are copied over the
old partition (data files first, ``_*.json`` reports last) and stale objects are deleted, so a
failed build never touches the previous partition. An object store has no atomic rename, so the
S3 swap is journalled: once the build is complete, ``.swaps/<key>~<build>.json`` records what to copy and
delete, and a swap killed half-way is finished by whoever opens the store next
(:func:`open_store`, i.e. every stage and CLI command), before anything is read. A reader opened
*while* a live swap copies can see a mix; the DAG never runs a stage beside the writer of its
inputs, and one writer per partition at a time is assumed (nothing locks on an object store).

How another stage adopts it (e.g. publish): replace ``Layout(root).x(...)`` paths by
``store = open_store(root)`` and ``key = store.layout.x(...).as_posix()``, then
``replace_dir(path)`` -> ``store.replace_dir(key)``, ``write_parquet(t, path)`` ->
``store.write_parquet(t, key)``, ``atomic_write_json`` -> ``store.write_json``, ``read_json`` ->
``store.read_json``, ``sha256_file`` -> ``store.sha256``, ``pq.read_table(path)`` ->
``store.read_parquet(key)``, ``path.is_file()`` -> ``store.is_file(key)``. Local roots keep
working unchanged, because a local :class:`Store` is a thin shell over the same calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
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

#: Parquet writer settings fixed so the same table always gives the same bytes.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True, "use_dictionary": True}


#: Suffix of the GX result stored beside each staged batch (see :meth:`Layout.validation_file`).
VALIDATION_SUFFIX = ".validation.json"
#: Suffix of the document beside each quarantined delivery saying why (:meth:`Layout.quarantine_reason`).
REASON_SUFFIX = ".reason.json"

#: Names of the files inside partitions that other stages read (a stage writes them into its build,
#: ``f"{build}/{NAME}"``; readers take the keys from :class:`Layout`).
INGEST_REPORT = "_ingest.json"  # ingest's report of a vendor-day
VALIDATE_REPORT = "_validate.json"  # validate's report, the staged partition's commit record
MERGE_REPORT = "_merge.json"  # merge's report (with the digest of its inputs)
METRICS_SUMMARY = "summary.json"  # the measure stage's figures
AGREEMENT_TABLE = "agreement.parquet"  # every agreement metric and scope, with bootstrap intervals
CONSENSUS_TABLE = "consensus.parquet"  # one row per item: label, confidence, held-out reason
RELABEL_TABLE = "relabel.parquet"  # the held-out items to send back to the vendors

#: On an object store each partition build holds a lease, its first object; a build whose lease is
#: older than this many seconds is taken for a killed run's and deleted by the next replacement.
BUILD_LEASE = ".lease.json"
BUILD_LEASE_SECONDS = 3 * 3600  # longer than any stage runs (the DAG's execution_timeout is 2 h)

#: Folder (under the root) of the journals of object-store partition swaps in flight (see :meth:`Store.replace_dir`).
SWAPS = ".swaps"

#: Names inside a task's ``curated/<task>/`` folder (the publish stage's commit protocol: :mod:`pipeline.publish`).
MANIFEST = "_manifest.json"  # a build's manifest: written last, deleted first
LATEST = "_latest.json"  # pointer to the newest version's build
VERSIONS = "_versions"  # folder of version pointers <version>.json
TAGS = "_tags"  # folder of tag pointers <name>.json
LOCK = ".lock"  # serialises the publishers of the task (local disk)
LATEST_LINK = "latest"  # convenience symlink to the latest build (local disk)
LEASE_PREFIX = ".lease-"  # .lease-<version>.<build>.json: a build an object-store publisher is writing
#: Hidden prefixes of what is being built (``.tmp-``) or thrown away (``.trash-``) on local disk.
LEFTOVERS = (".tmp-", ".trash-")


class Build(str):
    """The key of a partition being built by :meth:`Store.replace_dir` (a ``str``: the build's key).

    :meth:`key` turns the final key of a file in the partition (what :class:`Layout` returns) into
    its key in the build, so writers name files by where they will be, never by the build's name.
    """

    dest: str

    def __new__(cls, build: str, dest: str) -> "Build":
        obj = super().__new__(cls, build)
        obj.dest = PurePosixPath(dest).as_posix()
        return obj

    def key(self, final: str | os.PathLike[str]) -> str:
        """Where the file that will be ``final`` (inside the partition) is written in this build."""
        rel = PurePosixPath(os.fspath(final)).as_posix()
        if not rel.startswith(self.dest + "/"):
            raise ValueError(f"{rel} is not inside the partition {self.dest} being built")
        return f"{self}/{rel.removeprefix(self.dest + '/')}"


#: Top-level folders of a storage root (what a stage writes, plus the deliveries, gold, ledger and reports).
ROOT_FOLDERS = ("landing", "gold", "ingested", "staged", "quarantine", "ledger", "metrics", "scorecards", "consensus",
                "curated", "reports")


class Layout:
    """Paths of every partition under one storage root."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def vendor_landing(self, vendor: VendorConfig) -> Path:
        return self.root / vendor.landing

    def landing(self, vendor: VendorConfig, day: date) -> Path:
        return self.vendor_landing(vendor) / day.isoformat()

    def landing_file(self, vendor: VendorConfig, day: date, stem: str) -> str:
        """A delivery ``<stem>.parquet`` in the vendor's landing folder of ``day`` (what :mod:`pipeline.simulate` writes)."""
        return (self.landing(vendor, day) / f"{stem}.parquet").as_posix()

    def gold(self, task: str) -> Path:
        return self.root / "gold" / f"{task}.parquet"

    def ingested(self, day: date, vendor: str) -> Path:
        return self.ingested_root() / f"date={day.isoformat()}" / f"vendor={vendor}"

    @staticmethod
    def ingested_file(stem: str, task: str | None = None) -> str:
        """Name of a delivery's canonical file inside :meth:`ingested`: ``<stem>.parquet``, or for a
        vendor whose files feed several tasks ``task=<task>/<stem>.parquet`` (one per task)."""
        return f"{stem}.parquet" if task is None else f"task={task}/{stem}.parquet"

    # -- reading keys back: hive partitions (``<column>=<value>``)
    @staticmethod
    def partition_value(name: str, column: str) -> str | None:
        """The value of partition folder ``name`` if it is ``<column>=<value>``, else None.

        >>> Layout.partition_value("date=2026-11-01", "date"), Layout.partition_value("_tmp", "date")
        ('2026-11-01', None)
        """
        return name.removeprefix(f"{column}=") if name.startswith(f"{column}=") else None

    @staticmethod
    def partition_of(key: str, base: str | os.PathLike[str], *columns: str) -> tuple[list[str], str] | None:
        """``(values, file name)`` of ``key`` laid out as ``<base>/<column>=<value>/.../<file>`` with
        exactly ``columns``, in order; None for any other key (deeper, shallower or foreign).

        >>> Layout.partition_of("staged/t/date=2026-11-01/vendor=acme/_validate.json", "staged/t", "date", "vendor")
        (['2026-11-01', 'acme'], '_validate.json')
        """
        prefix = PurePosixPath(os.fspath(base)).as_posix() + "/"
        if not key.startswith(prefix):
            return None
        parts = key[len(prefix):].split("/")
        if len(parts) != len(columns) + 1:
            return None
        values = [Layout.partition_value(part, column) for part, column in zip(parts, columns)]
        if any(v is None for v in values):
            return None
        return [v for v in values if v is not None], parts[-1]

    # -- names of the files inside a partition (join them to its key with :meth:`join`)
    @staticmethod
    def join(folder: str | os.PathLike[str], name: str) -> str:
        """The key of file ``name`` inside partition (or build) ``folder``."""
        return (PurePosixPath(os.fspath(folder)) / name).as_posix()

    @staticmethod
    def staged_file(stem: str) -> str:
        """A validated batch inside :meth:`staged`: ``<stem>.parquet``."""
        return f"{stem}.parquet"

    @staticmethod
    def validation_file(stem: str) -> str:
        """File name of the GX result beside staged batch ``<stem>.parquet``: ``.<stem>.validation.json``.

        Sidecars are hidden (``.``) so that readers of a partition folder skip them and see Parquet
        (and the ``_validate.json`` report) only: ``pyarrow.dataset`` ignores ``.`` and ``_`` names,
        Hugging Face ``datasets`` ignores hidden files and picks its reader by the most common
        extension.

        >>> Layout.validation_file("acme-20261101-01")
        '.acme-20261101-01.validation.json'
        """
        return f".{stem}{VALIDATION_SUFFIX}"

    @staticmethod
    def validation_stem(name: str) -> str | None:
        """The stem of the batch whose GX result :meth:`validation_file` named ``name``; None for other names.

        >>> Layout.validation_stem(".acme-20261101-01.validation.json"), Layout.validation_stem("x.parquet")
        ('acme-20261101-01', None)
        """
        if not (name.startswith(".") and name.endswith(VALIDATION_SUFFIX)):
            return None
        return name[1:].removesuffix(VALIDATION_SUFFIX)

    @staticmethod
    def quarantined_rows(stem: str) -> str:
        """The rows of batch ``<stem>`` that failed validation, inside :meth:`quarantine`."""
        return f"{stem}.rows.parquet"

    @staticmethod
    def quarantine_reason(name: str) -> str:
        """Why delivery ``name`` (its file name) was quarantined, inside :meth:`quarantine`."""
        return f"{name}{REASON_SUFFIX}"

    def ingested_root(self) -> Path:
        """Every day's ingested partitions."""
        return self.root / "ingested"

    def staged_root(self) -> Path:
        """Every task's staged partitions."""
        return self.root / "staged"

    def quarantine_root(self) -> Path:
        """Every day's quarantine partitions."""
        return self.root / "quarantine"

    def consensus_root(self) -> Path:
        return self.root / "consensus"

    def curated_root(self) -> Path:
        return self.root / "curated"

    def gx_docs(self) -> Path:
        """The GX Data Docs site (``labelq docs``; local roots)."""
        return self.root / "docs" / "gx"

    def staged_task(self, task: str) -> Path:
        return self.staged_root() / task

    def staged_day(self, task: str, day: date) -> Path:
        """Every vendor's staged partition of ``task`` and ``day``."""
        return self.staged_task(task) / f"date={day.isoformat()}"

    def staged(self, task: str, day: date, vendor: str) -> Path:
        return self.staged_day(task, day) / f"vendor={vendor}"

    def quarantine(self, day: date, vendor: str) -> Path:
        return self.quarantine_root() / f"date={day.isoformat()}" / f"vendor={vendor}"

    @staticmethod
    def quarantine_folder(task: str | None = None) -> str:
        """Where a task's quarantined files go inside :meth:`quarantine`: the partition itself, or for
        a vendor whose files feed several tasks ``task=<task>`` (one subfolder per task)."""
        return "" if task is None else f"task={task}"

    def metrics_task(self, task: str) -> Path:
        return self.root / "metrics" / task

    def metrics(self, task: str, day: date) -> Path:
        return self.metrics_task(task) / f"date={day.isoformat()}"

    def scorecards_task(self, task: str) -> Path:
        return self.root / "scorecards" / task

    def scorecards(self, task: str, day: date) -> Path:
        return self.scorecards_task(task) / f"date={day.isoformat()}"

    def consensus_task(self, task: str) -> Path:
        return self.consensus_root() / task

    def consensus(self, task: str, day: date) -> Path:
        return self.consensus_task(task) / f"date={day.isoformat()}"

    def curated(self, task: str) -> Path:
        return self.curated_root() / task

    # -- inside curated/<task>/ (pointers and builds: see pipeline.publish)
    def curated_entry(self, task: str, name: str) -> str:
        """Key of entry ``name`` of the task's curated folder: a build ``<version>.<build>``, a
        ``<version>`` / ``latest`` symlink or a hidden ``.tmp-`` / ``.trash-`` leftover."""
        return (self.curated(task) / name).as_posix()

    @staticmethod
    def build_folder(version: str, build: str) -> str:
        """Name of build ``build`` (12 hex digits) of version ``version`` in the task folder: ``<version>.<build>``."""
        return f"{version}.{build}"

    def build_file(self, task: str, build: str, name: str = MANIFEST) -> str:
        """Key of file ``name`` (a data file or, by default, the manifest) of build ``build``."""
        return (PurePosixPath(self.curated_entry(task, build)) / name).as_posix()

    def version_pointers(self, task: str) -> str:
        return (self.curated(task) / VERSIONS).as_posix()

    def version_pointer(self, task: str, version: str) -> str:
        return self.join(self.version_pointers(task), f"{version}.json")

    def tag_pointers(self, task: str) -> str:
        return (self.curated(task) / TAGS).as_posix()

    def tag_pointer(self, task: str, name: str) -> str:
        return self.join(self.tag_pointers(task), f"{name}.json")

    def latest_pointer(self, task: str) -> str:
        return (self.curated(task) / LATEST).as_posix()

    def publish_lease(self, task: str, build: str) -> str:
        """The lease an object-store publisher puts on ``build`` while it writes it."""
        return self.curated_entry(task, f"{LEASE_PREFIX}{build}.json")

    def publish_lock(self, task: str) -> str:
        return (self.curated(task) / LOCK).as_posix()

    # -- files other stages read
    def ingest_report(self, day: date, vendor: str) -> Path:
        return self.ingested(day, vendor) / INGEST_REPORT

    def validate_report(self, task: str, day: date, vendor: str) -> Path:
        return self.staged(task, day, vendor) / VALIDATE_REPORT

    def metrics_summary(self, task: str, day: date) -> Path:
        return self.metrics(task, day) / METRICS_SUMMARY

    def agreement_table(self, task: str, day: date) -> Path:
        return self.metrics(task, day) / AGREEMENT_TABLE

    def consensus_table(self, task: str, day: date) -> Path:
        return self.consensus(task, day) / CONSENSUS_TABLE

    def relabel_table(self, task: str, day: date) -> Path:
        return self.consensus(task, day) / RELABEL_TABLE

    def merge_report(self, task: str, day: date) -> Path:
        return self.consensus(task, day) / MERGE_REPORT

    def scorecard_table(self, task: str, day: date, name: str) -> Path:
        """A table of the scorecard stage's partition (``scorecard_vendor``, ``confusion`` ...)."""
        return self.scorecards(task, day) / f"{name}.parquet"

    def metrics_table(self, task: str, day: date, name: str) -> Path:
        """A table of the measure stage's partition (``agreement``, ``accuracy_vendor`` ...)."""
        return self.metrics(task, day) / f"{name}.parquet"

    def ledger_vendor(self, vendor: str) -> Path:
        """Every ledger document of ``vendor`` (:mod:`pipeline.ingest.ledger`)."""
        return self.root / "ledger" / f"vendor={vendor}"

    def ledger(self, vendor: str, day: date | str) -> Path:
        """The ledger document of ``vendor`` and ``day`` (written by that day's ingest and validate)."""
        return self.ledger_vendor(vendor) / f"date={day if isinstance(day, str) else day.isoformat()}.json"

    def reports(self) -> Path:
        return self.root / "reports"

    def report(self, task: str, day: date, suffix: str = ".html") -> Path:
        """The report of ``task`` and ``day`` (``.html``) or its JSON twin (``.json``)."""
        return self.reports() / task / f"{day.isoformat()}{suffix}"

    def reports_index(self) -> Path:
        return self.reports() / "index.html"

    def report_of(self, key: str) -> tuple[str, str] | None:
        """``(task, day)`` of a report JSON twin ``reports/<task>/<day>.json``; None for any other key."""
        rel = PurePosixPath(key).relative_to(self.reports().as_posix()) if key.startswith(self.reports().as_posix() + "/") else None
        if rel is None or len(rel.parts) != 2 or rel.suffix != ".json":
            return None
        return rel.parts[0], rel.stem

    def report_href(self, task: str, day: str) -> str:
        """The link from the reports index to the page of ``task`` and ``day`` (relative to :meth:`reports`)."""
        return self.report(task, date.fromisoformat(day)).relative_to(self.reports()).as_posix()

    def pseudonym_key(self) -> Path:
        """The root's own key for annotator pseudonyms (used when ``$LABELQ_PSEUDONYM_KEY`` is unset)."""
        return self.root / "keys" / "pseudonym.key"

    def task_lock(self, task: str) -> Path:
        """Lock file serialising the cumulative stages (merge, publish) of ``task`` on local disk."""
        return self.root / "locks" / f"{task}.lock"

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes (as recorded in data)."""
        return path.absolute().relative_to(self.root.absolute()).as_posix()


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


class PathEscape(ValueError):
    """A name in a landing folder points outside it (``..``, absolute, or a symlink out)."""


def check_member_name(folder: str, name: str) -> None:
    """Raise :class:`PathEscape` unless ``name`` is one plain path component inside ``folder``."""
    bad = (
        not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
        or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name.replace("\\", "/")).parts
    )
    if bad:
        raise PathEscape(f"{folder}/{name}: name escapes the landing folder {folder!r}; rejected")


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

    def fsync(self, key: str) -> None:
        """Flush file or folder ``key`` to disk (best effort; nothing to do on an object store)."""
        if not self.is_local:
            return
        try:
            fd = os.open(self.path(key), os.O_RDONLY)
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
        self.fsync(PurePosixPath(dst).parent.as_posix())

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
