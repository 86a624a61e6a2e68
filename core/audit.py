"""The audit log (A6): events written with each change, sealed later into a hash chain.

Writers only insert: `record()` reads no other row, so no two writers in the whole system wait on
each other. A sealer (`seal_pending`, every few seconds) links the events that have no seal yet:
leaf = SHA-256(0x00 ‖ event id ‖ event hash), Merkle root over the leaves in id order (RFC 6962
style: 0x01 prefix for inner nodes, an odd node is promoted), and
batch_hash = SHA-256(previous batch hash ‖ root). `AuditBatch.number` is unique, so two sealers
running at once cannot fork the chain; an `AuditSeal` row per event keeps it in exactly one batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import ipaddress
import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Model, OuterRef, Subquery

from core import bulk, clock
from core.models import AuditBatch, AuditEvent, AuditHeadPublication, AuditSeal

GENESIS_HASH = "0" * 64

# The IP of the request being served, set by core.middleware.RequestContextMiddleware.
current_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_ip", default=None)


def _parse_json_float(text: str) -> int | float:
    # PostgreSQL's jsonb keeps numbers as `numeric` and prints them back positionally: 1e20 comes
    # back as 100000000000000000000 (an int to json.loads) and -0.0 as 0.0, so the event would no
    # longer match its hash. A whole number is therefore stored as an int, exactly as its decimal
    # text says (not int(float): 1.5e300 must become 15 and 299 zeros, as PostgreSQL reads it).
    # Other floats come back from either database as the same float.
    number = Decimal(text)
    if number == number.to_integral_value():
        return int(number)
    return float(text)


def _json_safe(value: Any) -> Any:
    """The value exactly as a JSON column gives it back (Decimal → str, dates → ISO, whole
    floats → int). NaN and infinities are refused here, before any database sees them."""
    if value is None:
        return None
    return json.loads(
        json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False), parse_float=_parse_json_float
    )


def _canonical_ip(value: str) -> str:
    """One text form per address; ValueError when it is not one.

    PostgreSQL's inet prints addresses its own way (`::1.2.3.4` where Python writes `::102:304`),
    so the hash uses this form, not whatever the column gives back. IPv4-mapped IPv6 becomes plain
    IPv4 (Python versions print it differently) and an IPv6 zone (`%eth0`) is dropped (inet
    refuses it)."""
    address = ipaddress.ip_address(value.strip())
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return ipaddress.IPv6Address(address.packed).compressed
    return str(address)


def _ip_for_storage(value: str | None) -> str | None:
    # The address comes from the request (a proxy header may carry anything). An unusable one is
    # dropped rather than failing the caller's transaction: PostgreSQL's inet would refuse it.
    if not value:
        return None
    try:
        return _canonical_ip(str(value))
    except ValueError:
        return None


def _ip_for_hash(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _canonical_ip(str(value))
    except ValueError:
        return str(value)  # not an address (edited?): hashed as it stands, so it will not match


def canonical_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder
    ).encode()


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """What an event's hash covers. Who acted and from where (the person's id and name, the IP
    address) are committed to, not shown, when the event has a `person_salt`: `person` is the
    SHA-256 of the salt and their canonical JSON. The chain still binds them (the salt is kept
    with the event and the full check recomputes it), but a proof handed to a carrier or shown
    to the public (W6) names no officer, operator or address."""
    person = {
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "ip": _ip_for_hash(event.ip),
    }
    payload = {
        "occurred_at": event.occurred_at.astimezone(clock.dt.UTC).isoformat(),
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "object_repr": event.object_repr,
        "before": event.before,
        "after": event.after,
    }
    if event.person_salt:
        secret = event.person_salt.encode() + canonical_json(person)
        payload["person"] = hashlib.sha256(secret).hexdigest()
    else:
        payload.update(person)
    return payload


def payload_hash(payload: dict[str, Any]) -> str:
    """The event hash of an event's payload (`event_payload`): SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def compute_event_hash(event: AuditEvent) -> str:
    return payload_hash(event_payload(event))


