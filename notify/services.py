"""Notifications (B12, C3): an outbox written in the change's transaction, delivered after commit.

Writing. `booking_event_notify` runs inside the transaction of the booking change it tells of and
inserts one `Message` per recipient, its text rendered there and then in the recipient's language.
A change that rolls back takes its messages with it; a committed change always has them. After
commit the messages are handed to Celery (`notify.tasks.deliver_message`); if the broker cannot
take them, the every-minute job `deliver_outbox` finds them anyway.

Recipients. The person who made the booking (while they still act for its carrier) and every
owner of the carrier: the owner answers for the deposit and the fleet, a dispatcher for the trip.
Each person once, on one channel: their linked Telegram chat when they have one (free and
instant), else SMS to their confirmed phone. A person with neither gets nothing (logged).
`carrier_owners_notify` tells every owner only (the actor too when an owner) of changes to the
carrier's money, access and people (A8): a refund request, a new personal API token, a new member;
and the operator's confirmation or refusal of a carrier from abroad (A7).

Delivering (`deliver`), safe with any number of workers:
1. Claim: one short transaction turns `queued` (due) into `sending` with a random claim token and
   a lease (`lease_until`, 5 minutes) and counts the attempt. The row is picked with
   `select_for_update(skip_locked=True)` on PostgreSQL, so a second worker passes it by at once
   instead of waiting; the claim itself is a conditional UPDATE (`WHERE status = 'queued' …`), so
   only one worker can win on SQLite too. The row lock ends with that transaction.
2. Send to Twilio or Telegram with no transaction open and no lock held.
3. Record the outcome with an UPDATE that names the claim token: `sent` (with the provider's id),
   or back to `queued` with `next_attempt_at` pushed out by the backoff (1, 2, 5, 10, 30, 60, 120
   minutes), or `failed` after the 8th attempt; `last_error` keeps the provider's answer.

A worker that dies while sending leaves `sending` behind; once its lease lapses the message is
claimable again (and counts another attempt). Delivery is therefore at-least-once only in that one
case — the provider accepted the message and the worker died before recording it — because
neither Twilio nor the Bot API takes an idempotency key: no design can tell "sent, not recorded"
from "never sent" there, and a rare duplicate SMS is better than a lost one. Two live workers
never send the same message: the claim admits one, and the lease (5 minutes) is far longer than a
send (the Bot API client times out after 10 s).

Messages are not state changes of the domain: no audit events, only logs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy

from auth2fa.models import SmsDevice, TelegramDevice, User
from carriers.models import Member
from carriers.sms_countries import is_served_phone
from core import bulk, clock
from core.compiled_query import CompiledQuery
from core.money import format_tenge
from notify import locks
from notify.models import Message
from notify.signals import messages_queued
from notify.sms import SmsAllowance, SmsDeliveryError, SmsRefused, send_sms, sms_allowance_take
from notify.telegram import TelegramDeliveryError, send_telegram
from vehicles.plates import format_plate

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# Minutes to wait after the 1st, 2nd, … failed attempt; the last value repeats.
BACKOFF_MINUTES = (1, 2, 5, 10, 30, 60, 120)
LEASE = dt.timedelta(minutes=5)
REMINDER_BEFORE = dt.timedelta(hours=2)
ERROR_MAX_LENGTH = 1000

Kind = Message.Kind
# A8: an SMS held back by the phone's limit waits for it at most this long after it was made…
HELD_AT_MOST = dt.timedelta(days=1)
# … unless it tells of a moment that will have passed: then it is not sent at all.
LATE_IS_USELESS = frozenset(
    {Kind.BOOKING_CALLED, Kind.BOOKING_REMINDER, Kind.DRIVER_NEAR, Kind.DRIVER_CALLED}
)

# Short texts (an SMS): the booking number, checkpoint, local slot time and plate.
TEXTS = {
    Kind.BOOKING_CREATED: gettext_lazy(
        "Kezek: booking %(number)s is made: %(checkpoint)s, %(slot)s, vehicle %(plate)s."
    ),
    Kind.BOOKING_RESCHEDULED: gettext_lazy(
        "Kezek: booking %(number)s is moved from %(old_slot)s to %(slot)s: %(checkpoint)s, "
        "vehicle %(plate)s."
    ),
    Kind.BOOKING_REMINDER: gettext_lazy(
        "Kezek reminder: vehicle %(plate)s is booked at %(checkpoint)s for %(slot)s "
        "(booking %(number)s)."
    ),
    Kind.BOOKING_CALLED: gettext_lazy(
        "Kezek: vehicle %(plate)s is called forward. Go to %(checkpoint)s now (booking %(number)s)."
    ),
    Kind.BOOKING_CROSSED: gettext_lazy(
        "Kezek: vehicle %(plate)s has crossed the border at %(checkpoint)s (booking %(number)s)."
    ),
    Kind.DEPOSIT_RELEASED: gettext_lazy(
        "Kezek: the deposit of %(amount)s for booking %(number)s (vehicle %(plate)s) is "
        "released to your personal account."
    ),
    Kind.DEPOSIT_FORFEITED: gettext_lazy(
        "Kezek: the deposit of %(amount)s for booking %(number)s (vehicle %(plate)s) is "
        "forfeited: the vehicle's second no-show or cancellation within 90 days."
    ),
    Kind.BOOKING_CANCELLED_BY_OPERATOR: gettext_lazy(
        "Kezek: booking %(number)s (%(checkpoint)s, %(slot)s, vehicle %(plate)s) is cancelled "
        "by the operator. The fee is refunded and the deposit released."
    ),
}
# What `extra` must give for an event.
REQUIRED_EXTRA = {Kind.BOOKING_RESCHEDULED: ("old_slot_start",)}

# Told to the drivers of a booking by SMS, on the phone of their driver record (Q7).
DRIVER_TEXTS = {
    Kind.DRIVER_NEAR: gettext_lazy(
        "Kezek: vehicle %(plate)s (booking %(number)s) is number %(position)s in the queue at "
        "%(checkpoint)s. Stay near the waiting area: it will be called soon."
    ),
    Kind.DRIVER_CALLED: gettext_lazy(
        "Kezek: vehicle %(plate)s (booking %(number)s) is called forward at %(checkpoint)s. "
        "Drive to the checkpoint now."
    ),
    Kind.DRIVER_LINK: gettext_lazy(
        "Kezek: vehicle %(plate)s, booking %(number)s, %(checkpoint)s, %(slot)s. Your place in "
        "the queue: %(link)s"
    ),
}

# Told to every owner of the carrier (A8), the actor too when an owner: a stolen owner's session
# is the case that matters. Nothing typed by a person: the actor is named by their role (in the
# owner's language), a bank account by the last 4 characters of its IBAN.
OWNER_TEXTS = {
    Kind.REFUND_REQUESTED: gettext_lazy(
        "Kezek: a refund of %(amount)s to the bank account ending %(iban_tail)s was requested "
        "by %(actor)s. Not expected? Check the security page."
    ),
    Kind.API_TOKEN_CREATED: gettext_lazy(
        "Kezek: a new API token was made by %(actor)s. Not expected? Check the security page."
    ),
    Kind.MEMBER_JOINED: gettext_lazy(
        "Kezek: a new member joined your carrier with the role %(role)s. Not expected? Check "
        "the carrier's people."
    ),
    # The operator's reason is shown in the personal account, not sent.
    Kind.CARRIER_CONFIRMED: gettext_lazy(
        "Kezek: the operator has checked your documents and confirmed your carrier. You can "
        "book now."
    ),
    Kind.CARRIER_REFUSED: gettext_lazy(
        "Kezek: the operator could not confirm your carrier from its documents. The reason is in "
        "your personal account, where you can upload other documents."
    ),
}
# %(actor)s of the owners' texts.
ACTOR_MEMBER = gettext_lazy("a member of your carrier with the role %(role)s")
ACTOR_OUTSIDER = gettext_lazy("a person who is not a member of your carrier")


# --- Writing messages --------------------------------------------------------------------------


def booking_event_notify(
    *,
    booking: Any,
    event: str,
    extra: dict | None = None,
    dedupe_key: str | None = None,
) -> list[Message]:
    """Queue the messages telling of `event` on `booking`, inside the caller's transaction.

    `extra`: `old_slot_start` (reschedule), `reason` (operator cancellation, shown as written),
    `amount` (deposit events; the booking's deposit hold otherwise). `dedupe_key` makes the
    message once-only per recipient: a second call with the same key queues nothing. Returns the
    messages queued; they are delivered after commit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "booking_event_notify must run inside the transaction of the change it tells of."
        )
    if event not in TEXTS:
        raise ValueError(f"No text for the notification {event!r}: add one to notify.services.")
    missing = [key for key in REQUIRED_EXTRA.get(event, ()) if key not in (extra or {})]
    if missing:
        raise ValueError(f"The notification {event!r} needs {', '.join(missing)} in extra.")
    now = clock.now()
    queued: list[Message] = []
    plain: list[Message] = []  # no dedupe key: inserted together below
    for message in _messages_of(booking, event, extra, _recipients(booking), now, dedupe_key):
        if message.dedupe_key is None:
            plain.append(message)
        elif not _save_once(message):
            continue
        queued.append(message)
    if plain:
        _insert_all(plain)
    if queued:
        transaction.on_commit(
            functools.partial(_enqueue, [message.pk for message in queued]), robust=True
        )
    return queued


