from pathlib import Path

import pytest
import yaml

from pipeline.config import ConfigError, SplitRatios, load_config, parse_config
from pipeline.contract import SPLITS
from pipeline.runtime import resolve_root


def _raw(repo: Path) -> dict:
    return yaml.safe_load((repo / "config" / "labelq.yaml").read_text())


def test_repo_config_loads(config):
    assert set(config.vendors) == {"acme", "bluepeak", "crowdly", "arena", "pairwise_co", "rlhfworks"}
    assert list(config.tasks) == ["sentiment", "helpfulness"]
    assert config.tasks["sentiment"].labels == ["negative", "neutral", "positive"]
    assert set(config.vendors_for("sentiment")) == {"acme", "bluepeak", "crowdly"}
    helpfulness = config.tasks["helpfulness"]
    assert helpfulness.kind == "preference" and helpfulness.catalog == "catalog/helpfulness.parquet"
    assert set(config.vendors_for("helpfulness")) == {"arena", "pairwise_co", "rlhfworks"}


def test_vendors_have_distinct_schemas_and_vocabularies(config):
    cols = [frozenset(v.columns) for v in config.vendors.values()]
    vocab = [frozenset(v.labels) for v in config.vendors.values()]
    assert len(set(cols)) == len(config.vendors) == 6 and len(set(vocab)) == 6


def test_unknown_key_is_named(repo):
    raw = _raw(repo)
    raw["vendors"]["acme"]["pricee"] = 1
    with pytest.raises(ConfigError, match=r"vendors\.acme\.pricee"):
        parse_config(raw, source="x.yaml")


def test_unknown_task_reference_is_named(repo):
    raw = _raw(repo)
    raw["vendors"]["bluepeak"]["task"] = "toxicity"
    with pytest.raises(ConfigError, match=r"vendors\.bluepeak\.task: unknown task 'toxicity'"):
        parse_config(raw)


def test_label_mapping_outside_label_set(repo):
    raw = _raw(repo)
    raw["vendors"]["acme"]["labels"]["POS"] = "very positive"
    with pytest.raises(ConfigError, match=r"vendors\.acme\.labels.*very positive"):
        parse_config(raw)


def test_missing_required_column_mapping(repo):
    raw = _raw(repo)
    del raw["vendors"]["crowdly"]["columns"]["score"]
    with pytest.raises(ConfigError, match=r"vendors\.crowdly\.columns: maps no vendor column to \['label'\]"):
        parse_config(raw)


def test_landing_must_stay_inside_root(repo):
    raw = _raw(repo)
    raw["vendors"]["acme"]["landing"] = "../elsewhere"
    with pytest.raises(ConfigError, match=r"vendors\.acme\.landing"):
        parse_config(raw)


def test_shared_landing_folder_rejected(repo):
    raw = _raw(repo)
    raw["vendors"]["acme"]["landing"] = raw["vendors"]["bluepeak"]["landing"]
    with pytest.raises(ConfigError, match="share a landing folder"):
        parse_config(raw)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_root_resolution_order(monkeypatch, config, tmp_path):
    monkeypatch.delenv("LABELQ_ROOT", raising=False)
    assert resolve_root(None, config) == Path(config.storage.root).absolute()
    monkeypatch.setenv("LABELQ_ROOT", str(tmp_path / "env"))
    assert resolve_root(None, config) == tmp_path / "env"
    assert resolve_root(tmp_path / "flag", config) == tmp_path / "flag"


def test_digest_changes_with_content(repo):
    a = parse_config(_raw(repo))
    raw = _raw(repo)
    raw["vendors"]["acme"]["price_per_label"] = 0.5
    assert a.digest() == parse_config(_raw(repo)).digest()
    assert a.digest() != parse_config(raw).digest()


def test_loading_the_config_imports_no_pandas(repo):
    """Validating a config (every CLI command, every DAG task start) stays cheap: the kinds it
    consults import no pandas, scipy or GX."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.config import load_config; load_config('config/labelq.yaml'); "
            "print(sorted(m for m in ('pandas', 'scipy', 'great_expectations') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_split_ratios_are_one_field_per_split_in_order():
    """The config's split fields are the contract's split names (publish lays the shares out in this order)."""
    assert tuple(SplitRatios.model_fields) == SPLITS
    with pytest.raises(ValueError, match=r"sum to 1, got 1.1 \(train=0.8, validation=0.2, test=0.1\)"):
        SplitRatios(train=0.8, validation=0.2, test=0.1)
