"""Plate cameras (API.md "Checkpoint devices"): device keys made per checkpoint, stored hashed,
revocable; POST /api/v1/checkpoint-events marks arrivals (Q1) and crossings (D2) of the active
booking found by normalised plate (B7) at the key's checkpoint; duplicates are harmless; no rate
limit applies."""

import datetime as dt
import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from auth2fa.models import ApiToken
from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from auth2fa.services import api_token_issue
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import services as queue_services
from checkpoints.models import Checkpoint, DeviceKey
from checkpoints.services import device_key_issue, device_key_revoke
from core.models import AuditEvent
from deposits.models import HoldResolution
from deposits.selectors import balances_of, ledger_check
from tests.worlds import NOW, at, book
from vehicles import services as fleet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL = "/api/v1/checkpoint-events"


@pytest.fixture
def operator(world):
    return get_user_model().objects.create_user(
        "operator@registrar.kz", "x", full_name="Registrar Operator", is_staff=True
    )


@pytest.fixture
def camera(world, operator):
    return device_key_issue(
        checkpoint=world.checkpoint, name="KORDAI waiting area gate", actor=operator
    )


@pytest.fixture
def post(client):
    def send(key, body, **headers):
        if key is not None:
            headers["HTTP_AUTHORIZATION"] = f"Device {key}"
        headers.setdefault("HTTP_ACCEPT_LANGUAGE", "en")
        return client.post(URL, body, content_type="application/json", **headers)

    return send


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


# --- Keys: made per checkpoint, stored hashed, revocable, audited -------------------------------


def test_device_key_is_shown_once_and_stored_only_as_its_sha256(camera, operator):
    key = DeviceKey.objects.get()
    assert camera.secret.startswith("kzd_") and len(camera.secret) > 40
    assert key.key_hash == hashlib.sha256(camera.secret.encode()).hexdigest()
    assert key.prefix == camera.secret[:12]
    stored = [str(value) for value in DeviceKey.objects.values_list().get()]
    assert not any(camera.secret in value for value in stored)
    event = AuditEvent.objects.get(action="device_key.issued")
    assert event.actor == operator
    assert camera.secret not in str(event.after)


def test_device_key_revoke_is_audited_and_happens_once(camera, operator):
    assert device_key_revoke(key=camera.key, actor=operator) is True
    assert device_key_revoke(key=camera.key, actor=operator) is False
    assert AuditEvent.objects.filter(action="device_key.revoked", actor=operator).count() == 1


# --- Authentication: only a live device key ---------------------------------------------------


