"""Q6: the predicted call time, by a rule a person can check: vehicles ahead ÷ calls per hour
(the last hour's calls smoothed with an hour of the planned places), never before the slot."""

import datetime as dt

import pytest

from checkpoint_queue import services as queue_services
from checkpoint_queue.predictions import (
    CALL_RATE_HOURS,
    PRIOR_HOURS,
    calls_per_hour,
    planned_per_hour,
    predicted_call_at,
)
from tests.worlds import at, book, trucks

pytestmark = pytest.mark.django_db


def arrive_all(bookings, staff):
    for booking in bookings:
        queue_services.booking_mark_arrived(booking=booking, actor=staff)


def test_q6_with_no_calls_yet_the_planned_places_set_the_pace(world, staff, clock):
    world.top_up("100000000.00")
    queue = [book(world, vehicle=v, start=at(1, 9)) for v in trucks(world, 4)]
    clock.move_to(at(1, 9))
    arrive_all(queue, staff)
    now = at(1, 9)
    planned = planned_per_hour(queue[0], now)
    assert planned > 0
    # No call in the window yet: (0 + P × PRIOR_HOURS) / (CALL_RATE_HOURS + PRIOR_HOURS).
    rate = planned * PRIOR_HOURS / (CALL_RATE_HOURS + PRIOR_HOURS)
    assert calls_per_hour(queue[0], now) == pytest.approx(rate)
    assert predicted_call_at(queue[0], now) == now  # first in line: its slot has come
    expected = now + dt.timedelta(hours=3 / rate)
    assert predicted_call_at(queue[3], now) == expected.replace(second=0, microsecond=0)


def test_q6_more_calls_lately_bring_the_call_nearer(world, staff, clock):
    world.top_up("100000000.00")
    queue = [book(world, vehicle=v, start=at(1, 9)) for v in trucks(world, 6)]
    clock.move_to(at(1, 9))
    arrive_all(queue, staff)
    before = predicted_call_at(queue[5])
    queue_services.queue_call_next(
        checkpoint=world.checkpoint, direction="exit", actor=staff, count=2
    )
    queue[5].refresh_from_db()
    after = predicted_call_at(queue[5])
    assert after < before  # two fewer ahead, and a faster pace


def test_q6_never_before_the_slot_and_none_once_called(world, staff, clock):
    world.top_up("100000000.00")
    later = book(world, start=at(1, 15))
    assert predicted_call_at(later, at(1, 9)) >= at(1, 15)
    clock.move_to(at(1, 15))
    queue_services.booking_mark_arrived(booking=later, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    later.refresh_from_db()
    assert predicted_call_at(later) is None
