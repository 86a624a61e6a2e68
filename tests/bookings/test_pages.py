"""The booking pages without JavaScript: the wizard step by step, "My bookings", a booking's page
with its QR code and PDF, adding drivers, rescheduling and cancelling (B1–B11, C3–C5, D3).

Time is frozen on Friday 2026-03-20 10:00 in Almaty (tests/bookings/conftest.py): the booking
window runs from 11:00 today to 2026-04-19 10:00, and 1 MRP is 4 325 ₸.
"""

import datetime as dt
import io
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.test import Client

from bookings import services
from bookings.models import Booking, SlotHold
from carriers.models import Member
from checkpoints.models import Closure, HourOverride, SlotCounter
from deposits.selectors import balances_of
from tests.worlds import at, make_other_world

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
NEW = "/cabinet/bookings/new/"
MONDAY = "2026-03-23"
STEPS = {
    "country": "KG",
    "checkpoint": "KORDAI",
    "direction": "exit",
    "service": "regular",
    "date": MONDAY,
}


@pytest.fixture
def browser(sign_in_browser):
    def open_as(member):
        return sign_in_browser(Client(), member.user)

    return open_as


@pytest.fixture
def other(world, fake_twilio):
    """Another carrier, ready to book."""
    return make_other_world(fake_twilio)


@pytest.fixture
def accountant(world, django_user_model):
    user = django_user_model.objects.create_user(
        "accountant@steppe.kz", "a-long-passphrase", full_name="Dana Accountant"
    )
    return Member.objects.create(carrier=world.carrier, user=user, role="accountant")


