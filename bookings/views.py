"""The carrier's booking pages: the booking wizard, "My bookings", a booking's page with its QR
code and PDF, adding drivers, rescheduling and cancelling (B1–B11, C4, C5, D1, D3).

Every page works without JavaScript: each step of the wizard is a plain form. With JavaScript
(static/js/partial-forms.js) the same forms are sent in the background and only the wizard part
of the page is replaced; such requests carry the `Kezek-Partial` header and get that part only.
"""

import dataclasses
import datetime as dt
from decimal import Decimal
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from auth2fa.decorators import verified_login_required
from bookings import services
from bookings.driver_links import booking_of_driver_link, driver_link_path, driver_link_url
from bookings.forms import (
    STEPS,
    AddDriversForm,
    BookingWizard,
    DateForm,
    booking_window_dates,
    parse_hour,
)
from bookings.models import Booking, BookingService, CargoCategory
from bookings.pdf import confirmation_pdf, qr_svg_data_uri
from bookings.selectors import (
    booking_of,
    bookings_of,
    cancellation_consequence,
    changes_of,
    deposit_status,
    live_hold_of,
)
from carriers.selectors import membership_of
from checkpoint_queue.predictions import predicted_call_at
from checkpoint_queue.selectors import queue_position
from checkpoints import capacity
from checkpoints.models import Direction
from checkpoints.selectors import active_checkpoints, countries_with_checkpoints, day_grid
from core import clock
from core.errors import ApplicationError
from core.forms import show_refusal
from core.money import format_tenge
from deposits.selectors import available_balance
from fees.models import Service
from fees.selectors import as_charge_refusal, fee_table, quote
from release.models import ReleaseWindow
from release.selectors import window_for
from vehicles.plates import format_plate

PARTIAL_HEADER = "Kezek-Partial"
LOCATION_HEADER = "Kezek-Location"
HOLD_EXPIRED = "hold_expired"
INSUFFICIENT_FUNDS = "insufficient_funds"


def _is_partial(request: HttpRequest) -> bool:
    return bool(request.headers.get(PARTIAL_HEADER))


def _vary(response: HttpResponse) -> HttpResponse:
    """The same address answers with the whole page or its part: caches must keep both apart
    (else Back could show a bare part)."""
    patch_vary_headers(response, [PARTIAL_HEADER])
    return response


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect; for a background request an empty answer naming where to go, so the
    script opens that page itself (a followed redirect would eat its one-time messages)."""
    if _is_partial(request):
        response = HttpResponse(status=204)
        response[LOCATION_HEADER] = url
        return response
    return redirect(url)


# --- The booking wizard ---------------------------------------------------------------------------


@dataclasses.dataclass
class HourCell:
    """One hour of the grid as the pages show it."""

    hour: int
    start: dt.datetime
    end: dt.datetime
    capacity: int
    free: int
    state: str  # free | full | closed | past | soon | later | chosen | booked | held
    bookable: bool


def hour_cells(grid, *, now=None, chosen=None, booked=None, held=None) -> list[HourCell]:
    """The hours of `day_grid` with why an hour cannot be chosen: closed (C3), full, passed,
    too soon or not yet open for booking (C4); `chosen`, `booked` and `held` mark the person's
    own (a held hour can be chosen again: that keeps its hold, which ends when it would have)."""
    now = now or clock.now()
    earliest, latest = capacity.booking_window(now)
    cells = []
    for slot in grid.slots:
        if slot.start == booked:
            state = "booked"
        elif slot.start == chosen:
            state = "chosen"
        elif slot.start == held:
            state = "held"
        elif slot.closed:
            state = "closed"
        elif slot.bookable:
            state = "free"
        elif slot.start <= now:
            state = "past"
        elif slot.start < earliest:
            state = "soon"
        elif slot.start > latest:
            state = "later"
        else:
            state = "full"
        cells.append(
            HourCell(
                hour=slot.start.astimezone(clock.ALMATY).hour,
                start=slot.start,
                end=slot.end,
                capacity=slot.capacity,
                free=slot.free,
                state=state,
                bookable=state in ("free", "held"),
            )
        )
    return cells


def _quota(grid) -> dict | None:
    """The day's quota of a priority service (C2): the same numbers on every open hour."""
    if grid.service == BookingService.REGULAR:
        return None
    open_slots = [slot for slot in grid.slots if not slot.closed]
    if not open_slots:
        return {"capacity": 0, "free": 0}
    return {"capacity": open_slots[0].capacity, "free": open_slots[0].free}


