"""Working through an outage (O1-O4, docs/offline.md): the devices that keep a checkpoint's
manifest, and the events they recorded offline, delivered when the link returns (O3).

Each event is applied at most once, by its id: the first thing its transaction does is insert
the event's row, and the unique constraint on `event_id` turns a second delivery (a resend after
a lost answer, or the same batch sent twice at once) into a duplicate that changes nothing.

Every event is judged at the time it happened on the device (the check-in window of Q1 at that
time, not at its delivery) and audited with both times and an `offline` mark. Conflicts follow
O3: a crossing stands (the truck is across) and releases the deposit; a duplicate changes
nothing; an event for a booking the portal no longer has in the state the event needs is parked
with both versions, never dropped, until a person settles it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bookings import locks
from bookings.models import Booking, RefusalReason, booking_pk_from_number
from bookings.services import deposit_settle_after_strike
from checkpoint_queue.models import OfflineEvent
from checkpoint_queue.services import actor_label
from checkpoints.models import Checkpoint, DeviceKey, DeviceReport
from core import audit, clock
from core.errors import ApplicationError
from deposits import services as ledger
from deposits.models import HoldResolution
from notify.services import booking_drivers_notify, booking_event_notify

# A device's clock may run a little ahead of the portal's; an event further in the future is
# parked (its time cannot be trusted), not applied.
CLOCK_SKEW = dt.timedelta(minutes=5)
# An event delivered this soon after it happened still tells the drivers they are called (Q7);
# later the moment has passed and only the carrier's record of it is kept.
FRESH_WITHIN = dt.timedelta(minutes=5)
# The most events one request delivers.
BATCH_LIMIT = 200

Kind = OfflineEvent.Kind
Outcome = OfflineEvent.Outcome
Status = Booking.Status


# --- Devices ------------------------------------------------------------------------------------


def device_name_of_key(key: DeviceKey) -> str:
    return f"key:{key.pk}"


def device_seen(
    *,
    checkpoint: Checkpoint,
    device: str,
    name: str = "",
    device_key: DeviceKey | None = None,
    user: Any = None,
    now: dt.datetime | None = None,
) -> DeviceReport:
    """The device's record at the checkpoint, made at its first contact, its last contact now."""
    now = now or clock.now()
    person = user if getattr(user, "is_authenticated", False) else None
    report, created = DeviceReport.objects.get_or_create(
        checkpoint=checkpoint,
        device=device[:80],
        defaults={
            "name": name[:200],
            "device_key": device_key,
            "user": person,
            "first_seen_at": now,
            "last_seen_at": now,
        },
    )
    if not created:
        changes = {"last_seen_at": now}
        if person is not None and report.user_id != person.pk:
            changes["user"] = person
        if name and report.name != name[:200]:
            changes["name"] = name[:200]
        DeviceReport.objects.filter(pk=report.pk).update(**changes)
        for field, value in changes.items():
            setattr(report, field, value)
    return report


def device_manifest_taken(report: DeviceReport, *, sequence: int, at: dt.datetime) -> None:
    DeviceReport.objects.filter(pk=report.pk).update(manifest_sequence=sequence, manifest_at=at)


def device_reported(report: DeviceReport, *, at: dt.datetime) -> None:
    """The device delivered everything it had recorded up to `at` (O4): the sweep may now judge
    the windows that ended before it. Never moves back."""
    DeviceReport.objects.filter(pk=report.pk).exclude(reported_at__gte=at).update(reported_at=at)
    if report.reported_at is None or report.reported_at < at:
        report.reported_at = at


# --- Events (O3) --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeviceEvent:
    """One event as the device sends it."""

    event_id: uuid.UUID
    booking: str  # the booking number (what its QR code holds)
    kind: str
    occurred_at: dt.datetime
    device_status: str = ""  # what the device believed the booking's status was before it
    reason: str = ""
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Delivered:
    """What became of one delivered event: its row, and whether this delivery was a duplicate."""

    event: OfflineEvent
    duplicate: bool


