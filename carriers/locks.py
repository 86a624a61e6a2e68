"""The row locks of carriers' people (docs/locking.md)."""

from django.db.models import QuerySet

from carriers.models import Carrier, Invitation, Member
from core.locks import for_update


def invitations(rows: QuerySet[Invitation]) -> QuerySet[Invitation]:
    """An invitation being accepted (its carrier is read with it, not locked)."""
    return for_update(rows, no_key=True, of=("self",))


def owners_of(carrier_id: int) -> None:
    """The carrier's owners, in id order: two owners cannot demote each other at once."""
    rows = Member.objects.filter(carrier_id=carrier_id, role=Member.Role.OWNER).order_by("pk")
    list(for_update(rows, no_key=True).values_list("pk", flat=True))


def carrier(pk: int) -> Carrier:
    """A carrier being confirmed (A7: once, even when its owner signs twice at once) or
    inviting (A8: its owners' invitations are counted against its daily limit one at a time)."""
    return for_update(Carrier.objects.filter(pk=pk), no_key=True).get()
