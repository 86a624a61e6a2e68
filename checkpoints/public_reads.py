"""The cached public reads of a checkpoint: the slots API here, the live board in
checkpoint_queue.board, and the version stamps that keep both correct.

Both are read far more often than they change, by anyone, without signing in. In front of the
portal the proxy keeps each answer for a few seconds (core.http_cache, deploy/nginx); behind it
they are kept in the cache under version stamps, so a change shows at once: an entry carries the
versions it was computed under and is used only while they are still the current ones; a change
replaces the version. A reader takes the versions before it reads the database, so an entry
computed from rows older than a change always carries a version that the change has already
replaced. The versions are also the answer's ETag.

- `cfg:<checkpoint>`: the checkpoint's capacity, opening hours, overrides and closures (C1–C3);
  replaced when any of those rows is saved or deleted (admin, services).
- `day:<checkpoint>:<date>`: the slot counters of one local date; replaced by every booking or
  hold that takes or frees a place on it.
- `queue:<checkpoint>`: what the board shows about vehicles (Q1–Q4); replaced by every saved
  booking of the checkpoint.

A version is replaced when the change is made and again when its transaction commits: a reader
between the two may store rows of before the commit, under a version the commit replaces.
PUBLIC_CACHE_SECONDS bounds how long a change that bypasses the ORM (raw SQL) can go unseen.
"""

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from checkpoints import capacity
from checkpoints.models import Checkpoint, Closure, HourOverride, QuotaOverride
from checkpoints.selectors import DayGrid, day_grid
from core import clock
from core.compiled_query import CompiledQuery

logger = logging.getLogger(__name__)

PUBLIC_CACHE_SECONDS = 300


def config_key(checkpoint_id: int) -> str:
    return f"public:v:cfg:{checkpoint_id}"


def day_key(checkpoint_id: int, date: dt.date) -> str:
    return f"public:v:day:{checkpoint_id}:{date.isoformat()}"


def queue_key(checkpoint_id: int) -> str:
    return f"public:v:queue:{checkpoint_id}"


def _replace_versions(keys: list[str]) -> None:
    def replace() -> None:
        cache.set_many({key: uuid.uuid4().hex for key in keys}, timeout=None)

    # A cache that is down must not fail the booking or the operator's change that got here:
    # the change is logged, and entries expire within PUBLIC_CACHE_SECONDS anyway.
    try:
        replace()
    except Exception:
        logger.exception("Public read cache: versions %s not replaced", keys)
    transaction.on_commit(replace, robust=True)


def public_reads_changed(*, checkpoint_id: int, dates: Iterable[dt.date] = ()) -> None:
    """Places were taken or freed on `dates`, or a booking of the checkpoint changed: the slots
    of those dates and the checkpoint's board are read again from the database."""
    keys = [queue_key(checkpoint_id)] + [day_key(checkpoint_id, date) for date in set(dates)]
    _replace_versions(keys)


def checkpoint_config_changed(*, checkpoint_id: int) -> None:
    """Capacity, opening hours, an override or a closure changed: every cached slot grid and the
    board of the checkpoint are read again."""
    _replace_versions([config_key(checkpoint_id)])


# Read on every public read that reaches the portal; the ORM builds it once (core.compiled_query).
_BOOKABLE_BY_CODE = CompiledQuery(
    lambda code: Checkpoint.objects.bookable().filter(code=code)[:1], code="(stand-in)"
)


def public_checkpoint(code: str) -> Checkpoint | None:
    """The active checkpoint serving freight with this code (any case), or None."""
    code = code.upper()
    # A code no checkpoint can have is not looked up (PostgreSQL would refuse a NUL byte in it).
    if not 0 < len(code) <= 40 or not _CODE_CHARACTERS.issuperset(code):
        return None
    return next(iter(_BOOKABLE_BY_CODE.run(code=code)), None)


_CODE_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@dataclasses.dataclass(frozen=True)
class PublicRead:
    """A cached public read and the stamp of what it was computed from (its ETag)."""

    value: Any
    stamp: str