def page_of(response, status: int = 200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def url(path: str = NEW, **params) -> str:
    pairs = [
        (name, value)
        for name, values in params.items()
        for value in (values if isinstance(values, list | tuple) else [values])
    ]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def current_step(page: str) -> str:
    """The wizard's current step (the <li aria-current="step">)."""
    match = re.search(r'aria-current="step">(.*?)(?=<li class="wizard-step|</ol>)', page, re.S)
    assert match, "no current step"
    return match.group(1)


def text_of(html: str) -> str:
    """The text people read: tags out, spaces collapsed (the narrow no-break space kept)."""
    text = re.sub(r"<[^>]+>", " ", html)
    text = text.replace("&#x27;", "'").replace("&amp;", "&").replace("&quot;", '"')
    return re.sub(r" ([.,;)])", r"\1", re.sub(r"[ \t\r\n]+", " ", text))


def assert_house_style(page: str) -> None:
    assert not re.search(r"<script(?![^>]*\ssrc=)", page), "inline script"
    assert not re.search(r"\sstyle=", page) and "<style" not in page
    assert not re.search(r"""(src|href)="(https?:)?//""", page)


def hold_place(client, *, hour: int = 9, **steps):
    return client.post(NEW, {**STEPS, **steps, "action": "hold", "hour": str(hour)}, **EN)


def fleet(world, *, drivers=1, trailer=False) -> dict:
    choice = {"vehicle": world.truck.pk, "drivers": [d.pk for d in world.drivers[:drivers]]}
    if trailer:
        choice["trailer"] = world.trailer.pk
    return choice


def confirm(client, world, *, hour: int = 9, **extra):
    data = {**STEPS, "hour": str(hour), **fleet(world), **extra, "action": "confirm"}
    return client.post(NEW, data, **EN)


# --- Access ---------------------------------------------------------------------------------------


def test_pages_need_a_verified_sign_in(client, world):
    for path in (NEW, "/cabinet/bookings/"):
        response = client.get(path)
        assert response.status_code == 302 and "/signin" in response["Location"]
    client.force_login(world.member.user)  # password only, no second factor
    assert client.get(NEW).status_code == 302


def test_the_cabinet_and_the_menu_link_to_booking(world, browser):
    page = page_of(browser(world.member).get("/cabinet/", **EN))
    assert f'href="{NEW}"' in page and "Book a passage" in page
    assert 'href="/cabinet/bookings/"' in page and "My bookings" in page


def test_a5_an_accountant_sees_bookings_but_cannot_book(world, accountant, browser):
    client = browser(accountant)
    page = page_of(client.get(NEW, **EN), status=403)
    assert "Only the carrier's owner or a dispatcher can book passages." in page
    assert 'id="wizard"' not in page
    assert hold_place(client).status_code == 403
    assert not SlotHold.objects.exists()
    assert f'href="{NEW}"' not in page_of(client.get("/cabinet/", **EN))
    assert "Book a passage" not in page_of(client.get("/cabinet/bookings/", **EN))


# --- The wizard without JavaScript ----------------------------------------------------------------


def test_b1_c5_the_wizard_step_by_step_holds_the_hour_and_books_it(world, browser):
    world.top_up("100000.00")
    client = browser(world.member)

    page = page_of(client.get(NEW, **EN))
    assert_house_style(page)
    assert 'src="/static/js/partial-forms.js"' in page
    step = current_step(page)
    assert 'id="step-country"' in step
    assert 'name="country" value="KG"' in step and "Kyrgyzstan" in step
    assert "3 checkpoints" in text_of(step)

    step = current_step(page_of(client.get(url(country="KG"), **EN)))
    assert 'id="step-checkpoint"' in step and 'name="checkpoint" value="KORDAI"' in step
    assert "400 vehicles a day each way" in text_of(step) and "Open 24 hours" in step

    page = page_of(client.get(url(country="KG", checkpoint="KORDAI"), **EN))
    step = current_step(page)
    assert 'id="step-direction"' in step and "Exit from Kazakhstan" in step
    assert "Kordai" in text_of(page) and f'href="{url(country="KG")}"' in page  # Change

    step = text_of(current_step(page_of(client.get(url(**dict(list(STEPS.items())[:3])), **EN))))
    assert "Regular queue 1 MRP = 4\u202f325.00 ₸" in step
    assert "Accelerated passage 100 MRP = 432\u202f500.00 ₸" in step
    assert "Out-of-turn passage 100 MRP = 432\u202f500.00 ₸" in step
    assert "guarantee deposit of 20 MRP (86\u202f500.00 ₸)" in step

    page = page_of(client.get(url(**dict(list(STEPS.items())[:4])), **EN))
    step = current_step(page)
    assert 'id="step-date"' in step
    assert 'name="date" value="2026-03-20"' in step and 'name="date" value="2026-03-26"' in step
    assert 'min="2026-03-20"' in step and 'max="2026-04-19"' in step

    step = current_step(page_of(client.get(url(**STEPS), **EN)))
    assert 'id="step-hour"' in step and "Monday, 23.03.2026" in step
    assert step.count('name="hour"') == 24  # Kordai is open 24 hours
    assert "16 free" in step and "disabled" not in step
    assert 'name="action" value="hold"' in step and "csrfmiddlewaretoken" in step

    response = hold_place(client)
    assert response.status_code == 302
    assert response["Location"] == url(**STEPS, hour=9)
    hold = SlotHold.objects.get()
    assert hold.slot_start == at(3, 9) and hold.created_by == world.member.user
    assert SlotCounter.objects.get(pk=hold.counter_id).taken == 1

    page = page_of(client.get(response["Location"], **EN))
    assert "09:00–10:00 Held for you for 15 minutes, until 10:15." in text_of(page)
    step = current_step(page)
    assert 'id="step-fleet"' in step
    assert "123 ABC 02 · Truck" in step and "456 DEF 02 · Tractor unit" in step
    assert "AB1234" in step and "No trailer" in step
    assert "Yerlan Driver" in step and 'type="checkbox"' in step

    page = page_of(client.get(url(**STEPS, hour=9, **fleet(world, drivers=2, trailer=True)), **EN))
    step = text_of(current_step(page))
    assert "Summary and confirmation" in step
    for fact in ("Kordai, Kyrgyzstan", "Exit from Kazakhstan", "Regular queue", "123 ABC 02"):
        assert fact in step
    assert "Mon 23.03.2026 09:00–10:00" in step
    assert "Asel Driver, Yerlan Driver" in step  # by name
    assert "Fee: Regular queue 1 MRP × 4\u202f325.00 ₸ 4\u202f325.00 ₸" in step
    assert "Guarantee deposit 20 MRP × 4\u202f325.00 ₸" in step and "86\u202f500.00 ₸" in step
    assert "Needed now 90\u202f825.00 ₸" in step
    assert "Available on the personal account 100\u202f000.00 ₸" in step
    assert "more is needed" not in step
    assert "The hour is held for you until 10:15" in step

    response = confirm(client, world, **fleet(world, drivers=2, trailer=True))
    booking = Booking.objects.get()
    assert (
        response.status_code == 302 and response["Location"] == f"/cabinet/bookings/{booking.pk}/"
    )
    assert (booking.slot_start, booking.vehicle, booking.trailer) == (
        at(3, 9),
        world.truck,
        world.trailer,
    )
    assert [link.driver for link in booking.driver_links.order_by("pk")] == world.drivers[:2]
    assert booking.counter_id == hold.counter_id and not SlotHold.objects.exists()
    assert SlotCounter.objects.get(pk=hold.counter_id).taken == 1
    assert balances_of(world.carrier).available == Decimal("100000.00") - Decimal("90825.00")
    page = page_of(client.get(response["Location"], **EN))
    assert f"Booking {booking.number} is confirmed." in page


def test_the_wizard_keeps_every_choice_in_the_page_it_sends(world, browser):
    """The forms of the steps carry the earlier choices, and the vehicle and drivers once
    chosen ride along when the date or the hour changes."""
    world.top_up("100000.00")
    client = browser(world.member)
    chosen = fleet(world)
    step = current_step(page_of(client.get(url(**STEPS, **chosen), **EN)))
    for name, value in [*STEPS.items(), ("vehicle", world.truck.pk)]:
        if name != "date":
            assert f'<input type="hidden" name="{name}" value="{value}">' in step
    assert "/cabinet/bookings/new/?country=KG&amp;checkpoint=KORDAI" in step  # day links
    hold_place(client, **{k: str(v[0] if isinstance(v, list) else v) for k, v in chosen.items()})
    # Back at the summary directly: the vehicle and driver were carried through the hold.
    page = page_of(client.get(url(**STEPS, hour=9, **chosen), **EN))
    assert "Summary and confirmation" in current_step(page)
    # "Change" of the vehicle shows the form with the choices made.
    step = current_step(page_of(client.get(url(**STEPS, hour=9, **chosen, edit="fleet"), **EN)))
    assert 'id="step-fleet"' in step and f'<option value="{world.truck.pk}" selected>' in step
    assert f'value="{world.drivers[0].pk}" id="id_drivers_' in step and "checked" in step
    # "Change" of the hour shows the held hour, which can be chosen again.
    step = current_step(page_of(client.get(url(**STEPS, **chosen), **EN)))
    assert 'name="hour" value="9" class="hour hour-held"' in step and "held for you" in step


def test_the_background_requests_get_the_wizard_alone(world, browser):
    world.top_up("100000.00")
    client = browser(world.member)
    partial = {"HTTP_KEZEK_PARTIAL": "wizard", **EN}
    response = client.get(url(**STEPS), **partial)
    assert "Kezek-Partial" in response["Vary"]  # caches keep the part and the page apart
    page = page_of(response)
    assert page.startswith('<div id="wizard"') and "<html" not in page
    assert f'data-url="{url(**STEPS)}"'.replace("&", "&amp;") in page
    assert "data-focus" in current_step(page)
    response = client.post(NEW, {**STEPS, "action": "hold", "hour": "9"}, **partial)
    assert response.status_code == 204 and response["Kezek-Location"] == url(**STEPS, hour=9)
    response = client.post(
        NEW, {**STEPS, "hour": "9", **fleet(world), "action": "confirm"}, **partial
    )
    booking = Booking.objects.get()
    assert response.status_code == 204
    assert response["Kezek-Location"] == f"/cabinet/bookings/{booking.pk}/"
    # The one-time message waits for the page the script opens.
    assert f"Booking {booking.number} is confirmed." in page_of(
        client.get(response["Kezek-Location"], **EN)
    )


def test_b2_out_of_turn_asks_for_the_cargo_and_the_document(world, browser):
    world.top_up("1000000.00")
    client = browser(world.member)
    steps = {**STEPS, "service": "out_of_turn"}
    del steps["date"]
    step = current_step(page_of(client.get(url(**steps), **EN)))
    assert 'id="step-service"' in step and 'aria-pressed="true"' in step
    assert "Out-of-turn passage is only for: the postal operator; live animals;" in step
    assert 'name="cargo_category"' in step and 'name="document_number"' in step
    step = current_step(
        page_of(client.get(url(**steps, cargo_category="perishable", document_number=" "), **EN))
    )
    assert "This field is required." in step and 'id="step-service"' in step
    cargo = {"cargo_category": "perishable", "document_number": "DT-2026-0042"}
    page = page_of(client.get(url(**steps, **cargo, date=MONDAY), **EN))
    assert "Out-of-turn passage · Perishable goods · document DT-2026-0042" in text_of(page)
    step = text_of(current_step(page))
    assert "takes its place from the day's quota: 20 of 20 places are free" in step
    hold_place(client, **cargo, service="out_of_turn")
    response = confirm(client, world, **cargo, service="out_of_turn")
    assert response.status_code == 302
    booking = Booking.objects.get()
    assert (booking.service, booking.cargo_category, booking.document_number) == (
        "out_of_turn",
        "perishable",
        "DT-2026-0042",
    )
    assert booking.fee_amount == Decimal("432500.00")


# --- Refusals -------------------------------------------------------------------------------------


def test_c6_a_full_hour_is_refused_with_the_grid_refreshed(world, other, browser):
    world.top_up("100000.00")
    other.top_up("100000.00", reference="OTHER")
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=at(3, 9).date(), hour=9, capacity=1
    )
    client = browser(world.member)
    assert 'name="hour" value="9" class="hour hour-free"' in page_of(client.get(url(**STEPS)))
    services.slot_hold_create(
        member=other.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(3, 9),
    )
    page = page_of(hold_place(client, **{"vehicle": str(world.truck.pk)}))
    assert "This hour is fully booked. Choose another hour." in page
    step = current_step(page)
    assert 'id="step-hour"' in step
    assert 'name="hour" value="9" class="hour hour-full" disabled' in step
    assert ">full<" in step
    assert f'name="vehicle" value="{world.truck.pk}"' in step  # the choice is kept
    assert SlotHold.objects.filter(created_by=world.member.user).count() == 0


