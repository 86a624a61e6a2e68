"""O1: a checkpoint's devices keep a signed manifest of its bookings from 6 hours ago to 48 hours
ahead. GET /api/v1/checkpoints/<code>/manifest answers it to the checkpoint's device keys and to
its staff signed in with both factors, signed with the portal's Ed25519 key (issue time,
sequence, key id inside the signed bytes); /api/v1/manifest-keys lists the current and the
previous public key; `rotate_manifest_key` rotates; the private keys are files, never rows."""

import base64
import datetime as dt
import json
import stat

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from checkpoint_queue import manifest
from checkpoints.models import Checkpoint, DeviceReport
from checkpoints.services import device_key_issue
from core.models import AuditEvent
from tests.worlds import NOW, at, book, officer_at, trucks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

URL = "/api/v1/checkpoints/KORDAI/manifest"
KEYS = "/api/v1/manifest-keys"
DEVICE = "screen-0123456789abcdef"


def verified(answer: dict, keys: dict) -> dict:
    """The manifest, verified as the browser does: the key named must be an accepted one and the
    signature must be valid over the exact bytes of `payload`; only then is it parsed."""
    key = keys[answer["key_id"]]
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(
        base64.b64decode(answer["signature"]), answer["payload"].encode("utf-8")
    )
    return json.loads(answer["payload"])


def accepted_keys(client=None) -> dict:
    answer = (client or Client()).get(KEYS).json()
    return {key["key_id"]: key["public_key"] for key in answer["keys"]}


def test_o1_a_device_key_gets_the_signed_manifest_of_its_checkpoint(world, device_client, clock):
    booking = book(world, start=at(0, 13), trailer=world.trailer, drivers=world.drivers[:2])
    answer = device_client.get(URL)
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["format"] == "kezek-manifest/1"
    document = verified(body, accepted_keys())
    assert document["key_id"] == body["key_id"]
    assert document["checkpoint"]["code"] == "KORDAI"
    assert document["issued_at"] == "2026-03-20T05:00:00.000000Z"  # 10:00 Almaty
    assert document["sequence"] == 1
    (entry,) = document["bookings"]
    assert entry == {
        "number": booking.number,
        "qr": booking.number,
        "plate": "123ABC02",
        "plate_display": "123 ABC 02",
        "vin_tail": "345678",
        "carrier": world.carrier.name,
        "direction": "exit",
        "service": "regular",
        "slot_start": "2026-03-20T08:00:00.000000Z",
        "slot_end": "2026-03-20T09:00:00.000000Z",
        "booked_at": manifest.utc_text(booking.created_at),
        "status": "confirmed",
        "arrived_at": None,
        "called_at": None,
        "crossed_at": None,
        "drivers": [
            {"name": "Yerlan Driver", "citizenship": "KZ", "identity": "••••4567"},
            {"name": "Asel Driver", "citizenship": "KZ", "identity": "••••4321"},
        ],
        "trailer": {"plate": "AB1234", "vin_tail": "123456"},
        "document": None,
    }
    # The next manifest takes the next number; the device is on record at the checkpoint.
    second = verified(device_client.get(URL).json(), accepted_keys())
    assert second["sequence"] == 2
    report = DeviceReport.objects.get()
    assert (report.device, report.name, report.manifest_sequence) == (
        f"key:{report.device_key_id}",
        "KORDAI gate tablet",
        2,
    )


def test_o1_the_signed_bytes_are_canonical_json(world, device_client, clock):
    book(world, start=at(0, 13))
    body = device_client.get(URL).json()
    document = json.loads(body["payload"])
    assert body["payload"] == manifest.canonical(document).decode()
    assert body["payload"].isascii()
    assert '", "' not in body["payload"] and '": ' not in body["payload"]
    assert list(document) == sorted(document)


def test_o1_one_byte_changed_or_another_key_does_not_verify(world, device_client, clock):
    book(world, start=at(0, 13))
    body = device_client.get(URL).json()
    keys = accepted_keys()
    tampered = dict(body, payload=body["payload"].replace('"confirmed"', '"crossed__"'))
    with pytest.raises(InvalidSignature):
        verified(tampered, keys)
    with pytest.raises(KeyError):
        verified(dict(body, key_id="0000000000000000"), keys)


def test_o1_the_manifest_holds_6_hours_back_to_48_ahead_and_the_waiting_area(
    world, device_client, clock, staff
):
    from checkpoint_queue import services as queue

    fleet = trucks(world, 5)
    clock.move_to(NOW - dt.timedelta(hours=20))
    waiting_long = book(world, vehicle=fleet[0], start=at(0, 1))  # 01:00, arrived, still waiting
    gone = book(world, vehicle=fleet[1], start=at(0, 2))  # 02:00-03:00: ended 7 h before 10:00
    clock.move_to(NOW - dt.timedelta(hours=8, minutes=30))
    queue.booking_mark_arrived(booking=waiting_long, actor=staff)
    clock.move_to(NOW)
    recent = book(world, vehicle=fleet[2], start=at(1, 9))
    inside = book(world, vehicle=fleet[3], start=at(2, 9))  # 47 h ahead
    beyond = book(world, vehicle=fleet[4], start=at(2, 11))  # 49 h ahead
    document = verified(device_client.get(URL).json(), accepted_keys())
    numbers = {entry["number"] for entry in document["bookings"]}
    assert numbers == {waiting_long.number, recent.number, inside.number}
    assert gone.number not in numbers and beyond.number not in numbers
    assert document["covers"] == {
        "from": "2026-03-19T23:00:00.000000Z",
        "to": "2026-03-22T05:00:00.000000Z",
    }


