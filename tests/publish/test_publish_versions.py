"""Versioned training sets: columns, splits, manifest, determinism, tags, retention, diff, readers.

Most tests read the session's ``processed`` root (three simulated days through every stage);
tests that publish again work on a copy (``symlinks=True`` keeps the version symlinks).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from datetime import timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline import read_training_set, steps
from pipeline.cli import main
from pipeline.config import ConfigError, parse_config
from pipeline.publish import (
    MANIFEST,
    ChecksumMismatch,
    VersionNotFound,
    asset_uri,
    content_hash,
    list_tags,
    list_versions,
    read_manifest,
    read_training_table,
    tag_version,
    untag,
    version_path,
    write_version,
)
from pipeline.kinds.classification import CURATED
from pipeline.publish.manifest import rounded
from pipeline.publish.splits import SPLITS, assign_splits
from pipeline.storage import Layout, Store, open_store, sha256_file
from pipeline.publish.diff import diff_versions, version_summaries

TASK = "sentiment"


def _copy(src, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(src, root, symlinks=True)
    return root


def _builds(root, *, manifests: bool = True) -> dict[str, dict[str, str]]:
    """``{build folder: {file: sha256}}`` of every build of the task (data files only unless ``manifests``)."""
    base = Layout(root).curated(TASK)
    return {p.name: {f.name: sha256_file(f) for f in sorted(p.iterdir()) if manifests or f.suffix == ".parquet"}
            for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink() and "." in p.name[1:]}


def _reorder_listings(monkeypatch, reorder) -> None:
    """The stages see every listing of committed partition files in ``reorder(files)`` order."""
    listed = Store.committed_files
    monkeypatch.setattr(Store, "committed_files", lambda self, *a, **k: reorder(listed(self, *a, **k)))


def _with_task(config, **changes):
    tasks = {**config.tasks, TASK: config.tasks[TASK].model_copy(update=changes)}
    return config.model_copy(update={"tasks": tasks})


# --------------------------------------------------------------------------- columns and splits
def test_columns_follow_the_curated_schema_with_lineage(processed, days):
    table = read_training_table(processed, TASK)
    assert table.schema.equals(CURATED)
    df = table.to_pandas()
    assert df["item_id"].is_monotonic_increasing and df["item_id"].is_unique
    assert set(df["split"]) == set(SPLITS)
    staged = steps.read_staged(open_store(processed), TASK, until=days[-1])
    expected = (staged["vendor"] + "/" + staged["batch_id"]).groupby(staged["item_id"]).agg(lambda s: sorted(set(s)))
    assert [list(b) for b in df["source_batches"]] == expected.reindex(df["item_id"]).tolist()
    manifest_batches = {b["batch"]: b for b in read_manifest(processed, TASK)["source_batches"]}
    used = {b for batches in df["source_batches"] for b in batches}
    assert used <= set(manifest_batches)
    assert {manifest_batches[b]["status"] for b in used} == {"staged"}


def test_split_is_a_documented_hash_of_item_id_and_never_moves(processed, days, config):
    def by_formula(item_id: str) -> str:  # the rule in pipeline/publish/splits.py, written out
        u = (int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") >> 11) / 2**53
        r = config.tasks[TASK].splits
        return "train" if u < r.train else "validation" if u < r.train + r.validation else "test"

    frames = [read_training_set(processed, TASK, d.isoformat(), columns=["item_id", "split"]) for d in days]
    latest = frames[-1]
    assert latest["split"].tolist() == [by_formula(i) for i in latest["item_id"]]
    for earlier in frames[:-1]:
        both = earlier.merge(latest, on="item_id", suffixes=("_then", "_now"))
        assert len(both) == len(earlier) and (both["split_then"] == both["split_now"]).all()
    share = latest["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.8) < 0.06 and abs(share["test"] - 0.1) < 0.05
    ids = [f"x{i}" for i in range(500)]
    shuffled = random.Random(1).sample(ids, len(ids))
    ratios = {"train": 0.7, "validation": 0.2, "test": 0.1}
    assert dict(zip(ids, assign_splits(ids, ratios))) == dict(zip(shuffled, assign_splits(shuffled, ratios)))
    assert set(assign_splits(ids, {"train": 1.0, "validation": 0.0, "test": 0.0})) == {"train"}
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(ids, {"train": 0.7, "validation": 0.2, "test": 0.2})


def test_config_validates_split_ratios_and_retention():
    base = {"vendors": {"v": {"task": "t", "landing": "landing/v",
                              "columns": {"i": "item_id", "a": "annotator_id", "l": "label"}}}}
    cfg = parse_config({**base, "tasks": {"t": {"labels": ["a", "b"], "splits": {"train": 0.9, "validation": 0.05, "test": 0.05},
                                                 "keep_versions": 5}}})
    assert cfg.tasks["t"].splits.train == 0.9 and cfg.tasks["t"].keep_versions == 5
    with pytest.raises(ConfigError, match=r"tasks\.t\.splits: split ratios must sum to 1, got 0\.9"):
        parse_config({**base, "tasks": {"t": {"labels": ["a", "b"], "splits": {"train": 0.8, "validation": 0.1, "test": 0.0}}}})
    with pytest.raises(ConfigError, match=r"tasks\.t\.splits\.holdout"):
        parse_config({**base, "tasks": {"t": {"labels": ["a", "b"], "splits": {"train": 1.0, "holdout": 0.0}}}})
    with pytest.raises(ConfigError, match=r"tasks\.t\.keep_versions"):
        parse_config({**base, "tasks": {"t": {"labels": ["a", "b"], "keep_versions": 0}}})


# --------------------------------------------------------------------------- manifest
def test_manifest_is_complete_and_checksummed(processed, days, config):
    for day in days:
        folder = version_path(processed, TASK, day.isoformat())
        m = read_manifest(processed, TASK, day.isoformat())
        assert folder.name == f"{day}.{m['build']}" and m["version"] == day.isoformat() and m["task"] == TASK
        assert m["data_interval"] == {"start": days[0].isoformat(), "end": (day + timedelta(days=1)).isoformat()}
        assert m["created_at"] and m["labelq_version"] and m["config_sha256"] == config.digest()
        assert m["consensus"]["method"] == config.tasks[TASK].consensus
        assert m["consensus"]["settings"]["labels"] == config.tasks[TASK].labels
        assert m["consensus"]["min_labels_per_item"] == config.tasks[TASK].min_labels_per_item
        for b in m["source_batches"]:  # every source batch: its file's SHA-256 and validation result
            assert b["sha256"] == sha256_file(processed / b["file"]) and b["status"] in {"staged", "quarantined", "duplicate"}
            assert b["date"] <= day.isoformat()
        assert {(v["vendor"], v["date"]) for v in m["validation"]} == {
            (vendor, d.isoformat()) for vendor in config.vendors_for(TASK) for d in days if d <= day}
        for v in m["validation"]:
            assert v["rows_in"] == v["rows_staged"] + v["rows_quarantined"]
        df = read_training_set(processed, TASK, day.isoformat())
        c = m["counts"]
        assert c["published"] == len(df) == m["rows"] and c["items"] == c["published"] + c["held_out"]
        assert m["splits"]["items"] == {s: int((df["split"] == s).sum()) for s in SPLITS}
        assert m["splits"]["ratios"] == config.tasks[TASK].splits.model_dump()
        assert m["class_balance"] == {k: int((df["label"] == k).sum()) for k in config.tasks[TASK].labels}
        assert sum(sum(x.values()) for x in m["class_balance_by_split"].values()) == len(df)
        summary = json.loads((processed / "metrics" / TASK / f"date={day}" / "summary.json").read_text())
        assert m["quality"] == rounded(summary)  # floats to 12 significant digits
        assert m["files"] and all(f["sha256"] == sha256_file(folder / f["path"]) for f in m["files"])
        assert m["content_sha256"] == content_hash(m["files"])
        assert [(f["name"], f["type"]) for f in m["schema"]] == [(f.name, str(f.type)) for f in CURATED]


# --------------------------------------------------------------------------- readers
def test_each_version_is_a_plain_parquet_dataset(processed, days):
    expected = read_training_set(processed, TASK)
    link = Layout(processed).curated(TASK) / days[-1].isoformat()
    assert link.is_symlink() and (link / MANIFEST).is_file()
    for path in (link, Layout(processed).curated(TASK) / "latest", version_path(processed, TASK)):
        pd.testing.assert_frame_equal(pd.read_parquet(path), expected)
        assert ds.dataset(path, format="parquet").to_table().equals(read_training_table(processed, TASK))
    pl = pytest.importorskip("polars")
    assert pl.read_parquet(str(link / "part-*.parquet"))["item_id"].to_list() == expected["item_id"].tolist()


def test_duckdb_reads_a_version(processed, days):
    duckdb = pytest.importorskip("duckdb")
    link = Layout(processed).curated(TASK) / days[-1].isoformat()
    n = duckdb.sql(f"select count(*) from read_parquet('{link}/part-*.parquet')").fetchall()[0][0]
    assert n == read_manifest(processed, TASK)["rows"]


def test_reader_filters_splits_and_columns(processed, days):
    full = read_training_set(processed, TASK)
    test = read_training_set(processed, TASK, split="test", columns=["item_id", "label"])
    assert list(test.columns) == ["item_id", "label"]
    assert test["item_id"].tolist() == full.loc[full["split"] == "test", "item_id"].tolist()
    rest = read_training_set(processed, TASK, split=["train", "validation"])
    assert len(rest) + len(test) == len(full)
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['holdout'\]; choose from \['train', 'validation', 'test'\]"):
        read_training_set(processed, TASK, split="holdout")
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['labels'\]"):
        read_training_set(processed, TASK, columns=["labels"])
    with pytest.raises(VersionNotFound, match="has no tag 'nope'; tags: none"):
        read_training_set(processed, TASK, version="tag:nope")


def test_multi_file_versions_and_tampering_are_detected(tmp_path):
    table = pa.table({"item_id": [f"i{i:03d}" for i in range(200)], "label": ["a", "b"] * 100, "split": ["train"] * 200})
    folder = write_version(tmp_path, "t", "2026-11-01", table, {"task": "t"}, max_rows_per_file=70)
    assert sorted(p.name for p in folder.glob("*.parquet")) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert read_training_table(tmp_path, "t").equals(table)
    assert pd.read_parquet(tmp_path / "curated" / "t" / "2026-11-01")["item_id"].tolist() == table["item_id"].to_pylist()
    part = folder / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ChecksumMismatch, match="part-00001.parquet: SHA-256 differs"):
        read_training_table(tmp_path, "t")
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / MANIFEST).write_text(json.dumps({**manifest, "content_sha256": "0" * 64}))
    with pytest.raises(ChecksumMismatch, match="content hash differs from its pointer"):
        read_training_table(tmp_path, "t", verify=False)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        write_version(tmp_path, "t", "v2", table, {})


# --------------------------------------------------------------------------- determinism
def test_rerun_keeps_every_version_byte_identical(processed, config, days, tmp_path):
    root = _copy(processed, tmp_path)
    before = _builds(root)
    created = {d: read_manifest(root, TASK, d.isoformat())["created_at"] for d in days}
    steps.run_day(config, open_store(root), days[0])  # a backfill of the first day, every stage
    for d in days[1:]:
        steps.merge(config, open_store(root), d, TASK)
        result = steps.publish(config, open_store(root), d, TASK)
        assert result["content_sha256"] == read_manifest(processed, TASK, d.isoformat())["content_sha256"]
    assert _builds(root) == before, "same inputs: same build folders, same bytes, nothing else"
    assert {d: read_manifest(root, TASK, d.isoformat())["created_at"] for d in days} == created
    assert read_manifest(root, TASK)["version"] == days[-1].isoformat()


def test_same_versions_whatever_order_files_arrived_or_are_listed(simulated, processed, config, days, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(simulated, root, ignore=shutil.ignore_patterns("landing"))
    delivered = sorted((simulated / "landing").rglob("*.parquet"))
    rng = random.Random(3)
    for i, src in enumerate(rng.sample(delivered, len(delivered))):  # arrival order shuffled
        dst = root / src.relative_to(simulated)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        os.utime(dst, (1_800_000_000 - i * 60, 1_800_000_000 - i * 60))
    _reorder_listings(monkeypatch, lambda files: rng.sample(files, len(files)))
    for d in days[:2]:
        steps.run_day(config, open_store(root), d)
    for d in days[:2]:
        ours, theirs = read_manifest(root, TASK, d.isoformat()), read_manifest(processed, TASK, d.isoformat())
        assert ours["content_sha256"] == theirs["content_sha256"]
        assert ours["build"] == theirs["build"], "the whole manifest (but created_at) is reproduced"
        assert version_path(root, TASK, d.isoformat()).name == version_path(processed, TASK, d.isoformat()).name


def test_backfill_in_any_order_reproduces_past_versions(processed, config, days, tmp_path, monkeypatch):
    root = _copy(processed, tmp_path)
    shutil.rmtree(root / "curated")
    shutil.rmtree(root / "consensus")
    _reorder_listings(monkeypatch, lambda files: list(reversed(files)))
    for d in reversed(days):  # newest first: _latest.json must still end on the newest
        steps.merge(config, open_store(root), d, TASK)
        steps.publish(config, open_store(root), d, TASK)
        assert read_manifest(root, TASK)["version"] == days[-1].isoformat()
    assert _builds(root, manifests=False) == _builds(processed, manifests=False)
    for d in days:  # manifests differ only in created_at
        ours, theirs = read_manifest(root, TASK, d.isoformat()), read_manifest(processed, TASK, d.isoformat())
        assert {k: v for k, v in ours.items() if k != "created_at"} == {k: v for k, v in theirs.items() if k != "created_at"}


# --------------------------------------------------------------------------- tags, retention, diff
def _relabel(root, day, n: int) -> list[str]:
    """Flip the consensus label of the first ``n`` kept items of ``day`` (a changed delivery)."""
    path = Layout(root).consensus(TASK, day) / "consensus.parquet"
    cons = pq.read_table(path).to_pandas()
    idx = cons.index[cons["held_out_reason"].isna()][:n]
    cons.loc[idx, "label"] = cons.loc[idx, "label"].map({"negative": "positive", "neutral": "negative", "positive": "neutral"})
    pq.write_table(pa.Table.from_pandas(cons, preserve_index=False), path)
    return cons.loc[idx, "item_id"].tolist()


def test_tags_pin_builds_and_retention_keeps_them(processed, config, days, tmp_path):
    root = _copy(processed, tmp_path)
    d0, d1, d2 = (d.isoformat() for d in days)
    assert main(["tag", TASK, d0, "paper-v1", "--root", str(root), "-q"]) == 0
    pinned = read_training_set(root, TASK, d0)
    assert read_training_set(root, TASK, "tag:paper-v1").equals(pinned)
    assert read_training_set(root, TASK, "paper-v1").equals(pinned)
    with pytest.raises(ValueError, match="already pins version 2026-11-01.*force"):
        tag_version(root, TASK, d1, "paper-v1")
    with pytest.raises(ValueError, match="tag name"):
        tag_version(root, TASK, d1, "2026-bad")

    # keep 1 version: d1 goes, d0 stays (tagged), d2 stays (latest)
    steps.publish(_with_task(config, keep_versions=1), open_store(root), days[2], TASK)
    assert list_versions(root, TASK) == [d0, d2]
    assert not (Layout(root).curated(TASK) / d1).exists()
    assert set(_builds(root)) == {version_path(root, TASK, v).name for v in (d0, d2)}
    with pytest.raises(VersionNotFound, match=r"no version '2026-11-02'; published: \['2026-11-01', '2026-11-03'\]; tags: \['paper-v1'\]"):
        read_training_set(root, TASK, d1)

    # a tagged version re-published with new content: the tag still reads the old build
    tag_version(root, TASK, d2, "frozen")
    frozen = read_training_set(root, TASK, d2)
    changed = _relabel(root, days[2], 7)
    steps.publish(_with_task(config, keep_versions=1), open_store(root), days[2], TASK)
    assert read_training_set(root, TASK, "tag:frozen").equals(frozen)
    now = read_training_set(root, TASK, d2).set_index("item_id")
    assert (now.loc[changed, "label"] != frozen.set_index("item_id").loc[changed, "label"]).all()
    rows = version_summaries(root, TASK)
    assert [(r["version"], r["latest"], r["tags"], r["superseded"]) for r in rows] == [
        (d0, False, ["paper-v1"], False), (d2, True, [], False), (d2, False, ["frozen"], True)]

    diff = diff_versions(root, TASK, "frozen", d2)
    assert diff["change"].tolist() == ["relabelled"] * 7 and sorted(diff["item_id"]) == sorted(changed)

    # untagged builds become prunable
    untag(root, TASK, "paper-v1")
    untag(root, TASK, "frozen")
    with pytest.raises(VersionNotFound, match="no tag 'frozen'"):
        untag(root, TASK, "frozen")
    steps.publish(_with_task(config, keep_versions=1), open_store(root), days[2], TASK)
    assert list_versions(root, TASK) == [d2] and list_tags(root, TASK) == {}
    assert set(_builds(root)) == {version_path(root, TASK, d2).name}


def test_versions_and_diff_commands(processed, days, capsys):
    d0, d2 = days[0].isoformat(), days[-1].isoformat()
    assert main(["versions", TASK, "--root", str(processed), "-q"]) == 0
    out = capsys.readouterr().out
    assert all(d.isoformat() in out for d in days) and "latest" in out and "train" in out
    assert main(["versions", TASK, "--root", str(processed), "--json", "-q"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows] == [d.isoformat() for d in days]
    assert rows[-1]["content_sha256"] == read_manifest(processed, TASK)["content_sha256"]

    a, b = read_training_set(processed, TASK, d0), read_training_set(processed, TASK, d2)
    diff = diff_versions(processed, TASK, d0, "latest")
    added = sorted(set(b["item_id"]) - set(a["item_id"]))
    both = a.merge(b, on="item_id")
    relabelled = sorted(both.loc[both["label_x"] != both["label_y"], "item_id"])
    assert diff.loc[diff["change"] == "added", "item_id"].tolist() == added
    assert diff.loc[diff["change"] == "relabelled", "item_id"].tolist() == relabelled
    assert diff.loc[diff["change"] == "removed", "item_id"].tolist() == sorted(set(a["item_id"]) - set(b["item_id"]))
    assert main(["diff", TASK, d0, "latest", "--root", str(processed), "--limit", "3", "-q"]) == 0
    out = capsys.readouterr().out
    assert f"{d0} ({d0}) -> latest ({d2}): {len(added)} added, 0 removed, {len(relabelled)} relabelled" in out
    assert main(["diff", TASK, d0, "2020-01-01", "--root", str(processed), "-q"]) == 1
    assert "no version '2020-01-01'" in capsys.readouterr().err


def test_asset_uri_is_stable_and_accepted_by_airflow(tmp_path, monkeypatch):
    from pipeline.runtime import curated_asset_uri

    assert asset_uri(tmp_path, TASK) == f"file://{tmp_path}/curated/{TASK}" == curated_asset_uri(tmp_path, TASK)
    assert asset_uri("s3://bucket/labelq/", TASK) == f"s3://bucket/labelq/curated/{TASK}"
    monkeypatch.chdir(tmp_path)
    assert asset_uri("data", TASK) == f"file://{tmp_path}/data/curated/{TASK}"
    sdk = pytest.importorskip("airflow.sdk")
    assert sdk.Asset(asset_uri(tmp_path, TASK)).uri == asset_uri(tmp_path, TASK)
