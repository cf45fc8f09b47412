r"""Per-tag measures of tag-set annotations (a multi-label task): agreement and prevalence per tag.

Input: the long format with ``label`` a list of tags per row (``[]`` the empty set; null no answer;
:mod:`pipeline.measure.agreement.sets`), plus ``vendor`` for per-vendor scopes. Every answer says
for each tag present / absent (:func:`pipeline.merge.multilabel.tag_answers`), so each tag is a
binary label:

- :func:`per_tag_agreement`: per scope (``overall`` and each vendor) and tag, Krippendorff's alpha
  (nominal, i.e. binary) and Fleiss' kappa of the presence answers, over items with two or more
  answers;
- :func:`tag_prevalence`: per group (e.g. vendor) and tag, the share of its answers with the tag
  (Wilson 95% interval) and the group's mean set size: a vendor that tags more (over-tagging) or
  less (under-tagging) than the others shows here, tag by tag.

Loops run over tags and scopes (few), never over rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import require_columns

__all__ = ["PER_TAG_COLUMNS", "PREVALENCE_COLUMNS", "per_tag_agreement", "tag_prevalence"]

PER_TAG_COLUMNS: tuple[str, ...] = ("scope", "tag", "alpha", "fleiss_kappa", "n_items", "n_answers", "prevalence")
PREVALENCE_COLUMNS: tuple[str, ...] = ("tag", "n_answers", "n_with_tag", "prevalence", "ci_low", "ci_high",
                                       "mean_set_size")


def per_tag_agreement(annotations: Any, *, tags: Sequence[str] | None = None, by: str | None = "vendor") -> pd.DataFrame:
    """Binary agreement per tag, overall and per ``by`` value (module docstring); columns
    :data:`PER_TAG_COLUMNS`. Undefined values (one answer per item, a tag nobody or everybody
    used) are NaN."""
    from pipeline.measure.agreement import UndefinedAgreementWarning, fleiss_kappa, krippendorff_alpha
    from pipeline.merge.multilabel import tag_answers

    df = annotations if isinstance(annotations, pd.DataFrame) else annotations.to_pandas()
    require_columns(df.columns, ("item_id", "annotator_id", "label", *([by] if by else [])), "annotations")
    scopes: list[tuple[str, pd.DataFrame]] = [("overall", df)]
    if by:
        scopes += [(str(v), g) for v, g in df.groupby(by, sort=True)]
    vocab = list(tags) if tags is not None else [str(t) for t in tag_answers(df)[2]]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedAgreementWarning)
        for scope, frame in scopes:
            answers, present, _ = tag_answers(frame, tags=vocab)
            rated = answers.groupby("item_id").size()
            for k, tag in enumerate(vocab):
                binary = answers.assign(label=present[:, k].astype(np.int64))
                rows.append({"scope": scope, "tag": tag,
                             "alpha": krippendorff_alpha(binary) if len(binary) else np.nan,
                             "fleiss_kappa": fleiss_kappa(binary) if len(binary) else np.nan,
                             "n_items": int((rated >= 2).sum()), "n_answers": len(binary),
                             "prevalence": float(present[:, k].mean()) if len(binary) else np.nan})
    return pd.DataFrame(rows, columns=list(PER_TAG_COLUMNS)).astype({"n_items": "int64", "n_answers": "int64"})


def tag_prevalence(annotations: Any, *, by: Sequence[str] = ("vendor",), tags: Sequence[str] | None = None,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Share of each group's answers carrying each tag, with Wilson intervals, and the group's
    mean set size (module docstring); columns ``by`` then :data:`PREVALENCE_COLUMNS`."""
    from pipeline.measure.accuracy import wilson_interval
    from pipeline.merge.multilabel import tag_answers

    df = annotations if isinstance(annotations, pd.DataFrame) else annotations.to_pandas()
    key = list(by)
    require_columns(df.columns, ("item_id", "annotator_id", "label", *key), "annotations")
    answered = df[df["label"].notna()].reset_index(drop=True)
    _, present, vocab = tag_answers(answered, tags=tags)  # the answering rows, in order
    n_answers = answered.groupby(key, sort=True).size()
    with_tag = pd.DataFrame(present, columns=list(vocab)).groupby([answered[c] for c in key], sort=True).sum()
    size = with_tag.sum(axis=1) / n_answers
    counts = with_tag.reset_index().melt(id_vars=key, var_name="tag", value_name="n_with_tag")
    counts = counts.sort_values([*key, "tag"], ignore_index=True)
    counts = counts.merge(n_answers.rename("n_answers").reset_index(), on=key, how="left")
    counts["n_with_tag"] = counts["n_with_tag"].astype("int64")
    counts["prevalence"] = counts["n_with_tag"] / counts["n_answers"]
    counts["ci_low"], counts["ci_high"] = wilson_interval(counts["n_with_tag"].to_numpy(), counts["n_answers"].to_numpy(),
                                                          confidence=confidence)
    counts = counts.merge(size.rename("mean_set_size").reset_index(), on=key, how="left")
    return counts[[*key, *PREVALENCE_COLUMNS]]
