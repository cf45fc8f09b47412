"""pipeline.report.privacy: reports name annotators by keyed pseudonyms; real ids stay in scorecards."""

from __future__ import annotations

import html
import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline import steps
from pipeline.report.privacy import PSEUDONYM_KEY_ENV, pseudonym_key, pseudonymise
from pipeline.storage import open_store


def _strings(obj: Any) -> list[str]:
    """Every string value (and key) anywhere in a JSON document."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (str(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _real_ids(root: Path, day: date) -> pd.DataFrame:
    card = root / "scorecards" / "sentiment" / f"date={day}" / "scorecard_annotator.parquet"
    return pd.read_parquet(card, columns=["vendor", "annotator_id"])


def test_reports_hold_no_raw_annotator_id(processed: Path, days: list[date]) -> None:
    """80 of 82 annotator ids used to appear in the report JSON and HTML (annotator tables)."""
    for d in days:
        ids = _real_ids(processed, d)
        assert len(ids) > 20 and ids["annotator_id"].str.len().min() >= 2
        page = (processed / "reports" / "sentiment" / f"{d}.html").read_text(encoding="utf-8")
        doc = json.loads((processed / "reports" / "sentiment" / f"{d}.json").read_text())
        values = set(_strings(doc))
        for a in ids["annotator_id"]:
            assert f">{html.escape(a)}<" not in page, f"{d}: raw annotator id {a!r} in a report table cell"
            assert a not in values, f"{d}: raw annotator id {a!r} in the report JSON"
        assert "pseudonyms" in doc["meta"]["annotator_ids"]


def test_report_pseudonyms_trace_back_through_the_restricted_scorecard(processed: Path, days: list[date]) -> None:
    """A pseudonym is recomputed from the real ids in the scorecard with the root's key (mode 0600)."""
    store = open_store(processed)
    key_file = processed / "keys" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_bytes().strip()) == 64
    key = pseudonym_key(store)
    d = days[-1]
    ids = _real_ids(processed, d)
    expected = dict(zip(pseudonymise(ids["vendor"], ids["annotator_id"], key), zip(ids["vendor"], ids["annotator_id"])))
    doc = json.loads((processed / "reports" / "sentiment" / f"{d}.json").read_text())
    shown = [(a["vendor"], a["annotator_id"]) for a in doc["annotators"]]
    assert len(shown) == len(ids)
    for vendor, p in shown:
        assert p.startswith("a-") and len(p) == 14
        assert expected[p][0] == vendor
    page = (processed / "reports" / "sentiment" / f"{d}.html").read_text(encoding="utf-8")
    assert all(f">{p}<" in page for _, p in shown)


def test_pseudonyms_are_keyed_and_namespaced_by_vendor() -> None:
    vendors = np.array(["acme", "acme", "crowdly", "acme", "acme"], dtype=object)
    ids = np.array(["w1", "w2", "w1", "w1", None], dtype=object)
    a = pseudonymise(vendors, ids, b"k" * 32)
    assert a[0] == a[3] and len({a[0], a[1], a[2]}) == 3 and a[4] is None  # w1 of acme != w1 of crowdly
    assert pseudonymise(vendors, ids, b"other key here!!")[0] != a[0]
    assert not any("w1" in x or "w2" in x for x in a[:4])
    assert len(pseudonymise(np.array([], dtype=object), np.array([], dtype=object), b"k" * 32)) == 0


def test_the_key_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path)
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "s" * 40)
    assert pseudonym_key(store) == b"s" * 40
    assert not (tmp_path / "keys").exists()  # no key file when the environment has one
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "short")
    with pytest.raises(ValueError, match="at least 16"):
        pseudonym_key(store)
    monkeypatch.delenv(PSEUDONYM_KEY_ENV)
    first = pseudonym_key(store)
    assert first == pseudonym_key(store) and len(first) == 64  # created once, then reused
    assert stat.S_IMODE((tmp_path / "keys" / "pseudonym.key").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["pseudonym.key"]


def test_stages_racing_to_create_the_key_agree_on_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two report stages of one root (Airflow runs them in parallel) must not pseudonymise with
    two different keys: the key is linked into place only if none is there yet."""
    from concurrent.futures import ThreadPoolExecutor

    import pipeline.report.privacy as privacy

    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)
    store = open_store(tmp_path)
    real_is_file = store.is_file
    monkeypatch.setattr(store, "is_file", lambda key: False)  # every racer sees no key yet
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: privacy.pseudonym_key(store), range(16)))
    monkeypatch.setattr(store, "is_file", real_is_file)
    assert len(set(keys)) == 1 and keys[0] == (tmp_path / "keys" / "pseudonym.key").read_bytes().strip()
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["pseudonym.key"]


def test_a_report_rebuilt_with_another_key_shows_other_pseudonyms(processed: Path, days: list[date], config,
                                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(processed, root)
    d = days[-1]
    before = json.loads((root / "reports" / "sentiment" / f"{d}.json").read_text())["annotators"]
    monkeypatch.setenv(PSEUDONYM_KEY_ENV, "a shared key for every root " + os.urandom(4).hex())
    steps.report(config, open_store(root), d, "sentiment")
    after = json.loads((root / "reports" / "sentiment" / f"{d}.json").read_text())["annotators"]
    assert [a["n_labels"] for a in after] == [a["n_labels"] for a in before]
    assert not {a["annotator_id"] for a in after} & {a["annotator_id"] for a in before}
