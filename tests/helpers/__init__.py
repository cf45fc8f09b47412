"""Helpers shared by the test modules (test modules never import each other)."""

from pathlib import Path

#: The repository root; shared datasets are at ``REPO.parent / "shared"`` (``../shared``).
REPO = Path(__file__).resolve().parents[2]
#: The tests folder (on ``sys.path`` in test processes, so ``helpers`` imports; subprocesses add it).
TESTS = REPO / "tests"