def test_o1_staff_of_the_checkpoint_get_it_signed_in_others_do_not(
    world, officer_client, sign_in_browser, operator, clock
):
    answer = officer_client.get(URL, {"device": DEVICE})
    assert answer.status_code == 200, answer.content
    report = DeviceReport.objects.get(device=f"screen:{DEVICE}")
    assert report.user.email == "officer@kordai.kz"
    # A browser names itself.
    assert officer_client.get(URL).json()["error"]["code"] == "validation_error"
    # Another checkpoint's officer, a carrier, nobody.
    other = officer_at(Checkpoint.objects.get(code="KARASU"), email="officer@karasu.kz")
    assert sign_in_browser(Client(), other).get(URL, {"device": DEVICE}).status_code == 403
    carrier = sign_in_browser(Client(), world.member.user)
    assert carrier.get(URL, {"device": DEVICE}).status_code == 403
    assert Client().get(URL, {"device": DEVICE}).status_code in (401, 403)
    # A device key of another checkpoint.
    karasu = device_key_issue(
        checkpoint=Checkpoint.objects.get(code="KARASU"), name="KARASU gate", actor=operator
    )
    answer = Client(HTTP_AUTHORIZATION=f"Device {karasu.secret}").get(URL)
    assert answer.status_code == 403


def test_o1_rotation_keeps_the_previous_key_accepted_and_drops_the_one_before(
    world, device_client, manifest_key_dir, clock, capsys
):
    before = device_client.get(URL).json()
    call_command("rotate_manifest_key")
    keys = accepted_keys()
    assert len(keys) == 2 and before["key_id"] in keys
    verified(before, keys)  # signed before the rotation, still accepted
    after = device_client.get(URL).json()
    assert after["key_id"] != before["key_id"]
    verified(after, keys)
    roles = {key["key_id"]: key["role"] for key in Client().get(KEYS).json()["keys"]}
    assert roles == {after["key_id"]: "current", before["key_id"]: "previous"}
    call_command("rotate_manifest_key")
    keys = accepted_keys()
    assert before["key_id"] not in keys and after["key_id"] in keys
    with pytest.raises(KeyError):
        verified(before, keys)
    # The private keys are files only their owner reads, in a folder only its owner enters.
    assert stat.S_IMODE(manifest_key_dir.stat().st_mode) == 0o700
    pems = sorted(manifest_key_dir.glob("*.pem"))
    assert len(pems) == 2
    assert all(stat.S_IMODE(pem.stat().st_mode) == 0o600 for pem in pems)
    # Each rotation is audited with the new public key (public facts only).
    rotations = AuditEvent.objects.filter(action="manifest_key.rotated").order_by("pk")
    assert [event.after["current"] for event in rotations][-1] in keys
    assert "PRIVATE" not in json.dumps([event.after for event in rotations])
    call_command("rotate_manifest_key", "--if-missing")
    assert "nothing made" in capsys.readouterr().out


def test_o1_no_private_key_is_in_the_database(world, device_client, manifest_key_dir, clock):
    device_client.get(URL)
    secret = next(manifest_key_dir.glob("*.pem")).read_text().splitlines()[1]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - the database's own names
            assert secret not in repr(cursor.fetchall()), table


def test_o1_without_a_signing_key_the_manifest_is_refused_plainly(
    world, device_client, settings, tmp_path, clock
):
    settings.MANIFEST_KEY_DIR = str(tmp_path / "none")
    answer = device_client.get(URL)
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "manifest_key_missing"
    assert Client().get(KEYS).json() == {"keys": []}


def test_o1_the_manifest_takes_the_same_queries_for_2_bookings_or_12(world, device_client, clock):
    fleet = trucks(world, 12)
    for truck in fleet[:2]:
        book(world, vehicle=truck, start=at(1, 9), drivers=world.drivers[:2])
    device_client.get(URL)  # the device's record and the counter exist from here on

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            answer = device_client.get(URL)
        assert answer.status_code == 200
        return len(captured)

    few = queries()
    for truck in fleet[2:]:
        book(world, vehicle=truck, start=at(1, 10), trailer=None, drivers=world.drivers[:3])
    assert len(json.loads(device_client.get(URL).json()["payload"])["bookings"]) == 12
    assert queries() == few
