"""Fair release (F1–F6, F8) through the services: windows, requests, the draw and its check."""

import datetime as dt
import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from bookings.models import Booking
from checkpoints.capacity import plan_of_day
from checkpoints.models import SlotCounter
from core import audit
from core.clock import ALMATY
from core.models import AuditEvent
from deposits.selectors import available_balance
from notify.models import Message
from release import draw, selectors, services
from release.models import ReleaseMode, ReleaseRequest, ReleaseWindow
from tests.release.helpers import CLOSES, DAY, ask, place
from tests.worlds import book, make_other_world, refused, trucks

pytestmark = pytest.mark.django_db


def day_start(hour: int) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour), tzinfo=ALMATY)


def spend_all_but(world, left: Decimal) -> None:
    """The carrier's available balance brought down to `left` by a refund request (P3)."""
    from deposits import services as ledger

    ledger.refund_request(
        carrier=world.carrier,
        amount=available_balance(world.carrier) - left,
        iban="KZ86125KZT5004100100",
        requested_by=world.member.user,
    )
    assert available_balance(world.carrier) == left


def first_in_the_draw(window, request) -> None:
    """A secret (and its commitment) under which `request` gets the best rank: the tests choose
    it before the window closes, as the portal's random one might have been."""
    requests = list(ReleaseRequest.objects.filter(window=window, status="live").order_by("pk"))
    leaves = [
        draw.request_leaf(r.pk, draw.carrier_hash(r.pk, r.salt), r.service, r.hours)
        for r in requests
    ]
    root = draw.root_of(leaves)
    for attempt in range(1000):
        secret = hashlib.sha256(str(attempt).encode()).hexdigest()
        seed = draw.seed_of(secret, root)
        if min(requests, key=lambda r: draw.rank_of(seed, r.pk)).pk == request.pk:
            ReleaseWindow.objects.filter(pk=window.pk).update(
                secret=secret, commitment=draw.commitment_of(secret)
            )
            window.refresh_from_db()
            return
    raise AssertionError("no secret found")


def drawn(clock, window) -> services.DrawResult:
    clock.move_to(CLOSES)
    result = services.window_draw(window_id=window.pk)
    window.refresh_from_db()
    return result


def test_f8_first_come_is_the_default_and_makes_no_window(world, clock):
    assert selectors.policy_of(world.checkpoint).mode == ReleaseMode.FIRST_COME
    assert services.windows_schedule() == []
    world.top_up("1000000.00")
    assert book(world, start=day_start(9) - dt.timedelta(days=28)).status == "confirmed"


def test_f8_policy_change_is_audited_and_checked(world):
    services.policy_update(checkpoint=world.checkpoint, actor=None, mode=ReleaseMode.DRAW)
    event = AuditEvent.objects.get(action="release.policy_changed")
    assert event.before["mode"] == "first_come" and event.after["mode"] == "draw"
    # A window closing more than 30 days before the day's last hour could not book it (C4).
    refused(
        lambda: services.policy_update(checkpoint=world.checkpoint, actor=None, days_before=30),
        "validation_error",
    )


def test_f1_window_publishes_its_commitment_and_keeps_the_days_places_until_the_draw(
    world, draw_window, clock
):
    window = draw_window()
    assert window.commitment == hashlib.sha256(bytes.fromhex(window.secret)).hexdigest()
    assert "secret" not in selectors.draw_document(window)
    world.top_up("1000000.00")
    # F1: nothing of the day is booked first-come while its window waits for the draw.
    refused(lambda: book(world, start=day_start(9)), "slot_full")
    drawn(clock, window)
    # After the draw the places nobody won are booked first-come as before (F7).
    assert book(world, start=day_start(10)).status == "confirmed"
    counters = SlotCounter.objects.filter(checkpoint=world.checkpoint, date=DAY, direction="exit")
    assert all(c.taken <= c.capacity for c in counters)


def test_f8_switching_to_first_come_cancels_windows_not_open_and_frees_their_places(
    world, draw_window, clock
):
    draw_window()
    later = ReleaseWindow.objects.get(
        checkpoint=world.checkpoint, direction="exit", day=DAY + dt.timedelta(days=1)
    )
    services.policy_update(checkpoint=world.checkpoint, actor=None, mode=ReleaseMode.FIRST_COME)
    later.refresh_from_db()
    assert later.status == ReleaseWindow.Status.CANCELLED
    assert not later.reserved.exists()
    # The open window still runs to its draw.
    assert ReleaseWindow.objects.get(day=DAY, direction="exit").status == "scheduled"


def test_f2_request_outside_the_window_is_refused(world, draw_window, clock):
    draw_window()
    world.top_up("1000000.00")
    clock.move_to(CLOSES)
    refusal = refused(lambda: place(world), "window_closed")
    assert "closes_at" in refusal.fields


