"""One live hold per person under real concurrency (C5, PostgreSQL, real threads).

A person choosing two hours at once (two tabs, a double click) must not end up holding both:
the second request waits for the first, then frees the hour it held and holds its own. The
first request is stopped, on purpose, between taking its place and committing.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import connections

from bookings import services
from bookings.models import SlotHold
from checkpoints.models import SlotCounter
from tests.worlds import NOW, at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _hold(world, start, outcomes: list, lock: threading.Lock) -> None:
    try:
        services.slot_hold_create(
            member=world.member,
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=start,
        )
        outcome = "held"
    except Exception as exc:  # a crash or a refusal must show in the outcomes
        outcome = repr(exc)
    finally:
        connections.close_all()
    with lock:
        outcomes.append((start, outcome))


def _waits_on_a_lock(tries: int = 500) -> bool:
    """Whether another session of this database is waiting for a lock, asked up to `tries`
    times (a few seconds)."""
    with connections["default"].cursor() as cursor:
        for _ in range(tries):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def test_c5_a_person_keeps_one_live_hold_when_two_hours_are_chosen_at_once(
    world, clock, monkeypatch
):
    world.top_up("1000000.00")
    nine, ten = at(1, 9), at(1, 10)
    took_nine, go_on = threading.Event(), threading.Event()
    real_take = services.slot_take

    def take_then_wait(**slot):
        counter = real_take(**slot)
        if slot["start"] == nine:  # the first request: its place taken, not committed yet
            took_nine.set()
            go_on.wait(timeout=10)
        return counter

    monkeypatch.setattr(services, "slot_take", take_then_wait)
    outcomes: list = []
    lock = threading.Lock()
    first = threading.Thread(target=_hold, args=(world, nine, outcomes, lock))
    second = threading.Thread(target=_hold, args=(world, ten, outcomes, lock))
    first.start()
    try:
        assert took_nine.wait(timeout=10)
        second.start()
        # The second request waits on the first one's row lock: seen in PostgreSQL itself, not
        # guessed from a pause (a moved clock, as in the New Year pass, stretches pauses).
        waited = _waits_on_a_lock()
    finally:
        go_on.set()
        first.join()
        second.join()
    assert sorted(outcomes) == [(nine, "held"), (ten, "held")]
    # The later choice is the hold; the earlier hour's place is free again.
    holds = list(SlotHold.objects.filter(created_by=world.member.user))
    assert [hold.slot_start for hold in holds] == [ten]
    assert holds[0].expires_at == NOW + dt.timedelta(minutes=15)
    taken = dict(SlotCounter.objects.filter(kind="regular").values_list("hour", "taken"))
    assert (taken.get(9), taken.get(10)) == (0, 1)
    assert waited  # the second request waited for the first one's commit
