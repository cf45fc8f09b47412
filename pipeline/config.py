"""Vendors and tasks, loaded from YAML into validated models.

Errors name the file and the dotted key that is wrong, e.g.
``config/labelq.yaml: vendors.acme.columns: maps no column to 'label'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.contract import OPTIONAL_VENDOR_COLUMNS, REQUIRED_VENDOR_COLUMNS, Level
from pipeline.kinds import DEFAULT_KIND, LabelKind, get_kind

DEFAULT_CONFIG = Path("config") / "labelq.yaml"


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names the file and key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitRatios(_Model):
    """Share of items in each split of the published training set (must sum to 1).

    An item's split is fixed by a hash of its ``item_id`` (:mod:`pipeline.publish.splits`), so it
    never moves between versions as long as the ratios stay the same.
    """

    train: float = Field(default=0.8, ge=0, le=1)
    validation: float = Field(default=0.1, ge=0, le=1)
    test: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> "SplitRatios":
        shares = self.model_dump()  # one field per split of pipeline.contract.SPLITS, in order (tested)
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"split ratios must sum to 1, got {total:g} ("
                             + ", ".join(f"{k}={v:g}" for k, v in shares.items()) + ")")
        return self


class TaskConfig(_Model):
    """A labelling task: its label kind, label set and how labels are judged, merged and published.

    ``kind`` names the task's label kind (:mod:`pipeline.kinds`; a registered name or an import
    path ``package.module:ClassName``), which checks the rest: classification needs ``labels`` (the
    ordered label set) and a ``consensus`` method it has; ``options`` holds a kind's own settings.
    """

    kind: str = DEFAULT_KIND
    labels: list[str] | None = Field(default=None, min_length=2)
    level: Level = "nominal"
    min_labels_per_item: int = Field(default=2, ge=1)
    #: items whose consensus confidence / agreement is below these are held out (pipeline.merge.holdout)
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    min_agreement: float | None = Field(default=None, ge=0, le=1)
    #: the consensus method (the kind's default when not given; the kind lists its methods)
    consensus: str = ""
    #: settings of the task's label kind (the kind validates them)
    options: dict[str, Any] = Field(default_factory=dict)
    splits: SplitRatios = Field(default_factory=SplitRatios)
    #: published versions kept (newest first); tagged versions and the latest are never deleted.
    keep_versions: int | None = Field(default=30, ge=1)
    #: the items' texts, a Parquet file under the storage root with ``id`` and ``text`` (a preference
    #: task's prompts and responses); the kind's exports need it (e.g. the TRL export)
    catalog: str | None = None

    @field_validator("catalog")
    @classmethod
    def _catalog_inside_root(cls, catalog: str | None) -> str | None:
        if catalog is not None and (Path(catalog).is_absolute() or ".." in Path(catalog).parts or not catalog.endswith(".parquet")):
            raise ValueError(f"catalog {catalog!r} must be a relative path to a .parquet file inside the storage root")
        return catalog

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: list[str] | None) -> list[str] | None:
        dupes = sorted({x for x in labels if labels.count(x) > 1}) if labels else []
        if dupes:
            raise ValueError(f"labels must be unique; repeated: {dupes}")
        return labels

    @model_validator(mode="before")
    @classmethod
    def _default_consensus(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("consensus"):
            try:
                data = {**data, "consensus": get_kind(str(data.get("kind") or DEFAULT_KIND)).default_consensus}
            except ValueError:
                pass  # an unknown kind is reported by _kind_fits
        return data

    @model_validator(mode="after")
    def _kind_fits(self) -> "TaskConfig":
        self.label_kind.check_task(self)
        return self

    @property
    def label_kind(self) -> LabelKind:
        """The task's :class:`pipeline.kinds.LabelKind` (raises ``ValueError`` for an unknown kind)."""
        return get_kind(self.kind)


