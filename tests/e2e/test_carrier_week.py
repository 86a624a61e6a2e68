"""A carrier's week in a real browser, with a real Celery worker on Redis and PostgreSQL.

A carrier registers, confirms the phone and signs in with password + SMS (A1, A2); an operator
imports the bank's camt.053 statement that tops the account up (P1); the carrier adds a truck, a
trailer and two drivers, books a regular slot (B1, B8), adds a driver (B4), reschedules and pays
the re-booking fee (B5) and looks at the live board (Q4). Then the truck arrives, is called and
crosses (Q1, Q2, D2) and the deposit is back; the budget transfer runs on the worker and the
receipts follow (P4, P5); the accountant downloads a receipt and the period's ZIP, and the receipt
checks out on the public page, signed in or not. A second carrier cancels twice within 90 days (D3).

The worker runs on the real clock. The carrier's part is played two hours earlier on this
process's clock (the live server runs in it), so that the hour it books is the hour that has come
when the staff's part plays on the real clock; nothing the worker does is ahead of its own time.
"""

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from auth2fa.roles import CHECKPOINT_STAFF, OPERATORS
from bookings.models import Booking
from bookings.selectors import deposit_status
from carriers.models import Member
from checkpoints.models import StaffAssignment
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.money import format_tenge
from demo.services import Credit, camt053_statement
from deposits.selectors import balances_of
from fees.models import BudgetBatch
from fees.selectors import quote
from fees.tasks import transfer_to_budget_daily
from notify.models import Message
from receipts.models import Receipt
from tests.e2e.conftest import artifacts_of, wait_until
from tests.e2e.test_booking_wizard import current_step, fee, sign_in
from tests.fees.factories import fees_in_force_today
from tests.receipts.helpers import pdf_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct horse battery"
PHONE = "+77011234567"
EMAIL = "aigerim@steppe.kz"


def staff_member(email: str, group: str, **extra):
    person = get_user_model().objects.create_user(
        email, "a long staff passphrase", full_name=email.split("@")[0].title(), is_staff=True
    )
    person.groups.add(Group.objects.get(name=group))
    return person


def delivered(fake_twilio, booking, kind: str) -> list[str]:
    """The SMS of `kind` about `booking` that the worker sent and the fake Twilio received
    (in the recipient's language, so found by the outbox's text rather than by words)."""
    received = {message["Body"] for message in list(fake_twilio.messages)}
    return [
        message.body
        for message in Message.objects.filter(booking=booking, kind=kind, status="sent")
        if message.body in received
    ]


def text_of(locator) -> str:
    """Text with the narrow no-break spaces of amounts made plain spaces."""
    return re.sub(r"[\s\u202f\u00a0]+", " ", locator.inner_text()).strip()


def register_and_sign_in(page, fake_twilio) -> None:
    page.goto("/")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("The carrier is").select_option("company")
    page.get_by_label("BIN of the company or IIN of the entrepreneur").fill("230140012340")
    page.get_by_label("Carrier's name").fill("Steppe Freight LLP")
    page.get_by_label("Your full name").fill("Aigerim Nurlanovna")
    page.get_by_label("Your IIN").fill("850512300119")
    page.get_by_label("Mobile phone").fill("+7 701 123 45 67")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.snap("register")
    page.get_by_role("button", name="Register").click()
    page.get_by_role("heading", name="Confirm your phone").wait_for()
    page.get_by_label("Code").fill(fake_twilio.codes_sent_to(PHONE)[-1])
    page.snap("confirm-phone")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Sign in", exact=True).wait_for()
    page.get_by_label("E-mail or phone").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    page.get_by_label("Code").fill(fake_twilio.codes_sent_to(PHONE)[-1])
    page.snap("sign-in-sms")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Personal account").wait_for()
    page.snap("cabinet")


def add_fleet(page) -> None:
    page.get_by_role("link", name="Vehicles: trucks, tractor units and trailers").click()
    for kind, plate, country, vin in (
        ("truck", "123 ABC 02", "KZ", "XTA21099012345678"),
        ("trailer", "AB1234", "KG", "WDB96340310123456"),
    ):
        page.get_by_label("Kind").select_option(kind)
        page.get_by_label("Plate").fill(plate)
        page.get_by_label("Country of registration").fill(country)
        page.get_by_label("VIN", exact=True).fill(vin)
        page.get_by_role("button", name="Add the vehicle").click()
        page.get_by_text(f"{plate} is added to the fleet.").wait_for()
    page.snap("vehicles")
    page.goto("/cabinet/drivers/")
    for name, iin, phone in (
        ("Yerlan Serikovich", "880202401004", "+7 701 555 12 34"),
        ("Asel Bolatovna", "770303501007", "+7 701 555 43 21"),
    ):
        page.get_by_label("Full name").fill(name)
        page.get_by_label("Citizenship").fill("KZ")
        page.get_by_label("IIN").fill(iin)
        page.get_by_label("Phone").fill(phone)
        page.get_by_role("button", name="Add the driver").click()
        page.get_by_text(f"{name} is added to the drivers.").wait_for()
    page.snap("drivers")


