"""A carrier from abroad, in a real browser (A7): a Russian carrier registers with its country,
INN and a Russian mobile (+7 9xx, the calling code Kazakhstan shares), confirms the phone with the
SMS code, signs in and uploads its trade register extract. A registrar operator signs into the
admin, opens the document and confirms the carrier; the owner gets an SMS. The carrier, now
confirmed, adds a truck and a driver and books a slot; the checkpoint's officer marks the truck
arrived, calls it and marks it crossed (Q1, Q2, D2).

The live server runs in this process: the carrier's part plays two hours earlier on its clock, so
that the hour it books (C4: from an hour ahead) is the hour that has come when the officer's part
plays on the real clock (Q2 calls only vehicles whose hour has come).
"""

import datetime as dt
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.roles import CHECKPOINT_STAFF, OPERATORS
from bookings.models import Booking
from bookings.selectors import deposit_status
from carriers.models import Carrier, CarrierDocument
from checkpoints.models import Checkpoint, StaffAssignment
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.models import AuditEvent
from deposits import services as ledger
from notify.models import Message
from tests.e2e.conftest import artifacts_of
from tests.e2e.test_booking_wizard import current_step, fee
from tests.e2e.test_checkpoint_journey import totp_code
from tests.fees.factories import fees_in_force_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
STAFF_PASSWORD = "a long staff passphrase"
PHONE = "+79161234567"
EMAIL = "ivan@volga-trans.ru"
INN = "7707083893"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def staff_member(email: str, group: str):
    person = get_user_model().objects.create_user(
        email, STAFF_PASSWORD, full_name=email.split("@")[0].title(), is_staff=True
    )
    person.groups.add(Group.objects.get(name=group))
    return person


def register(page, fake_twilio) -> None:
    """The registration page, the phone's code, and the sign-in with password + SMS."""
    page.goto("/")
    page.get_by_role("link", name="Register").click()
    # Without a choice the Kazakh fields show; choosing "from abroad" shows the foreign ones.
    kazakh_number = page.get_by_label("BIN of the company or IIN of the entrepreneur")
    tax_number = page.get_by_label("Its national tax number")
    kazakh_number.wait_for(state="visible")
    tax_number.wait_for(state="hidden")
    page.get_by_label("The carrier is").select_option(label="Carrier from abroad")
    kazakh_number.wait_for(state="hidden")
    tax_number.wait_for(state="visible")
    page.get_by_label("Carrier's name").fill("Volga Trans LLC")
    page.get_by_label("The carrier's country").select_option("RU")
    tax_number.fill("7707 083 893")
    page.get_by_label("Your full name").fill("Ivan Petrov")
    page.get_by_label("Mobile phone").fill("+7 916 123 45 67")
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
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Personal account").wait_for()


def operator_confirms(chromium, live_server, operator, device, folder: Path) -> None:
    """The operator signs in (password + authenticator app), opens the document and confirms."""
    context = chromium.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(15_000)
    admin = context.new_page()
    shots = iter(range(1, 100))

    def snap(step: str) -> None:
        admin.screenshot(
            path=str(folder / f"operator-{next(shots):02d}-{step}.png"), full_page=True
        )

    admin.goto("/signin/?next=/admin/carriers/carrier/%3Fcheck%3Dwaiting")
    admin.get_by_label("E-mail or phone").fill(operator.email)
    admin.get_by_label("Password").fill(STAFF_PASSWORD)
    admin.get_by_role("button", name="Continue").click()
    admin.get_by_label("Code").fill(totp_code(device, time.time()))
    admin.get_by_role("button", name="Sign in").click()
    admin.get_by_role("link", name="Volga Trans LLC").click()
    snap("carrier")
    admin.get_by_role("link", name="Check the documents: confirm or refuse").click()
    admin.get_by_role("heading", name="Documents", exact=True).wait_for()
    snap("check")
    with admin.expect_download() as opened:
        admin.get_by_role("link", name="Open extract.pdf").click()
    download = opened.value
    assert download.suggested_filename == "extract.pdf"
    assert Path(download.path()).read_bytes() == PDF
    admin.get_by_role("button", name="Confirm from documents").click()
    admin.get_by_text("Volga Trans LLC (RU 7707083893) is confirmed: it can book now.").wait_for()
    snap("confirmed")
    context.close()


