import datetime as dt

import pytest
import time_machine
from django.test import Client

from auth2fa.models import ApiToken, UserSession
from core.models import AuditEvent
from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def web_sign_in(client: Client, person, fake_twilio, *, next_url: str = "") -> object:
    client.post(
        "/signin/" + (f"?next={next_url}" if next_url else ""),
        {
            "username": person.email,
            "password": PASSWORD,
        },
        **EN,
    )
    client.post("/signin/factor/", {"factor": "sms", "action": "send"}, **EN)
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    return client.post("/signin/factor/", {"factor": "sms", "action": "verify", "code": code}, **EN)


def test_a1_register_and_confirm_the_phone_through_the_pages(client, fake_twilio):
    page = client.get("/register/", **EN)
    assert page.status_code == 200 and "Register a carrier" in page.content.decode()
    response = client.post(
        "/register/",
        {
            "carrier_kind": "company",
            "carrier_iin_bin": "230140012340",
            "carrier_name": "Steppe Freight LLP",
            "full_name": "Aigerim Nurlanovna",
            "iin": "850512300119",
            "phone": "+7 701 123 45 67",
            "email": "aigerim@steppe.kz",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        **EN,
    )
    assert response.status_code == 302 and response["Location"] == "/register/verify/"
    assert "+77011234567" in client.get("/register/verify/", **EN).content.decode()
    code = fake_twilio.codes_sent_to("+77011234567")[-1]
    response = client.post("/register/verify/", {"action": "verify", "code": code}, **EN)
    assert response.status_code == 302 and response["Location"] == "/signin/"


def test_a1_registration_page_shows_problems_by_field_and_keeps_the_input(client, fake_twilio):
    response = client.post(
        "/register/",
        {
            "carrier_kind": "company",
            "carrier_iin_bin": "230140012341",
            "carrier_name": "Steppe Freight LLP",
            "full_name": "Aigerim",
            "iin": "850512300119",
            "phone": "+77011234567",
            "email": "aigerim@steppe.kz",
            "password": PASSWORD,
            "password_again": "something else",
        },
        **EN,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The two passwords differ." in page
    assert 'value="Steppe Freight LLP"' in page


def test_a2_sign_in_with_password_and_sms_reaches_the_cabinet(client, fake_twilio):
    person = registered_person(fake_twilio)
    anonymous_key = None
    client.get("/signin/")
    response = client.post("/signin/", {"username": person.email, "password": PASSWORD}, **EN)
    assert response["Location"] == "/signin/factor/"
    anonymous_key = client.session.session_key
    client.post("/signin/factor/", {"factor": "sms", "action": "send"}, **EN)
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    response = client.post(
        "/signin/factor/", {"factor": "sms", "action": "verify", "code": code}, **EN
    )
    assert response.status_code == 302 and response["Location"] == "/cabinet/"
    # A new session id at sign-in (no session fixation).
    assert client.session.session_key != anonymous_key
    cabinet = client.get("/cabinet/", **EN).content.decode()
    assert "Steppe Freight LLP" in cabinet and "Owner" in cabinet
    assert UserSession.objects.filter(user=person, ended_at__isnull=True).count() == 1


def test_a2_password_alone_does_not_open_the_cabinet(client, fake_twilio):
    person = registered_person(fake_twilio)
    client.post("/signin/", {"username": person.email, "password": PASSWORD})
    response = client.get("/cabinet/")
    assert response.status_code == 302 and response["Location"].startswith("/signin/")


def test_a2_wrong_code_is_explained_on_the_page(client, fake_twilio):
    person = registered_person(fake_twilio)
    client.post("/signin/", {"username": person.email, "password": PASSWORD}, **EN)
    client.post("/signin/factor/", {"factor": "sms", "action": "send"}, **EN)
    code = fake_twilio.codes_sent_to(person.phone)[-1]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = client.post(
        "/signin/factor/", {"factor": "sms", "action": "verify", "code": wrong}, **EN
    )
    assert response.status_code == 200
    assert "Tries left for this code: 4" in response.content.decode()


def test_a2_next_is_kept_but_never_leads_off_site(client, fake_twilio):
    person = registered_person(fake_twilio)
    response = web_sign_in(client, person, fake_twilio, next_url="/account/security/")
    assert response["Location"] == "/account/security/"
    other = Client()
    response = web_sign_in(other, person, fake_twilio, next_url="https://evil.example/")
    assert response["Location"] == "/cabinet/"


def test_session_ends_after_30_idle_minutes(client, fake_twilio):
    person = registered_person(fake_twilio)
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as clock:
        web_sign_in(client, person, fake_twilio)
        clock.shift(dt.timedelta(minutes=29))
        assert client.get("/cabinet/").status_code == 200
        clock.shift(dt.timedelta(minutes=31))
        assert client.get("/cabinet/").status_code == 302


def test_session_ends_12_hours_after_sign_in_even_when_active(client, fake_twilio):
    person = registered_person(fake_twilio)
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as clock:
        web_sign_in(client, person, fake_twilio)
        for _ in range(24):
            clock.shift(dt.timedelta(minutes=29, seconds=59))
            assert client.get("/cabinet/").status_code == 200
        clock.shift(dt.timedelta(minutes=1))
        assert client.get("/cabinet/").status_code == 302


def test_a4_person_ends_another_session_from_the_security_page(fake_twilio):
    person = registered_person(fake_twilio)
    laptop, phone = Client(), Client()
    web_sign_in(laptop, person, fake_twilio)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)):
        web_sign_in(phone, person, fake_twilio)
    page = laptop.get("/account/security/", **EN).content.decode()
    assert "This session" in page
    other = UserSession.objects.get(session_key=phone.session.session_key)
    laptop.post("/account/security/", {"action": "end_session", "session": other.pk})
    assert phone.get("/cabinet/").status_code == 302
    assert laptop.get("/cabinet/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.session_ended").count() == 1


