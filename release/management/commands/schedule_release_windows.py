from core.management.jobs import JobCommand
from release.services import windows_schedule


class Command(JobCommand):
    help = (
        "Publish the release windows of draw checkpoints ahead, each with its commitment "
        "C = SHA-256(secret), and keep their days' places back until the draw (F1, F4)."
    )

    def handle(self, *args, **options):
        made = windows_schedule(as_of=self.as_of(options))
        self.stdout.write(f"published {len(made)} release windows")
