"""A6: the audit log — append-only events, sealed in batches into a hash chain of Merkle roots.

These run on SQLite and on PostgreSQL. Where a test edits history on purpose it does so inside
`_tampering()`, which switches the append-only triggers off for that statement on PostgreSQL
(pgtrigger.ignore) and changes nothing on SQLite, which has no triggers: either way the verifier,
not the trigger, is what is under test. The triggers themselves are tested in
test_audit_postgres.py.
"""

import datetime as dt
import hashlib
import io
import itertools
import json
from decimal import Decimal

import pgtrigger
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from core import audit, clock
from core.models import AuditBatch, AuditEvent, AuditHeadPublication, AuditSeal

pytestmark = pytest.mark.django_db

APPEND_ONLY_URIS = [
    "core.AuditEvent:append_only",
    "core.AuditBatch:append_only",
    "core.AuditSeal:append_only",
    "core.AuditHeadPublication:append_only",
]


class _Rollback(Exception):
    pass


def _tampering():
    return pgtrigger.ignore(*APPEND_ONLY_URIS)


def _record(count: int, prefix: str = "test.event") -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit.record(f"{prefix}.{i}", object_type="test", object_id=i, after={"i": i})
            for i in range(count)
        ]


def _problems() -> list[str]:
    return audit.verify_chain().problems


def _verify_command() -> str:
    out = io.StringIO()
    call_command("verify_audit_chain", stdout=out)
    return out.getvalue()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(
        "auditor@example.kz", "pw-not-used", full_name="Aigerim Auditor"
    )


# --- record() -------------------------------------------------------------------------------


def test_a6_record_inserts_one_row_and_reads_nothing():
    """Writers never contend: record() is a single INSERT, no "previous hash" lookup."""
    with CaptureQueriesContext(connection) as queries:
        audit.record("test.lonely", object_type="test", object_id=1)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 1, statements
    assert statements[0].lstrip().upper().startswith("INSERT")


def test_a6_record_keeps_actor_object_before_after_ip_time_and_hash(user):
    token = audit.current_ip.set("203.0.113.7")
    try:
        moment = dt.datetime(2026, 3, 20, 9, 30, tzinfo=clock.ALMATY)
        with time_machine.travel(moment, tick=False), transaction.atomic():
            event = audit.record(
                "test.changed",
                actor=user,
                target=user,
                before={"name": "old"},
                after={"name": "new", "fee": Decimal("3932.00"), "day": dt.date(2026, 3, 20)},
            )
    finally:
        audit.current_ip.reset(token)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor == user
    assert stored.actor_label == str(user)
    assert (stored.object_type, stored.object_id) == ("auth2fa.user", str(user.pk))
    assert stored.object_repr == str(user)
    assert stored.before == {"name": "old"}
    assert stored.after == {"name": "new", "fee": "3932.00", "day": "2026-03-20"}
    assert stored.ip == "203.0.113.7"
    assert stored.occurred_at == dt.datetime(2026, 3, 20, 9, 30, tzinfo=clock.ALMATY)
    expected = hashlib.sha256(audit.canonical_json(audit.event_payload(stored))).hexdigest()
    assert stored.event_hash == expected == audit.compute_event_hash(stored)


def test_a6_system_actor_and_no_object():
    event = audit.record("test.system", object_id=None)
    assert event.actor_id is None
    assert event.actor_label == "system"
    assert event.object_id == ""


@pytest.mark.parametrize(
    "value",
    [
        {"big_float": 1e20, "huge_float": 1.5e300, "negative_zero": -0.0, "whole_float": 3.0},
        {"small": 1.5e-7, "tenth": 0.1, "big_int": 2**70, "negative": -12.25},
        {"text": "Қазақстан — Хоргос ✓", "quote": 'a "b" \\ c', "nested": [[1, {"x": None}]]},
        {"money": Decimal("4325.50"), "when": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)},
        [1, 2.5, "three", None, True],
    ],
    ids=["large-floats", "small-numbers", "unicode", "decimal-datetime", "list"],
)
def test_a6_a_stored_event_rehashes_to_its_hash(value):
    """What the database gives back must hash like what was written, or the verifier would
    report honest events as tampered (PostgreSQL's jsonb rewrites 1e20 as an integer)."""
    event = audit.record("test.values", before=value, after={"wrapped": value})
    stored = AuditEvent.objects.get(pk=event.pk)
    assert audit.compute_event_hash(stored) == stored.event_hash
    audit.seal_all()
    assert audit.verify_chain().ok


