from django.contrib import admin

from checkpoints.models import Checkpoint, Country, StaffAssignment
from core.admin import AuditedAdmin, CheckpointScopedAdmin


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
