"""O2-O4 in a real browser: a checkpoint officer opens the offline staff screen while the portal
can be reached (it keeps the signed manifest and registers its service worker), then the network
goes (Playwright's offline mode). Offline the officer checks three trucks in, calls and crosses
two in the Q2 order the screen computes from the manifest, and refuses the third; the screen
says it is offline, how old its manifest is and that 8 events wait. Meanwhile the portal's
no-show sweep runs past the trucks' check-in windows and strikes nobody (O4: the checkpoint's
devices have not reported since). The network returns: the events arrive in order (O3), the
two crossed trucks' deposits are released (D2), and the audit shows both times of each. Offline
again, the screen opens anew from the service worker's copy and IndexedDB.

A manifest with one byte changed, or signed by a key the screen does not accept, is refused.
"""

import base64
import datetime as dt
import json

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from auth2fa.roles import CHECKPOINT_STAFF
from bookings import services
from bookings.models import CHECK_IN_CLOSES, Booking
from bookings.selectors import deposit_status
from checkpoint_queue import manifest, manifest_keys
from checkpoints.models import StaffAssignment
from core.clock import ALMATY
from core.models import AuditEvent
from tests.e2e.conftest import wait_until
from tests.worlds import book, make_world, trucks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

APP = "/staff/checkpoints/KORDAI/app/"


@pytest.fixture
def signing_key(settings, tmp_path):
    settings.MANIFEST_KEY_DIR = str(tmp_path / "manifest_keys")
    manifest_keys.rotate()
    yield
    manifest_keys._cache.clear()


@pytest.fixture
def waiting_trucks(fake_twilio, signing_key):
    """Three trucks booked at KORDAI (exit) for the current hour, booked a minute apart two
    hours earlier (when that hour could still be booked, C4): their time has come."""
    slot = timezone.now().astimezone(ALMATY).replace(minute=0, second=0, microsecond=0)
    with time_machine.travel(slot - dt.timedelta(hours=2), tick=False) as traveller:
        world = make_world(fake_twilio)
        world.top_up("2000000.00")
        fleet = trucks(world, 3)
        bookings = []
        for truck in fleet:
            traveller.shift(dt.timedelta(minutes=1))
            bookings.append(book(world, vehicle=truck, start=slot))
    return world, bookings


@pytest.fixture
def officer(waiting_trucks):
    world, _bookings = waiting_trucks
    person = get_user_model().objects.create_user(
        "officer@kordai.kz", "x", full_name="Nurlan Officer", is_staff=True
    )
    person.groups.add(Group.objects.get_or_create(name=CHECKPOINT_STAFF)[0])
    StaffAssignment.objects.create(user=person, checkpoint=world.checkpoint)
    return person


def open_screen(signed_in_page, officer):
    page = signed_in_page(officer, "officer")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(APP)
    expect(page.locator("#offline-app[data-ready]")).to_have_count(1)
    expect(page.locator("#net-state")).to_have_text("Online")
    expect(page.locator("#manifest-state")).to_contain_text("3 bookings", timeout=30_000)
    page.errors = errors
    return page


def find(page, text: str):
    page.locator("#find-text").fill(text)
    page.get_by_role("button", name="Find", exact=True).click()