def test_a6_whole_floats_are_stored_as_the_integers_they_spell():
    event = audit.record("test.floats", after={"a": 1e20, "b": 1.5e300, "c": -0.0, "d": 0.5})
    after = AuditEvent.objects.get(pk=event.pk).after
    assert after == {"a": 10**20, "b": 15 * 10**299, "c": 0, "d": 0.5}
    assert isinstance(after["a"], int) and isinstance(after["d"], float)


ANY_FORM = object()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("198.51.100.20", "198.51.100.20"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:198.51.100.20", "198.51.100.20"),
        # PostgreSQL's inet prints this one back as ::1.2.3.4, Python as ::102:304.
        ("::1.2.3.4", ANY_FORM),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("", None),
        ("unknown", None),
        ("10.0.0.1/8", None),
    ],
)
def test_a6_the_ip_is_stored_in_one_form_and_rehashes(given, stored):
    """A proxy can hand over anything as the client address: a bad one must neither fail the
    caller's transaction (PostgreSQL's inet refuses it) nor be hashed in a form the database
    does not give back (inet rewrites IPv6)."""
    event = audit.record("test.ip", ip=given)
    row = AuditEvent.objects.get(pk=event.pk)
    if stored is not ANY_FORM:
        assert row.ip == stored
    assert audit.compute_event_hash(row) == row.event_hash
    audit.seal_all()
    assert audit.verify_chain().ok


def test_a6_record_refuses_values_json_cannot_hold():
    with pytest.raises(ValueError):
        audit.record("test.nan", after={"x": float("nan")})


# --- Sealing and the chain ------------------------------------------------------------------


def test_a6_nothing_to_seal_gives_no_batch():
    assert audit.seal_pending() is None
    assert audit.seal_all() == []


def test_a6_sealing_respects_the_batch_size(settings):
    settings.AUDIT_SEAL_BATCH_SIZE = 4
    events = _record(10)
    batches = audit.seal_all()
    assert [b.event_count for b in batches] == [4, 4, 2]
    positions = {
        s.event_id: (s.batch.number, s.position) for s in AuditSeal.objects.select_related("batch")
    }
    assert [positions[e.pk] for e in events] == [
        (1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1), (2, 2), (2, 3), (3, 0), (3, 1),
    ]  # fmt: skip


def test_a6_chain_verifies_after_several_sealing_rounds():
    for round_ in range(4):
        _record(round_ + 2, prefix=f"round{round_}")
        audit.seal_pending()
    batches = list(AuditBatch.objects.order_by("number"))
    assert [b.number for b in batches] == [1, 2, 3, 4]
    assert [b.event_count for b in batches] == [2, 3, 4, 5]
    assert batches[0].previous_hash == audit.GENESIS_HASH
    for previous, batch in itertools.pairwise(batches):
        assert batch.previous_hash == previous.batch_hash
        assert batch.batch_hash == audit.chain_hash(previous.batch_hash, batch.merkle_root)
    report = audit.verify_chain()
    assert report.ok, report.problems
    assert (report.events_checked, report.batches_checked) == (14, 4)
    assert "intact" in _verify_command()


def test_a6_verify_command_exits_non_zero_naming_the_changed_event():
    events = _record(3)
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=events[1].pk).update(object_id="999")
    with pytest.raises(CommandError, match=rf"event #{events[1].pk}\b"):
        _verify_command()


