"""Hostile deliveries: each gives a clear error naming file, column and row, a quarantine
record, and the other batches of the day continue."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers.deliveries import CONFIG, DAY, acme, deliver
from helpers import REPO, TESTS
from pipeline import steps
from pipeline.config import parse_config
from pipeline.publish import read_manifest, read_training_set
from pipeline.storage import PathEscape, check_member_name, open_store

@pytest.fixture(scope="module")
def cfg():
    return parse_config(CONFIG)


def run(cfg, root: Path, vendor: str = "acme", **kw):
    """Ingest + validate; returns (validate summary with batches, {file name: batch entry})."""
    steps.ingest(cfg, open_store(root), DAY, vendor, **kw)
    summary = steps.validate(cfg, open_store(root), DAY, vendor, **kw)
    v, b = reports(root, vendor)
    assert {k: v[k] for k in summary} == summary
    return v, b


def reports(root: Path, vendor: str = "acme"):
    v = json.loads((root / "staged" / "sentiment" / f"date={DAY}" / f"vendor={vendor}" / "_validate.json").read_text())
    return v, {Path(b["file"]).name: b for b in v["batches"]}


def reason(root: Path, name: str, vendor: str = "acme") -> dict:
    return json.loads((root / "quarantine" / f"date={DAY}" / f"vendor={vendor}" / f"{name}.reason.json").read_text())


def staged_rows(root: Path, vendor: str = "acme") -> int:
    part = root / "staged" / "sentiment" / f"date={DAY}" / f"vendor={vendor}"
    return sum(pq.ParquetFile(f).metadata.num_rows for f in part.glob("*.parquet"))


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "data"
    deliver(r, "a-good.parquet", acme(20))
    return r


def _reconciles(v: dict, root: Path, vendor: str = "acme") -> None:
    assert v["rows_in"] == v["rows_staged"] + v["rows_quarantined"]
    assert staged_rows(root, vendor) == v["rows_staged"]


@pytest.mark.parametrize("name, payload, needle", [
    ("z-truncated.parquet", "truncate", "not a readable Parquet file"),
    ("z-zero.parquet", b"", "not a readable Parquet file"),
    ("z-text.parquet", b"item,worker,answer\ni1,w1,POS\n", "not a readable Parquet file"),
])
def test_unreadable_files_are_quarantined_whole_and_others_continue(cfg, root, payload, name, needle):
    good = root / "landing" / "acme" / DAY.isoformat() / "a-good.parquet"
    data = good.read_bytes()[: len(good.read_bytes()) // 2] if payload == "truncate" else payload
    deliver(root, name, data)
    v, b = run(cfg, root)
    assert b["a-good.parquet"]["status"] == "staged" and v["rows_staged"] == 20
    assert b[name]["status"] == "quarantined" and b[name]["reason"] == "unreadable"
    r = reason(root, name)
    assert f"landing/acme/{DAY}/{name}: {needle}" in r["detail"]
    assert (root / "quarantine" / f"date={DAY}" / "vendor=acme" / name).read_bytes() == data
    _reconciles(v, root)


@pytest.mark.parametrize("table, column", [
    (acme(10).rename_columns(["item", "worker_v2", "answer", "ts"]), "worker"),  # renamed
    (acme(10).drop_columns(["answer"]), "answer"),                                 # missing
])
def test_renamed_and_missing_columns_name_file_and_column(cfg, root, table, column):
    deliver(root, "z-drift.parquet", table)
    v, b = run(cfg, root)
    assert b["z-drift.parquet"]["reason"] == "schema_drift" and b["z-drift.parquet"]["rows_quarantined"] == 10
    assert f"landing/acme/{DAY}/z-drift.parquet: missing column(s) ['{column}']" in reason(root, "z-drift.parquet")["detail"]
    assert v["rows_in"] == 30 and v["rows_staged"] == 20
    _reconciles(v, root)


def test_retyped_column_is_schema_drift_and_extra_columns_are_ignored(cfg, root):
    t = acme(10)
    deliver(root, "z-retyped.parquet", t.set_column(2, "answer", pa.array([[1]] * 10)))
    deliver(root, "b-extra.parquet", acme(6, start=100).append_column("note", pa.array(["x"] * 6)))
    v, b = run(cfg, root)
    assert "column 'answer' (-> label) has type list<" in b["z-retyped.parquet"]["detail"]
    assert b["b-extra.parquet"]["status"] == "staged"
    ingest = json.loads((root / "ingested" / f"date={DAY}" / "vendor=acme" / "_ingest.json").read_text())
    assert {f["file"].rsplit("/", 1)[-1]: f["extra_columns"] for f in ingest["files"]}["b-extra.parquet"] == ["note"]
    _reconciles(v, root)


def test_duplicate_rows_quarantine_only_the_repeats_with_row_numbers(cfg, root):
    t = acme(10, start=200)
    deliver(root, "b-dupes.parquet", pa.concat_tables([t, t.slice(0, 3)]))
    v, b = run(cfg, root)
    e = b["b-dupes.parquet"]
    assert (e["status"], e["rows_staged"], e["rows_quarantined"]) == ("staged", 10, 3)
    assert e["row_reasons"] == {"duplicate_in_file": 3}
    assert "column 'item_id, annotator_id': 3 row(s) duplicate_in_file (rows [10, 11, 12])" in e["detail"]
    rows = pq.read_table(root / "quarantine" / f"date={DAY}" / "vendor=acme" / "b-dupes.rows.parquet").to_pandas()
    assert rows["source_row"].tolist() == [10, 11, 12] and set(rows["reason"]) == {"duplicate_in_file"}
    _reconciles(v, root)


def test_unknown_labels_and_unicode_lookalikes_are_row_level(cfg, root):
    labels = ["POS"] * 10
    labels[2], labels[7] = "MAYBE", "P\u041eS"  # Cyrillic capital O: looks like POS
    deliver(root, "b-labels.parquet", acme(10, start=300, answer=labels))
    v, b = run(cfg, root)
    e = b["b-labels.parquet"]
    assert (e["rows_staged"], e["rows_quarantined"], e["row_reasons"]) == (8, 2, {"unknown_label": 2})
    assert "b-labels.parquet: column 'label': 2 row(s) unknown_label (rows [2, 7], values ['MAYBE', 'P\\u041eS'])" in e["detail"]
    r = reason(root, "b-labels.parquet")
    assert r["policy"] == "rows" and r["reason"] == "bad_rows" and r["rows_quarantined"] == 2
    assert r["gx_result"]["success"] is False  # GX gives the verdict; the counts are ours
    staged = pq.read_table(root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / "b-labels.parquet")
    assert set(staged["label"].to_pylist()) == {"positive"}
    _reconciles(v, root)


def test_null_and_empty_annotators_never_show_personal_values(cfg, root):
    workers = [f"secret-{k}" for k in range(10)]
    workers[1], workers[4] = None, "   "
    deliver(root, "b-annot.parquet", acme(10, start=400, worker=workers))
    v, b = run(cfg, root)
    e = b["b-annot.parquet"]
    assert e["row_reasons"] == {"null_annotator_id": 1, "empty_annotator_id": 1}
    assert "column 'annotator_id': 1 row(s) null_annotator_id (rows [1])" in e["detail"]
    r = reason(root, "b-annot.parquet")
    assert "secret-" not in json.dumps(r)  # no unexpected values of personal columns
    gx = json.loads((root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / ".b-annot.validation.json").read_text())
    assert "secret-" not in json.dumps(gx) and gx["success"] is False
    _reconciles(v, root)


def test_naive_timestamps_use_the_vendor_timezone(cfg, tmp_path):
    root = tmp_path / "data"
    t = pa.table({"task_item": ["i1", "i2"], "labeler": ["cr-1", "cr-2"], "score": [1, -1],
                  "created": pa.array([pd.Timestamp("2026-11-01 09:00")] * 2, pa.timestamp("us"))})
    deliver(root, "c.parquet", t, vendor="crowdly")
    v, _ = run(cfg, root, vendor="crowdly")
    staged = pq.read_table(root / "staged" / "sentiment" / f"date={DAY}" / "vendor=crowdly" / "c.parquet")
    assert v["rows_staged"] == 2
    assert staged["annotated_at"][0].as_py() == pd.Timestamp("2026-11-01 14:00", tz="UTC")


def test_invalid_utf8_rows_are_quarantined_naming_column_and_row(cfg, root):
    workers = pa.array([b"w1", b"w\xff\xfe", b"w3", b"w4"], pa.binary())
    t = acme(4, start=500).set_column(1, "worker", workers)
    deliver(root, "b-bytes.parquet", t)
    v, b = run(cfg, root)
    e = b["b-bytes.parquet"]
    assert e["row_reasons"] == {"invalid_utf8": 1} and e["rows_staged"] == 3
    assert "b-bytes.parquet: column '(text)': 1 row(s) invalid_utf8 (rows [1])" in e["detail"]
    _reconciles(v, root)


def test_empty_batch_is_quarantined_whole(cfg, root):
    deliver(root, "z-empty.parquet", acme(1).slice(0, 0))
    v, b = run(cfg, root)
    assert b["z-empty.parquet"]["status"] == "quarantined"
    assert reason(root, "z-empty.parquet")["cause"] == "empty_batch"
    assert v["batches_staged"] == 1 and v["rows_staged"] == 20
    _reconciles(v, root)


def test_files_still_being_written_are_not_read(cfg, root):
    for name in (".x.parquet", "_x.parquet", "x.parquet.part", "x.parquet.tmp", "x.parquet.inprogress"):
        deliver(root, name, b"PAR1 half")
    v, b = run(cfg, root)
    assert set(b) == {"a-good.parquet"} and v["batches_quarantined"] == 0


def test_thousands_of_bad_rows_reconcile_exactly(cfg, root):
    n = 20_000
    labels = np.where(np.arange(n) % 4 == 0, "WRONG", "POS")  # 5000 bad rows: beyond GX's capped lists
    deliver(root, "b-many.parquet", acme(n, start=10_000, answer=labels))
    v, b = run(cfg, root, batch_rows=3000)
    e = b["b-many.parquet"]
    assert (e["rows"], e["rows_staged"], e["rows_quarantined"]) == (n, 15_000, 5_000)
    rows = pq.read_table(root / "quarantine" / f"date={DAY}" / "vendor=acme" / "b-many.rows.parquet")
    assert rows.num_rows == 5_000 and rows["source_row"].to_pylist() == list(range(0, n, 4))
    r = reason(root, "b-many.parquet")
    gx_label = [f for f in r["failures"] if f["reason"] == "unknown_label"][0]
    assert gx_label["unexpected_count"] == 5_000  # summed over the streamed batches
    _reconciles(v, root)


def test_too_many_bad_rows_quarantine_the_whole_file(cfg, root):
    deliver(root, "z-bad.parquet", acme(10, start=600, answer=["??"] * 6 + ["POS"] * 4))
    v, b = run(cfg, root)
    assert b["z-bad.parquet"]["status"] == "quarantined" and b["z-bad.parquet"]["rows_quarantined"] == 10
    r = reason(root, "z-bad.parquet")
    assert r["cause"].startswith("too_many_bad_rows (6/10") and r["row_reasons"] == {"unknown_label": 6}
    assert not (root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / "z-bad.parquet").exists()
    _reconciles(v, root)


def test_names_escaping_the_landing_folder_are_rejected():
    for bad in ("..", "../bluepeak/x.parquet", "/etc/passwd", "a\\..\\b.parquet", "a/b.parquet"):
        with pytest.raises(PathEscape, match="escapes the landing folder"):
            check_member_name("landing/acme/2026-11-01", bad)
    check_member_name("landing/acme/2026-11-01", "ok..parquet")


def test_symlink_to_another_vendor_is_rejected_and_recorded(cfg, root):
    other = deliver(root, "theirs.parquet", acme(5, start=700), vendor="crowdly")
    (root / "landing" / "acme" / DAY.isoformat() / "z-link.parquet").symlink_to(other)
    v, b = run(cfg, root)
    assert b["z-link.parquet"]["reason"] == "path_escape" and "outside the landing folder" in b["z-link.parquet"]["detail"]
    assert not (root / "quarantine" / f"date={DAY}" / "vendor=acme" / "z-link.parquet").exists()  # never copied
    assert reason(root, "z-link.parquet")["original_copied"] is False
    assert v["rows_staged"] == 20


def _invalid_utf8_in(t: pa.Table, column: str, row: int) -> pa.Table:
    """``t`` with the bytes of ``column``'s value at ``row`` made invalid UTF-8 (type still string)."""
    col = t[column].combine_chunks().cast(pa.string())
    validity, offsets, data = col.buffers()
    raw = bytearray(data.to_pybytes())
    start = int(np.frombuffer(offsets, dtype=np.int32)[col.offset + row])
    raw[start] = 0xFF
    bad = pa.Array.from_buffers(pa.string(), len(col), [validity, offsets, pa.py_buffer(bytes(raw))], offset=col.offset)
    return t.set_column(t.column_names.index(column), column, bad)


