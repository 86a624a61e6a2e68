"""A1, A7, A8: registering tells nobody who is registered.

A registration with the phone, e-mail or IIN of a confirmed person is answered like any other,
by the API and by the page, and makes an unconfirmed person; the phone's confirmed holder gets a
notice (no code) that they can simply sign in. Only whoever has the code sent to the phone learns
at the code check that the phone, e-mail or IIN is taken. E-mail, phone and IIN are unique among
confirmed people only; sign-in never finds an unconfirmed one, and those lapse after 24 hours."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.test import Client

from auth2fa import services
from auth2fa.models import SmsDevice, SmsSent, User
from carriers.models import Invitation, Member
from carriers.services import member_invite
from carriers.validators import iin_bin_check_digit
from core.errors import ApplicationError
from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = pytest.mark.django_db

# The confirmed person of tests.auth2fa.factories.registered_person.
KNOWN = {"phone": "+77011234567", "email": "aigerim@steppe.kz", "iin": "850512300119"}
NOTICE = "Someone began registering in Kezek with your phone number"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _valid_numbers(count: int, start: int) -> list[str]:
    """IINs/BINs with a valid check digit, none of them the known person's."""
    numbers, prefix = [], start
    while len(numbers) < count:
        check = iin_bin_check_digit(f"{prefix:011d}")
        if check is not None:
            numbers.append(f"{prefix:011d}{check}")
        prefix += 1
    return numbers


def _newcomers() -> dict[str, dict[str, str]]:
    """A fresh person for each case, but for the one field a confirmed person already has."""
    iins, bins = _valid_numbers(5, 60010100000), _valid_numbers(5, 70010100000)
    cases = {}
    for index, case in enumerate(("unknown", "phone", "email", "iin")):
        person = {
            "phone": f"+7701999000{index}",
            "email": f"newcomer{index}@example.kz",
            "iin": iins[index],
            "bin": bins[index],
        }
        if case != "unknown":
            # The e-mail in another case: the address is the same whatever its case.
            person[case] = KNOWN[case].upper() if case == "email" else KNOWN[case]
        cases[case] = person
    return cases


def _api_body(person: dict[str, str]) -> dict:
    return {
        "carrier": {"kind": "company", "iin_bin": person["bin"], "name": "New Freight LLP"},
        "person": {
            "full_name": "Newcomer",
            "iin": person["iin"],
            "phone": person["phone"],
            "email": person["email"],
            "password": PASSWORD,
        },
    }


def test_a8_registration_api_answers_a_known_and_an_unknown_phone_email_and_iin_alike(
    fake_twilio,
):
    registered_person(fake_twilio)
    answers = {}
    for case, person in _newcomers().items():
        response = Client().post(
            "/api/v1/auth/register", _api_body(person), content_type="application/json", **EN
        )
        body = response.json()
        answers[case] = (response.status_code, sorted(body), body.get("phone_verification"))
    assert answers["unknown"] == (201, ["carrier_id", "phone_verification", "user_id"], "sent")
    assert answers == {case: answers["unknown"] for case in answers}
    # Each made an unconfirmed person; the confirmed one is untouched and still alone.
    assert User.objects.filter(phone_verified_at__isnull=True).count() == 4
    assert User.objects.confirmed().filter(email__iexact=KNOWN["email"]).count() == 1


def test_a8_registration_page_answers_a_known_and_an_unknown_phone_email_and_iin_alike(
    fake_twilio,
):
    registered_person(fake_twilio)
    pages = {}
    for case, person in _newcomers().items():
        browser = Client()
        form = {
            "carrier_kind": "company",
            "carrier_iin_bin": person["bin"],
            "carrier_name": "New Freight LLP",
            "full_name": "Newcomer",
            "iin": person["iin"],
            "phone": person["phone"],
            "email": person["email"],
            "password": PASSWORD,
            "password_again": PASSWORD,
        }
        posted = browser.post("/register/", form, **EN)
        assert posted.status_code == 302, posted.content.decode()[:2000]
        page = browser.get(posted["Location"], **EN)
        # The page shows the typed phone; everything else must be the same.
        text = page.content.decode().replace(person["phone"], "PHONE")
        text = text.replace(person["phone"][2:], "PHONE")
        pages[case] = (posted["Location"], page.status_code, _without_tokens(text))
    assert pages == {case: pages["unknown"] for case in pages}


