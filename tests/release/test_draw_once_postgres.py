"""F5 on PostgreSQL with real threads: workers drawing the same window at once draw it once.
The control takes the window's claim (the conditional UPDATE) away and shows what it prevents:
both workers run the draw, the window's places are given back twice, and the hour won in the
draw is sold again first-come — two bookings in a one-place hour."""

import threading

import pytest
from django.db import connections

from bookings.models import Booking
from checkpoints.capacity import hour_start
from core.models import AuditEvent
from release import services
from release.models import ReleaseRequest
from tests.release.helpers import CLOSES, place
from tests.worlds import book, trucks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4


def draw_in_parallel(window_id: int, workers: int) -> list:
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            results.append(services.window_draw(window_id=window_id))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def _requests(world):
    world.top_up("100000000.00")
    # Two requests for two one-place hours: both win, one place each.
    for truck in trucks(world, 2):
        place(world, vehicle=truck, hours=(9, 10))


def test_f5_draw_runs_once_under_parallel_workers(world, draw_window, clock):
    window = draw_window()
    _requests(world)
    clock.move_to(CLOSES)
    results = draw_in_parallel(window.pk, WORKERS)
    assert len([r for r in results if r is not None]) == 1
    assert AuditEvent.objects.filter(action="release.drawn", object_id=str(window.pk)).count() == 1
    assert ReleaseRequest.objects.filter(window=window, status="won").count() == 2
    nine = Booking.objects.filter(slot_start=hour_start(window.day, 9))
    assert nine.count() == 1
    # The hour won stays sold: a first-come booking of it finds it full.
    with pytest.raises(Exception, match="fully booked"):
        book(world, vehicle=world.tractor, start=nine.get().slot_start)


def test_f5_control_without_the_claim_the_draw_runs_twice_and_the_hour_is_sold_twice(
    world, draw_window, clock, monkeypatch
):
    window = draw_window()
    _requests(world)
    clock.move_to(CLOSES)
    # The guard taken away: every worker believes it won the window.
    monkeypatch.setattr(services, "_window_claim", lambda window_id, *, as_of: True)
    # Both workers read the window's kept places before either gives them back.
    arrived = threading.Barrier(2)
    give_back = services._places_return

    def both_then_give_back(window):
        arrived.wait()
        return give_back(window)

    monkeypatch.setattr(services, "_places_return", both_then_give_back)
    results = draw_in_parallel(window.pk, 2)
    assert len([r for r in results if r is not None]) == 2
    assert AuditEvent.objects.filter(action="release.drawn", object_id=str(window.pk)).count() == 2
    nine = Booking.objects.filter(slot_start=hour_start(window.day, 9))
    slot = nine.get().slot_start
    book(world, vehicle=world.tractor, start=slot)  # the place was given back twice
    assert Booking.objects.filter(slot_start=slot, status="confirmed").count() == 2
