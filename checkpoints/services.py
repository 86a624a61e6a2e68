import dataclasses
import datetime as dt
import hashlib
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest
from django.db.transaction import TransactionManagementError
from django.utils.translation import gettext as _

from checkpoints import capacity, locks
from checkpoints.models import (
    Checkpoint,
    Country,
    DeviceKey,
    Direction,
    SlotCounter,
    SlotKind,
)
from checkpoints.selectors import CAPACITY_VERIFIED_ACTION, CapacityReport
from core import audit, clock
from core.clock import ALMATY
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

REFERENCE_FILE = Path(__file__).resolve().parent / "data" / "checkpoints.json"


def _checkpoint_fields(row: dict[str, Any]) -> dict[str, Any]:
    hours = row.get("hours", "24h")
    opens_at = closes_at = None
    if hours != "24h":
        opens, closes = hours.split("-")
        opens_at, closes_at = dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)
    return {
        "country_id": row["country"],
        "name_en": row["name_en"],
        "name_ru": row["name_ru"],
        "name_kk": row["name_kk"],
        "counterpart": row.get("counterpart", ""),
        "region": row.get("region", ""),
        "serves_trucks": row.get("trucks", True),
        "daily_capacity": row["daily_capacity"],
        "capacity_source": row["capacity_source"],
        "opens_at": opens_at,
        "closes_at": closes_at,
        "queue_since": dt.date.fromisoformat(row["eqs_since"]) if row.get("eqs_since") else None,
        "note": row.get("note", ""),
    }


