from django.db import migrations, models

from core.migration_operations import AddIndexWithoutBlocking


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction (core.migration_operations).
    atomic = False

    dependencies = [
        ("bookings", "0004_booking_confirmed_slot_end_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="booking",
            name="status",
            field=models.CharField(
                choices=[
                    ("confirmed", "Confirmed"),
                    ("arrived", "In the waiting area"),
                    ("called", "Called forward"),
                    ("crossed", "Crossed the border"),
                    ("cancelled", "Cancelled"),
                    ("no_show", "No-show"),
                    ("cancelled_by_operator", "Cancelled by the operator"),
                    ("not_crossed", "Did not cross"),
                ],
                default="confirmed",
                max_length=24,
                verbose_name="status",
            ),
        ),
        AddIndexWithoutBlocking(
            model_name="booking",
            index=models.Index(
                condition=models.Q(("status__in", ["arrived", "called"])),
                fields=["slot_end"],
                name="booking_waiting_slot_end",
            ),
        ),
    ]
