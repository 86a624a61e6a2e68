"""Pages of fair release: the public page of a draw (F6), the request form (F2) and a carrier's
own requests with their ranks and the waitlist (F7)."""

import datetime as dt

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from auth2fa.decorators import verified_login_required
from bookings.forms import CargoForm, FleetForm
from bookings.models import BookingService
from bookings.selectors import active_bookings_by_vin
from carriers.selectors import membership_of
from checkpoints import capacity
from checkpoints.models import Direction
from checkpoints.selectors import active_checkpoints
from core import clock
from core.clock import ALMATY
from core.errors import ApplicationError
from core.forms import show_refusal
from deposits.selectors import available_balance
from fees.models import Service
from fees.selectors import fee_table
from release import selectors, services
from release.draw import carrier_hash, verify_document
from release.forms import HoursForm
from release.models import ReleaseRequest
from release.notices import request_number


@require_GET
def draw_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Anyone can check a draw (F6): C, R, the secret, the seed, each request's rank and outcome,
    and whether recomputing it from these alone gives the same."""
    window = selectors.windows_public().filter(pk=pk).first()
    if window is None:
        raise Http404
    document = selectors.draw_document(window)
    verdict = verify_document(document) if "secret" in document else None
    requests = sorted(document.get("requests", []), key=lambda r: r["rank"])
    return render(
        request,
        "release/draw.html",
        {"window": window, "document": document, "verdict": verdict, "requests": requests},
    )


@verified_login_required
def my_requests(request: HttpRequest) -> HttpResponse:
    """The carrier's requests with their rank and outcome, and the hash to find each on the
    draw's public page."""
    member = membership_of(request.user)
    if member is None:
        raise Http404
    now = clock.now()
    rows = [
        {
            "request": row,
            "number": request_number(row.pk),
            "carrier_hash": carrier_hash(row.pk, row.salt),
            "on_waitlist": selectors.is_waiting(row),
            "can_withdraw": row.status == ReleaseRequest.Status.LIVE and row.window.is_open(now),
        }
        for row in selectors.requests_of(member.carrier)[:200]
    ]
    return render(
        request,
        "release/requests.html",
        {"rows": rows, "can_change": member.can_dispatch},
    )


@verified_login_required
@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a request inside its window, or take it off the waitlist after the draw."""
    member = membership_of(request.user)
    found = None if member is None else selectors.requests_of(member.carrier).filter(pk=pk).first()
    if found is None:
        raise Http404
    waiting = selectors.is_waiting(found)
    try:
        services.request_withdraw(member=member, request=found)
    except ApplicationError as refusal:
        messages.error(request, refusal.message)
    else:
        number = request_number(found.pk)
        messages.success(
            request,
            _("Request %(number)s is off the waitlist.") % {"number": number}
            if waiting
            else _("Request %(number)s is withdrawn.") % {"number": number},
        )
    return redirect("release-requests")


@verified_login_required
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    """A request for a day whose places the draw gives out (F2): the booking wizard's choices
    (checkpoint, direction, service, day) come in the address; the carrier chooses the hours it
    accepts, the vehicle and the drivers. Says when the draw is and what happens after it."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    if not member.can_dispatch:
        raise Http404
    data = request.POST if request.method == "POST" else request.GET
    checkpoint = active_checkpoints().filter(code=data.get("checkpoint", "")).first()
    direction = data.get("direction", "")
    service = data.get("service", "")
    try:
        day = dt.date.fromisoformat(data.get("date", ""))
    except ValueError:
        day = None
    if (
        checkpoint is None
        or direction not in Direction.values
        or service not in BookingService.values
        or day is None
    ):
        return redirect("booking-new")
    cargo = CargoForm(data) if service == BookingService.OUT_OF_TURN else None
    if cargo is not None and not cargo.is_valid():
        return redirect("booking-new")
    window = selectors.window_for(checkpoint, direction, day)
    now = clock.now()
    plan = capacity.plan_of_day(checkpoint=checkpoint, direction=direction, date=day)
    open_hours = [hour for hour in plan.hours if plan.is_open(hour)]
    booked = active_bookings_by_vin(member.carrier, country=checkpoint.country_id)
    posted = request.method == "POST"
    hours_form = HoursForm(data if posted else None, hours=open_hours)
    fleet_form = FleetForm(data if posted else None, carrier=member.carrier, booked=booked)
    is_open = window is not None and window.is_open(now)
    # Both forms checked, so every problem shows at once.
    valid = posted and all([hours_form.is_valid(), fleet_form.is_valid()])
    if valid and is_open:
        fleet = fleet_form.cleaned_data
        try:
            made = services.request_create(
                member=member,
                data=services.RequestInput(
                    checkpoint_code=checkpoint.code,
                    direction=direction,
                    day=day,
                    service=service,
                    hours=hours_form.cleaned_data["hours"],
                    vehicle_id=fleet["vehicle"].pk,
                    trailer_id=fleet["trailer"].pk if fleet["trailer"] else None,
                    driver_ids=[driver.pk for driver in fleet["drivers"]],
                    cargo_category=cargo.cleaned_data["cargo_category"] if cargo else "",
                    document_number=cargo.cleaned_data["document_number"] if cargo else "",
                ),
            )
        except ApplicationError as refusal:
            show_refusal(fleet_form, refusal, {"vehicle": "vehicle", "trailer": "trailer"})
        else:
            messages.success(
                request,
                _(
                    "Request %(number)s is placed. The draw is at %(time)s; you will be told "
                    "its outcome by SMS or Telegram."
                )
                % {
                    "number": request_number(made.pk),
                    "time": window.closes_at.astimezone(ALMATY).strftime("%d.%m.%Y %H:%M"),
                },
            )
            return redirect("release-requests")
    table = fee_table(clock.local_date(now))
    fees = {quote.service: quote for quote in table.quotes}
    required = fees[service].amount + fees[Service.DEPOSIT].amount
    return render(
        request,
        "release/request_new.html",
        {
            "checkpoint": checkpoint,
            "direction_label": Direction(direction).label,
            "service": service,
            "day": day,
            "window": window,
            "is_open": is_open,
            "hours_form": hours_form,
            "fleet_form": fleet_form,
            "carried": [
                ("checkpoint", checkpoint.code),
                ("direction", direction),
                ("service", service),
                ("date", day.isoformat()),
                *(
                    [(name, cargo.cleaned_data[name]) for name in CargoForm.base_fields]
                    if cargo
                    else []
                ),
            ],
            "required": required,
            "available": available_balance(member.carrier),
        },
    )
