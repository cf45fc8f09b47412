"""The multilabel kind: config checks, the three delivery formats (a list column, a delimited
string, one row per tag), vocabulary mapping and unknown-tag quarantine, and one day through every
stage into a training set of tag lists and per-tag probabilities."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import steps
from pipeline.config import ConfigError, VendorConfig, parse_config
from pipeline.ingest.canonical import flatten
from pipeline.kinds import get_kind
from pipeline.kinds.multilabel import sorted_sets, tags_regex
from pipeline.publish import read_manifest, read_training_set
from pipeline.storage import open_store

DAY = date(2026, 11, 1)
TAGS = ["sports", "politics", "tech", "spam"]


def _raw(**task) -> dict:
    return {
        "tasks": {"topics": {"kind": "multilabel", "labels": TAGS, "min_labels_per_item": 2, **task}},
        "vendors": {
            "listy": {"task": "topics", "landing": "landing/listy", "labels": {"Sport": "sports"},
                      "columns": {"item": "item_id", "worker": "annotator_id", "tags": "tags", "at": "annotated_at"}},
            "delim": {"task": "topics", "landing": "landing/delim", "options": {"delimiter": ";"},
                      "columns": {"item": "item_id", "worker": "annotator_id", "topics": "tags"}},
            "longy": {"task": "topics", "landing": "landing/longy", "collect": "tag",
                      "columns": {"item": "item_id", "worker": "annotator_id", "tag": "tags", "at": "annotated_at"}},
        },
    }


def _kind_vendor(**kw) -> tuple:
    config = parse_config(_raw())
    task = config.tasks["topics"]
    vendor = config.vendors["listy"].model_copy(update=kw)
    return task, vendor


def _map(values: pa.Array, **vendor_kw) -> tuple[list, list, np.ndarray]:
    task, vendor = _kind_vendor(**vendor_kw)
    bad = np.zeros(len(values), dtype=bool)
    out = get_kind("multilabel").map_payload({"tags": pa.chunked_array([values])}, vendor, bad, task=task)
    return out["tags"].to_pylist(), out["tags_text"].to_pylist(), bad


# ---------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("task,match", [
    ({"labels": ["ok", "has space"]}, r"tag name\(s\) \['has space'\]"),
    ({"labels": ["a", "a"]}, r"labels must be unique; repeated: \['a'\]"),
    ({"consensus": "mace"}, r"unknown method 'mace' for a multi-label task; choose from \['majority_vote', 'dawid_skene'\]"),
    ({"options": {"cutoff": 0.3}}, r"unknown option\(s\) \['cutoff'\]"),
    ({"options": {"threshold": 0}}, r"options.threshold: .* in \(0, 1\]"),
    ({"options": {"distance": "hamming"}}, r"options.distance: .* \['masi', 'jaccard'\]"),
    ({"level": "ordinal"}, "not a level"),
])
def test_task_config_errors_name_the_key(task, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(_raw(**task))


@pytest.mark.parametrize("vendor,match", [
    ({"labels": {"Sport": "sport"}}, r"labels: maps onto \['sport'\], not tags of task 'topics'"),
    ({"options": {"sep": ";"}}, r"unknown option\(s\) \['sep'\]"),
    ({"options": {"delimiter": " "}}, "options.delimiter"),
    ({"collect": "nope"}, "collect: 'nope' is not a mapped column"),
    ({"collect": "tags", "explode": "tags"}, "collect and explode undo each other"),
    ({"collect": "tags", "options": {"delimiter": ";"}}, "one row per tag"),
])
def test_vendor_config_errors_name_the_key(vendor, match):
    raw = _raw()
    raw["vendors"]["listy"].update(vendor)
    with pytest.raises(ConfigError, match=match):
        parse_config(raw)


def test_collect_needs_item_and_annotator_columns():
    raw = _raw()
    raw["vendors"]["longy"]["columns"] = {"item": "item_id", "tag": "tags"}
    with pytest.raises(ConfigError, match=r"collect: gathers the rows of one \(item, annotator\); map a column onto \['annotator_id'\]"):
        parse_config(raw)


# ---------------------------------------------------------------------------------------- mapping
def test_a_list_column_maps_to_sorted_sets_through_the_vocabulary():
    tags, text, bad = _map(pa.array([["tech", "Sport"], [], None, ["spam", " spam ", "", None], ["sports", "x|y"]],
                                    pa.list_(pa.string())))
    assert tags == [["sports", "tech"], [], None, ["spam"], ["sports", "x|y"]]
    # the empty set is an answer (""), a null set is none; a '|' inside a tag is escaped
    assert text == ["sports|tech", "", None, "spam", "sports|x\\|y"]
    assert not bad.any()


def test_large_and_dictionary_lists_and_delimited_text():
    tags, _, _ = _map(pa.array([["tech"], ["spam", "tech"]], pa.large_list(pa.string())))
    assert tags == [["tech"], ["spam", "tech"]]
    tags, text, _ = _map(pa.array(["tech;Sport", "", None, "spam ; ;spam"]), options={"delimiter": ";"})
    assert tags == [["sports", "tech"], [], None, ["spam"]]
    assert text == ["sports|tech", "", None, "spam"]


def test_text_without_a_delimiter_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="options.delimiter"):
        _map(pa.array(["tech;spam"]))


def test_invalid_utf8_in_a_tag_flags_its_row():
    values = pa.array([[b"tech"], [b"\xff\xfe", b"spam"]], pa.list_(pa.binary()))
    tags, _, bad = _map(values)
    assert bad.tolist() == [False, True] and tags[0] == ["tech"]


def test_gold_sets_are_put_in_canonical_order():
    sets = pa.array([["tech", "spam", "tech"], [], None, ["a"]], pa.large_list(pa.string()))
    assert sorted_sets(sets).to_pylist() == [["spam", "tech"], [], None, ["a"]]


def test_the_unknown_tag_regex_accepts_exactly_sets_of_known_tags():
    pattern = re.compile(tags_regex(TAGS + ["sports.v2"]))
    for ok in ["", "spam", "politics|sports|tech", "sports.v2|tech"]:
        assert pattern.match(ok), ok
    for bad in ["bogus", "spam|bogus", "spam|", "|spam", "sports\\|tech", "sportsXv2", "spam spam"]:
        assert not pattern.match(bad), bad


def test_collect_gathers_one_set_per_item_and_annotator():
    vendor = VendorConfig(task="t", landing="l", collect="tag", columns={"i": "item_id", "w": "annotator_id",
                                                                          "tag": "tags", "at": "annotated_at"})
    table = pa.table({"i": ["a", "a", "b", "c", "a", "a"], "w": ["1", "1", "1", "2", "2", "1"],
                      "tag": ["x", "y", None, "z", "x", "x"],
                      "at": pa.array([1, 5, 2, 3, 4, 0], pa.timestamp("us", tz="UTC")), "extra": [0] * 6})
    flat, parent = flatten(table, vendor)
    assert flat.column_names == ["i", "w", "tag", "at"]
    assert flat["i"].to_pylist() == ["a", "b", "c", "a"] and flat["w"].to_pylist() == ["1", "1", "2", "2"]
    assert flat["tag"].to_pylist() == [["x", "y", "x"], [], ["z"], ["x"]]  # repeats go at mapping; null row: []
    assert parent.tolist() == [0, 2, 3, 4]  # each set's first delivered row
    assert [t.value for t in flat["at"]] == [5, 2, 3, 4]  # the latest


# ---------------------------------------------------------------------------------------- stages
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    rng = np.random.default_rng(3)
    items = [f"i{k:02d}" for k in range(60)]
    truth = {i: sorted(t for t, p in zip(TAGS, (0.5, 0.35, 0.25, 0.1)) if rng.random() < p) for i in items}

    def answer(i: str, recall: float = 0.9, fp: float = 0.03) -> list[str]:
        return sorted(t for t in TAGS if (t in truth[i] and rng.random() < recall) or (t not in truth[i] and rng.random() < fp))

    def write(vendor: str, table: pa.Table) -> None:
        folder = root / "landing" / vendor / DAY.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "b1.parquet")

    at = pa.array([pd.Timestamp("2026-11-01T10:00Z")] * 1, pa.timestamp("us", tz="UTC"))[0]
    listy = [(i, w, ["Sport" if t == "sports" else t for t in answer(i)]) for i in items for w in ("a", "b")]
    listy += [("i00", "c", ["bogus", "tech"]), ("i01", "c", None)]  # an unknown tag, no answer
    write("listy", pa.table({"item": [r[0] for r in listy], "worker": [r[1] for r in listy],
                             "tags": pa.array([r[2] for r in listy], pa.list_(pa.string())),
                             "at": pa.array([at.as_py()] * len(listy), pa.timestamp("us", tz="UTC"))}))
    write("delim", pa.table({"item": items, "worker": ["x"] * len(items), "topics": [";".join(answer(i)) for i in items]}))
    long_rows = []
    for i in items:
        for w in ("y", "z"):
            s = answer(i, recall=0.6)  # misses tags
            long_rows += [(i, w, t) for t in s] or [(i, w, None)]
    write("longy", pa.table({"item": [r[0] for r in long_rows], "worker": [r[1] for r in long_rows],
                             "tag": [r[2] for r in long_rows],
                             "at": pa.array([at.as_py()] * len(long_rows), pa.timestamp("us", tz="UTC"))}))
    gold_items = items[:20]
    (root / "gold").mkdir()
    pq.write_table(pa.table({"task": ["topics"] * 20, "item_id": gold_items,
                             "gold_tags": pa.array([truth[i] for i in gold_items], pa.list_(pa.string()))}),
                   root / "gold" / "topics.parquet")
    config = parse_config(_raw())
    store = open_store(root)
    result = steps.run_day(config, store, DAY)
    return root, store, result, truth, long_rows


def test_every_delivered_row_is_in_a_staged_or_quarantined_set(run):
    root, store, result, truth, long_rows = run
    for vendor, stages in result["vendors"].items():
        v = stages["validate"]
        assert v["rows_in"] == v["rows_staged"] + v["rows_quarantined"], vendor
    assert result["vendors"]["listy"]["validate"]["rows_in"] == 122
    # one row per tag: the sets are the (item, annotator) groups of the delivered rows
    groups = pd.DataFrame(long_rows, columns=["item", "worker", "tag"]).groupby(["item", "worker"]).size()
    assert result["vendors"]["longy"]["validate"]["rows_in"] == len(groups) == 120
    rows = pd.concat([pd.read_parquet(p) for p in (root / "quarantine").rglob("*.rows.parquet")])
    assert sorted(zip(rows["item_id"], rows["reason"])) == [("i00", "unknown_tag"), ("i01", "null_label")]
    bad = rows.set_index("reason")
    assert list(bad.loc["unknown_tag", "tags"]) == ["bogus", "tech"] and bad.loc["unknown_tag", "source_row"] == 120
    staged = steps.read_staged(store, "topics", day=DAY)
    longy = staged[staged["vendor"] == "longy"].set_index(["item_id", "annotator_id"])["tags"]
    expected = pd.DataFrame(long_rows, columns=["item", "worker", "tag"]).groupby(["item", "worker"])["tag"].agg(
        lambda s: sorted(t for t in s if isinstance(t, str)))
    assert {k: list(v) for k, v in longy.items()} == expected.to_dict()


def test_the_quarantine_names_the_unknown_tags(run):
    root, store, result, truth, long_rows = run
    reasons = "".join(p.read_text() for p in (root / "quarantine").rglob("*.json"))
    assert "unknown_tag" in reasons and "bogus|tech" in reasons, reasons[-2000:]


def test_the_training_set_has_tag_lists_and_probabilities(run):
    root, store, result, truth, long_rows = run
    curated = read_training_set(root, "topics")
    assert list(curated.columns) == ["item_id", "tags", *[f"p_{t}" for t in TAGS], "confidence", "n_annotations",
                                     "agreement", "vendors", "split", "source_batches"]
    assert len(curated) == 60
    p = curated[[f"p_{t}" for t in TAGS]].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    for row, probs in zip(curated["tags"], p):  # the set: tags with P >= 0.5, sorted
        assert list(row) == sorted(t for t, q in zip(TAGS, probs) if q >= 0.5)
    empty = [i for i, s in zip(curated["item_id"], curated["tags"]) if len(s) == 0]
    assert empty, "items whose consensus set is empty stay, with []"
    expected_conf = np.where(p >= 0.5, p, 1 - p).prod(axis=1)
    np.testing.assert_allclose(curated["confidence"], expected_conf, rtol=1e-12)
    right = np.mean([list(s) == truth[i] for i, s in zip(curated["item_id"], curated["tags"])])
    assert right > 0.9
    manifest = read_manifest(root, "topics")
    assert manifest["kind"] == "multilabel" and manifest["consensus"]["settings"]["tags"] == TAGS
    assert sum(manifest["tag_counts"].values()) == sum(len(s) for s in curated["tags"])
    assert manifest["empty_sets"] == len(empty)


def test_the_training_set_reads_in_polars_and_datasets(run):
    root, store, result, truth, long_rows = run
    import datasets
    import polars as pl

    latest = sorted((root / "curated" / "topics" / "latest").glob("*.parquet"))
    frame = pl.read_parquet(latest)
    assert frame.schema["tags"] == pl.List(pl.String) and frame.schema["p_tech"] == pl.Float64
    ds = datasets.Dataset.from_parquet([str(p) for p in latest])
    assert ds.features["tags"].feature.dtype == "string"
    assert ds[0]["tags"] == list(read_training_set(root, "topics")["tags"][0])


def test_agreement_has_masi_and_jaccard_alpha_with_intervals(run):
    root, store, result, truth, long_rows = run
    table = pd.read_parquet(root / "metrics" / "topics" / f"date={DAY}" / "agreement.parquet")
    overall = table[table["scope"] == "overall"].set_index("metric")
    assert set(overall.index) == {"krippendorff_alpha", "krippendorff_alpha_jaccard"}
    assert (overall["ci_low"] < overall["value"]).all() and (overall["value"] < overall["ci_high"]).all()
    assert 0.3 < overall.loc["krippendorff_alpha", "value"] < 1
    per_tag = pd.read_parquet(root / "metrics" / "topics" / f"date={DAY}" / "agreement_per_tag.parquet")
    assert set(per_tag["tag"]) == set(TAGS)
    prevalence = pd.read_parquet(root / "metrics" / "topics" / f"date={DAY}" / "tag_prevalence.parquet")
    assert set(prevalence["vendor"]) == {"listy", "delim", "longy"}


def test_scorecards_score_each_tag_and_name_the_under_tagging_vendor(run):
    root, store, result, truth, long_rows = run
    folder = root / "scorecards" / "topics" / f"date={DAY}"
    scores = pd.read_parquet(folder / "tag_vendor.parquet")
    micro = scores[scores["tag"] == "(micro)"].set_index("vendor")
    # longy's annotators keep a true tag with probability 0.6, the others with 0.9
    assert micro.loc["longy", "recall"] < min(micro.loc["listy", "recall"], micro.loc["delim", "recall"]) - 0.1
    assert set(scores["tag"]) == {*TAGS, "(micro)", "(macro)"}
    tagging = pd.read_parquet(folder / "tagging_vendor.parquet").set_index("vendor")
    assert tagging.loc["longy", "tagging"] == "under" and tagging.loc["longy", "size_bias"] < 0
    vendor = pd.read_parquet(folder / "scorecard_vendor.parquet").set_index("vendor")
    assert (vendor["n_gold"] > 0).all()
    html = (root / "reports" / "topics" / f"{DAY}.html").read_text()
    table = html[html.index('<table id="tag-f1">'):]
    table = table[:table.index("</table>")]
    header = re.findall(r"<th\b[^>]*>(.*?)</th>", table)
    assert header == ["vendor", "n_gold", "f1 (micro)", "f1 (macro)", *[f"f1 {t}" for t in TAGS]]
    rows = [re.findall(r"<td\b[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]]
    assert [r[0] for r in rows] == ["delim", "listy", "longy"]
    assert float(rows[2][2]) == pytest.approx(micro.loc["longy", "f1"], abs=5e-4)
    assert "Over- and under-tagging" in html