class SLAConfig(_Model):
    """A vendor's service-level thresholds, checked per task and day (:mod:`pipeline.score.sla`).

    ``min_gold_accuracy``: lowest acceptable share of correct labels on gold items;
    ``min_kappa_vs_consensus``: lowest acceptable Cohen's kappa against the consensus of the
    other vendors; ``min_gold_labels``: fewer gold labels than this on a day give
    ``insufficient_data`` instead of a verdict on gold accuracy.
    """

    min_gold_accuracy: float | None = Field(default=None, ge=0, le=1)
    min_kappa_vs_consensus: float | None = Field(default=None, ge=-1, le=1)
    min_gold_labels: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _some_threshold(self) -> "SLAConfig":
        if self.min_gold_accuracy is None and self.min_kappa_vs_consensus is None:
            raise ValueError("sets no threshold: give min_gold_accuracy and/or min_kappa_vs_consensus, or drop sla")
        return self


class FeedConfig(_Model):
    """One of several tasks a vendor's files feed (``vendors.<v>.tasks.<task>``): the columns that
    task reads from each file on top of the vendor's shared ``columns`` (e.g. its criterion column
    mapped to ``label``), its vocabulary, and optionally its own price and SLA."""

    columns: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    price_per_label: float | None = Field(default=None, ge=0)
    sla: SLAConfig | None = None


class VendorConfig(_Model):
    """One annotation vendor: where it delivers and how its schema maps onto ours.

    ``task`` names the one task its files feed; or ``tasks`` maps several tasks to what each reads
    from the same files (:class:`FeedConfig`: one file with two criterion columns feeds two tasks;
    :meth:`feeds` resolves them). ``columns`` keys may be dotted paths into struct columns
    (``meta.worker``); ``explode`` names a list column whose elements become one row each (other
    columns repeat); ``vendor_column`` names a column in which rows claim a vendor (rows claiming
    another are quarantined); ``max_bad_row_fraction`` is the share of bad rows above which the
    whole file is quarantined.
    """

    task: str | None = None
    tasks: dict[str, FeedConfig] = Field(default_factory=dict)
    landing: str
    columns: dict[str, str]
    labels: dict[str, str] = Field(default_factory=dict)
    #: the label kind's settings for this vendor (e.g. a preference vendor's strength scale); see its kind
    options: dict[str, Any] = Field(default_factory=dict)
    price_per_label: float = Field(default=0.0, ge=0)
    timezone: str = "UTC"
    explode: str | None = None
    collect: str | None = None
    vendor_column: str | None = None
    max_bad_row_fraction: float = Field(default=0.1, ge=0, le=1)
    #: service-level thresholds (None: the vendor has no SLA); see :class:`SLAConfig`.
    sla: SLAConfig | None = None

    @model_validator(mode="after")
    def _one_way_to_name_tasks(self) -> "VendorConfig":
        if (self.task is None) == (not self.tasks):
            raise ValueError("give either task (the one task this vendor's files feed) or tasks (several tasks "
                             "fed by the same files, each with the columns it reads), not both or neither")
        return self

    def feeds(self) -> dict[str, "VendorConfig"]:
        """``{task: the vendor as that task sees it}``: one entry for a ``task`` vendor; for a ``tasks``
        vendor one per task, with the shared columns and vocabulary plus the task's own."""
        if self.task is not None:
            return {self.task: self}
        return {t: self.model_copy(update={
            "task": t, "tasks": {}, "columns": {**self.columns, **f.columns}, "labels": {**self.labels, **f.labels},
            "options": {**self.options, **f.options},
            "price_per_label": self.price_per_label if f.price_per_label is None else f.price_per_label,
            "sla": f.sla or self.sla}) for t, f in self.tasks.items()}

    @property
    def feeds_several(self) -> bool:
        """Whether one delivery feeds several tasks (its outputs are then kept per task)."""
        return bool(self.tasks)

    @property
    def task_name(self) -> str:
        """The task of a single-task view (:meth:`feeds` gives one per task)."""
        if self.task is None:
            raise ValueError(f"this vendor feeds several tasks {sorted(self.tasks)}; use feeds()")
        return self.task

    @model_validator(mode="after")
    def _explode_or_collect_is_mapped(self) -> "VendorConfig":
        mapped = {**self.columns, **{c: t for f in self.tasks.values() for c, t in f.columns.items()}}
        if self.explode is not None:
            every = [*self.columns, *(c for f in self.tasks.values() for c in f.columns)]
            roots = {c.split(".", 1)[0] for c in every} | set(every)
            if self.explode not in roots:
                raise ValueError(f"explode: {self.explode!r} is not a mapped column; mapped: {sorted(self.columns)}")
        if self.collect is not None:
            if self.collect not in mapped:
                raise ValueError(f"collect: {self.collect!r} is not a mapped column; mapped: {sorted(mapped)}")
            if self.explode is not None:
                raise ValueError("collect and explode undo each other: give one (collect gathers one row per value "
                                 "into a list; explode spreads a list into one row per value)")
            keys = {"item_id", "annotator_id"} - {t for c, t in mapped.items() if c != self.collect}
            if keys:
                raise ValueError(f"collect: gathers the rows of one (item, annotator); map a column onto {sorted(keys)}")
        return self

    @field_validator("landing")
    @classmethod
    def _landing_inside_root(cls, landing: str) -> str:
        if Path(landing).is_absolute() or ".." in Path(landing).parts:
            raise ValueError(f"landing {landing!r} must be a relative path inside the storage root")
        return landing


