from django.contrib import admin

from checkpoints.models import Checkpoint, Country
from core.admin import AuditedAdmin


@admin.register(Country)
class CountryAdmin(AuditedAdmin):
    list_display = ["code", "name_en", "name_ru", "name_kk"]


@admin.register(Checkpoint)
class CheckpointAdmin(AuditedAdmin):
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
