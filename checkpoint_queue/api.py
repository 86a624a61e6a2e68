"""The queue's API (Q1–Q6): the public live queue of a checkpoint and the plate cameras' events
(docs/api.md "Plate cameras")."""

import datetime as dt
import logging

from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from checkpoint_queue import board as boards
from checkpoint_queue import selectors
from checkpoint_queue import services as queue_services
from checkpoints.authentication import DeviceKeyAuthentication, IsCheckpointDevice
from checkpoints.public_reads import public_checkpoint
from core import clock
from core.clock import ALMATY
from core.errors import ApplicationError
from core.http_cache import PublicReadApi

logger = logging.getLogger(__name__)


# --- The live board (Q4) ----------------------------------------------------------------------


class BoardVehicleOutput(serializers.Serializer):
    position = serializers.IntegerField()
    plate_masked = serializers.CharField()
    service = serializers.CharField()
    slot_start = serializers.DateTimeField(default_timezone=ALMATY)
    status = serializers.CharField()
    direction = serializers.CharField()
    predicted_call_at = serializers.DateTimeField(
        default_timezone=ALMATY,
        allow_null=True,
        help_text="expected call (Q6), worked out when the board was read; null when the "
        "checkpoint plans no place this hour",
    )


class BoardCalledOutput(BoardVehicleOutput):
    position = None
    predicted_call_at = None
    called_at = serializers.DateTimeField(default_timezone=ALMATY)


class BoardHourOutput(serializers.Serializer):
    direction = serializers.CharField()
    start = serializers.DateTimeField(default_timezone=ALMATY)
    end = serializers.DateTimeField(default_timezone=ALMATY)
    free = serializers.IntegerField()
    closed = serializers.BooleanField()


class BoardOutput(serializers.Serializer):
    checkpoint = serializers.CharField(source="checkpoint.code")
    name = serializers.CharField(source="checkpoint.name")
    updated_at = serializers.DateTimeField(default_timezone=ALMATY)
    waiting = BoardVehicleOutput(many=True)
    called = BoardCalledOutput(many=True)
    free_places = BoardHourOutput(many=True)
    average_wait_minutes = serializers.IntegerField(allow_null=True)


class CheckpointQueueApi(PublicReadApi):
    """The live queue of a checkpoint (Q4): vehicles waiting in call order (Q2) with masked
    plates, their place per direction and their predicted call time (Q6), vehicles called in
    the last 2 hours, free regular places in the next 6 bookable hours, and today's average
    wait from arrival to the call (minutes; null before the first call of the day)."""

    @extend_schema(responses=BoardOutput)
    def get(self, request, code: str):
        checkpoint = public_checkpoint(code)
        if checkpoint is None:
            raise Http404
        board = boards.public_board(checkpoint)
        return self.stamped(request, board.stamp, lambda: BoardOutput(board.value).data)


# --- Plate cameras (API.md "Checkpoint devices") ------------------------------------------------

# A camera's clock may run a little ahead; an event further in the future is refused.
EVENT_CLOCK_SKEW = dt.timedelta(minutes=5)
# Events a camera kept while offline are accepted for a day.
EVENT_MAX_AGE = dt.timedelta(hours=24)


