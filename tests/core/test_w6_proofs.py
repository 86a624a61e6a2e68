"""W6 (with A6): a carrier downloads, for each of its bookings, the proof that the booking's audit
events are in a published daily head; anyone checks it with `verify_proof` or on the public
check page; the heads are public (page and API). The chain is sealed and the head published with
the portal's own commands; PostgreSQL refuses edits to those rows, so tampering is done to the
proof file, one byte at a time."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from bookings import services
from core import audit, proofs
from core.models import AuditHeadPublication
from tests.worlds import at, book, make_other_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(world):
    world.top_up("100000000.00")
    return book(world, start=at(1, 9))


class Owner:
    """The carrier's owner, signed in anew for each request: the tests move the clock by hours,
    past a session's life (A3)."""

    def __init__(self, user, sign_in_browser):
        self.user, self.sign_in_browser = user, sign_in_browser

    def get(self, *args, **kwargs):
        client = self.sign_in_browser(Client(HTTP_ACCEPT_LANGUAGE="en"), self.user)
        return client.get(*args, **kwargs)


@pytest.fixture
def owner(world, sign_in_browser):
    return Owner(world.member.user, sign_in_browser)


def _seal_and_publish(clock, *, day_offset: int = 1):
    """seal_audit now, then publish_audit_head at 00:05 of the next day, as beat does."""
    call_command("seal_audit", stdout=io.StringIO())
    clock.move_to(at(day_offset, 0).replace(minute=5))
    call_command("publish_audit_head", stdout=io.StringIO())


