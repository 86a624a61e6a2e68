"""Passkeys as a second factor (A2): set up on the security page, used after the password, removed
under the "never the last factor" rule; failures count towards the lock (A3); audited (A6)."""

import datetime as dt
import json

import pytest
import time_machine
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, RequestFactory
from django_otp_webauthn.models import WebAuthnCredential

from auth2fa import services
from auth2fa.models import SignIn, SignInFailure, SmsDevice, User
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.auth2fa.factories import PASSWORD, T0, registered_person
from tests.fakes.webauthn import SoftAuthenticator

# Notices go through the outbox (A8); `eager` delivers them right after commit.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

RP_ID = "kezek.kz"
ORIGIN = "https://kezek.kz"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture(autouse=True)
def relying_party(settings):
    settings.WEBAUTHN_RP_ID = RP_ID
    settings.WEBAUTHN_RP_NAME = "Kezek"
    settings.WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]


@pytest.fixture
def person(fake_twilio):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        person = registered_person(fake_twilio)
    person.language = "en"
    person.save(update_fields=["language"])
    return person


@pytest.fixture
def other(fake_twilio):
    with time_machine.travel(T0 - dt.timedelta(days=1), tick=False):
        return registered_person(
            fake_twilio,
            iin_bin="230140012350",
            iin="900101300126",
            phone="+77017654321",
            email="bolat@steppe.kz",
        )


def a_browser():
    """A request with a session of its own: the ceremonies keep their state in it."""
    request = RequestFactory().post("/")
    request.session = SessionStore()
    return request


def enrol(person, commit, *, name="Work laptop") -> tuple[SoftAuthenticator, WebAuthnCredential]:
    browser = a_browser()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options = services.passkey_register_begin(user=person, request=browser)
    with commit():
        device = services.passkey_register_complete(
            user=person, request=browser, data=authenticator.create(options), name=name
        )
    return authenticator, device


def start(person) -> str:
    return services.sign_in_with_password(username=person.email, password=PASSWORD).challenge


def sms_to(fake_twilio, person) -> list[str]:
    return [m["Body"] for m in fake_twilio.messages if m["To"] == person.phone]


# --- Setting a passkey up -------------------------------------------------------------------------


def test_a2_passkey_set_up_gives_creation_options_for_our_relying_party(person, clock):
    browser = a_browser()
    options = services.passkey_register_begin(user=person, request=browser)
    assert options["rp"] == {"id": RP_ID, "name": "Kezek"}
    assert options["user"]["name"] == person.email
    assert options["excludeCredentials"] == []
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    # The challenge waits in the session, bound to this person, for 5 minutes.
    state = browser.session[services.PASSKEY_REGISTRATION]
    assert state["challenge"] == options["challenge"]
    assert state["bound_to"] == f"user:{person.pk}"


def test_a2_passkey_set_up_adds_a_confirmed_factor_audited_and_told(
    person, fake_twilio, commit, clock
):
    authenticator, device = enrol(person, commit)
    assert device.confirmed and device.user == person and device.name == "Work laptop"
    assert device.credential_id == authenticator.credential_id
    assert services.factors_of(person) == ["sms", "passkey"]
    event = AuditEvent.objects.get(action="auth.factor_added")
    assert (event.actor_id, event.object_id) == (person.pk, str(person.pk))
    assert event.after == {"factor": "passkey", "device": device.pk, "name": "Work laptop"}
    [sms] = sms_to(fake_twilio, person)
    assert sms == (
        "Kezek: a sign-in factor was added to your account: passkey (25.11.2026 10:00). "
        "If it was not you, contact the registrar at once."
    )


def test_a2_passkeys_are_offered_after_the_app_and_before_backup_codes(person, commit, clock):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    enrol(person, commit)
    TOTPDevice.objects.create(user=person, name="app", confirmed=True)
    services.backup_codes_generate(user=person)
    assert services.factors_of(person) == ["sms", "totp", "passkey", "backup"]


def test_a2_a_passkey_is_not_registered_twice(person, commit, clock):
    authenticator, _device = enrol(person, commit)
    options = services.passkey_register_begin(user=person, request=a_browser())
    assert [c["id"] for c in options["excludeCredentials"]] == [authenticator.id]


def test_a2_a_passkey_without_a_name_gets_one(person, commit, clock):
    from django.utils import translation

    with translation.override("en"):
        _authenticator, device = enrol(person, commit, name="   ")
    assert device.name == "Passkey"


