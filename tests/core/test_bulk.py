"""core.bulk: many rows written at once are the rows the ORM writes one at a time, whichever way
they go (bulk_create and a VALUES update below 200 rows and on SQLite; COPY and a temporary
table on PostgreSQL from 200): ids in list order, enum members, aware and empty datetimes,
NULLs and texts with COPY's special characters. Runs on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from django.db import transaction

from core import bulk
from core.clock import ALMATY
from notify.models import Message

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY)


def _message(i: int, keyed: str) -> Message:
    return Message(
        channel=Message.Channel.SMS,
        address=f"+7701{i:07d}",
        language="kk",
        kind="booking_created",
        body=f"line {i}\ttab\\back\nnew «{i}» ₸",
        dedupe_key=f"{keyed}:{i}" if i % 2 else None,
        next_attempt_at=AT + dt.timedelta(seconds=i),
        created_at=AT,
    )


def _stored(rows) -> list[dict]:
    """The rows as stored, less what differs by design (the id, the once-only key)."""
    stored = Message.objects.filter(pk__in=[row.pk for row in rows]).order_by("pk").values()
    return [{k: v for k, v in row.items() if k not in ("id", "dedupe_key")} for row in stored]


def _keys(rows) -> list:
    return list(
        Message.objects.filter(pk__in=[row.pk for row in rows])
        .order_by("pk")
        .values_list("dedupe_key", flat=True)
    )


@pytest.mark.parametrize("count", [3, bulk.COPY_FROM + 1])
def test_bulk_insert_and_update_write_the_rows_save_writes(count):
    with transaction.atomic():
        one_by_one = [_message(i, "one") for i in range(count)]
        for message in one_by_one:
            message.save(force_insert=True)
        in_bulk = list(bulk.insert([_message(i, "bulk") for i in range(count)]))
    assert [m.pk for m in in_bulk] == sorted(m.pk for m in in_bulk)
    assert len({m.pk for m in in_bulk} | {m.pk for m in one_by_one}) == 2 * count
    assert all(not m._state.adding for m in in_bulk)
    assert _stored(in_bulk) == _stored(one_by_one)
    assert _keys(in_bulk) == [f"bulk:{i}" if i % 2 else None for i in range(count)]

    fields = ["status", "attempts", "sent_at", "last_error", "dedupe_key"]

    def change(message, i, keyed):
        message.status = Message.Status.SENT if i % 3 else Message.Status.FAILED
        message.attempts = i % 7
        message.sent_at = AT + dt.timedelta(minutes=i) if i % 3 else None
        message.last_error = "" if i % 3 else f"refused\t{i}\\"
        message.dedupe_key = None if i % 2 else f"{keyed}:{i}:again"

    with transaction.atomic():
        for i, message in enumerate(one_by_one):
            change(message, i, "one")
            message.save(update_fields=fields)
        for i, message in enumerate(in_bulk):
            change(message, i, "bulk")
        bulk.update(in_bulk, fields)
    assert _stored(in_bulk) == _stored(one_by_one)
    assert _keys(in_bulk) == [None if i % 2 else f"bulk:{i}:again" for i in range(count)]
    # A field not named keeps its value.
    assert [row["body"] for row in _stored(in_bulk)] == [_message(i, "").body for i in range(count)]