def _without_tokens(html: str) -> str:
    """The page without what differs between any two visits: the CSRF token, the CSP nonce and
    the footer's visit statistics (W3)."""
    html = html.split("<footer", 1)[0]
    return re.sub(r'(csrfmiddlewaretoken" value=|nonce=)"[^"]*"', r"\1", html)


def test_a8_a_known_phones_holder_gets_a_notice_and_no_code(fake_twilio):
    holder = registered_person(fake_twilio)
    User.objects.filter(pk=holder.pk).update(language="en")
    counted = SmsSent.objects.filter(phone=KNOWN["phone"]).count()
    services.registration_create(
        carrier_kind="company",
        carrier_iin_bin=_valid_numbers(1, 70010100000)[0],
        carrier_name="Prober LLP",
        full_name="Prober",
        iin=_valid_numbers(1, 60010100000)[0],
        phone=KNOWN["phone"],
        email="prober@example.kz",
        password=PASSWORD,
        language="ru",
    )
    (sms,) = fake_twilio.messages
    assert sms["To"] == KNOWN["phone"]
    assert NOTICE in sms["Body"] and "sign in" in sms["Body"]  # in the holder's language
    assert fake_twilio.codes_sent_to(KNOWN["phone"]) == []
    # One SMS, counted against the phone's limits like a code (A3).
    assert SmsSent.objects.filter(phone=KNOWN["phone"]).count() == counted + 1
    # No code is waiting, so the check answers as for an unknown phone, whatever is typed.
    for phone in (KNOWN["phone"], "+77019998877"):
        with pytest.raises(ApplicationError) as refused:
            services.registration_verify(phone=phone, code="123456")
        assert refused.value.code == "no_code"


def _register(phone: str, *, email: str, iin: str, index: int, password: str = PASSWORD) -> User:
    return services.registration_create(
        carrier_kind="company",
        carrier_iin_bin=_valid_numbers(index + 1, 70010100000)[index],
        carrier_name=f"Carrier {index}",
        full_name=f"Person {index}",
        iin=iin,
        phone=phone,
        email=email,
        password=password,
    ).user


def test_a8_the_code_check_refuses_a_second_account_for_a_phone_confirmed_meanwhile(fake_twilio):
    """Two registrations wait on one phone; its holder has both codes. The first confirmed owns
    the phone; the other is refused, not made a second account with it."""
    iins = _valid_numbers(2, 60010100000)
    phone = "+77015550123"
    first = _register(phone, email="first@example.kz", iin=iins[0], index=0)
    first_code = fake_twilio.codes_sent_to(phone)[-1]
    second = _register(phone, email="second@example.kz", iin=iins[1], index=1)
    second_code = fake_twilio.codes_sent_to(phone)[-1]
    # The older registration's code confirms the older one, though a newer one waits too.
    assert services.registration_verify(phone=phone, code=first_code).pk == first.pk
    with pytest.raises(ApplicationError) as refused:
        services.registration_verify(phone=phone, code=second_code)
    assert (refused.value.code, refused.value.status) == ("phone_registered", 409)
    second.refresh_from_db()
    assert second.phone_verified_at is None
    assert not SmsDevice.objects.get(user=second).confirmed


@pytest.mark.parametrize("taken", ["email", "iin"])
def test_a8_the_code_check_refuses_an_e_mail_or_iin_of_a_confirmed_person(fake_twilio, taken):
    """Only the holder of the new phone (who has the code) learns that the e-mail or IIN is
    taken; the registration stays unconfirmed."""
    registered_person(fake_twilio)
    fresh = {"email": "fresh@example.kz", "iin": _valid_numbers(1, 60010100000)[0]}
    fresh[taken] = KNOWN[taken]
    person = _register("+77015550124", index=0, **fresh)
    code = fake_twilio.codes_sent_to("+77015550124")[-1]
    with pytest.raises(ApplicationError) as refused:
        services.registration_verify(phone="+77015550124", code=code)
    assert refused.value.code == f"{taken}_registered"
    assert refused.value.status == 409
    person.refresh_from_db()
    assert person.phone_verified_at is None