@pytest.mark.parametrize(
    "tamper",
    [
        {"origin": "https://kezek.evil.example"},
        {"challenge": "c29tZSBvdGhlciBjaGFsbGVuZ2U"},
        {"rp_id": "evil.example"},
    ],
    ids=["other origin", "other challenge", "other relying party"],
)
def test_a2_a_passkey_that_does_not_check_out_is_not_added(
    person, fake_twilio, commit, clock, tamper
):
    browser = a_browser()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options = services.passkey_register_begin(user=person, request=browser)
    with pytest.raises(ApplicationError) as refusal, commit():
        services.passkey_register_complete(
            user=person, request=browser, data=authenticator.create(options, **tamper)
        )
    assert (refusal.value.code, refusal.value.status) == ("passkey_refused", 400)
    assert not WebAuthnCredential.objects.exists()
    assert not AuditEvent.objects.filter(action="auth.factor_added").exists()
    assert fake_twilio.messages == []
    # The set-up is spent: even the right answer now needs a new start.
    with pytest.raises(ApplicationError) as refusal:
        services.passkey_register_complete(
            user=person, request=browser, data=authenticator.create(options)
        )
    assert refusal.value.code == "passkey_not_started"


def test_a2_passkey_set_up_expires_and_is_bound_to_the_person(person, other, clock):
    browser = a_browser()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    options = services.passkey_register_begin(user=person, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.passkey_register_complete(
            user=other, request=browser, data=authenticator.create(options)
        )
    assert refusal.value.code == "passkey_not_started"
    options = services.passkey_register_begin(user=person, request=browser)
    clock.shift(dt.timedelta(minutes=5))
    with pytest.raises(ApplicationError) as refusal:
        services.passkey_register_complete(
            user=person, request=browser, data=authenticator.create(options)
        )
    assert refusal.value.code == "passkey_not_started"
    assert not WebAuthnCredential.objects.exists()


# --- Signing in with a passkey --------------------------------------------------------------------


def test_a2_password_then_passkey_signs_in(person, commit, clock):
    authenticator, device = enrol(person, commit)
    challenge = start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    assert options["rpId"] == RP_ID
    assert [c["id"] for c in options["allowCredentials"]] == [authenticator.id]
    assert options["userVerification"] == "preferred"
    signed_in = services.sign_in_passkey_complete(
        challenge=challenge, request=browser, data=authenticator.get(options)
    )
    assert (signed_in.user, signed_in.device) == (person, device)
    assert signed_in.sign_in.completed_at == T0
    device.refresh_from_db()
    assert device.sign_count == 1 and device.last_used_at is not None
    event = AuditEvent.objects.get(action="auth.signed_in")
    assert event.after == {"first_factor": "password", "second_factor": "passkey"}
    assert User.objects.get(pk=person.pk).last_login == T0
    # The sign-in is finished: it cannot be completed again.
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=authenticator.get(options)
        )
    assert refusal.value.code == "invalid_challenge"


@pytest.mark.parametrize(
    "tamper",
    [
        {"corrupt_signature": True},
        {"challenge": "c29tZSBvdGhlciBjaGFsbGVuZ2U"},
        {"origin": "https://kezek.evil.example"},
        {"rp_id": "evil.example"},
    ],
    ids=["wrong signature", "wrong challenge", "other origin", "other relying party"],
)
def test_a3_a_passkey_answer_that_does_not_check_out_is_refused_and_counted(
    person, commit, clock, tamper
):
    authenticator, device = enrol(person, commit)
    challenge = start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=authenticator.get(options, **tamper)
        )
    assert (refusal.value.code, refusal.value.status) == ("invalid_passkey", 401)
    assert list(SignInFailure.objects.values_list("reason", flat=True)) == ["code:passkey"]
    failed = AuditEvent.objects.get(action="auth.sign_in_failed")
    assert failed.after == {"reason": "code:passkey"}
    assert not AuditEvent.objects.filter(action="auth.signed_in").exists()
    assert SignIn.objects.get(user=person).completed_at is None
    device.refresh_from_db()
    assert device.sign_count == 0
    # The ceremony is spent; a new one with a right answer still signs in.
    with pytest.raises(ApplicationError):
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=authenticator.get(options)
        )
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    assert (
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=authenticator.get(options)
        ).user
        == person
    )


def test_a3_a_sign_count_that_does_not_go_up_is_refused(person, commit, clock):
    authenticator, device = enrol(person, commit)
    for _ in range(2):
        challenge = start(person)
        browser = a_browser()
        options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=authenticator.get(options)
        )
    device.refresh_from_db()
    assert device.sign_count == 2
    for count in (2, 1):  # a cloned authenticator answers with a count already seen
        challenge = start(person)
        browser = a_browser()
        options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
        with pytest.raises(ApplicationError) as refusal:
            services.sign_in_passkey_complete(
                challenge=challenge,
                request=browser,
                data=authenticator.get(options, sign_count=count),
            )
        assert refusal.value.code == "invalid_passkey"
    assert SignInFailure.objects.filter(user=person, reason="code:passkey").count() == 2
    device.refresh_from_db()
    assert device.sign_count == 2