def add_fleet(page) -> None:
    page.get_by_role("link", name="Vehicles: trucks, tractor units and trailers").click()
    page.get_by_label("Kind").select_option("truck")
    page.get_by_label("Plate").fill("А 123 ВС 77")  # typed in Cyrillic, as on the plate
    page.get_by_label("Country of registration").fill("RU")
    page.get_by_label("VIN", exact=True).fill("XTA21099012345678")
    page.get_by_role("button", name="Add the vehicle").click()
    page.get_by_text("is added to the fleet.").wait_for()
    page.snap("vehicles")
    page.goto("/cabinet/drivers/")
    page.get_by_label("Full name").fill("Sergei Ivanov")
    page.get_by_label("Citizenship").fill("RU")
    page.get_by_label("Passport number").fill("751234567")
    page.get_by_label("Phone").fill("+7 916 555 12 34")
    page.get_by_role("button", name="Add the driver").click()
    page.get_by_text("Sergei Ivanov is added to the drivers.").wait_for()
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
    step.get_by_role("button", name=re.compile(f"^{slot:%H}:00")).click()
    step = current_step(page, "Vehicle and drivers")
    step.get_by_label("Truck or tractor unit").select_option(label="A123BC77 · Truck")
    step.get_by_label(re.compile("Sergei Ivanov")).check()
    page.snap("vehicle-and-drivers")
    step.get_by_role("button", name="Continue to the summary").click()
    step = current_step(page, "Summary and confirmation")
    page.snap("summary")
    step.get_by_role("button", name=f"Confirm and pay {fee('regular')}").click()
    page.wait_for_url(re.compile(r"/cabinet/bookings/\d+/$"))


def test_a7_a_russian_carrier_registers_is_confirmed_from_its_documents_books_and_crosses(
    page, chromium, live_server, fake_twilio, signed_in_page, eager, request
):
    reference_checkpoints_load()
    fees_in_force_today()
    operator = staff_member("operator@registrar.kz", OPERATORS)
    device = TOTPDevice.objects.create(user=operator, name="Authenticator", confirmed=True)
    officer = staff_member("officer@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=officer, checkpoint=Checkpoint.objects.get(code="KORDAI"))

    # The hour that has come on the real clock; the carrier's part plays two hours earlier on
    # this process's clock (the live server's), when that hour could be booked (C4).
    due = timezone.now().astimezone(clock.ALMATY).replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(due - dt.timedelta(hours=2), tick=True):
        register(page, fake_twilio)
        carrier = Carrier.objects.get()
        assert (carrier.kind, carrier.country, carrier.tax_number) == ("foreign", "RU", INN)
        assert not carrier.is_confirmed
        page.get_by_text("Your carrier is not confirmed yet: it cannot book.").wait_for()
        page.snap("cabinet-unconfirmed")

        page.get_by_label("Document").set_input_files(
            {"name": "extract.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
        page.get_by_role("button", name="Upload the document").click()
        page.get_by_text(
            "extract.pdf is uploaded. The operator will check your documents."
        ).wait_for()
        page.goto("/cabinet/")
        page.get_by_text("Waiting for the operator to check your documents.").wait_for()
        page.snap("cabinet-waiting")
        assert CarrierDocument.objects.get().content_type == "application/pdf"

        operator_confirms(chromium, live_server, operator, device, artifacts_of(request))
        carrier.refresh_from_db()
        assert carrier.is_confirmed
        event = AuditEvent.objects.get(action="carrier.confirmed")
        assert event.actor_id == operator.pk
        told = Message.objects.get(kind="carrier_confirmed")
        assert (told.address, told.status) == (PHONE, "sent")
        assert told.body in [message["Body"] for message in fake_twilio.messages]

        ledger.account_top_up(
            carrier=carrier, amount=Decimal("200000.00"), bank_reference="E2E-FOREIGN"
        )
        page.goto("/cabinet/")
        assert not page.get_by_text("Your carrier is not confirmed yet").is_visible()
        page.get_by_text("RU 7707083893").wait_for()
        page.snap("cabinet-confirmed")
        add_fleet(page)
        book_with_the_wizard(page, due)
        booking = Booking.objects.get(carrier=carrier)
        page.get_by_text(f"Booking {booking.number} is confirmed.").wait_for()
        page.snap("booking")

    # The hour has come: the officer marks the truck arrived, calls it and marks it crossed.
    staff = signed_in_page(officer, "officer")
    staff.goto("/staff/checkpoints/KORDAI/")
    staff.get_by_label("Booking number or plate").fill(booking.number)
    staff.get_by_role("button", name="Find").click()
    staff.get_by_role("rowheader", name=booking.number).wait_for()
    staff.snap("found")
    staff.get_by_role("button", name="Mark arrived").click()
    staff.get_by_text(f"(booking {booking.number}) is in the waiting area.").wait_for()
    staff.snap("arrived")
    staff.get_by_role("button", name="Call next (Exit from Kazakhstan)").click()
    called = staff.get_by_role("region", name="Exit from Kazakhstan")
    called.get_by_role("button", name=re.compile("^Mark crossed")).click()
    staff.get_by_text("crossed the border; the deposit is released to the carrier.").wait_for()
    staff.snap("crossed")
    booking.refresh_from_db()
    assert booking.status == "crossed" and deposit_status(booking) == "released"
