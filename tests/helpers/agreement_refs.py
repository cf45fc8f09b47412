"""Published reference tables for the agreement tests (data module, no tests).

Sources (looked up in public repositories, not invented):

* Krippendorff, K. (2011) "Computing Krippendorff's Alpha-Reliability",
  examples A (binary, two observers), B (nominal, two observers) and C
  (four observers, twelve units, missing values).  The same tables appear in
  medkit's ``test_irr_utils.py`` (A, B, C) and in fast-krippendorff's
  ``krippendorff.alpha`` docstring / tests (C: nominal .743, ordinal .815,
  ratio .797; interval .849 in dkpro-statistics ``Krippendorff2004Test``).
* Fleiss' kappa: Wikipedia 10 subjects x 14 raters table (statsmodels
  ``test_inter_rater.py`` ``table1``, kappa .210) and Fleiss (1971)
  psychiatric diagnoses, 30 subjects x 6 raters (statsmodels ``diagnoses``,
  kappa .4302445 from R irr ``kappam.fleiss``).
* Cohen's kappa: Artstein & Poesio (2008) tables 1 and 4 and a weighted
  example (scikit-learn ``test_classification.py::test_cohen_kappa``), and a
  SAS example (statsmodels ``table10``: kappa .4842, linear weighted .4701).
* Krippendorff (2004, p. 246) 2x3 tables for percent agreement, Scott's pi
  and Cohen's kappa (dkpro-statistics ``Krippendorff2004Test``).
* Gwet AC1 hand example (dkpro-statistics ``Gwet2008Test``): AC1 .8658,
  Scott's pi .6078.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

nan = float("nan")

# --- Krippendorff (2011) --------------------------------------------------------
# A. binary data, two observers, no missing data -> alpha = 0.095
KRIPP_BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]
KRIPP_BINARY_ALPHA = 0.095

# B. nominal data, two observers (Ben, Gerry), no missing data -> alpha = 0.692
KRIPP_NOMINAL_TWO = [
    ["a", "a", "b", "b", "d", "c", "c", "c", "e", "d", "d", "a"],
    ["b", "a", "b", "b", "b", "c", "c", "c", "e", "d", "d", "d"],
]
KRIPP_NOMINAL_TWO_ALPHA = 0.692

# C. four observers, twelve units, missing values (None)
KRIPP_FOUR = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
KRIPP_FOUR_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# --- Fleiss -----------------------------------------------------------------------
# Wikipedia: 10 subjects, 14 raters, counts per category (5 categories) -> 0.210
WIKI_FLEISS_COUNTS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]
WIKI_FLEISS_KAPPA = 0.210

# Fleiss (1971) diagnoses: 30 subjects x 6 raters -> 0.4302445
FLEISS_1971_DIAGNOSES = [
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
]
FLEISS_1971_KAPPA = 0.4302445

# --- Cohen ------------------------------------------------------------------------
# Artstein & Poesio (2008) table 1 -> 0.348
AP_TABLE1 = ([0] * 40 + [1] * 60, [0] * 20 + [1] * 20 + [0] * 10 + [1] * 50)
AP_TABLE1_KAPPA = 0.348
# Artstein & Poesio (2008) table 4 (multiclass) -> 0.8013
AP_TABLE4 = ([0] * 46 + [1] * 44 + [2] * 10, [0] * 52 + [1] * 32 + [2] * 16)
AP_TABLE4_KAPPA = 0.8013
# weighting example -> none .9315, linear .9412, quadratic .9541
WEIGHTED_EXAMPLE = ([0] * 46 + [1] * 44 + [2] * 10, [0] * 50 + [1] * 40 + [2] * 10)
WEIGHTED_EXAMPLE_KAPPA = {None: 0.9315, "linear": 0.9412, "quadratic": 0.9541}
# SAS example, 3x3 contingency table (rows rater 1, columns rater 2)
SAS_TABLE10 = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]
SAS_TABLE10_KAPPA = {None: 0.4842, "linear": 0.4701}

# --- Krippendorff (2004, p. 246): 2x3 tables, cell counts (rater1, rater2) ---------
K2004_TABLE_4A = {("a", "a"): 12, ("a", "b"): 9, ("a", "c"): 9, ("b", "a"): 9, ("b", "b"): 14,
                  ("b", "c"): 9, ("c", "a"): 9, ("c", "b"): 9, ("c", "c"): 20}
K2004_TABLE_4B = {("a", "a"): 12, ("a", "b"): 18, ("a", "c"): 18, ("b", "a"): 0, ("b", "b"): 14,
                  ("b", "c"): 18, ("c", "a"): 0, ("c", "b"): 0, ("c", "c"): 20}
K2004_4A = {"percent_agreement": 0.460, "scott_pi": 0.186, "cohen_kappa": 0.186}
K2004_4B = {"percent_agreement": 0.460, "scott_pi": 0.186, "cohen_kappa": 0.258}

# --- Gwet AC1 hand example (8 x (y,y), 1 x (n,n), 1 x (y,n)) -------------------------
GWET_HAND = {("y", "y"): 8, ("n", "n"): 1, ("y", "n"): 1}
GWET_HAND_AC1 = 0.8658
GWET_HAND_PI = 0.6078


# --- converters to the long format --------------------------------------------------
def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def coders_by_units(matrix: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Reliability data (rows = coders, columns = units, None = missing) -> long format."""
    rows = [
        (f"u{u}", f"coder{c}", v)
        for c, row in enumerate(matrix)
        for u, v in enumerate(row)
        if not _missing(v)
    ]
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def units_by_raters(matrix: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows = subjects, columns = raters -> long format."""
    return coders_by_units(np.asarray(matrix, dtype=object).T.tolist())


def counts_to_long(counts: Sequence[Sequence[int]]) -> pd.DataFrame:
    """Subject x category count table -> long format (rater ids arbitrary per subject)."""
    rows = []
    for i, row in enumerate(counts):
        k = 0
        for cat, n in enumerate(row):
            for _ in range(int(n)):
                rows.append((f"s{i}", f"r{k}", cat))
                k += 1
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def pairs_to_long(y1: Sequence[Any], y2: Sequence[Any]) -> pd.DataFrame:
    """Two raters' aligned label vectors -> long format (raters 'r1', 'r2')."""
    rows = [(f"i{i}", "r1", a) for i, a in enumerate(y1)] + [(f"i{i}", "r2", b) for i, b in enumerate(y2)]
    return pd.DataFrame(rows, columns=["item_id", "annotator_id", "label"])


def cells_to_long(cells: dict[tuple[Any, Any], int] | Sequence[Sequence[int]]) -> pd.DataFrame:
    """Two-rater contingency table (dict of (l1, l2) -> count, or matrix) -> long format."""
    if not isinstance(cells, dict):
        cells = {(j, k): int(n) for j, row in enumerate(cells) for k, n in enumerate(row)}
    y1: list[Any] = []
    y2: list[Any] = []
    for (a, b), n in cells.items():
        y1 += [a] * n
        y2 += [b] * n
    return pairs_to_long(y1, y2)
