"""O3 on PostgreSQL: the same event delivered several times at once (a device resending a batch
whose answer was lost while the first delivery is still being applied) is applied exactly once,
by the unique constraint on its id; the others answer `duplicate`. The negative control drops
the constraint and shows the same race applying it several times, so the test can fail.

Real threads, each with its own database connection, released together by a barrier.
"""

import datetime as dt
import threading
import uuid

import pytest
import time_machine
from django.db import connection

from checkpoint_queue import offline
from checkpoint_queue.models import OfflineEvent
from checkpoints.services import device_key_issue
from core.models import AuditEvent
from tests.worlds import NOW, at, book, make_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DELIVERIES = 4


@pytest.fixture
def arrival(fake_twilio, django_user_model):
    with time_machine.travel(NOW, tick=False):
        world = make_world(fake_twilio)
        world.top_up("1000000.00")
        booking = book(world, start=at(0, 13))
        operator = django_user_model.objects.create_user("op@registrar.kz", "x", is_staff=True)
        key = device_key_issue(checkpoint=world.checkpoint, name="gate", actor=operator).key
        report = offline.device_seen(
            checkpoint=world.checkpoint, device=f"key:{key.pk}", name="gate", device_key=key
        )
    device_event = offline.DeviceEvent(
        event_id=uuid.uuid4(),
        booking=booking.number,
        kind="arrived",
        occurred_at=at(0, 10) + dt.timedelta(minutes=30),
    )
    return world, booking, report, device_event


def parallel_deliveries(world, report, device_event) -> list[offline.Delivered]:
    barrier = threading.Barrier(DELIVERIES)
    results, errors, lock = [], [], threading.Lock()

    def run():
        try:
            barrier.wait()
            delivered = offline.event_deliver(
                checkpoint=world.checkpoint,
                report=report,
                actor=None,
                event=device_event,
                received_at=at(0, 11),
            )
            with lock:
                results.append(delivered)
        except BaseException as error:  # reported by the test, not lost in the thread
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_o3_the_same_event_delivered_four_times_at_once_is_applied_once(arrival):
    world, booking, report, device_event = arrival
    with time_machine.travel(at(0, 11), tick=False):
        results = parallel_deliveries(world, report, device_event)
    assert sorted(result.duplicate for result in results) == [False, True, True, True]
    assert {result.event.outcome for result in results} == {"applied"}
    assert OfflineEvent.objects.filter(event_id=device_event.event_id).count() == 1
    booking.refresh_from_db()
    assert booking.status == "arrived"
    assert AuditEvent.objects.filter(action="booking.arrived").count() == 1


def _event_id_unique_constraint() -> str:
    table = OfflineEvent._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    (name,) = [
        name
        for name, details in constraints.items()
        if details["unique"] and not details["primary_key"] and details["columns"] == ["event_id"]
    ]
    return name


def test_o3_negative_control_without_the_unique_constraint_the_race_applies_it_again(arrival):
    world, _booking, report, device_event = arrival
    table = OfflineEvent._meta.db_table
    name = _event_id_unique_constraint()
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    try:
        with time_machine.travel(at(0, 11), tick=False):
            results = parallel_deliveries(world, report, device_event)
        # Every delivery took the event as new: nothing told them apart.
        assert [result.duplicate for result in results] == [False] * DELIVERIES
        assert OfflineEvent.objects.filter(event_id=device_event.event_id).count() == DELIVERIES
    finally:
        OfflineEvent.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE ("event_id")')
    assert _event_id_unique_constraint() == name