def test_a6_a_batch_number_or_an_event_cannot_be_taken_twice():
    """The database itself keeps the chain from forking, whatever a sealer does."""
    events = _record(2)
    batch = audit.seal_pending()
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditBatch.objects.create(
            number=batch.number,
            previous_hash=audit.GENESIS_HASH,
            merkle_root=batch.merkle_root,
            batch_hash="f" * 64,
            event_count=2,
            sealed_at=clock.now(),
        )
    other = AuditBatch.objects.create(
        number=batch.number + 1,
        previous_hash=batch.batch_hash,
        merkle_root=batch.merkle_root,
        batch_hash="e" * 64,
        event_count=1,
        sealed_at=clock.now(),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditSeal.objects.create(event=events[0], batch=other, position=0)


def test_a6_an_event_recorded_in_a_rolled_back_transaction_leaves_no_trace():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("test.rolled_back")
        raise RuntimeError("the service failed")
    assert not AuditEvent.objects.exists()
    assert audit.seal_all() == []


def test_a6_a_batch_writes_its_events_with_one_insert_in_the_order_recorded(user):
    with CaptureQueriesContext(connection) as queries, transaction.atomic(), audit.batch():
        first = audit.record("test.first", actor=user, target=user, after={"n": 1})
        with audit.batch():  # an inner block writes with the outer one
            audit.record("test.second", object_type="test", object_id=2)
        audit.record("test.third", before={"n": 1}, after={"n": Decimal("3.50")})
        assert first.pk is None and not AuditEvent.objects.exists()
    inserts = [q["sql"] for q in queries.captured_queries if "INSERT" in q["sql"].upper()]
    assert len(inserts) == 1 and "core_auditevent" in inserts[0]
    stored = list(AuditEvent.objects.order_by("pk"))
    assert [event.action for event in stored] == ["test.first", "test.second", "test.third"]
    for event in stored:
        assert event.event_hash == audit.compute_event_hash(event)
    assert stored[2].after == {"n": "3.50"}
    audit.seal_all()
    assert audit.verify_chain().ok
    # Outside a block, record() writes at once again.
    audit.record("test.after")
    assert AuditEvent.objects.count() == 4


def test_a6_an_exception_leaving_a_batch_drops_its_events():
    with pytest.raises(RuntimeError), transaction.atomic(), audit.batch():
        audit.record("test.dropped")
        raise RuntimeError("the service failed")
    audit.record("test.kept")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test.kept"]


# --- Tampering is flagged -------------------------------------------------------------------


def test_a6_edited_event_is_flagged_by_verifier():
    events = _record(5)
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=events[2].pk).update(action="test.forged")
    problems = _problems()
    assert len(problems) == 1
    assert f"event #{events[2].pk}" in problems[0]


def test_a6_edited_event_with_its_hash_recomputed_is_flagged_by_the_batch_root():
    events = _record(5)
    audit.seal_all()
    forged = AuditEvent.objects.get(pk=events[2].pk)
    forged.action = "test.forged"
    with _tampering():
        AuditEvent.objects.filter(pk=forged.pk).update(
            action=forged.action, event_hash=audit.compute_event_hash(forged)
        )
    assert _problems() == ["batch #1 Merkle root does not match its events"]


@pytest.mark.parametrize("field", ["before", "after"])
def test_a6_tampered_before_after_json_is_flagged(field):
    with transaction.atomic():
        event = audit.record("test.json", before={"balance": "10.00"}, after={"balance": "5.00"})
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=event.pk).update(**{field: {"balance": "0.00"}})
    assert f"event #{event.pk}" in _problems()[0]


def test_a6_edited_event_time_or_ip_is_flagged():
    events = _record(2)
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=events[0].pk).update(
            occurred_at=events[0].occurred_at + dt.timedelta(seconds=1)
        )
    assert f"event #{events[0].pk}" in _problems()[0]


def test_a6_edited_batch_root_is_flagged():
    _record(3)
    batch = audit.seal_pending()
    with _tampering():
        AuditBatch.objects.filter(pk=batch.pk).update(merkle_root="ab" * 32)
    assert _problems() == ["batch #1 Merkle root does not match its events"]


