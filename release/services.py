"""Fair release (F1–F5, F8): the operator's policy, the windows, requests and the draw.

Every write owns its transaction and writes its audit event in it (A6). Locks, in the order of
docs/locking.md: a window's claim (a conditional UPDATE of its row) before anything else of the
draw; then the slot counters (a window keeping back or giving back its places, in id order);
the winners' counters and ledger accounts in id order inside `bookings_create_checked`, all
winners at once. A request locks its
carrier's row (`carriers.locks.carrier`) only while the carrier's requests are counted (F3).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils.translation import gettext as _

from bookings.services import (
    BookingOrder,
    BookingRequest,
    CheckedRequest,
    booking_charge,
    booking_create,
    booking_request_check,
    bookings_check,
    bookings_create_checked,
    require_booking_role,
    require_confirmed_carrier,
)
from carriers import locks as carrier_locks
from carriers.models import Member
from checkpoints import capacity
from checkpoints import locks as checkpoint_locks
from checkpoints.models import Checkpoint, Direction, SlotCounter
from checkpoints.public_reads import public_reads_changed
from core import audit, bulk, clock
from core.clock import ALMATY
from core.errors import ApplicationError
from deposits.selectors import available_balance, available_balances
from deposits.services import InsufficientFunds
from release import draw, selectors
from release.models import ReleaseMode, ReleasePolicy, ReleaseRequest, ReleaseWindow, Reservation
from release.notices import request_outcome_notify

REGULAR = draw.REGULAR
POLICY_FIELDS = (
    "mode",
    "days_before",
    "release_time",
    "window_minutes",
    "carrier_share_percent",
    "carrier_share_min",
)
# Refusals at the draw that mean the place itself is not there (a closure, a capacity cut).
PLACE_GONE = ("slot_full", "checkpoint_closed", "outside_booking_window")


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


# --- The operator's policy (F1, F3, F8) ------------------------------------------------------


def policy_update(*, checkpoint: Checkpoint, actor: Any, **changes: Any) -> ReleasePolicy:
    """Change how `checkpoint` releases its days (F8), audited. Windows already published keep
    the times they announced; switching to first-come cancels the windows not yet open and
    gives their places back to first-come booking at once."""
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"Not policy fields: {sorted(unknown)}")
    with transaction.atomic():
        policy = selectors.policy_of(checkpoint)
        before = {name: getattr(policy, name) for name in POLICY_FIELDS}
        for name, value in changes.items():
            setattr(policy, name, value)
        policy_check(policy)
        after = {name: getattr(policy, name) for name in POLICY_FIELDS}
        if after == before and policy.pk is not None:
            return policy
        policy.changed_at = clock.now()
        policy.changed_by = actor if getattr(actor, "is_authenticated", False) else None
        policy.save()
        cancelled = []
        if policy.mode == ReleaseMode.FIRST_COME:
            cancelled = _windows_cancel(checkpoint, actor=actor)
        audit.record(
            "release.policy_changed",
            actor=actor,
            target=checkpoint,
            before={key: str(value) for key, value in before.items()},
            after={
                **{key: str(value) for key, value in after.items()},
                "windows_cancelled": cancelled,
            },
        )
    return policy


def policy_check(policy: ReleasePolicy) -> None:
    """The whole day must be bookable by the draw at the window's close: its first hour at least
    1 hour after it and its last hour within the booking window (C4)."""
    if policy.mode not in ReleaseMode.values:
        raise _invalid("mode", _("Choose draw or first-come release."))
    if not 5 <= policy.window_minutes <= 24 * 60:
        raise _invalid("window_minutes", _("A request window lasts from 5 minutes to 24 hours."))
    if not 1 <= policy.carrier_share_percent <= 100:
        raise _invalid("carrier_share_percent", _("The share is a percentage from 1 to 100."))
    if policy.carrier_share_min < 1:
        raise _invalid("carrier_share_min", _("A carrier may place at least 1 request."))
    day = dt.date(2026, 1, 1)  # any day: Almaty keeps one offset all year
    _opens, closes = selectors.release_moment(policy, day)
    first = capacity.hour_start(day, 0)
    last = capacity.hour_start(day, 23)
    horizon = dt.timedelta(days=settings.BOOKING_WINDOW_DAYS)
    if first - closes < dt.timedelta(hours=1) or last - closes > horizon:
        raise _invalid(
            "days_before",
            _(
                "With these times the draw could not book the whole day: the window must close "
                "at least 1 hour before the day starts and no more than %(days)s days before its "
                "last hour (the booking window)."
            )
            % {"days": settings.BOOKING_WINDOW_DAYS},
        )


def _windows_cancel(checkpoint: Checkpoint, *, actor: Any) -> list[int]:
    """The checkpoint's windows that have not opened yet are cancelled: their places go back to
    first-come booking (F8). Open windows run to their draw: requests were placed in them."""
    now = clock.now()
    ids = list(
        ReleaseWindow.objects.filter(
            checkpoint=checkpoint, status=ReleaseWindow.Status.SCHEDULED, opens_at__gt=now
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for window in ReleaseWindow.objects.filter(pk__in=ids).order_by("pk"):
        claimed = ReleaseWindow.objects.filter(
            pk=window.pk, status=ReleaseWindow.Status.SCHEDULED
        ).update(status=ReleaseWindow.Status.CANCELLED)
        if claimed:
            _places_return(window)
    return ids


# --- Windows (F1, F4: the commitment before the window) ---------------------------------------


def windows_schedule(*, as_of: dt.datetime | None = None) -> list[ReleaseWindow]:
    """Make the windows of draw checkpoints ahead (daily job): every day whose first hour will
    enter the booking window (C4) by tomorrow gets its window now, with its commitment published
    and its free places kept back from first-come booking until the draw (F1). Days whose
    release moment has passed get none (a window is published before it opens). Running it
    again makes nothing twice."""
    as_of = as_of or clock.now()
    today = clock.local_date(as_of)
    last_day = today + dt.timedelta(days=settings.BOOKING_WINDOW_DAYS + 2)
    made = []
    policies = ReleasePolicy.objects.filter(
        mode=ReleaseMode.DRAW, checkpoint__is_active=True
    ).select_related("checkpoint")
    for policy in policies:
        for direction in Direction.values:
            day = today
            while day <= last_day:
                window = _window_make(policy, direction, day, as_of=as_of)
                if window is not None:
                    made.append(window)
                day += dt.timedelta(days=1)
    return made


def _window_make(
    policy: ReleasePolicy, direction: str, day: dt.date, *, as_of: dt.datetime
) -> ReleaseWindow | None:
    opens, closes = selectors.release_moment(policy, day)
    if opens <= as_of:
        return None
    checkpoint = policy.checkpoint
    if ReleaseWindow.objects.filter(checkpoint=checkpoint, direction=direction, day=day).exists():
        return None
    plan = capacity.plan_of_day(checkpoint=checkpoint, direction=direction, date=day)
    places = selectors.day_places(plan)
    if places == 0:
        return None  # closed all day: nothing to release
    secret = secrets.token_hex(32)
    with transaction.atomic():
        try:
            with transaction.atomic():
                window = ReleaseWindow.objects.create(
                    checkpoint=checkpoint,
                    direction=direction,
                    day=day,
                    opens_at=opens,
                    closes_at=closes,
                    carrier_limit=selectors.carrier_limit(policy, places),
                    commitment=draw.commitment_of(secret),
                    secret=secret,
                    created_at=clock.now(),
                )
        except IntegrityError:
            return None  # made by a run in parallel
        kept = _places_keep(window, plan)
        audit.record(
            "release.window_published",
            target=window,
            after={
                "checkpoint": checkpoint.code,
                "direction": direction,
                "day": day,
                "opens_at": opens,
                "closes_at": closes,
                "commitment": window.commitment,
                "carrier_limit": window.carrier_limit,
                "places_kept": kept,
            },
        )
    return window


def _pools(plan: capacity.DayPlan) -> list[tuple[str, int, int]]:
    """(kind, counter hour, planned places) of every counter of the day."""
    rows = [
        (REGULAR, hour, plan.planned(REGULAR, hour))
        for hour in plan.hours
        if hour not in plan.closed
    ]
    rows += [(kind, SlotCounter.DAY, plan.planned(kind)) for kind in capacity.PRIORITY]
    return rows


def _places_keep(window: ReleaseWindow, plan: capacity.DayPlan) -> int:
    """Take every free place of the day's counters for the window (F1): first-come booking and
    slot holds then find the day full until the draw gives the places back. The counters are
    made if missing and locked in id order (docs/locking.md) while their free places are read."""
    key = {"checkpoint_id": window.checkpoint_id, "direction": window.direction, "date": window.day}
    # Closed hours get their (empty) counters too: a closure lifted later opens their places
    # through `capacity_refresh`, which offers them to the window's waitlist (F7).
    closed = [(REGULAR, hour, 0) for hour in plan.hours if hour in plan.closed]
    SlotCounter.objects.bulk_create(
        [
            SlotCounter(**key, hour=hour, kind=kind, planned=planned, capacity=planned, taken=0)
            for kind, hour, planned in _pools(plan) + closed
        ],
        ignore_conflicts=True,
    )
    counters = SlotCounter.objects.filter(**key)
    checkpoint_locks.slot_counters(counters.values_list("pk", flat=True))
    free = {
        pk: cap - taken
        for pk, cap, taken in counters.values_list("pk", "capacity", "taken")
        if cap > taken
    }
    if not free:
        return 0
    SlotCounter.objects.filter(pk__in=list(free)).update(taken=F("capacity"))
    Reservation.objects.bulk_create(
        Reservation(window=window, counter_id=pk, places=places) for pk, places in free.items()
    )
    return sum(free.values())


def _places_return(window: ReleaseWindow, *, counter_ids: Sequence[int] | None = None) -> int:
    """Give back the places the window kept (at its draw, or when it is cancelled; of
    `counter_ids` only, when the waitlist is offered them)."""
    reserved = window.reserved.all()
    if counter_ids is not None:
        reserved = reserved.filter(counter_id__in=list(counter_ids))
    kept = list(reserved.order_by("counter_id").values_list("pk", "counter_id", "places"))
    for _pk, counter_id, places in kept:
        SlotCounter.objects.filter(pk=counter_id).update(
            taken=Greatest(F("taken") - places, 0),
            capacity=Greatest(F("planned"), F("taken") - places),
        )
    Reservation.objects.filter(pk__in=[row[0] for row in kept]).delete()
    return sum(row[2] for row in kept)


# --- Requests (F2, F3) --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RequestInput:
    """What a carrier asks for (F2): a day and direction at a checkpoint, the service, the
    acceptable hours in order of preference, the vehicle, trailer and drivers (B1, B2)."""

    checkpoint_code: str
    direction: str
    day: dt.date
    service: str
    hours: Sequence[int]
    vehicle_id: int
    trailer_id: int | None
    driver_ids: Sequence[int]
    cargo_category: str = ""
    document_number: str = ""


def hours_of_range(first: int, last: int) -> list[int]:
    """'Any hour from … to …' (F2) as hours in order, both ends included."""
    if not (0 <= first <= 23 and 0 <= last <= 23) or last < first:
        raise _invalid(
            "hours", _("Give a range of hours from 0 to 23, the first not after the last.")
        )
    return list(range(first, last + 1))


def _open_window(checkpoint_code: str, direction: str, day: dt.date) -> ReleaseWindow:
    window = (
        ReleaseWindow.objects.select_related("checkpoint")
        .filter(checkpoint__code=checkpoint_code, direction=direction, day=day)
        .first()
    )
    now = clock.now()
    if window is None:
        raise ApplicationError(
            "no_release_window",
            _("There is no draw for this checkpoint, direction and day: book it as usual."),
            status=409,
        )
    if not window.is_open(now):
        raise _window_closed(window)
    return window


def _window_closed(window: ReleaseWindow) -> ApplicationError:
    return ApplicationError(
        "window_closed",
        _("Requests for this day are taken from %(opens)s to %(closes)s only.")
        % {
            "opens": window.opens_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M"),
            "closes": window.closes_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M"),
        },
        status=409,
        fields={
            "opens_at": window.opens_at.astimezone(ALMATY).isoformat(),
            "closes_at": window.closes_at.astimezone(ALMATY).isoformat(),
        },
    )


@dataclasses.dataclass(frozen=True)
class _Valid:
    window: ReleaseWindow
    hours: list[int]
    checked: CheckedRequest


def _validated(member: Member, data: RequestInput, window: ReleaseWindow) -> _Valid:
    """The booking's own checks (B1, B2, B7 through its code), the hours against the day's
    plan, and the money a booking would need (B8)."""
    hours = list(dict.fromkeys(int(hour) for hour in data.hours))
    if not hours:
        raise _invalid("hours", _("Name at least one acceptable hour."))
    plan = capacity.plan_of_day(
        checkpoint=window.checkpoint, direction=window.direction, date=window.day
    )
    shut = [hour for hour in hours if not plan.is_open(hour)]
    if shut:
        raise _invalid(
            "hours",
            _("The checkpoint takes no vehicles at %(hours)s on that day.")
            % {"hours": ", ".join(f"{hour:02d}:00" for hour in shut)},
        )
    checked = booking_request_check(
        member,
        BookingRequest(
            checkpoint_code=data.checkpoint_code,
            direction=data.direction,
            service=data.service,
            slot_start=capacity.hour_start(window.day, hours[0]),
            vehicle_id=data.vehicle_id,
            trailer_id=data.trailer_id,
            driver_ids=data.driver_ids,
            cargo_category=data.cargo_category,
            document_number=data.document_number,
        ),
        checkpoint=window.checkpoint,
    )
    _fee, _deposit, required = booking_charge(data.service, on=clock.local_today())
    available = available_balance(member.carrier)
    if available < required:
        raise InsufficientFunds(required=required, available=available)
    vins = [checked.vehicle.vin] + ([checked.trailer.vin] if checked.trailer else [])
    if selectors.vins_booked(country_id=window.checkpoint.country_id, vins=vins):
        raise _already_booked("vehicle")
    return _Valid(window=window, hours=hours, checked=checked)


def _already_booked(which: str) -> ApplicationError:
    return ApplicationError(
        "active_booking_exists",
        _(
            "This vehicle or trailer already has an active booking or request in this country. "
            "Cancel or withdraw it first, or request in another country."
        ),
        status=409,
        fields={which: [_("Already booked or requested in this country.")]},
    )


def request_create(*, member: Member, data: RequestInput) -> ReleaseRequest:
    """Place a request in an open window (F2): checked like a booking, holding nothing. Refusals:
    no_release_window, window_closed, request_limit (F3), active_booking_exists (B6, requests
    counted as bookings), insufficient_funds (B8), and the booking's own (B1, B2)."""
    require_booking_role(member)
    require_confirmed_carrier(member)
    window = _open_window(data.checkpoint_code, data.direction, data.day)
    valid = _validated(member, data, window)
    now = clock.now()
    with transaction.atomic():
        # F3: the carrier's requests are counted one request at a time.
        carrier_locks.carrier(member.carrier_id)
        if (
            selectors.live_requests_count(carrier=member.carrier, window=window)
            >= window.carrier_limit
        ):
            raise ApplicationError(
                "request_limit",
                _(
                    "A carrier may place at most %(limit)s requests for this day and direction "
                    "(its share of the day's places). Withdraw one to place another."
                )
                % {"limit": window.carrier_limit},
                status=409,
            )
        request = ReleaseRequest(
            window=window,
            carrier=member.carrier,
            created_by=member.user,
            country_id=window.checkpoint.country_id,
            salt=secrets.token_hex(16),
            created_at=now,
            changed_at=now,
        )
        _fill(request, data, valid)
        try:
            # No savepoint: a refused insert ends the whole transaction anyway.
            request.save(force_insert=True)
        except IntegrityError as exc:
            raise _already_booked("trailer" if "trailer" in str(exc) else "vehicle") from exc
        audit.record(
            "release.request_placed", actor=member.user, target=request, after=_facts(request)
        )
    return request


