from django.db import migrations, models

from core.migration_operations import AddIndexWithoutBlocking


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction (core.migration_operations).
    atomic = False

    dependencies = [
        ("bookings", "0002_booking_arrived_at_booking_arrived_by_and_more"),
    ]

    operations = [
        AddIndexWithoutBlocking(
            model_name="booking",
            index=models.Index(
                condition=models.Q(("called_at__isnull", False)),
                fields=["checkpoint", "called_at"],
                name="booking_called_at_checkpoint",
            ),
        ),
    ]
