"""A7: a carrier's number (a company's BIN, an entrepreneur's IIN) is owned only through an EDS
whose certificate carries it, signed by its holder. Until then the registration cannot book and
lapses after 24 hours; it never blocks the one who can sign. Where no EDS is configured
(make run, tests by default) registrations are confirmed at once."""

import datetime as dt

import pytest
import time_machine
from django.test import Client

from auth2fa import services
from auth2fa.models import ApiToken
from carriers.models import Carrier, Member
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.auth2fa.factories import registered_person
from tests.fakes.pki import (
    BIN,
    IIN,
    PersonSubject,
    make_ca,
    make_person,
    pem_bundle,
    sign_raw,
    with_check_digit,
)
from tests.worlds import book, make_world

pytestmark = pytest.mark.django_db

SQUATTER_IIN = with_check_digit("85051230011")


@pytest.fixture
def ca(tmp_path, settings):
    root = make_ca()
    bundle = tmp_path / "trusted.pem"
    bundle.write_text(pem_bundle(root))
    settings.EDS_TRUSTED_CA_FILE = str(bundle)
    settings.CARRIERS_CONFIRMED_AT_ONCE = False
    return root


def owner_of_bin(fake_twilio):
    """The company's real owner: their certificate carries their IIN and the company's BIN."""
    return registered_person(
        fake_twilio, iin_bin=BIN, iin=IIN, phone="+77015550101", email="owner@steppe.kz"
    )


def squatter(fake_twilio):
    """Someone else who typed the same BIN (its checksum is valid) first."""
    return registered_person(
        fake_twilio,
        iin_bin=BIN,
        iin=SQUATTER_IIN,
        phone="+77015550102",
        email="squatter@example.kz",
        name="Not Really Steppe LLP",
    )


def confirm(person, certificate_of):
    nonce = services.eds_nonce_issue().nonce
    return services.carrier_confirm_with_eds(
        member=Member.objects.select_related("carrier", "user").get(user=person),
        nonce=nonce,
        certificate=certificate_of.pem,
        signature=sign_raw(certificate_of.key, nonce),
        signature_format="raw",
    )


def refusal(call) -> str:
    with pytest.raises(ApplicationError) as refused:
        call()
    return refused.value.code


def test_a7_where_no_eds_is_configured_a_registration_is_confirmed_at_once(fake_twilio):
    person = registered_person(fake_twilio)
    assert Member.objects.get(user=person).carrier.is_confirmed


def test_a7_an_unconfirmed_carrier_cannot_hold_or_book(ca, fake_twilio, settings, clock):
    world = make_world(fake_twilio)
    world.top_up("1000000.00")
    assert not world.carrier.is_confirmed
    assert refusal(lambda: book(world)) == "carrier_unconfirmed"


def test_a7_the_one_who_signs_for_the_bin_owns_it_and_the_squatter_lapses(ca, fake_twilio):
    early = squatter(fake_twilio)
    # The squatter's registration does not block the real owner from registering.
    real = owner_of_bin(fake_twilio)
    carrier = confirm(real, make_person(ca, PersonSubject(iin=IIN, bin=BIN)))
    assert carrier.is_confirmed and carrier.iin_bin == BIN
    squatted = Member.objects.get(user=early).carrier
    assert squatted.lapsed_at is not None and not squatted.is_confirmed
    early.refresh_from_db()  # what the squatter typed is free again
    assert not early.is_active and early.iin is None and early.phone is None
    assert AuditEvent.objects.filter(action="carrier.confirmed").count() == 1
    # The squatter cannot confirm with a certificate of their own, nor take the number later.
    own = make_person(ca, PersonSubject(iin=SQUATTER_IIN, bin=with_check_digit("99999999999")))
    assert refusal(lambda: confirm(early, own)) == "registration_lapsed"
    with pytest.raises(ApplicationError) as taken:
        registered_person(fake_twilio, iin_bin=BIN, phone="+77015550103", email="x@y.kz")
    assert "carrier.iin_bin" in taken.value.fields


