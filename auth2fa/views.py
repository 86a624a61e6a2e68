"""Registration, sign-in with two factors, sign-out and the security page (A1–A4)."""

import datetime as dt

import django_otp
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from auth2fa import services
from auth2fa.decorators import verified_login_required
from auth2fa.forms import CodeForm, EdsForm, RegistrationForm, SignInForm, TokenForm
from auth2fa.middleware import SIGNED_IN_AT
from auth2fa.models import ApiToken, UserSession
from auth2fa.selectors import (
    carrier_changes_of,
    factor_overview,
    pending_totp_enrollment,
    sessions_of,
    tokens_of,
)
from carriers.selectors import membership_of
from core import clock
from core.errors import ApplicationError
from core.forms import show_refusal
from core.middleware import client_ip
from core.throttles import OtpThrottle, RegistrationThrottle, SignInThrottle, throttle_view

REGISTRATION_PHONE = "kezek_registration_phone"
# Where to go after the phone is confirmed and the person signed in (an invitation link).
REGISTRATION_NEXT = "kezek_registration_next"
PENDING_SIGN_IN = "kezek_pending_sign_in"
FACTOR_LABELS = {
    "sms": gettext_lazy("SMS code"),
    "telegram": gettext_lazy("Code in Telegram"),
    "totp": gettext_lazy("Authenticator app"),
    "passkey": gettext_lazy("Passkey"),
    "backup": gettext_lazy("Backup code"),
}


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@throttle_view(RegistrationThrottle)
def register(request: HttpRequest) -> HttpResponse:
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            registration = services.registration_create(
                carrier_kind=data["carrier_kind"],
                carrier_iin_bin=data["carrier_iin_bin"],
                carrier_country=data["carrier_country"],
                carrier_tax_number=data["carrier_tax_number"],
                carrier_name=data["carrier_name"],
                full_name=data["full_name"],
                iin=data["iin"],
                phone=data["phone"],
                email=data["email"],
                password=data["password"],
                language=request.LANGUAGE_CODE,
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal, RegistrationForm.SERVICE_FIELDS)
        else:
            request.session[REGISTRATION_PHONE] = registration.user.phone
            return redirect("register-verify")
    return render(request, "auth2fa/register.html", {"form": form})


@throttle_view(RegistrationThrottle)
def register_verify(request: HttpRequest) -> HttpResponse:
    phone = request.session.get(REGISTRATION_PHONE)
    if not phone:
        return redirect("register")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "resend":
        form = CodeForm()
        try:
            services.registration_code_resend(phone=phone)
            messages.success(request, _("A new code has been sent."))
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
    elif request.method == "POST" and form.is_valid():
        try:
            services.registration_verify(phone=phone, code=form.cleaned_data["code"])
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            del request.session[REGISTRATION_PHONE]
            messages.success(request, _("Your phone is confirmed. You can sign in now."))
            next_url = request.session.pop(REGISTRATION_NEXT, "")
            return redirect(f"{reverse('signin')}?next={next_url}" if next_url else "signin")
    return render(request, "auth2fa/register_verify.html", {"form": form, "phone": phone})


