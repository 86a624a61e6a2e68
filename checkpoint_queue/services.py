"""Writes of the queue at a checkpoint: arrival in the waiting area (Q1), the call forward in
the order of Q2 (Q3), the crossing (D2), a refusal and the undoing of a staff step (Q8), the
document check (Q9), the drivers told (Q7) and the sweep of vehicles that never crossed (Q8).

Staff, the admin and the plate cameras all come here; the booking's own life (made, changed,
cancelled, a no-show) stays with bookings.services below."""

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from bookings import locks
from bookings.models import (
    CHECK_IN_CLOSES,
    NOT_CROSSED_AFTER,
    Booking,
    BookingService,
    RefusalReason,
)
from bookings.services import deposit_settle_after_strike
from checkpoints.models import Checkpoint
from checkpoints.selectors import checkpoints_of_staff
from core import audit, clock
from core.errors import ApplicationError
from core.models import AuditEvent
from deposits import services as ledger
from deposits.models import HoldResolution
from notify.services import booking_drivers_notify, booking_event_notify


def _refuse(code: str, message: str, *, status: int = 409, **fields: Any) -> ApplicationError:
    return ApplicationError(code, message, status=status, fields=fields)


def _not_changeable(message: str) -> ApplicationError:
    return _refuse("not_changeable", message)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


def _notify(booking: Booking, event: str) -> None:
    """Tell the carrier (B12) through the outbox, in this transaction."""
    booking_event_notify(booking=booking, event=event)


def actor_label(actor: Any) -> str:
    """Who did it, as the booking keeps it (Q3): a person, or a plate camera's key."""
    if getattr(actor, "is_authenticated", False):
        return f"{actor.full_name} <{actor.email}>"[:200]
    return str(actor)[:200]


def _require_checkpoint_access(actor: Any, checkpoint: Checkpoint) -> None:
    """Staff act only at their own checkpoints (A5); a device key only at its checkpoint."""
    device_checkpoint = getattr(actor, "checkpoint_id", None)
    if device_checkpoint is not None:
        allowed = device_checkpoint == checkpoint.pk
    else:
        allowed = checkpoints_of_staff(actor).filter(pk=checkpoint.pk).exists()
    if not allowed:
        raise ApplicationError("forbidden", _("You do not work at this checkpoint."), status=403)


def _lock_at_checkpoint(booking: Booking) -> Booking:
    return locks.booking_with_checkpoint(booking.pk)


def booking_mark_arrived(*, booking: Booking, actor: Any, at: dt.datetime | None = None) -> Booking:
    """The vehicle is in the waiting area (Q1): accepted from 3 hours before the slot until
    1 hour after it ends. Marking it again changes nothing."""
    _require_checkpoint_access(actor, booking.checkpoint)
    at = at or clock.now()
    with transaction.atomic():
        booking = _lock_at_checkpoint(booking)
        if booking.status in (Booking.Status.ARRIVED, Booking.Status.CALLED):
            return booking
        if booking.status != Booking.Status.CONFIRMED:
            raise _not_changeable(
                _("Booking %(number)s is %(status)s: it cannot check in.")
                % {"number": booking.number, "status": booking.get_status_display().lower()}
            )
        opens, closes = booking.check_in_window
        if not opens <= at < closes:
            local = clock.ALMATY
            raise _refuse(
                "outside_check_in_window",
                _(
                    "Check-in for booking %(number)s is open from %(opens)s to %(closes)s "
                    "(Almaty time)."
                )
                % {
                    "number": booking.number,
                    "opens": opens.astimezone(local).strftime("%d.%m %H:%M"),
                    "closes": closes.astimezone(local).strftime("%d.%m %H:%M"),
                },
                opens=[opens.isoformat()],
                closes=[closes.isoformat()],
            )
        booking.status = Booking.Status.ARRIVED
        booking.arrived_at = at
        booking.arrived_by = actor_label(actor)
        booking.status_changed_at = at
        booking.save(update_fields=["status", "arrived_at", "arrived_by", "status_changed_at"])
        audit.record(
            "booking.arrived",
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            target=booking,
            before={"status": Booking.Status.CONFIRMED},
            after={"status": booking.status, "by": booking.arrived_by},
        )
        _drivers_near_their_turn_notify(booking.checkpoint, booking.direction)
    return booking