def book_with_the_wizard(page, slot: dt.datetime) -> None:
    page.goto("/cabinet/")
    page.get_by_role("link", name="Book a passage").click()
    current_step(page, "Country").get_by_role("button", name=re.compile("^Kyrgyzstan")).click()
    current_step(page, "Checkpoint").get_by_role("button", name=re.compile("^Kordai")).click()
    step = current_step(page, "Direction")
    step.get_by_role("button", name=re.compile("^Exit from Kazakhstan")).click()
    current_step(page, "Service").get_by_role("button", name=re.compile("^Regular queue")).click()
    step = current_step(page, "Date")
    step.locator(f"button[name='date'][value='{slot.date().isoformat()}']").click()
    step = current_step(page, "Hour")
    page.snap("hour-grid")
    step.get_by_role("button", name=re.compile(f"^{slot:%H}:00")).click()
    step = current_step(page, "Vehicle and drivers")
    step.get_by_label("Truck or tractor unit").select_option(label="123 ABC 02 · Truck")
    step.get_by_label("Trailer (optional)").select_option(label="AB1234 · Trailer")
    step.get_by_label(re.compile("Yerlan Serikovich")).check()
    page.snap("vehicle-and-drivers")
    step.get_by_role("button", name="Continue to the summary").click()
    step = current_step(page, "Summary and confirmation")
    page.snap("summary")
    step.get_by_role("button", name=f"Confirm and pay {fee('regular')}").click()
    page.wait_for_url(re.compile(r"/cabinet/bookings/\d+/$"))


