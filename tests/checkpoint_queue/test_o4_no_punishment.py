"""O4: while a checkpoint's devices have not reported since before a check-in window ended, the
no-show sweep leaves that window's bookings alone; operators see them in the admin and settle
them by hand if the devices never come back (audited). Also O3 in the admin: parked events with
both versions, settled by a person."""

import datetime as dt
import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.test import Client

from auth2fa.roles import CHECKPOINT_STAFF
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import offline
from checkpoint_queue.models import OfflineEvent
from checkpoints.models import Checkpoint, DeviceReport
from core.models import AuditEvent
from tests.worlds import at, book, officer_at, refused, trucks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

SYNC = "/api/v1/checkpoints/KORDAI/offline-events"
MANIFEST = "/api/v1/checkpoints/KORDAI/manifest"


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return at(day, hour) + dt.timedelta(minutes=minute)


def deliver(client, events, pending_after=0):
    answer = client.post(
        SYNC,
        {"events": events, "pending_after": pending_after},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def arrival(booking, moment) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "booking": booking.number,
        "kind": "arrived",
        "at": moment.isoformat(),
    }


@pytest.fixture
def outage(world, device_client, clock):
    """KORDAI's gate tablet took its manifest at 10:00, then lost the link. Two trucks had
    13:00 slots there (one checked in offline at 11:00, one never came); one had a 13:00 slot
    at KARASU, where no device works offline."""
    fleet = trucks(world, 3)
    came, stayed_away = (book(world, vehicle=truck, start=at(0, 13)) for truck in fleet[:2])
    elsewhere = book(world, vehicle=fleet[2], start=at(0, 13), checkpoint="KARASU")
    assert device_client.get(MANIFEST).status_code == 200
    assert deliver(device_client, [])["reported"] is True  # everything delivered at 10:00
    return came, stayed_away, elsewhere


def test_o4_the_sweep_leaves_a_silent_checkpoints_windows_alone_until_its_devices_report(
    world, device_client, outage, clock
):
    came, stayed_away, elsewhere = outage
    clock.move_to(local(0, 16))  # the windows ended at 15:00; the tablet is still offline
    assert services.no_shows_sweep() == 1  # KARASU's only
    assert Booking.objects.get(pk=elsewhere.pk).status == "no_show"
    assert {b.pk for b in services.no_shows_held_back()} == {came.pk, stayed_away.pk}
    for booking in (came, stayed_away):
        booking.refresh_from_db()
        assert (booking.status, deposit_status(booking)) == ("confirmed", "held")
    # The link is back at 16:30: the arrival made offline arrives first, then the sweep judges.
    clock.move_to(local(0, 16, 30))
    deliver(device_client, [arrival(came, local(0, 11))])
    assert services.no_shows_sweep() == 1
    came.refresh_from_db()
    stayed_away.refresh_from_db()
    assert came.status == "arrived"  # no strike for the truck standing in the waiting area
    assert stayed_away.status == "no_show"  # the real no-show is one
    assert list(services.no_shows_held_back()) == []


def test_o4_events_still_on_the_device_keep_holding_back(world, device_client, outage, clock):
    came, _stayed_away, _elsewhere = outage
    clock.move_to(local(0, 16))
    deliver(device_client, [arrival(came, local(0, 11))], pending_after=5)  # more to come
    assert services.no_shows_sweep() == 1  # KARASU's only: the rest may still be on the way


def test_o4_a_retired_device_no_longer_holds_back(world, device_client, outage, clock):
    clock.move_to(local(0, 16))
    DeviceReport.objects.update(retired_at=local(0, 15, 30))
    assert services.no_shows_sweep() == 3


def test_o4_only_operators_settle_by_hand_audited(world, outage, operator, staff, clock):
    _came, stayed_away, _elsewhere = outage
    clock.move_to(local(0, 16))
    refused(lambda: services.no_show_settle_by_hand(booking=stayed_away, actor=staff), "forbidden")
    assert services.no_show_settle_by_hand(booking=stayed_away, actor=operator) == "released"
    stayed_away.refresh_from_db()
    assert stayed_away.status == "no_show"
    event = AuditEvent.objects.get(action="booking.no_show", object_id=str(stayed_away.pk))
    assert event.actor == operator and event.after["settled_by_hand"] is True