def test_a6_edited_batch_hash_is_flagged():
    _record(1)
    audit.seal_pending()
    _record(1)
    audit.seal_pending()
    with _tampering():
        AuditBatch.objects.filter(number=2).update(batch_hash="cd" * 32)
    assert _problems() == ["batch #2 hash does not match"]
    with _tampering():
        AuditBatch.objects.filter(number=1).update(batch_hash="cd" * 31 + "00")
    assert _problems() == ["batch #1 hash does not match"]


def test_a6_removed_batch_is_flagged():
    for _ in range(3):
        _record(2)
        audit.seal_pending()
    with _tampering():
        AuditSeal.objects.filter(batch__number=2).delete()
        AuditBatch.objects.filter(number=2).delete()
    assert _problems() == ["batch #2 is missing (found #3 next)"]


def test_a6_removed_newest_batch_leaves_its_events_unsealed_and_reported():
    """Cutting off the newest, unpublished batch leaves a shorter chain that links correctly, but
    its events are now old and unsealed: that is reported."""
    start = dt.datetime(2026, 3, 20, 9, 0, tzinfo=clock.ALMATY)
    with time_machine.travel(start, tick=False) as traveller:
        _record(2)
        audit.seal_pending()
        _record(2)
        audit.seal_pending()
        traveller.shift(dt.timedelta(minutes=5))
        with _tampering():
            AuditSeal.objects.filter(batch__number=2).delete()
            AuditBatch.objects.filter(number=2).delete()
        report = audit.verify_chain()
    assert report.problems == []
    assert report.unsealed_overdue == 2
    assert not report.ok


def test_a6_removed_sealed_event_is_flagged():
    events = _record(4)
    audit.seal_all()
    with _tampering():
        AuditSeal.objects.filter(event=events[1]).delete()
        AuditEvent.objects.filter(pk=events[1].pk).delete()
    assert _problems() == ["batch #1 should hold 4 events, holds 3"]


def test_a6_events_swapped_between_positions_are_flagged():
    events = _record(3)
    audit.seal_all()
    with _tampering():
        AuditSeal.objects.filter(event=events[0]).update(position=99)
        AuditSeal.objects.filter(event=events[2]).update(position=0)
        AuditSeal.objects.filter(event=events[0]).update(position=2)
    assert _problems() == ["batch #1 Merkle root does not match its events"]


def test_a6_verifier_reports_the_first_break_and_overdue_events_too():
    start = dt.datetime(2026, 3, 20, 9, 0, tzinfo=clock.ALMATY)
    with time_machine.travel(start, tick=False) as traveller:
        first = _record(2)
        audit.seal_pending()
        second = _record(2)
        audit.seal_pending()
        _record(1)  # left unsealed
        traveller.shift(dt.timedelta(minutes=2))
        with _tampering():
            AuditEvent.objects.filter(pk__in=[first[1].pk, second[0].pk]).update(action="x")
        report = audit.verify_chain()
    assert len(report.problems) == 1
    assert f"event #{first[1].pk}" in report.problems[0]
    assert report.unsealed_overdue == 1


# --- Events left unsealed -------------------------------------------------------------------


def test_a6_unsealed_event_is_reported_after_a_minute_not_before():
    start = dt.datetime(2026, 3, 20, 9, 0, tzinfo=clock.ALMATY)
    with time_machine.travel(start, tick=False) as traveller:
        event = audit.record("test.waiting")
        traveller.shift(dt.timedelta(seconds=59))
        report = audit.verify_chain()
        assert report.ok and report.unsealed_overdue == 0
        assert "intact" in _verify_command()

        traveller.shift(dt.timedelta(seconds=2))
        report = audit.verify_chain()
        assert not report.ok
        assert report.problems == []
        assert report.unsealed_overdue == 1
        with pytest.raises(CommandError, match=rf"1 event.*#{event.pk}"):
            _verify_command()

        audit.seal_all()
        assert audit.verify_chain().ok


