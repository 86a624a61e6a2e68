"""Per-IP rate limits on sign-in, second factors and registration, web and API (API.md).

Each test sets a small limit, spends it, and checks that the next request is refused with 429:
in the API's error shape with Retry-After for the API, with a page that says so for the web.
Another address still gets through, and the limit counts the same for page and API.
"""

import pytest
from django.test import Client

from tests.auth2fa.factories import PASSWORD, registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates


def assert_api_throttled(response):
    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "code": "throttled",
            "message": "Too many requests. Try again later.",
            "fields": {},
        }
    }
    assert int(response["Retry-After"]) >= 1


def assert_page_throttled(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    page = response.content.decode()
    assert "Too many attempts from your address" in page
    assert response["Content-Type"].startswith("text/html")


def post_json(client, url, body, **extra):
    return client.post(url, body, content_type="application/json", **EN, **extra)


def test_api_password_sign_in_is_limited_per_ip(client, rates):
    rates(sign_in="3/min")
    wrong = {"username": "nobody@example.kz", "password": "wrong"}
    for _ in range(3):
        assert post_json(client, "/api/v1/auth/login", wrong).status_code != 429
    assert_api_throttled(post_json(client, "/api/v1/auth/login", wrong))
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert post_json(elsewhere, "/api/v1/auth/login", wrong).status_code != 429


def test_api_eds_challenge_and_sign_in_share_the_sign_in_limit(client, rates):
    rates(sign_in="2/min")
    assert post_json(client, "/api/v1/auth/eds/challenge", {}).status_code == 200
    bad = {"nonce": "kezek-x", "signature": "AA==", "signature_format": "raw"}
    assert post_json(client, "/api/v1/auth/eds/login", bad).status_code != 429
    assert_api_throttled(post_json(client, "/api/v1/auth/eds/login", bad))
    assert_api_throttled(post_json(client, "/api/v1/auth/eds/challenge", {}))


def test_api_otp_send_and_verify_are_limited_per_ip(client, rates):
    rates(otp="2/min")
    body = {"challenge": "no-such-challenge", "factor": "sms"}
    assert post_json(client, "/api/v1/auth/otp/send", body).status_code != 429
    assert (
        post_json(client, "/api/v1/auth/otp/verify", {**body, "code": "123456"}).status_code != 429
    )
    assert_api_throttled(post_json(client, "/api/v1/auth/otp/verify", {**body, "code": "1"}))
    assert_api_throttled(post_json(client, "/api/v1/auth/otp/send", body))


def test_api_registration_verify_and_resend_count_with_registration(client, rates):
    rates(registration="2/min")
    assert post_json(client, "/api/v1/auth/register", {}).status_code == 400
    resend = post_json(client, "/api/v1/auth/register/resend", {"phone": "+77011234567"})
    assert resend.status_code != 429
    verify = {"phone": "+77011234567", "code": "123456"}
    assert_api_throttled(post_json(client, "/api/v1/auth/register/verify", verify))


def test_web_password_sign_in_is_limited_per_ip_and_reading_the_form_is_free(client, rates):
    rates(sign_in="2/min")
    wrong = {"username": "nobody@example.kz", "password": "wrong"}
    for _ in range(2):
        assert client.post("/signin/", wrong, **EN).status_code == 200
    assert_page_throttled(client.post("/signin/", wrong, **EN))
    assert client.get("/signin/", **EN).status_code == 200


def test_web_and_api_sign_in_share_one_allowance(client, rates):
    rates(sign_in="2/min")
    wrong = {"username": "nobody@example.kz", "password": "wrong"}
    assert client.post("/signin/", wrong, **EN).status_code == 200
    assert post_json(client, "/api/v1/auth/login", wrong).status_code != 429
    assert_page_throttled(client.post("/signin/", wrong, **EN))


def test_web_eds_sign_in_page_counts_every_challenge_it_issues(client, rates):
    rates(sign_in="2/min")
    assert client.get("/signin/eds/", **EN).status_code == 200
    assert client.get("/signin/eds/", **EN).status_code == 200
    assert_page_throttled(client.get("/signin/eds/", **EN))


def test_web_second_factor_is_limited_per_ip(client, fake_twilio, rates):
    registered_person(fake_twilio)
    rates(otp="2/min")
    started = client.post("/signin/", {"username": "aigerim@steppe.kz", "password": PASSWORD}, **EN)
    assert started.status_code == 302
    wrong = {"action": "verify", "factor": "sms", "code": "000000"}
    assert client.post("/signin/factor/", {"action": "send", "factor": "sms"}, **EN).status_code
    assert client.post("/signin/factor/", wrong, **EN).status_code == 200
    assert_page_throttled(client.post("/signin/factor/", wrong, **EN))


def test_web_passkey_sign_in_answers_429_in_the_api_error_shape(client, fake_twilio, rates):
    registered_person(fake_twilio)
    rates(otp="1/min")
    client.post("/signin/", {"username": "aigerim@steppe.kz", "password": PASSWORD}, **EN)
    first = post_json(client, "/signin/passkey/begin/", {})
    assert first.status_code != 429
    assert_api_throttled(post_json(client, "/signin/passkey/complete/", {}))


def test_web_registration_is_limited_per_ip(client, rates):
    rates(registration="2/min")
    for _ in range(2):
        assert client.post("/register/", {}, **EN).status_code == 200
    assert_page_throttled(client.post("/register/", {}, **EN))
    assert client.get("/register/", **EN).status_code == 200
