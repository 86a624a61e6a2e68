"""/cabinet/vehicles/ and /cabinet/drivers/: lists, add forms, deactivation (A5, B7)."""

import re

import pytest
from django.test import Client

from core.models import AuditEvent
from vehicles import services
from vehicles.models import Driver, Vehicle

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
VIN = "WDB9634031L123456"
TRUCK = {
    "kind": "truck",
    "plate": "123 авс 02",
    "registration_country": "KZ",
    "vin": VIN,
    "make_model": "MAN TGX",
}


@pytest.fixture
def browser(sign_in_browser):
    def open_as(member):
        return sign_in_browser(Client(), member.user)

    return open_as


def page_of(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def assert_house_style(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"\sstyle=", page)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_pages_need_a_verified_sign_in(client, owner):
    for path in ("/cabinet/vehicles/", "/cabinet/drivers/"):
        response = client.get(path)
        assert response.status_code == 302 and "/signin" in response["Location"]
    client.force_login(owner.user)  # password only, no second factor
    assert client.get("/cabinet/vehicles/").status_code == 302


def test_the_cabinet_links_to_vehicles_and_drivers(owner, browser):
    page = page_of(browser(owner).get("/cabinet/", **EN))
    assert 'href="/cabinet/vehicles/"' in page and 'href="/cabinet/drivers/"' in page


def test_b7_the_add_form_registers_a_vehicle_and_the_list_shows_it_formatted(owner, browser):
    client = browser(owner)
    empty = page_of(client.get("/cabinet/vehicles/", **EN))
    assert_house_style(empty)
    for name in ("kind", "plate", "registration_country", "vin", "make_model"):
        assert f'<label for="id_{name}">' in empty
    response = client.post("/cabinet/vehicles/", TRUCK, **EN)
    assert response.status_code == 302
    vehicle = Vehicle.objects.get()
    assert (vehicle.plate, vehicle.carrier) == ("123ABC02", owner.carrier)
    page = page_of(client.get("/cabinet/vehicles/", **EN))
    assert "123 ABC 02 is added to the fleet." in page
    assert "123 ABC 02" in page and VIN in page and "MAN TGX" in page
    assert f'href="/cabinet/vehicles/{vehicle.pk}/deactivate/"' in page


def test_b7_the_add_form_shows_clear_field_errors(owner, browser):
    client = browser(owner)
    page = page_of(
        client.post("/cabinet/vehicles/", {**TRUCK, "plate": "123 ABC 21", "vin": "SHORT"}, **EN)
    )
    assert "There is no region 21: Kazakh plates have region codes 01 to 20." in page
    assert "A VIN has 17 characters; this one has 5." in page
    assert "field-invalid" in page
    assert not Vehicle.objects.exists()


def test_a_duplicate_is_refused_on_the_form(owner, browser):
    services.vehicle_register(member=owner, **{**TRUCK, "plate": "777 KM 17"})
    page = page_of(browser(owner).post("/cabinet/vehicles/", TRUCK, **EN))
    assert "The carrier already has a vehicle with this VIN: 777 KM 17." in page
    assert Vehicle.objects.count() == 1


def test_trailers_are_listed_apart(owner, browser):
    services.vehicle_register(member=owner, **TRUCK)
    services.vehicle_register(
        member=owner,
        kind="trailer",
        plate="321 XY 02",
        vin="XTA21099043123456",
        registration_country="KZ",
    )
    page = page_of(browser(owner).get("/cabinet/vehicles/", **EN))
    trailers = page.split('id="trailers-title"')[1].split("</section>")[0]
    assert "321 XY 02" in trailers and "123 ABC 02" not in trailers


def test_deactivation_asks_first_then_takes_the_vehicle_out(dispatcher, browser):
    vehicle = services.vehicle_register(member=dispatcher, **TRUCK)
    client = browser(dispatcher)
    url = f"/cabinet/vehicles/{vehicle.pk}/deactivate/"
    confirm = page_of(client.get(url, **EN))
    assert_house_style(confirm)
    assert "Deactivate 123 ABC 02?" in confirm
    vehicle.refresh_from_db()
    assert vehicle.is_active
    assert client.post(url, **EN).status_code == 302
    vehicle.refresh_from_db()
    assert not vehicle.is_active
    page = page_of(client.get("/cabinet/vehicles/", **EN))
    assert "123 ABC 02 is taken out of the fleet." in page
    assert VIN not in page
    assert client.get(url).status_code == 404  # already out
    assert AuditEvent.objects.filter(action="vehicle.deactivated").count() == 1


def test_a5_another_carriers_vehicle_is_not_found(owner, stranger, browser):
    theirs = services.vehicle_register(member=stranger, **TRUCK)
    client = browser(owner)
    assert VIN not in page_of(client.get("/cabinet/vehicles/", **EN))
    url = f"/cabinet/vehicles/{theirs.pk}/deactivate/"
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_a5_an_accountant_sees_the_lists_but_no_forms_and_cannot_post(owner, accountant, browser):
    vehicle = services.vehicle_register(member=owner, **TRUCK)
    client = browser(accountant)
    page = page_of(client.get("/cabinet/vehicles/", **EN))
    assert "123 ABC 02" in page
    assert '<form method="post" class="form"' not in page and "/deactivate/" not in page
    response = client.post("/cabinet/vehicles/", {**TRUCK, "vin": "XTA21099043123456"}, **EN)
    assert response.status_code == 302
    assert Vehicle.objects.count() == 1
    client.post(f"/cabinet/vehicles/{vehicle.pk}/deactivate/")
    vehicle.refresh_from_db()
    assert vehicle.is_active
    page = page_of(client.get("/cabinet/vehicles/", **EN))
    assert "Only the carrier&#x27;s owner or a dispatcher can manage vehicles and drivers." in page
    assert page_of(client.get("/cabinet/drivers/", **EN))


def test_the_driver_form_registers_and_deactivates_a_driver(owner, browser):
    client = browser(owner)
    empty = page_of(client.get("/cabinet/drivers/", **EN))
    assert_house_style(empty)
    for name in ("full_name", "citizenship", "iin", "passport_number", "phone"):
        assert f'<label for="id_{name}">' in empty
    response = client.post(
        "/cabinet/drivers/",
        {
            "full_name": "Bakyt Asanov",
            "citizenship": "kg",
            "iin": "",
            "passport_number": "id 1234567",
            "phone": "+996 555 123 456",
        },
        **EN,
    )
    assert response.status_code == 302
    driver = Driver.objects.get()
    assert (driver.passport_number, driver.citizenship, driver.phone) == (
        "ID1234567",
        "KG",
        "+996555123456",
    )
    page = page_of(client.get("/cabinet/drivers/", **EN))
    assert "Bakyt Asanov is added to the drivers." in page and "ID1234567" in page
    url = f"/cabinet/drivers/{driver.pk}/deactivate/"
    assert "Take Bakyt Asanov off the drivers?" in page_of(client.get(url, **EN))
    assert client.post(url).status_code == 302
    driver.refresh_from_db()
    assert not driver.is_active


def test_the_driver_form_names_what_is_missing(owner, browser):
    page = page_of(
        browser(owner).post(
            "/cabinet/drivers/",
            {"full_name": "Serik", "citizenship": "KZ", "iin": "", "phone": "+77015551122"},
            **EN,
        )
    )
    assert "Enter the driver&#x27;s IIN or passport number." in page
    assert not Driver.objects.exists()


def test_a_person_of_no_carrier_is_sent_to_the_cabinet(django_user_model, sign_in_browser):
    user = django_user_model.objects.create_user("nobody@kezek.kz", "pw", full_name="Nobody")
    client = sign_in_browser(Client(), user)
    for path in ("/cabinet/vehicles/", "/cabinet/drivers/", "/cabinet/vehicles/1/deactivate/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/cabinet/"