def _download(owner, booking) -> bytes:
    response = owner.get(f"/cabinet/bookings/{booking.pk}/proof.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert f'filename="kezek-proof-{booking.number}.json"' in response["Content-Disposition"]
    assert response["Cache-Control"] == "private, no-store"
    return response.content


def _verify_file(tmp_path, raw: bytes, *args) -> str:
    path = tmp_path / "proof.json"
    path.write_bytes(raw)
    out = io.StringIO()
    call_command("verify_proof", str(path), *args, stdout=out)
    return out.getvalue()


def _one_byte_changed(raw: bytes, needle: bytes) -> bytes:
    """`raw` with the first byte of the first `needle` in it replaced by another byte."""
    at_ = raw.index(needle)
    replacement = b"0" if raw[at_ : at_ + 1] != b"0" else b"1"
    changed = raw[:at_] + replacement + raw[at_ + 1 :]
    assert len(changed) == len(raw) and sum(a != b for a, b in zip(raw, changed, strict=True)) == 1
    return changed


def test_w6_proof_of_a_real_booking_checks_out_with_verify_proof(
    world, booking, owner, clock, tmp_path
):
    _seal_and_publish(clock)
    raw = _download(owner, booking)
    document = json.loads(raw)
    assert document["subject"] == {
        "object_type": "bookings.booking",
        "object_id": str(booking.pk),
        "label": booking.number,
    }
    (head,) = document["heads"]
    publication = AuditHeadPublication.objects.get()
    assert (head["day"], head["batch_hash"]) == ("2026-03-21", publication.batch_hash)
    assert [json.loads(e["canonical"])["action"] for e in head["events"]] == ["booking.created"]
    assert document["pending"] == []

    report = _verify_file(tmp_path, raw)
    assert report.startswith(f"valid: the proof of bookings.booking {booking.pk}")
    assert "the same as published here" in report and "booking.created" in report
    # The file alone (no database of this portal): valid, with the head to compare by hand.
    offline = _verify_file(tmp_path, raw, "--offline")
    assert "valid" in offline and publication.batch_hash in offline
    assert "compare it with the published head" in offline


def test_w6_proof_fails_after_one_byte_of_the_event_is_changed(
    world, booking, owner, clock, tmp_path
):
    _seal_and_publish(clock)
    raw = _download(owner, booking)
    for needle in (b"booking.created", b"occurred_at", b'after\\":{'):
        with pytest.raises(CommandError) as refusal:
            _verify_file(tmp_path, _one_byte_changed(raw, needle))
        assert str(refusal.value).startswith("NOT valid: Event #")
    # The event's hash itself changed: the content no longer matches it.
    event_hash = json.loads(raw)["heads"][0]["events"][0]["event_hash"].encode()
    with pytest.raises(CommandError, match="does not match its hash"):
        _verify_file(tmp_path, _one_byte_changed(raw, event_hash))


def test_w6_proof_fails_after_one_byte_of_the_head_is_changed(
    world, booking, owner, clock, tmp_path
):
    _seal_and_publish(clock)
    raw = _download(owner, booking)
    head_hash = json.loads(raw)["heads"][0]["batch_hash"].encode()
    assert raw.index(head_hash) < raw.index(b'"chain"')  # the first one is the head's own
    changed = _one_byte_changed(raw, head_hash)
    with pytest.raises(CommandError, match="does not lead to the head's hash"):
        _verify_file(tmp_path, changed, "--offline")
    with pytest.raises(CommandError, match="NOT valid"):
        _verify_file(tmp_path, changed)
    # A root of the chain changed: it no longer ends on the head either.
    root = json.loads(raw)["heads"][0]["chain"]["merkle_roots"][0].encode()
    with pytest.raises(CommandError, match="does not lead to the head's hash"):
        _verify_file(tmp_path, _one_byte_changed(raw, root))


def test_w6_a_consistent_proof_on_a_head_never_published_here_fails(
    world, booking, owner, clock, tmp_path
):
    _seal_and_publish(clock)
    document = json.loads(_download(owner, booking))
    document["heads"][0]["day"] = "2026-03-25"  # self-consistent, but not what was published
    raw = json.dumps(document).encode()
    assert "valid" in _verify_file(tmp_path, raw, "--offline")
    with pytest.raises(CommandError, match="No head was published here for 2026-03-25"):
        _verify_file(tmp_path, raw)


def test_w6_events_not_yet_published_are_listed_as_pending(world, booking, owner, clock, tmp_path):
    _seal_and_publish(clock)
    clock.move_to(at(1, 8))
    services.driver_link_renew(member=world.member, booking=booking)
    document = json.loads(_download(owner, booking))
    assert len(document["heads"]) == 1
    (pending,) = document["pending"]
    assert pending["state"] == "unsealed" and pending["batch"] is None
    assert json.loads(pending["canonical"])["action"] == "booking.driver_link_renewed"
    report = _verify_file(tmp_path, json.dumps(document).encode())
    assert "1 event(s) not in a published head yet" in report and "not sealed yet" in report

    audit.seal_all()
    document = json.loads(_download(owner, booking))
    (pending,) = document["pending"]
    assert pending["state"] == "sealed" and pending["batch"]["number"] == 2
    assert "sealed in batch #2" in _verify_file(tmp_path, json.dumps(document).encode())

    clock.move_to(at(2, 0).replace(minute=5))
    call_command("publish_audit_head", stdout=io.StringIO())
    document = json.loads(_download(owner, booking))
    assert document["pending"] == []
    assert [head["day"] for head in document["heads"]] == ["2026-03-21", "2026-03-22"]
    report = _verify_file(tmp_path, json.dumps(document).encode())
    assert "2 event(s) proven" in report and "not in a published head" not in report


def test_w6_a_booking_not_yet_sealed_has_a_proof_of_pending_events_only(
    world, booking, owner, tmp_path
):
    document = json.loads(_download(owner, booking))
    assert document["heads"] == [] and len(document["pending"]) == 1
    check = proofs.verify_proof(document, published=proofs.published_head_hash)
    assert check.valid and not check.proven and len(check.pending) == 1


def test_w6_another_carrier_gets_404_for_the_proof(world, booking, fake_twilio, sign_in_browser):
    other = make_other_world(fake_twilio)
    stranger = sign_in_browser(Client(), other.member.user)
    assert stranger.get(f"/cabinet/bookings/{booking.pk}/proof.json").status_code == 404
    answer = stranger.get(f"/api/v1/bookings/{booking.pk}/proof")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert Client().get(f"/api/v1/bookings/{booking.pk}/proof").status_code in (401, 403)


def test_w6_the_api_serves_the_same_proof(world, booking, owner, clock):
    _seal_and_publish(clock)
    answer = owner.get(f"/api/v1/bookings/{booking.pk}/proof")
    assert answer.status_code == 200
    document = answer.json()
    from_page = json.loads(_download(owner, booking))
    assert {**document, "generated_at": None} == {**from_page, "generated_at": None}
    assert proofs.verify_proof(document, published=proofs.published_head_hash).valid


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([], "This file is not a Kezek audit proof."),
        ({"format": "kezek-audit-proof", "version": 2}, "format version 2"),
        (
            {"format": "kezek-audit-proof", "version": 1, "subject": {}},
            "does not say which object",
        ),
        (
            {
                "format": "kezek-audit-proof",
                "version": 1,
                "subject": {"object_type": "bookings.booking", "object_id": "1"},
                "heads": [],
                "pending": [],
            },
            "holds no events",
        ),
    ],
)
def test_w6_malformed_proofs_say_why(document, reason):
    check = proofs.verify_proof(document)
    assert not check.valid and reason in check.problem


