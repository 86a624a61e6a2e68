"""Fees ready for the day a test runs on, whichever year that is."""

from core import clock
from fees.models import MrpRate
from fees.services import reference_fees_load


def fees_in_force_today() -> None:
    """The reference fees and MRP (fees/data/fees.json), plus an MRP for this year and the next
    where the reference has none yet, at the last known value: a test that books today must not
    depend on the registrar having entered the real calendar year's MRP (R2). Tests about a
    missing MRP delete the year they need missing."""
    reference_fees_load()
    latest = MrpRate.objects.order_by("-year").first()
    this_year = clock.local_today().year
    for year in (this_year, this_year + 1):
        MrpRate.objects.get_or_create(year=year, defaults={"value": latest.value})
