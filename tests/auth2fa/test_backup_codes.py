"""Backup codes as a spare second factor (A2): ten codes shown once, kept as an HMAC only (A3),
each good for one sign-in; a wrong one counts as a failed sign-in."""

import datetime as dt
import hashlib
import hmac
import json
import re
import threading
from collections import Counter

import pytest
import time_machine
from django.db import connection, connections

from auth2fa import services
from auth2fa.models import BackupCode, BackupCodeDevice, SignInFailure, User
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.auth2fa.factories import PASSWORD, T0, registered_person

pytestmark = pytest.mark.django_db

CODE_FORMAT = re.compile(r"^[23456789abcdefghjkmnpqrstuvwxyz]{4}-[2-9a-z]{4}-[2-9a-z]{2}$")


@pytest.fixture
def person(fake_twilio):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        return registered_person(fake_twilio)


def start(person):
    return services.sign_in_with_password(username=person.email, password=PASSWORD)


def verify(person, code):
    return services.sign_in_verify(challenge=start(person).challenge, factor="backup", code=code)


def test_a2_backup_codes_are_ten_codes_shown_once_and_hashed_at_rest(person, clock, settings):
    codes = services.backup_codes_generate(user=person)
    assert len(codes) == len(set(codes)) == 10
    assert all(CODE_FORMAT.match(code) for code in codes), codes
    device = BackupCodeDevice.objects.get(user=person)
    stored = list(BackupCode.objects.filter(device=device).values())
    assert len(stored) == 10
    # Only an HMAC keyed by the server's secret is kept: no code, with or without its dashes.
    dump = json.dumps(stored, default=str) + json.dumps(
        list(AuditEvent.objects.values("before", "after"))
    )
    for code in codes:
        assert code not in dump and code.replace("-", "") not in dump
        assert hashlib.sha256(code.replace("-", "").encode()).hexdigest() not in dump
    key = f"{settings.SECRET_KEY}:backup:{device.persistent_id}"
    expected = {
        hmac.new(key.encode(), code.replace("-", "").encode(), hashlib.sha256).hexdigest()
        for code in codes
    }
    assert {row["code_hash"] for row in stored} == expected


def test_a2_backup_code_signs_in(person, clock):
    codes = services.backup_codes_generate(user=person)
    started = start(person)
    assert started.factors == ["sms", "backup"]
    signed_in = services.sign_in_verify(challenge=started.challenge, factor="backup", code=codes[3])
    assert signed_in.user == person
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.after == {"first_factor": "password", "second_factor": "backup"}
    used = BackupCode.objects.get(used_at__isnull=False)
    assert used.used_at == T0
    assert BackupCodeDevice.objects.get(user=person).last_used_at == T0


def test_a2_backup_code_works_once(person, clock):
    codes = services.backup_codes_generate(user=person)
    verify(person, codes[0])
    with pytest.raises(ApplicationError) as refusal:
        verify(person, codes[0])
    assert (refusal.value.code, refusal.value.status) == ("invalid_code", 401)
    assert BackupCode.objects.filter(used_at__isnull=True).count() == 9
    # The others still work.
    assert verify(person, codes[1]).user == person


def test_a2_backup_code_may_be_typed_without_dashes_in_any_case(person, clock):
    codes = services.backup_codes_generate(user=person)
    assert verify(person, f"  {codes[0].replace('-', ' ').upper()} ").user == person
    assert verify(person, codes[1].replace("-", "")).user == person


def test_a3_a_wrong_backup_code_counts_as_a_failure(person, clock):
    codes = services.backup_codes_generate(user=person)
    for _ in range(9):
        with pytest.raises(ApplicationError) as refusal:
            verify(person, "aaaa-bbbb-cc")
        assert refusal.value.code == "invalid_code"
    assert set(SignInFailure.objects.values_list("reason", flat=True)) == {"code:backup"}
    with pytest.raises(ApplicationError) as refusal:
        verify(person, "")
    # The tenth failure in an hour locks sign-in, and even a right code waits 15 minutes.
    assert refusal.value.code == "sign_in_locked"
    assert User.objects.get(pk=person.pk).sign_in_locked_until == T0 + dt.timedelta(minutes=15)
    clock.shift(dt.timedelta(minutes=15))
    assert verify(person, codes[0]).user == person


def test_a2_regenerating_backup_codes_invalidates_the_old_ones(person, clock):
    old = services.backup_codes_generate(user=person)
    verify(person, old[0])
    clock.shift(60)
    new = services.backup_codes_generate(user=person)
    assert not set(old) & set(new)
    with pytest.raises(ApplicationError) as refusal:
        verify(person, old[1])
    assert refusal.value.code == "invalid_code"
    assert verify(person, new[0]).user == person
    device = BackupCodeDevice.objects.get(user=person)
    # The spent code stays on record; the nine unused old ones are gone.
    assert device.codes.filter(used_at__isnull=False).count() == 2
    assert device.codes.filter(used_at__isnull=True).count() == 9
    event = AuditEvent.objects.filter(action="auth.factor_added").latest("id")
    assert event.before == {"factor": "backup", "unused_codes": 9}
    assert event.after == {"factor": "backup", "device": device.pk, "codes": 10}


def test_a2_backup_is_offered_only_while_codes_are_left(person, clock):
    assert "backup" not in services.factors_of(person)
    codes = services.backup_codes_generate(user=person)
    for code in codes:
        verify(person, code)
    assert services.factors_of(person) == ["sms"]
    with pytest.raises(ApplicationError) as refusal:
        verify(person, codes[0])
    assert refusal.value.code == "invalid_code"


def test_a2_backup_code_of_another_person_does_not_work(person, fake_twilio, clock):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        other = registered_person(
            fake_twilio,
            iin_bin="230140012350",
            iin="900101300126",
            phone="+77017654321",
            email="bolat@steppe.kz",
        )
    services.backup_codes_generate(user=person)
    theirs = services.backup_codes_generate(user=other)
    with pytest.raises(ApplicationError) as refusal:
        verify(person, theirs[0])
    assert refusal.value.code == "invalid_code"


def test_a2_without_backup_codes_the_factor_is_refused(person, clock):
    with pytest.raises(ApplicationError) as refusal:
        verify(person, "aaaa-bbbb-cc")
    assert refusal.value.code == "validation_error"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a2_one_backup_code_cannot_sign_in_twice_in_parallel(fake_twilio):
    """Ten sign-ins race with the same code: exactly one gets through (the device's row lock,
    and behind it the update that only spends an unused code)."""
    assert connection.vendor == "postgresql"
    person = registered_person(fake_twilio)
    code = services.backup_codes_generate(user=person)[0]
    challenges = [start(person).challenge for _ in range(10)]
    barrier = threading.Barrier(len(challenges))
    outcomes: list[str] = []
    lock = threading.Lock()

    def use(challenge):
        try:
            barrier.wait()
            services.sign_in_verify(challenge=challenge, factor="backup", code=code)
            outcome = "signed_in"
        except ApplicationError as exc:
            outcome = exc.code
        except Exception as exc:  # a crash must show in the outcomes, not vanish with the thread
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)
        connections.close_all()

    threads = [threading.Thread(target=use, args=(challenge,)) for challenge in challenges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == {"signed_in": 1, "invalid_code": 9}
    assert BackupCode.objects.filter(used_at__isnull=False).count() == 1