def test_w6_an_event_of_another_object_or_listed_twice_is_refused(world, booking, owner, clock):
    _seal_and_publish(clock)
    document = json.loads(_download(owner, booking))
    document["subject"]["object_id"] = "999999"
    assert "another object" in proofs.verify_proof(document).problem
    document = json.loads(_download(owner, booking))
    document["pending"] = [{**document["heads"][0]["events"][0], "state": "unsealed"}]
    assert "listed twice" in proofs.verify_proof(document).problem


# --- The public pages and API -----------------------------------------------------------------


def test_w6_heads_api_lists_the_published_heads_cached_and_paged_by_date(world, booking, clock):
    _seal_and_publish(clock)
    publication = AuditHeadPublication.objects.get()
    anyone = Client()
    answer = anyone.get("/api/v1/audit/heads")
    assert answer.status_code == 200
    body = answer.json()
    assert body["until"] == "2026-03-21" and body["first_day"] == "2026-02-19"
    assert body["heads"] == [
        {
            "day": "2026-03-21",
            "batch_number": publication.batch.number,
            "batch_hash": publication.batch_hash,
            "published_at": "2026-03-21T00:05:00+05:00",
            "sealed_at": "2026-03-20T10:00:00+05:00",
        }
    ]
    assert body["older"] is None and body["newer"] is None
    assert "public" in answer["Cache-Control"] and answer["ETag"]
    again = anyone.get("/api/v1/audit/heads", HTTP_IF_NONE_MATCH=answer["ETag"])
    assert again.status_code == 304

    earlier = anyone.get("/api/v1/audit/heads", {"until": "2026-03-01"}).json()
    assert earlier["heads"] == [] and earlier["newer"].endswith("until=2026-03-21")
    assert anyone.get("/api/v1/audit/heads", {"until": "21.03.2026"}).status_code == 400
    for edge in ("0001-01-01", "9999-12-31"):
        assert anyone.get("/api/v1/audit/heads", {"until": edge}).status_code == 200
        assert anyone.get("/transparency/", {"until": edge}).status_code == 200
    one = anyone.get("/api/v1/audit/heads/2026-03-21")
    assert one.status_code == 200 and one.json()["batch_hash"] == publication.batch_hash
    assert anyone.get("/api/v1/audit/heads/2026-03-22").status_code == 404
    assert anyone.get("/api/v1/audit/heads/yesterday").status_code == 404


def test_w6_the_heads_are_in_the_openapi_schema():
    schema = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/audit/heads", "/api/v1/audit/heads/{day}", "/api/v1/bookings/{id}/proof"):
        assert path in schema["paths"] or path.replace("{id}", "{pk}") in schema["paths"], path


@pytest.mark.parametrize(
    ("language", "words"),
    [("kk", "Бүгінгі кірулер"), ("ru", "Посещений сегодня"), ("en", "Visits today")],
)
def test_w6_heads_page_renders_in_each_language(world, booking, clock, language, words):
    _seal_and_publish(clock)
    publication = AuditHeadPublication.objects.get()
    anyone = Client()
    anyone.cookies["django_language"] = language
    page = anyone.get("/transparency/")
    assert page.status_code == 200 and page["Content-Language"] == language
    text = page.content.decode()
    assert f'<html lang="{language}">' in text and words in text
    assert publication.batch_hash in text and "21.03.2026" in text
    # A public read: revalidated by its ETag, answered 304 while nothing changed. The first
    # answer gave the visitor its cookies (CSRF, the day's visit), which the page depends on.
    assert "private" in page["Cache-Control"] and page["ETag"]
    page = anyone.get("/transparency/")
    assert anyone.get("/transparency/", HTTP_IF_NONE_MATCH=page["ETag"]).status_code == 304
    anyone.cookies["django_language"] = "en" if language != "en" else "kk"
    assert anyone.get("/transparency/", HTTP_IF_NONE_MATCH=page["ETag"]).status_code == 200
    older = anyone.get("/transparency/", {"until": "2026-02-01"})
    assert publication.batch_hash not in older.content.decode()
    assert anyone.get("/transparency/", {"until": "1.2.2026"}).status_code == 400