def record(
    action: str,
    *,
    actor: Any = None,
    target: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Write one audit event in the caller's transaction (A6).

    `target` fills the object fields from a model instance; `actor` is a user or None for the
    system. The IP defaults to that of the request being served.

    It reads no other row (no "previous hash" lookup): that is what lets every service call it
    inside its own transaction without queueing behind other writers. Chaining is the sealer's job.
    """
    event = event_new(
        action,
        actor=actor,
        target=target,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        before=before,
        after=after,
        ip=ip,
    )
    pending = _pending.get()
    if pending is not None:
        pending.append(event)
        return event
    event.save(force_insert=True)
    return event


def event_new(
    action: str,
    *,
    actor: Any = None,
    target: Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    object_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """The event `record` writes, with its hash, not saved: for `events_insert`."""
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or target.pk
        object_repr = object_repr or str(target)
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    event = AuditEvent(
        occurred_at=clock.now(),
        actor=actor,
        actor_label=str(actor)[:300] if actor is not None else "system",
        action=action,
        object_type=object_type,
        object_id="" if object_id is None or object_id == "" else str(object_id),
        object_repr=str(object_repr)[:300],
        before=_json_safe(before),
        after=_json_safe(after),
        ip=_ip_for_storage(ip if ip is not None else current_ip.get()),
        person_salt=secrets.token_hex(16),
    )
    event.event_hash = compute_event_hash(event)
    return event


def events_insert(events: Sequence[AuditEvent]) -> None:
    """Write many events (`event_new`) at once in the caller's transaction, in list order (ids
    ascending): the rows `record` would write one by one (A6), with a COPY when they are many
    (core.bulk). Inside a `batch()` block they join its one insert instead."""
    pending = _pending.get()
    if pending is not None:
        pending.extend(events)
        return
    bulk.insert(list(events))


# The events `record` keeps for the innermost `batch()` block being run, in the order recorded.
_pending: contextvars.ContextVar[list[AuditEvent] | None] = contextvars.ContextVar(
    "audit_pending", default=None
)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Write the events `record`ed in the block with ONE insert when the block ends (A6): the
    same rows in the same order (ids ascending as recorded), one statement instead of one each.

    Run it inside the caller's transaction, around code that lets every exception out: an
    exception leaving the block drops its events (its transaction is rolled back with them); an
    exception caught inside the block after an event was recorded would not take the event back.
    Events recorded in the block have no id until the block ends. A block inside another one
    writes with the outer one."""
    if _pending.get() is not None:
        yield
        return
    events: list[AuditEvent] = []
    token = _pending.set(events)
    try:
        yield
    finally:
        _pending.reset(token)
    if events:
        bulk.insert(events)


# --- Merkle tree ----------------------------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(event_id: int, event_hash: str) -> bytes:
    return _sha256(b"\x00" + f"{event_id}:{event_hash}".encode())