def _non_utf8_column_name(path: Path) -> None:
    """A Parquet file whose footer names a column with bytes that are not UTF-8."""
    t = pa.table({c: acme(5, start=500)[c] for c in ("item", "worker", "answer", "ts")})  # no pandas metadata
    t = t.append_column("extraQ", pa.array(["x"] * len(t)))  # an extra (unmapped) column
    pq.write_table(t, path, store_schema=False)
    raw = path.read_bytes().replace(b"extraQ", b"extra\xff")  # the schema element and every column chunk's path
    path.write_bytes(raw)


@pytest.mark.parametrize("case", ["null_item_id", "invalid_utf8_item_id", "invalid_utf8_annotator_id",
                                  "duplicate_column_names", "non_utf8_column_name"])
def test_no_vendor_bytes_abort_the_day(cfg, root, case):
    """Each of these aborted the whole run (and every re-run) for every vendor: now the file is
    quarantined (whole or the bad rows) with a reason, and the rest of the day proceeds."""
    name = f"z-{case}.parquet"
    path = root / "landing" / "acme" / DAY.isoformat() / name
    t = acme(10, start=500)
    if case == "null_item_id":
        t = t.set_column(0, "item", pa.array([None if i == 3 else v for i, v in enumerate(t["item"].to_pylist())]))
    elif case == "invalid_utf8_item_id":
        t = _invalid_utf8_in(t, "item", 3)
    elif case == "invalid_utf8_annotator_id":
        t = _invalid_utf8_in(t, "worker", 3)
    elif case == "duplicate_column_names":
        t = pa.Table.from_arrays([*t.columns, t["item"]], names=[*t.column_names, "item"])
    if case == "non_utf8_column_name":
        _non_utf8_column_name(path)
    else:
        pq.write_table(t, path)
    deliver(root, "a-other-vendor.parquet", pa.table({"task_item": ["c1", "c2"], "labeler": ["cr-1", "cr-2"], "score": ["1", "0"],
                                                       "created": pa.array([pd.Timestamp("2026-11-01 09:00")] * 2)}),
            vendor="crowdly")
    v, b = run(cfg, root)
    e = b[name]
    if case in ("null_item_id", "invalid_utf8_item_id", "invalid_utf8_annotator_id"):  # row-level: just that row
        expected = "null_item_id" if case == "null_item_id" else "invalid_utf8"
        assert (e["status"], e["rows_staged"], e["rows_quarantined"], e["row_reasons"]) == ("staged", 9, 1, {expected: 1})
        rows = pq.read_table(root / "quarantine" / f"date={DAY}" / "vendor=acme" / f"z-{case}.rows.parquet")
        assert rows["source_row"].to_pylist() == [3] and rows["reason"].to_pylist() == [expected]
    else:
        assert e["status"] == "quarantined" and e["reason"] in ("schema_drift", "unreadable")
        assert ("appear more than once" if case == "duplicate_column_names" else "not UTF-8") in e["detail"]
        assert reason(root, name)["original_copied"] is True
    assert b["a-good.parquet"]["rows_staged"] == 20
    _reconciles(v, root)
    cv, _ = run(cfg, root, "crowdly")  # the other vendor's day is unaffected
    assert cv["rows_staged"] == 2


