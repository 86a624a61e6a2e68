"""A carrier adds a passkey on the security page and signs in with password + passkey.

Chromium's virtual authenticator (DevTools protocol, WebAuthn domain) stands in for the
fingerprint reader: a platform authenticator that keeps passkeys and verifies the person. WebAuthn
needs a secure context; http://localhost is one, and the live server listens on localhost.
"""

import pytest
from django_otp_webauthn.models import WebAuthnCredential

from core.models import AuditEvent
from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def authenticator(page, live_server, settings):
    assert live_server.url.startswith("http://localhost:")
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    added = devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return devtools, added["authenticatorId"]


def sign_in_with_password(page, person) -> None:
    page.goto("/signin/")
    page.get_by_label("E-mail or phone").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_a2_add_a_passkey_and_sign_in_with_it(page, authenticator, fake_twilio):
    devtools, authenticator_id = authenticator
    person = registered_person(fake_twilio)
    sign_in_with_password(page, person)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    page.get_by_label("Code").fill(fake_twilio.codes_sent_to(person.phone)[-1])
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Security: second factors, sessions and API tokens").click()
    page.get_by_role("heading", name="Passkeys").wait_for()
    page.get_by_label("Name of the passkey").fill("Office laptop")
    page.snap("security-page")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("The passkey “Office laptop” has been added.").wait_for()
    page.snap("passkey-added")
    [credential] = devtools.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})[
        "credentials"
    ]
    device = WebAuthnCredential.objects.get(user=person)
    assert device.name == "Office laptop" and device.confirmed
    assert AuditEvent.objects.filter(action="auth.factor_added", actor=person).exists()
    page.get_by_role("button", name="Sign out").click()

    sign_in_with_password(page, person)
    page.get_by_role("link", name="Passkey").click()
    page.get_by_role("button", name="Use a passkey").wait_for()
    page.snap("sign-in-with-passkey")
    page.get_by_role("button", name="Use a passkey").click()

    page.get_by_role("heading", name="Personal account").wait_for()
    assert page.get_by_role("heading", name="Steppe Freight LLP").is_visible()
    page.snap("cabinet")
    device.refresh_from_db()
    assert device.sign_count == credential["signCount"] + 1
    event = AuditEvent.objects.filter(action="auth.signed_in", actor=person).latest("id")
    assert event.after == {"first_factor": "password", "second_factor": "passkey"}