def test_c3_a_closed_hour_is_shown_closed_and_refused(world, browser):
    world.top_up("100000.00")
    Closure.objects.create(
        checkpoint=world.checkpoint,
        direction="",
        starts_at=at(3, 8),
        ends_at=at(3, 10),
        reason="works",
    )
    client = browser(world.member)
    step = current_step(page_of(client.get(url(**STEPS), **EN)))
    for hour in (8, 9):
        assert f'name="hour" value="{hour}" class="hour hour-closed" disabled' in step
    assert 'name="hour" value="10" class="hour hour-free"' in step
    page = page_of(hold_place(client, hour=9))
    assert "The checkpoint is closed at this time. Choose another hour." in page
    assert 'id="step-hour"' in current_step(page)


def test_c4_dates_and_hours_outside_the_booking_window_are_refused(world, browser, clock):
    world.top_up("100000.00")
    clock.shift(dt.timedelta(minutes=30))  # 10:30: bookable from 11:30 on
    client = browser(world.member)
    step = current_step(page_of(client.get(url(**{**STEPS, "date": "2026-04-25"}), **EN)))
    assert 'id="step-date"' in step
    assert "Slots can be booked from 20.03.2026 to 19.04.2026." in step
    step = current_step(page_of(client.get(url(**{**STEPS, "date": "20.03.2026"}), **EN)))
    assert "Write the date as YYYY-MM-DD." in step
    today = {**STEPS, "date": "2026-03-20"}
    step = current_step(page_of(client.get(url(**today), **EN)))
    assert 'name="hour" value="10" class="hour hour-past" disabled' in step
    assert 'name="hour" value="11" class="hour hour-soon" disabled' in step
    assert ">too soon<" in step and ">passed<" in step
    assert 'name="hour" value="12" class="hour hour-free"' in step
    page = page_of(hold_place(client, hour=11, date="2026-03-20"))
    assert "Slots can be booked from 1 hour to 30 days ahead." in page
    assert not SlotHold.objects.exists()


