"""The API of working through an outage (O1, O3; docs/offline.md): a checkpoint's signed manifest,
the public keys that verify it, the delivery of the events its devices recorded offline, and the
events parked for staff.

A checkpoint's devices are its device keys (`Authorization: Device <key>`) and the browsers of its
staff, signed in with a verified second factor (the staff screen's offline app); each names
itself with `device`, an id it made once and keeps (a device key is its own id).
"""

import re

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from auth2fa.authentication import VerifiedSessionAuthentication
from checkpoint_queue import manifest, manifest_keys, offline
from checkpoint_queue.models import OfflineEvent
from checkpoints.authentication import DeviceKeyAuthentication
from checkpoints.models import Checkpoint, DeviceKey
from checkpoints.selectors import checkpoints_of_staff
from core import clock
from core.clock import ALMATY
from core.errors import ApplicationError

DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _device_id_invalid() -> ApplicationError:
    message = gettext("Name the device with `device`: 8 to 64 letters, digits, - or _.")
    return ApplicationError("validation_error", message, fields={"device": [message]})


def checkpoint_device(request, code: str, *, device_id: str = "", name: str = ""):
    """(checkpoint, the device's record) for a device of the checkpoint: its device key, or a
    browser of a person who works there (A5). 401 without either, 403 for another checkpoint."""
    checkpoint = get_object_or_404(Checkpoint, code=str(code).upper(), is_active=True)
    if isinstance(request.auth, DeviceKey):
        if request.auth.checkpoint_id != checkpoint.pk:
            raise PermissionDenied(gettext("This device key is for another checkpoint."))
        report = offline.device_seen(
            checkpoint=checkpoint,
            device=offline.device_name_of_key(request.auth),
            name=request.auth.name,
            device_key=request.auth,
        )
        return checkpoint, report
    user = request.user
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated()
    if not (user.is_active and user.is_staff) or not (
        checkpoints_of_staff(user).filter(pk=checkpoint.pk).exists()
    ):
        raise PermissionDenied(gettext("You do not work at this checkpoint."))
    if not DEVICE_ID.match(device_id or ""):
        raise _device_id_invalid()
    report = offline.device_seen(
        checkpoint=checkpoint,
        device=f"screen:{device_id}",
        name=(name or gettext("Staff screen of %(person)s") % {"person": user.full_name}),
        user=user,
    )
    return checkpoint, report


class DeviceApi(APIView):
    authentication_classes = [DeviceKeyAuthentication, VerifiedSessionAuthentication]
    throttle_classes = []


# --- The manifest (O1) --------------------------------------------------------------------------


class ManifestOutput(serializers.Serializer):
    format = serializers.CharField(help_text="kezek-manifest/1")
    key_id = serializers.CharField(help_text="the key that signed `payload` (manifest-keys)")
    signature = serializers.CharField(help_text="base64 of the 64-byte Ed25519 signature")
    payload = serializers.CharField(
        help_text="the manifest: canonical JSON text, exactly the bytes signed (UTF-8 of it, "
        "which is ASCII); verify it, then parse it (docs/offline.md)"
    )


DEVICE_PARAMETER = OpenApiParameter(
    "device",
    str,
    description="a browser's own id for itself (8-64 of A-Z a-z 0-9 - _); a device key is its "
    "own id and needs none",
)


class ManifestApi(DeviceApi):
    """The checkpoint's signed manifest (O1): every booking here with a slot from 6 hours ago to
    48 hours ahead, and every vehicle still in its waiting area, with what staff check at the
    gate (number, QR payload, plate, VIN tail, service, slot, status, drivers, trailer,
    out-of-turn document) and what a device needs to keep the call order (Q2) itself. Signed
    with the portal's Ed25519 key; `payload` holds the signed bytes, with its issue time, its
    sequence number (one more for each manifest of the checkpoint) and the key id.

    Errors besides authentication: 403 for another checkpoint's device or person; 503
    `manifest_key_missing` while the portal has no signing key."""

    @extend_schema(parameters=[DEVICE_PARAMETER], responses=ManifestOutput)
    def get(self, request, code: str):
        checkpoint, report = checkpoint_device(
            request,
            code,
            device_id=request.query_params.get("device", ""),
            name=request.query_params.get("name", ""),
        )
        try:
            signed = manifest.manifest_issue(checkpoint=checkpoint)
        except manifest_keys.NoManifestKey:
            raise ApplicationError(
                "manifest_key_missing",
                gettext("The portal has no manifest signing key yet (rotate_manifest_key)."),
                status=503,
            ) from None
        offline.device_manifest_taken(report, sequence=signed.sequence, at=signed.issued_at)
        return Response(signed.as_answer(), headers={"Cache-Control": "no-store"})


class ManifestKeyOutput(serializers.Serializer):
    key_id = serializers.CharField()
    role = serializers.ChoiceField(choices=["current", "previous"])
    algorithm = serializers.CharField(default="Ed25519")
    public_key = serializers.CharField(help_text="base64 of the raw 32-byte Ed25519 public key")


