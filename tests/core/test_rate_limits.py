"""Rate limits count per client address (core.middleware.client_ip): REMOTE_ADDR with no proxy
in front, the address the trusted proxy appended behind one, never one a client chose; public
reads answer 429 in the API's error shape beyond their limit."""

import pytest
from django.test import Client, RequestFactory

from core.middleware import client_ip

pytestmark = pytest.mark.django_db


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.fixture
def proxies(settings):
    def set_proxies(count: int):
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return set_proxies


def test_without_a_proxy_the_forwarded_header_is_ignored(proxies):
    proxies(0)
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_one_proxy_the_address_it_appended_counts(proxies):
    proxies(1)
    # The client wrote "1.2.3.4" itself; the proxy appended the address it saw.
    assert client_ip(request_from("10.0.0.2", "1.2.3.4, 198.51.100.23")) == "198.51.100.23"
    assert client_ip(request_from("10.0.0.2", "198.51.100.23")) == "198.51.100.23"
    assert client_ip(request_from("10.0.0.2")) == "10.0.0.2"


def test_behind_two_proxies_the_outer_ones_entry_counts(proxies):
    proxies(2)
    forwarded = "1.2.3.4, 198.51.100.23, 10.0.0.7"
    assert client_ip(request_from("10.0.0.2", forwarded)) == "198.51.100.23"


def test_public_reads_beyond_the_limit_are_429_in_the_error_shape(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "2/min",
        },
    }
    client = Client(REMOTE_ADDR="203.0.113.5")
    for _ in range(2):
        assert client.get("/api/v1/checkpoints").status_code == 200
    refused = client.get("/api/v1/checkpoints", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429
    assert refused.json() == {
        "error": {
            "code": "throttled",
            "message": "Too many requests. Try again later.",
            "fields": {},
        }
    }
    assert int(refused["Retry-After"]) >= 1
    # A made-up X-Forwarded-For does not make another client without a proxy in front ...
    spoofed = client.get("/api/v1/checkpoints", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert spoofed.status_code == 429
    # ... while a different address does get through.
    assert Client(REMOTE_ADDR="203.0.113.6").get("/api/v1/checkpoints").status_code == 200


def test_behind_a_proxy_clients_are_counted_apart(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "NUM_PROXIES": 1,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "1/min",
        },
    }
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    assert proxy.get("/api/v1/checkpoints", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    assert proxy.get("/api/v1/checkpoints", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200
    again = proxy.get("/api/v1/checkpoints", HTTP_X_FORWARDED_FOR="5.5.5.5, 198.51.100.1")
    assert again.status_code == 429


@pytest.mark.parametrize("path", ["/", "/faq/", "/fees/", "/receipts/verify/"])
def test_public_pages_share_the_public_read_limit_with_the_api(settings, path):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "2/min",
        },
    }
    client = Client(REMOTE_ADDR="203.0.113.8")
    assert client.get(path, HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    assert client.get("/api/v1/checkpoints").status_code == 200
    refused = client.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert "Too many attempts from your address" in refused.content.decode()
    # Pages outside the list are not counted.
    assert client.get("/signin/", HTTP_ACCEPT_LANGUAGE="en").status_code == 200


def test_the_live_board_counts_as_a_public_read(settings):
    from checkpoints.models import Checkpoint
    from checkpoints.services import reference_checkpoints_load

    reference_checkpoints_load()
    code = Checkpoint.objects.order_by("pk").first().code
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "1/min",
        },
    }
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert client.get(f"/board/{code}/").status_code == 200
    assert client.get(f"/board/{code}/").status_code == 429
