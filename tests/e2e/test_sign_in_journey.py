"""A carrier registers, confirms the phone with the SMS code and signs in with password + SMS."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def test_a1_a2_register_confirm_phone_sign_in_with_sms_and_see_the_cabinet(page, fake_twilio):
    page.goto("/")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("The carrier is").select_option("company")
    page.get_by_label("BIN of the company or IIN of the entrepreneur").fill("230140012340")
    page.get_by_label("Carrier's name").fill("Steppe Freight LLP")
    page.get_by_label("Your full name").fill("Aigerim Nurlanovna")
    page.get_by_label("Your IIN").fill("850512300119")
    page.get_by_label("Mobile phone").fill("+7 701 123 45 67")
    page.get_by_label("E-mail").fill("aigerim@steppe.kz")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.snap("registration-form")
    page.get_by_role("button", name="Register").click()

    page.get_by_role("heading", name="Confirm your phone").wait_for()
    code = fake_twilio.codes_sent_to("+77011234567")[-1]
    page.get_by_label("Code").fill(code)
    page.snap("confirm-phone")
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("heading", name="Sign in", exact=True).wait_for()
    page.get_by_label("E-mail or phone").fill("aigerim@steppe.kz")
    page.get_by_label("Password").fill(PASSWORD)
    page.snap("sign-in")
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    code = fake_twilio.codes_sent_to("+77011234567")[-1]
    page.get_by_label("Code").fill(code)
    page.snap("second-factor")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("heading", name="Personal account").wait_for()
    assert page.get_by_role("heading", name="Steppe Freight LLP").is_visible()
    page.snap("cabinet")


def _totp_at(secret: str, moment: float) -> str:
    import base64

    from django_otp.oath import TOTP

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    generator = TOTP(key)
    generator.time = moment
    return f"{generator.token():06d}"


def test_a2_enroll_an_authenticator_app_and_sign_in_with_it(page, fake_twilio):
    import time

    from tests.auth2fa.factories import registered_person

    person = registered_person(fake_twilio)
    page.goto("/signin/")
    page.get_by_label("E-mail or phone").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_text("The code has been sent.").wait_for()
    page.get_by_label("Code").fill(fake_twilio.codes_sent_to(person.phone)[-1])
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Security: second factors, sessions and API tokens").click()
    page.get_by_role("button", name="Set up an authenticator app").click()
    secret = page.locator(".qr + p code").inner_text()
    page.snap("authenticator-qr")
    page.get_by_label("Code").fill(_totp_at(secret, time.time()))
    page.get_by_role("button", name="Confirm the app").click()
    page.get_by_text("The authenticator app is set up.").wait_for()
    page.snap("authenticator-set-up")
    page.get_by_role("button", name="Sign out").click()

    page.goto("/signin/")
    page.get_by_label("E-mail or phone").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("link", name="Authenticator app").click()
    # The code just used cannot be replayed; the app's next code is accepted (one step of drift).
    page.get_by_label("Code").fill(_totp_at(secret, time.time() + 30))
    page.snap("sign-in-with-app")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Personal account").wait_for()