class ManifestKeysOutput(serializers.Serializer):
    keys = ManifestKeyOutput(many=True)


class ManifestKeysApi(APIView):
    """The public keys a device accepts a manifest from (O1): the current key and the previous
    one, so a manifest signed just before a rotation still verifies. Public."""

    authentication_classes = []
    throttle_classes = []

    @extend_schema(responses=ManifestKeysOutput)
    def get(self, request):
        keys = [
            {
                "key_id": key.key_id,
                "role": key.role,
                "algorithm": "Ed25519",
                "public_key": key.base64,
            }
            for key in manifest_keys.public_keys()
        ]
        return Response({"keys": keys}, headers={"Cache-Control": "no-cache"})


# --- Events recorded offline (O3) ---------------------------------------------------------------


class DeviceEventInput(serializers.Serializer):
    id = serializers.UUIDField(help_text="the event's unique id, made by the device")
    booking = serializers.CharField(max_length=30, help_text="the booking number (its QR code)")
    kind = serializers.ChoiceField(choices=OfflineEvent.Kind.values)
    at = serializers.DateTimeField(help_text="when it happened, on the device's clock (ISO 8601)")
    device_status = serializers.CharField(
        max_length=24, required=False, default="", allow_blank=True
    )
    reason = serializers.CharField(max_length=20, required=False, default="", allow_blank=True)
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class DeliveryInput(serializers.Serializer):
    device = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    name = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    events = DeviceEventInput(many=True, max_length=offline.BATCH_LIMIT)
    pending_after = serializers.IntegerField(
        min_value=0,
        default=0,
        help_text="events still on the device after these; 0 reports that it has delivered "
        "everything it recorded (O4)",
    )


class DeliveredOutput(serializers.Serializer):
    id = serializers.UUIDField(source="event.event_id")
    outcome = serializers.CharField(source="event.outcome")
    duplicate = serializers.BooleanField()
    booking = serializers.CharField(source="event.booking_number")
    status = serializers.CharField(source="event.portal_status")
    detail = serializers.CharField(source="event.detail")


class DeliveryOutput(serializers.Serializer):
    received_at = serializers.DateTimeField(default_timezone=ALMATY)
    reported = serializers.BooleanField()
    results = DeliveredOutput(many=True)


class ParkedEventOutput(serializers.Serializer):
    id = serializers.UUIDField(source="event_id")
    booking = serializers.CharField(source="booking_number")
    kind = serializers.CharField()
    happened_at = serializers.DateTimeField(source="occurred_at", default_timezone=ALMATY)
    received_at = serializers.DateTimeField(default_timezone=ALMATY)
    device = serializers.CharField(source="device.name")
    device_status = serializers.CharField()
    portal_status = serializers.CharField()
    portal_version = serializers.JSONField()
    detail = serializers.CharField()


class OfflineEventsApi(DeviceApi):
    """POST: a device delivers the events it recorded offline (O3), oldest first, up to 200 at a
    time. Each is applied at most once by its id (a resend answers `duplicate: true` and the
    outcome it had), judged at the time it happened (the check-in window of Q1 at that time),
    and audited with both times and an `offline` mark. `outcome`: `applied`; `already` (the
    booking was already so); `parked` (the booking is no longer in the state the event needs:
    kept with both versions for staff, never dropped). A crossing stands over a booking still
    holding its place, even a no-show, and releases the deposit. With `pending_after` 0 the
    device reports that nothing it recorded is left to send (O4).

    GET: the checkpoint's parked events, oldest first, with both versions."""

    @extend_schema(request=DeliveryInput, responses=DeliveryOutput)
    def post(self, request, code: str):
        data = DeliveryInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        checkpoint, report = checkpoint_device(
            request, code, device_id=values["device"], name=values["name"]
        )
        received_at = clock.now()
        events = [
            offline.DeviceEvent(
                event_id=event["id"],
                booking=event["booking"],
                kind=event["kind"],
                occurred_at=event["at"],
                device_status=event["device_status"],
                reason=event["reason"],
                note=event["note"],
            )
            for event in values["events"]
        ]
        delivered = offline.events_deliver(
            checkpoint=checkpoint, report=report, actor=request.user, events=events, now=received_at
        )
        reported = values["pending_after"] == 0
        if reported:
            offline.device_reported(report, at=received_at)
        body = {"received_at": received_at, "reported": reported, "results": delivered}
        return Response(DeliveryOutput(body).data)

    @extend_schema(parameters=[DEVICE_PARAMETER], responses=ParkedEventOutput(many=True))
    def get(self, request, code: str):
        checkpoint, _report = checkpoint_device(
            request, code, device_id=request.query_params.get("device", "")
        )
        rows = offline.parked_events(checkpoint)[:500]
        return Response(ParkedEventOutput(rows, many=True).data)
