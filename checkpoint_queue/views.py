"""Pages at the checkpoint: the staff screen (Q1–Q3, D2) and the public live board (Q4).

The staff screen calls the same services as the admin and the plate cameras. It has no control
that picks a vehicle to call or changes anyone's place: "Call next" takes the next vehicles of a
direction in the order of Q2 (Q3).
"""

import json

from django import forms
from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from auth2fa.decorators import verified_login_required
from bookings.models import Booking, RefusalReason
from checkpoint_queue import board as boards
from checkpoint_queue import offline, selectors, services
from checkpoints.models import Checkpoint, Direction
from checkpoints.public_reads import public_checkpoint
from checkpoints.selectors import checkpoints_of_staff
from core import clock
from core.errors import ApplicationError
from vehicles.plates import format_plate

MAX_CALL = 20


class SearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Booking number or plate"),
        help_text=gettext_lazy("Type it, or scan the QR code of the booking confirmation."),
        max_length=60,
        required=False,
        widget=forms.TextInput(
            # A scanner types into the focused field: the text is selected so a scan replaces it.
            attrs={
                "autocomplete": "off",
                "autofocus": True,
                "spellcheck": "false",
                "data-select-on-load": True,
            }
        ),
    )


class CallForm(forms.Form):
    direction = forms.ChoiceField(choices=Direction.choices)
    count = forms.IntegerField(
        label=gettext_lazy("How many"), min_value=1, max_value=MAX_CALL, initial=1
    )


def _staff_only(request: HttpRequest) -> None:
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied


def _plate(booking) -> str:
    return format_plate(booking.vehicle_plate, booking.vehicle.registration_country)


@verified_login_required
def staff_checkpoints(request: HttpRequest) -> HttpResponse:
    """The checkpoints where the person works (A5), each with its screen and its board."""
    _staff_only(request)
    checkpoints = checkpoints_of_staff(request.user).select_related("country")
    return render(
        request,
        "checkpoint_queue/staff_list.html",
        {"checkpoints": checkpoints.order_by("country_id", "name_en")},
    )


@verified_login_required
def staff_checkpoint(request: HttpRequest, code: str) -> HttpResponse:
    """One checkpoint's screen: find a booking, mark it arrived, call the next vehicles, mark
    them crossed. Only at the person's own checkpoints (A5): any other is refused (403)."""
    _staff_only(request)
    checkpoint = get_object_or_404(Checkpoint, code=code.upper())
    if not checkpoints_of_staff(request.user).filter(pk=checkpoint.pk).exists():
        raise PermissionDenied(_("You do not work at this checkpoint."))
    if request.method == "POST":
        _act(request, checkpoint)
        url = reverse("staff-checkpoint", args=[checkpoint.code])
        text = request.POST.get("q", "").strip()
        return redirect(f"{url}?{urlencode({'q': text})}" if text else url)

    search_form = SearchForm(request.GET or None)
    search = None
    if search_form.is_valid() and search_form.cleaned_data["q"]:
        search = selectors.staff_search(checkpoint=checkpoint, text=search_form.cleaned_data["q"])
        for booking in search.bookings:
            booking.plate = _plate(booking)
            booking.window_opens, booking.window_closes = booking.check_in_window
    now = clock.now()
    sides = selectors.waiting_area(checkpoint=checkpoint, now=now)
    for side in sides:
        for booking in side.waiting + side.called:
            booking.plate = _plate(booking)
    return render(
        request,
        "checkpoint_queue/staff_checkpoint.html",
        {
            "checkpoint": checkpoint,
            "search_form": search_form,
            "search": search,
            "query": search.text if search else "",
            "sides": sides,
            "now": now,
            "max_call": MAX_CALL,
            "refusal_reasons": RefusalReason.choices,
            "parked": list(offline.parked_events(checkpoint)[:50]),
        },
    )


