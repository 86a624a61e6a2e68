"""Operators read vehicles and drivers in the admin; nobody changes them there (A5)."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from auth2fa.roles import AUDITORS, OPERATORS, sync_roles
from vehicles import services
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model, sign_in_browser):
    sync_roles(verbosity=0)
    person = django_user_model.objects.create_user(
        "operator@kezek.kz", "a-long-passphrase", full_name="Operator", is_staff=True
    )
    person.groups.add(Group.objects.get(name=OPERATORS))
    return sign_in_browser(Client(), person)


@pytest.fixture
def vehicle(owner):
    return services.vehicle_register(
        member=owner,
        plate="123 ABC 02",
        vin="WDB9634031L123456",
        kind="truck",
        registration_country="KZ",
    )


def test_a5_operators_and_auditors_may_view_vehicles_and_drivers():
    sync_roles(verbosity=0)
    for role in (OPERATORS, AUDITORS):
        codenames = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        assert {"view_vehicle", "view_driver"} <= codenames
        assert not {"add_vehicle", "change_vehicle", "delete_vehicle"} & codenames


def test_b7_operators_find_a_vehicle_by_plate_however_written_and_by_vin(operator, vehicle):
    url = reverse("admin:vehicles_vehicle_changelist")
    for term in ("123ABC02", "123 авс 02", "9634031L"):
        page = operator.get(url, {"q": term})
        assert page.status_code == 200
        assert list(page.context["cl"].result_list) == [vehicle], term
    assert list(operator.get(url, {"q": "999"}).context["cl"].result_list) == []


def test_a5_the_vehicle_admin_is_read_only(operator, vehicle):
    change = reverse("admin:vehicles_vehicle_change", args=[vehicle.pk])
    assert operator.get(change).status_code == 200
    assert operator.post(change, {"plate": "000AA01"}).status_code == 403
    assert operator.get(reverse("admin:vehicles_vehicle_add")).status_code == 403
    vehicle.refresh_from_db()
    assert vehicle.plate == "123ABC02"
    assert Vehicle.objects.count() == 1


def test_operators_find_a_driver_by_iin(operator, owner):
    driver = services.driver_register(
        member=owner, full_name="Serik", iin="900101110001", citizenship="KZ", phone="+77015551122"
    )
    page = operator.get(reverse("admin:vehicles_driver_changelist"), {"q": "900101110001"})
    assert list(page.context["cl"].result_list) == [driver]
