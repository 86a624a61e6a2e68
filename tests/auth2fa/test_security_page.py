import re

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.models import BackupCode, SmsDevice
from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def now_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, t0=device.t0, step=device.step, digits=device.digits):06d}"


@pytest.fixture
def person(fake_twilio):
    return registered_person(fake_twilio)


@pytest.fixture
def browser(person, sign_in_browser):
    return sign_in_browser(Client(), person, SmsDevice.objects.get(user=person))


def test_a2_set_up_an_authenticator_app_from_the_security_page(browser, person):
    page = browser.post("/account/security/", {"action": "totp_start"}, **EN).content.decode()
    assert "<svg" in page and "Confirm the app" in page
    secret = re.search(r'<code class="token">([A-Z2-7]+)</code>', page).group(1)
    device = TOTPDevice.objects.get(user=person, confirmed=False)
    assert secret and device.config_url.find(secret) > 0
    wrong = browser.post(
        "/account/security/", {"action": "totp_confirm", "code": "000000"}, **EN
    ).content.decode()
    assert "not right" in wrong and "<svg" in wrong  # the QR code stays for another try
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes a retry wait a second after a wrong code
    response = browser.post(
        "/account/security/", {"action": "totp_confirm", "code": now_code(device)}, **EN
    )
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=person).confirmed


def test_a2_sign_in_with_the_new_authenticator_app(browser, person):
    browser.post("/account/security/", {"action": "totp_start"})
    device = TOTPDevice.objects.get(user=person)
    browser.post("/account/security/", {"action": "totp_confirm", "code": now_code(device)})
    fresh = Client()
    fresh.post("/signin/", {"username": person.email, "password": PASSWORD})
    page = fresh.get("/signin/factor/?factor=totp", **EN).content.decode()
    assert "Authenticator app" in page
    device.refresh_from_db()
    device.last_t = -1  # the code used at confirmation may still be current: allow it once more
    device.save()
    response = fresh.post(
        "/signin/factor/", {"factor": "totp", "action": "verify", "code": now_code(device)}
    )
    assert response["Location"] == "/cabinet/"


def test_a2_backup_codes_are_shown_once(browser, person):
    page = browser.post("/account/security/", {"action": "backup_generate"}, **EN).content.decode()
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", page)
    assert len(codes) == 10
    again = browser.get("/account/security/", **EN).content.decode()
    assert codes[0] not in again and "10 unused codes left." in again
    assert BackupCode.objects.filter(device__user=person).count() == 10


def test_a2_link_telegram_gives_a_deep_link(browser, settings):
    settings.TELEGRAM_BOT_USERNAME = "KezekTestBot"
    page = browser.post("/account/security/", {"action": "telegram_link"}, **EN).content.decode()
    assert re.search(r'href="https://t.me/KezekTestBot\?start=[\w-]+"', page)


def test_a2_the_last_second_factor_cannot_be_removed_from_the_page(browser, person):
    response = browser.post(
        "/account/security/", {"action": "factor_remove", "factor": "sms"}, follow=True, **EN
    )
    assert "last second factor" in response.content.decode()
    assert SmsDevice.objects.filter(user=person, confirmed=True).exists()
