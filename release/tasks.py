"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from release import services


@shared_task
def schedule_release_windows() -> int:
    return len(services.windows_schedule())


@shared_task
def run_draws() -> int:
    return len(services.draws_run())