def reference_checkpoints_load(
    *, path: Path = REFERENCE_FILE, overwrite: bool = False, actor: Any = None
) -> dict[str, int]:
    """Load countries and checkpoints (R1). Rows an operator already has are left as they are
    unless `overwrite`, so running it again never undoes an operator's edits."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for row in data["countries"]:
            fields = {key: row[key] for key in ("name_en", "name_ru", "name_kk")}
            _upsert(Country, {"code": row["code"]}, fields, overwrite, counts, actor)
        for row in data["checkpoints"]:
            _upsert(
                Checkpoint, {"code": row["code"]}, _checkpoint_fields(row), overwrite, counts, actor
            )
    return counts


def _upsert(model, lookup, fields, overwrite, counts, actor) -> None:
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        instance = model.objects.create(**lookup, **fields)
        audit.record("reference.created", actor=actor, target=instance, after=fields)
        counts["created"] += 1
        return
    before = {key: getattr(instance, key) for key in fields}
    if not overwrite or before == fields:
        counts["unchanged"] += 1
        return
    model.objects.filter(pk=instance.pk).update(**fields)
    audit.record("reference.updated", actor=actor, target=instance, before=before, after=fields)
    counts["updated"] += 1


# --- Slots: taking and releasing places (C1–C6) -----------------------------------------------
#
# The counters are the only thing that stops overbooking (C6). A place is taken with ONE
# conditional UPDATE (`taken = taken + 1 WHERE … AND taken < capacity`) in the caller's (the
# booking's) transaction: the row lock it takes is held until that transaction ends, so two
# bookings of the same slot queue on it for a moment and the second one sees the first one's
# place; bookings of different slots never meet. The same statement does the same on SQLite
# (one writer at a time) and PostgreSQL (row lock, re-check of the WHERE after the wait).
# `CHECK (taken <= capacity)` backs it. Locks: a transaction that touches several counters (a
# reschedule) should touch them in id order (ARCHITECTURE "locks in one order"); a lock wait
# beyond `lock_timeout` is an OperationalError that the API answers with 503 `busy`.


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


def _require_caller_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError(
            f"{name}() runs inside the booking's transaction: call it in transaction.atomic()."
        )


def _counter_key(
    checkpoint: Checkpoint, direction: str, date: dt.date, hour: int, kind: str
) -> dict[str, Any]:
    return {
        "checkpoint_id": checkpoint.pk,
        "direction": direction,
        "date": date,
        "hour": hour,
        "kind": kind,
    }


def _take_place(key: dict[str, Any]) -> SlotCounter | None:
    """The conditional UPDATE (C6): one more place taken, if one is free. The counter row as it
    is now when taken, else None.

    Written in SQL with RETURNING (PostgreSQL, SQLite 3.35+): the ORM's update() gives back no
    row, and reading the counter again afterwards would be one more statement per booking."""
    connection = transaction.get_connection()
    if not connection.features.can_return_columns_from_insert:  # no RETURNING: read it back
        taken = SlotCounter.objects.filter(**key, taken__lt=F("capacity")).update(
            taken=F("taken") + 1
        )
        return SlotCounter.objects.get(**key) if taken else None
    params = [
        key["checkpoint_id"],
        key["direction"],
        connection.ops.adapt_datefield_value(key["date"]),
        key["hour"],
        key["kind"],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_PLACE_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    # As a read of the row would give it (`from_db`: saved, of this database).
    values = {**key, "id": row[0], "planned": row[1], "capacity": row[2], "taken": row[3]}
    names = [field.attname for field in SlotCounter._meta.concrete_fields]
    return SlotCounter.from_db(connection.alias, names, [values[name] for name in names])


# The statement of `_take_place`, as the ORM would write the UPDATE, with the row it changed.
_TAKE_PLACE_SQL = (
    'UPDATE "checkpoints_slotcounter" SET "taken" = "taken" + 1 '
    'WHERE "checkpoint_id" = %s AND "direction" = %s AND "date" = %s AND "hour" = %s '
    'AND "kind" = %s AND "taken" < "capacity" '
    'RETURNING "id", "planned", "capacity", "taken"'
)


def _counter_ensure(key: dict[str, Any], planned: int) -> None:
    """Make the counter row if it is missing, with the capacity of the rules. A row made at the
    same moment by someone else wins and this one is dropped (ON CONFLICT DO NOTHING)."""
    SlotCounter.objects.bulk_create(
        [SlotCounter(**key, planned=planned, capacity=planned, taken=0)], ignore_conflicts=True
    )


def slot_take(
    *, checkpoint: Checkpoint, direction: str, start: dt.datetime, service: str
) -> SlotCounter:
    """Take one place for a booking or a hold (C1–C6) and return the counter it came from.

    `start` is the slot's start, aware and on a local hour. `service` is `regular` (the place
    comes from that hour's regular capacity) or `accelerated` / `out_of_turn` (from the day's
    quota; the hour is still checked: open, not closed, in the window). Keep the returned
    counter's id: `slot_release(counter_id=…)` gives the place back.

    Must run inside the caller's transaction (`transaction.atomic()`): the place is taken when
    that transaction commits, and is given back if it rolls back. Refusals (ApplicationError):
      400 validation_error — unknown service or direction; `start` naive or not on the hour;
                             an hour outside the opening hours (fields: service, direction,
                             slot_start);
      409 outside_booking_window — `start` is not within now + 1 h … now + BOOKING_WINDOW_DAYS
                             (C4; fields: earliest, latest);
      409 checkpoint_closed — the hour overlaps a closure (C3), or the checkpoint is inactive;
      409 slot_full — no place left in the hour (regular) or the day's quota (priority).
    A lock wait longer than `lock_timeout` raises OperationalError (the API answers 503 busy).
    """
    _require_caller_transaction("slot_take")
    slot = _slot_checked(checkpoint, direction, start, service)
    return _take_or_refuse(slot)


def slot_move(
    *,
    counter_id: int,
    checkpoint: Checkpoint,
    direction: str,
    start: dt.datetime,
    service: str,
) -> SlotCounter:
    """Reschedule (B5): take a place at `start` and give back the one taken on `counter_id`,
    both or neither; returns the new counter.

    The same checks and refusals as `slot_take`, in the caller's transaction. The two counters
    are touched in id order (the lock order of docs/locking.md), so two reschedules swapping
    places cannot deadlock. A priority booking moved to another hour of the same day keeps its
    place in the day's quota: nothing is taken or released, even when the quota is used up.
    A refusal leaves the old place taken (a savepoint), whatever the caller does next.
    """
    _require_caller_transaction("slot_move")
    slot = _slot_checked(checkpoint, direction, start, service)
    _counter_ensure(slot.key, slot.planned)
    new_id = SlotCounter.objects.filter(**slot.key).values_list("pk", flat=True).get()
    if new_id != counter_id:
        with transaction.atomic():
            if counter_id < new_id:
                slot_release(counter_id=counter_id)
                _take_or_refuse(slot)
            else:
                _take_or_refuse(slot)
                slot_release(counter_id=counter_id)
    return SlotCounter.objects.get(pk=new_id)


def slots_take(
    *, wanted: Sequence[tuple[Checkpoint, str, dt.datetime, str]]
) -> list[SlotCounter | ApplicationError]:
    """`slot_take` for many places at once (a draw's winners): for each (checkpoint, direction,
    start, service) of `wanted`, the counter its place came from or the refusal `slot_take`
    would give. Each slot is checked once; each counter's places are taken with ONE conditional
    UPDATE (`taken + n <= capacity`, C6), the counters in id order (docs/locking.md). A counter
    with fewer free places than asked gives them to the first of its items in `wanted`; the
    others are refused slot_full (or checkpoint_closed). In the caller's transaction."""
    _require_caller_transaction("slots_take")
    results: list[SlotCounter | ApplicationError | None] = [None] * len(wanted)
    checked: dict[tuple, _Slot | ApplicationError] = {}
    groups: dict[tuple, list[int]] = {}
    for index, (checkpoint, direction, start, service) in enumerate(wanted):
        asked = (checkpoint.pk, direction, start, service)
        if asked not in checked:
            try:
                checked[asked] = _slot_checked(checkpoint, direction, start, service)
            except ApplicationError as exc:
                checked[asked] = exc
        slot = checked[asked]
        if isinstance(slot, ApplicationError):
            results[index] = slot
            continue
        groups.setdefault(tuple(slot.key.values()), []).append(index)
    slots = {tuple(slot.key.values()): slot for slot in checked.values() if isinstance(slot, _Slot)}
    if groups:
        SlotCounter.objects.bulk_create(
            [
                SlotCounter(
                    **slots[key].key,
                    planned=slots[key].planned,
                    capacity=slots[key].planned,
                    taken=0,
                )
                for key in groups
            ],
            ignore_conflicts=True,
        )
    ids = _counter_ids([slots[key].key for key in groups])
    for key in sorted(groups, key=lambda key: ids[key]):
        indexes = groups[key]
        given = _take_places(ids[key], len(indexes))
        refusal = None
        for place, index in enumerate(indexes):
            if place < given:
                results[index] = ids[key]
                continue
            if refusal is None:
                try:
                    _refuse_full(slots[key])
                except ApplicationError as exc:
                    refusal = exc
            results[index] = refusal
    counters = SlotCounter.objects.in_bulk(sorted(set(ids.values())))
    return [counters[result] if isinstance(result, int) else result for result in results]


