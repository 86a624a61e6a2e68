"""Operators set each checkpoint's release (F8) and see each window's demand: requests per
place, where capacity is short. A policy is saved through `services.policy_update` (audited,
checked); windows and requests are read only here."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.admin import CheckpointScopedAdmin, ReadOnlyAdmin
from core.errors import ApplicationError
from release import selectors, services
from release.models import ReleasePolicy, ReleaseRequest, ReleaseWindow


@admin.register(ReleasePolicy)
class ReleasePolicyAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    list_display = [
        "checkpoint",
        "mode",
        "days_before",
        "release_time",
        "window_minutes",
        "carrier_share_percent",
        "carrier_share_min",
        "changed_at",
        "changed_by",
    ]
    list_filter = ["mode"]
    readonly_fields = ["changed_at", "changed_by"]

    def get_readonly_fields(self, request, obj=None):
        # A policy belongs to its checkpoint for good.
        return [*self.readonly_fields, "checkpoint"] if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS}
        try:
            with transaction.atomic():
                saved = services.policy_update(
                    checkpoint=obj.checkpoint, actor=request.user, **changes
                )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            raise ValidationError(exc.message) from exc
        obj.pk = saved.pk


class RequestInline(admin.TabularInline):
    model = ReleaseRequest
    fields = ["id", "carrier", "service", "hours", "vehicle_vin", "status", "rank", "hour_won"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReleaseWindow)
class ReleaseWindowAdmin(CheckpointScopedAdmin, ReadOnlyAdmin):
    list_display = [
        "checkpoint",
        "direction",
        "day",
        "opens_at",
        "closes_at",
        "status",
        "requests_shown",
        "places_shown",
        "demand_shown",
    ]
    list_filter = ["status", "direction", "checkpoint"]
    date_hierarchy = "day"
    # Never the secret: it is shown (on the public page) only once the draw revealed it.
    fields = [
        "checkpoint",
        "direction",
        "day",
        "opens_at",
        "closes_at",
        "status",
        "carrier_limit",
        "commitment",
        "drawn_at",
        "request_count",
        "merkle_root",
        "seed",
        "places",
        "open_hours",
    ]
    inlines = [RequestInline]

    def get_queryset(self, request):
        return selectors.windows_with_demand().filter(
            pk__in=super().get_queryset(request).values("pk")
        )

    @admin.display(description=_("requests"), ordering="demand")
    def requests_shown(self, window):
        return window.demand

    @staticmethod
    def _places(window) -> int | None:
        """The places drawn for, or (before the draw) the places the window keeps back."""
        if window.places is not None:
            return sum(window.places.values())
        return window.kept

    @admin.display(description=_("places"))
    def places_shown(self, window):
        places = self._places(window)
        return "—" if places is None else places

    @admin.display(description=_("requests per place"))
    def demand_shown(self, window):
        places = self._places(window)
        if places is None:
            return "—"
        return f"{window.demand / places:.2f}" if places else "∞"
