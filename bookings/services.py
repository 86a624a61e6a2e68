"""Bookings: create, hold a slot, add drivers, reschedule, cancel (B1–B11, C4–C6, D1, D3).

Every write owns one transaction in which it takes or frees the place (checkpoint counters,
first), moves the money (ledger balance rows, second: the lock order of docs/locking.md) and
writes the booking and its audit event; all of it happens, or none (B8).
"""

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from auth2fa.roles import OPERATORS, has_role
from bookings import locks
from bookings.driver_links import driver_link_url
from bookings.models import (
    CHECK_IN_CLOSES,
    Booking,
    BookingChange,
    BookingDriver,
    BookingService,
    CargoCategory,
    SlotHold,
)
from carriers import locks as carrier_locks
from carriers.models import Carrier, Member
from checkpoints.capacity import local_dates_of_period
from checkpoints.models import Checkpoint, Closure, Direction, SlotCounter
from checkpoints.public_reads import public_reads_changed
from checkpoints.selectors import devices_last_report, sees_every_checkpoint
from checkpoints.services import (
    capacity_refresh,
    slot_move,
    slot_release,
    slot_take,
    slots_give_back,
    slots_take,
)
from core import audit, bulk, clock
from core.errors import ApplicationError
from deposits import services as ledger
from deposits.models import Transfer
from deposits.selectors import ZERO, accounts_by_kind, available_balance, available_balances
from fees.models import Service
from fees.selectors import Quote
from fees.services import charge_quotes, fee_refund
from notify.models import Message
from notify.services import booking_drivers_notify, booking_event_notify, bookings_event_notify
from vehicles.models import Driver, Vehicle
from vehicles.selectors import active_drivers_among, active_vehicles_by_id

MAX_DRIVERS = 3
SLOT_LENGTH = dt.timedelta(hours=1)
STRIKE_WINDOW = dt.timedelta(days=90)


def _refuse(code: str, message: str, *, status: int = 409, **fields: Any) -> ApplicationError:
    return ApplicationError(code, message, status=status, fields=fields)


def require_booking_role(member: Member) -> None:
    if not member.can_dispatch:
        raise ApplicationError(
            "forbidden", _("Only the owner or a dispatcher can manage bookings."), status=403
        )


def require_confirmed_carrier(member: Member) -> None:
    """A7: only a carrier confirmed by its EDS (or an operator, from abroad) takes places."""
    if not member.carrier.is_confirmed:
        if member.carrier.kind == Carrier.Kind.FOREIGN:
            message = _(
                "Your carrier is not confirmed yet: an operator confirms a carrier from abroad "
                "from its documents, which the owner uploads on the cabinet page. Then you can "
                "book."
            )
        else:
            message = _(
                "Your carrier is not confirmed yet: the owner confirms it with the EDS that "
                "carries its IIN/BIN on the cabinet page. Then you can book."
            )
        raise ApplicationError("carrier_unconfirmed", message, status=403)


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


@dataclasses.dataclass(frozen=True)
class BookingRequest:
    """What a person asks for (B1); checked by `booking_request_check` before anything is taken."""

    checkpoint_code: str
    direction: str
    service: str
    slot_start: dt.datetime
    vehicle_id: int
    trailer_id: int | None
    driver_ids: Sequence[int]
    cargo_category: str = ""
    document_number: str = ""


@dataclasses.dataclass(frozen=True)
class CheckedRequest:
    checkpoint: Checkpoint
    vehicle: Vehicle
    trailer: Vehicle | None
    drivers: list[Driver]


def booking_request_check(
    member: Member, request: BookingRequest, *, checkpoint: Checkpoint | None = None
) -> CheckedRequest:
    """What a booking (and a request for a draw, F2) must pass before anything is taken: the
    checkpoint, the vehicle, trailer and drivers (B1, B2, B6, B7), read and refused here.
    `checkpoint`: the request's checkpoint when the caller has read it already (a release
    window's); it is still refused when it takes no bookings."""
    carrier = member.carrier
    if checkpoint is None or checkpoint.code != request.checkpoint_code:
        checkpoint = Checkpoint.objects.bookable().filter(code=request.checkpoint_code).first()
    elif not checkpoint.is_bookable:
        checkpoint = None
    # The vehicle and the trailer in one read; each is then checked as before, vehicle first.
    wanted = [request.vehicle_id] + ([request.trailer_id] if request.trailer_id else [])
    return _request_checked(
        request,
        checkpoint=checkpoint,
        vehicles=lambda: active_vehicles_by_id(carrier, wanted),
        drivers=lambda ids: active_drivers_among(carrier, ids),
    )


