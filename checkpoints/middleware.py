"""A short way through the stack for the two busiest public reads.

`GET /api/v1/checkpoints/{code}/slots` and `GET /api/v1/checkpoints/{code}/queue` are read by
anyone, mostly straight from the cache. For an anonymous request (no Authorization header, no
session cookie) whose answer is a current cache entry, this middleware answers itself: the same
throttle, the same cache entry, the JSON the DRF views' serializers and renderer made of it when
the entry was computed (selectors.RenderedDayGrid, the board's per language), and the
hooks of the middleware below it whose headers the answer carries (CommonMiddleware,
LocaleMiddleware, XFrameOptionsMiddleware). It skips sessions, CSRF, authentication, OTP,
messages, the session guard, URL resolution and DRF's dispatch, none of which changes such an
answer. Everything else goes down the normal path unchanged: errors keep the API's shape and
language, a cache miss is computed by the view, and a request over the limit gets the view's 429.
"""

import logging
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware
from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from checkpoints import api, selectors
from core.throttles import PublicReadThrottle

logger = logging.getLogger(__name__)

# The two routes of config/api_urls.py (under "api/v1/"); `<str:code>` matches `[^/]+`.
PUBLIC_READ_PATH = re.compile(r"/api/v1/checkpoints/(?P<code>[^/]+)/(?P<what>slots|queue)")
# Accept headers for which DRF's negotiation picks the JSON renderer with no parameters; any
# other (an indent, text/html for a 406) is left to DRF.
PLAIN_ACCEPT = frozenset({"", "*/*", "application/json"})

# At most this many query strings' parameters are remembered (the slots of a few months of dates
# at every checkpoint, both directions, all services; emptied when full).
VALID_QUERIES_KEPT = 4096
# Query strings of slots reads whose parameters the view accepts, and what it makes of them
# (direction, date, service): the validation depends on nothing else. Shared with checkpoints.front.
valid_slots_queries: dict[str, dict[str, Any]] = {}
# Set in the environ of a request this middleware answered (checkpoints.front keeps the headers
# of such an answer as the template of its kind).
FAST_ANSWER_ENVIRON_KEY = "kezek.public_read_fast_answer"

_VIEWS: dict[str, type[api.APIView]] = {
    "slots": api.CheckpointSlotsApi,
    "queue": api.CheckpointQueueApi,
}


def _view_headers(view_class: type[api.APIView]) -> dict[str, str]:
    """What DRF's finalize_response sets on every answer of the view (Allow). Django's setup()
    adds HEAD to a view with GET, as as_view() does for every request."""
    view = view_class()
    view.setup(HttpRequest())
    return view.default_response_headers


def counted_public_read(
    request: Any,
    checkpoint: selectors.PublicCheckpoint,
    what: str,
    query: dict[str, Any] | None,
    language: str | None = None,
) -> bytes | None:
    """The JSON body of a cached public read (`what`: "slots" with the view's validated `query`,
    or "queue" in `language`, the active one unless given) when the request may have it; None
    when the view has to answer (a miss or a refusal). The request is counted against the
    public read limit in the round trip of the cache read, or on its own when this process's
    copy answers (checkpoints.near_cache). Counted even when the entry turns out stale: the
    view then finds the count on the request and does not count it again."""
    throttle = PublicReadThrottle()
    allowed: bool | None = None

    def read_and_count(keys: list[str]) -> dict[str, Any]:
        nonlocal allowed
        found, allowed = throttle.get_many_and_count(request, keys)
        return found

    if what == "slots":
        # Kept rendered in the cache entry; `bookable` is filled in for the time of this read.
        body = selectors.cached_public_day_grid_json(
            checkpoint=checkpoint, read_many=read_and_count, **query
        )
    else:
        # Kept rendered in the cache entry, in each language.
        body = selectors.cached_public_board_json(
            checkpoint, read_many=read_and_count, language=language
        )
    if body is not None and allowed is None:  # answered by this process's copy
        allowed = throttle.allow_request(request, None)
    return body if allowed else None


class PublicReadFastPath:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # The views' answers are rendered as they render them; a view with another renderer
        # (or content negotiation between several) would answer differently.
        if any(view.renderer_classes != [JSONRenderer] for view in _VIEWS.values()):
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.common = CommonMiddleware(get_response)
        self.locale = LocaleMiddleware(get_response)
        self.xframe = XFrameOptionsMiddleware(get_response)
        self.view_headers = {what: _view_headers(view) for what, view in _VIEWS.items()}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = self._eligible(request)
        if match is not None:
            try:
                response = self._answer(request, match["code"], match["what"])
            except Exception:
                # Redis down or anything unexpected: the normal path answers (and logs) it.
                logger.debug("public read fast path fell through", exc_info=True)
                response = None
            if response is not None:
                return response
        return self.get_response(request)

    @staticmethod
    def _slots_query(request: HttpRequest) -> dict[str, Any] | None:
        """The slots view's validated parameters, or None when it would refuse them. Valid
        answers are remembered by query string (valid_slots_queries), so a repeated read skips
        the serializer; the memory is emptied when it grows too big."""
        query_string = request.META.get("QUERY_STRING", "")
        query = valid_slots_queries.get(query_string)
        if query is None:
            checked = api.CheckpointSlotsApi.Filter(data=request.GET)
            if not checked.is_valid():
                return None
            if len(valid_slots_queries) >= VALID_QUERIES_KEPT:
                valid_slots_queries.clear()
            query = valid_slots_queries[query_string] = dict(checked.validated_data)
        return query

    @staticmethod
    def _eligible(request: HttpRequest) -> re.Match[str] | None:
        if request.method not in ("GET", "HEAD"):
            return None
        meta = request.META
        if "HTTP_AUTHORIZATION" in meta or settings.SESSION_COOKIE_NAME in request.COOKIES:
            return None
        if meta.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT:
            return None
        match = PUBLIC_READ_PATH.fullmatch(request.path_info)
        if match is None or api_settings.URL_FORMAT_OVERRIDE in request.GET:
            return None
        return match

    def _answer(self, request: HttpRequest, code: str, what: str) -> HttpResponse | None:
        """The view's answer when it is a 200 from the cache, else None (the view answers)."""
        if self.common.process_request(request) is not None:  # a redirect (PREPEND_WWW)
            return None
        self.locale.process_request(request)  # the board's checkpoint name is translated
        checkpoint = selectors.public_checkpoint(code)
        if checkpoint is None:
            return None
        query = None
        if what == "slots":
            query = self._slots_query(request)
            if query is None:
                return None
        body = counted_public_read(request, checkpoint, what, query)
        if body is None:
            # A miss is computed by the view; a refusal is the view's 429, in the API's shape
            # and language (a refusal counts nothing).
            return None
        response = HttpResponse(body, content_type=JSONRenderer.media_type)
        for header, value in self.view_headers[what].items():
            response[header] = value
        # The response hooks of the middleware below, in the order the normal path runs them.
        response = self.xframe.process_response(request, response)
        response = self.common.process_response(request, response)
        response = self.locale.process_response(request, response)
        # The session guard reads the (anonymous) user, so the normal path's answers vary on
        # the cookie (SessionMiddleware).
        patch_vary_headers(response, ("Cookie",))
        request.META[FAST_ANSWER_ENVIRON_KEY] = True
        return response
