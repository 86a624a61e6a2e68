from django.core.management.base import CommandError

from checkpoints.selectors import capacity_check
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Recount the slot counters (C6): taken within capacity, capacity as the rules give it, "
        "and taken equal to the bookings and holds that occupy each counter (as the apps that "
        "registered an occupancy source count them). Checks the counters of the day of "
        "--as-of and later, or every counter with --all. Exits 1 on any drift."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--all", action="store_true", help="Check the counters of past days as well."
        )

    def handle(self, *args, **options):
        report = capacity_check(as_of=self.as_of(options), all_dates=options["all"])
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
        self.stdout.write(self.style.SUCCESS("slot counters consistent"))
