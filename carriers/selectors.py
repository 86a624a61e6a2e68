from django.db.models import QuerySet

from carriers.models import Carrier, CarrierDocument, Invitation, Member
from checkpoints.models import Country
from core import clock


def membership_of(user) -> Member | None:
    """The carrier a person acts for, with their role; None for staff and strangers."""
    if user is None or not user.is_authenticated:
        return None
    membership = type(user).membership.related if hasattr(type(user), "membership") else None
    if membership is not None and membership.is_cached(user):
        # Read with the user (token sign-in, auth2fa.services.api_token_for_secret): a person
        # without a membership has None there. The carrier came in the same read.
        return membership.get_cached_value(user)
    member = Member.objects.select_related("carrier").filter(user=user).first()
    field = Member.user.field
    if member is not None and type(user) is field.related_model:
        # The person is the row just matched: `member.user` needs no second read of it (only
        # this side is cached; `user.membership` still reads its row when asked).
        field.set_cached_value(member, user)
    return member


def open_invitations_of(carrier):
    """Invitations of the carrier not yet accepted, revoked or expired."""
    return Invitation.objects.filter(
        carrier=carrier,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=clock.now(),
    ).order_by("-created_at")


def foreign_carrier_countries() -> QuerySet[Country]:
    """Where a carrier from abroad may come from (A7): the countries of the reference (R1),
    which operators keep, Kazakhstan never."""
    return Country.objects.exclude(code="KZ").order_by("code")


def foreign_carrier_country_codes() -> set[str]:
    return set(foreign_carrier_countries().values_list("code", flat=True))


def documents_of(carrier: Carrier) -> QuerySet[CarrierDocument]:
    """The carrier's documents, oldest first, without their content (read one by one to send)."""
    return (
        CarrierDocument.objects.filter(carrier=carrier)
        .defer("content")
        .select_related("uploaded_by")
        .order_by("uploaded_at", "pk")
    )


def waits_for_documents_check(carrier: Carrier) -> bool:
    """A carrier from abroad, unconfirmed and not lapsed: its owner uploads documents and an
    operator confirms or refuses it from them (A7)."""
    return carrier.is_foreign and not carrier.is_confirmed and carrier.lapsed_at is None
