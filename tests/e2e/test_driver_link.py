"""Q5 and Q7 on a phone: the carrier sends the driver link by SMS from the booking page; the
driver opens it on a phone-sized screen without signing in and sees the vehicle's place in the
queue; staff call the vehicle; the driver gets the SMS and the page says it is called.

The live server runs in real time, so the booking is for the current hour, made two hours
earlier on a travelling clock (C4). Messages leave through the outbox, delivered in-process."""

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
import time_machine
from django.utils import timezone

from checkpoint_queue import services as queue_services
from core.clock import ALMATY
from tests.e2e.conftest import artifacts_of
from tests.worlds import book, make_world, officer_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DRIVER_PHONE = "+77019990000"  # the first driver of tests.worlds
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def sms_to(fake_twilio, phone: str) -> list[str]:
    return [message["Body"] for message in list(fake_twilio.messages) if message["To"] == phone]


def test_q5_q7_the_driver_follows_the_queue_on_a_phone_without_signing_in(
    chromium, live_server, signed_in_page, fake_twilio, eager, request
):
    shots = artifacts_of(request)
    slot = timezone.now().astimezone(ALMATY).replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(slot - dt.timedelta(hours=2), tick=False):
        world = make_world(fake_twilio)
        world.member.user.language = "en"
        world.member.user.save(update_fields=["language"])
        world.top_up("200000.00")
        booking = book(world, start=slot)
    officer = officer_at(world.checkpoint)

    carrier = signed_in_page(world.member.user, "carrier")
    carrier.goto(f"/cabinet/bookings/{booking.pk}/")
    carrier.get_by_role("heading", name="Driver link").wait_for()
    carrier.get_by_role("button", name="Send to the drivers by SMS").click()
    carrier.get_by_text("The driver link is sent by SMS to the drivers: 1.").wait_for()
    carrier.snap("link-sent")
    (sent,) = [body for body in sms_to(fake_twilio, DRIVER_PHONE) if "/d/" in body]
    link_path = urlsplit(re.search(r"https?://\S+", sent).group(0)).path

    driver_context = chromium.new_context(base_url=live_server.url, locale="en-US", **PHONE)
    driver = driver_context.new_page()
    try:
        driver.goto(link_path)
        driver.get_by_text("Confirmed").first.wait_for()
        driver.screenshot(path=str(shots / "driver-01-confirmed.png"))
        assert driver.evaluate("document.documentElement.scrollWidth") <= 390

        queue_services.booking_mark_arrived(booking=booking, actor=officer)
        driver.reload()
        driver.get_by_text("Your place in the queue:").wait_for()
        assert driver.locator(".driver-position strong").inner_text() == "1"
        driver.screenshot(path=str(shots / "driver-02-in-the-queue.png"))

        queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=officer)
        assert any("is called forward at" in body for body in sms_to(fake_twilio, DRIVER_PHONE))
        driver.reload()
        driver.get_by_text("Drive to the checkpoint now.").wait_for()
        assert "Called forward" in driver.content()
        driver.screenshot(path=str(shots / "driver-03-called.png"))
    finally:
        driver_context.close()