def _counter_ids(keys: list[dict[str, Any]]) -> dict[tuple, int]:
    """The ids of the counters of `keys`, by the values of their key, in one read."""
    if not keys:
        return {}
    match = Q()
    for key in keys:
        match |= Q(**key)
    fields = list(keys[0])
    return {
        tuple(row[:-1]): row[-1]
        for row in SlotCounter.objects.filter(match).values_list(*fields, "pk")
    }


def _take_places(counter_id: int, places: int) -> int:
    """Take `places` of the counter at once if they are free, else as many as are (the row
    locked while its free places are read); how many were taken."""
    if SlotCounter.objects.filter(pk=counter_id, taken__lte=F("capacity") - places).update(
        taken=F("taken") + places
    ):
        return places
    locks.slot_counters([counter_id])
    capacity_now, taken = (
        SlotCounter.objects.filter(pk=counter_id).values_list("capacity", "taken").get()
    )
    free = max(0, min(places, capacity_now - taken))
    if free:
        SlotCounter.objects.filter(pk=counter_id).update(taken=F("taken") + free)
    return free


def slots_give_back(*, taken: Mapping[int, int]) -> None:
    """Give back places taken earlier in the caller's transaction (`slots_take`) and not used
    after all, {counter id: places}: as if never taken, so nobody is offered them
    (`register_places_freed`): they were not free to anyone before this transaction."""
    _require_caller_transaction("slots_give_back")
    for counter_id in sorted(taken):
        if taken[counter_id] > 0:
            SlotCounter.objects.filter(pk=counter_id).update(taken=F("taken") - taken[counter_id])