def _request_checked(
    request: BookingRequest,
    *,
    checkpoint: Checkpoint | None,
    vehicles: Callable[[], dict[int, Vehicle]],
    drivers: Callable[[list[int]], list[Driver]],
) -> CheckedRequest:
    """The checks of `booking_request_check`, in its order, on what was read for them: the
    checkpoint (None: not bookable), the carrier's active vehicles and drivers (read when the
    checks come to them, so that a refusal before reads nothing more)."""
    if checkpoint is None:
        raise ApplicationError("not_found", _("No such checkpoint."), status=404)
    if request.direction not in Direction.values:
        raise _invalid("direction", _("Choose exit or entry."))
    if request.service not in BookingService.values:
        raise _invalid("service", _("Choose regular, accelerated or out-of-turn passage."))
    if request.slot_start.tzinfo is None:
        raise _invalid("slot_start", _("Give the time with its UTC offset, like +05:00."))
    found = vehicles()
    vehicle = found.get(request.vehicle_id)
    if vehicle is None or vehicle.kind == Vehicle.Kind.TRAILER:
        raise _invalid("vehicle", _("Choose one of your trucks or tractor units."))
    trailer = None
    if request.trailer_id:
        trailer = found.get(request.trailer_id)
        if trailer is None or trailer.kind != Vehicle.Kind.TRAILER:
            raise _invalid("trailer", _("Choose one of your trailers."))
    driver_ids = list(dict.fromkeys(request.driver_ids))
    if not 1 <= len(driver_ids) <= MAX_DRIVERS:
        raise _refuse(
            "driver_limit" if driver_ids else "validation_error",
            _("Name from 1 to %(max)s drivers.") % {"max": MAX_DRIVERS},
            status=409 if driver_ids else 400,
            drivers=[_("From 1 to %(max)s drivers.") % {"max": MAX_DRIVERS}],
        )
    # In id order, whatever order the database reads them in.
    named = sorted(drivers(driver_ids), key=lambda driver: driver.pk)
    if len(named) != len(driver_ids):
        raise _invalid("drivers", _("Choose drivers of your carrier."))
    if request.service == BookingService.OUT_OF_TURN:
        problems = {}
        if request.cargo_category not in CargoCategory.values:
            problems["cargo_category"] = [_("Out-of-turn passage needs the cargo category.")]
        if not request.document_number.strip():
            problems["document_number"] = [
                _("Out-of-turn passage needs the number of the document that allows it.")
            ]
        if problems:
            raise ApplicationError(
                "validation_error",
                _("Out-of-turn passage is only for the cargo the rules name (B2)."),
                fields=problems,
            )
    return CheckedRequest(checkpoint=checkpoint, vehicle=vehicle, trailer=trailer, drivers=named)


def _insufficient(required: Decimal, available: Decimal) -> ApplicationError:
    return ledger.InsufficientFunds(required=required, available=available)


def booking_charge(service: str, *, on: dt.date) -> tuple[Quote, Quote, Decimal]:
    """The fee of `service` and the guarantee deposit at the MRP of `on` (R2, R3, D1), and their
    sum: what a booking charges and holds (B8), and what a slot hold needs available (C5)."""
    fee, deposit = charge_quotes(service, Service.DEPOSIT, on=on)
    return fee, deposit, fee.amount + deposit.amount


def _active_booking_exists(exc: IntegrityError) -> ApplicationError:
    which = "trailer" if "trailer" in str(exc) else "vehicle"
    return _refuse(
        "active_booking_exists",
        _(
            "This vehicle or trailer already has an active booking in this country. Cancel it "
            "first, or book in another country."
        ),
        **{which: [_("Already booked in this country.")]},
    )


def booking_create(
    *, member: Member, request: BookingRequest, hold: SlotHold | None = None
) -> Booking:
    """Book a passage (B1, B8): the place, the fee and the deposit, all or nothing.

    With `hold`, the place the booking form held (C5) becomes the booking's; without it the
    place is taken now. Refusals: slot_full, checkpoint_closed, outside_booking_window,
    insufficient_funds (with required and available), active_booking_exists (B6),
    validation_error (B1, B2). The booking keeps its checkpoint, vehicle, trailer and deposit
    hold in memory, and its driver links, in the order added, in `added_driver_links`."""
    require_booking_role(member)
    require_confirmed_carrier(member)
    checked = booking_request_check(member, request)
    carrier = member.carrier
    now = clock.now()
    prices = {request.service: booking_charge(request.service, on=clock.local_date(now))}
    required = prices[request.service][2]
    # The ledger accounts, read once: the balance for this early refusal (B8), the ids for the
    # transfers. Only the conditional UPDATE in the transaction decides whether the money is
    # there; this read just spares a place and the writes when it plainly is not.
    accounts = accounts_by_kind(carrier, *LEDGER_KINDS)
    available = accounts.get(ledger.Kind.AVAILABLE)
    balance = available.balance if available is not None else ZERO
    if balance < required:
        raise _insufficient(required, balance)
    with transaction.atomic(), audit.batch():
        counter = _place_for(member, checked.checkpoint, request, hold)
        if len(accounts) < len(LEDGER_KINDS):
            accounts = ledger.accounts_of(carrier, *LEDGER_KINDS)  # one is made on first use
        # A refusal raised here leaves this transaction, which rolls back the place with it.
        (booking,) = _bookings_write(
            [BookingOrder(member=member, request=request, checked=checked)],
            counters=[counter],
            accounts={carrier.pk: accounts},
            prices=prices,
            now=now,
        )
        if isinstance(booking, ApplicationError):
            raise booking
    return booking


LEDGER_KINDS = (ledger.Kind.AVAILABLE, ledger.Kind.HELD, ledger.Kind.FEES_PAYABLE)


@dataclasses.dataclass(frozen=True)
class BookingOrder:
    """One booking to write: who books, what, and what `booking_request_check` (or
    `bookings_check`) found for it."""

    member: Member
    request: BookingRequest
    checked: CheckedRequest


def bookings_check(
    items: Sequence[tuple[Member, BookingRequest]], *, money: bool = True
) -> list[CheckedRequest | ApplicationError]:
    """`booking_request_check` for many requests at once (a draw's winners), with a handful of
    reads whatever their number: the checkpoints, the vehicles and trailers, the drivers, the
    active bookings of the vehicles (B6), the balances (B8). For each item in order: what
    `booking_request_check` gives, or the refusal `booking_create` would give before it takes
    anything: forbidden, carrier_unconfirmed, the checks' own, active_booking_exists (also for
    a vehicle or trailer named by an earlier item), insufficient_funds (the balance less what
    the carrier's earlier items cost; not with `money` False, for a caller that reckons it)."""
    codes = {request.checkpoint_code for _member, request in items}
    checkpoints = {c.code: c for c in Checkpoint.objects.bookable().filter(code__in=codes)}
    vehicle_ids = {r.vehicle_id for _m, r in items} | {r.trailer_id for _m, r in items}
    vehicles = {
        vehicle.pk: vehicle
        for vehicle in Vehicle.objects.filter(pk__in=vehicle_ids - {None}, is_active=True)
    }
    driver_ids = {pk for _member, request in items for pk in request.driver_ids}
    drivers = {d.pk: d for d in Driver.objects.filter(pk__in=driver_ids, is_active=True)}
    results: list[CheckedRequest | ApplicationError] = []
    for member, request in items:
        carrier_id = member.carrier_id
        try:
            require_booking_role(member)
            require_confirmed_carrier(member)
            wanted = [request.vehicle_id, request.trailer_id]
            results.append(
                _request_checked(
                    request,
                    checkpoint=checkpoints.get(request.checkpoint_code),
                    vehicles=lambda wanted=wanted, carrier_id=carrier_id: {
                        pk: vehicles[pk]
                        for pk in wanted
                        if pk in vehicles and vehicles[pk].carrier_id == carrier_id
                    },
                    drivers=lambda ids, carrier_id=carrier_id: [
                        drivers[pk]
                        for pk in ids
                        if pk in drivers and drivers[pk].carrier_id == carrier_id
                    ],
                )
            )
        except ApplicationError as exc:
            results.append(exc)
    _refuse_booked(results)
    if money:
        _refuse_unpaid(items, results)
    return results