def _day_links(wizard: BookingWizard, base: str, before: str = "hour") -> dict:
    """Links to the day before and after the chosen one, within the booking window."""
    links = {}
    for name, delta in (("previous", -1), ("next", 1)):
        day = wizard.date + dt.timedelta(days=delta)
        if wizard.first_date <= day <= wizard.last_date:
            links[name] = {"date": day, "url": wizard.url(base, before, date=day.isoformat())}
    return links


def _step_titles() -> dict[str, str]:
    return {
        "country": _("Country"),
        "checkpoint": _("Checkpoint"),
        "direction": _("Direction"),
        "service": _("Service"),
        "date": _("Date"),
        "hour": _("Hour"),
        "fleet": _("Vehicle and drivers"),
        "summary": _("Summary and confirmation"),
    }


def _canonical_url(wizard: BookingWizard, base: str) -> str:
    """The address that shows the wizard as it is now (kept in the address bar by the script)."""
    if wizard.step == "fleet" and wizard.edit == "fleet" and wizard.fleet_params():
        return wizard.url(base, "summary", edit="fleet")
    return wizard.url(base, wizard.step)


def _wizard_context(
    request: HttpRequest, wizard: BookingWizard, refusal=None, *, top_up: bool = False
) -> dict:
    base = reverse("booking-new")
    member = wizard.member
    today = clock.local_date(wizard.now)
    context: dict = {
        "wizard": wizard,
        "member": member,
        "refusal": refusal,
        "refusal_top_up": top_up,
        "canonical_url": _canonical_url(wizard, base),
        "hidden": wizard.carried(wizard.step),
    }
    titles = _step_titles()
    steps = []
    for number, (name, _params) in enumerate(STEPS, start=1):
        state = "done" if wizard.is_past(name) else "current" if name == wizard.step else "todo"
        entry = {"name": name, "number": number, "title": titles[name], "state": state}
        if state == "done" and name != "summary":
            entry["change_url"] = (
                wizard.url(base, "summary", edit="fleet")
                if name == "fleet"
                else wizard.url(base, name)
            )
        steps.append(entry)
    context["steps"] = steps
    context.update(_choices(wizard))

    step = wizard.step
    try:
        if step in ("service", "summary"):
            table = fee_table(today)
            context["fees"] = {q.service: q for q in table.quotes}
            context["fee_quotes"] = table.quotes
            context["deposit_quote"] = context["fees"].get(Service.DEPOSIT)
            context["mrp_value"] = table.mrp_value
    except ApplicationError as problem:
        context["refusal"] = context["refusal"] or as_charge_refusal(problem, on=today).message
    if step == "country":
        context["countries"] = [c for c in countries_with_checkpoints() if c.checkpoints.all()]
    elif step == "checkpoint":
        context["checkpoints"] = active_checkpoints(country=wizard.country.code)
    elif step == "direction":
        context["directions"] = Direction.choices
    elif step == "service":
        context["services"] = BookingService.choices
    elif step == "date":
        context["quick_dates"] = wizard.quick_dates()
    elif step == "hour":
        grid = day_grid(
            checkpoint=wizard.checkpoint,
            direction=wizard.direction,
            date=wizard.date,
            service=wizard.service,
            now=wizard.now,
        )
        held = live_hold_of(request.user, now=wizard.now)
        mine = held is not None and (
            (held.checkpoint_id, held.direction, held.service)
            == (wizard.checkpoint.pk, wizard.direction, wizard.service)
        )
        context["cells"] = hour_cells(grid, now=wizard.now, held=held.slot_start if mine else None)
        context["quota"] = _quota(grid)
        context["days"] = _day_links(wizard, base)
        context["draw"] = _draw_of_day(wizard)
        if wizard.hold_lapsed and not refusal:
            context["refusal"] = _(
                "The 15 minutes to confirm have passed and the place was freed. Choose again."
            )
    elif step == "fleet":
        context["fleet_form"] = wizard.fleet_form
    elif step == "summary":
        fee = context["fees"][wizard.service]
        deposit = context["fees"][Service.DEPOSIT]
        required = fee.amount + deposit.amount
        available = available_balance(member.carrier)
        context.update(
            fee=fee,
            deposit=deposit,
            required=required,
            available=available,
            missing=max(required - available, Decimal("0.00")),
        )
    return context