def test_a8_sign_in_finds_the_real_person_while_an_unconfirmed_duplicate_exists(fake_twilio):
    """Someone typed the real person's e-mail, phone and IIN first (with a password of their own);
    the real person then registers and confirms. Every way of signing in finds the real one."""
    early = _register(
        KNOWN["phone"], email=KNOWN["email"], iin=KNOWN["iin"], index=0, password="squatter pass 1"
    )
    real = registered_person(fake_twilio)
    assert early.pk < real.pk  # the duplicate comes first in the table
    for username in (KNOWN["email"].upper(), KNOWN["phone"], "8 701 123 45 67"):
        assert services.sign_in_with_password(
            username=username, password=PASSWORD
        ).sign_in.user_id == (real.pk)
        with pytest.raises(ApplicationError) as refused:
            services.sign_in_with_password(username=username, password="squatter pass 1")
        assert refused.value.code == "invalid_credentials"
    assert services.sign_in_with_eds(iin=KNOWN["iin"]).sign_in.user_id == real.pk
    # Django's own look-up (the admin's login form) too.
    assert User.objects.get_by_natural_key(KNOWN["email"]).pk == real.pk


def test_a8_an_unconfirmed_person_never_found_by_eds_sign_in(fake_twilio):
    _register("+77015550125", email="x@example.kz", iin=KNOWN["iin"], index=0)
    with pytest.raises(ApplicationError) as refused:
        services.sign_in_with_eds(iin=KNOWN["iin"])
    assert refused.value.code == "eds_unknown_person"


def test_a7_a8_an_unconfirmed_duplicate_lapses_after_24_hours(fake_twilio):
    """A registration with a confirmed person's phone, and a person registered from an invitation
    who never confirmed, lapse 24 hours after registering: they can no longer be confirmed."""
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        real = registered_person(fake_twilio)
        duplicate = _register(
            KNOWN["phone"], email=KNOWN["email"], iin=KNOWN["iin"], index=1, password="other pass 1"
        )
        invited = services.person_register(
            full_name="Invited",
            iin=_valid_numbers(1, 60010100000)[0],
            phone="+77015550126",
            email="invited@example.kz",
            password=PASSWORD,
        )
        traveller.shift(dt.timedelta(hours=23, minutes=59))
        assert services.unconfirmed_registrations_lapse() == 0
        assert User.objects.filter(is_active=True).count() == 3
        traveller.shift(dt.timedelta(minutes=1))
        services.unconfirmed_registrations_lapse()
        for person in (duplicate, invited):
            person.refresh_from_db()
            assert not person.is_active and person.phone is None and person.iin is None
            assert not SmsDevice.objects.filter(user=person).exists()
        real.refresh_from_db()
        assert real.is_active and real.phone == KNOWN["phone"] and real.iin == KNOWN["iin"]
        # The invited number's registration can no longer be confirmed, whatever the code.
        code = fake_twilio.codes_sent_to("+77015550126")[-1]
        with pytest.raises(ApplicationError) as refused:
            services.registration_verify(phone="+77015550126", code=code)
        assert refused.value.code == "no_code"


def test_a8_the_database_keeps_e_mail_phone_and_iin_unique_among_confirmed_people(fake_twilio):
    """The partial unique indexes: unconfirmed people repeat anything, confirmed ones never."""
    real = registered_person(fake_twilio)
    twin = User.objects.create(
        email=KNOWN["email"].upper(), phone=KNOWN["phone"], iin=KNOWN["iin"], full_name="Twin"
    )
    for change in (
        {"phone_verified_at": real.phone_verified_at},  # same phone (and all)
        {"phone": None},  # no phone counts as confirmed: same e-mail and IIN
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            User.objects.filter(pk=twin.pk).update(**change)
    SmsDevice.objects.create(user=twin, name="Phone", phone=KNOWN["phone"], confirmed=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        SmsDevice.objects.filter(user=twin).update(confirmed=True)


def test_a8_an_invitation_to_a_phone_a_duplicate_also_typed_speaks_the_holders_language(
    fake_twilio,
):
    """The invitation SMS is in the language of the phone's confirmed person, never of an
    unconfirmed registration that typed the number (before them: first in the table)."""
    owner = registered_person(fake_twilio)
    _register(
        "+77017654321", email="dup@example.kz", iin=_valid_numbers(1, 60010100000)[0], index=2
    )
    holder = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="holder@steppe.kz",
        name="Other Carrier",
    )
    User.objects.filter(pk=holder.pk).update(language="en")
    User.objects.filter(phone_verified_at__isnull=True).update(language="kk")
    fake_twilio.messages.clear()
    member_invite(by=Member.objects.get(user=owner), phone="+77017654321", role="dispatcher")
    (sms,) = fake_twilio.messages
    assert "You are invited" in sms["Body"]
    assert Invitation.objects.count() == 1
