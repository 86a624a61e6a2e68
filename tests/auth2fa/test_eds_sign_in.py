"""EDS as the first factor through the API (A2): challenge → signed nonce → second factor."""

import datetime as dt

import pytest
import time_machine

from tests.auth2fa.factories import registered_person
from tests.fakes.pki import PersonSubject, make_ca, make_person, pem_bundle, sign_cms, sign_raw

pytestmark = pytest.mark.django_db

IIN = "850512300119"


@pytest.fixture
def ca(tmp_path, settings):
    root = make_ca()
    bundle = tmp_path / "trusted.pem"
    bundle.write_text(pem_bundle(root))
    settings.EDS_TRUSTED_CA_FILE = str(bundle)
    return root


def challenge(client) -> str:
    response = client.post("/api/v1/auth/eds/challenge")
    assert response.status_code == 200
    body = response.json()
    assert dt.datetime.fromisoformat(body["expires_at"]).utcoffset() == dt.timedelta(hours=5)
    return body["nonce"]


def eds_login(client, nonce, person_cert, *, signature_format="raw"):
    signature = (
        sign_raw(person_cert.key, nonce)
        if signature_format == "raw"
        else sign_cms(person_cert, nonce)
    )
    return client.post(
        "/api/v1/auth/eds/login",
        {
            "nonce": nonce,
            "certificate": person_cert.pem,
            "signature": signature,
            "signature_format": signature_format,
        },
        content_type="application/json",
    )


@pytest.mark.parametrize("signature_format", ["raw", "cms"])
def test_a2_eds_then_sms_signs_in_through_the_api(client, fake_twilio, ca, signature_format):
    person = registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    response = eds_login(client, challenge(client), certificate, signature_format=signature_format)
    assert response.status_code == 200, response.json()
    started = response.json()
    assert started["factors"] == ["sms"]
    client.post(
        "/api/v1/auth/otp/send",
        {"challenge": started["challenge"], "factor": "sms"},
        content_type="application/json",
    )
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    token = client.post(
        "/api/v1/auth/otp/verify",
        {"challenge": started["challenge"], "factor": "sms", "code": code},
        content_type="application/json",
    ).json()["token"]
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert me["user"]["id"] == person.pk


def test_a2_eds_nonce_works_once(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    nonce = challenge(client)
    assert eds_login(client, nonce, certificate).status_code == 200
    again = eds_login(client, nonce, certificate)
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "eds_invalid_nonce"


@pytest.mark.parametrize("nonce", ["batch of the day", "k" * 5000, "kezek-\x00\x07\t"])
def test_a2_eds_nonce_of_any_text_is_refused_cleanly(client, fake_twilio, ca, nonce):
    """The nonce sent back is only looked up by its hash: spaces, control characters or a huge
    value make no invalid cache key, just the usual refusal."""
    import warnings

    from django.core.cache import CacheKeyWarning

    registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        response = eds_login(client, nonce, certificate)
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("eds_invalid_nonce", "validation_error")


def test_a2_eds_nonce_expires_after_5_minutes(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        nonce = challenge(client)
        clock.shift(dt.timedelta(minutes=5, seconds=1))
        response = eds_login(client, nonce, certificate)
    assert response.json()["error"]["code"] == "eds_invalid_nonce"


def test_a2_eds_of_a_stranger_is_refused(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    stranger = make_person(ca, PersonSubject(iin="377835337400"))
    response = eds_login(client, challenge(client), stranger)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "eds_unknown_person"


def test_a2_eds_signature_of_another_nonce_is_refused(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    nonce = challenge(client)
    response = client.post(
        "/api/v1/auth/eds/login",
        {
            "nonce": nonce,
            "certificate": certificate.pem,
            "signature": sign_raw(certificate.key, "another nonce"),
            "signature_format": "raw",
        },
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "eds_invalid_signature"


def test_a2_eds_certificate_from_an_untrusted_ca_is_refused(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    impostor = make_person(make_ca(), PersonSubject(iin=IIN))
    response = eds_login(client, challenge(client), impostor)
    assert response.json()["error"]["code"] == "eds_untrusted_certificate"


def test_a2_eds_without_trusted_cas_is_refused_clearly(client, fake_twilio, settings):
    settings.EDS_TRUSTED_CA_FILE = ""
    certificate = make_person(make_ca(), PersonSubject(iin=IIN))
    response = eds_login(client, challenge(client), certificate)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "eds_not_configured"


def test_a2_eds_garbage_is_a_clean_400(client, ca):
    response = client.post(
        "/api/v1/auth/eds/login",
        {"nonce": challenge(client), "signature": "%%%", "signature_format": "raw"},
        content_type="application/json",
    )
    assert response.status_code in (400, 401)
    assert "error" in response.json()


def test_a2_eds_sign_in_page_then_second_factor(client, fake_twilio, ca):
    person = registered_person(fake_twilio, iin=IIN)
    certificate = make_person(ca, PersonSubject(iin=IIN))
    page = client.get("/signin/eds/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "NCALayer" in text and "/static/js/eds-ncalayer.js" in text
    nonce = text.split('name="nonce" value="')[1].split('"')[0]
    response = client.post(
        "/signin/eds/",
        {"nonce": nonce, "signature": sign_cms(certificate, nonce), "signature_format": "cms"},
    )
    assert response.status_code == 302 and response["Location"] == "/signin/factor/"
    client.post("/signin/factor/", {"factor": "sms", "action": "send"})
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    response = client.post("/signin/factor/", {"factor": "sms", "action": "verify", "code": code})
    assert response["Location"] == "/cabinet/"


def test_a2_eds_page_explains_a_refusal(client, fake_twilio, ca):
    registered_person(fake_twilio, iin=IIN)
    impostor = make_person(make_ca(), PersonSubject(iin=IIN))
    text = client.get("/signin/eds/").content.decode()
    nonce = text.split('name="nonce" value="')[1].split('"')[0]
    response = client.post(
        "/signin/eds/",
        {
            "nonce": nonce,
            "certificate": impostor.pem,
            "signature": sign_raw(impostor.key, nonce),
            "signature_format": "raw",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
