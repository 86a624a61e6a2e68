import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from core import clock


class JobCommand(BaseCommand):
    """A periodic job run by hand: `--as-of` runs it as if it were that moment (ARCHITECTURE)."""

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            help="ISO 8601 datetime with offset, or a date (its start in Almaty time).",
        )
        parser.add_argument(
            "--allow-future",
            action="store_true",
            help="Accept an --as-of in the future (rehearsals on a copy of the data, tests).",
        )

    def as_of(self, options) -> dt.datetime:
        if not options.get("as_of"):
            return clock.now()
        try:
            moment = clock.parse_as_of(options["as_of"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if moment > clock.now() and not options.get("allow_future"):
            raise CommandError(
                f"--as-of {options['as_of']} is in the future; add --allow-future to run it anyway."
            )
        return moment
