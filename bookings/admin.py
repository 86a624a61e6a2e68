"""Bookings in the admin: read-only, scoped to the person's checkpoints (A5).

Every field is read-only: a booking changes only through its services. The actions mark the
selected bookings arrived (Q1) or crossed (D2), and call the next vehicles (Q2) of the
checkpoints and directions of the selection — the next in the queue's order, never the selected
rows themselves (Q3). Every action is audited by the services with who did it.
"""

import contextlib

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from auth2fa.roles import OPERATORS, has_role
from bookings import services
from bookings.models import Booking, booking_pk_from_number
from checkpoint_queue import services as queue_services
from checkpoint_queue.selectors import plate_of_device_text
from checkpoints import capacity
from checkpoints.admin import CapacityRefreshingAdmin, warn_overbooked
from checkpoints.models import Checkpoint, Closure, Direction
from checkpoints.selectors import checkpoints_of_staff
from core.admin import CheckpointScopedAdmin
from core.errors import ApplicationError
from vehicles.plates import format_plate


class OperatorCancellationForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (the carrier is told)"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(Booking)
class BookingAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    checkpoint_field = "checkpoint"
    change_list_template = "checkpoints/admin_booking_change_list.html"
    list_display = [
        "number_display",
        "plate_display",
        "checkpoint",
        "direction",
        "service",
        "slot_start",
        "status",
    ]
    list_filter = [
        "status",
        "direction",
        "service",
        ("checkpoint", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["checkpoint", "vehicle"]
    search_fields = ["vehicle_plate", "trailer_plate", "vehicle_vin", "trailer_vin"]
    search_help_text = gettext_lazy("Booking number (K-0001234-5), plate or VIN.")
    date_hierarchy = "slot_start"
    ordering = ["-slot_start", "-pk"]
    actions = ["mark_arrived", "call_next", "mark_crossed", "cancel_by_operator"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number_display",
                    "status",
                    "staff_screen",
                    "checkpoint",
                    "direction",
                    "service",
                    ("slot_start", "slot_end"),
                    ("cargo_category", "document_number"),
                    ("document_checked_at", "document_checked_by"),
                ]
            },
        ),
        (
            gettext_lazy("Vehicle"),
            {
                "fields": [
                    ("vehicle_plate", "vehicle_vin"),
                    ("trailer_plate", "trailer_vin"),
                    "drivers_display",
                ]
            },
        ),
        (
            gettext_lazy("At the checkpoint"),
            {
                "fields": [
                    ("arrived_at", "arrived_by"),
                    ("called_at", "called_by"),
                    ("crossed_at", "crossed_by"),
                    ("refused_at", "refused_by"),
                    ("refusal_reason", "refusal_note"),
                    "status_changed_at",
                ]
            },
        ),
        (
            gettext_lazy("Booking"),
            {"fields": ["carrier", "created_by", "created_at", "fee_amount", "deposit_hold"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for line in self._field_names() for name in line]

    def _field_names(self):
        for _title, options in self.fieldsets:
            for entry in options["fields"]:
                yield entry if isinstance(entry, tuple) else (entry,)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        """A booking number (typed, or what a QR scanner types) finds that booking."""
        pk = booking_pk_from_number(search_term)
        if pk is not None:
            return queryset.filter(pk=pk), False

        with contextlib.suppress(ApplicationError):  # not a plate: searched as typed
            search_term = plate_of_device_text(search_term)
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=gettext_lazy("number"), ordering="pk")
    def number_display(self, booking):
        return booking.number

    @admin.display(description=gettext_lazy("vehicle plate"), ordering="vehicle_plate")
    def plate_display(self, booking):
        return format_plate(booking.vehicle_plate, booking.vehicle.registration_country)

    @admin.display(description=gettext_lazy("staff screen"))
    @admin.display(description=gettext_lazy("Drivers"))
    def drivers_display(self, booking):
        """Name, citizenship and the IIN (or passport) masked but for 4 characters (Q9)."""
        links = booking.driver_links.select_related("driver").order_by("added_at", "pk")
        return "; ".join(
            f"{link.driver.full_name}, {link.driver.citizenship}, {link.driver.identity_masked}"
            for link in links
        )

    def staff_screen(self, booking):
        url = reverse("staff-checkpoint", args=[booking.checkpoint.code])
        return format_html(
            '<a href="{}?q={}">{}</a>', url, booking.number, _("Open the checkpoint's screen")
        )

    # --- Actions: each calls the services, which check the person's checkpoints (A5) -------

    def has_queue_permission(self, request) -> bool:
        """People who work at a checkpoint (staff there, operators, superusers); not auditors."""
        return checkpoints_of_staff(request.user).exists()

    def _each(self, request, queryset, mark, done_message):
        done = 0
        for booking in queryset.select_related("checkpoint").order_by("pk"):
            try:
                mark(booking=booking, actor=request.user)
            except ApplicationError as refusal:
                self.message_user(request, str(refusal.message), messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(
        description=gettext_lazy("Mark arrived in the waiting area"), permissions=["queue"]
    )
    def mark_arrived(self, request, queryset):
        self._each(
            request,
            queryset,
            queue_services.booking_mark_arrived,
            _("Bookings in the waiting area (or already there): %(count)s."),
        )

    @admin.action(
        description=gettext_lazy(
            "Call the next vehicle of the selected bookings' checkpoint and direction (queue order)"
        ),
        permissions=["queue"],
    )
    def call_next(self, request, queryset):
        """One vehicle per checkpoint and direction of the selection, the next in Q2 order:
        which rows are selected says where to call, never whom (Q3)."""
        places = sorted(
            set(queryset.values_list("checkpoint__code", "checkpoint", "direction")),
        )
        checkpoints = Checkpoint.objects.in_bulk([pk for _code, pk, _direction in places])
        for _code, checkpoint_pk, direction in places:
            checkpoint = checkpoints[checkpoint_pk]
            try:
                called = queue_services.queue_call_next(
                    checkpoint=checkpoint, direction=direction, actor=request.user
                )
            except ApplicationError as refusal:
                self.message_user(
                    request,
                    f"{checkpoint.name}, {Direction(direction).label}: {refusal.message}",
                    messages.ERROR,
                )
                continue
            for booking in called:
                self.message_user(
                    request,
                    _("Called forward at %(checkpoint)s (%(direction)s): %(number)s, %(plate)s.")
                    % {
                        "checkpoint": checkpoint.name,
                        "direction": booking.get_direction_display(),
                        "number": booking.number,
                        "plate": booking.vehicle_plate,
                    },
                    messages.SUCCESS,
                )

    @admin.action(description=gettext_lazy("Mark crossed the border"), permissions=["queue"])
    def mark_crossed(self, request, queryset):
        self._each(
            request,
            queryset,
            queue_services.booking_mark_crossed,
            _("Bookings crossed (or already crossed), deposits released: %(count)s."),
        )

    def has_operator_permission(self, request) -> bool:
        return has_role(request.user, OPERATORS)

    @admin.action(
        description=gettext_lazy("Cancel the booking (operator), with a reason"),
        permissions=["operator"],
    )
    def cancel_by_operator(self, request, queryset):
        """An intermediate page lists the active bookings and asks for the reason; applying it
        cancels each through the service (Q10, as D4)."""
        bookings = list(queryset.select_related("checkpoint").order_by("pk"))
        active = [booking for booking in bookings if booking.is_active]
        form = OperatorCancellationForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for booking in active:
                try:
                    services.booking_cancel_by_operator(
                        booking=booking, reason=form.cleaned_data["reason"], actor=request.user
                    )
                except ApplicationError as refusal:
                    refused = f"{booking.number}: {refusal.message}"
                    self.message_user(request, refused, messages.ERROR)
                else:
                    done += 1
            if done:
                self.message_user(
                    request,
                    _(
                        "Bookings cancelled by the operator, fees refunded, deposits released: "
                        "%(count)s."
                    )
                    % {"count": done},
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Cancel bookings (operator)"),
            "opts": self.opts,
            "bookings": bookings,
            "active": active,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/bookings/booking/cancel_by_operator.html", context)

    def changelist_view(self, request, extra_context=None):
        screens = checkpoints_of_staff(request.user).order_by("country_id", "name_en")
        extra_context = {**(extra_context or {}), "staff_screens": screens}
        return super().changelist_view(request, extra_context)


@admin.register(Closure)
class ClosureAdmin(CheckpointScopedAdmin, CapacityRefreshingAdmin):
    """A checkpoint (one direction or both) closed for a period (C3): its hours take no
    bookings. Saving it cancels the bookings already made inside it (C3, D4), which is why it is
    registered here, with the bookings, and not with the checkpoints below them.
    Checkpoint staff see the closures of their own checkpoints."""

    list_display = ["checkpoint", "direction", "starts_at", "ends_at", "reason", "created_by"]
    list_filter = ["direction", ("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["checkpoint", "created_by"]
    search_fields = ["checkpoint__code", "checkpoint__name_en", "reason"]
    autocomplete_fields = ["checkpoint"]
    readonly_fields = ["created_by", "created_at"]
    date_hierarchy = "starts_at"

    def counter_scopes(self, obj) -> list[tuple]:
        dates = capacity.local_dates_of_period(obj.starts_at, obj.ends_at)
        return [(obj.checkpoint, obj.direction or None, dates)]

    def save_model(self, request, obj, form, change):
        if change:
            # A closure moved or widened: the counters of its old and new days follow, and the
            # bookings now inside it are cancelled as for a new one.
            super().save_model(request, obj, form, change)
            cancelled = services.closure_apply(closure=obj, actor=request.user)
        else:
            try:
                created = services.closure_create(
                    checkpoint=obj.checkpoint,
                    direction=obj.direction,
                    starts_at=obj.starts_at,
                    ends_at=obj.ends_at,
                    reason=obj.reason,
                    actor=request.user,
                )
            except ApplicationError as refusal:
                # The form has checked the rest; what is left is who may close a checkpoint.
                raise PermissionDenied(str(refusal.message)) from refusal
            # The admin goes on with the object it gave: it becomes the closure made.
            obj.pk, obj.created_by, obj.created_at = (
                created.closure.pk,
                created.closure.created_by,
                created.closure.created_at,
            )
            cancelled = created.cancelled
            warn_overbooked(request, created.overbooked)
        if cancelled:
            self.message_user(
                request,
                ngettext(
                    "%(count)s booking inside the closure was cancelled; its fees are refunded "
                    "and its deposit released.",
                    "%(count)s bookings inside the closure were cancelled; their fees are "
                    "refunded and their deposits released.",
                    len(cancelled),
                )
                % {"count": len(cancelled)},
                messages.WARNING,
            )
