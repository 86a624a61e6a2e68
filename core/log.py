"""Structured logs: every record carries the request id (or the Celery task id), and production
writes one JSON object a line (python-json-logger) for the log collector; `make run` keeps plain
text (LOG_FORMAT=plain).

A record never carries passwords, codes, tokens or query strings: request lines log the path
alone, with secret URL parts (the Telegram webhook secret, invitation tokens) masked.
"""

import contextvars
import logging
import re
import uuid

from pythonjsonlogger.json import JsonFormatter as BaseJsonFormatter

# The id of the request being served, set by core.middleware.RequestContextMiddleware.
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_request_id", default=None
)

# URL parts that are credentials (the Telegram webhook secret, invitation tokens): masked in logs.
SECRET_URL_KWARGS = frozenset({"secret", "token"})

# An incoming X-Request-ID is kept only when it looks like an id (a proxy's or a client's), so
# nobody can write arbitrary text, newlines or megabytes into the logs through it.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def request_id_from_header(value: str | None) -> str:
    """The incoming id when it is sane, else a new one."""
    if value and _SANE_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def loggable_path(request) -> str:
    """The path without its query string (it may carry codes), with secret parts masked."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for name, value in match.kwargs.items():
            if name in SECRET_URL_KWARGS and value:
                path = path.replace(str(value), "***")
    return path


def _current_task_id() -> str | None:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    if current_task and getattr(current_task, "request", None) is not None:
        return current_task.request.id
    return None


class ContextFilter(logging.Filter):
    """Adds request_id and task_id to every record (None outside a request or a task), so the
    plain format can name them and the JSON lines always have the keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs after the middleware is done: its record carries the request, and
        # its message ("Not Found: %s") the raw path, whose secret parts are masked here.
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            masked = loggable_path(request)
            if masked != request.path and isinstance(record.args, tuple):
                record.args = tuple(masked if arg == request.path else arg for arg in record.args)
        if not hasattr(record, "request_id"):
            record.request_id = getattr(request, "request_id", None) or current_request_id.get()
        if not hasattr(record, "task_id"):
            # Tasks run in the workers, not in web requests (only tests run them eagerly, and
            # their lines inside a request then carry the request's id alone).
            record.task_id = None if record.request_id else _current_task_id()
        return True


class JsonFormatter(BaseJsonFormatter):
    """python-json-logger's formatter, except that Django's `request` extra (django.request and
    django.security records), whose text is the URL with its query string, becomes the method
    and path alone."""

    def add_fields(self, log_data, record, message_dict) -> None:
        super().add_fields(log_data, record, message_dict)
        request = log_data.pop("request", None)
        if request is not None and hasattr(request, "method") and hasattr(request, "path"):
            log_data.setdefault("method", request.method)
            log_data.setdefault("path", loggable_path(request))


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING for LOG_FORMAT=json (production) or plain (`make run`)."""
    if log_format not in {"json", "plain"}:
        raise ValueError(f"LOG_FORMAT must be json or plain, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "core.log.ContextFilter"}},
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            },
            "json": {
                "()": "core.log.JsonFormatter",
                "fmt": ["levelname", "name", "message"],
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # Our request lines (core.middleware) replace Django's and gunicorn's access logs.
            "django.server": {"level": "WARNING"},
            # It logs every request's headers at INFO.
            "twilio.http_client": {"level": "WARNING"},
            # Celery's lines for every job sent, received and finished (three every 5 s for the
            # audit sealer alone) bury what people need in the console; each job's own line
            # replaces them (config.celery: INFO when it did something, DEBUG when not).
            # Failures and retries still come through at WARNING and ERROR.
            "celery.beat": {"level": "WARNING"},
            "celery.worker.strategy": {"level": "WARNING"},
            "celery.app.trace": {"level": "WARNING"},
        },
    }