def _fill(request: ReleaseRequest, data: RequestInput, valid: _Valid) -> None:
    checked = valid.checked
    request.service = data.service
    request.hours = valid.hours
    request.vehicle = checked.vehicle
    request.vehicle_vin = checked.vehicle.vin
    request.trailer = checked.trailer
    request.trailer_vin = checked.trailer.vin if checked.trailer else None
    request.driver_ids = [driver.pk for driver in checked.drivers]
    out_of_turn = data.service == "out_of_turn"
    request.cargo_category = data.cargo_category if out_of_turn else ""
    request.document_number = data.document_number.strip() if out_of_turn else ""


def _facts(request: ReleaseRequest) -> dict[str, Any]:
    return {
        "window": request.window_id,
        "service": request.service,
        "hours": request.hours,
        "vehicle_vin": request.vehicle_vin,
        "trailer_vin": request.trailer_vin,
        "drivers": request.driver_ids,
    }


def _own_live(member: Member, request: ReleaseRequest) -> ReleaseRequest:
    if request.carrier_id != member.carrier_id:
        raise ApplicationError("not_found", _("Not found."), status=404)
    if request.status != ReleaseRequest.Status.LIVE:
        raise ApplicationError(
            "not_changeable", _("This request is no longer waiting for its draw."), status=409
        )
    window = ReleaseWindow.objects.select_related("checkpoint").get(pk=request.window_id)
    if not window.is_open(clock.now()):
        raise _window_closed(window)
    request.window = window
    return request


