"""Stage 3, measure: inter-annotator agreement (:mod:`~pipeline.measure.agreement`) and accuracy
against gold (:mod:`~pipeline.measure.accuracy`), with confidence intervals
(``metrics/<task>/date=<D>/``).
"""
