"""The waitlist (F7): a place freed on a day that had a draw goes to that day's unsuccessful
requests in rank order before anyone else can book it; only a place no waiting request wants is
released to everyone. Also F1 for a place freed before the draw: it is drawn, not raced for."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from auth2fa.roles import OPERATORS
from bookings import services as bookings
from bookings.models import Booking
from checkpoints.models import Closure, SlotCounter
from checkpoints.services import capacity_refresh
from core.clock import ALMATY
from core.models import AuditEvent
from deposits.selectors import available_balance
from release import draw, selectors, services
from release.models import ReleaseRequest, Reservation
from tests.bookings.test_staff_page import person
from tests.release.helpers import DAY, place
from tests.release.test_release_rules import drawn, first_in_the_draw, spend_all_but
from tests.worlds import book, make_other_world, refused, trucks

pytestmark = pytest.mark.django_db


def day_start(hour: int) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour), tzinfo=ALMATY)


def counter(hour: int) -> SlotCounter:
    return SlotCounter.objects.get(date=DAY, direction="exit", hour=hour, kind="regular")


def kept():
    """Places kept for the drawn day's waitlist (other days keep theirs for their draws)."""
    return Reservation.objects.filter(counter__date=DAY, window__status="drawn")


def by_rank(requests) -> list[ReleaseRequest]:
    fresh = [ReleaseRequest.objects.get(pk=r.pk) for r in requests]
    return sorted(fresh, key=lambda r: (r.rank, r.pk))


@pytest.fixture
def drawn_for_nine(world, draw_window, clock):
    """Three trucks of the world's carrier ask for 09:00 only (one place): one wins, two wait.
    Returns (window, requests best rank first)."""
    window = draw_window()
    world.top_up("1000000.00")
    requests = [place(world, vehicle=truck, hours=(9,)) for truck in trucks(world, 3)]
    drawn(clock, window)
    ranked = by_rank(requests)
    assert [r.status for r in ranked] == ["won", "unsuccessful", "unsuccessful"]
    return window, ranked


def test_f7_a_cancelled_place_goes_to_the_best_ranked_waiting_request(
    world, drawn_for_nine, eager, commit
):
    window, (winner, second, third) = drawn_for_nine
    before = available_balance(world.carrier)
    with commit():
        bookings.booking_cancel(member=world.member, booking=winner.booking)
    second.refresh_from_db()
    third.refresh_from_db()
    assert second.status == ReleaseRequest.Status.WAITLIST_WON
    booking = second.booking
    assert booking.status == Booking.Status.CONFIRMED and booking.deposit_hold is not None
    assert booking.slot_start == day_start(9) and booking.vehicle_id == second.vehicle_id
    # The cancelled booking's fee stays with the state (B4), its deposit came back; the new
    # booking charged its own fee and held its own deposit.
    assert available_balance(world.carrier) == before - booking.fee_amount
    assert third.status == ReleaseRequest.Status.UNSUCCESSFUL and selectors.is_waiting(third)
    assert counter(9).taken == 1 and not kept().exists()
    assert AuditEvent.objects.filter(action="release.waitlist_booked").count() == 1
    # The draw as published still checks out, and says which request was booked later.
    document = selectors.draw_document(window)
    assert draw.verify_document(document).ok
    later = {r["id"]: r["booked_from_waitlist"] for r in document["requests"]}
    assert later == {winner.pk: False, second.pk: True, third.pk: False}


def test_f7_a_freed_place_is_never_free_for_first_come_before_the_waitlist_had_it(
    world, drawn_for_nine, fake_twilio, commit
):
    """The cancel-sniping race: a client booking first-come right after the cancellation, before
    the waitlist was offered the place, finds the hour full."""
    _window, (winner, second, _third) = drawn_for_nine
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    with commit():  # the task the commit queues is not run here (no eager Celery)
        bookings.booking_cancel(member=world.member, booking=winner.booking)
    assert counter(9).free == 0
    assert kept().get().places == 1
    refused(lambda: book(other, start=day_start(9)), "slot_full")
    # The periodic job offers what the lost task did not.
    out = io.StringIO()
    call_command("serve_waitlists", stdout=out)
    assert out.getvalue().startswith("1 requests booked")
    second.refresh_from_db()
    assert second.status == ReleaseRequest.Status.WAITLIST_WON


def test_f7_control_without_the_waitlist_the_freed_place_goes_to_the_fastest(
    world, drawn_for_nine, fake_twilio
):
    """Negative control of the test above: with the waitlist's claim unregistered, the same
    cancellation leaves the place free and the first-come client takes it."""
    from checkpoints.services import register_places_freed, unregister_places_freed
    from release.tasks import places_freed

    _window, (winner, _second, _third) = drawn_for_nine
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    unregister_places_freed("release windows")
    try:
        bookings.booking_cancel(member=world.member, booking=winner.booking)
        assert book(other, start=day_start(9)).status == Booking.Status.CONFIRMED
    finally:
        register_places_freed("release windows", places_freed)


