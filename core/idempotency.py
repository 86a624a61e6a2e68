"""Idempotency keys (API.md "Conventions"), on the model of Stripe's.

A POST that creates a booking or moves money may carry `Idempotency-Key` (1 to 255 characters).
The first request with a key runs the view and its answer is stored; for 24 hours a retry with the
same key and the same request gets that answer again (with `Idempotent-Replayed: true`) and the
view does not run again. The same key with another request is refused with 422
`idempotency_key_reused`; a retry that arrives while the first request is still running gets 409
`request_in_progress` with `Retry-After`.

A view opts in by decorating its method:

    class BookingList(APIView):
        permission_classes = [IsAuthenticated]

        @idempotent
        def post(self, request): ...

How it works. Keys belong to a person: one row per (user, key), whatever the route. The request's
fingerprint (SHA-256 of method, path, query and canonical body) is stored with it, so the same key
sent to another route is "another request" (422), as with Stripe. The body counts as JSON
canonicalised (key order and whitespace do not matter), multipart as its parsed fields and file
hashes (its boundary changes with each attempt), anything else as its raw bytes and content type.
Without the header the view runs as usual; with it the caller must be signed in (401
`not_authenticated` otherwise: a key promises exactly-once, which needs someone to scope it to).

1. In a short transaction of its own the row is inserted as in progress. Its unique (user, key)
   is the lock: a concurrent duplicate fails the insert and reads the row instead (replay, 422,
   or 409). Nothing else is locked and no transaction stays open while the view runs; the view
   opens and commits its own.
2. The view runs. Its errors are turned into responses here (`view.handle_exception`), so that a
   refusal can be stored too.
3. Answers below 500 are stored and replayed: a refusal such as `insufficient_funds` is the final
   answer for that key. Not stored, the row deleted so that the client may retry with the same key:
   5xx (including 503 `busy`), 429, and answers that are not JSON.

An expired row (24 h) counts as absent: the next request with the key takes it over. A row left in
progress by a worker that died (killed by gunicorn's 30-second timeout, a deploy, an OOM) would
block its key for 24 hours; so a row in progress for more than `STALE_AFTER` (60 s, twice the
worker timeout: no live request can still hold it) is taken over by a retry with the same request
(another request still gets 422: the key stays bound to its first request until it expires).
If the dead worker had already committed its change, that retry runs the view a second time: a
view that moves money should also be safe to repeat on its own terms (a unique booking per slot,
a ledger entry per operation), which is the domain's job, not this module's. Each take-over writes
a new `claim`, so a slow first worker that finishes late cannot overwrite the new owner's answer.

Expired rows are deleted hourly by `idempotency_purge_expired` (task and command
`purge_idempotency_keys`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core import clock
from core.errors import ApplicationError
from core.models import IdempotencyRecord

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
TTL = dt.timedelta(hours=24)
# A row in progress for longer than this was left by a dead worker (see the module docstring).
STALE_AFTER = dt.timedelta(seconds=60)
IN_PROGRESS_RETRY_AFTER_SECONDS = 1
# The few response headers worth replaying.
STORED_HEADERS = ("Location", "Retry-After")
_CLAIM_ATTEMPTS = 5

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Up to 255 characters, unique per request you mean to make once. The same key and body "
        "within 24 h replay the first answer (header `Idempotent-Replayed: true`); the same key "
        "with another body is refused with 422 `idempotency_key_reused`; while the first request "
        "is still running, 409 `request_in_progress` with `Retry-After`."
    ),
)


# --- Fingerprint --------------------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    # surrogatepass: JSON may carry a lone surrogate ("\ud800"); it is still the same request.
    # default=str: what a DRF parser other than JSON may leave in request.data.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8", "surrogatepass")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(content_type: str) -> bool:
    media_type = _media_type(content_type)
    return media_type == "application/json" or media_type.endswith("+json")


def _parsed_body(request) -> tuple[str, bytes]:
    """The body as parsed: for multipart (whose raw bytes hold a boundary each client picks anew
    for each attempt), and for a body a parser has already read from the stream."""
    data = getattr(request, "data", None)
    if data is None:  # a plain Django request
        data = request.POST
    if not hasattr(data, "getlist"):
        return "json", _canonical_json(data)
    fields = sorted((name, [str(value) for value in data.getlist(name)]) for name in data)
    files = []
    for name, uploads in sorted(request.FILES.lists()):
        for upload in uploads:
            digest = hashlib.sha256()
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
            files.append([name, upload.name, upload.size, digest.hexdigest()])
    return "form", _canonical_json({"fields": fields, "files": files})


def _canonical_body(request) -> tuple[str, bytes]:
    """(kind, bytes): JSON canonicalised (key order and whitespace do not matter), multipart by
    its parsed fields and files, other bodies as their raw bytes with their content type."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if _media_type(content_type) == "multipart/form-data":
        return _parsed_body(request)
    try:
        raw = request._request.body if hasattr(request, "_request") else request.body
    except RawPostDataException:
        return _parsed_body(request)
    except RequestDataTooBig as exc:
        raise ApplicationError(
            "validation_error", _("The request body is too large."), status=400
        ) from exc
    if not raw:
        return "empty", b""
    if _is_json(content_type):
        try:
            return "json", _canonical_json(json.loads(raw))
        except (ValueError, RecursionError):
            pass  # not valid JSON: the view will refuse it; its bytes identify it
    return f"raw {content_type}", raw