def test_c5_a_lapsed_hold_sends_the_person_back_to_the_hours(world, browser, clock):
    world.top_up("100000.00")
    client = browser(world.member)
    hold_place(client)
    clock.shift(dt.timedelta(minutes=16))
    page = page_of(confirm(client, world))
    assert "The 15 minutes to confirm have passed and the place was freed. Choose again." in page
    step = current_step(page)
    assert 'id="step-hour"' in step
    assert f'name="vehicle" value="{world.truck.pk}"' in step  # the vehicle is kept
    assert not Booking.objects.exists()
    # The same when the hold was already swept away, and on the page of the held hour.
    services.slot_holds_expire()
    page = page_of(client.get(url(**STEPS, hour=9, **fleet(world)), **EN))
    assert "The 15 minutes to confirm have passed" in page and 'id="step-hour"' in page
    assert "The 15 minutes to confirm have passed" in page_of(confirm(client, world))


def test_c5_b8_an_hour_is_not_held_without_the_money_a_booking_needs(world, browser):
    world.top_up("50000.00")
    client = browser(world.member)
    page = page_of(hold_place(client))
    step = current_step(page)
    assert 'id="step-hour"' in step and 'name="hour" value="9" class="hour hour-free"' in step
    assert "Not enough money on the personal account: 40\u202f825.00 ₸ more is needed." in page
    assert 'href="/cabinet/account/#topup-title"' in page and "How to top up" in page
    assert not SlotHold.objects.exists() and not SlotCounter.objects.filter(taken__gt=0).exists()
    world.top_up("40825.00", reference="MORE")
    assert hold_place(client).status_code == 302
    assert SlotHold.objects.count() == 1


