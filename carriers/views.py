from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from auth2fa.decorators import verified_login_required
from carriers.selectors import membership_of


@verified_login_required
def cabinet(request: HttpRequest) -> HttpResponse:
    """The personal account's front page: whom the person acts for and what they can do."""
    member = membership_of(request.user)
    members = (
        member.carrier.members.select_related("user").order_by("role", "user__full_name")
        if member
        else []
    )
    return render(request, "carriers/cabinet.html", {"member": member, "members": members})
