"""The row locks of capacity (docs/locking.md). A booking takes and frees places with a
conditional UPDATE of the counter (checkpoints.services), never a SELECT … FOR UPDATE: only the
recount of counters after a capacity change locks them this way."""

from collections.abc import Iterable

from checkpoints.models import SlotCounter
from core.locks import for_update


def slot_counters(pks: Iterable[int]) -> None:
    """The counters `pks`, in id order, while their capacity is recomputed."""
    rows = SlotCounter.objects.filter(pk__in=list(pks)).order_by("pk")
    list(for_update(rows, no_key=True).values_list("pk", flat=True))
