"""Plates are unique per carrier only (B7): a plate camera must not credit the wrong carrier.

Where the plate a camera reads is on bookings of more than one carrier at its checkpoint, the
camera cannot tell whose vehicle it saw: POST /api/v1/checkpoint-events refuses with 409
`ambiguous_plate`, marks nothing (Q1, D2, D3 stay with the real vehicle) and logs a warning;
staff find the plate on the staff screen, see each carrier's booking and choose one by its
number. One carrier's several bookings with the plate keep the usual preference
(test_device_api.py)."""

import datetime as dt
import logging
import re

import pytest
from django.test import Client

from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import services as queue_services
from checkpoints.services import device_key_issue
from core.models import AuditEvent
from tests.worlds import at, book, make_other_world
from vehicles import services as fleet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL = "/api/v1/checkpoint-events"
SCREEN = "/staff/checkpoints/KORDAI/"
PLATE = "123ABC02"  # the world's truck


@pytest.fixture
def camera(world, staff):
    return device_key_issue(
        checkpoint=world.checkpoint, name="KORDAI waiting area gate", actor=staff
    )


@pytest.fixture
def post(client):
    def send(key, body):
        return client.post(
            URL,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Device {key}",
            HTTP_ACCEPT_LANGUAGE="en",
        )

    return send


@pytest.fixture
def thief(world, fake_twilio):
    """Another carrier that registered the world's plate on a truck of its own (another VIN)."""
    other = make_other_world(fake_twilio, plates=(PLATE, "778AAA01"))
    other.carrier.name = "Borrowed Plates LLP"
    other.carrier.save(update_fields=["name"])
    world.top_up("1000000.00")
    other.top_up("1000000.00", reference="TOPUP-THIEF")
    return other


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def assert_untouched(*bookings) -> None:
    for booking in bookings:
        booking.refresh_from_db()
        assert booking.status == "confirmed", booking.number
        assert booking.arrived_at is None and booking.arrived_by == ""
        assert deposit_status(booking) == "held"


def test_q1_a_plate_booked_by_two_carriers_is_left_to_staff(
    post, world, thief, camera, clock, caplog
):
    """The shown attack: the thief booked the victim's plate an hour earlier. The camera sees
    the victim's truck with both check-in windows open; the thief's booking would have won."""
    victim = book(world, start=at(1, 9))
    stolen = book(thief, start=at(1, 8))
    clock.move_to(at(1, 7))

    with caplog.at_level(logging.WARNING, logger="checkpoint_queue.api"):
        response = post(camera.secret, {"plate": "123 ABC 02", "event": "arrived"})
    assert response.status_code == 409, response.json()
    error = error_of(response)
    assert error["code"] == "ambiguous_plate"
    assert PLATE in error["message"] and "more than one carrier" in error["message"]
    assert "staff screen" in error["message"] and "number" in error["message"]
    assert sorted(error["fields"]["bookings"]) == sorted([victim.number, stolen.number])

    # Nothing is marked on either booking; the refusal is logged with who, what and which.
    assert_untouched(victim, stolen)
    assert not AuditEvent.objects.filter(action="booking.arrived").exists()
    (record,) = [r for r in caplog.records if r.name == "checkpoint_queue.api"]
    assert record.levelno == logging.WARNING
    logged = record.getMessage()
    for part in ("KORDAI waiting area gate", PLATE, "arrived", victim.number, stolen.number):
        assert part in logged, (part, logged)

    # A crossing report of that plate is refused the same way.
    crossed = post(camera.secret, {"plate": PLATE, "event": "crossed"})
    assert crossed.status_code == 409
    assert error_of(crossed)["code"] == "ambiguous_plate"
    assert_untouched(victim, stolen)


def test_q1_the_camera_marks_the_plate_again_once_one_carrier_has_it_here(
    post, world, thief, camera, clock
):
    """A plate of only one carrier's booking at this checkpoint works as before: the other
    carrier's bookings elsewhere or no longer active do not count."""
    victim = book(world, start=at(1, 9))
    stolen = book(thief, start=at(1, 8))
    kyrgyz = fleet.vehicle_register(
        member=thief.member,
        plate=PLATE,
        vin="XTA21099012340009",
        kind="truck",
        registration_country="KG",
    )
    elsewhere = book(thief, vehicle=kyrgyz, start=at(1, 8), checkpoint="KARASU")
    clock.move_to(at(1, 7))
    assert post(camera.secret, {"plate": PLATE, "event": "arrived"}).status_code == 409

    services.booking_cancel(member=thief.member, booking=stolen)
    assert Booking.objects.get(pk=elsewhere.pk).status == "confirmed"
    response = post(camera.secret, {"plate": PLATE, "event": "arrived"})
    assert response.status_code == 200, response.json()
    assert response.json()["booking"] == victim.number
    victim.refresh_from_db()
    assert victim.status == "arrived" and victim.arrived_by == "device:KORDAI waiting area gate"
    assert Booking.objects.get(pk=elsewhere.pk).status == "confirmed"


