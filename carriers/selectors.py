from carriers.models import Invitation, Member
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