def test_a_day_folder_linked_to_another_vendors_folder_is_rejected_whole(cfg, tmp_path):
    """Vendor isolation holds for folders too: acme's day folder is a symlink to crowdly's day
    folder (with files acme's contract would accept): nothing in it is attributed to acme."""
    root = tmp_path / "data"
    theirs = deliver(root, "theirs.parquet", acme(8, start=700), vendor="crowdly").parent
    (root / "landing" / "acme").mkdir(parents=True)
    (root / "landing" / "acme" / DAY.isoformat()).symlink_to(theirs, target_is_directory=True)
    v, b = run(cfg, root)
    day = f"landing/acme/{DAY}"
    assert list(b) == [DAY.isoformat()] and b[DAY.isoformat()]["reason"] == "path_escape"
    assert "outside the vendor's folder 'landing/acme'" in b[DAY.isoformat()]["detail"] and b[DAY.isoformat()]["file"] == day
    assert v["rows_staged"] == 0 and staged_rows(root) == 0


def test_a_vendor_folder_linked_to_another_vendors_folder_is_rejected(cfg, tmp_path):
    root = tmp_path / "data"
    deliver(root, "theirs.parquet", acme(8, start=700), vendor="crowdly")
    (root / "landing" / "acme").symlink_to(root / "landing" / "crowdly", target_is_directory=True)
    v, b = run(cfg, root)
    assert [e["reason"] for e in b.values()] == ["path_escape"] and "the folder of vendor 'crowdly'" in \
        next(iter(b.values()))["detail"]
    assert v["rows_staged"] == 0 and staged_rows(root) == 0


