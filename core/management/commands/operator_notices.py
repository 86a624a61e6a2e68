from core import notices
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "List what operators must act on (e.g. next year's MRP not entered from 1 December) and "
        "log each at WARNING, as the daily job does; exits 0 either way."
    )

    def handle(self, *args, **options):
        found = notices.notices_log(as_of=self.as_of(options))
        for notice in found:
            self.stdout.write(f"{notice.code}: {notice.message}")
        if not found:
            self.stdout.write("no operator notices")