def queue_call_next(
    *, checkpoint: Checkpoint, direction: str, actor: Any, count: int = 1
) -> list[Booking]:
    """Call the next vehicle(s) of the waiting area forward, strictly in Q2 order among those
    whose time has come (Q1); nobody chooses who (Q3). Two staff calling at once call different
    vehicles (the rows are locked, skipping the ones the other call took)."""
    _require_checkpoint_access(actor, checkpoint)
    if not 1 <= count <= 20:
        raise _invalid("count", _("Call from 1 to 20 vehicles at a time."))
    now = clock.now()
    with transaction.atomic():
        waiting = Booking.objects.filter(
            checkpoint=checkpoint,
            direction=direction,
            status=Booking.Status.ARRIVED,
            slot_start__lte=now,
        ).in_call_order()
        called = locks.next_in_queue(waiting, count)
        if not called:
            raise _refuse(
                "queue_empty",
                _("No vehicle in the waiting area is due yet."),
                status=409,
            )
        for booking in called:
            booking.status = Booking.Status.CALLED
            booking.called_at = now
            booking.called_by = actor_label(actor)
            booking.status_changed_at = now
            booking.save(update_fields=["status", "called_at", "called_by", "status_changed_at"])
            audit.record(
                "booking.called",
                actor=actor,
                target=booking,
                before={"status": Booking.Status.ARRIVED},
                after={"status": booking.status, "by": booking.called_by},
            )
            _notify(booking, "booking_called")
            booking_drivers_notify(booking=booking, event="driver_called")
        _drivers_near_their_turn_notify(checkpoint, direction)
    return called


# A driver is told when the vehicle is this near the front of the waiting queue (Q7).
DRIVER_NEAR_POSITION = 5


def _drivers_near_their_turn_notify(checkpoint: Checkpoint, direction: str) -> None:
    """Q7: the drivers of the vehicle now DRIVER_NEAR_POSITION-th in the waiting queue (Q2
    order, due or not) are told, once per booking; one that arrives nearer the front is told
    its place then. Called after every arrival and call."""
    front = list(
        Booking.objects.filter(
            checkpoint=checkpoint, direction=direction, status=Booking.Status.ARRIVED
        )
        .select_related("checkpoint", "vehicle", "created_by")
        .in_call_order()[:DRIVER_NEAR_POSITION]
    )
    for position, booking in enumerate(front, start=1):
        booking_drivers_notify(booking=booking, event="driver_near", position=position)


def booking_refuse(*, booking: Booking, reason: str, note: str = "", actor: Any) -> Booking:
    """Staff turn back a vehicle in the waiting area or called forward, with a reason (Q8): the
    booking ends as refused and its deposit follows D3 as for a no-show (a strike). Audited,
    the carrier told of the deposit."""
    _require_checkpoint_access(actor, booking.checkpoint)
    note = (note or "").strip()[:200]
    if reason not in RefusalReason.values:
        raise ApplicationError(
            "validation_error",
            _("Choose why the vehicle is refused."),
            fields={"reason": [_("Choose a reason.")]},
        )
    if reason == RefusalReason.OTHER and not note:
        raise ApplicationError(
            "validation_error",
            _("Write why the vehicle is refused."),
            fields={"note": [_("Write the reason.")]},
        )
    now = clock.now()
    with transaction.atomic():
        booking = _lock_at_checkpoint(booking)
        if booking.status not in (Booking.Status.ARRIVED, Booking.Status.CALLED):
            raise _not_changeable(
                _("Booking %(number)s is %(status)s: only a vehicle at the checkpoint is refused.")
                % {"number": booking.number, "status": booking.get_status_display().lower()}
            )
        before = booking.status
        booking.status = Booking.Status.REFUSED
        booking.refused_at = booking.status_changed_at = now
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
        outcome = deposit_settle_after_strike(booking, moment=now, actor=actor)
        audit.record(
            "booking.refused",
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            target=booking,
            before={"status": before},
            after={"status": booking.status, "reason": reason, "note": note, "deposit": outcome},
        )
    return booking


