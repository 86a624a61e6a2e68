"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from auth2fa.services import unconfirmed_registrations_lapse


@shared_task
def lapse_unconfirmed_registrations() -> int:
    return unconfirmed_registrations_lapse()
