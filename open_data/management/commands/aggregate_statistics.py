import datetime as dt

from django.core.management.base import CommandError

from core import clock
from core.management.jobs import JobCommand
from open_data.services import daily_figures_rebuild_range
from open_data.tasks import RECOMPUTE_DAYS


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from exc


class Command(JobCommand):
    help = (
        "Compute the daily figures of the statistics and open data (W5) per checkpoint, "
        "direction and day, from the bookings and the capacity rules. Without options: the "
        f"{RECOMPUTE_DAYS} days up to yesterday (of --as-of), as the nightly job does. "
        "Running it again for a day gives the same rows."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--day", help="Only this local date (YYYY-MM-DD).")
        which.add_argument(
            "--since", help="Every day from this local date (YYYY-MM-DD) up to yesterday."
        )

    def handle(self, *args, **options):
        yesterday = clock.local_date(self.as_of(options)) - dt.timedelta(days=1)
        if options["day"]:
            first = last = _date(options["day"])
        elif options["since"]:
            first, last = _date(options["since"]), yesterday
        else:
            first, last = yesterday - dt.timedelta(days=RECOMPUTE_DAYS - 1), yesterday
        if first > last:
            raise CommandError(f"Nothing to compute: {first} is after {last}.")
        if last >= clock.local_today():
            raise CommandError(f"{last} has not ended yet: its figures are computed after it.")
        result = daily_figures_rebuild_range(first=first, last=last)
        self.stdout.write(
            f"{result.days} day(s) from {first} to {last}: {result.created} row(s) created, "
            f"{result.updated} updated, {result.deleted} removed, {result.unchanged} unchanged"
        )
