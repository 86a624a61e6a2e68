import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deposits", "0003_payment_awaiting_budget"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountVerified",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "through_transfer",
                    models.BigIntegerField(db_index=True, verbose_name="verified through transfer"),
                ),
                (
                    "balance",
                    models.DecimalField(decimal_places=2, max_digits=20, verbose_name="balance"),
                ),
                (
                    "account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="verified",
                        to="deposits.account",
                        verbose_name="ledger account",
                    ),
                ),
            ],
            options={
                "verbose_name": "verified account balance",
                "verbose_name_plural": "verified account balances",
            },
        ),
    ]
