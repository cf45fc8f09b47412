"""Label kinds: what a label *is* for a task (one class, a preference, a rating, a set of tags ...).

Every stage is the same for every kind: ingest maps vendor columns, validate quarantines rows,
history resolves what counts, merge holds items out, publish writes versions, score checks SLAs,
report renders. What differs is behind one seam, :class:`LabelKind`:

=====================  ===================================================================
``payload``            the kind's columns in a staged annotation (between the shared key and
                       trail columns of :mod:`pipeline.contract`); ``gold_payload`` and
                       ``curated_payload`` likewise for gold rows and the training set
``vendor_columns``     payload columns a vendor maps its columns onto (``required_columns``
                       of them must be mapped), with the Arrow types each accepts
``map_payload``        vendor values -> canonical payload (ingest; vocabulary, scales)
``item_ids``           for a kind whose items are named by the payload (a preference: the
                       prompt and the two responses), the canonical ``item_id`` of each row
                       when the vendor maps none
``suite``              the kind's GX suite (``expectations/kinds/<name>.json``) and its
                       ``suite_parameters``: the row checks validation compiles and GX judges
``measure``            agreement and gold accuracy tables of one day
``consensus``          one row per item: ``item_id``, the curated payload, ``confidence``,
                       ``n_annotations``, ``agreement`` (merge holds items out on these);
                       ``consensus_tables``: the kind's other merged tables, of which
                       ``published_tables`` go into every version beside the training set
``curated_for``        the training set's schema for one task (``curated`` unless the task's
                       settings add columns, e.g. a probability per tag)
``exports``            tables made from a version for other tools (the preference kind's TRL
                       export), from the training set and the task's item ``catalog``
``balance``            what the manifest says about a version's payload (class balance ...);
                       ``split_unit``: the curated column whose hash fixes each row's split
``scorecards``         vendor and annotator scorecards: what "correct against gold" means
``report_labels``      the ordered categories a report shows (none for non-categorical kinds),
                       ``report_template`` / ``report_sections``: the kind's report sections
``simulate``           synthetic vendor deliveries and gold of the kind, for demos and tests;
                       ``simulate_feeds``: of vendors whose files feed several of its tasks
=====================  ===================================================================

A task names its kind in config (``tasks.<t>.kind``, default ``classification``) with the kind's
own settings under ``tasks.<t>.options``. A kind is found by name in the registry
(:func:`register_kind`; the built-in ones are registered here) or, for a kind that lives outside
this package, by an import path ``package.module:ClassName`` (so every process, e.g. each Airflow
task, finds it without registering). ``docs/kinds.md`` says how to add one.
"""

from __future__ import annotations

import functools
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.contract import annotations_schema, curated_schema, gold_schema

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.config import TaskConfig, VendorConfig
    from pipeline.report import ReportInputs
    from pipeline.score.scorecard import Scorecards

__all__ = ["DEFAULT_KIND", "MEASURED_TABLES", "Delivery", "LabelKind", "Measured", "SimulationSpec", "Simulated", "get_kind", "kind_names",
           "register_kind"]

#: The kind of a task that names none (today's single-label classification).
DEFAULT_KIND = "classification"

TypeCheck = Callable[[pa.DataType], bool]

#: The tables every kind's :meth:`LabelKind.measure` returns (see :class:`Measured`).
MEASURED_TABLES = ("agreement", "accuracy_vendor", "accuracy_annotator")


