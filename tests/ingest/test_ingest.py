import unicodedata
from datetime import date

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from helpers.deliveries import to_canonical
from pipeline.ingest.canonical import ContractError, check_contract, normalise_labels
from pipeline.kinds.classification import ANNOTATIONS
from pipeline.storage import open_store

DAY = date(2026, 11, 1)


def test_to_canonical_maps_columns_labels_and_types(config):
    vendor = config.vendors["crowdly"]  # integer labels, naive New York wall-clock times
    t = pa.table({
        "task_item": ["i1", "i2"], "labeler": [" w1 ", "w2"], "score": [1, -1],
        "created": pa.array([pd.Timestamp("2026-11-01 09:00"), pd.Timestamp("2026-11-01 10:30")], pa.timestamp("us")),
    })
    out = to_canonical(t, task="sentiment", vendor_name="crowdly", vendor=vendor, batch_id="b1", source_file="landing/x.parquet")
    assert out.schema == ANNOTATIONS
    df = out.to_pandas()
    assert df["label"].tolist() == ["positive", "negative"]
    assert df["annotator_id"].tolist() == ["w1", "w2"]
    assert df["vendor"].unique().tolist() == ["crowdly"]
    assert df["batch_id"].unique().tolist() == ["b1"]
    # 09:00 in New York on 2026-11-01 (EST, UTC-5) is 14:00 UTC
    assert df["annotated_at"].iloc[0] == pd.Timestamp("2026-11-01 14:00", tz="UTC")


def test_labels_are_nfc_normalised_and_trimmed_unknowns_kept():
    decomposed = unicodedata.normalize("NFD", "Négatif")
    arr = pa.chunked_array([pa.array([f"  {decomposed} ", "Positif", "???", None])])
    out = normalise_labels(arr, {"Négatif": "negative", "Positif": "positive"}).to_pylist()
    assert out == ["negative", "positive", "???", None]


def test_float_labels_map_like_integers():
    arr = pa.chunked_array([pa.array([1.0, -1.0, 0.0])])
    assert normalise_labels(arr, {"1": "positive", "-1": "negative", "0": "neutral"}).to_pylist() == [
        "positive", "negative", "neutral"]


def test_contract_names_the_missing_column_and_file(config):
    schema = pa.schema([("ItemID", pa.string()), ("Annotator", pa.string()), ("Sentiment", pa.string()),
                        ("CompletedAt", pa.timestamp("us", tz="UTC"))])
    with pytest.raises(ContractError, match=r"f\.parquet: missing column\(s\) \['AnnotatorHash'\]") as e:
        check_contract(schema, config.vendors["bluepeak"], file="f.parquet")
    assert e.value.reason == "schema_drift"


def test_contract_rejects_retyped_column_and_reports_extras(config):
    vendor = config.vendors["bluepeak"]
    ok = pa.schema([("ItemID", pa.string()), ("AnnotatorHash", pa.string()), ("Sentiment", pa.string()),
                    ("CompletedAt", pa.timestamp("us", tz="UTC")), ("note", pa.string())])
    assert check_contract(ok, vendor, file="f") == ["note"]
    retyped = ok.set(ok.get_field_index("CompletedAt"), pa.field("CompletedAt", pa.list_(pa.int64())))
    with pytest.raises(ContractError, match="'CompletedAt'.*cannot hold annotated_at"):
        check_contract(retyped, vendor, file="f")


def _deliver(root, config, vendor, name, data: bytes | pa.Table):
    folder = root / config.vendors[vendor].landing / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        (folder / name).write_bytes(data)
    else:
        pq.write_table(data, folder / name)
    return folder / name


def test_unreadable_and_duplicate_files_are_recorded_not_fatal(fresh_copy, config):
    good = sorted((fresh_copy / config.vendors["acme"].landing / DAY.isoformat()).glob("*.parquet"))[0]
    _deliver(fresh_copy, config, "acme", "zz-truncated.parquet", good.read_bytes()[:100])
    _deliver(fresh_copy, config, "acme", "zz-copy.parquet", good.read_bytes())
    _deliver(fresh_copy, config, "acme", ".still-writing.parquet", b"PAR1")
    out = steps.ingest(config, open_store(fresh_copy), DAY, "acme")
    assert (out["files_ingested"], out["files_rejected"], out["files_duplicate"]) == (2, 1, 1)
    report = (fresh_copy / "ingested" / f"date={DAY}" / "vendor=acme" / "_ingest.json").read_text()
    assert "zz-truncated.parquet: not a readable Parquet file" in report
    assert ".still-writing" not in report


def test_ingest_rerun_overwrites_partition(fresh_copy, config):
    steps.ingest(config, open_store(fresh_copy), DAY, "bluepeak")
    part = fresh_copy / "ingested" / f"date={DAY}" / "vendor=bluepeak"
    before = sorted(p.name for p in part.iterdir())
    (part / "stale.parquet").write_bytes(b"x")
    steps.ingest(config, open_store(fresh_copy), DAY, "bluepeak")
    assert sorted(p.name for p in part.iterdir()) == before


def test_unknown_vendor_is_a_clear_error(fresh_copy, config):
    with pytest.raises(ValueError, match="unknown vendor 'nope'; configured vendors"):
        steps.ingest(config, open_store(fresh_copy), DAY, "nope")


def test_vendor_adapter_options_are_validated_config():
    from pipeline.config import ConfigError, parse_config

    base = {"tasks": {"t": {"labels": ["a", "b"]}},
            "vendors": {"v": {"task": "t", "landing": "landing/v", "explode": "answers",
                              "columns": {"id": "item_id", "w": "annotator_id", "answers.label": "label"}}}}
    assert parse_config(base).vendors["v"].explode == "answers"
    bad = {**base, "vendors": {"v": {**base["vendors"]["v"], "explode": "nope"}}}
    with pytest.raises(ConfigError, match="vendors.v: explode: 'nope' is not a mapped column"):
        parse_config(bad)
    with pytest.raises(ConfigError, match="max_bad_row_fraction"):
        parse_config({**base, "vendors": {"v": {**base["vendors"]["v"], "max_bad_row_fraction": 2}}})


def test_check_contract_resolves_struct_paths_and_list_elements(config):
    from pipeline.config import VendorConfig

    vendor = VendorConfig(task="sentiment", landing="landing/n", explode="answers", vendor_column="shop",
                          columns={"id": "item_id", "answers.worker": "annotator_id", "answers.label": "label",
                                   "meta.at": "annotated_at"})
    schema = pa.schema([("id", pa.string()), ("shop", pa.string()), ("note", pa.string()),
                        ("meta", pa.struct([("at", pa.string())])),
                        ("answers", pa.list_(pa.struct([("worker", pa.string()), ("label", pa.string())])))])
    assert check_contract(schema, vendor, file="f") == ["note"]
    with pytest.raises(ContractError, match=r"f: missing column\(s\) \['answers.worker'\]"):
        check_contract(schema.remove(schema.get_field_index("answers")).append(
            pa.field("answers", pa.list_(pa.struct([("label", pa.string())])))), vendor, file="f")
