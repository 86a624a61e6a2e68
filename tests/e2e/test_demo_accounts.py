"""The first hour of a new user: after `load_demo_data` (as `make run` does), every account it
prints signs in exactly as printed — its e-mail and password, then the SMS code that the console
SMS backend shows — and reaches its page; the demo carrier books a passage at once; the
operator can also use one of the printed backup codes."""

import datetime as dt
import logging
import re

import pytest
from django.core.management import call_command

from bookings.models import Booking
from checkpoints.services import reference_checkpoints_load
from core import clock
from demo.services import ACCOUNTS, BOARD_CHECKPOINT, OPERATOR, OWNER, STAFF
from tests.fees.factories import fees_in_force_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE_LINE = re.compile(r"^│ CODE  (\d{6})\s+│$", re.MULTILINE)


def console_code_for(caplog, phone: str) -> str:
    """The last code the console SMS backend framed for `phone`, as a person reads it there."""
    blocks = [
        record.getMessage()
        for record in caplog.records
        if record.name == "notify.sms" and f"SMS to {phone} " in record.getMessage()
    ]
    assert blocks, f"no SMS to {phone} in the console"
    return CODE_LINE.findall(blocks[-1])[-1]


@pytest.fixture
def demo(caplog, settings, capsys):
    settings.SMS_BACKEND = "console"
    caplog.set_level(logging.WARNING, logger="notify.sms")
    reference_checkpoints_load()
    fees_in_force_today()  # the MRP of whichever year the test runs in
    call_command("load_demo_data", force=True)
    return capsys.readouterr().out


def sign_in(page, *, email: str, password: str) -> None:
    page.goto("/signin/")
    page.get_by_label("E-mail or phone").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def second_factor_by_sms(page, caplog, phone: str) -> None:
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    page.get_by_label("Code").fill(console_code_for(caplog, phone))
    page.get_by_role("button", name="Sign in").click()


def test_every_printed_account_signs_in_as_printed_and_reaches_its_page(
    demo, chromium, live_server, caplog
):
    for account in ACCOUNTS:
        assert f"{account.email} / {account.password}" in demo
        assert account.open_first in demo
    # What each account opens first shows something it came for.
    expected = {
        "/cabinet/": "Demo Logistics LLP",
        "/cabinet/bookings/new/": "Country",
        "/cabinet/account/": "Personal account",
        "/admin/": "Site administration",
        STAFF.open_first: "301 STP 05",
    }
    for account in ACCOUNTS:
        context = chromium.new_context(base_url=live_server.url, locale="en-US")
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in(page, email=account.email, password=account.password)
        second_factor_by_sms(page, caplog, account.phone)
        page.wait_for_url(re.compile(r"/cabinet/|/admin/|/staff/"))
        page.goto(account.open_first)
        page.get_by_text(expected[account.open_first]).first.wait_for()
        context.close()


def test_the_operator_signs_in_with_a_printed_backup_code(demo, page):
    codes = demo.split("instead of the SMS (each works once):\n", 1)[1].split("\n", 1)[0]
    first_code = codes.split()[0]
    sign_in(page, email=OPERATOR.email, password=OPERATOR.password)
    page.get_by_role("link", name="Backup code").click()
    page.get_by_label("Code").fill(first_code)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/")
    page.get_by_text("Site administration").wait_for()
    page.snap("operator-admin")


def test_the_demo_carrier_books_a_passage_at_once(demo, page, caplog):
    sign_in(page, email=OWNER.email, password=OWNER.password)
    second_factor_by_sms(page, caplog, OWNER.phone)
    page.get_by_role("heading", name="Personal account").wait_for()
    page.snap("cabinet")
    page.get_by_role("link", name="Book a passage").click()
    day = clock.local_today() + dt.timedelta(days=4)

    def step(title: str):
        current = page.locator("li[aria-current='step']")
        current.get_by_role("heading", name=title).wait_for()
        return current

    step("Country").get_by_role("button", name=re.compile("^China")).click()
    step("Checkpoint").get_by_role("button", name=re.compile("^Nur Zholy")).click()
    step("Direction").get_by_role("button", name=re.compile("^Exit from Kazakhstan")).click()
    step("Service").get_by_role("button", name=re.compile("^Regular queue")).click()
    step("Date").locator(f"button[name='date'][value='{day.isoformat()}']").click()
    step("Hour").get_by_role("button", name=re.compile(r"^11:00")).click()
    fleet = step("Vehicle and drivers")
    vehicle = fleet.get_by_label("Truck or tractor unit")
    label = next(
        text for text in vehicle.locator("option").all_inner_texts() if "202 DMO 02" in text
    )
    vehicle.select_option(label=label)
    fleet.get_by_label(re.compile("Nurlan Bekov")).check()
    fleet.get_by_role("button", name="Continue to the summary").click()
    summary = step("Summary and confirmation")
    page.snap("summary")
    summary.get_by_role("button", name=re.compile("^Confirm and pay")).click()
    page.wait_for_url(re.compile(r"/cabinet/bookings/\d+/$"))
    booking = Booking.objects.filter(
        checkpoint__code=BOARD_CHECKPOINT, carrier__name="Demo Logistics LLP"
    ).get()
    page.get_by_text(f"Booking {booking.number} is confirmed.").wait_for()
    page.snap("booked")
