"""A8: the SMS notices of factor changes cannot be pumped. A person gets at most one SMS notice per
kind of change (this factor added, replaced or removed) in 10 minutes; every change is still made
and audited, and the linked Telegram chat is still told each time."""

import datetime as dt

import pytest
import time_machine
from django_otp.oath import totp

from auth2fa import services
from auth2fa.models import BackupCode
from core.models import AuditEvent
from tests.auth2fa.factories import T0, registered_person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_phone_limits(settings):
    """The notices' own 10-minute rule is tested here; A3's per-phone limits, which would hold
    the fourth notice of an hour back, have tests of their own (tests/notify)."""
    settings.SMS_PER_PHONE_PER_HOUR = settings.SMS_PER_PHONE_PER_DAY = 100


@pytest.fixture
def person(fake_twilio, eager):
    """Notices go through the outbox (A8), delivered by the worker: here right after commit."""
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        person = registered_person(fake_twilio)
    person.language = "en"
    person.save(update_fields=["language"])
    fake_twilio.messages.clear()
    return person


def notices_to(fake_twilio, person) -> list[str]:
    return [m["Body"] for m in fake_twilio.messages if m["To"] == person.phone]


def regenerate(person, commit) -> list[str]:
    with commit():
        return services.backup_codes_generate(user=person)


def test_a8_regenerating_backup_codes_twice_sends_one_notice(person, fake_twilio, commit, clock):
    regenerate(person, commit)
    [added] = notices_to(fake_twilio, person)
    assert "was added" in added and "backup codes" in added
    clock.shift(dt.timedelta(minutes=1))
    regenerate(person, commit)
    clock.shift(dt.timedelta(minutes=1))
    codes = regenerate(person, commit)
    notices = notices_to(fake_twilio, person)
    assert len(notices) == 2 and "was replaced" in notices[1]
    # The changes themselves were all made and audited.
    assert BackupCode.objects.filter(used_at__isnull=True).count() == len(codes) == 10
    changes = AuditEvent.objects.filter(action="auth.factor_added", after__factor="backup")
    assert changes.count() == 3


def test_a8_forty_backup_code_regenerations_send_two_sms(person, fake_twilio, commit, clock):
    for _ in range(40):
        regenerate(person, commit)
        clock.shift(dt.timedelta(seconds=5))
    assert len(notices_to(fake_twilio, person)) == 2  # "added", then one "replaced"
    assert AuditEvent.objects.filter(action="auth.factor_added").count() == 40


def test_a8_after_ten_minutes_the_next_change_is_told_again(person, fake_twilio, commit, clock):
    regenerate(person, commit)
    regenerate(person, commit)
    clock.shift(dt.timedelta(minutes=9))
    regenerate(person, commit)
    assert len(notices_to(fake_twilio, person)) == 2
    clock.shift(dt.timedelta(minutes=1, seconds=1))
    regenerate(person, commit)
    notices = notices_to(fake_twilio, person)
    assert len(notices) == 3 and "was replaced" in notices[2]


def test_a8_each_kind_of_change_has_its_own_notice(person, fake_twilio, commit, clock):
    regenerate(person, commit)
    regenerate(person, commit)
    with commit():
        services.factor_remove(user=person, factor="backup")
    enrollment = services.totp_enroll_start(user=person)
    device = enrollment.device
    with commit():
        services.totp_enroll_confirm(
            user=person,
            device_id=device.pk,
            code=f"{totp(device.bin_key, t0=device.t0, step=device.step):06d}",
        )
    told = [
        (factor, change)
        for notice in notices_to(fake_twilio, person)
        for factor in ("backup codes", "authenticator app")
        for change in ("added", "replaced", "removed")
        if factor in notice and f"was {change}" in notice
    ]
    assert told == [
        ("backup codes", "added"),
        ("backup codes", "replaced"),
        ("backup codes", "removed"),
        ("authenticator app", "added"),
    ]


def test_a8_telegram_is_still_told_of_every_change(
    person, fake_twilio, fake_telegram, commit, clock
):
    link = services.telegram_link_start(user=person)
    chat = 700100200
    with commit():
        services.telegram_link_complete(token=link.url.split("=", 1)[1], chat_id=chat)
    clock.shift(dt.timedelta(minutes=1))
    fake_telegram.messages.clear()
    for _ in range(3):
        regenerate(person, commit)
    told = [m for m in fake_telegram.messages if "backup codes" in str(m)]
    assert len(told) == 3
    assert len([n for n in notices_to(fake_twilio, person) if "backup codes" in n]) == 2
