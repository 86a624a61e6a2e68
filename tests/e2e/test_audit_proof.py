"""W6 in a browser: the carrier downloads a booking's audit proof from the booking page; anyone
uploads it on the public check page, without signing in, and reads "valid"; a file changed by
one byte is "not valid". `verify_proof` says the same of the file as downloaded, and of it with
one byte of the event or of the head changed. The heads page shows the head the proof ends on,
also in Kazakh on a phone. axe-core finds no serious issue on the new pages.

The chain is sealed and the head published by the portal's own jobs (core.audit), on the live
server's real clock."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from core import audit
from core.clock import ALMATY
from core.models import AuditHeadPublication
from tests.core.test_w6_proofs import _one_byte_changed
from tests.e2e.conftest import artifacts_of
from tests.e2e.test_accessibility import AXE, axe_violations, check_title_and_landmarks
from tests.worlds import book, make_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _problems(page, where: str) -> list[str]:
    if not AXE.exists():
        return []
    return check_title_and_landmarks(page, where) + axe_violations(page, where)


def test_w6_carrier_downloads_the_proof_and_anyone_checks_it_valid(
    chromium, live_server, signed_in_page, fake_twilio, request
):
    shots = artifacts_of(request)
    world = make_world(fake_twilio)
    world.top_up("200000.00")
    tomorrow = timezone.now().astimezone(ALMATY).date() + dt.timedelta(days=1)
    booking = book(world, start=dt.datetime.combine(tomorrow, dt.time(9), tzinfo=ALMATY))
    audit.seal_all()
    publication = audit.publish_head()
    problems: list[str] = []

    carrier = signed_in_page(world.member.user, "carrier", accept_downloads=True, bypass_csp=True)
    carrier.goto(f"/cabinet/bookings/{booking.pk}/")
    with carrier.expect_download() as download:
        carrier.get_by_role("link", name="Download the audit proof (JSON)").click()
    proof = shots / download.value.suggested_filename
    download.value.save_as(proof)
    assert proof.name == f"kezek-proof-{booking.number}.json"
    carrier.snap("booking-page")

    # The file as downloaded checks out with the command, and fails once one byte of its event
    # or of its head is changed.
    report = io.StringIO()
    call_command("verify_proof", str(proof), stdout=report)
    assert report.getvalue().startswith(f"valid: the proof of bookings.booking {booking.pk}")
    raw = proof.read_bytes()
    for needle in (b"booking.created", publication.batch_hash.encode()):
        changed = shots / "one-byte-changed.json"
        changed.write_bytes(_one_byte_changed(raw, needle))
        with pytest.raises(CommandError, match=r"^NOT valid: "):
            call_command("verify_proof", str(changed), stdout=io.StringIO())

    context = chromium.new_context(base_url=live_server.url, locale="en-US", bypass_csp=True)
    context.set_default_timeout(15_000)
    anyone = context.new_page()
    try:
        anyone.goto("/transparency/")
        anyone.get_by_role("heading", name="Audit chain: published daily heads").wait_for()
        assert publication.batch_hash in anyone.content()
        anyone.screenshot(path=str(shots / "anyone-01-heads.png"), full_page=True)
        problems += _problems(anyone, "/transparency/")

        anyone.get_by_role("link", name="Check a proof").click()
        anyone.get_by_role("heading", name="Check an audit proof").wait_for()
        problems += _problems(anyone, "/transparency/check/")
        anyone.get_by_label("Proof file").set_input_files(str(proof))
        anyone.get_by_role("button", name="Check the proof").click()
        anyone.get_by_role("heading", name="The proof is valid").wait_for()
        assert "booking.created" in anyone.content()
        anyone.screenshot(path=str(shots / "anyone-02-valid.png"), full_page=True)
        problems += _problems(anyone, "/transparency/check/ valid")

        raw = proof.read_bytes()
        where = raw.index(b"booking.created")
        tampered = shots / "tampered.json"
        tampered.write_bytes(raw[:where] + b"B" + raw[where + 1 :])
        anyone.get_by_label("Proof file").set_input_files(str(tampered))
        anyone.get_by_role("button", name="Check the proof").click()
        anyone.get_by_role("heading", name="The proof is not valid").wait_for()
        assert "does not match its hash" in anyone.content()
        anyone.screenshot(path=str(shots / "anyone-03-not-valid.png"), full_page=True)
        problems += _problems(anyone, "/transparency/check/ not valid")

        not_json = shots / "not-a-proof.json"
        not_json.write_bytes(b'{"format": ')
        anyone.get_by_label("Proof file").set_input_files(str(not_json))
        anyone.get_by_role("button", name="Check the proof").click()
        anyone.get_by_text("The file is not valid JSON").wait_for()
        problems += _problems(anyone, "/transparency/check/ with an error")
    finally:
        context.close()

    phone = chromium.new_context(base_url=live_server.url, locale="kk-KZ", **PHONE)
    try:
        kazakh = phone.new_page()
        kazakh.context.add_cookies(
            [{"name": "django_language", "value": "kk", "url": live_server.url}]
        )
        kazakh.goto("/transparency/")
        assert kazakh.locator("html").get_attribute("lang") == "kk"
        assert AuditHeadPublication.objects.get().batch_hash in kazakh.content()
        kazakh.screenshot(path=str(shots / "phone-kk-heads.png"), full_page=True)
        kazakh.goto("/transparency/check/")
        kazakh.screenshot(path=str(shots / "phone-kk-check.png"), full_page=True)
    finally:
        phone.close()

    assert not problems, "\n".join(problems)
