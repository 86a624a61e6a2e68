"""Managing second factors (A2): an authenticator app set up with a QR code, removing factors
(never the last one), and telling the person of every change by SMS and Telegram (A6: audited)."""

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import transaction
from django.utils import translation
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa import services
from auth2fa.models import BackupCodeDevice, SmsDevice, TelegramDevice
from core.errors import ApplicationError
from core.models import AuditEvent
from notify.models import Message
from tests.auth2fa.factories import PASSWORD, T0, registered_person

# Notices go through the outbox (A8); `eager` delivers them right after commit.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

CHAT = 700100200


class LanguageProbe:
    """Stands in for a message: shows the language active when the message is rendered."""

    def __str__(self) -> str:
        return f"[{translation.get_language()}] %(factor)s"


@pytest.fixture
def person(fake_twilio):
    """A person who reads Kezek in English, so the tests can read the messages."""
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        person = registered_person(fake_twilio)
    person.language = "en"
    person.save(update_fields=["language"])
    return person


def app_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, t0=device.t0, step=device.step, digits=device.digits):06d}"


def add_totp(person, commit) -> TOTPDevice:
    enrollment = services.totp_enroll_start(user=person)
    with commit():
        return services.totp_enroll_confirm(
            user=person, device_id=enrollment.device.pk, code=app_code(enrollment.device)
        )


def link_telegram(person, commit, chat_id=CHAT) -> TelegramDevice:
    link = services.telegram_link_start(user=person)
    with commit():
        outcome = services.telegram_link_complete(token=link.url.split("=", 1)[1], chat_id=chat_id)
    assert outcome == "linked"
    return TelegramDevice.objects.get(user=person)


def sms_to(fake_twilio, person) -> list[str]:
    return [m["Body"] for m in fake_twilio.messages if m["To"] == person.phone]


# --- Authenticator app ---------------------------------------------------------------------------


def test_a2_totp_enroll_start_gives_an_otpauth_url_and_a_qr_code(person, clock):
    enrollment = services.totp_enroll_start(user=person)
    device = enrollment.device
    assert device.confirmed is False
    url = urlsplit(enrollment.otpauth_url)
    assert (url.scheme, url.netloc) == ("otpauth", "totp")
    assert url.path == "/Kezek%3Aaigerim%40steppe.kz"
    query = parse_qs(url.query)
    assert query["issuer"] == ["Kezek"] and query["digits"] == ["6"] and query["period"] == ["30"]
    assert query["secret"][0].rstrip("=") == enrollment.secret
    assert enrollment.qr_svg.startswith("<svg") and enrollment.qr_svg.endswith("</svg>")
    # Not a factor until confirmed with a code from the app.
    assert services.factors_of(person) == ["sms"]
    assert AuditEvent.objects.filter(action="auth.totp_enroll_started", actor=person).exists()


def test_a2_totp_enroll_confirm_with_a_code_from_the_app(person, fake_twilio, commit, clock):
    device = add_totp(person, commit)
    device.refresh_from_db()
    assert device.confirmed is True
    assert services.factors_of(person) == ["sms", "totp"]
    event = AuditEvent.objects.get(action="auth.factor_added")
    assert (event.actor_id, event.after) == (person.pk, {"factor": "totp", "device": device.pk})
    [sms] = sms_to(fake_twilio, person)
    assert "added" in sms and "authenticator app" in sms
    # It signs in from the next 30-second step on (the confirming code is spent).
    clock.shift(30)
    started = services.sign_in_with_password(username=person.email, password=PASSWORD)
    signed_in = services.sign_in_verify(
        challenge=started.challenge, factor="totp", code=app_code(device)
    )
    assert signed_in.user == person


def test_a2_totp_enroll_refuses_a_wrong_code(person, fake_twilio, clock):
    enrollment = services.totp_enroll_start(user=person)
    wrong = f"{(int(app_code(enrollment.device)) + 1) % 1_000_000:06d}"
    with pytest.raises(ApplicationError) as refusal:
        services.totp_enroll_confirm(user=person, device_id=enrollment.device.pk, code=wrong)
    assert (refusal.value.code, refusal.value.status) == ("invalid_code", 400)
    enrollment.device.refresh_from_db()
    assert enrollment.device.confirmed is False
    assert enrollment.device.throttling_failure_count == 1  # django-otp's throttle kept the try
    assert services.factors_of(person) == ["sms"]
    assert fake_twilio.messages == []


