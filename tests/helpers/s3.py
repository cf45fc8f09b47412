"""The test bucket of the ``s3`` fixture (conftest) and ways to put and list its objects."""

from __future__ import annotations

import io

import pyarrow.parquet as pq

BUCKET = "labelq-test"


def put_table(client, key: str, table) -> bytes:
    """PUT ``table`` as Parquet at ``key`` of :data:`BUCKET`; returns the bytes."""
    buf = io.BytesIO()
    pq.write_table(table, buf)
    client.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    return buf.getvalue()


def bucket_objects(client) -> dict[str, bytes]:
    """Every object of :data:`BUCKET`: key -> bytes."""
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out
