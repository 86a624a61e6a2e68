from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import ngettext

from checkpoints import capacity
from checkpoints.models import (
    Checkpoint,
    Closure,
    Country,
    HourOverride,
    QuotaOverride,
    SlotCounter,
    StaffAssignment,
)
from checkpoints.services import capacity_refresh
from core.admin import AuditedAdmin, CheckpointScopedAdmin, ReadOnlyAdmin

# Fields of a checkpoint that change the capacity of its slots (C1, C2).
CAPACITY_FIELDS = ("daily_capacity", "opens_at", "closes_at")


def refresh_counters(request, scopes) -> None:
    """Give the existing counters the capacity of the rules after an operator's change, and
    warn when more places are taken somewhere than the new capacity allows.

    `scopes`: (checkpoint, direction or None, dates or None) of what the change touches."""
    merged: dict[tuple[int, str | None], tuple[Checkpoint, set | None]] = {}
    for checkpoint, direction, dates in scopes:
        key = (checkpoint.pk, direction)
        _checkpoint, known = merged.get(key, (checkpoint, set()))
        merged[key] = (checkpoint, None if dates is None or known is None else known | set(dates))
    overbooked = []
    for (_pk, direction), (checkpoint, dates) in merged.items():
        report = capacity_refresh(
            checkpoint=checkpoint, direction=direction, dates=dates, actor=request.user
        )
        overbooked += report.overbooked
    if overbooked:
        messages.warning(
            request,
            ngettext(
                "%(count)d slot has more places taken than its new capacity: it takes no new "
                "bookings until enough are released (%(slots)s).",
                "%(count)d slots have more places taken than their new capacity: they take no "
                "new bookings until enough are released (%(slots)s).",
                len(overbooked),
            )
            % {"count": len(overbooked), "slots": ", ".join(str(row) for row in overbooked[:10])},
        )


class CapacityRefreshingAdmin(AuditedAdmin):
    """Saving or deleting a row refreshes the slot counters of the days it touched, before and
    after the change, in the same transaction as the change."""

    def counter_scopes(self, obj) -> list[tuple]:
        return [(obj.checkpoint, obj.direction, [obj.date])]

    def save_model(self, request, obj, form, change):
        scopes = []
        if change:
            scopes += self.counter_scopes(type(obj).objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        refresh_counters(request, scopes + self.counter_scopes(obj))

    def delete_model(self, request, obj):
        scopes = self.counter_scopes(obj)
        super().delete_model(request, obj)
        refresh_counters(request, scopes)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            scopes = [scope for obj in queryset for scope in self.counter_scopes(obj)]
            super().delete_queryset(request, queryset)
            refresh_counters(request, scopes)


@admin.register(Country)
class CountryAdmin(AuditedAdmin):
    list_display = ["code", "name_en", "name_ru", "name_kk"]


class StaffAssignmentInline(admin.TabularInline):
    """Who works at this checkpoint (A5); saved and audited through the checkpoint's admin."""

    model = StaffAssignment
    fk_name = "checkpoint"
    fields = ["user", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Checkpoint)
class CheckpointAdmin(CheckpointScopedAdmin, AuditedAdmin):
    # Checkpoint staff see their own checkpoints only (A5).
    checkpoint_field = "pk"
    list_display = [
        "code",
        "name_en",
        "country",
        "daily_capacity",
        "capacity_source",
        "serves_trucks",
        "is_active",
    ]
    list_filter = ["country", "is_active", "serves_trucks", "capacity_source"]
    search_fields = ["code", "name_en", "name_ru", "name_kk", "counterpart"]
    inlines = [StaffAssignmentInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # New daily capacity or opening hours: the counters already made follow (C1).
        if change and set(CAPACITY_FIELDS) & set(form.changed_data):
            refresh_counters(request, [(obj, None, None)])


@admin.register(StaffAssignment)
class StaffAssignmentAdmin(CheckpointScopedAdmin, AuditedAdmin):
    """Checkpoint staff and where they work (A5). Operators assign and unassign; every change
    is audited. Staff see the assignments of their own checkpoints."""

    list_display = ["user", "checkpoint", "created_at"]
    list_filter = [("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "checkpoint"]
    search_fields = ["user__email", "user__full_name", "checkpoint__code", "checkpoint__name_en"]
    autocomplete_fields = ["user", "checkpoint"]
    readonly_fields = ["created_at"]


# --- Capacity: overrides, closures, counters (C1–C3, C6) ---------------------------------------


@admin.register(HourOverride)
class HourOverrideAdmin(CapacityRefreshingAdmin):
    """An hour's regular capacity on one day (C1); the other hours keep theirs."""

    list_display = ["checkpoint", "direction", "date", "hour", "capacity", "note"]
    list_filter = ["direction", ("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["checkpoint"]
    search_fields = ["checkpoint__code", "checkpoint__name_en", "note"]
    autocomplete_fields = ["checkpoint"]
    date_hierarchy = "date"


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(CapacityRefreshingAdmin):
    """A day's priority quota (C2) instead of 5 % / 1 % of the daily capacity."""

    list_display = ["checkpoint", "direction", "date", "service", "capacity", "note"]
    list_filter = ["direction", "service", ("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["checkpoint"]
    search_fields = ["checkpoint__code", "checkpoint__name_en", "note"]
    autocomplete_fields = ["checkpoint"]
    date_hierarchy = "date"


@admin.register(Closure)
class ClosureAdmin(CheckpointScopedAdmin, CapacityRefreshingAdmin):
    """A checkpoint (one direction or both) closed for a period (C3): its hours take no
    bookings. Bookings already made inside it are cancelled by the operator (not here).
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
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(SlotCounter)
class SlotCounterAdmin(CheckpointScopedAdmin, ReadOnlyAdmin):
    """Places taken per slot and day quota (C6): read-only, changed only by bookings, holds and
    capacity refreshes."""

    list_display = [
        "checkpoint",
        "direction",
        "date",
        "hour",
        "kind",
        "planned",
        "capacity",
        "taken",
    ]
    list_filter = ["kind", "direction", ("checkpoint", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["checkpoint"]
    search_fields = ["checkpoint__code", "checkpoint__name_en"]
    date_hierarchy = "date"
