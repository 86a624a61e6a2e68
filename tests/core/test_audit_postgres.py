"""A6 on PostgreSQL: the append-only triggers, writers that never wait on each other, and sealers
running at the same time (real threads, each with its own connection and transactions)."""

import threading
import time

import pytest
from django.db import DatabaseError, OperationalError, connection, connections, transaction

from core import audit
from core.models import APPEND_ONLY, AuditBatch, AuditEvent, AuditHeadPublication, AuditSeal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# RAISE in the trigger: psycopg 3 reports it as ProgrammingError, psycopg2 as InternalError.
REFUSED = "Cannot update or delete rows"
WAIT = 15  # seconds: a generous bound for a step that should take milliseconds


class _Rollback(Exception):
    pass


class Worker(threading.Thread):
    """A thread with its own database connection, closed when it ends; errors are re-raised
    by `result()` in the test's thread."""

    def __init__(self, target, *args):
        super().__init__(daemon=True)
        self._target_fn, self._args = target, args
        self.value = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.value = self._target_fn(*self._args)
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()

    def result(self):
        self.join(WAIT)
        assert not self.is_alive(), "worker thread did not finish"
        if self.error is not None:
            raise self.error
        return self.value


def _set_local_lock_timeout(ms: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{int(ms)}ms'")


def _record(count: int, prefix: str = "pg.event") -> list[AuditEvent]:
    with transaction.atomic():
        return [audit.record(f"{prefix}.{i}", object_id=i, after={"i": i}) for i in range(count)]


def _assert_one_unforked_chain(expected_events: int) -> None:
    numbers = list(AuditBatch.objects.order_by("number").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    sealed = list(AuditSeal.objects.values_list("event_id", flat=True))
    assert len(sealed) == len(set(sealed)) == expected_events == AuditEvent.objects.count()
    assert sum(AuditBatch.objects.values_list("event_count", flat=True)) == expected_events
    report = audit.verify_chain()
    assert report.ok, report.problems


@pytest.fixture
def sealed_history():
    """Three sealed events, a published head, and one event left unsealed."""
    events = _record(3)
    audit.seal_all()
    audit.publish_head()
    unsealed = audit.record("pg.unsealed")
    return events, unsealed


# --- The database refuses to rewrite history ------------------------------------------------

UPDATES = [
    (AuditEvent, {"action": "pg.forged"}, "UPDATE core_auditevent SET action = 'pg.forged'"),
    (AuditBatch, {"event_count": 99}, "UPDATE core_auditbatch SET event_count = 99"),
    (AuditSeal, {"position": 99}, "UPDATE core_auditseal SET position = 99"),
    (
        AuditHeadPublication,
        {"batch_hash": "cd" * 32},
        "UPDATE core_auditheadpublication SET batch_hash = 'forged'",
    ),
]
DELETES = [
    (AuditEvent, "DELETE FROM core_auditevent"),
    (AuditBatch, "DELETE FROM core_auditbatch"),
    (AuditSeal, "DELETE FROM core_auditseal"),
    (AuditHeadPublication, "DELETE FROM core_auditheadpublication"),
]


@pytest.mark.parametrize(
    ("model", "changes", "raw_sql"), UPDATES, ids=[m.__name__ for m, _c, _s in UPDATES]
)
def test_a6_trigger_refuses_update_by_orm_and_raw_sql(sealed_history, model, changes, raw_sql):
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        model.objects.update(**changes)
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(raw_sql)
    assert audit.verify_chain().ok


@pytest.mark.parametrize(("model", "raw_sql"), DELETES, ids=[m.__name__ for m, _s in DELETES])
def test_a6_trigger_refuses_delete_by_raw_sql(sealed_history, model, raw_sql):
    count = model.objects.count()
    with (
        pytest.raises(DatabaseError, match=REFUSED),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(raw_sql)
    assert model.objects.count() == count


def test_a6_trigger_refuses_delete_by_orm(sealed_history):
    _events, unsealed = sealed_history
    # Rows nothing else points at reach the database, which refuses them.
    for queryset in (
        AuditEvent.objects.filter(pk=unsealed.pk),
        AuditSeal.objects.all(),
        AuditHeadPublication.objects.all(),
    ):
        with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
            queryset.delete()
    assert AuditEvent.objects.count() == 4
    assert AuditSeal.objects.count() == 3
    assert AuditHeadPublication.objects.count() == 1


def test_a6_with_the_trigger_dropped_the_verifier_flags_the_edit(sealed_history):
    """DDL is transactional in PostgreSQL: the trigger is dropped, the edit made and flagged, and
    everything rolled back, so the trigger is there again afterwards."""
    events, _unsealed = sealed_history
    pgid = APPEND_ONLY.get_pgid(AuditEvent)
    with pytest.raises(_Rollback), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER {pgid} ON {AuditEvent._meta.db_table}")
            cursor.execute(
                "UPDATE core_auditevent SET after = %s WHERE id = %s",
                ['{"i": 1000}', events[1].pk],
            )
        assert AuditEvent.objects.get(pk=events[1].pk).after == {"i": 1000}
        report = audit.verify_chain()
        assert len(report.problems) == 1
        assert f"event #{events[1].pk}" in report.problems[0]
        raise _Rollback
    with pytest.raises(DatabaseError, match=REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=events[1].pk).update(action="pg.forged")
    assert audit.verify_chain().ok


# --- Writers do not wait on each other ------------------------------------------------------


def test_a6_parallel_writers_do_not_wait_on_each_other(django_user_model):
    """A holds its transaction open after recording; B records and commits meanwhile. B runs with
    a short lock_timeout, so if it had to wait on A it would fail instead of hanging."""
    actor = django_user_model.objects.create_user("writer@example.kz", full_name="Writer")
    a_recorded, release_a = threading.Event(), threading.Event()

    def writer_a():
        with transaction.atomic():
            event = audit.record("pg.writer_a", actor=actor, object_type="x", object_id=1)
            a_recorded.set()
            assert release_a.wait(WAIT)
        return event.pk

    a = Worker(writer_a)
    a.start()
    try:
        assert a_recorded.wait(WAIT)
        started = time.monotonic()
        with transaction.atomic():
            _set_local_lock_timeout(200)
            b_event = audit.record("pg.writer_b", actor=actor, object_type="x", object_id=1)
        elapsed = time.monotonic() - started
        # B committed while A still holds its transaction open.
        assert a.is_alive() and not release_a.is_set()
        assert elapsed < 1
        assert AuditEvent.objects.filter(pk=b_event.pk).exists()
        assert not AuditEvent.objects.filter(action="pg.writer_a").exists()  # A not committed
    finally:
        release_a.set()
    a_pk = a.result()
    assert a_pk < b_event.pk
    audit.seal_all()
    _assert_one_unforked_chain(2)


def test_a6_a_previous_hash_design_would_make_writers_wait():
    """The contrast: if record() locked the newest event to chain onto its hash, the second writer
    would queue behind the first until it committed (here: fail on lock_timeout)."""
    _record(1)
    a_locked, release_a = threading.Event(), threading.Event()
    head_sql = "SELECT id FROM core_auditevent ORDER BY id DESC LIMIT 1 FOR UPDATE"

    def writer_a():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(head_sql)
            a_locked.set()
            assert release_a.wait(WAIT)

    a = Worker(writer_a)
    a.start()
    try:
        assert a_locked.wait(WAIT)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic():
            _set_local_lock_timeout(200)
            with connection.cursor() as cursor:
                cursor.execute(head_sql)
    finally:
        release_a.set()
    a.result()


# --- Sealers at the same time ---------------------------------------------------------------


def test_a6_parallel_sealers_produce_one_unforked_chain(settings):
    settings.AUDIT_SEAL_BATCH_SIZE = 7
    _record(300)
    barrier = threading.Barrier(2, timeout=WAIT)

    def sealer():
        barrier.wait()
        return [batch.number for batch in audit.seal_all()]

    workers = [Worker(sealer), Worker(sealer)]
    for worker in workers:
        worker.start()
    first, second = (worker.result() for worker in workers)
    assert not set(first) & set(second)
    assert sorted(first + second) == list(range(1, 44))  # ceil(300 / 7) batches
    _assert_one_unforked_chain(300)


def test_a6_sealers_that_collide_on_a_batch_number_do_not_fork(monkeypatch):
    """Without the sealer lock both sealers read the same head and build batch #1; the unique
    batch number lets one in, the other fails, retries on the new head and finds nothing left."""
    monkeypatch.setattr(audit, "_take_sealer_lock", lambda: None)
    _record(20)
    both_built = threading.Barrier(2, timeout=WAIT)
    real_merkle_root = audit.merkle_root
    waited = threading.local()

    def merkle_root_then_wait(leaves):
        root = real_merkle_root(leaves)
        if not getattr(waited, "done", False):
            waited.done = True
            both_built.wait()  # both have read head and events before either inserts
        return root

    monkeypatch.setattr(audit, "merkle_root", merkle_root_then_wait)

    def sealer():
        batch = audit.seal_pending()
        return batch.number if batch else None

    workers = [Worker(sealer), Worker(sealer)]
    for worker in workers:
        worker.start()
    results = sorted((worker.result() for worker in workers), key=lambda n: n is None)
    assert results == [1, None]
    monkeypatch.setattr(audit, "merkle_root", real_merkle_root)
    _assert_one_unforked_chain(20)


def test_a6_event_committed_out_of_id_order_is_sealed_later():
    """The lower id commits after the higher one was sealed: it goes into the next batch."""
    low_recorded, release_low = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            event = audit.record("pg.low")
            low_recorded.set()
            assert release_low.wait(WAIT)
        return event.pk

    slow = Worker(slow_writer)
    slow.start()
    try:
        assert low_recorded.wait(WAIT)
        high = audit.record("pg.high")
        first = audit.seal_pending()
        assert first.event_count == 1
        assert audit.verify_chain().ok
    finally:
        release_low.set()
    low_pk = slow.result()
    assert low_pk < high.pk
    second = audit.seal_pending()
    assert (second.number, second.event_count) == (2, 1)
    assert AuditSeal.objects.get(event_id=high.pk).batch == first
    assert AuditSeal.objects.get(event_id=low_pk).batch == second
    low = AuditEvent.objects.get(pk=low_pk)
    proof = audit.inclusion_proof(low)
    assert proof.batch_number == 2
    assert audit.verify_inclusion_proof(proof, event_payload_hash=audit.compute_event_hash(low))
    _assert_one_unforked_chain(2)


def test_a6_writers_and_sealers_all_at_once(settings):
    settings.AUDIT_SEAL_BATCH_SIZE = 5
    writers_done = threading.Event()
    start = threading.Barrier(6, timeout=WAIT)

    def writer(n):
        start.wait()
        for i in range(40):
            with transaction.atomic():
                audit.record(f"pg.writer{n}", object_id=i, after={"n": n, "i": i})

    def sealer():
        start.wait()
        batches = 0
        while not writers_done.is_set():
            batches += len(audit.seal_all())
        return batches

    writers = [Worker(writer, n) for n in range(4)]
    sealers = [Worker(sealer), Worker(sealer)]
    for worker in writers + sealers:
        worker.start()
    for worker in writers:
        worker.result()
    writers_done.set()
    for worker in sealers:
        worker.result()
    audit.seal_all()
    _assert_one_unforked_chain(160)


def _late_commit(settings, lookback: int) -> tuple[AuditEvent, list[AuditEvent]]:
    """An event whose transaction takes its id first and commits after later events were
    sealed (real threads): returns it and the later events."""
    settings.AUDIT_SEAL_LOOKBACK_IDS = lookback
    inserted, commit = threading.Event(), threading.Event()

    def slow_writer():
        with transaction.atomic():
            event = audit.record("pg.late", object_id=1)
            inserted.set()
            assert commit.wait(WAIT)
        return event

    writer = Worker(slow_writer)
    writer.start()
    assert inserted.wait(WAIT)
    later = _record(3, prefix="pg.later")
    assert sum(b.event_count for b in audit.seal_all(full=False)) == 3
    commit.set()
    return writer.result(), later


def test_a6_the_frequent_sealer_takes_an_event_that_committed_late_within_its_window(settings):
    late, _later = _late_commit(settings, lookback=10)
    (batch,) = audit.seal_all(full=False)
    assert list(AuditSeal.objects.filter(batch=batch).values_list("event_id", flat=True)) == [
        late.pk
    ]


def test_a6_the_hourly_sweep_takes_an_event_that_committed_later_than_the_window(settings):
    late, _later = _late_commit(settings, lookback=0)
    assert audit.seal_all(full=False) == []  # below the newest sealed id: out of the window
    (batch,) = audit.seal_all(sweep=True)
    assert batch.event_count == 1 and AuditSeal.objects.filter(event=late).exists()
    _assert_one_unforked_chain(expected_events=4)


def test_a6_the_frequent_sealers_read_is_an_index_range_whatever_the_history(settings):
    """Its plan starts at the newest sealed id minus the window (an Index Cond on the id), so
    an idle sealer reads a few thousand index entries, not every event and seal."""
    from django.test.utils import CaptureQueriesContext

    _record(5)
    audit.seal_all()
    _record(2)
    with CaptureQueriesContext(connection) as queries:
        audit.seal_pending(full=False)
    (read,) = [q["sql"] for q in queries if 'FROM "core_auditevent"' in q["sql"]]
    # A small test table would be read whole anyway: with whole-table reads as the planner's
    # last resort, the plan shows whether the query's shape lets it start from the window.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + read)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Cond: (id >" in plan or "Index Cond: (core_auditevent.id >" in plan, plan


def test_a6_the_hourly_sweeps_read_is_an_index_range_of_its_hours_whatever_the_history():
    """The sweep reads the events of its last hours by the time index, not every event and
    seal (0.9 s at 1.6 million events when it did)."""
    from django.test.utils import CaptureQueriesContext

    _record(5)
    audit.seal_all()
    with CaptureQueriesContext(connection) as queries:
        audit.seal_pending(sweep=True)
    (read,) = [q["sql"] for q in queries if 'FROM "core_auditevent"' in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + read)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert (
        "Index Cond: (occurred_at >=" in plan
        or "Index Cond: (core_auditevent.occurred_at >=" in plan
    ), plan
