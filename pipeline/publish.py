"""Publish: versioned curated training sets and the reader ML teams use.

A version is ``curated/<task>/<version>/`` holding ``part-0.parquet`` and ``_manifest.json``
(the version id is the last day of the data interval it covers, ``YYYY-MM-DD``). The
directory is built aside and swapped in whole; ``_latest.json`` names the newest version
and is replaced atomically. Readers trust only versions that have a manifest, and
:func:`read_training_set` checks every data file against the manifest's SHA-256.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.storage import Layout, atomic_write_json, read_json, replace_dir, sha256_file, write_parquet

MANIFEST = "_manifest.json"
LATEST = "_latest.json"


class VersionNotFound(LookupError):
    """The requested training-set version does not exist (the message lists those that do)."""


class ChecksumMismatch(RuntimeError):
    """A published data file no longer matches the SHA-256 in its manifest."""


def list_versions(root: str | os.PathLike[str], task: str) -> list[str]:
    """Published (manifested) versions of ``task``, oldest first."""
    base = Layout(root).curated(task)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())


def write_version(root: Path, task: str, version: str, table: pa.Table, manifest: dict[str, Any]) -> Path:
    """Write ``table`` as version ``version`` of ``task`` with ``manifest``; returns its folder.

    Re-publishing a version replaces it whole. ``_latest.json`` always names the newest
    version, so backfilling an old day does not move readers backwards.
    """
    layout = Layout(root)
    dest = layout.curated(task) / version
    with replace_dir(dest) as tmp:
        part = tmp / "part-0.parquet"
        write_parquet(table, part)
        files = [{"path": part.name, "sha256": sha256_file(part), "rows": table.num_rows, "bytes": part.stat().st_size}]
        atomic_write_json(tmp / MANIFEST, {**manifest, "version": version, "files": files})
    latest = max(list_versions(root, task))
    atomic_write_json(layout.curated(task) / LATEST, {"version": latest})
    return dest


def resolve_version(root: str | os.PathLike[str], task: str, version: str = "latest") -> str:
    versions = list_versions(root, task)
    if version == "latest":
        pointer = Layout(root).curated(task) / LATEST
        if pointer.is_file():
            version = read_json(pointer)["version"]
        elif versions:
            version = versions[-1]
        else:
            raise VersionNotFound(f"task {task!r} has no published training set under {Path(root) / 'curated' / task}")
    if version not in versions:
        raise VersionNotFound(f"task {task!r} has no version {version!r}; published: {versions or 'none'}")
    return version


def read_manifest(root: str | os.PathLike[str], task: str, version: str = "latest") -> dict[str, Any]:
    v = resolve_version(root, task, version)
    return read_json(Layout(root).curated(task) / v / MANIFEST)


def read_training_set(
    root: str | os.PathLike[str], task: str, version: str = "latest", *, columns: list[str] | None = None, verify: bool = True
) -> pd.DataFrame:
    """The published training set of ``task`` as a DataFrame, one row per item.

    Columns: item_id, label, confidence, n_annotations, agreement, vendors. ``version`` is
    ``"latest"`` or a version id (``YYYY-MM-DD``). With ``verify`` (default), each data file
    is checked against the manifest's SHA-256 first.
    """
    v = resolve_version(root, task, version)
    folder = Layout(root).curated(task) / v
    manifest = read_json(folder / MANIFEST)
    paths = []
    for f in manifest["files"]:
        path = folder / f["path"]
        if verify and sha256_file(path) != f["sha256"]:
            raise ChecksumMismatch(f"{path}: SHA-256 differs from {folder / MANIFEST}; the version was modified after publishing")
        paths.append(path)
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in paths]).to_pandas()
