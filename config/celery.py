import os

from celery import Celery
from celery.signals import beat_init, setup_logging, worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("kezek")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _refuse_unsafe_production(**_kwargs) -> None:
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