def test_sub_folders_and_other_file_names_in_a_day_folder_are_recorded_not_ignored(cfg, root):
    folder = root / "landing" / "acme" / DAY.isoformat()
    pq.write_table(acme(5, start=300), folder / "UPPER.PARQUET")
    (folder / "nested").mkdir()
    pq.write_table(acme(5, start=400), folder / "nested" / "inner.parquet")
    (folder / "notes.csv").write_text("item,worker\n")
    v, b = run(cfg, root)
    assert {k: e["reason"] for k, e in b.items() if k != "a-good.parquet"} == {
        "UPPER.PARQUET": "not_a_delivery", "nested": "not_a_delivery", "notes.csv": "not_a_delivery"}
    assert "names must end in '.parquet', lower case" in b["UPPER.PARQUET"]["detail"]
    assert "a sub-folder of a day folder is not read" in b["nested"]["detail"]
    assert reason(root, "UPPER.PARQUET")["original_copied"] is True  # kept byte for byte in quarantine
    assert v["rows_staged"] == 20 and v["batches_quarantined"] == 3


def test_struct_and_list_columns_are_flattened_and_rows_claiming_another_vendor_quarantined(cfg, tmp_path):
    root = tmp_path / "data"
    t = pa.table({
        "id": ["i1", "i2", "i3"],
        "meta": pa.array([{"at": "2026-11-01T10:00:00Z"}, {"at": "2026-11-01T11:00:00Z"}, {"at": "2026-11-01T12:00:00Z"}]),
        "answers": pa.array([[{"worker": "n1", "label": "positive"}, {"worker": "n2", "label": "negative"}], [],
                             [{"worker": "n3", "label": "neutral"}]]),
        "shop": ["nested", "Nested", "acme"],
    })
    deliver(root, "n.parquet", t, vendor="nested")
    v, b = run(cfg, root, vendor="nested")
    e = b["n.parquet"]
    # i1 -> 2 rows (two workers), i2 (empty list) -> 1 row kept with nulls, i3 -> 1 row claiming acme
    assert (e["rows"], e["rows_staged"], e["rows_quarantined"]) == (4, 2, 2)
    assert e["row_reasons"] == {"null_annotator_id": 1, "wrong_vendor": 1}
    assert "column 'vendor': 1 row(s) wrong_vendor (rows [2], values ['acme'])" in e["detail"]
    staged = pq.read_table(root / "staged" / "sentiment" / f"date={DAY}" / "vendor=nested" / "n.parquet").to_pandas()
    assert staged[["item_id", "annotator_id", "label"]].values.tolist() == [["i1", "n1", "positive"], ["i1", "n2", "negative"]]
    assert set(staged["vendor"]) == {"nested"}


