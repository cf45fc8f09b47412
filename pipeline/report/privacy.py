"""Annotator pseudonyms for everything shared outside the data team.

Reports (HTML and JSON) name an annotator by a pseudonym, never by the vendor's id:

.. math:: \\operatorname{pseudonym}(v, a) = \\texttt{"a-"} \\Vert
          \\operatorname{hex}_{12}\\big(\\operatorname{HMAC\\text{-}SHA256}(k,\\ v \\Vert \\texttt{0x00} \\Vert a)\\big)

for vendor ``v`` and annotator id ``a`` (an annotator is the pair, so ``w1`` of two vendors gets
two pseudonyms). The key ``k`` comes from ``$LABELQ_PSEUDONYM_KEY``; unset, from the root's own
key file (:meth:`pipeline.storage.Layout.pseudonym_key`, created once with 32 random bytes, mode
0600), so pseudonyms are stable across reports of one root but cannot be reversed by hashing
guessed ids (``ac-000``, ``w1``) without the key. Real ids stay in the restricted scorecard
files (``scorecards/<task>/date=<D>/scorecard_annotator.parquet``); a pseudonym in a report is
traced back by recomputing it over those (:func:`pseudonymise`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from pipeline.storage import Store

log = logging.getLogger("labelq")

#: Environment variable holding the pseudonym key (any text; at least 16 characters).
PSEUDONYM_KEY_ENV = "LABELQ_PSEUDONYM_KEY"
PREFIX = "a-"


def pseudonym_key(store: Store) -> bytes:
    """The key: ``$LABELQ_PSEUDONYM_KEY``, else the root's key file (created on first use)."""
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env is not None:
        if len(env) < 16:
            raise ValueError(f"${PSEUDONYM_KEY_ENV} is {len(env)} characters long; use at least 16 "
                             "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
        return env.encode()
    key = store.layout.pseudonym_key().as_posix()
    if not store.is_file(key) and store.create_private(key, secrets.token_hex(32).encode() + b"\n"):
        log.info("privacy: created %s (annotator pseudonyms; set $%s to share one key across roots)",
                 store.location(key), PSEUDONYM_KEY_ENV)
    return store.read_bytes(key).strip()


def pseudonymise(vendor: pd.Series | np.ndarray, annotator_id: pd.Series | np.ndarray, key: bytes) -> np.ndarray:
    """Pseudonyms of (vendor, annotator id) pairs; null ids stay null. One HMAC per distinct pair."""
    pairs = pd.DataFrame({"v": np.asarray(vendor, dtype=object), "a": np.asarray(annotator_id, dtype=object)})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs), use_na_sentinel=False)
    names = np.array([
        None if a is None or (isinstance(a, float) and np.isnan(a))
        else PREFIX + hmac.new(key, f"{v}\x00{a}".encode(), hashlib.sha256).hexdigest()[:12]
        for v, a in uniques
    ], dtype=object)
    return names[codes] if len(names) else np.array([], dtype=object)
