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

Two modules: :mod:`~pipeline.storage.layout` names every key (standard library only, so DAG files
may use it at parse time) and :mod:`~pipeline.storage.store` reads and writes them (pyarrow). This
package re-exports both; the second is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.storage.layout import (
    AGREEMENT_TABLE,
    BUILD_LEASE,
    BUILD_LEASE_SECONDS,
    CONSENSUS_TABLE,
    INGEST_REPORT,
    LATEST,
    LATEST_LINK,
    LEASE_PREFIX,
    LEFTOVERS,
    LOCK,
    MANIFEST,
    MERGE_REPORT,
    METRICS_SUMMARY,
    REASON_SUFFIX,
    RELABEL_TABLE,
    ROOT_FOLDERS,
    SWAPS,
    TAGS,
    VALIDATE_REPORT,
    VALIDATION_SUFFIX,
    VERSIONS,
    Build,
    Layout,
    PathEscape,
    check_member_name,
)

if TYPE_CHECKING:
    from pipeline.storage.store import (
        INCOMPLETE_PREFIXES,
        INCOMPLETE_SUFFIXES,
        PARQUET_OPTIONS,
        Root,
        Store,
        atomic_write_bytes,
        atomic_write_json,
        in_background,
        open_store,
        read_json,
        replace_dir,
        sha256_file,
        write_parquet,
    )

#: What :mod:`pipeline.storage.store` provides (imported on first use: it needs pyarrow).
_STORE = frozenset({'INCOMPLETE_PREFIXES', 'INCOMPLETE_SUFFIXES', 'PARQUET_OPTIONS', 'Root', 'Store', 'atomic_write_bytes', 'atomic_write_json', 'in_background', 'open_store', 'read_json', 'replace_dir', 'sha256_file', 'write_parquet'})


def __getattr__(name: str) -> Any:
    if name in _STORE:
        from pipeline.storage import store

        return getattr(store, name)
    raise AttributeError(f"module 'pipeline.storage' has no attribute {name!r}")


__all__ = sorted(['AGREEMENT_TABLE', 'BUILD_LEASE', 'BUILD_LEASE_SECONDS', 'CONSENSUS_TABLE', 'INGEST_REPORT', 'LATEST', 'LATEST_LINK', 'LEASE_PREFIX', 'LEFTOVERS', 'LOCK', 'MANIFEST', 'MERGE_REPORT', 'METRICS_SUMMARY', 'REASON_SUFFIX', 'RELABEL_TABLE', 'ROOT_FOLDERS', 'SWAPS', 'TAGS', 'VALIDATE_REPORT', 'VALIDATION_SUFFIX', 'VERSIONS', 'Build', 'Layout', 'PathEscape', 'check_member_name'] + list(_STORE))