def _draw_of_day(wizard: BookingWizard) -> dict | None:
    """The day's places are given out by a draw that has not taken place yet (F1): the wizard
    says when requests are taken and leads to the request form while they are."""
    window = window_for(wizard.checkpoint, wizard.direction, wizard.date)
    if window is None or window.status != ReleaseWindow.Status.SCHEDULED:
        return None
    return {
        "window": window,
        "is_open": window.is_open(wizard.now),
        "request_url": f"{reverse('release-request-new')}?{urlencode(wizard.carried('hour'))}",
    }


def _choices(wizard: BookingWizard) -> dict:
    """What the steps done show of the choices made."""
    choices: dict = {}
    if wizard.direction:
        choices["direction_label"] = Direction(wizard.direction).label
    if wizard.values.get("cargo_category"):
        choices["cargo_label"] = CargoCategory(wizard.values["cargo_category"][0]).label
        choices["document_number"] = wizard.values["document_number"][0]
    if wizard.slot_start is not None:
        choices["slot_end"] = wizard.slot_start + capacity.SLOT_LENGTH
    if wizard.step == "summary":
        choices["fleet"] = wizard.fleet_form.cleaned_data
    return choices


def _render_wizard(
    request: HttpRequest, wizard: BookingWizard, refusal=None, *, top_up: bool = False
) -> HttpResponse:
    """The wizard at its step; `refusal` above it (with a link to topping up for `top_up`)."""
    context = _wizard_context(request, wizard, refusal, top_up=top_up)
    template = "bookings/_wizard.html" if _is_partial(request) else "bookings/new.html"
    return _vary(render(request, template, context))


def _without(data, *names: str):
    data = data.copy()
    for name in names:
        data.pop(name, None)
    return data


