from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from auth2fa.decorators import verified_login_required
from auth2fa.forms import PersonForm
from auth2fa.services import person_register
from auth2fa.views import REGISTRATION_NEXT, REGISTRATION_PHONE
from carriers import services
from carriers.forms import DocumentForm, InviteForm
from carriers.models import CarrierDocument, Member
from carriers.selectors import (
    documents_of,
    membership_of,
    open_invitations_of,
    waits_for_documents_check,
)
from core.errors import ApplicationError
from core.forms import show_refusal
from core.throttles import RegistrationThrottle, throttle_view


@verified_login_required
def cabinet(request: HttpRequest) -> HttpResponse:
    """The personal account's front page: whom the person acts for and what they can do."""
    member = membership_of(request.user)
    context = {"member": member}
    if member is not None and waits_for_documents_check(member.carrier):
        context.update(_documents_context(member, DocumentForm()))
    return render(request, "carriers/cabinet.html", context)


def _documents_context(member: Member, form: DocumentForm) -> dict:
    return {
        "documents_check": True,
        "documents": documents_of(member.carrier),
        "form": form if member.role == Member.Role.OWNER else None,
        "max_documents": CarrierDocument.MAX_PER_CARRIER,
    }


@verified_login_required
def documents(request: HttpRequest) -> HttpResponse:
    """A7: the owner of a carrier from abroad uploads the documents the operator confirms it
    from, one at a time; everyone of the carrier sees which are there and whether it waits."""
    member = membership_of(request.user)
    if member is None or not waits_for_documents_check(member.carrier):
        return redirect("cabinet")
    form = DocumentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > CarrierDocument.MAX_BYTES:
                raise services.document_too_large()  # unread
            document = services.carrier_document_upload(
                member=member, name=upload.name, content=upload.read()
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(
                request,
                _("%(name)s is uploaded. The operator will check your documents.")
                % {"name": document.name},
            )
            return redirect("carrier-documents")
    return render(
        request,
        "carriers/documents.html",
        {"member": member, **_documents_context(member, form)},
    )


@verified_login_required
def members(request: HttpRequest) -> HttpResponse:
    """The carrier's people: everyone sees them; the owner invites and changes roles."""
    if request.method == "POST" and request.POST.get("action") == "invite":
        return _members_invite(request)
    return _members(request)


# A8: an invitation sends an SMS to a number someone typed, as registration does: it shares
# registration's per-address limit (THROTTLE_REGISTRATION, 10 an hour), on top of the per-phone and
# per-carrier limits of services.member_invite. Only inviting counts, not changing roles.
@throttle_view(RegistrationThrottle)
def _members_invite(request: HttpRequest) -> HttpResponse:
    return _members(request)


def _members(request: HttpRequest) -> HttpResponse:
    me = membership_of(request.user)
    if me is None:
        return redirect("cabinet")
    form = InviteForm(request.POST if request.POST.get("action") == "invite" else None)
    if request.method == "POST" and request.POST.get("action") == "invite" and form.is_valid():
        try:
            issued = services.member_invite(by=me, **form.cleaned_data)
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            if issued.sms_sent:
                messages.success(request, _("The invitation has been sent by SMS."))
            else:
                messages.warning(
                    request,
                    _("The SMS could not be sent. Give the person this link: %(link)s")
                    % {"link": issued.link},
                )
            return redirect("members")
    elif request.method == "POST" and request.POST.get("action") == "role":
        member = get_object_or_404(Member, pk=request.POST.get("member"), carrier=me.carrier)
        try:
            services.member_role_change(by=me, member=member, role=request.POST.get("role", ""))
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(request, _("The role has been changed."))
        return redirect("members")
    return render(
        request,
        "carriers/members.html",
        {
            "me": me,
            "members": me.carrier.members.select_related("user").order_by("user__full_name"),
            "invitations": open_invitations_of(me.carrier) if me.role == Member.Role.OWNER else [],
            "roles": Member.Role.choices,
            "form": form,
        },
    )


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Where the SMS link leads: the invited person accepts once signed in with that phone, or
    first creates an account for that phone."""
    try:
        found = services.invitation_for_token(token)
    except ApplicationError as refusal:
        return render(request, "carriers/invitation.html", {"error": refusal.message}, status=404)
    user = request.user
    signed_in = user.is_authenticated and user.is_verified()
    form = None
    if not signed_in:
        form = PersonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                person = person_register(
                    phone=found.phone,
                    language=request.LANGUAGE_CODE,
                    iin_required=not found.carrier.is_foreign,
                    **_person_data(form),
                )
            except ApplicationError as refusal:
                show_refusal(form, refusal, PersonForm.SERVICE_FIELDS)
            else:
                request.session[REGISTRATION_PHONE] = person.phone
                request.session[REGISTRATION_NEXT] = request.path
                return redirect("register-verify")
    return render(
        request,
        "carriers/invitation.html",
        {"invitation": found, "token": token, "signed_in": signed_in, "form": form},
    )


def _person_data(form: PersonForm) -> dict:
    return {key: form.cleaned_data[key] for key in ("full_name", "iin", "email", "password")}


@require_POST
@verified_login_required
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        member = services.invitation_accept(token=token, user=request.user)
    except ApplicationError as refusal:
        messages.error(request, refusal.message)
        return redirect("invitation", token=token)
    messages.success(request, _("You now act for %(carrier)s.") % {"carrier": member.carrier.name})
    return redirect("cabinet")