def test_a4_token_created_on_the_page_is_shown_once_and_can_be_revoked(client, fake_twilio):
    person = registered_person(fake_twilio)
    web_sign_in(client, person, fake_twilio)
    page = client.post(
        "/account/security/", {"action": "create_token", "name": "fleet system"}, **EN
    ).content.decode()
    token = ApiToken.objects.get(user=person, kind="personal")
    # A year unless the person chose less (A4).
    assert token.expires_at - token.created_at == dt.timedelta(days=365)
    secret = page.split('<code class="token">')[1].split("</code>")[0]
    assert secret.startswith(token.prefix)
    assert secret not in client.get("/account/security/", **EN).content.decode()
    api = Client()
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    client.post("/account/security/", {"action": "revoke_token", "token": token.pk})
    assert api.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401
    client.post(
        "/account/security/",
        {"action": "create_token", "name": "camera", "valid_days": "30"},
        **EN,
    )
    chosen = ApiToken.objects.get(user=person, name="camera")
    assert chosen.expires_at - chosen.created_at == dt.timedelta(days=30)


def test_a5_a_person_cannot_end_someone_elses_session_or_token(fake_twilio):
    first = registered_person(fake_twilio)
    second = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="other@carrier.kz",
    )
    a, b = Client(), Client()
    web_sign_in(a, first, fake_twilio)
    web_sign_in(b, second, fake_twilio)
    theirs = UserSession.objects.get(user=second)
    response = a.post("/account/security/", {"action": "end_session", "session": theirs.pk})
    assert response.status_code == 404
    assert b.get("/cabinet/").status_code == 200


def test_sign_out_ends_the_session(client, fake_twilio):
    person = registered_person(fake_twilio)
    web_sign_in(client, person, fake_twilio)
    client.post("/signout/")
    assert client.get("/cabinet/").status_code == 302
    assert UserSession.objects.get(user=person).ended_at is not None
