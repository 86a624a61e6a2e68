from django.contrib import admin

from core.admin import AuditedAdmin
from fees.models import FeeItem, FeeSchedule, MrpRate


@admin.register(MrpRate)
class MrpRateAdmin(AuditedAdmin):
    list_display = ["year", "value"]


class FeeItemInline(admin.TabularInline):
    model = FeeItem
    extra = 0


@admin.register(FeeSchedule)
class FeeScheduleAdmin(AuditedAdmin):
    list_display = ["effective_from", "basis_en"]
    inlines = [FeeItemInline]