class StorageConfig(_Model):
    root: str = "data"


class LabelqConfig(_Model):
    """The whole configuration: storage, tasks and vendors."""

    storage: StorageConfig = Field(default_factory=StorageConfig)
    tasks: dict[str, TaskConfig] = Field(min_length=1)
    vendors: dict[str, VendorConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _vendors_fit_tasks(self) -> "LabelqConfig":
        for name, vendor in self.vendors.items():
            for task_name, feed in vendor.feeds().items():
                where = f"vendors.{name}.tasks.{task_name}" if vendor.feeds_several else f"vendors.{name}"
                if task_name not in self.tasks:
                    raise ValueError(f"{where if vendor.feeds_several else where + '.task'}: unknown task "
                                     f"{task_name!r}; known: {sorted(self.tasks)}")
                self._feed_fits(where, feed, self.tasks[task_name])
        landings = [v.landing.rstrip("/") for v in self.vendors.values()]
        shared = sorted({x for x in landings if landings.count(x) > 1})
        if shared:
            raise ValueError(f"vendors share a landing folder {shared}: each vendor needs its own")
        return self

    @staticmethod
    def _feed_fits(where: str, feed: VendorConfig, task: TaskConfig) -> None:
        """Raise ``ValueError`` (prefixed with ``where``) unless ``feed``'s columns fit ``task``'s kind."""
        kind = task.label_kind
        allowed = [*REQUIRED_VENDOR_COLUMNS, *OPTIONAL_VENDOR_COLUMNS, *kind.vendor_columns]
        unknown = sorted(set(feed.columns.values()) - set(allowed))
        if unknown:
            raise ValueError(f"{where}.columns: maps onto unknown canonical columns {unknown}; "
                             f"allowed for a {kind.name} task: {sorted(allowed)}")
        required = [c for c in REQUIRED_VENDOR_COLUMNS if c != "item_id" or not kind.item_ids_from_payload]
        missing = [c for c in (*required, *kind.required_columns) if c not in feed.columns.values()]
        if missing:
            raise ValueError(f"{where}.columns: maps no vendor column to {missing}")
        targets = list(feed.columns.values())
        twice = sorted({t for t in targets if targets.count(t) > 1})
        if twice:
            raise ValueError(f"{where}.columns: maps several vendor columns to {twice}")
        try:
            kind.check_vendor(feed, task)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None

    def vendors_for(self, task: str) -> dict[str, VendorConfig]:
        """The vendors that deliver labels for ``task``, each as that task sees it (:meth:`VendorConfig.feeds`)."""
        return {n: feeds[task] for n, v in self.vendors.items() if task in (feeds := v.feeds())}

    def digest(self) -> str:
        """SHA-256 of the normalised configuration (recorded in manifests)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the config lives: ``path``, else ``$LABELQ_CONFIG``, else ``./config/labelq.yaml``."""
    return Path(path or os.environ.get("LABELQ_CONFIG") or DEFAULT_CONFIG)


def parse_config(data: object, *, source: str = "<config>") -> LabelqConfig:
    """Validate a mapping (already parsed YAML) into :class:`LabelqConfig`."""
    try:
        return LabelqConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key}: {msg}" if key else f"{source}: {msg}")
        raise ConfigError("invalid configuration\n  " + "\n  ".join(lines)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> LabelqConfig:
    """Read and validate the YAML config (see :func:`config_path` for the lookup order)."""
    p = config_path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found (set --config or LABELQ_CONFIG)")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_config(data, source=str(p))
