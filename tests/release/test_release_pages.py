"""Fair release in the browser without JavaScript (F1, F2, F7): the booking wizard on a day the
draw gives out, the request form, and the carrier's requests with withdrawing and leaving the
waitlist."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from release import services
from release.models import ReleaseRequest
from tests.release.helpers import DAY, ask, place
from tests.release.test_release_rules import drawn
from tests.worlds import make_other_world, trucks

pytestmark = pytest.mark.django_db

WIZARD = {"country": "KG", "checkpoint": "KORDAI", "direction": "exit", "service": "regular"}


@pytest.fixture
def signed_in(world, sign_in_browser):
    """The carrier's signed-in client (in English), made when called: a session idle for more
    than 30 minutes of the test's clock has ended."""
    return lambda: sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), world.member.user)


def form_of(world, truck, **fields) -> dict:
    return {
        "checkpoint": "KORDAI",
        "direction": "exit",
        "service": "regular",
        "date": DAY.isoformat(),
        "vehicle": truck.pk,
        "drivers": [world.drivers[0].pk],
        **fields,
    }


def test_f1_the_wizard_leads_to_the_request_form_on_a_day_the_draw_gives_out(
    world, draw_window, signed_in, clock
):
    window = draw_window()
    browser = signed_in()
    page = browser.get(reverse("booking-new"), {**WIZARD, "date": DAY.isoformat()})
    text = page.content.decode()
    assert "given out by a draw" in text
    assert reverse("release-request-new") in text and 'name="action" value="hold"' not in text
    assert reverse("release-draw", args=[window.pk]) in text
    # Before the window opens the wizard says when requests are taken, without the form's link.
    clock.move_to(window.opens_at - dt.timedelta(minutes=30))
    page = browser.get(reverse("booking-new"), {**WIZARD, "date": DAY.isoformat()})
    assert "given out by a draw" in page.content.decode()
    assert reverse("release-request-new") not in page.content.decode()


def test_f7_after_the_draw_the_wizard_shows_the_hours_left_as_usual(
    world, draw_window, signed_in, clock
):
    window = draw_window()
    drawn(clock, window)
    browser = signed_in()
    page = browser.get(reverse("booking-new"), {**WIZARD, "date": DAY.isoformat()})
    text = page.content.decode()
    assert "given out by a draw" not in text and 'name="action" value="hold"' in text


def test_f2_the_request_form_places_a_request_with_hours_in_order(world, draw_window, signed_in):
    draw_window()
    browser = signed_in()
    world.top_up("1000000.00")
    url = reverse("release-request-new")
    shown = browser.get(url, form_of(world, world.truck))
    assert shown.status_code == 200 and "How the draw works" in shown.content.decode()
    answer = browser.post(url, form_of(world, world.truck, hour_1="10", hour_2="9"))
    assert answer.status_code == 302 and answer.url == reverse("release-requests")
    made = ReleaseRequest.objects.get()
    assert made.hours == [10, 9] and made.vehicle == world.truck and made.status == "live"
    listed = browser.get(answer.url).content.decode()
    assert f"R-{made.pk}" in listed and "is placed" in listed


def test_f2_the_request_form_takes_a_range_and_refuses_unclear_hours(world, draw_window, signed_in):
    draw_window()
    browser = signed_in()
    world.top_up("1000000.00")
    url = reverse("release-request-new")
    first, second = trucks(world, 2)
    nothing = browser.post(url, form_of(world, first))
    assert nothing.status_code == 200 and "at least one hour" in nothing.content.decode()
    both = browser.post(url, form_of(world, first, hour_1="9", range_from="9", range_to="10"))
    assert "not both" in both.content.decode()
    twice = browser.post(url, form_of(world, first, hour_1="9", hour_2="9"))
    assert "different hours" in twice.content.decode()
    assert not ReleaseRequest.objects.exists()
    ranged = browser.post(url, form_of(world, second, range_from="9", range_to="10"))
    assert ranged.status_code == 302
    assert ReleaseRequest.objects.get().hours == [9, 10]


def test_f2_a_refused_request_shows_why_and_keeps_the_choices(world, draw_window, signed_in):
    draw_window()  # the carrier has no money: B8 refuses, nothing is lost
    browser = signed_in()
    answer = browser.post(reverse("release-request-new"), form_of(world, world.truck, hour_1="9"))
    text = answer.content.decode()
    assert answer.status_code == 200 and 'role="alert"' in text
    assert f'<option value="{world.truck.pk}" selected' in text
    assert not ReleaseRequest.objects.exists()


def test_f2_f7_the_carrier_withdraws_a_request_and_leaves_the_waitlist(
    world, draw_window, signed_in, clock
):
    window = draw_window()
    browser = signed_in()
    world.top_up("1000000.00")
    first, second, third = (place(world, vehicle=truck, hours=(9,)) for truck in trucks(world, 3))
    withdraw = reverse("release-request-withdraw", args=[first.pk])
    assert browser.post(withdraw).status_code == 302
    first.refresh_from_db()
    assert first.status == "withdrawn"
    drawn(clock, window)
    browser = signed_in()
    waiting = ReleaseRequest.objects.get(pk__in=[second.pk, third.pk], status="unsuccessful")
    page = browser.get(reverse("release-requests")).content.decode()
    assert "On the waitlist" in page and "Leave the waitlist" in page
    left = browser.post(reverse("release-request-withdraw", args=[waiting.pk]), follow=True)
    assert "off the waitlist" in left.content.decode()
    waiting.refresh_from_db()
    assert waiting.waitlist_left_at is not None
    # Twice is refused with a message, not an error page.
    again = browser.post(reverse("release-request-withdraw", args=[waiting.pk]), follow=True)
    assert "no longer on the waitlist" in again.content.decode()


def test_f2_another_carriers_request_is_not_found(world, draw_window, signed_in, fake_twilio):
    draw_window()
    browser = signed_in()
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    theirs = services.request_create(member=other.member, data=ask(other))
    answer = browser.post(reverse("release-request-withdraw", args=[theirs.pk]))
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "live"
