"""Public reads cached where the web caches them: in the browser and in the deployment's proxy.

Slots, the board, fees, the checkpoint lists and the visit counts are the same for everyone who
reads them. Their answers say so (`Cache-Control: public`, a max-age of a few seconds and
`stale-while-revalidate`), carry an ETag, and a client that sends it back in If-None-Match gets
`304 Not Modified`. The proxy in front (deploy/nginx) keeps them for that max-age and sends one
request per entry to the portal however many clients ask at once, so most reads never reach
Python. Pages are not shared this way: each carries the visitor's own CSRF token.
"""

from django.conf import settings
from django.http import HttpResponseBase
from django.utils.cache import (
    get_conditional_response,
    patch_cache_control,
    quote_etag,
    set_response_etag,
)
from rest_framework.views import APIView

from core.throttles import PublicReadThrottle


def public_read_response(request, response: HttpResponseBase) -> HttpResponseBase:
    """A public read's 200 made reusable for PUBLIC_READ_MAX_AGE seconds by anyone, with its
    ETag (the one the view set from the stamps of what it read, else a hash of the body), or
    the 304 for a client that holds it. Other answers (errors, 429) are left as they are."""
    if response.status_code != 200:
        return response
    patch_cache_control(
        response,
        public=True,
        max_age=settings.PUBLIC_READ_MAX_AGE,
        stale_while_revalidate=settings.PUBLIC_READ_STALE_SECONDS,
    )
    if not response.has_header("ETag"):
        if hasattr(response, "render"):
            response.render()
        set_response_etag(response)
    return get_conditional_response(request, etag=response["ETag"], response=response)


def stamp_etag(stamp: str) -> dict[str, str]:
    """The ETag header of an answer made from what `stamp` names (a version stamp)."""
    return {"ETag": quote_etag(stamp)}


class PublicReadApi(APIView):
    """An API read that is the same for every reader: no authentication, the public read limit
    (core.throttles), and the answer cached as public_read_response says."""

    authentication_classes = []
    throttle_classes = [PublicReadThrottle]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return public_read_response(request, response)
