import io

import pytest
from pypdf import PdfReader

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from bookings.models import Booking
from tests.worlds import at, make_other_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, world):
    secret = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret

    def call(method, path, data=None, **headers):
        return getattr(client, method)(
            path,
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
            **headers,
        )

    return call


def body(world, **overrides):
    return {
        "checkpoint": "KORDAI",
        "direction": "exit",
        "service": "regular",
        "slot_start": at(1, 9).isoformat(),
        "vehicle": world.truck.pk,
        "trailer": world.trailer.pk,
        "drivers": [world.drivers[0].pk],
        **overrides,
    }


def test_b1_create_booking_answers_the_api_shape(api, world):
    world.top_up("1000000.00")
    response = api("post", "/api/v1/bookings", body(world), HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 201, response.json()
    booking = response.json()
    assert set(booking) >= {
        "id",
        "number",
        "status",
        "checkpoint",
        "country",
        "direction",
        "service",
        "slot_start",
        "slot_end",
        "vehicle",
        "trailer",
        "drivers",
        "fee",
        "fees_paid",
        "deposit",
        "created_at",
    }
    assert booking["status"] == "confirmed"
    assert booking["checkpoint"] == "KORDAI" and booking["country"] == "KG"
    assert booking["slot_start"] == "2026-03-21T09:00:00+05:00"
    assert booking["slot_end"] == "2026-03-21T10:00:00+05:00"
    assert booking["vehicle"] == {
        "id": world.truck.pk,
        "plate": "123 ABC 02",
        "vin": world.truck.vin,
    }
    assert booking["trailer"]["vin"] == world.trailer.vin
    assert booking["drivers"] == [{"id": world.drivers[0].pk, "full_name": "Yerlan Driver"}]
    assert booking["fee"] == {"mrp": 1, "mrp_value": "4325.00", "amount": "4325.00"}
    assert booking["fees_paid"] == "4325.00"
    assert booking["deposit"] == {"amount": "86500.00", "status": "held"}


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"service": "out_of_turn", "cargo_category": "perishable", "document_number": " CMR-7 "},
        {"trailer": None, "slot_start": at(2, 23).isoformat()},
    ],
    ids=["regular", "out_of_turn", "no_trailer"],
)
def test_b1_the_post_answers_what_a_later_get_of_the_booking_answers(api, world, overrides):
    # The POST answers from the objects it just wrote (no read back): byte for byte the JSON a
    # GET of the same booking gives, with a trailer and several drivers named out of id order.
    world.top_up("1000000.00")
    drivers = [world.drivers[2].pk, world.drivers[0].pk, world.drivers[1].pk]
    created = api(
        "post",
        "/api/v1/bookings",
        body(world, drivers=drivers, **overrides),
        HTTP_IDEMPOTENCY_KEY="answer",
    )
    assert created.status_code == 201, created.json()
    fetched = api("get", f"/api/v1/bookings/{created.json()['id']}")
    assert created.content == fetched.content
    assert created.json() == fetched.json()
    listed = api("get", "/api/v1/bookings").json()["results"]
    assert [created.json()] == listed
    replayed = api(
        "post",
        "/api/v1/bookings",
        body(world, drivers=drivers, **overrides),
        HTTP_IDEMPOTENCY_KEY="answer",
    )
    assert replayed.json() == fetched.json()


def test_b8_idempotency_key_books_and_charges_once(api, world):
    world.top_up("1000000.00")
    first = api("post", "/api/v1/bookings", body(world), HTTP_IDEMPOTENCY_KEY="same")
    again = api("post", "/api/v1/bookings", body(world), HTTP_IDEMPOTENCY_KEY="same")
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Booking.objects.count() == 1