def request_change(
    *, member: Member, request: ReleaseRequest, data: RequestInput
) -> ReleaseRequest:
    """Change a request freely inside its window (F2): the same checks as a new one; its id,
    and so its rank at the draw, stay."""
    require_booking_role(member)
    request = _own_live(member, request)
    window = request.window
    if (data.checkpoint_code, data.direction, data.day) != (
        window.checkpoint.code,
        window.direction,
        window.day,
    ):
        raise _invalid("day", _("A request stays in its window: withdraw it and place a new one."))
    valid = _validated(member, data, window)
    with transaction.atomic():
        before = _facts(request)
        changed = ReleaseRequest.objects.filter(
            pk=request.pk, status=ReleaseRequest.Status.LIVE, window__closes_at__gt=clock.now()
        )
        _fill(request, data, valid)
        request.changed_at = clock.now()
        try:
            with transaction.atomic():
                updated = changed.update(
                    service=request.service,
                    hours=request.hours,
                    vehicle=request.vehicle,
                    vehicle_vin=request.vehicle_vin,
                    trailer=request.trailer,
                    trailer_vin=request.trailer_vin,
                    driver_ids=request.driver_ids,
                    cargo_category=request.cargo_category,
                    document_number=request.document_number,
                    changed_at=request.changed_at,
                )
        except IntegrityError as exc:
            raise _already_booked("trailer" if "trailer" in str(exc) else "vehicle") from exc
        if not updated:
            raise _window_closed(window)
        audit.record(
            "release.request_changed",
            actor=member.user,
            target=request,
            before=before,
            after=_facts(request),
        )
    return request


