"""Stage 1, ingest: every vendor's delivered Parquet files onto the canonical long format.

:mod:`~pipeline.ingest.canonical` maps a vendor's schema and vocabulary (pure, per record
batch); :mod:`~pipeline.ingest.ledger` records which file produced which rows;
:mod:`~pipeline.ingest.stage` runs one vendor and day (``ingested/date=<D>/vendor=<v>/``).
"""