# --- Inclusion proofs -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_a6_every_event_has_an_inclusion_proof_that_verifies(size):
    _record(2, prefix="earlier")
    audit.seal_pending()
    events = _record(size)
    batch = audit.seal_pending()
    assert batch.event_count == size
    for event in events:
        stored = AuditEvent.objects.get(pk=event.pk)
        proof = audit.inclusion_proof(stored)
        assert proof is not None
        assert (proof.batch_number, proof.batch_hash) == (2, batch.batch_hash)
        assert proof.merkle_root == batch.merkle_root
        assert len(proof.path) <= max(1, (size - 1).bit_length())
        assert audit.verify_inclusion_proof(
            proof, event_payload_hash=audit.compute_event_hash(stored)
        )
        assert audit.verify_inclusion_proof(
            proof,
            event_payload_hash=audit.compute_event_hash(stored),
            expected_batch_hash=batch.batch_hash,
        )


def test_a6_inclusion_proof_fails_for_another_event_a_tampered_sibling_or_a_wrong_batch():
    events = _record(5)
    audit.seal_all()
    event, other = (AuditEvent.objects.get(pk=e.pk) for e in (events[2], events[3]))
    proof = audit.inclusion_proof(event)
    good_hash = audit.compute_event_hash(event)
    assert audit.verify_inclusion_proof(proof, event_payload_hash=good_hash)

    assert not audit.verify_inclusion_proof(
        proof, event_payload_hash=audit.compute_event_hash(other)
    )
    # The other event's hash in this event's proof: the leaf binds the event id too.
    swapped = audit.InclusionProof(**{**proof.as_dict(), "event_hash": other.event_hash})
    assert not audit.verify_inclusion_proof(swapped, event_payload_hash=other.event_hash)

    side, sibling = proof.path[0]
    flipped = ("0" if sibling[0] != "0" else "1") + sibling[1:]
    tampered = audit.InclusionProof(
        **{**proof.as_dict(), "path": [(side, flipped), *proof.path[1:]]}
    )
    assert not audit.verify_inclusion_proof(tampered, event_payload_hash=good_hash)

    mirrored = audit.InclusionProof(
        **{**proof.as_dict(), "path": [("L" if s == "R" else "R", h) for s, h in proof.path]}
    )
    assert not audit.verify_inclusion_proof(mirrored, event_payload_hash=good_hash)

    wrong_batch = audit.InclusionProof(**{**proof.as_dict(), "batch_hash": "00" * 32})
    assert not audit.verify_inclusion_proof(wrong_batch, event_payload_hash=good_hash)
    wrong_previous = audit.InclusionProof(**{**proof.as_dict(), "previous_hash": "11" * 32})
    assert not audit.verify_inclusion_proof(wrong_previous, event_payload_hash=good_hash)
    assert not audit.verify_inclusion_proof(
        proof, event_payload_hash=good_hash, expected_batch_hash="22" * 32
    )

    garbage = audit.InclusionProof(**{**proof.as_dict(), "path": [("L", "not hex")]})
    assert not audit.verify_inclusion_proof(garbage, event_payload_hash=good_hash)
    sideways = audit.InclusionProof(**{**proof.as_dict(), "path": [("X", sibling)]})
    assert not audit.verify_inclusion_proof(sideways, event_payload_hash=good_hash)


def test_a6_an_edited_event_no_longer_proves():
    events = _record(3)
    audit.seal_all()
    proof = audit.inclusion_proof(AuditEvent.objects.get(pk=events[1].pk))
    with _tampering():
        AuditEvent.objects.filter(pk=events[1].pk).update(after={"i": 100})
    edited = AuditEvent.objects.get(pk=events[1].pk)
    assert not audit.verify_inclusion_proof(
        proof, event_payload_hash=audit.compute_event_hash(edited)
    )


def test_a6_unsealed_event_has_no_inclusion_proof():
    event = audit.record("test.unsealed")
    assert audit.inclusion_proof(event) is None


