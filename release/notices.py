"""What a draw tells the carriers whose requests did not win (F5): through the notify outbox, in
the draw's transaction, to the person who requested and the carrier's owners, each once, on
their channel (B12). A winner is told by the booking's own notice ("booking made")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy

from core import clock
from notify import services as notify
from notify.models import Message
from vehicles.plates import format_plate

# The outbox's kinds of these messages.
RELEASE_UNSUCCESSFUL = Message.Kind.RELEASE_UNSUCCESSFUL
RELEASE_SKIPPED = Message.Kind.RELEASE_SKIPPED

TEXTS = {
    RELEASE_UNSUCCESSFUL: gettext_lazy(
        "Kezek: the draw for %(checkpoint)s on %(day)s is done. Request %(number)s (vehicle "
        "%(plate)s) got no place. It stays on the waitlist: a place freed that day is booked "
        "for it automatically, in rank order. The draw and its ranks: %(link)s"
    ),
    RELEASE_SKIPPED: gettext_lazy(
        "Kezek: the draw for %(checkpoint)s on %(day)s is done. Request %(number)s (vehicle "
        "%(plate)s) won a place but was skipped: %(reason)s. The draw: %(link)s"
    ),
}
REASONS = {
    "insufficient_funds": gettext_lazy("not enough money on the personal account"),
    "active_booking_exists": gettext_lazy("the vehicle already has a booking in this country"),
}
OTHER_REASON = gettext_lazy("it could no longer be booked")


def request_number(request_id: int) -> str:
    return f"R-{request_id}"


def request_outcome_notify(*, window: Any, requests: list[Any]) -> list[Message]:
    """Queue the outcome of each request that did not win, inside the draw's transaction."""
    if not requests:
        return []
    link = settings.SITE_URL + reverse("release-draw", args=[window.pk])
    now = clock.now()
    messages: list[Message] = []
    vehicles = {
        r.pk: format_plate(r.vehicle.plate, r.vehicle.registration_country) for r in requests
    }
    people: dict[tuple[int, int], list] = {}  # one read per person and carrier, not per request
    for request in requests:
        kind = RELEASE_SKIPPED if request.status == "skipped" else RELEASE_UNSUCCESSFUL
        key = (request.created_by_id, request.carrier_id)
        if key not in people:
            people[key] = notify.people_to_tell(creator_id=key[0], carrier_id=key[1], about=kind)
        for person in people[key]:
            with translation.override(person.language):
                body = str(TEXTS[kind]) % {
                    "checkpoint": window.checkpoint.name,
                    "day": window.day.strftime("%d.%m.%Y"),
                    "number": request_number(request.pk),
                    "plate": vehicles[request.pk],
                    "reason": str(REASONS.get(request.skip_reason, OTHER_REASON)),
                    "link": link,
                }
            messages.append(
                Message(
                    recipient=person.user,
                    channel=person.channel,
                    address=person.address,
                    language=person.language,
                    kind=kind,
                    body=body,
                    status=Message.Status.QUEUED,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    notify.messages_queue(messages)
    return messages