def bookings_event_notify(*, bookings: Sequence[Any], event: str) -> list[Message]:
    """`booking_event_notify` of one `event` (without `extra` or a dedupe key) for many
    bookings at once, inside the caller's transaction: the same messages, in the order the
    bookings come, with the recipients read once per person and carrier, the messages written
    in one go and handed to the worker in chunks after commit (`notify.tasks`)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "bookings_event_notify must run inside the transaction of the change it tells of."
        )
    if event not in TEXTS or REQUIRED_EXTRA.get(event):
        raise ValueError(f"The notification {event!r} cannot be sent for many bookings at once.")
    now = clock.now()
    people: dict[tuple[int, int], list[tuple[User, Any, str | None]]] = {}
    queued: list[Message] = []
    for booking in bookings:
        key = (booking.created_by_id, booking.carrier_id)
        if key not in people:
            people[key] = _recipients(booking)
        queued += _messages_of(booking, event, None, people[key], now)
    return messages_queue(queued)


def _messages_of(
    booking: Any,
    event: str,
    extra: dict | None,
    recipients: list[tuple[User, Any, str | None]],
    now: dt.datetime,
    dedupe_key: str | None = None,
) -> list[Message]:
    """The messages of `event` on `booking` to `recipients` (`_recipients`), not saved."""
    messages = []
    for user, chat_id, device_phone in recipients:
        address = _address_of(user, chat_id, device_phone)
        if address is None:
            logger.info(
                "Nobody to tell: %s of booking %s — person #%s has no linked Telegram chat "
                "and no confirmed phone.",
                event,
                booking.pk,
                user.pk,
            )
            continue
        channel, to = address
        language = _language_of(user)
        messages.append(
            Message(
                recipient=user,
                channel=channel,
                address=to,
                language=language,
                kind=event,
                body=message_text(booking=booking, event=event, extra=extra, language=language),
                booking=booking,
                dedupe_key=f"{dedupe_key}:to:{user.pk}" if dedupe_key else None,
                status=Message.Status.QUEUED,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return messages


def booking_drivers_notify(
    *,
    booking: Any,
    event: str,
    position: int | None = None,
    link: str = "",
    once_per: str = "",
) -> list[Message]:
    """Queue the SMS telling the booking's drivers of `event` (Q7: nearly their turn, called
    forward, the driver link), inside the caller's transaction; once per booking, event and
    driver (and `once_per`, e.g. the link's generation). Only to the
    served country codes (A8), in the language of the person who booked (a driver has no
    account). Returns the messages queued; they are delivered after commit."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "booking_drivers_notify must run inside the transaction of the change it tells of."
        )
    if event not in DRIVER_TEXTS:
        raise ValueError(f"No drivers' text for the notification {event!r}.")
    creator = booking.created_by
    language = _language_of(creator) if creator is not None else settings.LANGUAGE_CODE
    with translation.override(language):
        body = DRIVER_TEXTS[event] % {
            "number": booking.number,
            "checkpoint": booking.checkpoint.name,
            "plate": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
            "position": position or "",
            "slot": _local_slot(booking.slot_start),
            "link": link,
        }
    now = clock.now()
    queued: list[Message] = []
    drivers = [link.driver for link in booking.driver_links.select_related("driver")]
    # Once per phone, not per driver: two drivers sharing a phone get one SMS, which also
    # spares that phone's limits (A3).
    key_of = {
        driver.pk: f"{event}:booking:{booking.pk}{once_per}:phone:{driver.phone}"
        for driver in drivers
    }
    # Told already (the common case after every arrival and call): one read, no failed inserts.
    told = set(
        Message.objects.filter(dedupe_key__in=key_of.values()).values_list("dedupe_key", flat=True)
    )
    for driver in sorted(drivers, key=lambda d: d.pk):
        if key_of[driver.pk] in told:
            continue
        if not driver.phone or not is_served_phone(driver.phone):
            logger.info("Not told: %s of booking %s to driver #%s.", event, booking.pk, driver.pk)
            continue
        told.add(key_of[driver.pk])
        message = Message(
            recipient=None,
            driver=driver,
            channel=Message.Channel.SMS,
            address=driver.phone,
            language=language,
            kind=event,
            body=body,
            booking=booking,
            dedupe_key=key_of[driver.pk],
            status=Message.Status.QUEUED,
            next_attempt_at=now,
            created_at=now,
        )
        if _save_once(message):
            queued.append(message)
    if queued:
        transaction.on_commit(
            functools.partial(_enqueue, [message.pk for message in queued]), robust=True
        )
    return queued


