from carriers.models import Member


def membership_of(user) -> Member | None:
    """The carrier a person acts for, with their role; None for staff and strangers."""
    if user is None or not user.is_authenticated:
        return None
    return Member.objects.select_related("carrier").filter(user=user).first()


def open_invitations_of(carrier):
    """Invitations of the carrier not yet accepted, revoked or expired."""
    from carriers.models import Invitation
    from core import clock

    return Invitation.objects.filter(
        carrier=carrier,
        accepted_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=clock.now(),
    ).order_by("-created_at")
