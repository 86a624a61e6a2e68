"""GET, POST /api/v1/vehicles and /api/v1/drivers as API.md says (A5, B7)."""

import pytest

from vehicles import services
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

VIN = "WDB9634031L123456"
TRUCK = {"plate": "123 авс 02", "vin": VIN, "kind": "truck", "registration_country": "KZ"}
DRIVER = {
    "full_name": "Serik Bolatov",
    "iin": "900101110001",
    "citizenship": "KZ",
    "phone": "+77015551122",
}


def post(client, path, body):
    return client.post(path, body, content_type="application/json")


def test_b7_post_vehicle_answers_201_with_the_normalised_plate(owner, api_client):
    response = post(api_client(owner), "/api/v1/vehicles", TRUCK)
    assert response.status_code == 201
    body = response.json()
    vehicle = Vehicle.objects.get()
    assert {key: body[key] for key in ("id", "plate", "vin", "kind", "registration_country")} == {
        "id": vehicle.pk,
        "plate": "123ABC02",
        "vin": VIN,
        "kind": "truck",
        "registration_country": "KZ",
    }
    assert body["plate_display"] == "123 ABC 02"
    assert vehicle.carrier == owner.carrier


def test_registration_country_defaults_to_kz(dispatcher, api_client):
    body = {key: value for key, value in TRUCK.items() if key != "registration_country"}
    response = post(api_client(dispatcher), "/api/v1/vehicles", body)
    assert response.status_code == 201
    assert response.json()["registration_country"] == "KZ"


def test_b7_a_bad_plate_is_a_validation_error_in_the_error_shape(owner, api_client):
    response = post(api_client(owner), "/api/v1/vehicles", {**TRUCK, "plate": "123 ABC 21"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "region 21" in error["fields"]["plate"][0]
    assert "region 21" in error["message"]


def test_missing_fields_and_unknown_kind_are_refused(owner, api_client):
    response = post(api_client(owner), "/api/v1/vehicles", {"kind": "bus"})
    assert response.status_code == 400
    assert {"plate", "vin", "kind"} <= set(response.json()["error"]["fields"])


def test_a_duplicate_vin_is_refused_by_field(owner, api_client):
    client = api_client(owner)
    assert post(client, "/api/v1/vehicles", TRUCK).status_code == 201
    response = post(client, "/api/v1/vehicles", {**TRUCK, "plate": "777 KM 17"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["vin"]


def test_a5_an_accountant_reads_but_cannot_post(owner, accountant, api_client):
    services.vehicle_register(member=owner, **TRUCK)
    client = api_client(accountant)
    assert client.get("/api/v1/vehicles").json()["count"] == 1
    assert client.get("/api/v1/drivers").status_code == 200
    for path, body in (("/api/v1/vehicles", TRUCK), ("/api/v1/drivers", DRIVER)):
        response = post(client, path, body)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert Vehicle.objects.count() == 1


def test_lists_are_paginated(owner, api_client):
    for number in range(3):
        services.vehicle_register(
            member=owner,
            plate=f"10{number} AB 01",
            vin=f"WDB9634031L12345{number}",
            kind="tractor",
            registration_country="KZ",
        )
    client = api_client(owner)
    page = client.get("/api/v1/vehicles", {"limit": 2}).json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == 3 and len(page["results"]) == 2 and page["previous"] is None
    assert [vehicle["plate"] for vehicle in page["results"]] == ["100AB01", "101AB01"]
    rest = client.get(page["next"]).json()
    assert [vehicle["plate"] for vehicle in rest["results"]] == ["102AB01"]


def test_vehicle_list_filters_by_kind_and_activity(owner, api_client):
    truck = services.vehicle_register(member=owner, **TRUCK)
    services.vehicle_register(
        member=owner,
        plate="321 XY 02",
        vin="XTA21099043123456",
        kind="trailer",
        registration_country="KZ",
    )
    services.vehicle_deactivate(member=owner, vehicle=truck)
    client = api_client(owner)
    assert [v["kind"] for v in client.get("/api/v1/vehicles").json()["results"]] == ["trailer"]
    assert client.get("/api/v1/vehicles", {"kind": "truck"}).json()["count"] == 0
    inactive = client.get("/api/v1/vehicles", {"active": "false"}).json()["results"]
    assert [(v["id"], v["is_active"]) for v in inactive] == [(truck.pk, False)]
    assert client.get("/api/v1/vehicles", {"active": "all"}).json()["count"] == 2
    bad = client.get("/api/v1/vehicles", {"active": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_a5_another_carriers_vehicles_and_drivers_are_invisible(owner, stranger, api_client):
    services.vehicle_register(member=stranger, **TRUCK)
    services.driver_register(member=stranger, **DRIVER)
    client = api_client(owner)
    for path in ("/api/v1/vehicles", "/api/v1/drivers"):
        for active in ("true", "false", "all"):
            body = client.get(path, {"active": active}).json()
            assert body["count"] == 0 and body["results"] == []
    # The same VIN under this carrier is not a duplicate of the other carrier's (B6 is on bookings).
    assert post(client, "/api/v1/vehicles", TRUCK).status_code == 201


def test_there_is_no_vehicle_detail_path_to_reach_another_carriers_vehicle(
    owner, stranger, api_client
):
    theirs = services.vehicle_register(member=stranger, **TRUCK)
    response = api_client(owner).get(f"/api/v1/vehicles/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unauthenticated_and_non_members_are_refused(client, django_user_model, api_client):
    assert client.get("/api/v1/vehicles").status_code == 401
    from carriers.models import Member

    staff = django_user_model.objects.create_user("staff@kezek.kz", "pw", full_name="Staff")
    outsider = Member(user=staff)  # not saved: a person acting for no carrier
    response = api_client(outsider).get("/api/v1/drivers")
    assert response.status_code == 403


def test_post_driver_answers_201(dispatcher, api_client):
    response = post(api_client(dispatcher), "/api/v1/drivers", DRIVER)
    assert response.status_code == 201
    body = response.json()
    assert body["id"] and body["full_name"] == "Serik Bolatov"
    assert (body["iin"], body["passport_number"], body["citizenship"], body["phone"]) == (
        "900101110001",
        None,
        "KZ",
        "+77015551122",
    )
    listed = api_client(dispatcher).get("/api/v1/drivers").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]


def test_post_driver_by_passport_and_refusals(owner, api_client):
    client = api_client(owner)
    foreign = {
        "full_name": "Bakyt Asanov",
        "passport_number": "ID 1234567",
        "citizenship": "KG",
        "phone": "+996555123456",
    }
    response = post(client, "/api/v1/drivers", foreign)
    assert response.status_code == 201 and response.json()["passport_number"] == "ID1234567"
    again = post(client, "/api/v1/drivers", foreign)
    assert again.status_code == 400
    assert list(again.json()["error"]["fields"]) == ["passport_number"]
    neither = post(client, "/api/v1/drivers", {**DRIVER, "iin": None})
    assert neither.status_code == 400
    assert {"iin", "passport_number"} <= set(neither.json()["error"]["fields"])


def test_the_schema_lists_the_vehicle_endpoints(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/vehicles" in schema.content and b"/api/v1/drivers" in schema.content