def test_o4_operators_see_the_silent_checkpoint_and_settle_in_the_admin(
    world, outage, operator, sign_in_browser, clock
):
    came, stayed_away, _elsewhere = outage
    clock.move_to(local(0, 16))
    services.no_shows_sweep()
    admin = sign_in_browser(Client(), operator)
    devices = admin.get("/admin/checkpoints/devicereport/?holding_back=yes")
    assert devices.status_code == 200
    (row,) = devices.context["cl"].result_list
    assert (row.checkpoint.code, row.held_back_count) == ("KORDAI", 2)
    held = admin.get("/admin/checkpoint_queue/heldbackbooking/")
    assert {b.pk for b in held.context["cl"].result_list} == {came.pk, stayed_away.pk}
    answer = admin.post(
        "/admin/checkpoint_queue/heldbackbooking/",
        {"action": "settle_as_no_show", ACTION_CHECKBOX_NAME: [stayed_away.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    assert Booking.objects.get(pk=stayed_away.pk).status == "no_show"
    answer = admin.post(
        "/admin/checkpoint_queue/heldbackbooking/",
        {
            "action": "cancel_by_operator",
            ACTION_CHECKBOX_NAME: [came.pk],
            "apply": "1",
            "reason": "The checkpoint was offline; the truck crossed",
        },
        follow=True,
    )
    assert Booking.objects.get(pk=came.pk).status == "cancelled_by_operator"
    assert list(services.no_shows_held_back()) == []


def test_o4_staff_do_not_settle_but_see_their_devices(world, outage, staff, sign_in_browser, clock):
    clock.move_to(local(0, 16))
    staff.groups.add(Group.objects.get(name=CHECKPOINT_STAFF))
    officer = sign_in_browser(Client(), staff)
    assert officer.get("/admin/checkpoints/devicereport/").status_code == 200
    assert officer.get("/admin/checkpoint_queue/heldbackbooking/").status_code == 403
    other = officer_at(Checkpoint.objects.get(code="KARASU"), email="officer@karasu.kz")
    other.groups.add(Group.objects.get(name=CHECKPOINT_STAFF))
    listing = sign_in_browser(Client(), other).get("/admin/checkpoints/devicereport/")
    assert list(listing.context["cl"].result_list) == []


def test_o3_operators_read_parked_events_with_both_versions_and_settle_them(
    world, device_client, operator, sign_in_browser, clock
):
    booking = book(world, start=at(0, 14))
    services.booking_cancel(member=world.member, booking=booking)
    clock.move_to(local(0, 12))
    deliver(device_client, [arrival(booking, local(0, 11, 30))])
    row = OfflineEvent.objects.get()
    assert row.outcome == "parked"
    admin = sign_in_browser(Client(), operator)
    listing = admin.get("/admin/checkpoint_queue/offlineevent/?outcome__exact=parked")
    assert [event.pk for event in listing.context["cl"].result_list] == [row.pk]
    page = admin.get(f"/admin/checkpoint_queue/offlineevent/{row.pk}/change/")
    text = page.content.decode()
    assert "cancelled" in text and "confirmed" not in text.split("portal_version")[0][-1:]
    answer = admin.post(
        f"/admin/checkpoint_queue/offlineevent/{row.pk}/change/",
        {"settle": "The carrier had cancelled; the truck was turned back"},
        follow=True,
    )
    assert answer.status_code == 200
    row.refresh_from_db()
    assert (row.outcome, row.settled_by) == ("settled", operator)
    assert list(offline.parked_events()) == []


def test_o4_operators_are_told_of_the_held_back_bookings(world, outage, clock):
    from core import notices

    clock.move_to(local(0, 16))
    (notice,) = [n for n in notices.current() if n.code == "no_shows_held_back"]
    assert "2 bookings are held back" in notice.message and "KORDAI (2)" in notice.message
    assert notice.permission == "checkpoints.change_devicereport"
