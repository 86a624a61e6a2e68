"""Booking tests read in English (the shared world and its fixtures: tests/worlds.py,
tests/conftest.py)."""

import pytest


@pytest.fixture(autouse=True)
def _english(english):
    yield