def request_withdraw(*, member: Member, request: ReleaseRequest) -> ReleaseRequest:
    """Withdraw a request inside its window (F2); the vehicle is free to be requested or booked
    in the country again. After the draw, an unsuccessful request is taken off the waitlist
    (F7): no place freed later on its day will be booked for it."""
    require_booking_role(member)
    if (
        request.carrier_id == member.carrier_id
        and request.status == ReleaseRequest.Status.UNSUCCESSFUL
    ):
        return _waitlist_leave(member, request)
    request = _own_live(member, request)
    with transaction.atomic():
        now = clock.now()
        withdrawn = ReleaseRequest.objects.filter(
            pk=request.pk, status=ReleaseRequest.Status.LIVE, window__closes_at__gt=now
        ).update(status=ReleaseRequest.Status.WITHDRAWN, changed_at=now)
        if not withdrawn:
            raise _window_closed(request.window)
        request.status = ReleaseRequest.Status.WITHDRAWN
        request.changed_at = now
        audit.record("release.request_withdrawn", actor=member.user, target=request)
    return request


# --- The draw (F4, F5) ------------------------------------------------------------------------


def _window_claim(window_id: int, *, as_of: dt.datetime) -> bool:
    """F5: the draw runs once. The conditional UPDATE admits one transaction: a second worker
    (or a retry) waits on the row until the first commits and then matches nothing; if the first
    rolls back, the window is still scheduled and the next run draws it."""
    return bool(
        ReleaseWindow.objects.filter(
            pk=window_id, status=ReleaseWindow.Status.SCHEDULED, closes_at__lte=as_of
        ).update(status=ReleaseWindow.Status.DRAWN, drawn_at=clock.now())
    )


