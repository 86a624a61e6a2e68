"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from bookings import services


@shared_task
def expire_holds() -> int:
    return services.slot_holds_expire()


@shared_task
def sweep_no_shows() -> int:
    return services.no_shows_sweep()