def test_o2_o3_o4_a_checkpoint_keeps_working_offline_and_nobody_is_struck(
    signed_in_page, live_server, waiting_trucks, officer
):
    _world, (first, second, third) = waiting_trucks
    page = open_screen(signed_in_page, officer)
    # The service worker keeps the screen for when the network is gone (evaluate awaits the
    # promise; the page, its script, style and icons are kept together or not at all).
    wait_until(
        lambda: page.evaluate(
            "navigator.serviceWorker.ready.then(() => caches.match(location.pathname))"
            ".then(kept => !!kept)"
        ),
        what="the service worker keeping the screen",
    )
    page.snap("online-manifest-kept")

    page.context.set_offline(True)
    expect(page.locator("#net-state")).to_contain_text("Offline")
    for booking in (first, second, third):
        find(page, booking.vehicle_plate[:3] + " " + booking.vehicle_plate[3:])
        page.locator("#find-results").get_by_role("button", name="Mark arrived").click()
        expect(page.locator("#app-notice")).to_contain_text("is in the waiting area")
    exit_side = page.locator('.queue-side[data-direction="exit"]')
    expect(exit_side.locator(".waiting-list li[data-number]")).to_have_count(3)
    page.snap("offline-three-waiting")

    for booking in (first, second):  # called in Q2 order: booked first, called first
        exit_side.locator(".call-next").click()
        expect(page.locator("#app-notice")).to_contain_text("Called forward: ")
        expect(page.locator("#app-notice")).to_contain_text(booking.number)
        exit_side.locator(f'.called-list li[data-number="{booking.number}"]').get_by_role(
            "button", name="Mark crossed"
        ).click()
        expect(page.locator("#app-notice")).to_contain_text("crossed the border")
    find(page, third.number)
    results = page.locator("#find-results")
    results.locator("select").select_option("documents")
    results.get_by_role("button", name="Refuse the vehicle").click()
    expect(page.locator("#app-notice")).to_contain_text("is refused")
    expect(page.locator("#pending-state")).to_have_attribute("data-pending", "8")
    expect(page.locator("#pending-state")).to_contain_text("8 events wait to be sent")
    expect(page.locator("#manifest-state")).to_contain_text("min old")
    page.snap("offline-eight-events-wait")

    # The portal's sweep runs past the trucks' check-in windows meanwhile: nobody is struck.
    window_ended = first.slot_end + CHECK_IN_CLOSES
    later = window_ended + dt.timedelta(minutes=5)
    assert services.no_shows_sweep(as_of=later) == 0
    assert {b.pk for b in services.no_shows_held_back(later)} == {
        b.pk for b in (first, second, third)
    }
    assert set(Booking.objects.values_list("status", flat=True)) == {"confirmed"}

    page.context.set_offline(False)
    expect(page.locator("#net-state")).to_have_text("Online", timeout=30_000)
    expect(page.locator("#pending-state")).to_have_attribute("data-pending", "0", timeout=30_000)
    expect(page.locator("#pending-state")).to_contain_text("Every event has reached the portal")
    page.snap("online-again-all-delivered")

    for booking in (first, second, third):
        booking.refresh_from_db()
    assert (first.status, second.status, third.status) == ("crossed", "crossed", "refused")
    assert deposit_status(first) == deposit_status(second) == "released"  # D2
    assert third.refusal_reason == "documents"
    assert first.called_at < second.called_at  # Q2: booked first, called first
    for booking in (first, second):
        crossed = AuditEvent.objects.get(
            action="booking.crossed", object_id=str(booking.pk), object_type="bookings.booking"
        )
        happened = dt.datetime.fromisoformat(crossed.after["happened_at"])
        received = dt.datetime.fromisoformat(crossed.after["received_at"])
        assert crossed.after["offline"] is True and happened < received
        assert crossed.actor == officer
        assert happened == booking.crossed_at
    # The devices have reported again: the sweep judges the window now, and has nobody to strike.
    assert services.no_shows_sweep(as_of=later) == 0

    # Offline again, the screen is opened anew: the service worker's copy of the page and the
    # manifest and events kept in IndexedDB bring it back. (After the delivery: requests passing
    # a service worker are not always held back by the browser's emulated offline mode.)
    page.context.set_offline(True)
    page.reload()
    expect(page.locator("#offline-app[data-ready]")).to_have_count(1)
    expect(page.locator("#net-state")).to_contain_text("Offline")
    expect(page.locator("#manifest-state")).to_contain_text("3 bookings")
    expect(page.locator("#pending-state")).to_have_attribute("data-pending", "0")
    page.snap("offline-reopened")
    assert page.errors == []


def test_o2_a_manifest_changed_by_one_byte_or_signed_by_another_key_is_refused(
    signed_in_page, live_server, waiting_trucks, officer
):
    page = open_screen(signed_in_page, officer)
    kept = page.locator("#manifest-state").get_attribute("data-sequence")

    def tampered(route):
        body = route.fetch().json()
        payload = body["payload"]
        at = payload.index('"plate":"') + len('"plate":"')
        body["payload"] = payload[:at] + ("9" if payload[at] != "9" else "8") + payload[at + 1 :]
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/checkpoints/KORDAI/manifest*", tampered)
    page.get_by_role("button", name="Refresh the manifest now").click()
    expect(page.locator("#app-alert")).to_contain_text("its signature does not verify")
    expect(page.locator("#manifest-state")).to_have_attribute("data-sequence", kept)
    page.snap("one-byte-changed-refused")
    page.unroute("**/api/v1/checkpoints/KORDAI/manifest*")

    stranger = Ed25519PrivateKey.generate()

    def foreign(route):
        body = route.fetch().json()
        document = json.loads(body["payload"])
        document["key_id"] = "0123456789abcdef"
        document["sequence"] += 100
        data = manifest.canonical(document)
        body.update(
            key_id="0123456789abcdef",
            payload=data.decode(),
            signature=base64.b64encode(stranger.sign(data)).decode(),
        )
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/checkpoints/KORDAI/manifest*", foreign)
    page.get_by_role("button", name="Refresh the manifest now").click()
    expect(page.locator("#app-alert")).to_contain_text(
        "signed by a key this screen does not accept"
    )
    expect(page.locator("#manifest-state")).to_have_attribute("data-sequence", kept)
    page.snap("unknown-key-refused")
    page.unroute("**/api/v1/checkpoints/KORDAI/manifest*")

    # The portal's own manifest is taken again.
    page.get_by_role("button", name="Refresh the manifest now").click()
    expect(page.locator("#app-alert")).to_be_hidden()
    expect(page.locator("#manifest-state")).not_to_have_attribute("data-sequence", kept)
    assert int(page.locator("#manifest-state").get_attribute("data-sequence")) > int(kept)
    assert page.errors == []