def test_a3_an_answer_cannot_be_replayed_in_another_sign_in(person, commit, clock):
    authenticator, _device = enrol(person, commit)
    challenge = start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    answer = authenticator.get(options)
    services.sign_in_passkey_complete(challenge=challenge, request=browser, data=answer)
    again = start(person)
    services.sign_in_passkey_begin(challenge=again, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(challenge=again, request=browser, data=answer)
    assert refusal.value.code == "invalid_passkey"


def test_a3_a_ceremony_belongs_to_its_sign_in_and_expires(person, commit, clock):
    authenticator, _device = enrol(person, commit)
    first, second = start(person), start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=first, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=second, request=browser, data=authenticator.get(options)
        )
    assert refusal.value.code == "invalid_passkey"
    options = services.sign_in_passkey_begin(challenge=first, request=browser)
    clock.shift(dt.timedelta(minutes=5))
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=first, request=browser, data=authenticator.get(options)
        )
    assert refusal.value.code == "invalid_passkey"
    assert SignInFailure.objects.filter(user=person).count() == 2


def test_a3_no_answer_without_a_ceremony(person, commit, clock):
    authenticator, _device = enrol(person, commit)
    challenge = start(person)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=challenge, request=a_browser(), data={"id": authenticator.id}
        )
    assert refusal.value.code == "invalid_passkey"
    assert SignInFailure.objects.filter(user=person).count() == 1


def test_a3_another_persons_passkey_does_not_sign_in(person, other, commit, clock):
    enrol(person, commit)
    stranger, _theirs = enrol(other, commit)
    challenge = start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=challenge, request=browser, data=stranger.get(options)
        )
    assert refusal.value.code == "invalid_passkey"
    assert SignInFailure.objects.filter(user=person).count() == 1


def test_a3_passkey_failures_lock_sign_in_like_wrong_codes(person, commit, clock):
    authenticator, _device = enrol(person, commit)
    for _ in range(9):
        with pytest.raises(ApplicationError):
            services.sign_in_with_password(username=person.email, password="nope")
    challenge = start(person)
    browser = a_browser()
    options = services.sign_in_passkey_begin(challenge=challenge, request=browser)
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_complete(
            challenge=challenge,
            request=browser,
            data=authenticator.get(options, corrupt_signature=True),
        )
    assert (refusal.value.code, refusal.value.retry_after) == ("sign_in_locked", 15 * 60)
    # Locked: even a right answer is refused, and no new ceremony starts.
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_begin(challenge=challenge, request=browser)
    assert refusal.value.code == "sign_in_locked"


def test_a2_passkey_sign_in_needs_a_passkey(person, clock):
    with pytest.raises(ApplicationError) as refusal:
        services.sign_in_passkey_begin(challenge=start(person), request=a_browser())
    assert refusal.value.code == "validation_error"


# --- Removing passkeys ----------------------------------------------------------------------------


def test_a2_remove_one_passkey_by_its_id(person, fake_twilio, commit, clock):
    _first, laptop = enrol(person, commit, name="Laptop")
    _second, phone = enrol(person, commit, name="Phone")
    fake_twilio.messages.clear()
    with commit():
        services.factor_remove(user=person, factor="passkey", device_id=laptop.pk)
    assert services.passkeys_of(person) == [phone]
    event = AuditEvent.objects.get(action="auth.factor_removed")
    assert (event.actor_id, event.before) == (
        person.pk,
        {"factor": "passkey", "devices": [laptop.pk]},
    )
    [sms] = sms_to(fake_twilio, person)
    assert "removed" in sms and "passkey" in sms


def test_a2_a_passkey_is_a_real_second_factor_and_never_the_last_to_go(person, commit, clock):
    _authenticator, device = enrol(person, commit)
    # With a passkey, the SMS factor can go; then the passkey is the last factor.
    with commit():
        services.factor_remove(user=person, factor="sms")
    assert services.factors_of(person) == ["passkey"]
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="passkey", device_id=device.pk)
    assert (refusal.value.code, refusal.value.status) == ("last_factor", 409)
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_a2_nobody_removes_someone_elses_passkey(person, other, commit, clock):
    _authenticator, theirs = enrol(other, commit)
    enrol(person, commit)
    with pytest.raises(ApplicationError) as refusal:
        services.factor_remove(user=person, factor="passkey", device_id=theirs.pk)
    assert refusal.value.code == "not_found"
    assert WebAuthnCredential.objects.filter(pk=theirs.pk).exists()


