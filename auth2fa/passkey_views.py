"""Passkeys in the browser (A2): JSON endpoints for static/js/passkeys.js, which runs the WebAuthn
ceremonies (`navigator.credentials.create()` / `.get()`) between a begin and a complete call.

Every endpoint is a POST under the usual CSRF protection (the script sends the page's token in
X-CSRFToken). Answers are JSON: the options for the browser, `{"redirect": url}` when done, or the
API's error shape `{"error": {"code", "message", "fields"}}` with its status, plus `redirect` when
the page has to change (the sign-in expired or is locked).
"""

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, JsonResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from auth2fa import services
from auth2fa.views import PENDING_SIGN_IN, complete_web_sign_in
from core.errors import ApplicationError, error_body
from core.throttles import OtpThrottle, throttle_view


def _refusal(refusal: ApplicationError, *, redirect: str | None = None) -> JsonResponse:
    body: dict[str, Any] = error_body(refusal.code, refusal.message, refusal.fields)
    if redirect:
        body["redirect"] = redirect
    response = JsonResponse(body, status=refusal.status)
    if refusal.retry_after:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _payload(request: HttpRequest) -> dict[str, Any]:
    """The JSON body; anything else reads as empty (the services refuse what is missing)."""
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _not_verified(request: HttpRequest) -> JsonResponse | None:
    """Only a person signed in with both factors adds a passkey (a password alone must not)."""
    if request.user.is_authenticated and request.user.is_verified():
        return None
    return _refusal(
        ApplicationError("not_authenticated", _("Sign in to do this."), status=401),
        redirect=reverse("signin"),
    )


@never_cache
@require_POST
def passkey_register_begin(request: HttpRequest) -> JsonResponse:
    if refused := _not_verified(request):
        return refused
    return JsonResponse(services.passkey_register_begin(user=request.user, request=request))


@never_cache
@require_POST
def passkey_register_complete(request: HttpRequest) -> JsonResponse:
    if refused := _not_verified(request):
        return refused
    payload = _payload(request)
    try:
        device = services.passkey_register_complete(
            user=request.user,
            request=request,
            data=payload.get("credential"),
            name=str(payload.get("name") or ""),
        )
    except ApplicationError as refusal:
        return _refusal(refusal)
    messages.success(request, _("The passkey “%(name)s” has been added.") % {"name": device.name})
    return JsonResponse({"redirect": reverse("security")})


def _sign_in_refusal(request: HttpRequest, refusal: ApplicationError) -> JsonResponse:
    """As on the code page: an expired or locked sign-in goes back to the first step."""
    if refusal.code in ("invalid_challenge", "sign_in_locked"):
        messages.error(request, refusal.message)
        request.session.pop(PENDING_SIGN_IN, None)
        return _refusal(refusal, redirect=reverse("signin"))
    return _refusal(refusal)


def _no_pending_sign_in() -> JsonResponse:
    return _refusal(
        ApplicationError(
            "invalid_challenge",
            _("This sign-in has expired or was finished. Sign in again."),
            status=401,
        ),
        redirect=reverse("signin"),
    )


@never_cache
@require_POST
@throttle_view(OtpThrottle, json=True)
def signin_passkey_begin(request: HttpRequest) -> JsonResponse:
    pending = request.session.get(PENDING_SIGN_IN)
    if not pending:
        return _no_pending_sign_in()
    try:
        options = services.sign_in_passkey_begin(challenge=pending["challenge"], request=request)
    except ApplicationError as refusal:
        return _sign_in_refusal(request, refusal)
    return JsonResponse(options)


@never_cache
@require_POST
@throttle_view(OtpThrottle, json=True)
def signin_passkey_complete(request: HttpRequest) -> JsonResponse:
    pending = request.session.get(PENDING_SIGN_IN)
    if not pending:
        return _no_pending_sign_in()
    try:
        signed_in = services.sign_in_passkey_complete(
            challenge=pending["challenge"],
            request=request,
            data=_payload(request).get("credential"),
        )
    except ApplicationError as refusal:
        return _sign_in_refusal(request, refusal)
    complete_web_sign_in(request, signed_in)
    return JsonResponse({"redirect": pending["next"]})


urlpatterns = [
    path("signin/passkey/begin/", signin_passkey_begin, name="signin-passkey-begin"),
    path("signin/passkey/complete/", signin_passkey_complete, name="signin-passkey-complete"),
    path("account/security/passkeys/begin/", passkey_register_begin, name="passkey-register-begin"),
    path(
        "account/security/passkeys/complete/",
        passkey_register_complete,
        name="passkey-register-complete",
    ),
]
