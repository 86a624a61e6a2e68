"""The row locks of sign-in and second factors (docs/locking.md): a code is issued, checked or
spent under its device's lock, so parallel guesses count one by one and a code signs in once.
Devices are locked FOR UPDATE (a device may be replaced or removed in the same transaction);
a person's row FOR NO KEY UPDATE (rows naming the person are still added meanwhile)."""

from typing import TypeVar

from django.db.models import Model, QuerySet

from auth2fa.models import User
from core.locks import for_update

Row = TypeVar("Row", bound=Model)


def devices(rows: QuerySet[Row]) -> QuerySet[Row]:
    """Second-factor devices (and the rows read with them), locked as they are read; several
    are read in id order."""
    return for_update(rows)


def device_without_person(rows: QuerySet[Row]) -> QuerySet[Row]:
    """A device read with its person, the device alone locked."""
    return for_update(rows, of=("self",))


def sign_in(rows: QuerySet[Row]) -> QuerySet[Row]:
    """A sign-in between its two factors, completed once (its person is read, not locked)."""
    return for_update(rows, of=("self",))


def person(pk: int) -> User:
    """A person whose failed sign-ins are counted (A3: 10 in an hour lock sign-in)."""
    return for_update(User.objects.filter(pk=pk), no_key=True).get()
