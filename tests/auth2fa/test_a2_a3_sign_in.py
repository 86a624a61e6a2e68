import datetime as dt

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa import services
from auth2fa.models import SignInFailure, User
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.auth2fa.factories import PASSWORD, T0, registered_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(fake_twilio):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        return registered_person(fake_twilio)


def start(person):
    return services.sign_in_with_password(username=person.email, password=PASSWORD)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a2_password_then_sms_code_signs_in(person, fake_twilio, clock):
    started = start(person)
    assert started.factors == ["sms"]
    assert services.sign_in_code_send(challenge=started.challenge, factor="sms") == 60
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    signed_in = services.sign_in_verify(challenge=started.challenge, factor="sms", code=code)
    assert signed_in.user == person
    assert AuditEvent.objects.filter(action="auth.signed_in", actor=person).exists()


def test_a2_sign_in_by_phone_number_in_any_form(person, clock):
    assert services.sign_in_with_password(username="8 (701) 123-45-67", password=PASSWORD)


def test_a2_password_alone_never_gives_access(person, clock):
    started = start(person)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="sms", code="")
    assert refusal.value.code == "no_code"


def test_a2_wrong_password_and_unknown_person_get_the_same_answer(person, clock):
    for username in (person.email, "nobody@example.kz"):
        with pytest.raises(ApplicationError) as refusal:
            services.sign_in_with_password(username=username, password="wrong password")
        assert (refusal.value.code, refusal.value.status) == ("invalid_credentials", 401)


def test_a2_password_login_can_be_turned_off(person, clock, settings):
    settings.PASSWORD_LOGIN = False
    with pytest.raises(ApplicationError) as refusal:
        start(person)
    assert refusal.value.code == "password_login_disabled"


def test_a2_totp_as_second_factor(person, clock):
    device = TOTPDevice.objects.create(user=person, name="phone app", confirmed=True)
    started = start(person)
    assert started.factors == ["sms", "totp"]
    code = f"{totp(device.bin_key, t0=device.t0, step=device.step, digits=device.digits):06d}"
    assert services.sign_in_verify(challenge=started.challenge, factor="totp", code=code).user
    # The same TOTP code cannot be replayed in another sign-in.
    again = start(person)
    with pytest.raises(ApplicationError):
        services.sign_in_verify(challenge=again.challenge, factor="totp", code=code)


def test_a3_code_is_six_digits_and_single_use(person, fake_twilio, clock):
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    assert len(code) == 6 and code.isdigit()
    services.sign_in_verify(challenge=started.challenge, factor="sms", code=code)
    # The finished sign-in cannot be used again, and the code is spent for a new one too.
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="sms", code=code)
    assert refusal.value.code == "invalid_challenge"
    other = start(person)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=other.challenge, factor="sms", code=code)
    assert refusal.value.code == "no_code"


def test_a3_code_expires_after_5_minutes(person, fake_twilio, clock):
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    clock.shift(dt.timedelta(minutes=5))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="sms", code=code)
    assert refusal.value.code == "code_expired"


def test_a3_code_still_works_just_before_5_minutes(person, fake_twilio, clock):
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    clock.shift(dt.timedelta(minutes=4, seconds=59))
    assert services.sign_in_verify(challenge=started.challenge, factor="sms", code=code).user


def test_a3_five_wrong_tries_kill_the_code(person, fake_twilio, clock):
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    for left in (4, 3, 2, 1):
        with pytest.raises(ApplicationError) as refusal:
            services.sign_in_verify(challenge=started.challenge, factor="sms", code=wrong(code))
        assert refusal.value.code == "invalid_code"
        assert str(left) in str(refusal.value.message)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="sms", code=wrong(code))
    assert refusal.value.code == "code_exhausted"
    # Even the right code is refused now.
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_verify(challenge=started.challenge, factor="sms", code=code)
    assert refusal.value.code == "code_exhausted"


def test_a3_resend_for_the_same_sign_in_waits_60_seconds(person, fake_twilio, clock):
    started = start(person)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    clock.shift(59)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert (refusal.value.status, refusal.value.retry_after) == (429, 1)
    clock.shift(1)
    services.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert len(fake_twilio.messages) == 2


def test_a3_a_new_sign_in_may_send_at_once(person, fake_twilio, clock):
    services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    assert len(fake_twilio.messages) == 2


def test_a3_at_most_5_sms_per_phone_per_hour(person, fake_twilio, clock):
    for _ in range(5):
        services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
        clock.shift(60)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    assert refusal.value.status == 429
    assert len(fake_twilio.messages) == 5
    # The hour counts from the first of them.
    clock.shift(dt.timedelta(minutes=55, seconds=1))
    services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    assert len(fake_twilio.messages) == 6


def test_a3_at_most_20_sms_per_phone_per_day(person, fake_twilio, clock):
    for _ in range(20):
        services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
        clock.shift(dt.timedelta(minutes=13))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    assert refusal.value.status == 429
    assert refusal.value.retry_after > 3600
    assert len(fake_twilio.messages) == 20


def test_a3_ten_failures_in_an_hour_lock_sign_in_for_15_minutes(person, fake_twilio, clock):
    for _ in range(9):
        with pytest.raises(ApplicationError):
            services.sign_in_with_password(username=person.email, password="nope")
        clock.shift(60)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_with_password(username=person.email, password="nope")
    assert refusal.value.code == "sign_in_locked"
    assert refusal.value.retry_after == 15 * 60
    # Locked: even the right password is refused, with the time left.
    clock.shift(dt.timedelta(minutes=14))
    with pytest.raises(ApplicationError) as refusal:
        start(person)
    assert refusal.value.code == "sign_in_locked"
    assert refusal.value.retry_after == 60
    clock.shift(60)
    assert start(person).factors == ["sms"]
    assert AuditEvent.objects.filter(action="auth.sign_in_locked").count() == 1


def test_a3_failures_older_than_an_hour_do_not_count(person, clock):
    for _ in range(9):
        with pytest.raises(ApplicationError):
            services.sign_in_with_password(username=person.email, password="nope")
    clock.shift(dt.timedelta(hours=1, seconds=1))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_with_password(username=person.email, password="nope")
    assert refusal.value.code == "invalid_credentials"


def test_a3_wrong_codes_count_towards_the_lock(person, fake_twilio, clock):
    for _ in range(2):
        started = start(person)
        services.sign_in_code_send(challenge=started.challenge, factor="sms")
        code = fake_twilio.codes_sent_to(person.phone)[-1]
        for _ in range(5):
            with pytest.raises(ApplicationError):
                services.sign_in_verify(challenge=started.challenge, factor="sms", code=wrong(code))
    assert SignInFailure.objects.filter(user=person).count() == 10
    assert User.objects.get(pk=person.pk).sign_in_locked_until == T0 + dt.timedelta(minutes=15)


def test_a2_challenge_expires_after_10_minutes(person, clock):
    started = start(person)
    clock.shift(dt.timedelta(minutes=10))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=started.challenge, factor="sms")
    assert refusal.value.code == "invalid_challenge"


def test_a3_failed_sign_ins_are_audited(person, clock):
    with pytest.raises(ApplicationError):
        services.sign_in_with_password(username=person.email, password="nope")
    event = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert event.object_id == str(person.pk)
    assert event.after == {"reason": "password"}


def test_a3_sms_failure_answers_503_and_can_be_retried(person, fake_twilio, clock):
    fake_twilio.fail_next = 1
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_code_send(challenge=start(person).challenge, factor="sms")
    assert (refusal.value.code, refusal.value.status) == ("delivery_failed", 503)