def test_a1_p1_b1_b4_b5_q1_d2_p4_p5_a_carriers_week_with_a_real_worker(
    page, celery_worker_process, fake_twilio, signed_in_page, chromium, live_server, request
):
    reference_checkpoints_load()
    fees_in_force_today()
    operator = staff_member("operator@kezek.kz", OPERATORS)
    officer = staff_member("officer@kordai.kz", CHECKPOINT_STAFF)
    # The hour that has come on the real clock; the carrier books it two hours earlier (C4).
    due = timezone.now().astimezone(clock.ALMATY).replace(minute=0, second=0, microsecond=0)
    first_choice = due + dt.timedelta(hours=1)

    with time_machine.travel(due - dt.timedelta(hours=2), tick=True):
        register_and_sign_in(page, fake_twilio)
        member = Member.objects.select_related("carrier").get(user__email=EMAIL)
        carrier = member.carrier

        # The carrier's account number, as the account page tells it to quote in the payment.
        page.get_by_role("link", name=re.compile("^Personal account:")).click()
        number = page.locator("h1 .nowrap").inner_text()
        page.snap("account-empty")

        # The operator imports the bank statement in the admin (P1).
        admin = signed_in_page(operator, "operator")
        admin.goto("/admin/deposits/statementimport/")
        admin.get_by_role("link", name="Upload a bank statement").click()
        admin.get_by_label("Bank statement").set_input_files(
            {
                "name": "statement.xml",
                "mimeType": "application/xml",
                "buffer": camt053_statement(
                    [
                        Credit(
                            reference="KZ-E2E-000001",
                            amount=Decimal("1000000.00"),
                            payer_name="ТОО «Steppe Freight»",
                            account_number=number,
                        )
                    ],
                    day=clock.local_today(),
                ),
            }
        )
        admin.snap("statement-upload")
        admin.get_by_role("button", name="Import").click()
        admin.get_by_text("1 credited, 0 already imported, 0 parked", exact=False).wait_for()
        admin.snap("statement-imported")
        assert balances_of(carrier).available == Decimal("1000000.00")

        page.reload()
        available = page.locator(".balances div", has_text="Available").locator("dd")
        assert text_of(available) == "1 000 000.00 ₸"
        page.snap("account-topped-up")

        page.goto("/cabinet/")
        add_fleet(page)
        book_with_the_wizard(page, first_choice)
        booking = Booking.objects.get(carrier=carrier)
        page.get_by_text(f"Booking {booking.number} is confirmed.").wait_for()
        page.snap("booking")
        # The worker delivers the notification of the new booking (B12).
        wait_until(
            lambda: delivered(fake_twilio, booking, Message.Kind.BOOKING_CREATED),
            what="the SMS about the new booking arriving from the worker",
        )

        page.get_by_role("link", name="Add drivers").click()
        page.get_by_label(re.compile("Asel Bolatovna")).check()
        page.snap("add-driver")
        page.get_by_role("button", name="Add the drivers").click()
        page.get_by_text(f"Added to booking {booking.number}: Asel Bolatovna.").wait_for()

        page.get_by_role("link", name="Reschedule").click()
        page.locator(f"button[name='date'][value='{due.date().isoformat()}']").click()
        page.get_by_role("heading", name="New hour").wait_for()
        page.get_by_role("button", name=re.compile(f"^{due:%H}:00")).click()
        page.get_by_role("heading", name="Confirm the new hour").wait_for()
        page.snap("reschedule")
        page.get_by_role("button", name=f"Reschedule and pay {fee('rebooking')}").click()
        page.get_by_text(f"Booking {booking.number} is moved to").wait_for()
        page.snap("rescheduled")
        booking.refresh_from_db()
        assert booking.slot_start == due and booking.drivers.count() == 2
        paid = quote("regular", on=clock.local_today()).amount
        paid += quote("rebooking", on=clock.local_today()).amount
        held = quote("deposit", on=clock.local_today()).amount
        assert balances_of(carrier).available == Decimal("1000000.00") - paid - held
        wait_until(
            lambda: delivered(fake_twilio, booking, Message.Kind.BOOKING_RESCHEDULED),
            what="the SMS about the new hour arriving from the worker",
        )

        page.goto("/board/KORDAI/")
        page.get_by_role("heading", name="Kordai").wait_for()
        page.snap("live-board")

    # The hour has come: the truck arrives, is called forward and crosses (Q1, Q2, D2).
    StaffAssignment.objects.create(user=officer, checkpoint=booking.checkpoint)
    staff = signed_in_page(officer, "staff")
    staff.goto("/admin/")
    staff.locator('a[href="/admin/bookings/booking/"]').first.click()
    staff.get_by_role("link", name=booking.number).wait_for()
    staff.snap("admin-bookings")
    staff.get_by_role("link", name="Kordai", exact=True).click()
    staff.get_by_label("Booking number or plate").fill("123 ABC 02")
    staff.get_by_role("button", name="Find").click()
    staff.get_by_role("rowheader", name=booking.number).wait_for()
    staff.get_by_role("button", name="Mark arrived").click()
    staff.get_by_text(f"123 ABC 02 (booking {booking.number}) is in the waiting area.").wait_for()
    staff.snap("arrived")
    # The carrier watches the live board: the truck is waiting, its plate masked (Q4).
    page.goto("/board/KORDAI/")
    page.get_by_role("cell", name="1** **C 02").wait_for()
    page.snap("live-board-waiting")
    staff.get_by_role("button", name="Call next (Exit from Kazakhstan)").click()
    called = staff.get_by_role("region", name="Exit from Kazakhstan")
    called.get_by_role("button", name="Mark crossed 123 ABC 02").wait_for()
    staff.snap("called")
    wait_until(
        lambda: delivered(fake_twilio, booking, Message.Kind.BOOKING_CALLED),
        what="the SMS calling the truck forward arriving from the worker",
    )
    called.get_by_role("button", name="Mark crossed 123 ABC 02").click()
    staff.get_by_text("crossed the border; the deposit is released to the carrier.").wait_for()
    staff.snap("crossed")
    booking.refresh_from_db()
    assert booking.status == "crossed" and deposit_status(booking) == "released"
    wait_until(
        lambda: delivered(fake_twilio, booking, Message.Kind.DEPOSIT_RELEASED),
        what="the SMS about the released deposit arriving from the worker",
    )

    # The carrier's session lapsed meanwhile (30 minutes idle): it signs in again.
    sign_in(page, member.user, fake_twilio)
    page.goto("/cabinet/account/")
    held_now = page.locator(".balances div", has_text="Held as deposits").locator("dd")
    assert text_of(held_now) == "0.00 ₸"
    assert balances_of(carrier).available == Decimal("1000000.00") - paid
    page.snap("deposit-back")

    # The budget transfer runs on the worker (as the beat would start it); receipts follow (P4, P5).
    transfer_to_budget_daily.delay()
    wait_until(
        lambda: Receipt.objects.filter(carrier=carrier).count() == 2,
        what="the budget transfer and the two receipts made by the worker",
    )
    receipts = list(Receipt.objects.filter(carrier=carrier).order_by("pk"))
    assert BudgetBatch.objects.exists()
    assert sorted(receipt.amount for receipt in receipts) == sorted(
        [quote("regular", on=clock.local_today()).amount, paid - booking.fee_amount]
    )

    accountant = get_user_model().objects.create_user(
        "accountant@steppe.kz", "another long passphrase", full_name="Dana Accountant"
    )
    Member.objects.create(carrier=carrier, user=accountant, role=Member.Role.ACCOUNTANT)
    books = signed_in_page(accountant, "accountant", accept_downloads=True)
    books.goto("/cabinet/")
    books.get_by_role("link", name="Receipts of payments transferred to the state budget").click()
    books.get_by_role("heading", name="Receipts").wait_for()
    books.snap("receipts")
    receipt = receipts[0]
    with books.expect_download() as download:
        books.get_by_role("link", name=f"Download PDF of receipt {receipt.number}").click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert receipt.number in text and receipt.verification_code in text.replace(" ", "")

    today = clock.local_today().isoformat()
    books.get_by_label("From").fill(today)
    books.get_by_label("To (inclusive)").fill(today)
    with books.expect_download() as download:
        books.get_by_role("button", name="Download all of the period (ZIP)").click()
    with zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes())) as archive:
        names = archive.namelist()
    assert all(any(r.number in name for name in names) for r in receipts), names

    # Anyone checks the receipt on the public page, with its code.
    public = chromium.new_context(base_url=live_server.url, locale="en-US")
    check = public.new_page()
    check.goto("/receipts/verify/")
    check.get_by_label("Verification code").fill(receipt.verification_code)
    check.get_by_role("button", name="Check").click()
    check.get_by_role("heading", name="The receipt is genuine").wait_for()
    assert check.get_by_text(receipt.number, exact=True).is_visible()
    assert check.get_by_text(format_tenge(receipt.amount)).first.is_visible()
    books.snap("receipts-after-downloads")
    check.screenshot(path=str(artifacts_of(request) / "public-verification.png"), full_page=True)
    public.close()


