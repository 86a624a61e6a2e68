from core.management.jobs import JobCommand
from notify.services import reminders_send


class Command(JobCommand):
    help = "Remind carriers of bookings whose slot starts within 2 hours, once per booking (B12)."

    def handle(self, *args, **options):
        queued = reminders_send(as_of=self.as_of(options))
        self.stdout.write(f"queued {queued} reminders")
