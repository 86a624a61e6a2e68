"""Reads of vehicles and drivers, always of one carrier."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from carriers.models import Carrier
from vehicles.models import Driver, Vehicle


def vehicles_of(
    carrier: Carrier, kind: str | Iterable[str] | None = None, active: bool | None = True
) -> QuerySet[Vehicle]:
    """The carrier's vehicles, by plate; `kind` one kind or several; `active=None` for all."""
    vehicles = Vehicle.objects.filter(carrier=carrier)
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        vehicles = vehicles.filter(kind__in=kinds)
    if active is not None:
        vehicles = vehicles.filter(is_active=active)
    return vehicles.order_by("plate", "registration_country", "pk")


def drivers_of(carrier: Carrier, active: bool | None = True) -> QuerySet[Driver]:
    """The carrier's drivers, by name; `active=None` for all."""
    drivers = Driver.objects.filter(carrier=carrier)
    if active is not None:
        drivers = drivers.filter(is_active=active)
    return drivers.order_by("full_name", "pk")


def active_vehicles_by_id(carrier: Carrier, ids: Iterable[int]) -> dict[int, Vehicle]:
    """The carrier's active vehicles (of any kind) among `ids`, by id."""
    ids = list(ids)
    if not ids:
        return {}
    found = Vehicle.objects.filter(pk__in=ids, carrier=carrier, is_active=True).order_by()
    return {vehicle.pk: vehicle for vehicle in found}


def active_drivers_among(carrier: Carrier, ids: Iterable[int]) -> list[Driver]:
    """The carrier's active drivers among `ids`."""
    ids = list(ids)
    if not ids:
        return []
    return list(Driver.objects.filter(pk__in=ids, carrier=carrier, is_active=True).order_by())
