"""Hostile input against every operation of /api/v1/schema/: no 5xx, every error in the API's
shape (API.md), and answers that match the schema.

Schemathesis reads the schema the portal serves and sends generated requests, valid and invalid,
straight into the WSGI application (in this process, inside the test's database transaction).
The authenticated run uses a carrier's personal token; the carrier has money, vehicles, drivers,
a booking and a plate camera's key, so the operations reach their real code paths. The
anonymous run sends no credentials at all. Seeds are fixed (derandomized), so CI sees the same
requests every time.
"""

import datetime as dt

import pytest
import schemathesis
import time_machine
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from bookings.services import BookingRequest, booking_create
from checkpoints.services import device_key_issue
from core.clock import ALMATY
from tests.worlds import make_world

# Enough examples to cover every operation with valid and invalid input within CI's budget.
MAX_EXAMPLES = 40
ERROR_KEYS = {"code", "message", "fields"}
NOW = dt.datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY)

# Over https, as behind the production proxy: plain http is only redirected there.
BASE_URL = "https://localhost"

schema = schemathesis.openapi.from_wsgi(
    "/api/v1/schema/", get_wsgi_application(), base_url=BASE_URL
)
schema.config.generation.update(deterministic=True, database="none")


class ErrorShapeFailure(AssertionError):
    pass


def api_error_shape(ctx, response, case) -> None:
    """Every 4xx and 5xx answer is {"error": {"code", "message", "fields"}} with a code and a
    message for people (API.md "Errors")."""
    where = f"{case.method} {case.formatted_path} → {response.status_code}"
    if 300 <= response.status_code < 400:
        # The API answers every request itself; a redirect would hide what the view does.
        raise ErrorShapeFailure(f"{where}: the API redirected instead of answering")
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/json"):
        raise ErrorShapeFailure(f"{where}: the error is {content_type!r}, not JSON")
    body = response.json()
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        raise ErrorShapeFailure(f"{where}: the body is not {{'error': …}}: {body!r}")
    error = body["error"]
    if set(error) != ERROR_KEYS:
        raise ErrorShapeFailure(f"{where}: the error has the keys {sorted(error)}: {body!r}")
    if not isinstance(error["code"], str) or not error["code"]:
        raise ErrorShapeFailure(f"{where}: the error has no code: {body!r}")
    if not isinstance(error["message"], str) or not error["message"].strip():
        raise ErrorShapeFailure(f"{where}: the error has no message: {body!r}")
    if not isinstance(error["fields"], dict):
        raise ErrorShapeFailure(f"{where}: the error's fields are not an object: {body!r}")


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def transaction_kept(db):
    """Requests go straight into Django's WSGI handler, which closes the database connection when
    a request ends; that would end the test's transaction (PostgreSQL). Django's own test client
    keeps it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def unthrottled(settings):
    """Rate limits would answer 429 after a few dozen generated requests and hide the code behind
    them; the 429's shape is proven in its own test."""
    rates = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates),
    }


@pytest.fixture
def carrier_token(transaction_kept, fake_twilio, unthrottled):
    """A carrier with money, three vehicles, four drivers, one booking and a camera's key at the
    booked checkpoint; time stands on the Friday the booking fixtures use."""
    with time_machine.travel(NOW, tick=True):
        world = make_world(fake_twilio)
        world.top_up("1000000.00")
        slot = dt.datetime.combine(NOW.date() + dt.timedelta(days=1), dt.time(9), tzinfo=ALMATY)
        booking_create(
            member=world.member,
            request=BookingRequest(
                checkpoint_code="KORDAI",
                direction="exit",
                service="regular",
                slot_start=slot,
                vehicle_id=world.truck.pk,
                trailer_id=world.trailer.pk,
                driver_ids=[world.drivers[0].pk],
            ),
        )
        device_key_issue(checkpoint=world.checkpoint, name="gate camera", actor=None)
        token = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret
        yield {"Authorization": f"Bearer {token}"}


hypothesis_settings = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@schema.parametrize()
@hypothesis_settings
def test_every_operation_with_a_carrier_token_answers_without_5xx_and_in_the_error_shape(
    case, carrier_token
):
    case.call_and_validate(
        base_url=BASE_URL, headers=carrier_token, checks=CHECKS, additional_checks=[api_error_shape]
    )


@schema.parametrize()
@hypothesis_settings
def test_every_operation_without_credentials_answers_without_5xx_and_in_the_error_shape(
    case, transaction_kept, unthrottled
):
    case.headers = {
        name: value for name, value in (case.headers or {}).items() if name != "Authorization"
    }
    case.call_and_validate(base_url=BASE_URL, checks=CHECKS, additional_checks=[api_error_shape])


def test_the_schema_is_served_as_openapi_3_with_every_operation():
    assert schema.raw_schema["openapi"].startswith("3.")
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert ("POST", "/api/v1/bookings") in operations
    assert ("GET", "/api/v1/me") in operations
    assert len(operations) >= 30
