"""Query counts of booking over the API: what one booking costs in round trips to the database,
that it does not grow with the carrier's history, and what a refusal in the slot rush costs (most
answers of a rush are refusals). Also the floor of `make bench`: the essential SQL of a booking
that Kezek's numbers are compared with."""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from bench.floor import views as floor
from checkpoints.models import HourOverride
from tests.worlds import at, trucks

pytestmark = pytest.mark.django_db

# Token with its person, membership and carrier (one read), checkpoint, vehicle, drivers, the
# fees in force with the MRP (one read for the fee and the deposit), the ledger accounts with the
# balance (one read); plan of the day, the conditional update giving back the counter (and the
# row made on first use); booking (no savepoint), drivers; the money in two conditional updates,
# both transfers in one insert, the fee on the budget's work list (P4), the hold, the booking's
# hold; the notification (recipients and their devices in one read, a message); the three audit
# events in one insert; the answer comes from memory (nothing read back). The first booking of
# an hour also makes its counter row (and the first use of a token in 5 minutes is written; in
# these tests the first booking ever also makes the system fees account).
BOOKING_QUERIES = 30
# A booking in an hour that already has its counter row.
NEXT_BOOKING_QUERIES = 22
# The same checks, then the place refused: nothing is written but the token's last use (at most
# once in 5 minutes) and the counter row made on first use.
REFUSAL_QUERIES = 16


@pytest.fixture
def api(client, world):
    secret = api_token_issue(user=world.member.user, kind=ApiToken.Kind.PERSONAL).secret

    def post(data):
        return client.post(
            "/api/v1/bookings",
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )

    return post


def body(world, vehicle=None, start=None):
    return {
        "checkpoint": "KORDAI",
        "direction": "exit",
        "service": "regular",
        "slot_start": (start or at(1, 9)).isoformat(),
        "vehicle": (vehicle or world.truck).pk,
        "drivers": [world.drivers[0].pk],
    }


def test_b1_a_booking_over_the_api_takes_at_most_30_queries(
    api, world, django_assert_max_num_queries
):
    world.top_up("1000000.00")
    with django_assert_max_num_queries(BOOKING_QUERIES):
        response = api(body(world))
    assert response.status_code == 201, response.content


def test_b1_booking_queries_do_not_grow_with_the_carriers_bookings(api, world):
    world.top_up("100000000.00")
    counts = []
    for truck in trucks(world, 6):
        with CaptureQueriesContext(connection) as queries:
            assert api(body(world, vehicle=truck)).status_code == 201
        counts.append(len(queries.captured_queries))
    # The first booking of an hour also makes its counter row; after that every one costs the same.
    assert len(set(counts[1:])) == 1, counts
    assert counts[1] <= NEXT_BOOKING_QUERIES, counts


def test_b1_a_trailer_costs_no_query_more(api, world):
    # The vehicle and the trailer are read together.
    world.top_up("100000000.00")
    counts = []
    for truck, trailer in zip(trucks(world, 3), [None, None, world.trailer], strict=True):
        data = {**body(world, vehicle=truck), "trailer": trailer.pk if trailer else None}
        with CaptureQueriesContext(connection) as queries:
            assert api(data).status_code == 201
        counts.append(len(queries.captured_queries))
    assert counts[2] == counts[1] <= NEXT_BOOKING_QUERIES, counts


def test_c6_a_refusal_in_the_rush_takes_at_most_16_queries_and_writes_nothing(api, world):
    world.top_up("1000000.00")
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=at(1, 9).date(), hour=9, capacity=0
    )
    with CaptureQueriesContext(connection) as queries:
        response = api(body(world))
    assert response.status_code == 409 and response.json()["error"]["code"] == "slot_full"
    assert len(queries.captured_queries) <= REFUSAL_QUERIES, len(queries.captured_queries)
    assert not any(
        query["sql"].lstrip().upper().startswith("INSERT INTO")
        and "slotcounter" not in query["sql"]
        for query in queries.captured_queries
    )


@pytest.mark.postgres
def test_bench_floor_booking_takes_a_place_and_moves_the_money():
    floor.schema_create(accounts=2, counters=1, capacity=1, balance="100000.00")
    factory = RequestFactory()

    def book(vehicle: int):
        request = factory.post(
            "/book",
            data=json.dumps({"account": 1, "counter": 1, "vehicle": vehicle}),
            content_type="application/json",
        )
        return floor.book(request)

    assert book(1).status_code == 201
    refused = book(2)
    assert refused.status_code == 409 and json.loads(refused.content)["error"]["code"] == (
        "slot_full"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT taken FROM floor_counter WHERE id = 1")
        assert cursor.fetchone() == (1,)
        cursor.execute(
            "SELECT balance FROM floor_account WHERE id IN (1, %s) ORDER BY id", [floor.HELD + 1]
        )
        assert [row[0] for row in cursor.fetchall()] == [
            Decimal("100000.00") - Decimal(floor.TOTAL),
            Decimal(floor.DEPOSIT),
        ]
        cursor.execute("SELECT count(*) FROM floor_transfer")
        assert cursor.fetchone() == (2,)