def _portal_version(booking: Booking) -> dict[str, Any]:
    """The booking as the portal has it, kept with a parked event (O3: both versions shown)."""

    def text(moment):
        return moment.isoformat() if moment else None

    return {
        "status": booking.status,
        "status_changed_at": text(booking.status_changed_at),
        "arrived_at": text(booking.arrived_at),
        "called_at": text(booking.called_at),
        "crossed_at": text(booking.crossed_at),
        "refused_at": text(booking.refused_at),
        "slot_start": text(booking.slot_start),
        "slot_end": text(booking.slot_end),
    }


def _offline_mark(row: OfflineEvent, report: DeviceReport) -> dict[str, Any]:
    """What every audit event of an offline event adds: both times, the device and the event."""
    return {
        "offline": True,
        "happened_at": row.occurred_at.isoformat(),
        "received_at": row.received_at.isoformat(),
        "event_id": str(row.event_id),
        "device": report.name or report.device,
    }


def events_deliver(
    *,
    checkpoint: Checkpoint,
    report: DeviceReport,
    actor: Any,
    events: list[DeviceEvent],
    now: dt.datetime | None = None,
) -> list[Delivered]:
    """Apply the device's events in the order given, each in its own transaction and at most
    once (O3). Returns what became of each."""
    received = now or clock.now()
    return [
        event_deliver(
            checkpoint=checkpoint, report=report, actor=actor, event=event, received_at=received
        )
        for event in events
    ]


