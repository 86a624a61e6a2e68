"""Requests Django refuses to read, and pages asked for without bound (found by the API's
hostile-input run): a 400 in the API's error shape, never a server error."""

import pytest
from django.test import Client

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from core.pagination import LimitOffsetWithCeiling
from tests.worlds import make_world

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def assert_validation_error(response, message: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": {"code": "validation_error", "message": message, "fields": {}}
    }


def test_a_form_body_over_the_upload_limit_is_a_400_in_the_error_shape(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = Client().post(
        "/api/v1/auth/eds/login",
        "signature=" + "A" * 4096,
        content_type="application/x-www-form-urlencoded",
        **EN,
    )
    assert_validation_error(response, "The request body is too large.")


def test_a_form_body_with_too_many_fields_is_a_400_in_the_error_shape(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = Client().post(
        "/api/v1/auth/login",
        "&".join(f"field{n}=x" for n in range(50)),
        content_type="application/x-www-form-urlencoded",
        **EN,
    )
    assert_validation_error(response, "The request has too many fields.")


@pytest.mark.parametrize(
    "body", ["[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000], ids=["lists", "objects"]
)
def test_json_nested_deeper_than_the_decoder_goes_is_a_400_in_the_error_shape(body):
    response = Client().post("/api/v1/auth/login", body, content_type="application/json", **EN)
    assert_validation_error(
        response, "The request body could not be read: the JSON is nested too deeply"
    )


def test_a_page_limit_beyond_any_database_integer_is_read_as_the_ceiling(fake_twilio):
    world = make_world(fake_twilio)
    token = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret
    response = Client().get(
        "/api/v1/vehicles",
        {"limit": str(10**25), "offset": "-5"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **EN,
    )
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 3
    assert len(page["results"]) == 3
    assert LimitOffsetWithCeiling.max_limit == 500


def test_a_page_limit_is_capped_in_the_next_link(fake_twilio):
    world = make_world(fake_twilio)
    token = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret
    response = Client().get(
        "/api/v1/vehicles",
        {"limit": "100000", "offset": "1"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **EN,
    )
    assert response.status_code == 200
    assert response.json()["previous"].endswith("limit=500")


@pytest.mark.parametrize("key", ["\x00", "key\x00", "a\tb", "line\nbreak"])
def test_an_idempotency_key_with_control_characters_is_a_400_and_moves_no_money(fake_twilio, key):
    from deposits.models import RefundRequest

    world = make_world(fake_twilio)
    world.top_up("1000.00")
    token = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret
    response = Client().post(
        "/api/v1/account/refunds",
        {"amount": "10.00", "iban": "KZ86125KZT5004100100"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IDEMPOTENCY_KEY=key,
        **EN,
    )
    assert response.status_code == 400
    message = "The Idempotency-Key header must not hold control characters."
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": message,
            "fields": {"Idempotency-Key": [message]},
        }
    }
    assert not RefundRequest.objects.exists()
