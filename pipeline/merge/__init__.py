"""Stage 4, merge: consensus labels with per-item confidence (:mod:`~pipeline.merge.consensus`)
and the items held out of training or sent back for relabelling (:mod:`~pipeline.merge.holdout`)
(``consensus/<task>/date=<D>/``).
"""