def _refuse_booked(results: list[CheckedRequest | ApplicationError]) -> None:
    """B6 for the checked items: a vehicle or trailer with an active booking in the country, or
    named by an earlier item, is refused."""
    vins: dict[str, set[str]] = {}
    for checked in results:
        if isinstance(checked, CheckedRequest):
            country = vins.setdefault(checked.checkpoint.country_id, set())
            country.add(checked.vehicle.vin)
            if checked.trailer is not None:
                country.add(checked.trailer.vin)
    booked: set[tuple[str, str]] = set()
    for country_id, country_vins in vins.items():
        active = Booking.objects.filter(country_id=country_id, status__in=Booking.ACTIVE)
        for field in ("vehicle_vin", "trailer_vin"):
            found = active.filter(**{f"{field}__in": country_vins}).values_list(field, flat=True)
            booked |= {(country_id, vin) for vin in found}
    for index, checked in enumerate(results):
        if not isinstance(checked, CheckedRequest):
            continue
        country_id = checked.checkpoint.country_id
        named = [checked.vehicle] + ([checked.trailer] if checked.trailer else [])
        taken = [(country_id, vehicle.vin) in booked for vehicle in named]
        if any(taken):
            which = "trailer" if not taken[0] else "vehicle"
            results[index] = _refuse(
                "active_booking_exists",
                _(
                    "This vehicle or trailer already has an active booking in this country. "
                    "Cancel it first, or book in another country."
                ),
                **{which: [_("Already booked in this country.")]},
            )
            continue
        booked |= {(country_id, vehicle.vin) for vehicle in named}


def _refuse_unpaid(
    items: Sequence[tuple[Member, BookingRequest]],
    results: list[CheckedRequest | ApplicationError],
) -> None:
    """B8 for the checked items: each carrier's available balance, less what its earlier items
    cost, must cover the item's fee and deposit."""
    carrier_ids = sorted(
        {
            member.carrier_id
            for (member, _r), c in zip(items, results, strict=True)
            if isinstance(c, CheckedRequest)
        }
    )
    balances = available_balances(carrier_ids)
    prices: dict[str, Decimal] = {}
    today = clock.local_today()
    for index, ((member, request), checked) in enumerate(zip(items, results, strict=True)):
        if not isinstance(checked, CheckedRequest):
            continue
        if request.service not in prices:
            prices[request.service] = booking_charge(request.service, on=today)[2]
        required = prices[request.service]
        balance = balances.get(member.carrier_id, ZERO)
        if balance < required:
            results[index] = _insufficient(required, balance)
        else:
            balances[member.carrier_id] = balance - required


def bookings_create_checked(*, orders: Sequence[BookingOrder]) -> list[Booking | ApplicationError]:
    """Write many bookings at once (a draw's winners), each as `booking_create` would, in the
    caller's transaction: the places (`slots_take`: one conditional UPDATE per counter), the
    money (`booking_charges_take`: one per account), then the bookings, their drivers, the
    ledger's transfers and holds, the audit events and the messages, each kind of row written
    in one go (core.bulk). For each order: its booking, or the refusal that stopped it
    (slot_full, checkpoint_closed, outside_booking_window, insufficient_funds); a refused order
    takes nothing. Orders are checked first (`bookings_check`); a B6 clash with a booking made
    meanwhile fails the caller's transaction (the database's constraint), as it fails a
    booking's."""
    results: list[Booking | ApplicationError | None] = [None] * len(orders)
    with transaction.atomic(), audit.batch():
        now = clock.now()
        taken = slots_take(
            wanted=[
                (o.checked.checkpoint, o.request.direction, o.request.slot_start, o.request.service)
                for o in orders
            ]
        )
        placed = []
        for index, counter in enumerate(taken):
            if isinstance(counter, ApplicationError):
                results[index] = counter
            else:
                placed.append(index)
        today = clock.local_date(now)
        prices = {
            service: booking_charge(service, on=today)
            for service in sorted({orders[i].request.service for i in placed})
        }
        carriers = {orders[i].member.carrier_id: orders[i].member.carrier for i in placed}
        written = _bookings_write(
            [orders[i] for i in placed],
            counters=[taken[i] for i in placed],
            accounts=ledger.accounts_of_carriers(list(carriers.values()), *LEDGER_KINDS),
            prices=prices,
            now=now,
        )
        for index, booking in zip(placed, written, strict=True):
            results[index] = booking
    return results


