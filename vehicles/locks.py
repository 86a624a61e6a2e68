"""The row locks of the fleet (docs/locking.md)."""

from core.locks import for_update
from vehicles.models import Driver, Vehicle


def vehicle(pk: int) -> Vehicle:
    """A vehicle being taken out of the fleet."""
    return for_update(Vehicle.objects.filter(pk=pk), no_key=True).get()


def driver(pk: int) -> Driver:
    """A driver being taken off the carrier's list."""
    return for_update(Driver.objects.filter(pk=pk), no_key=True).get()
