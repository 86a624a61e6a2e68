"""The staff screen of a checkpoint and the Booking admin: find by plate, number or QR text;
mark arrived (Q1, the window shown when refused); call next in Q2 order, never a chosen vehicle
(Q3); mark crossed (D2). Staff act only at their own checkpoints (A5); every action is audited
with who did it (A6)."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoints.models import StaffAssignment
from core.models import AuditEvent
from deposits.selectors import balances_of, ledger_check
from tests.worlds import at, book, trucks

pytestmark = pytest.mark.django_db

SCREEN = "/staff/checkpoints/KORDAI/"


def person(django_user_model, email, *roles, is_staff=True):
    user = django_user_model.objects.create_user(
        email, "x", full_name=email.split("@")[0].title(), is_staff=is_staff
    )
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


@pytest.fixture
def staff(world, django_user_model):
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=officer, checkpoint=world.checkpoint)
    return officer


@pytest.fixture
def browser(staff, signed_in):
    return signed_in(staff)


def page_text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def act(browser, **data):
    response = browser.post(SCREEN, data, follow=True)
    assert response.redirect_chain[0][0].startswith(SCREEN), "signed out?"
    return response


# --- Scope (A5) -------------------------------------------------------------------------------


def test_a5_staff_screen_needs_a_verified_sign_in(client, world):
    response = client.get(SCREEN)
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=/staff/checkpoints/KORDAI/")


def test_a5_staff_see_their_checkpoint_only(browser, world):
    assert browser.get(SCREEN).status_code == 200
    assert browser.get("/staff/checkpoints/KARASU/").status_code == 403
    assert browser.get("/staff/checkpoints/NOWHERE/").status_code == 404
    listing = browser.get("/staff/checkpoints/")
    assert [c.code for c in listing.context["checkpoints"]] == ["KORDAI"]


def test_a5_carriers_and_auditors_have_no_checkpoint_screen(world, django_user_model, signed_in):
    carrier = signed_in(world.member.user)
    assert carrier.get(SCREEN).status_code == 403
    assert "Checkpoint screens" not in page_text(carrier.get("/"))
    auditor = signed_in(person(django_user_model, "auditor@reg.kz", AUDITORS))
    assert auditor.get(SCREEN).status_code == 403


def test_a5_staff_cannot_act_on_another_checkpoints_booking(staff, signed_in, world, clock):
    world.top_up("1000000.00")
    elsewhere = book(world, checkpoint="KARASU", start=at(1, 9))
    clock.move_to(at(1, 8))
    browser = signed_in(staff)
    response = browser.post(SCREEN, {"action": "arrived", "booking": elsewhere.pk})
    assert response.status_code == 404
    karasu = {"action": "arrived", "booking": elsewhere.pk}
    assert browser.post("/staff/checkpoints/KARASU/", karasu).status_code == 403
    assert Booking.objects.get(pk=elsewhere.pk).status == "confirmed"


def test_staff_see_the_checkpoint_screens_link(browser, world):
    text = page_text(browser.get("/"))
    assert 'href="/staff/checkpoints/"' in text and "Checkpoint screens" in text


# --- Search -----------------------------------------------------------------------------------


def test_b7_b11_find_by_plate_number_or_qr_text(browser, world, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    for text in ("123 авс 02", "123abc02", booking.number, booking.number.replace("-", "")):
        response = browser.get(SCREEN, {"q": text})
        assert [b.pk for b in response.context["search"].bookings] == [booking.pk], text
    shown = page_text(browser.get(SCREEN, {"q": booking.number}))
    assert "123 ABC 02" in shown and "Mark arrived" in shown
    # The check-in window is shown with the booking (Q1).
    assert "21.03 06:00–21.03 11:00" in shown


def test_search_says_when_nothing_matches_or_the_booking_is_elsewhere(browser, world):
    world.top_up("1000000.00")
    elsewhere = book(world, checkpoint="KARASU", start=at(1, 9))
    text = page_text(browser.get(SCREEN, {"q": elsewhere.number}))
    assert f"Booking {elsewhere.number} is for another checkpoint" in text
    assert "123 ABC 02" not in text  # nothing else about it is shown
    assert "No booking at this checkpoint matches “777 ZZZ 01”" in page_text(
        browser.get(SCREEN, {"q": "777 ZZZ 01"})
    )
    assert "Type a booking number" in page_text(browser.get(SCREEN, {"q": "???"}))


# --- Arrive, call, cross ----------------------------------------------------------------------


def test_q1_mark_arrived_outside_the_window_shows_the_window(staff, signed_in, world, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 5))
    browser = signed_in(staff)
    response = act(browser, action="arrived", booking=booking.pk, q=booking.number)
    (message,) = messages_of(response)
    assert "open from 21.03 06:00 to 21.03 11:00" in message
    assert response.redirect_chain[-1][0] == f"{SCREEN}?q={booking.number}"
    clock.move_to(at(1, 6))
    browser = signed_in(staff)
    response = act(browser, action="arrived", booking=booking.pk)
    arrived = f"123 ABC 02 (booking {booking.number}) is in the waiting area."
    assert messages_of(response) == [arrived]
    response = act(browser, action="arrived", booking=booking.pk)
    assert "already in the waiting area" in messages_of(response)[0]


def test_q2_q3_call_next_follows_the_queue_not_the_choice(signed_in, world, staff, clock):
    world.top_up("100000000.00")
    regular, fast, priority = trucks(world, 3)
    b_regular = book(world, vehicle=regular, start=at(1, 9))
    b_fast = book(world, vehicle=fast, start=at(1, 10), service="accelerated")
    b_priority = book(
        world,
        vehicle=priority,
        start=at(1, 10),
        service="out_of_turn",
        cargo_category="perishable",
        document_number="D-1",
    )
    clock.move_to(at(1, 8))
    browser = signed_in(staff)
    for booking in (b_regular, b_fast, b_priority):
        act(browser, action="arrived", booking=booking.pk)
    screen = browser.get(SCREEN)
    (exit_side, _entry) = screen.context["sides"]
    assert [b.pk for b in exit_side.waiting] == [b_priority.pk, b_fast.pk, b_regular.pk]
    # Nothing on the screen moves a vehicle: no field names a place in the queue.
    assert not re.search(r'name="(position|order|priority|slot_start)"', page_text(screen))

    response = act(browser, action="call", direction="exit", count=1)
    assert messages_of(response) == ["No vehicle in the waiting area is due yet."]

    clock.move_to(at(1, 10))
    browser = signed_in(staff)
    # A booking named in the request does not choose who is called (Q3).
    response = act(browser, action="call", direction="exit", count=1, booking=b_regular.pk)
    assert f"({b_priority.number})" in messages_of(response)[0]
    response = act(browser, action="call", direction="exit", count=2)
    (message,) = messages_of(response)
    assert message.index(b_fast.number) < message.index(b_regular.number)
    assert [Booking.objects.get(pk=b.pk).status for b in (b_priority, b_fast, b_regular)] == [
        "called"
    ] * 3
    called = AuditEvent.objects.filter(action="booking.called")
    assert called.count() == 3 and {event.actor for event in called} == {staff}


def test_call_count_is_bounded(browser, world):
    response = act(browser, action="call", direction="exit", count=99)
    assert messages_of(response) == ["Call from 1 to 20 vehicles at a time."]


def test_d2_mark_crossed_releases_the_deposit(signed_in, world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    browser = signed_in(staff)
    act(browser, action="arrived", booking=booking.pk)
    response = act(browser, action="crossed", booking=booking.pk)
    assert "has not been called forward yet" in messages_of(response)[0]
    act(browser, action="call", direction="exit", count=1)
    screen = browser.get(SCREEN)
    assert [b.pk for b in screen.context["sides"][0].called] == [booking.pk]
    clock.shift(dt.timedelta(minutes=15))
    browser = signed_in(staff)
    response = act(browser, action="crossed", booking=booking.pk)
    assert "the deposit is released" in messages_of(response)[0]
    booking.refresh_from_db()
    assert booking.status == "crossed" and deposit_status(booking) == "released"
    assert "officer@kordai.kz" in booking.crossed_by
    assert balances_of(world.carrier).held == 0
    assert ledger_check().ok
    actions = AuditEvent.objects.filter(
        object_id=str(booking.pk), actor=staff, action__startswith="booking."
    )
    assert list(actions.order_by("pk").values_list("action", flat=True)) == [
        "booking.arrived",
        "booking.called",
        "booking.crossed",
    ]


# --- The Booking admin --------------------------------------------------------------------------


ADMIN_LIST = "/admin/bookings/booking/"


def test_a5_admin_bookings_are_scoped_and_read_only(browser, world, clock):
    world.top_up("10000000.00")
    mine = book(world, start=at(1, 9))
    other_truck = trucks(world, 1)[0]
    theirs = book(world, vehicle=other_truck, checkpoint="DOSTYK", start=at(1, 9))
    listing = browser.get(ADMIN_LIST)
    assert listing.status_code == 200
    assert [b.pk for b in listing.context["cl"].queryset] == [mine.pk]
    assert 'href="/staff/checkpoints/KORDAI/"' in page_text(listing)
    for text in (mine.number, "123 авс 02", mine.vehicle_vin):
        found = browser.get(ADMIN_LIST, {"q": text}).context["cl"].queryset
        assert [b.pk for b in found] == [mine.pk], text
    change = reverse("admin:bookings_booking_change", args=[mine.pk])
    page = browser.get(change)
    assert page.status_code == 200
    assert not page.context["adminform"].form.fields  # every field read-only
    assert f"/staff/checkpoints/KORDAI/?q={mine.number}" in page_text(page)
    assert browser.post(change, {"status": "crossed"}).status_code == 403
    other = browser.get(reverse("admin:bookings_booking_change", args=[theirs.pk]))
    assert other.status_code == 302  # as if it did not exist
    assert browser.get(reverse("admin:bookings_booking_add")).status_code == 403


def test_q1_q2_d2_admin_actions_call_the_services(signed_in, world, staff, clock):
    world.top_up("10000000.00")
    first_truck, second_truck = trucks(world, 2)
    first = book(world, vehicle=first_truck, start=at(1, 9))
    second = book(world, vehicle=second_truck, start=at(1, 9))
    elsewhere = book(world, checkpoint="DOSTYK", start=at(1, 9))
    clock.move_to(at(1, 9))
    browser = signed_in(staff)

    def action(name, *bookings):
        return browser.post(
            ADMIN_LIST,
            {"action": name, "_selected_action": [b.pk for b in bookings], "index": 0},
            follow=True,
        )

    response = action("mark_arrived", first, second, elsewhere)
    assert "Bookings in the waiting area (or already there): 2." in messages_of(response)
    assert Booking.objects.get(pk=elsewhere.pk).status == "confirmed"  # not in their rows
    # Selecting the second booking calls the first: the queue decides, not the selection.
    response = action("call_next", second)
    assert any(first.number in message for message in messages_of(response))
    assert Booking.objects.get(pk=first.pk).status == "called"
    assert Booking.objects.get(pk=second.pk).status == "arrived"
    response = action("mark_crossed", first, second)
    texts = messages_of(response)
    assert f"Booking {second.number} has not been called forward yet." in texts
    assert "Bookings crossed (or already crossed), deposits released: 1." in texts
    assert deposit_status(Booking.objects.get(pk=first.pk)) == "released"
    assert AuditEvent.objects.filter(action="booking.crossed", actor=staff).count() == 1


def test_a5_auditors_read_bookings_but_have_no_queue_actions(
    world, django_user_model, signed_in, clock
):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    auditor = signed_in(person(django_user_model, "auditor@reg.kz", AUDITORS))
    listing = auditor.get(ADMIN_LIST)
    assert [b.pk for b in listing.context["cl"].queryset] == [booking.pk]
    assert "mark_arrived" not in listing.context["cl"].model_admin.get_actions(listing.wsgi_request)
    auditor.post(
        ADMIN_LIST, {"action": "mark_arrived", "_selected_action": [booking.pk], "index": 0}
    )
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_a5_operators_see_every_booking_and_may_act_anywhere(
    world, django_user_model, signed_in, clock
):
    world.top_up("1000000.00")
    booking = book(world, checkpoint="DOSTYK", start=at(1, 9))
    clock.move_to(at(1, 8))
    operator = signed_in(person(django_user_model, "op@reg.kz", OPERATORS))
    operator.post(
        ADMIN_LIST, {"action": "mark_arrived", "_selected_action": [booking.pk], "index": 0}
    )
    assert Booking.objects.get(pk=booking.pk).status == "arrived"