@dataclasses.dataclass
class DrawResult:
    window: ReleaseWindow
    won: int
    unsuccessful: int
    skipped: int


def draws_run(*, as_of: dt.datetime | None = None) -> list[DrawResult]:
    """Draw every window whose request window has closed (every minute); safe in parallel."""
    as_of = as_of or clock.now()
    due = ReleaseWindow.objects.filter(
        status=ReleaseWindow.Status.SCHEDULED, closes_at__lte=as_of
    ).order_by("closes_at", "pk")
    results = []
    for window_id in list(due.values_list("pk", flat=True)):
        result = window_draw(window_id=window_id, as_of=as_of)
        if result is not None:
            results.append(result)
    return results


def window_draw(*, window_id: int, as_of: dt.datetime | None = None) -> DrawResult | None:
    """The draw of one window (F4, F5), all in one transaction, once: the window's places given
    back, the live requests sealed into R, the secret revealed, the ranks, the allocation in
    memory, then all winners booked in one bulk step (`_winners_book`: fee and deposit, B8); a
    winner that can no longer be booked (money, B6, its person no longer dispatching) is
    skipped as in rank order one by one, and the allocation goes on down the ranks without it.
    Everyone is told through the outbox. None when the window is not due or was drawn already."""
    as_of = as_of or clock.now()
    with transaction.atomic():
        if not _window_claim(window_id, as_of=as_of):
            return None
        window = ReleaseWindow.objects.select_related("checkpoint").get(pk=window_id)
        _places_return(window)
        requests = list(
            window.requests.filter(status=ReleaseRequest.Status.LIVE)
            .select_related("vehicle")
            .order_by("pk")
        )
        leaves = [
            draw.request_leaf(r.pk, draw.carrier_hash(r.pk, r.salt), r.service, r.hours)
            for r in requests
        ]
        root = draw.root_of(leaves)
        seed = draw.seed_of(window.secret, root)
        by_id = {r.pk: r for r in requests}
        entries = [
            draw.Entry(r.pk, r.service, tuple(r.hours), draw.rank_of(seed, r.pk)) for r in requests
        ]
        places, open_hours = _free_places(window)
        skipped: dict[int, str] = {}
        precheck = _Precheck(window, requests)
        won = _winners_book(window, by_id, entries, places, open_hours, skipped, precheck)
        written = {pk for pk, hour in won.items() if hour is not None and pk not in skipped}
        ranks = {entry.id: entry.rank for entry in entries}
        for request in requests:
            request.rank = ranks[request.pk]
            request.changed_at = clock.now()
            if request.pk in skipped:
                request.status = ReleaseRequest.Status.SKIPPED
                request.skip_reason = skipped[request.pk]
            elif won.get(request.pk) is not None:
                request.status = ReleaseRequest.Status.WON
                request.hour_won = won[request.pk]
            else:
                request.status = ReleaseRequest.Status.UNSUCCESSFUL
        bulk.update(
            requests, ["rank", "status", "skip_reason", "hour_won", "booking", "changed_at"]
        )
        window.request_count = len(requests)
        window.merkle_root = root
        window.seed = seed
        window.places = places
        window.open_hours = open_hours
        window.save(update_fields=["request_count", "merkle_root", "seed", "places", "open_hours"])
        result = DrawResult(
            window=window,
            won=len(written),
            unsuccessful=sum(1 for r in requests if r.status == ReleaseRequest.Status.UNSUCCESSFUL),
            skipped=len(skipped),
        )
        audit.record(
            "release.drawn",
            target=window,
            after={
                "commitment": window.commitment,
                "secret": window.secret,
                "merkle_root": root,
                "seed": seed,
                "requests": len(requests),
                "won": result.won,
                "unsuccessful": result.unsuccessful,
                "skipped": result.skipped,
            },
        )
        request_outcome_notify(
            window=window,
            requests=[r for r in requests if r.status != ReleaseRequest.Status.WON],
        )
    return result


def _free_places(window: ReleaseWindow) -> tuple[dict[str, int], list[int]]:
    """The free places of each pool of the day now (after the window gave its own back), and
    the hours open that day: what the allocation runs against, published with the draw."""
    plan = capacity.plan_of_day(
        checkpoint=window.checkpoint, direction=window.direction, date=window.day
    )
    counters = {
        (kind, hour): max(0, cap - taken)
        for kind, hour, cap, taken in SlotCounter.objects.filter(
            checkpoint_id=window.checkpoint_id, direction=window.direction, date=window.day
        ).values_list("kind", "hour", "capacity", "taken")
    }
    places: dict[str, int] = {}
    for kind, hour, planned in _pools(plan):
        free = counters.get((kind, hour), planned)
        places[draw.pool_of(kind, hour) if kind == REGULAR else kind] = free
    open_hours = [hour for hour in plan.hours if plan.is_open(hour)]
    return places, open_hours