class CheckpointEventInput(serializers.Serializer):
    plate = serializers.CharField(max_length=40, trim_whitespace=True)
    event = serializers.ChoiceField(
        choices=["arrived", "crossed"],
        error_messages={"invalid_choice": _("The event is “arrived” or “crossed”.")},
    )
    at = serializers.CharField(
        required=False,
        help_text="ISO 8601 with offset, e.g. 2026-03-21T08:55:00+05:00; default now.",
    )

    def validate_at(self, value: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise serializers.ValidationError(
                _("Give the time as ISO 8601 with its offset, like 2026-03-21T08:55:00+05:00.")
            ) from exc
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise serializers.ValidationError(_("Give the time with its UTC offset, like +05:00."))
        now = clock.now()
        if moment > now + EVENT_CLOCK_SKEW:
            raise serializers.ValidationError(
                _("The time is in the future: check the camera's clock.")
            )
        if moment < now - EVENT_MAX_AGE:
            raise serializers.ValidationError(
                _("The event is more than a day old: mark it at the staff screen instead.")
            )
        return moment


class CheckpointEventOutput(serializers.Serializer):
    booking = serializers.CharField(source="number")
    status = serializers.CharField()
    direction = serializers.CharField()
    slot_start = serializers.DateTimeField(default_timezone=ALMATY)


class CheckpointEventApi(APIView):
    """A plate camera reports a vehicle in the waiting area (`arrived`, Q1) or crossing the
    border (`crossed`, D2) at its key's checkpoint. The plate is normalised (B7) and matched
    against the active bookings of that checkpoint (truck or trailer). Sending the same event
    again answers the same status and changes nothing. Rate limits never apply here.

    Errors besides validation and authentication: 404 `no_active_booking` (no active booking
    for the plate here); 409 `outside_check_in_window` (Q1; `fields.opens`, `fields.closes`);
    409 `not_changeable` (the booking's status does not allow the event, e.g. a crossing of a
    vehicle never called forward);
    409 `ambiguous_plate`: plates are unique per carrier only, and this plate is on bookings of
    more than one carrier here (active, or crossed since two hours before the event), so
    nothing is recorded: staff mark the vehicle at the staff screen, choosing the booking by
    its number (`fields.bookings` lists the numbers it could be)."""

    authentication_classes = [DeviceKeyAuthentication]
    permission_classes = [IsCheckpointDevice]
    throttle_classes = []

    @extend_schema(request=CheckpointEventInput, responses=CheckpointEventOutput)
    def post(self, request):
        data = CheckpointEventInput(data=request.data)
        data.is_valid(raise_exception=True)
        device = request.user
        plate = selectors.plate_of_device_text(data.validated_data["plate"])
        at = data.validated_data.get("at") or clock.now()
        try:
            booking = selectors.booking_for_device_event(
                checkpoint_id=device.checkpoint_id, plate=plate, at=at
            )
        except selectors.AmbiguousPlate as refusal:
            logger.warning(
                "Plate camera %r (key %s, checkpoint %s): %s event for plate %s at %s refused, "
                "left to staff: the plate is on bookings of more than one carrier: %s",
                device.name,
                device.key_id,
                device.checkpoint_id,
                data.validated_data["event"],
                plate,
                at.isoformat(),
                ", ".join(
                    f"{booking.number} (carrier {booking.carrier_id}, {booking.status})"
                    for booking in refusal.bookings
                ),
            )
            raise
        if booking is None:
            raise ApplicationError(
                "no_active_booking",
                gettext("No active booking at this checkpoint for the plate %(plate)s.")
                % {"plate": plate},
                status=404,
            )
        if data.validated_data["event"] == "arrived":
            booking = queue_services.booking_mark_arrived(booking=booking, actor=device, at=at)
        else:
            try:
                booking = queue_services.booking_mark_crossed(booking=booking, actor=device, at=at)
            except ApplicationError as refusal:
                if refusal.code != "not_changeable":
                    raise
                raise _uncalled_crossing(booking) from refusal
        return Response(CheckpointEventOutput(booking).data)


def _uncalled_crossing(booking) -> ApplicationError:
    """A camera at the exit saw a vehicle that was never called forward: say what is wrong."""
    booking.refresh_from_db(fields=["status"])
    if booking.status == "arrived":
        message = gettext(
            "Booking %(number)s is in the waiting area but has not been called forward: a "
            "vehicle crosses only after staff call it (Q2). Its crossing is not recorded."
        )
    else:
        message = gettext(
            "Booking %(number)s has not checked in at the waiting area and has not been "
            "called forward: its crossing is not recorded."
        )
    return ApplicationError(
        "not_changeable",
        message % {"number": booking.number},
        status=409,
        fields={"status": [booking.status]},
    )
