import datetime as dt
import hashlib

import pytest
import time_machine

from auth2fa import services
from auth2fa.models import ApiToken
from auth2fa.selectors import api_token_with_person
from core import clock
from tests.auth2fa.factories import PASSWORD, person_without_membership, registered_person

pytestmark = pytest.mark.django_db

REGISTRATION = {
    "carrier": {"kind": "company", "iin_bin": "230140012340", "name": "Steppe Freight LLP"},
    "person": {
        "full_name": "Aigerim Nurlanovna",
        "iin": "850512300119",
        "phone": "+77011234567",
        "email": "aigerim@steppe.kz",
        "password": PASSWORD,
    },
}


def test_a1_a2_a4_api_register_verify_login_otp_token_me(client, fake_twilio):
    registered = client.post("/api/v1/auth/register", REGISTRATION, content_type="application/json")
    assert registered.status_code == 201, registered.json()
    body = registered.json()
    assert body["phone_verification"] == "sent"
    code = fake_twilio.codes_sent_to("+77011234567")[-1]
    verified = client.post(
        "/api/v1/auth/register/verify",
        {"phone": "+77011234567", "code": code},
        content_type="application/json",
    )
    assert verified.json() == {"verified": True}

    login = client.post(
        "/api/v1/auth/login",
        {"username": "aigerim@steppe.kz", "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200
    challenge = login.json()["challenge"]
    assert login.json()["factors"] == ["sms"]
    sent = client.post(
        "/api/v1/auth/otp/send",
        {"challenge": challenge, "factor": "sms"},
        content_type="application/json",
    )
    assert sent.status_code == 202 and sent.json() == {"sent": True, "retry_after": 60}
    code = fake_twilio.codes_sent_to("+77011234567")[-1]
    token = client.post(
        "/api/v1/auth/otp/verify",
        {"challenge": challenge, "factor": "sms", "code": code},
        content_type="application/json",
    ).json()
    assert token["token"].startswith("kzk_")
    assert dt.datetime.fromisoformat(token["expires_at"]).utcoffset() == dt.timedelta(hours=5)

    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token['token']}").json()
    assert me["carrier"] == {
        "id": body["carrier_id"],
        "kind": "company",
        "iin_bin": "230140012340",
        "name": "Steppe Freight LLP",
        "confirmed": True,  # no EDS configured here: confirmed at once (A7)
    }
    assert me["role"] == "owner"
    assert me["user"]["id"] == body["user_id"]


def test_a4_me_needs_a_token(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Bearer kzk_unknown", "Bearer", "Bearer a b"])
def test_a4_bad_tokens_are_refused(client, header):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a4_token_is_stored_hashed_and_shown_once(fake_twilio):
    person = registered_person(fake_twilio)
    issued = services.api_token_issue(user=person, kind=ApiToken.Kind.PERSONAL, name="fleet")
    stored = ApiToken.objects.get()
    assert issued.secret not in {stored.token_hash, stored.prefix, stored.name}
    assert stored.token_hash == hashlib.sha256(issued.secret.encode()).hexdigest()


def test_a4_a_personal_token_stops_working_after_a_year_or_what_its_owner_chose(
    client, fake_twilio
):
    """Personal tokens never expired: a token leaked years ago still worked. Now it works a year
    at most (API_PERSONAL_TOKEN_DAYS), or less when its owner chose less."""
    person = registered_person(fake_twilio)
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        yearly = services.api_token_issue(user=person, kind=ApiToken.Kind.PERSONAL).secret
        monthly = services.api_token_issue(
            user=person,
            kind=ApiToken.Kind.PERSONAL,
            valid_for=dt.timedelta(days=30),
        ).secret
        # A longer life than the longest is cut to it.
        capped = services.api_token_issue(
            user=person,
            kind=ApiToken.Kind.PERSONAL,
            valid_for=dt.timedelta(days=5000),
        )
        assert capped.token.expires_at == clock.now() + dt.timedelta(days=365)

        def works(secret: str) -> bool:
            return (
                client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
            )

        assert works(yearly) and works(monthly)
        traveller.shift(dt.timedelta(days=30))
        assert works(yearly) and not works(monthly)
        traveller.shift(dt.timedelta(days=335))
        assert not works(yearly)


def test_a4_sign_in_token_lasts_12_hours(client, fake_twilio):
    person = registered_person(fake_twilio)
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as clock:
        issued = services.api_token_issue(user=person, kind=ApiToken.Kind.SIGN_IN)
        auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
        clock.shift(dt.timedelta(hours=11, minutes=59))
        assert client.get("/api/v1/me", **auth).status_code == 200
        clock.shift(dt.timedelta(minutes=1))
        assert client.get("/api/v1/me", **auth).status_code == 401


def test_a4_revoked_token_stops_working(client, fake_twilio):
    person = registered_person(fake_twilio)
    issued = services.api_token_issue(user=person, kind=ApiToken.Kind.PERSONAL)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}
    assert client.get("/api/v1/me", **auth).status_code == 200
    services.api_token_revoke(token=issued.token, actor=person)
    assert client.get("/api/v1/me", **auth).status_code == 401


def test_a1_api_registration_errors_name_the_fields(client, fake_twilio):
    bad = {
        "carrier": {**REGISTRATION["carrier"], "iin_bin": "123"},
        "person": {**REGISTRATION["person"], "phone": "call me"},
    }
    response = client.post("/api/v1/auth/register", bad, content_type="application/json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "carrier.iin_bin" in fields and "person.phone" in fields


def test_a1_registration_is_limited_to_10_per_ip_per_hour(client, fake_twilio):
    for _ in range(10):
        client.post("/api/v1/auth/register", {}, content_type="application/json")
    response = client.post("/api/v1/auth/register", {}, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_a3_api_locked_sign_in_is_429_with_retry_after(client, fake_twilio):
    person = registered_person(fake_twilio)
    for _ in range(10):
        response = client.post(
            "/api/v1/auth/login",
            {"username": person.email, "password": "nope"},
            content_type="application/json",
        )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "sign_in_locked"
    assert int(response["Retry-After"]) == 15 * 60


def _fields(instance) -> list:
    """Every column's value with its type (so that 1 is not taken for True)."""
    return [
        (type(value), value)
        for value in (getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields)
    ]


def test_a4_the_token_read_in_sql_is_the_orm_querys(fake_twilio, django_assert_num_queries):
    """The read of every API request, written in SQL (auth2fa.selectors), against the ORM query
    it replaced: the same token, person, membership and carrier, field by field, cached on each
    other the same way, for a member, a person without a membership, a revoked token and an
    unknown one."""
    member = registered_person(fake_twilio)
    loner = person_without_membership(fake_twilio)
    issue = services.api_token_issue
    members = issue(user=member, kind=ApiToken.Kind.PERSONAL, name="ci").secret
    loners = issue(user=loner, kind=ApiToken.Kind.SIGN_IN).secret
    revoked = issue(user=member, kind=ApiToken.Kind.PERSONAL, name="old").secret
    hashed = {
        secret: hashlib.sha256(secret.encode()).hexdigest() for secret in (members, loners, revoked)
    }
    ApiToken.objects.filter(token_hash=hashed[revoked]).update(revoked_at=dt.datetime.now(dt.UTC))
    ApiToken.objects.filter(token_hash=hashed[members]).update(
        last_used_at=dt.datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    )
    hashed["unknown"] = hashlib.sha256(b"kzk_unknown").hexdigest()
    with_membership = []
    for secret, token_hash in hashed.items():
        expected = (
            ApiToken.objects.select_related("user__membership__carrier")
            .filter(token_hash=token_hash, revoked_at__isnull=True)
            .first()
        )
        read = api_token_with_person(token_hash)
        assert (read is None) == (expected is None) == (secret in (revoked, "unknown")), secret
        if expected is None:
            continue
        with django_assert_num_queries(0):
            assert _fields(read) == _fields(expected)
            assert _fields(read.user) == _fields(expected.user)
            instances = [read, read.user]
            if hasattr(expected.user, "membership"):
                with_membership.append(secret)
                found = read.user.membership
                assert _fields(found) == _fields(expected.user.membership)
                assert _fields(found.carrier) == _fields(expected.user.membership.carrier)
                assert found.user is read.user
                instances += [found, found.carrier]
            else:
                assert not hasattr(read.user, "membership")
        for instance in instances:
            assert not instance._state.adding and instance._state.db == "default"
    assert with_membership == [members]
