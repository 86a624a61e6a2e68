"""Notification tests read in English; they use the booking world (tests/worlds.py) and the
shared fixtures of tests/conftest.py (`world`, `clock`, `eager`, `commit`)."""

import pytest


@pytest.fixture(autouse=True)
def _english(english):
    yield
