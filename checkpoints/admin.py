from django.contrib import admin, messages
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from checkpoints.models import (
    Checkpoint,
    Country,
    DeviceKey,
    HourOverride,
    QuotaOverride,
    SlotCounter,
    StaffAssignment,
)
from checkpoints.services import capacity_refresh, device_key_issue, device_key_revoke
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
    warn_overbooked(request, overbooked)


def warn_overbooked(request, overbooked: list) -> None:
    """Tell the operator which counters hold more places than the rules now give (C3)."""
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
    search_fields = [
        "code",
        "name_en",
        "name_ru",
        "name_kk",
        "counterpart",
        "counterpart_ru",
        "counterpart_kk",
    ]
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


# --- Plate camera keys (API.md "Checkpoint devices") -------------------------------------------


@admin.register(DeviceKey)
class DeviceKeyAdmin(CheckpointScopedAdmin, admin.ModelAdmin):
    """Keys of plate cameras, one or more per checkpoint. Saving a new key shows it once; only
    its SHA-256 is kept. Keys are revoked (the action), never deleted or edited: the bookings a
    camera marked keep naming it. Both are audited by the services."""

    list_display = ["name", "checkpoint", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("checkpoint", admin.RelatedOnlyFieldListFilter), "revoked_at"]
    list_select_related = ["checkpoint"]
    search_fields = ["name", "prefix", "checkpoint__code", "checkpoint__name_en"]
    autocomplete_fields = ["checkpoint"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["checkpoint", "name"]
        return [
            "checkpoint",
            "name",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:  # nothing on a key's page can be changed
            return
        issued = device_key_issue(checkpoint=obj.checkpoint, name=obj.name, actor=request.user)
        # The admin goes on with `obj` (log entry, redirect): make it the key just stored.
        for field in DeviceKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(issued.key, field.attname))
        obj._state.adding = False
        obj._state.db = issued.key._state.db
        self.message_user(
            request,
            _(
                "The key of “%(name)s” at %(checkpoint)s is %(secret)s — copy it into the camera "
                "now: it is not shown again (only its fingerprint is kept)."
            )
            % {"name": obj.name, "checkpoint": obj.checkpoint.name, "secret": issued.secret},
            messages.WARNING,
        )

    @admin.action(description=gettext_lazy("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = sum(
            device_key_revoke(key=key, actor=request.user) for key in queryset.order_by("pk")
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d key revoked: it no longer works.",
                "%(count)d keys revoked: they no longer work.",
                revoked,
            )
            % {"count": revoked},
            messages.SUCCESS,
        )
