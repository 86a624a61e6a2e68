from rest_framework.permissions import BasePermission

from carriers.selectors import membership_of


class IsCarrierMember(BasePermission):
    """The person acts for a carrier; views read `request.member` to scope every query to it.

    A view narrows the roles with `carrier_roles = {"owner", "dispatcher"}`.
    """

    def has_permission(self, request, view) -> bool:
        member = membership_of(request.user)
        if member is None:
            return False
        roles = getattr(view, "carrier_roles", None)
        if roles is not None and member.role not in roles:
            return False
        request.member = member
        return True
