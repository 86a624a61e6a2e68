from core.management.jobs import JobCommand
from release.services import draws_run


class Command(JobCommand):
    help = "Draw every release window whose request window has closed (F4, F5); runs each once."

    def handle(self, *args, **options):
        for result in draws_run(as_of=self.as_of(options)):
            self.stdout.write(
                f"window {result.window.pk}: {result.won} won, {result.unsuccessful} "
                f"unsuccessful, {result.skipped} skipped"
            )