def test_b8_a_short_balance_says_how_much_is_missing_and_keeps_the_hold(world, browser):
    world.top_up("90825.00")
    client = browser(world.member)
    hold_place(client)
    book(world, start=at(5, 12), vehicle=world.tractor)  # the money went since the hold
    world.top_up("50000.00", reference="SOME")
    step = text_of(current_step(page_of(client.get(url(**STEPS, hour=9, **fleet(world)), **EN))))
    assert "Not enough money on the personal account: 40\u202f825.00 ₸ more is needed." in step
    assert "How to top up" in step
    page = page_of(confirm(client, world))
    assert "Not enough money on the personal account: 40\u202f825.00 ₸ more is needed." in page
    assert 'href="/cabinet/account/#topup-title"' in page
    assert "Summary and confirmation" in current_step(page)
    assert Booking.objects.count() == 1 and SlotHold.objects.count() == 1
    world.top_up("40825.00", reference="MORE")
    assert confirm(client, world).status_code == 302
    assert Booking.objects.count() == 2


def test_w1_refusals_come_in_the_persons_language(world, browser):
    world.top_up("50000.00")
    client = browser(world.member)
    hold = {**STEPS, "action": "hold", "hour": "9"}
    page = page_of(client.post(NEW, hold, HTTP_ACCEPT_LANGUAGE="ru"))
    assert "На лицевом счёте недостаточно средств: не хватает 40\u202f825.00 ₸." in page
    assert "Как пополнить счёт" in page and not SlotHold.objects.exists()
    world.top_up("40825.00", reference="MORE")
    hold_place(client)
    book(world, start=at(5, 12), vehicle=world.tractor)  # the money went since the hold
    page = page_of(
        client.post(
            NEW,
            {**STEPS, "hour": "9", **fleet(world), "action": "confirm"},
            HTTP_ACCEPT_LANGUAGE="ru",
        )
    )
    assert "На лицевом счёте недостаточно средств: не хватает 90\u202f825.00 ₸." in page


