import hashlib
from datetime import date

import pandas as pd

from pipeline.simulate import simulate
from pipeline.storage import open_store


def _digest(root):
    files = sorted(p for p in root.rglob("*.parquet"))
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_deterministic_for_a_seed(tmp_path, config):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(config, open_store(a), seed=3, days=2, start=date(2026, 11, 1), items_per_day=50)
    simulate(config, open_store(b), seed=3, days=2, start=date(2026, 11, 1), items_per_day=50)
    simulate(config, open_store(c), seed=4, days=2, start=date(2026, 11, 1), items_per_day=50)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_each_vendor_delivers_in_its_own_schema(simulated, config):
    for name, vendor in config.vendors.items():
        files = sorted((simulated / vendor.landing).rglob("*.parquet"))
        assert files, name
        frame = pd.read_parquet(files[0])
        assert set(frame.columns) == set(vendor.columns), name
        label_col = next(c for c, canon in vendor.columns.items() if canon in ("label", "choice"))  # the kind's answer
        assert set(frame[label_col].astype(str)) <= set(vendor.labels), name


def _truth_accuracy(simulated, config, vendor_name):
    vendor = config.vendors[vendor_name]
    inv = {canon: col for col, canon in vendor.columns.items()}
    frames = []
    for f in sorted((simulated / vendor.landing).rglob("*.parquet")):
        df = pd.read_parquet(f)
        if inv["label"] in df and inv["annotator_id"] in df:
            frames.append(df.rename(columns={inv["item_id"]: "item_id", inv["label"]: "label"}))
    df = pd.concat(frames)
    df["label"] = df["label"].astype(str).map(vendor.labels)
    gold = pd.read_parquet(simulated / "gold" / "sentiment.parquet")
    m = df.merge(gold, on="item_id")
    return (m["label"] == m["gold_label"]).mean(), len(m)


def test_vendors_differ_in_quality_and_gold_is_mixed_in(simulated, config):
    acc = {v: _truth_accuracy(simulated, config, v) for v in config.vendors_for("sentiment")}
    assert all(n > 20 for _, n in acc.values()), acc  # gold items appear in every vendor's work
    assert acc["acme"][0] > acc["crowdly"][0] + 0.1, acc


def test_bad_batches_now_and_then(tmp_path, config):
    report = simulate(config, open_store(tmp_path), seed=7, days=6, start=date(2026, 11, 1), items_per_day=30)
    assert 0 < len(report.bad_batches) < len(report.files) / 2
    kinds = {b.split("(")[1].rstrip(")") for b in report.bad_batches}
    assert len(kinds) >= 2


def test_crowdly_sends_naive_local_times_and_integer_labels(simulated, config):
    f = sorted((simulated / config.vendors["crowdly"].landing).rglob("*.parquet"))[0]
    df = pd.read_parquet(f)
    assert df["created"].dt.tz is None
    assert pd.api.types.is_integer_dtype(df["score"])


def test_annotators_per_vendor_spreads_the_work(tmp_path, config):
    simulate(config, open_store(tmp_path), seed=1, days=1, start=date(2026, 11, 1), items_per_day=3000, annotators=400,
             bad_batch_every=10**6)
    for name, vendor in config.vendors.items():
        inv = {canon: col for col, canon in vendor.columns.items()}
        df = pd.concat(pd.read_parquet(f) for f in sorted((tmp_path / vendor.landing).rglob("*.parquet")))
        n = df[inv["annotator_id"]].nunique()
        assert 350 <= n <= 400, (name, n)  # 3000+ labels over 400 annotators: nearly all of them work
        if "item_id" in inv:
            item = df[inv["item_id"]]
        else:  # a preference vendor names a comparison by prompt and the two responses, in either order
            a, b = df[inv["response_a"]], df[inv["response_b"]]
            item = df[inv["prompt_id"]] + ":" + a.where(a < b, b) + ":" + b.where(a < b, a)
        per_item = df.groupby(item)[inv["annotator_id"]].nunique()
        assert (per_item == df.groupby(item).size()).all(), name  # still distinct annotators per item