@verified_login_required
@require_http_methods(["GET", "POST"])
def booking_new(request: HttpRequest) -> HttpResponse:
    """Book a passage step by step: country → checkpoint → direction → service → date → hour
    (held for 15 minutes, C5) → vehicle, trailer, drivers → summary → confirm (B1, B8)."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    if not member.can_dispatch:
        return render(request, "bookings/new.html", {"forbidden": True}, status=403)
    if request.method == "GET":
        return _render_wizard(request, BookingWizard(request.GET, member))
    action = request.POST.get("action")
    if action == "hold":
        return _hold(request, member)
    if action == "confirm":
        return _confirm(request, member)
    return _render_wizard(request, BookingWizard(_without(request.POST, "hour"), member))


def _hold(request: HttpRequest, member) -> HttpResponse:
    """An hour was chosen: hold its place for 15 minutes (C5), then ask for the vehicle."""
    wizard = BookingWizard(_without(request.POST, "hour"), member)
    hour = parse_hour(request.POST.get("hour"))
    if wizard.step != "hour" or hour is None:
        return _render_wizard(request, wizard)
    try:
        services.slot_hold_create(
            member=member,
            checkpoint_code=wizard.checkpoint.code,
            direction=wizard.direction,
            service=wizard.service,
            slot_start=capacity.hour_start(wizard.date, hour),
        )
    except ApplicationError as refusal:
        # slot_full, checkpoint_closed, outside_booking_window …: the grid again, refreshed;
        # insufficient_funds (a hold needs the booking's money, C5) with the way to top up.
        return _render_wizard(
            request, wizard, refusal.message, top_up=refusal.code == INSUFFICIENT_FUNDS
        )
    return _go(request, wizard.url(reverse("booking-new"), "summary", hour=str(hour)))


FLEET_FIELDS = {"vehicle": "vehicle", "trailer": "trailer", "drivers": "drivers"}
CARGO_FIELDS = {"cargo_category", "document_number"}


def _confirm(request: HttpRequest, member) -> HttpResponse:
    """Book it with the held place (B8: the fee and the deposit, or nothing)."""
    wizard = BookingWizard(request.POST, member)
    if wizard.step != "summary":
        return _render_wizard(request, wizard)
    fleet = wizard.fleet_form.cleaned_data
    try:
        booking = services.booking_create(
            member=member,
            request=services.BookingRequest(
                checkpoint_code=wizard.checkpoint.code,
                direction=wizard.direction,
                service=wizard.service,
                slot_start=wizard.slot_start,
                vehicle_id=fleet["vehicle"].pk,
                trailer_id=fleet["trailer"].pk if fleet["trailer"] else None,
                driver_ids=[driver.pk for driver in fleet["drivers"]],
                cargo_category=wizard.values.get("cargo_category", [""])[0],
                document_number=wizard.values.get("document_number", [""])[0],
            ),
            hold=wizard.hold,
        )
    except ApplicationError as refusal:
        return _confirm_refused(request, member, refusal)
    messages.success(
        request,
        _("Booking %(number)s is confirmed. Show its QR code at the waiting area.")
        % {"number": booking.number},
    )
    return _go(request, reverse("booking", args=[booking.pk]))


def _confirm_refused(request: HttpRequest, member, refusal: ApplicationError) -> HttpResponse:
    """Show the refusal at the step it concerns, keeping every choice the person made."""
    fields = set(refusal.fields)
    if refusal.code in (HOLD_EXPIRED, "slot_full", "checkpoint_closed", "outside_booking_window"):
        wizard = BookingWizard(_without(request.POST, "hour"), member)
        return _render_wizard(request, wizard, refusal.message)
    if refusal.code in ("active_booking_exists", "driver_limit") or fields & set(FLEET_FIELDS):
        wizard = BookingWizard(request.POST, member, edit="fleet")
        if wizard.step == "fleet":
            show_refusal(wizard.fleet_form, refusal, FLEET_FIELDS)
            return _render_wizard(request, wizard)
    if fields & CARGO_FIELDS:
        wizard = BookingWizard(_without(request.POST, *CARGO_FIELDS), member)
        return _render_wizard(request, wizard, refusal.message)
    # insufficient_funds and the rest: the summary again, with the message.
    return _render_wizard(request, BookingWizard(request.POST, member), refusal.message)


# --- My bookings ----------------------------------------------------------------------------------


@verified_login_required
@require_GET
def bookings(request: HttpRequest) -> HttpResponse:
    """The carrier's bookings: active ones first (soonest first); with ?show=all the others too,
    newest first."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    show_all = request.GET.get("show") == "all"
    active = list(bookings_of(member.carrier, active_only=True).order_by("slot_start", "pk"))
    others = None
    if show_all:
        others = list(bookings_of(member.carrier).exclude(status__in=Booking.ACTIVE)[:500])
    return render(
        request,
        "bookings/list.html",
        {
            "member": member,
            "can_book": member.can_dispatch,
            "active": active,
            "others": others,
            "show_all": show_all,
        },
    )


def _own_booking(member, pk: int) -> Booking:
    booking = booking_of(member.carrier, pk)
    if booking is None:
        raise Http404
    return booking


def _actions(member, booking: Booking) -> dict:
    allowed = member.can_dispatch
    drivers = len(booking.driver_links.all())
    return {
        "can_add_drivers": allowed and booking.is_active and drivers < services.MAX_DRIVERS,
        "can_reschedule": allowed and booking.is_changeable(),
        "can_cancel": allowed and booking.is_changeable(),
    }