def event_deliver(
    *,
    checkpoint: Checkpoint,
    report: DeviceReport,
    actor: Any,
    event: DeviceEvent,
    received_at: dt.datetime,
) -> Delivered:
    person = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        row = OfflineEvent(
            event_id=event.event_id,
            checkpoint=checkpoint,
            device=report,
            sent_by=person,
            booking_number=event.booking[:30],
            kind=event.kind,
            occurred_at=event.occurred_at,
            received_at=received_at,
            reason=event.reason[:20],
            note=event.note[:200],
            device_status=event.device_status[:24],
            outcome=Outcome.PARKED,
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            return Delivered(event=_already_delivered(event.event_id), duplicate=True)
        outcome, detail, booking = _judge(row, checkpoint=checkpoint, report=report, actor=actor)
        row.outcome, row.detail = outcome, detail[:300]
        if booking is not None:
            row.booking = booking
            if outcome != Outcome.PARKED:
                row.portal_status = booking.status
        row.save(update_fields=["outcome", "detail", "booking", "portal_status", "portal_version"])
        if outcome == Outcome.PARKED:
            audit.record(
                "offline_event.parked",
                actor=person,
                target=row,
                after={
                    "booking": row.booking_number,
                    "kind": row.kind,
                    "why": row.detail,
                    "portal": row.portal_version,
                    **_offline_mark(row, report),
                },
            )
    return Delivered(event=row, duplicate=False)


def _already_delivered(event_id: uuid.UUID) -> OfflineEvent:
    return OfflineEvent.objects.select_related("booking").get(event_id=event_id)


def _park(row: OfflineEvent, booking: Booking | None, why: str):
    if booking is not None:
        row.portal_status = booking.status
        row.portal_version = _portal_version(booking)
    return Outcome.PARKED, why, booking


def _judge(row: OfflineEvent, *, checkpoint: Checkpoint, report: DeviceReport, actor: Any):
    """(outcome, why, booking) for the event, applying it when it applies."""
    if row.occurred_at > row.received_at + CLOCK_SKEW:
        return _park(row, None, _("The device's time is ahead of the portal's: check its clock."))
    pk = booking_pk_from_number(row.booking_number)
    if pk is None or not Booking.objects.filter(pk=pk, checkpoint=checkpoint).exists():
        return _park(row, None, _("No booking with this number at this checkpoint."))
    booking = locks.booking_with_checkpoint(pk)
    mark = _offline_mark(row, report)
    return {
        Kind.ARRIVED: _arrived,
        Kind.CALLED: _called,
        Kind.CROSSED: _crossed,
        Kind.REFUSED: _refused,
    }[row.kind](row, booking, actor, mark)


def _arrived(row: OfflineEvent, booking: Booking, actor: Any, mark: dict):
    at = row.occurred_at
    if booking.status in (Status.ARRIVED, Status.CALLED, Status.CROSSED):
        return Outcome.ALREADY, "", booking
    if booking.status != Status.CONFIRMED:
        return _park(row, booking, _("The booking is no longer confirmed at the portal."))
    opens, closes = booking.check_in_window
    if not opens <= at < closes:
        return _park(
            row, booking, _("At the time of the event the booking's check-in window was not open.")
        )
    booking.status = Status.ARRIVED
    booking.arrived_at = booking.status_changed_at = at
    booking.arrived_by = actor_label(actor)
    booking.save(update_fields=["status", "arrived_at", "arrived_by", "status_changed_at"])
    audit.record(
        "booking.arrived",
        actor=actor,
        target=booking,
        before={"status": Status.CONFIRMED},
        after={"status": booking.status, "by": booking.arrived_by, **mark},
    )
    return Outcome.APPLIED, "", booking


def _called(row: OfflineEvent, booking: Booking, actor: Any, mark: dict):
    at = row.occurred_at
    if booking.status in (Status.CALLED, Status.CROSSED):
        return Outcome.ALREADY, "", booking
    if booking.status != Status.ARRIVED:
        return _park(row, booking, _("The booking is not in the waiting area at the portal."))
    if booking.slot_start > at:
        return _park(row, booking, _("At the time of the event the booking's slot had not begun."))
    booking.status = Status.CALLED
    booking.called_at = booking.status_changed_at = at
    booking.called_by = actor_label(actor)
    booking.save(update_fields=["status", "called_at", "called_by", "status_changed_at"])
    audit.record(
        "booking.called",
        actor=actor,
        target=booking,
        before={"status": Status.ARRIVED},
        after={"status": booking.status, "by": booking.called_by, **mark},
    )
    if row.received_at - at <= FRESH_WITHIN:
        booking_event_notify(booking=booking, event="booking_called")
        booking_drivers_notify(booking=booking, event="driver_called")
    return Outcome.APPLIED, "", booking


# A crossing stands over these (O3): the booking still holds its place; a no-show the sweep or an
# operator decided, or a close as not crossed, gives way to the truck that is across.
CROSSING_STANDS_OVER = (
    Status.CONFIRMED,
    Status.ARRIVED,
    Status.CALLED,
    Status.NO_SHOW,
    Status.NOT_CROSSED,
)


def _crossed(row: OfflineEvent, booking: Booking, actor: Any, mark: dict):
    at = row.occurred_at
    if booking.status == Status.CROSSED:
        return Outcome.ALREADY, "", booking
    if booking.status not in CROSSING_STANDS_OVER:
        # Cancelled (its place given back, its money settled) or refused by a person at the
        # portal: the truck is across, but a person decides what becomes of the booking.
        return _park(
            row,
            booking,
            _("The truck crossed, but the booking was cancelled or refused at the portal."),
        )
    before = booking.status
    version = _portal_version(booking)
    booking.status = Status.CROSSED
    booking.crossed_at = booking.status_changed_at = at
    booking.crossed_by = actor_label(actor)
    booking.save(update_fields=["status", "crossed_at", "crossed_by", "status_changed_at"])
    deposit = ""
    if booking.deposit_hold is not None:
        deposit = ledger.hold_release(
            hold=booking.deposit_hold,
            reason=_("The vehicle crossed the border"),
            actor=actor if getattr(actor, "is_authenticated", False) else None,
        ).outcome
    audit.record(
        "booking.crossed",
        actor=actor,
        target=booking,
        before={"status": before},
        after={"status": booking.status, "by": booking.crossed_by, "deposit": deposit, **mark},
    )
    booking_event_notify(booking=booking, event="booking_crossed")
    if deposit == HoldResolution.Outcome.FORFEITED:
        # It stands, but the deposit went to the budget before the crossing arrived: an operator
        # settles it (D5: nothing here takes money back from the budget).
        row.portal_version, row.portal_status = version, before
        return (
            Outcome.PARKED,
            _(
                "The crossing is recorded, but the deposit had already been forfeited: an "
                "operator settles it."
            ),
            booking,
        )
    if deposit == HoldResolution.Outcome.RELEASED:
        booking_event_notify(booking=booking, event="deposit_released")
    if before not in (Status.CALLED, Status.ARRIVED, Status.CONFIRMED):
        row.portal_version = version
    return Outcome.APPLIED, "", booking


def _refused(row: OfflineEvent, booking: Booking, actor: Any, mark: dict):
    at = row.occurred_at
    if booking.status == Status.REFUSED:
        return Outcome.ALREADY, "", booking
    if booking.status not in (Status.ARRIVED, Status.CALLED):
        return _park(row, booking, _("The booking is not at the checkpoint at the portal."))
    reason = row.reason if row.reason in RefusalReason.values else RefusalReason.OTHER
    note = row.note or ("" if reason != RefusalReason.OTHER else _("Refused offline"))
    before = booking.status
    booking.status = Status.REFUSED
    booking.refused_at = booking.status_changed_at = at
    booking.refused_by = actor_label(actor)
    booking.refusal_reason, booking.refusal_note = reason, note
    booking.save(
        update_fields=[
            "status",
            "status_changed_at",
            "refused_at",
            "refused_by",
            "refusal_reason",
            "refusal_note",
        ]
    )
    outcome = deposit_settle_after_strike(booking, moment=at, actor=actor)
    audit.record(
        "booking.refused",
        actor=actor,
        target=booking,
        before={"status": before},
        after={
            "status": booking.status,
            "reason": reason,
            "note": note,
            "deposit": outcome,
            **mark,
        },
    )
    return Outcome.APPLIED, "", booking


# --- Parked events ------------------------------------------------------------------------------


def parked_events(checkpoint: Checkpoint | None = None):
    """Parked events waiting for a person (O3), oldest first, with their booking and device."""
    rows = OfflineEvent.objects.filter(outcome=Outcome.PARKED).select_related(
        "booking", "device", "checkpoint"
    )
    if checkpoint is not None:
        rows = rows.filter(checkpoint=checkpoint)
    return rows.order_by("occurred_at", "pk")


def parked_event_settle(*, event: OfflineEvent, note: str, actor: Any) -> OfflineEvent:
    """A person has dealt with a parked event (cancelled the booking, told the carrier, …) and
    says how: it leaves the list of parked events. Audited."""
    note = (note or "").strip()[:300]
    if not note:
        raise ApplicationError(
            "validation_error",
            _("Write how the event was settled."),
            fields={"note": [_("Write how the event was settled.")]},
        )
    with transaction.atomic():
        settled = OfflineEvent.objects.filter(pk=event.pk, outcome=Outcome.PARKED).update(
            outcome=Outcome.SETTLED, settled_at=clock.now(), settled_by=actor, settlement=note
        )
        if not settled:
            raise ApplicationError(
                "not_changeable", _("This event is not parked any more."), status=409
            )
        audit.record(
            "offline_event.settled",
            actor=actor,
            target=event,
            after={"booking": event.booking_number, "kind": event.kind, "settlement": note},
        )
    event.refresh_from_db()
    return event


def held_back_notices(moment: dt.datetime) -> list:
    """The operators' notice (admin front page, `operator_notices`) of checkpoints whose devices
    have not reported since check-in windows ended there, with how many bookings the no-show
    sweep holds back for them (O4)."""
    from django.db.models import Count
    from django.utils.translation import ngettext

    from bookings.services import no_shows_held_back
    from core.notices import Notice

    rows = list(
        no_shows_held_back(moment)
        .values_list("checkpoint__code")
        .annotate(count=Count("pk"))
        .order_by("checkpoint__code")
    )
    if not rows:
        return []
    total = sum(count for _code, count in rows)
    codes = ", ".join(f"{code} ({count})" for code, count in rows)
    message = ngettext(
        "%(count)s booking is held back from the no-show sweep: its checkpoint's devices have "
        "not reported since its check-in window ended (%(checkpoints)s). Settle it by hand if "
        "the devices are not coming back.",
        "%(count)s bookings are held back from the no-show sweep: their checkpoints' devices "
        "have not reported since their check-in windows ended (%(checkpoints)s). Settle them by "
        "hand if the devices are not coming back.",
        total,
    ) % {"count": total, "checkpoints": codes}
    return [
        Notice(
            code="no_shows_held_back",
            message=message,
            permission="checkpoints.change_devicereport",
        )
    ]