@pytest.mark.parametrize(
    "overrides, status, code",
    [
        ({"slot_start": at(0, 10).isoformat()}, 409, "outside_booking_window"),
        ({"service": "out_of_turn"}, 400, "validation_error"),
        ({"drivers": []}, 400, "validation_error"),
        ({"checkpoint": "NOWHERE"}, 404, "not_found"),
        ({"direction": "sideways"}, 400, "validation_error"),
    ],
)
def test_b1_refusals_use_the_error_shape(api, world, overrides, status, code):
    world.top_up("1000000.00")
    response = api("post", "/api/v1/bookings", body(world, **overrides))
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_b8_insufficient_funds_names_required_and_available(api, world):
    response = api("post", "/api/v1/bookings", body(world))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "insufficient_funds"
    assert error["fields"] == {"required": "90825.00", "available": "0.00"}


def test_b6_second_active_booking_in_the_country_is_409(api, world):
    world.top_up("1000000.00")
    api("post", "/api/v1/bookings", body(world))
    response = api("post", "/api/v1/bookings", body(world, slot_start=at(2, 9).isoformat()))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "active_booking_exists"


def test_b4_put_and_patch_are_not_allowed(api, world):
    world.top_up("1000000.00")
    booking = api("post", "/api/v1/bookings", body(world)).json()
    for method in ("put", "patch"):
        response = api(method, f"/api/v1/bookings/{booking['id']}", {"checkpoint": "DOSTYK"})
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "not_allowed"


def test_b4_b5_b9_changes_through_the_api(api, world):
    world.top_up("1000000.00")
    booking = api("post", "/api/v1/bookings", body(world)).json()
    base = f"/api/v1/bookings/{booking['id']}"
    added = api("post", f"{base}/drivers", {"drivers": [world.drivers[1].pk]}).json()
    assert [d["id"] for d in added["drivers"]] == [world.drivers[0].pk, world.drivers[1].pk]
    moved = api(
        "post",
        f"{base}/reschedule",
        {"slot_start": at(3, 15).isoformat()},
        HTTP_IDEMPOTENCY_KEY="move-1",
    ).json()
    assert moved["slot_start"] == at(3, 15).isoformat()
    assert moved["fees_paid"] == "436825.00"  # 4 325 + 432 500 re-booking fee
    again = api(
        "post",
        f"{base}/reschedule",
        {"slot_start": at(3, 15).isoformat()},
        HTTP_IDEMPOTENCY_KEY="move-1",
    )
    assert again.json() == moved  # the re-booking fee is charged once
    cancelled = api("post", f"{base}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["deposit"]["status"] == "released"


def test_b10_lists_active_by_default_or_all(api, world):
    world.top_up("1000000.00")
    first = api("post", "/api/v1/bookings", body(world)).json()
    api("post", f"/api/v1/bookings/{first['id']}/cancel")
    api("post", "/api/v1/bookings", body(world, slot_start=at(2, 9).isoformat()))
    active = api("get", "/api/v1/bookings").json()
    assert active["count"] == 1
    everything = api("get", "/api/v1/bookings?status=all").json()
    assert everything["count"] == 2


def test_a5_bookings_are_isolated_between_carriers(client, api, world, fake_twilio):
    world.top_up("1000000.00")
    mine = api("post", "/api/v1/bookings", body(world)).json()
    other = make_other_world(fake_twilio)
    secret = api_token_issue(user=other.member.user, kind=ApiToken.Kind.PERSONAL).secret
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.get(f"/api/v1/bookings/{mine['id']}", **auth).status_code == 404
    assert client.post(f"/api/v1/bookings/{mine['id']}/cancel", **auth).status_code == 404
    assert client.get("/api/v1/bookings?status=all", **auth).json()["count"] == 0


def test_b11_confirmation_pdf_has_the_number_and_the_facts(api, world):
    world.top_up("1000000.00")
    booking = api("post", "/api/v1/bookings", body(world)).json()
    response = api(
        "get", f"/api/v1/bookings/{booking['id']}/confirmation.pdf", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response["Content-Type"] == "application/pdf"
    pdf = b"".join(response.streaming_content)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for fact in (
        booking["number"],
        "KORDAI",
        "123 ABC 02",
        world.truck.vin,
        "Yerlan Driver",
        "21.03.2026 09:00",
        "Driver link: the place in the queue, without signing in",
    ):
        assert fact in text, fact