def carrier_owners_notify(
    *,
    carrier_id: int,
    event: str,
    role: str | None,
    amount: Any = None,
    iban: str = "",
) -> list[Message]:
    """Queue the message telling every owner of the carrier of `event` (a refund request, a new
    API token, a new member), inside the caller's transaction; delivered after commit like the
    booking notices. `role` is the role (a `Member.Role` value) of the member who did it or
    joined, None when the actor is no member of the carrier; `amount` and `iban` (only its last
    4 characters are shown) for a refund request."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "carrier_owners_notify must run inside the transaction of the change it tells of."
        )
    if event not in OWNER_TEXTS:
        raise ValueError(f"No owners' text for the notification {event!r}.")
    now = clock.now()
    # Owners only: no person has the id 0.
    queued = [
        Message(
            recipient=person.user,
            channel=person.channel,
            address=person.address,
            language=person.language,
            kind=event,
            body=owner_message_text(
                event=event, role=role, amount=amount, iban=iban, language=person.language
            ),
            status=Message.Status.QUEUED,
            next_attempt_at=now,
            created_at=now,
        )
        for person in people_to_tell(creator_id=0, carrier_id=carrier_id, about=event)
    ]
    return messages_queue(queued)


@dataclasses.dataclass(frozen=True)
class Reachable:
    """A person to tell, and how: the channel, the address and the language of their messages."""

    user: User
    channel: str
    address: str
    language: str


def people_to_tell(*, creator_id: int, carrier_id: int, about: str = "") -> list[Reachable]:
    """Who hears of a carrier's matter (B12): the person who acted, while they still act for
    the carrier, and every owner; each once, on their Telegram chat, else their confirmed phone.
    Inactive people and people with neither are left out (logged, with `about`)."""
    reachable = []
    for user in _RECIPIENTS.run(creator_id=creator_id, carrier_id=carrier_id):
        if not user.is_active:
            continue
        address = _address_of(user, user.telegram_chat, user.sms_phone)
        if address is None:
            logger.info(
                "Nobody to tell: %s of carrier %s — person #%s has no linked Telegram chat and "
                "no confirmed phone.",
                about,
                carrier_id,
                user.pk,
            )
            continue
        channel, to = address
        reachable.append(Reachable(user, channel, to, _language_of(user)))
    return reachable


def messages_queue(messages: list[Message]) -> list[Message]:
    """Insert `messages` in the caller's transaction; they go to the worker after commit."""
    if messages:
        _insert_all(messages)
        transaction.on_commit(
            functools.partial(_enqueue, [message.pk for message in messages]), robust=True
        )
    return messages


