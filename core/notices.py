"""Operator notices: what the registrar must act on before it hurts anyone (next year's MRP not
entered yet, …). Apps register a source in their `AppConfig.ready`; the admin index shows the
notices, `/healthz` lists their codes as warnings (the portal still answers: a notice is not a
failure) and a daily job logs each at WARNING, so monitoring sees them too.

Core keeps only the list: the apps above it know what to check (dependencies point down).
"""

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from core import clock

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Notice:
    code: str  # stable, for monitoring: e.g. "mrp_missing_2027"
    message: str  # for the operator, in the active language
    permission: str  # who can act on it, e.g. "fees.change_mrprate": they see it in the admin


NoticeSource = Callable[[dt.datetime], list[Notice]]

_sources: list[NoticeSource] = []


def register(source: NoticeSource) -> NoticeSource:
    """Add a source of notices (idempotent: `ready()` may run more than once in tests)."""
    if source not in _sources:
        _sources.append(source)
    return source


def current(*, as_of: dt.datetime | None = None) -> list[Notice]:
    """Every source's notices at `as_of` (now by default)."""
    moment = as_of or clock.now()
    return [notice for source in _sources for notice in source(moment)]


def notices_log(*, as_of: dt.datetime | None = None) -> list[Notice]:
    """The daily job: each notice at WARNING; a quiet day says so at DEBUG only."""
    notices = current(as_of=as_of)
    for notice in notices:
        logger.warning("Operator notice %s: %s", notice.code, notice.message)
    if not notices:
        logger.debug("No operator notices.")
    return notices


def notices_for(user) -> list[Notice]:
    """The notices `user` can act on; none, and nothing checked, for anyone but the registrar's
    staff (the public fees page asks on every view)."""
    if not getattr(user, "is_staff", False):
        return []
    return [notice for notice in current() if user.has_perm(notice.permission)]