def test_a2_totp_enroll_of_another_person_is_not_found(person, fake_twilio, clock):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        other = registered_person(
            fake_twilio,
            iin_bin="230140012350",
            iin="900101300126",
            phone="+77017654321",
            email="bolat@steppe.kz",
        )
    enrollment = services.totp_enroll_start(user=other)
    with pytest.raises(ApplicationError) as refusal:
        services.totp_enroll_confirm(
            user=person, device_id=enrollment.device.pk, code=app_code(enrollment.device)
        )
    assert refusal.value.status == 404


def test_a2_a_new_authenticator_app_replaces_the_old_one(person, fake_twilio, commit, clock):
    old = add_totp(person, commit)
    fake_twilio.messages.clear()
    clock.shift(60)
    new = add_totp(person, commit)
    assert list(TOTPDevice.objects.filter(user=person)) == [new]
    assert TOTPDevice.objects.filter(pk=old.pk).count() == 0
    [sms] = sms_to(fake_twilio, person)
    assert "replaced" in sms
    event = AuditEvent.objects.filter(action="auth.factor_added").latest("id")
    assert event.before == {"factor": "totp", "devices": [old.pk]}


def test_a2_starting_over_drops_an_unfinished_totp_set_up(person, clock):
    first = services.totp_enroll_start(user=person)
    services.totp_enroll_start(user=person)
    assert TOTPDevice.objects.filter(user=person).count() == 1
    with pytest.raises(ApplicationError) as refusal:
        services.totp_enroll_confirm(
            user=person, device_id=first.device.pk, code=app_code(first.device)
        )
    assert refusal.value.code == "not_found"


# --- Removing factors ----------------------------------------------------------------------------


def test_a2_last_second_factor_cannot_be_removed(person, fake_twilio, commit, clock):
    # Backup codes do not count: they are a spare that runs out.
    services.backup_codes_generate(user=person)
    fake_twilio.messages.clear()
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="sms")
    assert (refusal.value.code, refusal.value.status) == ("last_factor", 409)
    assert SmsDevice.objects.filter(user=person, confirmed=True).exists()
    assert fake_twilio.messages == []
    assert not AuditEvent.objects.filter(action="auth.factor_removed").exists()
    # With an authenticator app, the SMS factor can go; then the app is the last one.
    add_totp(person, commit)
    with commit():
        services.factor_remove(user=person, factor="sms")
    assert services.factors_of(person) == ["totp", "backup"]
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="totp")
    assert refusal.value.code == "last_factor"


def test_a2_telegram_may_be_the_one_factor_left(person, fake_telegram, commit, clock):
    link_telegram(person, commit)
    with commit():
        services.factor_remove(user=person, factor="sms")
    assert services.factors_of(person) == ["telegram"]
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="telegram")
    assert refusal.value.code == "last_factor"


def test_a2_backup_codes_can_always_be_removed(person, fake_twilio, commit, clock):
    services.backup_codes_generate(user=person)
    fake_twilio.messages.clear()
    with commit():
        services.factor_remove(user=person, factor="backup")
    assert not BackupCodeDevice.objects.filter(user=person).exists()
    assert services.factors_of(person) == ["sms"]
    [sms] = sms_to(fake_twilio, person)
    assert "removed" in sms and "backup codes" in sms


def test_a2_removing_telegram_unlinks_the_chat_and_tells_it(
    person, fake_telegram, fake_twilio, commit, clock
):
    link_telegram(person, commit)
    fake_telegram.messages.clear()
    fake_twilio.messages.clear()
    with commit():
        services.factor_remove(user=person, factor="telegram")
    assert not TelegramDevice.objects.filter(user=person).exists()
    assert services.factors_of(person) == ["sms"]
    [told] = fake_telegram.texts_to(CHAT)
    assert "removed" in told and "Telegram" in told
    assert len(sms_to(fake_twilio, person)) == 1