class _Precheck:
    """F5 in memory, before any write: who can still pay (the available balance, less what the
    carrier's better-ranked winners cost) and whose vehicle got a booking in the country (B6)."""

    def __init__(self, window: ReleaseWindow, requests: list[ReleaseRequest]) -> None:
        self.balances = available_balances(sorted({r.carrier_id for r in requests}))
        today = clock.local_today()
        self.required = {
            service: booking_charge(service, on=today)[2]
            for service in sorted({r.service for r in requests})
        }
        vins = [r.vehicle_vin for r in requests] + [
            r.trailer_vin for r in requests if r.trailer_vin
        ]
        self.booked = selectors.vins_booked(country_id=window.checkpoint.country_id, vins=vins)
        self.by_id = {r.pk: r for r in requests}
        # Refusals of the booking's own checks (`check`), by request: checked once each.
        self.checked: dict[int, str | None] = {}
        self.passed: dict[int, CheckedRequest] = {}

    def check(
        self,
        window: ReleaseWindow,
        requests: list[ReleaseRequest],
        won: dict[int, int | None],
        members: dict[tuple[int, int], Member],
    ) -> None:
        """The booking's checks of winning `requests` in bulk (`bookings_check`; the money is
        this class's own reckoning): a refusal is kept for the request's turn in the
        allocation; a request that passes keeps what was checked for its booking."""
        items, asked = [], []
        for request in requests:
            member = members.get((request.created_by_id, request.carrier_id))
            if member is None:
                self.checked[request.pk] = "forbidden"  # its person left the carrier
                continue
            items.append((member, _booking_request(window, request, won[request.pk])))
            asked.append(request)
        # The money is this class's own reckoning, in rank order (`refusal`).
        for request, checked in zip(asked, bookings_check(items, money=False), strict=True):
            if isinstance(checked, CheckedRequest):
                self.checked[request.pk] = None
                self.passed[request.pk] = checked
            else:
                self.checked[request.pk] = checked.code

    def start(self) -> dict[int, Decimal]:
        return dict(self.balances)

    def refusal(self, request_id: int, balances: dict[int, Decimal]) -> str | None:
        request = self.by_id[request_id]
        if self.checked.get(request_id):
            return self.checked[request_id]
        if request.vehicle_vin in self.booked or (request.trailer_vin or "") in self.booked:
            return "active_booking_exists"
        if balances[request.carrier_id] < self.required[request.service]:
            return "insufficient_funds"
        return None

    def charge(self, request_id: int, balances: dict[int, Decimal]) -> None:
        request = self.by_id[request_id]
        balances[request.carrier_id] -= self.required[request.service]


def _allocate_checked(
    entries: list[draw.Entry],
    places: dict[str, int],
    open_hours: list[int],
    skipped: dict[int, str],
    precheck: _Precheck,
) -> dict[int, int | None]:
    """Random serial dictatorship with F5's checks made as each request's turn comes: a request
    that would win a place but cannot be booked is added to `skipped` and takes nothing. The
    result equals `draw.allocate` with the final `skipped` (what `verify_draw` recomputes)."""
    left = dict(places)
    open_set = set(open_hours)
    balances = precheck.start()
    won: dict[int, int | None] = {}
    for entry in sorted(entries, key=lambda e: (e.rank, e.id)):
        won[entry.id] = None
        if entry.id in skipped:
            continue
        for hour in entry.hours:
            if entry.service != REGULAR and hour not in open_set:
                continue
            pool = draw.pool_of(entry.service, hour)
            if left.get(pool, 0) <= 0:
                continue
            refusal = precheck.refusal(entry.id, balances)
            if refusal is not None:
                skipped[entry.id] = refusal
                break
            left[pool] -= 1
            precheck.charge(entry.id, balances)
            won[entry.id] = hour
            break
    return won


class _Refused(Exception):
    """Leaves the savepoint of a bulk write that refused some winners, undoing all of it."""

    def __init__(self, refusals: dict[int, str]) -> None:
        super().__init__(refusals)
        self.refusals = refusals


def _winners_book(
    window: ReleaseWindow,
    by_id: dict[int, ReleaseRequest],
    entries: list[draw.Entry],
    places: dict[str, int],
    open_hours: list[int],
    skipped: dict[int, str],
    precheck: _Precheck,
) -> dict[int, int | None]:
    """The allocation (`_allocate_checked`), then ALL its winners booked in one bulk step
    (`bookings_create_checked`: places, fee and deposit, B8), as booking them one by one in
    rank order would book them:

    1. the winners are checked in bulk (`bookings_check`: their person still dispatching, the
       vehicle, trailer and drivers, B6); a request refused there is refused at its turn in
       the allocation, like F5's money (`_Precheck`), and the allocation is recomputed until
       every winner has been checked;
    2. the bookings are written in a savepoint; when some are refused after all (a place or
       the money gone meanwhile), nothing of it is kept: the best-ranked of them is skipped
       (what booking one by one would meet first), the allocation recomputed (a place that
       is not there is used up, in `places` as published) and the step runs again.
    The final allocation; each winner's request has its booking."""
    members = _members_of(list(by_id.values()))
    won = _allocate_checked(entries, places, open_hours, skipped, precheck)
    ranked = sorted(entries, key=lambda e: (e.rank, e.id))
    while True:
        winners = [e for e in ranked if won.get(e.id) is not None and e.id not in skipped]
        unchecked = [e for e in winners if e.id not in precheck.checked]
        if unchecked:
            precheck.check(window, [by_id[e.id] for e in unchecked], won, members)
            won = _allocate_checked(entries, places, open_hours, skipped, precheck)
            continue
        try:
            with transaction.atomic():
                _winners_write(window, winners, won, by_id, members, precheck.passed)
            return won
        except _Refused as refused:
            first = next(e for e in winners if e.id in refused.refusals)
            skipped[first.id] = refused.refusals[first.id]
            if skipped[first.id] in PLACE_GONE:
                pool = draw.pool_of(first.service, won[first.id])
                places[pool] = sum(
                    1
                    for e in winners
                    if (e.rank, e.id) < (first.rank, first.id)
                    and draw.pool_of(e.service, won[e.id]) == pool
                )
            won = _allocate_checked(entries, places, open_hours, skipped, precheck)


