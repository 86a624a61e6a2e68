"""Fee quotes (R2, R3): what a service costs on a date, in MRP and in tenge."""

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db import connection
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from core.money import mrp_to_tenge, tenge
from fees.models import FeeSchedule, MrpRate, Service


@dataclasses.dataclass(frozen=True)
class Quote:
    service: str
    on: dt.date
    mrp: int
    mrp_value: Decimal
    amount: Decimal
    schedule_id: int


def mrp_value(on: dt.date) -> Decimal:
    """The MRP of the calendar year of `on` (R2)."""
    rate = MrpRate.objects.filter(year=on.year).first()
    if rate is None:
        raise ApplicationError(
            "mrp_not_set",
            _("The MRP for %(year)s has not been set yet.") % {"year": on.year},
            status=409,
        )
    return rate.value


def schedule_on(on: dt.date) -> FeeSchedule:
    schedule = (
        FeeSchedule.objects.filter(effective_from__lte=on)
        .prefetch_related("items")
        .order_by("-effective_from")
        .first()
    )
    if schedule is None:
        raise ApplicationError(
            "no_fee_schedule",
            _("No fee schedule is in force on %(date)s.") % {"date": on.isoformat()},
            status=409,
        )
    return schedule


@dataclasses.dataclass(frozen=True)
class FeeTable:
    """Every fee in force on a date: the schedule, the year's MRP and one quote per service."""

    on: dt.date
    schedule: FeeSchedule
    mrp_value: Decimal
    quotes: list[Quote]


def fee_table(on: dt.date) -> FeeTable:
    schedule = schedule_on(on)
    value = mrp_value(on)
    items = {item.service: item.mrp for item in schedule.items.all()}
    quotes = [
        Quote(
            service=service,
            on=on,
            mrp=items[service],
            mrp_value=value,
            amount=mrp_to_tenge(items[service], value),
            schedule_id=schedule.pk,
        )
        for service in Service.values
        if service in items
    ]
    return FeeTable(on=on, schedule=schedule, mrp_value=value, quotes=quotes)


# The fee table's read on every booking, in SQL: the ORM spent about 2 ms of CPU building this
# statement (two subqueries), ten times what the database took to answer it. The MRP is read as
# text so that both databases give its exact decimal (SQLite would give a float).
_QUOTES_SQL = (
    'SELECT "schedule_id", "service", "mrp", '
    '(SELECT CAST("value" AS VARCHAR(20)) FROM "fees_mrprate" WHERE "year" = %s) '
    'FROM "fees_feeitem" WHERE "schedule_id" = ('
    'SELECT "id" FROM "fees_feeschedule" WHERE "effective_from" <= %s '
    'ORDER BY "effective_from" DESC LIMIT 1)'
)


def _quotes_in_one_read(on: dt.date) -> dict[str, Quote] | None:
    """The quotes of `fee_table(on)` by service in ONE query (the items of the schedule in force
    with the year's MRP beside each), or None when something is missing — no schedule, a
    schedule without items, no MRP for the year — and `fee_table` has to say what (the same
    refusals as before)."""
    with connection.cursor() as cursor:
        cursor.execute(_QUOTES_SQL, [on.year, on])
        rows = cursor.fetchall()
    found = {}
    for schedule_id, service, mrp, value in rows:
        if value is None:
            return None
        value = tenge(value)
        found[service] = Quote(
            service=service,
            on=on,
            mrp=mrp,
            mrp_value=value,
            amount=mrp_to_tenge(mrp, value),
            schedule_id=schedule_id,
        )
    return found or None


def quote(service: str, *, on: dt.date) -> Quote:
    """The fee for `service` on the date `on`, at the MRP of that date's year (R2)."""
    return quotes(service, on=on)[0]


def quotes(*services: str, on: dt.date) -> list[Quote]:
    """`quote` of each of `services` on the same date, in that order, from one read of the fee
    table (the schedule, its items and the MRP): the same answers and refusals as asking
    `quote` once per service."""
    for service in services:
        if service not in Service.values:
            raise ApplicationError(
                "validation_error",
                _("Unknown service %(service)s.") % {"service": service},
                fields={"service": [_("Choose one of: %s.") % ", ".join(Service.values)]},
            )
    by_service = _quotes_in_one_read(on) or {item.service: item for item in fee_table(on).quotes}
    answers = []
    for service in services:
        if service not in by_service:
            raise ApplicationError(
                "no_fee_schedule",
                _("The fee schedule in force on %(date)s has no fee for this service.")
                % {"date": on.isoformat()},
                status=409,
            )
        answers.append(by_service[service])
    return answers
