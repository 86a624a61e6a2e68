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


# The two reads below run in every booking (B1: the vehicle and trailer, the drivers named) and
# are written in SQL: the ORM spent about 0.2 ms more CPU building each of these small SELECTs
# than the database took to answer them. They are the SELECTs the ORM wrote (no order: the
# caller keys or checks them); tests/bookings checks them against the ORM queries.
_ACTIVE_VEHICLES_SQL = (
    'SELECT * FROM "vehicles_vehicle" WHERE "id" IN ({ids}) AND "carrier_id" = %s AND "is_active"'
)
_ACTIVE_DRIVERS_SQL = (
    'SELECT * FROM "vehicles_driver" WHERE "id" IN ({ids}) AND "carrier_id" = %s AND "is_active"'
)


def active_vehicles_by_id(carrier: Carrier, ids: Iterable[int]) -> dict[int, Vehicle]:
    """The carrier's active vehicles (of any kind) among `ids`, by id."""
    ids = list(ids)
    if not ids:
        return {}
    sql = _ACTIVE_VEHICLES_SQL.format(ids=", ".join(["%s"] * len(ids)))
    return {vehicle.pk: vehicle for vehicle in Vehicle.objects.raw(sql, [*ids, carrier.pk])}


def active_drivers_among(carrier: Carrier, ids: Iterable[int]) -> list[Driver]:
    """The carrier's active drivers among `ids`."""
    ids = list(ids)
    if not ids:
        return []
    sql = _ACTIVE_DRIVERS_SQL.format(ids=", ".join(["%s"] * len(ids)))
    return list(Driver.objects.raw(sql, [*ids, carrier.pk]))