@dataclass(frozen=True)
class Measured:
    """What a kind measures on one day (the measure stage writes ``tables`` as Parquet files).

    ``tables`` must hold :data:`MEASURED_TABLES`: ``agreement`` (``scope, metric, value, ci_low,
    ci_high, n_items, n_labels``; ``scope`` is ``overall`` or a vendor), ``accuracy_vendor`` and
    ``accuracy_annotator`` (``n_gold, n_correct, accuracy, ci_low, ci_high`` by ``vendor`` /
    ``vendor, annotator_id``; correct as the kind defines it); any others are the kind's own.
    The stage derives the day's ``summary.json`` figures (overall agreement, gold accuracy per
    vendor) from them; ``summary`` adds the kind's own keys (e.g. ``level``).
    """

    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [t for t in MEASURED_TABLES if t not in self.tables]
        if missing:  # the kind's bug, not the data's: name it
            raise TypeError(f"a label kind's measure returned no table(s) {missing}; it must return {list(MEASURED_TABLES)}")


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate for one task (``labelq simulate``): ``days`` days from ``start``, seeded by
    (``seed``, ``task_index``) so the same spec always gives the same data."""

    seed: int
    task_index: int
    start: date
    days: int
    items_per_day: int = 300
    gold_fraction: float = 0.1
    #: every ``bad_batch_every``-th vendor-day delivers a broken batch (to exercise quarantine)
    bad_batch_every: int = 4
    #: annotators per vendor (None: the simulator's own numbers)
    annotators: int | None = None
    #: broken batches simulated for earlier tasks (the kinds of breakage rotate across tasks)
    bad_batches_before: int = 0


@dataclass(frozen=True)
class Delivery:
    """One simulated file: ``vendor`` delivers ``table`` (in its own schema) on ``day`` as ``<name>.parquet``."""

    vendor: str
    day: date
    name: str
    table: pa.Table


@dataclass(frozen=True)
class Simulated:
    """A kind simulator's output for one task: the deliveries, the gold rows (``kind.gold``) and
    the broken batches among the deliveries (``"<batch> (<what>)"``)."""

    deliveries: list[Delivery]
    gold: pa.Table
    bad_batches: list[str] = field(default_factory=list)
    #: the items' texts (``id``, ``text``), written to ``tasks.<t>.catalog`` when the task names one
    catalog: pa.Table | None = None


class LabelKind(ABC):
    """One kind of label. Subclass, set the class attributes, implement the abstract methods."""

    #: registry name, written in config as ``tasks.<t>.kind``
    name: ClassVar[str]
    #: payload columns of a staged annotation (nullable: a bad row may lack them until validated)
    payload: ClassVar[pa.Schema]
    #: columns of a gold row beyond ``task, item_id``
    gold_payload: ClassVar[pa.Schema]
    #: columns of a training-set row between ``item_id`` and the shared trail
    curated_payload: ClassVar[pa.Schema]
    #: payload column -> Arrow type checks a vendor column mapped onto it must pass
    vendor_columns: ClassVar[Mapping[str, tuple[TypeCheck, ...]]]
    #: the ``vendor_columns`` a vendor must map (the rest are optional)
    required_columns: ClassVar[tuple[str, ...]]
    #: whether :meth:`item_ids` names the items, so that a vendor need not map ``item_id``
    item_ids_from_payload: ClassVar[bool] = False
    #: the curated column whose hash fixes a row's split (a preference: its prompt, so that the
    #: pairs of one prompt never straddle train and test)
    split_unit: ClassVar[str] = "item_id"
    #: text payload columns worth reading back as Arrow dictionaries (cheap distinct-value checks)
    dictionary_columns: ClassVar[tuple[str, ...]] = ()
    #: whether :meth:`measure`, :meth:`scorecards`, :meth:`consensus` and :meth:`consensus_tables` take the
    #: annotations with string columns as pandas categoricals (sorted categories, integer codes;
    #: :func:`pipeline.history.resolve` ``compact``): a fraction of the memory, grouping and joining time of strings
    compact_reads: ClassVar[bool] = False
    #: the consensus method of a task that names none (``tasks.<t>.consensus``)
    default_consensus: ClassVar[str]
    #: where :attr:`suite` is stored, for a kind that ships its own (None: ``expectations/kinds/<name>.json``)
    suite_file: ClassVar[Path | None] = None
    #: the report's kind sections: a Jinja template with macros ``quality(d, images, kappa, kappa_vendors)``
    #: and ``training_set(d, images)``; a name under ``pipeline/report/templates/`` or a file's path
    report_template: ClassVar[str | Path] = "kinds/generic.html.j2"
    #: whether :meth:`report_sections` reads ``inputs.consensus``, the whole consensus partition (False: the
    #: report reads only its held-out rows, and counts the rest; a long history's consensus has many items)
    report_reads_consensus: ClassVar[bool] = True
    #: the kind's own tables in :attr:`pipeline.score.scorecard.Scorecards.extra` (written beside the
    #: scorecard, read back into ``ReportInputs.metrics`` for the report sections)
    scorecard_tables: ClassVar[tuple[str, ...]] = ()
    #: the :meth:`consensus_tables` every published version carries (``read_published_table``)
    published_tables: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ schemas
    @functools.cached_property
    def annotations(self) -> pa.Schema:
        """The staged annotations of this kind (:func:`pipeline.contract.annotations_schema`)."""
        return annotations_schema(self.payload)

    @functools.cached_property
    def gold(self) -> pa.Schema:
        return gold_schema(self.gold_payload)

    @functools.cached_property
    def curated(self) -> pa.Schema:
        return curated_schema(self.curated_payload)

    def curated_for(self, task: TaskConfig) -> pa.Schema:
        """The training set of ``task`` (:attr:`curated`; a kind whose columns depend on the task's
        settings, e.g. one probability column per tag of a multi-label task, overrides it)."""
        return self.curated

    @property
    def suite(self) -> str:
        """The kind's GX suite, ``expectations/kinds/<name>.json`` (row checks on the payload)."""
        return f"kinds/{self.name}"

    # ------------------------------------------------------------------ config
    def check_task(self, task: TaskConfig) -> None:
        """Raise ``ValueError`` (naming the key) if ``task``'s settings do not fit this kind."""

    def check_vendor(self, vendor: VendorConfig, task: TaskConfig) -> None:
        """Raise ``ValueError`` (naming the key) if ``vendor``'s mapping does not fit this kind."""

    # ------------------------------------------------------------------ ingest, validate
    @abstractmethod
    def map_payload(self, columns: Mapping[str, pa.ChunkedArray], vendor: VendorConfig,
                    invalid_text: np.ndarray, task: TaskConfig | None = None) -> dict[str, pa.ChunkedArray]:
        """Vendor values -> every column of :attr:`payload` (same length, any order).

        ``columns``: the vendor's mapped payload columns by canonical name, as delivered (absent
        when an optional column is not mapped). Use :func:`pipeline.ingest.canonical.as_text` for
        text: it flags invalid UTF-8 in ``invalid_text`` (in place) so the row is quarantined,
        not dropped. Values that do not fit are kept for validation to name, never dropped.
        ``task``: the task the rows are for (a kind whose mapping depends on the task's own
        settings needs it, e.g. a rating scale's levels; ingest always passes it).
        """

    def item_ids(self, payload: Mapping[str, pa.ChunkedArray], invalid_text: np.ndarray) -> pa.ChunkedArray:
        """The canonical ``item_id`` of each row from its mapped :attr:`payload` (kinds with
        :attr:`item_ids_from_payload`; used when the vendor maps no ``item_id``)."""
        raise NotImplementedError(f"label kind {self.name!r} does not name items from its payload")

    def suite_parameters(self, task: TaskConfig) -> dict[str, Any]:
        """Values of the ``$PARAMETER`` slots of :attr:`suite` for a batch of ``task``."""
        return {}

    # ------------------------------------------------------------------ measure, merge, publish
    @abstractmethod
    def measure(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> Measured:
        """Agreement and gold accuracy of one day's ``annotations`` (annotators namespaced by vendor)."""

    @abstractmethod
    def consensus(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig) -> pd.DataFrame:
        """One row per item: ``item_id``, :attr:`curated_payload` columns, ``confidence``,
        ``n_annotations``, ``agreement`` (annotators namespaced by vendor; rows in canonical order)."""

    def consensus_tables(self, annotations: pd.DataFrame, consensus: pd.DataFrame, task: TaskConfig) -> dict[str, pd.DataFrame]:
        """The kind's tables beside the item consensus, written into the merge stage's partition
        (``consensus/<task>/date=<D>/<name>.parquet``); none by default."""
        return {}

    def consensus_settings(self, task: TaskConfig) -> dict[str, Any]:
        """The consensus method and its settings, recorded in each version's manifest."""
        return {}

    def exports(self, curated: pa.Table, task: TaskConfig, catalog: pa.Table | None) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        """Tables made from a version's training set for other tools (published beside it like
        :attr:`published_tables`) and what the manifest says of them (under ``exports``);
        ``catalog``: the task's item texts (``tasks.<t>.catalog``: ``id``, ``text``), None without one."""
        return {}, {}

    def balance(self, curated: pa.Table, task: TaskConfig) -> dict[str, Any]:
        """What the manifest records about a version's payload (e.g. ``class_balance``)."""
        return {}

    # ------------------------------------------------------------------ score, report, simulate
    @abstractmethod
    def scorecards(self, annotations: pd.DataFrame, gold: pd.DataFrame, task: TaskConfig, *, task_name: str,
                   prices: Mapping[str, float], vendors: list[str]) -> Scorecards:
        """Vendor and annotator scorecards of one day (:class:`pipeline.score.scorecard.Scorecards`)."""

    def report_labels(self, task: TaskConfig) -> list[str]:
        """The ordered categories a report shows (confusion cells, class balance); none by default."""
        return []

    def report_sections(self, inputs: ReportInputs) -> list[dict[str, Any]]:
        """The kind's own report tables, rendered by the generic template: each ``{"id", "title",
        "columns", "rows" (list of dicts), "note"}``; none by default."""
        return []

    def simulate(self, task_name: str, task: TaskConfig, vendors: Mapping[str, VendorConfig],
                 spec: SimulationSpec) -> Simulated:
        """Synthetic deliveries of ``vendors`` (each in its own schema, as configured) and gold rows
        of one task for the days of ``spec`` (``labelq simulate``, demos, tests)."""
        raise NotImplementedError(f"label kind {self.name!r} has no simulator")

    def simulate_feeds(self, tasks: Mapping[str, TaskConfig], vendors: Mapping[str, VendorConfig],
                       spec: SimulationSpec) -> tuple[list[Delivery], dict[str, pa.Table], list[str]]:
        """Synthetic deliveries of vendors whose files feed several ``tasks`` of this kind at once
        (``vendors.<v>.tasks``, e.g. a rubric's criteria): the deliveries, each task's gold rows and
        the broken batches. Kinds without it cannot simulate such vendors."""
        raise NotImplementedError(f"label kind {self.name!r} cannot simulate vendors whose files feed several tasks; "
                                  "simulate a config in which each vendor has one task")


_REGISTRY: dict[str, LabelKind] = {}


def register_kind(kind: LabelKind | type[LabelKind], *, replace: bool = False) -> LabelKind:
    """Add ``kind`` to the registry under ``kind.name``; returns the instance.

    Raises ``ValueError`` if another kind has that name (``replace=True`` overrides).
    """
    inst = kind() if isinstance(kind, type) else kind
    if not isinstance(inst, LabelKind):
        raise TypeError(f"{kind!r} is not a pipeline.kinds.LabelKind")
    if inst.name in _REGISTRY and not replace and type(_REGISTRY[inst.name]) is not type(inst):
        raise ValueError(f"a label kind named {inst.name!r} is already registered ({type(_REGISTRY[inst.name]).__qualname__})")
    _REGISTRY[inst.name] = inst
    return inst


def kind_names() -> list[str]:
    """Names of the registered kinds."""
    return sorted(_REGISTRY)


def get_kind(name: str) -> LabelKind:
    """The kind ``name``: a registered name, or an import path ``package.module:ClassName``.

    Raises ``ValueError`` naming the registered kinds when ``name`` is neither.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"label kind {name!r} cannot be imported ({exc}); give a registered kind "
                             f"{kind_names()} or an importable 'package.module:ClassName'") from None
        inst = obj() if isinstance(obj, type) else obj
        if not isinstance(inst, LabelKind):
            raise ValueError(f"label kind {name!r} is {type(inst).__name__}, not a pipeline.kinds.LabelKind subclass")
        register_kind(inst)  # its suite and reports name it by its own name (a clash is refused, not hidden)
        _REGISTRY[name] = inst
        return inst
    raise ValueError(f"unknown label kind {name!r}; registered kinds: {kind_names()} (or give "
                     "'package.module:ClassName' of a LabelKind subclass)")


def _register_builtins() -> None:
    from pipeline.kinds.classification import Classification
    from pipeline.kinds.multilabel import MultiLabel
    from pipeline.kinds.preference import Preference
    from pipeline.kinds.rating import Rating

    register_kind(Classification())
    register_kind(Preference())
    register_kind(Rating())
    register_kind(MultiLabel())


_register_builtins()
