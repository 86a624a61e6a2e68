"""The OpenAPI description: component names and the API's sign-in schemes (drf-spectacular).

DRF imports the schema class (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]) with the first API view,
so the scheme extensions below are registered before any schema is generated.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Views declare their bodies as nested `Input` classes; drf-spectacular would name every one
    of them "Input" and merge them into one component. Name a nested serializer after its view
    instead: RegisterVerifyApi.Input becomes RegisterVerifyInput."""

    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _dot, inner = cls.__qualname__.rpartition(".")
        if not outer or "<locals>" in outer:
            return super().get_serializer_name(serializer, direction)
        view = outer.rpartition(".")[2].removesuffix("Api")
        return f"{view}{inner}"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "auth2fa.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A sign-in token (POST /api/v1/auth/otp/verify, 12 h) or a personal "
            "token made in the personal account.",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "auth2fa.authentication.VerifiedSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "The portal's session, once its second factor was verified.",
        }


def vehicle_kinds() -> list[str]:
    """settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: several bodies have a field named
    "kind", so the vehicle kinds get a name of their own (VehicleKindEnum)."""
    from vehicles.models import Vehicle

    return list(Vehicle.Kind.values)


def directions() -> list[str]:
    """settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: bookings, requests for a draw and
    the driver link all have a field "direction"; one name for its values (DirectionEnum)."""
    from checkpoints.models import Direction

    return list(Direction.values)