def request_fingerprint(request) -> str:
    """SHA-256 of method, path, query and canonical body, each length-prefixed."""
    query = sorted((name, value) for name, values in request.GET.lists() for value in values)
    kind, body = _canonical_body(request)
    digest = hashlib.sha256()
    for part in (
        request.method.upper().encode(),
        request.path.encode("utf-8", "surrogatepass"),
        _canonical_json(query),
        kind.encode("utf-8", "surrogatepass"),
        body,
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# --- Claiming a key -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Claim:
    pk: int
    claim: uuid.UUID


def _key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        message = _("The Idempotency-Key header must be from 1 to %(max)s characters long.") % {
            "max": MAX_KEY_LENGTH
        }
        raise ApplicationError("validation_error", message, status=400, fields={HEADER: [message]})
    if not key.isprintable():
        # Control characters are no part of a key; PostgreSQL would refuse a NUL byte outright.
        message = _("The Idempotency-Key header must not hold control characters.")
        raise ApplicationError("validation_error", message, status=400, fields={HEADER: [message]})
    return key


def _key_reused() -> ApplicationError:
    return ApplicationError(
        "idempotency_key_reused",
        _(
            "This Idempotency-Key was already used for a different request. "
            "Use a new key for a new request."
        ),
        status=422,
    )


def _in_progress() -> ApplicationError:
    return ApplicationError(
        "request_in_progress",
        _("A request with this Idempotency-Key is still being processed. Retry in a moment."),
        status=409,
        retry_after=IN_PROGRESS_RETRY_AFTER_SECONDS,
    )


def _replay(record: IdempotencyRecord) -> Response:
    headers = {**(record.response_headers or {}), REPLAYED_HEADER: "true"}
    return Response(record.response_body, status=record.response_status, headers=headers)


def _claim_or_answer(*, user, key: str, fingerprint: str, method: str, path: str):
    """Take the key for this request (a `_Claim`), or the answer for a duplicate: a replay
    (`Response`), or raise 422 / 409."""
    fresh = {
        "method": method,
        "path": path[:500],
        "request_fingerprint": fingerprint,
        "status": IdempotencyRecord.Status.IN_PROGRESS,
        "response_status": None,
        "response_body": None,
        "response_headers": {},
        "completed_at": None,
    }
    for _attempt in range(_CLAIM_ATTEMPTS):
        now = clock.now()
        claim = uuid.uuid4()
        try:
            # durable: refuses to run inside a caller's transaction (ATOMIC_REQUESTS, a view's
            # atomic block), where the row would stay invisible to a duplicate until the end.
            with transaction.atomic(durable=True):
                record = IdempotencyRecord.objects.create(
                    user=user, key=key, claim=claim, created_at=now, expires_at=now + TTL, **fresh
                )
            return _Claim(record.pk, claim)
        except IntegrityError:
            pass  # someone has the key: read what they left
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # released (a 5xx) or purged in between: try the insert again
        same_request = existing.request_fingerprint == fingerprint
        expired = existing.expires_at <= now
        stale = (
            existing.status == IdempotencyRecord.Status.IN_PROGRESS
            and existing.created_at <= now - STALE_AFTER
        )
        if expired or (stale and same_request):
            with transaction.atomic(durable=True):
                taken = IdempotencyRecord.objects.filter(
                    pk=existing.pk, claim=existing.claim
                ).update(claim=claim, created_at=now, expires_at=now + TTL, **fresh)
            if taken:
                if stale and not expired:
                    logger.warning(
                        "idempotency key %s of user %s taken over after %s in progress",
                        existing.pk,
                        user.pk,
                        now - existing.created_at,
                    )
                return _Claim(existing.pk, claim)
            continue  # another request took it over first: look again
        if not same_request:
            raise _key_reused()
        if existing.status == IdempotencyRecord.Status.DONE:
            return _replay(existing)
        raise _in_progress()
    raise _in_progress()


# --- Storing the answer ---------------------------------------------------------------------------


class _NotStorable(Exception):
    pass


def _storable_body(response: HttpResponse) -> Any:
    """The answer's body as a JSON value (None for no body)."""
    if isinstance(response, Response):
        if response.data is None:
            return None
        try:
            return json.loads(JSONRenderer().render(response.data))
        except (TypeError, ValueError) as exc:
            raise _NotStorable(str(exc)) from exc
    if getattr(response, "streaming", False):
        raise _NotStorable("streaming response")
    if not response.content:
        return None
    if not _is_json(response.get("Content-Type", "")):
        raise _NotStorable(f"content type {response.get('Content-Type')!r}")
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise _NotStorable(str(exc)) from exc


def _is_final(status: int) -> bool:
    # 429 and 5xx (503 `busy` included) say "try again": a retry with the key must really run.
    return status < 500 and status != 429


def _release(claim: _Claim) -> None:
    try:
        IdempotencyRecord.objects.filter(pk=claim.pk, claim=claim.claim).delete()
    except DatabaseError:
        # The row becomes stale after STALE_AFTER and a retry takes it over then.
        logger.exception("could not release idempotency key %s", claim.pk)


def _store(claim: _Claim, response: HttpResponse) -> None:
    status = response.status_code
    if not _is_final(status):
        _release(claim)
        return
    try:
        body = _storable_body(response)
    except _NotStorable as exc:
        logger.warning("answer to idempotency key %s not stored (%s): key released", claim.pk, exc)
        _release(claim)
        return
    headers = {name: response[name] for name in STORED_HEADERS if response.has_header(name)}
    try:
        stored = IdempotencyRecord.objects.filter(
            pk=claim.pk, claim=claim.claim, status=IdempotencyRecord.Status.IN_PROGRESS
        ).update(
            status=IdempotencyRecord.Status.DONE,
            response_status=status,
            response_body=body,
            response_headers=headers,
            completed_at=clock.now(),
        )
    except DatabaseError:
        # The view's work is done and committed: the client still gets its answer.
        logger.exception("could not store the answer to idempotency key %s", claim.pk)
        return
    if not stored:
        logger.warning("idempotency key %s was taken over before its answer was stored", claim.pk)


# --- The decorator --------------------------------------------------------------------------------


def idempotent(view_method: Callable) -> Callable:
    """Make a DRF view method (`post`) honour `Idempotency-Key` (see the module docstring)."""

    @functools.wraps(view_method)
    def wrapper(view, request, *args, **kwargs):
        key = _key_of(request)
        if key is None:
            return view_method(view, request, *args, **kwargs)
        user = request.user
        if not getattr(user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        outcome = _claim_or_answer(
            user=user,
            key=key,
            fingerprint=request_fingerprint(request),
            method=request.method.upper(),
            path=request.path,
        )
        if isinstance(outcome, Response):
            return outcome
        try:
            try:
                response = view_method(view, request, *args, **kwargs)
            except Exception as exc:
                # What dispatch() would do with it, here so that a refusal can be stored.
                response = view.handle_exception(exc)
        except BaseException:
            _release(outcome)
            raise
        _store(outcome, response)
        return response

    return extend_schema(parameters=[IDEMPOTENCY_KEY_PARAMETER])(wrapper)


# --- Clean-up -------------------------------------------------------------------------------------


def idempotency_purge_expired(*, as_of: dt.datetime | None = None, batch_size: int = 1000) -> int:
    """Delete the keys expired by `as_of` (default now), in small batches; how many went."""
    as_of = as_of or clock.now()
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=as_of)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        # expires_at again: a row taken over in between has a new expiry and stays.
        count, _by_model = IdempotencyRecord.objects.filter(
            pk__in=ids, expires_at__lte=as_of
        ).delete()
        deleted += count