def cached_read(
    checkpoint: Checkpoint,
    name: str,
    version_keys: list[str],
    compute: Callable[[], Any],
    timeout: int,
) -> PublicRead:
    """The cached value `name` of a checkpoint, computed by `compute()` when missing or stored
    under other versions. An entry is (versions it was computed under, value). A version
    missing from the cache (never set, or evicted) gets a new one, never a value an old entry
    could have been stored under."""
    entry = f"public:{name}:{checkpoint.pk}"
    found = cache.get_many([*version_keys, entry])
    for key in version_keys:
        if key not in found:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            found[key] = cache.get(key)
    versions = tuple(found[key] for key in version_keys)
    stored = found.get(entry)
    if stored is not None and stored[0] == versions:
        value, computed = stored[1], stored[2]
    else:
        value, computed = compute(), uuid.uuid4().hex[:8]
        cache.set(entry, (versions, value, computed), timeout=timeout)
    # The entry's own mark tells apart two computations under the same versions (the board's
    # clock-bound parts after checkpoint_queue.board.BOARD_CACHE_SECONDS).
    return PublicRead(value=value, stamp="-".join([*versions, computed]))


def public_day_grid(
    *, checkpoint: Checkpoint, direction: str, date: dt.date, service: str
) -> PublicRead:
    """`day_grid` for the public slots API, from the cache when nothing changed since.
    `bookable` depends on the time of the request and is worked out again on every read; the
    stamp says which slots it found bookable."""
    read = cached_read(
        checkpoint,
        f"slots:{direction}:{date.isoformat()}:{service}",
        [config_key(checkpoint.pk), day_key(checkpoint.pk, date)],
        lambda: day_grid(checkpoint=checkpoint, direction=direction, date=date, service=service),
        PUBLIC_CACHE_SECONDS,
    )
    grid = _bookable_now(read.value)
    flags = "".join("1" if slot.bookable else "0" for slot in grid.slots)
    return PublicRead(value=grid, stamp=f"{read.stamp}-{int(flags or '0', 2):x}")


def _open_with_place(slot) -> bool:
    """Bookable but for the booking window, which moves with the clock (C4)."""
    return not slot.closed and slot.free > 0


def _bookable_now(grid: DayGrid) -> DayGrid:
    """The grid with `bookable` worked out for this moment (it moves with the clock)."""
    now = clock.now()
    return dataclasses.replace(
        grid,
        slots=[
            dataclasses.replace(
                slot,
                bookable=_open_with_place(slot) and capacity.in_booking_window(slot.start, now),
            )
            for slot in grid.slots
        ],
    )


def _config_row_changed(sender, instance, **kwargs) -> None:
    checkpoint_config_changed(
        checkpoint_id=instance.pk if sender is Checkpoint else instance.checkpoint_id
    )


# Booking saves that change neither the place nor what the board shows.
_QUIET_BOOKING_FIELDS = frozenset({"deposit_hold"})


def _booking_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if not created and update_fields is not None and set(update_fields) <= _QUIET_BOOKING_FIELDS:
        return
    public_reads_changed(
        checkpoint_id=instance.checkpoint_id, dates=[clock.local_date(instance.slot_start)]
    )


def _hold_changed(sender, instance, **kwargs) -> None:
    public_reads_changed(
        checkpoint_id=instance.checkpoint_id, dates=[clock.local_date(instance.slot_start)]
    )


for _model in (Checkpoint, HourOverride, QuotaOverride, Closure):
    post_save.connect(_config_row_changed, sender=_model, dispatch_uid=f"public-{_model.__name__}")
    post_delete.connect(
        _config_row_changed, sender=_model, dispatch_uid=f"public-del-{_model.__name__}"
    )
post_save.connect(_booking_saved, sender="bookings.Booking", dispatch_uid="public-booking")
post_save.connect(_hold_changed, sender="bookings.SlotHold", dispatch_uid="public-hold")
post_delete.connect(_hold_changed, sender="bookings.SlotHold", dispatch_uid="public-del-hold")
