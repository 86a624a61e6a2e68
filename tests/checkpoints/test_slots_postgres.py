"""C6 under real concurrency (PostgreSQL, real threads, each in its own transaction).

64 bookings race for a slot with 5 places: the conditional UPDATE lets exactly 5 through. The
control replaces it with read-then-write and shows the race it prevents. Two more tests show
that different slots never wait on each other (no hot rows) and that a lock wait beyond
`lock_timeout` is the error the API answers with 503 busy.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction

from checkpoints import capacity, services
from checkpoints.models import HourOverride, QuotaOverride, SlotCounter
from core import clock
from core.api_errors import is_lock_timeout
from core.errors import ApplicationError

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 64
PLACES = 5


@pytest.fixture
def slot(checkpoint):
    """A slot two days ahead with 5 regular places and a day with an out-of-turn quota of 5;
    no counter row yet, so the racers also race to make it."""
    day = clock.local_today() + dt.timedelta(days=2)
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=day, hour=9, capacity=PLACES
    )
    QuotaOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=day, service="out_of_turn", capacity=PLACES
    )
    return checkpoint, capacity.hour_start(day, 9)


def _race(checkpoint, start, service="regular") -> list[str]:
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def book() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                services.slot_take(
                    checkpoint=checkpoint, direction="exit", start=start, service=service
                )
            outcome = "taken"
        except ApplicationError as refusal:
            outcome = refusal.code
        except Exception as exc:  # a crash must show in the outcomes
            outcome = repr(exc)
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=book) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_c6_sixty_four_parallel_bookings_of_five_places_exactly_five_succeed(slot):
    checkpoint, start = slot
    outcomes = _race(checkpoint, start)
    assert outcomes.count("taken") == PLACES, outcomes
    assert outcomes.count("slot_full") == THREADS - PLACES
    counter = SlotCounter.objects.get(kind="regular")
    assert (counter.capacity, counter.taken) == (PLACES, PLACES)


def test_c6_sixty_four_parallel_priority_bookings_never_exceed_the_days_quota(slot):
    checkpoint, start = slot
    outcomes = _race(checkpoint, start, service="out_of_turn")
    assert outcomes.count("taken") == PLACES, outcomes
    assert SlotCounter.objects.get(kind="out_of_turn").taken == PLACES


def test_c6_control_read_then_write_oversells_the_slot(slot, monkeypatch):
    """Without the conditional update, racers read the same `taken` and each write their own
    result: lost updates let more bookings through than the slot has places."""

    def naive_take_place(key) -> SlotCounter | None:
        row = SlotCounter.objects.filter(**key).values_list("taken", "capacity").first()
        if row is None or row[0] >= row[1]:
            return None
        time.sleep(0.01)  # the window between reading and writing
        SlotCounter.objects.filter(**key).update(taken=row[0] + 1)
        return SlotCounter.objects.get(**key)

    monkeypatch.setattr(services, "_take_place", naive_take_place)
    checkpoint, start = slot
    outcomes = _race(checkpoint, start)
    taken = SlotCounter.objects.get(kind="regular").taken
    assert outcomes.count("taken") > PLACES, outcomes
    assert taken != outcomes.count("taken")  # the counter no longer tells the truth


def _hold_a_place(checkpoint, start, taken: threading.Event, done: threading.Event):
    """Take a place and keep the transaction (and its row lock) open until `done`."""
    try:
        with transaction.atomic():
            services.slot_take(
                checkpoint=checkpoint, direction="exit", start=start, service="regular"
            )
            taken.set()
            done.wait(timeout=20)
    finally:
        connections.close_all()


def test_c6_bookings_of_different_slots_never_wait_on_each_other(slot):
    checkpoint, start = slot
    taken, done = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_a_place, args=(checkpoint, start, taken, done))
    holder.start()
    try:
        assert taken.wait(timeout=10)
        began = time.monotonic()
        with transaction.atomic():
            # The next hour, and the same hour's day quota: other rows, no wait.
            services.slot_take(
                checkpoint=checkpoint,
                direction="exit",
                start=start + dt.timedelta(hours=1),
                service="regular",
            )
            services.slot_take(
                checkpoint=checkpoint, direction="exit", start=start, service="out_of_turn"
            )
        assert time.monotonic() - began < 2
    finally:
        done.set()
        holder.join()


def test_c6_a_lock_wait_beyond_lock_timeout_is_the_busy_error(slot):
    checkpoint, start = slot
    taken, done = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_a_place, args=(checkpoint, start, taken, done))
    holder.start()
    try:
        assert taken.wait(timeout=10)
        with pytest.raises(OperationalError) as waited, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '200ms'")
            services.slot_take(
                checkpoint=checkpoint, direction="exit", start=start, service="regular"
            )
        assert is_lock_timeout(waited.value)  # the API answers 503 busy with Retry-After
    finally:
        done.set()
        holder.join()
    assert SlotCounter.objects.get(kind="regular").taken == 1


def test_b5_two_moves_swapping_places_do_not_deadlock(slot, monkeypatch):
    """A → B and B → A at the same moment: both touch the lower counter id first, so one
    waits for the other instead of each holding the row the other needs."""
    checkpoint, start = slot
    later = start + dt.timedelta(hours=1)
    with transaction.atomic():
        first = services.slot_take(
            checkpoint=checkpoint, direction="exit", start=start, service="regular"
        )
        second = services.slot_take(
            checkpoint=checkpoint, direction="exit", start=later, service="regular"
        )
    real_take_place = services._take_place

    def slow_take_place(key) -> SlotCounter | None:
        taken = real_take_place(key)
        time.sleep(0.3)  # keep the first row locked while the other move starts
        return taken

    monkeypatch.setattr(services, "_take_place", slow_take_place)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def reschedule(counter, new_start) -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                services.slot_move(
                    counter_id=counter.pk,
                    checkpoint=checkpoint,
                    direction="exit",
                    start=new_start,
                    service="regular",
                )
            outcomes.append("moved")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=reschedule, args=(first, later)),
        threading.Thread(target=reschedule, args=(second, start)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == ["moved", "moved"]
    assert sorted(SlotCounter.objects.values_list("taken", flat=True)) == [1, 1]
