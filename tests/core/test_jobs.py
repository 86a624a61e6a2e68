"""The periodic jobs of ARCHITECTURE.md are scheduled and run."""

import pytest
from django.conf import settings

from config.celery import app

pytestmark = pytest.mark.django_db


def test_every_scheduled_job_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.parametrize(
    "task", ["checkpoints.tasks.verify_capacity", "deposits.tasks.verify_ledger"]
)
def test_nightly_checks_run_clean_on_an_empty_database(task):
    app.loader.import_default_modules()
    assert app.tasks[task].apply().get() is True
