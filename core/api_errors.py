"""Every API error has one shape (API.md): {"error": {"code", "message", "fields"}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from core.errors import ApplicationError, error_body
from core.throttles import retry_after_seconds

logger = logging.getLogger(__name__)

BUSY_RETRY_AFTER_SECONDS = 2


def is_lock_timeout(exc: BaseException) -> bool:
    """A lock wait that ran out: PostgreSQL lock_not_available, or SQLite's busy database."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "55P03":
        return True
    return "database is locked" in str(exc)


def _fields(detail: Any) -> dict:
    if isinstance(detail, dict):
        return {key: _fields(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [
            str(item) if not isinstance(item, dict | list) else _fields(item) for item in detail
        ]
    return str(detail)


def _first_messages(fields: dict) -> str:
    """'date: Write the date as YYYY-MM-DD.' — the first problem of each field, for people."""
    parts = []
    for name, value in fields.items():
        while isinstance(value, list | dict) and value:
            value = value[0] if isinstance(value, list) else next(iter(value.values()))
        if isinstance(value, str):
            parts.append(value if name == "non_field_errors" else f"{name}: {value}")
    return " ".join(parts)


def _suspicious_request_message(exc: SuspiciousOperation) -> str:
    """Django refuses a request body it will not read (too large, too many fields) or a request
    it distrusts while DRF reads it; the client hears why, in its language, as a 400."""
    if isinstance(exc, RequestDataTooBig):
        return _("The request body is too large.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return _("The request has too many fields.")
    return _("The request is not valid.")


def _drf_code_and_message(exc: exceptions.APIException) -> tuple[str, str, dict]:
    if isinstance(exc, exceptions.ValidationError | exceptions.ParseError):
        fields = _fields(exc.detail) if isinstance(exc.detail, dict) else {}
        if isinstance(exc.detail, dict):
            message = _first_messages(fields) or _("Some fields are not valid.")
        elif isinstance(exc.detail, list):
            message = " ".join(str(item) for item in exc.detail)
        else:
            message = str(exc.detail)
        if isinstance(exc, exceptions.ParseError):
            message = _("The request body could not be read: %(detail)s") % {"detail": exc.detail}
        return "validation_error", message, fields
    mapping: dict[type, tuple[str, str]] = {
        exceptions.NotAuthenticated: ("not_authenticated", _("Sign in to do this.")),
        exceptions.AuthenticationFailed: (
            "not_authenticated",
            _("The credentials are not valid or have expired."),
        ),
        exceptions.PermissionDenied: ("forbidden", _("You are not allowed to do this.")),
        exceptions.NotFound: ("not_found", _("Not found.")),
        exceptions.MethodNotAllowed: ("not_allowed", _("This method is not allowed here.")),
        exceptions.NotAcceptable: ("not_acceptable", _("This answer format is not available.")),
        exceptions.UnsupportedMediaType: (
            "unsupported_media_type",
            _("Send the request body as JSON."),
        ),
        exceptions.Throttled: ("throttled", _("Too many requests. Try again later.")),
    }
    for exc_class, (code, message) in mapping.items():
        if isinstance(exc, exc_class):
            return code, message, {}
    return exc.default_code or "error", str(exc.detail), {}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error in the API's shape, never a stack trace."""
    set_rollback()
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        code, message, fields = _drf_code_and_message(exc)
        response = Response(error_body(code, message, fields), status=exc.status_code)
        if isinstance(exc, exceptions.Throttled):
            response["Retry-After"] = str(retry_after_seconds(exc.wait))
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        return response
    if isinstance(exc, SuspiciousOperation):
        logger.warning("refused request: %s", exc)
        return Response(
            error_body("validation_error", _suspicious_request_message(exc)), status=400
        )
    if is_lock_timeout(exc):
        logger.warning("lock wait timed out: %s", exc)
        response = Response(
            error_body("busy", _("The service is busy. Please retry in a moment.")), status=503
        )
        response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response
    logger.exception("unhandled API error", exc_info=exc)
    return Response(
        error_body("server_error", _("Something went wrong on our side. Please try again.")),
        status=500,
    )


class ApiNotFound(APIView):
    """Any path under /api/v1/ that names nothing: 404 in the API's shape, whatever the method
    and even with DEBUG on (Django's debug 404 page would otherwise answer)."""

    authentication_classes = []
    permission_classes = []
    schema = None

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, request
        self.headers = self.default_response_headers
        response = Response(error_body("not_found", _("Not found.")), status=404)
        return self.finalize_response(self.initialize_request(request), response)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def json_or_page_404(request, exception=None):
    """Django's 404 for paths outside DRF: JSON in the API, a page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)

    return page_not_found(request, exception)


def json_or_page_500(request):
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", _("Something went wrong on our side. Please try again.")),
            status=500,
        )

    return server_error(request)


def json_or_page_403(request, exception=None):
    if _is_api(request):
        return JsonResponse(
            error_body("forbidden", _("You are not allowed to do this.")), status=403
        )

    return permission_denied(request, exception)


def json_or_page_400(request, exception=None):
    if _is_api(request):
        return JsonResponse(
            error_body("validation_error", _("The request is not valid.")), status=400
        )

    return bad_request(request, exception)
