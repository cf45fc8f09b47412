r"""Per-tag measures of tag-set annotations (a multi-label task): agreement, prevalence, accuracy
against gold and set-size bias.

Input: the long format with a list of tags per row (``[]`` the empty set, an answer; null no
answer, ignored; :mod:`pipeline.measure.agreement.sets`) in ``label`` (:func:`per_tag_agreement`,
:func:`tag_prevalence`) or in the staged column ``tags`` (:func:`tag_scores`,
:func:`set_size_bias`), plus ``vendor`` (or other ``by`` columns) for per-vendor scopes. Every
answer says for each tag present / absent (:func:`pipeline.merge.multilabel.tag_answers`), so each
tag is a binary label:

- :func:`per_tag_agreement`: per scope (``overall`` and each vendor) and tag, Krippendorff's alpha
  (nominal, i.e. binary) and Fleiss' kappa of the presence answers, over items with two or more
  answers;
- :func:`tag_prevalence`: per group (e.g. vendor) and tag, the share of its answers with the tag
  (Wilson 95% interval) and the group's mean set size: a vendor that tags more (over-tagging) or
  less (under-tagging) than the others shows here, tag by tag;
- :func:`tag_scores`: per group and tag, the confusion counts of its answers on gold items against
  the gold sets, precision, recall and F1 (with Wilson intervals), and their micro and macro
  averages over tags (as scikit-learn's ``precision_recall_fscore_support``);
- :func:`set_size_bias`: per group, the mean size of its sets minus that of a reference (the
  consensus or gold sets) on the same items, with a t interval: over- or under-tagging overall.

Loops run over tags and scopes (few), never over rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import require_columns

__all__ = ["PER_TAG_COLUMNS", "PREVALENCE_COLUMNS", "SIZE_BIAS_COLUMNS", "TAG_SCORE_COLUMNS", "per_tag_agreement",
           "set_size_bias", "tag_prevalence", "tag_scores"]

PER_TAG_COLUMNS: tuple[str, ...] = ("scope", "tag", "alpha", "fleiss_kappa", "n_items", "n_answers", "prevalence")
PREVALENCE_COLUMNS: tuple[str, ...] = ("tag", "n_answers", "n_with_tag", "prevalence", "ci_low", "ci_high",
                                       "mean_set_size")
TAG_SCORE_COLUMNS: tuple[str, ...] = ("tag", "n_gold", "tp", "fp", "fn", "tn", "precision", "precision_ci_low",
                                      "precision_ci_high", "recall", "recall_ci_low", "recall_ci_high", "f1")
SIZE_BIAS_COLUMNS: tuple[str, ...] = ("n", "mean_set_size", "mean_reference_size", "size_bias", "bias_ci_low",
                                      "bias_ci_high", "tagging")
#: The ``tag`` of :func:`tag_scores`' rows averaging over tags.
MICRO, MACRO = "(micro)", "(macro)"


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


def _frame(data: Any) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else data.to_pandas()


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")


def _presence(sets: pd.DataFrame, column: str) -> tuple[np.ndarray, list[str]]:
    """Presence matrix (rows x tags seen, sorted) of ``sets[column]``, every row an answer."""
    from pipeline.merge.multilabel import tag_answers

    frame = sets[["item_id", column]].rename(columns={column: "label"}).assign(annotator_id="")
    _, present, seen = tag_answers(frame)
    return present, [str(t) for t in seen]


def _align(present: np.ndarray, seen: Sequence[str], vocab: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(present), len(vocab)), dtype=bool)
    out[:, pd.Index(list(vocab)).get_indexer(pd.Index(list(seen)))] = present
    return out


def _unique_items(frame: pd.DataFrame, what: str) -> None:
    doubled = frame["item_id"][frame["item_id"].duplicated()].unique()
    if len(doubled):
        raise ValueError(f"{what} has several rows for item(s) {list(doubled[:10])}; keep one set per item")


def _group_codes(df: pd.DataFrame, rows: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Every group of ``df`` (sorted) and each row of ``rows``' group position."""
    groups = df[key].drop_duplicates().sort_values(key, ignore_index=True)
    code = pd.MultiIndex.from_frame(groups).get_indexer(pd.MultiIndex.from_frame(rows[key]))
    return groups, np.asarray(code, dtype=np.int64)


