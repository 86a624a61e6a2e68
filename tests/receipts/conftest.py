"""Receipts tests: the booking world (a carrier with money, vehicles and drivers; time frozen on
Friday 20 March 2026 in Almaty) and Celery run in the process. Helpers are in helpers.py."""

import pytest

from tests.bookings.conftest import clock, english, world  # noqa: F401


@pytest.fixture
def eager(settings):
    """Celery tasks run in the process, right when they are queued (after commit here)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): ...` runs what the code queued with on_commit when the block ends, as a
    real commit would (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
