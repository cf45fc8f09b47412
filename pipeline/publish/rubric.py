"""A rubric's criteria side by side: one row per item, one group of columns per criterion.

A rubric is several rating tasks (:mod:`pipeline.kinds.rating`) over the same items, each
published on its own (versioned, checksummed). :func:`read_rubric` reads one version of each and
joins them on ``item_id`` into the wide table a reward or grader model trains on: per criterion
``<task>`` (the consensus score), ``<task>_se``, ``<task>_n`` (ratings), ``<task>_agreement`` and
``<task>_label`` (the nearest level), then the item's ``split``. An item a criterion held out (or
never had) is NaN / missing in that criterion's columns; ``attrs["versions"]`` records which
version of each task was read, so the table can be rebuilt exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline.publish import read_manifest, read_training_set
from pipeline.storage import Root

__all__ = ["read_rubric"]


def read_rubric(root: Root, tasks: Sequence[str], *, versions: Mapping[str, str] | None = None,
                verify: bool = True) -> pd.DataFrame:
    """The published versions of the rating ``tasks`` joined on ``item_id`` (module docstring).

    ``versions``: ``{task: version}`` to read (a version id, ``tag:<name>`` or ``latest``, the
    default for tasks not named). Raises ``ValueError`` for a task that is not a rating task, for
    a repeated task, and when two criteria put an item in different splits (their
    ``tasks.<t>.splits`` differ: the wide table would leak between train and test).
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("read_rubric needs at least one rating task (the rubric's criteria)")
    repeated = sorted({t for t in tasks if tasks.count(t) > 1})
    if repeated:
        raise ValueError(f"read_rubric: task(s) {repeated} named more than once")
    unknown = sorted(set(versions or {}) - set(tasks))
    if unknown:
        raise ValueError(f"read_rubric: versions given for {unknown}, which are not among the tasks {tasks}")
    read: dict[str, str] = {}
    parts: list[pd.DataFrame] = []
    splits: list[tuple[str, pd.Series]] = []
    for task in tasks:
        manifest = read_manifest(root, task, (versions or {}).get(task, "latest"))
        if manifest.get("kind") != "rating":
            raise ValueError(f"read_rubric: task {task!r} is a {manifest.get('kind')!r} task; a rubric's criteria are "
                             "rating tasks")
        read[task] = str(manifest["version"])
        frame = read_training_set(root, task, read[task], verify=verify,
                                  columns=["item_id", "score", "se", "n_annotations", "agreement", "label", "split"])
        splits.append((task, frame.set_index("item_id")["split"]))
        part = frame.set_index("item_id")[["score", "se", "n_annotations", "agreement", "label"]]
        part.columns = [task, f"{task}_se", f"{task}_n", f"{task}_agreement", f"{task}_label"]
        parts.append(part)
    wide = pd.concat(parts, axis=1, join="outer")
    every = pd.concat([s.rename(t) for t, s in splits], axis=1).reindex(wide.index).astype(object)
    first = every.bfill(axis=1).iloc[:, 0]
    clash = (every.notna() & every.ne(first, axis=0)).any(axis=1).to_numpy()
    if clash.any():
        items = list(wide.index[clash][:5])
        raise ValueError(f"read_rubric: criteria put {int(clash.sum())} item(s) in different splits (e.g. {items}); "
                         f"give the tasks {tasks} the same tasks.<t>.splits")
    wide["split"] = first.astype("string")
    for task in tasks:
        wide[f"{task}_n"] = wide[f"{task}_n"].astype("Int64")
    out = wide.rename_axis("item_id").reset_index().sort_values("item_id", ignore_index=True)
    out.attrs["versions"] = read
    return out