def _upload(client, raw: bytes, name: str = "proof.json"):
    return client.post(
        "/transparency/check/",
        {"proof": SimpleUploadedFile(name, raw, content_type="application/json")},
    )


@pytest.mark.parametrize(
    ("language", "words"),
    [("kk", "Бүгінгі кірулер"), ("ru", "Посещений сегодня"), ("en", "Visits today")],
)
def test_w6_check_page_gives_the_verdict_in_each_language(
    world, booking, owner, clock, language, words
):
    _seal_and_publish(clock)
    raw = _download(owner, booking)
    anyone = Client()
    anyone.cookies["django_language"] = language
    form = anyone.get("/transparency/check/")
    assert form.status_code == 200 and f'<html lang="{language}">' in form.content.decode()
    assert words in form.content.decode()
    assert 'enctype="multipart/form-data"' in form.content.decode()
    with translation.override(language):
        valid, not_valid = gettext("The proof is valid"), gettext("The proof is not valid")
    answer = _upload(anyone, raw)
    assert answer.status_code == 200 and valid in answer.content.decode()
    assert "booking.created" in answer.content.decode()
    tampered = _upload(anyone, _one_byte_changed(raw, b"booking.created"))
    assert tampered.status_code == 200 and not_valid in tampered.content.decode()


def test_w6_check_page_explains_a_file_that_is_no_proof(client, settings):
    client.cookies["django_language"] = "en"
    answer = _upload(client, b'{"format": "kezek-audit-proof", "version": 1,')
    assert answer.status_code == 400
    assert "The file is not valid JSON (line 1): it was cut or changed." in answer.content.decode()
    assert "not text in UTF-8" in _upload(client, b"\xff\xfe\x00").content.decode()
    assert "Choose the proof file to check." in client.post("/transparency/check/").content.decode()
    big = b" " * (proofs.MAX_PROOF_BYTES + 1)
    assert "larger than 10 MB" in _upload(client, big).content.decode()
    not_a_proof = _upload(client, b'{"hello": 1}')
    assert not_a_proof.status_code == 200
    assert "This file is not a Kezek audit proof." in not_a_proof.content.decode()


def test_w6_check_page_is_rate_limited(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "proof_check": "2/min",
        },
    }
    from django.core.cache import cache

    cache.clear()
    statuses = [_upload(client, b"{}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_w6_the_booking_page_links_the_proof(world, booking, owner):
    text = owner.get(f"/cabinet/bookings/{booking.pk}/").content.decode()
    assert f'href="/cabinet/bookings/{booking.pk}/proof.json" download' in text
    assert 'href="/transparency/check/"' in text


def test_w6_every_page_links_the_published_heads(client):
    for path in ("/faq/", "/transparency/check/"):
        assert 'href="/transparency/"' in client.get(path).content.decode(), path


def test_w6_a_proof_names_no_person_and_no_address_yet_binds_them(
    world, booking, owner, clock, tmp_path
):
    """A6/W6: who acted and from where are committed to (`person`), not shown: the carrier's
    proof carries no name, e-mail or IP, and the full chain check still covers them."""
    audit.record(
        "booking.test_staff_step", actor=world.member.user, target=booking, ip="203.0.113.7"
    )
    _seal_and_publish(clock)
    raw = _download(owner, booking)
    text = raw.decode()
    person = world.member.user
    for secret in (person.email, person.full_name, "203.0.113.7", '"actor_id'):
        assert secret not in text
    for entry in json.loads(raw)["heads"][0]["events"]:
        assert len(json.loads(entry["canonical"])["person"]) == 64
    assert _verify_file(tmp_path, raw).startswith("valid")
    # The salt is kept with the event: the registrar's full check recomputes `person`.
    event = booking_events(booking).last()
    assert audit.compute_event_hash(event) == event.event_hash
    event.ip = "198.51.100.1"
    assert audit.compute_event_hash(event) != event.event_hash


def booking_events(booking):
    from core.models import AuditEvent

    return AuditEvent.objects.filter(
        object_type="bookings.booking", object_id=str(booking.pk)
    ).order_by("pk")
