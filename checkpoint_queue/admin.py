"""Working through an outage in the admin (O3, O4; docs/offline.md): the events checkpoint devices
delivered (the parked ones with both versions, settled by a person), the devices of each
checkpoint and when they last reported, and the bookings the no-show sweep holds back for them,
which operators settle by hand when the devices are not coming back. Checkpoint staff see their
own checkpoints' rows (A5)."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from bookings.admin import BookingAdmin
from bookings.services import no_show_settle_by_hand, no_shows_held_back
from checkpoint_queue import offline
from checkpoint_queue.models import HeldBackBooking, OfflineEvent
from checkpoints.models import DeviceReport
from core import audit, clock
from core.admin import CheckpointScopedAdmin
from core.errors import ApplicationError


class SettleForm(forms.ModelForm):
    settle = forms.CharField(
        label=gettext_lazy("How it was settled"),
        help_text=gettext_lazy(
            "E.g. “The carrier confirmed the truck crossed; booking cancelled by the operator”. "
            "The event then leaves the list of parked events."
        ),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    class Meta:
        model = OfflineEvent
        fields = []


@admin.register(OfflineEvent)
class OfflineEventAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    """Every event a device delivered, with what became of it. A parked one shows both versions
    (the device's event and status, the portal's status and booking) until a person writes how
    it was settled."""

    form = SettleForm
    list_display = [
        "booking_number",
        "kind",
        "occurred_at",
        "received_at",
        "outcome",
        "device_status",
        "portal_status",
        "detail",
        "checkpoint",
    ]
    list_filter = ["outcome", "kind", ("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["checkpoint"]
    search_fields = ["booking_number", "event_id"]
    date_hierarchy = "occurred_at"
    ordering = ["-received_at", "-pk"]
    readonly_fields = [
        "event_id",
        "checkpoint",
        "device",
        "sent_by",
        "booking",
        "booking_number",
        "kind",
        "occurred_at",
        "received_at",
        "reason",
        "note",
        "outcome",
        "detail",
        "device_status",
        "portal_status",
        "portal_version",
        "settled_at",
        "settled_by",
        "settlement",
    ]

    def get_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.outcome == OfflineEvent.Outcome.PARKED:
            fields.append("settle")
        return fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        note = form.cleaned_data.get("settle", "")
        if obj.outcome != OfflineEvent.Outcome.PARKED or not note.strip():
            return
        try:
            offline.parked_event_settle(event=obj, note=note, actor=request.user)
        except ApplicationError as refusal:
            self.message_user(request, str(refusal.message), messages.ERROR)

    def save_related(self, request, form, formsets, change):
        pass


class SilentFilter(admin.SimpleListFilter):
    title = gettext_lazy("holding back no-shows")
    parameter_name = "holding_back"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            held = no_shows_held_back().values("checkpoint_id")
            return queryset.filter(checkpoint_id__in=held)
        return queryset


@admin.register(DeviceReport)
class DeviceReportAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    """The devices of each checkpoint that keep its manifest (O1) and when each last delivered
    everything it recorded (O4). While the newest report of a checkpoint's devices is older than
    a check-in window's end, the no-show sweep holds that window's bookings back (they are listed
    under “Bookings held back from the no-show sweep”). A device out of service is retired so
    that it no longer counts."""

    list_display = [
        "checkpoint",
        "name",
        "device",
        "last_seen_at",
        "reported_at",
        "manifest_sequence",
        "held_back",
        "retired_at",
    ]
    list_filter = [SilentFilter, ("checkpoint", admin.RelatedOnlyFieldListFilter), "retired_at"]
    list_select_related = ["checkpoint"]
    search_fields = ["name", "device", "checkpoint__code"]
    readonly_fields = [
        "checkpoint",
        "device",
        "name",
        "device_key",
        "user",
        "first_seen_at",
        "last_seen_at",
        "reported_at",
        "manifest_sequence",
        "manifest_at",
        "retired_at",
    ]
    actions = ["retire"]

    def get_queryset(self, request):
        held = no_shows_held_back()
        return (
            super()
            .get_queryset(request)
            .annotate(
                held_back_count=Count(
                    "checkpoint__bookings",
                    filter=Q(checkpoint__bookings__in=held.values("pk")),
                    distinct=True,
                )
            )
        )

    @admin.display(description=gettext_lazy("no-shows held back"), ordering="held_back_count")
    def held_back(self, obj) -> int:
        return obj.held_back_count

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Retire the selected devices"), permissions=["change"])
    def retire(self, request, queryset):
        now = clock.now()
        retired = 0
        for device in queryset.filter(retired_at__isnull=True).order_by("pk"):
            DeviceReport.objects.filter(pk=device.pk).update(retired_at=now)
            audit.record(
                "device_report.retired",
                actor=request.user,
                target=device,
                after={"checkpoint_id": device.checkpoint_id, "device": device.device},
            )
            retired += 1
        self.message_user(
            request,
            ngettext(
                "%(count)d device retired: it no longer holds back the no-show sweep.",
                "%(count)d devices retired: they no longer hold back the no-show sweep.",
                retired,
            )
            % {"count": retired},
            messages.SUCCESS,
        )


@admin.register(HeldBackBooking)
class HeldBackBookingAdmin(BookingAdmin):
    """Bookings whose check-in window ended while their checkpoint's devices were not reporting
    (O4): the sweep leaves them alone, since the truck may have been checked in offline. When
    the devices report, the sweep judges them; if the devices are not coming back, an operator
    settles them here: as a no-show (D3, as the sweep would) or cancelled by the operator (no
    strike, Q10)."""

    change_list_template = None
    actions = ["settle_as_no_show", "cancel_by_operator"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(pk__in=no_shows_held_back().values("pk"))

    @admin.action(
        description=gettext_lazy("Settle as no-shows (D3: the deposit as the sweep would)"),
        permissions=["operator"],
    )
    def settle_as_no_show(self, request, queryset):
        done = 0
        for booking in queryset.order_by("pk"):
            try:
                no_show_settle_by_hand(booking=booking, actor=request.user)
            except ApplicationError as refusal:
                self.message_user(request, f"{booking.number}: {refusal.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                _("Settled as no-shows: %(count)s.") % {"count": done},
                messages.SUCCESS,
            )
