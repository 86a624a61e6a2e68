"""Query counts of the public reads (slots API, live board API and page) and the cache that keeps
them cheap: a repeated read asks the database nothing, and every change that moves a
number on them (a booking, a cancellation, a hold, a reschedule, an arrival, an override, a
closure, a new daily capacity) shows on the very next read."""

import datetime as dt

import pytest
from django.core.cache import cache

from bookings import services
from checkpoint_queue import services as queue_services
from checkpoints import public_reads
from checkpoints.models import Closure, HourOverride, SlotCounter
from checkpoints.services import capacity_refresh
from tests.worlds import at, book, trucks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SLOTS = "/api/v1/checkpoints/KORDAI/slots"
BOARD_API = "/api/v1/checkpoints/KORDAI/queue"
BOARD_PAGE = "/board/KORDAI/"


@pytest.fixture
def world(world):
    world.top_up("100000000.00")
    return world


def slots(client, day_offset: int = 1, direction: str = "exit") -> dict[int, dict]:
    date = at(day_offset, 0).date().isoformat()
    response = client.get(SLOTS, {"direction": direction, "date": date})
    assert response.status_code == 200, response.content
    return {dt.datetime.fromisoformat(row["start"]).hour: row for row in response.json()["slots"]}


# --- Query counts -----------------------------------------------------------------------------


def test_c1_slots_api_reads_four_queries_then_only_the_checkpoint_from_the_cache(
    client, world, django_assert_num_queries
):
    for truck in trucks(world, 5):
        book(world, vehicle=truck, start=at(1, 9))
    # The checkpoint, the day's counters, the overrides, the closures.
    with django_assert_num_queries(4):
        first = slots(client)
    with django_assert_num_queries(1):  # the checkpoint: still active under this code?
        again = slots(client)
    assert first == again and again[9]["taken"] == 5


def test_q4_board_api_reads_at_most_nine_queries_then_only_the_checkpoint_from_the_cache(
    client, world, staff, clock, django_assert_max_num_queries, django_assert_num_queries
):
    booked = [book(world, vehicle=truck, start=at(1, 9)) for truck in trucks(world, 6)]
    clock.move_to(at(1, 8))
    for booking in booked:
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    # The checkpoint, its country (the page names it; kept in the entry), the board's five and
    # the two of its predicted call times (Q6).
    with django_assert_max_num_queries(9):
        first = client.get(BOARD_API).json()
    with django_assert_num_queries(1):
        again = client.get(BOARD_API).json()
    assert first == again and len(again["waiting"]) == 6


def test_q4_board_page_reads_at_most_ten_queries_then_only_the_checkpoint_from_the_cache(
    client, world, django_assert_max_num_queries, django_assert_num_queries
):
    book(world, start=at(1, 9))
    # The API's seven, and the footer's visit totals (W3: three, then kept in the cache).
    with django_assert_max_num_queries(10):
        assert client.get(BOARD_PAGE).status_code == 200
    with django_assert_num_queries(1):
        assert client.get(BOARD_PAGE).status_code == 200


# --- The cache shows every change at once -------------------------------------------------------


def test_c6_a_booking_and_its_cancellation_show_in_the_next_slots_read(client, world):
    assert slots(client)[9]["taken"] == 0
    booking = book(world, start=at(1, 9))
    assert slots(client)[9]["taken"] == 1
    services.booking_cancel(member=world.member, booking=booking)
    assert slots(client)[9]["taken"] == 0


def test_c5_a_hold_and_its_release_show_in_the_next_slots_read(client, world):
    free = slots(client)[10]["free"]
    hold = services.slot_hold_create(
        member=world.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(1, 10),
    )
    assert slots(client)[10]["free"] == free - 1
    services.slot_hold_release(member=world.member, hold=hold)
    assert slots(client)[10]["free"] == free