def test_a6_inclusion_proof_survives_json():
    events = _record(6)
    audit.seal_all()
    stored = AuditEvent.objects.get(pk=events[4].pk)
    data = json.loads(json.dumps(audit.inclusion_proof(stored).as_dict()))
    proof = audit.InclusionProof(**data)
    assert audit.verify_inclusion_proof(proof, event_payload_hash=audit.compute_event_hash(stored))


# --- The Merkle tree itself -----------------------------------------------------------------


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash over already-hashed leaves: split at the largest power of
    two smaller than n. The sealer builds level by level, promoting an odd node; same tree."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return audit._node_hash(_rfc6962_root(leaves[:k]), _rfc6962_root(leaves[k:]))


def _climb(leaf: bytes, path: list[tuple[str, str]]) -> bytes:
    node = leaf
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        node = audit._node_hash(other, node) if side == "L" else audit._node_hash(node, other)
    return node


leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@given(leaves=leaf_lists)
def test_a6_merkle_root_is_the_rfc6962_tree(leaves):
    assert audit.merkle_root(leaves) == _rfc6962_root(leaves)


@given(leaves=leaf_lists, data=st.data())
def test_a6_every_merkle_path_climbs_to_the_root(leaves, data):
    index = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
    path = audit.merkle_path(leaves, index)
    assert _climb(leaves[index], path) == audit.merkle_root(leaves)
    assert len(path) <= (len(leaves) - 1).bit_length()
    if len(leaves) > 1:
        other = data.draw(st.integers(min_value=0, max_value=len(leaves) - 1))
        if leaves[other] != leaves[index]:
            assert _climb(leaves[other], path) != audit.merkle_root(leaves)
        position = data.draw(st.integers(min_value=0, max_value=len(path) - 1))
        side, sibling = path[position]
        changed = bytes([sibling_byte ^ 1 for sibling_byte in bytes.fromhex(sibling)[:1]])
        bad = list(path)
        bad[position] = (side, (changed + bytes.fromhex(sibling)[1:]).hex())
        assert _climb(leaves[index], bad) != audit.merkle_root(leaves)


def test_a6_merkle_root_of_nothing_is_refused():
    with pytest.raises(ValueError):
        audit.merkle_root([])


