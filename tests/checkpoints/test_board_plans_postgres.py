"""The board's read of vehicles called recently (Q4) uses its partial index on PostgreSQL, so a
cold board costs what the day's calls cost, not the checkpoint's whole history."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checkpoint_queue import board as boards
from checkpoint_queue import services as queue_services
from tests.worlds import at, book

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        # A small test table would be read whole anyway; the question is whether the index fits
        # the query's shape, which the planner answers when whole-table reads are its last resort.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_q4_the_boards_called_vehicles_read_uses_the_called_at_index(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    with CaptureQueriesContext(connection) as queries:
        board = boards.board_of(world.checkpoint)
    assert len(board.called) == 1
    (called_read,) = [q["sql"] for q in queries if '"called_at" >=' in q["sql"]]
    assert "booking_called_at_checkpoint" in _plan(called_read)