@dataclasses.dataclass(frozen=True)
class _Slot:
    checkpoint: Checkpoint
    direction: str
    start: dt.datetime
    service: str
    key: dict[str, Any]
    planned: int


def _slot_checked(
    checkpoint: Checkpoint, direction: str, start: dt.datetime, service: str
) -> _Slot:
    """Everything `slot_take` refuses before it touches a counter; the counter's key and its
    capacity by the rules."""
    if service not in SlotKind.values:
        raise _invalid("service", _("Choose regular, accelerated or out-of-turn passage."))
    if direction not in Direction.values:
        raise _invalid("direction", _("Choose exit or entry."))
    if not capacity.is_on_the_hour(start):
        raise _invalid(
            "slot_start", _("A slot starts on the hour, with its UTC offset, like 09:00+05:00.")
        )
    if not checkpoint.is_bookable:
        raise ApplicationError(
            "checkpoint_closed", _("This checkpoint takes no bookings."), status=409
        )
    now = clock.now()
    if not capacity.in_booking_window(start, now):
        earliest, latest = capacity.booking_window(now)
        raise ApplicationError(
            "outside_booking_window",
            _("Slots can be booked from 1 hour to %(days)s days ahead.")
            % {"days": settings.BOOKING_WINDOW_DAYS},
            status=409,
            fields={
                "earliest": earliest.astimezone(ALMATY).isoformat(),
                "latest": latest.astimezone(ALMATY).isoformat(),
            },
        )
    date, hour = capacity.local_slot(start)
    plan = capacity.plan_of_day(checkpoint=checkpoint, direction=direction, date=date)
    if hour not in plan.regular:
        raise _invalid("slot_start", _("The checkpoint is not open at this hour."))
    if hour in plan.closed:
        raise _closed(plan.closure_at(hour))
    counter_hour = hour if service == SlotKind.REGULAR else SlotCounter.DAY
    return _Slot(
        checkpoint=checkpoint,
        direction=direction,
        start=start,
        service=service,
        key=_counter_key(checkpoint, direction, date, counter_hour, service),
        planned=plan.planned(service, counter_hour),
    )


def _take_or_refuse(slot: _Slot) -> SlotCounter:
    """The conditional UPDATE, making the counter row first when it is missing; the counter."""
    counter = _take_place(slot.key)
    if counter is not None:
        return counter
    _counter_ensure(slot.key, slot.planned)
    counter = _take_place(slot.key)
    if counter is not None:
        return counter
    _refuse_full(slot)


def _refuse_full(slot: _Slot) -> NoReturn:
    """The refusal of a slot with no place left to take."""
    # A closure entered since the plan was read sets the counter to 0: say so.
    for period in capacity.load_closures(
        checkpoint_id=slot.checkpoint.pk,
        starts_at=slot.start,
        ends_at=slot.start + capacity.SLOT_LENGTH,
    ):
        if period.covers(slot.direction):
            raise _closed(period)
    if slot.service == SlotKind.REGULAR:
        message = _("This hour is fully booked. Choose another hour.")
    else:
        message = _("The day's quota for this service is used up. Choose another day.")
    raise ApplicationError("slot_full", message, status=409)


def _closed(period: capacity.ClosedPeriod | None) -> ApplicationError:
    fields: dict[str, Any] = {}
    if period is not None:
        fields = {
            "closed_from": period.starts_at.astimezone(ALMATY).isoformat(),
            "closed_until": period.ends_at.astimezone(ALMATY).isoformat(),
            "reason": period.reason,
        }
    return ApplicationError(
        "checkpoint_closed",
        _("The checkpoint is closed at this time. Choose another hour."),
        status=409,
        fields=fields,
    )


# Who may keep a freed place back from first-come booking, in the transaction that freed it:
# fair release keeps it for a draw's window or its waitlist (F1, F7), so the place is never free
# for a moment that a refreshing client could catch. Registered from an app's `ready()`.
PlacesFreedClaimant = Callable[[Mapping[int, int]], None]
_places_freed_claimants: dict[str, PlacesFreedClaimant] = {}