def test_q1_d2_a_late_camera_event_after_staff_marked_one_carrier_is_not_given_to_the_other(
    post, world, thief, camera, staff, clock
):
    """Staff took the victim's truck through by hand (its booking crossed). A camera event about
    that truck that arrives late must not be matched to the thief's booking, still active."""
    victim = book(world, start=at(1, 9))
    stolen = book(thief, start=at(1, 10))
    clock.move_to(at(1, 8))
    seen = at(1, 8)
    queue_services.booking_mark_arrived(booking=victim, actor=staff)
    clock.move_to(at(1, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    clock.shift(dt.timedelta(minutes=10))
    queue_services.booking_mark_crossed(booking=Booking.objects.get(pk=victim.pk), actor=staff)

    # The gate camera's arrival of 08:00, delivered only now: the thief's window was open then.
    response = post(camera.secret, {"plate": PLATE, "event": "arrived", "at": seen.isoformat()})
    assert response.status_code == 409, response.json()
    assert error_of(response)["code"] == "ambiguous_plate"
    assert_untouched(stolen)
    victim.refresh_from_db()
    assert victim.status == "crossed" and deposit_status(victim) == "released"


def test_d2_a_repeated_crossing_is_not_answered_with_another_carriers_booking(
    post, world, thief, camera, staff, clock
):
    """The crossing fallback (a booking that crossed shortly before answers a repeated event)
    does not choose between two carriers' crossings of the same plate."""
    first = book(world, start=at(1, 9))
    second = book(thief, start=at(1, 10))
    clock.move_to(at(1, 8))
    queue_services.booking_mark_arrived(booking=first, actor=staff)
    clock.move_to(at(1, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=Booking.objects.get(pk=first.pk), actor=staff)
    queue_services.booking_mark_arrived(booking=second, actor=staff)
    clock.move_to(at(1, 10))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=Booking.objects.get(pk=second.pk), actor=staff)
    crossings = AuditEvent.objects.filter(action="booking.crossed").count()

    clock.shift(dt.timedelta(minutes=5))
    response = post(camera.secret, {"plate": PLATE, "event": "crossed"})
    assert response.status_code == 409, response.json()
    error = error_of(response)
    assert error["code"] == "ambiguous_plate"
    assert sorted(error["fields"]["bookings"]) == sorted([first.number, second.number])
    assert AuditEvent.objects.filter(action="booking.crossed").count() == crossings


def test_q1_staff_search_by_plate_shows_each_carriers_booking_to_choose_from(
    world, thief, staff, clock, sign_in_browser
):
    """Where the camera stops, staff see both carriers' bookings of the plate, each with its
    carrier's name and number, and mark the one the driver's confirmation names."""
    victim = book(world, start=at(1, 9))
    stolen = book(thief, start=at(1, 8))
    clock.move_to(at(1, 7))
    browser = sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), staff)

    response = browser.get(SCREEN, {"q": "123 abc 02"})
    assert response.status_code == 200
    assert {b.pk for b in response.context["search"].bookings} == {victim.pk, stolen.pk}
    rows = {
        number: re.sub(r"\s+", " ", row)
        for row in response.content.decode().split("<tr>")
        for number in (victim.number, stolen.number)
        if f'<th scope="row" class="nowrap">{number}</th>' in row
    }
    assert world.carrier.name in rows[victim.number]
    assert "Borrowed Plates LLP" not in rows[victim.number]
    assert "Borrowed Plates LLP" in rows[stolen.number]
    assert world.carrier.name not in rows[stolen.number]

    marked = browser.post(
        SCREEN, {"action": "arrived", "booking": victim.pk, "q": PLATE}, follow=True
    )
    assert marked.status_code == 200
    victim.refresh_from_db()
    assert victim.status == "arrived"
    assert_untouched(stolen)
