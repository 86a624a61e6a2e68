from typing import Any

from django.db.models import Prefetch, QuerySet

from auth2fa.roles import OPERATORS, has_role
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


def sees_every_checkpoint(user: Any) -> bool:
    """Superusers and registrar operators work at every checkpoint (A5)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or has_role(user, OPERATORS)


def checkpoints_of_staff(user: Any) -> QuerySet[Checkpoint]:
    """The checkpoints where `user` sees and acts (A5): all for superusers and operators, the
    assigned ones for checkpoint staff, none for anyone else (auditors, carriers, the public)."""
    if sees_every_checkpoint(user):
        return Checkpoint.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Checkpoint.objects.none()
    return Checkpoint.objects.filter(staff_assignments__user=user)
