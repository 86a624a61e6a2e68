"""A6 for events written in bulk (`audit.batch`, `events_insert`: one INSERT, or a COPY on
PostgreSQL from 200 events): the rows are those `record` writes one at a time, their hashes
equal, and the sealer chains them into a log that verifies. Runs on SQLite and PostgreSQL."""

import datetime as dt
import io
import itertools
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction

from core import audit, bulk
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        "auditor@example.kz", "pw-not-used", full_name="Aigerim Auditor"
    )


@pytest.fixture
def salts(monkeypatch):
    """Every event's salt from a counter that each run starts again, so that the same events
    recorded twice hash alike."""
    counter = itertools.count()

    def restart():
        nonlocal counter
        counter = itertools.count()

    monkeypatch.setattr(audit.secrets, "token_hex", lambda n: f"{next(counter):0{2 * n}x}")
    return restart


def _events(count: int, user) -> None:
    """`count` events of every shape: an actor and a target, JSON with decimals and times, an
    IP address, none of these."""
    for i in range(count):
        audit.record(
            f"test.bulk.{i % 3}",
            actor=user if i % 2 else None,
            target=user if i % 3 == 0 else None,
            object_type="" if i % 3 == 0 else "test",
            object_id="" if i % 3 == 0 else i,
            before={"n": i} if i % 4 == 0 else None,
            after={"amount": Decimal(i) / 4, "at": dt.datetime(2026, 3, 20, 10, i % 60)},
            ip="10.0.0.7" if i % 5 == 0 else None,
        )


def _stored(since: int) -> list[tuple]:
    return [
        (e.event_hash, audit.event_payload(e), e.person_salt)
        for e in AuditEvent.objects.filter(pk__gt=since).order_by("pk")
    ]


@pytest.mark.parametrize("count", [3, bulk.COPY_FROM + 50])
def test_a6_events_written_in_bulk_hash_as_those_recorded_one_by_one(user, salts, clock, count):
    with transaction.atomic():
        _events(count, user)
    one_by_one = _stored(0)
    salts()
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    with transaction.atomic(), audit.batch():
        _events(count, user)
    in_bulk = _stored(last)
    assert len(in_bulk) == len(one_by_one) == count
    assert in_bulk == one_by_one
    # Stored as hashed: every row rehashes to its own hash.
    for event in AuditEvent.objects.all():
        assert event.event_hash == audit.compute_event_hash(event)
    assert audit.seal_all()
    assert audit.verify_chain().ok
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    report = out.getvalue()
    assert f"checked {2 * count} events" in report and "audit chain intact" in report, report


def test_a6_events_inserted_in_bulk_keep_their_order_and_hash(user, salts):
    made = [
        audit.event_new("test.many", object_type="test", object_id=i, after={"i": i})
        for i in range(bulk.COPY_FROM)
    ]
    with transaction.atomic():
        audit.events_insert(made)
    stored = list(AuditEvent.objects.order_by("pk"))
    assert [e.pk for e in made] == [e.pk for e in stored]
    assert [e.object_id for e in stored] == [str(i) for i in range(bulk.COPY_FROM)]
    assert [e.event_hash for e in stored] == [audit.compute_event_hash(e) for e in stored]
    audit.seal_all()
    assert audit.verify_chain().ok
