"""A carrier signs in, adds a truck and a driver, and books a passage with the wizard, from the
country to the QR code of the new booking (B1, B8, B11, C5).

The live server runs in real time: the slot is a few days ahead of the real now, at 10:00
local time, at Kordai (open 24 hours), well inside the booking window (C4).
"""

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlparse

import pytest

from bookings.models import Booking, SlotHold
from carriers.models import Member
from checkpoints import capacity
from checkpoints.models import Checkpoint, Closure, HourOverride
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.money import format_tenge
from deposits import services as ledger
from fees.selectors import quote
from tests.auth2fa.factories import PASSWORD, registered_person
from tests.fees.factories import fees_in_force_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIZARD = "/cabinet/bookings/new/"


def fee(service: str) -> str:
    """A fee as the pages show it, at the MRP of the real today (R2): '4 325.00 ₸' in 2026."""
    return format_tenge(quote(service, on=clock.local_today()).amount)


def sign_in(page, person, fake_twilio) -> None:
    page.goto("/signin/")
    page.get_by_label("E-mail or phone").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    page.get_by_label("Code").fill(fake_twilio.codes_sent_to(person.phone)[-1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Personal account").wait_for()


def current_step(page, title: str):
    """The wizard's current step, once it shows `title`."""
    step = page.locator("li[aria-current='step']")
    step.get_by_role("heading", name=title).wait_for()
    return step


def test_b1_b11_book_a_passage_with_the_wizard_and_see_the_qr_code(page, fake_twilio):
    reference_checkpoints_load()
    fees_in_force_today()
    person = registered_person(fake_twilio)
    carrier = Member.objects.get(user=person).carrier
    ledger.account_top_up(carrier=carrier, amount=Decimal("200000.00"), bank_reference="E2E-WIZARD")
    day = clock.local_today() + dt.timedelta(days=3)
    kordai = Checkpoint.objects.get(code="KORDAI")
    # Two hours of that day closed for works (C3) and one without regular places: not choosable.
    Closure.objects.create(
        checkpoint=kordai,
        starts_at=capacity.hour_start(day, 3),
        ends_at=capacity.hour_start(day, 5),
        reason="Road works",
    )
    HourOverride.objects.create(checkpoint=kordai, direction="exit", date=day, hour=6, capacity=0)

    sign_in(page, person, fake_twilio)
    page.get_by_role("link", name="Vehicles: trucks, tractor units and trailers").click()
    page.get_by_label("Kind").select_option("truck")
    page.get_by_label("Plate").fill("123 ABC 02")
    page.get_by_label("Country of registration").fill("KZ")
    page.get_by_label("VIN", exact=True).fill("XTA21099012345678")
    page.get_by_label("Make and model (optional)").fill("KAMAZ 5490")
    page.get_by_role("button", name="Add the vehicle").click()
    page.get_by_text("123 ABC 02 is added to the fleet.").wait_for()

    page.goto("/cabinet/drivers/")
    page.get_by_label("Full name").fill("Yerlan Serikovich")
    page.get_by_label("Citizenship").fill("KZ")
    page.get_by_label("IIN").fill("850512300119")
    page.get_by_label("Phone").fill("+7 701 555 12 34")
    page.get_by_role("button", name="Add the driver").click()
    page.get_by_text("Yerlan Serikovich is added to the drivers.").wait_for()

    page.goto("/cabinet/")
    page.get_by_role("link", name="Book a passage").click()
    step = current_step(page, "Country")
    # A mark on the window: it survives only if no step reloads the page.
    page.evaluate("window.kezekSamePage = 'yes'")
    page.snap("country")
    step.get_by_role("button", name=re.compile("^Kyrgyzstan")).click()

    step = current_step(page, "Checkpoint")
    assert step.get_by_text("400 vehicles a day each way").is_visible()
    page.snap("checkpoint")
    step.get_by_role("button", name=re.compile("^Kordai")).click()

    step = current_step(page, "Direction")
    page.snap("direction")
    step.get_by_role("button", name=re.compile("^Exit from Kazakhstan")).click()

    step = current_step(page, "Service")
    assert step.get_by_text(f"1 MRP = {fee('regular')}").is_visible()
    page.snap("service")
    step.get_by_role("button", name=re.compile("^Regular queue")).click()

    step = current_step(page, "Date")
    page.snap("date")
    step.locator(f"button[name='date'][value='{day.isoformat()}']").click()

    step = current_step(page, "Hour")
    ten = step.get_by_role("button", name=re.compile(r"^10:00"))
    assert ten.is_enabled()
    for hour, state in (("03:00", "closed"), ("04:00", "closed"), ("06:00", "full")):
        cell = step.get_by_role("button", name=re.compile(f"^{hour}"))
        assert cell.is_disabled() and state in cell.inner_text()
    page.snap("hour-grid")
    page.set_viewport_size({"width": 390, "height": 844})
    page.snap("hour-grid-390px")
    page.set_viewport_size({"width": 1280, "height": 900})
    ten.click()

    step = current_step(page, "Vehicle and drivers")
    hold = SlotHold.objects.get(created_by=person)
    until = hold.expires_at.astimezone(clock.ALMATY).strftime("%H:%M")
    assert page.get_by_text(f"Held for you for 15 minutes, until {until}.").is_visible()
    step.get_by_label("Truck or tractor unit").select_option(
        label="123 ABC 02 · Truck · KAMAZ 5490"
    )
    step.get_by_label(re.compile("Yerlan Serikovich")).check()
    page.snap("vehicle-and-drivers")
    step.get_by_role("button", name="Continue to the summary").click()

    step = current_step(page, "Summary and confirmation")
    needed = quote("regular", on=clock.local_today()).amount
    needed += quote("deposit", on=clock.local_today()).amount
    assert step.get_by_text(format_tenge(needed)).is_visible()  # 1 MRP fee + 20 MRP deposit
    assert step.get_by_text("200\u202f000.00 ₸").is_visible()
    # Every step loaded in place: the same page, the same address path.
    assert page.evaluate("window.kezekSamePage") == "yes"
    assert urlparse(page.url).path == WIZARD
    page.snap("summary")
    page.set_viewport_size({"width": 390, "height": 844})
    page.snap("summary-390px")
    page.set_viewport_size({"width": 1280, "height": 900})
    step.get_by_role("button", name=f"Confirm and pay {fee('regular')}").click()

    booking = None
    page.wait_for_url(re.compile(r"/cabinet/bookings/\d+/$"))
    booking = Booking.objects.get(carrier=carrier)
    page.get_by_role("heading", name=f"Booking {booking.number}").wait_for()
    assert page.get_by_text(f"Booking {booking.number} is confirmed.").is_visible()
    qr = page.get_by_role("img", name=f"QR code of booking {booking.number}")
    assert qr.is_visible()
    assert qr.evaluate("img => img.naturalWidth > 0 && img.complete")
    slot = booking.slot_start.astimezone(clock.ALMATY)
    assert (slot.date(), slot.hour) == (day, 10)
    assert not SlotHold.objects.exists()  # the hold became the booking's place
    page.snap("booking-with-qr")


def test_b4_b5_b9_add_a_driver_reschedule_and_cancel_from_the_booking_page(page, fake_twilio):
    from bookings import services
    from vehicles import services as fleet

    reference_checkpoints_load()
    fees_in_force_today()
    person = registered_person(fake_twilio)
    member = Member.objects.select_related("carrier").get(user=person)
    ledger.account_top_up(
        carrier=member.carrier, amount=Decimal("1000000.00"), bank_reference="E2E-2"
    )
    truck = fleet.vehicle_register(
        member=member,
        plate="123ABC02",
        vin="XTA21099012345678",
        kind="truck",
        registration_country="KZ",
    )
    drivers = [
        fleet.driver_register(
            member=member,
            full_name=name,
            passport_number=passport,
            citizenship="KZ",
            phone="+77019990000",
        )
        for name, passport in (("Yerlan Driver", "N1234567"), ("Asel Driver", "N7654321"))
    ]
    day = clock.local_today() + dt.timedelta(days=3)
    booking = services.booking_create(
        member=member,
        request=services.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=capacity.hour_start(day, 10),
            vehicle_id=truck.pk,
            trailer_id=None,
            driver_ids=[drivers[0].pk],
        ),
    )

    sign_in(page, person, fake_twilio)
    page.get_by_role("link", name="My bookings").first.click()
    page.get_by_role("heading", name="Active bookings").wait_for()
    page.snap("my-bookings")
    page.get_by_role("link", name=booking.number).click()
    page.get_by_role("heading", name=f"Booking {booking.number}").wait_for()

    page.get_by_role("link", name="Add drivers").click()
    page.get_by_label(re.compile("Asel Driver")).check()
    page.snap("add-drivers")
    page.get_by_role("button", name="Add the drivers").click()
    page.get_by_text(f"Added to booking {booking.number}: Asel Driver.").wait_for()

    page.get_by_role("link", name="Reschedule").click()
    page.get_by_role("heading", name="New date").wait_for()
    page.evaluate("window.kezekSamePage = 'yes'")
    page.locator(f"button[name='date'][value='{(day + dt.timedelta(days=1)).isoformat()}']").click()
    page.get_by_role("heading", name="New hour").wait_for()
    page.get_by_role("button", name=re.compile(r"^14:00")).click()
    page.get_by_role("heading", name="Confirm the new hour").wait_for()
    assert page.get_by_text(
        f"The re-booking fee is 100 MRP × {fee('regular')} = {fee('rebooking')}."
    ).is_visible()
    assert page.evaluate("window.kezekSamePage") == "yes"
    page.snap("reschedule-confirm")
    page.get_by_role("button", name=f"Reschedule and pay {fee('rebooking')}").click()
    page.get_by_text(f"Booking {booking.number} is moved to").wait_for()
    page.snap("rescheduled")
    booking.refresh_from_db()
    moved = booking.slot_start.astimezone(clock.ALMATY)
    assert (moved.date(), moved.hour) == (day + dt.timedelta(days=1), 14)

    page.get_by_role("link", name="Cancel the booking").click()
    consequence = page.get_by_text("will be released to your available balance")
    assert consequence.is_visible()
    paid = booking.fee_amount + quote("rebooking", on=clock.local_today()).amount
    assert page.get_by_text(f"The fees paid ({format_tenge(paid)}) are not refunded.").is_visible()
    page.snap("cancel-consequence")
    page.get_by_role("button", name="Cancel the booking").click()
    page.get_by_text(f"Booking {booking.number} is cancelled.").wait_for()
    page.snap("cancelled")
    booking.refresh_from_db()
    assert booking.status == "cancelled"
