"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from bookings import services


@shared_task
def expire_holds() -> int:
    return services.expire_holds()


@shared_task
def sweep_no_shows() -> int:
    return services.sweep_no_shows()