def _members_of(requests: list[ReleaseRequest]) -> dict[tuple[int, int], Member]:
    """The membership of each request's person in its carrier, in one read; a person who left
    has none."""
    members = Member.objects.select_related("carrier", "user").filter(
        user_id__in={r.created_by_id for r in requests},
        carrier_id__in={r.carrier_id for r in requests},
    )
    return {(m.user_id, m.carrier_id): m for m in members}


def _booking_request(window: ReleaseWindow, request: ReleaseRequest, hour: int) -> BookingRequest:
    return BookingRequest(
        checkpoint_code=window.checkpoint.code,
        direction=window.direction,
        service=request.service,
        slot_start=capacity.hour_start(window.day, hour),
        vehicle_id=request.vehicle_id,
        trailer_id=request.trailer_id,
        driver_ids=request.driver_ids,
        cargo_category=request.cargo_category,
        document_number=request.document_number,
    )


def _winners_write(
    window: ReleaseWindow,
    winners: list[draw.Entry],
    won: dict[int, int | None],
    by_id: dict[int, ReleaseRequest],
    members: dict[tuple[int, int], Member],
    passed: dict[int, CheckedRequest],
) -> None:
    """Every winner's booking in one bulk write (checked already: `_Precheck.check`); raises
    _Refused with the refusals when any is refused."""
    orders = []
    for entry in winners:
        request = by_id[entry.id]
        booking_request = _booking_request(window, request, won[entry.id])
        member = members[(request.created_by_id, request.carrier_id)]
        orders.append(
            BookingOrder(member=member, request=booking_request, checked=passed[entry.id])
        )
    results = bookings_create_checked(orders=orders)
    refusals = {
        entry.id: result.code
        for entry, result in zip(winners, results, strict=True)
        if isinstance(result, ApplicationError)
    }
    if refusals:
        raise _Refused(refusals)
    for entry, booking in zip(winners, results, strict=True):
        by_id[entry.id].booking = booking


def _book(request: ReleaseRequest, window: ReleaseWindow, hour: int) -> str | None:
    """The winner's booking through the booking service (fee and deposit, B8), in a savepoint;
    the refusal's code when it cannot be made."""
    member = (
        Member.objects.select_related("carrier", "user")
        .filter(user_id=request.created_by_id, carrier_id=request.carrier_id)
        .first()
    )
    if member is None:
        return "forbidden"
    try:
        with transaction.atomic():
            booking = booking_create(member=member, request=_booking_request(window, request, hour))
    except ApplicationError as exc:
        return exc.code
    request.booking = booking
    return None


# --- The waitlist (F7) -------------------------------------------------------------------------
#
# A place freed on a day that has a release window never becomes free for first-come booking
# first: in the transaction that frees it (a cancellation, a reschedule, a lapsed hold, a closure
# lifted) it is kept for the window (`Reservation`), like the window's places before its draw.
# After the draw it is kept only when a waiting request could take it, and once that transaction
# commits the waitlist is offered it (`waitlist_serve`): the best-ranked waiting request that
# still passes B6 and B8 is booked; a place nobody can take is given back to everyone. A refresh
# loop therefore never sees the place before the waitlist has had it.


def _waitlist_leave(member: Member, request: ReleaseRequest) -> ReleaseRequest:
    with transaction.atomic():
        now = clock.now()
        left = ReleaseRequest.objects.filter(
            pk=request.pk,
            status=ReleaseRequest.Status.UNSUCCESSFUL,
            waitlist_left_at__isnull=True,
        ).update(waitlist_left_at=now, changed_at=now)
        if not left:
            raise ApplicationError(
                "not_changeable", _("This request is no longer on the waitlist."), status=409
            )
        request.waitlist_left_at = request.changed_at = now
        audit.record("release.waitlist_left", actor=member.user, target=request)
    return request


def _hour_for(request: ReleaseRequest, counter: SlotCounter, now: dt.datetime) -> int | None:
    """The request's most preferred hour that the freed place of `counter` can serve, if any
    is still bookable (C4): the counter's own hour for a regular place; for a priority quota's
    place, any hour of the request."""
    if counter.kind != request.service:
        return None
    hours = [counter.hour] if counter.kind == REGULAR else request.hours
    for hour in request.hours:
        if hour in hours and capacity.in_booking_window(
            capacity.hour_start(counter.date, hour), now
        ):
            return hour
    return None


