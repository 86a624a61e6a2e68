"""Every API error has the shape of API.md: {"error": {"code", "message", "fields"}}."""

import pytest
from django.db import OperationalError
from django.test import override_settings
from django.urls import path
from rest_framework.views import APIView

from core.errors import ApplicationError

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


class Boom(APIView):
    authentication_classes = []

    def get(self, request):
        raise RuntimeError("secret internals")


class Locked(APIView):
    authentication_classes = []

    def get(self, request):
        raise OperationalError("database is locked")


class Refuses(APIView):
    authentication_classes = []

    def get(self, request):
        raise ApplicationError(
            "slot_full", "This hour is fully booked.", status=409, fields={"slot": ["full"]}
        )


urlpatterns = [
    path("api/v1/test/boom", Boom.as_view()),
    path("api/v1/test/locked", Locked.as_view()),
    path("api/v1/test/refuses", Refuses.as_view()),
]


def test_api_unknown_path_is_404_in_error_shape(client):
    assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "not_found")


@override_settings(DEBUG=True)
def test_api_unknown_path_is_json_even_with_debug_on(client):
    assert_error_shape(client.post("/api/v1/no/such/thing"), 404, "not_found")


def test_api_wrong_method_is_405_not_allowed(client):
    assert_error_shape(client.post("/api/v1/fees"), 405, "not_allowed")
    assert_error_shape(client.delete("/api/v1/checkpoints"), 405, "not_allowed")


def test_api_invalid_query_is_400_with_fields(client):
    error = assert_error_shape(
        client.get("/api/v1/checkpoints", {"country": "123"}), 400, "validation_error"
    )
    assert "country" in error["fields"]
    assert "country" in error["message"]


@override_settings(ROOT_URLCONF=__name__)
def test_api_unexpected_exception_is_500_without_a_stack_trace(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/test/boom")
    error = assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in error["message"]


@override_settings(ROOT_URLCONF=__name__)
def test_api_lock_timeout_is_503_busy_with_retry_after(client):
    response = client.get("/api/v1/test/locked")
    assert_error_shape(response, 503, "busy")
    assert int(response["Retry-After"]) > 0


@override_settings(ROOT_URLCONF=__name__)
def test_api_application_error_keeps_its_code_status_and_fields(client):
    error = assert_error_shape(client.get("/api/v1/test/refuses"), 409, "slot_full")
    assert error["fields"] == {"slot": ["full"]}


def test_api_throttled_is_429_with_retry_after(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_read": "2/min"},
    }
    for _ in range(2):
        assert client.get("/api/v1/countries").status_code == 200
    response = client.get("/api/v1/countries")
    assert_error_shape(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_api_messages_follow_the_persons_language(client):
    error = assert_error_shape(
        client.get("/api/v1/checkpoints", {"country": "x"}, HTTP_ACCEPT_LANGUAGE="en"),
        400,
        "validation_error",
    )
    assert "two letters" in error["message"]


def test_api_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/fees" in schema.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    # The docs page loads its assets from the portal itself, never from a CDN.
    assert b"cdn." not in docs.content
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_page_404_outside_the_api_is_a_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