def test_run_with_quarantined_files_succeeds_for_the_good_ones_and_says_so(cfg, root, caplog):
    deliver(root, "z-text.parquet", b"nope")
    deliver(root, "b-labels.parquet", acme(10, start=800, answer=["POS"] * 9 + ["??"]))
    with caplog.at_level("INFO", logger="labelq"):
        v, _ = run(cfg, root)
    assert (v["batches_staged"], v["batches_partially_quarantined"], v["batches_quarantined"]) == (2, 1, 1)
    assert "2 batch(es) staged (1 with quarantined rows), 1 quarantined; 29 of 30 rows staged" in caplog.text


_PEAKS = """
import json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from helpers.deliveries import CONFIG, DAY, acme
from pipeline import steps
from pipeline.config import parse_config
from pipeline.publish import read_manifest, read_training_set
from pipeline.storage import open_store

cfg, out, pools = parse_config(CONFIG), {}, []
for rows in (200_000, 800_000, 2_000_000):
    root = Path(sys.argv[2]) / str(rows)
    folder = root / "landing" / "acme" / DAY.isoformat()
    folder.mkdir(parents=True)
    with pq.ParquetWriter(folder / "big.parquet", acme(1).schema) as w:
        for s in range(0, rows, 100_000):
            w.write_table(acme(100_000, start=s))
    pools.append(pa.proxy_memory_pool(pa.default_memory_pool()))  # a fresh peak per size, kept alive
    pa.set_memory_pool(pools[-1])
    steps.ingest(cfg, open_store(root), DAY, "acme", batch_rows=50_000)
    v = steps.validate(cfg, open_store(root), DAY, "acme", batch_rows=50_000)
    groups = pq.ParquetFile(root / "ingested" / f"date={DAY}" / "vendor=acme" / "big.parquet").num_row_groups
    out[rows] = [pools[-1].max_memory(), v["rows_staged"], groups]
print(json.dumps(out), flush=True)
os._exit(0)
"""