def person_notify(
    *,
    person: User,
    kind: str,
    text: str,
    phone: str | None = None,
    chats: Iterable[int] = (),
) -> list[Message]:
    """Queue `text` (already in the person's language) for one person, inside the caller's
    transaction: by SMS to `phone` and to each Telegram chat of `chats` (a factor-change notice
    also goes to a chat just unlinked). Delivered after commit like every other message."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "person_notify must run inside the transaction of the change it tells of."
        )
    now = clock.now()
    addresses = [(Message.Channel.SMS, phone)] if phone else []
    addresses += [(Message.Channel.TELEGRAM, str(chat_id)) for chat_id in chats]
    queued = [
        Message(
            recipient=person,
            channel=channel,
            address=address,
            language=_language_of(person),
            kind=kind,
            body=text,
            status=Message.Status.QUEUED,
            next_attempt_at=now,
            created_at=now,
        )
        for channel, address in addresses
    ]
    return messages_queue(queued)


def owner_message_text(
    *,
    event: str,
    role: str | None,
    amount: Any = None,
    iban: str = "",
    language: str | None = None,
) -> str:
    """The owners' text of `event` in `language` (the active language if None)."""
    with translation.override(language or translation.get_language()):
        role_name = str(Member.Role(role).label).lower() if role else "—"
        values = {
            "role": role_name,
            "actor": str(ACTOR_MEMBER) % {"role": role_name} if role else str(ACTOR_OUTSIDER),
            "amount": format_tenge(amount) if amount is not None else "—",
            "iban_tail": "".join(iban.split())[-4:].upper() or "—",
        }
        return str(OWNER_TEXTS[event]) % values


