from core.management.jobs import JobCommand
from notify.services import messages_deliver_due


class Command(JobCommand):
    help = "Send the queued messages (SMS, Telegram) that are due, retries included (B12)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--limit", type=int, default=100, help="At most this many messages.")

    def handle(self, *args, **options):
        sent = messages_deliver_due(as_of=self.as_of(options), limit=options["limit"])
        self.stdout.write(f"sent {sent} messages")
