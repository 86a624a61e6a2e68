"""Operators set each checkpoint's release (F8) and see each window's demand: requests per
place, where capacity is short. A policy is saved through `services.policy_update` (audited,
checked); windows and requests are read only here."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.admin import CheckpointScopedAdmin, ReadOnlyAdmin
from core.errors import ApplicationError
from release import selectors, services
from release.models import ReleasePolicy, ReleaseRequest, ReleaseWindow


class ReleasePolicyForm(forms.ModelForm):
    class Meta:
        model = ReleasePolicy
        fields = ["checkpoint", *services.POLICY_FIELDS]

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned.get(name) for name in services.POLICY_FIELDS}
        if any(value is None for value in values.values()):
            return cleaned  # a field's own error is shown already
        try:
            services.policy_check(ReleasePolicy(**values))
        except ApplicationError as exc:
            raise ValidationError(
                {name: messages for name, messages in exc.fields.items()}
            ) from exc
        return cleaned


@admin.register(ReleasePolicy)
class ReleasePolicyAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    form = ReleasePolicyForm
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
        # Through the service: checked, audited, and a switch to first-come cancels the windows
        # not open yet (F8). The form has checked the values already.
        changes = {name: form.cleaned_data[name] for name in services.POLICY_FIELDS}
        saved = services.policy_update(checkpoint=obj.checkpoint, actor=request.user, **changes)
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
