"""Landing and the ingest/validate outputs on ``s3://``, through pyarrow's S3FileSystem, against a
real S3 protocol server on loopback (moto in server mode), not mocked functions."""

from __future__ import annotations

import io
import json
from datetime import date

import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import parse_config
from pipeline.storage import Store, open_store
from helpers.deliveries import CONFIG, acme
from helpers.s3 import BUCKET, bucket_objects, put_table

DAY = date(2026, 11, 1)
def test_ingest_and_validate_on_s3(s3, s3_server):
    cfg = parse_config(CONFIG)
    root = f"s3://{BUCKET}/data?endpoint_override={s3_server}&scheme=http"
    land = f"data/landing/acme/{DAY}"
    put_table(s3, f"{land}/a-good.parquet", acme(20))
    labels = ["POS"] * 10
    labels[3] = "MAYBE"
    put_table(s3, f"{land}/b-rows.parquet", acme(10, start=100, answer=labels))
    s3.put_object(Bucket=BUCKET, Key=f"{land}/c-broken.parquet", Body=b"not parquet")
    s3.put_object(Bucket=BUCKET, Key=f"{land}/d-partial.parquet.part", Body=b"PAR1")

    ing = steps.ingest(cfg, open_store(root), DAY, "acme")
    val = steps.validate(cfg, open_store(root), DAY, "acme")
    assert (ing["files_ingested"], ing["files_rejected"]) == (2, 1)
    assert (val["rows_in"], val["rows_staged"], val["rows_quarantined"]) == (30, 29, 1)  # the unreadable file has no rows
    objects = bucket_objects(s3)
    staged = f"data/staged/sentiment/date={DAY}/vendor=acme"
    quarantine = f"data/quarantine/date={DAY}/vendor=acme"
    assert {f"{staged}/a-good.parquet", f"{staged}/b-rows.parquet", f"{staged}/_validate.json",
            f"{quarantine}/b-rows.rows.parquet", f"{quarantine}/c-broken.parquet",
            f"{quarantine}/c-broken.parquet.reason.json", f"data/ledger/vendor=acme/date={DAY}.json"} <= set(objects)
    assert objects[f"{quarantine}/c-broken.parquet"] == b"not parquet"  # byte for byte
    assert pq.read_table(io.BytesIO(objects[f"{staged}/b-rows.parquet"])).num_rows == 9
    assert json.loads(objects[f"{quarantine}/c-broken.parquet.reason.json"])["reason"] == "unreadable"
    assert not any(".tmp-" in k for k in objects)  # temporaries cleaned up

    # a re-run overwrites (no appends, no stale objects) and reproduces the same bytes
    steps.ingest(cfg, open_store(root), DAY, "acme")
    steps.validate(cfg, open_store(root), DAY, "acme")
    assert bucket_objects(s3) == objects

    # the Store reads what it wrote
    store = Store(root)
    assert not store.is_local and store.read_json(f"staged/sentiment/date={DAY}/vendor=acme/_validate.json")["rows_in"] == 30
