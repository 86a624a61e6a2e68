"""At the checkpoint, in a real browser: a checkpoint officer signs in with password + an
authenticator app (A2, A5), opens the admin and the checkpoint's screen, marks the truck arrived
(Q1), calls it forward (Q2) and marks it crossed (D2); the carrier then sees the deposit back on
its personal account. The public live board (Q4) shows it along the way.

The live server runs in real time, so the booking is for the current hour: it is made (through
the services) two hours earlier on a travelling clock, when that hour could still be booked (C4).
"""

import datetime as dt
import re
import time

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.roles import CHECKPOINT_STAFF
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoints.models import StaffAssignment
from core.clock import ALMATY
from deposits.selectors import balances_of
from tests.e2e.conftest import ARTIFACTS
from tests.worlds import book, make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long staff passphrase"


def totp_code(device: TOTPDevice, moment: float) -> str:
    generator = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    generator.time = moment
    return f"{generator.token():0{device.digits}d}"


@pytest.fixture
def truck_due_now(fake_twilio):
    """A confirmed booking at KORDAI, exit, for the current hour (its time has come)."""
    slot = timezone.now().astimezone(ALMATY).replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(slot - dt.timedelta(hours=2), tick=False):
        world = make_world(fake_twilio)
        world.top_up("200000.00")
        booking = book(world, start=slot)
    return world, booking


@pytest.fixture
def officer(truck_due_now):
    world, _booking = truck_due_now
    person = get_user_model().objects.create_user(
        "officer@kordai.kz", PASSWORD, full_name="Nurlan Officer", is_staff=True
    )
    person.groups.add(Group.objects.get_or_create(name=CHECKPOINT_STAFF)[0])
    StaffAssignment.objects.create(user=person, checkpoint=world.checkpoint)
    device = TOTPDevice.objects.create(user=person, name="Authenticator", confirmed=True)
    return person, device


def test_q1_q2_d2_staff_marks_arrived_calls_and_crossed_and_the_deposit_comes_back(
    page, live_server, chromium, truck_due_now, officer, sign_in_browser, request
):
    shots = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    world, booking = truck_due_now
    person, device = officer
    assert balances_of(world.carrier).held > 0

    # Sign in through the real pages: password, then the authenticator app's code.
    page.goto("/signin/?next=/admin/")
    page.get_by_label("E-mail or phone").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.snap("staff-sign-in")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill(totp_code(device, time.time()))
    page.snap("staff-second-factor")
    page.get_by_role("button", name="Sign in").click()

    # The admin: their checkpoint's bookings, read-only, with the way to the screen.
    page.get_by_role("heading", name="Site administration").wait_for()
    page.snap("admin-index")
    page.locator('a[href="/admin/bookings/booking/"]').first.click()
    page.get_by_role("link", name=booking.number).wait_for()
    page.snap("admin-bookings")
    page.get_by_role("link", name="Kordai", exact=True).click()

    # The checkpoint's screen: find the truck by its plate, as the driver says it.
    page.get_by_role("heading", name="Find a booking").wait_for()
    page.get_by_label("Booking number or plate").fill("123 авс 02")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("rowheader", name=booking.number).wait_for()
    page.snap("staff-screen-found")
    page.get_by_role("button", name="Mark arrived").click()
    page.get_by_text(f"123 ABC 02 (booking {booking.number}) is in the waiting area.").wait_for()
    page.snap("staff-screen-arrived")

    # The public board shows the truck waiting, with its plate masked.
    board = chromium.new_page(base_url=live_server.url, locale="en-US")
    board.set_viewport_size({"width": 1920, "height": 1080})
    board.goto("/board/KORDAI/")
    board.get_by_role("cell", name="1** **C 02").wait_for()
    board.screenshot(path=str(shots / "board-waiting.png"), full_page=True)

    page.get_by_role("button", name="Call next (Exit from Kazakhstan)").click()
    page.get_by_text(
        f"Called forward (Exit from Kazakhstan): 123 ABC 02 ({booking.number})."
    ).wait_for()
    called = page.get_by_role("region", name="Exit from Kazakhstan")
    called.get_by_role("button", name="Mark crossed 123 ABC 02").wait_for()
    page.snap("staff-screen-called")
    assert Booking.objects.get(pk=booking.pk).status == "called"

    # The board refreshes itself (every 30 s): the called truck is at the top.
    board.reload()
    board.locator(".board-called").get_by_text("1** **C 02").wait_for()
    board.screenshot(path=str(shots / "board-called.png"), full_page=True)
    board.close()

    called.get_by_role("button", name="Mark crossed 123 ABC 02").click()
    page.get_by_text("crossed the border; the deposit is released to the carrier.").wait_for()
    page.snap("staff-screen-crossed")

    booking.refresh_from_db()
    assert booking.status == "crossed" and deposit_status(booking) == "released"
    for marked_by in (booking.arrived_by, booking.called_by, booking.crossed_by):
        assert "officer@kordai.kz" in marked_by

    # Back in the admin: who did what, on the booking's (read-only) page.
    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    page.get_by_text("Crossed the border").first.wait_for()
    page.snap("admin-booking-crossed")

    # The carrier's personal account: nothing held any more.
    carrier = chromium.new_context(base_url=live_server.url, locale="en-US")
    browser = sign_in_browser(Client(), world.member.user)
    carrier.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": browser.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    account = carrier.new_page()
    account.goto("/cabinet/account/")
    held = account.locator(".balances div", has_text="Held as deposits").locator("dd")
    assert re.sub(r"\s", " ", held.inner_text()) == "0.00 ₸"
    account.screenshot(path=str(shots / "carrier-account.png"), full_page=True)
    carrier.close()
    assert balances_of(world.carrier).held == 0