def test_b5_a_reschedule_shows_on_the_old_and_the_new_date(client, world):
    booking = book(world, start=at(1, 9))
    assert slots(client, 1)[9]["taken"] == 1
    assert slots(client, 2)[11]["taken"] == 0
    services.booking_reschedule(member=world.member, booking=booking, slot_start=at(2, 11))
    assert slots(client, 1)[9]["taken"] == 0
    assert slots(client, 2)[11]["taken"] == 1


def test_c3_a_new_closure_shows_closed_hours_in_the_next_slots_read(client, world):
    assert not slots(client)[14]["closed"]
    Closure.objects.create(
        checkpoint=world.checkpoint, starts_at=at(1, 14), ends_at=at(1, 16), reason="works"
    )
    capacity_refresh(checkpoint=world.checkpoint, dates=[at(1, 0).date()])
    after = slots(client)
    assert after[14]["closed"] and after[15]["closed"] and not after[16]["closed"]
    assert after[14]["capacity"] == 0


def test_c1_an_override_and_a_new_daily_capacity_show_in_the_next_slots_read(client, world):
    before = slots(client)
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=at(1, 0).date(), hour=3, capacity=40
    )
    assert slots(client)[3]["capacity"] == 40
    world.checkpoint.daily_capacity = before[5]["capacity"] * 24 * 2
    world.checkpoint.save(update_fields=["daily_capacity"])
    assert slots(client)[5]["capacity"] > before[5]["capacity"]


def test_q4_an_arrival_shows_on_the_board_at_once(client, world, staff, clock):
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 8))
    assert client.get(BOARD_API).json()["waiting"] == []
    page_before = client.get(BOARD_PAGE).content.decode()
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    waiting = client.get(BOARD_API).json()["waiting"]
    assert len(waiting) == 1
    plate = waiting[0]["plate_masked"]
    assert plate not in page_before and plate in client.get(BOARD_PAGE).content.decode()


def test_c6_an_evicted_version_never_brings_back_an_old_entry(client, world):
    """Redis may evict a version stamp: the next read gets a new one, not the old entry."""
    assert slots(client)[9]["taken"] == 0
    # A change that no signal sees, then the stamps of the cache disappear.
    SlotCounter.objects.create(
        checkpoint=world.checkpoint,
        direction="exit",
        date=at(1, 0).date(),
        hour=9,
        kind="regular",
        planned=16,
        capacity=16,
        taken=3,
    )
    cache.delete_many(
        [
            public_reads.config_key(world.checkpoint.pk),
            public_reads.day_key(world.checkpoint.pk, at(1, 0).date()),
        ]
    )
    assert slots(client)[9]["taken"] == 3


def test_c6_the_version_is_replaced_again_when_the_booking_commits(
    client, world, django_capture_on_commit_callbacks
):
    """A read between the change and its commit may store rows of before the commit: the commit
    replaces the version once more so that entry is never read."""
    key = public_reads.day_key(world.checkpoint.pk, at(1, 0).date())
    slots(client)
    with django_capture_on_commit_callbacks() as callbacks:
        book(world, start=at(1, 9))
    during = cache.get(key)
    assert during is not None
    for callback in callbacks:
        callback()
    assert cache.get(key) not in (None, during)


def test_r1_a_checkpoint_taken_out_of_service_is_404_at_once(client, world):
    assert client.get(BOARD_API).status_code == 200
    assert slots(client)
    world.checkpoint.is_active = False
    world.checkpoint.save(update_fields=["is_active"])
    assert client.get(BOARD_API).status_code == 404
    assert client.get(BOARD_PAGE).status_code == 404
    date = at(1, 0).date().isoformat()
    assert client.get(SLOTS, {"direction": "exit", "date": date}).status_code == 404


def test_b8_a_booking_goes_through_when_the_cache_is_down(client, world, monkeypatch):
    class Down:
        def set_many(self, *args, **kwargs):
            raise ConnectionError("cache unreachable")

    monkeypatch.setattr(public_reads, "cache", Down())
    booking = book(world, start=at(1, 9))
    assert booking.status == "confirmed"