def register_places_freed(name: str, claimant: PlacesFreedClaimant) -> PlacesFreedClaimant:
    """`claimant({counter_id: places freed})` runs inside the transaction that freed the places,
    with those counters' rows locked by it; it may take them again (taken + n) for its own.
    Registering a name again replaces the function."""
    _places_freed_claimants[name] = claimant
    return claimant


def unregister_places_freed(name: str) -> None:
    _places_freed_claimants.pop(name, None)


def _places_freed(freed: Mapping[int, int]) -> None:
    freed = {pk: places for pk, places in freed.items() if places > 0}
    if freed:
        for claimant in list(_places_freed_claimants.values()):
            claimant(freed)


def slot_release(*, counter_id: int) -> bool:
    """Give one place back (a cancelled booking, a lapsed hold, the old slot of a reschedule).

    One UPDATE, no lock taken first: `taken = taken - 1 WHERE taken > 0`, and the capacity comes
    back down towards `planned` when it was kept up by an overbooked row. Best called in the
    same transaction that ends the booking or hold, so both happen or neither. Returns False
    when nothing was taken (already 0): a bug elsewhere, logged and left to verify_capacity.
    The freed place is offered to the registered claimants (`register_places_freed`), unless
    the counter was over its capacity (then no place became free).
    """
    released = SlotCounter.objects.filter(pk=counter_id, taken__gt=0).update(
        taken=F("taken") - 1, capacity=Greatest(F("planned"), F("taken") - 1)
    )
    if not released:
        logger.warning("slot_release: counter %s had no place taken", counter_id)
    elif _places_freed_claimants:
        free = SlotCounter.objects.filter(pk=counter_id).values_list("capacity", "taken").get()
        _places_freed({counter_id: min(1, free[0] - free[1])})
    return bool(released)


@dataclasses.dataclass
class CapacityRefresh:
    """What `capacity_refresh` did: rows looked at and changed, and the rows where more is
    taken than the rules now allow (kept at capacity = taken; see SlotCounter)."""

    checked: int = 0
    updated: int = 0
    overbooked: list[SlotCounter] = dataclasses.field(default_factory=list)


def capacity_verified_record(report: CapacityReport) -> None:
    """Record a recount that found no drift (nothing when it found some): the next nightly
    recount starts from its day (`capacity_last_verified_day`)."""
    if not report.ok or report.day is None:
        return
    audit.record(
        CAPACITY_VERIFIED_ACTION,
        object_type="checkpoints.slotcounter",
        after={
            "day": report.day.isoformat(),
            "since": report.since.isoformat() if report.since else None,
            "counters": report.counters_checked,
        },
    )


