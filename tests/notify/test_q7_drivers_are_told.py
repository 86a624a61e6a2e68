"""Q7: the booking's drivers get an SMS on the phone of their driver record when their vehicle
is near the front of the waiting queue (5th, or nearer when it arrives there) and when it is
called forward; once each; only to the served country codes (A8). The carrier's people keep
their own notices (B12)."""

import pytest

from checkpoint_queue import services as queue_services
from notify.models import Message
from tests.worlds import at, book, trucks

pytestmark = pytest.mark.django_db

DRIVER_PHONE = "+77019990000"  # the first driver of tests.worlds (the others: …01, …02, …)


@pytest.fixture(autouse=True)
def _booked_in_english(world):
    """The drivers are told in the language of the person who booked."""
    world.member.user.language = "en"
    world.member.user.save(update_fields=["language"])


def driver_messages(kind):
    return list(Message.objects.filter(kind=kind).order_by("pk"))


def test_q7_the_drivers_are_told_when_their_vehicle_is_called_forward(
    world, staff, clock, eager, commit
):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9), drivers=world.drivers[:2])
    clock.move_to(at(1, 9))
    with commit():
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
        queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    called = driver_messages("driver_called")
    assert [(m.driver_id, m.recipient_id, m.address) for m in called] == [
        (world.drivers[0].pk, None, DRIVER_PHONE),
        (world.drivers[1].pk, None, "+77019990001"),
    ]
    assert all(m.status == Message.Status.SENT for m in called)
    sent = [m["Body"] for m in world.fake_twilio.messages if m["To"] == DRIVER_PHONE]
    assert (
        f"Kezek: vehicle 123 ABC 02 (booking {booking.number}) is called forward at Kordai. "
        "Drive to the checkpoint now."
    ) in sent
    # The carrier's people are told too (B12), as before.
    assert Message.objects.filter(kind="booking_called", recipient__isnull=False).exists()


def test_q7_the_drivers_are_told_once_when_their_vehicle_nears_the_front(world, staff, clock):
    world.top_up("100000000.00")
    vehicles = trucks(world, 6)
    bookings = [book(world, vehicle=v, start=at(1, 9)) for v in vehicles]
    clock.move_to(at(1, 8))
    for booking in bookings:
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    near = driver_messages("driver_near")
    assert [m.booking_id for m in near] == [b.pk for b in bookings[:5]]
    assert "is number 5 in the queue at Kordai" in near[4].body
    clock.move_to(at(1, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    near = driver_messages("driver_near")
    assert [m.booking_id for m in near] == [b.pk for b in bookings]  # the 6th is now 5th
    assert "is number 5 in the queue" in near[5].body
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    assert len(driver_messages("driver_near")) == 6  # nobody is told twice


def test_q7_a_driver_phone_outside_the_served_country_codes_is_not_told(
    world, staff, clock, settings
):
    settings.SMS_ALLOWED_COUNTRY_CODES = ["996"]
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    assert not Message.objects.filter(driver__isnull=False).exists()


def test_q7_drivers_sharing_a_phone_get_one_sms(world, staff, clock, eager, commit):
    """A3/A8: one SMS per phone and event, however many of the booking's drivers share it."""
    world.top_up("1000000.00")
    for driver in world.drivers[:2]:
        driver.phone = DRIVER_PHONE
        driver.save(update_fields=["phone"])
    booking = book(world, start=at(1, 9), drivers=world.drivers[:2])
    clock.move_to(at(1, 9))
    with commit():
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
        queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    [called] = driver_messages("driver_called")
    assert called.address == DRIVER_PHONE and called.status == Message.Status.SENT
