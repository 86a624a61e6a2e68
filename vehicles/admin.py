from django.contrib import admin
from django.db.models import Q

from core.admin import ReadOnlyAdmin
from vehicles.models import Driver, Vehicle
from vehicles.plates import fold


class _FoldedSearch:
    """Search also finds plates, VINs and documents however the operator writes them:
    "123 авс 02" finds 123ABC02 (B7)."""

    folded_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        folded = fold(search_term)
        if folded and folded != search_term:
            match = Q()
            for field in self.folded_search_fields:
                match |= Q(**{f"{field}__icontains": folded})
            results = results | queryset.filter(match)
        return results, may_have_duplicates


@admin.register(Vehicle)
class VehicleAdmin(_FoldedSearch, ReadOnlyAdmin):
    list_display = [
        "plate",
        "registration_country",
        "kind",
        "vin",
        "make_model",
        "carrier",
        "is_active",
        "created_at",
    ]
    list_filter = ["kind", "is_active", "registration_country"]
    search_fields = ["plate", "vin", "carrier__name", "carrier__iin_bin", "carrier__tax_number"]
    folded_search_fields = ("plate", "vin")
    list_select_related = ["carrier"]
    date_hierarchy = "created_at"


@admin.register(Driver)
class DriverAdmin(_FoldedSearch, ReadOnlyAdmin):
    list_display = [
        "full_name",
        "iin",
        "passport_number",
        "citizenship",
        "phone",
        "carrier",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active", "citizenship"]
    search_fields = ["full_name", "iin", "passport_number", "phone", "carrier__name"]
    folded_search_fields = ("passport_number",)
    list_select_related = ["carrier"]
    date_hierarchy = "created_at"
