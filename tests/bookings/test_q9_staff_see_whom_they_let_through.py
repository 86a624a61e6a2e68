"""Q9: staff at the checkpoint see the drivers of each booking (name, citizenship, IIN or
passport masked but for 4 characters), the trailer and the out-of-turn document, and record
that they checked the document."""

import pytest

from auth2fa.roles import CHECKPOINT_STAFF
from bookings.models import Booking
from checkpoints.models import StaffAssignment
from core.models import AuditEvent
from tests.bookings.test_staff_page import ADMIN_LIST, SCREEN, act, messages_of, page_text, person
from tests.worlds import at, book

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(world, django_user_model):
    """An officer of the checkpoint who also uses the admin (is_staff)."""
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=officer, checkpoint=world.checkpoint)
    return officer


@pytest.fixture
def priority(world):
    world.top_up("10000000.00")
    return book(
        world,
        start=at(1, 10),
        service="out_of_turn",
        cargo_category="perishable",
        document_number="VET-2026-0042",
        drivers=world.drivers[:2],
    )


def test_q9_staff_see_the_drivers_masked_and_the_document(priority, signed_in, staff, clock):
    browser = signed_in(staff)
    text = page_text(browser.get(SCREEN, {"q": priority.number}))
    assert "Driver Yerlan Driver, KZ, ••••4567" in text
    assert "Driver Asel Driver, KZ, ••••4321" in text
    assert "N1234567" not in text and "N7654321" not in text
    assert "VET-2026-0042" in text and "Document checked" in text


def test_q9_staff_record_the_document_check_once(priority, signed_in, staff, clock):
    browser = signed_in(staff)
    response = act(browser, action="document", booking=priority.pk, q=priority.number)
    assert messages_of(response) == [
        f"The document VET-2026-0042 of booking {priority.number} is recorded as checked."
    ]
    booking = Booking.objects.get(pk=priority.pk)
    assert booking.document_checked_at is not None and staff.email in booking.document_checked_by
    assert "Document checked" in page_text(response) and 'value="document"' not in page_text(
        response
    )
    act(browser, action="document", booking=priority.pk)
    event = AuditEvent.objects.get(action="booking.document_checked")
    assert event.actor == staff and event.after["document"] == "VET-2026-0042"


def test_q9_a_regular_booking_has_no_document_to_check(world, signed_in, staff, clock):
    world.top_up("10000000.00")
    regular = book(world, start=at(1, 9))
    response = act(signed_in(staff), action="document", booking=regular.pk)
    assert messages_of(response) == [
        f"Booking {regular.number} is not for out-of-turn passage: it names no document."
    ]


def test_q9_the_admin_shows_the_drivers_masked(priority, signed_in, staff, clock):
    page = page_text(signed_in(staff).get(f"{ADMIN_LIST}{priority.pk}/change/"))
    assert "Yerlan Driver, KZ, ••••4567; Asel Driver, KZ, ••••4321" in page
    assert "N1234567" not in page