@throttle_view(SignInThrottle)
def signin(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request, reverse("cabinet"))
    form = SignInForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            started = services.sign_in_with_password(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                ip=client_ip(request),
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            return _begin_second_step(request, started, next_url)
    return render(request, "auth2fa/signin.html", {"form": form, "next": next_url})


def _begin_second_step(request: HttpRequest, started: services.SignInStarted, next_url: str):
    request.session[PENDING_SIGN_IN] = {
        "challenge": started.challenge,
        "factors": started.factors,
        "next": next_url,
    }
    return redirect("signin-factor")


# Each page view issues an EDS challenge (a cache entry), so GETs count too.
@throttle_view(SignInThrottle, methods=("GET", "POST"))
def signin_eds(request: HttpRequest) -> HttpResponse:
    """First factor by EDS: NCALayer signs the nonce in the page (static/js/eds-ncalayer.js),
    or the person pastes a signature made elsewhere."""
    next_url = _safe_next(request, reverse("cabinet"))
    form = EdsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            started = services.sign_in_with_eds_signature(
                nonce=request.POST.get("nonce", ""),
                certificate=form.cleaned_data["certificate"],
                signature=form.cleaned_data["signature"],
                signature_format=form.cleaned_data["signature_format"],
                ip=client_ip(request),
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            return _begin_second_step(request, started, next_url)
    nonce = services.eds_nonce_issue().nonce
    return render(
        request, "auth2fa/signin_eds.html", {"form": form, "nonce": nonce, "next": next_url}
    )


@verified_login_required
@throttle_view(SignInThrottle, methods=("GET", "POST"))
def carrier_confirm(request: HttpRequest) -> HttpResponse:
    """A7: the owner signs with the EDS that carries the carrier's BIN (IIN) to confirm it. A
    carrier from abroad uploads documents for the operator instead."""
    member = membership_of(request.user)
    if member is None or member.carrier.is_confirmed:
        return redirect("cabinet")
    if member.carrier.is_foreign:
        return redirect("carrier-documents")
    form = EdsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.carrier_confirm_with_eds(
                member=member,
                nonce=request.POST.get("nonce", ""),
                certificate=form.cleaned_data["certificate"],
                signature=form.cleaned_data["signature"],
                signature_format=form.cleaned_data["signature_format"],
            )
        except ApplicationError as refusal:
            show_refusal(form, refusal)
        else:
            messages.success(request, _("Your carrier is confirmed. You can book now."))
            return redirect("cabinet")
    nonce = services.eds_nonce_issue().nonce
    return render(
        request, "auth2fa/carrier_confirm.html", {"form": form, "nonce": nonce, "member": member}
    )


@throttle_view(OtpThrottle)
def signin_factor(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING_SIGN_IN)
    if not pending:
        return redirect("signin")
    factors = pending["factors"]
    factor = request.POST.get("factor") or request.GET.get("factor") or factors[0]
    if factor not in factors:
        factor = factors[0]
    form = CodeForm(request.POST if request.POST.get("action") == "verify" else None)
    code_sent = pending.get("code_sent_for") == factor
    if request.method == "POST" and request.POST.get("action") == "send":
        try:
            services.sign_in_code_send(challenge=pending["challenge"], factor=factor)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
            if refusal.code == "invalid_challenge":
                del request.session[PENDING_SIGN_IN]
                return redirect("signin")
        else:
            pending["code_sent_for"] = factor
            request.session[PENDING_SIGN_IN] = pending
            code_sent = True
            messages.success(request, _("The code has been sent."))
    elif request.method == "POST" and form.is_valid():
        try:
            signed_in = services.sign_in_verify(
                challenge=pending["challenge"], factor=factor, code=form.cleaned_data["code"]
            )
        except ApplicationError as refusal:
            if refusal.code in ("invalid_challenge", "sign_in_locked"):
                messages.error(request, refusal.message)
                del request.session[PENDING_SIGN_IN]
                return redirect("signin")
            show_refusal(form, refusal)
        else:
            complete_web_sign_in(request, signed_in)
            return redirect(pending["next"])
    return render(
        request,
        "auth2fa/signin_factor.html",
        {
            "form": form,
            "factor": factor,
            "factors": [(name, FACTOR_LABELS.get(name, name)) for name in factors],
            "sends_code": factor in services.CODE_FACTORS,
            "code_sent": code_sent,
        },
    )


def complete_web_sign_in(request: HttpRequest, signed_in: services.SignedIn) -> None:
    """Log the person in with a new session id (login() cycles it) and remember the session."""
    login(request, signed_in.user, backend="django.contrib.auth.backends.ModelBackend")
    django_otp.login(request, signed_in.device)
    request.session[SIGNED_IN_AT] = clock.now().isoformat()
    request.session.save()
    services.web_session_start(
        user=signed_in.user,
        session_key=request.session.session_key,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
    )
    if signed_in.user.language:
        request.session["_language"] = signed_in.user.language


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        record = UserSession.objects.filter(session_key=request.session.session_key).first()
        if record is not None:
            services.web_session_end(session=record, actor=request.user)
    logout(request)
    messages.success(request, _("You have signed out."))
    return redirect("home")


TOTP_ENROLMENT = "kezek_totp_enrolment"


def _factor_action(request: HttpRequest, action: str, context: dict) -> HttpResponse | None:
    """The second-factor buttons of the security page. Returns a redirect when done, or None to
    show the page with what `context` gained (a link, a QR code, codes shown once)."""
    user = request.user
    try:
        if action == "telegram_link":
            context["telegram_link"] = services.telegram_link_start(user=user)
        elif action == "totp_start":
            enrollment = services.totp_enroll_start(user=user)
            request.session[TOTP_ENROLMENT] = enrollment.device.pk
            context["totp_enrollment"] = enrollment
        elif action == "totp_confirm":
            context["totp_form"] = form = CodeForm(request.POST)
            context["totp_enrollment"] = pending_totp_enrollment(
                user, request.session.get(TOTP_ENROLMENT)
            )
            if form.is_valid():
                try:
                    services.totp_enroll_confirm(
                        user=user,
                        device_id=request.session.get(TOTP_ENROLMENT) or 0,
                        code=form.cleaned_data["code"],
                    )
                except ApplicationError as refusal:
                    show_refusal(form, refusal)
                    return None
                request.session.pop(TOTP_ENROLMENT, None)
                messages.success(request, _("The authenticator app is set up."))
                return redirect("security")
        elif action == "backup_generate":
            context["backup_codes"] = services.backup_codes_generate(user=user)
        elif action == "factor_remove":
            services.factor_remove(
                user=user,
                factor=request.POST.get("factor", ""),
                device_id=int(request.POST["device"]) if request.POST.get("device") else None,
            )
            messages.success(request, _("The factor has been removed."))
            return redirect("security")
    except ApplicationError as refusal:
        messages.error(request, refusal.message)
        return redirect("security")
    return None


@verified_login_required
def security(request: HttpRequest) -> HttpResponse:
    new_token = None
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = TokenForm(request.POST if action == "create_token" else None)
    context: dict = {}
    if action == "create_token" and form.is_valid():
        issued = services.api_token_issue(
            user=request.user,
            kind=ApiToken.Kind.PERSONAL,
            name=form.cleaned_data["name"],
            valid_for=dt.timedelta(days=form.cleaned_data["valid_days"]),
        )
        new_token = issued.secret
        form = TokenForm()
    elif action == "revoke_token":
        token = get_object_or_404(ApiToken, pk=request.POST.get("token"), user=request.user)
        services.api_token_revoke(token=token, actor=request.user)
        messages.success(request, _("The token has been revoked."))
        return redirect("security")
    elif action == "end_session":
        session = get_object_or_404(UserSession, pk=request.POST.get("session"), user=request.user)
        services.web_session_end(session=session, actor=request.user)
        messages.success(request, _("The session has been ended."))
        return redirect("security")
    elif action:
        done = _factor_action(request, action, context)
        if done is not None:
            return done
    context.setdefault("totp_form", CodeForm())
    return render(
        request,
        "auth2fa/security.html",
        {
            **context,
            "sessions": sessions_of(request.user),
            "current_session_key": request.session.session_key,
            "tokens": tokens_of(request.user),
            "token_form": form,
            "new_token": new_token,
            "factors": factor_overview(request.user),
            "passkeys": services.passkeys_of(request.user),
            "carrier_changes": carrier_changes_of(request.user),
        },
    )
