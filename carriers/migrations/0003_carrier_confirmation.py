from django.db import migrations, models
from django.db.models import F


def confirm_existing(apps, schema_editor):
    """Carriers registered before A7 keep booking: they count as confirmed when registered."""
    Carrier = apps.get_model("carriers", "Carrier")
    Carrier.objects.filter(confirmed_at__isnull=True).update(confirmed_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("carriers", "0002_invitation"),
    ]

    operations = [
        migrations.AddField(
            model_name="carrier",
            name="confirmed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="confirmed at"),
        ),
        migrations.AddField(
            model_name="carrier",
            name="lapsed_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="lapsed at"),
        ),
        migrations.RunPython(confirm_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="carrier",
            name="iin_bin",
            field=models.CharField(db_index=True, max_length=12, verbose_name="IIN/BIN"),
        ),
        migrations.AddConstraint(
            model_name="carrier",
            constraint=models.UniqueConstraint(
                condition=models.Q(("confirmed_at__isnull", False)),
                fields=("iin_bin",),
                name="carrier_number_confirmed_once",
            ),
        ),
    ]