def _bookings_write(
    orders: list[BookingOrder],
    *,
    counters: list[SlotCounter],
    accounts: dict[int, dict[str, ledger.Account]],
    prices: dict[str, tuple[Quote, Quote, Decimal]],
    now: dt.datetime,
) -> list[Booking | ApplicationError]:
    """The one way bookings are written, one or many, in the caller's transaction (inside an
    `audit.batch()`), each order's place already taken on its counter: the money moved (B8),
    then the rows. An order whose carrier cannot pay is refused (insufficient_funds) and its
    place given back; the others' bookings, in order."""
    charges = [
        ledger.BookingCharge(
            carrier=order.member.carrier,
            fee=prices[order.request.service][0].amount,
            deposit=prices[order.request.service][1].amount,
            reference=("booking", ""),
            accounts=accounts[order.member.carrier_id],
            actor=order.member.user,
        )
        for order in orders
    ]
    paid = ledger.booking_charges_take(charges)
    results: list[Booking | ApplicationError] = []
    unpaid = [index for index, ok in enumerate(paid) if not ok]
    if unpaid:
        balances = available_balances(sorted({orders[i].member.carrier_id for i in unpaid}))
        given_back: dict[int, int] = {}
        for index in unpaid:
            given_back[counters[index].pk] = given_back.get(counters[index].pk, 0) + 1
        slots_give_back(taken=given_back)
    bookings = []
    for index, order in enumerate(orders):
        if paid[index]:
            bookings.append(_booking_of(order, counters[index], prices, now))
    try:
        bulk.insert(bookings)
    except IntegrityError as exc:
        raise _active_booking_exists(exc) from exc
    # Rows inserted in bulk send no post_save, which tells the cached public reads of a saved
    # booking (checkpoints.public_reads): told here, once per checkpoint.
    days: dict[int, set[dt.date]] = {}
    for booking in bookings:
        days.setdefault(booking.checkpoint_id, set()).add(clock.local_date(booking.slot_start))
    for checkpoint_id in sorted(days):
        public_reads_changed(checkpoint_id=checkpoint_id, dates=days[checkpoint_id])
    links = bulk.insert(
        [
            BookingDriver(booking=booking, driver=driver, added_at=now)
            for booking, order in zip(bookings, _paid(orders, paid), strict=True)
            for driver in order.checked.drivers
        ]
    )
    holds = ledger.booking_charges_record(
        [
            dataclasses.replace(charge, reference=("booking", str(booking.pk)))
            for booking, charge in zip(bookings, _paid(charges, paid), strict=True)
        ]
    )
    for booking, hold in zip(bookings, holds, strict=True):
        booking.deposit_hold = hold
    _deposit_holds_save(bookings)
    by_booking: dict[int, list[BookingDriver]] = {}
    for link in links:
        by_booking.setdefault(link.booking_id, []).append(link)
    for booking, order in zip(bookings, _paid(orders, paid), strict=True):
        fee, deposit, _required = prices[order.request.service]
        audit.record(
            "booking.created",
            actor=order.member.user,
            target=booking,
            after={
                "number": booking.number,
                "checkpoint": order.checked.checkpoint.code,
                "direction": order.request.direction,
                "service": order.request.service,
                "slot_start": order.request.slot_start,
                "vehicle_vin": booking.vehicle_vin,
                "trailer_vin": booking.trailer_vin,
                "drivers": [driver.pk for driver in order.checked.drivers],
                "fee": {"mrp": fee.mrp, "mrp_value": fee.mrp_value, "amount": fee.amount},
                "deposit": deposit.amount,
            },
        )
        # What the API answers from (`bookings.api`), so that it needs no read back.
        booking.added_driver_links = by_booking.get(booking.pk, [])
    booking_notices_queue(bookings, "booking_created")
    written = iter(bookings)
    for index, order in enumerate(orders):
        if paid[index]:
            results.append(next(written))
        else:
            required = prices[order.request.service][2]
            results.append(_insufficient(required, balances.get(order.member.carrier_id, ZERO)))
    return results


def _paid(items: list, paid: list[bool]) -> list:
    return [item for item, ok in zip(items, paid, strict=True) if ok]


def _booking_of(
    order: BookingOrder,
    counter: SlotCounter,
    prices: dict[str, tuple[Quote, Quote, Decimal]],
    now: dt.datetime,
) -> Booking:
    request, checked = order.request, order.checked
    fee = prices[request.service][0]
    out_of_turn = request.service == BookingService.OUT_OF_TURN
    return Booking(
        carrier=order.member.carrier,
        created_by=order.member.user,
        checkpoint=checked.checkpoint,
        country_id=checked.checkpoint.country_id,
        direction=request.direction,
        service=request.service,
        slot_start=request.slot_start,
        slot_end=request.slot_start + SLOT_LENGTH,
        counter=counter,
        vehicle=checked.vehicle,
        vehicle_vin=checked.vehicle.vin,
        vehicle_plate=checked.vehicle.plate,
        trailer=checked.trailer,
        trailer_vin=checked.trailer.vin if checked.trailer else None,
        trailer_plate=checked.trailer.plate if checked.trailer else "",
        cargo_category=request.cargo_category if out_of_turn else "",
        document_number=request.document_number.strip() if out_of_turn else "",
        fee_mrp=fee.mrp,
        fee_mrp_value=fee.mrp_value,
        fee_amount=fee.amount,
        created_at=now,
        status_changed_at=now,
    )


def _deposit_holds_save(bookings: list[Booking]) -> None:
    """Each new booking's deposit hold on its row (the hold names the booking, so it is written
    after it): one UPDATE for one booking, else one per batch (core.bulk)."""
    if len(bookings) == 1:
        bookings[0].save(update_fields=["deposit_hold"])
    else:
        bulk.update(bookings, ["deposit_hold"])


def _place_for(member: Member, checkpoint: Checkpoint, request: BookingRequest, hold):
    """The counter whose place the booking takes: the form's hold, or a new place now."""
    if hold is None:
        return slot_take(
            checkpoint=checkpoint,
            direction=request.direction,
            start=request.slot_start,
            service=request.service,
        )
    if (
        hold.carrier_id != member.carrier_id
        or hold.checkpoint_id != checkpoint.pk
        or hold.direction != request.direction
        or hold.service != request.service
        or hold.slot_start != request.slot_start
    ):
        raise _invalid("hold", _("The held place is for another slot."))
    # The hold's place becomes the booking's: deleting the hold row is what hands it over, so
    # a hold that `expire_holds` already freed (0 rows deleted) cannot be used.
    deleted, _by_model = SlotHold.objects.filter(pk=hold.pk, expires_at__gt=clock.now()).delete()
    if not deleted:
        raise _refuse(
            "hold_expired",
            _("The 15 minutes to confirm have passed and the place was freed. Choose again."),
        )
    return hold.counter


