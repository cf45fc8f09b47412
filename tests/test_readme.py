"""The README's code layout lists exactly what ``pipeline/`` holds."""

from __future__ import annotations

import re

from helpers import REPO


def test_readme_layout_matches_the_pipeline_package():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout of the code", 1)[1].split("```", 2)[1]
    listed = re.findall(r"^  (\S+?)/?\s", block.split("pipeline/", 1)[1].split("\ndags/", 1)[0], flags=re.M)
    present = sorted(p.name for p in (REPO / "pipeline").iterdir()
                     if p.name not in ("__init__.py", "py.typed", "__pycache__") and not p.name.startswith("."))
    assert sorted(listed) == present
