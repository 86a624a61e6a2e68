from django.db import migrations, models

from core.migration_operations import AddIndexWithoutBlocking


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction (core.migration_operations).
    atomic = False

    dependencies = [
        ("bookings", "0003_booking_called_at_index"),
    ]

    operations = [
        AddIndexWithoutBlocking(
            model_name="booking",
            index=models.Index(
                condition=models.Q(("status", "confirmed")),
                fields=["slot_end"],
                name="booking_confirmed_slot_end",
            ),
        ),
    ]