# --- Slot holds (C5) ------------------------------------------------------------------------------


def slot_hold_create(
    *, member: Member, checkpoint_code: str, direction: str, service: str, slot_start: dt.datetime
) -> SlotHold:
    """Hold a place for 15 minutes while the person fills in the booking form (C5).

    A hold needs the money the booking would take (B8: the fee and the deposit at today's MRP,
    as `booking_create` charges them), though it moves none: short of it, the hold is refused
    with insufficient_funds (required, available) and no place is taken. A person keeps one
    hold: choosing another hour frees the one held before (a refused choice keeps it). Choosing
    the held hour again keeps that hold as it is, so it still ends 15 minutes after it was
    first taken; then its place is freed and has to be taken again like anyone's. Other
    refusals: not_found, validation_error and those of `slot_take`."""
    require_booking_role(member)
    require_confirmed_carrier(member)
    checkpoint = Checkpoint.objects.bookable().filter(code=checkpoint_code).first()
    if checkpoint is None:
        raise ApplicationError("not_found", _("No such checkpoint."), status=404)
    if service not in BookingService.values:
        raise _invalid("service", _("Choose regular, accelerated or out-of-turn passage."))
    now = clock.now()
    # Before any place is touched: a hold nobody could pay for takes nothing from anyone.
    _fee, _deposit, required = booking_charge(service, on=clock.local_date(now))
    available = available_balance(member.carrier)
    if available < required:
        raise _insufficient(required, available)
    wanted = (checkpoint.pk, direction, service, slot_start)
    with transaction.atomic():
        # The person's holds change one request at a time: two hours chosen at once (two tabs)
        # leave one hold, the later one.
        locks.member_holding(member.pk)
        now = clock.now()  # after any wait for the person's other request
        kept = None
        for old in SlotHold.objects.filter(created_by=member.user).order_by("created_at", "pk"):
            same = (old.checkpoint_id, old.direction, old.service, old.slot_start) == wanted
            if kept is None and same and old.expires_at > now:
                kept = old  # the same hour again: held on, not for longer
            else:
                _hold_free(old)  # another hour, or a lapsed hold: its place goes back
        if kept is not None:
            return kept
        counter = slot_take(
            checkpoint=checkpoint, direction=direction, start=slot_start, service=service
        )
        hold = SlotHold.objects.create(
            counter=counter,
            carrier=member.carrier,
            created_by=member.user,
            checkpoint=checkpoint,
            direction=direction,
            service=service,
            slot_start=slot_start,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=SlotHold.TTL_MINUTES),
        )
    return hold


def _hold_free(hold: SlotHold) -> bool:
    """Delete the hold and give its place back, once (whoever deletes the row frees it)."""
    deleted, _by_model = SlotHold.objects.filter(pk=hold.pk).delete()
    if deleted:
        slot_release(counter_id=hold.counter_id)
    return bool(deleted)


def slot_hold_release(*, member: Member, hold: SlotHold) -> None:
    if hold.created_by_id != member.user_id:
        raise ApplicationError("not_found", _("Not found."), status=404)
    with transaction.atomic():
        _hold_free(hold)


def slot_holds_expire(*, as_of: dt.datetime | None = None) -> int:
    """Free the places of holds whose 15 minutes have passed (C5); safe to run in parallel."""
    as_of = as_of or clock.now()
    freed = 0
    for hold in SlotHold.objects.filter(expires_at__lte=as_of).order_by("pk").iterator():
        with transaction.atomic():
            freed += _hold_free(hold)
    return freed


# --- Changes (B4, B5, B9) -------------------------------------------------------------------------


def _lock_own(member: Member, booking: Booking) -> Booking:
    booking = locks.booking_of_carrier(booking.pk, member.carrier)
    if booking is None:
        raise ApplicationError("not_found", _("Not found."), status=404)
    return booking


def _not_changeable(message: str) -> ApplicationError:
    return _refuse("not_changeable", message)


def driver_link_renew(*, member: Member, booking: Booking) -> Booking:
    """A new driver link for the booking (Q5): the old one stops working at once."""
    require_booking_role(member)
    with transaction.atomic():
        booking = _lock_own(member, booking)
        booking.driver_link_generation += 1
        booking.save(update_fields=["driver_link_generation"])
        audit.record(
            "booking.driver_link_renewed",
            actor=member.user,
            target=booking,
            after={"generation": booking.driver_link_generation},
        )
    return booking


def _refuse_too_many_driver_links(*, carrier_id: int) -> None:
    """A8: a carrier types its drivers' phones, and a new link may be sent again, so the link
    SMS a carrier sends in any 24 hours are limited (DRIVER_LINK_SMS_PER_CARRIER_PER_DAY), on
    top of every phone's own limits."""
    since = clock.now() - dt.timedelta(days=1)
    sent = Message.objects.filter(
        kind=Message.Kind.DRIVER_LINK, booking__carrier_id=carrier_id, created_at__gt=since
    ).count()
    if sent >= settings.DRIVER_LINK_SMS_PER_CARRIER_PER_DAY:
        raise ApplicationError(
            "too_many_driver_links",
            _(
                "Your carrier sent the driver link by SMS too many times in the last 24 hours. "
                "Show the drivers the link or its QR code instead."
            ),
            status=429,
            retry_after=3600,
        )


