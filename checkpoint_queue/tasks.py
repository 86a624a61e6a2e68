"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from checkpoint_queue import services


@shared_task
def close_not_crossed() -> int:
    return services.not_crossed_sweep()