def test_f2_request_holds_nothing_but_needs_the_balance_of_a_booking(world, draw_window):
    draw_window()
    refusal = refused(lambda: place(world), "insufficient_funds")
    assert Decimal(refusal.fields["required"]) > 0
    world.top_up("1000000.00")
    before = available_balance(world.carrier)
    made = place(world)
    assert made.status == ReleaseRequest.Status.LIVE
    assert available_balance(world.carrier) == before


def test_f2_request_passes_the_booking_checks(world, draw_window):
    draw_window()
    world.top_up("1000000.00")
    refused(lambda: place(world, vehicle=world.trailer), "validation_error")  # B1
    refused(lambda: place(world, service="out_of_turn"), "validation_error")  # B2
    refused(lambda: place(world, hours=()), "validation_error")


def test_f2_no_request_at_a_checkpoint_that_stopped_taking_bookings(world, draw_window):
    """The window's checkpoint, read with the window, is not read again; a checkpoint switched off
    while its window is open is still refused, as a booking there would be (R1)."""
    draw_window()
    world.top_up("1000000.00")
    world.checkpoint.is_active = False
    world.checkpoint.save(update_fields=["is_active"])
    refused(lambda: place(world), "not_found")
    world.checkpoint.is_active = True
    world.checkpoint.serves_trucks = False
    world.checkpoint.save(update_fields=["is_active", "serves_trucks"])
    refused(lambda: place(world), "not_found")
    world.checkpoint.serves_trucks = True
    world.checkpoint.save(update_fields=["serves_trucks"])
    assert place(world).status == ReleaseRequest.Status.LIVE


def test_f2_b6_a_live_request_counts_as_a_booking_in_the_country(world, draw_window, clock):
    draw_window()
    world.top_up("1000000.00")
    place(world)
    refused(lambda: place(world, hours=(10,)), "active_booking_exists")
    # A vehicle booked in the country cannot be requested either.
    tractor_booked = book(world, vehicle=world.tractor)
    assert tractor_booked.status == "confirmed"
    refused(lambda: place(world, vehicle=world.tractor), "active_booking_exists")


def test_f2_a_request_is_changed_and_withdrawn_freely_inside_the_window(world, draw_window, clock):
    draw_window()
    world.top_up("1000000.00")
    made = place(world)
    changed = services.request_change(
        member=world.member, request=made, data=ask(world, hours=(10, 9))
    )
    assert changed.pk == made.pk and ReleaseRequest.objects.get(pk=made.pk).hours == [10, 9]
    services.request_withdraw(member=world.member, request=changed)
    assert ReleaseRequest.objects.get(pk=made.pk).status == ReleaseRequest.Status.WITHDRAWN
    again = place(world)  # the vehicle is free to be requested again
    clock.move_to(CLOSES)
    refused(lambda: services.request_withdraw(member=world.member, request=again), "window_closed")


