"""Workers in parallel on PostgreSQL: a message is sent once however many workers try it, and two
overlapping reminder runs queue one reminder. The control takes the claim away and shows the
double send it prevents."""

import threading
import time

import pytest
from django.db import connections, transaction

from bookings import services as bookings
from notify import services
from notify.models import Message
from tests.worlds import at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKERS = 4


@pytest.fixture(autouse=True)
def no_phone_limits(settings):
    """These tests are about claims and leases, not A3's per-phone limits (tested on their own):
    their many SMS to the one owner's phone all go."""
    settings.SMS_PER_PHONE_PER_HOUR = settings.SMS_PER_PHONE_PER_DAY = 100


@pytest.fixture
def not_handed_to_celery(monkeypatch):
    """Messages stay queued after commit: the test's threads are the workers."""
    monkeypatch.setattr(services, "_enqueue", lambda message_ids: None)


@pytest.fixture
def slow_provider(monkeypatch):
    """Each send takes a moment, so the workers overlap while one of them is sending."""
    send = services._send

    def slow(message, allowance):
        time.sleep(0.2)
        return send(message, allowance)

    monkeypatch.setattr(services, "_send", slow)


def booked(world):
    world.top_up("100000.00")
    return bookings.booking_create(
        member=world.member,
        request=bookings.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=at(1, 9),
            vehicle_id=world.truck.pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )


def in_parallel(count: int, work) -> list:
    """Run `work()` in `count` threads started together; their results in no particular order."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            results.append(work())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_b12_concurrent_deliveries_of_one_message_send_it_once(
    world, not_handed_to_celery, slow_provider
):
    booking = booked(world)
    for _round in range(3):
        with transaction.atomic():
            (message,) = services.booking_event_notify(booking=booking, event="booking_reminder")
        results = in_parallel(WORKERS, lambda m=message: services.message_deliver(message_id=m.pk))
        assert sorted(results) == ["sent"] + ["skipped"] * (WORKERS - 1)
        message.refresh_from_db()
        assert (message.status, message.attempts) == ("sent", 1)
    # The booking's own message was never delivered by anyone (no worker ran it).
    assert len(world.fake_twilio.messages) == 3


def test_b12_concurrent_outbox_runs_send_every_message_once(world, not_handed_to_celery, settings):
    # 20 SMS to one phone: past A3's hourly limit, lifted here (this test is about the claim).
    settings.SMS_PER_PHONE_PER_HOUR = 100
    settings.SMS_PER_PHONE_PER_DAY = 100
    booking = booked(world)
    with transaction.atomic():
        for _n in range(19):
            services.booking_event_notify(booking=booking, event="booking_reminder")
    assert Message.objects.filter(status="queued").count() == 20
    sent = in_parallel(3, lambda: services.messages_deliver_due(limit=100))
    assert sum(sent) == 20
    assert len(world.fake_twilio.messages) == 20
    assert set(Message.objects.values_list("provider_id", flat=True)) == {
        m["sid"] for m in world.fake_twilio.messages
    }


def test_b12_control_without_the_claim_two_workers_send_twice(
    world, not_handed_to_celery, slow_provider, monkeypatch
):
    """Proves the test above can see a double send: a naive read-then-send sends twice."""

    def naive_claim(message_id, *, as_of, now):
        message = Message.objects.get(pk=message_id)
        if message.status != Message.Status.QUEUED:
            return None
        time.sleep(0.1)
        return message, "no-claim"

    monkeypatch.setattr(services, "_claim", naive_claim)
    booking = booked(world)
    message = Message.objects.get(booking=booking)
    in_parallel(2, lambda: services.message_deliver(message_id=message.pk))
    assert len(world.fake_twilio.messages) == 2


def test_b12_overlapping_reminder_runs_queue_one_reminder(world, not_handed_to_celery, monkeypatch):
    booked(world)
    barrier = threading.Barrier(2)
    reminded = services._reminded

    def both_read_before_either_writes(found):
        keys = reminded(found)
        barrier.wait(timeout=10)
        return keys

    monkeypatch.setattr(services, "_reminded", both_read_before_either_writes)
    as_of = at(1, 9).replace(hour=8)
    queued = in_parallel(2, lambda: services.reminders_send(as_of=as_of))
    assert sorted(queued) == [0, 1]
    assert Message.objects.filter(kind="booking_reminder").count() == 1
