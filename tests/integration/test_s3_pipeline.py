"""The whole pipeline with its storage root on ``s3://``: landing, every stage's outputs, the
published training sets, the report and the CLI, against a real S3 protocol server on loopback
(moto in server mode), compared with the same run on a local folder."""

from __future__ import annotations

import io
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import pipeline
from pipeline.cli import main
from pipeline.publish import list_versions, read_manifest
from pipeline.score.scorecard import read_metrics_history
from helpers.s3 import BUCKET, bucket_objects

pytestmark = pytest.mark.slow  # every test runs the stages against a real S3 server

DAYS = ["2026-11-01", "2026-11-02"]
SIM = ["--seed", "3", "--days", "2", "--items", "80", "--start", DAYS[0], "-q"]


@pytest.fixture(scope="module")
def s3(s3_server):
    """A boto3 client of this module's S3 server with :data:`helpers.s3.BUCKET` created (one bucket
    for the module: both tests read the same two runs)."""
    import boto3

    client = boto3.client("s3", endpoint_url=f"http://{s3_server}", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The working directory of the module's runs: anything an object-store root wrongly wrote as
    local files would land here."""
    path = tmp_path_factory.mktemp("s3_pipeline")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(path)
        yield path


@pytest.fixture(scope="module")
def roots(s3, s3_server, workdir):
    """The same simulation and two-day run on an s3:// root and on a local root (run from
    ``workdir``), once for the module: the tests below only read them, or add a tag and rewrite
    a report that the other test does not look at."""
    remote = f"s3://{BUCKET}/labelq?endpoint_override={s3_server}&scheme=http"
    local = workdir / "data"
    for root in (remote, str(local)):
        assert main(["simulate", "--root", root, *SIM]) == 0
        assert main(["run", "--root", root, "--date", DAYS[0], "--days", "2", "-q"]) == 0
    return remote, local


def _local_files(local) -> dict[str, bytes]:
    return {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file() and not p.is_symlink()}


def test_every_stage_writes_to_the_object_store(roots, s3, workdir, capsys):
    remote, local = roots
    capsys.readouterr()
    objects = {k.removeprefix("labelq/"): v for k, v in bucket_objects(s3).items()}
    for prefix in ("landing/", "gold/", "ingested/", "staged/", "quarantine/", "ledger/", "metrics/", "scorecards/", "consensus/",
                   "curated/", "reports/"):
        assert any(k.startswith(prefix) for k in objects), f"nothing under {prefix} on S3"
    assert not any("/.tmp-" in k or k.startswith(".tmp-") for k in objects), "temporary objects left behind"
    assert "reports/index.html" in objects and "reports/sentiment/2026-11-02.html" in objects
    assert [p.name for p in workdir.iterdir()] == ["data"]  # the S3 run wrote nothing locally

    # the same inputs give the same bytes on S3 as on a local disk, stage by stage
    files = _local_files(local)
    for key in (f"consensus/sentiment/date={DAYS[1]}/consensus.parquet", f"metrics/sentiment/date={DAYS[1]}/agreement.parquet",
                f"scorecards/sentiment/date={DAYS[1]}/scorecard_vendor.parquet", "gold/sentiment.parquet"):
        assert objects[key] == files[key], key
    s3_summary = json.loads(objects[f"metrics/sentiment/date={DAYS[1]}/summary.json"])
    assert s3_summary == json.loads(files[f"metrics/sentiment/date={DAYS[1]}/summary.json"])
    assert s3_summary["rows_in"] == s3_summary["rows_staged"] + s3_summary["rows_quarantined"] > 0

    # the published training set: same content hash, readable (checksums verified) from S3
    for task in ("sentiment",):
        remote_manifest = read_manifest(remote, task)
        local_manifest = read_manifest(local, task)
        assert remote_manifest["version"] == DAYS[1]
        assert remote_manifest["content_sha256"] == local_manifest["content_sha256"]
        assert remote_manifest["build"] == local_manifest["build"]
        df = pipeline.read_training_set(remote, task)
        pd.testing.assert_frame_equal(df, pipeline.read_training_set(local, task))
        assert len(df) == remote_manifest["rows"] > 0
        assert list_versions(remote, task) == DAYS

    # the metrics history reads back from S3
    hist = read_metrics_history(remote, "sentiment", "scorecard_vendor")
    assert sorted(hist["date"].dt.strftime("%Y-%m-%d").unique()) == DAYS


def test_cli_reads_versions_reports_and_tags_on_s3(roots, s3, capsys):
    remote, _ = roots
    capsys.readouterr()
    assert main(["versions", "sentiment", "--root", remote, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["version"] for r in rows] == DAYS
    assert main(["tag", "sentiment", DAYS[0], "first", "--root", remote]) == 0
    assert main(["diff", "sentiment", "tag:first", "latest", "--root", remote, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert diff and {d["change"] for d in diff} <= {"added", "removed", "relabelled"}
    assert main(["report", "--root", remote, "--date", DAYS[0], "--task", "sentiment"]) == 0
    out = capsys.readouterr().out
    assert f"s3://{BUCKET}/labelq/reports/sentiment/{DAYS[0]}.html" in out
    html = s3.get_object(Bucket=BUCKET, Key=f"labelq/reports/sentiment/{DAYS[0]}.html")["Body"].read().decode()
    assert "crowdly" in html and "<img" in html
    staged = pq.read_table(io.BytesIO(s3.get_object(
        Bucket=BUCKET, Key=f"labelq/consensus/sentiment/date={DAYS[0]}/consensus.parquet")["Body"].read()))
    assert staged.num_rows > 0
