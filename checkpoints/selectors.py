from django.db.models import Prefetch, QuerySet

from checkpoints.models import Checkpoint, Country


def countries_with_checkpoints() -> QuerySet[Country]:
    """Countries with their active checkpoints serving freight, for the home page (R1)."""
    return Country.objects.prefetch_related(
        Prefetch(
            "checkpoints",
            queryset=Checkpoint.objects.filter(is_active=True, serves_trucks=True).order_by(
                "name_en"
            ),
        )
    ).order_by("code")


def active_checkpoints(*, country: str | None = None) -> QuerySet[Checkpoint]:
    checkpoints = Checkpoint.objects.filter(is_active=True, serves_trucks=True).select_related(
        "country"
    )
    if country:
        checkpoints = checkpoints.filter(country_id=country.upper())
    return checkpoints.order_by("country_id", "name_en")
