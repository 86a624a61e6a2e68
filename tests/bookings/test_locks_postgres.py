"""The booking's lock takes the booking row alone (docs/locking.md), on PostgreSQL: while a staff
step holds a booking, the checkpoint read with it is not locked, and rows that refer to the
booking can still be written (FOR NO KEY UPDATE)."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from bookings import locks
from checkpoints.models import Checkpoint
from tests.worlds import book, make_world

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_another_connection(work) -> BaseException | None:
    """Run `work` in a thread with its own connection, failing at once on a held lock."""
    outcome: list[BaseException | None] = [None]

    def run():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '100ms'")
                work()
        except BaseException as error:
            outcome[0] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome[0]


def test_a_booking_locked_at_the_checkpoint_leaves_its_checkpoint_and_references_free(
    fake_twilio, clock
):
    world = make_world(fake_twilio)
    world.top_up("100000.00")
    booking = book(world)
    with transaction.atomic():
        held = locks.booking_with_checkpoint(booking.pk)
        assert held.checkpoint.code == "KORDAI"
        # Another transaction changes the checkpoint (an operator's edit) without waiting.
        problem = in_another_connection(
            lambda: Checkpoint.objects.filter(pk=held.checkpoint_id).update(note="edited")
        )
        assert problem is None, problem

        # And a row that refers to the booking (its drivers, an SMS about it) can be written
        # meanwhile: the foreign key's check takes FOR KEY SHARE, which NO KEY UPDATE admits.
        def refer_to_the_booking():
            with connection.cursor() as cursor:
                cursor.execute(
                    'SELECT 1 FROM "bookings_booking" WHERE "id" = %s FOR KEY SHARE', [booking.pk]
                )

        assert in_another_connection(refer_to_the_booking) is None
        # A second lock of the same booking waits (and here gives up): the lock is real.
        problem = in_another_connection(lambda: locks.booking_with_checkpoint(booking.pk))
        assert isinstance(problem, OperationalError), problem