def tag_scores(annotations: Any, gold: Any, *, by: Sequence[str] = ("vendor",), tags: Sequence[str] | None = None,
               confidence: float = 0.95) -> pd.DataFrame:
    r"""Precision, recall and F1 per group and tag of the answers on gold items against the gold sets.

    For group :math:`g` and tag :math:`t`, over :math:`g`'s answers (``tags`` not null; ``[]``
    is an answer) on items of ``gold`` (``item_id``, ``gold_tags``): :math:`tp` answers with
    :math:`t` whose gold set has it, :math:`fp` with :math:`t` whose gold set has not, :math:`fn`
    without :math:`t` whose gold set has it, :math:`tn` the rest (``n_gold`` answers in all);

    .. math::
        P = \frac{tp}{tp + fp}, \quad R = \frac{tp}{tp + fn}, \quad F_1 = \frac{2\,tp}{2\,tp + fp + fn}

    NaN when 0/0; ``precision_ci_*`` / ``recall_ci_*`` the Wilson interval (``confidence``) of
    :math:`tp` of :math:`tp + fp` / :math:`tp + fn`. Per group two more rows: ``tag ==
    "(micro)"``, the same of the counts summed over tags, and ``"(macro)"``, the unweighted mean
    of the per-tag :math:`P`, :math:`R`, :math:`F_1` over the tags where each is defined (counts the
    sums, intervals NaN): scikit-learn's ``precision_recall_fscore_support`` with ``average=None``
    / ``"micro"`` / ``"macro"`` and ``zero_division=np.nan``. ``tags``: the vocabulary (default:
    the tags of annotations and gold, sorted). Groups without answers on gold items appear with
    ``n_gold == 0`` and NaN; gold items nobody answered do not count. Columns ``by`` then
    :data:`TAG_SCORE_COLUMNS`. Reference: G. Tsoumakas, I. Katakis, I. Vlahavas (2010), "Mining
    multi-label data", Data Mining and Knowledge Discovery Handbook (micro / macro averaging).
    """
    from pipeline.measure.accuracy import wilson_interval

    _check_confidence(confidence)
    df, g = _frame(annotations), _frame(gold)
    key = list(by)
    require_columns(df.columns, ("item_id", "tags", *key), "annotations",
                    "one row per (item, annotator) with tags a list of tags")
    require_columns(g.columns, ("item_id", "gold_tags"), "gold", "one row per gold item with gold_tags a list of tags")
    answered = df[df["tags"].notna()].reset_index(drop=True)
    g = g[g["gold_tags"].notna()].reset_index(drop=True)
    _unique_items(g, "gold")
    present, seen = _presence(answered, "tags")
    gold_present, gold_seen = _presence(g, "gold_tags")
    vocab = sorted(set(seen) | set(gold_seen)) if tags is None else [str(t) for t in tags]
    if len(set(vocab)) < len(vocab):
        raise ValueError(f"tags {vocab} repeat a tag; give each tag once")
    for what, used in (("annotations", seen), ("gold", gold_seen)):
        unknown = sorted(set(used) - set(vocab))
        if unknown:
            raise ValueError(f"{what} use tag(s) {unknown[:10]} outside tags={vocab}; "
                             "add them to tags or map / drop them")
    position = pd.Index(g["item_id"]).get_indexer(answered["item_id"])
    on_gold = position >= 0
    said = _align(present, seen, vocab)[on_gold]
    truth = _align(gold_present, gold_seen, vocab)[position[on_gold]]
    groups, code = _group_codes(df, answered[on_gold], key)
    n_groups, n_tags = len(groups), len(vocab)
    counts: dict[str, np.ndarray] = {}
    for name, hit in (("tp", said & truth), ("fp", said & ~truth), ("fn", ~said & truth)):
        c = np.zeros((n_groups, n_tags), dtype=np.int64)
        np.add.at(c, code, hit.astype(np.int64))
        counts[name] = c
    n_gold = np.bincount(code, minlength=n_groups).astype(np.int64)
    counts["tn"] = n_gold[:, None] - counts["tp"] - counts["fp"] - counts["fn"]
    # per tag, then the micro row (counts summed over tags): groups x (tags + 1)
    tp, fp, fn, tn = (np.column_stack([counts[c], counts[c].sum(axis=1)]) for c in ("tp", "fp", "fn", "tn"))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / (tp + fp)
        recall = tp / (tp + fn)
        f1 = 2 * tp / (2 * tp + fp + fn)
    p_low, p_high = wilson_interval(tp, tp + fp, confidence=confidence)
    r_low, r_high = wilson_interval(tp, tp + fn, confidence=confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a group with no defined value: NaN
        macro = [np.nanmean(m[:, :n_tags], axis=1) if n_tags else np.full(n_groups, np.nan)
                 for m in (precision, recall, f1)]
    nan = np.full((n_groups, 1), np.nan)
    stats = {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
             "precision": np.column_stack([precision, macro[0]]), "recall": np.column_stack([recall, macro[1]]),
             "f1": np.column_stack([f1, macro[2]]),
             "precision_ci_low": np.column_stack([p_low, nan]), "precision_ci_high": np.column_stack([p_high, nan]),
             "recall_ci_low": np.column_stack([r_low, nan]), "recall_ci_high": np.column_stack([r_high, nan])}
    for name in ("tp", "fp", "fn", "tn"):  # the macro row's counts: the sums, as the micro row's
        stats[name] = np.column_stack([stats[name], stats[name][:, -1]])
    labels = [*vocab, MICRO, MACRO]
    out = groups.loc[groups.index.repeat(len(labels))].reset_index(drop=True)
    out["tag"] = np.tile(np.asarray(labels, dtype=object), n_groups)
    out["n_gold"] = np.repeat(n_gold, len(labels))
    for name, values in stats.items():
        out[name] = values.reshape(-1)
    return out[[*key, *TAG_SCORE_COLUMNS]]


def set_size_bias(annotations: Any, reference: Any, *, by: Sequence[str] = ("vendor",),
                  confidence: float = 0.95) -> pd.DataFrame:
    r"""Over- and under-tagging: how many more tags a group's sets hold than a reference's.

    Over the group's answers (``tags`` not null; ``[]`` has size 0) on items of ``reference``
    (``item_id``, ``tags``: e.g. the consensus sets of
    :func:`pipeline.merge.multilabel.aggregate_tags`, or gold with ``gold_tags`` renamed), per
    answer :math:`d_i = |S_i| - |R_{item(i)}|`; ``n`` answers, ``mean_set_size``
    :math:`\overline{|S|}`, ``mean_reference_size`` :math:`\overline{|R|}` (of the same answers'
    items), ``size_bias`` :math:`\bar d` and its t interval

    .. math::
        \bar d \pm t_{n-1,\,(1+c)/2}\, s_d / \sqrt{n}

    (``bias_ci_low``, ``bias_ci_high``; NaN when :math:`n < 2`); ``tagging`` ``"over"`` when the
    interval lies above 0, ``"under"`` below, else ``"neutral"`` (an undefined interval too).
    Groups without answers on reference items appear with ``n == 0``. Columns ``by`` then
    :data:`SIZE_BIAS_COLUMNS`. Reference: W. S. Gosset ("Student", 1908), "The probable error of
    a mean", Biometrika 6(1) (the t interval).
    """
    from scipy.stats import t as student_t

    _check_confidence(confidence)
    df, ref = _frame(annotations), _frame(reference)
    key = list(by)
    require_columns(df.columns, ("item_id", "tags", *key), "annotations",
                    "one row per (item, annotator) with tags a list of tags")
    require_columns(ref.columns, ("item_id", "tags"), "reference",
                    "one row per item with tags its reference set (rename gold_tags to tags for gold)")
    answered = df[df["tags"].notna()].reset_index(drop=True)
    ref = ref[ref["tags"].notna()].reset_index(drop=True)
    _unique_items(ref, "reference")
    size = _presence(answered, "tags")[0].sum(axis=1).astype(np.float64)  # distinct tags per set
    ref_size = _presence(ref, "tags")[0].sum(axis=1).astype(np.float64)
    position = pd.Index(ref["item_id"]).get_indexer(answered["item_id"])
    on_ref = position >= 0
    groups, code = _group_codes(df, answered[on_ref], key)
    frame = pd.DataFrame({"code": code, "size": size[on_ref], "ref_size": ref_size[position[on_ref]]})
    frame["d"] = frame["size"] - frame["ref_size"]
    stats = frame.groupby("code").agg(n=("d", "size"), mean_set_size=("size", "mean"),
                                      mean_reference_size=("ref_size", "mean"), size_bias=("d", "mean"),
                                      sd=("d", "std")).reindex(range(len(groups)))
    n = stats["n"].fillna(0).to_numpy(dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = student_t.ppf(0.5 + confidence / 2, np.where(n >= 2, n - 1, np.nan))
        half = quantile * stats["sd"].to_numpy(dtype=np.float64) / np.sqrt(n)
    bias = stats["size_bias"].to_numpy(dtype=np.float64)
    low, high = np.where(n >= 2, bias - half, np.nan), np.where(n >= 2, bias + half, np.nan)
    out = groups.copy()
    out["n"] = n
    for name in ("mean_set_size", "mean_reference_size", "size_bias"):
        out[name] = stats[name].to_numpy(dtype=np.float64)
    out["bias_ci_low"], out["bias_ci_high"] = low, high
    out["tagging"] = np.select([low > 0, high < 0], ["over", "under"], default="neutral")
    return out[[*key, *SIZE_BIAS_COLUMNS]]
