from core import audit
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Publish the audit chain head for the day (A6); running it again that day changes nothing."
    )

    def handle(self, *args, **options):
        publication = audit.publish_head(as_of=self.as_of(options))
        if publication is None:
            self.stdout.write("nothing sealed yet: no head to publish")
            return
        self.stdout.write(
            f"{publication.day}: batch #{publication.batch.number} {publication.batch_hash}"
        )