def test_b6_a_vehicle_already_booked_in_the_country_is_named_and_refused(world, browser):
    world.top_up("1000000.00")
    first = services.booking_create(
        member=world.member,
        request=services.BookingRequest(
            checkpoint_code="KARASU",
            direction="entry",
            service="regular",
            slot_start=at(5, 12),
            vehicle_id=world.truck.pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )
    client = browser(world.member)
    hold_place(client)
    step = current_step(page_of(client.get(url(**STEPS, hour=9), **EN)))
    assert f"123 ABC 02 · Truck — has active booking {first.number} in this country" in step
    page = page_of(confirm(client, world))
    assert "This vehicle or trailer already has an active booking in this country." in page
    step = current_step(page)
    assert 'id="step-fleet"' in step and "Already booked in this country." in step
    assert "field-invalid" in step
    assert f'<option value="{world.truck.pk}" selected>' in step  # the choices are kept
    assert Booking.objects.count() == 1 and SlotHold.objects.count() == 1


def test_b1_the_vehicle_and_drivers_step_checks_its_fields(world, browser):
    world.top_up("100000.00")
    client = browser(world.member)
    hold_place(client)
    step = current_step(page_of(client.get(url(**STEPS, hour=9, vehicle=world.truck.pk), **EN)))
    assert 'id="step-fleet"' in step and "This field is required." in step
    four = [driver.pk for driver in world.drivers]
    step = current_step(
        page_of(client.get(url(**STEPS, hour=9, vehicle=world.truck.pk, drivers=four), **EN))
    )
    assert "A booking names at most 3 drivers." in step
    step = current_step(
        page_of(client.get(url(**STEPS, hour=9, vehicle=world.trailer.pk, drivers=four[:1]), **EN))
    )
    assert "Select a valid choice." in step


def test_b1_without_vehicles_or_drivers_the_step_links_to_adding_them(world, browser):
    from vehicles import services as fleet_services

    world.top_up("100000.00")
    for vehicle in (world.truck, world.tractor):
        fleet_services.vehicle_deactivate(member=world.member, vehicle=vehicle)
    for driver in world.drivers:
        fleet_services.driver_deactivate(member=world.member, driver=driver)
    client = browser(world.member)
    hold_place(client)
    step = text_of(current_step(page_of(client.get(url(**STEPS, hour=9), **EN))))
    assert "The carrier has no trucks or tractor units yet. Add a vehicle" in step
    assert "The carrier has no drivers yet. Add a driver" in step
    step = current_step(page_of(client.get(url(**STEPS, hour=9), **EN)))
    assert 'href="/cabinet/vehicles/"' in step and 'href="/cabinet/drivers/"' in step


def test_a5_another_carriers_vehicles_and_holds_are_not_offered(world, other, browser):
    world.top_up("100000.00")
    other.top_up("100000.00", reference="OTHER")
    client = browser(world.member)
    services.slot_hold_create(
        member=other.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(3, 9),
    )
    page = page_of(client.get(url(**STEPS, hour=9), **EN))
    assert 'id="step-hour"' in current_step(page)  # the other carrier's hold is not ours
    hold_place(client)
    step = current_step(page_of(client.get(url(**STEPS, hour=9), **EN)))
    assert "777 AAA 01" not in step and "123 ABC 02" in step
    page = page_of(confirm(client, world, vehicle=other.truck.pk))
    assert "Select a valid choice." in page
    assert not Booking.objects.exists()


# --- My bookings and a booking's page -------------------------------------------------------------


def book(world, *, start, vehicle=None, drivers=1, trailer=None, service="regular") -> Booking:
    return services.booking_create(
        member=world.member,
        request=services.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service=service,
            slot_start=start,
            vehicle_id=(vehicle or world.truck).pk,
            trailer_id=trailer.pk if trailer else None,
            driver_ids=[d.pk for d in world.drivers[:drivers]],
        ),
    )


def test_my_bookings_lists_active_ones_first_and_all_on_request(world, browser):
    world.top_up("1000000.00")
    later = book(world, start=at(5, 9))
    cancelled = book(world, start=at(2, 9), vehicle=world.tractor)
    services.booking_cancel(member=world.member, booking=cancelled)
    sooner = book(world, start=at(4, 9), vehicle=world.tractor)
    client = browser(world.member)
    page = page_of(client.get("/cabinet/bookings/", **EN))
    assert_house_style(page)
    assert page.index(sooner.number) < page.index(later.number)
    assert cancelled.number not in page
    assert f'href="{NEW}"' in page and 'href="/cabinet/bookings/?show=all"' in page
    page = page_of(client.get("/cabinet/bookings/?show=all", **EN))
    assert page.index(later.number) < page.index(cancelled.number)
    assert "Cancelled" in page and "Confirmed" in page


