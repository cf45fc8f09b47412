"""Days processed out of order and concurrently, on local disk and on S3, publish the bytes that
running them in order publishes (split from test_history.py so the two run on different workers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.history import TASK, builds, concurrent_days_2_and_3, stage_out_of_order
from pipeline.cli import main
from pipeline.history import stale_versions
from pipeline.storage import Store


def run_cli(*args: str) -> int:
    return main([*args, "-q"])


@pytest.mark.slow
def test_vendor_stages_in_any_order_publish_the_same_versions(fresh_copy, config, days, in_order, processed):
    stage_out_of_order(config, fresh_copy, days)
    assert builds(fresh_copy) == in_order
    for d in days:  # the same staged partitions, byte for byte
        for vendor in config.vendors_for(TASK):
            part = Path("staged") / TASK / f"date={d}" / f"vendor={vendor}"
            assert {p.name: p.read_bytes() for p in (fresh_copy / part).iterdir()} == \
                {p.name: p.read_bytes() for p in (processed / part).iterdir()}


@pytest.mark.slow
def test_concurrent_runs_on_local_disk_publish_what_runs_in_order_do(fresh_copy, days, in_order):
    assert run_cli("run", "--root", str(fresh_copy), "--date", days[0].isoformat()) == 0
    env = {**os.environ}
    concurrent_days_2_and_3(str(fresh_copy), days, env, in_order)
    assert builds(fresh_copy) == in_order
    assert stale_versions(Store(fresh_copy), TASK) == []


@pytest.fixture(scope="module")
def s3_bucket(s3_server):
    import boto3

    boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1").create_bucket(Bucket="labelq-history")
    return "labelq-history"


def _s3_root(server: str, bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}?endpoint_override={server}&scheme=http"


@pytest.mark.slow
def test_any_vendor_order_and_concurrent_runs_on_s3_publish_what_runs_in_order_on_disk_do(s3_server, s3_bucket,
                                                                                         config, days, in_order):
    # out of order on S3 equal to in order on local disk: the same bytes on S3 as on disk, whatever
    # the order (an in-order run on S3 would be one more instance of the same comparison)
    shuffled = _s3_root(s3_server, s3_bucket, "shuffled")
    assert run_cli("simulate", "--root", shuffled, "--seed", "7", "--days", "3", "--items", "200") == 0
    stage_out_of_order(config, shuffled, days)
    assert builds(shuffled) == in_order

    concurrent = _s3_root(s3_server, s3_bucket, "concurrent")
    assert run_cli("simulate", "--root", concurrent, "--seed", "7", "--days", "3", "--items", "200") == 0
    assert run_cli("run", "--root", concurrent, "--date", days[0].isoformat()) == 0
    concurrent_days_2_and_3(concurrent, days, {**os.environ}, in_order)
    assert builds(concurrent) == in_order
    assert stale_versions(Store(concurrent), TASK) == []