def places_freed_keep(freed: Mapping[int, int]) -> list[int]:
    """In the transaction that freed places, with their counters locked by it (registered with
    `checkpoints.services.register_places_freed` through `release.tasks`). A place freed on a
    day whose window is still to be drawn is kept for the draw (F1); on a drawn day, for the
    waitlist when a waiting request could take it (F7). The windows whose waitlist is to be
    offered places once the transaction commits."""
    counters = list(SlotCounter.objects.filter(pk__in=list(freed)).order_by("pk"))
    days = Q()
    for counter in counters:
        days |= Q(
            checkpoint_id=counter.checkpoint_id, direction=counter.direction, day=counter.date
        )
    windows = {
        (window.checkpoint_id, window.direction, window.day): window
        for window in ReleaseWindow.objects.filter(
            days,
            status__in=[ReleaseWindow.Status.SCHEDULED, ReleaseWindow.Status.DRAWN],
        )
    }
    if not windows:
        return []
    drawn = [w.pk for w in windows.values() if w.status == ReleaseWindow.Status.DRAWN]
    waiting: dict[int, list[ReleaseRequest]] = {}
    for request in selectors.waitlist(drawn).only("window_id", "service", "hours"):
        waiting.setdefault(request.window_id, []).append(request)
    now = clock.now()
    to_offer: set[int] = set()
    for counter in counters:
        window = windows.get((counter.checkpoint_id, counter.direction, counter.date))
        if window is None:
            continue
        is_drawn = window.status == ReleaseWindow.Status.DRAWN
        if is_drawn and not any(
            _hour_for(request, counter, now) is not None for request in waiting.get(window.pk, [])
        ):
            continue
        places = min(freed[counter.pk], counter.capacity - counter.taken)
        if places <= 0:
            continue
        SlotCounter.objects.filter(pk=counter.pk).update(taken=F("taken") + places)
        more = Reservation.objects.filter(window=window, counter=counter).update(
            places=F("places") + places
        )
        if not more:
            Reservation.objects.create(window=window, counter=counter, places=places)
        audit.record(
            "release.place_kept",
            target=window,
            after={
                "kind": counter.kind,
                "hour": None if counter.hour == SlotCounter.DAY else counter.hour,
                "places": places,
                "for": "waitlist" if is_drawn else "draw",
            },
        )
        if is_drawn:
            to_offer.add(window.pk)
    return sorted(to_offer)


def waitlist_serve(*, window_id: int) -> list[ReleaseRequest]:
    """Offer the places kept for a drawn window's waitlist (F7), in one transaction: the counters
    are locked in id order (before their reservations, as the transactions that keep places take
    them), the places given back, and each offered down the waiting requests in rank order; the
    first whose booking goes through (B6, B8: `booking_create`) gets it, and a place nobody
    takes stays free for everyone. The booked requests; none when nothing was kept."""
    window = (
        ReleaseWindow.objects.select_related("checkpoint")
        .filter(pk=window_id, status=ReleaseWindow.Status.DRAWN)
        .first()
    )
    if window is None:
        return []
    booked: list[ReleaseRequest] = []
    with transaction.atomic():
        counter_ids = list(window.reserved.values_list("counter_id", flat=True))
        if not counter_ids:
            return []
        checkpoint_locks.slot_counters(counter_ids)
        kept = list(
            window.reserved.filter(counter_id__in=counter_ids)
            .select_related("counter")
            .order_by("counter_id")
        )
        if not kept:
            return []  # offered by a run in parallel
        _places_return(window, counter_ids=[reservation.counter_id for reservation in kept])
        waiting = list(selectors.waitlist([window.pk]).select_related("vehicle"))
        now = clock.now()
        for reservation in kept:
            for _place in range(reservation.places):
                request = _waitlist_book(window, reservation.counter, waiting, now)
                if request is None:
                    break  # nobody waiting takes this counter's places: free for everyone
                waiting.remove(request)
                booked.append(request)
        for request in booked:
            request.status = ReleaseRequest.Status.WAITLIST_WON
            request.changed_at = now
        ReleaseRequest.objects.bulk_update(booked, ["status", "booking", "changed_at"])
        for request in booked:
            audit.record(
                "release.waitlist_booked",
                target=request,
                after={
                    "window": window.pk,
                    "booking": request.booking.number,
                    "rank": request.rank,
                },
            )
        public_reads_changed(checkpoint_id=window.checkpoint_id, dates=[window.day])
    return booked


def _waitlist_book(
    window: ReleaseWindow,
    counter: SlotCounter,
    waiting: list[ReleaseRequest],
    now: dt.datetime,
) -> ReleaseRequest | None:
    """The first waiting request, in rank order, that takes a place of `counter`: booked at its
    most preferred hour the place serves. One that cannot be booked (money, B6, its person no
    longer dispatching) stays on the waitlist for the next place."""
    for request in waiting:
        hour = _hour_for(request, counter, now)
        if hour is None:
            continue
        if _book(request, window, hour) is None:
            return request
    return None


def waitlists_serve() -> int:
    """Offer every drawn window's kept places (every minute): the task queued at the commit that
    kept them may have been lost. The number of requests booked."""
    windows = (
        Reservation.objects.filter(window__status=ReleaseWindow.Status.DRAWN)
        .values_list("window_id", flat=True)
        .distinct()
    )
    return sum(len(waitlist_serve(window_id=pk)) for pk in sorted(set(windows)))