# Staff may undo their own last step on a booking this long after it (Q8).
UNDO_WITHIN = dt.timedelta(minutes=10)
# The steps staff take on a booking, each with the state it undoes to.
STAFF_STEPS = (
    "booking.arrived",
    "booking.called",
    "booking.crossed",
    "booking.refused",
    "booking.document_checked",
)


# What the carrier does to a booking without moving it at the checkpoint: no step of staff's, so
# it does not stand in the way of their undo.
CARRIER_NOTES = (
    "booking.drivers_added",
    "booking.driver_link_renewed",
    "booking.driver_link_sent",
)


def booking_undo_last_step(*, booking: Booking, actor: Any) -> str:
    """Staff undo their own last step on a booking within UNDO_WITHIN (Q8): an arrival, a call,
    a crossing, a refusal or a document check, provided nothing happened to the booking since.
    A deposit released by the step is held again (refused when the carrier has spent it); a
    deposit forfeited by a refusal is not taken back (an operator cancels the booking instead).
    Audited; returns the step undone."""
    _require_checkpoint_access(actor, booking.checkpoint)
    now = clock.now()
    with transaction.atomic():
        booking = _lock_at_checkpoint(booking)
        last = (
            AuditEvent.objects.filter(
                object_type=booking._meta.label_lower, object_id=str(booking.pk)
            )
            .exclude(action__in=CARRIER_NOTES)
            .order_by("-id")
            .first()
        )
        if (
            last is None
            or last.action not in STAFF_STEPS
            or last.actor_id != getattr(actor, "pk", None)
            or now - last.occurred_at > UNDO_WITHIN
        ):
            raise _not_changeable(
                _(
                    "Only your own last step on booking %(number)s can be undone, within "
                    "%(minutes)s minutes."
                )
                % {"number": booking.number, "minutes": int(UNDO_WITHIN.total_seconds() // 60)}
            )
        before_status = booking.status
        fields = ["status_changed_at"]
        if last.action == "booking.arrived":
            booking.status, booking.arrived_at, booking.arrived_by = (
                Booking.Status.CONFIRMED,
                None,
                "",
            )
            fields += ["status", "arrived_at", "arrived_by"]
        elif last.action == "booking.called":
            booking.status = Booking.Status.ARRIVED
            booking.called_at, booking.called_by = None, ""
            fields += ["status", "called_at", "called_by"]
        elif last.action == "booking.crossed":
            _deposit_hold_again(booking, step=last.pk, actor=actor)
            booking.status = Booking.Status.CALLED
            booking.crossed_at, booking.crossed_by = None, ""
            fields += ["status", "crossed_at", "crossed_by", "deposit_hold"]
        elif last.action == "booking.refused":
            _deposit_hold_again(booking, step=last.pk, actor=actor)
            booking.status = last.before["status"]
            booking.refused_at, booking.refused_by = None, ""
            booking.refusal_reason = booking.refusal_note = ""
            fields += [
                "status",
                "refused_at",
                "refused_by",
                "refusal_reason",
                "refusal_note",
                "deposit_hold",
            ]
        else:
            booking.document_checked_at, booking.document_checked_by = None, ""
            fields = ["document_checked_at", "document_checked_by"]
        if "status" in fields:
            booking.status_changed_at = now
        booking.save(update_fields=fields)
        audit.record(
            "booking.step_undone",
            actor=actor,
            target=booking,
            before={"status": before_status, "step": last.action, "event": last.pk},
            after={"status": booking.status},
        )
    return last.action


def _deposit_hold_again(booking: Booking, *, step: int, actor: Any) -> None:
    """The deposit that the undone step released, held again from the available balance; a
    forfeited one is not taken back from the budget."""
    hold = booking.deposit_hold
    if hold is None:
        return
    resolution = getattr(hold, "resolution", None)
    if resolution is None:
        return
    if resolution.outcome == HoldResolution.Outcome.FORFEITED:
        raise _not_changeable(
            _(
                "The deposit of booking %(number)s was forfeited: the refusal cannot be undone. "
                "An operator can cancel the booking instead."
            )
            % {"number": booking.number}
        )
    try:
        booking.deposit_hold = ledger.deposit_hold(
            carrier=booking.carrier,
            amount=hold.amount,
            reference=("booking", str(booking.pk)),
            idempotency_key=f"deposit_hold:booking:{booking.pk}:undo:{step}",
            actor=actor,
        )
    except ledger.InsufficientFunds as exc:
        raise _not_changeable(
            _(
                "The deposit of booking %(number)s was released and the carrier has spent it: "
                "the step cannot be undone."
            )
            % {"number": booking.number}
        ) from exc


def booking_document_check(*, booking: Booking, actor: Any) -> Booking:
    """Staff at the checkpoint have seen the out-of-turn document the booking names (Q9): when
    and who is recorded, once, and audited."""
    _require_checkpoint_access(actor, booking.checkpoint)
    with transaction.atomic():
        booking = _lock_at_checkpoint(booking)
        if booking.service != BookingService.OUT_OF_TURN:
            raise _not_changeable(
                _("Booking %(number)s is not for out-of-turn passage: it names no document.")
                % {"number": booking.number}
            )
        if booking.document_checked_at is not None:
            return booking
        booking.document_checked_at = clock.now()
        booking.document_checked_by = actor_label(actor)
        booking.save(update_fields=["document_checked_at", "document_checked_by"])
        audit.record(
            "booking.document_checked",
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            target=booking,
            after={"document": booking.document_number, "by": booking.document_checked_by},
        )
    return booking


def booking_mark_crossed(*, booking: Booking, actor: Any, at: dt.datetime | None = None) -> Booking:
    """The vehicle crossed the border (B10): its deposit is released at once (D2). Marking it
    again changes nothing."""
    _require_checkpoint_access(actor, booking.checkpoint)
    at = at or clock.now()
    with transaction.atomic():
        booking = _lock_at_checkpoint(booking)
        if booking.status == Booking.Status.CROSSED:
            return booking
        if booking.status != Booking.Status.CALLED:
            raise _not_changeable(
                _("Booking %(number)s has not been called forward yet.")
                % {"number": booking.number}
            )
        booking.status = Booking.Status.CROSSED
        booking.crossed_at = at
        booking.crossed_by = actor_label(actor)
        booking.status_changed_at = at
        booking.save(update_fields=["status", "crossed_at", "crossed_by", "status_changed_at"])
        if booking.deposit_hold is not None:
            ledger.hold_release(
                hold=booking.deposit_hold,
                reason=_("The vehicle crossed the border"),
                actor=actor if getattr(actor, "is_authenticated", False) else None,
            )
        audit.record(
            "booking.crossed",
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            target=booking,
            before={"status": Booking.Status.CALLED},
            after={"status": booking.status, "by": booking.crossed_by},
        )
        _notify(booking, "booking_crossed")
        _notify(booking, "deposit_released")
    return booking


def not_crossed_sweep(*, as_of: dt.datetime | None = None) -> int:
    """Vehicles arrived or called but neither crossed nor refused NOT_CROSSED_AFTER after their
    check-in window closed are closed as not crossed (Q8): the deposit is released, the vehicle
    gets no strike and may book again, and the operators see them (`not_crossed_notices`).
    Running it again, or two at once, changes nothing more."""
    as_of = as_of or clock.now()
    due = Booking.objects.filter(
        status__in=[Booking.Status.ARRIVED, Booking.Status.CALLED],
        slot_end__lte=as_of - CHECK_IN_CLOSES - NOT_CROSSED_AFTER,
    ).order_by("slot_end", "pk")
    closed = 0
    for booking_id in due.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            booking = locks.waiting_booking_unless_held(booking_id)
            if booking is None:
                continue
            before = booking.status
            booking.status = Booking.Status.NOT_CROSSED
            booking.status_changed_at = as_of
            booking.save(update_fields=["status", "status_changed_at"])
            released = booking.deposit_hold is not None
            if released:
                ledger.hold_release(
                    hold=booking.deposit_hold,
                    reason=_("Closed as not crossed: the vehicle left the waiting area"),
                    actor=None,
                )
            audit.record(
                "booking.not_crossed",
                target=booking,
                before={"status": before},
                after={"status": booking.status, "deposit_released": released},
            )
            if released:
                _notify(booking, "deposit_released")
            closed += 1
    return closed