@verified_login_required
@require_GET
def booking(request: HttpRequest, pk: int) -> HttpResponse:
    """A booking: its number and QR code (B11), every fact, the money, and what can be done."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    return render(
        request,
        "bookings/detail.html",
        {
            "member": member,
            "booking": booking,
            "qr": qr_svg_data_uri(booking) if booking.is_active else "",
            "driver_link": driver_link_url(booking) if booking.is_active else "",
            "driver_link_path": driver_link_path(booking) if booking.is_active else "",
            "predicted": predicted_call_at(booking),
            "driver_link_qr": (
                segno.make(driver_link_url(booking), error="m").svg_data_uri(scale=3, border=2)
                if booking.is_active
                else ""
            ),
            "drivers": [link.driver for link in booking.driver_links.all()],
            "changes": changes_of(booking),
            "fees_paid": booking.fee_amount + booking.rebooking_fees,
            "deposit_status": deposit_status(booking),
            "can_manage": member.can_dispatch,
            **_actions(member, booking),
        },
    )


@verified_login_required
@require_http_methods(["POST"])
def booking_driver_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the driver link to the booking's drivers by SMS, or make a new one (Q5)."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    refused = _refuse_readers(request, member, booking)
    if refused:
        return refused
    try:
        if request.POST.get("action") == "renew":
            services.driver_link_renew(member=member, booking=booking)
            messages.success(request, _("A new driver link is made: the old one no longer works."))
        else:
            sent = services.driver_link_send(member=member, booking=booking)
            if sent:
                messages.success(
                    request,
                    _("The driver link is sent by SMS to the drivers: %(count)s.")
                    % {"count": sent},
                )
            else:
                messages.info(
                    request,
                    _(
                        "Nothing was sent: the drivers have this link already, or no driver has "
                        "a phone Kezek sends SMS to. Make a new link to send it again."
                    ),
                )
    except ApplicationError as refusal:
        messages.error(request, str(refusal.message))
    return redirect("booking", pk=booking.pk)


@require_GET
def driver_page(request: HttpRequest, number: str, token: str) -> HttpResponse:
    """The driver link's page (Q5): no sign-in, small, refreshing itself every minute; a wrong
    or revoked link is not found."""
    booking = booking_of_driver_link(number, token)
    if booking is None:
        raise Http404
    language = request.GET.get("lang", "")
    if language in dict(settings.LANGUAGES):
        translation.activate(language)
        request.LANGUAGE_CODE = language
    response = render(
        request,
        "bookings/driver.html",
        {
            "booking": booking,
            "position": queue_position(booking),
            "predicted": predicted_call_at(booking),
            "plate": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
            "refresh_seconds": 60,
        },
    )
    # A capability URL: not kept by shared caches, not sent on as a referrer.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@verified_login_required
@require_GET
def booking_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The booking confirmation to print (B11)."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    response = FileResponse(iter([confirmation_pdf(booking)]), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="kezek-{booking.number}.pdf"'
    return response


def _refuse_readers(request: HttpRequest, member, booking: Booking) -> HttpResponse | None:
    if member.can_dispatch:
        return None
    messages.error(request, _("Only the carrier's owner or a dispatcher can change bookings."))
    return redirect("booking", pk=booking.pk)


@verified_login_required
@require_http_methods(["GET", "POST"])
def booking_drivers(request: HttpRequest, pk: int) -> HttpResponse:
    """Add drivers to the booking (B4), up to 3 in all."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    refused = _refuse_readers(request, member, booking)
    if refused:
        return refused
    form = AddDriversForm(
        request.POST if request.method == "POST" else None, carrier=member.carrier, booking=booking
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.booking_add_drivers(
                member=member,
                booking=booking,
                driver_ids=[driver.pk for driver in form.cleaned_data["drivers"]],
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            names = ", ".join(driver.full_name for driver in form.cleaned_data["drivers"])
            messages.success(
                request,
                _("Added to booking %(number)s: %(names)s.")
                % {"number": booking.number, "names": names},
            )
            return redirect("booking", pk=booking.pk)
    return render(
        request,
        "bookings/drivers.html",
        {
            "booking": booking,
            "drivers": [link.driver for link in booking.driver_links.all()],
            "form": form,
            **_actions(member, booking),
        },
    )


@verified_login_required
@require_http_methods(["GET", "POST"])
def booking_reschedule(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the booking to another hour of the same checkpoint, direction and service (B5),
    for the re-booking fee; the person sees the fee before confirming."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    refused = _refuse_readers(request, member, booking)
    if refused:
        return refused
    now = clock.now()
    base = reverse("booking-reschedule", args=[booking.pk])
    data = request.POST if request.method == "POST" else request.GET
    first, last = booking_window_dates(now)
    date_form = DateForm(data if data.get("date") else None, first=first, last=last)
    day = date_form.cleaned_data["date"] if date_form.is_valid() else None
    hour = parse_hour(data.get("hour")) if day else None
    new_start = capacity.hour_start(day, hour) if hour is not None else None
    refusal = None
    if not booking.is_changeable():
        refusal = _("A booking can be rescheduled only while confirmed and before its slot starts.")
    elif request.method == "POST" and new_start is not None:
        try:
            services.booking_reschedule(member=member, booking=booking, slot_start=new_start)
        except ApplicationError as problem:
            refusal = problem.message
            new_start = None
        else:
            messages.success(
                request,
                _("Booking %(number)s is moved to %(slot)s.")
                % {"number": booking.number, "slot": _slot_text(new_start)},
            )
            return _go(request, reverse("booking", args=[booking.pk]))
    context = {
        "booking": booking,
        "date_form": date_form,
        "day": day,
        "new_start": new_start,
        "new_end": new_start + capacity.SLOT_LENGTH if new_start else None,
        "refusal": refusal,
        "changeable": booking.is_changeable(),
        "quick_dates": [first + dt.timedelta(days=n) for n in range(7) if n <= (last - first).days],
        "base": base,
        "canonical_url": _reschedule_url(base, day, hour if new_start else None),
    }
    if day is not None and context["changeable"]:
        grid = day_grid(
            checkpoint=booking.checkpoint,
            direction=booking.direction,
            date=day,
            service=booking.service,
            now=now,
        )
        context["cells"] = hour_cells(grid, now=now, chosen=new_start, booked=booking.slot_start)
        context["quota"] = _quota(grid)
        context["days"] = {
            name: {"date": other, "url": _reschedule_url(base, other)}
            for name, other in (
                ("previous", day - dt.timedelta(days=1)),
                ("next", day + dt.timedelta(days=1)),
            )
            if first <= other <= last
        }
    if new_start is not None:
        try:
            context["fee"] = quote(Service.REBOOKING, on=clock.local_date(now))
        except ApplicationError as problem:
            context["refusal"] = as_charge_refusal(problem, on=clock.local_date(now)).message
        else:
            context["available"] = available_balance(member.carrier)
            context["missing"] = max(context["fee"].amount - context["available"], Decimal("0.00"))
    template = "bookings/_reschedule.html" if _is_partial(request) else "bookings/reschedule.html"
    return _vary(render(request, template, context))


def _reschedule_url(base: str, day: dt.date | None, hour: int | None = None) -> str:
    if day is None:
        return base
    url = f"{base}?date={day.isoformat()}"
    return url if hour is None else f"{url}&hour={hour}"


def _slot_text(start: dt.datetime) -> str:
    local = start.astimezone(clock.ALMATY)
    end = local + capacity.SLOT_LENGTH
    return f"{local:%d.%m.%Y %H:%M}–{end:%H:%M}"


@verified_login_required
@require_http_methods(["GET", "POST"])
def booking_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first, spelling out what happens to the deposit (D3) and that the fee stays paid
    (B9); then cancels."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = _own_booking(member, pk)
    refused = _refuse_readers(request, member, booking)
    if refused:
        return refused
    if request.method == "POST":
        try:
            services.booking_cancel(member=member, booking=booking)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        else:
            cancelled = booking_of(member.carrier, booking.pk)
            outcome = deposit_status(cancelled)
            hold = cancelled.deposit_hold
            amount = hold.amount if hold else Decimal("0.00")
            if outcome == "forfeited":
                text = _(
                    "Booking %(number)s is cancelled. The deposit of %(amount)s is forfeited to "
                    "the state budget."
                )
            else:
                text = _(
                    "Booking %(number)s is cancelled. The deposit of %(amount)s is released to "
                    "your available balance."
                )
            messages.success(
                request, text % {"number": booking.number, "amount": format_tenge(amount)}
            )
        return redirect("booking", pk=booking.pk)
    return render(
        request,
        "bookings/cancel.html",
        {
            "booking": booking,
            "changeable": booking.is_changeable(),
            "consequence": cancellation_consequence(booking=booking),
            "fees_paid": booking.fee_amount + booking.rebooking_fees,
            "deposit": booking.deposit_hold.amount if booking.deposit_hold else Decimal("0.00"),
        },
    )