@pytest.mark.slow
def test_large_file_is_streamed_with_memory_bounded_by_the_batch(tmp_path):
    """Files of 0.2M, 0.8M and 2M rows, read in the same 50k-row batches, are written batch by
    batch, and the peak Arrow memory grows by at most 16 bytes per extra row (the only per-row
    state is the 8-byte duplicate key; a stage holding a whole column of timestamps or ids would
    add 8-40 bytes per row per column). The growth is measured between the two larger files, so a
    constant per-batch allocation (GX's, the writer's) does not count. Measured in a fresh
    process, each size under its own proxy memory pool."""
    res = subprocess.run([sys.executable, "-c", _PEAKS, str(TESTS), str(tmp_path)],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads(res.stdout.strip().splitlines()[-1])
    (small, rows_small, groups_small), (mid, rows_mid, groups_mid), (large, rows_large, groups_large) = (
        m["200000"], m["800000"], m["2000000"])
    assert (rows_small, rows_mid, rows_large, groups_small, groups_mid, groups_large) == (
        200_000, 800_000, 2_000_000, 4, 16, 40)
    per_row = (large - mid) / 1_200_000
    print(f"peak Arrow memory {small} / {mid} / {large} bytes for 0.2M / 0.8M / 2M rows: {per_row:.1f} bytes per extra row")
    assert per_row <= 16, f"peak Arrow memory {small} / {mid} / {large} bytes: {per_row:.1f} bytes per extra row"
    assert large < 3 * small, (small, mid, large)  # 10x the rows, nowhere near 10x the memory


# --------------------------------------------------------------------------- bad re-deliveries never withdraw good data
def _doubled(path: Path) -> pa.Table:
    """The same batch (same batch id) with every row delivered twice."""
    t = pq.read_table(path)
    return pa.concat_tables([t, t])


@pytest.mark.slow
@pytest.mark.parametrize("when", ["same_day", "next_day"])
def test_doubled_redelivery_of_an_accepted_batch_leaves_the_published_set_unchanged(config, simulated, tmp_path, when):
    """A re-delivery of an accepted batch id that fails validation (every row doubled: too many
    duplicate_in_file rows) is quarantined whole, names the delivery it tried to replace, and
    withdraws nothing: the published training set is the same as without it."""
    import shutil

    days = [DAY, DAY + timedelta(days=1)]
    roots = {}
    for kind in ("clean", "hostile"):
        root = tmp_path / kind
        shutil.copytree(simulated, root)
        original = sorted((root / "landing" / "acme" / DAY.isoformat()).glob("*.parquet"))[0]
        if kind == "hostile":
            target = days[0] if when == "same_day" else days[1]
            folder = root / "landing" / "acme" / target.isoformat()
            pq.write_table(_doubled(original), folder / f"{original.stem}.redelivered.parquet")
        for d in days:
            steps.run_day(config, open_store(root), d)
        roots[kind] = root
    target = days[0] if when == "same_day" else days[1]
    rec = json.loads((roots["hostile"] / "quarantine" / f"date={target}" / "vendor=acme"
                      / f"{original.stem}.redelivered.parquet.reason.json").read_text())
    assert rec["cause"].startswith("too_many_bad_rows") and rec["row_reasons"] == {"duplicate_in_file": rec["rows"] // 2}
    assert [r["file"] for r in rec["tried_to_supersede"]] == [f"landing/acme/{DAY}/{original.name}"]
    for d in days:
        clean = read_manifest(roots["clean"], "sentiment", d.isoformat())
        hostile = read_manifest(roots["hostile"], "sentiment", d.isoformat())
        assert hostile["content_sha256"] == clean["content_sha256"], d  # the same training-set bytes
        assert hostile["counts"]["published"] == clean["counts"]["published"]
        batches = {b["file"]: b for b in hostile["source_batches"]}
        assert batches[f"landing/acme/{DAY}/{original.name}"]["resolution"] == "used"
        if d >= target:
            bad = batches[f"landing/acme/{target}/{original.stem}.redelivered.parquet"]
            assert bad["status"] == "quarantined" and bad["resolution"] == "quarantined"
    assert read_training_set(roots["hostile"], "sentiment").equals(read_training_set(roots["clean"], "sentiment"))


# --------------------------------------------------------------------------- vendor strings are bounded and escaped
def test_a_10_mb_label_is_quarantined_as_a_row_and_quoted_clipped(cfg, root):
    huge = "X" * 10_000_000
    t = acme(10, start=600)
    t = t.set_column(2, "answer", pa.array([huge if i == 4 else v for i, v in enumerate(t["answer"].to_pylist())]))
    deliver(root, "z-huge.parquet", t)
    v, b = run(cfg, root)
    assert b["z-huge.parquet"]["row_reasons"] == {"unknown_label": 1} and b["z-huge.parquet"]["rows_staged"] == 9
    q = root / "quarantine" / f"date={DAY}" / "vendor=acme"
    assert (q / "z-huge.parquet.reason.json").stat().st_size < 200_000
    assert (root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / "_validate.json").stat().st_size < 200_000
    assert "(10000002 chars)" in b["z-huge.parquet"]["detail"]  # clipped, with its length (ascii() adds the quotes)


def test_file_names_with_newlines_cannot_forge_log_lines(cfg, root, caplog):
    deliver(root, "z-evil\nINFO labelq all good.parquet", b"not parquet")
    with caplog.at_level("WARNING", logger="labelq"):
        run(cfg, root)
    messages = [r.getMessage() for r in caplog.records if r.name == "labelq"]
    assert any("z-evil\\nINFO labelq all good.parquet" in m for m in messages)
    assert not any("\n" in m for m in messages)


# --------------------------------------------------------------------------- annotators are namespaced by vendor
def test_two_vendors_using_the_same_annotator_id_are_two_annotators(cfg, tmp_path):
    """acme's and crowdly's annotators share ids (cr-1, cr-2) on the same items: measure used to
    crash ("pair(s) have more than one label"); an annotator is (vendor, annotator id)."""
    root = tmp_path / "data"
    items = [f"i{k}" for k in range(12)]
    deliver(root, "a.parquet", pa.table({
        "item": items * 2, "worker": ["cr-1"] * 12 + ["cr-2"] * 12, "answer": ["POS", "NEG", "NEU"] * 8,
        "ts": pa.array([pd.Timestamp("2026-11-01 12:00", tz="UTC")] * 24)}))
    deliver(root, "c.parquet", pa.table({
        "task_item": items * 2, "labeler": ["cr-1"] * 12 + ["cr-2"] * 12, "score": ["1", "-1", "0"] * 8,
        "created": pa.array([pd.Timestamp("2026-11-01 09:00")] * 24)}), vendor="crowdly")
    out = steps.run_day(cfg, open_store(root), DAY)
    m = out["tasks"]["sentiment"]
    assert m["merge"]["items"] == 12 and m["measure"]["labels"] == 48
    cons = pq.read_table(root / "consensus" / "sentiment" / f"date={DAY}" / "consensus.parquet").to_pandas()
    assert (cons["n_annotations"] == 4).all() and (cons["agreement"] == 1.0).all()
    pairs = pq.read_table(root / "metrics" / "sentiment" / f"date={DAY}" / "kappa_annotators.parquet").to_pandas()
    raters = set(pairs["annotator_a"]) | set(pairs["annotator_b"])
    assert raters == {"acme/cr-1", "acme/cr-2", "crowdly/cr-1", "crowdly/cr-2"}
    agreement = pq.read_table(root / "metrics" / "sentiment" / f"date={DAY}" / "agreement.parquet").to_pandas()
    overall = agreement[agreement["scope"] == "overall"].set_index("metric")["value"]
    assert overall["percent_agreement"] == pytest.approx(1.0)


FUZZ = TESTS / "data" / "fuzz"
FUZZ_CORPORA = [FUZZ / "arrow-testing" / "data" / "parquet" / "fuzzing", FUZZ / "parquet-testing" / "bad_data"]


def test_the_arrow_and_parquet_fuzz_corpora_never_stop_a_day(cfg, root):
    """Every file of apache/arrow-testing's Parquet fuzzing corpus and apache/parquet-testing's
    bad_data (tests/data/fuzz/README.md), delivered in one day next to good files: the day runs,
    each file is recorded (staged, or quarantined with a reason and its original kept), every row
    read is accounted for, and the good files and the other vendor are staged in full."""
    files = sorted(p for corpus in FUZZ_CORPORA for p in corpus.iterdir() if p.name not in ("README.md",))
    assert len(files) >= 140, f"fuzz corpora incomplete under {FUZZ}: {len(files)} files"
    names = {}
    for p in files:
        name = f"fz-{p.parent.name}-{p.stem}.parquet"
        names[name] = deliver(root, name, p.read_bytes())
    deliver(root, "a-other-vendor.parquet", pa.table({"task_item": ["c1", "c2"], "labeler": ["cr-1", "cr-2"], "score": ["1", "0"],
                                                       "created": pa.array([pd.Timestamp("2026-11-01 09:00")] * 2)}),
            vendor="crowdly")
    v, b = run(cfg, root)
    assert set(names) <= set(b), f"fuzz files not recorded: {sorted(set(names) - set(b))[:5]}"
    quarantine = root / "quarantine" / f"date={DAY}" / "vendor=acme"
    for name in names:
        e = b[name]
        assert e["status"] in ("staged", "quarantined"), (name, e)
        assert e["rows"] is None or e["rows"] >= 0, (name, e)  # a footer's row count is checked, not trusted
        assert e["rows_staged"] + e["rows_quarantined"] == (e["rows"] or 0), (name, e)
        if e["status"] == "quarantined":
            assert e["reason"] and e["detail"], (name, e)
            assert (quarantine / name).read_bytes() == names[name].read_bytes(), name
            assert reason(root, name)["reason"] == e["reason"]
    from collections import Counter

    print(f"{len(names)} fuzz files:", dict(Counter((b[n]["status"], b[n]["reason"]) for n in names)))
    assert b["a-good.parquet"]["status"] == "staged" and b["a-good.parquet"]["rows_staged"] == 20
    assert v["rows_quarantined"] >= 0 and v["unreadable_files"] == sum(b[n]["rows"] is None for n in names)
    _reconciles(v, root)
    cv, _ = run(cfg, root, "crowdly")
    assert cv["rows_staged"] == 2


def _quarantined_rows(root: Path, name: str) -> pa.Table:
    return pq.read_table(root / "quarantine" / f"date={DAY}" / "vendor=acme" / name.replace(".parquet", ".rows.parquet"))


def test_a_file_corrupt_after_its_footer_counts_its_rows_as_quarantined(cfg, root):
    """Rows of a file whose pages are corrupt were missing from both sides of
    rows in = staged + quarantined (rows=None): the footer's row count is recorded."""
    path = deliver(root, "z-corrupt-pages.parquet", acme(30, start=100))
    raw = bytearray(path.read_bytes())
    raw[4:60] = b"\xff" * 56  # the first page header of the first column chunk
    path.write_bytes(bytes(raw))
    v, b = run(cfg, root)
    e = b["z-corrupt-pages.parquet"]
    assert (e["status"], e["reason"], e["rows"], e["rows_quarantined"]) == ("quarantined", "unreadable", 30, 30), e
    assert "corrupt data" in e["detail"] and v["rows_in"] == 50 and v["unreadable_files"] == 0
    assert reason(root, "z-corrupt-pages.parquet")["rows"] == 30
    _reconciles(v, root)


def test_text_timestamps_may_mix_offsets_and_a_bad_one_quarantines_only_its_row(cfg, root):
    """One value with another offset (or not a timestamp at all) quarantined the whole file
    ("Mixed timezones detected"); now each value keeps its own offset, naive values are in the
    vendor's zone, and only a value that is not a timestamp is quarantined (invalid_timestamp)."""
    ts = ["2026-11-01T12:00:00+02:00", "2026-11-01T12:00:00-05:00", "2026-11-01 12:00", "2026-11-01T12:00Z",
          "not a time", "2026-11-01T12:00:00.250+05:30"]
    deliver(root, "z-offsets.parquet", acme(6, start=200, ts=ts))
    v, b = run(cfg, root)
    e = b["z-offsets.parquet"]
    assert (e["status"], e["rows_staged"], e["row_reasons"]) == ("staged", 5, {"invalid_timestamp": 1}), e
    assert "column 'annotated_at'" in e["detail"] and "rows [4]" in e["detail"]
    staged = pq.read_table(root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / "z-offsets.parquet")
    got = [t.isoformat() for t in staged["annotated_at"].to_pylist()]
    assert got == ["2026-11-01T10:00:00+00:00", "2026-11-01T17:00:00+00:00", "2026-11-01T12:00:00+00:00",
                   "2026-11-01T12:00:00+00:00", "2026-11-01T06:30:00.250000+00:00"]  # acme's zone is UTC
    bad = _quarantined_rows(root, "z-offsets.parquet")
    assert bad["source_row"].to_pylist() == [4] and bad["reason"].to_pylist() == ["invalid_timestamp"]
    _reconciles(v, root)


def test_implausible_timestamps_are_quarantined_per_row(cfg, root):
    """Year 9999 and epoch-zero placeholders, and labels dated after their delivery (beyond a
    day of grace), were staged without a word: each such row is quarantined
    (implausible_annotated_at); a label from the evening before in another zone is kept."""
    ts = pa.array([pd.Timestamp(t, tz="UTC") for t in ("2026-11-01 12:00", "9999-12-31 00:00", "1970-01-01 00:00",
                                                       "2026-11-02 23:59", "2026-11-03 00:00:01", "2026-10-31 20:00")],
                  pa.timestamp("us", tz="UTC"))
    t = acme(6, start=300)
    deliver(root, "z-implausible.parquet", t.set_column(t.column_names.index("ts"), "ts", ts))
    v, b = run(cfg, root)
    e = b["z-implausible.parquet"]
    assert (e["status"], e["rows_staged"], e["row_reasons"]) == ("staged", 3, {"implausible_annotated_at": 3}), e
    assert _quarantined_rows(root, "z-implausible.parquet")["source_row"].to_pylist() == [1, 2, 4]
    _reconciles(v, root)


def test_int96_timestamps_beyond_2262_are_read_not_wrapped(cfg, root):
    """Legacy INT96 timestamps were read as nanoseconds: year 3000 silently became 1830-11-23.
    Read as microseconds it is year 3000, and implausible; a 2026 value stays exact."""
    import datetime as dt

    t = acme(2, start=400)
    t = t.set_column(t.column_names.index("ts"), "ts", pa.array([dt.datetime(2026, 11, 1, 9, 30), dt.datetime(3000, 1, 1)],
                                                               pa.timestamp("us")))
    path = root / "landing" / "acme" / DAY.isoformat() / "z-int96.parquet"
    pq.write_table(t, path, use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(path).schema.column(3).physical_type == "INT96"
    v, b = run(cfg, root)
    e = b["z-int96.parquet"]
    assert (e["status"], e["rows_staged"], e["row_reasons"]) == ("staged", 1, {"implausible_annotated_at": 1}), e
    staged = pq.read_table(root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme" / "z-int96.parquet")
    assert [x.isoformat() for x in staged["annotated_at"].to_pylist()] == ["2026-11-01T09:30:00+00:00"]
    _reconciles(v, root)


def test_integer_item_ids_are_decimal_text(cfg, root):
    """The documented policy: integer ids are accepted and written as decimal text, whatever their width."""
    deliver(root, "z-int-ids.parquet", acme(4, start=600, item=pa.array([7, 7, 12, 900_000_000_000], pa.int64())))
    deliver(root, "z-int32-ids.parquet", acme(2, start=700, item=pa.array([7, 12], pa.int32())))
    deliver(root, "z-float-ids.parquet", acme(2, start=800, item=pa.array([7.0, 12.5], pa.float64())))
    v, b = run(cfg, root)
    assert (b["z-float-ids.parquet"]["status"], b["z-float-ids.parquet"]["reason"]) == ("quarantined", "schema_drift")
    assert b["z-int-ids.parquet"]["rows_staged"] == 4
    part = root / "staged" / "sentiment" / f"date={DAY}" / "vendor=acme"
    assert pq.read_table(part / "z-int-ids.parquet")["item_id"].to_pylist() == ["7", "7", "12", "900000000000"]
    # int32 7 is the same item as int64 7: worker w0's second label of item 7 is a duplicate
    e = b["z-int32-ids.parquet"]
    assert (e["rows_staged"], e["row_reasons"]) == (1, {"duplicate_staged": 1}), e
    assert pq.read_table(part / "z-int32-ids.parquet")["item_id"].to_pylist() == ["12"]
    _reconciles(v, root)