def driver_link_send(*, member: Member, booking: Booking) -> int:
    """The driver link by SMS to the booking's drivers (Q5), through the outbox: once per link
    and driver (a new link may be sent again), only to the served country codes (A8). Returns
    how many SMS were queued."""
    require_booking_role(member)
    with transaction.atomic():
        # The carrier's row first: its driver SMS of the day are counted one send at a time.
        carrier_locks.carrier(member.carrier_id)
        booking = _lock_own(member, booking)
        if not booking.is_active:
            raise _not_changeable(
                _("Booking %(number)s is no longer active.") % {"number": booking.number}
            )
        _refuse_too_many_driver_links(carrier_id=member.carrier_id)
        queued = booking_drivers_notify(
            booking=booking,
            event="driver_link",
            link=driver_link_url(booking),
            once_per=f":link:{booking.driver_link_generation}",
        )
        audit.record(
            "booking.driver_link_sent",
            actor=member.user,
            target=booking,
            after={"generation": booking.driver_link_generation, "sms": len(queued)},
        )
    return len(queued)


def booking_add_drivers(*, member: Member, booking: Booking, driver_ids: Sequence[int]) -> Booking:
    """Add drivers to an active booking (B4), up to 3 in all; nobody is ever removed."""
    require_booking_role(member)
    now = clock.now()
    with transaction.atomic():
        booking = _lock_own(member, booking)
        if not booking.is_active:
            raise _not_changeable(_("Drivers can be added to an active booking only."))
        present = set(booking.driver_links.values_list("driver_id", flat=True))
        new_ids = [pk for pk in dict.fromkeys(driver_ids) if pk not in present]
        if not new_ids:
            raise _invalid("drivers", _("Choose drivers who are not on the booking yet."))
        if len(present) + len(new_ids) > MAX_DRIVERS:
            raise _refuse(
                "driver_limit",
                _("A booking names at most %(max)s drivers.") % {"max": MAX_DRIVERS},
                drivers=[_("At most %(max)s drivers.") % {"max": MAX_DRIVERS}],
            )
        drivers = list(
            Driver.objects.filter(pk__in=new_ids, carrier=member.carrier, is_active=True)
        )
        if len(drivers) != len(new_ids):
            raise _invalid("drivers", _("Choose drivers of your carrier."))
        BookingDriver.objects.bulk_create(
            BookingDriver(booking=booking, driver=driver, added_at=now) for driver in drivers
        )
        audit.record(
            "booking.drivers_added",
            actor=member.user,
            target=booking,
            before={"drivers": sorted(present)},
            after={"drivers": sorted(present | {d.pk for d in drivers})},
        )
    return booking


def booking_reschedule(*, member: Member, booking: Booking, slot_start: dt.datetime) -> Booking:
    """Move the booking to another hour of the same checkpoint, direction and service, before
    its slot starts (B5): the new place is taken, the old one freed, the re-booking fee charged;
    the deposit stays held as it is."""
    require_booking_role(member)
    now = clock.now()
    (fee,) = charge_quotes(Service.REBOOKING, on=clock.local_date(now))
    with transaction.atomic():
        booking = _lock_own(member, booking)
        if not booking.is_changeable(now):
            raise _not_changeable(
                _("A booking can be rescheduled only while confirmed and before its slot starts.")
            )
        if slot_start == booking.slot_start:
            raise _invalid("slot_start", _("Choose another hour than the booked one."))
        old_start = booking.slot_start
        # The new place and the old one in one step, counters in id order (no deadlock between
        # two reschedules swapping hours; a priority booking keeps its place in the day's quota).
        booking.counter = slot_move(
            counter_id=booking.counter_id,
            checkpoint=booking.checkpoint,
            direction=booking.direction,
            start=slot_start,
            service=booking.service,
        )
        change = BookingChange.objects.create(
            booking=booking,
            old_slot_start=old_start,
            new_slot_start=slot_start,
            fee_mrp=fee.mrp,
            fee_mrp_value=fee.mrp_value,
            fee_amount=fee.amount,
            changed_by=member.user,
            changed_at=now,
        )
        ledger.fee_charge(
            carrier=member.carrier,
            amount=fee.amount,
            reference=("booking", str(booking.pk)),
            kind=Transfer.Kind.REBOOKING_FEE,
            idempotency_key=f"rebooking_fee:booking_change:{change.pk}",
            actor=member.user,
        )
        booking.slot_start = slot_start
        booking.slot_end = slot_start + SLOT_LENGTH
        booking.save(update_fields=["counter", "slot_start", "slot_end"])
        # Saving names the new date to the cached public reads; the old one changed too.
        public_reads_changed(
            checkpoint_id=booking.checkpoint_id, dates=[clock.local_date(old_start)]
        )
        audit.record(
            "booking.rescheduled",
            actor=member.user,
            target=booking,
            before={"slot_start": old_start},
            after={"slot_start": slot_start, "fee": fee.amount},
        )
        _notify(booking, "booking_rescheduled", {"old_slot_start": old_start})
    return booking


def strikes_before(*, vin: str, moment: dt.datetime, excluding: int | None = None) -> int:
    """No-shows, carrier cancellations and refusals at the checkpoint (Q8) of the vehicle (by
    VIN) in the 90 days before (D3).

    A booking still confirmed whose check-in window ended in that span is a no-show too, even
    before a sweep marks it: otherwise two sweeps running at once, each skipping the booking the
    other holds, would both see no earlier strike and forgive both deposits."""
    since = moment - STRIKE_WINDOW
    earlier = Booking.objects.filter(
        Q(
            status__in=[Booking.Status.NO_SHOW, Booking.Status.CANCELLED, Booking.Status.REFUSED],
            status_changed_at__gte=since,
            status_changed_at__lt=moment,
        )
        | Q(
            status=Booking.Status.CONFIRMED,
            slot_end__gte=since - CHECK_IN_CLOSES,
            slot_end__lt=moment - CHECK_IN_CLOSES,
        ),
        vehicle_vin=vin,
    )
    if excluding is not None:
        earlier = earlier.exclude(pk=excluding)
    return earlier.count()