def cancel_in_the_browser(page, booking, consequence: str) -> None:
    page.goto("/cabinet/bookings/")
    page.get_by_role("link", name=booking.number).click()
    page.get_by_role("link", name="Cancel the booking").click()
    assert page.get_by_text(consequence).is_visible()
    page.snap(f"cancel-{booking.number}")
    page.get_by_role("button", name="Cancel the booking").click()
    page.get_by_text(f"Booking {booking.number} is cancelled.").wait_for()
    page.snap(f"cancelled-{booking.number}")


def test_d3_a_second_carrier_cancels_twice_within_90_days_and_the_second_deposit_is_forfeited(
    celery_worker_process, fake_twilio, signed_in_page
):
    from tests.worlds import book, make_world

    world = make_world(fake_twilio, iin_bin="900101301005", email="owner@karavan.kz")
    world.top_up("200000.00")
    owner = world.member.user
    tomorrow = clock.local_today() + dt.timedelta(days=1)
    slot = dt.datetime.combine(tomorrow, dt.time(10), tzinfo=clock.ALMATY)
    deposit = format_tenge(quote("deposit", on=clock.local_today()).amount)
    page = signed_in_page(owner, "carrier")

    first = book(world, start=slot)
    cancel_in_the_browser(page, first, f"The deposit of {deposit} will be released")
    wait_until(
        lambda: delivered(fake_twilio, first, Message.Kind.DEPOSIT_RELEASED),
        what="the SMS about the first deposit released arriving from the worker",
    )

    # The same truck (by VIN), booked again the next day and cancelled: two in 90 days (D3).
    second = book(world, start=slot + dt.timedelta(days=1))
    cancel_in_the_browser(page, second, f"The deposit of {deposit} will be forfeited")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (deposit_status(first), deposit_status(second)) == ("released", "forfeited")
    wait_until(
        lambda: delivered(fake_twilio, second, Message.Kind.DEPOSIT_FORFEITED),
        what="the SMS about the forfeited deposit arriving from the worker",
    )

    page.goto("/cabinet/account/")
    held = page.locator(".balances div", has_text="Held as deposits").locator("dd")
    assert text_of(held) == "0.00 ₸"
    statement = page.get_by_role("region", name="Statement")
    assert statement.get_by_role("cell", name="Deposit forfeited").count() == 1
    page.snap("account-after-forfeit")
    fees = 2 * quote("regular", on=clock.local_today()).amount
    forfeited = quote("deposit", on=clock.local_today()).amount
    assert balances_of(world.carrier).available == Decimal("200000.00") - fees - forfeited
