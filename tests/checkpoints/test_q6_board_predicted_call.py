"""Q6 on the live board (Q4): each waiting vehicle, by its masked plate, shows the call time the
booking page and the driver link predict for it (checkpoint_queue.predictions, one rule), as a clock
time worked out when the board was built; the cached board never shows one that a call or the
clock has made stale."""

import datetime as dt

import pytest

from checkpoint_queue import services as queue_services
from checkpoint_queue.board import BOARD_CACHE_SECONDS
from checkpoint_queue.predictions import predicted_call_at
from core.clock import ALMATY
from tests.worlds import at, book, trucks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

API = "/api/v1/checkpoints/KORDAI/queue"
PAGE = "/board/KORDAI/"


@pytest.fixture
def waiting(world, staff, clock):
    """Five trucks of the 09:00 slot in the waiting area at 09:00, exit."""
    world.top_up("100000000.00")
    queue = [book(world, vehicle=truck, start=at(1, 9)) for truck in trucks(world, 5)]
    clock.move_to(at(1, 9))
    for booking in queue:
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    return queue


def in_call_order(bookings):
    for booking in bookings:
        booking.refresh_from_db()
    return sorted(
        (booking for booking in bookings if booking.status == "arrived"),
        key=lambda booking: (booking.arrived_at, booking.pk),
    )


def board_times(client) -> list[str]:
    rows = [row for row in client.get(API).json()["waiting"] if row["direction"] == "exit"]
    return [row["predicted_call_at"] for row in rows]


def predicted(bookings) -> list[str]:
    return [predicted_call_at(booking).astimezone(ALMATY).isoformat() for booking in bookings]


def test_q6_board_shows_each_waiting_vehicle_the_call_time_of_its_booking_page(
    client, waiting, staff, world
):
    times = board_times(client)
    assert times == predicted(in_call_order(waiting))
    # First in line, its slot begun: called about now; the others later, one after another.
    assert times[0] == "2026-03-21T09:00:00+05:00"
    assert times == sorted(times) and times[-1] > times[0]
    # A vehicle called forward shows its call, no prediction.
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    (called,) = client.get(API).json()["called"]
    assert "predicted_call_at" not in called


def test_q6_board_page_shows_the_expected_call_as_a_clock_time(client, waiting):
    page = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Expected call" in page
    for moment in predicted(in_call_order(waiting)):
        clock_time = dt.datetime.fromisoformat(moment).strftime("%H:%M")
        assert f"≈ {clock_time}</time>" in page


def test_q6_a_call_replaces_the_cached_predictions_on_the_next_read(client, waiting, staff, world):
    before = board_times(client)
    queue_services.queue_call_next(
        checkpoint=world.checkpoint, direction="exit", actor=staff, count=2
    )
    after = board_times(client)
    # Not the cached board: two fewer vehicles ahead and a faster pace, at the same moment.
    assert after == predicted(in_call_order(waiting))
    assert len(after) == 3 and after[-1] < before[-1]


def test_q6_cached_predictions_follow_the_clock_when_nothing_changes(client, waiting, clock):
    assert board_times(client)[0] == "2026-03-21T09:00:00+05:00"
    # Nothing happens at the checkpoint for 20 minutes: the first vehicle is still expected
    # now, not at the clock time of the board first built (kept BOARD_CACHE_SECONDS at most).
    clock.move_to(at(1, 9) + dt.timedelta(minutes=20))
    assert BOARD_CACHE_SECONDS < 20 * 60
    times = board_times(client)
    assert times[0] == "2026-03-21T09:20:00+05:00"
    assert times == predicted(in_call_order(waiting))