def _insert_all(messages: list[Message]) -> None:
    """The messages in one go (core.bulk), each with its id (needed to hand it to the worker),
    in list order."""
    bulk.insert(messages)


def _save_once(message: Message) -> bool:
    """Insert a once-only message; False when its key is taken (by a run in parallel, too: on
    PostgreSQL the insert waits for the other transaction and then meets the unique key)."""
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if not Message.objects.filter(dedupe_key=message.dedupe_key).exists():
            raise
        logger.info("Already queued, not again: %s", message.dedupe_key)
        return False
    return True


def message_text(
    *, booking: Any, event: str, extra: dict | None = None, language: str | None = None
) -> str:
    """The text of `event` for `booking` in `language` (the active language if None)."""
    extra = extra or {}
    with translation.override(language or translation.get_language()):
        values = {
            "number": booking.number,
            "checkpoint": booking.checkpoint.name,
            "slot": _local_slot(booking.slot_start),
            "plate": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
        }
        if "old_slot_start" in extra:
            values["old_slot"] = _local_slot(extra["old_slot_start"])
        template = str(TEXTS[event])
        if "%(amount)s" in template:
            amount = extra.get("amount")
            if amount is None and booking.deposit_hold_id is not None:
                amount = booking.deposit_hold.amount
            values["amount"] = format_tenge(amount) if amount is not None else "—"
        text = template % values
        reason = str(extra.get("reason") or "").strip()
        if reason:
            text = f"{text} " + gettext("Reason: %(reason)s") % {"reason": reason}
    return text


def _local_slot(moment: dt.datetime) -> str:
    """'21.03 09:00', Almaty time."""
    return moment.astimezone(clock.ALMATY).strftime("%d.%m %H:%M")