def test_f3_share_limits_requests_per_carrier(world, draw_window):
    window = draw_window(carrier_share_percent=1, carrier_share_min=2)
    plan = plan_of_day(checkpoint=world.checkpoint, direction="exit", date=DAY)
    assert window.carrier_limit == max(2, selectors.day_places(plan) // 100)
    world.top_up("100000000.00")
    fleet = trucks(world, window.carrier_limit + 1)
    for truck in fleet[:-1]:
        place(world, vehicle=truck)
    refusal = refused(lambda: place(world, vehicle=fleet[-1]), "request_limit")
    assert str(window.carrier_limit) in refusal.message


def test_f4_rank_is_sha256_of_seed_and_request_id(world, draw_window, clock):
    window = draw_window()
    world.top_up("1000000.00")
    made = [place(world, vehicle=truck) for truck in trucks(world, 3)]
    drawn(clock, window)
    leaves = [
        audit.leaf_hash(
            r.pk,
            hashlib.sha256(
                audit.canonical_json(
                    {
                        "carrier": draw.carrier_hash(r.pk, r.salt),
                        "hours": r.hours,
                        "id": r.pk,
                        "service": r.service,
                    }
                )
            ).hexdigest(),
        )
        for r in made
    ]
    assert window.merkle_root == audit.merkle_root(leaves).hex()
    seed = hashlib.sha256(bytes.fromhex(window.secret) + bytes.fromhex(window.merkle_root))
    assert window.seed == seed.hexdigest()
    for r in made:
        r.refresh_from_db()
        assert r.rank == hashlib.sha256(seed.digest() + str(r.pk).encode()).hexdigest()


def test_f4_random_serial_dictatorship_gives_each_its_best_hour_left():
    entries = [
        draw.Entry(1, "regular", (9, 10), "a"),
        draw.Entry(2, "regular", (9, 10), "b"),
        draw.Entry(3, "regular", (9,), "c"),
        draw.Entry(4, "out_of_turn", (9,), "d"),
        draw.Entry(5, "out_of_turn", (9,), "e"),
    ]
    places = {"regular:09": 1, "regular:10": 1, "out_of_turn": 1}
    assert draw.allocate(entries, places, [9, 10]) == {1: 9, 2: 10, 3: None, 4: 9, 5: None}
    # F5: a skipped request takes nothing and the place goes on down the ranks.
    assert draw.allocate(entries, places, [9, 10], skipped=[1]) == {
        1: None,
        2: 9,
        3: None,
        4: 9,
        5: None,
    }


def test_f5_winners_are_booked_with_their_money_and_losers_are_told(
    world, draw_window, clock, fake_twilio
):
    window = draw_window()
    world.top_up("1000000.00")
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    clock.move_to(window.opens_at + dt.timedelta(minutes=10))
    mine = [place(world, vehicle=truck, hours=(9, 10)) for truck in trucks(world, 2)]
    theirs = services.request_create(member=other.member, data=ask(other, hours=(9, 10)))
    before = {
        world.carrier.pk: available_balance(world.carrier),
        other.carrier.pk: available_balance(other.carrier),
    }
    result = drawn(clock, window)
    assert (result.won, result.unsuccessful, result.skipped) == (2, 1, 0)
    requests = [ReleaseRequest.objects.get(pk=r.pk) for r in [*mine, theirs]]
    winners = [r for r in requests if r.status == ReleaseRequest.Status.WON]
    assert sorted(r.hour_won for r in winners) == [9, 10]
    ranked = sorted(requests, key=lambda r: r.rank)
    assert ranked[0].status == "won" and ranked[0].hour_won == 9  # the best rank, its first choice
    for r in winners:
        booking = r.booking
        assert booking.status == Booking.Status.CONFIRMED and booking.deposit_hold is not None
        assert booking.slot_start.astimezone(ALMATY).hour == r.hour_won
    for carrier in (world.carrier, other.carrier):
        spent = before[carrier.pk] - available_balance(carrier)
        wins = sum(1 for r in winners if r.carrier_id == carrier.pk)
        assert spent == wins * (
            winners[0].booking.fee_amount + winners[0].booking.deposit_hold.amount
        )
    loser = next(r for r in requests if r.status == ReleaseRequest.Status.UNSUCCESSFUL)
    told = Message.objects.filter(kind="release_unsuccessful")
    assert told.exists() and all(f"R-{loser.pk}" in m.body for m in told)
    assert Message.objects.filter(kind="booking_created").count() >= 2


def test_f5_a_winner_that_can_no_longer_pay_is_skipped_and_the_place_goes_down_the_ranks(
    world, draw_window, clock, fake_twilio
):
    window = draw_window()
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="TOPUP-OTHER")
    world.top_up("1000000.00")
    mine = place(world, hours=(9,))
    theirs = services.request_create(member=other.member, data=ask(other, hours=(9,)))
    # The carrier spends its money before the draw: bookings at another checkpoint of
    # another country use up all but a few tenge.
    spend_all_but(world, Decimal("100.00"))
    first_in_the_draw(window, mine)
    result = drawn(clock, window)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == ReleaseRequest.Status.SKIPPED and mine.skip_reason == "insufficient_funds"
    assert theirs.status == ReleaseRequest.Status.WON and theirs.hour_won == 9
    assert result.skipped == 1
    assert Message.objects.filter(kind="release_skipped").exists()
    # The published draw still checks out: skipped requests are part of it.
    assert draw.verify_document(selectors.draw_document(window)).ok


def test_f5_a_vehicle_booked_meanwhile_in_the_country_is_skipped(world, draw_window, clock):
    window = draw_window()
    world.top_up("1000000.00")
    made = place(world, hours=(9,))
    # Booked meanwhile at another checkpoint of the same country (B6).
    other_checkpoint = (
        type(world.checkpoint)
        .objects.filter(country=world.checkpoint.country, is_active=True)
        .exclude(pk=world.checkpoint.pk)
        .filter(serves_trucks=True)
        .first()
    )
    ReleaseRequest.objects.filter(pk=made.pk).update(status="withdrawn")
    book(world, checkpoint=other_checkpoint.code)
    ReleaseRequest.objects.filter(pk=made.pk).update(status="live")
    drawn(clock, window)
    made.refresh_from_db()
    assert made.status == "skipped" and made.skip_reason == "active_booking_exists"