def deposit_settle_after_strike(booking: Booking, *, moment: dt.datetime, actor: Any) -> str:
    """D3: the first no-show or cancellation in 90 days is forgiven (deposit released), a second
    one forfeits the deposit to the budget. Returns the outcome."""
    if booking.deposit_hold is None:
        return ""
    if strikes_before(vin=booking.vehicle_vin, moment=moment, excluding=booking.pk):
        resolution = ledger.hold_forfeit(
            hold=booking.deposit_hold,
            reason=_("Second no-show or cancellation of the vehicle within 90 days"),
            actor=actor,
        )
    else:
        resolution = ledger.hold_release(
            hold=booking.deposit_hold,
            reason=_("First no-show or cancellation of the vehicle within 90 days: forgiven"),
            actor=actor,
        )
    _notify(booking, f"deposit_{resolution.outcome}")
    return resolution.outcome


def booking_cancel(*, member: Member, booking: Booking) -> Booking:
    """The carrier cancels before the slot starts (B9): the place is freed, the fee is not
    refunded, the deposit follows D3."""
    require_booking_role(member)
    now = clock.now()
    with transaction.atomic():
        booking = _lock_own(member, booking)
        if not booking.is_changeable(now):
            raise _not_changeable(
                _("A booking can be cancelled only while confirmed and before its slot starts.")
            )
        booking.status = Booking.Status.CANCELLED
        booking.status_changed_at = now
        booking.save(update_fields=["status", "status_changed_at"])
        slot_release(counter_id=booking.counter_id)
        outcome = deposit_settle_after_strike(booking, moment=now, actor=member.user)
        audit.record(
            "booking.cancelled",
            actor=member.user,
            target=booking,
            before={"status": Booking.Status.CONFIRMED},
            after={"status": booking.status, "deposit": outcome},
        )
    return booking


# --- No-shows (D3, D6); the queue at the checkpoint is checkpoint_queue.services ----------------


def no_shows_due(as_of: dt.datetime):
    """Confirmed bookings whose check-in window ended by `as_of` (D6), each with
    `devices_reported`: until when its checkpoint's devices have delivered what they recorded
    offline (O4; NULL where the checkpoint has no such devices)."""
    return Booking.objects.filter(
        status=Booking.Status.CONFIRMED, slot_end__lte=as_of - CHECK_IN_CLOSES
    ).annotate(devices_reported=devices_last_report())


def _devices_have_reported() -> Q:
    return Q(devices_reported__isnull=True) | Q(
        devices_reported__gte=F("slot_end") + CHECK_IN_CLOSES
    )


def no_shows_held_back(as_of: dt.datetime | None = None):
    """The bookings the sweep leaves alone (O4): their window ended, but their checkpoint's
    devices have not reported since before it ended (they may have checked the truck in
    offline). They wait for the devices, or for an operator to settle them by hand."""
    return no_shows_due(as_of or clock.now()).exclude(_devices_have_reported())


def no_shows_sweep(*, as_of: dt.datetime | None = None) -> int:
    """Confirmed bookings whose check-in window has ended become no-shows (D6); their deposit
    follows D3. Running it again, or two sweeps at once, changes nothing more: each booking is
    locked and re-checked, and the strike moment is the end of its window, not the sweep's.

    A window of a checkpoint whose devices have not reported since before it ended is left
    alone (O4): nobody gets a strike for an outage (`no_shows_held_back`)."""
    as_of = as_of or clock.now()
    due = no_shows_due(as_of).filter(_devices_have_reported()).order_by("slot_end", "pk")
    swept = 0
    for booking_id in due.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            booking = locks.confirmed_booking_unless_held(booking_id)
            if booking is None:
                continue
            _no_show(booking, actor=None)
            swept += 1
    return swept


def _no_show(booking: Booking, *, actor: Any, record: dict | None = None) -> str:
    """The booking (locked, confirmed) becomes a no-show at the end of its window; D3."""
    deadline = booking.slot_end + CHECK_IN_CLOSES
    booking.status = Booking.Status.NO_SHOW
    booking.status_changed_at = deadline
    booking.save(update_fields=["status", "status_changed_at"])
    outcome = deposit_settle_after_strike(booking, moment=deadline, actor=actor)
    audit.record(
        "booking.no_show",
        actor=actor,
        target=booking,
        before={"status": Booking.Status.CONFIRMED},
        after={"status": booking.status, "deposit": outcome, **(record or {})},
    )
    return outcome


def no_show_settle_by_hand(
    *, booking: Booking, actor: Any, as_of: dt.datetime | None = None
) -> str:
    """An operator settles a booking the sweep held back (O4) as a no-show, when the
    checkpoint's devices are not coming back: D3 as the sweep would have. Audited with who.
    Returns the deposit's outcome."""
    if not has_role(actor, OPERATORS):
        raise _refuse("forbidden", _("Only operators settle a held-back booking."), status=403)
    as_of = as_of or clock.now()
    with transaction.atomic():
        (booking,) = locks.bookings_in_order(Booking.objects.filter(pk=booking.pk))
        if booking.status != Booking.Status.CONFIRMED or booking.check_in_window[1] > as_of:
            raise _not_changeable(
                _("Booking %(number)s is not waiting for the no-show sweep.")
                % {"number": booking.number}
            )
        return _no_show(booking, actor=actor, record={"settled_by_hand": True})


@dataclasses.dataclass(frozen=True)
class ClosureCreated:
    """What `closure_create` did: the closure, the bookings it cancelled, and the counters that
    still hold more places than the rules now give (taken without a booking to cancel)."""

    closure: Closure
    cancelled: list[Booking]
    overbooked: list