def _node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        raise ValueError("A batch has at least one event.")
    level = list(leaves)
    while len(level) > 1:
        level = [
            _node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def merkle_path(leaves: Sequence[bytes], index: int) -> list[tuple[str, str]]:
    """The siblings from leaf `index` up to the root: [(side, hex hash)], side 'L' or 'R'."""
    path: list[tuple[str, str]] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling].hex()))
        level = [
            _node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        index //= 2
    return path


def chain_hash(previous_hash: str, root_hex: str) -> str:
    return _sha256(bytes.fromhex(previous_hash) + bytes.fromhex(root_hex)).hex()


def climb_merkle_path(leaf: bytes, path: Sequence[Sequence[str]]) -> bytes:
    """The root that `leaf` reaches by `path` ([(side, hex hash)] as `merkle_path` gives it).
    ValueError for a side other than 'L' or 'R' or a sibling that is not hex."""
    node = leaf
    for side, sibling_hex in path:
        sibling = bytes.fromhex(sibling_hex)
        if side == "L":
            node = _node_hash(sibling, node)
        elif side == "R":
            node = _node_hash(node, sibling)
        else:
            raise ValueError(f"a Merkle path step is 'L' or 'R', not {side!r}")
    return node


# --- Sealing ----------------------------------------------------------------------------------


def _take_sealer_lock() -> None:
    """Make concurrent sealers queue instead of colliding (the unique batch number still guards
    the chain if this were skipped). SQLite's IMMEDIATE transactions already serialise writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('kezek.audit.seal'))")


def seal_pending(
    *, limit: int | None = None, sweep: bool = False, full: bool = False
) -> AuditBatch | None:
    """Seal the events that have no seal yet into one new batch; None when there are none.

    Events are picked by "has no seal", not "id above the last sealed id": an event whose
    transaction commits after a higher id was already sealed is taken by a later batch. The
    frequent run looks only from AUDIT_SEAL_LOOKBACK_IDS below the newest sealed id; the hourly
    `sweep`, for an event whose transaction committed later still, looks at the events of the
    last AUDIT_SWEEP_LOOKBACK_HOURS (both an index range, whatever the history's size); `full`
    looks through every event (`seal_audit`, by hand).
    """
    limit = limit or settings.AUDIT_SEAL_BATCH_SIZE
    for _attempt in range(5):
        try:
            with transaction.atomic():
                _take_sealer_lock()
                unsealed = AuditEvent.objects.filter(seal__isnull=True)
                if sweep and not full:
                    hours = clock.dt.timedelta(hours=settings.AUDIT_SWEEP_LOOKBACK_HOURS)
                    unsealed = unsealed.filter(occurred_at__gte=clock.now() - hours)
                elif not full:
                    newest = AuditSeal.objects.aggregate(newest=Max("event_id"))["newest"] or 0
                    unsealed = unsealed.filter(id__gt=newest - settings.AUDIT_SEAL_LOOKBACK_IDS)
                events = list(unsealed.order_by("id").values_list("id", "event_hash")[:limit])
                if not events:
                    return None
                head = AuditBatch.objects.order_by("-number").first()
                previous_hash = head.batch_hash if head else GENESIS_HASH
                root = merkle_root([leaf_hash(pk, h) for pk, h in events]).hex()
                batch = AuditBatch.objects.create(
                    number=(head.number + 1) if head else 1,
                    previous_hash=previous_hash,
                    merkle_root=root,
                    batch_hash=chain_hash(previous_hash, root),
                    event_count=len(events),
                    sealed_at=clock.now(),
                )
                AuditSeal.objects.bulk_create(
                    AuditSeal(event_id=pk, batch=batch, position=position)
                    for position, (pk, _hash) in enumerate(events)
                )
                return batch
        except IntegrityError:
            # Another sealer took this batch number or one of these events first: go again on
            # the new head with what is still unsealed.
            continue
    raise RuntimeError("Could not seal audit events after 5 attempts: sealers keep colliding.")


def seal_all(*, sweep: bool = False, full: bool = False) -> list[AuditBatch]:
    batches = []
    while (batch := seal_pending(sweep=sweep, full=full)) is not None:
        batches.append(batch)
    return batches


# --- Proofs -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class InclusionProof:
    """Evidence that an event is in the chain: its leaf, the path to its batch's root, the batch."""

    event_id: int
    event_hash: str
    batch_number: int
    batch_hash: str
    previous_hash: str
    merkle_root: str
    path: list[tuple[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def inclusion_proof(event: AuditEvent) -> InclusionProof | None:
    """The Merkle path of `event` to its batch; None while the event is not sealed yet."""
    seal = AuditSeal.objects.select_related("batch").filter(event_id=event.pk).first()
    if seal is None:
        return None
    sealed = list(
        AuditSeal.objects.filter(batch=seal.batch)
        .order_by("position")
        .values_list("event_id", "event__event_hash")
    )
    return InclusionProof(
        event_id=event.pk,
        # The hash as stored and sealed, not the caller's copy of the event, which may be stale.
        event_hash=sealed[seal.position][1],
        batch_number=seal.batch.number,
        batch_hash=seal.batch.batch_hash,
        previous_hash=seal.batch.previous_hash,
        merkle_root=seal.batch.merkle_root,
        path=merkle_path([leaf_hash(pk, h) for pk, h in sealed], seal.position),
    )


def verify_inclusion_proof(
    proof: InclusionProof, *, event_payload_hash: str, expected_batch_hash: str | None = None
) -> bool:
    """Check a proof without the database: the event's hash climbs to the root and the batch hash.

    `event_payload_hash` is the hash the checker computed from the event's content itself. A proof
    is only self-consistent: to trust it, also pass `expected_batch_hash` taken from somewhere the
    prover does not control (a published head and the chain up to it, or the checker's own copy of
    the batch). A malformed proof is simply not valid.
    """
    if event_payload_hash != proof.event_hash:
        return False
    if expected_batch_hash is not None and expected_batch_hash != proof.batch_hash:
        return False
    try:
        node = leaf_hash(proof.event_id, proof.event_hash)
        for side, sibling_hex in proof.path:
            sibling = bytes.fromhex(sibling_hex)
            if side == "L":
                node = _node_hash(sibling, node)
            elif side == "R":
                node = _node_hash(node, sibling)
            else:
                return False
        if node.hex() != proof.merkle_root:
            return False
        return chain_hash(proof.previous_hash, proof.merkle_root) == proof.batch_hash
    except (TypeError, ValueError):
        return False


# --- Verification -----------------------------------------------------------------------------


@dataclasses.dataclass
class ChainReport:
    events_checked: int = 0
    batches_checked: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)
    unsealed_overdue: int = 0
    oldest_unsealed_id: int | None = None
    unsealed_grace_seconds: int = 60
    # The batch the check started after (0: from the first) and the last one it checked.
    after_batch: int = 0
    through_batch: int = 0
    through_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.unsealed_overdue


# A verification that found the chain intact is itself an audit event, sealed into the chain: the
# next one starts from the batch it names (A6), so a nightly run is proportional to the day's
# events, and the record of what was verified cannot be changed unseen.
VERIFIED_ACTION = "audit.chain_verified"
VERIFIED_OBJECT_TYPE = "core.auditbatch"


def last_verified() -> tuple[int, str] | None:
    """(batch number, batch hash) of the newest verification that found the chain intact."""
    event = (
        AuditEvent.objects.filter(object_type=VERIFIED_OBJECT_TYPE, action=VERIFIED_ACTION)
        .order_by("-id")
        .first()
    )
    if event is None:
        return None
    return int(event.after["through_batch"]), event.after["batch_hash"]


def chain_verified_record(report: ChainReport) -> AuditEvent | None:
    """Record that the chain was intact through `report.through_batch` (nothing when it was
    not, or when there was nothing to check)."""
    if not report.ok or not report.through_batch:
        return None
    with transaction.atomic():
        return record(
            VERIFIED_ACTION,
            object_type=VERIFIED_OBJECT_TYPE,
            object_id=report.through_batch,
            after={
                "through_batch": report.through_batch,
                "batch_hash": report.through_hash,
                "from_batch": report.after_batch + 1,
                "events": report.events_checked,
            },
        )


def verify_chain(
    *,
    unsealed_grace_seconds: int | None = None,
    since_verified: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ChainReport:
    """Recompute every event hash, every batch root and the chain; report the first break, and
    also how many events have waited longer than the grace period to be sealed.

    With `since_verified`, from the batch the last intact verification reached (`last_verified`):
    that batch must still have the hash recorded then, and the batches after it are checked in
    full; events long unsealed are looked for near the newest sealed one, as the sealer does.
    Without it, the whole chain. It reads batch by batch, so a long history does not have to fit
    in memory; `progress` hears a line every 1 000 batches.
    """
    grace = (
        settings.AUDIT_UNSEALED_GRACE_SECONDS
        if unsealed_grace_seconds is None
        else unsealed_grace_seconds
    )
    report = ChainReport(unsealed_grace_seconds=grace)
    start = last_verified() if since_verified else None
    problem = _first_break(report, start=start, progress=progress)
    if problem is not None:
        report.problems.append(problem)
    # Counted even when the chain is broken: a break and a stalled sealer are separate alarms, and
    # cutting off the newest batch shows up exactly as old events without a seal.
    cutoff = clock.now() - clock.dt.timedelta(seconds=grace)
    overdue = AuditEvent.objects.filter(seal__isnull=True, occurred_at__lt=cutoff)
    if start is not None:
        newest = AuditSeal.objects.aggregate(newest=Max("event_id"))["newest"] or 0
        overdue = overdue.filter(id__gt=newest - settings.AUDIT_SEAL_LOOKBACK_IDS)
    report.unsealed_overdue = overdue.count()
    if report.unsealed_overdue:
        report.oldest_unsealed_id = overdue.order_by("id").values_list("id", flat=True).first()
    return report


def _first_break(
    report: ChainReport,
    *,
    start: tuple[int, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> str | None:
    previous_hash = GENESIS_HASH
    expected_number = 1
    batches = AuditBatch.objects.order_by("number")
    if start is not None:
        number, batch_hash = start
        current = AuditBatch.objects.filter(number=number).values_list("batch_hash", flat=True)
        if current.first() != batch_hash:
            return f"batch #{number}, verified intact before, no longer has the hash recorded then"
        previous_hash, expected_number = batch_hash, number + 1
        report.after_batch = report.through_batch = number
        report.through_hash = batch_hash
        batches = batches.filter(number__gt=number)
    for batch in batches.iterator(chunk_size=200):
        if batch.number != expected_number:
            return f"batch #{expected_number} is missing (found #{batch.number} next)"
        if batch.previous_hash != previous_hash:
            return f"batch #{batch.number} does not follow the previous batch's hash"
        events = list(AuditEvent.objects.filter(seal__batch=batch).order_by("seal__position"))
        if len(events) != batch.event_count:
            return (
                f"batch #{batch.number} should hold {batch.event_count} events, holds {len(events)}"
            )
        for event in events:
            report.events_checked += 1
            if compute_event_hash(event) != event.event_hash:
                return (
                    f"event #{event.pk} ({event.action}) does not match its hash: "
                    "it was changed after it was written"
                )
        root = merkle_root([leaf_hash(e.pk, e.event_hash) for e in events]).hex()
        if root != batch.merkle_root:
            return f"batch #{batch.number} Merkle root does not match its events"
        if chain_hash(batch.previous_hash, root) != batch.batch_hash:
            return f"batch #{batch.number} hash does not match"
        report.batches_checked += 1
        report.through_batch, report.through_hash = batch.number, batch.batch_hash
        previous_hash = batch.batch_hash
        expected_number += 1
        if progress is not None and report.batches_checked % 1000 == 0:
            progress(f"… batch #{batch.number}, {report.events_checked} events checked")
    # A published head must still be the hash of its batch: a chain rebuilt after an edit links up
    # again, but not to what was published. The batch is read by subquery (a join on the non-null
    # foreign key would be INNER and silently skip a publication whose batch has gone).
    batch = AuditBatch.objects.filter(pk=OuterRef("batch_id"))
    publications = (
        AuditHeadPublication.objects.order_by("day")
        .annotate(
            current_number=Subquery(batch.values("number")[:1]),
            current_hash=Subquery(batch.values("batch_hash")[:1]),
        )
        .values_list("day", "batch_hash", "current_number", "current_hash")
    )
    for day, published_hash, number, current_hash in publications.iterator(chunk_size=200):
        if current_hash is None:
            return f"the head published for {day} names a batch that no longer exists"
        if current_hash != published_hash:
            return f"the head published for {day} no longer matches batch #{number}"
    return None


def publish_head(*, as_of: clock.dt.datetime | None = None) -> AuditHeadPublication | None:
    """Record the chain head for the local day of `as_of` (once a day; re-running is a no-op).

    The head is the newest batch sealed by `as_of`; a day already published keeps what it had.
    """
    as_of = as_of or clock.now()
    day = clock.local_date(as_of)
    head = AuditBatch.objects.filter(sealed_at__lte=as_of).order_by("-number").first()
    if head is None:
        return None
    # get_or_create on the unique day: two runs at once still leave one publication.
    publication, _created = AuditHeadPublication.objects.get_or_create(
        day=day,
        defaults={"batch": head, "batch_hash": head.batch_hash, "published_at": clock.now()},
    )
    return publication