def test_b11_the_booking_page_shows_the_facts_the_qr_code_and_the_pdf(world, browser):
    world.top_up("1000000.00")
    booking = book(world, start=at(3, 9), trailer=world.trailer, drivers=2)
    client = browser(world.member)
    page = page_of(client.get(f"/cabinet/bookings/{booking.pk}/", **EN))
    assert_house_style(page)
    text = text_of(page)
    assert f"Booking {booking.number}" in text
    assert re.search(r'<img src="data:image/svg\+xml[^"]+" alt="QR code of booking K-', page)
    for fact in (
        "Confirmed",
        "Kordai ↔ Ak-Zhol, Kyrgyzstan",
        "Exit from Kazakhstan",
        "Regular queue",
        "23.03.2026 09:00–10:00",
        "123 ABC 02",
        "VIN XTA21099012345678",
        "VIN WDB96340310123456",
        "Yerlan Driver, Asel Driver",
        "Fee: Regular queue 1 MRP × 4\u202f325.00 ₸ 4\u202f325.00 ₸",
        "Fees paid 4\u202f325.00 ₸",
        "Guarantee deposit held on the personal account 86\u202f500.00 ₸",
    ):
        assert fact in text, fact
    for action in ("drivers", "reschedule", "cancel"):
        assert f'href="/cabinet/bookings/{booking.pk}/{action}/"' in page
    pdf_url = f"/cabinet/bookings/{booking.pk}/confirmation.pdf"
    assert f'href="{pdf_url}"' in page
    response = client.get(pdf_url, **EN)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    from pypdf import PdfReader

    pdf = b"".join(response.streaming_content)
    assert booking.number in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


def test_a5_another_carriers_booking_is_not_found(world, other, browser):
    other.top_up("1000000.00", reference="OTHER")
    theirs = book(other, start=at(3, 9))
    client = browser(world.member)
    base = f"/cabinet/bookings/{theirs.pk}/"
    for path in ("", "confirmation.pdf", "drivers/", "reschedule/", "cancel/"):
        assert client.get(base + path).status_code == 404, path
    assert client.post(base + "cancel/").status_code == 404
    assert theirs.number not in page_of(client.get("/cabinet/bookings/?show=all", **EN))
    theirs.refresh_from_db()
    assert theirs.status == "confirmed"


def test_a5_an_accountant_reads_a_booking_but_cannot_change_it(world, accountant, browser):
    world.top_up("1000000.00")
    booking = book(world, start=at(3, 9))
    client = browser(accountant)
    page = page_of(client.get(f"/cabinet/bookings/{booking.pk}/", **EN))
    assert booking.number in page and "Download PDF" in page
    assert f'href="/cabinet/bookings/{booking.pk}/cancel/"' not in page
    assert "The carrier's owner or a dispatcher can add drivers, reschedule or cancel." in page
    response = client.post(f"/cabinet/bookings/{booking.pk}/cancel/", **EN)
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    text = text_of(page_of(client.get(response["Location"], **EN)))
    assert "Only the carrier's owner or a dispatcher can change bookings." in text


# --- Add drivers, reschedule, cancel --------------------------------------------------------------


def test_b4_drivers_are_added_from_the_fleet_up_to_three(world, browser):
    world.top_up("1000000.00")
    booking = book(world, start=at(3, 9))
    client = browser(world.member)
    path = f"/cabinet/bookings/{booking.pk}/drivers/"
    page = page_of(client.get(path, **EN))
    assert_house_style(page)
    assert "up to 2 more can be added" in page
    assert f'value="{world.drivers[0].pk}"' not in page  # already on the booking
    page = page_of(client.post(path, {"drivers": [d.pk for d in world.drivers[1:]]}, **EN))
    assert "A booking names at most 3 drivers: choose up to 2." in page
    response = client.post(path, {"drivers": [world.drivers[1].pk, world.drivers[2].pk]}, **EN)
    assert response.status_code == 302
    assert booking.driver_links.count() == 3
    page = page_of(client.get(response["Location"], **EN))
    assert "Added to booking" in page and "Asel Driver, Bolat Driver" in page
    assert f'href="{path}"' not in page  # three drivers: nothing more to add


def test_b5_reschedule_shows_the_fee_before_it_moves_the_booking(world, browser):
    world.top_up("1000000.00")
    booking = book(world, start=at(3, 9))
    client = browser(world.member)
    path = f"/cabinet/bookings/{booking.pk}/reschedule/"
    page = page_of(client.get(path, **EN))
    assert_house_style(page)
    assert 'name="date" value="2026-03-23"' in page
    page = page_of(client.get(f"{path}?date=2026-03-24", **EN))
    assert 'name="hour" value="14" class="hour hour-free"' in page
    page = page_of(client.get(f"{path}?date=2026-03-23", **EN))
    assert 'name="hour" value="9" class="hour hour-booked" disabled' in page
    page = page_of(client.get(f"{path}?date=2026-03-24&hour=14", **EN))
    text = text_of(page)
    assert "From Mon 23.03.2026 09:00 to Tue 24.03.2026 14:00–15:00." in text
    assert "The re-booking fee is 100 MRP × 4\u202f325.00 ₸ = 432\u202f500.00 ₸." in text
    assert "The deposit stays held for the booking." in text
    booking.refresh_from_db()
    assert booking.slot_start == at(3, 9)  # nothing happens before the confirmation
    response = client.post(path, {"date": "2026-03-24", "hour": "14"}, **EN)
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.slot_start == at(4, 14)
    text = text_of(page_of(client.get(response["Location"], **EN)))
    assert f"Booking {booking.number} is moved to 24.03.2026 14:00–15:00." in text
    assert "Re-booking fee: 23.03 09:00 → 24.03 14:00" in text
    assert "Fees paid 436\u202f825.00 ₸" in text


