"""R2 from 1 January without the year's MRP: a booking (and a reschedule) is refused in words a
carrier understands, nothing is charged, and the operators see how many were refused."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Group

from auth2fa.models import ApiToken
from auth2fa.roles import OPERATORS
from auth2fa.services import api_token_issue
from bookings import services
from bookings.models import Booking
from core.clock import ALMATY
from core.errors import ApplicationError
from deposits.selectors import balances_of
from fees.models import MrpRate, MrpRefusals
from tests.worlds import make_world

pytestmark = pytest.mark.django_db

JANUARY_5 = dt.datetime(2027, 1, 5, 10, 0, tzinfo=ALMATY)
PAUSED = "Bookings are paused: the registrar has not yet entered the MRP for 2027"


@pytest.fixture
def january_world(fake_twilio):
    with time_machine.travel(JANUARY_5, tick=False):
        world = make_world(fake_twilio)
        world.top_up("500000.00")
        yield world


def booking_request(world, start):
    return services.BookingRequest(
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=start,
        vehicle_id=world.truck.pk,
        trailer_id=None,
        driver_ids=[world.drivers[0].pk],
    )


def test_r2_booking_without_this_years_mrp_is_refused_plainly_and_counted(
    january_world, client, sign_in_browser, django_user_model
):
    world = january_world
    MrpRate.objects.filter(year=2027).delete()
    before = balances_of(world.carrier)
    start = dt.datetime(2027, 1, 6, 9, tzinfo=ALMATY)
    for _attempt in range(2):
        with pytest.raises(ApplicationError) as refusal:
            services.booking_create(member=world.member, request=booking_request(world, start))
        assert refusal.value.code == "mrp_not_set"
        assert refusal.value.status == 409
        assert PAUSED in refusal.value.message
        assert "Nothing was charged" in refusal.value.message
    assert not Booking.objects.exists()
    assert balances_of(world.carrier) == before
    assert MrpRefusals.objects.get(year=2027).count == 2

    operator = django_user_model.objects.create_user(
        "operator@example.kz", "a-long-passphrase", full_name="Operator", is_staff=True
    )
    operator.groups.add(Group.objects.get(name=OPERATORS))
    page = sign_in_browser(client, operator).get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert "The MRP for 2027 has not been entered" in text
    assert "2 refused so far" in text


def test_r2_reschedule_without_this_years_mrp_is_refused_and_counted(january_world):
    world = january_world
    booking = services.booking_create(
        member=world.member,
        request=booking_request(world, dt.datetime(2027, 1, 7, 9, tzinfo=ALMATY)),
    )
    MrpRate.objects.filter(year=2027).delete()
    with pytest.raises(ApplicationError) as refusal:
        services.booking_reschedule(
            member=world.member,
            booking=booking,
            slot_start=dt.datetime(2027, 1, 7, 11, tzinfo=ALMATY),
        )
    assert PAUSED in refusal.value.message
    booking.refresh_from_db()
    assert booking.slot_start == dt.datetime(2027, 1, 7, 9, tzinfo=ALMATY)
    assert MrpRefusals.objects.get(year=2027).count == 1


def test_r2_booking_api_says_why_it_is_refused(january_world, client):
    world = january_world
    MrpRate.objects.filter(year=2027).delete()
    token = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret
    response = client.post(
        "/api/v1/bookings",
        {
            "checkpoint": "KORDAI",
            "direction": "exit",
            "service": "regular",
            "slot_start": "2027-01-06T09:00:00+05:00",
            "vehicle": world.truck.pk,
            "trailer": None,
            "drivers": [world.drivers[0].pk],
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "mrp_not_set"
    assert PAUSED in response.json()["error"]["message"]
