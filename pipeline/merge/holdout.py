"""Which merged items stay out of the training set, and the list sent back for relabelling.

An item is held out when its consensus is too thin or too uncertain to train on. The rules
come from the task's config (:class:`pipeline.config.TaskConfig`), checked in this order and
all reported (joined with ``"; "``):

``min_labels_per_item``
    ``n_annotations < min_labels_per_item`` -> ``"fewer than <n> labels"``;
``min_confidence``
    ``confidence < min_confidence`` -> ``"confidence below <t>"`` (the posterior probability of
    the consensus label: the vote share for majority vote, the EM posterior for Dawid-Skene);
``min_agreement``
    ``agreement < min_agreement`` -> ``"agreement below <t>"`` (share of the item's labels that
    equal the consensus).

The reasons are fixed texts (no per-item numbers), so they group: the report counts items per
reason and the relabel list (:func:`relabel_list`) can be filtered by it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["RELABEL_COLUMNS", "held_out_reasons", "relabel_list"]

#: Columns of the relabel list, in order.
RELABEL_COLUMNS: tuple[str, ...] = ("item_id", "held_out_reason", "label", "confidence", "agreement", "n_annotations", "vendors")


def held_out_reasons(
    consensus: pd.DataFrame,
    *,
    min_labels: int = 1,
    min_confidence: float | None = None,
    min_agreement: float | None = None,
) -> pd.Series:
    """Why each item of ``consensus`` is held out (``<NA>``: it goes into the training set).

    Parameters
    ----------
    consensus : DataFrame
        One row per item with ``n_annotations``, ``confidence`` and ``agreement`` (the output
        of :func:`pipeline.merge.consensus.aggregate`).
    min_labels, min_confidence, min_agreement
        Thresholds (see the module docstring); None disables a rule.

    Returns
    -------
    Series of ``string`` dtype aligned with ``consensus``.
    """
    rules: list[tuple[np.ndarray, str]] = [
        (consensus["n_annotations"].to_numpy() < min_labels, f"fewer than {min_labels} labels")
    ]
    if min_confidence is not None:
        rules.append((consensus["confidence"].to_numpy(dtype=float) < min_confidence, f"confidence below {min_confidence:g}"))
    if min_agreement is not None:
        rules.append((consensus["agreement"].to_numpy(dtype=float) < min_agreement, f"agreement below {min_agreement:g}"))
    which = np.zeros(len(consensus), dtype=np.int64)  # bit b: rule b holds; the text of every combination once
    for bit, (mask, _) in enumerate(rules):
        which |= mask.astype(np.int64) << bit
    texts = ["; ".join(text for bit, (_, text) in enumerate(rules) if combination >> bit & 1) or None
             for combination in range(1 << len(rules))]
    return pd.Series(np.array(texts, dtype=object)[which], index=consensus.index, dtype="string")


def relabel_list(consensus: pd.DataFrame) -> pd.DataFrame:
    """The held-out items of ``consensus`` (non-null ``held_out_reason``), sorted by item_id.

    Columns :data:`RELABEL_COLUMNS` (those present): what a vendor-ops team needs to send
    the items back for more labels: why, the current consensus and who labelled them.
    """
    held = consensus[consensus["held_out_reason"].notna()]
    cols = [c for c in RELABEL_COLUMNS if c in held.columns]
    return held[cols].sort_values("item_id", ignore_index=True)
