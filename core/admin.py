from django.contrib import admin
from django.forms.models import model_to_dict

from core import audit
from core.models import (
    AuditBatch,
    AuditEvent,
    AuditHeadPublication,
    CalendarDay,
    IdempotencyRecord,
    VisitDay,
)


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
        # A deleted row has no pk any more once saved: note which one it was before.
        doomed = {
            id(inline_form.instance): (inline_form.instance.pk, model_to_dict(inline_form.instance))
            for inline_form in getattr(formset, "deleted_forms", [])
            if inline_form.instance.pk is not None
        }
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects + [o for o, _fields in formset.changed_objects]:
            audit.record("admin.changed", actor=request.user, target=obj, after=model_to_dict(obj))
        for obj in formset.deleted_objects:
            pk, before = doomed.get(id(obj), (obj.pk, None))
            audit.record(
                "admin.deleted", actor=request.user, target=obj, object_id=pk, before=before
            )


class CheckpointScopedAdmin:
    """Rows limited to the checkpoints the person works at (A5).

    Put it before the ModelAdmin base and name the path from a row to its checkpoint in
    `checkpoint_field`: "checkpoint", "booking__checkpoint", or "pk" on checkpoints themselves.
    Superusers and registrar operators see every row, checkpoint staff the rows of their own
    checkpoints, auditors every row (they only read), anyone else none. It narrows which rows
    exist for the person (lists, change pages, autocomplete); permissions still decide what they
    may do with them.
    """

    checkpoint_field = "checkpoint"

    def get_queryset(self, request):
        # Imported here: the shared kernel does not import the apps when it is loaded.
        from auth2fa.roles import AUDITORS, has_role
        from checkpoints.selectors import checkpoints_of_staff, sees_every_checkpoint

        queryset = super().get_queryset(request)
        user = request.user
        if sees_every_checkpoint(user) or has_role(user, AUDITORS):
            return queryset
        return queryset.filter(**{f"{self.checkpoint_field}__in": checkpoints_of_staff(user)})


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


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "user", "method", "path", "status", "response_status", "created_at"]
    list_filter = ["status", "method"]
    search_fields = ["key", "path", "user__email"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
