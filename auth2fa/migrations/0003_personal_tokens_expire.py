import datetime as dt

from django.db import migrations, models
from django.db.models import F


def expire_personal_tokens(apps, schema_editor):
    """Personal tokens made before they had an expiry work for a year from when they were made
    (A4); one made more than a year ago stops now."""
    ApiToken = apps.get_model("auth2fa", "ApiToken")
    ApiToken.objects.filter(expires_at__isnull=True).update(
        expires_at=F("created_at") + dt.timedelta(days=365)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth2fa", "0002_telegram_backup_codes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="kind",
            field=models.CharField(
                choices=[("sign_in", "Sign-in (12 hours)"), ("personal", "Personal, up to a year")],
                max_length=10,
                verbose_name="kind",
            ),
        ),
        migrations.RunPython(expire_personal_tokens, migrations.RunPython.noop),
    ]
