"""Fee quotes (R2, R3): what a service costs on a date, in MRP and in tenge."""

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db import connection
from django.utils.translation import gettext as _

from core import clock
from core.errors import ApplicationError
from core.money import mrp_to_tenge, tenge
from core.notices import Notice
from fees.models import FeeSchedule, MrpRate, MrpRefusals, Service


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


# Next year's MRP is fixed by the budget law late in the year; from this day on its absence is
# an alert, so the registrar enters it before the first charge of 1 January is refused.
NEXT_YEAR_MRP_EXPECTED_FROM = (12, 1)


@dataclasses.dataclass(frozen=True)
class MissingMrp:
    """An MRP the registrar still has to enter (R2): this year's (charges are being refused
    now, `refused` of them so far) or, from 1 December, next year's (they will be from 1
    January)."""

    year: int
    refused: int


def missing_mrp(*, today: dt.date | None = None) -> MissingMrp | None:
    """This year's MRP if it is missing, else next year's if it is missing and 1 December has
    come, else None."""
    today = today or clock.local_today()
    years = [today.year]
    if (today.month, today.day) >= NEXT_YEAR_MRP_EXPECTED_FROM:
        years.append(today.year + 1)
    present = set(MrpRate.objects.filter(year__in=years).values_list("year", flat=True))
    for year in years:
        if year not in present:
            refused = MrpRefusals.objects.filter(year=year).values_list("count", flat=True)
            return MissingMrp(year=year, refused=next(iter(refused), 0))
    return None


def as_charge_refusal(problem: ApplicationError, *, on: dt.date) -> ApplicationError:
    """`problem`, met while pricing a charge on `on`, as the carrier should read it: a missing
    MRP means charges are paused until the registrar enters it, not a fault of theirs."""
    if problem.code != "mrp_not_set":
        return problem
    return ApplicationError(
        "mrp_not_set",
        _(
            "Bookings are paused: the registrar has not yet entered the MRP for %(year)s, the "
            "index every fee is counted in. Nothing was charged; please try again later."
        )
        % {"year": on.year},
        status=409,
    )


def missing_mrp_message(missing: MissingMrp, *, today: dt.date | None = None) -> str:
    """What an operator reads about `missing` (admin, fees page, log)."""
    today = today or clock.local_today()
    if missing.year <= today.year:
        return _(
            "The MRP for %(year)s has not been entered: every booking and reschedule is refused "
            "until it is (%(refused)s refused so far). Enter it under Fees → MRP by year."
        ) % {"year": missing.year, "refused": missing.refused}
    return _(
        "The MRP for %(year)s has not been entered yet: from 1 January %(year)s every booking "
        "and reschedule will be refused until it is. Enter it under Fees → MRP by year."
    ) % {"year": missing.year}


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


def mrp_notices(moment: dt.datetime) -> list[Notice]:
    """The operator notice of a missing MRP (core.notices), if any."""
    today = clock.local_date(moment)
    missing = missing_mrp(today=today)
    if missing is None:
        return []
    return [
        Notice(
            code=f"mrp_missing_{missing.year}",
            message=missing_mrp_message(missing, today=today),
            permission="fees.change_mrprate",
        )
    ]
