import datetime as dt

import pytest
import time_machine

from auth2fa.models import SmsDevice, User
from auth2fa.services import registration_code_resend, registration_create, registration_verify
from carriers.models import Carrier, Member
from core.errors import ApplicationError
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

COMPANY = {
    "carrier_kind": "company",
    "carrier_iin_bin": "230140012340",
    "carrier_name": "Steppe Freight LLP",
    "full_name": "Aigerim Nurlanovna",
    "iin": "850512300119",
    "phone": "+7 701 123 45 67",
    "email": "Aigerim@Steppe.kz",
    "password": "correct horse battery",
}


def test_a1_registration_creates_carrier_owner_and_sends_an_sms_code(fake_twilio):
    registration = registration_create(**COMPANY)
    user = registration.user
    assert user.email == "aigerim@steppe.kz"
    assert user.phone == "+77011234567"
    assert user.phone_verified_at is None
    assert registration.carrier.kind == Carrier.Kind.COMPANY
    assert Member.objects.get(user=user).role == Member.Role.OWNER
    codes = fake_twilio.codes_sent_to("+77011234567")
    assert len(codes) == 1
    # Stored hashed, never in clear (A3).
    device = SmsDevice.objects.get(user=user)
    assert codes[0] not in device.code_hash
    assert not device.confirmed
    assert AuditEvent.objects.filter(action="auth.registered").exists()


def test_a1_phone_is_confirmed_by_the_sms_code(fake_twilio):
    user = registration_create(**COMPANY).user
    code = fake_twilio.codes_sent_to(user.phone)[0]
    assert registration_verify(phone="8 701 123 45 67", code=code).phone_verified_at is not None
    assert SmsDevice.objects.get(user=user).confirmed


def test_a1_wrong_code_does_not_confirm(fake_twilio):
    user = registration_create(**COMPANY).user
    code = fake_twilio.codes_sent_to(user.phone)[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(ApplicationError) as refusal:
        registration_verify(phone=user.phone, code=wrong)
    assert refusal.value.code == "invalid_code"
    user.refresh_from_db()
    assert user.phone_verified_at is None


@pytest.mark.parametrize(
    "change, field",
    [
        ({"carrier_iin_bin": "230140012341"}, "carrier.iin_bin"),
        ({"iin": "850512300110"}, "person.iin"),
        ({"phone": "12345"}, "person.phone"),
        ({"email": "not-an-email"}, "person.email"),
        ({"password": "123"}, "person.password"),
        ({"carrier_kind": "individual"}, "carrier.iin_bin"),
        ({"carrier_name": "  "}, "carrier.name"),
    ],
)
def test_a1_bad_input_is_refused_field_by_field_and_creates_nothing(fake_twilio, change, field):
    with pytest.raises(ApplicationError) as refusal:
        registration_create(**{**COMPANY, **change})
    assert refusal.value.code == "validation_error"
    assert field in refusal.value.fields
    assert not User.objects.exists() and not Carrier.objects.exists()
    assert fake_twilio.messages == []


def test_a1_individual_entrepreneur_registers_under_own_iin(fake_twilio):
    registration = registration_create(
        **{**COMPANY, "carrier_kind": "individual", "carrier_iin_bin": COMPANY["iin"]}
    )
    assert registration.carrier.iin_bin == registration.user.iin


def test_a1_the_same_carrier_cannot_register_twice(fake_twilio):
    """The carrier's number is owned once (A7; confirmed at once in tests); the person's e-mail,
    phone and IIN are not refused here, see test_a8_registration_enumeration.py."""
    registration_create(**COMPANY)
    with pytest.raises(ApplicationError) as refusal:
        registration_create(**COMPANY)
    assert set(refusal.value.fields) == {"carrier.iin_bin"}


def test_a3_registration_resend_waits_60_seconds(fake_twilio):
    with time_machine.travel("2026-11-25 10:00:00 +0500", tick=False) as clock:
        user = registration_create(**COMPANY).user
        with pytest.raises(ApplicationError) as refusal:
            registration_code_resend(phone=user.phone)
        assert refusal.value.status == 429
        assert 0 < refusal.value.retry_after <= 60
        clock.shift(61)
        assert registration_code_resend(phone=user.phone) == 60
        first, second = fake_twilio.codes_sent_to(user.phone)
        # Only the newest code works.
        with pytest.raises(ApplicationError):
            registration_verify(phone=user.phone, code=first if first != second else "000000")
        assert registration_verify(phone=user.phone, code=second).phone_verified_at


def test_a1_unverified_phone_cannot_sign_in(fake_twilio):
    """An unconfirmed registration is nobody's account yet (A8: it may carry another's e-mail),
    so sign-in answers as for an unknown login."""
    from auth2fa.services import sign_in_with_password

    registration_create(**COMPANY)
    with pytest.raises(ApplicationError) as refusal:
        sign_in_with_password(username="aigerim@steppe.kz", password=COMPANY["password"])
    assert refusal.value.code == "invalid_credentials"


def test_a8_verify_answers_an_unknown_and_a_confirmed_phone_alike_whatever_the_code(fake_twilio):
    """An already confirmed phone was answered "verified" for any code, and an unknown one "no
    registration waits": together they told who is registered. Both now get the refusal of a
    registration with no code."""
    user = registration_create(**COMPANY).user
    registration_verify(phone=user.phone, code=fake_twilio.codes_sent_to(user.phone)[-1])

    def refusal(phone: str) -> tuple:
        with pytest.raises(ApplicationError) as refused:
            registration_verify(phone=phone, code="123456")
        return refused.value.code, refused.value.status, refused.value.message

    confirmed, unknown = refusal(user.phone), refusal("+77019998877")
    assert confirmed == unknown
    assert confirmed[:2] == ("no_code", 401)


def test_a8_resend_answers_alike_for_any_number_and_texts_only_a_waiting_registration(
    fake_twilio,
):
    waiting = registration_create(**COMPANY).user
    confirmed = registration_create(
        **{
            **COMPANY,
            "carrier_iin_bin": "377835337400",
            "iin": "377835337400",
            "phone": "+77017654321",
            "email": "other@steppe.kz",
        }
    ).user
    registration_verify(phone=confirmed.phone, code=fake_twilio.codes_sent_to(confirmed.phone)[-1])
    fake_twilio.messages.clear()
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2), tick=False):
        answers = [
            registration_code_resend(phone=phone)
            for phone in (waiting.phone, confirmed.phone, "+77019998877")
        ]
    assert answers == [answers[0]] * 3
    assert [m["To"] for m in fake_twilio.messages] == [waiting.phone]
