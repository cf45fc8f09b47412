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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("labelq")

#: Environment variable holding the pseudonym key (any text; at least 16 characters).
PSEUDONYM_KEY_ENV = "LABELQ_PSEUDONYM_KEY"
PREFIX = "a-"


def pseudonym_key(store: Any) -> bytes:
    """The key: ``$LABELQ_PSEUDONYM_KEY``, else the root's key file (created on first use)."""
    env = os.environ.get(PSEUDONYM_KEY_ENV)
    if env is not None:
        if len(env) < 16:
            raise ValueError(f"${PSEUDONYM_KEY_ENV} is {len(env)} characters long; use at least 16 "
                             "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")
        return env.encode()
    key = store.layout.pseudonym_key().as_posix()
    if not store.is_file(key):
        _create_key(store, key)
    return store.read_bytes(key).strip()


def _create_key(store: Any, key: str) -> None:
    """Create the key file once. On local disk two stages racing to create it agree: the key is
    linked into place only if no file is there yet (the loser reads the winner's)."""
    data = secrets.token_hex(32).encode() + b"\n"
    if store.is_local:
        path = Path(store.path(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(6)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created the key first
        except FileExistsError:
            return
        finally:
            tmp.unlink()
    else:
        store.write_bytes(key, data)
    log.info("privacy: created %s (annotator pseudonyms; set $%s to share one key across roots)",
             store.location(key), PSEUDONYM_KEY_ENV)


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