# --- In the browser -------------------------------------------------------------------------------


def post_json(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **EN)


@pytest.fixture
def browser(person, sign_in_browser):
    return sign_in_browser(Client(), person, SmsDevice.objects.get(user=person))


def add_passkey_in(browser: Client, *, name: str = "Work laptop") -> SoftAuthenticator:
    options = post_json(browser, "/account/security/passkeys/begin/").json()
    authenticator = SoftAuthenticator(origin=ORIGIN)
    answer = post_json(
        browser,
        "/account/security/passkeys/complete/",
        {"credential": authenticator.create(options), "name": name},
    )
    assert answer.status_code == 200
    assert answer.json() == {"redirect": "/account/security/"}
    return authenticator


def test_a2_add_a_passkey_on_the_security_page_and_sign_in_with_it(browser, person):
    page = browser.get("/account/security/", **EN).content.decode()
    assert "Passkeys" in page and "Add a passkey" in page and "js/passkeys.js" in page
    authenticator = add_passkey_in(browser)
    page = browser.get("/account/security/", **EN).content.decode()
    assert "The passkey “Work laptop” has been added." in page
    assert "Work laptop" in page
    browser.post("/signout/")

    client = Client()
    client.post(
        "/signin/?next=/account/security/", {"username": person.email, "password": PASSWORD}
    )
    page = client.get("/signin/factor/?factor=passkey", **EN).content.decode()
    assert "Use a passkey" in page and 'name="code"' not in page
    options = post_json(client, "/signin/passkey/begin/").json()
    answer = post_json(
        client, "/signin/passkey/complete/", {"credential": authenticator.get(options)}
    )
    assert answer.status_code == 200 and answer.json() == {"redirect": "/account/security/"}
    assert client.get("/cabinet/", **EN).status_code == 200
    session = client.session
    assert session["otp_device_id"] == WebAuthnCredential.objects.get().persistent_id


def test_a2_refused_passkey_answers_in_the_api_error_shape(browser, person):
    authenticator = add_passkey_in(browser)
    client = Client()
    client.post("/signin/", {"username": person.email, "password": PASSWORD})
    options = post_json(client, "/signin/passkey/begin/").json()
    answer = post_json(
        client,
        "/signin/passkey/complete/",
        {"credential": authenticator.get(options, corrupt_signature=True)},
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_passkey"
    assert "redirect" not in answer.json()
    assert client.get("/cabinet/").status_code == 302


def test_a2_passkey_endpoints_without_a_pending_sign_in_send_back_to_the_first_step(client):
    for url in ("/signin/passkey/begin/", "/signin/passkey/complete/"):
        answer = post_json(client, url)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "invalid_challenge"
        assert answer.json()["redirect"] == "/signin/"


def test_a2_a_password_alone_does_not_add_a_passkey(client, person):
    client.post("/signin/", {"username": person.email, "password": PASSWORD})
    for url in ("/account/security/passkeys/begin/", "/account/security/passkeys/complete/"):
        answer = post_json(client, url)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "not_authenticated"
    assert not WebAuthnCredential.objects.exists()


def test_a2_passkey_endpoints_need_the_csrf_token_and_a_post(person):
    client = Client(enforce_csrf_checks=True)
    client.post("/signin/", {"username": person.email, "password": PASSWORD})  # refused: no token
    client.get("/signin/")
    token = client.cookies["csrftoken"].value
    client.post(
        "/signin/",
        {"username": person.email, "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert post_json(client, "/signin/passkey/begin/").status_code == 403
    answer = client.post(
        "/signin/passkey/begin/", "{}", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    # The person has no passkey: the request got through CSRF to the service's refusal.
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "validation_error"
    assert client.get("/signin/passkey/begin/").status_code == 405


def test_a2_remove_a_passkey_on_the_security_page(browser, person):
    add_passkey_in(browser)
    device = WebAuthnCredential.objects.get(user=person)
    page = browser.get("/account/security/", **EN).content.decode()
    assert f'name="device" value="{device.pk}"' in page
    response = browser.post(
        "/account/security/",
        {"action": "factor_remove", "factor": "passkey", "device": device.pk},
        **EN,
    )
    assert response.status_code == 302
    assert not WebAuthnCredential.objects.exists()
    assert services.factors_of(person) == ["sms"]
