from carriers.models import Member


def membership_of(user) -> Member | None:
    """The carrier a person acts for, with their role; None for staff and strangers."""
    if user is None or not user.is_authenticated:
        return None
    return Member.objects.select_related("carrier").filter(user=user).first()