def test_a7_a_certificate_of_another_carrier_or_of_another_person_is_refused(ca, fake_twilio):
    real = owner_of_bin(fake_twilio)
    other_bin = make_person(ca, PersonSubject(iin=IIN, bin=with_check_digit("13034001235")))
    someone_elses = make_person(ca, PersonSubject(iin=SQUATTER_IIN, bin=BIN))
    assert refusal(lambda: confirm(real, other_bin)) == "eds_other_carrier"
    assert refusal(lambda: confirm(real, someone_elses)) == "eds_other_carrier"
    assert not Member.objects.get(user=real).carrier.is_confirmed


def test_a7_an_unconfirmed_registration_lapses_after_24_hours(ca, fake_twilio):
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        person = owner_of_bin(fake_twilio)
        traveller.shift(dt.timedelta(hours=23, minutes=59))
        assert services.unconfirmed_registrations_lapse() == 0
        traveller.shift(dt.timedelta(minutes=1))
        assert services.unconfirmed_registrations_lapse() == 1
        carrier = Member.objects.get(user=person).carrier
        assert carrier.lapsed_at is not None
        certificate = make_person(ca, PersonSubject(iin=IIN, bin=BIN))
        assert refusal(lambda: confirm(person, certificate)) == "registration_lapsed"
        assert services.unconfirmed_registrations_lapse() == 0


def test_a7_the_owner_confirms_through_the_api_and_me_says_so(ca, fake_twilio, client):
    person = owner_of_bin(fake_twilio)
    token = services.api_token_issue(user=person, kind=ApiToken.Kind.PERSONAL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get("/api/v1/me", **auth).json()["carrier"]["confirmed"] is False
    nonce = client.post("/api/v1/auth/eds/challenge").json()["nonce"]
    certificate = make_person(ca, PersonSubject(iin=IIN, bin=BIN))
    answer = client.post(
        "/api/v1/carrier/confirm",
        {
            "nonce": nonce,
            "certificate": certificate.pem,
            "signature": sign_raw(certificate.key, nonce),
            "signature_format": "raw",
        },
        content_type="application/json",
        **auth,
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["carrier"] == BIN
    assert client.get("/api/v1/me", **auth).json()["carrier"]["confirmed"] is True


def test_a7_the_cabinet_tells_the_owner_to_confirm_and_the_page_asks_for_the_eds(
    ca, fake_twilio, sign_in_browser
):
    person = owner_of_bin(fake_twilio)
    browser = sign_in_browser(Client(), person)
    cabinet = browser.get("/cabinet/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Your carrier is not confirmed yet" in cabinet and "/cabinet/confirm/" in cabinet
    page = browser.get("/cabinet/confirm/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert BIN in page and 'id="eds-form"' in page
    carrier = Carrier.objects.get(iin_bin=BIN)
    assert not carrier.is_confirmed


def test_a7_a_lapsed_registration_gives_back_the_e_mail_phone_and_iin_it_typed(ca, fake_twilio):
    """Someone who typed the real owner's e-mail and IIN into a registration (with a phone of
    their own, which is all that is confirmed) holds them a day at most: when it lapses they are
    free, and the real owner registers with them. Meanwhile the owner's registration is accepted
    (A8: the answer tells nobody who is registered) and only its code check, which only the
    owner can pass, says the e-mail is taken."""
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        early = registered_person(
            fake_twilio, iin_bin=BIN, iin=IIN, phone="+77015550102", email="owner@steppe.kz"
        )
        with pytest.raises(ApplicationError) as blocked:
            owner_of_bin(fake_twilio)
        assert blocked.value.code == "email_registered"
        traveller.shift(dt.timedelta(hours=24))
        # The early registration and the owner's refused one.
        assert services.unconfirmed_registrations_lapse() == 2
        early.refresh_from_db()
        assert not early.is_active and early.phone is None and early.iin is None
        released = AuditEvent.objects.get(
            action="auth.registration_released", object_id=str(early.pk)
        )
        assert released.before == {"email": "owner@steppe.kz", "phone": "+77015550102", "iin": IIN}
        real = owner_of_bin(fake_twilio)
        carrier = confirm(real, make_person(ca, PersonSubject(iin=IIN, bin=BIN)))
        assert carrier.is_confirmed
        # The lapsed person's phone is free again too, for a registration of its own.
        registered_person(
            fake_twilio,
            iin_bin=with_check_digit("13034001235"),
            iin=SQUATTER_IIN,
            phone="+77015550102",
            email="squatter@example.kz",
        )