def test_a6_a_leaf_binds_the_event_id_and_differs_from_an_inner_node():
    a, b = audit.leaf_hash(1, "aa" * 32), audit.leaf_hash(2, "bb" * 32)
    assert audit.leaf_hash(1, "aa" * 32) != audit.leaf_hash(11, "aa" * 32)
    assert a == hashlib.sha256(b"\x00" + b"1:" + b"aa" * 32).digest()
    assert audit.merkle_root([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()


# --- Publishing the head --------------------------------------------------------------------


def test_a6_head_is_published_once_a_day_and_rerunning_changes_nothing():
    day_one = dt.datetime(2026, 3, 20, 0, 5, tzinfo=clock.ALMATY)
    with time_machine.travel(day_one, tick=False) as traveller:
        assert audit.publish_head() is None  # nothing sealed yet
        _record(2)
        first_batch = audit.seal_pending()
        published = audit.publish_head()
        assert (published.day, published.batch, published.batch_hash) == (
            dt.date(2026, 3, 20),
            first_batch,
            first_batch.batch_hash,
        )
        traveller.shift(dt.timedelta(hours=6))
        _record(2)
        audit.seal_pending()
        again = audit.publish_head()
        assert again.pk == published.pk and again.batch == first_batch
        out = io.StringIO()
        call_command("publish_audit_head", stdout=out)
        assert f"#1 {first_batch.batch_hash}" in out.getvalue()
        assert AuditHeadPublication.objects.count() == 1

        traveller.shift(dt.timedelta(days=1))
        next_day = audit.publish_head()
        assert next_day.day == dt.date(2026, 3, 21)
        assert next_day.batch.number == 2
    assert audit.verify_chain().ok


def test_a6_head_for_a_past_day_is_the_head_at_that_moment():
    with time_machine.travel(dt.datetime(2026, 3, 19, 12, 0, tzinfo=clock.ALMATY), tick=False):
        _record(1)
        audit.seal_pending()
    with time_machine.travel(dt.datetime(2026, 3, 20, 12, 0, tzinfo=clock.ALMATY), tick=False):
        _record(1)
        audit.seal_pending()
        call_command("publish_audit_head", as_of="2026-03-20", stdout=io.StringIO())
    publication = AuditHeadPublication.objects.get()
    assert (publication.day, publication.batch.number) == (dt.date(2026, 3, 20), 1)


def test_a6_publish_refuses_a_future_as_of_unless_allowed():
    _record(1)
    audit.seal_pending()
    future = clock.now() + dt.timedelta(days=2)
    with pytest.raises(CommandError, match="--allow-future"):
        call_command("publish_audit_head", as_of=future.isoformat(), stdout=io.StringIO())
    assert not AuditHeadPublication.objects.exists()
    call_command(
        "publish_audit_head", as_of=future.isoformat(), allow_future=True, stdout=io.StringIO()
    )
    assert AuditHeadPublication.objects.get().day == clock.local_date(future)


def test_a6_publish_command_with_nothing_sealed():
    out = io.StringIO()
    call_command("publish_audit_head", stdout=out)
    assert "nothing sealed" in out.getvalue()
    assert not AuditHeadPublication.objects.exists()


def test_a6_published_head_that_no_longer_matches_is_flagged():
    _record(2)
    audit.seal_pending()
    publication = audit.publish_head()
    with _tampering():
        AuditHeadPublication.objects.filter(pk=publication.pk).update(batch_hash="99" * 32)
    assert _problems() == [
        f"the head published for {publication.day} no longer matches batch #1",
    ]


def test_a6_published_head_whose_batch_was_removed_is_flagged():
    _record(2)
    audit.seal_pending()
    _record(1)
    audit.seal_pending()
    publication = audit.publish_head()
    # Foreign keys are checked at commit (deferred) on both databases: remove the batch inside a
    # savepoint, look, and roll it back before the test's own end checks them.
    with pytest.raises(_Rollback), transaction.atomic():
        with _tampering(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM core_auditseal WHERE batch_id = %s", [publication.batch_id])
            cursor.execute("DELETE FROM core_auditbatch WHERE id = %s", [publication.batch_id])
        assert _problems() == [
            f"the head published for {publication.day} names a batch that no longer exists"
        ]
        raise _Rollback
    assert audit.verify_chain().ok


def test_a6_a_rewritten_chain_is_caught_by_the_published_head():
    """Someone who can bypass the trigger edits an event and rebuilds every hash after it: the
    chain links again, but the head published earlier gives it away."""
    events = _record(3)
    audit.seal_pending()
    _record(2)
    audit.seal_pending()
    publication = audit.publish_head()

    with _tampering():
        forged = AuditEvent.objects.get(pk=events[1].pk)
        forged.after = {"i": 1000}
        AuditEvent.objects.filter(pk=forged.pk).update(
            after=forged.after, event_hash=audit.compute_event_hash(forged)
        )
        previous_hash = audit.GENESIS_HASH
        for batch in AuditBatch.objects.order_by("number"):
            leaves = [
                audit.leaf_hash(pk, h)
                for pk, h in AuditSeal.objects.filter(batch=batch)
                .order_by("position")
                .values_list("event_id", "event__event_hash")
            ]
            root = audit.merkle_root(leaves).hex()
            AuditBatch.objects.filter(pk=batch.pk).update(
                previous_hash=previous_hash,
                merkle_root=root,
                batch_hash=audit.chain_hash(previous_hash, root),
            )
            previous_hash = audit.chain_hash(previous_hash, root)
    assert _problems() == [f"the head published for {publication.day} no longer matches batch #2"]


# --- Commands and tasks ---------------------------------------------------------------------


def test_a6_seal_command_and_task():
    from core import tasks

    _record(3)
    out = io.StringIO()
    call_command("seal_audit", stdout=out)
    assert "sealed 3 events in 1 batches" in out.getvalue()
    _record(2)
    assert tasks.seal_audit() == 2
    assert tasks.seal_audit() == 0
    tasks.publish_audit_head()
    assert AuditHeadPublication.objects.get().batch.number == 2


def test_a6_the_hourly_sweep_seals_the_days_events_and_the_command_every_event():
    """The sweep reads the last AUDIT_SWEEP_LOOKBACK_HOURS of events (a day's size): an event
    left unsealed longer than that is sealed by `seal_audit` by hand, and `verify_audit_chain
    --full` reports it meanwhile."""
    from core import tasks

    now = dt.datetime(2026, 3, 3, 12, tzinfo=clock.ALMATY)
    with time_machine.travel(now, tick=False):
        (recent,) = _record(1, prefix="recent")
    with time_machine.travel(now - dt.timedelta(hours=25), tick=False):
        (old,) = _record(1, prefix="old")  # as if its transaction had stayed open a day
    with time_machine.travel(now, tick=False):
        assert tasks.seal_audit_sweep() == 1
        assert AuditSeal.objects.filter(event=recent).exists()
        assert not AuditSeal.objects.filter(event=old).exists()
        assert f"1 event waited more than 60 s to be sealed, the oldest #{old.pk}" in (
            _verify_command_full_failing()
        )
        call_command("seal_audit", stdout=io.StringIO())
    assert AuditSeal.objects.filter(event=old).exists()


def _verify_command_full_failing() -> str:
    with pytest.raises(CommandError) as refused:
        call_command("verify_audit_chain", "--full", stdout=io.StringIO())
    return str(refused.value)


# --- Incremental verification -------------------------------------------------------------------


def _verify_command_full() -> str:
    out = io.StringIO()
    call_command("verify_audit_chain", "--full", stdout=out)
    return out.getvalue()


def test_a6_the_nightly_check_starts_where_the_last_intact_one_reached():
    """At 25 M events a full check passes 10 minutes: an intact check is recorded in the chain,
    and the next one checks only the batches after it."""
    _record(5, prefix="day1")
    audit.seal_all()
    assert "checked 5 events in 1 batches" in _verify_command()
    assert audit.last_verified() == (1, AuditBatch.objects.get(number=1).batch_hash)
    _record(3, prefix="day2")
    audit.seal_all()  # the day's events and the record of the first check
    out = _verify_command()
    assert "checked 4 events in 1 batches after batch #1" in out and "intact" in out
    assert audit.last_verified()[0] == 2
    # --full still reads every batch.
    assert "checked 9 events in 2 batches" in _verify_command_full()


def test_a6_a_change_after_the_last_check_is_found_by_the_next_one():
    _record(2, prefix="day1")
    audit.seal_all()
    _verify_command()
    day2 = _record(2, prefix="day2")
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=day2[0].pk).update(object_id="999")
    with pytest.raises(CommandError, match=rf"event #{day2[0].pk}\b"):
        _verify_command()


def test_a6_a_rewritten_verified_batch_is_found_by_the_next_check_and_by_full():
    """Rewriting history before the last check changes the hash of the batch it reached (its
    chain runs through every earlier one): the next check compares it with the recorded hash."""
    events = _record(2, prefix="day1")
    audit.seal_all()
    _verify_command()
    with _tampering():
        AuditBatch.objects.filter(number=1).update(batch_hash="0" * 64)
    with pytest.raises(CommandError, match="verified intact before"):
        _verify_command()
    with _tampering():
        AuditBatch.objects.filter(number=1).update(
            batch_hash=audit.chain_hash(audit.GENESIS_HASH, "0" * 64)
        )
        AuditEvent.objects.filter(pk=events[0].pk).update(object_id="999")
    with pytest.raises(CommandError):
        _verify_command_full()


def test_a6_a_broken_chain_is_not_recorded_as_verified():
    events = _record(2)
    audit.seal_all()
    with _tampering():
        AuditEvent.objects.filter(pk=events[0].pk).update(object_id="999")
    with pytest.raises(CommandError):
        _verify_command()
    assert audit.last_verified() is None
