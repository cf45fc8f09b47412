"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from helpers.history import builds


@pytest.fixture(scope="module")
def in_order(processed) -> dict[str, tuple[str, str, list[str]]]:
    """What running the three simulated days in order publishes (the reference)."""
    return builds(processed)
