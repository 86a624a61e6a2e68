"""Plate cameras: `Authorization: Device <key>` (API.md "Checkpoint devices").

A camera is not a person. Its principal carries the checkpoint it may act at (the booking
services check it, A5) and a label for the bookings it marks (Q3); it is never a User, so nothing
takes it for one: `is_authenticated` is False, as for everything that is not a signed-in person
(the services and the audit log ask exactly that before treating an actor as a person). DRF still
knows the request is authenticated — `request.auth` is the DeviceKey — and `IsCheckpointDevice`
admits only such requests.
"""

import dataclasses

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from checkpoints.models import DeviceKey
from checkpoints.services import device_key_for_secret


@dataclasses.dataclass(frozen=True)
class CheckpointDevice:
    """Who acts when a camera reports: the key's device at the key's checkpoint."""

    key_id: int
    checkpoint_id: int
    name: str

    # Not a person (see the module's note); plain class attributes, not dataclass fields.
    is_authenticated = False
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __str__(self) -> str:
        return f"device:{self.name}"


class DeviceKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Device <key>`: a live key (not revoked, its checkpoint active)."""

    keyword = "Device"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _sep, secret = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        secret = secret.strip()
        if not secret or " " in secret:
            raise exceptions.AuthenticationFailed(_("The Authorization header is malformed."))
        key = device_key_for_secret(secret)
        if key is None:
            raise exceptions.AuthenticationFailed(_("The device key is not valid or was revoked."))
        device = CheckpointDevice(key_id=key.pk, checkpoint_id=key.checkpoint_id, name=key.name)
        return device, key

    def authenticate_header(self, request):
        return self.keyword


class IsCheckpointDevice(permissions.BasePermission):
    """Only a plate camera's key: no person, token or session gets in."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, DeviceKey) and isinstance(request.user, CheckpointDevice)


class DeviceKeyScheme(OpenApiAuthenticationExtension):
    """The device key in the OpenAPI schema (/api/v1/schema/)."""

    target_class = DeviceKeyAuthentication
    name = "deviceKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Device <key>`: a plate camera's key, made in the admin.",
        }