def test_f5_the_draw_runs_once(world, draw_window, clock):
    window = draw_window()
    world.top_up("1000000.00")
    place(world)
    assert services.window_draw(window_id=window.pk) is None  # not closed yet
    assert drawn(clock, window) is not None
    assert services.window_draw(window_id=window.pk) is None
    assert window.pk not in [r.window.pk for r in services.draws_run()]  # the entry side's ran
    assert AuditEvent.objects.filter(action="release.drawn", object_id=str(window.pk)).count() == 1
    assert Booking.objects.filter(vehicle=world.truck).count() == 1


def test_f6_verify_draw_recomputes_a_real_draw(world, draw_window, clock):
    window = draw_window()
    world.top_up("1000000.00")
    for truck in trucks(world, 4):
        place(world, vehicle=truck, hours=(10, 9))
    drawn(clock, window)
    out = io.StringIO()
    call_command("verify_draw", str(window.pk), stdout=out)
    assert "verified" in out.getvalue()


def test_f6_verify_draw_detects_altered_published_data(world, draw_window, clock, tmp_path):
    window = draw_window()
    world.top_up("1000000.00")
    for truck in trucks(world, 4):
        place(world, vehicle=truck, hours=(10, 9))
    drawn(clock, window)
    document = selectors.draw_document(window)
    winner = next(r for r in document["requests"] if r["outcome"] == "won")
    loser = next(r for r in document["requests"] if r["outcome"] == "unsuccessful")
    # The outcomes of a winner and a loser swapped in the published file.
    altered = json.loads(json.dumps(document))
    for r in altered["requests"]:
        if r["id"] == winner["id"]:
            r.update(outcome="unsuccessful", hour=None)
        elif r["id"] == loser["id"]:
            r.update(outcome="won", hour=winner["hour"])
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(altered))
    with pytest.raises(CommandError, match="does NOT match"):
        call_command("verify_draw", file=str(path), stderr=io.StringIO())
    # A request's hours edited in the database after the draw: R no longer matches.
    ReleaseRequest.objects.filter(pk=loser["id"]).update(hours=[9])
    errors = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify_draw", str(window.pk), stderr=errors)
    assert "Merkle root" in errors.getvalue()
    # A secret swapped: it no longer gives the commitment.
    forged = {**document, "secret": "00" * 32}
    assert any("commitment" in p for p in draw.verify_document(forged).problems)
    # The public page shows the problems in the reader's language.
    with translation.override("ru"):
        assert any("обязательству C" in p for p in draw.verify_document(forged).problems)


def test_c6_verify_capacity_counts_the_places_a_window_keeps(world, draw_window, clock):
    from checkpoints.selectors import capacity_check

    draw_window()
    world.top_up("1000000.00")
    book(world, start=day_start(9) - dt.timedelta(days=1))
    assert capacity_check(all_dates=True).ok
    drawn(clock, ReleaseWindow.objects.get(day=DAY, direction="exit"))
    assert capacity_check(all_dates=True).ok


def test_f8_operator_switches_a_checkpoint_to_the_draw_in_the_admin_audited(
    world, client, sign_in_browser, django_user_model
):
    from django.urls import reverse

    from auth2fa.roles import CHECKPOINT_STAFF, OPERATORS
    from tests.bookings.test_staff_page import person

    # Checkpoint staff see nothing of it; the registrar's operators set it.
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    staff_browser = sign_in_browser(Client(), officer)
    assert staff_browser.get(reverse("admin:release_releasepolicy_add")).status_code == 403
    operator = person(django_user_model, "operator@registrar.kz", OPERATORS)
    browser = sign_in_browser(client, operator)
    data = {
        "checkpoint": world.checkpoint.pk,
        "mode": "draw",
        "days_before": 29,
        "release_time": "10:00",
        "window_minutes": 60,
        "carrier_share_percent": 10,
        "carrier_share_min": 2,
    }
    refused = browser.post(reverse("admin:release_releasepolicy_add"), {**data, "days_before": 31})
    assert refused.status_code == 200 and "days_before" in refused.context["adminform"].form.errors
    saved = browser.post(reverse("admin:release_releasepolicy_add"), data)
    assert saved.status_code == 302
    assert selectors.policy_of(world.checkpoint).mode == ReleaseMode.DRAW
    event = AuditEvent.objects.get(action="release.policy_changed")
    assert event.actor == operator and event.after["mode"] == "draw"
    windows = reverse("admin:release_releasewindow_changelist")
    services.windows_schedule()
    page = browser.get(windows)
    assert page.status_code == 200 and "column-demand_shown" in page.content.decode()
    window = ReleaseWindow.objects.filter(checkpoint=world.checkpoint).first()
    shown = browser.get(reverse("admin:release_releasewindow_change", args=[window.pk]))
    assert shown.status_code == 200 and window.secret not in shown.content.decode()