def test_a2_removing_a_factor_that_is_not_set_up(person, clock):
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="totp")
    assert (refusal.value.code, refusal.value.status) == ("not_found", 404)
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="carrier pigeon")
    assert refusal.value.code == "validation_error"
    # An unfinished set-up is not a factor either.
    services.totp_enroll_start(user=person)
    services.telegram_link_start(user=person)
    for factor in ("totp", "telegram"):
        with pytest.raises(ApplicationError) as refusal:
            services.factor_remove(user=person, factor=factor)
        assert refusal.value.code == "not_found"


def test_a2_removing_one_device_by_its_id(person, commit, clock):
    device = add_totp(person, commit)
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="totp", device_id=device.pk + 1)
    assert refusal.value.code == "not_found"
    with commit():
        services.factor_remove(user=person, factor="totp", device_id=device.pk)
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()


# --- Telling the person ---------------------------------------------------------------------------


def test_a2_factor_change_notifies_the_person(person, fake_twilio, fake_telegram, commit, clock):
    link_telegram(person, commit)
    fake_twilio.messages.clear()
    fake_telegram.messages.clear()
    add_totp(person, commit)
    # By SMS to the confirmed phone and in the linked Telegram chat, the same words: which
    # factor, when (Almaty time), and whom to call if it was not them.
    [sms] = sms_to(fake_twilio, person)
    assert fake_telegram.texts_to(CHAT) == [sms]
    assert sms == (
        "Kezek: a sign-in factor was added to your account: authenticator app "
        "(25.11.2026 10:00). If it was not you, contact the registrar at once."
    )
    # No code in it: it only tells.
    assert not re.search(r"\b\d{6}\b", sms)


def test_a2_factor_change_notification_is_in_the_person_language(
    person, fake_twilio, commit, clock, monkeypatch
):
    person.language = "kk"
    person.save(update_fields=["language"])
    monkeypatch.setitem(services.FACTOR_CHANGE_MESSAGES, "added", LanguageProbe())
    with translation.override("ru"):  # the language of the request does not matter
        add_totp(person, commit)
    with translation.override("kk"):
        factor_in_kazakh = str(services.FACTOR_NAMES["totp"])
    assert factor_in_kazakh != "authenticator app"
    assert sms_to(fake_twilio, person) == [f"[kk] {factor_in_kazakh}"]


def test_a2_factor_change_is_told_only_after_the_commit(person, fake_twilio, clock):
    enrollment = services.totp_enroll_start(user=person)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.totp_enroll_confirm(
            user=person, device_id=enrollment.device.pk, code=app_code(enrollment.device)
        )
        raise RuntimeError("the outer transaction fails")
    assert fake_twilio.messages == []
    assert services.factors_of(person) == ["sms"]


def test_a2_a_notification_failure_never_undoes_the_change(
    person, fake_twilio, fake_telegram, commit, clock, caplog
):
    link_telegram(person, commit)
    services.backup_codes_generate(user=person)
    fake_twilio.fail_next = 1
    fake_telegram.fail_next = 1
    with commit():
        services.factor_remove(user=person, factor="backup")
    assert not BackupCodeDevice.objects.filter(user=person).exists()
    assert AuditEvent.objects.filter(action="auth.factor_removed").exists()
    # Both notices failed once and wait in the outbox for their next attempt.
    notices = Message.objects.filter(kind=Message.Kind.FACTOR_CHANGED, recipient=person)
    waiting = notices.filter(status=Message.Status.QUEUED, attempts=1).exclude(last_error="")
    assert {m.channel for m in waiting} == {"sms", "telegram"}


def test_a6_factor_changes_are_audited(person, fake_telegram, commit, clock):
    device = link_telegram(person, commit)
    services.backup_codes_generate(user=person)
    totp_device = add_totp(person, commit)
    with commit():
        services.factor_remove(user=person, factor="telegram")
    events = AuditEvent.objects.filter(action__startswith="auth.factor_").order_by("id")
    assert [(e.action, (e.after or e.before)["factor"]) for e in events] == [
        ("auth.factor_added", "telegram"),
        ("auth.factor_added", "backup"),
        ("auth.factor_added", "totp"),
        ("auth.factor_removed", "telegram"),
    ]
    assert {e.actor_id for e in events} == {person.pk}
    assert {e.object_id for e in events} == {str(person.pk)}
    assert events.last().before == {"factor": "telegram", "devices": [device.pk]}
    assert events[2].after == {"factor": "totp", "device": totp_device.pk}