def closure_create(
    *,
    checkpoint: Checkpoint,
    direction: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    actor: Any,
) -> ClosureCreated:
    """An operator closes a checkpoint (one direction, or both with "") for a period (C3), in
    one transaction: the closure is made and audited, the active bookings inside it are
    cancelled by the operator (D4: fees refunded, deposits released, no strike, carriers told),
    and the slot counters of its days take the capacity the rules now give (none in its hours)."""
    if not sees_every_checkpoint(actor):
        raise _refuse("forbidden", _("Only operators close a checkpoint."), status=403)
    reason = (reason or "").strip()
    if direction not in ("", *Direction.values):
        raise _invalid("direction", _("Choose exit, entry or both directions."))
    if not reason:
        raise _invalid("reason", _("Write why the checkpoint is closed: carriers are told."))
    if ends_at <= starts_at:
        raise _invalid("ends_at", _("A closure ends after it starts."))
    with transaction.atomic():
        closure = Closure.objects.create(
            checkpoint=checkpoint,
            direction=direction,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=actor,
        )
        audit.record(
            "closure.created",
            actor=actor,
            target=closure,
            after={
                "checkpoint": checkpoint.code,
                "direction": direction,
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "reason": reason,
            },
        )
        # The lock order of docs/locking.md: the bookings inside first, then the counters of
        # its days (the refresh), then each cancellation's place and money.
        inside = locks.bookings_in_order(_bookings_inside(closure))
        refresh = capacity_refresh(
            checkpoint=checkpoint,
            direction=direction or None,
            dates=local_dates_of_period(starts_at, ends_at),
            actor=actor,
        )
        cancelled = _cancel_inside(closure, inside, actor)
        # Places freed by the cancellations are no longer over the new capacity: only those
        # taken without a booking to cancel still are.
        overbooked = [
            counter
            for counter in SlotCounter.objects.filter(
                pk__in=[counter.pk for counter in refresh.overbooked]
            ).order_by("pk")
            if counter.taken > counter.planned
        ]
    return ClosureCreated(closure=closure, cancelled=cancelled, overbooked=overbooked)


def closure_apply(*, closure: Any, actor: Any) -> list[Booking]:
    """An operator's closure (C3): active bookings inside it are cancelled by the operator, the
    fees refunded and the deposit released, with no strike for the vehicle (D4)."""
    assert isinstance(closure, Closure)
    with transaction.atomic():
        return _cancel_inside(closure, locks.bookings_in_order(_bookings_inside(closure)), actor)


def _bookings_inside(closure: Closure):
    bookings = Booking.objects.filter(
        checkpoint=closure.checkpoint,
        status__in=Booking.ACTIVE,
        slot_start__lt=closure.ends_at,
        slot_end__gt=closure.starts_at,
    )
    if closure.direction:
        bookings = bookings.filter(direction=closure.direction)
    return bookings


def _cancel_inside(closure: Closure, bookings: list[Booking], actor: Any) -> list[Booking]:
    """The bookings inside the closure (locked by the caller) cancelled by the operator."""
    for booking in bookings:
        _cancel_by_operator(
            booking,
            reason=closure.reason,
            deposit_reason=_("Cancelled by the operator: checkpoint closed"),
            actor=actor,
            record={"closure": closure.pk},
        )
    return list(bookings)


def booking_cancel_by_operator(*, booking: Booking, reason: str, actor: Any) -> Booking:
    """An operator cancels one booking with a reason (Q10, as D4): the fees refunded, the
    deposit released, no strike for the vehicle, the carrier told, audited."""
    if not has_role(actor, OPERATORS):
        raise _refuse("forbidden", _("Only operators cancel a booking."), status=403)
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "validation_error",
            _("Write why the booking is cancelled: the carrier is told."),
            fields={"reason": [_("Write the reason.")]},
        )
    with transaction.atomic():
        (booking,) = locks.bookings_in_order(Booking.objects.filter(pk=booking.pk))
        if not booking.is_active:
            raise _not_changeable(
                _("Booking %(number)s is no longer active: it cannot be cancelled.")
                % {"number": booking.number}
            )
        _cancel_by_operator(
            booking,
            reason=reason,
            deposit_reason=_("Cancelled by the operator"),
            actor=actor,
            record={"reason": reason[:200]},
        )
    return booking


def _cancel_by_operator(
    booking: Booking, *, reason: str, deposit_reason: str, actor: Any, record: dict
) -> None:
    """The booking (locked by the caller) cancelled by an operator (D4): its place freed, its
    fees refunded (before the budget transfer at once, after it as a claim on the budget, P4),
    its deposit released, no strike; audited and the carrier told in the same transaction."""
    before = booking.status
    booking.status = Booking.Status.CANCELLED_BY_OPERATOR
    booking.status_changed_at = clock.now()
    booking.save(update_fields=["status", "status_changed_at"])
    slot_release(counter_id=booking.counter_id)
    for fee in Transfer.objects.filter(
        reference_type="booking",
        reference_id=str(booking.pk),
        kind__in=[Transfer.Kind.FEE, Transfer.Kind.REBOOKING_FEE],
    ):
        fee_refund(fee=fee, reason=reason[:200], actor=actor)
    if booking.deposit_hold is not None:
        ledger.hold_release(hold=booking.deposit_hold, reason=deposit_reason, actor=actor)
    audit.record(
        "booking.cancelled_by_operator",
        actor=actor,
        target=booking,
        before={"status": before},
        after={"status": booking.status, **record},
    )
    _notify(booking, "booking_cancelled_by_operator", {"reason": reason})


def _notify(booking: Booking, event: str, extra: dict | None = None) -> None:
    """Tell the carrier (B12) through the outbox, in this transaction."""
    booking_event_notify(booking=booking, event=event, extra=extra)


def booking_notices_queue(bookings: list[Booking], event: str) -> None:
    """Tell the carriers of new `bookings` (B12) through the outbox, in this transaction: one
    booking as `_notify` does, many with the recipients read once per person and carrier."""
    if len(bookings) == 1:
        _notify(bookings[0], event)
    elif bookings:
        bookings_event_notify(bookings=bookings, event=event)
