"""The row locks of the outbox (docs/locking.md). A message's keys never change while it is
locked: FOR NO KEY UPDATE."""

from collections.abc import Iterable

from django.db.models import Q

from core.locks import for_update, key_lock
from notify.models import Message


def message_unless_claimed(message_id: int, claimable: Q) -> int | None:
    """The message's id while it is `claimable` and no other worker is claiming it (PostgreSQL
    passes a held row by; SQLite has no row locks and the caller's conditional update decides)."""
    rows = Message.objects.filter(claimable, pk=message_id)
    return for_update(rows, no_key=True, skip_locked=True).values_list("pk", flat=True).first()


def messages_to_retry(message_ids: Iterable[int]) -> list[int]:
    """The failed or queued ones among `message_ids`, locked in id order."""
    rows = Message.objects.filter(
        pk__in=list(message_ids), status__in=[Message.Status.FAILED, Message.Status.QUEUED]
    ).order_by("pk")
    return list(for_update(rows, no_key=True).values_list("pk", flat=True))


def booking_still_confirmed_for(booking) -> bool:
    """The booking is still confirmed for the same slot (a cancellation or reschedule at the
    same time waits for the reminder's transaction, or went first)."""
    from bookings.models import Booking  # bookings is above notify (it sends through it)

    rows = Booking.objects.filter(
        pk=booking.pk, status=Booking.Status.CONFIRMED, slot_start=booking.slot_start
    )
    return for_update(rows, no_key=True, of=("self",)).exists()


def phone(number: str) -> None:
    """The SMS sent to one phone are counted and recorded one transaction at a time (A3, A8),
    whoever sends them: codes, invitations, notices."""
    key_lock("sms-phone", number)
