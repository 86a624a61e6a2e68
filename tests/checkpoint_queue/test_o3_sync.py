"""O3: when the link returns, a device's events go through POST
/api/v1/checkpoints/<code>/offline-events in order, each at most once by its id, judged at the
time it happened (Q1's check-in window then, not at delivery), audited with both times and an
`offline` mark. Conflicts by rule: a crossing recorded offline stands and releases the deposit;
a duplicate changes nothing; an event for a booking no longer in the state it needs is parked
with both versions for staff and operators, never dropped."""

import datetime as dt
import uuid

import pytest
from django.test import Client

from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import offline
from checkpoint_queue.models import OfflineEvent
from checkpoints.models import DeviceReport
from core.clock import ALMATY
from core.models import AuditEvent
from deposits.selectors import ledger_check
from tests.worlds import NOW, at, book, trucks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL = "/api/v1/checkpoints/KORDAI/offline-events"
DEVICE = "screen-0123456789abcdef"


def event(booking, kind: str, at_: dt.datetime, **extra) -> dict:
    number = booking if isinstance(booking, str) else booking.number
    return {
        "id": str(uuid.uuid4()),
        "booking": number,
        "kind": kind,
        "at": at_.isoformat(),
        **extra,
    }


def deliver(client, events, pending_after=0, **body):
    answer = client.post(
        URL,
        {"events": events, "pending_after": pending_after, **body},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return at(day, hour) + dt.timedelta(minutes=minute)


def audit_of(booking, action: str) -> AuditEvent:
    return AuditEvent.objects.filter(
        object_type="bookings.booking", object_id=str(booking.pk), action=action
    ).get()


def test_o3_a_day_offline_arrives_in_order_judged_at_its_own_time(world, device_client, clock):
    booking = book(world, start=at(0, 13))  # check-in 10:00-15:00 (Q1)
    events = [
        event(booking, "arrived", local(0, 10, 30)),
        event(booking, "called", local(0, 13, 5)),
        event(booking, "crossed", local(0, 13, 20)),
    ]
    clock.move_to(local(0, 15, 30))  # delivered after the check-in window closed
    answer = deliver(device_client, events)
    assert [(r["outcome"], r["duplicate"], r["status"]) for r in answer["results"]] == [
        ("applied", False, "arrived"),
        ("applied", False, "called"),
        ("applied", False, "crossed"),
    ]
    assert answer["reported"] is True
    booking.refresh_from_db()
    assert booking.status == "crossed"
    assert booking.arrived_at == local(0, 10, 30)
    assert booking.called_at == local(0, 13, 5)
    assert booking.crossed_at == local(0, 13, 20)
    assert booking.crossed_by == "device:KORDAI gate tablet"
    assert deposit_status(booking) == "released"  # D2
    crossed = audit_of(booking, "booking.crossed")
    assert crossed.after["offline"] is True
    assert dt.datetime.fromisoformat(crossed.after["happened_at"]) == local(0, 13, 20)
    assert dt.datetime.fromisoformat(crossed.after["received_at"]) == local(0, 15, 30)
    assert crossed.occurred_at == local(0, 15, 30)
    assert crossed.after["device"] == "KORDAI gate tablet"
    assert audit_of(booking, "booking.arrived").after["happened_at"].startswith("2026-03-20T10:30")
    assert ledger_check().ok
    report = DeviceReport.objects.get()
    assert report.reported_at == local(0, 15, 30)


def test_o3_a_duplicate_changes_nothing(world, device_client, clock):
    booking = book(world, start=at(0, 13))
    clock.move_to(local(0, 13, 30))
    events = [
        event(booking, "arrived", local(0, 11)),
        event(booking, "called", local(0, 13, 5)),
        event(booking, "crossed", local(0, 13, 10)),
    ]
    first = deliver(device_client, events)
    audit_count, transfers = AuditEvent.objects.count(), deposit_status(booking)
    again = deliver(device_client, events)  # the answer was lost; the device sends them again
    assert [r["duplicate"] for r in again["results"]] == [True, True, True]
    assert [r["outcome"] for r in again["results"]] == [r["outcome"] for r in first["results"]]
    assert AuditEvent.objects.count() == audit_count
    assert OfflineEvent.objects.count() == 3
    assert deposit_status(booking) == transfers == "released"
    # The same happening recorded twice on the device (two ids) changes nothing either.
    twice = deliver(device_client, [event(booking, "crossed", local(0, 13, 11))])
    assert twice["results"][0]["outcome"] == "already"
    assert AuditEvent.objects.filter(action="booking.crossed").count() == 1


def test_o3_an_arrival_outside_its_window_at_its_time_is_parked_with_both_versions(
    world, device_client, staff, sign_in_browser, clock
):
    booking = book(world, start=at(0, 14))  # check-in from 11:00
    clock.move_to(local(0, 12))
    answer = deliver(device_client, [event(booking, "arrived", local(0, 10, 45))])
    (result,) = answer["results"]
    assert result["outcome"] == "parked"
    assert "check-in window" in result["detail"]
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    officer_client = sign_in_browser(Client(), staff)  # signed in now (sessions last 30 min)
    parked = officer_client.get(URL, {"device": DEVICE}).json()
    assert [(row["booking"], row["kind"], row["portal_status"]) for row in parked] == [
        (booking.number, "arrived", "confirmed")
    ]
    assert parked[0]["portal_version"]["slot_start"].startswith("2026-03-20T09:00")
    assert parked[0]["happened_at"].startswith("2026-03-20T10:45")
    assert AuditEvent.objects.filter(action="offline_event.parked").count() == 1


def test_o3_events_for_a_booking_cancelled_meanwhile_are_parked_never_dropped(
    world, device_client, operator, clock
):
    booking = book(world, start=at(0, 13))
    services.booking_cancel_by_operator(booking=booking, reason="Road works", actor=operator)
    clock.move_to(local(0, 14))
    answer = deliver(
        device_client,
        [
            event(booking, "arrived", local(0, 10, 30), device_status="confirmed"),
            event(booking, "called", local(0, 13, 5), device_status="arrived"),
            event(booking, "crossed", local(0, 13, 20), device_status="called"),
        ],
    )
    assert [r["outcome"] for r in answer["results"]] == ["parked", "parked", "parked"]
    booking.refresh_from_db()
    assert booking.status == "cancelled_by_operator"
    assert deposit_status(booking) == "released"  # D4, as the cancellation left it
    rows = list(offline.parked_events(booking.checkpoint))
    assert [(row.kind, row.device_status, row.portal_status) for row in rows] == [
        ("arrived", "confirmed", "cancelled_by_operator"),
        ("called", "arrived", "cancelled_by_operator"),
        ("crossed", "called", "cancelled_by_operator"),
    ]
    # Settled by a person, with a word on how: it leaves the list, audited.
    offline.parked_event_settle(event=rows[0], note="Told the carrier", actor=operator)
    assert len(offline.parked_events(booking.checkpoint)) == 2
    assert AuditEvent.objects.filter(action="offline_event.settled").count() == 1


def test_o3_an_offline_crossing_stands_over_a_no_show_and_releases_the_deposit(
    world, device_client, clock
):
    booking = book(world, start=at(0, 13))
    clock.move_to(local(0, 15, 5))
    services.no_shows_sweep()  # the devices never registered here: the sweep marks it
    booking.refresh_from_db()
    assert booking.status == "no_show"
    assert deposit_status(booking) == "released"  # D3: the first strike is forgiven
    answer = deliver(device_client, [event(booking, "crossed", local(0, 13, 40))])
    assert answer["results"][0]["outcome"] == "applied"
    booking.refresh_from_db()
    assert (booking.status, booking.crossed_at) == ("crossed", local(0, 13, 40))
    # No strike is left on the vehicle (D3 counts no-shows, not crossings).
    assert services.strikes_before(vin=booking.vehicle_vin, moment=local(1, 10)) == 0


def test_o3_a_crossing_over_a_forfeited_deposit_stands_and_is_parked_for_an_operator(
    world, device_client, clock
):
    truck = world.truck
    clock.move_to(NOW - dt.timedelta(days=2))
    earlier = book(world, vehicle=truck, start=at(-1, 9))
    services.booking_cancel(member=world.member, booking=earlier)  # a first strike
    clock.move_to(NOW)
    booking = book(world, vehicle=truck, start=at(0, 13))
    clock.move_to(local(0, 15, 5))
    services.no_shows_sweep()
    booking.refresh_from_db()
    assert deposit_status(booking) == "forfeited"  # D3: the second strike in 90 days
    (result,) = deliver(device_client, [event(booking, "crossed", local(0, 13, 40))])["results"]
    assert result["outcome"] == "parked"
    assert "forfeited" in result["detail"]
    booking.refresh_from_db()
    assert booking.status == "crossed"
    row = OfflineEvent.objects.get()
    assert (row.portal_status, row.portal_version["status"]) == ("no_show", "no_show")


def test_o3_a_refusal_offline_follows_d3_at_its_time(world, device_client, clock):
    booking = book(world, start=at(0, 13))
    clock.move_to(local(0, 16))
    answer = deliver(
        device_client,
        [
            event(booking, "arrived", local(0, 11)),
            event(booking, "refused", local(0, 11, 20), reason="documents", note="No CMR"),
        ],
    )
    assert [r["outcome"] for r in answer["results"]] == ["applied", "applied"]
    booking.refresh_from_db()
    assert (booking.status, booking.refused_at, booking.refusal_reason, booking.refusal_note) == (
        "refused",
        local(0, 11, 20),
        "documents",
        "No CMR",
    )
    assert booking.status_changed_at == local(0, 11, 20)
    assert deposit_status(booking) == "released"  # the first strike in 90 days is forgiven
    refused = audit_of(booking, "booking.refused")
    assert refused.after["offline"] is True and refused.after["deposit"] == "released"


def test_o3_unknown_bookings_and_a_clock_ahead_are_parked(world, device_client, clock):
    other = book(world, start=at(0, 13), checkpoint="KARASU")
    answer = deliver(
        device_client,
        [
            event("K-0009999-1", "arrived", local(0, 9, 50)),
            event(other, "arrived", local(0, 9, 50)),
            event(other, "arrived", NOW + dt.timedelta(hours=1)),
        ],
    )
    assert [r["outcome"] for r in answer["results"]] == ["parked"] * 3
    assert "clock" in answer["results"][2]["detail"]
    assert Booking.objects.get(pk=other.pk).status == "confirmed"
    assert OfflineEvent.objects.filter(booking__isnull=True).count() == 3


def test_o3_o4_a_device_reports_only_once_nothing_is_left_on_it(world, device_client, clock):
    booking = book(world, start=at(0, 13))
    answer = deliver(device_client, [event(booking, "arrived", local(0, 10, 5))], pending_after=3)
    assert answer["reported"] is False
    report = DeviceReport.objects.get()
    assert report.reported_at is None
    clock.move_to(local(0, 10, 10))
    assert deliver(device_client, [], pending_after=0)["reported"] is True
    report.refresh_from_db()
    assert report.reported_at == local(0, 10, 10)


def test_o3_staff_deliver_from_their_browser_and_the_audit_names_them(
    world, officer_client, staff, clock
):
    booking = book(world, start=at(0, 13))
    answer = deliver(
        officer_client,
        [event(booking, "arrived", local(0, 10, 5))],
        device=DEVICE,
        name="Gate PC",
    )
    assert answer["results"][0]["outcome"] == "applied"
    arrived = audit_of(booking, "booking.arrived")
    assert arrived.actor == staff and arrived.after["device"] == "Gate PC"
    row = OfflineEvent.objects.get()
    assert row.sent_by == staff and row.device.device == f"screen:{DEVICE}"
    # Without a verified sign-in, or for another checkpoint, nothing is taken.
    assert Client().post(URL, {"events": []}, content_type="application/json").status_code in (
        401,
        403,
    )
    assert OfflineEvent.objects.count() == 1


def test_o3_the_call_of_a_booking_whose_slot_had_not_begun_is_parked(world, device_client, clock):
    booking = book(world, start=at(0, 13))
    clock.move_to(local(0, 13, 30))
    answer = deliver(
        device_client,
        [event(booking, "arrived", local(0, 10, 5)), event(booking, "called", local(0, 12, 55))],
    )
    assert [r["outcome"] for r in answer["results"]] == ["applied", "parked"]
    assert Booking.objects.get(pk=booking.pk).status == "arrived"


def test_o3_a_fresh_call_tells_the_drivers_a_late_one_does_not(
    world, device_client, clock, eager, commit
):
    from notify.models import Message

    late, fresh = (book(world, vehicle=truck, start=at(0, 13)) for truck in trucks(world, 2))
    clock.move_to(local(0, 13, 30))
    with commit():
        deliver(
            device_client,
            [
                event(late, "arrived", local(0, 10, 5)),
                event(late, "called", local(0, 13, 1)),
                event(fresh, "arrived", local(0, 10, 6)),
                event(fresh, "called", local(0, 13, 29)),
            ],
        )
    called = Message.objects.filter(kind="driver_called")
    assert {message.booking_id for message in called} == {fresh.pk}


def test_o3_times_are_kept_in_the_zone_they_came_in(world, device_client, clock):
    booking = book(world, start=at(0, 12))
    utc = local(0, 9, 40).astimezone(dt.UTC)
    deliver(device_client, [event(booking, "arrived", utc)])
    booking.refresh_from_db()
    assert booking.arrived_at.astimezone(ALMATY) == local(0, 9, 40)
