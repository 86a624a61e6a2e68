"""Thin Celery tasks: each calls one service."""

import functools
from collections.abc import Mapping

from celery import shared_task
from django.db import transaction

from release import services


@shared_task
def schedule_release_windows() -> int:
    return len(services.windows_schedule())


@shared_task
def run_draws() -> int:
    return len(services.draws_run())


@shared_task
def serve_waitlist(window_id: int) -> int:
    return len(services.waitlist_serve(window_id=window_id))


@shared_task
def serve_waitlists() -> int:
    """The waitlists' kept places, in case a task queued at a commit was lost (F7)."""
    return services.waitlists_serve()


def places_freed(freed: Mapping[int, int]) -> None:
    """Registered with `checkpoints.services.register_places_freed` (release.apps): places freed
    on a day with a release window are kept for it, and a drawn window's waitlist is offered
    them once the transaction that freed them commits (F7)."""
    for window_id in services.places_freed_keep(freed):
        transaction.on_commit(functools.partial(serve_waitlist.delay, window_id), robust=True)