def _recipients_query(creator_id: int, carrier_id: int) -> QuerySet[User]:
    """The owners of the carrier and, while a member of it, the person who booked (a person has
    one membership, so each once), each with their first confirmed Telegram chat and SMS
    phone."""
    return (
        User.objects.filter(
            Q(membership__role=Member.Role.OWNER) | Q(pk=creator_id),
            membership__carrier_id=carrier_id,
        )
        .annotate(
            telegram_chat=Subquery(
                TelegramDevice.objects.filter(
                    user=OuterRef("pk"), confirmed=True, chat_id__isnull=False
                )
                .order_by("pk")
                .values("chat_id")[:1]
            ),
            sms_phone=Subquery(
                SmsDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
                .order_by("pk")
                .values("phone")[:1]
            ),
        )
        .order_by("pk")
    )


# Read on every booking; building the statement (two correlated subqueries) costs the ORM more
# than running it, so it is built once (core.compiled_query).
_RECIPIENTS = CompiledQuery(_recipients_query, creator_id=-900_000_001, carrier_id=-900_000_002)


def _recipients(booking: Any) -> list[tuple[User, Any, str | None]]:
    """Who is told: the person who booked, while still a member of the booking's carrier, and
    the carrier's owners; each active person once, with their linked Telegram chat and their
    first confirmed SMS phone (None when they have none), all in one read."""
    creator = booking.created_by
    members = list(_RECIPIENTS.run(creator_id=creator.pk, carrier_id=booking.carrier_id))
    people = [
        (creator, person.telegram_chat, person.sms_phone)
        for person in members
        if person.pk == creator.pk
    ]
    people += [
        (owner, owner.telegram_chat, owner.sms_phone) for owner in members if owner.pk != creator.pk
    ]
    return [entry for entry in people if entry[0].is_active]


def _address_of(user: User, chat_id: Any, device_phone: str | None) -> tuple[str, str] | None:
    """(channel, address): the linked Telegram chat, else the confirmed phone, else None."""
    if chat_id is not None:
        return Message.Channel.TELEGRAM, str(chat_id)
    phone = device_phone
    if not phone and user.phone and user.phone_verified_at is not None:
        phone = user.phone
    if phone:
        return Message.Channel.SMS, phone
    return None


def _language_of(user: User) -> str:
    languages = {code for code, _name in settings.LANGUAGES}
    return user.language if user.language in languages else settings.LANGUAGE_CODE


def _enqueue(message_ids: Iterable[int]) -> None:
    """After commit: the messages go to the worker (notify.tasks listens to `messages_queued`)."""
    messages_queued.send(sender=Message, message_ids=list(message_ids))


# --- Delivering --------------------------------------------------------------------------------


def retry_delay(attempts: int) -> dt.timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    index = min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1
    return dt.timedelta(minutes=BACKOFF_MINUTES[index])


def _claimable(*, as_of: dt.datetime, now: dt.datetime) -> Q:
    """Queued and due, or claimed by a worker whose lease has lapsed (it died or hung)."""
    return Q(status=Message.Status.QUEUED, next_attempt_at__lte=as_of) | Q(
        status=Message.Status.SENDING, lease_until__lte=now, attempts__lt=MAX_ATTEMPTS
    )


def message_deliver(*, message_id: int, as_of: dt.datetime | None = None) -> str:
    """Send one message if it is due and nobody else is sending it.

    Returns "sent", "retry" (failed, queued again for later), "failed" (failed for the last
    time), or "skipped" (not due, already sent or failed, or another worker has it). Must not run
    inside a transaction: the claim has to be committed before the provider is called.
    """
    now = clock.now()
    claim = _claim(message_id, as_of=as_of or now, now=now)
    if claim is None:
        return "skipped"
    message, token = claim
    allowance = None
    if message.channel == Message.Channel.SMS:
        try:
            with transaction.atomic():
                allowance = sms_allowance_take(message.address, purpose=message.kind, now=now)
        except SmsRefused as refused:
            return _record_held_back(message, token, refused, now=now)
    try:
        provider_id = _send(message, allowance)
    except (SmsDeliveryError, TelegramDeliveryError) as exc:
        return _record_failure(message, token, str(exc))
    except Exception as exc:
        # A bug, not the provider: counted like a failure so the message is not stuck until the
        # lease lapses, and raised so it shows in the worker's log.
        _record_failure(message, token, f"{type(exc).__name__}: {exc}")
        raise
    return _record_sent(message, token, provider_id)


