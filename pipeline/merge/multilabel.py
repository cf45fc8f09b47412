r"""Consensus of tag sets (multi-label annotations) by binary relevance: one binary model per tag.

Input: the long format with ``label`` a list of tags per row (:mod:`pipeline.measure.agreement.sets`:
``[]`` is the empty set, an answer; a null label is no answer and is dropped). Every answering
annotator of an item says, for each tag :math:`t` of the vocabulary, *present* (:math:`t` in its
set) or *absent*; per tag these binary answers are aggregated on their own (binary relevance, as
crowd-kit's ``BinaryRelevance``):

- ``majority_vote``: :math:`P(t) = ` the share of the item's annotators whose set has :math:`t`;
- ``dawid_skene``: the tag's own Dawid-Skene model (per annotator a 2 x 2 confusion matrix and a
  prevalence of the tag, by EM: :class:`pipeline.merge.consensus.DawidSkene`), :math:`P(t)` its
  posterior; gold sets, when given, clamp their items.

The consensus set is every tag with :math:`P(t) \ge` ``threshold`` (default 0.5; majority vote:
at least half the annotators, so a tie keeps the tag); an item whose set is empty stays, with
``tags = []``. Loops run over tags (the vocabulary), never over rows.

References: A. P. Dawid, A. M. Skene (1979), "Maximum likelihood estimation of observer
error-rates using the EM algorithm", JRSS C 28(1); G. Tsoumakas, I. Katakis (2007), "Multi-label
classification: an overview", IJDWM 3(3) (binary relevance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pyarrow as pa

from pipeline.contract import require_columns

if TYPE_CHECKING:  # pandas and the agreement package load on first use: config checks read METHODS only
    import pandas as pd

__all__ = ["METHODS", "Method", "aggregate_tags", "tag_answers"]

Method = Literal["majority_vote", "dawid_skene"]
METHODS: tuple[str, ...] = get_args(Method)


def _frame(annotations: Any) -> pd.DataFrame:
    import pandas as pd

    df = annotations if isinstance(annotations, pd.DataFrame) else annotations.to_pandas()
    require_columns(df.columns, ("item_id", "annotator_id", "label"), "annotations",
                    "one row per (item, annotator) with label a list of tags")
    return df


def tag_answers(annotations: Any, *, tags: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every answering row's presence flag per tag: ``(rows, present, tags)`` with ``rows`` the
    answering rows' ``item_id, annotator_id`` (in input order), ``present`` a rows x tags bool
    matrix and ``tags`` the vocabulary in column order (default: the tags seen, sorted); a tag
    outside ``tags`` is a ``ValueError`` naming it."""
    from pipeline.measure.agreement.sets import encode_sets

    df = _frame(annotations)
    sets = encode_sets(df["label"])
    answered = sets.code >= 0
    seen = [str(t) for t in sets.tags]
    vocab = sorted(seen) if tags is None else [str(t) for t in tags]
    unknown = sorted(set(seen) - set(vocab))
    if unknown:
        raise ValueError(f"annotations use tag(s) {unknown[:10]} outside the vocabulary {vocab}; map or drop them")
    bits = sets.bits[sets.code[answered]]  # one bit row per answering row
    present = np.zeros((len(bits), len(vocab)), dtype=bool)
    position = {t: k for k, t in enumerate(seen)}
    for k, tag in enumerate(vocab):  # one vectorised pass per tag of the vocabulary
        if tag in position:
            p = position[tag]
            present[:, k] = (bits[:, p // 64] >> np.uint64(p % 64)) & np.uint64(1) == 1
    rows = df.loc[answered, ["item_id", "annotator_id"]].reset_index(drop=True)
    return rows, present, np.asarray(vocab, dtype=object)


def aggregate_tags(annotations: Any, method: Method = "dawid_skene", *, threshold: float = 0.5,
                   tags: Sequence[str] | None = None, gold: Any = None, **settings: Any) -> pd.DataFrame:
    """Consensus tag set per item (module docstring).

    Returns one row per item with an answer, sorted by ``item_id``: ``tags`` (the consensus set,
    sorted; ``[]`` when no tag reaches ``threshold``), ``n_annotations`` (answering annotators)
    and ``p_<tag>`` per tag of the vocabulary. ``gold``: ``item_id``, ``gold_tags`` (lists), used
    by ``dawid_skene``; ``settings``: the per-tag model's (e.g. ``max_iter``, ``tol``).
    """
    import pandas as pd

    from pipeline.merge.consensus import get_aggregator

    if method not in METHODS:
        raise ValueError(f"unknown tag consensus method {method!r}; choose one of {list(METHODS)}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    rows, present, vocab = tag_answers(annotations, tags=tags)
    n = rows.drop_duplicates().groupby("item_id", sort=True).size()  # annotators who answered, an empty set included
    items = pd.Index(n.index, name="item_id")
    position = items.get_indexer(pd.Index(rows["item_id"]))
    answers = np.bincount(position, minlength=len(items))
    if len(vocab) == 0:  # every answer is the empty set
        empty = pa.ListArray.from_arrays(pa.array(np.zeros(len(items) + 1, dtype=np.int32)), pa.array([], pa.string()))
        return pd.DataFrame({"item_id": items, "tags": empty.to_pandas(),
                             "n_annotations": n.to_numpy(dtype=np.int64)})
    probs = np.zeros((len(items), len(vocab)))
    gold_present = None
    if gold is not None and method == "dawid_skene":
        g = gold if isinstance(gold, pd.DataFrame) else gold.to_pandas()
        require_columns(g.columns, ("item_id", "gold_tags"), "gold", "one row per gold item with gold_tags a list")
        gold_rows, gold_present, _ = tag_answers(g.rename(columns={"gold_tags": "label"}).assign(annotator_id="gold"),
                                                 tags=list(vocab))
    for k in range(len(vocab)):  # binary relevance: one model per tag
        if method == "majority_vote":
            probs[:, k] = np.bincount(position, present[:, k], minlength=len(items)) / answers
            continue
        binary = rows.assign(label=present[:, k].astype(np.int64))
        tag_gold = None
        if gold_present is not None:
            tag_gold = pd.DataFrame({"item_id": gold_rows["item_id"].to_numpy(),
                                     "gold_label": gold_present[:, k].astype(np.int64)})
        fit = get_aggregator("dawid_skene", labels=[0, 1], **settings).fit(binary, gold=tag_gold)
        probs[:, k] = fit.probas_.reindex(index=items)[1].to_numpy(dtype=np.float64)
    order = np.argsort(np.asarray(vocab, dtype=str), kind="stable")  # each set's tags sorted, as staged
    chosen = probs[:, order] >= threshold - 1e-12
    offsets = np.concatenate([[0], np.cumsum(chosen.sum(axis=1))]).astype(np.int32)
    values = pa.array(np.tile(np.asarray(vocab, dtype=object)[order], len(items))[chosen.reshape(-1)], pa.string())
    sets = pa.ListArray.from_arrays(pa.array(offsets), values)
    out = pd.DataFrame({"item_id": items, "n_annotations": n.to_numpy(dtype=np.int64)})
    out.insert(1, "tags", pd.Series(sets.to_pandas().to_numpy(), index=out.index))  # arrays, as to_pandas gives
    for k, tag in enumerate(vocab):
        out[f"p_{tag}"] = probs[:, k]
    return out
