"""Two carriers want the same hour of a day whose places the draw gives out (F1–F7): both place a
request from the booking wizard inside the request window; the draw gives the one place to one of
them and puts the other on the waitlist; both see their rank; when the winner cancels, the
waiting carrier gets the place automatically; the public draw page checks out.

The live server runs in real time: the window is made to have opened ten minutes ago, and the
draw is run by the test as the every-minute job would at the window's close."""

import datetime as dt
import re

import pytest

from bookings.models import Booking
from checkpoints.models import Checkpoint, HourOverride
from checkpoints.services import reference_checkpoints_load
from core import clock
from release import services
from release.models import ReleaseMode, ReleaseRequest, ReleaseWindow
from tests.fees.factories import fees_in_force_today
from tests.worlds import make_other_world, make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def window_open_now(checkpoint: Checkpoint) -> ReleaseWindow:
    """KORDAI switched to the draw with a release moment ten minutes ago, five days before the
    day drawn; of that day's exit hours 09:00 has one place and 10:00 none."""
    opened = clock.now().astimezone(clock.ALMATY) - dt.timedelta(minutes=10)
    day = opened.date() + dt.timedelta(days=5)
    for hour, places in ((9, 1), (10, 0)):
        HourOverride.objects.create(
            checkpoint=checkpoint, direction="exit", date=day, hour=hour, capacity=places
        )
    services.policy_update(
        checkpoint=checkpoint,
        actor=None,
        mode=ReleaseMode.DRAW,
        days_before=5,
        release_time=opened.time().replace(second=0, microsecond=0),
    )
    services.windows_schedule(as_of=clock.now() - dt.timedelta(hours=1))
    window = ReleaseWindow.objects.get(checkpoint=checkpoint, direction="exit", day=day)
    assert window.is_open(clock.now())
    return window


def place_request(page, window: ReleaseWindow, world) -> None:
    """From the wizard's hour step of the drawn day to the request placed: 09:00 first, then
    10:00, the carrier's truck and first driver."""
    page.goto(
        "/cabinet/bookings/new/?country=KG&checkpoint=KORDAI&direction=exit&service=regular"
        f"&date={window.day.isoformat()}"
    )
    page.get_by_text("given out by a draw").wait_for()
    page.snap("wizard-on-a-drawn-day")
    page.get_by_role("link", name="Request a place in the draw").click()
    page.get_by_role("heading", name="How the draw works").wait_for()
    page.get_by_label("First choice").select_option("9")
    page.get_by_label("Second choice").select_option("10")
    page.get_by_label("Truck or tractor unit").select_option(str(world.truck.pk))
    page.get_by_label(re.compile(world.drivers[0].full_name)).check()
    page.snap("request-form")
    page.get_by_role("button", name="Place the request").click()
    page.get_by_text(re.compile(r"Request R-\d+ is placed")).wait_for()
    page.snap("request-placed")


def row_of(page, request: ReleaseRequest):
    return page.get_by_role("row", name=re.compile(f"^R-{request.pk} "))


def test_f1_f7_two_carriers_request_the_draw_decides_and_the_waitlist_takes_the_freed_place(
    signed_in_page, page, fake_twilio, eager
):
    reference_checkpoints_load()
    fees_in_force_today()
    first, second = make_world(fake_twilio), make_other_world(fake_twilio)
    first.top_up("1000000.00")
    second.top_up("1000000.00", reference="TOPUP-OTHER")
    window = window_open_now(Checkpoint.objects.get(code="KORDAI"))

    pages = {
        first.carrier.pk: signed_in_page(first.member.user, "first"),
        second.carrier.pk: signed_in_page(second.member.user, "second"),
    }
    place_request(pages[first.carrier.pk], window, first)
    place_request(pages[second.carrier.pk], window, second)
    requests = list(ReleaseRequest.objects.filter(window=window).order_by("pk"))
    assert [r.hours for r in requests] == [[9, 10], [9, 10]]

    # The window closes; the draw runs once, as the job does.
    result = services.window_draw(window_id=window.pk, as_of=window.closes_at)
    assert (result.won, result.unsuccessful) == (1, 1)
    winner = ReleaseRequest.objects.get(window=window, status="won")
    waiting = ReleaseRequest.objects.get(window=window, status="unsuccessful")
    assert winner.hour_won == 9

    for request, status in ((winner, "Won: booked"), (waiting, "On the waitlist")):
        mine = pages[request.carrier_id]
        mine.goto("/cabinet/requests/")
        row = row_of(mine, request)
        row.wait_for()
        assert status in row.inner_text()
        assert request.rank[:16] in row.inner_text()  # the rank, as the draw page shows it
        mine.snap("requests-after-the-draw")

    # The winner cancels its booking: the place goes to the waiting request, not to the public.
    booking = Booking.objects.get(pk=winner.booking_id)
    theirs = pages[winner.carrier_id]
    theirs.goto(f"/cabinet/bookings/{booking.pk}/")
    theirs.get_by_role("link", name="Cancel the booking").click()
    theirs.get_by_role("button", name="Cancel the booking").click()
    theirs.get_by_text(f"Booking {booking.number} is cancelled.").wait_for()

    waiting.refresh_from_db()
    assert waiting.status == ReleaseRequest.Status.WAITLIST_WON
    won_later = Booking.objects.get(pk=waiting.booking_id)
    assert won_later.status == "confirmed" and won_later.slot_start == booking.slot_start
    mine = pages[waiting.carrier_id]
    mine.goto("/cabinet/requests/")
    row = row_of(mine, waiting)
    assert "Booked from the waitlist" in row.inner_text() and won_later.number in row.inner_text()
    mine.snap("booked-from-the-waitlist")

    # Anyone can check the draw: the page recomputes it from what it shows.
    page.goto(f"/draws/{window.pk}/")
    page.get_by_text("the draw matches").wait_for()
    assert page.get_by_text("booked later from the waitlist").is_visible()
    page.snap("public-draw")