def capacity_refresh(
    *,
    checkpoint: Checkpoint,
    direction: str | None = None,
    dates: Iterable[dt.date] | None = None,
    actor: Any = None,
) -> CapacityRefresh:
    """Give the existing counters of today and later the capacity the rules give now, after an
    operator changed the daily capacity, the opening hours, an override or a closure.

    `direction` None means both; `dates` None means every counter from today on. Rows that do not
    exist yet need nothing: they are made with the current rules when first taken. Past days are
    history and stay as they were.

    A new capacity below what is already taken never breaks `taken <= capacity`: the row keeps
    capacity = taken (no booking is cancelled here, none can be added) and comes down with each
    release until it meets the rules. Such rows are returned in `overbooked` (and logged) for the
    operator to act on, e.g. bookings inside a new closure (C3).

    Runs in its own transaction, or in the caller's (the admin save). Rows that change are
    locked in id order before they are updated (the lock order of docs/locking.md).
    """
    report = CapacityRefresh()
    checkpoint = Checkpoint.objects.get(pk=checkpoint.pk)
    rows = SlotCounter.objects.filter(checkpoint=checkpoint, date__gte=clock.local_today())
    if direction is not None:
        rows = rows.filter(direction=direction)
    wanted_dates: set[dt.date] | None = None
    if dates is not None:
        wanted_dates = set(dates)
        if not wanted_dates:
            return report
        rows = rows.filter(date__range=(min(wanted_dates), max(wanted_dates)))
    with transaction.atomic():
        current = [
            row
            for row in rows.values_list(
                "pk", "direction", "date", "hour", "kind", "planned", "capacity", "taken"
            )
            if wanted_dates is None or row[2] in wanted_dates
        ]
        report.checked = len(current)
        plans = capacity.day_plans(
            checkpoint=checkpoint,
            directions={row[1] for row in current},
            dates={row[2] for row in current},
        )
        changes: dict[int, list[int]] = defaultdict(list)
        opened: dict[int, int] = {}  # places that became free (a closure lifted, more capacity)
        for pk, row_direction, date, hour, kind, planned, row_capacity, taken in current:
            wanted = plans[(row_direction, date)].planned(kind, hour)
            if wanted != planned:
                changes[wanted].append(pk)
                opened[pk] = max(wanted, taken) - max(row_capacity, taken)
        changed = sorted(pk for pks in changes.values() for pk in pks)
        if changed:
            locks.slot_counters(changed)
            for wanted, pks in changes.items():
                report.updated += SlotCounter.objects.filter(pk__in=pks).update(
                    planned=wanted, capacity=Greatest(Value(wanted), F("taken"))
                )
            _places_freed(opened)
        report.overbooked = [
            row
            for row in rows.filter(taken__gt=F("planned")).order_by("date", "hour")
            if wanted_dates is None or row.date in wanted_dates
        ]
        if report.updated:
            audit.record(
                "capacity.refreshed",
                actor=actor,
                target=checkpoint,
                after={
                    "direction": direction,
                    "dates": sorted(str(day) for day in wanted_dates) if wanted_dates else None,
                    "updated": report.updated,
                    "overbooked": [row.pk for row in report.overbooked],
                },
            )
    for row in report.overbooked:
        logger.warning(
            "capacity_refresh: counter %s (%s) has %s taken, the rules now allow %s",
            row.pk,
            row,
            row.taken,
            row.planned,
        )
    return report


# --- Plate camera keys (API.md "Checkpoint devices") -----------------------------------------

DEVICE_KEY_PREFIX = "kzd_"
# A write of `last_used_at` at most this often per key, not one per camera event.
DEVICE_KEY_TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True)
class IssuedDeviceKey:
    key: DeviceKey
    secret: str


def _device_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def device_key_issue(*, checkpoint: Checkpoint, name: str, actor: Any) -> IssuedDeviceKey:
    """A new key for a plate camera at `checkpoint`, shown once: only its SHA-256 is kept."""
    name = (name or "").strip()[:100]
    if not name:
        raise _invalid("name", _("Name the camera, e.g. “Waiting area entrance”."))
    secret = DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        key = DeviceKey.objects.create(
            checkpoint=checkpoint,
            name=name,
            key_hash=_device_key_hash(secret),
            prefix=secret[:12],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            created_at=clock.now(),
        )
        audit.record(
            "device_key.issued",
            actor=actor,
            target=key,
            after={"checkpoint": checkpoint.code, "name": name, "prefix": key.prefix},
        )
    return IssuedDeviceKey(key=key, secret=secret)


def device_key_revoke(*, key: DeviceKey, actor: Any) -> bool:
    """The key stops working at once. Revoking it again changes nothing (returns False)."""
    with transaction.atomic():
        revoked = DeviceKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now()
        )
        if revoked:
            audit.record(
                "device_key.revoked",
                actor=actor,
                target=key,
                after={"checkpoint_id": key.checkpoint_id, "name": key.name},
            )
    return bool(revoked)


def device_key_for_secret(secret: str) -> DeviceKey | None:
    """The live key with this secret (not revoked, its checkpoint active), or None."""
    if not secret.startswith(DEVICE_KEY_PREFIX):
        return None
    key = (
        DeviceKey.objects.select_related("checkpoint")
        .filter(key_hash=_device_key_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if key is None or not key.checkpoint.is_active:
        return None
    now = clock.now()
    if key.last_used_at is None or now - key.last_used_at > DEVICE_KEY_TOUCH_EVERY:
        DeviceKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
