"""Stage 2, validate: Great Expectations suites and row checks split each ingested file into
staged and quarantined rows, each with a reason.

:mod:`~pipeline.validate.gx` runs the GX suites of ``expectations/``; :mod:`~pipeline.validate.rows`
compiles them into vectorised row checks; :mod:`~pipeline.validate.stage` runs one vendor and day
(``staged/<task>/date=<D>/vendor=<v>/`` and ``quarantine/date=<D>/vendor=<v>/``).
"""
