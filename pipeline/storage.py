"""The only module that touches files: the data layout and atomic writes.

Layout under the storage root (``--root`` / ``$LABELQ_ROOT``, default ``./data``)::

    landing/<vendor>/<YYYY-MM-DD>/<batch>.parquet     vendor deliveries (read only)
    gold/<task>.parquet                              items with known labels
    ingested/date=<D>/vendor=<vendor>/               canonical, not yet validated (ingest)
    staged/<task>/date=<D>/vendor=<vendor>/          validated canonical rows (validate)
    quarantine/date=<D>/vendor=<vendor>/             rejected files and rows + reasons (validate)
    metrics/<task>/date=<D>/                         agreement and accuracy (measure)
    consensus/<task>/date=<D>/                       merged labels and held-out items (merge)
    curated/<task>/<version>/                        published training sets (publish)

Every stage owns its partitions and replaces them whole: a re-run overwrites, never appends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import VendorConfig

#: Parquet writer settings fixed so the same table always gives the same bytes.
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True, "use_dictionary": True}


class Layout:
    """Paths of every partition under one storage root."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def landing(self, vendor: VendorConfig, day: date) -> Path:
        return self.root / vendor.landing / day.isoformat()

    def gold(self, task: str) -> Path:
        return self.root / "gold" / f"{task}.parquet"

    def ingested(self, day: date, vendor: str) -> Path:
        return self.root / "ingested" / f"date={day.isoformat()}" / f"vendor={vendor}"

    def staged_task(self, task: str) -> Path:
        return self.root / "staged" / task

    def staged(self, task: str, day: date, vendor: str) -> Path:
        return self.staged_task(task) / f"date={day.isoformat()}" / f"vendor={vendor}"

    def quarantine(self, day: date, vendor: str) -> Path:
        return self.root / "quarantine" / f"date={day.isoformat()}" / f"vendor={vendor}"

    def metrics(self, task: str, day: date) -> Path:
        return self.root / "metrics" / task / f"date={day.isoformat()}"

    def consensus(self, task: str, day: date) -> Path:
        return self.root / "consensus" / task / f"date={day.isoformat()}"

    def curated(self, task: str) -> Path:
        return self.root / "curated" / task

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, with forward slashes (as recorded in data)."""
        return path.absolute().relative_to(self.root.absolute()).as_posix()


def _tmp_sibling(path: Path, tag: str = "tmp") -> Path:
    return path.with_name(f".{tag}-{path.name}-{uuid.uuid4().hex[:12]}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` atomically with the fixed :data:`PARQUET_OPTIONS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    pq.write_table(table, tmp, **PARQUET_OPTIONS)
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@contextlib.contextmanager
def replace_dir(dest: Path) -> Iterator[Path]:
    """Build a directory in a temporary sibling and swap it in place of ``dest`` on success.

    If the body raises, ``dest`` is left exactly as it was and the temporary is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(dest)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = _tmp_sibling(dest, "old")
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def list_complete_files(folder: Path, suffix: str = ".parquet") -> list[Path]:
    """Delivered files in ``folder``, sorted by name.

    Files still being written are skipped by convention: names starting with ``.`` or ``_``
    and names ending in ``.tmp``, ``.part`` or ``.inprogress`` are not complete deliveries.
    """
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith((".", "_")):
            continue
        if p.name.endswith((".tmp", ".part", ".inprogress")):
            continue
        if p.suffix == suffix:
            out.append(p)
    return out


def read_parquet_files(files: list[Path], schema: pa.Schema) -> pa.Table:
    """Concatenate parquet ``files`` that share ``schema`` (an empty table if there are none)."""
    if not files:
        return schema.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=schema) for f in files])


def partition_files(base: Path, pattern: str = "**/*.parquet") -> list[Path]:
    """All committed parquet files under ``base`` (temporary siblings are skipped)."""
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob(pattern) if not any(part.startswith(".") for part in p.relative_to(base).parts))