def test_no_header_is_401_in_the_error_shape(post, world):
    response = post(None, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Device"


@pytest.mark.parametrize("key", ["kzd_wrong", "not-even-a-key", ""])
def test_wrong_key_is_401(post, world, camera, key):
    response = post(key, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_revoked_key_is_401(post, world, camera, operator):
    device_key_revoke(key=camera.key, actor=operator)
    response = post(camera.secret, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_persons_bearer_token_is_not_a_device(client, world, staff):
    token = api_token_issue(user=staff, kind=ApiToken.Kind.PERSONAL).secret
    response = client.post(
        URL,
        {"plate": "123ABC02", "event": "arrived"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_a_key_of_another_checkpoint_finds_no_booking_there(post, world, operator, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    karasu = device_key_issue(
        checkpoint=Checkpoint.objects.get(code="KARASU"), name="KARASU gate", actor=operator
    )
    clock.move_to(at(1, 8))
    response = post(karasu.secret, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "no_active_booking"
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_key_use_is_remembered_at_most_once_a_minute(post, world, camera, clock):
    post(camera.secret, {"plate": "999ZZZ02", "event": "arrived"})
    first = DeviceKey.objects.get().last_used_at
    assert first == NOW
    clock.shift(dt.timedelta(seconds=30))
    post(camera.secret, {"plate": "999ZZZ02", "event": "arrived"})
    assert DeviceKey.objects.get().last_used_at == first
    clock.shift(dt.timedelta(seconds=31))
    post(camera.secret, {"plate": "999ZZZ02", "event": "arrived"})
    assert DeviceKey.objects.get().last_used_at > first


# --- Events -----------------------------------------------------------------------------------


def test_q1_arrived_by_plate_with_cyrillic_look_alikes_and_spaces(post, world, camera, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 7))
    response = post(camera.secret, {"plate": " 123 авс 02 ", "event": "arrived"})
    assert response.status_code == 200, response.json()
    assert response.json()["booking"] == booking.number
    assert response.json()["status"] == "arrived"
    booking.refresh_from_db()
    assert booking.status == "arrived"
    assert booking.arrived_at == at(1, 7)
    assert booking.arrived_by == "device:KORDAI waiting area gate"
    event = AuditEvent.objects.get(action="booking.arrived")
    assert event.after["by"] == "device:KORDAI waiting area gate"

    # The same event again (a second camera frame, a retry): harmless, same answer.
    again = post(camera.secret, {"plate": "123ABC02", "event": "arrived"})
    assert again.status_code == 200
    assert again.json() == response.json()
    assert AuditEvent.objects.filter(action="booking.arrived").count() == 1


def test_arrived_with_the_cameras_time(post, world, camera, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 7))
    seen = (at(1, 6) + dt.timedelta(minutes=58)).isoformat()
    response = post(camera.secret, {"plate": "123ABC02", "event": "arrived", "at": seen})
    assert response.status_code == 200
    booking.refresh_from_db()
    assert booking.arrived_at == at(1, 6) + dt.timedelta(minutes=58)


def test_q1_arrived_outside_the_check_in_window_says_when_it_is_open(post, world, camera, clock):
    world.top_up("1000000.00")
    book(world, start=at(1, 9))
    clock.move_to(at(1, 5))
    response = post(camera.secret, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "outside_check_in_window"
    assert "06:00" in error["message"] and "11:00" in error["message"]


def test_trailer_plate_of_another_country_finds_the_booking(post, world, camera, clock):
    world.top_up("1000000.00")
    booking = book(world, vehicle=world.tractor, trailer=world.trailer, start=at(1, 9))
    clock.move_to(at(1, 8))
    response = post(camera.secret, {"plate": "ab-1234", "event": "arrived"})
    assert response.status_code == 200
    assert response.json()["booking"] == booking.number


def test_d2_crossed_after_the_call_releases_the_deposit_once(post, world, camera, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 8))
    post(camera.secret, {"plate": "123ABC02", "event": "arrived"})

    clock.move_to(at(1, 9))
    refused = post(camera.secret, {"plate": "123ABC02", "event": "crossed"})
    assert refused.status_code == 409
    error = error_of(refused)
    assert error["code"] == "not_changeable"
    assert "waiting area" in error["message"] and "not been called" in error["message"]
    booking.refresh_from_db()
    assert booking.status == "arrived" and deposit_status(booking) == "held"

    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    clock.shift(dt.timedelta(minutes=20))
    crossed = post(camera.secret, {"plate": "123ABC02", "event": "crossed"})
    assert crossed.status_code == 200
    assert crossed.json()["status"] == "crossed"
    booking.refresh_from_db()
    assert booking.crossed_by == "device:KORDAI waiting area gate"
    assert deposit_status(booking) == "released"
    assert balances_of(world.carrier).held == 0

    clock.shift(dt.timedelta(minutes=1))
    again = post(camera.secret, {"plate": "123ABC02", "event": "crossed"})
    assert again.status_code == 200
    assert again.json() == crossed.json()
    assert HoldResolution.objects.filter(hold=booking.deposit_hold).count() == 1
    assert AuditEvent.objects.filter(action="booking.crossed").count() == 1
    assert ledger_check().ok


def test_crossed_without_arriving_is_refused_clearly(post, world, camera, clock):
    world.top_up("1000000.00")
    book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    response = post(camera.secret, {"plate": "123ABC02", "event": "crossed"})
    assert response.status_code == 409
    assert "has not checked in" in error_of(response)["message"]


def test_a_plate_with_no_active_booking_is_404(post, world, camera, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    services.booking_cancel(member=world.member, booking=booking)
    response = post(camera.secret, {"plate": "123ABC02", "event": "arrived"})
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "no_active_booking"
    assert "123ABC02" in error["message"]


def test_of_two_bookings_with_the_plate_the_one_whose_check_in_is_open_wins(
    post, world, camera, clock
):
    """The same plate on a Kazakh truck and a Kyrgyz one, booked in both directions."""
    world.top_up("10000000.00")
    kyrgyz = fleet.vehicle_register(
        member=world.member,
        plate="123ABC02",
        vin="XTA21099099999999",
        kind="truck",
        registration_country="KG",
    )
    exit_booking = book(world, start=at(1, 9))
    entry_booking = services.booking_create(
        member=world.member,
        request=services.BookingRequest(
            checkpoint_code="KORDAI",
            direction="entry",
            service="regular",
            slot_start=at(2, 15),
            vehicle_id=kyrgyz.pk,
            trailer_id=None,
            driver_ids=[world.drivers[1].pk],
        ),
    )
    clock.move_to(at(2, 13))
    response = post(camera.secret, {"plate": "123ABC02", "event": "arrived"})
    assert response.json()["booking"] == entry_booking.number
    assert Booking.objects.get(pk=exit_booking.pk).status == "confirmed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plate": "!!", "event": "arrived"}, "plate"),
        ({"plate": "", "event": "arrived"}, "plate"),
        ({"plate": "123ABC02", "event": "left"}, "event"),
        ({"plate": "123ABC02", "event": "arrived", "at": "2026-03-20T10:00:00"}, "at"),
        ({"plate": "123ABC02", "event": "arrived", "at": "yesterday"}, "at"),
        ({"plate": "123ABC02", "event": "arrived", "at": "2026-03-20T11:00:00+05:00"}, "at"),
        ({"plate": "123ABC02", "event": "arrived", "at": "2026-03-18T09:00:00+05:00"}, "at"),
    ],
)
def test_bad_events_are_400_validation_error(post, world, camera, body, field):
    response = post(camera.secret, body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert field in error["fields"], error


def test_no_rate_limit_applies_to_devices(post, world, camera, settings):
    """Even with a rate limit on every other endpoint, a camera is never throttled."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["core.throttles.PublicReadThrottle"],
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "2/min",
        },
    }
    answers = [
        post(camera.secret, {"plate": "999ZZZ02", "event": "arrived"}).status_code
        for _ in range(20)
    ]
    assert set(answers) == {404}


# --- Keys in the admin ------------------------------------------------------------------------


def registrar_person(email, role):
    user = get_user_model().objects.create_user(
        email, "x", full_name=email.split("@")[0].title(), is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def test_operator_makes_a_key_in_the_admin_sees_it_once_and_revokes_it(
    world, post, sign_in_browser
):
    operator = registrar_person("keys@registrar.kz", OPERATORS)
    browser = sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), operator)
    response = browser.post(
        "/admin/checkpoints/devicekey/add/",
        {"checkpoint": world.checkpoint.pk, "name": "Exit gate, lane 2"},
        follow=True,
    )
    assert response.status_code == 200
    (shown,) = [str(m) for m in response.context["messages"] if "not shown again" in str(m)]
    secret = re.search(r"kzd_[\w-]+", shown).group(0)
    key = DeviceKey.objects.get()
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (key.checkpoint, key.name, key.created_by) == (
        world.checkpoint,
        "Exit gate, lane 2",
        operator,
    )
    assert AuditEvent.objects.filter(action="device_key.issued", actor=operator).count() == 1

    # Never shown again: not on the list, not on the key's page.
    for url in ("/admin/checkpoints/devicekey/", f"/admin/checkpoints/devicekey/{key.pk}/change/"):
        page = browser.get(url)
        assert page.status_code == 200
        assert secret not in page.content.decode()
        assert key.prefix in page.content.decode()

    assert post(secret, {"plate": "999ZZZ02", "event": "arrived"}).status_code == 404  # it works
    response = browser.post(
        "/admin/checkpoints/devicekey/",
        {"action": "revoke", "_selected_action": [key.pk], "index": 0},
        follow=True,
    )
    assert "1 key revoked: it no longer works." in [str(m) for m in response.context["messages"]]
    assert post(secret, {"plate": "999ZZZ02", "event": "arrived"}).status_code == 401
    assert browser.get(f"/admin/checkpoints/devicekey/{key.pk}/delete/").status_code == 403


def test_staff_and_auditors_do_not_make_keys(world, camera, sign_in_browser, staff):
    staff.groups.add(Group.objects.get(name=CHECKPOINT_STAFF))
    officer = sign_in_browser(Client(), staff)
    assert officer.get("/admin/checkpoints/devicekey/").status_code == 403
    assert officer.get("/admin/checkpoints/devicekey/add/").status_code == 403
    auditor = sign_in_browser(Client(), registrar_person("audit@registrar.kz", AUDITORS))
    listing = auditor.get("/admin/checkpoints/devicekey/")
    assert listing.status_code == 200
    assert camera.secret not in listing.content.decode()
    assert auditor.get("/admin/checkpoints/devicekey/add/").status_code == 403
    assert not listing.context["cl"].model_admin.get_actions(listing.wsgi_request)