def _act(request: HttpRequest, checkpoint: Checkpoint) -> None:
    """One staff action through the booking services; every refusal becomes a message."""
    action = request.POST.get("action")
    try:
        if action == "call":
            form = CallForm(request.POST)
            if not form.is_valid():
                messages.error(
                    request, _("Call from 1 to %(max)s vehicles at a time.") % {"max": MAX_CALL}
                )
                return
            direction = form.cleaned_data["direction"]
            called = services.queue_call_next(
                checkpoint=checkpoint,
                direction=direction,
                actor=request.user,
                count=form.cleaned_data["count"],
            )
            _say_called(request, called, Direction(direction).label)
            return
        if action not in ("arrived", "crossed", "document", "refuse", "undo"):
            messages.error(request, _("Choose what to do."))
            return
        booking = get_object_or_404(
            Booking.objects.select_related("vehicle", "checkpoint"),
            pk=_int(request.POST.get("booking")),
            checkpoint=checkpoint,
        )
        before = booking.status
        if action == "undo":
            services.booking_undo_last_step(booking=booking, actor=request.user)
            booking.refresh_from_db()
            messages.success(
                request,
                _("Your last step on booking %(number)s is undone: it is %(status)s again.")
                % {"number": booking.number, "status": booking.get_status_display().lower()},
            )
            return
        if action == "refuse":
            booking = services.booking_refuse(
                booking=booking,
                reason=request.POST.get("reason", ""),
                note=request.POST.get("note", ""),
                actor=request.user,
            )
            messages.success(
                request,
                _("%(plate)s (booking %(number)s) is refused: %(reason)s.")
                % {
                    "plate": _plate(booking),
                    "number": booking.number,
                    "reason": booking.get_refusal_reason_display(),
                },
            )
            return
        if action == "document":
            booking = services.booking_document_check(booking=booking, actor=request.user)
            messages.success(
                request,
                _("The document %(document)s of booking %(number)s is recorded as checked.")
                % {"document": booking.document_number, "number": booking.number},
            )
            return
        if action == "arrived":
            booking = services.booking_mark_arrived(booking=booking, actor=request.user)
            if before == booking.status:
                messages.info(
                    request,
                    _("Booking %(number)s is already %(status)s.")
                    % {"number": booking.number, "status": booking.get_status_display().lower()},
                )
            else:
                messages.success(
                    request,
                    _("%(plate)s (booking %(number)s) is in the waiting area.")
                    % {"plate": _plate(booking), "number": booking.number},
                )
        else:
            booking = services.booking_mark_crossed(booking=booking, actor=request.user)
            if before == booking.status:
                messages.info(
                    request,
                    _("Booking %(number)s has already crossed.") % {"number": booking.number},
                )
            else:
                messages.success(
                    request,
                    _(
                        "%(plate)s (booking %(number)s) crossed the border; the deposit is "
                        "released to the carrier."
                    )
                    % {"plate": _plate(booking), "number": booking.number},
                )
    except ApplicationError as refusal:
        messages.error(request, str(refusal.message))


def _say_called(request: HttpRequest, called: list, direction_label: str) -> None:
    names = ", ".join(
        f"{_plate(booking)} ({booking.number})"
        for booking in _with_vehicles(called)  # the services return bookings without them
    )
    messages.success(
        request,
        ngettext(
            "Called forward (%(direction)s): %(vehicles)s.",
            "Called forward (%(direction)s), in this order: %(vehicles)s.",
            len(called),
        )
        % {"direction": direction_label, "vehicles": names},
    )


def _with_vehicles(bookings: list) -> list:
    by_pk = Booking.objects.select_related("vehicle").in_bulk([booking.pk for booking in bookings])
    return [by_pk[booking.pk] for booking in bookings]


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


@require_GET
def board(request: HttpRequest, code: str) -> HttpResponse:
    """The public live board (Q4), made for a large screen in the waiting area; it re-reads
    itself every 30 seconds (static/js/live-refresh.js, or a refresh without script)."""
    checkpoint = public_checkpoint(code)
    if checkpoint is None:
        raise Http404
    board = boards.public_board(checkpoint).value
    return render(request, "checkpoint_queue/board.html", {"board": board, "refresh_seconds": 30})


# --- The staff screen as an installable app that works offline (O2, docs/offline.md) ----------


def _own_checkpoint(request: HttpRequest, code: str) -> Checkpoint:
    _staff_only(request)
    checkpoint = get_object_or_404(Checkpoint, code=code.upper())
    if not checkpoints_of_staff(request.user).filter(pk=checkpoint.pk).exists():
        raise PermissionDenied(_("You do not work at this checkpoint."))
    return checkpoint


@verified_login_required
def staff_offline_app(request: HttpRequest, code: str) -> HttpResponse:
    """The staff screen that works without the portal (O2): it keeps the checkpoint's signed
    manifest in the browser (IndexedDB), verifies it (WebCrypto Ed25519), finds bookings by QR
    code or plate, marks arrivals, calls in Q2 order computed from the manifest, marks
    crossings and refusals, and keeps every event until the portal has it (O3). The service
    worker keeps this page for when the network is gone."""
    checkpoint = _own_checkpoint(request, code)
    return render(
        request,
        "checkpoint_queue/offline_app.html",
        {
            "checkpoint": checkpoint,
            "directions": Direction.choices,
            "refusal_reasons": RefusalReason.choices,
            "texts": _offline_app_texts(),
            "device_name": _("Staff screen of %(person)s") % {"person": request.user.full_name},
        },
    )


