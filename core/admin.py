from django.contrib import admin
from django.forms.models import model_to_dict

from core import audit
from core.models import AuditBatch, AuditEvent, AuditHeadPublication, CalendarDay, VisitDay


class AuditedAdmin(admin.ModelAdmin):
    """Operator edits of reference data write an audit event with before/after (A6)."""

    def save_model(self, request, obj, form, change):
        before = None
        if change:
            before = model_to_dict(type(obj).objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        audit.record(
            f"admin.{'changed' if change else 'added'}",
            actor=request.user,
            target=obj,
            before=before,
            after=model_to_dict(obj),
        )

    def delete_model(self, request, obj):
        audit.record("admin.deleted", actor=request.user, target=obj, before=model_to_dict(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit.record("admin.deleted", actor=request.user, target=obj, before=model_to_dict(obj))
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects + [o for o, _fields in formset.changed_objects]:
            audit.record("admin.changed", actor=request.user, target=obj, after=model_to_dict(obj))
        for obj in formset.deleted_objects:
            audit.record("admin.deleted", actor=request.user, target=obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is read, never written, from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_label", "action", "object_repr", "ip"]
    list_filter = ["action"]
    search_fields = ["action", "object_repr", "actor_label", "object_id"]
    date_hierarchy = "occurred_at"


@admin.register(AuditBatch)
class AuditBatchAdmin(ReadOnlyAdmin):
    list_display = ["number", "sealed_at", "event_count", "merkle_root", "batch_hash"]


@admin.register(AuditHeadPublication)
class AuditHeadPublicationAdmin(ReadOnlyAdmin):
    list_display = ["day", "batch", "batch_hash", "published_at"]


@admin.register(CalendarDay)
class CalendarDayAdmin(AuditedAdmin):
    list_display = ["date", "kind", "note"]
    list_filter = ["kind"]
    date_hierarchy = "date"


@admin.register(VisitDay)
class VisitDayAdmin(ReadOnlyAdmin):
    list_display = ["date", "visits"]
    date_hierarchy = "date"
