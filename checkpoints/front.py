"""The public read front: repeats of the busiest anonymous reads answered before Django.

checkpoints.middleware.PublicReadFastPath answers the anonymous slots and queue reads from the
cache inside Django's middleware. This WSGI wrapper (config/wsgi.py) answers a repeat of such a
read without Django's request, middleware and response objects, which cost more than the read.

It only repeats what the middleware answered. The first fast answer of a kind of request goes
through Django: the path, the method, the host and port (as every header Django reads them
from), the scheme (and the proxy's header for it), Accept and Accept-Language. Its status line
and headers are kept as that kind's template. Later requests of the same kind get the template
with their own body, Content-Length and X-Request-ID, after the same rate limit and the same
cache entry as the middleware's (from this process's copy while Redis says it is current,
checkpoints.near_cache). Every request header the answer's headers depend on is part of
the kind, so the front answers as Django would. Everything else goes to Django unchanged: a
cookie, Authorization, a query string the middleware has not validated, a checkpoint code this
process has not seen, a cache miss, a refusal, an error. A count taken here is passed along in
the environ, so no request is counted twice.
"""

import logging
import re
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from checkpoints import selectors
from checkpoints.middleware import (
    FAST_ANSWER_ENVIRON_KEY,
    PLAIN_ACCEPT,
    PUBLIC_READ_PATH,
    counted_public_read,
    valid_slots_queries,
)
from core.log import current_request_id, request_id_from_header
from core.middleware import REQUEST_ID_HEADER, log_request

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]

# At most this many kinds of request keep a template (emptied when full): a kind per path,
# host, scheme and Accept/Accept-Language header as clients send them.
TEMPLATES_KEPT = 1024
# Environ entries that Django reads the host, port and scheme from (HttpRequest.get_host,
# get_port, scheme), besides the SECURE_PROXY_SSL_HEADER one.
_HOST_AND_SCHEME = (
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "wsgi.url_scheme",
)


class Template:
    """The status line and headers of a fast answer, with the places of the two headers that
    differ between answers of one kind, and the answer's language (the board's body is
    rendered per language)."""

    def __init__(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        names = [name.lower() for name, _value in headers]
        self.length_at = names.index("content-length")
        self.request_id_at = names.index(REQUEST_ID_HEADER.lower())
        self.language = dict((name.lower(), value) for name, value in headers)["content-language"]

    def headers_for(self, body: bytes, request_id: str) -> list[tuple[str, str]]:
        headers = self.headers.copy()
        headers[self.length_at] = (headers[self.length_at][0], str(len(body)))
        headers[self.request_id_at] = (REQUEST_ID_HEADER, request_id)
        return headers


# {kind: template}; module-wide, so that changed settings empty it (tests).
_templates: dict[tuple, Template] = {}
_kind_names: tuple[str, ...] | None = None


def _kind_environ_names() -> tuple[str, ...]:
    global _kind_names
    if _kind_names is None:
        names = ["REQUEST_METHOD", *_HOST_AND_SCHEME, "HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE"]
        if settings.SECURE_PROXY_SSL_HEADER:
            names.append(settings.SECURE_PROXY_SSL_HEADER[0])
        # CommonMiddleware refuses these; only then does the answer depend on the agent.
        if settings.DISALLOWED_USER_AGENTS:
            names.append("HTTP_USER_AGENT")
        _kind_names = tuple(names)
    return _kind_names


@receiver(setting_changed)
def _forget_templates(**kwargs) -> None:
    global _kind_names
    _templates.clear()
    _kind_names = None


class PublicReadFront:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        match = self._match(environ)
        if match is not None:
            kind = (match.string, *(environ.get(name) for name in _kind_environ_names()))
            template = _templates.get(kind)
            if template is not None:
                answered = self._answer(environ, start_response, template, match, started)
                if answered is not None:
                    return answered
            return self._through_django(environ, start_response, kind)
        return self.app(environ, start_response)

    @staticmethod
    def _match(environ: dict) -> re.Match[str] | None:
        """The route of a request the front may answer, or None for one it never answers. Its
        kind is the path (a setting may treat some paths apart: SECURE_REDIRECT_EXEMPT, CSP's
        excluded prefixes) and the environ entries of _kind_environ_names()."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return None
        # No cookie at all: a language cookie would choose the language, a session a user.
        if "HTTP_AUTHORIZATION" in environ or environ.get("HTTP_COOKIE"):
            return None
        if environ.get("HTTP_ACCEPT", "") not in PLAIN_ACCEPT:
            return None
        # Django's path is SCRIPT_NAME + PATH_INFO (decoded as UTF-8): the front answers ASCII
        # paths at the root, where both are the raw PATH_INFO.
        if environ.get("SCRIPT_NAME") or settings.FORCE_SCRIPT_NAME is not None:
            return None
        path = environ.get("PATH_INFO", "")
        match = PUBLIC_READ_PATH.fullmatch(path)
        if match is None or not path.isascii():
            return None
        return match

    def _through_django(self, environ: dict, start_response: StartResponse, kind: tuple):
        """Django's answer; kept as the kind's template when the fast path middleware gave it."""
        seen: list = []

        def keeping_start_response(status, headers, exc_info=None):
            seen.append((status, headers))
            return start_response(status, headers, exc_info)

        answer = self.app(environ, keeping_start_response)
        if environ.get(FAST_ANSWER_ENVIRON_KEY) and len(seen) == 1:
            status, headers = seen[0]
            if status.startswith("200 ") and not any(
                name.lower() == "set-cookie" for name, _value in headers
            ):
                try:
                    template = Template(status, list(headers))
                except (ValueError, KeyError):  # not an answer of the fast path's shape
                    return answer
                if len(_templates) >= TEMPLATES_KEPT:
                    _templates.clear()
                _templates[kind] = template
        return answer

    def _answer(
        self,
        environ: dict,
        start_response: StartResponse,
        template: Template,
        match: re.Match[str],
        started: float,
    ) -> list[bytes] | None:
        try:
            body = self._body(environ, template, match)
        except Exception:
            # Redis down or anything unexpected: Django answers (and logs) it.
            logger.debug("public read front fell through", exc_info=True)
            return None
        if body is None:
            return None
        request_id = request_id_from_header(environ.get("HTTP_X_REQUEST_ID"))
        start_response(template.status, template.headers_for(body, request_id))
        token = current_request_id.set(request_id)
        try:
            log_request(
                method=environ["REQUEST_METHOD"],
                path=environ["PATH_INFO"],
                status=int(template.status[:3]),
                started=started,
                user_id=None,
            )
        finally:
            current_request_id.reset(token)
        return [body]

    @staticmethod
    def _body(environ: dict, template: Template, match: re.Match[str]) -> bytes | None:
        """The answer's body as the middleware makes it, counted against the same limit; None
        when Django has to answer (a miss, a refusal, a query or a code not seen yet)."""
        checkpoint = selectors.public_checkpoint(match["code"], remembered_only=True)
        if checkpoint is None:
            return None
        query_string = environ.get("QUERY_STRING", "")
        query = None
        if match["what"] == "slots":
            query = valid_slots_queries.get(query_string)
            if query is None:
                return None
        elif query_string:
            return None
        # What the throttle reads of a request: its environ, as Django's request.META.
        request = types.SimpleNamespace(META=environ)
        return counted_public_read(request, checkpoint, match["what"], query, template.language)
