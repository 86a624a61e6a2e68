from core import idempotency
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Delete the Idempotency-Key records that expired (24 h after their first request) by "
        "--as-of (default now); a newer request with such a key then runs afresh."
    )

    def handle(self, *args, **options):
        deleted = idempotency.idempotency_purge_expired(as_of=self.as_of(options))
        self.stdout.write(f"deleted {deleted} expired idempotency keys")
