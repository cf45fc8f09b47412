"""The storage layout, named once: every partition, file and pointer key under a storage root.

Light on purpose (the standard library only), so a DAG file can name a key at parse time; the
files themselves are read and written by :mod:`pipeline.storage.store`.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import VendorConfig

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
_BUILD_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}\.[0-9a-f]{12}$")
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

    def quarantine_day_of(self, key: str) -> str | None:
        """The day of a key inside :meth:`quarantine_root` (``quarantine/date=<D>/...``), else None.

        >>> Layout("").quarantine_day_of("quarantine/date=2026-11-01/vendor=acme/b.parquet.reason.json")
        '2026-11-01'
        """
        root = self.quarantine_root().as_posix() + "/"
        return self.partition_value(key.removeprefix(root).split("/", 1)[0], "date") if key.startswith(root) else None

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

    @staticmethod
    def is_build(name: str) -> bool:
        """Whether ``name`` is a build folder's name (:meth:`build_folder`: ``YYYY-MM-DD.<12 hex>``).

        >>> Layout.is_build("2026-11-03.0123456789ab"), Layout.is_build("latest")
        (True, False)
        """
        return _BUILD_NAME.match(name) is not None

    @staticmethod
    def build_extra(name: str) -> str:
        """File of a kind's extra table ``name`` in a build: ``_<name>.parquet`` (``_``: readers of the
        build's dataset skip it; :func:`pipeline.publish.read_published_table` reads it)."""
        return f"_{name}.parquet"

    @staticmethod
    def build_part(i: int) -> str:
        """Name of data file ``i`` (from 0) of a build: ``part-00000.parquet``, ..."""
        return f"part-{i:05d}.parquet"

    @staticmethod
    def pointer_stem(name: str) -> str | None:
        """The version id or tag that pointer file ``name`` (``<stem>.json``) is for; None for
        other names (hidden files, leftovers)."""
        return name.removesuffix(".json") if name.endswith(".json") and not name.startswith(".") else None

    @staticmethod
    def leased_build(name: str) -> str | None:
        """The build that lease file ``name`` (:meth:`publish_lease`) is on; None for other names."""
        if not (name.startswith(LEASE_PREFIX) and name.endswith(".json")):
            return None
        return name.removeprefix(LEASE_PREFIX).removesuffix(".json")

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

    def consensus_extra(self, task: str, day: date, name: str) -> Path:
        """A kind's extra consensus table ``name`` (e.g. the preference kind's ``response_scores``)."""
        if f"{name}.parquet" in (CONSENSUS_TABLE, RELABEL_TABLE) or "/" in name or not name:
            raise ValueError(f"{name!r} cannot name a kind's consensus table (taken, or not a plain name)")
        return self.consensus(task, day) / f"{name}.parquet"

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
