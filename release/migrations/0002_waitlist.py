"""F7: the waitlist. A request's moment of leaving it, the status of one booked from it, and the
index the waitlist is read by (built without blocking the requests table)."""

from django.db import migrations, models

from core.migration_operations import AddIndexWithoutBlocking


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction (core.migration_operations).
    atomic = False

    dependencies = [
        ("release", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="releaserequest",
            name="waitlist_left_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="taken off the waitlist at"
            ),
        ),
        migrations.AlterField(
            model_name="releaserequest",
            name="status",
            field=models.CharField(
                choices=[
                    ("live", "Waiting for the draw"),
                    ("withdrawn", "Withdrawn"),
                    ("won", "Won: booked"),
                    ("unsuccessful", "Unsuccessful"),
                    ("skipped", "Skipped at the draw"),
                    ("waitlist_won", "Booked from the waitlist"),
                ],
                default="live",
                max_length=12,
                verbose_name="status",
            ),
        ),
        AddIndexWithoutBlocking(
            model_name="releaserequest",
            index=models.Index(
                condition=models.Q(("status", "unsuccessful"), ("waitlist_left_at__isnull", True)),
                fields=["window", "rank"],
                name="release_waitlist",
            ),
        ),
    ]
