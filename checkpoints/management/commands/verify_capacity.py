from django.core.management.base import CommandError

from checkpoints.selectors import capacity_check
from checkpoints.services import capacity_verified_record
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Recount the slot counters (C6): taken within capacity, capacity as the rules give it, "
        "and taken equal to the bookings and holds that occupy each counter (as the apps that "
        "registered an occupancy source count them). Checks the counters from the day of the "
        "last consistent recount (or of --as-of, when later or never recounted) on, or every "
        "counter with --full. Exits 1 on any drift."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--full",
            "--all",
            dest="full",
            action="store_true",
            help="Check the counters of every day, the years behind as well.",
        )

    def handle(self, *args, **options):
        report = capacity_check(
            as_of=self.as_of(options), all_dates=options["full"], since_verified=True
        )
        since = f"from {report.since}" if report.since else "of every day"
        sources = ", ".join(report.sources) or "none registered: taken is not recounted"
        self.stdout.write(
            f"checked {report.counters_checked} slot counters {since}; occupancy: {sources}"
        )
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(warning))
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"slot counters have drifted: {len(report.problems)} problem(s)")
        capacity_verified_record(report)
        self.stdout.write(self.style.SUCCESS("slot counters consistent"))
