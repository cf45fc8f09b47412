"""The agreement metrics' public name: ``pipeline.agreement`` is :mod:`pipeline.measure.agreement`.

>>> import pandas as pd
>>> from pipeline.agreement import krippendorff_alpha
>>> sets = pd.DataFrame({"item_id": [1, 1, 2, 2], "annotator_id": ["a", "b", "a", "b"],
...                      "label": [["spam"], ["spam"], ["spam", "toxic"], []]})
>>> round(krippendorff_alpha(sets, distance="jaccard"), 3)
0.25
"""

from pipeline.measure.agreement import *  # noqa: F403 - the same names, one implementation
from pipeline.measure.agreement import __all__ as __all__  # noqa: F401
