"""The no-show sweep (D6, every 5 minutes) reads only what can still become a no-show: its plan
starts from the partial index of confirmed bookings by slot end, so an idle run costs the same
however many bookings the years have made."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bookings import services
from tests.worlds import at, book

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_d6_the_idle_sweeps_read_uses_the_index_of_confirmed_bookings(world, clock):
    world.top_up("1000000.00")
    book(world, start=at(1, 9))
    with CaptureQueriesContext(connection) as queries:
        assert services.no_shows_sweep() == 0
    (read,) = [q["sql"] for q in queries if '"slot_end" <=' in q["sql"]]
    # A small test table would be read whole anyway: with whole-table reads as the planner's
    # last resort, the plan shows whether the index fits the query's shape.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + read)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "booking_confirmed_slot_end" in plan, plan
