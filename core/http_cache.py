"""Public reads cached where the web caches them: in the browser and in the deployment's proxy.

Slots, the board, fees, the checkpoint lists and the visit counts are the same for everyone who
reads them. Their answers say so (`Cache-Control: public`, a max-age of a few seconds and
`stale-while-revalidate`), carry an ETag, and a client that sends it back in If-None-Match gets
`304 Not Modified`. The proxy in front (deploy/nginx) keeps them for that max-age and sends one
request per entry to the portal however many clients ask at once, so most reads never reach
Python. Pages are not shared this way: each carries the visitor's own CSRF token.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponseBase
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    quote_etag,
    set_response_etag,
)
from rest_framework.response import Response
from rest_framework.views import APIView

from core.throttles import PublicReadThrottle


def public_read_response(request, response: HttpResponseBase) -> HttpResponseBase:
    """A public read's 200 made reusable for PUBLIC_READ_MAX_AGE seconds by anyone, with its
    ETag (the one the view set from the stamps of what it read, else a hash of the body), or
    the 304 for a client that holds it. Other answers (errors, 429) are left as they are."""
    if response.status_code not in (200, 304):
        return response
    patch_cache_control(
        response,
        public=True,
        max_age=settings.PUBLIC_READ_MAX_AGE,
        stale_while_revalidate=settings.PUBLIC_READ_STALE_SECONDS,
    )
    if response.status_code == 304:  # the view answered from the stamp (PublicReadApi.stamped)
        return response
    if not response.has_header("ETag"):
        if hasattr(response, "render"):
            response.render()
        set_response_etag(response)
    return get_conditional_response(request, etag=response["ETag"], response=response)


class PublicReadApi(APIView):
    """An API read that is the same for every reader: no authentication, the public read limit
    (core.throttles), and the answer cached as public_read_response says."""

    authentication_classes = []
    throttle_classes = [PublicReadThrottle]

    def stamped(self, request, stamp: str, body: Callable[[], Any]) -> Response:
        """The answer of a read whose `stamp` (its version stamps) names what it holds: 304
        when the client (or the proxy revalidating its copy) holds that already, before the
        body is made; else `body()` with the stamp as its ETag."""
        etag = quote_etag(stamp)
        if get_conditional_response(request, etag=etag) is not None:
            return Response(status=304, headers={"ETag": etag})
        return Response(body(), headers={"ETag": etag})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return public_read_response(request, response)
