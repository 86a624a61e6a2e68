from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.utils.translation import gettext_lazy as _

from auth2fa.models import User
from checkpoints.models import StaffAssignment
from core import audit
from core.admin import AuditedAdmin


def _snapshot(obj: models.Model) -> dict:
    """The row for the audit log (A6): many-to-many as sorted names, never a password hash."""
    data = model_to_dict(obj, exclude=["password"])
    for name, value in data.items():
        if isinstance(value, list | tuple | set) and all(
            isinstance(item, models.Model) for item in value
        ):
            data[name] = sorted(str(item) for item in value)
    return data


class AuditedWithRelationsAdmin(AuditedAdmin):
    """AuditedAdmin for rows whose many-to-many fields (groups, permissions) matter: the event
    is written once those are saved too, so `after` shows them as they now are. Its own
    save/delete replace AuditedAdmin's (skipped in the MRO); its inline auditing is kept."""

    def save_model(self, request, obj, form, change):
        form._audit_before = _snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super(AuditedAdmin, self).save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        audit.record(
            f"admin.{'changed' if change else 'added'}",
            actor=request.user,
            target=form.instance,
            before=getattr(form, "_audit_before", None),
            after=_snapshot(form.instance),
        )

    def delete_model(self, request, obj):
        audit.record("admin.deleted", actor=request.user, target=obj, before=_snapshot(obj))
        super(AuditedAdmin, self).delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit.record("admin.deleted", actor=request.user, target=obj, before=_snapshot(obj))
        super(AuditedAdmin, self).delete_queryset(request, queryset)


class StaffAssignmentInline(admin.TabularInline):
    """The checkpoints where this person works as checkpoint staff (A5)."""

    model = StaffAssignment
    fk_name = "user"
    fields = ["checkpoint", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["checkpoint"]
    extra = 0
    verbose_name = _("checkpoint where the person works")
    verbose_name_plural = _("checkpoints where the person works")


@admin.register(User)
class UserAdmin(AuditedWithRelationsAdmin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "phone", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "full_name", "phone", "iin"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Person"), {"fields": ["full_name", "iin", "phone", "phone_verified_at", "language"]}),
        (_("Access"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"fields": ["email", "full_name", "password1", "password2"]}),
    ]
    readonly_fields = ["last_login", "date_joined", "phone_verified_at"]
    inlines = [StaffAssignmentInline]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Operators manage people and their roles, but cannot make anyone a superuser.
            fields.append("is_superuser")
        return fields

    def has_change_permission(self, request, obj=None):
        # Nor take over a superuser's account (its e-mail, phone or password).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        """The password form saves outside save_model: audit it here (without the hash)."""
        with transaction.atomic():
            person = self.get_object(request, unquote(id))
            before = person.password if person is not None else None
            response = super().user_change_password(request, id, form_url)
            if person is not None and request.method == "POST":
                person.refresh_from_db(fields=["password"])
                if person.password != before:
                    audit.record(
                        "admin.password_changed",
                        actor=request.user,
                        target=person,
                        after={"usable_password": person.has_usable_password()},
                    )
        return response


if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedWithRelationsAdmin, DjangoGroupAdmin):
    """Roles (auth2fa.roles): the three built-in groups are re-synced from code on migrate."""
