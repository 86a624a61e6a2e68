"""Q5: each booking has a driver link, an unguessable URL (and QR code) that opens, without
signing in, the booking, its status and its place in the waiting queue; the carrier sends it to
the drivers by SMS and can make a new one, which revokes the old."""

import datetime as dt

import pytest
from django.test import Client

from bookings import services
from bookings.driver_links import driver_link_path, driver_link_url
from checkpoint_queue import services as queue_services
from core.errors import ApplicationError
from core.models import AuditEvent
from notify.models import Message
from tests.worlds import at, book, trucks

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(world):
    world.top_up("100000000.00")
    return book(world, start=at(1, 9), drivers=world.drivers[:2])


def test_q5_the_link_opens_the_booking_and_its_place_without_signing_in(
    world, staff, booking, clock
):
    anyone = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = anyone.get(driver_link_path(booking))
    assert page.status_code == 200
    text = page.content.decode()
    assert "123 ABC 02" in text and "Confirmed" in text and "Check in at the waiting area" in text
    assert page["Cache-Control"] == "private, no-store" and page["Referrer-Policy"] == "no-referrer"
    assert 'http-equiv="refresh"' in text and "<script" not in text
    ahead = book(world, vehicle=trucks(world, 1)[0], start=at(1, 8))  # an earlier slot
    clock.move_to(at(1, 8))
    queue_services.booking_mark_arrived(booking=ahead, actor=staff)
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    text = anyone.get(driver_link_path(booking)).content.decode()
    assert "Your place in the queue: <strong>2</strong>" in text
    kazakh = anyone.get(driver_link_path(booking), {"lang": "kk"})
    assert '<html lang="kk">' in kazakh.content.decode()


def test_q5_a_wrong_or_revoked_link_is_not_found(world, booking):
    anyone = Client()
    old = driver_link_path(booking)
    assert anyone.get(old[:-3] + "00/").status_code == 404
    services.driver_link_renew(member=world.member, booking=booking)
    booking.refresh_from_db()
    assert anyone.get(old).status_code == 404
    assert anyone.get(driver_link_path(booking)).status_code == 200
    assert AuditEvent.objects.filter(action="booking.driver_link_renewed").exists()


def test_q5_the_link_goes_to_the_drivers_by_sms_once_per_link(world, booking):
    assert services.driver_link_send(member=world.member, booking=booking) == 2
    (first, second) = Message.objects.filter(kind="driver_link").order_by("pk")
    assert {first.driver_id, second.driver_id} == {d.pk for d in world.drivers[:2]}
    assert driver_link_url(booking) in first.body
    assert services.driver_link_send(member=world.member, booking=booking) == 0
    services.driver_link_renew(member=world.member, booking=booking)
    booking.refresh_from_db()
    assert services.driver_link_send(member=world.member, booking=booking) == 2


def test_a8_a_carrier_cannot_pump_driver_link_sms_by_renewing_the_link(
    world, booking, settings, clock
):
    settings.DRIVER_LINK_SMS_PER_CARRIER_PER_DAY = 4
    for _ in range(2):
        assert services.driver_link_send(member=world.member, booking=booking) == 2
        booking = services.driver_link_renew(member=world.member, booking=booking)
    with pytest.raises(ApplicationError) as refused:
        services.driver_link_send(member=world.member, booking=booking)
    assert refused.value.code == "too_many_driver_links" and refused.value.status == 429
    assert Message.objects.filter(kind="driver_link").count() == 4
    clock.shift(dt.timedelta(days=1, seconds=1))
    assert services.driver_link_send(member=world.member, booking=booking) == 2


def test_q5_the_api_answers_the_link_too(world, staff, booking, clock):
    clock.move_to(at(1, 8))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    number, token = driver_link_path(booking).strip("/").split("/")[1:]
    answer = Client().get(f"/api/v1/driver-links/{number}/{token}")
    assert answer.status_code == 200
    assert answer.json()["predicted_call_at"] is not None
    assert answer.json() | {"slot_start": None, "slot_end": None, "predicted_call_at": None} == {
        "booking": booking.number,
        "plate": "123 ABC 02",
        "checkpoint": "KORDAI",
        "direction": "exit",
        "slot_start": None,
        "slot_end": None,
        "status": "arrived",
        "position": 1,
        "predicted_call_at": None,
    }
    assert Client().get(f"/api/v1/driver-links/{number}/x").status_code == 404


def test_q5_the_booking_page_shows_the_link_its_qr_and_the_buttons(world, booking, sign_in_browser):
    owner = sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), world.member.user)
    text = owner.get(f"/cabinet/bookings/{booking.pk}/").content.decode()
    assert driver_link_url(booking) in text and "QR code of the driver link" in text
    response = owner.post(
        f"/cabinet/bookings/{booking.pk}/driver-link/", {"action": "send"}, follow=True
    )
    assert "The driver link is sent by SMS to the drivers: 2." in response.content.decode()
    owner.post(f"/cabinet/bookings/{booking.pk}/driver-link/", {"action": "renew"})
    booking.refresh_from_db()
    assert booking.driver_link_generation == 2
