from django.contrib import admin

from carriers.models import Carrier, Member
from core.admin import AuditedAdmin


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Carrier)
class CarrierAdmin(AuditedAdmin):
    list_display = ["name", "iin_bin", "kind", "created_at"]
    search_fields = ["name", "iin_bin"]
    inlines = [MemberInline]