def _claim(message_id: int, *, as_of: dt.datetime, now: dt.datetime) -> tuple[Message, str] | None:
    token = uuid.uuid4().hex
    claimable = _claimable(as_of=as_of, now=now)
    with transaction.atomic():
        # PostgreSQL: a row another worker is claiming is passed by, not waited for. SQLite has
        # no row locks (Django leaves the clause out); the conditional update below decides.
        candidate = locks.message_unless_claimed(message_id, claimable)
        if candidate is None:
            return None
        claimed = Message.objects.filter(claimable, pk=message_id).update(
            status=Message.Status.SENDING,
            claim_token=token,
            lease_until=now + LEASE,
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
        message = Message.objects.get(pk=message_id)
    return message, token


def _send(message: Message, allowance: SmsAllowance | None) -> str:
    if message.channel == Message.Channel.TELEGRAM:
        address = message.address
        return send_telegram(
            int(address) if address.lstrip("-").isdigit() else address, message.body
        )
    if message.channel == Message.Channel.SMS and allowance is not None:
        return send_sms(allowance, message.body)
    raise SmsDeliveryError(f"Unknown channel {message.channel!r}.")


def _mine(message: Message, token: str):
    return Message.objects.filter(pk=message.pk, status=Message.Status.SENDING, claim_token=token)


def _record_sent(message: Message, token: str, provider_id: str) -> str:
    recorded = _mine(message, token).update(
        status=Message.Status.SENT,
        sent_at=clock.now(),
        provider_id=(provider_id or "")[:64],
        claim_token="",
        lease_until=None,
    )
    if not recorded:
        # The lease lapsed while sending and another worker took the message over.
        logger.error(
            "Message #%s was sent after its claim had lapsed; it may reach %s twice.",
            message.pk,
            message.address,
        )
    else:
        logger.info("Message #%s (%s) sent by %s.", message.pk, message.kind, message.channel)
    return "sent"


def _record_held_back(
    message: Message, token: str, refused: SmsRefused, *, now: dt.datetime
) -> str:
    """The phone had its SMS for now (A3) or its country is not served (A8): nothing was sent
    and the attempt does not count. A message that is still worth reading later waits until the
    phone's limit lets one more through (within a day of its making); one whose moment passes
    (the vehicle is called, nearly called, the slot is near) or that can never go is failed."""
    wait = refused.wait_seconds
    due = now + dt.timedelta(seconds=wait) if wait is not None else None
    if due is None or message.kind in LATE_IS_USELESS or due > message.created_at + HELD_AT_MOST:
        _mine(message, token).update(
            status=Message.Status.FAILED,
            last_error=f"Held back, not sent: {refused}"[:ERROR_MAX_LENGTH],
            claim_token="",
            lease_until=None,
            attempts=F("attempts") - 1,
        )
        logger.warning(
            "Message #%s (%s) held back, not sent: %s", message.pk, message.kind, refused
        )
        return "failed"
    _mine(message, token).update(
        status=Message.Status.QUEUED,
        next_attempt_at=due,
        last_error=f"Waiting for the phone's SMS limit: {refused}"[:ERROR_MAX_LENGTH],
        claim_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
    )
    logger.info(
        "Message #%s (%s) waits %s s for the phone's SMS limit.", message.pk, message.kind, wait
    )
    return "retry"


def _record_failure(message: Message, token: str, error: str) -> str:
    final = message.attempts >= MAX_ATTEMPTS
    changes: dict[str, Any] = {
        "status": Message.Status.FAILED if final else Message.Status.QUEUED,
        "last_error": error[:ERROR_MAX_LENGTH],
        "claim_token": "",
        "lease_until": None,
    }
    if not final:
        changes["next_attempt_at"] = clock.now() + retry_delay(message.attempts)
    if not _mine(message, token).update(**changes):
        logger.warning("Message #%s failed after its claim had lapsed: %s", message.pk, error)
        return "retry"
    logger.warning(
        "Message #%s (%s by %s), attempt %s of %s, failed%s: %s",
        message.pk,
        message.kind,
        message.channel,
        message.attempts,
        MAX_ATTEMPTS,
        " for good" if final else "",
        error,
    )
    return "failed" if final else "retry"


def messages_deliver_due(*, as_of: dt.datetime | None = None, limit: int = 100) -> int:
    """The `deliver_outbox` job (every minute): send up to `limit` messages that are due by
    `as_of` (queued ones and lapsed claims); returns how many were sent. Runs in parallel safely."""
    now = clock.now()
    as_of = as_of or now
    abandoned = Message.objects.filter(
        status=Message.Status.SENDING, lease_until__lte=now, attempts__gte=MAX_ATTEMPTS
    ).update(
        status=Message.Status.FAILED,
        claim_token="",
        lease_until=None,
        last_error="The worker sending the last attempt stopped before it finished.",
    )
    if abandoned:
        logger.warning("%s message(s) failed: their last attempt was abandoned.", abandoned)
    due = (
        Message.objects.filter(_claimable(as_of=as_of, now=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for message_id in list(due):
        try:
            sent += message_deliver(message_id=message_id, as_of=as_of) == "sent"
        except Exception:
            logger.exception("Message #%s could not be delivered.", message_id)
    return sent


def messages_retry(*, message_ids: Iterable[int], actor: Any = None) -> int:
    """Operators' "Retry now": failed messages get one more attempt, queued ones waiting for
    their next attempt are brought forward; both are handed to the worker after commit. Messages
    being sent or already sent are left alone. Returns how many were re-queued."""
    now = clock.now()
    with transaction.atomic():
        ids = locks.messages_to_retry(message_ids)
        # A failed message has used its attempts: one more is allowed, then it fails again.
        Message.objects.filter(pk__in=ids, status=Message.Status.FAILED).update(
            attempts=MAX_ATTEMPTS - 1
        )
        Message.objects.filter(pk__in=ids).update(status=Message.Status.QUEUED, next_attempt_at=now)
        if ids:
            transaction.on_commit(functools.partial(_enqueue, ids), robust=True)
    logger.info("Messages re-queued by %s: %s", actor, ids)
    return len(ids)


# --- Reminders ---------------------------------------------------------------------------------


def _reminder_key(booking: Any) -> str:
    """Once per booking and slot: a booking moved to another hour is reminded again."""
    slot = booking.slot_start.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")
    return f"{Kind.BOOKING_REMINDER}:booking:{booking.pk}:slot:{slot}"


def _reminded(bookings: list[Any]) -> set[str]:
    """The reminder keys already used by these bookings (one query: most runs find most of the
    bookings already reminded). Only a shortcut: the unique key is what makes it once."""
    return {
        key.rpartition(":to:")[0]
        for key in Message.objects.filter(
            booking__in=[booking.pk for booking in bookings],
            kind=Kind.BOOKING_REMINDER,
            dedupe_key__isnull=False,
        ).values_list("dedupe_key", flat=True)
    }


def reminders_send(*, as_of: dt.datetime | None = None) -> int:
    """The `send_reminders` job (every 5 minutes): confirmed bookings whose slot starts within the
    next 2 hours and that have no reminder yet are reminded (B12). Once per booking and slot,
    however many runs overlap (the dedupe key). Returns how many messages were queued."""
    from bookings.models import Booking  # bookings is above notify (it sends through it)

    as_of = as_of or clock.now()
    bookings = list(
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            slot_start__gt=as_of,
            slot_start__lte=as_of + REMINDER_BEFORE,
        )
        .select_related("checkpoint", "vehicle", "created_by")
        .order_by("slot_start", "pk")
    )
    reminded = _reminded(bookings)
    queued = 0
    for booking in bookings:
        key = _reminder_key(booking)
        if key in reminded:
            continue
        with transaction.atomic():
            # Still confirmed for this slot (a cancellation or reschedule waits, or went first).
            if locks.booking_still_confirmed_for(booking):
                queued += len(
                    booking_event_notify(
                        booking=booking, event=Kind.BOOKING_REMINDER, dedupe_key=key
                    )
                )
    return queued