def test_b5_reschedule_refusals_are_shown_on_the_page(world, browser):
    world.top_up("90825.00")
    booking = book(world, start=at(3, 9))
    client = browser(world.member)
    path = f"/cabinet/bookings/{booking.pk}/reschedule/"
    page = page_of(client.get(f"{path}?date=2026-03-24&hour=14", **EN))
    assert "432\u202f500.00 ₸ more is needed." in page
    page = page_of(client.post(path, {"date": "2026-03-24", "hour": "14"}, **EN))
    assert "Not enough money on the personal account: 432\u202f500.00 ₸ more is needed." in page
    booking.refresh_from_db()
    assert booking.slot_start == at(3, 9)


def test_b9_d3_cancel_says_the_deposit_is_released_then_cancels(world, browser):
    world.top_up("1000000.00")
    booking = book(world, start=at(3, 9))
    client = browser(world.member)
    path = f"/cabinet/bookings/{booking.pk}/cancel/"
    page = page_of(client.get(path, **EN))
    assert_house_style(page)
    text = text_of(page)
    assert (
        "The deposit of 86\u202f500.00 ₸ will be released to your available balance: this "
        "vehicle had no other no-show or cancellation in the last 90 days." in text
    )
    assert "The fees paid (4\u202f325.00 ₸) are not refunded." in text
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    response = client.post(path, **EN)
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    page = page_of(client.get(response["Location"], **EN))
    assert (
        f"Booking {booking.number} is cancelled. The deposit of 86\u202f500.00 ₸ is released "
        "to your available balance." in page
    )
    assert "released to the available balance" in page
    assert f'href="{path}"' not in page


def test_d3_cancel_says_the_deposit_is_forfeited_after_another_cancellation(world, browser, clock):
    world.top_up("1000000.00")
    services.booking_cancel(member=world.member, booking=book(world, start=at(2, 9)))
    clock.shift(dt.timedelta(hours=1))
    booking = book(world, start=at(3, 9))
    client = browser(world.member)
    path = f"/cabinet/bookings/{booking.pk}/cancel/"
    text = text_of(page_of(client.get(path, **EN)))
    assert (
        "The deposit of 86\u202f500.00 ₸ will be forfeited to the state budget because this "
        "vehicle had another no-show or cancellation in the last 90 days." in text
    )
    assert "are not refunded" in text
    page = page_of(client.get(client.post(path, **EN)["Location"], **EN))
    assert "The deposit of 86\u202f500.00 ₸ is forfeited to the state budget." in page
    assert "forfeited to the state budget" in page


def test_b9_no_change_once_the_slot_started(world, browser, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(0, 12))
    clock.shift(dt.timedelta(hours=2, minutes=30))
    client = browser(world.member)
    page = page_of(client.get(f"/cabinet/bookings/{booking.pk}/", **EN))
    assert f'href="/cabinet/bookings/{booking.pk}/cancel/"' not in page
    assert f'href="/cabinet/bookings/{booking.pk}/reschedule/"' not in page
    page = page_of(client.get(f"/cabinet/bookings/{booking.pk}/cancel/", **EN))
    assert "A booking can be cancelled only while confirmed and before its slot starts." in page
    response = client.post(f"/cabinet/bookings/{booking.pk}/cancel/", **EN)
    assert "A booking can be cancelled only while confirmed" in page_of(
        client.get(response["Location"], **EN)
    )
    page = page_of(client.get(f"/cabinet/bookings/{booking.pk}/reschedule/", **EN))
    assert "A booking can be rescheduled only while confirmed and before its slot starts." in page