def _offline_app_texts() -> dict[str, str]:
    """What the offline screen's script says, in the page's language."""
    return {
        "online": _("Online"),
        "offline": _("Offline: working from the manifest kept on this device"),
        "no_manifest": _("No manifest on this device yet: connect to the portal once."),
        "manifest": _(
            "Manifest no. %(sequence)s of %(issued)s (%(minutes)s min old), %(count)s bookings"
        ),
        "pending": _("%(count)s events wait to be sent to the portal"),
        "pending_none": _("Every event has reached the portal"),
        "parked": _("%(count)s events were parked by the portal for a person to settle"),
        "refused_signature": _(
            "A manifest was refused: its signature does not verify. The last good one is kept."
        ),
        "refused_key": _(
            "A manifest was refused: it is signed by a key this screen does not accept. The "
            "last good one is kept."
        ),
        "refused_other": _(
            "A manifest was refused: it is not this checkpoint's. The last good one is kept."
        ),
        "no_webcrypto": _(
            "This browser cannot verify manifests (no Ed25519 in WebCrypto): use a current "
            "Chromium, Chrome or Edge."
        ),
        "signed_out": _(
            "The portal wants you to sign in again before it takes the events: they are kept "
            "on this device."
        ),
        "not_found": _("No booking in the manifest matches “%(text)s”."),
        "window": _("Check-in for %(number)s is open from %(opens)s to %(closes)s."),
        "arrived": _("%(plate)s (%(number)s) is in the waiting area."),
        "called": _("Called forward: %(plate)s (%(number)s)."),
        "crossed": _("%(plate)s (%(number)s) crossed the border."),
        "refused": _("%(plate)s (%(number)s) is refused."),
        "queue_empty": _("No vehicle in the waiting area is due yet."),
        "mark_arrived": _("Mark arrived"),
        "mark_crossed": _("Mark crossed"),
        "refuse": _("Refuse the vehicle"),
        "note": _("Note (needed for “Other”)"),
        "note_needed": _("Write why the vehicle is refused."),
        "waiting_none": _("Nobody is waiting."),
        "called_none": _("No vehicle is on its way to the checkpoint."),
        "not_yet": _("not yet"),
        "status_confirmed": _("Confirmed"),
        "status_arrived": _("In the waiting area"),
        "status_called": _("Called forward"),
        "status_crossed": _("Crossed the border"),
        "status_refused": _("Refused at the checkpoint"),
        "status_cancelled": _("Cancelled"),
        "status_cancelled_by_operator": _("Cancelled by the operator"),
        "status_no_show": _("No-show"),
        "status_not_crossed": _("Did not cross"),
        "not_sent": _("not yet sent"),
        "driver": _("Driver %(name)s, %(country)s, %(number)s"),
        "trailer": _("Trailer %(plate)s"),
        "document": _("Out-of-turn document %(number)s"),
        "scan_unsupported": _("This browser cannot read QR codes with the camera."),
    }


@require_GET
@cache_control(max_age=3600)
def staff_app_manifest(request: HttpRequest, code: str) -> HttpResponse:
    """The web app manifest of a checkpoint's offline staff screen (installable, O2). Public:
    it names the checkpoint and the page, nothing more (the page itself needs a sign-in)."""
    checkpoint = get_object_or_404(Checkpoint, code=code.upper())
    start = reverse("staff-offline-app", args=[checkpoint.code])
    document = {
        "name": f"Kezek {checkpoint.name_en}",
        "short_name": f"Kezek {checkpoint.code}",
        "id": start,
        "start_url": start,
        "scope": reverse("staff-checkpoints"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0e5e7a",
        "icons": [
            {"src": static("img/staff-app-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("img/staff-app-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    return HttpResponse(json.dumps(document), content_type="application/manifest+json")


@require_GET
def staff_service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker of the offline staff screen (O2), served from /staff/checkpoints/ so
    that its scope covers every checkpoint's screen. Its code is static/js/offline-sw.js."""
    path = finders.find("js/offline-sw.js")
    with open(path, encoding="utf-8") as source:
        code = source.read()
    response = HttpResponse(code, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
