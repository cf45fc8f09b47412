"""Stage 6, score: vendor and annotator scorecards over time (:mod:`~pipeline.score.scorecard`)
and vendor SLA checks (:mod:`~pipeline.score.sla`) (``scorecards/<task>/date=<D>/``).
"""
