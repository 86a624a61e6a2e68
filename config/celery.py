import logging
import os

from celery import Celery
from celery.signals import beat_init, setup_logging, task_postrun, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

logger = logging.getLogger("kezek.jobs")

app = Celery("kezek")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_unsafe_production(**_kwargs) -> None:
    # This module loads with config/__init__, before Django's settings and apps: what needs
    # them is imported when the signal comes.
    from config.production_guard import refuse_unsafe_production

    refuse_unsafe_production()


@setup_logging.connect
def _use_django_logging(**_kwargs) -> None:
    """Workers and beat log like the web (settings.LOGGING: JSON in production, with each task's
    id on the lines it writes) instead of Celery's own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_ready.connect
def _first_heartbeat(**_kwargs) -> None:
    """A worker that just started is healthy before beat's first heartbeat job reaches it."""
    from core.healthz import heartbeat_record

    heartbeat_record()


@task_postrun.connect
def _log_what_the_job_did(task=None, retval=None, state=None, **_kwargs) -> None:
    """One line per finished job in place of Celery's own (core.log): at INFO when it did
    something (a count above zero, a non-empty answer), at DEBUG when it found nothing to do,
    so the periodic jobs stay out of the console unless they acted. Failures are Celery's."""
    if state != "SUCCESS":
        return
    level = logging.INFO if retval else logging.DEBUG
    logger.log(level, "job %s done: %s", task.name, retval)