def test_f7_a_place_no_waiting_request_wants_is_released_to_everyone(
    world, draw_window, clock, fake_twilio, eager, commit
):
    window = draw_window()
    world.top_up("1000000.00")
    nine, ten, late = (
        place(world, vehicle=truck, hours=hours)
        for truck, hours in zip(trucks(world, 3), [(9,), (10,), (9,)], strict=True)
    )
    first_in_the_draw(window, nine)
    drawn(clock, window)
    ten.refresh_from_db()
    assert ten.status == "won" and ReleaseRequest.objects.get(pk=late.pk).status == "unsuccessful"
    with commit():
        bookings.booking_cancel(member=world.member, booking=ten.booking)
    # Nobody waits for 10:00: the place is free at once, for anyone.
    assert counter(10).free == 1 and not kept().exists()
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    assert book(other, start=day_start(10)).status == Booking.Status.CONFIRMED
    assert ReleaseRequest.objects.get(pk=late.pk).status == "unsuccessful"


def test_f7_a_waiting_request_that_cannot_pay_is_passed_over_and_keeps_waiting(
    world, draw_window, clock, fake_twilio, eager, commit
):
    window = draw_window()
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    world.top_up("1000000.00")
    winner, mine = (place(world, vehicle=truck, hours=(9,)) for truck in trucks(world, 2))
    theirs = services.request_create(
        member=other.member, data=services.RequestInput(**{**_ask(other), "hours": [9]})
    )
    first_in_the_draw(window, winner)
    drawn(clock, window)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == theirs.status == "unsuccessful"
    if mine.rank > theirs.rank:  # make the world's request the better-ranked waiting one
        ReleaseRequest.objects.filter(pk=mine.pk).update(rank="0" * 64)
    winner.refresh_from_db()
    spend_all_but(world, Decimal("100.00"))
    with commit():
        bookings.booking_cancel(member=world.member, booking=winner.booking)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert theirs.status == ReleaseRequest.Status.WAITLIST_WON
    assert theirs.booking.slot_start == day_start(9)
    assert mine.status == "unsuccessful" and selectors.is_waiting(mine)


def _ask(world) -> dict:
    from tests.release.helpers import ask

    return ask(world).__dict__


def test_f7_a_carrier_takes_its_request_off_the_waitlist(world, drawn_for_nine, eager, commit):
    _window, (winner, second, third) = drawn_for_nine
    services.request_withdraw(member=world.member, request=second)
    second.refresh_from_db()
    assert second.waitlist_left_at is not None and not selectors.is_waiting(second)
    assert AuditEvent.objects.filter(action="release.waitlist_left").count() == 1
    refused(
        lambda: services.request_withdraw(member=world.member, request=second), "not_changeable"
    )
    with commit():
        bookings.booking_cancel(member=world.member, booking=winner.booking)
    second.refresh_from_db()
    third.refresh_from_db()
    assert second.status == "unsuccessful" and second.booking is None
    assert third.status == ReleaseRequest.Status.WAITLIST_WON


def test_f7_a_place_freed_by_a_lifted_closure_goes_to_the_waitlist(
    world, drawn_for_nine, eager, commit, django_user_model
):
    """An operator closes 09:00 after the draw (the winner's booking is cancelled, the hour has
    no place), then lifts the closure: the hour's place goes to the best-ranked waiting request."""
    _window, (winner, second, _third) = drawn_for_nine
    operator = person(django_user_model, "operator@registrar.kz", OPERATORS)
    made = bookings.closure_create(
        checkpoint=world.checkpoint,
        direction="exit",
        starts_at=day_start(9),
        ends_at=day_start(10),
        reason="Road works",
        actor=operator,
    )
    assert [b.pk for b in made.cancelled] == [winner.booking_id]
    assert counter(9).capacity == 0 and not kept().exists()
    with commit():
        Closure.objects.filter(pk=made.closure.pk).delete()
        capacity_refresh(checkpoint=world.checkpoint, direction="exit", dates=[DAY])
    second.refresh_from_db()
    assert second.status == ReleaseRequest.Status.WAITLIST_WON
    assert second.booking.slot_start == day_start(9)


def test_f1_a_place_freed_before_the_draw_is_drawn_not_raced_for(
    world, draw_window, clock, fake_twilio
):
    """A booking made before the window was published is cancelled while the window is open:
    its place is kept for the draw, which gives it to a request."""
    world.top_up("1000000.00")
    early = book(world, start=day_start(9))
    window = draw_window()
    assert counter(9).free == 0
    before = Reservation.objects.get(counter=counter(9)).places
    bookings.booking_cancel(member=world.member, booking=early)
    assert counter(9).free == 0 and Reservation.objects.get(counter=counter(9)).places == before + 1
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    refused(lambda: book(other, start=day_start(9)), "slot_full")
    made = place(world, vehicle=trucks(world, 2)[1], hours=(9,))
    drawn(clock, window)
    made.refresh_from_db()
    assert made.status == "won" and made.hour_won == 9
