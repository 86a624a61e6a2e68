"""A checkpoint's signed manifest (O1, docs/offline.md): the bookings its devices need to keep the
queue moving without the portal, as one document signed with the portal's Ed25519 key.

The document is serialised once, canonically (keys sorted, no spaces, ASCII only, times in UTC
as `YYYY-MM-DDTHH:MM:SS.ffffffZ`), and those exact bytes are signed. The answer carries them as
a string (`payload`) beside the signature, so a browser verifies the very bytes that were signed
and parses them only after that; it never has to serialise anything the same way again.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from typing import Any

from django.db import transaction
from django.db.models import F, Prefetch, Q

from bookings.models import CHECK_IN_CLOSES, CHECK_IN_OPENS, Booking, BookingDriver
from checkpoint_queue import manifest_keys
from checkpoint_queue.models import ManifestCounter
from checkpoints.models import Checkpoint
from core import clock
from vehicles.plates import format_plate

FORMAT = "kezek-manifest/1"
# The bookings a manifest holds (O1): slots from this long ago to this far ahead, and every
# vehicle still in the waiting area whatever its slot.
MANIFEST_PAST = dt.timedelta(hours=6)
MANIFEST_AHEAD = dt.timedelta(hours=48)
# How many characters of a VIN the manifest shows (enough to tell two trucks apart at the gate).
VIN_TAIL = 6


def utc_text(moment: dt.datetime | None) -> str | None:
    """A moment as the manifest writes it: UTC, microseconds, `Z`; sorts as text in time order."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def manifest_bookings(checkpoint: Checkpoint, now: dt.datetime):
    """The manifest's bookings in two queries whatever their number: the bookings with their
    vehicle and carrier, then their drivers."""
    drivers = BookingDriver.objects.select_related("driver").order_by("added_at", "pk")
    return (
        Booking.objects.filter(checkpoint=checkpoint)
        .filter(
            Q(slot_end__gt=now - MANIFEST_PAST, slot_start__lt=now + MANIFEST_AHEAD)
            | Q(status__in=[Booking.Status.ARRIVED, Booking.Status.CALLED])
        )
        .select_related("vehicle", "carrier")
        .prefetch_related(Prefetch("driver_links", queryset=drivers))
        .order_by("slot_start", "pk")
    )


def booking_entry(booking: Booking) -> dict[str, Any]:
    """One booking as the manifest holds it: what staff check at the gate (O1, Q9) and what the
    device needs to keep the Q2 order itself (service, slot, booked at)."""
    trailer = None
    if booking.trailer_vin:
        trailer = {"plate": booking.trailer_plate, "vin_tail": booking.trailer_vin[-VIN_TAIL:]}
    document = None
    if booking.document_number:
        document = {
            "category": booking.cargo_category,
            "number": booking.document_number,
            "checked_at": utc_text(booking.document_checked_at),
        }
    return {
        "number": booking.number,
        "qr": booking.number,  # what the booking's QR code holds (B11, bookings.pdf)
        "plate": booking.vehicle_plate,
        "plate_display": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
        "vin_tail": booking.vehicle_vin[-VIN_TAIL:],
        "carrier": booking.carrier.name,
        "direction": booking.direction,
        "service": booking.service,
        "slot_start": utc_text(booking.slot_start),
        "slot_end": utc_text(booking.slot_end),
        "booked_at": utc_text(booking.created_at),
        "status": booking.status,
        "arrived_at": utc_text(booking.arrived_at),
        "called_at": utc_text(booking.called_at),
        "crossed_at": utc_text(booking.crossed_at),
        "drivers": [
            {
                "name": link.driver.full_name,
                "citizenship": link.driver.citizenship,
                "identity": link.driver.identity_masked,
            }
            for link in booking.driver_links.all()
        ],
        "trailer": trailer,
        "document": document,
    }


def next_sequence(checkpoint: Checkpoint) -> int:
    """The checkpoint's next manifest number: one conditional update, read back in the same
    transaction (the row stays locked until it commits, so two manifests never share one)."""
    counter, _created = ManifestCounter.objects.get_or_create(checkpoint=checkpoint)
    ManifestCounter.objects.filter(pk=counter.pk).update(sequence=F("sequence") + 1)
    return ManifestCounter.objects.values_list("sequence", flat=True).get(pk=counter.pk)


@dataclasses.dataclass(frozen=True)
class SignedManifest:
    payload: str  # the canonical JSON text, exactly the signed bytes
    signature: str  # base64 of the 64-byte Ed25519 signature
    key_id: str
    sequence: int
    issued_at: dt.datetime
    bookings: int

    def as_answer(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key_id": self.key_id,
            "signature": self.signature,
            "payload": self.payload,
        }


def manifest_issue(*, checkpoint: Checkpoint, now: dt.datetime | None = None) -> SignedManifest:
    """Build, number and sign the checkpoint's manifest (O1). NoManifestKey when the portal has
    no signing key yet."""
    key_id, _private = manifest_keys.current_signer()  # refuse before taking a number
    now = now or clock.now()
    with transaction.atomic():
        sequence = next_sequence(checkpoint)
        bookings = [booking_entry(booking) for booking in manifest_bookings(checkpoint, now)]
    document = {
        "format": FORMAT,
        "checkpoint": {"code": checkpoint.code, "name": checkpoint.name_en},
        "issued_at": utc_text(now),
        "sequence": sequence,
        "key_id": key_id,
        "covers": {"from": utc_text(now - MANIFEST_PAST), "to": utc_text(now + MANIFEST_AHEAD)},
        "check_in": {
            "opens_before_minutes": int(CHECK_IN_OPENS.total_seconds() // 60),
            "closes_after_minutes": int(CHECK_IN_CLOSES.total_seconds() // 60),
        },
        "call_order": ["out_of_turn", "accelerated", "regular"],
        "bookings": bookings,
    }
    data = canonical(document)
    signed_by, signature = manifest_keys.sign(data)
    if signed_by != key_id:  # rotated in between: the document names the key that signed it
        document["key_id"] = signed_by
        data = canonical(document)
        signed_by, signature = manifest_keys.sign(data)
    return SignedManifest(
        payload=data.decode("ascii"),
        signature=base64.b64encode(signature).decode(),
        key_id=signed_by,
        sequence=sequence,
        issued_at=now,
        bookings=len(bookings),
    )
